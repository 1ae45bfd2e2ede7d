// TlsClientOptions: how the HTTP and WebSocket clients check the server of an `https://` or
// `wss://` URL. TLS itself is OpenSSL 3 through Asio's ssl wrappers (never our own code); these
// options only choose whom to trust.
//
//   HttpClientOptions http;
//   http.tls.ca_file = "/etc/gonka/chain-ca.pem";    // trust this CA instead of the system's
//   HttpClient client(http);
//   ASSIGN_OR_RETURN(HttpResponse res, client.Get("https://rpc.example.org/status"));
//
// Defaults are the safe ones: the peer's certificate chain must lead to a trusted CA (the
// system's default store, /etc/ssl/certs on Debian, unless `ca_file` is set) and must name the
// host of the URL (a DNS name matched against the certificate's subjectAltName DNS entries, an
// IP address against its IP entries). SNI carries the host name (not for IP addresses, per
// RFC 6066). TLS 1.2 is the minimum version. Plain value type.
#ifndef GONKA_NET_TLS_H_
#define GONKA_NET_TLS_H_

#include <string>

namespace gonka {
namespace net {

struct TlsClientOptions {
  // PEM file of the CA certificate(s) to trust. Empty: the system's default CA store. When set,
  // ONLY these CAs are trusted (as curl's --cacert), so a private chain node's CA does not widen
  // to every public CA and vice versa.
  std::string ca_file;
  // False turns off certificate and host-name verification: the connection is encrypted but the
  // peer is not authenticated. For experiments only; nothing in libgonka sets it.
  bool verify = true;
  // Name to send as SNI and to verify the certificate against instead of the URL's host (e.g.
  // the URL names an IP address but the certificate a DNS name). Empty: the URL's host.
  std::string server_name;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_TLS_H_
