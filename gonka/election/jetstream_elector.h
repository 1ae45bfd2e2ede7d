// JetStream KV backend of LeaderElector, and a fence for values kept in JetStream KV.
//
// Lease protocol (bucket "gonka_election_<name>", key "lease", bucket MaxAge = lease_ttl,
// history 1, file storage):
//   acquire: Create("lease", owner) when the key has no live revision (never written, expired by
//            MaxAge, or released), or Update(..., last = the released revision). The new
//            revision is the FencingToken: revisions are the bucket stream's sequence, strictly
//            increasing across every key and term, and they survive a NATS restart (file
//            storage), including after the lease itself expired.
//   renew:   Update("lease", "<owner> <token>", last = our last revision): CAS, so a lease that
//            expired and was taken by someone else cannot be renewed. Each renew writes a new
//            revision, which MaxAge then expires lease_ttl later.
//   release: Update("lease", "", last = our revision), then a core NATS publish on
//            "gonka.election.<name>.released" so waiting candidates try at once.
// This answers the proposal's "avoid Redis if JetStream KV suffices": no Redis is needed for
// election. The bucket's MaxAge is fixed at creation; all candidates must use the same lease_ttl
// (a mismatch is FailedPrecondition naming max_age at Start()).
//
// Thread-safety: as LeaderElector; JetStreamFence is thread-safe.
//
// Example:
//   nats::NatsOptions nats;
//   nats.urls = {"nats://10.0.0.1:4222", "nats://10.0.0.2:4222"};
//   ASSIGN_OR_RETURN(auto elector, NewJetStreamLeaderElector(nats, "node-manager", options));
#ifndef GONKA_ELECTION_JETSTREAM_ELECTOR_H_
#define GONKA_ELECTION_JETSTREAM_ELECTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gonka/election/fenced_store.h"
#include "gonka/election/leader_elector.h"
#include "gonka/nats/kv_client.h"

namespace gonka {
namespace election {

// "gonka_election_<name>"; InvalidArgument naming election_name unless it is [A-Za-z0-9_-]+.
absl::StatusOr<std::string> JetStreamElectionBucket(const std::string& election_name);

// InvalidArgument naming the field for bad options; the server is contacted only by Start().
absl::StatusOr<std::unique_ptr<LeaderElector>> NewJetStreamLeaderElector(
    const nats::NatsOptions& nats, const std::string& election_name, LeaderElectorOptions options);

// Fenced writes for values kept in a JetStream KV bucket "gonka_fence_<name>": a write with
// token T is applied only if T >= the token of the live lease of election `name` (when one is
// live) and T >= the token that last wrote the key; values are stored as "<token> <value>" and
// written with revision CAS (retried on a lost race). Unlike RedisFence the two checks are not
// one atomic step, but the second alone keeps writes ordered by token.
// Keys are stored as given where JetStream KV allows them ([-/_=.A-Za-z0-9]); any other
// character (Redis-style "{", "}", ":") is stored as "_".
class JetStreamFence : public FencedStore {
 public:
  // `client` is not owned and must outlive the fence.
  static absl::StatusOr<std::unique_ptr<JetStreamFence>> Open(nats::NatsClient* client,
                                                              const std::string& election_name);
  absl::StatusOr<FenceResult> Set(FencingToken token, const std::string& key,
                                  const std::string& value) override;
  absl::StatusOr<FenceResult> IncrBy(FencingToken token, const std::string& key,
                                     int64_t delta) override;
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) override;

 private:
  JetStreamFence(nats::NatsClient* client, std::string lease_bucket,
                 std::unique_ptr<nats::KvBucket> fence);
  absl::StatusOr<FenceResult> Write(FencingToken token, const std::string& key, bool incr,
                                    const std::string& value, int64_t delta);
  // The lease token of a live lease, or 0. The lease bucket is bound on first use (it exists
  // once any candidate has started).
  absl::StatusOr<FencingToken> LiveLeaseToken();

  nats::NatsClient* client_;
  const std::string lease_bucket_;
  std::unique_ptr<nats::KvBucket> fence_;
  absl::Mutex mu_;
  std::unique_ptr<nats::KvBucket> lease_ ABSL_GUARDED_BY(mu_);
};

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_JETSTREAM_ELECTOR_H_
