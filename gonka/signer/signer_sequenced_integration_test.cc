// Sequenced mode end to end: real Redis (the per-key lease), PostgreSQL (ledger + fence), NATS
// JetStream (the queue) and an in-process devchain that checks account sequences for real (sdk 32
// on mismatch, sdk 30 past timeout_height). Each test uses a fresh random key, so its account,
// lease and fence are its own.
//
// The oracles: devchain's RecordCount(key) (each key exactly once), and the blocks themselves:
// the account's txs carry consecutive sequences from 0, none failed, none unordered.
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/metrics.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/devchain/rpc.h"
#include "gonka/election/redis_elector.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/cosmos/tx/v1beta1/tx.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/sequencer.h"
#include "gonka/signer/signer.h"
#include "gonka/signer/signer_service.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/signer_env.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {
namespace {

using ::testing::HasSubstr;

constexpr char kChainId[] = "signer-seq-test";

std::string RandomKeyHex() {
  std::random_device rd;
  std::string bytes(32, '\0');
  for (char& c : bytes) c = static_cast<char>(rd() & 0xff);
  bytes[0] = 0x11;  // far below the curve order
  return absl::BytesToHexString(bytes);
}

// The value of `name{labels}` in the process's /metrics text, 0 if absent.
double MetricValue(const std::string& series) {
  std::istringstream in(metrics::ExposeText());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      double v = 0;
      (void)absl::SimpleAtod(line.substr(series.size() + 1), &v);
      return v;
    }
  }
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last "lease gained token=N" in a worker's log, 0 if none.
int64_t LeaseToken(const std::string& log) {
  const std::string tag = "lease gained token=";
  size_t at = log.rfind(tag);
  if (at == std::string::npos) return 0;
  size_t end = log.find('\n', at);
  int64_t token = 0;
  (void)absl::SimpleAtoi(log.substr(at + tag.size(), end - at - tag.size()), &token);
  return token;
}

// What the blocks say about one account's txs.
struct ChainTxs {
  std::vector<uint64_t> sequences;  // in block order
  std::vector<std::string> hashes;  // upper-case hex, same order
  std::vector<int64_t> heights;
  int failed = 0;             // result code != 0
  int sequence_mismatch = 0;  // result code 32
  int unordered = 0;
  int without_timeout_height = 0;
};

class SequencedSignerTest : public SignerTestBase {
 protected:
  static void SetUpTestSuite() {
    pg_ = new testing::PostgresServer();
    absl::Status s = pg_->Start();
    ASSERT_TRUE(s.ok()) << s;
    nats_ = new testing::NatsServer();
    s = nats_->Start();
    ASSERT_TRUE(s.ok()) << s;
    redis_ = new testing::RedisServer();
    s = redis_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
    delete nats_;
    nats_ = nullptr;
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    key_hex_ = RandomKeyHex();
    auto key = crypto::KeyFromHex(key_hex_);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = std::make_unique<crypto::SigningKey>(std::move(*key));

    absl::Status s = env_.Start({{key_->address(), "", {{"ngonka", "1000000000"}}}}, kChainId,
                                nats_->url(), pg_->url());
    ASSERT_TRUE(s.ok()) << s;

    auto account = app_->Account(key_->address());
    ASSERT_TRUE(account.ok()) << account.status();
    account_number_ = account->first;
    options_.mode = SignerMode::kSequenced;
    options_.chain_id = kChainId;
    options_.policy = MessagePolicy::AllowAll();
    options_.account_number = account_number_;
    options_.gas_limit = 400000;
    options_.observe_interval = absl::Milliseconds(50);
    options_.observe_budget = absl::Seconds(5);
    options_.retry_delay = absl::Milliseconds(300);
    options_.timeout_blocks = 20;
  }

  void TearDown() override {
    for (auto& e : electors_) e->Stop();
    env_.Stop();
  }

  std::string RpcUrl() const { return env_.RpcUrl(); }

