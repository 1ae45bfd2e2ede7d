// Redis backend behind Sentinel: candidates discover the master through Sentinel and follow a
// failover (kill -9 of the master, replica promoted) to a leader on the new master, with tokens
// still increasing and the fenced counter consistent.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/testing/election_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace election {
namespace {

using testenv::Candidate;
using testenv::Event;

TEST(RedisSentinelElection, FollowsAMasterFailover) {
  gonka::testing::RedisServer master;
  ASSERT_TRUE(master.Start().ok());
  gonka::testing::RedisServer::Options ro;
  ro.replica_of_port = master.port();
  ro.name = "replica";
  gonka::testing::RedisServer replica(ro);
  ASSERT_TRUE(replica.Start().ok());
  ASSERT_TRUE(replica.WaitForReplicaSync(absl::Seconds(10)).ok());
  gonka::testing::RedisSentinel sentinel({.master_port = master.port()});
  ASSERT_TRUE(sentinel.Start().ok());
  ASSERT_TRUE(sentinel.WaitForKnownReplicas(1, absl::Seconds(15)).ok());

  gonka::testing::TempDir dir("sentinel-election");
  std::vector<std::unique_ptr<Candidate>> candidates;
  std::vector<Candidate*> all;
  for (int i = 0; i < 3; ++i) {
    candidates.push_back(std::make_unique<Candidate>(
        absl::StrCat("cand", i),
        std::vector<std::string>{"--backend=redis", "--sentinels=" + sentinel.address(),
                                 "--master=" + sentinel.master_name()},
        dir.path()));
    ASSERT_TRUE(candidates.back()->Start().ok());
    all.push_back(candidates.back().get());
  }
  auto leader_token = [&](absl::Time after) -> int64_t {
    for (Candidate* c : all) {
      if (!c->BelievesLeader()) continue;
      for (const Event& e : c->Events("WRITE")) {
        if (e.Int("applied") == 1 && e.time() > after) return e.Int("token");
      }
    }
    return 0;
  };
  auto logs = [&] {
    std::string out;
    for (Candidate* c : all) {
      absl::StrAppend(&out, "--- ", c->identity(), "\n", c->process().LogTail(), "\n");
    }
    return out;
  };
  absl::Time start = absl::Now();
  // Generous: three candidate processes discover the master through Sentinel (slow under the
  // sanitizers on 2 cores).
  absl::Status elected =
      gonka::testing::WaitFor([&] { return leader_token(start) > 0; }, absl::Seconds(30),
                              absl::Milliseconds(50), "a leader's first fenced write");
  ASSERT_TRUE(elected.ok()) << elected << "\n" << logs();
  int64_t before = leader_token(start);
  ASSERT_TRUE(replica.WaitForReplicaSync(absl::Seconds(5)).ok());

  absl::Time killed = absl::Now();
  ASSERT_TRUE(master.Kill().ok());
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    auto m = sentinel.GetMasterAddr();
                    return m.ok() && m->port == replica.port();
                  },
                  absl::Seconds(30), absl::Milliseconds(50), "Sentinel promoting the replica")
                  .ok());
  std::cout << "sentinel promoted the replica after " << (absl::Now() - killed) << std::endl;
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return leader_token(absl::Now()) > 0; },
                                      absl::Seconds(20), absl::Milliseconds(50),
                                      "a leader writing on the new master")
                  .ok());
  std::cout << "leader writing again " << (absl::Now() - killed) << " after the master died"
            << std::endl;
  EXPECT_GE(leader_token(absl::Now() - absl::Milliseconds(200)), before);
  absl::StatusOr<int> writes = testenv::CheckFencedCounter(all);
  ASSERT_TRUE(writes.ok()) << writes.status();
  std::cout << "fenced counter consistent over " << *writes << " applied writes" << std::endl;
}

}  // namespace
}  // namespace election
}  // namespace gonka
