// URL parsing for the HTTP and WebSocket clients: `http(s)://host:port/path?query` and
// `ws(s)://...`.
//
//   ASSIGN_OR_RETURN(gonka::net::Url url, gonka::net::ParseUrl("http://127.0.0.1:26657/status"));
//   // url.scheme == "http", url.host == "127.0.0.1", url.port == 26657, url.target == "/status"
//
// The schemes `http`, `https`, `ws` and `wss` are accepted (the TLS ones are verified as
// tls.h says). The scheme is case-insensitive and stored lower-case; the port defaults to 80
// (443 for https and wss); the target defaults to "/"; a `#fragment` is dropped; IPv6 literals are
// written in brackets (`http://[::1]:8080/`) and stored without them. Userinfo (`user@host`) is
// refused so credentials never travel in URLs. Thread-compatible value type.
#ifndef GONKA_NET_URL_H_
#define GONKA_NET_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gonka {
namespace net {

struct Url {
  std::string scheme;  // "http", "https", "ws" or "wss"
  std::string host;    // name or address, IPv6 without brackets
  uint16_t port = 0;   // explicit, or 80 (443 for https and wss)
  std::string target;  // path plus "?query" (the HTTP request-target), at least "/"

  // "host:port" ("[::1]:8080" for IPv6), the value of the Host header.
  std::string HostPort() const;
  // The normalised URL, e.g. "http://127.0.0.1:80/".
  std::string ToString() const;
  // True for https and wss.
  bool tls() const { return scheme == "https" || scheme == "wss"; }
};

// InvalidArgument naming `url` when the scheme is missing or not http/https/ws/wss, the host is
// empty or malformed, the port is not 1..65535, userinfo is present, or the URL contains whitespace
// or control characters.
absl::StatusOr<Url> ParseUrl(absl::string_view url);

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_URL_H_