  std::unique_ptr<nats::JetStream> ConnectNats() {
    nats::NatsOptions o;
    o.urls = {nats_->url()};
    o.timeout = absl::Seconds(2);
    auto js = nats::JetStream::Connect(o);
    EXPECT_TRUE(js.ok()) << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  // A lease candidate in this process for the test's key.
  election::LeaderElector* NewElector(const std::string& identity) {
    redis::RedisOptions ro;
    ro.host = "127.0.0.1";
    ro.port = redis_->port();
    election::LeaderElectorOptions eo;
    eo.identity = identity;
    auto e = election::NewRedisLeaderElector(ro, "signer:" + key_->address(), eo);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return nullptr;
    EXPECT_TRUE((*e)->Start().ok());
    electors_.push_back(std::move(*e));
    return electors_.back().get();
  }

  std::string Key(int i) {
    return absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "/", i);
  }

  txqueue::ChainTx Request(const std::string& key) {
    return RecordRequest(key_->address(), key, "signer_sequenced_integration_test");
  }

  bool AllIncluded(int n) {
    for (int i = 0; i < n; ++i) {
      if (app_->RecordCount(Key(i)) == 0) return false;
      auto e = ledger_->Get(Key(i));
      if (!e.ok() || e->state != TxState::kIncluded) return false;
    }
    return true;
  }

  int CountIncluded(int n) {
    int c = 0;
    for (int i = 0; i < n; ++i) c += app_->RecordCount(Key(i)) > 0;
    return c;
  }

  ChainTxs ScanChain() {
    ChainTxs out;
    for (int64_t h = 1; h <= chain_->height(); ++h) {
      auto block = chain_->GetBlock(h);
      if (!block.ok()) continue;
      for (size_t i = 0; i < (*block)->txs.size(); ++i) {
        ::cosmos::tx::v1beta1::TxRaw raw;
        ::cosmos::tx::v1beta1::TxBody body;
        ::cosmos::tx::v1beta1::AuthInfo auth;
        if (!raw.ParseFromString((*block)->txs[i]) || !body.ParseFromString(raw.body_bytes()) ||
            !auth.ParseFromString(raw.auth_info_bytes()) || auth.signer_infos_size() != 1) {
          continue;
        }
        out.sequences.push_back(auth.signer_infos(0).sequence());
        out.hashes.push_back(absl::AsciiStrToUpper(absl::BytesToHexString((*block)->tx_hashes[i])));
        out.heights.push_back(h);
        const uint32_t code = (*block)->tx_results[i].code;
        out.failed += code != 0;
        out.sequence_mismatch += code == 32;
        out.unordered += body.unordered();
        out.without_timeout_height += body.timeout_height() == 0;
      }
    }
    return out;
  }

  // Every tx on chain: consecutive sequences from `first`, none failed, all sequenced.
  void ExpectConsecutiveSequences(const ChainTxs& txs, uint64_t first) {
    for (size_t i = 0; i < txs.sequences.size(); ++i) {
      EXPECT_EQ(txs.sequences[i], first + i) << "tx " << txs.hashes[i];
    }
    EXPECT_EQ(txs.failed, 0);
    EXPECT_EQ(txs.sequence_mismatch, 0);
    EXPECT_EQ(txs.unordered, 0);
    EXPECT_EQ(txs.without_timeout_height, 0);
  }

  // A SignerService (the run loop signerd and the signer workers use) with `workers` signing
  // loops in sequenced mode on `lease` (the service's one Sequencer is shared by its loops), bound
  // to the test's queue. Stop() (or destruction) joins it.
  std::unique_ptr<SignerService> StartService(int workers, election::LeaderElector* lease) {
    SignerServiceOptions o;
    o.signer = options_;
    o.workers = workers;
    o.sequence_lease = lease;
    o.consumer.ack_wait = absl::Seconds(10);
    o.fetch_timeout = absl::Milliseconds(100);
    o.queue_metrics_interval = absl::ZeroDuration();
    auto service = std::make_unique<SignerService>(key_.get(), js_.get(), queue_.get(),
                                                   ledger_.get(), comet_.get(), o);
    absl::Status started = service->Start();
    EXPECT_TRUE(started.ok()) << started;
    return started.ok() ? std::move(service) : nullptr;
  }

  static testing::PostgresServer* pg_;
  static testing::NatsServer* nats_;
  static testing::RedisServer* redis_;
  std::string key_hex_;
  std::unique_ptr<crypto::SigningKey> key_;
  uint64_t account_number_ = 0;
  std::vector<std::unique_ptr<election::LeaderElector>> electors_;
  SignerOptions options_;
};
testing::PostgresServer* SequencedSignerTest::pg_ = nullptr;
testing::NatsServer* SequencedSignerTest::nats_ = nullptr;
testing::RedisServer* SequencedSignerTest::redis_ = nullptr;

