// gonka/signer: turns queued ChainTx requests into exactly one chain effect each (unordered mode
// by default, or sequenced mode; one request per tx, or several fresh requests batched into one
// tx when configured).
//
// Pipeline for each request taken from the tx queue (docs/txqueue.md, "Exactly once"):
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
//   Batching: see ProcessBatch (fresh requests share a tx; a failed batch is split; ledger
//   statements and acks per batch, not per request).
//   Policy: a request with a message type `policy` does not allow is dead-lettered as
//   "type_not_allowed" (ledger failed) before anything is signed.
//   Errors: a CheckTx or DeliverTx code the chain will always give again (bad signature, unknown
//   account, authz not granted, ...) → ledger failed + dead letter "rejected: code N ...".
//   Transient trouble (node unreachable, mempool full, insufficient fee/funds) → ledger last_error
//   + Retry after `retry_delay`.
//
// Sequenced mode (`mode = kSequenced`, for chains without unordered txs): the same pipeline, but
// the tx carries the account sequence and timeout_height = latest height + `timeout_blocks`
// (no unordered flag, no timeout_timestamp). `sequencer` (sequencer.h) owns the account's
// sequence through a per-key lease:
//   - A signer that does not hold the lease does not fetch (RunOnce waits) and hands any
//     delivery given to Process back with Retry ("lease_lost").
//   - Sign → RecordSignedSequenced under the lease's fencing token (the ledger refuses a token
//     older than the account's fence: a paused zombie cannot record) → re-check the lease →
//     broadcast, all under the sequencer's slot so the process sends in sequence order.
//   - CheckTx code 32 (sequence mismatch): resync from the chain, retry. An unknown broadcast
//     outcome also resyncs. The sequence is never guessed.
//   - A recorded tx not found on chain is re-broadcast as the same bytes unless it can never
//     land — a block above its timeout height is committed, or the account's on-chain sequence
//     moved past its sequence and the hash is still absent once one more block is committed
//     (proofs read BEFORE the hash lookup; the extra block covers CometBFT's asynchronous tx
//     indexing) — and only then is a new tx signed with a new sequence (the ledger checks the
//     same proof, ledger.h "Superseding").
//   - Deadlines: a request past its deadline (chain time) with nothing in flight is
//     dead-lettered as expired; a tx signed before the deadline may land up to `timeout_blocks`
//     blocks after it (heights, not times, bound sequenced txs).
//
// Metrics: gonka_signer_requests_total{outcome}, gonka_signer_txs_signed_total{kind},
// gonka_signer_in_flight (deliveries being processed, including broadcast txs being observed),
// gonka_signer_retries_total{reason} with reason one of kRetryReasons.
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
//   Sequenced mode (replicas sharing one key; one Sequencer per process and key):
//     ASSIGN_OR_RETURN(auto lease, election::NewRedisLeaderElector(
//                                      redis, "signer:" + key.address(), {.identity = host}));
//     RETURN_IF_ERROR(lease->Start());
//     signer::Sequencer sequencer(lease.get(), ledger.get(), &comet, key.address());
//     options.mode = signer::SignerMode::kSequenced;
//     options.sequencer = &sequencer;   // then RunOnce as above, in each signing loop
#ifndef GONKA_SIGNER_SIGNER_H_
#define GONKA_SIGNER_SIGNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/message_policy.h"
#include "gonka/signer/sequencer.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

enum class SignerMode { kUnordered, kSequenced };

// The `reason` label values of gonka_signer_retries_total.
inline constexpr const char* kRetryReasons[] = {
    "chain_unavailable",   // node unreachable or a query failed
    "chain_halted",        // catching up, or latest block older than halt_after
    "broadcast_error",     // broadcast_tx_sync failed (outcome unknown)
    "checktx_retryable",   // mempool full / in cache, insufficient fee or funds, out of gas
    "not_included_yet",    // observe budget spent, still pending
    "expired_unincluded",  // the recorded tx timed out unincluded: a new tx next time
    "concurrent_update",   // another signer changed the ledger row meanwhile
    "simulate",            // gas simulation unavailable
    "sequence_mismatch",   // sdk code 32: resynced from the chain
    "lease_lost",          // sequenced mode: not (or no longer) the lease holder, or fenced out
    "batch_split",         // a batch tx failed: its requests go alone
};

