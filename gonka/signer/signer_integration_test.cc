// The signer pipeline end to end: real NATS JetStream, real PostgreSQL and an in-process devchain
// (CosmosApp: real signatures, unordered-tx replay protection) served over real HTTP. The oracle
// is CosmosApp::RecordCount(key): how many times MsgRecord{key} landed on chain.
#include "gonka/signer/signer.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/signer_env.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {
namespace {

using ::testing::HasSubstr;

constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kOtherMnemonic[] =
    "oyster design unusual machine spread century engine gravity focus cave carry slot";
constexpr char kChainId[] = "signer-test";

class SignerTest : public SignerTestBase {
 protected:
  static void SetUpTestSuite() {
    pg_ = new testing::PostgresServer();
    absl::Status s = pg_->Start();
    ASSERT_TRUE(s.ok()) << s;
    nats_ = new testing::NatsServer();
    s = nats_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete nats_;
    nats_ = nullptr;
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    // The cold account is funded; the warm key's account holds a token so that it exists.
    absl::Status s = env_.Start(
        {{"", kMnemonic, {{"ngonka", "1000000000"}}}, {"", kOtherMnemonic, {{"ngonka", "1"}}}},
        kChainId, nats_->url(), pg_->url());
    ASSERT_TRUE(s.ok()) << s;
    auto account = app_->Account(key_.address());
    ASSERT_TRUE(account.ok()) << account.status();
    options_.chain_id = kChainId;
    options_.policy = MessagePolicy::AllowAll();  // the policy has its own tests
    options_.account_number = account->first;
    options_.gas_limit = 400000;
    options_.observe_interval = absl::Milliseconds(50);
    options_.observe_budget = absl::Seconds(5);
    options_.retry_delay = absl::Milliseconds(300);
  }

  void TearDown() override { env_.Stop(); }

  std::unique_ptr<nats::JetStream> ConnectNats() {
    nats::NatsOptions o;
    o.urls = {nats_->url()};
    o.timeout = absl::Seconds(2);
    auto js = nats::JetStream::Connect(o);
    EXPECT_TRUE(js.ok()) << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  // Keys are unique per test (the ledger database is shared by the suite).
  std::string Key(int i) {
    return absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "/", i);
  }

  txqueue::ChainTx Request(const std::string& key) {
    return RecordRequest(key_.address(), key, "signer_integration_test");
  }

  // Runs `n` signers (each with its own NATS connection and consumer, each calling
  // Signer::Process / ProcessBatch itself so that the test sees every outcome) until `done` holds;
  // returns the outcomes by key. If `done` does not hold within `timeout` the test fails with a
  // message naming `what` (the caller's assertions then say which key is missing).
  std::map<std::string, std::vector<Outcome>> RunSignersUntil(int n,
                                                              const std::function<bool()>& done,
                                                              absl::Duration timeout,
                                                              absl::string_view what) {
    absl::Status waited;
    auto outcomes = RunSigners(n, done, timeout, what, &waited);
    if (!waited.ok()) ADD_FAILURE() << waited;
    return outcomes;
  }
  // Runs `n` signers for `duration` (to see what they do with whatever is queued).
  std::map<std::string, std::vector<Outcome>> RunSignersFor(int n, absl::Duration duration) {
    absl::Status ignored;
    return RunSigners(
        n, [] { return false; }, duration, "the run's end", &ignored);
  }

