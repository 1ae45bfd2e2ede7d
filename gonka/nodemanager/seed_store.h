// SeedStore: the seeds the node-manager submitted, per (participant, epoch), kept where every
// replica can read them, so whichever replica leads at ClaimMoney claims epoch e with exactly the
// seed whose signature an earlier leader put on chain for e.
//
// Why a store when Gonka's seed is derived from the warm key (chain_messages.h, GenerateSeed)?
// The chain checks a claim's seed against the signature submitted for the epoch, with the public
// keys of the participant and its grantees at claim time. Re-deriving gives the submitted seed
// only while the same warm key signs; a warm key rotated between MsgSubmitSeed (epoch e's PoC)
// and MsgClaimRewards (epoch e+1's ClaimMoney) would derive another seed whose bytes do not match
// the stored signature. Gonka's dapi keeps the seed for the same reason (its config's
// previous/current/upcoming seeds). The first seed stored for a key wins: two leaders racing
// through a failover cannot leave two seeds, and the one stored is the one submitted.
//
// Contract:
//   - PutIfAbsent(participant, seed) stores `seed` unless (participant, seed.epoch) already has
//     one, and returns the stored seed (the earlier one if present). InvalidArgument for an empty
//     participant or a malformed seed; Unavailable (PostgreSQL) when the store cannot be reached
//     — retry later, nothing is half-written.
//   - Get(participant, epoch): the stored seed, or NotFound naming both.
//   - EnsureSeed(store, key, participant, epoch): the stored seed, or GenerateSeed(key, epoch)
//     stored first (PutIfAbsent) and returned — call it before sending MsgSubmitSeed, so the
//     seed is durable before its signature can be on chain. The SeedSource overload asks the
//     source (a local key, or signerd with the answer verified: seed_source.h) instead, and
//     returns its error with nothing stored.
//
// PgSeedStore: table `nodemanager_seeds (participant, epoch) PRIMARY KEY, seed, signature,
// created_at`, created by migration (component "nodemanager_seeds") when opened.
// InMemorySeedStore: the same semantics in process memory (tests, single-replica tools).
//
// Thread-safety: both implementations are thread-safe.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<PgSeedStore> seeds, PgSeedStore::Open(pool.get()));
//   ASSIGN_OR_RETURN(SeedInfo seed, EnsureSeed(*seeds, warm_key, participant, action.epoch));
//   ...  // at ClaimMoney of epoch e+1, on whichever replica leads:
//   ASSIGN_OR_RETURN(SeedInfo previous, seeds->Get(participant, claim_action.epoch));
#ifndef GONKA_NODEMANAGER_SEED_STORE_H_
#define GONKA_NODEMANAGER_SEED_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gonka/crypto/key.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/nodemanager/seed_source.h"
#include "gonka/pg/pg.h"

namespace gonka {
namespace nodemanager {

class SeedStore {
 public:
  virtual ~SeedStore() = default;
  virtual absl::StatusOr<SeedInfo> PutIfAbsent(absl::string_view participant,
                                               const SeedInfo& seed) = 0;
  virtual absl::StatusOr<SeedInfo> Get(absl::string_view participant, uint64_t epoch) = 0;
};

// The stored seed of (participant, epoch), or the generated one after storing it.
absl::StatusOr<SeedInfo> EnsureSeed(SeedStore& store, const crypto::SigningKey& key,
                                    absl::string_view participant, uint64_t epoch);

absl::StatusOr<SeedInfo> EnsureSeed(SeedStore& store, SeedSource& source,
                                    absl::string_view participant, uint64_t epoch);

class PgSeedStore : public SeedStore {
 public:
  // Applies the migrations; errors as pg::Migrate. `pool` must outlive the store.
  static absl::StatusOr<std::unique_ptr<PgSeedStore>> Open(pg::Pool* pool);

  absl::StatusOr<SeedInfo> PutIfAbsent(absl::string_view participant,
                                       const SeedInfo& seed) override;
  absl::StatusOr<SeedInfo> Get(absl::string_view participant, uint64_t epoch) override;

 private:
  explicit PgSeedStore(pg::Pool* pool) : pool_(pool) {}
  pg::Pool* pool_;
};

class InMemorySeedStore : public SeedStore {
 public:
  absl::StatusOr<SeedInfo> PutIfAbsent(absl::string_view participant,
                                       const SeedInfo& seed) override;
  absl::StatusOr<SeedInfo> Get(absl::string_view participant, uint64_t epoch) override;

 private:
  absl::Mutex mu_;
  std::map<std::pair<std::string, uint64_t>, SeedInfo> seeds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_SEED_STORE_H_
