#include "gonka/signer/ledger.h"

#include <algorithm>
#include <map>
#include <set>
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
      // Signed bytes once per tx (a batch tx's bytes were copied into every key's row before).
      // Rows recorded from now on keep signed_tx NULL and reference their tx by tx_hash; rows
      // written before keep their inline bytes, and reads take whichever is present. EXTERNAL:
      // the bytes are stored out of line uncompressed (signed txs barely compress).
      {4, "signed txs stored once per tx", R"sql(
CREATE TABLE signer_txs (
  tx_hash              text PRIMARY KEY,
  signed_tx            bytea NOT NULL,
  timeout_timestamp_ns bigint NOT NULL DEFAULT 0,
  batch_size           integer NOT NULL DEFAULT 1,
  created_at           timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE signer_txs ALTER COLUMN signed_tx SET STORAGE EXTERNAL;
)sql"},
      // The request as enqueued (a serialized ChainTx), kept from the first claim on, so the
      // ledger can put back into the queue a request the queue no longer holds (TakeStale).
      {5, "requests kept for re-enqueue", R"sql(
ALTER TABLE signer_ledger
  ADD COLUMN request    bytea,
  ADD COLUMN reenqueues integer NOT NULL DEFAULT 0;
CREATE INDEX signer_ledger_unsettled ON signer_ledger (updated_at)
  WHERE state IN ('queued', 'signed', 'broadcast');
)sql"},
      // Rows a producer recorded before publishing (Record) that no signer has claimed yet.
      {6, "requests recorded by producers", R"sql(
ALTER TABLE signer_ledger ADD COLUMN delivered boolean NOT NULL DEFAULT true;
)sql"},
  };
  return *m;
}

// The row's columns without its signed bytes (hot-path reads never fetch them; the table is
// aliased "l"). kSignedTxColumn appends them (needs the LEFT JOIN kFromWithTx).
constexpr char kColumns[] =
    "l.idempotency_key, l.state, l.tx_hash, l.timeout_timestamp_ns, l.height, l.attempts, "
    "l.last_error, (extract(epoch FROM l.updated_at) * 1000000)::bigint, l.batch_size, "
    "l.account, l.sequence, l.timeout_height, l.fencing_token, "
    "coalesce((extract(epoch FROM l.signed_at) * 1000000)::bigint, 0), l.reenqueues, l.delivered";
constexpr int kNumColumns = 16;
// A claim of a known key changes nothing, except that it stores the request in a row that has
// none yet (claimed before migration 5: the row can then be re-enqueued too), and that the first
// claim of a row a producer recorded (Record) marks it delivered, which is progress.
constexpr char kKeepRequest[] =
    "ON CONFLICT (idempotency_key) DO UPDATE SET "
    "request = coalesce(signer_ledger.request, EXCLUDED.request), delivered = true, "
    "updated_at = CASE WHEN signer_ledger.delivered THEN signer_ledger.updated_at ELSE now() END "
    "WHERE (signer_ledger.request IS NULL AND EXCLUDED.request IS NOT NULL) "
    "OR NOT signer_ledger.delivered";
// Rows recorded since migration 4 keep signed_tx NULL and reference signer_txs by tx_hash; older
// rows carry their bytes inline.
constexpr char kSignedTxColumn[] = ", encode(coalesce(l.signed_tx, t.signed_tx), 'hex')";
constexpr char kFromWithTx[] =
    " FROM signer_ledger l LEFT JOIN signer_txs t ON t.tx_hash = l.tx_hash ";

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

