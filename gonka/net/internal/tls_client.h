// TLS client plumbing shared by HttpClient and WebSocketClient: the OpenSSL context for a
// TlsClientOptions, the per-connection host-name check and SNI, and handshake errors as
// absl::Status. Internal to gonka/net (it carries Boost and OpenSSL types).
#ifndef GONKA_NET_INTERNAL_TLS_CLIENT_H_
#define GONKA_NET_INTERNAL_TLS_CLIENT_H_

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/net/tls.h"

namespace gonka {
namespace net {
namespace internal {

// A client context: TLS 1.2 or later, peer verification (unless !options.verify) against
// `options.ca_file` or the system's default CA store. InvalidArgument naming the CA file when it
// cannot be read or holds no certificate.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(
    const TlsClientOptions& options);

// Before the handshake on `ssl`: SNI (for a host name, not an IP address) and the check that the
// certificate names `host` (or options.server_name). InvalidArgument if OpenSSL refuses the name.
absl::Status PrepareTlsClient(SSL* ssl, const TlsClientOptions& options, const std::string& host);

// The error of a failed TLS handshake on `ssl`: "<context>: TLS handshake failed: certificate
// verify failed (<OpenSSL's verify result>)" or "...: TLS handshake failed: <error>".
// DeadlineExceeded for a timeout; Unavailable otherwise (a peer that does not speak TLS, a
// certificate that does not verify: the connection cannot be used, another peer may do).
absl::Status TlsHandshakeStatus(const boost::system::error_code& ec, SSL* ssl,
                                absl::string_view context);

}  // namespace internal
}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_INTERNAL_TLS_CLIENT_H_
