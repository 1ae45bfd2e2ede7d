// gonka/signer/ledger: the Postgres record of every chain request, keyed by idempotency_key. It is
// the source of truth beyond the queue's dedupe window: a signer consults it before building a
// tx, writes the signed bytes to it BEFORE broadcasting, and after a crash re-broadcasts exactly
// those bytes (the chain's unordered-tx replay protection refuses a second inclusion).
//
// States and the only transitions allowed (anything else is FailedPrecondition naming the key,
// the current state and the wanted one):
//
//   (none) --Claim--> queued --RecordSigned--> signed --MarkBroadcast--> broadcast
//   signed | broadcast --MarkIncluded--> included               (terminal)
//   queued | signed | broadcast --MarkFailed--> failed          (terminal: dead-lettered)
//   signed | broadcast --RecordSigned(new tx)--> signed         only once the stored tx's
//                                                               timeout has passed (`now`)
//   signed | broadcast --Requeue--> queued                      the recorded tx can never land
//                                                               (it failed on chain / CheckTx)
//
// The request itself (the serialized ChainTx) is kept from the first claim (migration 5): if the
// queue ever loses a request whose row is not settled, TakeStale finds the row by its age and the
// Reconciler (reconciler.h) enqueues the request again.
//
// A batch tx (several requests in one tx) is recorded for all its keys in one transaction
// (RecordSignedBatch): each row holds the same hash and timeout, and batch_size > 1.
//
// Storage (migration 4): a tx's signed bytes are stored ONCE, in table signer_txs keyed by
// tx_hash (with its timeout and batch size); a key's row references its current tx by tx_hash.
// Rows recorded before migration 4 carry the bytes inline (signer_ledger.signed_tx) and stay
// readable: Get and SignedTx take the inline bytes when present, else the signer_txs row. Reads
// on the hot path (Claim, ClaimBatch, the row locks of every transition) never fetch the bytes;
// only Get and SignedTx do (a re-broadcast).
//
// Batch-wide statements (one round trip for a whole batch, however many keys): ClaimBatch,
// RecordSignedBatch / RecordSignedSequenced (all rows locked by one SELECT ... WHERE key =
// ANY(...) ORDER BY key FOR UPDATE, updated by one UPDATE), MarkBroadcastBatch and
// MarkIncludedBatch (one UPDATE guarded by state and tx_hash; the keys it did not move, e.g. a
// row another signer changed meanwhile, go through the per-key transition, which is a no-op for
// a repeat and the precise error otherwise).
//
// Sequenced mode (RecordSignedSequenced, RaiseFence): a tx recorded with an account sequence
// and a timeout height, under the fencing token of the per-key lease its signer held.
//   - The fence: table signer_fence keeps, per account, the newest fencing token seen. A
//     sequenced record (and RaiseFence) with a token LOWER than it is refused with Aborted and
//     changes nothing; an equal token is the current holder; a higher one raises the fence. The
//     check and the row writes are one transaction with the account's fence row locked, so once
//     a new lease holder has called RaiseFence (it does so before reading the sequence from the
//     chain), no earlier holder — a paused zombie — can record a tx for that account.
//   - Superseding: a signed/broadcast row may get a new sequenced tx only when the caller has
//     looked the old hash up and not found it AFTER reading `seen`, and `seen` proves the old tx
//     can never land: its timeout height is reached (seen.height >= timeout_height: blocks up to
//     that height are committed without it), or it is sequenced for the same account and the
//     account's on-chain sequence moved past it (seen.account_sequence > sequence), or it is an
//     unordered tx whose timeout is before seen.time.
//   - The unordered RecordSigned(Batch) never supersedes a sequenced tx (FailedPrecondition).
//
// Every operation is one transaction (rows locked with SELECT ... FOR UPDATE, or one guarded
// UPDATE) and idempotent: a repeat with the same arguments (same hash) after a lost reply is OK
// and changes nothing. Claim on an existing key returns the existing entry unchanged. Rows are
// always locked in key order, so transactions sharing keys cannot deadlock.
//
// timeout_timestamp is kept in integer Unix nanoseconds: unordered txs are told apart by their
// nanosecond timeout, and Postgres timestamps keep only microseconds.
//
// Thread-safety: thread-safe (all state is in Postgres; the Pool is thread-safe). Many signer
// processes may share one database.
//
// Example:
//   ASSIGN_OR_RETURN(auto ledger, signer::Ledger::Open(pool.get()));   // runs migrations
//   ASSIGN_OR_RETURN(signer::LedgerEntry e, ledger->Claim(key));
//   if (e.state == signer::TxState::kIncluded) return consumer->Ack(d);
//   RETURN_IF_ERROR(ledger->RecordSigned(key, signed_tx.tx_raw, signed_tx.hash, timeout, now));
//   ... broadcast ...;  RETURN_IF_ERROR(ledger->MarkBroadcast(key, signed_tx.hash));
//   A batch: ASSIGN_OR_RETURN(auto entries, ledger->ClaimBatch(keys)); ... RecordSignedBatch(keys,
//   ...); broadcast; MarkBroadcastBatch(keys, hash); ... MarkIncludedBatch(keys, hash, height).
#ifndef GONKA_SIGNER_LEDGER_H_
#define GONKA_SIGNER_LEDGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/pg/pg.h"