// Row `row` of a result of kColumns (and kSignedTxColumn when the result has it).
absl::StatusOr<LedgerEntry> EntryFromRow(const pg::Result& r, int row = 0) {
  LedgerEntry e;
  e.key = r.Get(row, 0).value_or("");
  ASSIGN_OR_RETURN(e.state, ParseState(r.Get(row, 1).value_or("")));
  e.tx_hash = r.Get(row, 2).value_or("");
  int64_t timeout_ns = ToInt(r.Get(row, 3));
  e.timeout = timeout_ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(timeout_ns);
  e.height = ToInt(r.Get(row, 4));
  e.attempts = static_cast<int>(ToInt(r.Get(row, 5)));
  e.last_error = r.Get(row, 6).value_or("");
  e.updated_at = absl::FromUnixMicros(ToInt(r.Get(row, 7)));
  e.batch_size = static_cast<int>(ToInt(r.Get(row, 8)));
  e.account = r.Get(row, 9).value_or("");
  e.sequence = ToInt(r.Get(row, 10));
  e.timeout_height = ToInt(r.Get(row, 11));
  e.fencing_token = ToInt(r.Get(row, 12));
  int64_t signed_at = ToInt(r.Get(row, 13));
  e.signed_at = signed_at == 0 ? absl::InfinitePast() : absl::FromUnixMicros(signed_at);
  e.reenqueues = static_cast<int>(ToInt(r.Get(row, 14)));
  e.delivered = r.Get(row, 15).value_or("t") == "t";
  if (r.columns() > kNumColumns) {
    e.signed_tx = absl::HexStringToBytes(r.Get(row, kNumColumns).value_or(""));
  }
  return e;
}

// A Postgres text[] literal of `values` (every element quoted; quotes and backslashes escaped).
std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::vector<std::string> SortedUnique(const std::vector<std::string>& keys) {
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return sorted;
}

// Reads `key` with its row locked for the rest of the transaction (without its signed bytes).
absl::StatusOr<LedgerEntry> Lock(pg::Connection& tx, const std::string& key) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      tx.ExecPrepared("ledger_lock",
                      absl::StrCat("SELECT ", kColumns,
                                   " FROM signer_ledger l WHERE l.idempotency_key = $1 FOR UPDATE"),
                      {key}));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  return EntryFromRow(r);
}

// Reads every key of `sorted` (sorted, distinct) with one statement, rows locked in key order
// (two batches sharing keys cannot deadlock). NotFound naming the first key never claimed.
absl::StatusOr<std::map<std::string, LedgerEntry>> LockAll(pg::Connection& tx,
                                                           const std::vector<std::string>& sorted) {
  ASSIGN_OR_RETURN(pg::Result r,
                   tx.ExecPrepared("ledger_lock_all",
                                   absl::StrCat("SELECT ", kColumns,
                                                " FROM signer_ledger l WHERE l.idempotency_key = "
                                                "ANY($1::text[]) ORDER BY l.idempotency_key "
                                                "FOR UPDATE"),
                                   {TextArray(sorted)}));
  std::map<std::string, LedgerEntry> out;
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(LedgerEntry e, EntryFromRow(r, i));
    std::string key = e.key;
    out.emplace(std::move(key), std::move(e));
  }
  for (const std::string& key : sorted) {
    if (out.count(key) == 0) {
      return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
    }
  }
  return out;
}

