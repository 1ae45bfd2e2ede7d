// Test/benchmark support: an elector plus a fenced counter for one backend, chosen by name, so
// the candidate process, the typed test suite and the failover benchmark share one code path.
#ifndef GONKA_TESTING_ELECTION_BACKENDS_H_
#define GONKA_TESTING_ELECTION_BACKENDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gonka/election/fenced_write.h"
#include "gonka/election/leader_elector.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
namespace election {

struct CandidateBackendOptions {
  std::string backend = "redis";  // "redis" | "nats"
  redis::RedisOptions redis;
  std::vector<std::string> nats_urls;
  std::string election = "test";
};

class CandidateBackend {
 public:
  virtual ~CandidateBackend() = default;
  // Increments counter `key` if `token` is still the newest (the backend's fence).
  virtual absl::StatusOr<FenceResult> FencedIncrement(FencingToken token,
                                                      const std::string& key) = 0;
  std::unique_ptr<LeaderElector> elector;
};

absl::StatusOr<std::unique_ptr<CandidateBackend>> MakeCandidateBackend(
    const CandidateBackendOptions& options, LeaderElectorOptions elector_options);

}  // namespace election
}  // namespace gonka

#endif  // GONKA_TESTING_ELECTION_BACKENDS_H_