  // Both of the above: the signer threads run while WaitFor(done, timeout) waits (its status in
  // *waited), then stop.
  std::map<std::string, std::vector<Outcome>> RunSigners(int n, const std::function<bool()>& done,
                                                         absl::Duration timeout,
                                                         absl::string_view what,
                                                         absl::Status* waited) {
    std::mutex mu;
    std::map<std::string, std::vector<Outcome>> outcomes;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&] {
        auto js = ConnectNats();
        ASSERT_NE(js, nullptr);
        txqueue::ConsumerOptions co;
        co.ack_wait = absl::Seconds(10);
        co.dead_letter_expired = false;
        auto consumer = txqueue::TxConsumer::Bind(js.get(), co);
        ASSERT_TRUE(consumer.ok()) << consumer.status();
        Signer signer(signer_key_, consumer->get(), ledger_.get(), comet_.get(), options_);
        while (!stop.load()) {
          auto batch =
              (*consumer)->Fetch(std::max(1, options_.max_batch_messages), absl::Milliseconds(100));
          ASSERT_TRUE(batch.ok()) << batch.status();
          if (batch->size() > 1) {
            std::vector<Outcome> o;
            absl::Status s = signer.ProcessBatch(*batch, &o);
            ASSERT_TRUE(s.ok()) << s;
            std::lock_guard<std::mutex> l(mu);
            for (size_t k = 0; k < o.size(); ++k) outcomes[(*batch)[k].key()].push_back(o[k]);
            continue;
          }
          for (auto& d : *batch) {
            auto o = signer.Process(d);
            ASSERT_TRUE(o.ok()) << d.key() << ": " << o.status();
            std::lock_guard<std::mutex> l(mu);
            outcomes[d.key()].push_back(*o);
          }
        }
      });
    }
    *waited = testing::WaitFor(done, timeout, absl::Milliseconds(50), what);
    stop = true;
    for (auto& t : threads) t.join();
    return outcomes;
  }

  static testing::PostgresServer* pg_;
  static testing::NatsServer* nats_;
  crypto::SigningKey key_ = *crypto::KeyFromMnemonic(kMnemonic);
  crypto::SigningKey warm_ = *crypto::KeyFromMnemonic(kOtherMnemonic);
  const crypto::SigningKey* signer_key_ = &key_;  // the key the signers sign with
  SignerOptions options_;
};
testing::PostgresServer* SignerTest::pg_ = nullptr;
testing::NatsServer* SignerTest::nats_ = nullptr;

TEST_F(SignerTest, EveryKeyLandsExactlyOnceDespiteDuplicateEnqueues) {
  constexpr int kKeys = 50;
  int duplicates = 0;
  for (int i = 0; i < kKeys; ++i) {
    auto r = queue_->Enqueue(Request(Key(i)));
    ASSERT_TRUE(r.ok()) << r.status();
    if (i % 5 == 0) {  // 10 keys enqueued twice on purpose
      auto again = queue_->Enqueue(Request(Key(i)));
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_TRUE(again->duplicate);
      ++duplicates;
    }
  }
  EXPECT_EQ(duplicates, 10);
  auto all_included = [&] {
    for (int i = 0; i < kKeys; ++i) {
      if (app_->RecordCount(Key(i)) == 0) return false;
    }
    return true;
  };
  absl::Time start = absl::Now();
  auto outcomes = RunSignersUntil(2, all_included, absl::Seconds(60), "every key on chain");
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(all_included());
  std::cout << "signer: " << kKeys << " keys included by 2 signers in " << took << std::endl;

  // Beyond the dedupe window (simulated with other msg ids) the ledger dedupes.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(js_->Publish(txqueue::kSubject, Request(Key(i)).SerializeAsString(),
                             {.msg_id = absl::StrCat("late/", Key(i))})
                    .ok());
  }
  // Run one signer for 2 s: enough to take the 5 late copies.
  auto late = RunSignersFor(1, absl::Seconds(2));
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(late[Key(i)].size(), 1u) << Key(i);
    EXPECT_EQ(late[Key(i)][0], Outcome::kSkipped);
  }

  // A few more blocks, then the oracle: every key exactly once, and the ledger agrees.
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
    auto e = ledger_->Get(Key(i));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->state, TxState::kIncluded) << Key(i);
    EXPECT_GT(e->height, 0) << Key(i);
    EXPECT_EQ(e->attempts, 1) << Key(i);
  }
}

