// The body of signerd's `POST /v1/txs` → ChainTx (SignerService::AddRoutes; a function of its
// own so the fuzz target //gonka/signer:chain_tx_body_fuzz reaches exactly what the handler
// runs). The body comes from any producer that can reach the port: any bytes must end in a
// ChainTx or an error, never a crash.
#ifndef GONKA_SIGNER_INTERNAL_CHAIN_TX_BODY_H_
#define GONKA_SIGNER_INTERNAL_CHAIN_TX_BODY_H_

#include "absl/status/statusor.h"
#include "gonka/net/http_message.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {
namespace internal {

// `Content-Type` containing "protobuf": the serialized ChainTx; otherwise its proto3 JSON
// mapping, messages resolved against every type linked into the process. InvalidArgument with
// the reason the handler answers 400 with. Not validated (TxQueue::Prepare does that).
absl::StatusOr<txqueue::ChainTx> ParseChainTx(const net::HttpRequest& request);

}  // namespace internal
}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_INTERNAL_CHAIN_TX_BODY_H_
