// Exactly-once across signer crashes: 3 signer processes share the queue, the ledger and one
// key while the test SIGKILLs a random one every few hundred milliseconds (and restarts it), and
// once SIGKILLs and restarts the NATS server. Run with one request per tx and with batches of 8.
// Producers enqueue MsgRecord requests, 10 % of them twice. At the end devchain must report every
// key included exactly once and the ledger must agree. The seed is printed (GONKA_CHAOS_SEED
// replays a run).
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/signer/ledger.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {
namespace {

constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kChainId[] = "signer-chaos";
constexpr int kSigners = 3;

class SignerChaosTest : public ::testing::TestWithParam<int> {};  // param: max batch messages

TEST_P(SignerChaosTest, EveryKeyOnceWhileSignersAreKilled) {
  const int max_batch = GetParam();
  // Batched signers are faster: more keys so the run sees as many kills.
  const int kKeys = max_batch > 1 ? 2400 : 600;
  uint64_t seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  if (const char* s = std::getenv("GONKA_CHAOS_SEED")) {
    ASSERT_TRUE(absl::SimpleAtoi(s, &seed));
  }
  std::cout << "chaos seed " << seed << std::endl;
  std::mt19937_64 rng(seed);

  testing::PostgresServer pg;
  ASSERT_TRUE(pg.Start().ok());
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());

  // Chain.
  crypto::SigningKey key = *crypto::KeyFromMnemonic(kMnemonic);
  devchain::AppOptions app_options;
  app_options.accounts = {{"", kMnemonic, {{"ngonka", "1000000000"}}}};
  auto app = devchain::CosmosApp::Create(app_options);
  ASSERT_TRUE(app.ok()) << app.status();
  devchain::ChainOptions chain_options;
  chain_options.chain_id = kChainId;
  chain_options.block_interval = absl::Milliseconds(100);
  devchain::Chain chain(chain_options, app->get());
  chain.ProduceBlock();
  net::HttpServer http;
  devchain::RpcService rpc(&chain, &http, devchain::RpcOptions());
  ASSERT_TRUE(http.Start().ok());
  chain.Start();

  // Queue and ledger (the test reads the ledger too).
  nats::NatsOptions no;
  no.urls = {nats.url()};
  no.timeout = absl::Seconds(2);
  auto js = nats::JetStream::Connect(no);
  ASSERT_TRUE(js.ok()) << js.status();
  txqueue::TxQueue queue(js->get());
  ASSERT_TRUE(queue.EnsureStream().ok());
  pg::PgOptions po;
  po.conninfo = pg.url();
  auto pool = pg::Pool::Open(po);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto ledger = Ledger::Open(pool->get());
  ASSERT_TRUE(ledger.ok()) << ledger.status();

  // Signers.
  auto worker_path = testing::ResolveRunfile("gonka/testing/signer_worker");
  ASSERT_TRUE(worker_path.ok()) << worker_path.status();
  auto account = (*app)->Account(key.address());
  ASSERT_TRUE(account.ok());
  testing::TempDir logs("signer-chaos");
  std::vector<std::unique_ptr<testing::Subprocess>> signers;
  for (int i = 0; i < kSigners; ++i) {
    testing::SubprocessOptions so;
    so.argv = {*worker_path};
    so.env = {{"SIGNER_NATS_URL", nats.url()},
              {"SIGNER_PG_URL", pg.url()},
              {"SIGNER_RPC_URL", absl::StrCat("http://127.0.0.1:", http.port())},
              {"SIGNER_CHAIN_ID", kChainId},
              {"SIGNER_ACCOUNT_NUMBER", absl::StrCat(account->first)},
              {"SIGNER_MNEMONIC", kMnemonic},
              {"SIGNER_ACK_WAIT_MS", "3000"},
              {"SIGNER_MAX_BATCH", absl::StrCat(max_batch)}};
    so.log_path = absl::StrCat(logs.path(), "/signer-", i, ".log");
    signers.push_back(std::make_unique<testing::Subprocess>(so));
    ASSERT_TRUE(signers.back()->Start().ok());
  }

  // Producer: every key once, every tenth twice (duplicates within the window).
  auto request = [&](int i) {
    gonka::devchain::v1::MsgRecord m;
    m.set_creator(key.address());
    m.set_key(absl::StrCat("chaos/", i));
    txqueue::ChainTx tx;
    tx.set_idempotency_key(absl::StrCat("chaos/", i));
    *tx.add_messages() = cosmos::PackAny(m);
    return tx;
  };
  int duplicates_enqueued = 0;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(queue.Enqueue(request(i)).ok());
    if (i % 10 == 0) {
      auto again = queue.Enqueue(request(i));
      ASSERT_TRUE(again.ok());
      EXPECT_TRUE(again->duplicate);
      ++duplicates_enqueued;
    }
  }

  auto settled = [&] {
    for (int i = 0; i < kKeys; ++i) {
      if ((*app)->RecordCount(absl::StrCat("chaos/", i)) == 0) return false;
    }
    for (int i = 0; i < kKeys; ++i) {
      auto e = (*ledger)->Get(absl::StrCat("chaos/", i));
      if (!e.ok() || e->state != TxState::kIncluded) return false;
    }
    return true;
  };

  // Chaos: SIGKILL a random signer every 200..600 ms, restart it at once.
  int kills = 0;
  int nats_kills = 0;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(120);
  bool done = false;
  while (absl::Now() < deadline) {
    if ((*app)->RecordCount(absl::StrCat("chaos/", kKeys - 1)) > 0 && settled()) {
      done = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(200 + static_cast<int>(rng() % 400)));
    // Keep killing while work remains; once most keys are in, let the survivors finish.
    int victim = static_cast<int>(rng() % kSigners);
    ASSERT_TRUE(signers[victim]->Kill().ok());
    ++kills;
    ASSERT_TRUE(signers[victim]->Start().ok());
    if (kills == 10) {
      // Once: the NATS server crashes too (consumer state may lose recent acks) and comes back.
      ASSERT_TRUE(nats.Kill().ok());
      ASSERT_TRUE(nats.Restart().ok());
      ++nats_kills;
    }
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(done) << "not settled after " << took << " and " << kills << " kills";

  // A few more blocks: nothing lands twice later.
  int64_t height = chain.Latest()->height;
  while (chain.Latest()->height < height + 5) absl::SleepFor(absl::Milliseconds(20));
  int duplicates_found = 0, lost = 0, resigned = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = absl::StrCat("chaos/", i);
    uint64_t n = (*app)->RecordCount(k);
    if (n == 0) ++lost;
    if (n > 1) ++duplicates_found;
    auto e = (*ledger)->Get(k);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->state, TxState::kIncluded) << k;
    if (e->attempts > 1) ++resigned;
  }
  std::cout << "chaos (max batch " << max_batch << "): " << kKeys << " keys ("
            << duplicates_enqueued << " enqueued twice), " << kSigners << " signers, " << kills
            << " signer kill -9, " << nats_kills << " NATS kill -9, " << took
            << "; duplicates found " << duplicates_found << ", lost " << lost
            << ", keys re-signed after expiry " << resigned << std::endl;
  EXPECT_EQ(duplicates_found, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_GE(kills, 10);
  EXPECT_EQ(nats_kills, 1);

  for (auto& s : signers) ASSERT_TRUE(s->Kill().ok());
  chain.Stop();
  http.Stop(absl::Now());
}

INSTANTIATE_TEST_SUITE_P(OneAndBatched, SignerChaosTest, ::testing::Values(1, 8));

}  // namespace
}  // namespace signer
}  // namespace gonka