// The tx a crashed signer would have left in the ledger.
cosmos::SignedTx SignLikeASigner(const crypto::SigningKey& key, uint64_t account_number,
                                 const txqueue::ChainTx& tx, absl::Time timeout) {
  cosmos::TxBuilder b;
  for (const auto& any : tx.messages()) b.AddAny(any);
  b.SetFee({{}, 400000, "", ""})
      .SetUnordered(timeout)
      .SetChainId(kChainId)
      .SetAccountNumber(account_number);
  auto s = b.Sign(key);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

TEST_F(SignerTest, AfterACrashBeforeBroadcastTheSameBytesAreSent) {
  const std::string key = Key(0);
  txqueue::ChainTx tx = Request(key);
  absl::Time timeout = absl::Now() + absl::Seconds(30);
  cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, tx, timeout);
  ASSERT_TRUE(ledger_->Claim(key).ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, s.tx_raw, s.hash, timeout, absl::Now()).ok());
  // ... crash: never broadcast, never acked. The request is redelivered to another signer.
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  auto outcomes = RunSignersUntil(
      1, [&] { return app_->RecordCount(key) > 0; }, absl::Seconds(20), "the key on chain");
  ASSERT_EQ(app_->RecordCount(key), 1u);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kIncluded);
  EXPECT_EQ(e->tx_hash, s.hash);  // the recorded bytes, not a new tx
  EXPECT_EQ(e->attempts, 1);
}

// A batch tx recorded (bytes stored once, in signer_txs) by a signer that crashed before
// broadcasting: its requests come back in separate fetches; the first re-broadcasts the batch's
// exact bytes (read from the ledger), the others find that tx on chain. Nothing is re-signed.
TEST_F(SignerTest, AfterACrashTheRecordedBatchTxIsResentAsIs) {
  const std::vector<std::string> keys = {Key(0), Key(1), Key(2)};
  txqueue::ChainTx merged;
  for (const auto& k : keys) {
    const txqueue::ChainTx one = Request(k);
    for (const auto& any : one.messages()) *merged.add_messages() = any;
  }
  absl::Time timeout = absl::Now() + absl::Seconds(30);
  cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, merged, timeout);
  ASSERT_TRUE(ledger_->ClaimBatch(keys).ok());
  ASSERT_TRUE(ledger_->RecordSignedBatch(keys, s.tx_raw, s.hash, timeout, absl::Now()).ok());
  // ... crash: never broadcast, never acked. Redelivered one at a time (batching off).
  for (const auto& k : keys) ASSERT_TRUE(queue_->Enqueue(Request(k)).ok());
  RunSignersUntil(1, WhenIncluded(keys), absl::Seconds(20), "the batch's keys included");
  ASSERT_TRUE(LedgerIncluded(keys));
  for (const auto& k : keys) {
    EXPECT_EQ(app_->RecordCount(k), 1u) << k;
    auto e = ledger_->Get(k);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->tx_hash, s.hash) << k;  // the recorded batch, not a new tx
    EXPECT_EQ(e->attempts, 1) << k;
    EXPECT_EQ(e->batch_size, 3) << k;
  }
}

TEST_F(SignerTest, AfterACrashPostBroadcastTheIncludedTxIsFoundNotResent) {
  const std::string key = Key(0);
  txqueue::ChainTx tx = Request(key);
  absl::Time timeout = absl::Now() + absl::Seconds(30);
  cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, tx, timeout);
  ASSERT_TRUE(ledger_->Claim(key).ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, s.tx_raw, s.hash, timeout, absl::Now()).ok());
  auto b = comet_->BroadcastTxSync(s.tx_raw);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->code, 0u) << b->log;
  absl::Status landed =
      testing::WaitFor([&] { return app_->RecordCount(key) > 0; }, absl::Seconds(10),
                       absl::Milliseconds(20), "the broadcast tx on chain");
  ASSERT_TRUE(landed.ok()) << landed;
  ASSERT_EQ(app_->RecordCount(key), 1u);
  // ... crash before MarkBroadcast / ack: the request comes back.
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  std::map<std::string, std::vector<Outcome>> outcomes =
      RunSignersUntil(1, WhenIncluded({key}), absl::Seconds(20), "the key included");
  ASSERT_EQ(outcomes[key].size(), 1u);
  EXPECT_EQ(outcomes[key][0], Outcome::kIncluded);
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  EXPECT_EQ(app_->RecordCount(key), 1u);
}

