// signerd: the only process that reads the warm key. N replicas share the durable tx queue; each
// queued ChainTx lands on chain exactly once (gonka/signer/signer_service.h; unordered mode by
// default, sequenced mode with a per-key lease for chains without unordered txs). Producers
// enqueue through gonka/txqueue directly, or over HTTP: POST /v1/txs. See docs/txqueue.md.
//
//   signerd --chain-id=gonka-mainnet --key-file=/run/secrets/warm.key
//           --chain-rpc-url=http://node:26657 --nats-url=nats://nats:4222
//           (or --chain-rpc-url=https://node --chain-ca-file=/etc/gonka/chain-ca.pem)
//           --pg-url=postgresql://signer@pg/signer --exec-granter=gonka1cold...
//           [--mode=sequenced --coordination=nats --timeout-blocks=30]
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/chain/chain_flags.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/election/coordination.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/signer_service.h"
#include "gonka/txqueue/txqueue.h"

int main(int argc, char** argv) {
  // Loopback by default: nothing outside the host needs signerd unless it is routed to on purpose.
  gonka::Daemon daemon({.name = "signerd", .default_port = 8081, .default_bind = "127.0.0.1"});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.pg = true, .coordination = true});
  gonka::signer::SignerServiceOptions options;
  gonka::signer::SignerOptions& signer = options.signer;
  gonka::HttpAuthFlags enqueue_auth("enqueue", "HTTP enqueue");
  enqueue_auth.Register(&config);
  std::string key_file, mode, allowed_types;
  int64_t gas_limit = 1'000'000'000;
  config.AddString("chain-id", &signer.chain_id, "", "the chain's id").Required();
  config
      .AddString("key-file", &key_file, "",
                 "warm key: 64 hex characters or a mnemonic; mode 0600 or stricter")
      .Required();
  gonka::chain::ChainFlags chain;
  chain.Register(&config, {.grpc = ""});
  config.AddString("exec-granter", &signer.exec_granter, "",
                   "wrap messages in authz MsgExec on behalf of this (cold) account");
  config.AddString("fee-granter", &signer.fee_granter, "", "x/feegrant granter paying the fees");
  config.AddInt("gas-limit", &gas_limit, 1'000'000'000, "gas limit (cap with --gas-adjustment)")
      .Range(1, int64_t{1} << 62);
  config.AddDouble("gas-adjustment", &signer.gas_adjustment, 0,
                   "> 0: gas = simulated gas x this (0 = always --gas-limit)");
  config
      .AddDuration("tx-ttl", &signer.tx_ttl, absl::Seconds(60),
                   "unordered tx timeout (chain maximum 10m)")
      .Positive();
  config.AddDuration("retry-delay", &signer.retry_delay, absl::Seconds(7), "redelivery delay")
      .Positive();
  config.AddInt("workers", &options.workers, 2, "signing loops (each its own consumer)")
      .Range(1, 64);
  config.AddInt("batch", &signer.max_batch_messages, 1, "queued messages per tx (1 = no batching)")
      .Range(1, 1000);
  config
      .AddDuration("observe-interval", &signer.observe_interval, absl::Milliseconds(200),
                   "how often a broadcast tx is looked up until it is included")
      .Positive();
  config
      .AddInt("max-ack-pending", &options.consumer.max_ack_pending, 1000,
              "queued messages handed out and not yet acked, across all signers sharing the "
              "queue (keep >= replicas x workers x batch)")
      .Range(1, 1'000'000);
  config
      .AddString("mode", &mode, "unordered",
                 "unordered (Cosmos SDK 0.53 unordered txs) or sequenced (account sequence + "
                 "timeout height, one lease holder per key on --coordination)")
      .OneOf({"unordered", "sequenced"});
  config
      .AddInt("timeout-blocks", &signer.timeout_blocks, 30,
              "sequenced mode: tx timeout_height = latest height + this")
      .Range(1, 100000);
  // Below ack_wait (30 s) + observe budget (15 s) a request a signer is still working on would
  // be copied needlessly.
  config
      .AddDuration("reenqueue-after", &options.reenqueue_after, absl::Minutes(2),
                   "put a request back into the queue from the ledger when its ledger row has "
                   "not changed for this long (the queue lost it); 0 = off, else at least 45s")
      .Check([](absl::string_view raw) -> std::string {
        absl::Duration d;
        if (!absl::ParseDuration(raw, &d) || d == absl::ZeroDuration() || d >= absl::Seconds(45)) {
          return "";
        }
        return "want 0 (off) or at least 45s";
      });
  config
      .AddString("allowed-msg-types", &allowed_types, "gonka",
                 "message types this signer signs: type URLs or /package.* wildcards, "
                 "comma-separated; \"gonka\" = the Gonka warm key's messages. Others are "
                 "dead-lettered as type_not_allowed; bank/authz/feegrant/staking/distribution/gov "
                 "messages need their exact type URL")
      .Check([](absl::string_view raw) -> std::string {
        absl::StatusOr<gonka::signer::MessagePolicy> p = gonka::signer::MessagePolicy::Parse(raw);
        return p.ok() ? "" : std::string(p.status().message());
      });
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  signer.policy = *gonka::signer::MessagePolicy::Parse(allowed_types);
  absl::StatusOr<gonka::HttpAuthenticator> authenticate = enqueue_auth.Build();
  if (!authenticate.ok()) return daemon.ConfigError(authenticate.status().message());
  options.authenticate = *authenticate;
  options.rate_limit = enqueue_auth.rate_limit();
  GONKA_LOG_INFO("http enqueue", {"mode", enqueue_auth.mode()},
                 {"allowed_msg_types", allowed_types});
  signer.gas_limit = static_cast<uint64_t>(gas_limit);

  // The key: refused if the file is readable by others; never logged.
  absl::StatusOr<gonka::crypto::SigningKey> key = gonka::crypto::LoadKeyFile(key_file);
  if (!key.ok()) return daemon.ConfigError(absl::StrCat("--key-file: ", key.status().message()));
  GONKA_LOG_INFO("signing key loaded", {"address", key->address()});

  gonka::chain::CometClient comet(chain.Comet());
  absl::StatusOr<gonka::signer::AccountInfo> account =
      gonka::signer::QueryAccount(comet, key->address());
  if (!account.ok()) return daemon.Fail(account.status());
  signer.account_number = account->account_number;
  absl::StatusOr<gonka::nats::NatsOptions> nats_options = connections.Nats("signerd");
  if (!nats_options.ok()) return daemon.Fail(nats_options.status());
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect(*nats_options);
  if (!js.ok()) return daemon.Fail(js.status());
  gonka::txqueue::TxQueue queue(js->get());
  if (absl::StatusOr<gonka::nats::StreamInfo> s = queue.EnsureStream(); !s.ok()) {
    return daemon.Fail(s.status());
  }
  absl::StatusOr<gonka::pg::PgOptions> pg_options = connections.Pg();
  if (!pg_options.ok()) return daemon.Fail(pg_options.status());
  pg_options->max_connections = options.workers + 2;
  absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> pool = gonka::pg::Pool::Open(*pg_options);
  if (!pool.ok()) return daemon.Fail(pool.status());
  absl::StatusOr<std::unique_ptr<gonka::signer::Ledger>> ledger =
      gonka::signer::Ledger::Open(pool->get());
  if (!ledger.ok()) return daemon.Fail(ledger.status());

  // Sequenced mode: one owner of the key's sequence among the replicas, through a lease named
  // after the key's address. Only the holder fetches and signs.
  std::unique_ptr<gonka::election::Coordination> lease;
  if (mode == "sequenced") {
    absl::StatusOr<gonka::election::CoordinationOptions> o = connections.Coordination("signerd");
    if (!o.ok()) return daemon.Fail(o.status());
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    gonka::election::LeaderElectorOptions lease_options;
    lease_options.identity = absl::StrCat("signerd@", host, "/", getpid());
    lease_options.on_elected = [address = key->address()](gonka::election::FencingToken token) {
      GONKA_LOG_INFO("sequence lease gained", {"account", address}, {"fencing_token", token});
    };
    lease_options.on_revoked = [address = key->address()](absl::string_view why) {
      GONKA_LOG_WARN("sequence lease lost", {"account", address}, {"reason", std::string(why)});
    };
    absl::StatusOr<std::unique_ptr<gonka::election::Coordination>> c =
        gonka::election::Coordination::Open(*o, "signer:" + key->address(), lease_options);
    if (!c.ok()) return daemon.Fail(c.status());
    lease = std::move(*c);
    options.sequence_lease = lease->elector();
  }

  gonka::signer::SignerService service(&*key, js->get(), &queue, ledger->get(), &comet, options);
  service.AddRoutes(&daemon.server());
  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet] { return comet.Status().status(); });
  drain.AddReadinessProbe("nats", [&js] { return (*js)->GetStreamInfo("CHAIN_TX").status(); });
  drain.AddReadinessProbe("postgres", [&pool] { return (*pool)->Exec("SELECT 1").status(); });
  // On drain each loop finishes (or hands back) the delivery it holds; anything not acked is
  // redelivered to another replica. The sequence lease is released at once after the loops stop,
  // so another replica takes over without waiting for it to expire.
  drain.OnStateChange([&service](gonka::DrainController::State state) {
    if (state == gonka::DrainController::State::kDraining) service.BeginStop();
  });
  drain.AddShutdownHook("signing loops", [&] {
    service.Stop();
    if (lease != nullptr) lease->elector()->Stop();
  });

  if (lease != nullptr) {
    if (absl::Status s = lease->elector()->Start(); !s.ok()) return daemon.Fail(s);
  }
  if (absl::Status s = service.Start(); !s.ok()) return daemon.Fail(s);
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
