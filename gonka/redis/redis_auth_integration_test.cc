// Redis credentials against real servers: a password-protected Redis refuses a client without
// the password or with a wrong one (clear errors naming server and user, never the password),
// accepts the right one on every (re)connect, through Sentinel discovery too (Sentinels with a
// password of their own), and a Redis 7 ACL user is confined to the keys and commands libgonka
// needs (docs/security-redis-pg.md).
#include <atomic>
#include <string>
#include <vector>

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
using ::testing::Not;

constexpr char kAdminPassword[] = "admin-pw-3f9c1e";
constexpr char kNodePassword[] = "node-pw-8a2d77";
constexpr char kWrongPassword[] = "wrong-pw-55b0aa";
constexpr char kSentinelPassword[] = "sentinel-pw-c41d09";

// The ACL rule docs/security-redis-pg.md recommends for a node's daemons: the election, fence
// and event-hub cursor keys, the release channel, and only the commands libgonka sends
// (including those its Lua scripts call).
std::string NodeAclRule() { return gonka::testing::NodeRedisAclRule("gonka-node", kNodePassword); }

RedisOptions Plain(int port) {
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  return o;
}

// No secret in the text of a status.
void ExpectNoSecret(const absl::Status& s) {
  for (const char* secret : {kAdminPassword, kNodePassword, kWrongPassword, kSentinelPassword}) {
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(secret))) << s;
  }
}

gonka::testing::RedisServer::Options Protected() {
  gonka::testing::RedisServer::Options o;
  o.password = kAdminPassword;
  o.acl_users = {NodeAclRule()};
  return o;
}

TEST(RedisAuthTest, NoPasswordIsRefusedNamingTheServer) {
  gonka::testing::RedisServer server(Protected());
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();
  RedisClient client(Plain(server.port()));
  absl::StatusOr<RedisReply> r = client.Command({"GET", "gonka:x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("NOAUTH"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(server.address()));
  ExpectNoSecret(r.status());
}

TEST(RedisAuthTest, WrongPasswordIsRefusedNamingServerAndUser) {
  gonka::testing::RedisServer server(Protected());
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();

  RedisOptions o = Plain(server.port());
  o.password = kWrongPassword;
  RedisClient default_user(o);
  absl::Status s = default_user.Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(server.address()));
  EXPECT_THAT(std::string(s.message()), HasSubstr("user \"default\""));
  EXPECT_THAT(std::string(s.message()), HasSubstr("WRONGPASS"));
  ExpectNoSecret(s);
  EXPECT_EQ(default_user.Command({"PING"}).status().code(), absl::StatusCode::kUnauthenticated);

  o.user = "gonka-node";
  RedisClient acl_user(o);
  s = acl_user.Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("user \"gonka-node\""));
  ExpectNoSecret(s);

  // The right password for another user is still wrong.
  o.password = kAdminPassword;
  RedisClient swapped(o);
  EXPECT_EQ(swapped.Connect().code(), absl::StatusCode::kUnauthenticated);
}

TEST(RedisAuthTest, RightPasswordWorksAndIsSentAgainAfterARestart) {
  gonka::testing::RedisServer::Options so = Protected();
  so.appendonly = true;  // the value written survives the crash
  gonka::testing::RedisServer server(so);
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();
  RedisOptions o = Plain(server.port());
  o.password = kAdminPassword;
  RedisClient client(o);
  ASSERT_TRUE(client.Command({"SET", "k", "v"}).ok());
  absl::StatusOr<RedisReply> v = client.Command({"GET", "k"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->str, "v");

  // A crash drops the authenticated connection; the reconnect must AUTH again.
  ASSERT_TRUE(server.Kill().ok());
  ASSERT_TRUE(server.Restart().ok()) << server.LogTail();
  absl::StatusOr<RedisReply> after;
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    after = client.Command({"GET", "k"});
                    return after.ok();
                  },
                  absl::Seconds(10))
                  .ok())
      << after.status();
  EXPECT_EQ(after->str, "v");

  // Scripts run as the authenticated user too.
  RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  absl::StatusOr<RedisReply> n = script.Run(client, {"n"}, {"3"});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->integer, 3);
}