// Stores a tx's signed bytes once (a repeat of the same hash keeps the first: same hash, same
// bytes).
absl::Status StoreTx(pg::Connection& tx, const std::string& tx_hash, const std::string& signed_tx,
                     int64_t timeout_ns, size_t batch_size) {
  return tx
      .ExecPrepared("ledger_store_tx",
                    "INSERT INTO signer_txs (tx_hash, signed_tx, timeout_timestamp_ns, batch_size) "
                    "VALUES ($1, decode($2, 'hex'), $3, $4) ON CONFLICT (tx_hash) DO NOTHING",
                    {tx_hash, absl::BytesToHexString(signed_tx), absl::StrCat(timeout_ns),
                     absl::StrCat(batch_size)})
      .status();
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

absl::StatusOr<LedgerEntry> Ledger::Record(const std::string& key, const std::string& request) {
  if (key.empty()) return absl::InvalidArgumentError("signer ledger: empty idempotency_key");
  if (request.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("signer ledger: key ", key, ": empty request"));
  }
  LedgerEntry out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.ExecPrepared("ledger_record",
                                    "INSERT INTO signer_ledger (idempotency_key, state, request, "
                                    "delivered) VALUES ($1, 'queued', decode($2, 'hex'), false) "
                                    "ON CONFLICT (idempotency_key) DO NOTHING",
                                    {key, absl::BytesToHexString(request)})
                        .status());
    ASSIGN_OR_RETURN(out, Lock(tx, key));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<LedgerEntry> Ledger::Claim(const std::string& key, const std::string& request) {
  if (key.empty()) return absl::InvalidArgumentError("signer ledger: empty idempotency_key");
  LedgerEntry out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    RETURN_IF_ERROR(
        tx.ExecPrepared("ledger_claim",
                        absl::StrCat("INSERT INTO signer_ledger (idempotency_key, state, request) "
                                     "VALUES ($1, 'queued', decode(nullif($2, ''), 'hex')) ",
                                     kKeepRequest),
                        {key, absl::BytesToHexString(request)})
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

absl::StatusOr<std::vector<LedgerEntry>> Ledger::ClaimBatch(
    const std::vector<std::string>& keys, const std::vector<std::string>& requests) {
  for (const std::string& key : keys) {
    if (key.empty()) return absl::InvalidArgumentError("signer ledger: empty idempotency_key");
  }
  if (!requests.empty() && requests.size() != keys.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer ledger: ", keys.size(), " keys but ", requests.size(), " requests"));
  }
  if (keys.empty()) return std::vector<LedgerEntry>{};
  // Inserted in key order (concurrent claims of overlapping keys wait on each other in the same
  // order), then read with the rows locked in key order.
  const std::vector<std::string> sorted = SortedUnique(keys);
  std::map<std::string, std::string> request_of;
  for (size_t i = 0; i < requests.size(); ++i) request_of.emplace(keys[i], requests[i]);
  std::vector<std::string> hex_requests;
  hex_requests.reserve(sorted.size());
  for (const std::string& key : sorted) {
    auto it = request_of.find(key);
    hex_requests.push_back(it == request_of.end() ? "" : absl::BytesToHexString(it->second));
  }
  std::map<std::string, LedgerEntry> entries;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    RETURN_IF_ERROR(
        tx.ExecPrepared("ledger_claim_all",
                        absl::StrCat("INSERT INTO signer_ledger (idempotency_key, state, request) "
                                     "SELECT k, 'queued', decode(nullif(r, ''), 'hex') "
                                     "FROM unnest($1::text[], $2::text[]) AS u(k, r) ",
                                     kKeepRequest),
                        {TextArray(sorted), TextArray(hex_requests)})
            .status());
    ASSIGN_OR_RETURN(entries, LockAll(tx, sorted));
    return absl::OkStatus();
  }));
  std::vector<LedgerEntry> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) out.push_back(entries.at(key));
  return out;
}

