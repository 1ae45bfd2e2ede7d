// Coordination: a service's leader election plus the fenced store for its leader-only state, on
// one backend chosen at run time — Redis (plain or Sentinel) or NATS JetStream KV — so a service
// can run with no Redis at all where JetStream suffices. Both halves use the same backend and
// the same election name: a fenced write is checked against that election's tokens.
//
//   backend  election                         fenced store
//   kRedis   NewRedisLeaderElector(redis, n)  RedisFence(client, n)
//   kNats    NewJetStreamLeaderElector(nats)  JetStreamFence::Open(client, n)
//
// Thread-safety: elector() and store() are thread-safe (see their interfaces).
//
// Example (edge-api --coordination=nats):
//   CoordinationOptions o{.backend = CoordinationBackend::kNats, .nats = nats_options};
//   ASSIGN_OR_RETURN(auto c, Coordination::Open(o, "edge-api-gonka-mainnet", elector_options));
//   Emitter emitter(options, &comet, js.get(), c->store(), c->elector());
//   RETURN_IF_ERROR(c->elector()->Start());
#ifndef GONKA_ELECTION_COORDINATION_H_
#define GONKA_ELECTION_COORDINATION_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/election/fenced_store.h"
#include "gonka/election/leader_elector.h"
#include "gonka/nats/options.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
namespace election {

enum class CoordinationBackend { kRedis, kNats };

// "redis" / "nats"; InvalidArgument naming the value otherwise.
absl::StatusOr<CoordinationBackend> ParseCoordinationBackend(absl::string_view name);
const char* CoordinationBackendName(CoordinationBackend backend);

struct CoordinationOptions {
  CoordinationBackend backend = CoordinationBackend::kRedis;
  redis::RedisOptions redis;  // kRedis
  nats::NatsOptions nats;     // kNats
};

class Coordination {
 public:
  // Connects the store's client and creates the (not yet started) elector for `election_name`.
  // Redis uses the name as given (keys "gonka:election:{<name>}:..."), so a name kept across
  // versions keeps one lease through a rolling update; JetStream bucket names allow only
  // [A-Za-z0-9_-], so other characters ("/", ":") are mapped to "_" there. Errors: InvalidArgument
  // naming a bad option; Unavailable when the backend cannot be reached.
  static absl::StatusOr<std::unique_ptr<Coordination>> Open(const CoordinationOptions& options,
                                                            const std::string& election_name,
                                                            LeaderElectorOptions elector_options);
  virtual ~Coordination() = default;

  virtual LeaderElector* elector() = 0;
  virtual FencedStore* store() = 0;
  // A cheap round trip to the backend, for readiness probes.
  virtual absl::Status Ping() = 0;
  CoordinationBackend backend() const { return backend_; }

 protected:
  explicit Coordination(CoordinationBackend backend) : backend_(backend) {}

 private:
  const CoordinationBackend backend_;
};

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_COORDINATION_H_