// The queue loses requests that are not settled (here: acked without being done, as a JetStream
// that lost them would look): one claimed and never signed, one recorded and never broadcast,
// one recorded, broadcast and on chain but never marked. The Reconciler finds their rows by age
// and enqueues the kept requests again; the signers then settle each with one chain effect —
// the recorded bytes re-broadcast, the included tx found, nothing signed twice.
TEST_F(SignerTest, RequestsTheQueueLostComeBackFromTheLedgerAndLandOnce) {
  const std::string never_signed = Key(0), never_broadcast = Key(1), never_marked = Key(2);
  for (const std::string& k : {never_signed, never_broadcast, never_marked}) {
    ASSERT_TRUE(queue_->Enqueue(Request(k)).ok());
  }
  txqueue::ConsumerOptions co;
  co.dead_letter_expired = false;
  auto consumer = txqueue::TxConsumer::Bind(js_.get(), co);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto batch = (*consumer)->Fetch(3, absl::Seconds(5));
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 3u);
  // Unordered txs of one signer need distinct timeouts (signer + timeout is the nonce).
  absl::Time timeout = absl::Now() + absl::Seconds(30);
  std::map<std::string, std::string> recorded_hash;
  for (txqueue::Delivery& d : *batch) {
    ASSERT_TRUE(ledger_->Claim(d.key(), d.message().data()).ok());
    if (d.key() == never_signed) continue;
    timeout += absl::Nanoseconds(1);
    cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, d.tx(), timeout);
    ASSERT_TRUE(ledger_->RecordSigned(d.key(), s.tx_raw, s.hash, timeout, absl::Now()).ok());
    recorded_hash[d.key()] = s.hash;
    if (d.key() == never_marked) {
      auto b = comet_->BroadcastTxSync(s.tx_raw);
      ASSERT_TRUE(b.ok()) << b.status();
      ASSERT_EQ(b->code, 0u) << b->log;
    }
  }
  absl::Status landed =
      testing::WaitFor([&] { return app_->RecordCount(never_marked) > 0; }, absl::Seconds(10),
                       absl::Milliseconds(20), "the never-marked tx on chain");
  ASSERT_TRUE(landed.ok()) << landed;
  ASSERT_EQ(app_->RecordCount(never_marked), 1u);
  // The queue forgets all three.
  for (txqueue::Delivery& d : *batch) ASSERT_TRUE((*consumer)->Ack(d).ok());

  // The Reconciler judges staleness by its clock: one second ahead of every row written above,
  // they are all older than stale_after, however long this test took to get here.
  FakeClock clock(absl::Now() + absl::Seconds(1));
  Reconciler reconciler(ledger_.get(), queue_.get(),
                        {.stale_after = absl::Milliseconds(500), .clock = &clock});
  auto put_back = reconciler.RunOnce();
  ASSERT_TRUE(put_back.ok()) << put_back.status();
  EXPECT_GE(*put_back, 3);  // rows other tests left unsettled may come back too
  const std::vector<std::string> lost = {never_signed, never_broadcast, never_marked};
  RunSignersUntil(1, WhenIncluded(lost), absl::Seconds(20), "the three lost requests included");
  ASSERT_TRUE(LedgerIncluded(lost));
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  for (const std::string& k : {never_signed, never_broadcast, never_marked}) {
    EXPECT_EQ(app_->RecordCount(k), 1u) << k;
    auto e = ledger_->Get(k);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->attempts, 1) << k;
    EXPECT_EQ(e->reenqueues, 1) << k;
    if (k != never_signed) EXPECT_EQ(e->tx_hash, recorded_hash[k]) << k;  // no new tx
  }
  // Settled rows are never handed back again, however old (judged an hour from now).
  auto again = ledger_->TakeStale(absl::Milliseconds(500), 1000, /*include_undelivered=*/true,
                                  absl::Now() + absl::Hours(1));
  ASSERT_TRUE(again.ok());
  for (const StaleRequest& s : *again) {
    EXPECT_NE(s.key, never_signed);
    EXPECT_NE(s.key, never_broadcast);
    EXPECT_NE(s.key, never_marked);
  }
}