absl::Status Ledger::RecordSignedBatch(const std::vector<std::string>& keys,
                                       const std::string& signed_tx, const std::string& tx_hash,
                                       absl::Time timeout, absl::Time now) {
  if (keys.empty() || signed_tx.empty() || tx_hash.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("signer ledger: keys ", absl::StrJoin(keys, ","),
                                                   ": keys, signed_tx and tx_hash must be set"));
  }
  const std::vector<std::string> sorted = SortedUnique(keys);
  const int64_t timeout_ns = absl::ToUnixNanos(timeout);
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto locked, LockAll(tx, sorted));
    std::vector<std::string> update;
    for (const std::string& key : sorted) {
      const LedgerEntry& e = locked.at(key);
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
      update.push_back(key);
    }
    if (update.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(StoreTx(tx, tx_hash, signed_tx, timeout_ns, keys.size()));
    ASSIGN_OR_RETURN(
        pg::Result r,
        tx.ExecPrepared(
            "ledger_signed_all",
            "UPDATE signer_ledger SET state = 'signed', signed_tx = NULL, tx_hash = $2, "
            "timeout_timestamp_ns = $3, batch_size = $4, attempts = attempts + 1, "
            "updated_at = now(), signed_at = clock_timestamp(), account = '', sequence = -1, "
            "timeout_height = 0, fencing_token = 0 WHERE idempotency_key = ANY($1::text[])",
            {TextArray(update), tx_hash, absl::StrCat(timeout_ns), absl::StrCat(keys.size())}));
    if (r.affected() != static_cast<int64_t>(update.size())) {
      return absl::InternalError(absl::StrCat("signer ledger: recording tx ", tx_hash, " updated ",
                                              r.affected(), " rows of ", update.size()));
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
  const std::vector<std::string> sorted = SortedUnique(keys);
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    // The fence row first: every sequenced record of the account is serialized behind it.
    RETURN_IF_ERROR(CheckAndRaiseFence(tx, stx.account, stx.fencing_token));
    ASSIGN_OR_RETURN(auto locked, LockAll(tx, sorted));
    std::vector<std::string> update;
    for (const std::string& key : sorted) {
      const LedgerEntry& e = locked.at(key);
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
      update.push_back(key);
    }
    if (update.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(StoreTx(tx, stx.tx_hash, stx.signed_tx, 0, keys.size()));
    ASSIGN_OR_RETURN(
        pg::Result r,
        tx.ExecPrepared(
            "ledger_signed_seq_all",
            "UPDATE signer_ledger SET state = 'signed', signed_tx = NULL, tx_hash = $2, "
            "timeout_timestamp_ns = 0, batch_size = $3, attempts = attempts + 1, "
            "updated_at = now(), signed_at = clock_timestamp(), account = $4, "
            "sequence = $5, timeout_height = $6, fencing_token = $7 "
            "WHERE idempotency_key = ANY($1::text[])",
            {TextArray(update), stx.tx_hash, absl::StrCat(keys.size()), stx.account,
             absl::StrCat(stx.sequence), absl::StrCat(stx.timeout_height),
             absl::StrCat(stx.fencing_token)}));
    if (r.affected() != static_cast<int64_t>(update.size())) {
      return absl::InternalError(absl::StrCat("signer ledger: recording tx ", stx.tx_hash,
                                              " updated ", r.affected(), " rows of ",
                                              update.size()));
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

namespace {

// The keys of `keys` (in order, each once) that `done` (RETURNING idempotency_key rows) lacks.
std::vector<std::string> Missing(const std::vector<std::string>& keys, const pg::Result& done) {
  std::set<std::string> have;
  for (int i = 0; i < done.rows(); ++i) have.insert(done.Get(i, 0).value_or(""));
  std::vector<std::string> out;
  for (const std::string& key : keys) {
    if (have.insert(key).second) out.push_back(key);
  }
  return out;
}

}  // namespace

absl::Status Ledger::MarkBroadcastBatch(const std::vector<std::string>& keys,
                                        const std::string& tx_hash) {
  if (keys.empty()) return absl::OkStatus();
  pg::Result done;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(done, tx.ExecPrepared("ledger_broadcast_all",
                                           "UPDATE signer_ledger SET state = 'broadcast', "
                                           "updated_at = now() WHERE idempotency_key = "
                                           "ANY($1::text[]) AND tx_hash = $2 AND state = 'signed' "
                                           "RETURNING idempotency_key",
                                           {TextArray(SortedUnique(keys)), tx_hash}));
    return absl::OkStatus();
  }));
  // Keys the statement did not move (already broadcast or included, changed by another signer,
  // never claimed): the per-key transition decides (a no-op or the precise error).
  for (const std::string& key : Missing(keys, done)) RETURN_IF_ERROR(MarkBroadcast(key, tx_hash));
  return absl::OkStatus();
}

absl::Status Ledger::MarkIncludedBatch(const std::vector<std::string>& keys,
                                       const std::string& tx_hash, int64_t height) {
  if (keys.empty()) return absl::OkStatus();
  pg::Result done;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(
        done, tx.ExecPrepared("ledger_included_all",
                              "UPDATE signer_ledger SET state = 'included', height = $3, "
                              "last_error = '', updated_at = now() WHERE idempotency_key = "
                              "ANY($1::text[]) AND tx_hash = $2 AND state IN ('signed', "
                              "'broadcast') RETURNING idempotency_key",
                              {TextArray(SortedUnique(keys)), tx_hash, absl::StrCat(height)}));
    return absl::OkStatus();
  }));
  for (const std::string& key : Missing(keys, done)) {
    RETURN_IF_ERROR(MarkIncluded(key, tx_hash, height));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ledger::SignedTx(const std::string& key, const std::string& tx_hash) {
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("ledger_signed_tx",
                                       absl::StrCat("SELECT l.tx_hash", kSignedTxColumn,
                                                    kFromWithTx, "WHERE l.idempotency_key = $1"),
                                       {key}));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  const std::string recorded = r.Get(0, 0).value_or("");
  if (recorded != tx_hash) {
    return absl::FailedPreconditionError(
        absl::StrCat("signer ledger: key ", key, " records tx \"", recorded, "\", not ", tx_hash));
  }
  std::string bytes = absl::HexStringToBytes(r.Get(0, 1).value_or(""));
  if (bytes.empty()) {
    return absl::NotFoundError(
        absl::StrCat("signer ledger: key ", key, ": no signed bytes stored for tx ", tx_hash));
  }
  return bytes;
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

absl::StatusOr<std::vector<StaleRequest>> Ledger::TakeStale(absl::Duration older_than, int limit,
                                                            bool include_undelivered,
                                                            absl::Time now) {
  if (limit <= 0) return std::vector<StaleRequest>{};
  // $4: the caller's time as an exact timestamptz (microseconds, UTC), or NULL = now().
  pg::Param at;
  if (now != absl::InfinitePast()) {
    at = absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", now, absl::UTCTimeZone());
  }
  // One statement: the rows are chosen, locked (SKIP LOCKED: a row a signer is working on right
  // now, or another caller is taking, is left alone) and stamped together, so two callers never
  // take the same row, and a taken row is not stale again before another `older_than`.
  ASSIGN_OR_RETURN(
      pg::Result r,
      pool_->ExecPrepared(
          "ledger_take_stale",
          "UPDATE signer_ledger l SET updated_at = coalesce($4::timestamptz, now()), "
          "reenqueues = l.reenqueues + 1 "
          "FROM (SELECT idempotency_key, updated_at FROM signer_ledger "
          "      WHERE state IN ('queued', 'signed', 'broadcast') AND request IS NOT NULL "
          "        AND updated_at < coalesce($4::timestamptz, now()) "
          "                         - make_interval(secs => $1::double precision) "
          "        AND (delivered OR $3::boolean) "
          "      ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) s "
          "WHERE l.idempotency_key = s.idempotency_key "
          "RETURNING l.idempotency_key, l.state, encode(l.request, 'hex'), l.reenqueues, "
          "(extract(epoch FROM s.updated_at) * 1000000)::bigint, l.delivered",
          {absl::StrCat(absl::ToDoubleSeconds(older_than)), absl::StrCat(limit),
           include_undelivered ? "true" : "false", at}));
  std::vector<StaleRequest> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    StaleRequest s;
    s.key = r.Get(i, 0).value_or("");
    ASSIGN_OR_RETURN(s.state, ParseState(r.Get(i, 1).value_or("")));
    s.request = absl::HexStringToBytes(r.Get(i, 2).value_or(""));
    s.reenqueues = static_cast<int>(ToInt(r.Get(i, 3)));
    s.last_change = absl::FromUnixMicros(ToInt(r.Get(i, 4)));
    s.delivered = r.Get(i, 5).value_or("t") == "t";
    out.push_back(std::move(s));
  }
  // Oldest first, as chosen (RETURNING does not keep the subquery's order).
  std::sort(out.begin(), out.end(), [](const StaleRequest& a, const StaleRequest& b) {
    return a.last_change < b.last_change;
  });
  return out;
}

absl::StatusOr<LedgerEntry> Ledger::Get(const std::string& key) {
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("ledger_get",
                                       absl::StrCat("SELECT ", kColumns, kSignedTxColumn,
                                                    kFromWithTx, "WHERE l.idempotency_key = $1"),
                                       {key}));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("signer ledger: key ", key, " was never claimed"));
  }
  return EntryFromRow(r);
}

}  // namespace signer
}  // namespace gonka