TEST_F(SequencedSignerTest, TwoSignersShareTheSequenceBatchedOrNotEachKeyOnce) {
  election::LeaderElector* lease = NewElector("in-process");
  ASSERT_NE(lease, nullptr);
  ASSERT_TRUE(testing::WaitFor([&] { return lease->IsLeader(); }, absl::Seconds(10),
                               absl::Milliseconds(20), "the lease")
                  .ok());
  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  const absl::Time start = absl::Now();
  // Two loops one request per tx for the first half, then (a restarted service, same lease:
  // its Sequencer reads the sequence from the chain again) batches of up to 5.
  options_.max_batch_messages = 1;
  std::unique_ptr<SignerService> unbatched = StartService(2, lease);
  ASSERT_NE(unbatched, nullptr);
  absl::Status half = testing::WaitFor([&] { return AllIncluded(kKeys / 2); }, absl::Seconds(60),
                                       absl::Milliseconds(50), "the first half of the keys");
  unbatched->Stop();
  ASSERT_TRUE(half.ok()) << half << "; included " << CountIncluded(kKeys);
  options_.max_batch_messages = 5;
  std::unique_ptr<SignerService> batched = StartService(2, lease);
  ASSERT_NE(batched, nullptr);
  absl::Status all = testing::WaitFor([&] { return AllIncluded(kKeys); }, absl::Seconds(60),
                                      absl::Milliseconds(50), "every key included");
  batched->Stop();
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(all.ok()) << all << "; included " << CountIncluded(kKeys);
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  std::set<std::string> hashes;
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
    auto e = ledger_->Get(Key(i));
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE(e->sequenced()) << Key(i);
    EXPECT_EQ(e->fencing_token, lease->Token()) << Key(i);
    hashes.insert(e->tx_hash);
  }
  ChainTxs txs = ScanChain();
  ExpectConsecutiveSequences(txs, 0);
  EXPECT_EQ(txs.sequences.size(), hashes.size());
  EXPECT_EQ(app_->Account(key_->address())->second, hashes.size());
  std::cout << "sequenced: " << kKeys << " keys in " << hashes.size() << " txs by 2 signers in "
            << took << std::endl;
}

TEST_F(SequencedSignerTest, ASequenceSpentElsewhereIsResyncedAndEachKeyLandsOnce) {
  election::LeaderElector* lease = NewElector("in-process");
  ASSERT_NE(lease, nullptr);
  ASSERT_TRUE(testing::WaitFor([&] { return lease->IsLeader(); }, absl::Seconds(10),
                               absl::Milliseconds(20), "the lease")
                  .ok());
  // One signing loop, running through the whole test (its Sequencer keeps the sequence).
  std::unique_ptr<SignerService> service = StartService(1, lease);
  ASSERT_NE(service, nullptr);
  ASSERT_TRUE(queue_->Enqueue(Request(Key(0))).ok());
  absl::Status first = testing::WaitFor([&] { return AllIncluded(1); }, absl::Seconds(20),
                                        absl::Milliseconds(50), "key 0 included");
  ASSERT_TRUE(first.ok()) << first;
  // The signer now holds sequence 1 locally. Someone else spends it with the same key.
  cosmos::TxBuilder outside;
  gonka::devchain::v1::MsgRecord m;
  m.set_creator(key_->address());
  m.set_key("outside");
  outside.AddMessage(m)
      .SetFee({{}, 400000, "", ""})
      .SetChainId(kChainId)
      .SetAccountNumber(account_number_)
      .SetSequence(app_->Account(key_->address())->second)
      .SetTimeoutHeight(static_cast<uint64_t>(chain_->height() + 50));
  auto signed_outside = outside.Sign(*key_);
  ASSERT_TRUE(signed_outside.ok()) << signed_outside.status();
  auto b = comet_->BroadcastTxSync(signed_outside->tx_raw);
  ASSERT_TRUE(b.ok() && b->code == 0) << (b.ok() ? b->log : b.status().ToString());
  absl::Status outside_landed =
      testing::WaitFor([&] { return app_->RecordCount("outside") == 1; }, absl::Seconds(10),
                       absl::Milliseconds(20), "the outside tx on chain");
  ASSERT_TRUE(outside_landed.ok()) << outside_landed;

  const double mismatches_before =
      MetricValue("gonka_signer_retries_total{reason=\"sequence_mismatch\"}");
  constexpr int kKeys = 6;
  for (int i = 1; i < kKeys; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  absl::Status all = testing::WaitFor([&] { return AllIncluded(kKeys); }, absl::Seconds(30),
                                      absl::Milliseconds(50), "every key included");
  service->Stop();
  ASSERT_TRUE(all.ok()) << all << "; included " << CountIncluded(kKeys);
  absl::Status more = WaitForNewBlocks(3);
  ASSERT_TRUE(more.ok()) << more;
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
  EXPECT_EQ(app_->RecordCount("outside"), 1u);
  const double mismatches =
      MetricValue("gonka_signer_retries_total{reason=\"sequence_mismatch\"}") - mismatches_before;
  EXPECT_GE(mismatches, 1);
  // Key 1 was signed with the spent sequence first, then re-signed once the chain showed the
  // sequence consumed and its hash absent.
  auto e = ledger_->Get(Key(1));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->attempts, 2);
  ChainTxs txs = ScanChain();
  ExpectConsecutiveSequences(txs, 0);
  EXPECT_EQ(txs.sequences.size(), static_cast<size_t>(kKeys + 1));
  std::cout << "sequence mismatch: " << mismatches << " resync(s), key 1 signed " << e->attempts
            << " times, " << kKeys << " keys once each" << std::endl;
}

