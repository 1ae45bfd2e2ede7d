// ChainFlags: the flags that say where a daemon reads the chain, defined once so every daemon
// spells them the same way (flag / environment / default):
//   --chain-rpc-url            GONKA_CHAIN_RPC_URL            http://127.0.0.1:26657
//   --chain-grpc-address       GONKA_CHAIN_GRPC_ADDRESS       ""  (Cosmos gRPC host:port; "" =
//                                                                 queries over abci_query)
//   --chain-ca-file, --chain-tls-server-name                     (gonka/net/tls_flags.h) for an
//                                                                 https:// RPC URL
// A daemon passes its own help texts (what it uses each for); it reads the values after Init.
//
// Example:
//   chain::ChainFlags chain;
//   chain.Register(&daemon.config(), {.grpc = "Cosmos gRPC host:port (epoch Params)"});
//   if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
//   chain::CometClient comet(chain.Comet());
//   chain::InferenceQueryClient queries(chain.Queries(absl::Seconds(3)));
#ifndef GONKA_CHAIN_CHAIN_FLAGS_H_
#define GONKA_CHAIN_CHAIN_FLAGS_H_

#include <string>

#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/net/tls.h"
#include "gonka/net/tls_flags.h"

namespace gonka {
namespace chain {

struct ChainFlagsHelp {
  std::string rpc = "CometBFT RPC URL";
  // Empty: the daemon has no --chain-grpc-address.
  std::string grpc = "Cosmos gRPC host:port (empty = queries over the RPC's abci_query)";
  // What the TLS flags apply to, for their help text.
  std::string tls_upstream = "--chain-rpc-url";
};

class ChainFlags {
 public:
  // Before Daemon::Init.
  void Register(Config* config, const ChainFlagsHelp& help = {});

  // After Init.
  const std::string& rpc_url() const { return rpc_url_; }
  const std::string& grpc_address() const { return grpc_address_; }
  net::TlsClientOptions tls() const { return tls_.options(); }
  CometClientOptions Comet() const;
  // gRPC when --chain-grpc-address is set, abci_query at --chain-rpc-url otherwise (and as the
  // fallback).
  InferenceQueryClientOptions Queries(absl::Duration timeout) const;

 private:
  std::string rpc_url_;
  std::string grpc_address_;
  net::TlsClientFlags tls_;
};

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_CHAIN_FLAGS_H_
