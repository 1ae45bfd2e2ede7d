#include "gonka/signer/internal/chain_tx_body.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gonka {
namespace signer {
namespace internal {

absl::StatusOr<txqueue::ChainTx> ParseChainTx(const net::HttpRequest& request) {
  txqueue::ChainTx tx;
  if (absl::StrContains(request.headers.Get("Content-Type"), "protobuf")) {
    if (!tx.ParseFromString(request.body)) {
      return absl::InvalidArgumentError("body is not a serialized gonka.txqueue.v1.ChainTx");
    }
    return tx;
  }
  // Cosmos type URLs ("/cosmos.bank.v1beta1.MsgSend") have no host part: resolve with an empty
  // prefix against every message type linked into this process.
  static google::protobuf::util::TypeResolver* const resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "", google::protobuf::DescriptorPool::generated_pool());
  std::string binary;
  auto s = google::protobuf::util::JsonToBinaryString(
      resolver, "/" + txqueue::ChainTx::descriptor()->full_name(), request.body, &binary);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("body: ", std::string(s.message())));
  }
  if (!tx.ParseFromString(binary)) {
    return absl::InvalidArgumentError("body: not a gonka.txqueue.v1.ChainTx");
  }
  return tx;
}

}  // namespace internal

}  // namespace signer
}  // namespace gonka
