#include "gonka/election/coordination.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"
#include "gonka/election/fenced_write.h"
#include "gonka/election/jetstream_elector.h"
#include "gonka/election/redis_elector.h"
#include "gonka/nats/kv_client.h"

namespace gonka {
namespace election {
namespace {

class RedisCoordination : public Coordination {
 public:
  RedisCoordination(const redis::RedisOptions& options, const std::string& name)
      : Coordination(CoordinationBackend::kRedis), client_(options), fence_(&client_, name) {}

  absl::Status Init(const redis::RedisOptions& options, const std::string& name,
                    LeaderElectorOptions elector_options) {
    ASSIGN_OR_RETURN(elector_, NewRedisLeaderElector(options, name, std::move(elector_options)));
    return absl::OkStatus();
  }
  LeaderElector* elector() override { return elector_.get(); }
  FencedStore* store() override { return &fence_; }
  absl::Status Ping() override { return client_.Command({"PING"}).status(); }

 private:
  redis::RedisClient client_;
  RedisFence fence_;
  std::unique_ptr<LeaderElector> elector_;
};

class NatsCoordination : public Coordination {
 public:
  NatsCoordination() : Coordination(CoordinationBackend::kNats) {}

  absl::Status Init(const nats::NatsOptions& options, const std::string& name,
                    LeaderElectorOptions elector_options) {
    ASSIGN_OR_RETURN(client_, nats::NatsClient::Connect(options));
    ASSIGN_OR_RETURN(fence_, JetStreamFence::Open(client_.get(), name));
    ASSIGN_OR_RETURN(elector_,
                     NewJetStreamLeaderElector(options, name, std::move(elector_options)));
    return absl::OkStatus();
  }
  LeaderElector* elector() override { return elector_.get(); }
  FencedStore* store() override { return fence_.get(); }
  absl::Status Ping() override { return fence_->Get("ping").status(); }

 private:
  std::unique_ptr<nats::NatsClient> client_;
  std::unique_ptr<JetStreamFence> fence_;
  std::unique_ptr<LeaderElector> elector_;
};

}  // namespace

absl::StatusOr<CoordinationBackend> ParseCoordinationBackend(absl::string_view name) {
  if (name == "redis") return CoordinationBackend::kRedis;
  if (name == "nats") return CoordinationBackend::kNats;
  return absl::InvalidArgumentError(
      absl::StrCat("coordination backend \"", name, "\": want redis or nats"));
}

const char* CoordinationBackendName(CoordinationBackend backend) {
  return backend == CoordinationBackend::kNats ? "nats" : "redis";
}

absl::StatusOr<std::unique_ptr<Coordination>> Coordination::Open(
    const CoordinationOptions& options, const std::string& election_name,
    LeaderElectorOptions elector_options) {
  if (options.backend == CoordinationBackend::kRedis) {
    RETURN_IF_ERROR(redis::ValidateRedisOptions(options.redis));
    auto c = std::make_unique<RedisCoordination>(options.redis, election_name);
    RETURN_IF_ERROR(c->Init(options.redis, election_name, std::move(elector_options)));
    return std::unique_ptr<Coordination>(std::move(c));
  }
  // JetStream bucket names allow [A-Za-z0-9_-].
  std::string name = election_name;
  for (char& ch : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') ch = '_';
  }
  auto c = std::make_unique<NatsCoordination>();
  RETURN_IF_ERROR(c->Init(options.nats, name, std::move(elector_options)));
  return std::unique_ptr<Coordination>(std::move(c));
}

}  // namespace election
}  // namespace gonka
