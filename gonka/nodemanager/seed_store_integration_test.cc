// SeedStore against a real PostgreSQL: the first seed stored for (participant, epoch) wins, a
// second replica (another pool, another store object) reads the seed an earlier leader stored,
// racing EnsureSeed calls all return one seed, and the in-memory store behaves the same.
#include "gonka/nodemanager/seed_store.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nodemanager {
namespace {

crypto::SigningKey TestKey(char fill) {
  auto key = crypto::KeyFromHex(std::string(64, fill));
  EXPECT_TRUE(key.ok()) << key.status();
  return std::move(*key);
}

class PgSeedStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::PostgresServer();
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::unique_ptr<pg::Pool> OpenPool() {
    pg::PgOptions o;
    o.conninfo = server_->url();
    o.max_connections = 4;
    auto pool = pg::Pool::Open(o);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }
  std::string Participant() {
    return ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  static testing::PostgresServer* server_;
};
testing::PostgresServer* PgSeedStoreTest::server_ = nullptr;

TEST_F(PgSeedStoreTest, FirstSeedWinsAndAnotherReplicaReadsIt) {
  auto pool_a = OpenPool();
  auto pool_b = OpenPool();
  ASSERT_TRUE(pool_a && pool_b);
  auto leader = PgSeedStore::Open(pool_a.get());
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto successor = PgSeedStore::Open(pool_b.get());  // migrations are idempotent
  ASSERT_TRUE(successor.ok()) << successor.status();

  std::string p = Participant();
  EXPECT_EQ((*successor)->Get(p, 4).status().code(), absl::StatusCode::kNotFound);
  SeedInfo first = GenerateSeed(TestKey('1'), 4);
  auto stored = (*leader)->PutIfAbsent(p, first);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->seed, first.seed);

  // A later leader with a rotated warm key would derive another seed; the stored one wins.
  SeedInfo rotated = GenerateSeed(TestKey('2'), 4);
  ASSERT_NE(rotated.seed, first.seed);
  auto again = (*successor)->PutIfAbsent(p, rotated);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->seed, first.seed);
  EXPECT_EQ(again->signature_hex, first.signature_hex);

  auto read = (*successor)->Get(p, 4);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->seed, first.seed);
  EXPECT_EQ(read->epoch, 4u);
  EXPECT_EQ(read->signature_hex, first.signature_hex);
  // Other epochs and participants are separate keys.
  EXPECT_EQ((*successor)->Get(p, 5).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*successor)->Get(p + "x", 4).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgSeedStoreTest, RacingEnsureSeedGivesOneSeed) {
  auto pool = OpenPool();
  ASSERT_TRUE(pool);
  auto store = PgSeedStore::Open(pool.get());
  ASSERT_TRUE(store.ok()) << store.status();
  std::string p = Participant();
  std::vector<SeedInfo> got(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      // Each "replica" has a different warm key, so only the store makes them agree.
      auto seed = EnsureSeed(**store, TestKey(static_cast<char>('1' + i)), p, 9);
      ASSERT_TRUE(seed.ok()) << seed.status();
      got[i] = *seed;
    });
  }
  for (auto& t : threads) t.join();
  for (const SeedInfo& s : got) {
    EXPECT_EQ(s.seed, got[0].seed);
    EXPECT_EQ(s.signature_hex, got[0].signature_hex);
  }
}

TEST_F(PgSeedStoreTest, RefusesMalformedSeeds) {
  auto pool = OpenPool();
  ASSERT_TRUE(pool);
  auto store = PgSeedStore::Open(pool.get());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->PutIfAbsent("", GenerateSeed(TestKey('1'), 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  SeedInfo zero{0, 1, "ab"};
  EXPECT_EQ((*store)->PutIfAbsent(Participant(), zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InMemorySeedStoreTest, SameSemantics) {
  InMemorySeedStore store;
  EXPECT_EQ(store.Get("p", 1).status().code(), absl::StatusCode::kNotFound);
  auto a = EnsureSeed(store, TestKey('1'), "p", 1);
  auto b = EnsureSeed(store, TestKey('2'), "p", 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->seed, b->seed);
  EXPECT_EQ(store.Get("p", 1)->signature_hex, a->signature_hex);
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
