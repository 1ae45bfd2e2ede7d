// The Redis election and fence under a least-privilege Redis 7 ACL user (the rule from
// docs/security-redis-pg.md): two candidates elect one leader, hand the lease over on Stop
// (release + PUBLISH + SUBSCRIBE all allowed), the leader's fenced writes to the election's and
// the event hub's keys apply, and anything outside those keys is refused with PermissionDenied.
// Without the password, nothing gets elected and the error says why.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gonka/election/coordination.h"
#include "gonka/election/fenced_write.h"
#include "gonka/election/redis_elector.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace election {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminPassword[] = "admin-pw-71d2c0";
constexpr char kNodePassword[] = "node-pw-0be93f";

std::string NodeAclRule() { return gonka::testing::NodeRedisAclRule("gonka-node", kNodePassword); }

class RedisAclElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gonka::testing::RedisServer::Options o;
    o.password = kAdminPassword;
    o.acl_users = {NodeAclRule()};
    server_ = std::make_unique<gonka::testing::RedisServer>(o);
    ASSERT_TRUE(server_->Start().ok()) << server_->LogTail();
  }

  redis::RedisOptions NodeOptions() const {
    redis::RedisOptions o;
    o.port = server_->port();
    o.user = "gonka-node";
    o.password = kNodePassword;
    return o;
  }

  static LeaderElectorOptions ElectorOptions(const std::string& identity) {
    LeaderElectorOptions o;
    o.identity = identity;
    return o;
  }

  std::unique_ptr<gonka::testing::RedisServer> server_;
};

TEST_F(RedisAclElectionTest, ElectionAndFenceWorkWithTheNodeUserOnly) {
  absl::StatusOr<std::unique_ptr<Coordination>> a =
      Coordination::Open({.backend = CoordinationBackend::kRedis, .redis = NodeOptions()},
                         "edge-api", ElectorOptions("a"));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<Coordination>> b =
      Coordination::Open({.backend = CoordinationBackend::kRedis, .redis = NodeOptions()},
                         "edge-api", ElectorOptions("b"));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->Ping().ok());
  ASSERT_TRUE((*a)->elector()->Start().ok());
  ASSERT_TRUE(
      gonka::testing::WaitFor([&] { return (*a)->elector()->IsLeader(); }, absl::Seconds(10)).ok());
  ASSERT_TRUE((*b)->elector()->Start().ok());
  FencingToken first = (*a)->elector()->Token();

  // The leader's fenced writes: the event hub's cursor and a key of its own.
  absl::StatusOr<FenceResult> cursor =
      (*a)->store()->Set(first, "eventhub:{gonka-test}:cursor", "120");
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_TRUE(cursor->applied);
  absl::StatusOr<FenceResult> counter = (*a)->store()->IncrBy(first, "gonka:counter", 1);
  ASSERT_TRUE(counter.ok()) << counter.status();
  EXPECT_TRUE(counter->applied);

  // Outside the user's keys: refused by Redis, not silently applied.
  absl::StatusOr<FenceResult> outside = (*a)->store()->Set(first, "signer:other", "1");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kPermissionDenied) << outside.status();
  EXPECT_THAT(std::string(outside.status().message()), HasSubstr("gonka-node"));
  EXPECT_THAT(std::string(outside.status().message()), Not(HasSubstr(kNodePassword)));
  absl::StatusOr<std::optional<std::string>> read = (*a)->store()->Get("signer:other");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied) << read.status();
  EXPECT_EQ(server_->Command({"EXISTS", "signer:other"}).value_or("?"), "0");

  // Hand-over: Stop releases (DEL + PUBLISH in a script), b wakes through its subscription.
  (*a)->elector()->Stop();
  ASSERT_TRUE(
      gonka::testing::WaitFor([&] { return (*b)->elector()->IsLeader(); }, absl::Seconds(10)).ok());
  FencingToken second = (*b)->elector()->Token();
  EXPECT_GT(second, first);
  // The old leader's token is fenced out; the new one's write applies.
  absl::StatusOr<FenceResult> zombie =
      (*b)->store()->Set(first, "eventhub:{gonka-test}:cursor", "99");
  ASSERT_TRUE(zombie.ok()) << zombie.status();
  EXPECT_FALSE(zombie->applied);
  absl::StatusOr<FenceResult> fresh =
      (*b)->store()->Set(second, "eventhub:{gonka-test}:cursor", "121");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(fresh->applied);
  EXPECT_EQ(server_->Command({"GET", "eventhub:{gonka-test}:cursor"}).value_or("?"), "121");
  (*b)->elector()->Stop();
}

TEST_F(RedisAclElectionTest, WithoutThePasswordNobodyIsElected) {
  redis::RedisOptions no_password = NodeOptions();
  no_password.password.clear();
  no_password.user.clear();
  absl::StatusOr<std::unique_ptr<LeaderElector>> elector =
      NewRedisLeaderElector(no_password, "edge-api", ElectorOptions("intruder"));
  ASSERT_TRUE(elector.ok()) << elector.status();
  (void)(*elector)->Start();  // may succeed (connect does not run a command) and then campaign
  EXPECT_FALSE(
      gonka::testing::WaitFor([&] { return (*elector)->IsLeader(); }, absl::Seconds(1)).ok());
  (*elector)->Stop();
  EXPECT_EQ(server_->Command({"EXISTS", RedisElectionKeysFor("edge-api").lease}).value_or("?"),
            "0");

  redis::RedisOptions wrong = NodeOptions();
  wrong.password = "not-the-password";
  redis::RedisClient client(wrong);
  RedisFence fence(&client, "edge-api");
  absl::StatusOr<FenceResult> r = fence.Set(1, "gonka:cursor", "1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("user \"gonka-node\""));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("not-the-password")));
}

}  // namespace
}  // namespace election
}  // namespace gonka
