#include "gonka/chain/chain_flags.h"

namespace gonka {
namespace chain {

void ChainFlags::Register(Config* config, const ChainFlagsHelp& help) {
  config->AddString("chain-rpc-url", &rpc_url_, "http://127.0.0.1:26657", help.rpc);
  if (!help.grpc.empty()) {
    config->AddString("chain-grpc-address", &grpc_address_, "", help.grpc);
  }
  tls_.Register(config, "chain", help.tls_upstream);
}

CometClientOptions ChainFlags::Comet() const {
  CometClientOptions options;
  options.rpc_url = rpc_url_;
  options.tls = tls_.options();
  return options;
}

InferenceQueryClientOptions ChainFlags::Queries(absl::Duration timeout) const {
  InferenceQueryClientOptions options;
  options.grpc_address = grpc_address_;
  options.rpc_url = rpc_url_;
  options.rpc_tls = tls_.options();
  options.timeout = timeout;
  return options;
}

}  // namespace chain
}  // namespace gonka
