#include "gonka/signer/ledger.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace signer {
namespace {

const std::vector<pg::Migration>& Migrations() {
  static const auto* m = new std::vector<pg::Migration>{
      {1, "create signer_ledger", R"sql(
CREATE TABLE signer_ledger (
  idempotency_key      text PRIMARY KEY,
  state                text NOT NULL
                       CHECK (state IN ('queued', 'signed', 'broadcast', 'included', 'failed')),
  tx_hash              text NOT NULL DEFAULT '',
  signed_tx            bytea,
  timeout_timestamp_ns bigint NOT NULL DEFAULT 0,
  height               bigint NOT NULL DEFAULT 0,
  attempts             integer NOT NULL DEFAULT 0,
  last_error           text NOT NULL DEFAULT '',
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signer_ledger_in_flight ON signer_ledger (state)
  WHERE state IN ('signed', 'broadcast');
)sql"},
      {2, "batch size", R"sql(
ALTER TABLE signer_ledger ADD COLUMN batch_size integer NOT NULL DEFAULT 1;
)sql"},
      {3, "sequenced mode and fencing", R"sql(
ALTER TABLE signer_ledger
  ADD COLUMN account        text NOT NULL DEFAULT '',
  ADD COLUMN sequence       bigint NOT NULL DEFAULT -1,
  ADD COLUMN timeout_height bigint NOT NULL DEFAULT 0,
  ADD COLUMN fencing_token  bigint NOT NULL DEFAULT 0,
  ADD COLUMN signed_at      timestamptz;
CREATE TABLE signer_fence (
  account   text PRIMARY KEY,
  token     bigint NOT NULL,
  raised_at timestamptz NOT NULL DEFAULT now()
);
)sql"},
  };
  return *m;
}

constexpr char kColumns[] =
    "idempotency_key, state, tx_hash, encode(signed_tx, 'hex'), timeout_timestamp_ns, height, "
    "attempts, last_error, (extract(epoch FROM updated_at) * 1000000)::bigint, batch_size, "
    "account, sequence, "
    "timeout_height, fencing_token, coalesce((extract(epoch FROM signed_at) * 1000000)::bigint, 0)";

absl::StatusOr<TxState> ParseState(const std::string& s) {
  if (s == "queued") return TxState::kQueued;
  if (s == "signed") return TxState::kSigned;
  if (s == "broadcast") return TxState::kBroadcast;
  if (s == "included") return TxState::kIncluded;
  if (s == "failed") return TxState::kFailed;
  return absl::InternalError(absl::StrCat("signer ledger: unknown state \"", s, "\""));
}

int64_t ToInt(const std::optional<std::string>& v) {
  int64_t n = 0;
  if (v.has_value()) (void)absl::SimpleAtoi(*v, &n);
  return n;
}

absl::StatusOr<LedgerEntry> EntryFromRow(const pg::Result& r) {
  LedgerEntry e;
  e.key = r.Get(0, 0).value_or("");
  ASSIGN_OR_RETURN(e.state, ParseState(r.Get(0, 1).value_or("")));
  e.tx_hash = r.Get(0, 2).value_or("");
  e.signed_tx = absl::HexStringToBytes(r.Get(0, 3).value_or(""));
  int64_t timeout_ns = ToInt(r.Get(0, 4));
  e.timeout = timeout_ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(timeout_ns);
  e.height = ToInt(r.Get(0, 5));
  e.attempts = static_cast<int>(ToInt(r.Get(0, 6)));
  e.last_error = r.Get(0, 7).value_or("");
  e.updated_at = absl::FromUnixMicros(ToInt(r.Get(0, 8)));
  e.batch_size = static_cast<int>(ToInt(r.Get(0, 9)));
  e.account = r.Get(0, 10).value_or("");
  e.sequence = ToInt(r.Get(0, 11));
  e.timeout_height = ToInt(r.Get(0, 12));
  e.fencing_token = ToInt(r.Get(0, 13));
  int64_t signed_at = ToInt(r.Get(0, 14));
  e.signed_at = signed_at == 0 ? absl::InfinitePast() : absl::FromUnixMicros(signed_at);
  return e;
}

// Reads `key` with its row locked for the rest of the transaction.
absl::StatusOr<LedgerEntry> Lock(pg::Connection& tx, const std::string& key) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      tx.ExecPrepared("ledger_lock",
                      absl::StrCat("SELECT ", kColumns,
                                   " FROM signer_ledger WHERE idempotency_key = $1 FOR UPDATE"),
                      {key}));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  return EntryFromRow(r);
}

