#include "tests/chaos/signer_chaos.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/status_macros.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/devchain/rpc.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_server.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/cosmos/tx/v1beta1/tx.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/testing/hosts.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/tcp_relay.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace {

// Test-only key (also used by gonka/signer's chaos test): the devchain genesis funds it.
constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kChainId[] = "signer-chaos";
// The worker's exit code when it cannot start (NATS, Postgres or the consumer unreachable).
constexpr int kWorkerCannotStart = 1;

// Setup steps that must succeed: the experiment reports why it could not run.
#define SIGNER_CHAOS_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                         \
    if (absl::Status _st = (expr); !_st.ok()) {                                                \
      return absl::InternalError(absl::StrCat("signer chaos: ", #expr, ": ", _st.ToString())); \
    }                                                                                          \
  } while (false)

std::string KeyName(int producer, int n) { return absl::StrCat("chaos/p", producer, "/", n); }

// Test hosts of a partition run (SignerChaosOptions::partition_faults).
constexpr int kPgHost = 0;
constexpr int kFirstNatsHost = 1;    // nodes 0..2 on hosts 1..3
constexpr int kFirstSignerHost = 4;  // signer i on host 4 + i

const std::vector<std::string>& PartitionFaultTypes() {
  static const auto* types = new std::vector<std::string>{
      "signer-chain-cut",     "signer-chain-answers-lost", "signer-nats-cut",
      "signer-ledger-cut",    "nats-node-isolated",        "signer-link-down",
      "signer-chain-latency", "signer-chain-cut+kill"};
  return *types;
}

absl::Duration Uniform(std::mt19937_64& rng, absl::Duration lo, absl::Duration hi) {
  if (hi <= lo) return lo;
  std::uniform_real_distribution<double> u(0, 1);
  return lo + (hi - lo) * u(rng);
}

// Sleeps until `at` in short steps, returning early (false) once `abort` is set.
bool SleepUntil(absl::Time at, const std::atomic<bool>& abort) {
  while (!abort.load()) {
    absl::Duration left = at - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(100)));
  }
  return false;
}

// Shared between the producer threads and the chaos loop.
struct ProducerShared {
  std::atomic<bool> abort{false};
  std::atomic<int> done{0};
  std::atomic<int64_t> enqueued{0};
  std::atomic<int64_t> duplicate_enqueues{0};
  std::atomic<int64_t> stored_again{0};
  std::atomic<int64_t> retries{0};
  absl::Mutex mu;
  absl::Status error ABSL_GUARDED_BY(mu);  // first producer failure (stops the experiment)

  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu);
    if (error.ok()) error = std::move(s);
    abort.store(true);
  }
  absl::Status Error() {
    absl::MutexLock lock(&mu);
    return error;
  }
};

// Keys of `producer`: keys_per_producer, or its share of total_keys.
int KeysOf(const SignerChaosOptions& options, int producer) {
  if (options.total_keys <= 0) return options.keys_per_producer;
  return static_cast<int>(options.total_keys / options.producers +
                          (producer < options.total_keys % options.producers ? 1 : 0));
}

