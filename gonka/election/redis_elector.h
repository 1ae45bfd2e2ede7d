// Redis backend of LeaderElector (plain Redis or Redis Sentinel), plus the key names it uses.
//
// Lease protocol (each step one Lua script, so atomic on the server):
//   acquire: if the lease key is free: INCR the epoch key (never below the candidate's highest
//            seen token) -> token; SET lease "<owner> <token>" PX ttl. Else report holder + PTTL.
//   renew:   PEXPIRE lease ttl only if its value is still "<owner> <token>".
//   release: DEL lease only if its value is still ours, then PUBLISH on the release channel so
//            waiting candidates try at once instead of on their next retry tick.
// Fencing tokens are the epoch counter: strictly increasing as long as Redis keeps the epoch key.
// Run the election's Redis with persistence (appendonly yes) or Sentinel replicas: a Redis that
// restarts empty would restart the counter (candidates' `HighestTokenSeen` floor limits, but
// cannot rule out, reuse by candidates that never saw the newest token).
//
// Thread-safety: as LeaderElector.
//
// Example:
//   redis::RedisOptions redis;
//   redis.sentinels = {"10.0.0.1:26379", "10.0.0.2:26379"};
//   redis.master_name = "gonka";
//   ASSIGN_OR_RETURN(std::unique_ptr<LeaderElector> elector,
//                    NewRedisLeaderElector(redis, "edge-api", options));
#ifndef GONKA_ELECTION_REDIS_ELECTOR_H_
#define GONKA_ELECTION_REDIS_ELECTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/election/leader_elector.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
namespace election {

struct RedisElectionKeys {
  std::string lease;    // "gonka:election:{<name>}:lease"
  std::string epoch;    // "gonka:election:{<name>}:epoch" (the fencing counter)
  std::string channel;  // "gonka:election:{<name>}:released"
};
RedisElectionKeys RedisElectionKeysFor(const std::string& election_name);

// InvalidArgument naming the field for bad options (elector options, Redis options, empty
// name). The server is contacted only by Start().
absl::StatusOr<std::unique_ptr<LeaderElector>> NewRedisLeaderElector(
    const redis::RedisOptions& redis, const std::string& election_name,
    LeaderElectorOptions options);

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_REDIS_ELECTOR_H_
