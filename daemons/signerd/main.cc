// signerd: the only process that reads the warm key. N replicas share the durable tx queue; each
// queued ChainTx lands on chain exactly once (gonka/signer, unordered mode by default; sequenced
// mode with a per-key lease on Redis for chains without unordered txs). Producers enqueue
// through gonka/txqueue directly, or over HTTP: POST /v1/txs with a ChainTx as JSON.
// See docs/txqueue.md.
//
//   signerd --chain-id=gonka-mainnet --key-file=/run/secrets/warm.key
//           --chain-rpc-url=http://node:26657 --nats-url=nats://nats:4222
//           --pg-url=postgresql://signer@pg/signer --exec-granter=gonka1cold...
//           [--mode=sequenced --lease-redis=redis:6379 --timeout-blocks=30]
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <unistd.h>
#include <atomic>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/backoff.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/drain/daemon.h"
#include "gonka/election/redis_elector.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/signer/sequencer.h"
#include "gonka/signer/signer.h"
#include "gonka/txqueue/txqueue.h"

namespace {

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;

// host:port -> RedisOptions; InvalidArgument naming the flag.
absl::StatusOr<gonka::redis::RedisOptions> ParseLeaseRedis(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, ':');
  gonka::redis::RedisOptions o;
  if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &o.port) ||
      o.port <= 0 || o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lease-redis: want host:port, got \"", value, "\""));
  }
  o.host = parts[0];
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "signerd", .default_port = 8081});
  gonka::Config& config = daemon.config();
  std::string chain_id, rpc_url, nats_urls, pg_url, key_file, exec_granter, fee_granter;
  std::string mode, lease_redis;
  int64_t timeout_blocks = 30;
  int workers = 2, batch = 1;
  int64_t gas_limit = 1'000'000'000;
  double gas_adjustment = 0;
  absl::Duration tx_ttl, retry_delay;
  config.AddString("chain-id", &chain_id, "", "the chain's id").Required();
  config
      .AddString("key-file", &key_file, "",
                 "warm key: 64 hex characters or a mnemonic; mode 0600 or stricter")
      .Required();
  config.AddString("chain-rpc-url", &rpc_url, "http://127.0.0.1:26657", "CometBFT RPC URL");
  config.AddString("nats-url", &nats_urls, "nats://127.0.0.1:4222", "NATS URLs, comma-separated");
  config.AddString("pg-url", &pg_url, "", "ledger database URL (empty: libpq's PG* variables)")
      .Env("GONKA_PG_URL");
  config.AddString("exec-granter", &exec_granter, "",
                   "wrap messages in authz MsgExec on behalf of this (cold) account");
  config.AddString("fee-granter", &fee_granter, "", "x/feegrant granter paying the fees");
  config.AddInt("gas-limit", &gas_limit, 1'000'000'000, "gas limit (cap with --gas-adjustment)")
      .Range(1, int64_t{1} << 62);
  config.AddDouble("gas-adjustment", &gas_adjustment, 0,
                   "> 0: gas = simulated gas x this (0 = always --gas-limit)");
  config
      .AddDuration("tx-ttl", &tx_ttl, absl::Seconds(60), "unordered tx timeout (chain maximum 10m)")
      .Positive();
  config.AddDuration("retry-delay", &retry_delay, absl::Seconds(7), "redelivery delay").Positive();
  config.AddInt("workers", &workers, 2, "signing loops (each its own consumer)").Range(1, 64);
  config.AddInt("batch", &batch, 1, "queued messages per tx (1 = no batching)").Range(1, 1000);
  absl::Duration observe_interval;
  config
      .AddDuration("observe-interval", &observe_interval, absl::Milliseconds(200),
                   "how often a broadcast tx is looked up until it is included")
      .Positive();
  int64_t max_ack_pending = 1000;
  config
      .AddInt("max-ack-pending", &max_ack_pending, 1000,
              "queued messages handed out and not yet acked, across all signers sharing the "
              "queue (keep >= replicas x workers x batch)")
      .Range(1, 1'000'000);
  config
      .AddString("mode", &mode, "unordered",
                 "unordered (Cosmos SDK 0.53 unordered txs) or sequenced (account sequence + "
                 "timeout height, one lease holder per key)")
      .OneOf({"unordered", "sequenced"});
  config.AddString("lease-redis", &lease_redis, "",
                   "sequenced mode: host:port of the Redis holding the per-key lease (required)");
  config
      .AddInt("timeout-blocks", &timeout_blocks, 30,
              "sequenced mode: tx timeout_height = latest height + this")
      .Range(1, 100000);
  absl::Duration reenqueue_after;
  config
      .AddDuration("reenqueue-after", &reenqueue_after, absl::Minutes(2),
                   "put a request back into the queue from the ledger when its ledger row has "
                   "not changed for this long (the queue lost it); 0 = off, else at least 45s")
      .NonNegative();
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  // Below ack_wait (30 s) + observe budget (15 s) a request a signer is still working on would
  // be copied needlessly.
  if (reenqueue_after > absl::ZeroDuration() && reenqueue_after < absl::Seconds(45)) {
    std::fprintf(stderr,
                 "signerd: config: --reenqueue-after: want 0 (off) or at least 45s, got %s\n",
                 absl::FormatDuration(reenqueue_after).c_str());
    return gonka::Daemon::kExitConfig;
  }
  const bool sequenced = mode == "sequenced";
  gonka::redis::RedisOptions lease_options;
  if (sequenced) {
    if (lease_redis.empty()) {
      std::fprintf(stderr, "signerd: config: --lease-redis is required with --mode=sequenced\n");
      return gonka::Daemon::kExitConfig;
    }
    absl::StatusOr<gonka::redis::RedisOptions> o = ParseLeaseRedis(lease_redis);
    if (!o.ok()) {
      std::fprintf(stderr, "signerd: config: %s\n", std::string(o.status().message()).c_str());
      return gonka::Daemon::kExitConfig;
    }
    lease_options = *o;
  }
  // Registers devchain's test message so development producers can enqueue it as JSON.
  (void)gonka::devchain::v1::MsgRecord::descriptor();

  // The key: refused if the file is readable by others; never logged.
  absl::StatusOr<gonka::crypto::SigningKey> key = gonka::crypto::LoadKeyFile(key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "signerd: config: --key-file: %s\n",
                 std::string(key.status().message()).c_str());
    return gonka::Daemon::kExitConfig;
  }
  GLOG_INFO("signing key loaded", {"address", key->address()});

  gonka::chain::CometClient comet({.rpc_url = rpc_url});
  absl::StatusOr<gonka::signer::AccountInfo> account =
      gonka::signer::QueryAccount(comet, key->address());
  if (!account.ok()) return daemon.Fail(account.status());
  gonka::nats::NatsOptions nats_options;
  nats_options.urls = absl::StrSplit(nats_urls, ',', absl::SkipEmpty());
  nats_options.name = "signerd";
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect(nats_options);
  if (!js.ok()) return daemon.Fail(js.status());
  gonka::txqueue::TxQueue queue(js->get());
  if (absl::StatusOr<gonka::nats::StreamInfo> s = queue.EnsureStream(); !s.ok()) {
    return daemon.Fail(s.status());
  }
  gonka::pg::PgOptions pg_options;
  pg_options.conninfo = pg_url;
  pg_options.max_connections = workers + 2;
  absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> pool = gonka::pg::Pool::Open(pg_options);
  if (!pool.ok()) return daemon.Fail(pool.status());
  absl::StatusOr<std::unique_ptr<gonka::signer::Ledger>> ledger =
      gonka::signer::Ledger::Open(pool->get());
  if (!ledger.ok()) return daemon.Fail(ledger.status());

  gonka::signer::SignerOptions signer_options;
  signer_options.chain_id = chain_id;
  signer_options.account_number = account->account_number;
  signer_options.exec_granter = exec_granter;
  signer_options.fee_granter = fee_granter;
  signer_options.gas_limit = static_cast<uint64_t>(gas_limit);
  signer_options.gas_adjustment = gas_adjustment;
  signer_options.tx_ttl = tx_ttl;
  signer_options.retry_delay = retry_delay;
  signer_options.max_batch_messages = batch;
  signer_options.observe_interval = observe_interval;

  // Sequenced mode: one owner of the key's sequence among the replicas, through a lease named
  // after the key's address. Only the holder fetches and signs.
  std::unique_ptr<gonka::election::LeaderElector> lease;
  std::unique_ptr<gonka::signer::Sequencer> sequencer;
  if (sequenced) {
    gonka::election::LeaderElectorOptions lease_elector;
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    lease_elector.identity = absl::StrCat("signerd@", host, "/", getpid());
    lease_elector.on_elected = [address = key->address()](gonka::election::FencingToken token) {
      GLOG_INFO("sequence lease gained", {"account", address}, {"fencing_token", token});
    };
    lease_elector.on_revoked = [address = key->address()](absl::string_view why) {
      GLOG_WARN("sequence lease lost", {"account", address}, {"reason", std::string(why)});
    };
    absl::StatusOr<std::unique_ptr<gonka::election::LeaderElector>> elector =
        gonka::election::NewRedisLeaderElector(lease_options, "signer:" + key->address(),
                                               lease_elector);
    if (!elector.ok()) return daemon.Fail(elector.status());
    lease = std::move(*elector);
    sequencer = std::make_unique<gonka::signer::Sequencer>(lease.get(), ledger->get(), &comet,
                                                           key->address());
    signer_options.mode = gonka::signer::SignerMode::kSequenced;
    signer_options.sequencer = sequencer.get();
    signer_options.timeout_blocks = timeout_blocks;
  }

  // Producers over HTTP: POST /v1/txs with a serialized gonka.txqueue.v1.ChainTx
  // (Content-Type: application/x-protobuf; any message type), or as JSON
  // ({"idempotency_key": "...", "messages": [{"@type": ...}]}; only types this binary knows).
  // The request is recorded in the ledger before it is published (EnqueueRecorded), so once
  // accepted it is sent even if the queue loses it.
  daemon.server().Handle("POST", "/v1/txs", [&queue, &ledger](const HttpRequest& request) {
    gonka::txqueue::ChainTx tx;
    if (absl::StrContains(request.headers.Get("Content-Type"), "protobuf")) {
      if (!tx.ParseFromString(request.body)) {
        return HttpResponse::Json(400, "{\"error\":\"body is not a serialized ChainTx\"}");
      }
    } else {
      // Cosmos type URLs ("/cosmos.bank.v1beta1.MsgSend") have no host part: resolve with an
      // empty prefix.
      static google::protobuf::util::TypeResolver* const resolver =
          google::protobuf::util::NewTypeResolverForDescriptorPool(
              "", google::protobuf::DescriptorPool::generated_pool());
      std::string binary;
      auto s = google::protobuf::util::JsonToBinaryString(
          resolver, "/" + gonka::txqueue::ChainTx::descriptor()->full_name(), request.body,
          &binary);
      if (!s.ok() || !tx.ParseFromString(binary)) {
        return HttpResponse::Json(
            400, absl::StrCat("{\"error\":", gonka::JsonQuote(std::string(s.message())), "}"));
      }
    }
    absl::StatusOr<gonka::txqueue::EnqueueResult> r =
        gonka::signer::EnqueueRecorded(ledger->get(), &queue, tx);
    if (!r.ok()) {
      int code = r.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 503;
      return HttpResponse::Json(
          code, absl::StrCat("{\"error\":", gonka::JsonQuote(r.status().ToString()), "}"));
    }
    gonka::JsonWriter w;
    w.BeginObject()
        .Key("idempotency_key")
        .String(tx.idempotency_key())
        .Key("duplicate")
        .Bool(r->duplicate)
        .Key("sequence")
        .String(absl::StrCat(r->sequence))
        .EndObject();
    return HttpResponse::Json(r->duplicate ? 200 : 202, w.Take());
  });
  daemon.server().Handle("GET", "/v1/ledger", [&ledger](const HttpRequest& request) {
    std::string key = request.QueryParam("key").value_or("");
    absl::StatusOr<gonka::signer::LedgerEntry> e = (*ledger)->Get(key);
    if (!e.ok()) {
      return HttpResponse::Json(
          e.status().code() == absl::StatusCode::kNotFound ? 404 : 503,
          absl::StrCat("{\"error\":", gonka::JsonQuote(e.status().ToString()), "}"));
    }
    gonka::JsonWriter w;
    w.BeginObject()
        .Key("key")
        .String(key)
        .Key("state")
        .String(gonka::signer::TxStateName(e->state))
        .Key("tx_hash")
        .String(e->tx_hash)
        .Key("height")
        .String(absl::StrCat(e->height))
        .Key("attempts")
        .Int(e->attempts)
        .Key("reenqueues")
        .Int(e->reenqueues)
        .Key("last_error")
        .String(e->last_error)
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  });

  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet] { return comet.Status().status(); });
  drain.AddReadinessProbe("nats", [&js] { return (*js)->GetStreamInfo("CHAIN_TX").status(); });
  drain.AddReadinessProbe("postgres", [&pool] { return (*pool)->Exec("SELECT 1").status(); });

  if (lease != nullptr) {
    if (absl::Status s = lease->Start(); !s.ok()) return daemon.Fail(s);
  }

  // Signing loops. On drain each finishes (or hands back) the delivery it holds, then stops:
  // anything not acked is redelivered to another replica.
  std::atomic<bool> stopping{false};
  std::vector<std::thread> loops;
  for (int i = 0; i < workers; ++i) {
    gonka::txqueue::ConsumerOptions consumer_options;
    consumer_options.dead_letter_expired = false;  // the signer decides when nothing can land
    consumer_options.max_ack_pending = max_ack_pending;
    // Replicas starting together race to create the shared durable (on a cluster that can time
    // out), and NATS may be restarting: retry transient failures for a while.
    absl::StatusOr<std::unique_ptr<gonka::txqueue::TxConsumer>> consumer;
    gonka::Backoff backoff({.initial = absl::Milliseconds(200), .max = absl::Seconds(3)});
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (true) {
      consumer = gonka::txqueue::TxConsumer::Bind(js->get(), consumer_options);
      absl::StatusCode code = consumer.status().code();
      if (consumer.ok() ||
          (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) ||
          absl::Now() > give_up) {
        break;
      }
      GLOG_WARN("signerd: binding the queue consumer failed; retrying",
                {"error", consumer.status().ToString()});
      absl::SleepFor(backoff.Next());
    }
    if (!consumer.ok()) {
      stopping = true;
      for (auto& t : loops) t.join();
      return daemon.Fail(consumer.status());
    }
    loops.emplace_back([&, c = std::shared_ptr<gonka::txqueue::TxConsumer>(std::move(*consumer))] {
      gonka::signer::Signer signer(&*key, c.get(), ledger->get(), &comet, signer_options);
      while (!stopping.load()) {
        absl::StatusOr<bool> r = signer.RunOnce(absl::Milliseconds(500));
        if (!r.ok()) {
          GLOG_WARN("signer loop", {"error", r.status().ToString()});
          absl::SleepFor(absl::Milliseconds(500));
        }
      }
    });
  }
  // Requests the queue lost while unsettled come back from the ledger (reconciler.h).
  std::unique_ptr<gonka::signer::Reconciler> reconciler;
  if (reenqueue_after > absl::ZeroDuration()) {
    reconciler = std::make_unique<gonka::signer::Reconciler>(
        ledger->get(), &queue, gonka::signer::ReconcilerOptions{.stale_after = reenqueue_after});
    reconciler->Start();
  }
  // Queue size and depth for /metrics (gonka_txqueue_stream_messages, gonka_txqueue_backlog),
  // refreshed every few seconds.
  loops.emplace_back([&] {
    while (!stopping.load()) {
      queue.StreamMessages().status().IgnoreError();
      queue.Backlog().status().IgnoreError();  // gonka_txqueue_backlog: the queue's depth
      for (int i = 0; i < 25 && !stopping.load(); ++i) absl::SleepFor(absl::Milliseconds(200));
    }
  });
  drain.OnStateChange([&stopping](gonka::DrainController::State state) {
    if (state == gonka::DrainController::State::kDraining) stopping = true;
  });
  drain.AddShutdownHook("signing loops", [&] {
    stopping = true;
    if (reconciler != nullptr) reconciler->Stop();
    for (auto& t : loops) t.join();
    // Release the sequence lease at once so another replica takes over without waiting for it
    // to expire.
    if (lease != nullptr) lease->Stop();
  });
  if (absl::Status s = daemon.Start(); !s.ok()) {
    stopping = true;
    for (auto& t : loops) t.join();
    return daemon.Fail(s);
  }
  int code = daemon.Run();
  stopping = true;
  if (reconciler != nullptr) reconciler->Stop();
  for (auto& t : loops) {
    if (t.joinable()) t.join();
  }
  if (lease != nullptr) lease->Stop();
  return code;
}
