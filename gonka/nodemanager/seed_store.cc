#include "gonka/nodemanager/seed_store.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace nodemanager {
namespace {

const std::vector<pg::Migration>& Migrations() {
  static const auto* m = new std::vector<pg::Migration>{
      {1, "create nodemanager_seeds", R"sql(
CREATE TABLE nodemanager_seeds (
  participant text NOT NULL,
  epoch       bigint NOT NULL CHECK (epoch >= 0),
  seed        bigint NOT NULL CHECK (seed > 0),
  signature   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (participant, epoch)
);
)sql"},
  };
  return *m;
}

absl::Status Validate(absl::string_view participant, const SeedInfo& seed) {
  if (participant.empty()) return absl::InvalidArgumentError("seed store: empty participant");
  if (seed.seed <= 0 || seed.signature_hex.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("seed store: seed of ", participant, " epoch ", seed.epoch, " is malformed"));
  }
  if (seed.epoch > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("seed store: epoch ", seed.epoch, " too large"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SeedInfo> RowToSeed(const pg::Result& r, uint64_t epoch) {
  SeedInfo out;
  out.epoch = epoch;
  if (!absl::SimpleAtoi(r.Get(0, 0).value_or(""), &out.seed)) {
    return absl::InternalError(absl::StrCat("seed store: epoch ", epoch, ": bad seed column"));
  }
  out.signature_hex = r.Get(0, 1).value_or("");
  return out;
}

}  // namespace

absl::StatusOr<SeedInfo> EnsureSeed(SeedStore& store, const crypto::SigningKey& key,
                                    absl::string_view participant, uint64_t epoch) {
  absl::StatusOr<SeedInfo> stored = store.Get(participant, epoch);
  if (stored.ok() || !absl::IsNotFound(stored.status())) return stored;
  return store.PutIfAbsent(participant, GenerateSeed(key, epoch));
}

absl::StatusOr<SeedInfo> EnsureSeed(SeedStore& store, SeedSource& source,
                                    absl::string_view participant, uint64_t epoch) {
  absl::StatusOr<SeedInfo> stored = store.Get(participant, epoch);
  if (stored.ok() || !absl::IsNotFound(stored.status())) return stored;
  absl::StatusOr<SeedInfo> seed = source.Seed(epoch);  // verified by a remote source
  if (!seed.ok()) return seed.status();
  return store.PutIfAbsent(participant, *seed);
}

absl::StatusOr<std::unique_ptr<PgSeedStore>> PgSeedStore::Open(pg::Pool* pool) {
  RETURN_IF_ERROR(pg::Migrate(*pool, "nodemanager_seeds", Migrations()));
  return std::unique_ptr<PgSeedStore>(new PgSeedStore(pool));
}

absl::StatusOr<SeedInfo> PgSeedStore::PutIfAbsent(absl::string_view participant,
                                                  const SeedInfo& seed) {
  RETURN_IF_ERROR(Validate(participant, seed));
  std::string epoch = absl::StrCat(seed.epoch);
  // One statement: insert unless present, then read whichever row is there (ours or the
  // earlier one). A racing insert of the same key waits for the other transaction's row lock
  // and then sees its row, so both callers return the same seed.
  ASSIGN_OR_RETURN(pg::Result ins,
                   pool_->ExecPrepared("seed_put",
                                       "INSERT INTO nodemanager_seeds (participant, epoch, seed, "
                                       "signature) VALUES ($1, $2::bigint, $3::bigint, $4) "
                                       "ON CONFLICT (participant, epoch) DO NOTHING",
                                       {std::string(participant), epoch, absl::StrCat(seed.seed),
                                        seed.signature_hex}));
  (void)ins;
  return Get(participant, seed.epoch);
}

absl::StatusOr<SeedInfo> PgSeedStore::Get(absl::string_view participant, uint64_t epoch) {
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("seed_get",
                                       "SELECT seed, signature FROM nodemanager_seeds "
                                       "WHERE participant = $1 AND epoch = $2::bigint",
                                       {std::string(participant), absl::StrCat(epoch)}));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        absl::StrCat("no seed stored for participant ", participant, " epoch ", epoch));
  }
  return RowToSeed(r, epoch);
}

absl::StatusOr<SeedInfo> InMemorySeedStore::PutIfAbsent(absl::string_view participant,
                                                        const SeedInfo& seed) {
  RETURN_IF_ERROR(Validate(participant, seed));
  absl::MutexLock lock(&mu_);
  return seeds_.emplace(std::make_pair(std::string(participant), seed.epoch), seed).first->second;
}

absl::StatusOr<SeedInfo> InMemorySeedStore::Get(absl::string_view participant, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  auto it = seeds_.find({std::string(participant), epoch});
  if (it == seeds_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no seed stored for participant ", participant, " epoch ", epoch));
  }
  return it->second;
}

}  // namespace nodemanager
}  // namespace gonka
