// Fenced writes against real servers: RedisFence and JetStreamFence reject a write whose token
// is older than the newest (elected or written), and apply the newest leader's writes.
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/election/fenced_write.h"
#include "gonka/election/jetstream_elector.h"
#include "gonka/election/redis_elector.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace election {
namespace {

using ::testing::HasSubstr;

TEST(RedisFenceTest, RejectsOlderTokensAndReportsTheNewest) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  redis::RedisOptions o;
  o.port = server.port();
  redis::RedisClient client(o);
  RedisFence fence(&client, "fence-test");
  auto a = fence.Set(3, "cursor", "100");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->applied);
  auto same = fence.Set(3, "cursor", "101");  // the same leader writes again
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->applied);
  auto newer = fence.IncrBy(5, "counter", 1);
  ASSERT_TRUE(newer.ok());
  EXPECT_TRUE(newer->applied);
  EXPECT_EQ(newer->value, 1);
  auto older = fence.Set(2, "cursor", "99");
  ASSERT_TRUE(older.ok());
  EXPECT_FALSE(older->applied);
  EXPECT_EQ(older->newest_token, 3);
  EXPECT_EQ(*server.Command({"GET", "cursor"}), "101");
  // A newer leader elected (epoch raised) fences the old token out before it writes anything.
  ASSERT_TRUE(server.Command({"SET", RedisElectionKeysFor("fence-test").epoch, "9"}).ok());
  auto zombie = fence.Set(3, "cursor", "102");
  ASSERT_TRUE(zombie.ok());
  EXPECT_FALSE(zombie->applied);
  EXPECT_EQ(zombie->newest_token, 9);
  EXPECT_EQ(*server.Command({"GET", "cursor"}), "101");
  EXPECT_EQ(fence.Set(0, "cursor", "1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JetStreamFenceTest, RejectsOlderTokens) {
  gonka::testing::NatsServer server;
  ASSERT_TRUE(server.Start().ok());
  nats::NatsOptions o;
  o.urls = {server.url()};
  auto client = nats::NatsClient::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  auto fence = JetStreamFence::Open(client->get(), "fence-test");
  ASSERT_TRUE(fence.ok()) << fence.status();
  auto a = (*fence)->IncrBy(4, "counter", 2);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->applied);
  EXPECT_EQ(a->value, 2);
  auto b = (*fence)->IncrBy(4, "counter", 1);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->applied);
  EXPECT_EQ(b->value, 3);
  auto old = (*fence)->IncrBy(3, "counter", 1);
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->applied);
  EXPECT_EQ(old->newest_token, 4);
}

TEST(JetStreamElectorTest, MismatchedLeaseTtlIsAnErrorNamingTheField) {
  gonka::testing::NatsServer server;
  ASSERT_TRUE(server.Start().ok());
  nats::NatsOptions o;
  o.urls = {server.url()};
  LeaderElectorOptions first;
  first.identity = "a";
  auto a = NewJetStreamLeaderElector(o, "ttl-test", first);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE((*a)->Start().ok());
  LeaderElectorOptions second = first;
  second.identity = "b";
  second.lease_ttl = absl::Seconds(4);
  second.renew_deadline = absl::Seconds(3);
  auto b = NewJetStreamLeaderElector(o, "ttl-test", second);
  ASSERT_TRUE(b.ok()) << b.status();
  absl::Status s = (*b)->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_age"));
  EXPECT_THAT(std::string(NewJetStreamLeaderElector(o, "bad name", first).status().message()),
              HasSubstr("election_name"));
  (*a)->Stop();
}

}  // namespace
}  // namespace election
}  // namespace gonka