// The outbox form: a request recorded in the ledger whose publish never reached the queue (here
// the stream is missing, as after a loss) is sent anyway once the Reconciler finds its row; a
// request the ledger has settled is not published again.
TEST_F(SignerTest, EnqueueRecordedSendsARequestWhosePublishWasLost) {
  const std::string key = Key(0);
  ASSERT_TRUE(js_->DeleteStream(txqueue::kStream).ok());
  auto lost = EnqueueRecorded(ledger_.get(), queue_.get(), Request(key));
  EXPECT_FALSE(lost.ok());  // the publish failed, but the ledger holds the request
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->state, TxState::kQueued);
  ASSERT_TRUE(queue_->EnsureStream().ok());
  EXPECT_FALSE(e->delivered);  // recorded by the producer, no signer has seen it

  // Its clock one second ahead: the row is older than stale_after without waiting for it.
  FakeClock clock(absl::Now() + absl::Seconds(1));
  Reconciler reconciler(ledger_.get(), queue_.get(),
                        {.stale_after = absl::Milliseconds(300), .clock = &clock});
  // No signer has bound the queue yet (its backlog is unknown): an undelivered request is left
  // alone. Once the signers' consumer exists and has nothing pending, it is put back.
  auto before_bind = reconciler.RunOnce();
  ASSERT_TRUE(before_bind.ok()) << before_bind.status();
  EXPECT_EQ(ledger_->Get(key)->reenqueues, 0);
  auto consumer = txqueue::TxConsumer::Bind(js_.get(), {});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto backlog = queue_->Backlog();
  ASSERT_TRUE(backlog.ok()) << backlog.status();
  EXPECT_EQ(*backlog, 0u);
  auto put_back = reconciler.RunOnce();
  ASSERT_TRUE(put_back.ok()) << put_back.status();
  EXPECT_GE(*put_back, 1);
  EXPECT_EQ(ledger_->Get(key)->reenqueues, 1);
  RunSignersUntil(1, WhenIncluded({key}), absl::Seconds(20), "the recovered request included");
  ASSERT_TRUE(LedgerIncluded({key}));
  EXPECT_EQ(app_->RecordCount(key), 1u);
  EXPECT_TRUE(ledger_->Get(key)->delivered);

  // Settled: a second call records nothing new and publishes nothing.
  auto again = EnqueueRecorded(ledger_.get(), queue_.get(), Request(key));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  // Invalid requests are refused before anything is recorded.
  txqueue::ChainTx empty = Request(Key(1));
  empty.clear_messages();
  auto invalid = EnqueueRecorded(ledger_.get(), queue_.get(), empty);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Get(Key(1)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SignerTest, AnExpiredUnincludedTxIsReplacedByANewOne) {
  const std::string key = Key(0);
  txqueue::ChainTx tx = Request(key);
  // Recorded with a timeout already behind the chain: it can never land.
  absl::Time timeout = absl::Now() - absl::Seconds(1);
  cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, tx, timeout);
  ASSERT_TRUE(ledger_->Claim(key).ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, s.tx_raw, s.hash, timeout, absl::Now()).ok());
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  RunSignersUntil(1, WhenIncluded({key}), absl::Seconds(20), "the replacement tx included");
  EXPECT_EQ(app_->RecordCount(key), 1u);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kIncluded);
  EXPECT_NE(e->tx_hash, s.hash);
  EXPECT_EQ(e->attempts, 2);
}

