// gonka/signer/sequencer: one account's sequence for sequenced-mode signers (docs/txqueue.md,
// "Sequenced mode"). The account has one owner at a time: the holder of a per-key lease
// (gonka/election, e.g. a Redis LeaderElector named "signer:<address>"). Signers that share the
// key in other processes campaign for the same lease; only the holder signs.
//
// Contract:
//   - Acquire() hands out the next sequence only while the lease is held. The first Acquire under
//     a new fencing token raises the ledger's fence for the account to that token (so a paused
//     earlier holder can no longer record anything, see ledger.h) and THEN reads the sequence
//     from the chain (auth Query/Account); the sequence is kept locally while that token holds.
//     It is never guessed: after a mismatch (sdk code 32), an unknown broadcast outcome or a lost
//     lease, the next Acquire reads it from the chain again.
//   - A Slot holds the sequencer's mutex: sign, record and broadcast happen in sequence order
//     within the process (a chain refuses sequence N+1 before N). Release it (destroy the Slot)
//     before observing the tx.
//   - The slot's token is the lease token the tx must be recorded under; StillHolds() re-checks
//     the lease (local deadline included) right before a broadcast.
//
// Thread-safety: thread-safe; share one Sequencer among all Signers of the key in a process.
//
// Example:
//   signer::Sequencer seq(elector.get(), ledger.get(), &comet, key.address());
//   ASSIGN_OR_RETURN(std::unique_ptr<signer::Sequencer::Slot> slot, seq.Acquire());
//   ... build with slot->sequence(), RecordSignedSequenced(..., slot->token()) ...
//   if (!slot->StillHolds()) return;       // lease lost: do not broadcast
//   ... broadcast: code 0 -> slot->Consumed(); code 32 -> slot->Resync() ...
#ifndef GONKA_SIGNER_SEQUENCER_H_
#define GONKA_SIGNER_SEQUENCER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gonka/chain/comet_client.h"
#include "gonka/election/leader_elector.h"
#include "gonka/signer/ledger.h"

namespace gonka {
namespace signer {

struct AccountInfo {
  uint64_t account_number = 0;
  uint64_t sequence = 0;
  int64_t height = 0;  // the height the query answered at (0 if the node did not say)
};

// The account's number and sequence from the chain (abci_query /cosmos.auth.v1beta1.Query/
// Account, committed state). Unavailable for transport trouble; FailedPrecondition naming the
// address when the chain does not know the account; Internal for an undecodable answer.
absl::StatusOr<AccountInfo> QueryAccount(chain::CometClient& comet, const std::string& address);

class Sequencer {
 public:
  // None of the pointers is owned; all must outlive the Sequencer. `account` is the signing
  // key's address.
  Sequencer(election::LeaderElector* lease, Ledger* ledger, chain::CometClient* comet,
            std::string account);

  class Slot {
   public:
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();  // releases the sequencer's mutex
    election::FencingToken token() const { return token_; }
    uint64_t sequence() const { return sequence_; }
    // The lease is still held under this slot's token.
    bool StillHolds() const;
    // The tx with sequence() passed CheckTx: the next slot gets sequence() + 1.
    void Consumed();
    // A recorded tx with `sequence` was accepted: the next slot gets at least sequence + 1.
    void Observed(uint64_t sequence);
    // Mismatch or unknown outcome: the next Acquire reads the sequence from the chain.
    void Resync();

   private:
    friend class Sequencer;
    // Takes over owner->mu_, which the caller holds.
    Slot(Sequencer* owner, election::FencingToken token, uint64_t sequence)
        : owner_(owner), token_(token), sequence_(sequence) {}
    Sequencer* owner_;
    election::FencingToken token_;
    uint64_t sequence_;
  };

  // Waits for the sequencer's mutex, then: Unavailable "lease lost" when the lease is not held;
  // Aborted when the ledger fence holds a newer token (this process is a zombie); Unavailable /
  // FailedPrecondition from QueryAccount when the sequence must be read and cannot be.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire();

  // The lease is held now (cheap, local).
  bool HoldsLease() const;
  // Forget the local sequence (read from the chain at the next Acquire).
  void Resync();
  // The account's on-chain sequence now (not cached).
  absl::StatusOr<uint64_t> ChainSequence();

  const std::string& account() const { return account_; }

 private:
  election::LeaderElector* lease_;
  Ledger* ledger_;
  chain::CometClient* comet_;
  const std::string account_;
  // The body of Acquire(), under mu_; on success the Slot it returns takes over mu_.
  absl::StatusOr<std::unique_ptr<Slot>> AcquireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Held by a Slot for its whole life: Acquire() locks it and ~Slot() unlocks it (the two
  // functions the static analysis cannot follow; Slot's methods assert it with AssertHeld()).
  absl::Mutex mu_;
  // The token `next_` was read under; 0 = unsynced.
  election::FencingToken synced_token_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> resync_requested_{false};  // set by Resync() without the mutex
};

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_SEQUENCER_H_
