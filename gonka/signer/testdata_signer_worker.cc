// A signer process for the kill -9 test (signer_chaos_integration_test): runs one Signer until
// killed. Configured from the environment (test use only; the production daemon is signerd):
//   SIGNER_NATS_URL, SIGNER_PG_URL, SIGNER_RPC_URL, SIGNER_CHAIN_ID, SIGNER_ACCOUNT_NUMBER,
//   SIGNER_MNEMONIC, SIGNER_ACK_WAIT_MS, SIGNER_MAX_BATCH.
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/signer.h"
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
  auto key = crypto::KeyFromMnemonic(Env("SIGNER_MNEMONIC"));
  if (!key.ok()) return Die("key", key.status());
  nats::NatsOptions no;
  no.urls = {Env("SIGNER_NATS_URL")};
  no.timeout = absl::Seconds(2);
  auto js = nats::JetStream::Connect(no);
  if (!js.ok()) return Die("nats", js.status());
  txqueue::ConsumerOptions co;
  co.ack_wait = absl::Milliseconds(EnvInt("SIGNER_ACK_WAIT_MS", 3000));
  co.dead_letter_expired = false;
  auto consumer = txqueue::TxConsumer::Bind(js->get(), co);
  if (!consumer.ok()) return Die("consumer", consumer.status());
  pg::PgOptions po;
  po.conninfo = Env("SIGNER_PG_URL");
  auto pool = pg::Pool::Open(po);
  if (!pool.ok()) return Die("postgres", pool.status());
  auto ledger = signer::Ledger::Open(pool->get());
  if (!ledger.ok()) return Die("ledger", ledger.status());
  chain::CometClient comet({.rpc_url = Env("SIGNER_RPC_URL"), .timeout = absl::Seconds(3)});

  signer::SignerOptions so;
  so.chain_id = Env("SIGNER_CHAIN_ID");
  so.account_number = static_cast<uint64_t>(EnvInt("SIGNER_ACCOUNT_NUMBER", 0));
  so.gas_limit = 400000;
  so.observe_interval = absl::Milliseconds(50);
  so.observe_budget = co.ack_wait / 3;
  so.retry_delay = absl::Milliseconds(200);
  so.max_batch_messages = static_cast<int>(EnvInt("SIGNER_MAX_BATCH", 1));
  signer::Signer s(&*key, consumer->get(), ledger->get(), &comet, so);
  std::cout << "signer worker ready" << std::endl;
  while (true) {
    absl::StatusOr<bool> r = s.RunOnce(absl::Milliseconds(200));
    if (!r.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
}