absl::Status Illegal(const LedgerEntry& e, absl::string_view wanted, absl::string_view why = "") {
  return absl::FailedPreconditionError(absl::StrCat("signer ledger: key ", e.key, " is ",
                                                    TxStateName(e.state), ", cannot become ",
                                                    wanted, why.empty() ? "" : ": ", why));
}

absl::Status HashMismatch(const LedgerEntry& e, absl::string_view wanted,
                          const std::string& tx_hash) {
  return Illegal(e, wanted, absl::StrCat("tx ", tx_hash, " is not the recorded tx ", e.tx_hash));
}

}  // namespace

absl::string_view TxStateName(TxState state) {
  switch (state) {
    case TxState::kQueued:
      return "queued";
    case TxState::kSigned:
      return "signed";
    case TxState::kBroadcast:
      return "broadcast";
    case TxState::kIncluded:
      return "included";
    case TxState::kFailed:
      return "failed";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(pg::Pool* pool) {
  RETURN_IF_ERROR(pg::Migrate(*pool, "signer_ledger", Migrations()));
  return std::unique_ptr<Ledger>(new Ledger(pool));
}

absl::StatusOr<LedgerEntry> Ledger::Claim(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("signer ledger: empty idempotency_key");
  LedgerEntry out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.ExecPrepared("ledger_claim",
                                    "INSERT INTO signer_ledger (idempotency_key, state) VALUES "
                                    "($1, 'queued') ON CONFLICT (idempotency_key) DO NOTHING",
                                    {key})
                        .status());
    ASSIGN_OR_RETURN(out, Lock(tx, key));
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Ledger::RecordSigned(const std::string& key, const std::string& signed_tx,
                                  const std::string& tx_hash, absl::Time timeout, absl::Time now) {
  return RecordSignedBatch({key}, signed_tx, tx_hash, timeout, now);
}

absl::Status Ledger::RecordSignedBatch(const std::vector<std::string>& keys,
                                       const std::string& signed_tx, const std::string& tx_hash,
                                       absl::Time timeout, absl::Time now) {
  if (keys.empty() || signed_tx.empty() || tx_hash.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("signer ledger: keys ", absl::StrJoin(keys, ","),
                                                   ": keys, signed_tx and tx_hash must be set"));
  }
  // Rows are locked in key order so two batches sharing keys cannot deadlock.
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    for (const std::string& key : sorted) {
      ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
      switch (e.state) {
        case TxState::kQueued:
          break;
        case TxState::kSigned:
        case TxState::kBroadcast:
          if (e.tx_hash == tx_hash) continue;  // repeat
          if (e.sequenced()) {
            return Illegal(e, "signed",
                           absl::StrCat("tx ", e.tx_hash, " is sequenced (sequence ", e.sequence,
                                        "): only a sequenced signer may replace it"));
          }
          if (!(e.timeout < now)) {
            return Illegal(e, "signed",
                           absl::StrCat("tx ", e.tx_hash, " may still land until its timeout ",
                                        absl::FormatTime(e.timeout)));
          }
          break;
        case TxState::kIncluded:
        case TxState::kFailed:
          if (e.tx_hash == tx_hash && e.state == TxState::kIncluded) continue;
          return Illegal(e, "signed");
      }
      RETURN_IF_ERROR(
          tx.ExecPrepared(
                "ledger_signed",
                "UPDATE signer_ledger SET state = 'signed', signed_tx = decode($2, 'hex'), "
                "tx_hash = $3, timeout_timestamp_ns = $4, batch_size = $5, "
                "attempts = attempts + 1, updated_at = now(), signed_at = clock_timestamp(), "
                "account = '', "
                "sequence = -1, timeout_height = 0, fencing_token = 0 WHERE idempotency_key = $1",
                {key, absl::BytesToHexString(signed_tx), tx_hash,
                 absl::StrCat(absl::ToUnixNanos(timeout)), absl::StrCat(keys.size())})
              .status());
    }
    return absl::OkStatus();
  });
}

