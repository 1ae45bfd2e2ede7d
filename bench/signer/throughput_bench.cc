// bench/signer, signer throughput (figure P5): end-to-end enqueue -> included on devchain with
// batching, beside the raw JetStream publish rate of the same payloads measured in the same run on
// the same server, and each signerd's peak RSS. Targets: >= 2,000 msgs/s end to end, signerd peak
// RSS <= 64 MB.
//
// Setup (all real processes on loopback): nats-server -js (file storage), PostgreSQL (the signer
// ledger), the devchain daemon (genesis funds the warm key; --block-interval), and --signers
// signerd processes (--workers signing loops each, --batch queued messages per tx).
//
// Run:
//   1. raw JetStream publish of --messages serialized ChainTx payloads (each with a Nats-Msg-Id)
//      with nats.c on stream P5RAW of the same server: sync from 1 thread, sync from --producers
//      threads (one connection each), and async (js_PublishAsync, one connection);
//   2. --producers threads (one JetStream connection and TxQueue each) Enqueue --messages
//      MsgRecord requests as fast as they can; a poller asks JetStream every --poll whether the
//      signers' shared consumer has acked everything (a signer acks after the ledger records the
//      inclusion), and samples each signerd's VmRSS / VmHWM;
//   3. end to end = messages / (last inclusion - first enqueue). "Last inclusion" is the block
//      time of the highest height any request landed in (devchain stamps blocks with its wall
//      clock, on this machine); the ledger's last `included` update (the signer saw it and acked)
//      is printed too;
//   4. verification: GET /devchain/records?key=K for every key must answer count 1 (exactly once),
//      and the ledger must hold every key as included.
//   CPU seconds used by each process (group) during step 2 are printed, to show what limits it.
//
//   bazel build -c opt //bench/signer:throughput_bench &&
//     bazel-out/k8-opt/bin/bench/signer/throughput_bench [--messages=20000 --batch=60 --workers=8
//     --block-interval=100ms --pg-stats]
//
// Output ends with
//   P5: X msgs/s (limit >= 2000); raw JetStream publish Y msgs/s (...); signerd peak RSS A MB,
//   B MB (limit <= 64 MB)
// and the exit code is 0 only when every key landed exactly once (the limits are reported, not
// enforced, so a slow machine still gets its figures). --pg-stats loads pg_stat_statements and
// prints the ledger's statements per message; GONKA_KEEP_TMP=1 keeps every server's log.
//
// README: results, and what limits them (2 cores, shared with other work; Nov 2026)
//   - Now (batch-wide ledger statements, signed bytes stored once per tx, group acks; broadcast
//     as a POST): defaults (2 signerd x 8 workers, batch 60, 100 ms blocks) 3,600-4,400 msgs/s
//     end to end, e.g. 4,228 msgs/s beside a raw sync JetStream publish of 9,763 msgs/s from one
//     thread (25,082 from 4, 160,158 async); every key exactly once; signerd peak RSS ~25 MB.
//     Postgres spends 0.05-0.1 ms of CPU per request (~0.14 statements, 0.07 transactions). The
//     run is no longer CPU-bound: a loop's cycle is mostly the block interval plus the observe
//     polling (--observe-interval). Loops x batch is capped by the consumer's max_ack_pending
//     (signerd --max-ack-pending, default 1,000), which is why batch 100 with 16 loops is slower.
//   - Before (per-request ledger transactions, the whole batch tx written into every key's row,
//     broadcast as GET ?tx=0x<hex>): 1,770-2,370 msgs/s, Postgres ~0.38 ms CPU per request, and
//     batches above ~290 MsgRecords failed with HTTP 431 (the tx did not fit in the URL). A model
//     of both statement patterns on a bare table (a one-off bench, since removed) put them at
//     ~350 us vs ~45 us of Postgres CPU per request at batch 60.
#include <nats/nats.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/pg/pg.h"
#include "gonka/testing/proc_stats.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"