TEST_F(SequencedSignerTest, ASignerWithoutTheLeaseDoesNotSign) {
  election::LeaderElector* holder = NewElector("holder");
  ASSERT_NE(holder, nullptr);
  ASSERT_TRUE(testing::WaitFor([&] { return holder->IsLeader(); }, absl::Seconds(10),
                               absl::Milliseconds(20), "the holder's lease")
                  .ok());
  election::LeaderElector* other = NewElector("other");
  ASSERT_NE(other, nullptr);
  absl::SleepFor(absl::Milliseconds(300));  // let it campaign (and lose)
  ASSERT_FALSE(other->IsLeader());
  Sequencer sequencer(other, ledger_.get(), comet_.get(), key_->address());
  ASSERT_TRUE(queue_->Enqueue(Request(Key(0))).ok());
  auto js = ConnectNats();
  txqueue::ConsumerOptions co;
  co.dead_letter_expired = false;
  auto consumer = txqueue::TxConsumer::Bind(js.get(), co);
  ASSERT_TRUE(consumer.ok());
  options_.sequencer = &sequencer;
  Signer signer(key_.get(), consumer->get(), ledger_.get(), comet_.get(), options_);
  // RunOnce leaves the queue alone.
  auto r = signer.RunOnce(absl::Milliseconds(200));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(*r);
  // A delivery handed to it anyway is given back, nothing signed.
  auto batch = (*consumer)->Fetch(1, absl::Seconds(2));
  ASSERT_TRUE(batch.ok() && batch->size() == 1);
  const double lost_before = MetricValue("gonka_signer_retries_total{reason=\"lease_lost\"}");
  auto o = signer.Process((*batch)[0]);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o, Outcome::kRetry);
  EXPECT_EQ(MetricValue("gonka_signer_retries_total{reason=\"lease_lost\"}") - lost_before, 1);
  auto e = ledger_->Get(Key(0));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kQueued);
  EXPECT_THAT(e->last_error, HasSubstr("not the sequence owner"));
  // The sequencer refuses a slot outright.
  auto slot = sequencer.Acquire();
  EXPECT_EQ(slot.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MetricValue("gonka_signer_in_flight"), 0);
}

