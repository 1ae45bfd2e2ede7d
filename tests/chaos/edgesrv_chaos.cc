#include "tests/chaos/edgesrv_chaos.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/edgesrv/stage_gate.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace {

constexpr char kModel[] = "Qwen/Qwen3-8B";
constexpr int kEpochLength = 200;  // blocks of 50 ms: a PoC stage every 10 s
constexpr int kPocStage = 150;     // generation window: 150 + exchange 5 blocks

#define EC_CHECK(expr)                                                         \
  do {                                                                         \
    absl::Status _s = (expr);                                                  \
    if (!_s.ok()) {                                                            \
      return absl::Status(_s.code(), absl::StrCat(#expr, ": ", _s.message())); \
    }                                                                          \
  } while (0)

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A vector for (stage, nonce): 24 bytes (12 f16 values), deterministic.
std::string Vector(int64_t stage, int32_t nonce) {
  std::string v(24, '\0');
  uint64_t x = static_cast<uint64_t>(stage) * 0x9E3779B97F4A7C15ULL ^ static_cast<uint32_t>(nonce);
  for (char& c : v) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c = static_cast<char>((x * 0x2545F4914F6CDD1DULL) >> 56);
  }
  return v;
}

struct Shared {
  absl::Mutex mu;
  // stage → nonces answered 200 / nonces ever posted.
  std::map<int64_t, std::set<int32_t>> acked ABSL_GUARDED_BY(mu);
  std::map<int64_t, std::set<int32_t>> posted ABSL_GUARDED_BY(mu);
  std::atomic<int64_t> batches_posted{0}, batches_acked{0}, abandoned{0}, non_200{0};
};

// One in-test ML node: for each generation window, batches of fresh nonces (poster p owns nonces
// ≡ p mod posters), each retried until 200 or the window (of its stage) closes.
void Poster(int p, const EdgeSrvChaosOptions& o, const std::string& url,
            edgesrv::StreamStageGate* gate, Shared* shared, const std::atomic<bool>* stop) {
  net::HttpClient http;
  const std::string path =
      absl::StrCat(url, "/v2/poc-batches/", net::UrlEncode(net::UrlEncode(kModel)), "/generated");
  std::map<int64_t, int32_t> next;  // stage → next nonce index
  while (!stop->load()) {
    absl::StatusOr<edgesrv::StageWindow> w = gate->Current();
    if (!w.ok() || !w->generating) {
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    const int64_t stage = w->poc_start;
    std::vector<int32_t> nonces;
    std::string artifacts;
    for (int i = 0; i < o.batch_size; ++i) {
      const int32_t nonce = (next[stage]++) * o.posters + p;
      nonces.push_back(nonce);
      absl::StrAppend(&artifacts, i > 0 ? "," : "", "{\"nonce\":", nonce, ",\"vector_b64\":\"",
                      absl::Base64Escape(Vector(stage, nonce)), "\"}");
    }
    const std::string body =
        absl::StrCat("{\"block_hash\":\"AB\",\"block_height\":", stage,
                     ",\"public_key\":\"pk\",\"node_id\":", p, ",\"artifacts\":[", artifacts,
                     "],\"encoding\":{\"dtype\":\"f16\",\"k_dim\":12,", "\"endian\":\"le\"}}");
    {
      absl::MutexLock lock(&shared->mu);
      shared->posted[stage].insert(nonces.begin(), nonces.end());
    }
    bool acked = false;
    while (!stop->load()) {
      shared->batches_posted++;
      absl::StatusOr<net::HttpResponse> r = http.Post(
          path, body, "application/json", net::HttpCallOptions::Timeout(absl::Seconds(5)));
      if (r.ok() && r->status == 200) {
        acked = true;
        break;
      }
      shared->non_200++;
      absl::StatusOr<edgesrv::StageWindow> now = gate->Current();
      if (now.ok() && (!now->generating || now->poc_start != stage)) break;  // window closed
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (acked) {
      shared->batches_acked++;
      absl::MutexLock lock(&shared->mu);
      shared->acked[stage].insert(nonces.begin(), nonces.end());
    } else {
      shared->abandoned++;
    }
  }
}

}  // namespace

std::string EdgeSrvChaosResult::ToString() const {
  return absl::StrCat("seed=", seed, " accumulator=", accumulator, " stages=", stages,
                      " kills=", kills, " rolls=", rolls, " batches_posted=", batches_posted,
                      " batches_acked=", batches_acked, " batches_abandoned=", batches_abandoned,
                      " non_200=", non_200, " acked_nonces=", acked_nonces, " stored=", stored,
                      " commits=", commits, " acked_missing=", acked_missing,
                      " duplicate_nonces=", duplicate_nonces, " foreign_nonces=", foreign_nonces,
                      " count_went_back=", count_went_back, " count_mismatch=", count_mismatch);
}

absl::StatusOr<EdgeSrvChaosResult> RunEdgeSrvChaos(const EdgeSrvChaosOptions& o) {
  EdgeSrvChaosResult result;
  result.seed = o.seed != 0 ? o.seed : std::random_device{}();
  result.accumulator = o.accumulator;
  std::printf("edge-srv chaos seed=%llu (GONKA_CHAOS_SEED replays)\n",
              static_cast<unsigned long long>(result.seed));
  std::fflush(stdout);
  std::mt19937_64 rng(result.seed);

  testing::ChainHub hub(
      {.devchain_args = {"--block-interval=50ms", absl::StrCat("--epoch-length=", kEpochLength),
                         absl::StrCat("--poc-stage-duration=", kPocStage),
                         "--poc-validation-duration=20", "--set-new-validators-delay=3"}});
  EC_CHECK(hub.Start());
  testing::PostgresServer pg;
  EC_CHECK(pg.Start());

  std::vector<std::unique_ptr<testing::DaemonProcess>> replicas;
  std::string servers;
  for (int i = 0; i < o.replicas; ++i) {
    testing::DaemonProcess::Options e;
    e.binary = "daemons/edge-srv/edge-srv";
    e.name = absl::StrCat("edge-srv-", i);
    e.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=1s",
              "--shutdown-grace=10s",
              absl::StrCat("--nats-url=", hub.nats().url()),
              absl::StrCat("--pg-url=", pg.url()),
              "--accumulator=" + o.accumulator,
              "--log-level=warn"};
    e.ready = [](testing::DaemonProcess& d) -> absl::Status {
      net::HttpClient http;
      absl::StatusOr<net::HttpResponse> r = http.Get(
          absl::StrCat(d.url(), "/ready"), net::HttpCallOptions::Timeout(absl::Seconds(1)));
      if (!r.ok()) return r.status();
      if (r->status != 200)
        return absl::UnavailableError(absl::StrCat("/ready ", r->status, " ", r->body));
      return absl::OkStatus();
    };
    replicas.push_back(std::make_unique<testing::DaemonProcess>(e));
    EC_CHECK(replicas.back()->Start());
    absl::StrAppend(&servers, "    server r", i, " 127.0.0.1:", replicas.back()->port(),
                    " check\n");
  }
  absl::StatusOr<std::string> template_path =
      testing::ResolveRunfile("deploy/haproxy/haproxy.cfg.template");
  if (!template_path.ok()) return template_path.status();
  testing::HaproxyServer::Options ho;
  ho.config = ReadFile(*template_path);
  ho.port = testing::FreePort();
  ho.vars = {{"BIND", absl::StrCat("127.0.0.1:", ho.port)}, {"SERVERS", servers}};
  testing::HaproxyServer haproxy(ho);
  EC_CHECK(haproxy.Start());
  for (int i = 0; i < o.replicas; ++i) {
    EC_CHECK(haproxy.WaitForServerState("replicas", absl::StrCat("r", i), true));
  }

  // The test's own view of the phase, from the same stream.
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = {hub.nats().url()}, .name = "edgesrv-chaos"});
  if (!js.ok()) return js.status();
  edgesrv::StreamStageGate gate(js->get(), {.durable_prefix = "edgesrv-chaos"});
  EC_CHECK(gate.Start());
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg.url()});
  if (!pool.ok()) return pool.status();
  absl::StatusOr<pocstore::Accumulator> accumulator = pocstore::ParseAccumulator(o.accumulator);
  if (!accumulator.ok()) return accumulator.status();
  absl::StatusOr<std::unique_ptr<pocstore::ArtifactStore>> store =
      pocstore::OpenPgArtifactStore(pool->get(), *accumulator);
  if (!store.ok()) return store.status();

  // Wait for the first generation window.
  const absl::Time setup_deadline = absl::Now() + absl::Seconds(60);
  for (;;) {
    absl::StatusOr<edgesrv::StageWindow> w = gate.Current();
    if (w.ok() && w->generating) break;
    if (absl::Now() > setup_deadline) {
      return absl::DeadlineExceededError("no PoC generation window within 60 s");
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const int64_t first_stage = gate.Current()->poc_start;
  const int64_t last_stage = first_stage + int64_t{kEpochLength} * (o.stages - 1);

  Shared shared;
  std::atomic<bool> stop{false};
  std::vector<std::thread> posters;
  for (int p = 0; p < o.posters; ++p) {
    posters.emplace_back(Poster, p, std::cref(o), haproxy.url(), &gate, &shared, &stop);
  }
  // The committer: Commit() on the active stage every 200 ms; counts must never go back.
  std::map<int64_t, uint64_t> last_count;
  std::atomic<int64_t> went_back{0}, commits{0};
  std::thread committer([&] {
    while (!stop.load()) {
      absl::StatusOr<edgesrv::StageWindow> w = gate.Current();
      if (w.ok() && w->poc_start > 0) {
        absl::StatusOr<pocstore::Commitment> c =
            (*store)->Commit(static_cast<uint64_t>(w->poc_start), kModel);
        if (c.ok()) {
          commits++;
          uint64_t& last = last_count[w->poc_start];
          if (c->count < last) went_back++;
          last = std::max(last, c->count);
        }
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  });

  // Faults until the last stage's generation window has closed.
  std::exponential_distribution<double> gap(1.0 / absl::ToDoubleSeconds(o.fault_interval));
  const absl::Time run_deadline =
      absl::Now() + absl::Seconds(20) + absl::Milliseconds(50) * kEpochLength * o.stages;
  absl::Status fault_error;
  for (;;) {
    absl::StatusOr<edgesrv::StageWindow> w = gate.Current();
    if (w.ok() && (w->poc_start > last_stage || (w->poc_start == last_stage && !w->generating))) {
      break;
    }
    if (absl::Now() > run_deadline) {
      fault_error = absl::DeadlineExceededError("the stages did not pass in time");
      break;
    }
    absl::SleepFor(absl::Seconds(std::min(3.0, gap(rng))));
    const int victim = static_cast<int>(rng() % replicas.size());
    testing::DaemonProcess& r = *replicas[victim];
    absl::Status s;
    if (rng() % 2 == 0) {
      result.kills++;
      s = r.Kill();
      if (s.ok()) s = r.Restart();
    } else {
      result.rolls++;
      s = r.Restart();  // SIGTERM: drain, then start again on the same port
    }
    if (!s.ok()) {
      fault_error = absl::InternalError(
          absl::StrCat("restart of replica ", victim, ": ", s.message(), "\n", r.LogTail()));
      break;
    }
  }
  stop = true;
  for (std::thread& t : posters) t.join();
  committer.join();
  if (!fault_error.ok()) return fault_error;
  result.count_went_back = went_back.load();
  result.batches_posted = shared.batches_posted.load();
  result.batches_acked = shared.batches_acked.load();
  result.batches_abandoned = shared.abandoned.load();
  result.non_200 = shared.non_200.load();

  // The outcome, from the store: commit whatever is left, then read every stage's leaves.
  absl::MutexLock lock(&shared.mu);
  for (const auto& stage_and_nonces : shared.posted) {
    // Named, not a structured binding: clang 14 cannot capture a binding in the lambda below.
    const auto& stage = stage_and_nonces.first;
    const auto& posted = stage_and_nonces.second;
    if (stage < first_stage || stage > last_stage) continue;
    result.stages++;
    absl::StatusOr<pocstore::Commitment> c;
    for (int i = 0; i < 10; ++i) {  // commit_max_leaves may take a few rounds
      c = (*store)->Commit(static_cast<uint64_t>(stage), kModel);
      if (!c.ok()) return c.status();
      result.commits++;
      if (c->count < last_count[stage]) result.count_went_back++;
      last_count[stage] = c->count;
    }
    std::set<int32_t> seen;
    int64_t leaves = 0;
    absl::Status scan = (*store)->Scan(static_cast<uint64_t>(stage), kModel, 0,
                                       [&](uint64_t, const pocstore::Artifact& a) {
                                         ++leaves;
                                         if (!seen.insert(a.nonce).second) {
                                           result.duplicate_nonces++;
                                         }
                                         if (posted.count(a.nonce) == 0) result.foreign_nonces++;
                                         return true;
                                       });
    if (!scan.ok()) return scan;
    if (static_cast<uint64_t>(leaves) != c->count) result.count_mismatch++;
    result.stored += leaves;
    for (int32_t nonce : shared.acked[stage]) {
      result.acked_nonces++;
      if (seen.count(nonce) == 0) result.acked_missing++;
    }
  }
  result.commits += commits.load();
  return result;
}

}  // namespace gonka
