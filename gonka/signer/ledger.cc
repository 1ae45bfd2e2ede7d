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
  };
  return *m;
}

constexpr char kColumns[] =
    "idempotency_key, state, tx_hash, encode(signed_tx, 'hex'), timeout_timestamp_ns, height, "
    "attempts, last_error, (extract(epoch FROM updated_at) * 1000000)::bigint, batch_size";

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
                "attempts = attempts + 1, updated_at = now() WHERE idempotency_key = $1",
                {key, absl::BytesToHexString(signed_tx), tx_hash,
                 absl::StrCat(absl::ToUnixNanos(timeout)), absl::StrCat(keys.size())})
              .status());
    }
    return absl::OkStatus();
  });
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
