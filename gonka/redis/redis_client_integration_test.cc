#include <atomic>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gonka/redis/redis_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace redis {
namespace {

using ::testing::HasSubstr;

RedisOptions Plain(int port) {
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  return o;
}

TEST(RedisClientTest, CommandsAndErrorsNameTheServer) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  RedisClient client(Plain(server.port()));
  ASSERT_TRUE(client.Command({"SET", "k", "v"}).ok());
  auto r = client.Command({"GET", "k"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "v");
  auto nil = client.Command({"GET", "missing"});
  ASSERT_TRUE(nil.ok());
  EXPECT_TRUE(nil->is_nil());
  auto i = client.Command({"INCR", "n"});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(*i->AsInt(), 1);
  auto bad = client.Command({"INCR", "k"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(server.address()));
}

TEST(RedisClientTest, UnreachableServerIsUnavailableAndNamed) {
  int port = gonka::testing::FreePort();
  RedisClient client(Plain(port));
  absl::Status s = client.Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("127.0.0.1:", port)));
}

TEST(RedisClientTest, ReconnectsAfterRestartAndReloadsScripts) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  RedisClient client(Plain(server.port()));
  RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto r = script.Run(client, {"c"}, {"5"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->integer, 5);
  ASSERT_TRUE(server.Kill().ok());
  ASSERT_TRUE(server.Restart().ok());
  // The first call may fail on the dead connection; a later one must succeed with the script
  // reloaded (the restarted server has an empty script cache).
  absl::StatusOr<RedisReply> again = script.Run(client, {"c"}, {"2"});
  if (!again.ok()) again = script.Run(client, {"c"}, {"2"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->integer, 2);
}

TEST(RedisClientTest, SubscriberReceivesMessages) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  std::atomic<int> got{0};
  RedisSubscriber sub(Plain(server.port()), {"ch"},
                      [&](const std::string& channel, const std::string& message) {
                        if (channel == "ch" && message == "hello") got++;
                      });
  sub.Start();
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return sub.subscribed(); }, absl::Seconds(5)).ok());
  RedisClient client(Plain(server.port()));
  ASSERT_TRUE(client.Command({"PUBLISH", "ch", "hello"}).ok());
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return got.load() == 1; }, absl::Seconds(5)).ok());
  // Survives a restart of the server: re-subscribes.
  ASSERT_TRUE(server.Kill().ok());
  ASSERT_TRUE(server.Restart().ok());
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    if (sub.subscribed()) (void)client.Command({"PUBLISH", "ch", "hello"});
                    return got.load() >= 2;
                  },
                  absl::Seconds(10), absl::Milliseconds(100))
                  .ok());
  sub.Stop();
}

TEST(RedisClientTest, SentinelDiscoversMaster) {
  gonka::testing::RedisServer master;
  ASSERT_TRUE(master.Start().ok());
  gonka::testing::RedisSentinel sentinel({.master_port = master.port()});
  ASSERT_TRUE(sentinel.Start().ok());
  RedisOptions o;
  o.sentinels = {absl::StrCat("127.0.0.1:", gonka::testing::FreePort()),  // dead one first
                 sentinel.address()};
  o.master_name = sentinel.master_name();
  ASSERT_TRUE(ValidateRedisOptions(o).ok());
  RedisClient client(o);
  ASSERT_TRUE(client.Command({"SET", "x", "1"}).ok());
  EXPECT_EQ(client.server(), master.address());
  o.master_name.clear();
  EXPECT_THAT(std::string(ValidateRedisOptions(o).message()), HasSubstr("master_name"));
}

}  // namespace
}  // namespace redis
}  // namespace gonka
