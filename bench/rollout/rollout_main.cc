// bench/rollout: the long rolling-restart experiment: HAProxy from
// deploy/haproxy/haproxy.cfg.template (retry-on conn-failure: nothing that reached a replica is
// replayed) in front of --replicas test_daemon replicas, constant load (keep-alive GETs, every
// 4th request a POST, SSE streams), every replica restarted --rounds times (default 10) with the
// documented procedure (wait until HAProxy shows the restarted replica UP before the next one).
// Prints the counts and a PASS/FAIL line; exits 1 if any request, connection or stream failed.
//
//   bazel run -c opt //bench/rollout -- --rounds=10 --replicas=2
//   bazel run -c opt //bench/rollout -- --rounds=10 --router-retries=false   # no HAProxy retry
//   bazel run -c opt //bench/rollout -- --rounds=2 --wait-for-router-up=false  # the old step
#include <cstdio>

#include "gonka/base/config.h"
#include "gonka/testing/rollout_harness.h"

int main(int argc, char** argv) {
  gonka::Config config("rollout");
  gonka::testing::RolloutOptions options;
  config.AddInt("rounds", &options.rounds, 10, "restarts of every replica").Range(1, 1000);
  config.AddInt("replicas", &options.replicas, 2, "replicas behind HAProxy").Range(2, 16);
  config.AddInt("request-clients", &options.request_clients, 4, "keep-alive request loops")
      .Range(0, 256);
  config.AddInt("stream-clients", &options.stream_clients, 2, "SSE stream loops").Range(0, 256);
  config.AddInt("post-every", &options.post_every, 4, "every Nth request is a POST (0 = none)")
      .Range(0, 1000);
  config.AddString("drain-announce", &options.drain_announce, "2s", "replica --drain-announce");
  config.AddBool("router-retries", &options.router_retries, true,
                 "keep the template's HAProxy retry policy (false: retries 0, retry-on none)");
  config.AddBool("wait-for-router-up", &options.wait_for_router_up, true,
                 "wait until HAProxy shows a restarted replica UP before the next (false: only "
                 "its /ready)");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  absl::StatusOr<gonka::testing::RolloutResult> result = gonka::testing::RunRollout(options);
  if (!result.ok()) {
    std::fprintf(stderr, "rollout setup failed: %s\n", result.status().ToString().c_str());
    return 2;
  }
  const gonka::testing::RolloutResult& r = *result;
  std::printf("rollout: replicas=%d rounds=%d %s\n", options.replicas, options.rounds,
              r.ToString().c_str());
  std::printf(
      "rollout: failed/requests = %llu/%llu (limit 0; %llu non-2xx, %llu bad answers, %llu "
      "resets), cut/streams = %llu/%llu (limit 0), haproxy retries = %llu\n",
      static_cast<unsigned long long>(r.non_2xx + r.bad_answers + r.resets),
      static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.non_2xx),
      static_cast<unsigned long long>(r.bad_answers), static_cast<unsigned long long>(r.resets),
      static_cast<unsigned long long>(r.cut_streams),
      static_cast<unsigned long long>(r.streams + r.cut_streams),
      static_cast<unsigned long long>(r.router_retries));
  std::printf("rollout: %s\n", r.clean() ? "PASS" : "FAIL");
  return r.clean() ? 0 : 1;
}