namespace {

// The signerd integration test's warm key (a development mnemonic, not a secret).
constexpr char kWarm[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kChainId[] = "p5-bench";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "throughput_bench: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);  // fixtures die with us (PR_SET_PDEATHSIG)
}

double Rate(int64_t n, absl::Duration d) {
  double s = absl::ToDoubleSeconds(d);
  return s > 0 ? n / s : 0;
}

// The bench's few ledger queries, over gonka/pg: every value as text (NULL as ""); an error
// (e.g. the table does not exist yet) gives no rows.
class Pg {
 public:
  explicit Pg(const std::string& conninfo) {
    gonka::pg::PgOptions options;
    options.conninfo = conninfo;
    options.max_connections = 1;
    absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> pool = gonka::pg::Pool::Open(options);
    if (!pool.ok()) Die(absl::StrCat("postgres: ", pool.status().ToString()));
    pool_ = std::move(*pool);
  }
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    absl::StatusOr<gonka::pg::Result> r = pool_->Exec(sql);
    if (!r.ok()) return rows;
    for (int i = 0; i < r->rows(); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < r->columns(); ++j) row.push_back(r->Get(i, j).value_or(""));
      rows.push_back(std::move(row));
    }
    return rows;
  }
  int64_t Int(const std::string& sql) {
    auto rows = Query(sql);
    int64_t v = -1;
    if (rows.empty() || rows[0].empty() || !absl::SimpleAtoi(rows[0][0], &v)) return -1;
    return v;
  }

 private:
  std::unique_ptr<gonka::pg::Pool> pool_;
};

// ---- raw JetStream publish (nats.c), the floor the queue is compared with ----

natsConnection* RawConnect(const std::string& url) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) Die("raw nats.c connect failed");
  return nc;
}

void RawSyncPublish(jsCtx* js, const std::string& subject, const std::vector<std::string>& data,
                    const std::string& id_prefix, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    std::string id = absl::StrCat(id_prefix, i);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    jsErrCode err = static_cast<jsErrCode>(0);
    jsPubAck* ack = nullptr;
    natsStatus s = js_Publish(&ack, js, subject.c_str(), data[i].data(),
                              static_cast<int>(data[i].size()), &po, &err);
    if (s != NATS_OK) Die(absl::StrCat("js_Publish: ", natsStatus_GetText(s), " ", err));
    if (ack->Duplicate) Die("raw publish: unexpected duplicate");
    jsPubAck_Destroy(ack);
  }
}

std::atomic<int64_t> raw_async_errors{0};

void RawAsyncError(jsCtx*, jsPubAckErr*, void*) { raw_async_errors.fetch_add(1); }

struct RawRates {
  double sync1 = 0, sync_threads = 0, async = 0;
};

RawRates MeasureRaw(const std::string& url, const std::vector<std::string>& payloads, int threads) {
  const std::string subject = "p5raw";
  RawRates rates;
  const size_t n = payloads.size();
  {  // sync, one thread
    natsConnection* nc = RawConnect(url);
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, nullptr);
    absl::Time t0 = absl::Now();
    RawSyncPublish(js, subject, payloads, "s1-", 0, n);
    rates.sync1 = Rate(n, absl::Now() - t0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  {  // sync, `threads` threads with a connection each
    std::vector<natsConnection*> ncs;
    std::vector<jsCtx*> jss;
    for (int t = 0; t < threads; ++t) {
      ncs.push_back(RawConnect(url));
      jss.push_back(nullptr);
      natsConnection_JetStream(&jss.back(), ncs.back(), nullptr);
    }
    absl::Time t0 = absl::Now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        RawSyncPublish(jss[t], subject, payloads, "sN-", n * t / threads, n * (t + 1) / threads);
      });
    }
    for (auto& w : workers) w.join();
    rates.sync_threads = Rate(n, absl::Now() - t0);
    for (int t = 0; t < threads; ++t) {
      jsCtx_Destroy(jss[t]);
      natsConnection_Destroy(ncs[t]);
    }
  }
  {  // async, one connection, up to 4,000 unacknowledged
    natsConnection* nc = RawConnect(url);
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4000;
    o.PublishAsync.StallWait = 10000;
    o.PublishAsync.ErrHandler = RawAsyncError;
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, &o);
    absl::Time t0 = absl::Now();
    for (size_t i = 0; i < n; ++i) {
      std::string id = absl::StrCat("as-", i);
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = id.c_str();
      natsStatus s = js_PublishAsync(js, subject.c_str(), payloads[i].data(),
                                     static_cast<int>(payloads[i].size()), &po);
      if (s != NATS_OK) Die(absl::StrCat("js_PublishAsync: ", natsStatus_GetText(s)));
    }
    jsPubOptions done;
    jsPubOptions_Init(&done);
    done.MaxWait = 60000;
    if (natsStatus s = js_PublishAsyncComplete(js, &done); s != NATS_OK) {
      Die(absl::StrCat("js_PublishAsyncComplete: ", natsStatus_GetText(s)));
    }
    rates.async = Rate(n, absl::Now() - t0);
    if (raw_async_errors.load() != 0) Die(absl::StrCat(raw_async_errors.load(), " async errors"));
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  return rates;
}