// A tx that passed CheckTx but reached a block only after its timeout: the block holds it with
// sdk code 42 and none of it took effect. That is not a permanent rejection: the request goes
// back to queued and a new tx lands it, once (a chaos run found it dead-lettered and lost).
TEST_F(SignerTest, ATxInABlockAfterItsTimeoutIsReplacedNotDeadLettered) {
  const std::string key = Key(0);
  txqueue::ChainTx tx = Request(key);
  absl::Time timeout = absl::Now() + absl::Milliseconds(300);
  cosmos::SignedTx s = SignLikeASigner(key_, options_.account_number, tx, timeout);
  ASSERT_TRUE(ledger_->Claim(key).ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, s.tx_raw, s.hash, timeout, absl::Now()).ok());
  chain_->Stop();  // the next block comes after the timeout
  devchain::BroadcastResult accepted = chain_->Broadcast(s.tx_raw);
  ASSERT_TRUE(accepted.rpc_error.empty()) << accepted.rpc_error;
  ASSERT_EQ(accepted.result.code, 0u) << accepted.result.log;
  absl::SleepFor(absl::Milliseconds(500));
  chain_->Start();
  absl::StatusOr<devchain::TxLocation> in_block =
      chain_->WaitForTx(accepted.hash, absl::Seconds(5));
  ASSERT_TRUE(in_block.ok()) << in_block.status();
  ASSERT_EQ(app_->RecordCount(key), 0u);

  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  auto outcomes =
      RunSignersUntil(1, WhenIncluded({key}), absl::Seconds(20), "the replacement tx included");
  EXPECT_EQ(app_->RecordCount(key), 1u);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kIncluded);
  EXPECT_NE(e->tx_hash, s.hash);
  EXPECT_EQ(e->attempts, 2);
  ASSERT_FALSE(outcomes[key].empty());
  EXPECT_EQ(outcomes[key].front(), Outcome::kRetry);
  EXPECT_EQ(outcomes[key].back(), Outcome::kIncluded);
}

TEST_F(SignerTest, APermanentChainRejectionIsDeadLettered) {
  const std::string key = Key(0);
  // A MsgRecord whose creator is another account: the tx lacks that signer's signature.
  gonka::devchain::v1::MsgRecord m;
  m.set_creator(warm_.address());
  m.set_key(key);
  txqueue::ChainTx tx;
  tx.set_idempotency_key(key);
  *tx.add_messages() = cosmos::PackAny(m);
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  auto outcomes = RunSignersUntil(
      1, [&] { return ledger_->Get(key).ok() && ledger_->Get(key)->state == TxState::kFailed; },
      absl::Seconds(20), "the request failed in the ledger");
  ASSERT_EQ(outcomes[key].size(), 1u);
  EXPECT_EQ(outcomes[key][0], Outcome::kDeadLettered);
  auto dead = js_->LastMessage(txqueue::kStream, txqueue::kDeadSubject);
  ASSERT_TRUE(dead.ok());
  ASSERT_TRUE(dead->has_value());
  EXPECT_THAT((*dead)->headers[nats::kDeadReasonHeader],
              HasSubstr(absl::StrCat("rejected: chain tx ", key, ": checktx")));
  EXPECT_EQ(app_->RecordCount(key), 0u);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->last_error, HasSubstr("rejected"));
}

TEST_F(SignerTest, APastDeadlineIsDeadLetteredAsExpired) {
  const std::string key = Key(0);
  txqueue::ChainTx tx = Request(key);
  tx.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Seconds(5)));
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  auto outcomes = RunSignersUntil(
      1, [&] { return ledger_->Get(key).ok() && ledger_->Get(key)->state == TxState::kFailed; },
      absl::Seconds(20), "the request failed in the ledger");
  ASSERT_EQ(outcomes[key].size(), 1u);
  EXPECT_EQ(outcomes[key][0], Outcome::kDeadLettered);
  auto dead = js_->LastMessage(txqueue::kStream, txqueue::kDeadSubject);
  ASSERT_TRUE(dead.ok());
  ASSERT_TRUE(dead->has_value());
  EXPECT_THAT((*dead)->headers[nats::kDeadReasonHeader],
              HasSubstr(absl::StrCat("expired: chain tx ", key, ": deadline")));
  EXPECT_EQ(app_->RecordCount(key), 0u);
}

