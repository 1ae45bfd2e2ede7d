#include "gonka/testing/election_backends.h"

#include <utility>

#include "gonka/base/status_macros.h"
#include "gonka/election/jetstream_elector.h"
#include "gonka/election/redis_elector.h"

namespace gonka {
namespace election {
namespace {

class RedisCandidate : public CandidateBackend {
 public:
  RedisCandidate(const redis::RedisOptions& o, const std::string& election)
      : client_(o), fence_(&client_, election) {}
  ~RedisCandidate() override { elector.reset(); }
  absl::StatusOr<FenceResult> FencedIncrement(FencingToken token, const std::string& key) override {
    return fence_.IncrBy(token, key, 1);
  }

 private:
  redis::RedisClient client_;
  RedisFence fence_;
};

class NatsCandidate : public CandidateBackend {
 public:
  ~NatsCandidate() override { elector.reset(); }
  absl::StatusOr<FenceResult> FencedIncrement(FencingToken token, const std::string& key) override {
    if (fence_ == nullptr) {
      // Connect lazily so a candidate can start before NATS is reachable for the fence.
      nats::NatsOptions o;
      o.urls = urls_;
      ASSIGN_OR_RETURN(client_, nats::NatsClient::Connect(o));
      ASSIGN_OR_RETURN(fence_, JetStreamFence::Open(client_.get(), election_));
    }
    return fence_->IncrBy(token, key, 1);
  }
  std::vector<std::string> urls_;
  std::string election_;

 private:
  std::unique_ptr<nats::NatsClient> client_;
  std::unique_ptr<JetStreamFence> fence_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CandidateBackend>> MakeCandidateBackend(
    const CandidateBackendOptions& options, LeaderElectorOptions elector_options) {
  if (options.backend == "redis") {
    auto c = std::make_unique<RedisCandidate>(options.redis, options.election);
    ASSIGN_OR_RETURN(c->elector, NewRedisLeaderElector(options.redis, options.election,
                                                       std::move(elector_options)));
    return std::unique_ptr<CandidateBackend>(std::move(c));
  }
  if (options.backend == "nats") {
    auto c = std::make_unique<NatsCandidate>();
    c->urls_ = options.nats_urls;
    c->election_ = options.election;
    nats::NatsOptions o;
    o.urls = options.nats_urls;
    ASSIGN_OR_RETURN(c->elector,
                     NewJetStreamLeaderElector(o, options.election, std::move(elector_options)));
    return std::unique_ptr<CandidateBackend>(std::move(c));
  }
  return absl::InvalidArgumentError("backend: unknown \"" + options.backend + "\"");
}

}  // namespace election
}  // namespace gonka
