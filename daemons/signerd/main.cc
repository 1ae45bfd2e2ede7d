// signerd: the only process that reads the warm key. N replicas share the durable tx queue; each
// queued ChainTx lands on chain exactly once (gonka/signer, unordered mode). Producers enqueue
// through gonka/txqueue directly, or over HTTP: POST /v1/txs with a ChainTx as JSON.
// See docs/txqueue.md.
//
//   signerd --chain-id=gonka-mainnet --key-file=/run/secrets/warm.key
//           --chain-rpc-url=http://node:26657 --nats-url=nats://nats:4222
//           --pg-url=postgresql://signer@pg/signer --exec-granter=gonka1cold...
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/drain/daemon.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/cosmos/auth/v1beta1/auth.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/signer.h"
#include "gonka/txqueue/txqueue.h"

namespace {

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;

// The warm key's account number, from the chain (auth Query/Account over abci_query).
absl::StatusOr<uint64_t> AccountNumber(gonka::chain::CometClient& comet,
                                       const std::string& address) {
  ::cosmos::auth::v1beta1::QueryAccountRequest request;
  request.set_address(address);
  absl::StatusOr<gonka::chain::AbciQueryResponse> q =
      comet.AbciQuery("/cosmos.auth.v1beta1.Query/Account", request.SerializeAsString());
  if (!q.ok()) return q.status();
  if (q->code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the signing key's account ", address, " is unknown to the chain (",
                     q->codespace, " ", q->code, ": ", q->log, "): fund it or grant it first"));
  }
  ::cosmos::auth::v1beta1::QueryAccountResponse response;
  ::cosmos::auth::v1beta1::BaseAccount account;
  if (!response.ParseFromString(q->value) || !account.ParseFromString(response.account().value())) {
    return absl::InternalError("cannot decode the account query answer");
  }
  return account.account_number();
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "signerd", .default_port = 8081});
  gonka::Config& config = daemon.config();
  std::string chain_id, rpc_url, nats_urls, pg_url, key_file, exec_granter, fee_granter;
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
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
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
  absl::StatusOr<uint64_t> account_number = AccountNumber(comet, key->address());
  if (!account_number.ok()) return daemon.Fail(account_number.status());
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
  signer_options.account_number = *account_number;
  signer_options.exec_granter = exec_granter;
  signer_options.fee_granter = fee_granter;
  signer_options.gas_limit = static_cast<uint64_t>(gas_limit);
  signer_options.gas_adjustment = gas_adjustment;
  signer_options.tx_ttl = tx_ttl;
  signer_options.retry_delay = retry_delay;
  signer_options.max_batch_messages = batch;

  // Producers over HTTP: POST /v1/txs with a serialized gonka.txqueue.v1.ChainTx
  // (Content-Type: application/x-protobuf; any message type), or as JSON
  // ({"idempotency_key": "...", "messages": [{"@type": ...}]}; only types this binary knows).
  daemon.server().Handle("POST", "/v1/txs", [&queue](const HttpRequest& request) {
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
    absl::StatusOr<gonka::txqueue::EnqueueResult> r = queue.Enqueue(tx);
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
        .Key("last_error")
        .String(e->last_error)
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  });

  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet] { return comet.Status().status(); });
  drain.AddReadinessProbe("nats", [&js] { return (*js)->GetStreamInfo("CHAIN_TX").status(); });
  drain.AddReadinessProbe("postgres", [&pool] { return (*pool)->Exec("SELECT 1").status(); });

  // Signing loops. On drain each finishes (or hands back) the delivery it holds, then stops:
  // anything not acked is redelivered to another replica.
  std::atomic<bool> stopping{false};
  std::vector<std::thread> loops;
  for (int i = 0; i < workers; ++i) {
    gonka::txqueue::ConsumerOptions consumer_options;
    consumer_options.dead_letter_expired = false;  // the signer decides when nothing can land
    absl::StatusOr<std::unique_ptr<gonka::txqueue::TxConsumer>> consumer =
        gonka::txqueue::TxConsumer::Bind(js->get(), consumer_options);
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
  // Queue depth for /metrics (gonka_txqueue_stream_messages), refreshed every few seconds.
  loops.emplace_back([&] {
    while (!stopping.load()) {
      queue.StreamMessages().status().IgnoreError();
      for (int i = 0; i < 25 && !stopping.load(); ++i) absl::SleepFor(absl::Milliseconds(200));
    }
  });
  drain.OnStateChange([&stopping](gonka::DrainController::State state) {
    if (state == gonka::DrainController::State::kDraining) stopping = true;
  });
  drain.AddShutdownHook("signing loops", [&] {
    stopping = true;
    for (auto& t : loops) t.join();
  });
  if (absl::Status s = daemon.Start(); !s.ok()) {
    stopping = true;
    for (auto& t : loops) t.join();
    return daemon.Fail(s);
  }
  int code = daemon.Run();
  stopping = true;
  for (auto& t : loops) {
    if (t.joinable()) t.join();
  }
  return code;
}