// Gonka's production shape: a warm key signs MsgExec on behalf of the cold account, and the cold
// account pays the fee through x/feegrant.
TEST_F(SignerTest, WarmKeySendsThroughAuthzAndFeeGrant) {
  auto warm_account = app_->Account(warm_.address());
  ASSERT_TRUE(warm_account.ok()) << warm_account.status();
  signer_key_ = &warm_;
  options_.account_number = warm_account->first;
  options_.exec_granter = key_.address();

  // Without a grant the MsgExec lands but fails (authz 2): dead-lettered, never retried.
  ASSERT_TRUE(queue_->Enqueue(Request(Key(0))).ok());
  auto outcomes = RunSignersUntil(
      1,
      [&] {
        auto e = ledger_->Get(Key(0));
        return e.ok() && e->state == TxState::kFailed;
      },
      absl::Seconds(20), "the ungranted request failed in the ledger");
  ASSERT_EQ(outcomes[Key(0)].size(), 1u);
  EXPECT_EQ(outcomes[Key(0)][0], Outcome::kDeadLettered);
  auto dead = js_->LastMessage(txqueue::kStream, txqueue::kDeadSubject);
  ASSERT_TRUE(dead.ok() && dead->has_value());
  EXPECT_THAT((*dead)->headers[nats::kDeadReasonHeader], HasSubstr("deliver authz code 2"));

  // The cold account grants MsgRecord and a fee allowance to the warm key (one sequenced tx).
  auto cold = app_->Account(key_.address());
  ASSERT_TRUE(cold.ok());
  cosmos::TxBuilder grant;
  grant
      .AddMessage(
          cosmos::MakeGenericGrant(key_.address(), warm_.address(), "/gonka.devchain.v1.MsgRecord"))
      .AddMessage(cosmos::MakeFeeAllowance(key_.address(), warm_.address(), {}))
      .SetFee({{}, 400000, "", ""})
      .SetChainId(kChainId)
      .SetAccountNumber(cold->first)
      .SetSequence(cold->second);
  auto signed_grant = grant.Sign(key_);
  ASSERT_TRUE(signed_grant.ok()) << signed_grant.status();
  auto b = comet_->BroadcastTxSync(signed_grant->tx_raw);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->code, 0u) << b->log;
  absl::Status granted = testing::WaitForValue(
      [&] { return app_->Account(key_.address())->second; },
      [&](uint64_t sequence) { return sequence != cold->second; }, absl::Seconds(10),
      absl::Milliseconds(20),
      absl::StrCat("the grant tx on chain (cold account sequence past ", cold->second, ")"));
  ASSERT_TRUE(granted.ok()) << granted;
  absl::uint128 cold_before = app_->Balance(key_.address(), "ngonka");
  options_.fee_granter = key_.address();
  options_.fee_amount = {{"ngonka", "100"}};

  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  RunSignersUntil(
      1,
      [&] {
        for (int i = 1; i <= 3; ++i) {
          if (app_->RecordCount(Key(i)) == 0) return false;
        }
        return true;
      },
      absl::Seconds(20), "keys 1..3 on chain through the grants");
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
    auto e = ledger_->Get(Key(i));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->state, TxState::kIncluded) << Key(i);
  }
  // The granter paid the fees; the warm key still holds its single token.
  EXPECT_EQ(app_->Balance(key_.address(), "ngonka"), cold_before - 300);
  EXPECT_EQ(app_->Balance(warm_.address(), "ngonka"), 1);
  EXPECT_EQ(app_->RecordCount(Key(0)), 0u);
}

TEST_F(SignerTest, GasComesFromSimulateTimesAdjustment) {
  options_.gas_adjustment = 1.5;
  options_.gas_limit = 1'000'000;
  const std::string key = Key(0);
  ASSERT_TRUE(queue_->Enqueue(Request(key)).ok());
  RunSignersUntil(1, WhenIncluded({key}), absl::Seconds(20), "the key included");
  ASSERT_EQ(app_->RecordCount(key), 1u);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  auto info = comet_->Tx(absl::HexStringToBytes(e->tx_hash));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->gas_used, 0);
  EXPECT_LT(info->gas_wanted, 1'000'000);
  EXPECT_GE(info->gas_wanted, info->gas_used);
  std::cout << "simulate: gas_used " << info->gas_used << ", gas_wanted " << info->gas_wanted
            << std::endl;
}

