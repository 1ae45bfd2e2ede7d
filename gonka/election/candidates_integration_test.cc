// The shared election suite with real candidate processes (election_candidate), for every
// backend: kill -9 of the leader, graceful handoff, a SIGSTOPped leader that wakes up and writes
// with its old token (every write must be fenced out), and a server restart. After each test the
// fenced counter written by all candidates proves no older leader wrote after a newer one.
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/testing/election_env.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace election {
namespace {

using testenv::Candidate;
using testenv::Event;

template <typename Env>
class CandidateSuite : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.Start().ok()); }

  void StartCandidates(int n, std::vector<std::string> extra = {}) {
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> args = env_.CandidateArgs();
      args.insert(args.end(), extra.begin(), extra.end());
      candidates_.push_back(
          std::make_unique<Candidate>(absl::StrCat("cand", i), args, dir_.path()));
      ASSERT_TRUE(candidates_.back()->Start().ok());
    }
  }

  // The candidates currently believing they lead.
  std::vector<Candidate*> Believers() {
    std::vector<Candidate*> out;
    for (auto& c : candidates_) {
      if (c->process().IsRunning() && c->BelievesLeader()) out.push_back(c.get());
    }
    return out;
  }

  Candidate* WaitForLeader(absl::Duration timeout, Candidate* not_this = nullptr) {
    Candidate* leader = nullptr;
    absl::Status s = gonka::testing::WaitFor(
        [&] {
          for (Candidate* c : Believers()) {
            if (c != not_this) leader = c;
          }
          return leader != nullptr;
        },
        timeout, absl::Milliseconds(5), "a leader");
    EXPECT_TRUE(s.ok()) << s;
    return leader;
  }

  static Event LastElected(Candidate* c) { return c->Events("ELECTED").back(); }

  void TearDown() override {
    std::vector<Candidate*> all;
    for (auto& c : candidates_) all.push_back(c.get());
    absl::StatusOr<int> writes = testenv::CheckFencedCounter(all);
    EXPECT_TRUE(writes.ok()) << writes.status();
    if (writes.ok()) {
      std::cout << Env::kName << ": fenced counter consistent over " << *writes << " applied writes"
                << std::endl;
    }
  }

  Env env_;
  gonka::testing::TempDir dir_{"election"};
  std::vector<std::unique_ptr<Candidate>> candidates_;
};

using Backends = ::testing::Types<testenv::RedisEnv, testenv::NatsEnv>;
TYPED_TEST_SUITE(CandidateSuite, Backends);

TYPED_TEST(CandidateSuite, KillNineOfTheLeaderElectsAnotherWithAHigherToken) {
  this->StartCandidates(3);
  Candidate* leader = this->WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, nullptr);
  for (int round = 0; round < 2; ++round) {
    absl::SleepFor(absl::Milliseconds(200));  // let it make some fenced writes
    int64_t old_token = this->LastElected(leader).Int("token");
    absl::Time killed = absl::Now();
    ASSERT_TRUE(leader->process().Kill().ok());
    Candidate* next = this->WaitForLeader(absl::Seconds(10), leader);
    ASSERT_NE(next, nullptr);
    Event elected = this->LastElected(next);
    EXPECT_GT(elected.Int("token"), old_token);
    absl::Duration failover = elected.time() - killed;
    std::cout << TypeParam::kName << " kill -9 failover: " << failover << std::endl;
    EXPECT_LT(failover, absl::Seconds(3));
    ASSERT_TRUE(leader->process().Restart().ok());  // back as a candidate
    leader = next;
  }
  absl::SleepFor(absl::Milliseconds(300));  // let the leader write a little
  EXPECT_EQ(this->Believers().size(), 1u);
}

TYPED_TEST(CandidateSuite, StopReleasesTheLeaseForAnImmediateHandoff) {
  this->StartCandidates(3);
  Candidate* leader = this->WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, nullptr);
  absl::SleepFor(absl::Milliseconds(200));  // let it make some fenced writes
  int64_t old_token = this->LastElected(leader).Int("token");
  absl::Time stopped = absl::Now();
  auto exit_code = leader->process().Terminate(absl::Seconds(5), SIGTERM);
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0);
  Candidate* next = this->WaitForLeader(absl::Seconds(5), leader);
  ASSERT_NE(next, nullptr);
  Event elected = this->LastElected(next);
  EXPECT_GT(elected.Int("token"), old_token);
  absl::Duration handoff = elected.time() - stopped;
  std::cout << TypeParam::kName << " SIGTERM -> Stop() handoff: " << handoff << std::endl;
  EXPECT_LT(handoff, absl::Milliseconds(300));
  EXPECT_FALSE(leader->Events("STOPPED").empty());
}

