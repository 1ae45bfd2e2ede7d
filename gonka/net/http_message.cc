#include "gonka/net/http_message.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace gonka {
namespace net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; with `plus_is_space` (forms), '+' is a space too.
std::string PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
               HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormDecode(absl::string_view in) { return PercentDecode(in, /*plus_is_space=*/true); }

}  // namespace

std::string PathDecode(absl::string_view segment) { return PercentDecode(segment, false); }

PreparedResponse::PreparedResponse(int status, HttpHeaders headers,
                                   std::shared_ptr<const std::string> body)
    : status_(status),
      headers_(std::move(headers)),
      body_(body != nullptr ? std::move(body) : std::make_shared<const std::string>()) {
  namespace http = boost::beast::http;
  if (!headers_.Has("Server")) headers_.Add("Server", kServerHeader);
  // The fields in the order HttpServer's own responses carry them: the handler's, Server, then
  // Content-Length (HTTP/1.1 keep-alive needs no Connection field).
  http::response<http::empty_body> head(static_cast<http::status>(status_), 11);
  for (const auto& [name, value] : headers_) head.insert(name, value);
  head.keep_alive(true);
  head.content_length(body_->size());
  http::response_serializer<http::empty_body> serializer(head);
  serializer.split(true);
  boost::beast::error_code ec;
  while (!ec && !serializer.is_header_done()) {
    serializer.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
      head_ += boost::beast::buffers_to_string(buffers);
      serializer.consume(boost::beast::buffer_bytes(buffers));
    });
  }
}

HttpResponse PreparedResponse::ToResponse() const {
  HttpResponse response;
  response.status = status_;
  response.headers = headers_;
  response.body = *body_;
  return response;
}

size_t PreparedResponse::overhead_bytes() const {
  size_t bytes = sizeof(*this) + head_.capacity();
  for (const auto& [name, value] : headers_) {
    bytes += sizeof(HttpHeaders::Entry) + name.capacity() + value.capacity();
  }
  return bytes;
}

void HttpHeaders::Add(absl::string_view name, absl::string_view value) {
  entries_.emplace_back(std::string(name), std::string(value));
}

void HttpHeaders::Set(absl::string_view name, absl::string_view value) {
  Remove(name);
  Add(name, value);
}

void HttpHeaders::Remove(absl::string_view name) {
  std::vector<Entry> kept;
  kept.reserve(entries_.size());
  for (auto& e : entries_) {
    if (!absl::EqualsIgnoreCase(e.first, name)) kept.push_back(std::move(e));
  }
  entries_ = std::move(kept);
}

std::string HttpHeaders::Get(absl::string_view name) const {
  for (const auto& e : entries_) {
    if (absl::EqualsIgnoreCase(e.first, name)) return e.second;
  }
  return "";
}

bool HttpHeaders::Has(absl::string_view name) const {
  for (const auto& e : entries_) {
    if (absl::EqualsIgnoreCase(e.first, name)) return true;
  }
  return false;
}

std::optional<std::string> HttpRequest::QueryParam(absl::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.Set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      out.emplace_back(FormDecode(part), "");
    } else {
      out.emplace_back(FormDecode(part.substr(0, eq)), FormDecode(part.substr(eq + 1)));
    }
  }
  return out;
}

std::string UrlEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace net
}  // namespace gonka
