// gonka/signer: turns queued ChainTx requests into exactly one chain effect each (unordered mode;
// one request per tx, or several fresh requests batched into one tx when configured).
//
// Pipeline for each request taken from the tx queue (design.md "Signer"):
//   1. Ledger Claim(key). included → ack and skip; failed → ack (it was dead-lettered already).
//   2. A tx is already recorded (signed/broadcast: an earlier attempt, maybe by a signer that
//      crashed): look it up by hash. On chain → mark included, ack. Not on chain and the chain's
//      latest block time is past the tx's timeout_timestamp → it can never land: build a new tx.
//      Otherwise re-broadcast the SAME stored bytes (the chain refuses a second inclusion of the
//      same signer + timeout) and observe.
//   3. New tx: the messages (wrapped in MsgExec for `exec_granter` when set), fee with granter,
//      gas from Simulate × gas_adjustment when configured,
//      unordered = true, timeout_timestamp = min(now + tx_ttl, deadline) made unique per signer
//      process (a nanosecond not yet handed out) and per key (low digits from the key's hash).
//      The signed bytes and hash go to the ledger BEFORE broadcast.
//   4. BroadcastTxSync, then poll /tx by hash every `observe_interval` until included (ack), the
//      timeout passed on chain (build a new tx next time), or `observe_budget` ran out (retry:
//      the request is redelivered and step 2 continues).
//   Deadlines: the tx's timeout never exceeds the request's deadline, so once the chain's time
//   passes the deadline nothing of it can land; only then is it dead-lettered as "expired". Bind
//   the TxConsumer with `dead_letter_expired = false` so the queue leaves that call to the signer.
//   Chain halt: while the node is catching up or its latest block is older than `halt_after`,
//   nothing is signed or broadcast; requests are retried after `retry_delay`.
//   Batching: see ProcessBatch (fresh requests share a tx; a failed batch is split).
//   Errors: a CheckTx or DeliverTx code the chain will always give again (bad signature, unknown
//   account, authz not granted, ...) → ledger failed + dead letter "rejected: code N ...".
//   Transient trouble (node unreachable, mempool full, insufficient fee/funds) → ledger last_error
//   + Retry after `retry_delay`.
//
// Thread-safety: Signer is thread-compatible per instance: run one Signer per thread (each with its
// own TxConsumer); many Signers, in one process or many, may share a Ledger, a CometClient and a
// key.
//
// Example:
//   signer::Signer s(&key, consumer.get(), ledger.get(), &comet,
//                    {.chain_id = "gonka-mainnet", .account_number = 42});
//   while (!stopping) {
//     absl::StatusOr<bool> r = s.RunOnce(absl::Seconds(1));   // errors: queue/ledger trouble,
//     if (!r.ok()) clock->SleepFor(absl::Milliseconds(500));  // the request is redelivered
//   }
#ifndef GONKA_SIGNER_SIGNER_H_
#define GONKA_SIGNER_SIGNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/signer/ledger.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

struct SignerOptions {
  std::string chain_id;
  uint64_t account_number = 0;  // of the signing (warm) key's account
  // Non-empty: every message is wrapped in one authz MsgExec whose grantee is the signing key
  // (the messages' signer is this granter, the cold account).
  std::string exec_granter;
  std::vector<cosmos::Coin> fee_amount;  // empty = no fee (Gonka today)
  // The gas limit; with gas_adjustment > 0, the cap of the simulated estimate.
  uint64_t gas_limit = 1'000'000'000;  // as the Gonka node (gonka.md §4.2)
  // > 0: gas = Simulate's gas_used × gas_adjustment (at most gas_limit). 0 = always gas_limit.
  double gas_adjustment = 0;
  std::string fee_granter;  // x/feegrant granter, "" = none
  absl::Duration tx_ttl = absl::Seconds(60);
  absl::Duration observe_interval = absl::Milliseconds(200);
  // How long one delivery observes before handing the request back with Retry (keep below the
  // consumer's ack_wait).
  absl::Duration observe_budget = absl::Seconds(15);
  absl::Duration retry_delay = absl::Seconds(7);  // Gonka's sender NAK delay
  // Pause sending (retry later, nothing broadcast) while the node is catching up or its latest
  // block is older than this: a halted chain or a node far behind. 0 = never pause.
  absl::Duration halt_after = absl::Seconds(60);
  // Batching (RunOnce fetches up to max_batch_messages requests): 1 = one request per tx.
  int max_batch_messages = 1;
  size_t max_batch_bytes = 256 << 10;  // serialized requests per tx
  Clock* clock = nullptr;              // nullptr = Clock::Real()
};

