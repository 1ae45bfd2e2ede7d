#include "gonka/net/tls_flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace gonka {
namespace net {

void TlsClientFlags::Register(Config* config, const std::string& prefix,
                              const std::string& upstream) {
  config
      ->AddString(absl::StrCat(prefix, "-ca-file"), &ca_file_, "",
                  absl::StrCat("PEM CA certificate(s) trusted for https:// and wss:// URLs of ",
                               upstream, ", instead of the system's CAs (empty = system CAs)"))
      .Check([](absl::string_view raw) -> std::string {
        if (raw.empty()) return "";
        std::ifstream file{std::string(raw)};
        if (!file.is_open()) return absl::StrCat("cannot read: ", std::strerror(errno));
        return "";
      });
  config->AddString(absl::StrCat(prefix, "-tls-server-name"), &server_name_, "",
                    absl::StrCat("name the TLS certificate of ", upstream,
                                 " must carry, and SNI (empty = the URL's host)"));
}

TlsClientOptions TlsClientFlags::options() const {
  TlsClientOptions options;
  options.ca_file = ca_file_;
  options.server_name = server_name_;
  return options;
}

}  // namespace net
}  // namespace gonka