namespace {

// Locks `account`'s fence row (created at 0) and checks `token` against it: Aborted when a newer
// token holds it. Raises it to `token` otherwise.
absl::Status CheckAndRaiseFence(pg::Connection& tx, const std::string& account, int64_t token) {
  RETURN_IF_ERROR(tx.ExecPrepared("fence_init",
                                  "INSERT INTO signer_fence (account, token) VALUES ($1, 0) "
                                  "ON CONFLICT (account) DO NOTHING",
                                  {account})
                      .status());
  ASSIGN_OR_RETURN(
      pg::Result r,
      tx.ExecPrepared("fence_lock", "SELECT token FROM signer_fence WHERE account = $1 FOR UPDATE",
                      {account}));
  const int64_t fence = r.rows() == 0 ? 0 : ToInt(r.Get(0, 0));
  if (token < fence) {
    return absl::AbortedError(absl::StrCat("signer ledger: account ", account, ": fencing token ",
                                           token, " is fenced out by newer token ", fence,
                                           " (another signer holds the lease)"));
  }
  if (token == fence) return absl::OkStatus();
  return tx
      .ExecPrepared(
          "fence_raise",
          "UPDATE signer_fence SET token = $2, raised_at = clock_timestamp() WHERE account = $1",
          {account, absl::StrCat(token)})
      .status();
}

// Whether the recorded tx of `e` provably can never land, given what the caller saw on chain
// before looking its hash up (and not finding it). "" if it can never land, else why it may.
std::string MayStillLand(const LedgerEntry& e, const std::string& account,
                         const ChainObservation& seen) {
  if (e.sequenced()) {
    if (e.timeout_height > 0 && seen.height >= e.timeout_height) return "";
    if (e.account == account && seen.account_sequence > static_cast<uint64_t>(e.sequence)) {
      return "";
    }
    return absl::StrCat("tx ", e.tx_hash, " (sequence ", e.sequence, ", timeout height ",
                        e.timeout_height, ") may still land: chain height ", seen.height,
                        ", account sequence ", seen.account_sequence);
  }
  if (e.timeout < seen.time) return "";
  return absl::StrCat("tx ", e.tx_hash, " may still land until its timeout ",
                      absl::FormatTime(e.timeout));
}

}  // namespace

absl::Status Ledger::RecordSignedSequenced(const std::vector<std::string>& keys,
                                           const SequencedTx& stx, const ChainObservation& seen) {
  if (keys.empty() || stx.signed_tx.empty() || stx.tx_hash.empty() || stx.account.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer ledger: keys ", absl::StrJoin(keys, ","),
                     ": keys, signed_tx, tx_hash and account must be set"));
  }
  if (stx.fencing_token <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("signer ledger: keys ", absl::StrJoin(keys, ","),
                                                   ": fencing_token must be > 0, got ",
                                                   stx.fencing_token));
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    // The fence row first: every sequenced record of the account is serialized behind it.
    RETURN_IF_ERROR(CheckAndRaiseFence(tx, stx.account, stx.fencing_token));
    for (const std::string& key : sorted) {
      ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
      switch (e.state) {
        case TxState::kQueued:
          break;
        case TxState::kSigned:
        case TxState::kBroadcast:
          if (e.tx_hash == stx.tx_hash) continue;  // repeat
          if (std::string why = MayStillLand(e, stx.account, seen); !why.empty()) {
            return Illegal(e, "signed", why);
          }
          break;
        case TxState::kIncluded:
        case TxState::kFailed:
          if (e.tx_hash == stx.tx_hash && e.state == TxState::kIncluded) continue;
          return Illegal(e, "signed");
      }
      RETURN_IF_ERROR(
          tx.ExecPrepared(
                "ledger_signed_seq",
                "UPDATE signer_ledger SET state = 'signed', signed_tx = decode($2, 'hex'), "
                "tx_hash = $3, timeout_timestamp_ns = 0, batch_size = $4, "
                "attempts = attempts + 1, updated_at = now(), signed_at = clock_timestamp(), "
                "account = $5, "
                "sequence = $6, timeout_height = $7, fencing_token = $8 "
                "WHERE idempotency_key = $1",
                {key, absl::BytesToHexString(stx.signed_tx), stx.tx_hash, absl::StrCat(keys.size()),
                 stx.account, absl::StrCat(stx.sequence), absl::StrCat(stx.timeout_height),
                 absl::StrCat(stx.fencing_token)})
              .status());
    }
    return absl::OkStatus();
  });
}

