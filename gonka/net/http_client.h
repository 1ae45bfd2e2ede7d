// HttpClient: a blocking HTTP/1.1 client on Boost.Beast with a keep-alive connection pool,
// per-call deadlines, a response size limit, and incremental reading of streamed (chunked or
// Server-Sent Events) responses.
//
//   HttpClient http;
//   HttpCallOptions two_seconds = HttpCallOptions::Timeout(absl::Seconds(2));
//   ASSIGN_OR_RETURN(HttpResponse res, http.Get("http://127.0.0.1:26657/status", two_seconds));
//   if (res.status != 200) return absl::UnavailableError(res.body);
//   HttpClient node({.tls = {.ca_file = "/etc/gonka/chain-ca.pem"}});   // https:// (tls.h)
//   ASSIGN_OR_RETURN(HttpResponse st, node.Get("https://node.internal/status", two_seconds));
//   SseReader sse([&](const SseMessage& m) { return Handle(m); });
//   RETURN_IF_ERROR(http.Stream(url, [&](absl::string_view b) { return sse.Feed(b); }).status());
//
// Contract:
// - Each call blocks the calling thread until the response is complete or fails; it never takes
//   longer than its deadline (HttpCallOptions; default HttpClientOptions::default_timeout),
//   except that a host-name lookup stuck in the system resolver (getaddrinfo cannot be
//   interrupted) is waited for; IP-address URLs need no lookup.
// - Errors name the method and URL: an expired deadline → DeadlineExceeded; a refused, reset or
//   unreachable connection or malformed HTTP from the peer → Unavailable; a response body over
//   the limit → ResourceExhausted; a bad URL → InvalidArgument. An HTTP error status (4xx/5xx)
//   is not an error: it is returned in HttpResponse::status.
// - Connections are kept alive and pooled per host:port (at most `max_idle_per_host` idle ones,
//   each dropped after `idle_timeout` unused). A pooled connection the server has closed in the
//   meantime is detected before use when possible; if it fails on the first write or read anyway,
//   the request is retried once on a fresh connection, but only when the method is idempotent
//   (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) or nothing of the request was sent.
// - `http://` and `https://` URLs (see url.h); redirects are not followed. An https server must
//   present a certificate that verifies against HttpClientOptions::tls (by default: the system's
//   CA store, and the certificate names the URL's host); otherwise the call fails with
//   Unavailable "<METHOD> <url>: TLS handshake failed: certificate verify failed (<reason>)".
//   An unreadable `tls.ca_file` fails every https call with InvalidArgument naming the file.
//   https connections are pooled and reused exactly as plain ones (keyed by scheme, host, port).
//
// Thread-safety: all methods are thread-safe; concurrent calls use separate connections.
#ifndef GONKA_NET_HTTP_CLIENT_H_
#define GONKA_NET_HTTP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/http_message.h"
#include "gonka/net/tls.h"

namespace gonka {
namespace net {

struct HttpClientOptions {
  // Label `client` on the gonka_http_client_* metrics (requests_total by result: status class
  // "2xx".."5xx" or the error code, request_duration_seconds, connections_opened_total).
  std::string name = "http";
  // Value of the User-Agent header (a caller's own header overrides it).
  std::string user_agent = "libgonka";
  // Deadline of a call that sets neither `deadline` nor `timeout`.
  absl::Duration default_timeout = absl::Seconds(30);
  // Largest response body accepted (a call may lower or raise it).
  size_t max_body_bytes = 64 << 20;
  // Idle keep-alive connections kept per host:port; extra ones are closed.
  size_t max_idle_per_host = 8;
  // A pooled connection unused for this long is closed instead of reused (servers commonly close
  // idle connections after 60 s or more; staying below that avoids most stale reuse).
  absl::Duration idle_timeout = absl::Seconds(30);
  // Whom to trust for https:// URLs (tls.h); unused for http://.
  TlsClientOptions tls;
};

struct HttpCallOptions {
  // The call fails with DeadlineExceeded at the earlier of `deadline` and now + `timeout`. When
  // both are left infinite, HttpClientOptions::default_timeout applies (unless `no_deadline`).
  absl::Time deadline = absl::InfiniteFuture();
  absl::Duration timeout = absl::InfiniteDuration();
  // True: no overall deadline at all (long-lived streams); `stream_idle_timeout` still applies.
  bool no_deadline = false;
  // Stream() only: fail with DeadlineExceeded when the response header, or then any body
  // bytes, do not arrive for this long.
  absl::Duration stream_idle_timeout = absl::InfiniteDuration();
  // Extra request headers (Host, Content-Length and Transfer-Encoding are set by the client).
  HttpHeaders headers;
  // Overrides HttpClientOptions::max_body_bytes when non-zero.
  size_t max_body_bytes = 0;
  // True: the request has no side effect, so it may be sent again on a fresh connection when a
  // pooled one turns out to be stale (a read-only POST such as a JSON-RPC query). GET, HEAD,
  // PUT, DELETE and OPTIONS are treated so anyway.
  bool idempotent = false;

  static HttpCallOptions Timeout(absl::Duration timeout) {
    HttpCallOptions options;
    options.timeout = timeout;
    return options;
  }
  static HttpCallOptions Deadline(absl::Time deadline) {
    HttpCallOptions options;
    options.deadline = deadline;
    return options;
  }
};

// Counters since construction, for tests and diagnostics.
struct HttpClientStats {
  uint64_t requests = 0;            // calls that sent a request
  uint64_t connections_opened = 0;  // TCP connections established (and TLS handshakes done)
  uint64_t connections_reused = 0;  // requests sent on a pooled connection
  uint64_t stale_retries = 0;       // requests retried after a pooled connection failed
  size_t idle_connections = 0;      // currently pooled
};

class HttpClient {
 public:
  // Receives the body of a streamed response piece by piece (pieces split anywhere; chunked
  // transfer encoding already removed). Return false to stop reading.
  using ChunkCallback = std::function<bool(absl::string_view bytes)>;

  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  absl::StatusOr<HttpResponse> Get(absl::string_view url, const HttpCallOptions& options = {});
  // Sends `body` with `Content-Type: content_type`.
  absl::StatusOr<HttpResponse> Post(absl::string_view url, std::string body,
                                    absl::string_view content_type = "application/json",
                                    const HttpCallOptions& options = {});
  // Any method ("GET", "POST", "PUT", "DELETE", ...). An empty body is sent without
  // Content-Length for methods that normally carry none.
  absl::StatusOr<HttpResponse> Request(absl::string_view method, absl::string_view url,
                                       std::string body, const HttpCallOptions& options = {});

  // GET `url` and hand the body to `on_chunk` as it arrives, on the calling thread. For a 2xx
  // status the returned response carries status and headers and an empty body; for any other
  // status `on_chunk` is not called and the (size-limited) body is returned in the response.
  // Returns OK when the body ends or `on_chunk` returns false (the connection is then closed);
  // errors as for Get, including a body that ends early (Unavailable). The overall deadline
  // applies to the whole stream: use `no_deadline` plus `stream_idle_timeout` for endless ones.
  absl::StatusOr<HttpResponse> Stream(absl::string_view url, const ChunkCallback& on_chunk,
                                      const HttpCallOptions& options = {});

  HttpClientStats stats() const;
  // Closes every pooled idle connection.
  void CloseIdleConnections();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_HTTP_CLIENT_H_