namespace gonka {
namespace signer {

enum class TxState { kQueued, kSigned, kBroadcast, kIncluded, kFailed };

// "queued", "signed", "broadcast", "included", "failed".
absl::string_view TxStateName(TxState state);

struct LedgerEntry {
  std::string key;
  TxState state = TxState::kQueued;
  std::string tx_hash;  // upper-case hex, "" before RecordSigned
  // TxRaw bytes of the recorded tx: filled by Get only ("" before RecordSigned, and "" in the
  // entries of Claim / ClaimBatch, which never read them; see SignedTx).
  std::string signed_tx;
  absl::Time timeout = absl::InfinitePast();  // the tx's timeout_timestamp
  int64_t height = 0;                         // inclusion height once included
  int attempts = 0;                           // txs signed for this key
  int batch_size = 1;                         // keys sharing the recorded tx
  int reenqueues = 0;                         // copies put back into the queue (TakeStale)
  // false: recorded by a producer (Record) and not claimed by any signer yet.
  bool delivered = true;
  std::string last_error;
  absl::Time updated_at;
  // Sequenced txs only (sequence -1 and the rest empty for unordered txs).
  std::string account;                          // the address whose sequence the tx uses
  int64_t sequence = -1;                        // the tx's account sequence
  int64_t timeout_height = 0;                   // the tx's timeout_height
  int64_t fencing_token = 0;                    // the lease token it was recorded under
  absl::Time signed_at = absl::InfinitePast();  // when the current tx was recorded

  bool sequenced() const { return sequence >= 0; }
};

// A request TakeStale handed back.
struct StaleRequest {
  std::string key;
  TxState state = TxState::kQueued;  // queued, signed or broadcast
  std::string request;               // the serialized ChainTx as first claimed
  int reenqueues = 0;                // times handed back so far, this one included
  absl::Time last_change;            // the row's updated_at before this call
  bool delivered = true;             // false: recorded by a producer, never claimed by a signer
};

// A sequenced tx to record (RecordSignedSequenced).
struct SequencedTx {
  std::string signed_tx;  // TxRaw bytes
  std::string tx_hash;    // upper-case hex
  std::string account;    // signer address
  uint64_t sequence = 0;
  int64_t timeout_height = 0;
  int64_t fencing_token = 0;  // > 0: the lease token of the signer
};

// What the caller read from the chain BEFORE looking the recorded tx's hash up (and not finding
// it): the proof that the recorded tx can never land (see "Superseding" above).
struct ChainObservation {
  int64_t height = 0;                      // latest committed height
  absl::Time time = absl::InfinitePast();  // latest block time
  uint64_t account_sequence = 0;           // the signing account's on-chain sequence
};

class Ledger {
 public:
  // Applies the ledger's migrations (component "signer_ledger") and returns a ledger over `pool`,
  // which must outlive it. Errors from pg::Migrate.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(pg::Pool* pool);

  // Inserts `key` as queued if it is new, keeping `request` (the serialized ChainTx as the queue
  // delivered it; "" = none) so that TakeStale can hand it back; returns the entry either way
  // (without signed_tx).
  absl::StatusOr<LedgerEntry> Claim(const std::string& key, const std::string& request = "");

  // A producer records `request` (the serialized ChainTx it is about to publish) before
  // publishing it: inserted as queued and not delivered, or the existing entry returned unchanged.
  // A signer's Claim of the key later marks it delivered. InvalidArgument for an empty key or
  // request.
  absl::StatusOr<LedgerEntry> Record(const std::string& key, const std::string& request);

  // Claim for several keys in one transaction (one INSERT ... SELECT unnest(...) and one locking
  // SELECT): the entries in the order of `keys` (a key given twice appears twice), without
  // signed_tx. `requests` is empty or parallel to `keys`. InvalidArgument for an empty key or
  // a `requests` of another length.
  absl::StatusOr<std::vector<LedgerEntry>> ClaimBatch(
      const std::vector<std::string>& keys, const std::vector<std::string>& requests = {});

