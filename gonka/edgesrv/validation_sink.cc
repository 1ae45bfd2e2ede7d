#include "gonka/edgesrv/validation_sink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"
#include "gonka/signer/reconciler.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace edgesrv {

std::string ValidationKey(const std::string& creator, const ValidationResult& result) {
  // The model id may be long and hold any character: its hash keeps the key short and plain.
  const std::string model_hash = crypto::HexEncode(crypto::Sha256(result.model)).substr(0, 16);
  return absl::StrCat("validation/", result.poc_start, "/", creator, "/", result.participant, "/",
                      model_hash);
}

QueueValidationSink::QueueValidationSink(nodemanager::MessageContext context,
                                         signer::Ledger* ledger, txqueue::TxQueue* queue)
    : context_(std::move(context)), ledger_(ledger), queue_(queue) {}

absl::StatusOr<ValidationSendResult> QueueValidationSink::Send(const ValidationResult& result) {
  absl::StatusOr<txqueue::ChainTx> tx =
      nodemanager::PocValidationsTx(context_, result.poc_start,
                                    {{.participant_address = result.participant,
                                      .validated_weight = result.validated_weight,
                                      .model_id = result.model}});
  if (!tx.ok()) return tx.status();
  ValidationSendResult out;
  out.idempotency_key = ValidationKey(context_.creator, result);
  tx->set_idempotency_key(out.idempotency_key);
  tx->set_producer("edge-srv");
  absl::StatusOr<txqueue::EnqueueResult> r = signer::EnqueueRecorded(ledger_, queue_, *tx);
  if (!r.ok()) return r.status();
  out.duplicate = r->duplicate;
  return out;
}

}  // namespace edgesrv
}  // namespace gonka