// One producer: its own NATS connection; enqueues its plan (every key once, some twice) at the
// planned times, retrying each Enqueue with the same idempotency key until acknowledged.
// With `ledger` (options.producer_outbox) every enqueue is EnqueueRecorded: ledger first.
void RunProducer(int producer, const SignerChaosOptions& options, uint64_t seed,
                 const std::vector<std::string>& nats_urls, const std::string& creator,
                 absl::Time start, signer::Ledger* ledger, ProducerShared* shared) {
  struct Planned {
    absl::Duration at;
    int n;
    bool second;
  };
  std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(producer + 1)));
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Planned> plan;
  const int keys = KeysOf(options, producer);
  const absl::Duration spacing = options.produce_over / std::max(keys, 1);
  // Exactly round(duplicate_fraction * keys) keys are enqueued twice, chosen at random.
  std::vector<int> order(keys);
  for (int n = 0; n < keys; ++n) order[n] = n;
  std::shuffle(order.begin(), order.end(), rng);
  const int twice = static_cast<int>(options.duplicate_fraction * keys + 0.5);
  std::vector<bool> enqueue_twice(keys, false);
  for (int i = 0; i < twice && i < keys; ++i) enqueue_twice[order[i]] = true;
  for (int n = 0; n < keys; ++n) {
    absl::Duration at = spacing * n;
    plan.push_back({at, n, false});
    if (!enqueue_twice[n]) continue;
    if (u(rng) < options.late_duplicate_share) {
      // Much later: somewhere between 20 % of the production time after the first enqueue and
      // the end of production + 20 %.
      absl::Duration lo = at + options.produce_over / 5;
      absl::Duration hi = std::max(lo, options.produce_over * 6 / 5);
      plan.push_back({Uniform(rng, lo, hi), n, true});
    } else {
      plan.push_back({at, n, true});  // right after the first
    }
  }
  std::stable_sort(plan.begin(), plan.end(),
                   [](const Planned& a, const Planned& b) { return a.at < b.at; });

  nats::NatsOptions no;
  no.urls = nats_urls;
  no.timeout = absl::Seconds(2);
  no.name = absl::StrCat("chaos-producer-", producer);
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js = nats::JetStream::Connect(no);
  if (!js.ok()) {
    shared->Fail(js.status());
    shared->done.fetch_add(1);
    return;
  }
  txqueue::QueueOptions qo;
  qo.replicas = options.nats_cluster ? 3 : 1;
  qo.duplicate_window = options.duplicate_window;
  txqueue::TxQueue queue(js->get(), qo);

  // An outage (node kill, whole-cluster restart) lasts seconds; a minute without an ack means
  // NATS is not coming back and the experiment cannot go on.
  const absl::Duration kGiveUp = absl::Seconds(90);
  for (const Planned& p : plan) {
    if (!SleepUntil(start + p.at, shared->abort)) break;
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(creator);
    record.set_key(KeyName(producer, p.n));
    txqueue::ChainTx tx;
    tx.set_idempotency_key(KeyName(producer, p.n));
    tx.set_producer(absl::StrCat("chaos-producer-", producer));
    *tx.add_messages() = cosmos::PackAny(record);
    const absl::Time give_up = absl::Now() + kGiveUp;
    while (!shared->abort.load()) {
      absl::StatusOr<txqueue::EnqueueResult> r =
          ledger != nullptr ? signer::EnqueueRecorded(ledger, &queue, tx) : queue.Enqueue(tx);
      if (r.ok()) {
        shared->enqueued.fetch_add(1);
        if (p.second) {
          shared->duplicate_enqueues.fetch_add(1);
          if (!r->duplicate) shared->stored_again.fetch_add(1);
        }
        break;
      }
      if (absl::IsInvalidArgument(r.status()) || absl::Now() > give_up) {
        shared->Fail(absl::Status(r.status().code(),
                                  absl::StrCat("producer ", producer, " key ", tx.idempotency_key(),
                                               ": ", r.status().message())));
        break;
      }
      shared->retries.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  shared->done.fetch_add(1);
}

// True when the signers' consumer has nothing pending and nothing awaiting an ack (the tx queue
// is drained: no late duplicate is still on its way). The JetStream API answers from the
// consumer's leader; a follower's view can lag long after a node restart.
bool ConsumerDrained(nats::JetStream& js) {
  absl::StatusOr<nats::ConsumerState> c = js.GetConsumerState(txqueue::kStream, txqueue::kDurable);
  return c.ok() && c->num_pending == 0 && c->num_ack_pending == 0;
}

// The signers' consumer's counters, for a report.
std::string ConsumerCounters(nats::JetStream& js) {
  absl::StatusOr<nats::ConsumerState> c = js.GetConsumerState(txqueue::kStream, txqueue::kDurable);
  if (!c.ok()) return c.status().ToString();
  return absl::StrCat("consumer num_pending=", c->num_pending,
                      " num_ack_pending=", c->num_ack_pending,
                      " num_redelivered=", c->num_redelivered);
}

// True when the TxRaw `tx` carries a MsgRecord for `key` (the worker sends them unwrapped).
bool TxRecordsKey(const std::string& tx, const std::string& key) {
  ::cosmos::tx::v1beta1::TxRaw raw;
  ::cosmos::tx::v1beta1::TxBody body;
  if (!raw.ParseFromString(tx) || !body.ParseFromString(raw.body_bytes())) return false;
  for (const google::protobuf::Any& any : body.messages()) {
    gonka::devchain::v1::MsgRecord record;
    if (any.type_url() == "/gonka.devchain.v1.MsgRecord" && record.ParseFromString(any.value()) &&
        record.key() == key) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Duration PartitionFaultStats::Max() const {
  return stalls.empty() ? absl::ZeroDuration() : *std::max_element(stalls.begin(), stalls.end());
}

absl::Duration PartitionFaultStats::Median() const {
  if (stalls.empty()) return absl::ZeroDuration();
  std::vector<absl::Duration> sorted = stalls;
  std::sort(sorted.begin(), sorted.end());
  return sorted[(sorted.size() - 1) / 2];
}

std::string SignerChaosResult::PartitionTable() const {
  std::string out;
  for (const auto& [type, stats] : partitions) {
    absl::StrAppend(&out, "  ", type, ": n=", stats.injected,
                    " stall p50=", absl::FormatDuration(stats.Median()),
                    " max=", absl::FormatDuration(stats.Max()), "\n");
  }
  return out;
}

std::string SignerChaosResult::ToString() const {
  std::string s = absl::StrCat(
      "seed=", seed, " messages=", unique_keys, " enqueued=", enqueued,
      " enqueued_twice=", duplicate_enqueues, " (stored_again=", duplicates_stored_again,
      ") enqueue_retries=", enqueue_retries, " signer_kills=", signer_kills,
      " signer_exits=", signer_exits, " signer_crashes=", signer_crashes,
      " nats_node_kills=", nats_node_kills, " cluster_restarts=", cluster_restarts,
      " broadcast_drops=", broadcast_drops, " partition_faults=", partition_faults,
      " included_once=", included_once, " duplicates=", duplicates_on_chain, " lost=", lost,
      " ledger_disagreements=", ledger_disagreements, " (failed=", ledger_failed,
      ") resigned=", resigned, " reenqueued=", reenqueued,
      " self_check=", self_check_passed ? "passed" : "no", " settled=", settled ? "yes" : "no",
      " chaos=", absl::FormatDuration(absl::Trunc(chaos_time, absl::Milliseconds(100))),
      " settle=", absl::FormatDuration(absl::Trunc(settle_time, absl::Milliseconds(100))),
      " elapsed=", absl::FormatDuration(absl::Trunc(elapsed, absl::Milliseconds(100))));
  if (!first_problem.empty()) absl::StrAppend(&s, " first_problem=\"", first_problem, "\"");
  return s;
}

absl::StatusOr<SignerChaosResult> RunSignerChaos(const SignerChaosOptions& options) {
  if (options.producers < 1 || (options.total_keys <= 0 && options.keys_per_producer < 1) ||
      options.signers < 1 || options.max_batch < 1 ||
      options.kill_interval_max < options.kill_interval_min ||
      options.kill_interval_min <= absl::ZeroDuration() ||
      options.duplicate_window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "signer chaos options: producers, keys_per_producer (or total_keys), signers, max_batch "
        "must be >= 1, "
        "kill_interval_min > 0 and <= kill_interval_max, duplicate_window > 0");
  }
  const absl::Time run_start = absl::Now();
  const uint64_t seed = options.seed != 0 ? options.seed
                                          : (static_cast<uint64_t>(std::random_device()()) << 32) |
                                                std::random_device()();
  int64_t unique_keys = 0;
  for (int p = 0; p < options.producers; ++p) unique_keys += KeysOf(options, p);
  std::printf(
      "signer chaos: seed %llu, %d producers, %lld keys, %d signers (max batch %d), >= %d signer "
      "kills, NATS %s, %d node kills, %d cluster restarts\n",
      static_cast<unsigned long long>(seed), options.producers, static_cast<long long>(unique_keys),
      options.signers, options.max_batch, options.min_signer_kills,
      options.nats_cluster ? "3-node cluster (R3)" : "single server", options.nats_node_kills,
      options.cluster_restarts);
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  SignerChaosResult result;
  result.seed = seed;
  result.unique_keys = unique_keys;

  // Partition runs: PostgreSQL, each NATS node and each signer on its own test host; this thread
  // (devchain, the producers and the checker) joins the test host. Created first: the namespaces
  // outlive every process in them.
  const bool partitions = options.partition_faults > 0;
  std::unique_ptr<testing::Hosts> hosts;
  if (partitions) {
    absl::StatusOr<std::unique_ptr<testing::Hosts>> made =
        testing::Hosts::Create({.hosts = kFirstSignerHost + options.signers});
    SIGNER_CHAOS_RETURN_IF_ERROR(made.status());
    hosts = std::move(*made);
  }

  // Servers.
  testing::PostgresServer pg;
  if (partitions) pg.Place(hosts->placement(kPgHost));
  SIGNER_CHAOS_RETURN_IF_ERROR(pg.Start());
  std::unique_ptr<testing::NatsCluster> cluster;
  std::unique_ptr<testing::NatsServer> single;
  std::vector<testing::NatsServer*> nodes;
  if (options.nats_cluster) {
    testing::NatsCluster::Options cluster_options;
    for (int n = 0; partitions && n < cluster_options.nodes; ++n) {
      cluster_options.placements.push_back(hosts->placement(kFirstNatsHost + n));
    }
    cluster = std::make_unique<testing::NatsCluster>(cluster_options);
    SIGNER_CHAOS_RETURN_IF_ERROR(cluster->Start());
    for (int i = 0; i < cluster->size(); ++i) nodes.push_back(&cluster->node(i));
  } else {
    single = std::make_unique<testing::NatsServer>();
    if (partitions) single->Place(hosts->placement(kFirstNatsHost));
    SIGNER_CHAOS_RETURN_IF_ERROR(single->Start());
    nodes.push_back(single.get());
  }
  std::vector<std::string> nats_urls;
  for (testing::NatsServer* n : nodes) nats_urls.push_back(n->url());

  // Chain, in this process (the checker reads its committed state directly).
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(kMnemonic);
  SIGNER_CHAOS_RETURN_IF_ERROR(key.status());
  devchain::AppOptions app_options;
  app_options.accounts = {{"", kMnemonic, {{"ngonka", "1000000000"}}}};
  absl::StatusOr<std::unique_ptr<devchain::CosmosApp>> app =
      devchain::CosmosApp::Create(app_options);
  SIGNER_CHAOS_RETURN_IF_ERROR(app.status());
  devchain::ChainOptions chain_options;
  chain_options.chain_id = kChainId;
  chain_options.block_interval = options.block_interval;
  devchain::Chain chain(chain_options, app->get());
  chain.ProduceBlock();
  net::HttpServerOptions http_options;
  if (partitions) http_options.bind_address = hosts->ip(hosts->test_host());
  net::HttpServer http(http_options);
  devchain::RpcService rpc(&chain, &http, devchain::RpcOptions());
  SIGNER_CHAOS_RETURN_IF_ERROR(http.Start());
  chain.Start();
  absl::Cleanup stop_chain = [&] {
    chain.Stop();
    http.Stop(absl::Now());
  };
  absl::StatusOr<std::pair<uint64_t, uint64_t>> account = (*app)->Account(key->address());
  SIGNER_CHAOS_RETURN_IF_ERROR(account.status());
  // Partition runs: each signer reaches devchain through a relay on its own host (the latency
  // fault's knob); a cut between the signer's host and the test host cuts the relay's upstream.
  std::vector<std::unique_ptr<testing::TcpRelay>> chain_relays(options.signers);
  for (int i = 0; partitions && i < options.signers; ++i) {
    absl::StatusOr<std::unique_ptr<testing::TcpRelay>> relay =
        testing::TcpRelay::Start({.listen_ip = hosts->ip(kFirstSignerHost + i),
                                  .target_ip = hosts->ip(hosts->test_host()),
                                  .target_port = http.port(),
                                  .network_namespace = hosts->netns(kFirstSignerHost + i)});
    SIGNER_CHAOS_RETURN_IF_ERROR(relay.status());
    chain_relays[i] = std::move(*relay);
  }

  // The queue (R3 stream) and the ledger, created before any signer binds.
  nats::NatsOptions no;
  no.urls = nats_urls;
  no.timeout = absl::Seconds(2);
  no.name = "chaos-checker";
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js = nats::JetStream::Connect(no);
  SIGNER_CHAOS_RETURN_IF_ERROR(js.status());
  txqueue::QueueOptions qo;
  qo.replicas = options.nats_cluster ? 3 : 1;
  qo.duplicate_window = options.duplicate_window;
  txqueue::TxQueue queue(js->get(), qo);
  absl::StatusOr<nats::StreamInfo> stream = queue.EnsureStream();
  SIGNER_CHAOS_RETURN_IF_ERROR(stream.status());
  if (stream->config.replicas != qo.replicas) {
    return absl::InternalError(absl::StrCat("signer chaos: stream ", txqueue::kStream, " has ",
                                            stream->config.replicas, " replicas, wanted ",
                                            qo.replicas));
  }
  {
    // The shared durable, created once here with the workers' settings: three workers creating
    // an R3 consumer at the same moment mostly time out and exit (then restart) instead.
    txqueue::ConsumerOptions co;
    co.ack_wait = options.ack_wait;
    absl::StatusOr<std::unique_ptr<txqueue::TxConsumer>> consumer =
        txqueue::TxConsumer::Bind(js->get(), co);
    SIGNER_CHAOS_RETURN_IF_ERROR(consumer.status());
  }
  pg::PgOptions po;
  po.conninfo = pg.url();
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open(po);
  SIGNER_CHAOS_RETURN_IF_ERROR(pool.status());
  absl::StatusOr<std::unique_ptr<signer::Ledger>> ledger = signer::Ledger::Open(pool->get());
  SIGNER_CHAOS_RETURN_IF_ERROR(ledger.status());

  // Signers. Each worker gets every URL, a running node's first (nats.c tries them in order and
  // learns the cluster's members from the server).
  absl::StatusOr<std::string> worker_path = testing::ResolveRunfile("gonka/testing/signer_worker");
  SIGNER_CHAOS_RETURN_IF_ERROR(worker_path.status());
  testing::TempDir logs("signer-chaos");
  std::vector<std::unique_ptr<testing::Subprocess>> signers(options.signers);
  std::vector<absl::Time> started_at(options.signers, absl::InfinitePast());
  auto start_signer = [&](int i) -> absl::Status {
    std::vector<std::string> up;
    for (testing::NatsServer* n : nodes) {
      if (n->IsRunning()) up.push_back(n->url());
    }
    if (up.empty()) up = nats_urls;
    testing::SubprocessOptions so;
    so.argv = {*worker_path};
    std::rotate(up.begin(), up.begin() + static_cast<long>(rng() % up.size()), up.end());
    for (const std::string& url : nats_urls) {
      if (std::find(up.begin(), up.end(), url) == up.end()) up.push_back(url);
    }
    so.env = {{"SIGNER_NATS_URL", absl::StrJoin(up, ",")},
              {"SIGNER_TX_TTL_MS", absl::StrCat(absl::ToInt64Milliseconds(options.tx_ttl))},
              {"SIGNER_PG_URL", pg.url()},
              {"SIGNER_RPC_URL", partitions ? absl::StrCat("http://", chain_relays[i]->address())
                                            : absl::StrCat("http://127.0.0.1:", http.port())},
              {"SIGNER_CHAIN_ID", kChainId},
              {"SIGNER_ACCOUNT_NUMBER", absl::StrCat(account->first)},
              {"SIGNER_MNEMONIC", kMnemonic},
              {"SIGNER_ACK_WAIT_MS", absl::StrCat(absl::ToInt64Milliseconds(options.ack_wait))},
              {"SIGNER_MAX_BATCH", absl::StrCat(options.max_batch)},
              {"SIGNER_REENQUEUE_AFTER_MS",
               absl::StrCat(absl::ToInt64Milliseconds(options.reenqueue_after))}};
    so.log_path = absl::StrCat(logs.path(), "/signer-", i, ".log");
    if (partitions) so.network_namespace = hosts->netns(kFirstSignerHost + i);
    if (signers[i] != nullptr) RETURN_IF_ERROR(signers[i]->Kill());
    signers[i] = std::make_unique<testing::Subprocess>(so);
    started_at[i] = absl::Now();
    return signers[i]->Start();
  };
  for (int i = 0; i < options.signers; ++i) SIGNER_CHAOS_RETURN_IF_ERROR(start_signer(i));
  // Workers that exited by themselves (NATS or the consumer unreachable while starting) come
  // back; any other exit is a crash and is counted.
  auto revive_exited = [&]() -> absl::Status {
    for (int i = 0; i < options.signers; ++i) {
      absl::StatusOr<int> code = signers[i]->Wait(absl::ZeroDuration());
      if (!code.ok()) continue;  // running
      if (absl::Now() - started_at[i] < absl::Milliseconds(300)) continue;
      ++result.signer_exits;
      if (*code != kWorkerCannotStart) {
        ++result.signer_crashes;
        if (result.first_problem.empty()) {
          result.first_problem = absl::StrCat("signer ", i, " exited with status ", *code, ": ",
                                              signers[i]->LogTail(600));
        }
      }
      if (options.verbose) std::printf("  signer %d exited (%d), restarting\n", i, *code);
      RETURN_IF_ERROR(start_signer(i));
    }
    return absl::OkStatus();
  };

  // Producers.
  ProducerShared shared;
  const absl::Time chaos_start = absl::Now();
  std::vector<std::thread> producers;
  absl::Cleanup join_producers = [&] {
    shared.abort.store(true);
    for (std::thread& t : producers) t.join();
  };
  const std::string creator = key->address();
  for (int p = 0; p < options.producers; ++p) {
    producers.emplace_back(RunProducer, p, std::cref(options), seed, std::cref(nats_urls),
                           std::cref(creator), chaos_start,
                           options.producer_outbox ? ledger->get() : nullptr, &shared);
  }

  // The chaos plan. Faults are spread over the longer of the production time and the time the
  // signer kills need, so that they hit while work is in flight.
  const absl::Duration span =
      std::max(options.produce_over, (options.kill_interval_min + options.kill_interval_max) / 2 *
                                         std::max(options.min_signer_kills, 1));
  struct NatsFault {
    absl::Time at;
    bool whole_cluster;
  };
  // With a single server a "node" kill and a "whole cluster" restart both hit that server.
  std::vector<NatsFault> nats_faults;
  for (int k = 0; k < options.nats_node_kills; ++k) {
    nats_faults.push_back({chaos_start + Uniform(rng, span / 10, span * 8 / 10), false});
  }
  for (int k = 0; k < options.cluster_restarts; ++k) {
    nats_faults.push_back({chaos_start + Uniform(rng, span / 4, span * 3 / 4), true});
  }
  std::sort(nats_faults.begin(), nats_faults.end(),
            [](const NatsFault& a, const NatsFault& b) { return a.at < b.at; });
  std::vector<absl::Time> drops;
  for (int k = 0; k < options.broadcast_drops; ++k) {
    drops.push_back(chaos_start + Uniform(rng, span / 10, span * 8 / 10));
  }
  std::sort(drops.begin(), drops.end());
  // Partition faults: types in seeded shuffled rounds, start times spread over the span, one at
  // a time (a fault due while another is on waits for it).
  std::vector<std::string> partition_plan;
  while (static_cast<int>(partition_plan.size()) < options.partition_faults) {
    std::vector<std::string> round = PartitionFaultTypes();
    std::shuffle(round.begin(), round.end(), rng);
    for (const std::string& t : round) {
      if (static_cast<int>(partition_plan.size()) < options.partition_faults) {
        partition_plan.push_back(t);
      }
    }
  }
  // Evenly spaced (plus up to 1 s) while the producers still produce, so that each stall is
  // measured against a steady flow of new work.
  std::vector<absl::Time> partition_at;
  const absl::Duration partition_window =
      std::max(span / 10, options.produce_over - options.partition_length - absl::Seconds(4)) -
      span / 10;
  for (int k = 0; k < options.partition_faults; ++k) {
    partition_at.push_back(chaos_start + span / 10 +
                           partition_window * k / options.partition_faults +
                           Uniform(rng, absl::ZeroDuration(), absl::Seconds(1)));
  }
  size_t next_partition = 0;
  struct ActivePartition {
    std::string type;
    int victim = 0;
    absl::Time start, heal_at;
    bool healed = false;
  };
  std::optional<ActivePartition> active;
  // Times at which the number of keys on chain grew (partition runs), for the stall per fault.
  std::vector<std::string> all_keys;
  for (int p = 0; partitions && p < options.producers; ++p) {
    for (int n = 0; n < KeysOf(options, p); ++n) all_keys.push_back(KeyName(p, n));
  }
  size_t first_unseen = 0;  // keys land roughly in order: count from the first not yet seen
  std::vector<bool> seen(all_keys.size(), false);
  int64_t on_chain_count = 0;
  std::vector<absl::Time> growth;
  size_t next_drop = 0;
  absl::Time dropping_until = absl::InfinitePast();
  bool dropping = false;
  size_t next_nats_fault = 0;
  int down_node = -1;  // a killed node waiting for its restart
  absl::Time down_until = absl::InfinitePast();
  absl::Time next_kill =
      chaos_start + Uniform(rng, options.kill_interval_min, options.kill_interval_max);
  const absl::Time chaos_deadline =
      chaos_start + span * 2 + options.produce_over + absl::Minutes(3);
  auto note = [&](const std::string& what) {
    if (!options.verbose) return;
    std::printf("  [%6.1fs] %s\n", absl::ToDoubleSeconds(absl::Now() - chaos_start), what.c_str());
    std::fflush(stdout);
  };

  while (true) {
    SIGNER_CHAOS_RETURN_IF_ERROR(shared.Error());
    const absl::Time now = absl::Now();
    const bool produced = shared.done.load() == options.producers;
    if (produced && result.signer_kills >= options.min_signer_kills &&
        next_nats_fault == nats_faults.size() && down_node < 0 && next_drop == drops.size() &&
        !dropping && next_partition == partition_at.size() && !active.has_value()) {
      break;
    }
    if (now > chaos_deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("signer chaos: the chaos loop did not finish by its deadline (produced ",
                       produced, ", signer kills ", result.signer_kills, ", NATS faults done ",
                       next_nats_fault, "/", nats_faults.size(), ")"));
    }
    SIGNER_CHAOS_RETURN_IF_ERROR(revive_exited());

    if (partitions) {
      int64_t count = on_chain_count;
      for (size_t k = first_unseen; k < all_keys.size(); ++k) {
        if (!seen[k] && (*app)->RecordCount(all_keys[k]) > 0) {
          seen[k] = true;
          ++count;
        }
      }
      while (first_unseen < seen.size() && seen[first_unseen]) ++first_unseen;
      if (count > on_chain_count) growth.push_back(now);
      on_chain_count = count;
      if (active.has_value() && !active->healed && now >= active->heal_at) {
        SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Heal());
        if (active->type == "signer-link-down") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->LinkUp(kFirstSignerHost + active->victim));
        }
        for (auto& relay : chain_relays) relay->SetDelay(absl::ZeroDuration());
        active->healed = true;
        note(absl::StrCat("partition healed (", active->type, ")"));
      }
      if (active.has_value() && active->healed && now >= active->heal_at + absl::Seconds(3)) {
        // The longest time without a new inclusion in [start, heal + 3 s].
        absl::Time previous = active->start;
        absl::Duration stall;
        for (absl::Time t : growth) {
          if (t <= active->start) continue;
          if (t > now) break;
          stall = std::max(stall, t - previous);
          previous = t;
        }
        stall = std::max(stall, now - previous);
        PartitionFaultStats& stats = result.partitions[active->type];
        ++stats.injected;
        stats.stalls.push_back(stall);
        ++result.partition_faults;
        active.reset();
      }
      if (!active.has_value() && next_partition < partition_at.size() &&
          now >= partition_at[next_partition]) {
        ActivePartition fault;
        fault.type = partition_plan[next_partition];
        fault.victim = static_cast<int>(rng() % options.signers);
        fault.start = now;
        fault.heal_at = now + options.partition_length;
        const int signer_host = kFirstSignerHost + fault.victim;
        const int test_host = hosts->test_host();
        std::vector<int> nats_hosts;
        for (size_t n = 0; n < nodes.size(); ++n) {
          nats_hosts.push_back(kFirstNatsHost + static_cast<int>(n));
        }
        std::string detail = absl::StrCat(" signer ", fault.victim);
        if (fault.type == "signer-chain-cut") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({signer_host}, {test_host}));
        } else if (fault.type == "signer-chain-answers-lost") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({test_host}, {signer_host}, true));
        } else if (fault.type == "signer-nats-cut") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({signer_host}, nats_hosts));
        } else if (fault.type == "signer-ledger-cut") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({signer_host}, {kPgHost}));
        } else if (fault.type == "nats-node-isolated") {
          const int lonely = static_cast<int>(rng() % nats_hosts.size());
          std::vector<int> peers;
          for (int h : nats_hosts) {
            if (h != nats_hosts[lonely]) peers.push_back(h);
          }
          detail = absl::StrCat(" node ", lonely);
          if (peers.empty()) {  // one server: its signers lose it instead
            for (int i = 0; i < options.signers; ++i) peers.push_back(kFirstSignerHost + i);
          }
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({nats_hosts[lonely]}, peers));
        } else if (fault.type == "signer-link-down") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->LinkDown(signer_host));
        } else if (fault.type == "signer-chain-latency") {
          chain_relays[fault.victim]->SetDelay(absl::Milliseconds(1500));
        } else if (fault.type == "signer-chain-cut+kill") {
          SIGNER_CHAOS_RETURN_IF_ERROR(hosts->Partition({signer_host}, {test_host}));
          absl::SleepFor(Uniform(rng, absl::Milliseconds(100), absl::Seconds(1)));
          SIGNER_CHAOS_RETURN_IF_ERROR(signers[fault.victim]->Kill());
          ++result.signer_kills;
          SIGNER_CHAOS_RETURN_IF_ERROR(start_signer(fault.victim));
        }
        note(absl::StrCat("partition: ", fault.type, detail, " (", hosts->Describe(), ")"));
        active = fault;
        ++next_partition;
      }
    }

    if (dropping && now >= dropping_until) {
      chain.SetDropBroadcasts(false);
      dropping = false;
      ++result.broadcast_drops;
      note("devchain: broadcasts reach the mempool again");
    }
    if (!dropping && next_drop < drops.size() && now >= drops[next_drop]) {
      note("devchain: broadcasts are answered but dropped");
      chain.SetDropBroadcasts(true);
      dropping = true;
      dropping_until = now + options.broadcast_drop_length;
      ++next_drop;
    }
    if (down_node >= 0 && now >= down_until) {
      note(absl::StrCat("NATS node ", down_node, " restarts"));
      SIGNER_CHAOS_RETURN_IF_ERROR(nodes[down_node]->Restart());
      down_node = -1;
    }
    if (next_nats_fault < nats_faults.size() && now >= nats_faults[next_nats_fault].at) {
      // A node kill runs its full course before the whole cluster goes down.
      if (nats_faults[next_nats_fault].whole_cluster && down_node < 0) {
        if (options.cluster_kill9) {
          note("NATS cluster: kill -9 every node");
          if (cluster != nullptr) {
            SIGNER_CHAOS_RETURN_IF_ERROR(cluster->KillAll());
          } else {
            SIGNER_CHAOS_RETURN_IF_ERROR(single->Kill());
          }
          absl::SleepFor(Uniform(rng, absl::Milliseconds(500), absl::Seconds(2)));
        } else {
          note("NATS cluster: every node stops (SIGTERM) and restarts");
        }
        if (cluster != nullptr) {
          SIGNER_CHAOS_RETURN_IF_ERROR(cluster->RestartAll());
        } else {
          SIGNER_CHAOS_RETURN_IF_ERROR(single->Restart());
        }
        note("NATS cluster: back");
        ++result.cluster_restarts;
        ++next_nats_fault;
      } else if (!nats_faults[next_nats_fault].whole_cluster && down_node < 0) {
        // One node at a time: two down would lose the quorum.
        down_node = static_cast<int>(rng() % nodes.size());
        note(absl::StrCat("NATS node ", down_node, ": kill -9"));
        SIGNER_CHAOS_RETURN_IF_ERROR(nodes[down_node]->Kill());
        down_until = absl::Now() + Uniform(rng, options.node_down_min, options.node_down_max);
        ++result.nats_node_kills;
        ++next_nats_fault;
      }
    }
    if (absl::Now() >= next_kill && (result.signer_kills < options.min_signer_kills || !produced)) {
      int victim = static_cast<int>(rng() % options.signers);
      note(absl::StrCat("signer ", victim, ": kill -9"));
      SIGNER_CHAOS_RETURN_IF_ERROR(signers[victim]->Kill());
      ++result.signer_kills;
      SIGNER_CHAOS_RETURN_IF_ERROR(start_signer(victim));
      next_kill = absl::Now() + Uniform(rng, options.kill_interval_min, options.kill_interval_max);
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::move(join_producers).Invoke();
  SIGNER_CHAOS_RETURN_IF_ERROR(shared.Error());
  result.chaos_time = absl::Now() - chaos_start;
  result.enqueued = shared.enqueued.load();
  result.duplicate_enqueues = shared.duplicate_enqueues.load();
  result.duplicates_stored_again = shared.stored_again.load();
  result.enqueue_retries = shared.retries.load();
  note("chaos over; waiting for every key to settle");

  // Settle: every key on chain, every ledger entry included, the consumer drained.
  std::vector<std::string> keys;
  keys.reserve(unique_keys);
  for (int p = 0; p < options.producers; ++p) {
    for (int n = 0; n < KeysOf(options, p); ++n) keys.push_back(KeyName(p, n));
  }
  auto problem = [&](const std::string& what) {
    if (result.first_problem.empty()) result.first_problem = what;
  };
  const absl::Time settle_start = absl::Now();
  std::vector<std::string> not_on_chain = keys;
  std::vector<std::string> not_in_ledger = keys;
  absl::Status revived;  // a worker that cannot be restarted ends the wait and the experiment
  const absl::Status settled = testing::WaitFor(
      [&] {
        if (revived = revive_exited(); !revived.ok()) return true;
        not_on_chain.erase(
            std::remove_if(not_on_chain.begin(), not_on_chain.end(),
                           [&](const std::string& k) { return (*app)->RecordCount(k) > 0; }),
            not_on_chain.end());
        if (not_on_chain.empty()) {
          not_in_ledger.erase(
              std::remove_if(not_in_ledger.begin(), not_in_ledger.end(),
                             [&](const std::string& k) {
                               absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(k);
                               return e.ok() && (e->state == signer::TxState::kIncluded ||
                                                 e->state == signer::TxState::kFailed);
                             }),
              not_in_ledger.end());
        }
        return not_on_chain.empty() && not_in_ledger.empty() && ConsumerDrained(**js);
      },
      options.settle_timeout, absl::Milliseconds(200),
      "every key on chain and settled in the ledger, and the signers' consumer drained");
  SIGNER_CHAOS_RETURN_IF_ERROR(revived);
  result.settled = settled.ok();
  if (!settled.ok()) {
    std::printf("signer chaos: %s\n", ConsumerCounters(**js).c_str());
    std::printf("signer chaos: %s: %zu keys not on chain, %s\n",
                std::string(settled.message()).c_str(), not_on_chain.size(),
                !not_on_chain.empty()
                    ? "ledger not checked yet"
                    : absl::StrCat(not_in_ledger.size(), " not included in the ledger",
                                   not_in_ledger.empty() ? ", consumer not drained" : "")
                          .c_str());
    if (!not_on_chain.empty()) {
      // What the ledger knows of it says where it is stuck.
      absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(not_on_chain.front());
      problem(absl::StrCat(
          not_on_chain.front(), ": not on chain; ledger: ",
          e.ok() ? absl::StrCat("state ", signer::TxStateName(e->state), " tx ", e->tx_hash,
                                " attempts ", e->attempts, " last error \"", e->last_error, "\"")
                 : e.status().ToString()));
    }
    if (!not_in_ledger.empty() && not_on_chain.empty()) {
      absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(not_in_ledger.front());
      problem(absl::StrCat(
          not_in_ledger.front(), ": not included in the ledger; ledger: ",
          e.ok() ? absl::StrCat("state ", signer::TxStateName(e->state), " tx ", e->tx_hash,
                                " attempts ", e->attempts, " last error \"", e->last_error, "\"")
                 : e.status().ToString()));
    }
    if (not_on_chain.empty() && not_in_ledger.empty()) {
      problem(absl::StrCat(settled.message(), "; ", ConsumerCounters(**js)));
    }
  }
  result.settle_time = absl::Now() - settle_start;

  // Quiet period: the signers keep running; a second effect would show up now. At least
  // 2 x ack_wait (2 s) and 5 more blocks; a chain that stops producing blocks fails the run.
  {
    const int64_t height = chain.height();
    const absl::Time quiet_until = absl::Now() + std::max(options.ack_wait * 2, absl::Seconds(2));
    absl::Status revived_quiet;
    SIGNER_CHAOS_RETURN_IF_ERROR(testing::WaitFor(
        [&] {
          if (revived_quiet = revive_exited(); !revived_quiet.ok()) return true;
          return absl::Now() >= quiet_until && chain.height() >= height + 5;
        },
        quiet_until + absl::Seconds(30), absl::Milliseconds(100),
        absl::StrCat("the quiet period and devchain height ", height + 5)));
    SIGNER_CHAOS_RETURN_IF_ERROR(revived_quiet);
  }

  // The checker.
  if (absl::StatusOr<pg::Result> r =
          (*pool)->Exec("SELECT coalesce(sum(reenqueues), 0) FROM signer_ledger");
      r.ok() && r->rows() == 1) {
    (void)absl::SimpleAtoi(r->Get(0, 0).value_or("0"), &result.reenqueued);
  }
  for (const std::string& k : keys) {
    const uint64_t on_chain = (*app)->RecordCount(k);
    if (on_chain == 0) {
      ++result.lost;
      problem(absl::StrCat(k, ": not on chain"));
    } else if (on_chain == 1) {
      ++result.included_once;
    } else {
      ++result.duplicates_on_chain;
      problem(absl::StrCat(k, ": on chain ", on_chain, " times"));
    }
    absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(k);
    if (!e.ok()) {
      ++result.ledger_disagreements;
      problem(absl::StrCat(k, ": ledger: ", e.status().ToString()));
      continue;
    }
    if (e->attempts > 1) ++result.resigned;
    if (e->state != signer::TxState::kIncluded) {
      ++result.ledger_disagreements;
      if (e->state == signer::TxState::kFailed) ++result.ledger_failed;
      problem(absl::StrCat(k, ": ledger state ", signer::TxStateName(e->state),
                           ", last error: ", e->last_error));
      continue;
    }
    std::string raw_hash;
    absl::StatusOr<devchain::TxLocation> where = absl::NotFoundError("empty tx hash");
    if (!e->tx_hash.empty() && crypto::HexDecode(e->tx_hash, "ledger tx_hash", &raw_hash).ok()) {
      where = chain.GetTx(raw_hash);
    }
    if (!where.ok()) {
      ++result.ledger_disagreements;
      problem(absl::StrCat(k, ": ledger says included in ", e->tx_hash,
                           " but devchain: ", where.status().ToString()));
    } else if (where->block->height != e->height ||
               where->block->tx_results.at(where->index).code != 0) {
      ++result.ledger_disagreements;
      problem(absl::StrCat(k, ": ledger says included in ", e->tx_hash, " at height ", e->height,
                           "; devchain has it at height ", where->block->height, " with code ",
                           where->block->tx_results.at(where->index).code));
    } else if (!TxRecordsKey(where->block->txs.at(where->index), k)) {
      ++result.ledger_disagreements;
      problem(absl::StrCat(k, ": ledger says included in ", e->tx_hash,
                           " but that tx carries no MsgRecord for the key"));
    }
  }
  if (options.self_check) {
    // Not counted above: proves the chain would have shown a second effect of a key.
    const std::string& victim = keys[rng() % keys.size()];
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(creator);
    record.set_key(victim);
    cosmos::TxBuilder builder;
    builder.AddMessage(record)
        .SetFee({{}, 400000, "", ""})
        .SetUnordered(absl::Now() + absl::Seconds(30) +
                      absl::Nanoseconds(static_cast<int64_t>(rng() % 1000000)))
        .SetChainId(kChainId)
        .SetAccountNumber(account->first);
    absl::StatusOr<cosmos::SignedTx> extra = builder.Sign(*key);
    SIGNER_CHAOS_RETURN_IF_ERROR(extra.status());
    devchain::BroadcastResult sent = chain.Broadcast(extra->tx_raw);
    if (sent.result.code == 0 && sent.rpc_error.empty() &&
        chain.WaitForTx(sent.hash, absl::Seconds(10)).ok()) {
      result.self_check_passed = (*app)->RecordCount(victim) == 2;
    }
    if (!result.self_check_passed) {
      problem(absl::StrCat(
          "self check: a second MsgRecord for ", victim, " sent directly was ",
          sent.result.code != 0 || !sent.rpc_error.empty()
              ? absl::StrCat("refused: code ", sent.result.code, " ", sent.result.log,
                             sent.rpc_error)
              : absl::StrCat("not counted (", (*app)->RecordCount(victim), " records)")));
    }
  }
  result.elapsed = absl::Now() - run_start;
  std::printf("signer chaos: %s\n", result.ToString().c_str());
  std::fflush(stdout);
  for (auto& s : signers) s->Kill().IgnoreError();
  return result;
}

}  // namespace gonka
