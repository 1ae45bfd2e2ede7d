// bench/signer: the Postgres cost of the signer ledger's statement pattern per message, today's
// against a batched one, on a throwaway PostgreSQL with a table shaped like signer_ledger. P5
// (p5_bench) found Postgres to be the busiest process; this isolates how much of it a change of
// pattern would save. It models the statements (taken from gonka/signer/ledger.cc as of this
// bench), it does not run the Ledger class.
//
//   current  per request: Claim = tx{INSERT .. ON CONFLICT DO NOTHING; SELECT <all columns incl.
//            encode(signed_tx, 'hex')> FOR UPDATE}; per batch: RecordSignedBatch = tx{per key:
//            SELECT .. FOR UPDATE; UPDATE .. signed_tx = decode(<whole batch tx>)} and one Get;
//            per request again: MarkBroadcast and MarkIncluded = tx{SELECT .. FOR UPDATE; UPDATE}.
//   batched  per batch: tx{INSERT .. SELECT unnest($1::text[]) ON CONFLICT DO NOTHING; SELECT
//            <columns without signed_tx> WHERE key = ANY($1) ORDER BY key FOR UPDATE};
//            tx{INSERT the signed tx once into a txs table; SELECT .. FOR UPDATE; UPDATE .. WHERE
//            key = ANY($1)}; one UPDATE .. 'broadcast' WHERE key = ANY($1) AND tx_hash = $2; one
//            UPDATE .. 'included' WHERE key = ANY($1) AND tx_hash = $2.
//
//   bazel build -c opt //bench/signer:ledger_pattern_bench &&
//     bazel-out/k8-opt/bin/bench/signer/ledger_pattern_bench --requests=20000 --batch=60
//     --threads=16
#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <dirent.h>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/testing/servers.h"

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ledger_pattern_bench: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// user+system CPU seconds of the processes whose parent or process group is `pid`, and `pid`.
double TreeCpuSeconds(pid_t pid) {
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (dirent* e = readdir(proc)) {
    int p = 0;
    if (!absl::SimpleAtoi(e->d_name, &p)) continue;
    std::ifstream in(absl::StrCat("/proc/", p, "/stat"));
    std::string stat;
    std::getline(in, stat);
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    int64_t ppid = 0, pgrp = 0, utime = 0, stime = 0;
    if (f.size() < 13 || !absl::SimpleAtoi(f[1], &ppid) || !absl::SimpleAtoi(f[2], &pgrp) ||
        (p != pid && ppid != pid && pgrp != pid) || !absl::SimpleAtoi(f[11], &utime) ||
        !absl::SimpleAtoi(f[12], &stime)) {
      continue;
    }
    total += (utime + stime) / kTicks;
  }
  closedir(proc);
  return total;
}

class Conn {
 public:
  explicit Conn(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) Die(PQerrorMessage(c_));
  }
  ~Conn() { PQfinish(c_); }
  void Exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    ExpectOk(r, sql);
  }
  void Prepare(const std::string& name, const std::string& sql) {
    PGresult* r = PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr);
    ExpectOk(r, sql);
  }
  // Runs a prepared statement; returns the number of rows (or rows affected).
  int Run(const std::string& name, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecPrepared(c_, name.c_str(), static_cast<int>(values.size()), values.data(),
                                 nullptr, nullptr, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      Die(absl::StrCat(name, ": ", PQresultErrorMessage(r)));
    }
    int n = st == PGRES_TUPLES_OK ? PQntuples(r) : std::atoi(PQcmdTuples(r));
    PQclear(r);
    return n;
  }

 private:
  void ExpectOk(PGresult* r, const std::string& sql) {
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      Die(absl::StrCat(sql, ": ", PQresultErrorMessage(r)));
    }
    PQclear(r);
  }
  PGconn* c_;
};

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS ledger (
  idempotency_key text PRIMARY KEY,
  state text NOT NULL,
  tx_hash text NOT NULL DEFAULT '',
  signed_tx bytea,
  timeout_timestamp_ns bigint NOT NULL DEFAULT 0,
  height bigint NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  batch_size integer NOT NULL DEFAULT 1,
  account text NOT NULL DEFAULT '',
  sequence bigint NOT NULL DEFAULT -1,
  timeout_height bigint NOT NULL DEFAULT 0,
  fencing_token bigint NOT NULL DEFAULT 0,
  signed_at timestamptz);
