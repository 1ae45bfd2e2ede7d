// Fenced writes: "apply this write only if my fencing token is still the newest".
//
// A leader that was paused (GC, SIGSTOP, VM migration) or partitioned may still believe it leads
// for a moment after a newer leader was elected. Leases alone cannot stop its in-flight side
// effects; the store must check the token. RedisFence does that for values kept in the
// election's own Redis (e.g. the event hub's `last_processed_height` cursor):
//
//   A write with token T is applied only if
//     T >= the election's epoch (the newest token ever issued; T can only equal it), and
//     T >= the highest token that has written this key before (the key's fence).
//   It then raises the key's fence to T. A rejected write changes nothing.
//
// The first rule rejects a zombie as soon as a newer leader has been *elected*, even before that
// leader writes anything; the second keeps the rule when the epoch key is unavailable to the
// store (other stores can only apply the second). For a SQL store the same rule is:
//
//   UPDATE cursor SET height = $height, fencing_token = $token
//    WHERE name = $name AND fencing_token <= $token;        -- 0 rows => fenced out
//
// (with `fencing_token` initialised to 0; see docs/election.md).
//
// FencedStore is the interface every fence implements (RedisFence here, JetStreamFence in
// jetstream_elector.h), so a service such as the event hub keeps its fenced cursor on whichever
// backend holds its election.
//
// Thread-safety: implementations are thread-safe.
//
// Example:
//   RedisFence fence(&redis_client, "edge-api");
//   ASSIGN_OR_RETURN(FenceResult r, fence.Set(elector->Token(), "cursor", "1200"));
//   if (!r.applied) StopActingAsLeader();   // r.newest_token says who won
#ifndef GONKA_ELECTION_FENCED_WRITE_H_
#define GONKA_ELECTION_FENCED_WRITE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/election/fenced_store.h"
#include "gonka/election/leader_elector.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
namespace election {

class RedisFence : public FencedStore {
 public:
  // `client` (not owned) must reach the Redis that holds the election `election_name`.
  RedisFence(redis::RedisClient* client, std::string election_name);

  // SET key value, fenced. InvalidArgument for token <= 0; Redis errors as RedisClient's.
  absl::StatusOr<FenceResult> Set(FencingToken token, const std::string& key,
                                  const std::string& value) override;
  // INCRBY key delta, fenced (the fenced counter of the election tests).
  absl::StatusOr<FenceResult> IncrBy(FencingToken token, const std::string& key,
                                     int64_t delta) override;
  // GET key.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) override;

  // The key holding `key`'s fence (highest token that wrote it).
  static std::string FenceKey(const std::string& key) { return key + ":fence"; }

 private:
  absl::StatusOr<FenceResult> Run(FencingToken token, const std::string& key, const std::string& op,
                                  const std::string& arg);

  redis::RedisClient* client_;
  std::string epoch_key_;
};

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_FENCED_WRITE_H_
