// A signer process for the kill -9 tests (tests/chaos/signer_chaos, the sequenced chaos and
// zombie tests in gonka/signer): runs a SignerService (one signing loop, the same run loop as
// signerd) until killed. Configured from the environment (test use only; the production daemon
// is signerd):
//   SIGNER_NATS_URL (comma-separated), SIGNER_TX_TTL_MS, SIGNER_PG_URL, SIGNER_RPC_URL,
//   SIGNER_CHAIN_ID, SIGNER_ACCOUNT_NUMBER, SIGNER_MNEMONIC (or SIGNER_KEY_HEX),
//   SIGNER_ACK_WAIT_MS, SIGNER_MAX_BATCH, SIGNER_REENQUEUE_AFTER_MS (> 0: runs a Reconciler).
// Sequenced mode (the zombie test): SIGNER_MODE=sequenced, SIGNER_REDIS=host:port (the lease),
// SIGNER_IDENTITY, SIGNER_TIMEOUT_BLOCKS, and SIGNER_STOP_AT=<test hook point> with
// SIGNER_STOP_AT_COUNT=n: the n-th time the signer reaches that point the process prints
// "worker: stopping at <point>" and SIGSTOPs itself (the test SIGCONTs it later).
// Prints "lease gained token=<t>" / "lease lost" when its lease changes.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/election/redis_elector.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/signer_service.h"
#include "gonka/txqueue/txqueue.h"

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

int64_t EnvInt(const char* name, int64_t fallback) {
  int64_t n = 0;
  return absl::SimpleAtoi(Env(name), &n) ? n : fallback;
}

int Die(const std::string& what, const absl::Status& s) {
  std::cerr << "signer worker: " << what << ": " << s << std::endl;
  return 1;
}

}  // namespace

int main() {
  using namespace gonka;  // NOLINT: a small test program
  auto key = Env("SIGNER_KEY_HEX").empty() ? crypto::KeyFromMnemonic(Env("SIGNER_MNEMONIC"))
                                           : crypto::KeyFromHex(Env("SIGNER_KEY_HEX"));
  if (!key.ok()) return Die("key", key.status());
  nats::NatsOptions no;
  no.urls = absl::StrSplit(Env("SIGNER_NATS_URL"), ',', absl::SkipEmpty());
  no.timeout = absl::Seconds(2);
  auto js = nats::JetStream::Connect(no);
  if (!js.ok()) return Die("nats", js.status());
  pg::PgOptions po;
  po.conninfo = Env("SIGNER_PG_URL");
  auto pool = pg::Pool::Open(po);
  if (!pool.ok()) return Die("postgres", pool.status());
  auto ledger = signer::Ledger::Open(pool->get());
  if (!ledger.ok()) return Die("ledger", ledger.status());
  chain::CometClient comet({.rpc_url = Env("SIGNER_RPC_URL"), .timeout = absl::Seconds(3)});

  signer::SignerServiceOptions options;
  options.workers = 1;
  options.fetch_timeout = absl::Milliseconds(200);
  options.queue_metrics_interval = absl::ZeroDuration();
  options.reenqueue_after = absl::Milliseconds(EnvInt("SIGNER_REENQUEUE_AFTER_MS", 0));
  options.consumer.ack_wait = absl::Milliseconds(EnvInt("SIGNER_ACK_WAIT_MS", 3000));
  signer::SignerOptions& so = options.signer;
  so.chain_id = Env("SIGNER_CHAIN_ID");
  // The tests sign devchain's record messages; SIGNER_ALLOWED_MSG_TYPES narrows it.
  so.policy = signer::MessagePolicy::AllowAll();
  if (std::string allowed = Env("SIGNER_ALLOWED_MSG_TYPES"); !allowed.empty()) {
    absl::StatusOr<signer::MessagePolicy> policy = signer::MessagePolicy::Parse(allowed);
    if (!policy.ok()) {
      std::fprintf(stderr, "SIGNER_ALLOWED_MSG_TYPES: %s\n",
                   std::string(policy.status().message()).c_str());
      return 2;
    }
    so.policy = *policy;
  }
  so.account_number = static_cast<uint64_t>(EnvInt("SIGNER_ACCOUNT_NUMBER", 0));
  so.gas_limit = 400000;
  so.observe_interval = absl::Milliseconds(50);
  so.observe_budget = options.consumer.ack_wait / 3;
  so.retry_delay = absl::Milliseconds(200);
  so.max_batch_messages = static_cast<int>(EnvInt("SIGNER_MAX_BATCH", 1));
  // A short tx lifetime makes "timed out unincluded: sign a new tx" happen under chaos.
  so.tx_ttl = absl::Milliseconds(EnvInt("SIGNER_TX_TTL_MS", 60000));
  std::unique_ptr<election::LeaderElector> elector;
  if (Env("SIGNER_MODE") == "sequenced") {
    auto ro = redis::ParseRedisUrl(absl::StrCat("redis://", Env("SIGNER_REDIS")));
    if (!ro.ok()) return Die("SIGNER_REDIS", ro.status());
    election::LeaderElectorOptions eo;
    eo.identity = Env("SIGNER_IDENTITY").empty() ? "worker" : Env("SIGNER_IDENTITY");
    eo.on_elected = [](election::FencingToken t) {
      std::cout << "lease gained token=" << t << std::endl;
    };
    eo.on_revoked = [](absl::string_view why) { std::cout << "lease lost: " << why << std::endl; };
    auto e = election::NewRedisLeaderElector(*ro, "signer:" + key->address(), eo);
    if (!e.ok()) return Die("elector", e.status());
    elector = std::move(*e);
    if (absl::Status st = elector->Start(); !st.ok()) return Die("elector start", st);
    options.sequence_lease = elector.get();
    so.timeout_blocks = EnvInt("SIGNER_TIMEOUT_BLOCKS", 30);
    const std::string stop_at = Env("SIGNER_STOP_AT");
    const int64_t stop_count = EnvInt("SIGNER_STOP_AT_COUNT", 1);
    auto reached = std::make_shared<int64_t>(0);
    so.test_hook = [stop_at, stop_count, reached](absl::string_view point) {
      if (point != stop_at || ++*reached != stop_count) return;
      std::cout << "worker: stopping at " << point << std::endl;
      std::raise(SIGSTOP);
      std::cout << "worker: continued at " << point << std::endl;
    };
  }
  txqueue::TxQueue queue(js->get());
  signer::SignerService service(&*key, js->get(), &queue, ledger->get(), &comet, options);
  if (absl::Status st = service.Start(); !st.ok()) return Die("consumer", st);
  std::cout << "signer worker ready" << std::endl;
  while (true) absl::SleepFor(absl::Hours(1));  // until killed
}