struct SignerOptions {
  SignerMode mode = SignerMode::kUnordered;
  std::string chain_id;
  uint64_t account_number = 0;  // of the signing (warm) key's account
  // Non-empty: every message is wrapped in one authz MsgExec whose grantee is the signing key
  // (the messages' signer is this granter, the cold account).
  std::string exec_granter;
  std::vector<cosmos::Coin> fee_amount;  // empty = no fee (Gonka today)
  // The gas limit; with gas_adjustment > 0, the cap of the simulated estimate.
  uint64_t gas_limit = 1'000'000'000;  // as the Gonka node (docs/reference/gonka.md)
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
  // The message types this signer signs; a request with any other is dead-lettered as
  // "type_not_allowed" and its ledger row marked failed, before anything is signed. (A request
  // whose tx was already signed under an earlier policy keeps its recorded bytes: they are
  // re-broadcast or observed as usual, since refusing cannot unsign them.)
  MessagePolicy policy = MessagePolicy::Gonka();
  // Batching (RunOnce fetches up to max_batch_messages requests): 1 = one request per tx.
  int max_batch_messages = 1;
  size_t max_batch_bytes = 256 << 10;  // serialized requests per tx
  Clock* clock = nullptr;              // nullptr = Clock::Real()

  // Sequenced mode only. Required there (not owned; shared by the process's Signers of the key).
  Sequencer* sequencer = nullptr;
  // timeout_height = latest height + timeout_blocks.
  int64_t timeout_blocks = 30;
  // Tests only: called at named points of the sequenced send ("before_record": signed, not yet
  // recorded; "before_broadcast": recorded, lease not yet re-checked). A zombie test stops the
  // process there.
  std::function<void(absl::string_view point)> test_hook;
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

  // The pipeline above for one delivery. Sequenced mode without `sequencer`: FailedPrecondition.
  absl::StatusOr<Outcome> Process(txqueue::Delivery& d);

  // Several deliveries: fresh requests (never signed) share txs of at most max_batch_messages
  // messages and max_batch_bytes; the rest go through Process one by one. A batch tx that fails
  // is split: its requests are requeued and sent alone, so one bad message cannot sink others.
  // `outcomes` gets one entry per delivery. Ledger work is per batch, not per request: one
  // ClaimBatch for the fetch, and per tx one RecordSignedBatch, one MarkBroadcastBatch and one
  // MarkIncludedBatch; the included requests' acks are sent without waiting for each (the last
  // one waits for the server; a lost ack is answered by the ledger on redelivery).
  absl::Status ProcessBatch(std::vector<txqueue::Delivery>& batch, std::vector<Outcome>* outcomes);

