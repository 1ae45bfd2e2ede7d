// QueueValidationSink: turns one PoC validation result (a `/validated` callback, already
// checked by PocCallbacks) into Gonka's MsgSubmitPocValidationsV2 and sends it through the tx
// queue, recorded in the signer ledger first (signer::EnqueueRecorded), so the signers give it
// exactly one chain effect (docs/edge-srv.md, "/validated").
//
// Contract:
//   - Send(result): MsgSubmitPocValidationsV2{creator, poc_stage_start_block_height =
//     result.poc_start, validations [{participant_address, validated_weight, model_id}]} (one
//     entry per callback, as Gonka's dapi sends it), built by nodemanager::PocValidationsTx,
//     under the idempotency key
//       "validation/<poc_start>/<creator>/<participant>/<first 16 hex of SHA-256(model)>"
//     — one vote per (stage, validated participant, model): the same callback retried, or sent to
//     another replica, is the same key, and the queue's duplicate window and the ledger drop the
//     copies. A second, different result for the same key is dropped too (the first vote wins).
//   - Returns OK once the request is recorded (durable; it WILL be sent), with `duplicate` set
//     when the key was already queued or settled. InvalidArgument naming the field (a participant
//     that is not an address of the prefix, an empty model); Unavailable when the ledger or the
//     queue cannot be reached — the callback answers 503 and the ML node retries.
//
// Thread-safety: thread-safe.
//
// Example (daemons/edge-srv):
//   QueueValidationSink sink({.creator = participant}, ledger.get(), &queue);
//   PocCallbacks callbacks(store.get(), gate.AsStageFn(),
//                          {.validations = [&](const ValidationResult& r) {
//                            return sink.Send(r).status();
//                          }});
#ifndef GONKA_EDGESRV_VALIDATION_SINK_H_
#define GONKA_EDGESRV_VALIDATION_SINK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/nodemanager/chain_messages.h"

namespace gonka {
namespace signer {
class Ledger;
}  // namespace signer
namespace txqueue {
class TxQueue;
}  // namespace txqueue

namespace edgesrv {

// One validation verdict of another participant's PoC stage.
struct ValidationResult {
  int64_t poc_start = 0;
  std::string model;
  std::string participant;       // the validated participant's address
  int64_t validated_weight = 0;  // n_total when accepted, -1 when rejected
};

struct ValidationSendResult {
  std::string idempotency_key;
  bool duplicate = false;
};

// The idempotency key of `result` for `creator` (see the contract).
std::string ValidationKey(const std::string& creator, const ValidationResult& result);

class QueueValidationSink {
 public:
  // Neither pointer is owned; both must outlive the sink.
  QueueValidationSink(nodemanager::MessageContext context, signer::Ledger* ledger,
                      txqueue::TxQueue* queue);

  absl::StatusOr<ValidationSendResult> Send(const ValidationResult& result);

 private:
  const nodemanager::MessageContext context_;
  signer::Ledger* const ledger_;
  txqueue::TxQueue* const queue_;
};

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_VALIDATION_SINK_H_
