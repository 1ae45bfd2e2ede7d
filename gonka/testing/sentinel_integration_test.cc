// Redis Sentinel failover: master + replica + sentinel; killing the master makes the sentinel
// report the replica as the new master.
#include <string>

#include <gtest/gtest.h>

#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

TEST(RedisSentinelTest, ReportsReplicaAsMasterAfterMasterIsKilled) {
  RedisServer master;
  ASSERT_TRUE(master.Start().ok());
  RedisServer::Options replica_options;
  replica_options.name = "redis-replica";
  replica_options.replica_of_port = master.port();
  RedisServer replica(replica_options);
  ASSERT_TRUE(replica.Start().ok());
  absl::Status synced = replica.WaitForReplicaSync(absl::Seconds(20));
  ASSERT_TRUE(synced.ok()) << synced;
  ASSERT_TRUE(master.Command({"SET", "k", "v"}).ok());
  // Replication is asynchronous: WAIT until the replica acknowledged the write, else the kill
  // below may lose it (and the assertion on the promoted replica would be about luck).
  absl::StatusOr<std::string> acked = master.Command({"WAIT", "1", "5000"});
  ASSERT_TRUE(acked.ok()) << acked.status();
  ASSERT_EQ(*acked, "1");

  RedisSentinel::Options sentinel_options;
  sentinel_options.master_port = master.port();
  RedisSentinel sentinel(sentinel_options);
  absl::Status started = sentinel.Start();
  ASSERT_TRUE(started.ok()) << started;
  absl::StatusOr<HostPort> addr = sentinel.GetMasterAddr();
  ASSERT_TRUE(addr.ok()) << addr.status();
  EXPECT_EQ(addr->host, "127.0.0.1");
  EXPECT_EQ(addr->port, master.port());
  absl::Status known = sentinel.WaitForKnownReplicas(1, absl::Seconds(20));
  ASSERT_TRUE(known.ok()) << known;

  const absl::Time killed_at = absl::Now();
  ASSERT_TRUE(master.Kill().ok());
  absl::Status failed_over = WaitForOk(
      [&]() -> absl::Status {
        absl::StatusOr<HostPort> now = sentinel.GetMasterAddr();
        if (!now.ok()) return now.status();
        if (now->port != replica.port()) {
          return absl::UnavailableError("master is still " + std::to_string(now->port));
        }
        return absl::OkStatus();
      },
      absl::Seconds(30), absl::Milliseconds(100), "sentinel failover to the replica");
  ASSERT_TRUE(failed_over.ok()) << failed_over << "\nsentinel log:\n" << sentinel.LogTail();
  std::cerr << "failover took " << absl::FormatDuration(absl::Now() - killed_at) << "\n";

  // The promoted replica is a writable master with the data.
  absl::StatusOr<std::string> role = replica.Command({"ROLE"});
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->substr(0, 6), "master");
  absl::StatusOr<std::string> value = replica.Command({"GET", "k"});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v");
  EXPECT_TRUE(replica.Command({"SET", "after", "failover"}).ok());
}

}  // namespace
}  // namespace testing
}  // namespace gonka