TEST(RedisAuthTest, AclUserMayUseLibgonkaKeysAndCommandsOnly) {
  gonka::testing::RedisServer server(Protected());
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();
  RedisOptions o = Plain(server.port());
  o.user = "gonka-node";
  o.password = kNodePassword;
  RedisClient client(o);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Command({"PING"}).ok());
  absl::StatusOr<RedisReply> set = client.Command({"SET", "gonka:election:{x}:epoch", "1"});
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_TRUE(client.Command({"SET", "eventhub:{chain}:cursor", "7"}).ok());
  RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  ASSERT_TRUE(script.Run(client, {"gonka:counter"}, {"2"}).ok());

  // Another key, an admin command, a dangerous command, a script touching another key: denied,
  // naming the user.
  for (const std::vector<std::string>& denied :
       std::vector<std::vector<std::string>>{{"SET", "other:key", "1"},
                                             {"GET", "signer:secret"},
                                             {"CONFIG", "GET", "requirepass"},
                                             {"FLUSHALL"},
                                             {"KEYS", "*"},
                                             {"ACL", "LIST"}}) {
    absl::StatusOr<RedisReply> r = client.Command(denied);
    ASSERT_FALSE(r.ok()) << denied[0];
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("NOPERM"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("user \"gonka-node\""));
    ExpectNoSecret(r.status());
  }
  absl::StatusOr<RedisReply> escaped = script.Run(client, {"other:counter"}, {"1"});
  EXPECT_FALSE(escaped.ok());
  // Nothing outside the allowed keys was written.
  EXPECT_EQ(server.Command({"EXISTS", "other:key"}).value_or("?"), "0");
  EXPECT_EQ(server.Command({"EXISTS", "other:counter"}).value_or("?"), "0");
  EXPECT_EQ(server.Command({"DBSIZE"}).value_or("?"), "3");
}

TEST(RedisAuthTest, SubscriberAuthenticatesAndAclLimitsItsChannels) {
  gonka::testing::RedisServer server(Protected());
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();
  RedisOptions o = Plain(server.port());
  o.user = "gonka-node";
  o.password = kNodePassword;
  std::atomic<int> messages{0};
  RedisSubscriber allowed(o, {"gonka:election:{x}:released"},
                          [&](const std::string&, const std::string&) { ++messages; });
  allowed.Start();
  ASSERT_TRUE(
      gonka::testing::WaitFor([&] { return allowed.subscribed(); }, absl::Seconds(10)).ok());
  RedisClient client(o);
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    (void)client.Command({"PUBLISH", "gonka:election:{x}:released", "m"});
                    return messages.load() > 0;
                  },
                  absl::Seconds(10))
                  .ok());

  RedisSubscriber denied(o, {"other-channel"}, [](const std::string&, const std::string&) {});
  denied.Start();
  EXPECT_FALSE(
      gonka::testing::WaitFor([&] { return denied.subscribed(); }, absl::Milliseconds(700)).ok());
  denied.Stop();
  allowed.Stop();
}

TEST(RedisAuthTest, SentinelDiscoveryWithPasswordsOnSentinelAndMaster) {
  gonka::testing::RedisServer master(Protected());
  ASSERT_TRUE(master.Start().ok()) << master.LogTail();
  gonka::testing::RedisSentinel::Options sentinel_options;
  sentinel_options.master_port = master.port();
  sentinel_options.master_password = kAdminPassword;  // Sentinel's own monitoring connection
  sentinel_options.password = kSentinelPassword;
  gonka::testing::RedisSentinel sentinel(sentinel_options);
  ASSERT_TRUE(sentinel.Start().ok()) << sentinel.LogTail();

  RedisOptions o;
  o.sentinels = {sentinel.address()};
  o.master_name = sentinel.master_name();
  o.user = "gonka-node";
  o.password = kNodePassword;
  o.sentinel_password = kSentinelPassword;
  RedisClient client(o);
  absl::Status connected = client.Connect();
  ASSERT_TRUE(connected.ok()) << connected;
  EXPECT_EQ(client.server(), master.address());
  ASSERT_TRUE(client.Command({"SET", "gonka:via-sentinel", "1"}).ok());
  EXPECT_EQ(master.Command({"GET", "gonka:via-sentinel"}).value_or("?"), "1");

  // The Sentinel refuses a client without its password.
  RedisOptions no_sentinel_password = o;
  no_sentinel_password.sentinel_password.clear();
  absl::Status s = RedisClient(no_sentinel_password).Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(sentinel.address()));
  ExpectNoSecret(s);

  RedisOptions wrong_sentinel_password = o;
  wrong_sentinel_password.sentinel_password = kWrongPassword;
  s = RedisClient(wrong_sentinel_password).Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  ExpectNoSecret(s);

  // The master found through the Sentinel refuses a client without the master's password.
  RedisOptions no_master_password = o;
  no_master_password.user.clear();
  no_master_password.password.clear();
  s = RedisClient(no_master_password).Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(master.address()));
  ExpectNoSecret(s);

  RedisOptions wrong_master_password = o;
  wrong_master_password.password = kWrongPassword;
  s = RedisClient(wrong_master_password).Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("user \"gonka-node\""));
  ExpectNoSecret(s);
}

}  // namespace
}  // namespace redis
}  // namespace gonka