TYPED_TEST(CandidateSuite, PausedLeaderWakesUpAndEveryWriteWithItsOldTokenIsRejected) {
  this->StartCandidates(3, {"--zombie-writes=120"});
  Candidate* leader = this->WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, nullptr);
  int64_t old_token = this->LastElected(leader).Int("token");
  ASSERT_TRUE(leader->process().Pause().ok());
  // Past its TTL: someone else must be elected while it sleeps.
  Candidate* next = this->WaitForLeader(absl::Seconds(10), leader);
  ASSERT_NE(next, nullptr);
  EXPECT_GT(this->LastElected(next).Int("token"), old_token);
  absl::SleepFor(absl::Milliseconds(200));  // the new leader writes, raising the fence too
  ASSERT_TRUE(leader->process().Resume().ok());
  absl::Time resumed = absl::Now();
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return !leader->Events("ZOMBIE_SUMMARY").empty(); },
                                      absl::Seconds(20))
                  .ok());
  Event summary = leader->Events("ZOMBIE_SUMMARY").back();
  EXPECT_EQ(summary.Int("token"), old_token);
  EXPECT_GE(summary.Int("attempted"), 100);
  EXPECT_EQ(summary.Int("rejected"), summary.Int("attempted"));
  int rejected_writes = 0, applied_writes = 0;
  for (const Event& e : leader->Events()) {
    if ((e.kind == "ZOMBIE" || e.kind == "WRITE") && e.Int("token") == old_token &&
        e.time() >= resumed - absl::Milliseconds(50)) {
      (e.Int("applied") == 1 ? applied_writes : rejected_writes)++;
    }
  }
  std::cout << TypeParam::kName << " zombie writes after SIGCONT: " << rejected_writes
            << " rejected, " << applied_writes << " applied" << std::endl;
  EXPECT_EQ(applied_writes, 0);
  EXPECT_GE(rejected_writes, 100);
  // It reported the revocation right after resuming.
  ASSERT_TRUE(
      gonka::testing::WaitFor([&] { return !leader->Events("REVOKED").empty(); }, absl::Seconds(5))
          .ok());
  Event revoked = leader->Events("REVOKED").back();
  EXPECT_EQ(revoked.Int("token"), old_token);
  std::cout << TypeParam::kName << " OnRevoked " << (revoked.time() - resumed)
            << " after SIGCONT: " << revoked.fields["reason"] << std::endl;
  EXPECT_THAT(revoked.fields["reason"], ::testing::HasSubstr("renew_deadline"));
  EXPECT_LT(revoked.time() - resumed, absl::Seconds(1));
}

TYPED_TEST(CandidateSuite, ServerOutageLeaderStepsDownAndALeaderReturnsAfterRestart) {
  this->StartCandidates(3);
  Candidate* leader = this->WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, nullptr);
  int64_t token_before = this->LastElected(leader).Int("token");
  absl::SleepFor(absl::Milliseconds(200));
  absl::Time killed = absl::Now();
  ASSERT_TRUE(this->env_.Kill().ok());
  // The leader cannot renew: it must step down on its own within the renew deadline.
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return !leader->BelievesLeader(); }, absl::Seconds(5),
                                      absl::Milliseconds(5))
                  .ok());
  Event revoked = leader->Events("REVOKED").back();
  std::cout << TypeParam::kName << " leader stepped down " << (revoked.time() - killed)
            << " after the server died: " << revoked.fields["reason"] << std::endl;
  EXPECT_LT(revoked.time() - killed, absl::Seconds(2));
  EXPECT_TRUE(this->Believers().empty());
  ASSERT_TRUE(this->env_.Restart().ok());
  absl::Time restarted = absl::Now();
  // Candidates kept retrying: some leader makes applied writes again after the restart.
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    for (auto& c : this->candidates_) {
                      for (const Event& e : c->Events("WRITE")) {
                        if (e.Int("applied") == 1 && e.time() > restarted) return true;
                      }
                    }
                    return false;
                  },
                  absl::Seconds(15))
                  .ok());
  std::cout << TypeParam::kName << " writes resumed " << (absl::Now() - restarted)
            << " after the server restart" << std::endl;
  for (auto& c : this->candidates_) {
    for (const Event& e : c->Events("ELECTED")) {
      if (e.time() > restarted) EXPECT_GT(e.Int("token"), token_before);
    }
  }
}

}  // namespace
}  // namespace election
}  // namespace gonka