// kill -9 in sequenced mode: 3 signer processes share the key and the lease while the test
// SIGKILLs a random one every 0.7–1.5 s (and restarts it). A killed holder never releases its
// lease; the next holder waits for it to expire, raises the fence and reads the sequence from
// the chain. Batches of up to 4. Seed printed (GONKA_CHAOS_SEED replays it).
TEST_F(SequencedSignerTest, EveryKeyOnceWhileSequencedSignersAreKilled) {
  uint64_t seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  if (const char* env = std::getenv("GONKA_CHAOS_SEED")) {
    ASSERT_TRUE(absl::SimpleAtoi(env, &seed));
  }
  std::cout << "sequenced chaos seed " << seed << std::endl;
  std::mt19937_64 rng(seed);
  // Enough keys that the run outlasts >= 10 kills (batch-wide ledger statements made it fast).
  constexpr int kKeys = 600;
  constexpr int kSigners = 3;
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  auto worker_path = testing::ResolveRunfile("gonka/testing/signer_worker");
  ASSERT_TRUE(worker_path.ok()) << worker_path.status();
  testing::TempDir logs("signer-seq-chaos");
  std::vector<std::unique_ptr<testing::Subprocess>> signers;
  for (int i = 0; i < kSigners; ++i) {
    testing::SubprocessOptions so;
    so.argv = {*worker_path};
    so.env = {{"SIGNER_NATS_URL", nats_->url()},
              {"SIGNER_PG_URL", pg_->url()},
              {"SIGNER_RPC_URL", RpcUrl()},
              {"SIGNER_CHAIN_ID", kChainId},
              {"SIGNER_ACCOUNT_NUMBER", absl::StrCat(account_number_)},
              {"SIGNER_KEY_HEX", key_hex_},
              {"SIGNER_ACK_WAIT_MS", "3000"},
              {"SIGNER_MAX_BATCH", "4"},
              {"SIGNER_MODE", "sequenced"},
              {"SIGNER_REDIS", redis_->address()},
              {"SIGNER_IDENTITY", absl::StrCat("signer-", i)},
              {"SIGNER_TIMEOUT_BLOCKS", "20"}};
    so.log_path = absl::StrCat(logs.path(), "/signer-", i, ".log");
    signers.push_back(std::make_unique<testing::Subprocess>(so));
    ASSERT_TRUE(signers.back()->Start().ok());
  }
  int kills = 0;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(100);
  while (absl::Now() < deadline && !AllIncluded(kKeys)) {
    absl::SleepFor(absl::Milliseconds(700 + static_cast<int>(rng() % 800)));
    if (CountIncluded(kKeys) >= kKeys * 9 / 10) continue;  // let the survivors finish
    int victim = static_cast<int>(rng() % kSigners);
    ASSERT_TRUE(signers[victim]->Kill().ok());
    ++kills;
    ASSERT_TRUE(signers[victim]->Start().ok());
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(AllIncluded(kKeys)) << "included " << CountIncluded(kKeys) << " of " << kKeys
                                  << " after " << kills << " kills";
  absl::Status more = WaitForNewBlocks(5);
  ASSERT_TRUE(more.ok()) << more;
  int duplicates = 0, lost = 0, resigned = 0;
  for (int i = 0; i < kKeys; ++i) {
    uint64_t n = app_->RecordCount(Key(i));
    duplicates += n > 1;
    lost += n == 0;
    auto e = ledger_->Get(Key(i));
    ASSERT_TRUE(e.ok());
    resigned += e->attempts > 1;
  }
  ChainTxs txs = ScanChain();
  ExpectConsecutiveSequences(txs, 0);
  std::set<int64_t> tokens;
  for (const auto& h : txs.hashes) {
    auto row = pool_->Exec("SELECT fencing_token FROM signer_ledger WHERE tx_hash = $1", {h});
    if (row.ok() && row->rows() > 0) tokens.insert(std::stoll(row->Get(0, 0).value_or("0")));
  }
  std::cout << "sequenced chaos: " << kKeys << " keys, " << kSigners << " signers, " << kills
            << " kill -9, " << took << "; " << txs.sequences.size()
            << " txs with consecutive sequences, " << tokens.size()
            << " lease terms signed, duplicates " << duplicates << ", lost " << lost
            << ", keys re-signed " << resigned << std::endl;
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_GE(kills, 10);
  for (auto& p : signers) ASSERT_TRUE(p->Kill().ok());
}

// The zombie: signer process A holds the lease and SIGSTOPs itself at `point` of its third send
// (a real SIGSTOP, at a deterministic spot), or ("random") the test SIGSTOPs it from outside
// wherever it is once it has landed 3 keys. Its lease expires; B is elected, raises the fence
// and signs. Then A gets SIGCONT and carries on from exactly where it stopped, still believing
// in its token. It must not consume a sequence.
class SequencedZombieTest : public SequencedSignerTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(SequencedZombieTest, APausedLeaseHolderCannotConsumeASequence) {
  const std::string point = GetParam();
  constexpr int kKeys = 30;
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(queue_->Enqueue(Request(Key(i))).ok());
  auto worker_path = testing::ResolveRunfile("gonka/testing/signer_worker");
  ASSERT_TRUE(worker_path.ok()) << worker_path.status();
  testing::TempDir logs("signer-zombie");
  auto worker = [&](const std::string& name, bool stop) {
    testing::SubprocessOptions so;
    so.argv = {*worker_path};
    so.env = {{"SIGNER_NATS_URL", nats_->url()},
              {"SIGNER_PG_URL", pg_->url()},
              {"SIGNER_RPC_URL", RpcUrl()},
              {"SIGNER_CHAIN_ID", kChainId},
              {"SIGNER_ACCOUNT_NUMBER", absl::StrCat(account_number_)},
              {"SIGNER_KEY_HEX", key_hex_},
              {"SIGNER_ACK_WAIT_MS", "3000"},
              {"SIGNER_MODE", "sequenced"},
              {"SIGNER_REDIS", redis_->address()},
              {"SIGNER_IDENTITY", name},
              {"SIGNER_TIMEOUT_BLOCKS", "20"}};
    if (stop) {
      so.env["SIGNER_STOP_AT"] = point;
      so.env["SIGNER_STOP_AT_COUNT"] = "3";
    }
    so.log_path = absl::StrCat(logs.path(), "/", name, ".log");
    return std::make_unique<testing::Subprocess>(so);
  };
  const bool self_stop = point != "random";
  auto a = worker("A", self_stop);
  ASSERT_TRUE(a->Start().ok());
  int by_a = 0;
  if (self_stop) {
    absl::Status stopped = testing::WaitFor(
        [&] { return ReadFile(a->log_path()).find("worker: stopping at") != std::string::npos; },
        absl::Seconds(30), absl::Milliseconds(20), "worker A to stop itself at " + point);
    ASSERT_TRUE(stopped.ok()) << stopped << "\n" << ReadFile(a->log_path());
    by_a = CountIncluded(kKeys);
    EXPECT_GE(by_a, 1);  // stopped in its third send
    EXPECT_LE(by_a, 2);
  } else {
    // SIGSTOP from outside at whatever A is doing once it has landed a few keys.
    absl::Status landed = testing::WaitForValue(
        [&] { return CountIncluded(kKeys); }, [](int n) { return n >= 3; }, absl::Seconds(30),
        absl::Milliseconds(20), "3 keys landed by worker A");
    ASSERT_TRUE(landed.ok()) << landed << "\n--- worker A log ---\n" << ReadFile(a->log_path());
    ASSERT_TRUE(a->Pause().ok());
    by_a = CountIncluded(kKeys);
  }
  const int64_t token_a = LeaseToken(ReadFile(a->log_path()));
  ASSERT_GT(token_a, 0);

  auto b = worker("B", false);
  ASSERT_TRUE(b->Start().ok());
  absl::Status elected =
      testing::WaitFor([&] { return LeaseToken(ReadFile(b->log_path())) > 0; }, absl::Seconds(20),
                       absl::Milliseconds(20), "worker B to gain the lease");
  ASSERT_TRUE(elected.ok()) << elected << "\n" << ReadFile(b->log_path());
  const int64_t token_b = LeaseToken(ReadFile(b->log_path()));
  EXPECT_GT(token_b, token_a);
  // B works for a while (it has raised the fence and uses the sequence), then A wakes up.
  absl::Status b_works = testing::WaitForValue(
      [&] { return CountIncluded(kKeys); }, [&](int n) { return n >= by_a + 5; }, absl::Seconds(30),
      absl::Milliseconds(20), absl::StrCat(by_a + 5, " keys landed (5 by worker B)"));
  auto worker_logs = [&] {
    return absl::StrCat("\n--- worker A log ---\n", ReadFile(a->log_path()),
                        "\n--- worker B log ---\n", ReadFile(b->log_path()));
  };
  ASSERT_TRUE(b_works.ok()) << b_works << worker_logs();
  ASSERT_TRUE(a->Resume().ok());
  // A runs again: its elector notices the lost lease (local deadline) and says so.
  absl::Status noticed = testing::WaitFor(
      [&] { return ReadFile(a->log_path()).find("lease lost") != std::string::npos; },
      absl::Seconds(10), absl::Milliseconds(20), "worker A to log \"lease lost\"");
  ASSERT_TRUE(noticed.ok()) << noticed << worker_logs();
  absl::Status all = testing::WaitFor([&] { return AllIncluded(kKeys); }, absl::Seconds(60),
                                      absl::Milliseconds(50), "every key included");
  ASSERT_TRUE(all.ok()) << all << "; included " << CountIncluded(kKeys) << " of " << kKeys
                        << worker_logs();
  absl::Status more = WaitForNewBlocks(5);
  ASSERT_TRUE(more.ok()) << more;

  // Each key exactly once; the account's sequences consecutive; no failed (sequence) tx.
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(app_->RecordCount(Key(i)), 1u) << Key(i);
  ChainTxs txs = ScanChain();
  ExpectConsecutiveSequences(txs, 0);
  EXPECT_EQ(txs.sequences.size(), static_cast<size_t>(kKeys));

  // The fence belongs to B, and nothing A recorded was recorded after B raised it: every tx on
  // chain recorded under A's token was signed before B's election took effect.
  auto fence = pool_->Exec(
      "SELECT token, (extract(epoch FROM raised_at) * 1000000)::bigint FROM signer_fence "
      "WHERE account = $1",
      {key_->address()});
  ASSERT_TRUE(fence.ok() && fence->rows() == 1);
  int64_t fence_token = 0, raised_us = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fence->Get(0, 0).value_or(""), &fence_token));
  ASSERT_TRUE(absl::SimpleAtoi(fence->Get(0, 1).value_or(""), &raised_us));
  EXPECT_EQ(fence_token, token_b);
  int from_a = 0, from_b = 0, resigned = 0;
  int64_t last_a_height = 0;
  for (size_t i = 0; i < txs.hashes.size(); ++i) {
    auto row = pool_->Exec(
        "SELECT fencing_token, (extract(epoch FROM signed_at) * 1000000)::bigint, attempts "
        "FROM signer_ledger WHERE tx_hash = $1",
        {txs.hashes[i]});
    ASSERT_TRUE(row.ok() && row->rows() >= 1) << txs.hashes[i];
    int64_t token = 0, signed_us = 0, attempts = 0;
    ASSERT_TRUE(absl::SimpleAtoi(row->Get(0, 0).value_or(""), &token));
    ASSERT_TRUE(absl::SimpleAtoi(row->Get(0, 1).value_or(""), &signed_us));
    ASSERT_TRUE(absl::SimpleAtoi(row->Get(0, 2).value_or(""), &attempts));
    resigned += attempts > 1;
    if (token == token_a) {
      ++from_a;
      last_a_height = txs.heights[i];
      EXPECT_LT(signed_us, raised_us) << "tx " << txs.hashes[i] << " recorded by the zombie";
    } else {
      EXPECT_EQ(token, token_b) << txs.hashes[i];
      ++from_b;
    }
  }
  // A woke up in its send and was refused: by the fence (before_record) or by its own lease
  // check (before_broadcast).
  const std::string log_a = ReadFile(a->log_path());
  if (point == "before_record") {
    EXPECT_THAT(log_a, HasSubstr("worker: continued at"));
    EXPECT_THAT(log_a, HasSubstr("fenced out"));
  } else if (point == "before_broadcast") {
    EXPECT_THAT(log_a, HasSubstr("worker: continued at"));
    EXPECT_THAT(log_a, HasSubstr("lease lost before broadcast"));
  }
  if (HasFailure()) std::cout << worker_logs() << std::endl;
  std::cout << "zombie at " << point << ": tokens A=" << token_a << " B=" << token_b << "; "
            << kKeys << " keys once each, " << txs.sequences.size()
            << " txs with consecutive sequences, " << from_a << " recorded by A before B's fence"
            << " (last at height " << last_a_height << "), " << from_b << " by B, " << resigned
            << " re-signed" << std::endl;
  ASSERT_TRUE(a->Kill().ok());
  ASSERT_TRUE(b->Kill().ok());
}

INSTANTIATE_TEST_SUITE_P(StopPoints, SequencedZombieTest,
                         ::testing::Values("before_record", "before_broadcast", "random"));

}  // namespace
}  // namespace signer
}  // namespace gonka
