#include "gonka/net/internal/tls_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include "absl/strings/str_cat.h"
#include "gonka/net/internal/asio_status.h"

namespace gonka {
namespace net {
namespace internal {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using boost::system::error_code;

absl::StatusOr<std::shared_ptr<ssl::context>> MakeTlsClientContext(
    const TlsClientOptions& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    return absl::InternalError("TLS: cannot set the minimum protocol version");
  }
  error_code ec;
  if (!options.verify) {
    context->set_verify_mode(ssl::verify_none, ec);
    return context;
  }
  context->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return ErrorToStatus(ec, "TLS: setting peer verification");
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) return ErrorToStatus(ec, "TLS: loading the system's default CA store");
  } else {
    context->load_verify_file(options.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS: CA file \"", options.ca_file, "\": ", ec.message()));
    }
  }
  return context;
}

absl::Status PrepareTlsClient(SSL* ssl, const TlsClientOptions& options, const std::string& host) {
  const std::string& name = options.server_name.empty() ? host : options.server_name;
  error_code ec;
  asio::ip::make_address(name, ec);
  const bool is_ip = !ec;
  // RFC 6066: SNI carries host names only, never IP addresses.
  if (!is_ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("TLS: server name \"", name, "\" refused"));
  }
  if (!options.verify) return absl::OkStatus();
  // OpenSSL checks the name during the handshake (X509_check_host / X509_check_ip), so a
  // mismatch fails it with "hostname mismatch" / "IP address mismatch" as the verify result.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS: cannot verify certificates against \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::Status TlsHandshakeStatus(const error_code& ec, SSL* ssl, absl::string_view context) {
  if (ec == boost::beast::error::timeout || ec == asio::error::timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(context, ": deadline exceeded during the TLS handshake"));
  }
  if (ec == asio::error::operation_aborted) {
    return absl::CancelledError(absl::StrCat(context, ": TLS handshake cancelled"));
  }
  const long verify_result = SSL_get_verify_result(ssl);
  if (verify_result != X509_V_OK) {
    return absl::UnavailableError(
        absl::StrCat(context, ": TLS handshake failed: certificate verify failed (",
                     X509_verify_cert_error_string(verify_result), ")"));
  }
  std::string reason = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason without the library name ("wrong version number (SSL routines)").
    const char* text = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (text != nullptr) reason = text;
  } else if (ec == asio::ssl::error::stream_truncated || IsDisconnect(ec)) {
    reason = absl::StrCat("the peer closed the connection (", ec.message(), ")");
  }
  return absl::UnavailableError(absl::StrCat(context, ": TLS handshake failed: ", reason));
}

}  // namespace internal
}  // namespace net
}  // namespace gonka