// A counter of nats-server's /varz ("in_msgs", "out_msgs"), -1 if unreadable.
int64_t VarzCounter(gonka::testing::NatsServer& nats, const std::string& name) {
  absl::StatusOr<std::string> varz = nats.MonitorGet("/varz");
  if (!varz.ok()) return -1;
  size_t p = varz->find(absl::StrCat("\"", name, "\":"));
  if (p == std::string::npos) return -1;
  p += name.size() + 3;
  while (p < varz->size() && (*varz)[p] == ' ') ++p;
  size_t q = p;
  while (q < varz->size() && absl::ascii_isdigit((*varz)[q])) ++q;
  int64_t v = -1;
  return absl::SimpleAtoi(varz->substr(p, q - p), &v) ? v : -1;
}

// "time":"2026-11-24T20:50:01.123456789Z" of /block?height=H (the header's time).
absl::StatusOr<absl::Time> BlockTime(gonka::net::HttpClient& http, const std::string& chain_url,
                                     int64_t height) {
  auto r = http.Get(absl::StrCat(chain_url, "/block?height=", height));
  if (!r.ok()) return r.status();
  size_t p = r->body.find("\"time\":\"");
  if (p == std::string::npos) return absl::InternalError("no time in /block");
  p += 8;
  size_t q = r->body.find('"', p);
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, r->body.substr(p, q - p), &t, &err)) {
    return absl::InternalError(absl::StrCat("block time: ", err));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("throughput_bench");
  int messages = 20000, producers = 4, signers = 2, workers = 8, batch = 60, verifiers = 4;
  int payload_bytes = 0;
  absl::Duration block_interval, poll, timeout;
  std::string signerd_args;
  bool pg_stats = false;
  config.AddInt("messages", &messages, 20000, "MsgRecord requests to enqueue").Range(1, 10000000);
  config.AddInt("producers", &producers, 4, "producer threads (one connection each)").Range(1, 64);
  config.AddInt("signers", &signers, 2, "signerd processes").Range(1, 8);
  config.AddInt("workers", &workers, 8, "signerd --workers (signing loops each)").Range(1, 64);
  config.AddInt("batch", &batch, 60, "signerd --batch (queued messages per tx)").Range(1, 1000);
  config.AddInt("payload-bytes", &payload_bytes, 0, "MsgRecord payload size").Range(0, 65536);
  config.AddInt("verifiers", &verifiers, 4, "threads checking /devchain/records").Range(1, 64);
  config
      .AddDuration("block-interval", &block_interval, absl::Milliseconds(100),
                   "devchain --block-interval")
      .Positive();
  config
      .AddDuration("poll", &poll, absl::Milliseconds(100),
                   "completion poll interval (consumer info)")
      .Positive();
  config.AddDuration("timeout", &timeout, absl::Seconds(600), "give up on inclusion after this")
      .Positive();
  config.AddString("signerd-args", &signerd_args, "",
                   "extra signerd flags, comma-separated (e.g. --retry-delay=1s)");
  config.AddBool("pg-stats", &pg_stats, false,
                 "load pg_stat_statements and print the ledger statements per message (adds a "
                 "little Postgres overhead)");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }

  gonka::testing::TempDir dir("throughput_bench");
  const std::string key_file = dir.Join("warm.key");
  std::ofstream(key_file) << kWarm << "\n";
  if (chmod(key_file.c_str(), 0600) != 0) Die("chmod key file");
  absl::StatusOr<gonka::crypto::SigningKey> key = gonka::crypto::KeyFromMnemonic(kWarm);
  if (!key.ok()) Die(key.status().ToString());
  const std::string address = key->address();
  const std::string genesis = dir.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                         R"(","balances":{"ngonka":"1000000000"}}]})");

  gonka::testing::NatsServer nats;
  if (absl::Status s = nats.Start(); !s.ok()) Die(absl::StrCat("nats: ", s.ToString()));
  gonka::testing::PostgresServer::Options pg_options;
  if (pg_stats) {
    pg_options.settings = {"shared_preload_libraries=pg_stat_statements",
                           "pg_stat_statements.track=all"};
  }
  gonka::testing::PostgresServer postgres(pg_options);
  if (absl::Status s = postgres.Start(); !s.ok()) Die(absl::StrCat("postgres: ", s.ToString()));
  gonka::testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {"--bind=127.0.0.1",
                        "--port={{PORT}}",
                        absl::StrCat("--chain-id=", kChainId),
                        absl::StrCat("--block-interval=", absl::FormatDuration(block_interval)),
                        "--drain-announce=0s",
                        "--grpc-address=",
                        "--genesis=" + genesis,
                        "--log-level=warn"};
  gonka::testing::DaemonProcess devchain(chain_options);
  if (absl::Status s = devchain.Start(); !s.ok()) {
    Die(absl::StrCat("devchain: ", s.ToString(), "\n", devchain.LogTail()));
  }

  std::vector<std::unique_ptr<gonka::testing::DaemonProcess>> signerds;
  for (int i = 0; i < signers; ++i) {
    gonka::testing::DaemonProcess::Options o;
    o.binary = "daemons/signerd/signerd";
    o.name = absl::StrCat("signerd-", i);
    o.args = {"--bind=127.0.0.1", "--port={{PORT}}", absl::StrCat("--chain-id=", kChainId),
              "--key-file=" + key_file, absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", nats.url()), absl::StrCat("--pg-url=", postgres.url()),
              absl::StrCat("--workers=", workers), absl::StrCat("--batch=", batch),
              // devchain's record messages (not a Gonka warm-key type) are what it sends.
              "--allowed-msg-types=/gonka.devchain.v1.*", "--drain-announce=0s",
              "--log-level=warn"};
    for (absl::string_view extra : absl::StrSplit(signerd_args, ',', absl::SkipEmpty())) {
      o.args.emplace_back(extra);
    }
    o.ready = [](gonka::testing::DaemonProcess& d) -> absl::Status {
      auto r = gonka::testing::HttpGet(d.host(), d.port(), "/ready");
      if (!r.ok()) return r.status();
      return r->status == 200 ? absl::OkStatus()
                              : absl::UnavailableError(absl::StrCat("/ready ", r->status));
    };
    signerds.push_back(std::make_unique<gonka::testing::DaemonProcess>(o));
    if (absl::Status s = signerds.back()->Start(); !s.ok()) {
      Die(absl::StrCat("signerd-", i, ": ", s.ToString(), "\n", signerds.back()->LogTail()));
    }
  }

  // The requests, built before any timing.
  std::vector<gonka::txqueue::ChainTx> txs(messages);
  std::vector<std::string> keys(messages), payloads(messages);
  const std::string run = absl::StrCat(absl::ToUnixMillis(absl::Now()));
  for (int i = 0; i < messages; ++i) {
    keys[i] = absl::StrCat("p5-", run, "-", i);
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(address);
    record.set_key(keys[i]);
    if (payload_bytes > 0) record.set_payload(std::string(payload_bytes, 'p'));
    txs[i].set_idempotency_key(keys[i]);
    txs[i].set_producer("throughput_bench");
    *txs[i].add_messages() = gonka::cosmos::PackAny(record);
    gonka::txqueue::ChainTx stamped = txs[i];
    stamped.mutable_enqueued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    payloads[i] = stamped.SerializeAsString();
  }
  std::printf(
      "P5 bench: %d MsgRecord requests (%zu B each on the queue), %d producers, %d signerd x %d "
      "workers, batch %d, devchain block interval %s, signerd extra [%s]\n",
      messages, payloads[0].size(), producers, signers, workers, batch,
      absl::FormatDuration(block_interval).c_str(), signerd_args.c_str());
  std::fflush(stdout);

  // 1. Raw JetStream publish rate on the same server (its own stream).
  gonka::nats::NatsOptions nats_options;
  nats_options.urls = {nats.url()};
  nats_options.timeout = absl::Seconds(10);
  {
    auto js = gonka::nats::JetStream::Connect(nats_options);
    if (!js.ok()) Die(js.status().ToString());
    gonka::nats::StreamConfig c;
    c.name = "P5RAW";
    c.subjects = {"p5raw"};
    if (auto st = (*js)->EnsureStream(c); !st.ok()) Die(st.status().ToString());
  }
  RawRates raw = MeasureRaw(nats.url(), payloads, producers);
  std::printf(
      "raw JetStream publish (nats.c, msg ids, file storage): sync 1 thread %.0f msgs/s, sync %d "
      "threads %.0f msgs/s, async %.0f msgs/s\n",
      raw.sync1, producers, raw.sync_threads, raw.async);
  std::fflush(stdout);

  // 2. Enqueue through TxQueue from `producers` threads, and watch the ledger.
  std::vector<std::unique_ptr<gonka::nats::JetStream>> producer_js;
  std::vector<std::unique_ptr<gonka::txqueue::TxQueue>> queues;
  for (int p = 0; p < producers; ++p) {
    auto js = gonka::nats::JetStream::Connect(nats_options);
    if (!js.ok()) Die(js.status().ToString());
    producer_js.push_back(std::move(*js));
    queues.push_back(std::make_unique<gonka::txqueue::TxQueue>(producer_js.back().get()));
  }
  if (auto st = queues[0]->EnsureStream(); !st.ok()) Die(st.status().ToString());

  Pg pg(postgres.conninfo());
  std::vector<pid_t> signer_pids;
  for (auto& s : signerds) signer_pids.push_back(s->pid());
  std::vector<int64_t> peak_rss_kb(signers, 0), hwm_kb(signers, 0);
  auto sample_rss = [&] {
    for (int i = 0; i < signers; ++i) {
      peak_rss_kb[i] =
          std::max(peak_rss_kb[i], gonka::testing::ProcStatusKb(signer_pids[i], "VmRSS"));
      hwm_kb[i] = std::max(hwm_kb[i], gonka::testing::ProcStatusKb(signer_pids[i], "VmHWM"));
    }
  };
  struct Cpu {
    double nats, postgres, devchain, bench;
    std::vector<double> signers;
  };
  auto cpu_now = [&] {
    Cpu c{gonka::testing::ProcGroupCpuSeconds(nats.pid()),
          gonka::testing::ProcGroupCpuSeconds(postgres.pid()),
          gonka::testing::ProcGroupCpuSeconds(devchain.pid()),
          gonka::testing::ProcCpuSeconds(0),
          {}};
    for (pid_t p : signer_pids) c.signers.push_back(gonka::testing::ProcGroupCpuSeconds(p));
    return c;
  };

  Pg pg_super(postgres.superuser_conninfo());
  if (pg_stats) {
    pg_super.Query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    pg_super.Query("SELECT pg_stat_statements_reset()");
  }
  const std::string commits_sql =
      "SELECT xact_commit FROM pg_stat_database WHERE datname = 'gonka'";
  const int64_t commits0 = pg.Int(commits_sql);
  const int64_t nats_in0 = VarzCounter(nats, "in_msgs"), nats_out0 = VarzCounter(nats, "out_msgs");
  const Cpu cpu0 = cpu_now();
  std::atomic<int> next{0};
  std::atomic<int64_t> enqueue_errors{0}, duplicates{0};
  const absl::Time t_first = absl::Now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = next.fetch_add(1); i < messages; i = next.fetch_add(1)) {
        for (int attempt = 0;; ++attempt) {
          absl::StatusOr<gonka::txqueue::EnqueueResult> r = queues[p]->Enqueue(txs[i]);
          if (r.ok()) {
            if (r->duplicate) duplicates.fetch_add(1);
            break;
          }
          enqueue_errors.fetch_add(1);
          if (attempt == 5) Die(absl::StrCat("enqueue ", keys[i], ": ", r.status().ToString()));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const absl::Time t_enqueued = absl::Now();
  std::printf(
      "enqueued %d in %.2f s: %.0f msgs/s through TxQueue::Enqueue (%lld retried, %lld "
      "duplicates)\n",
      messages, absl::ToDoubleSeconds(t_enqueued - t_first), Rate(messages, t_enqueued - t_first),
      static_cast<long long>(enqueue_errors.load()), static_cast<long long>(duplicates.load()));
  std::fflush(stdout);

  // Completion: the shared consumer has nothing pending and nothing unacked (a signer acks after
  // the ledger says included). One JetStream API request per poll: a count(*) on the ledger every
  // 100 ms costs Postgres ~30 ms of CPU each at this table size, a large share of its work.
  const std::string count_sql = "SELECT count(*) FROM signer_ledger WHERE state = 'included'";
  natsConnection* poll_nc = RawConnect(nats.url());
  jsCtx* poll_js = nullptr;
  natsConnection_JetStream(&poll_js, poll_nc, nullptr);
  auto consumer_done = [&](int64_t* acked) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode err = static_cast<jsErrCode>(0);
    if (js_GetConsumerInfo(&ci, poll_js, gonka::txqueue::kStream, gonka::txqueue::kDurable, nullptr,
                           &err) != NATS_OK) {
      return false;
    }
    *acked = static_cast<int64_t>(ci->AckFloor.Stream);
    bool done = ci->NumPending == 0 && ci->NumAckPending == 0 &&
                ci->Delivered.Stream >= static_cast<uint64_t>(messages);
    jsConsumerInfo_Destroy(ci);
    return done;
  };
  int64_t included = 0, polls = 0, last_print = 0, acked = 0;
  for (;;) {
    sample_rss();
    ++polls;
    if (consumer_done(&acked)) {
      included = pg.Int(count_sql);
      if (included >= messages) break;
    }
    if (absl::Now() - t_first > timeout) {
      included = pg.Int(count_sql);
      break;
    }
    if (acked - last_print >= messages / 10) {
      std::printf("  %.1f s: acked up to stream sequence %lld\n",
                  absl::ToDoubleSeconds(absl::Now() - t_first), static_cast<long long>(acked));
      std::fflush(stdout);
      last_print = acked;
    }
    absl::SleepFor(poll);
  }
  jsCtx_Destroy(poll_js);
  natsConnection_Destroy(poll_nc);
  const absl::Time t_seen = absl::Now();
  sample_rss();
  const Cpu cpu1 = cpu_now();
  const int64_t commits1 = pg.Int(commits_sql);
  const int64_t nats_in1 = VarzCounter(nats, "in_msgs"), nats_out1 = VarzCounter(nats, "out_msgs");
  std::vector<std::vector<std::string>> statements;
  if (pg_stats) {
    statements = pg_super.Query(
        "SELECT calls, round(total_exec_time::numeric, 1), "
        "regexp_replace(left(query, 90), '\\s+', ' ', 'g') FROM pg_stat_statements "
        "ORDER BY total_exec_time DESC LIMIT 14");
  }

  // 3. When did the last request land?
  gonka::net::HttpClient http;
  auto stats = pg.Query(
      "SELECT max(height), extract(epoch from max(updated_at)), count(DISTINCT tx_hash), "
      "min(height) FROM signer_ledger WHERE state = 'included'");
  int64_t max_height = 0, min_height = 0, distinct_txs = 0;
  double ledger_last_epoch = 0;
  if (!stats.empty()) {
    (void)absl::SimpleAtoi(stats[0][0], &max_height);
    (void)absl::SimpleAtod(stats[0][1], &ledger_last_epoch);
    (void)absl::SimpleAtoi(stats[0][2], &distinct_txs);
    (void)absl::SimpleAtoi(stats[0][3], &min_height);
  }
  // Where a signing loop's time goes, per batch tx, from the ledger's timestamps: first claim ->
  // last row recorded as signed (claims are one transaction per request), -> first row marked
  // included (broadcast, per-request MarkBroadcast, block wait, observe polling), -> last row
  // marked included (per-request MarkIncluded + ack).
  auto phases = pg.Query(
      "SELECT round(avg(extract(epoch FROM max_s - min_c)) * 1000), "
      "round(avg(extract(epoch FROM min_u - max_s)) * 1000), "
      "round(avg(extract(epoch FROM max_u - min_u)) * 1000) FROM (SELECT min(created_at) min_c, "
      "max(signed_at) max_s, min(updated_at) min_u, max(updated_at) max_u FROM signer_ledger "
      "WHERE state = 'included' GROUP BY tx_hash) t");
  absl::StatusOr<absl::Time> last_block = BlockTime(http, devchain.url(), max_height);
  const absl::Time t_ledger_last =
      absl::FromUnixMicros(static_cast<int64_t>(ledger_last_epoch * 1e6));
  const absl::Time t_chain_last = last_block.ok() ? *last_block : t_ledger_last;
  const double e2e = Rate(included, t_chain_last - t_first);
  const double e2e_ledger = Rate(included, t_ledger_last - t_first);

  // 4. Exactly once, per key, from devchain's own record counts (not timed).
  std::atomic<int> vnext{0};
  std::atomic<int64_t> once{0}, missing{0}, twice{0}, errors{0};
  std::vector<std::thread> vthreads;
  for (int v = 0; v < verifiers; ++v) {
    vthreads.emplace_back([&] {
      gonka::net::HttpClient client;
      for (int i = vnext.fetch_add(1); i < messages; i = vnext.fetch_add(1)) {
        auto r = client.Get(devchain.url() + "/devchain/records?key=" + keys[i]);
        int64_t count = -1;
        if (r.ok() && r->status == 200) {
          size_t p = r->body.find("\"count\":\"");
          if (p != std::string::npos) {
            (void)absl::SimpleAtoi(r->body.substr(p + 9, r->body.find('"', p + 9) - p - 9), &count);
          }
        }
        if (count == 1) {
          once.fetch_add(1);
        } else if (count == 0) {
          missing.fetch_add(1);
        } else if (count > 1) {
          twice.fetch_add(1);
        } else {
          errors.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : vthreads) t.join();
  sample_rss();
  const int64_t ledger_included = pg.Int(count_sql);
  const int64_t ledger_rows = pg.Int("SELECT count(*) FROM signer_ledger");

  std::printf(
      "included: %lld of %d (ledger), in %lld txs over heights %lld..%lld (avg %.1f msgs/tx)\n",
      static_cast<long long>(included), messages, static_cast<long long>(distinct_txs),
      static_cast<long long>(min_height), static_cast<long long>(max_height),
      distinct_txs > 0 ? static_cast<double>(included) / distinct_txs : 0.0);
  std::printf(
      "first enqueue -> last inclusion (block time of height %lld): %.2f s => %.0f msgs/s\n"
      "first enqueue -> last ledger 'included' (signer observed + acked): %.2f s => %.0f msgs/s\n"
      "first enqueue -> poller saw all (%lld polls every %s): %.2f s\n",
      static_cast<long long>(max_height), absl::ToDoubleSeconds(t_chain_last - t_first), e2e,
      absl::ToDoubleSeconds(t_ledger_last - t_first), e2e_ledger, static_cast<long long>(polls),
      absl::FormatDuration(poll).c_str(), absl::ToDoubleSeconds(t_seen - t_first));
  if (!last_block.ok())
    std::printf("  (block time unavailable: %s)\n", last_block.status().ToString().c_str());
  const double wall = absl::ToDoubleSeconds(t_seen - t_first);
  std::printf("CPU seconds during enqueue+inclusion (%.2f s wall, 2 cores = %.2f CPU s):\n", wall,
              2 * wall);
  std::printf(
      "  nats-server %.2f, postgres (all backends) %.2f, devchain %.2f, bench (producers, "
      "poller) %.2f",
      cpu1.nats - cpu0.nats, cpu1.postgres - cpu0.postgres, cpu1.devchain - cpu0.devchain,
      cpu1.bench - cpu0.bench);
  for (int i = 0; i < signers; ++i) {
    std::printf(", signerd-%d %.2f", i, cpu1.signers[i] - cpu0.signers[i]);
  }
  std::printf("\n");
  if (!phases.empty() && phases[0].size() == 3) {
    std::printf(
        "per batch tx (avg ms): first claim -> all signed %s, -> first marked included %s, -> "
        "all marked included and acked %s\n",
        phases[0][0].c_str(), phases[0][1].c_str(), phases[0][2].c_str());
  }
  std::printf(
      "per message: %.1f Postgres commits (all clients, incl. the bench's poller), %.1f NATS "
      "messages in and %.1f out at the server (publish, fetch, ack, replies)\n",
      static_cast<double>(commits1 - commits0) / messages,
      static_cast<double>(nats_in1 - nats_in0) / messages,
      static_cast<double>(nats_out1 - nats_out0) / messages);
  if (!statements.empty()) {
    std::printf("Postgres statements by total execution time (server side only):\n");
    for (const auto& row : statements) {
      double calls = 0;
      (void)absl::SimpleAtod(row[0], &calls);
      std::printf("  %9s calls (%5.2f/msg) %9s ms  %s\n", row[0].c_str(), calls / messages,
                  row[1].c_str(), row[2].c_str());
    }
  }
  std::printf(
      "devchain records: %lld exactly once, %lld missing, %lld more than once, %lld "
      "unanswered; ledger: %lld rows, %lld included\n",
      static_cast<long long>(once.load()), static_cast<long long>(missing.load()),
      static_cast<long long>(twice.load()), static_cast<long long>(errors.load()),
      static_cast<long long>(ledger_rows), static_cast<long long>(ledger_included));
  for (int i = 0; i < signers; ++i) {
    std::printf("signerd-%d: VmHWM %.1f MB, max VmRSS sampled %.1f MB\n", i, hwm_kb[i] / 1024.0,
                peak_rss_kb[i] / 1024.0);
  }
  std::string rss;
  for (int i = 0; i < signers; ++i) {
    absl::StrAppend(&rss, i ? ", " : "", absl::StrFormat("%.1f MB", hwm_kb[i] / 1024.0));
  }
  std::printf(
      "P5: %.0f msgs/s (limit >= 2000); raw JetStream publish %.0f msgs/s (sync, 1 thread; %.0f "
      "with %d threads, %.0f async; P5/raw sync = %.2f); enqueue %.0f msgs/s; signerd peak RSS %s "
      "(limit <= 64 MB)\n",
      e2e, raw.sync1, raw.sync_threads, producers, raw.async, raw.sync1 > 0 ? e2e / raw.sync1 : 0,
      Rate(messages, t_enqueued - t_first), rss.c_str());
  std::fflush(stdout);

  for (auto& s : signerds) s->Stop().IgnoreError();
  const bool exact = once.load() == messages && ledger_included == messages;
  if (!exact) {
    std::fprintf(stderr, "throughput_bench: NOT every key landed exactly once\n");
    for (auto& s : signerds) std::fprintf(stderr, "%s\n", s->LogTail(2000).c_str());
  }
  return exact ? 0 : 1;
}