CREATE INDEX IF NOT EXISTS ledger_in_flight ON ledger (state)
  WHERE state IN ('signed', 'broadcast');
CREATE TABLE IF NOT EXISTS ledger_txs (tx_hash text PRIMARY KEY, signed_tx bytea NOT NULL);
)sql";

constexpr char kColumns[] =
    "idempotency_key, state, tx_hash, encode(signed_tx, 'hex'), timeout_timestamp_ns, height, "
    "attempts, last_error, (extract(epoch FROM updated_at) * 1000000)::bigint, batch_size, "
    "account, sequence, timeout_height, fencing_token, "
    "coalesce((extract(epoch FROM signed_at) * 1000000)::bigint, 0)";
constexpr char kColumnsNoTx[] =
    "idempotency_key, state, tx_hash, timeout_timestamp_ns, height, attempts, last_error, "
    "(extract(epoch FROM updated_at) * 1000000)::bigint, batch_size, account, sequence, "
    "timeout_height, fencing_token, coalesce((extract(epoch FROM signed_at) * 1000000)::bigint, 0)";

void PrepareCurrent(Conn& c) {
  c.Prepare("claim",
            "INSERT INTO ledger (idempotency_key, state) VALUES ($1, 'queued') ON CONFLICT "
            "(idempotency_key) DO NOTHING");
  c.Prepare("lock", absl::StrCat("SELECT ", kColumns,
                                 " FROM ledger WHERE idempotency_key = $1 FOR UPDATE"));
  c.Prepare("get", absl::StrCat("SELECT ", kColumns, " FROM ledger WHERE idempotency_key = $1"));
  c.Prepare("signed",
            "UPDATE ledger SET state = 'signed', signed_tx = decode($2, 'hex'), tx_hash = $3, "
            "timeout_timestamp_ns = $4, batch_size = $5, attempts = attempts + 1, updated_at = "
            "now(), signed_at = clock_timestamp(), account = '', sequence = -1, timeout_height = "
            "0, fencing_token = 0 WHERE idempotency_key = $1");
  c.Prepare("broadcast",
            "UPDATE ledger SET state = 'broadcast', updated_at = now() WHERE idempotency_key = $1");
  c.Prepare("included",
            "UPDATE ledger SET state = 'included', height = $2, last_error = '', updated_at = "
            "now() WHERE idempotency_key = $1");
}

void PrepareBatched(Conn& c) {
  c.Prepare("bclaim",
            "INSERT INTO ledger (idempotency_key, state) SELECT unnest($1::text[]), 'queued' "
            "ON CONFLICT (idempotency_key) DO NOTHING");
  c.Prepare("block", absl::StrCat("SELECT ", kColumnsNoTx,
                                  " FROM ledger WHERE idempotency_key = ANY($1::text[]) ORDER BY "
                                  "idempotency_key FOR UPDATE"));
  c.Prepare("btx",
            "INSERT INTO ledger_txs (tx_hash, signed_tx) VALUES ($1, decode($2, 'hex')) ON "
            "CONFLICT (tx_hash) DO NOTHING");
  c.Prepare("bsigned",
            "UPDATE ledger SET state = 'signed', tx_hash = $2, timeout_timestamp_ns = $3, "
            "batch_size = $4, attempts = attempts + 1, updated_at = now(), signed_at = "
            "clock_timestamp(), account = '', sequence = -1, timeout_height = 0, fencing_token = "
            "0 WHERE idempotency_key = ANY($1::text[])");
  c.Prepare("bbroadcast",
            "UPDATE ledger SET state = 'broadcast', updated_at = now() WHERE idempotency_key = "
            "ANY($1::text[]) AND tx_hash = $2 AND state = 'signed'");
  c.Prepare("bincluded",
            "UPDATE ledger SET state = 'included', height = $3, last_error = '', updated_at = "
            "now() WHERE idempotency_key = ANY($1::text[]) AND tx_hash = $2 AND state IN "
            "('signed', 'broadcast')");
}

// A signed-tx-like blob for `keys`: what the real batch tx repeats per message (type URL,
// creator, key), as hex.
std::string FakeTxHex(const std::vector<std::string>& keys) {
  std::string tx;
  for (const auto& k : keys) {
    absl::StrAppend(&tx, "\n/gonka.devchain.v1.MsgRecord\x12\x42\n,",
                    "gonka1rfdsrtgx38ka7za6mlnrffm23mfad2t3y76jlu", "\x12\x12", k);
  }
  tx.append(200, '\x5a');
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char ch : tx) {
    hex.push_back(kHex[ch >> 4]);
    hex.push_back(kHex[ch & 15]);
  }
  return hex;
}