TEST_F(SignerTest, AHaltedChainPausesSending) {
  options_.halt_after = absl::Seconds(1);
  chain_->Stop();  // no more blocks
  absl::SleepFor(absl::Milliseconds(1200));
  const std::string key = Key(0);
  ASSERT_TRUE(queue_->Enqueue(Request(key)).ok());
  auto paused = RunSignersUntil(
      1,
      [&] {
        auto e = ledger_->Get(key);
        return e.ok() && !e->last_error.empty();
      },
      absl::Seconds(10), "an error noted for the request (the halt)");
  ASSERT_FALSE(paused[key].empty());
  EXPECT_EQ(paused[key][0], Outcome::kRetry);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kQueued);  // nothing signed
  EXPECT_THAT(e->last_error, HasSubstr("chain halted or node behind"));

  chain_->Start();  // blocks again: the request goes through
  RunSignersUntil(
      1, [&] { return app_->RecordCount(key) > 0; }, absl::Seconds(20), "the key on chain");
  EXPECT_EQ(app_->RecordCount(key), 1u);
}

TEST_F(SignerTest, BatchesShareATxAndStillLandOnce) {
  options_.max_batch_messages = 10;
  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
    if (i % 4 == 0) {
      // A copy beyond the dedupe window (another msg id) right behind it: often in the same fetch.
      ASSERT_TRUE(js_->Publish(txqueue::kSubject, Request(Key(i)).SerializeAsString(),
                               {.msg_id = absl::StrCat("late/", Key(i))})
                      .ok());
    }
  }
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(Key(i));
  std::function<bool()> all_included = WhenIncluded(keys);
  absl::Time start = absl::Now();
  RunSignersUntil(2, all_included, absl::Seconds(30), "every key included");
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(all_included());
  std::set<std::string> hashes;
  int batched = 0;
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
    auto e = ledger_->Get(Key(i));
    ASSERT_TRUE(e.ok());
    hashes.insert(e->tx_hash);
    batched += e->batch_size > 1;
  }
  std::cout << "batching: " << kKeys << " keys in " << hashes.size() << " txs, " << took
            << std::endl;
  // The copies are acked too (nothing left for a late signer), and nothing landed twice.
  auto late = RunSignersFor(1, absl::Milliseconds(500));
  EXPECT_TRUE(late.empty());
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
  EXPECT_LT(hashes.size(), static_cast<size_t>(kKeys));
  EXPECT_GT(batched, 0);
}

TEST_F(SignerTest, AFailingBatchIsSplitAndOnlyTheBadRequestIsDeadLettered) {
  options_.max_batch_messages = 10;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  // Needs the warm key's signature, which the signer does not give: CheckTx refuses the tx.
  const std::string bad = Key(99);
  gonka::devchain::v1::MsgRecord m;
  m.set_creator(warm_.address());
  m.set_key(bad);
  txqueue::ChainTx tx;
  tx.set_idempotency_key(bad);
  *tx.add_messages() = cosmos::PackAny(m);
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  for (int i = 4; i < 8; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());

  std::vector<std::string> good;
  for (int i = 0; i < 8; ++i) good.push_back(Key(i));
  auto settled = [&] {
    if (!LedgerIncluded(good)) return false;
    auto e = ledger_->Get(bad);
    return e.ok() && e->state == TxState::kFailed;
  };
  RunSignersUntil(1, settled, absl::Seconds(30), "the good keys included and the bad one failed");
  ASSERT_TRUE(settled());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
  EXPECT_EQ(app_->RecordCount(bad), 0u);
  auto dead = js_->LastMessage(txqueue::kStream, txqueue::kDeadSubject);
  ASSERT_TRUE(dead.ok() && dead->has_value());
  EXPECT_EQ((*dead)->msg_id(), absl::StrCat("dead/", txqueue::kStream, "/",
                                            (*dead)->headers[nats::kDeadSequenceHeader]));
  EXPECT_THAT((*dead)->headers[nats::kDeadReasonHeader],
              HasSubstr(absl::StrCat("rejected: chain tx ", bad, ": checktx")));
  auto e = ledger_->Get(bad);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->batch_size, 1);  // it was sent alone in the end
}

}  // namespace
}  // namespace signer
}  // namespace gonka
