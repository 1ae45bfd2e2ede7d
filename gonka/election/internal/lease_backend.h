// The storage side of an election, implemented per backend (Redis, JetStream KV) and driven by
// ElectorCore, which owns all timing. Not part of the public API.
//
// Thread-safety: called from the elector thread only, except `SetReleaseListener`'s callback,
// which a backend may run on any thread.
#ifndef GONKA_ELECTION_INTERNAL_LEASE_BACKEND_H_
#define GONKA_ELECTION_INTERNAL_LEASE_BACKEND_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/election/leader_elector.h"

namespace gonka {
namespace election {
namespace internal {

struct AcquireResult {
  bool acquired = false;
  FencingToken token = 0;         // acquired: the new term's token
  absl::Duration remaining;       // not acquired: the holder's remaining TTL (if known, else zero)
  std::string holder;             // not acquired: the current holder, for logs
  FencingToken holder_token = 0;  // not acquired: the holder's token, if known
};

class LeaseBackend {
 public:
  virtual ~LeaseBackend() = default;
  // Checks the server is reachable. Unavailable naming it otherwise.
  virtual absl::Status Connect() = 0;
  // Takes the lease if free. `min_token`: the new token must be > this (a floor the candidate
  // has already seen, which keeps tokens monotonic even if the server lost its counter).
  // `timeout` bounds the call.
  virtual absl::StatusOr<AcquireResult> TryAcquire(const std::string& owner, absl::Duration ttl,
                                                   FencingToken min_token,
                                                   absl::Duration timeout) = 0;
  // Extends the lease if `owner`/`token` still holds it. false = the lease is gone or someone
  // else's; an error = unknown (server unreachable).
  virtual absl::StatusOr<bool> Renew(const std::string& owner, FencingToken token,
                                     absl::Duration ttl, absl::Duration timeout) = 0;
  // Deletes the lease if still held by `owner`/`token` and tells waiting candidates.
  virtual absl::Status Release(const std::string& owner, FencingToken token,
                               absl::Duration timeout) = 0;
  // `fn` is called (on any thread) whenever the lease is released or expires, so candidates
  // retry at once. Called before Connect().
  virtual void SetReleaseListener(std::function<void()> fn) = 0;
  // Stops background work (subscriptions). Idempotent.
  virtual void Close() = 0;
  // Names the server(s) for logs.
  virtual std::string Describe() const = 0;
};

}  // namespace internal
}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_INTERNAL_LEASE_BACKEND_H_
