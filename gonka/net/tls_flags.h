// TlsClientFlags: the flags that say whom a daemon trusts for one https:// / wss:// upstream,
// defined once so every daemon spells them the same way (flag / environment / default):
//   --<prefix>-ca-file          GONKA_<PREFIX>_CA_FILE          ""  PEM CA(s) trusted instead
//                                                                   of the system's
//   --<prefix>-tls-server-name  GONKA_<PREFIX>_TLS_SERVER_NAME  ""  name the certificate must
//                                                                   carry ("" = the URL's host)
// e.g. prefix "chain" → --chain-ca-file for --chain-rpc-url / --chain-ws-url, prefix "archive" →
// --archive-ca-file for --archive-rpc-url. Both are ignored for http:// and ws:// URLs.
// Verification cannot be switched off from a flag. A CA file that does not exist or cannot be
// read stops the daemon at start with an error naming the flag.
//
// Example:
//   net::TlsClientFlags chain_tls;
//   chain_tls.Register(&daemon.config(), "chain", "the chain node's RPC and WebSocket");
//   if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
//   chain::CometClient comet({.rpc_url = rpc_url, .tls = chain_tls.options()});
#ifndef GONKA_NET_TLS_FLAGS_H_
#define GONKA_NET_TLS_FLAGS_H_

#include <string>

#include "gonka/base/config.h"
#include "gonka/net/tls.h"

namespace gonka {
namespace net {

class TlsClientFlags {
 public:
  // Adds --<prefix>-ca-file and --<prefix>-tls-server-name to `config` (before Daemon::Init);
  // `upstream` says in the help text what they apply to.
  void Register(Config* config, const std::string& prefix, const std::string& upstream);

  // After Init.
  TlsClientOptions options() const;

 private:
  std::string ca_file_;
  std::string server_name_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_TLS_FLAGS_H_
