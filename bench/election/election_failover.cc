// election_failover: measures leader failover with real candidate processes and real servers.
//
//   crash:    kill -9 of the leader -> another candidate's OnElected (timestamps from the
//             candidates' own event lines, so polling adds nothing)
//   graceful: SIGTERM of the leader (Stop() releases the lease) -> another's OnElected
//
// Each trial waits a random 0..renew_interval after the leader's election before acting (seeded;
// the seed is printed), so crash trials sample every phase of the renew cycle. Prints p50 / p99 /
// max per backend and figure, and the ratio to Kubernetes client-go's default crash failover
// (15 s lease: a crash costs 15-17 s).
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gonka/base/config.h"
#include "gonka/election/leader_elector.h"
#include "gonka/testing/election_env.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace election {
namespace {

using testenv::Candidate;
using testenv::Event;

constexpr absl::Duration kClientGoCrash = absl::Seconds(15);

struct Stats {
  absl::Duration p50, p99, max;
};

Stats Summarize(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  return {at(0.50), at(0.99), v.back()};
}

template <typename Env>
class Bench {
 public:
  Bench(int trials, std::mt19937_64* rng) : trials_(trials), rng_(rng) {}

  absl::Status Run() {
    absl::Status s = env_.Start();
    if (!s.ok()) return s;
    for (int i = 0; i < 3; ++i) {
      candidates_.push_back(
          std::make_unique<Candidate>(absl::StrCat("cand", i), env_.CandidateArgs(), dir_.path()));
      s = candidates_.back()->Start();
      if (!s.ok()) return s;
    }
    std::vector<absl::Duration> crash, graceful;
    for (int t = 0; t < trials_; ++t) {
      auto d = Trial(/*crash=*/true);
      if (!d.ok()) return d.status();
      crash.push_back(*d);
    }
    for (int t = 0; t < trials_; ++t) {
      auto d = Trial(/*crash=*/false);
      if (!d.ok()) return d.status();
      graceful.push_back(*d);
    }
    LeaderElectorOptions defaults;
    Stats c = Summarize(crash), g = Summarize(graceful);
    std::printf(
        "%-6s crash    (kill -9 -> OnElected)  n=%-3d p50=%-10s p99=%-10s max=%-10s "
        "target p99<=3s  client-go %s -> %.1fx faster at p99\n",
        Env::kName, trials_, absl::FormatDuration(c.p50).c_str(),
        absl::FormatDuration(c.p99).c_str(), absl::FormatDuration(c.max).c_str(),
        absl::FormatDuration(kClientGoCrash).c_str(), absl::FDivDuration(kClientGoCrash, c.p99));
    std::printf(
        "%-6s graceful (Stop()  -> OnElected)  n=%-3d p50=%-10s p99=%-10s max=%-10s "
        "target p99<=300ms\n",
        Env::kName, trials_, absl::FormatDuration(g.p50).c_str(),
        absl::FormatDuration(g.p99).c_str(), absl::FormatDuration(g.max).c_str());
    std::printf("%-6s options: lease_ttl=%s renew_interval=%s renew_deadline=%s retry=%s\n",
                Env::kName, absl::FormatDuration(defaults.lease_ttl).c_str(),
                absl::FormatDuration(defaults.renew_interval).c_str(),
                absl::FormatDuration(defaults.renew_deadline).c_str(),
                absl::FormatDuration(defaults.retry_interval).c_str());
    std::fflush(stdout);
    return absl::OkStatus();
  }

 private:
  Candidate* Leader(Candidate* not_this) {
    Candidate* leader = nullptr;
    absl::Status s = gonka::testing::WaitFor(
        [&] {
          for (auto& c : candidates_) {
            if (c.get() != not_this && c->process().IsRunning() && c->BelievesLeader()) {
              leader = c.get();
            }
          }
          return leader != nullptr;
        },
        absl::Seconds(20), absl::Milliseconds(2), "a leader");
    return s.ok() ? leader : nullptr;
  }

  absl::StatusOr<absl::Duration> Trial(bool crash) {
    Candidate* leader = Leader(nullptr);
    if (leader == nullptr) return absl::DeadlineExceededError("no leader");
    // Settle, then act at a random phase of the renew cycle.
    LeaderElectorOptions defaults;
    std::uniform_int_distribution<int64_t> phase(
        0, absl::ToInt64Microseconds(defaults.renew_interval));
    absl::SleepFor(absl::Milliseconds(100) + absl::Microseconds(phase(*rng_)));
    absl::Time acted = absl::Now();
    if (crash) {
      absl::Status s = leader->process().Kill();
      if (!s.ok()) return s;
    } else {
      auto code = leader->process().Terminate(absl::Seconds(5), SIGTERM);
      if (!code.ok()) return code.status();
    }
    Candidate* next = Leader(leader);
    if (next == nullptr) return absl::DeadlineExceededError("no new leader");
    Event elected = next->Events("ELECTED").back();
    absl::Status s = leader->process().Restart();
    if (!s.ok()) return s;
    s = gonka::testing::WaitFor(
        [&] {
          std::vector<Event> ready = leader->Events("READY");
          return !ready.empty() && ready.back().time() > acted;
        },
        absl::Seconds(10), absl::Milliseconds(5), "restarted candidate ready");
    if (!s.ok()) return s;
    return elected.time() - acted;
  }

  int trials_;
  std::mt19937_64* rng_;
  Env env_;
  gonka::testing::TempDir dir_{"election-bench"};
  std::vector<std::unique_ptr<Candidate>> candidates_;
};

int Main(int argc, char** argv) {
  Config config("election_failover");
  int trials = 50;
  int64_t seed = 0;
  std::string backends;
  config.AddInt("trials", &trials, 50, "trials per figure and backend").Range(1, 100000);
  config.AddInt("seed", &seed, 0, "random seed (0 = pick one)");
  config.AddString("backends", &backends, "redis,nats", "comma-separated: redis, nats");
  absl::Status s = config.Parse(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (seed == 0) seed = static_cast<int64_t>(std::random_device{}() | 1);
  std::printf(
      "election_failover: seed=%lld trials=%d (client-go default: 15s lease, 10s renew "
      "deadline, 2s retry; crash failover 15-17s)\n",
      static_cast<long long>(seed), trials);
  std::fflush(stdout);
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  for (absl::string_view b : absl::StrSplit(backends, ',')) {
    absl::Status r;
    if (b == "redis") {
      r = Bench<testenv::RedisEnv>(trials, &rng).Run();
    } else if (b == "nats") {
      r = Bench<testenv::NatsEnv>(trials, &rng).Run();
    } else {
      r = absl::InvalidArgumentError(absl::StrCat("backends: unknown \"", b, "\""));
    }
    if (!r.ok()) {
      std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(b.size()), b.data(),
                   r.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace election
}  // namespace gonka

int main(int argc, char** argv) { return gonka::election::Main(argc, argv); }
