// bench/rollout: the full rolling-restart experiment (issue 7): HAProxy from
// deploy/haproxy/haproxy.cfg.template in front of 2 test_daemon replicas, constant load, every
// replica restarted --rounds times (default 10). Prints the counts; exits 1 if any request,
// connection or stream failed.
//
//   bazel run //bench/rollout -- --rounds=10
#include <cstdio>

#include "gonka/base/config.h"
#include "gonka/drain/rollout_harness.h"

int main(int argc, char** argv) {
  gonka::Config config("rollout");
  gonka::RolloutOptions options;
  config.AddInt("rounds", &options.rounds, 10, "restarts of every replica").Range(1, 1000);
  config.AddInt("replicas", &options.replicas, 2, "replicas behind HAProxy").Range(2, 16);
  config.AddInt("request-clients", &options.request_clients, 4, "keep-alive request loops")
      .Range(0, 256);
  config.AddInt("stream-clients", &options.stream_clients, 2, "SSE stream loops").Range(0, 256);
  config.AddString("drain-announce", &options.drain_announce, "2s", "replica --drain-announce");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  absl::StatusOr<gonka::RolloutResult> result = gonka::RunRollout(options);
  if (!result.ok()) {
    std::fprintf(stderr, "rollout setup failed: %s\n", result.status().ToString().c_str());
    return 2;
  }
  const gonka::RolloutResult& r = *result;
  std::printf("rollout: %s\n", r.ToString().c_str());
  std::printf("rollout: failed/requests = %llu/%llu (limit 0), cut/streams = %llu/%llu (limit 0)\n",
              static_cast<unsigned long long>(r.non_2xx + r.resets),
              static_cast<unsigned long long>(r.requests),
              static_cast<unsigned long long>(r.cut_streams),
              static_cast<unsigned long long>(r.streams + r.cut_streams));
  bool ok = r.non_2xx == 0 && r.resets == 0 && r.cut_streams == 0 && r.unclean_exits == 0;
  std::printf("rollout: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
