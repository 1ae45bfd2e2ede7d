// FencedStore: the interface of a fenced key-value store — "apply this write only if my fencing
// token is still the newest" — implemented by RedisFence (fenced_write.h, values in the
// election's Redis) and JetStreamFence (jetstream_elector.h, values in JetStream KV). A service
// that keeps leader-only state (the event hub's cursor) takes a FencedStore, so it runs on
// whichever backend holds its election. The rules a write is checked against are in
// fenced_write.h and docs/election.md.
//
// Thread-safety: implementations are thread-safe.
//
// Example:
//   FencedStore* store = coordination->store();
//   ASSIGN_OR_RETURN(FenceResult r, store->Set(elector->Token(), "cursor", "1200"));
//   if (!r.applied) StopActingAsLeader();   // r.newest_token says who won
//   ASSIGN_OR_RETURN(std::optional<std::string> v, store->Get("cursor"));
#ifndef GONKA_ELECTION_FENCED_STORE_H_
#define GONKA_ELECTION_FENCED_STORE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/election/leader_elector.h"

namespace gonka {
namespace election {

class FencedStore {
 public:
  virtual ~FencedStore() = default;
  // Writes `value` under `key` if `token` is still the newest (rules in fenced_write.h). Rejected:
  // applied = false and nothing changed. InvalidArgument for token <= 0; backend errors as
  // Unavailable / DeadlineExceeded naming the server.
  virtual absl::StatusOr<FenceResult> Set(FencingToken token, const std::string& key,
                                          const std::string& value) = 0;
  // Adds `delta` to the integer under `key`, fenced; FenceResult::value is the new value.
  virtual absl::StatusOr<FenceResult> IncrBy(FencingToken token, const std::string& key,
                                             int64_t delta) = 0;
  // The value last applied under `key`; nullopt when it was never written. Unfenced read.
  virtual absl::StatusOr<std::optional<std::string>> Get(const std::string& key) = 0;
};

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_FENCED_STORE_H_