  // Requests that are not settled (queued, signed or broadcast) and whose row has not changed
  // for `older_than`, that have a stored request: at most `limit`, oldest change first. The
  // same statement stamps each returned row (updated_at = now, reenqueues + 1), so concurrent
  // callers take different rows and a row is returned again only after another `older_than`
  // without progress. Rows locked by a signer at that moment are skipped. A signer touches its
  // row at every step and every retry, so a row this old has no live delivery: the queue lost
  // it, or it waits behind a delay longer than `older_than` (see Reconciler).
  // Rows a producer recorded that no signer has claimed yet are taken only with
  // `include_undelivered`: while the queue has a backlog they are probably still in it.
  // `now` is the time staleness is judged at and taken rows are stamped with. InfinitePast (the
  // default, and what the Reconciler passes with the real clock) = the database's now(), the clock
  // every other write stamps updated_at with; tests pass a time of their own (the Reconciler's
  // injected clock) so that "older than" does not depend on how fast the test runs.
  absl::StatusOr<std::vector<StaleRequest>> TakeStale(absl::Duration older_than, int limit,
                                                      bool include_undelivered = true,
                                                      absl::Time now = absl::InfinitePast());

  // Stores the signed tx before it is broadcast. From queued; or from signed/broadcast when the
  // stored tx's timeout is before `now` (the caller has seen it is not on chain) — a new tx,
  // attempts + 1. The same hash again is a no-op. NotFound if not claimed.
  absl::Status RecordSigned(const std::string& key, const std::string& signed_tx,
                            const std::string& tx_hash, absl::Time timeout, absl::Time now);

  // RecordSigned for several keys sharing one tx, all or none (the first refused key fails the
  // whole call with FailedPrecondition and nothing is recorded).
  absl::Status RecordSignedBatch(const std::vector<std::string>& keys, const std::string& signed_tx,
                                 const std::string& tx_hash, absl::Time timeout, absl::Time now);

  // Sequenced mode: records `tx` for `keys` (one tx for all: batch_size = keys.size()), fenced by
  // tx.fencing_token. Aborted naming the account and both tokens when a newer token holds the
  // fence (nothing written); FailedPrecondition when a row cannot take a new tx (see
  // "Superseding"); the same hash again is a no-op; InvalidArgument for empty fields or token <= 0.
  absl::Status RecordSignedSequenced(const std::vector<std::string>& keys, const SequencedTx& tx,
                                     const ChainObservation& seen);

  // Raises `account`'s fence to `token` (a new lease holder calls this before anything else).
  // Aborted when a newer token already holds it; InvalidArgument for token <= 0.
  absl::Status RaiseFence(const std::string& account, int64_t token);

  // The account's fence (0 if none was ever raised).
  absl::StatusOr<int64_t> Fence(const std::string& account);

  // signed | broadcast (with `tx_hash`) -> queued, keeping attempts. Only for a tx that can never
  // land: it is on chain with a failure code, or CheckTx refused it. Used to split a failed batch.
  absl::Status Requeue(const std::string& key, const std::string& tx_hash,
                       const std::string& reason);

  // signed -> broadcast, for the stored hash. A repeat is a no-op.
  absl::Status MarkBroadcast(const std::string& key, const std::string& tx_hash);

  // signed | broadcast -> included at `height`, for the stored hash. A repeat is a no-op.
  absl::Status MarkIncluded(const std::string& key, const std::string& tx_hash, int64_t height);

  // MarkBroadcast / MarkIncluded for every key of `keys` (the keys sharing tx `tx_hash`) with one
  // UPDATE; keys it did not move (already there, or changed concurrently) go through the per-key
  // call, whose first error is returned (the keys moved before it stay moved).
  absl::Status MarkBroadcastBatch(const std::vector<std::string>& keys, const std::string& tx_hash);
  absl::Status MarkIncludedBatch(const std::vector<std::string>& keys, const std::string& tx_hash,
                                 int64_t height);

  // The signed bytes of `key`'s recorded tx, which must be `tx_hash` (what a re-broadcast sends).
  // NotFound if the key was never claimed or no bytes are stored; FailedPrecondition naming both
  // hashes when the key now records another tx.
  absl::StatusOr<std::string> SignedTx(const std::string& key, const std::string& tx_hash);

  // queued | signed | broadcast -> failed with `reason` (permanent). A repeat is a no-op.
  absl::Status MarkFailed(const std::string& key, const std::string& reason);

  // Notes a retryable error without changing state.
  absl::Status RecordError(const std::string& key, const std::string& error);

  // NotFound naming the key if it was never claimed.
  absl::StatusOr<LedgerEntry> Get(const std::string& key);

 private:
  explicit Ledger(pg::Pool* pool) : pool_(pool) {}
  pg::Pool* pool_;
};

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_LEDGER_H_
