// HTTP message values shared by the server and the client: headers, a received request, a
// response. Plain data; the wire format is Boost.Beast's business (gonka/net never frames HTTP
// by hand).
//
//   HttpResponse Handle(const HttpRequest& req) {
//     std::string height = req.QueryParam("height").value_or("latest");
//     if (req.headers.Get("Accept") == "text/plain") return HttpResponse::Text(200, height);
//     return HttpResponse::Json(200, absl::StrCat("{\"height\":\"", height, "\"}"));
//   }
//
// Header names compare case-insensitively (RFC 9110 §5.1); order and duplicates are kept.
// Thread-compatible value types.
#ifndef GONKA_NET_HTTP_MESSAGE_H_
#define GONKA_NET_HTTP_MESSAGE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace gonka {
namespace net {

class HttpHeaders {
 public:
  using Entry = std::pair<std::string, std::string>;

  HttpHeaders() = default;
  HttpHeaders(std::initializer_list<Entry> entries) : entries_(entries) {}

  // Appends a field (keeps existing ones with the same name).
  void Add(absl::string_view name, absl::string_view value);
  // Replaces every field named `name` with one.
  void Set(absl::string_view name, absl::string_view value);
  void Remove(absl::string_view name);
  // The first value of `name`, or "" when absent (use Has() to tell "" from absent).
  std::string Get(absl::string_view name) const;
  bool Has(absl::string_view name) const;

  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

// A request as the server hands it to a handler.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/path?query"
  std::string path;    // the target up to '?', not percent-decoded
  // Decoded query parameters in order (`+` and %XX decoded; a bad escape is kept as is).
  std::vector<std::pair<std::string, std::string>> query;
  HttpHeaders headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:54321"

  // The first value of query parameter `name`, or nullopt.
  std::optional<std::string> QueryParam(absl::string_view name) const;
};

// A complete response (server handlers return it; HttpClient returns it).
struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  // `Content-Type: text/plain; charset=utf-8`.
  static HttpResponse Text(int status, std::string body);
  // `Content-Type: application/json`.
  static HttpResponse Json(int status, std::string body);
};

// The `Server` header HttpServer adds to responses that have none.
inline constexpr char kServerHeader[] = "libgonka";

// A response serialized once and sent as it is to many requests: its status line and headers
// (plus `Server` when absent and `Content-Length`, for an HTTP/1.1 keep-alive connection) are
// serialized by Beast when it is made, and its body is shared, never copied. For answers already
// in memory that many requests receive, e.g. a cache entry (HttpServer::RouteOptions::
// prepared_handler): sending one costs a single gathered write of the two buffers.
//
//   auto body = std::make_shared<const std::string>(json);
//   auto ready = std::make_shared<const PreparedResponse>(
//       200, HttpHeaders{{"Content-Type", "application/json"}}, body);
//   ... return ready;   // from a prepared_handler, as often as wanted
//
// The status must allow a body (not 1xx, 204 or 304). Immutable; thread-safe.
class PreparedResponse {
 public:
  PreparedResponse(int status, HttpHeaders headers, std::shared_ptr<const std::string> body);

  int status() const { return status_; }
  const HttpHeaders& headers() const { return headers_; }
  const std::string& body() const { return *body_; }
  // The serialized status line and header block (HTTP/1.1, keep-alive), ending in CRLF CRLF.
  const std::string& head() const { return head_; }
  // The same response as a value (copies the body): for a request the prepared bytes do not fit
  // (HEAD, HTTP/1.0, a connection that closes after it).
  HttpResponse ToResponse() const;
  // Memory held besides the shared body (the serialized head and the header values).
  size_t overhead_bytes() const;

 private:
  int status_;
  HttpHeaders headers_;
  std::shared_ptr<const std::string> body_;
  std::string head_;
};

// Parses an application/x-www-form-urlencoded string ("a=1&b=x%20y"); a key without '=' gets "".
std::vector<std::pair<std::string, std::string>> ParseQuery(absl::string_view query);
// Percent-encodes everything except RFC 3986 unreserved characters, for building query strings.
std::string UrlEncode(absl::string_view text);
// Percent-decodes one path segment ('+' stays '+'; a malformed escape is kept as it is).
std::string PathDecode(absl::string_view segment);

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_HTTP_MESSAGE_H_