// What happened to one request.
enum class Outcome {
  kIncluded,      // included now, or found included (acked)
  kSkipped,       // the ledger already had it included or failed (acked)
  kDeadLettered,  // permanent failure
  kRetry,         // handed back for redelivery
};

class Signer {
 public:
  // None of the pointers is owned; all must outlive the Signer.
  Signer(const crypto::SigningKey* key, txqueue::TxConsumer* consumer, Ledger* ledger,
         chain::CometClient* comet, SignerOptions options);

  // Fetches at most one request (waiting up to `fetch_timeout`) and processes it; false when none
  // arrived. Errors only for queue or ledger trouble (the request then stays
  // queued and is redelivered).
  absl::StatusOr<bool> RunOnce(absl::Duration fetch_timeout);

  // The pipeline above for one delivery.
  absl::StatusOr<Outcome> Process(txqueue::Delivery& d);

  // Several deliveries: fresh requests (never signed) share txs of at most max_batch_messages
  // messages and max_batch_bytes; the rest go through Process one by one. A batch tx that fails
  // is split: its requests are requeued and sent alone, so one bad message cannot sink others.
  // `outcomes` gets one entry per delivery.
  absl::Status ProcessBatch(std::vector<txqueue::Delivery>& batch, std::vector<Outcome>* outcomes);

 private:
  // min(now + tx_ttl, deadline), moved to a nanosecond no other tx of this process uses.
  absl::Time ChooseTimeout(const txqueue::ChainTx& tx, absl::Time now);
  absl::StatusOr<cosmos::SignedTx> Build(const txqueue::ChainTx& tx, absl::Time timeout,
                                         uint64_t gas_limit);
  // Records a new tx for the request (after `chain_now` passed any earlier tx's timeout) and
  // sends it.
  absl::StatusOr<Outcome> SignAndSend(txqueue::Delivery& d, absl::Time chain_now);
  // Broadcast the recorded tx and observe it. Returns the outcome after acking/retrying.
  // "" when the node is live; else why sending pauses.
  std::string ChainNotLive(const chain::CometStatus& status);
  using Group = std::vector<txqueue::Delivery*>;
  // Gas limit: options_.gas_limit, or Simulate × gas_adjustment. Unavailable = retry later;
  // FailedPrecondition = the chain refuses this tx for good.
  absl::StatusOr<uint64_t> EstimateGas(const txqueue::ChainTx& tx, absl::Time timeout);
  // One tx for several fresh requests, recorded for all keys at once.
  absl::StatusOr<Outcome> SendBatch(const Group& g);
  // Broadcasts the recorded tx of `g` (all sharing it) and observes it.
  absl::StatusOr<Outcome> SendAndObserve(const Group& g, const LedgerEntry& entry);
  // The recorded tx can never land: dead-letter (single) or split (batch: requeue each).
  absl::StatusOr<Outcome> FailRecorded(const Group& g, const LedgerEntry& entry,
                                       const std::string& detail);
  absl::StatusOr<Outcome> RetryAll(const Group& g, const std::string& why, absl::Duration delay);
  absl::StatusOr<Outcome> Fail(txqueue::Delivery& d, const std::string& detail);
  absl::StatusOr<Outcome> Retry(txqueue::Delivery& d, const std::string& why, absl::Duration delay);
  absl::StatusOr<Outcome> Included(const Group& g, const LedgerEntry& entry,
                                   const chain::TxInfo& info);

  const crypto::SigningKey* key_;
  txqueue::TxConsumer* consumer_;
  Ledger* ledger_;
  chain::CometClient* comet_;
  SignerOptions options_;
  Clock* clock_;
};

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_SIGNER_H_