std::string PgArray(const std::vector<std::string>& keys) {
  return absl::StrCat("{", absl::StrJoin(keys, ","), "}");
}

void RunCurrent(Conn& c, const std::vector<std::string>& keys, const std::string& hash) {
  for (const auto& k : keys) {
    c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
    c.Run("claim", {k});
    c.Run("lock", {k});
    c.Exec("COMMIT");
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  const std::string hex = FakeTxHex(keys);
  c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
  for (const auto& k : sorted) {
    c.Run("lock", {k});
    c.Run("signed", {k, hex, hash, "1", absl::StrCat(keys.size())});
  }
  c.Exec("COMMIT");
  c.Run("get", {keys.front()});
  for (const char* stage : {"broadcast", "included"}) {
    for (const auto& k : keys) {
      c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
      c.Run("lock", {k});
      if (std::string(stage) == "broadcast") {
        c.Run("broadcast", {k});
      } else {
        c.Run("included", {k, "7"});
      }
      c.Exec("COMMIT");
    }
  }
}

void RunBatched(Conn& c, const std::vector<std::string>& keys, const std::string& hash) {
  const std::string arr = PgArray(keys);
  c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
  c.Run("bclaim", {arr});
  if (c.Run("block", {arr}) != static_cast<int>(keys.size())) Die("claim: rows");
  c.Exec("COMMIT");
  c.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
  c.Run("btx", {hash, FakeTxHex(keys)});
  c.Run("block", {arr});
  c.Run("bsigned", {arr, hash, "1", absl::StrCat(keys.size())});
  c.Exec("COMMIT");
  if (c.Run("bbroadcast", {arr, hash}) != static_cast<int>(keys.size())) Die("broadcast: rows");
  if (c.Run("bincluded", {arr, hash, "7"}) != static_cast<int>(keys.size())) {
    Die("included: rows");
  }
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("ledger_pattern_bench");
  int requests = 20000, batch = 60, threads = 16;
  config.AddInt("requests", &requests, 20000, "ledger keys per pattern").Range(1, 10000000);
  config.AddInt("batch", &batch, 60, "keys per batch tx").Range(1, 10000);
  config.AddInt("threads", &threads, 16, "concurrent signing loops (one connection each)")
      .Range(1, 64);
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  gonka::testing::PostgresServer postgres;
  if (absl::Status s = postgres.Start(); !s.ok()) Die(s.ToString());
  {
    Conn c(postgres.conninfo());
    c.Exec(kSchema);
  }
  std::printf("ledger statements for %d requests, batches of %d, %d threads\n", requests, batch,
              threads);
  for (const char* pattern : {"current", "batched"}) {
    const bool current = std::string(pattern) == "current";
    std::vector<std::unique_ptr<Conn>> conns;
    for (int t = 0; t < threads; ++t) {
      conns.push_back(std::make_unique<Conn>(postgres.conninfo()));
      if (current) {
        PrepareCurrent(*conns.back());
      } else {
        PrepareBatched(*conns.back());
      }
    }
    const int batches = (requests + batch - 1) / batch;
    std::atomic<int> next{0};
    const double cpu0 = TreeCpuSeconds(postgres.pid());
    const absl::Time t0 = absl::Now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int b = next.fetch_add(1); b < batches; b = next.fetch_add(1)) {
          std::vector<std::string> keys;
          for (int i = b * batch; i < std::min(requests, (b + 1) * batch); ++i) {
            keys.push_back(absl::StrCat(pattern, "-req-", i));
          }
          const std::string hash = absl::StrCat(pattern, "-tx-", b);
          if (current) {
            RunCurrent(*conns[t], keys, hash);
          } else {
            RunBatched(*conns[t], keys, hash);
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = TreeCpuSeconds(postgres.pid()) - cpu0;
    std::printf("%-8s %7.2f s wall => %8.0f requests/s; Postgres CPU %.2f s = %.1f us/request\n",
                pattern, wall, requests / wall, cpu, cpu * 1e6 / requests);
    std::fflush(stdout);
  }
  return 0;
}