absl::Status Ledger::RaiseFence(const std::string& account, int64_t token) {
  if (account.empty() || token <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer ledger: RaiseFence needs an account and a token > 0, got \"", account,
                     "\", ", token));
  }
  return pool_->Transaction(
      [&](pg::Connection& tx) { return CheckAndRaiseFence(tx, account, token); });
}

absl::StatusOr<int64_t> Ledger::Fence(const std::string& account) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      pool_->ExecPrepared("fence_get", "SELECT token FROM signer_fence WHERE account = $1",
                          {account}));
  return r.rows() == 0 ? 0 : ToInt(r.Get(0, 0));
}

absl::Status Ledger::Requeue(const std::string& key, const std::string& tx_hash,
                             const std::string& reason) {
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
    if (e.state == TxState::kQueued) return absl::OkStatus();  // repeat
    if (e.state != TxState::kSigned && e.state != TxState::kBroadcast) {
      return Illegal(e, "queued");
    }
    if (e.tx_hash != tx_hash) return HashMismatch(e, "queued", tx_hash);
    return tx
        .ExecPrepared("ledger_requeue",
                      "UPDATE signer_ledger SET state = 'queued', last_error = $2, "
                      "updated_at = now() WHERE idempotency_key = $1",
                      {key, reason})
        .status();
  });
}

absl::Status Ledger::MarkBroadcast(const std::string& key, const std::string& tx_hash) {
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
    if (e.state == TxState::kBroadcast && e.tx_hash == tx_hash) return absl::OkStatus();
    // Observed included before the broadcast was recorded (a re-broadcast after a crash).
    if (e.state == TxState::kIncluded && e.tx_hash == tx_hash) return absl::OkStatus();
    if (e.state != TxState::kSigned && e.state != TxState::kBroadcast) {
      return Illegal(e, "broadcast");
    }
    if (e.tx_hash != tx_hash) return HashMismatch(e, "broadcast", tx_hash);
    return tx
        .ExecPrepared("ledger_broadcast",
                      "UPDATE signer_ledger SET state = 'broadcast', updated_at = now() "
                      "WHERE idempotency_key = $1",
                      {key})
        .status();
  });
}

absl::Status Ledger::MarkIncluded(const std::string& key, const std::string& tx_hash,
                                  int64_t height) {
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
    if (e.state == TxState::kIncluded) {
      if (e.tx_hash == tx_hash) return absl::OkStatus();
      return HashMismatch(e, "included", tx_hash);
    }
    if (e.state != TxState::kSigned && e.state != TxState::kBroadcast) {
      return Illegal(e, "included");
    }
    if (e.tx_hash != tx_hash) return HashMismatch(e, "included", tx_hash);
    return tx
        .ExecPrepared("ledger_included",
                      "UPDATE signer_ledger SET state = 'included', height = $2, last_error = '', "
                      "updated_at = now() WHERE idempotency_key = $1",
                      {key, absl::StrCat(height)})
        .status();
  });
}

absl::Status Ledger::MarkFailed(const std::string& key, const std::string& reason) {
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LedgerEntry e, Lock(tx, key));
    if (e.state == TxState::kFailed) return absl::OkStatus();
    if (e.state == TxState::kIncluded) return Illegal(e, "failed");
    return tx
        .ExecPrepared("ledger_failed",
                      "UPDATE signer_ledger SET state = 'failed', last_error = $2, "
                      "updated_at = now() WHERE idempotency_key = $1",
                      {key, reason})
        .status();
  });
}

absl::Status Ledger::RecordError(const std::string& key, const std::string& error) {
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("ledger_error",
                                       "UPDATE signer_ledger SET last_error = $2, updated_at = "
                                       "now() WHERE idempotency_key = $1",
                                       {key, error}));
  if (r.affected() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LedgerEntry> Ledger::Get(const std::string& key) {
  ASSIGN_OR_RETURN(pg::Result r, pool_->ExecPrepared(
                                     "ledger_get",
                                     absl::StrCat("SELECT ", kColumns,
                                                  " FROM signer_ledger WHERE idempotency_key = $1"),
                                     {key}));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  return EntryFromRow(r);
}

}  // namespace signer
}  // namespace gonka