 private:
  using Group = std::vector<txqueue::Delivery*>;
  absl::StatusOr<Outcome> ProcessOne(txqueue::Delivery& d);
  absl::Status ProcessBatchImpl(std::vector<txqueue::Delivery>& batch,
                                std::vector<Outcome>* outcomes);
  // Sequenced mode: the pipeline for one delivery / a fresh batch sharing one tx.
  absl::StatusOr<Outcome> ProcessSequenced(txqueue::Delivery& d);
  absl::StatusOr<Outcome> SendBatchSequenced(const Group& g);
  // Signs a new sequenced tx for `g` (messages merged into `tx`), records it and broadcasts it
  // under the sequencer's slot, then observes. `seen` is the proof any earlier recorded tx of
  // the keys can never land. FailedPrecondition when the ledger refuses (the caller re-reads).
  absl::StatusOr<Outcome> SignAndSendSequenced(const Group& g, const txqueue::ChainTx& tx,
                                               const chain::CometStatus& status,
                                               const ChainObservation& seen);
  // Re-broadcasts the recorded sequenced tx (same bytes) under the slot and observes it.
  absl::StatusOr<Outcome> RebroadcastSequenced(const Group& g, const LedgerEntry& e);
  // Waits (up to observe_budget) until the node's latest height is above `height`.
  absl::Status WaitForHeightAbove(int64_t height);
  // Re-checks the lease, broadcasts the recorded tx, updates the slot (consumed / resync),
  // releases it and observes.
  absl::StatusOr<Outcome> BroadcastSequenced(const Group& g, const LedgerEntry& e,
                                             std::unique_ptr<Sequencer::Slot> slot);
  // What distinguishes one tx of the key: an unordered timeout, or a sequence and timeout height.
  struct TxParams {
    absl::Time timeout = absl::InfinitePast();  // unordered: timeout_timestamp
    bool sequenced = false;
    uint64_t sequence = 0;
    int64_t timeout_height = 0;
  };
  // min(now + tx_ttl, deadline), moved to a nanosecond no other tx of this process uses.
  absl::Time ChooseTimeout(const txqueue::ChainTx& tx, absl::Time now);
  absl::StatusOr<cosmos::SignedTx> Build(const txqueue::ChainTx& tx, const TxParams& params,
                                         uint64_t gas_limit);
  // Records a new tx for the request (after `chain_now` passed any earlier tx's timeout) and
  // sends it.
  absl::StatusOr<Outcome> SignAndSend(txqueue::Delivery& d, absl::Time chain_now);
  // Broadcast the recorded tx and observe it. Returns the outcome after acking/retrying.
  // "" when the node is live; else why sending pauses.
  std::string ChainNotLive(const chain::CometStatus& status);
  // Gas limit: options_.gas_limit, or Simulate × gas_adjustment. Unavailable = retry later;
  // FailedPrecondition = the chain refuses this tx for good.
  // Aborted = simulate saw a sequence mismatch (sdk 32).
  absl::StatusOr<uint64_t> EstimateGas(const txqueue::ChainTx& tx, const TxParams& params);
  // All messages of `g` in one ChainTx (the earliest deadline; the first key).
  static txqueue::ChainTx Merge(const Group& g);
  // One tx for several fresh requests, recorded for all keys at once.
  absl::StatusOr<Outcome> SendBatch(const Group& g);
  // The recorded tx's signed bytes: `e.signed_tx`, or read from the ledger (entries from Claim
  // carry none). FailedPrecondition when the key records another tx by now.
  absl::StatusOr<std::string> SignedBytes(const LedgerEntry& e);
  // What to answer when SignedBytes failed: the key records another tx by now (another signer
  // moved it) → retry as concurrent_update; otherwise the ledger's error.
  absl::StatusOr<Outcome> NoSignedBytes(const Group& g, const absl::Status& why);
  static std::vector<std::string> Keys(const Group& g);
  // Broadcasts the recorded tx of `g` (all sharing it) and observes it.
  absl::StatusOr<Outcome> SendAndObserve(const Group& g, const LedgerEntry& entry);
  // Polls the recorded tx by hash until included, provably expired, or observe_budget spent.
  absl::StatusOr<Outcome> Observe(const Group& g, const LedgerEntry& entry);
  // The recorded tx can never land: dead-letter (single) or split (batch: requeue each).
  absl::StatusOr<Outcome> FailRecorded(const Group& g, const LedgerEntry& entry,
                                       const std::string& detail);
  // `reason` is one of kRetryReasons (the metric label).
  absl::StatusOr<Outcome> RetryAll(const Group& g, absl::string_view reason, const std::string& why,
                                   absl::Duration delay);
  absl::StatusOr<Outcome> Fail(txqueue::Delivery& d, const std::string& detail);
  // The policy refuses a message of `d` and nothing of it is signed yet: dead letter
  // "type_not_allowed", ledger failed. `e` is the key's claimed ledger entry.
  absl::StatusOr<Outcome> Refuse(txqueue::Delivery& d, const absl::Status& why);
  // True when the policy refuses `d` and its entry `e` has no recorded tx.
  bool Refused(const txqueue::Delivery& d, const LedgerEntry& e, absl::Status* why) const;
  absl::StatusOr<Outcome> Retry(txqueue::Delivery& d, absl::string_view reason,
                                const std::string& why, absl::Duration delay);
  void Hook(absl::string_view point) {
    if (options_.test_hook) options_.test_hook(point);
  }
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
