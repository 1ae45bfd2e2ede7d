// NatsClient / KvBucket: a small RAII wrapper over nats.c for JetStream key-value buckets with
// revision compare-and-set, plus core publish/subscribe.
//
// Contract:
//   - NatsClient::Connect fails fast (Unavailable naming the URLs) if no server answers; after
//     that it reconnects forever with backoff (options.h), and calls made while disconnected
//     fail with Unavailable / DeadlineExceeded (after `timeout`).
//   - KvBucket::Create/Update are compare-and-set on the key's revision (the stream sequence,
//     strictly increasing across the whole bucket). A lost race is FailedPrecondition("wrong
//     last sequence ..."), distinct from transport errors.
//   - Errors name the bucket, key and servers.
//
// Thread-safety: all methods are thread-safe (nats.c connections are); subscription callbacks
// run on nats.c's delivery thread.
//
// Example:
//   NatsOptions o;
//   o.urls = {"nats://127.0.0.1:4222"};
//   ASSIGN_OR_RETURN(auto nats, NatsClient::Connect(o));
//   ASSIGN_OR_RETURN(auto kv, nats->Bucket({.name = "leases", .max_age = absl::Seconds(2)}));
//   ASSIGN_OR_RETURN(uint64_t rev, kv->Create("edge-api", "me"));
//   ASSIGN_OR_RETURN(rev, kv->Update("edge-api", "me", rev));
#ifndef GONKA_NATS_KV_CLIENT_H_
#define GONKA_NATS_KV_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/nats/options.h"

namespace gonka {
namespace nats {

struct KvEntry {
  std::string value;
  uint64_t revision = 0;
  absl::Time created;    // server time the revision was stored
  bool deleted = false;  // a delete or purge marker
};

struct KvBucketOptions {
  std::string name;
  // Bucket MaxAge: every revision expires this long after it was written (0 = never).
  absl::Duration max_age = absl::ZeroDuration();
  int history = 1;
  bool memory_storage = false;  // default: file storage (revisions survive a restart)
  int replicas = 1;
  // false: only bind to an existing bucket (NotFound-like Unavailable if missing) and accept
  // whatever max_age it has.
  bool create = true;
};

class KvBucket;
class NatsSubscription;

class NatsClient {
 public:
  static absl::StatusOr<std::unique_ptr<NatsClient>> Connect(const NatsOptions& options);
  ~NatsClient();
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  // Binds to the bucket, creating it if missing. FailedPrecondition naming max_age if it exists
  // with a different MaxAge.
  absl::StatusOr<std::unique_ptr<KvBucket>> Bucket(const KvBucketOptions& options);

  absl::Status Publish(const std::string& subject, const std::string& data);
  // `fn` runs on nats.c's delivery thread for every message until the subscription is destroyed.
  absl::StatusOr<std::unique_ptr<NatsSubscription>> Subscribe(
      const std::string& subject, std::function<void(const std::string& data)> fn);

  // The configured URLs, comma-separated (for messages).
  const std::string& servers() const { return servers_; }

 private:
  struct Impl;
  explicit NatsClient(std::unique_ptr<Impl> impl, std::string servers);
  std::unique_ptr<Impl> impl_;
  std::string servers_;
  friend class KvBucket;
};

class KvBucket {
 public:
  ~KvBucket();
  KvBucket(const KvBucket&) = delete;
  KvBucket& operator=(const KvBucket&) = delete;

  // nullopt if the key has no live revision (never written, or expired by max_age). A delete
  // marker is returned with deleted = true.
  absl::StatusOr<std::optional<KvEntry>> Get(const std::string& key);
  // Writes only if the key has no live value (or its last revision is a delete). Returns the new
  // revision; FailedPrecondition if it exists.
  absl::StatusOr<uint64_t> Create(const std::string& key, const std::string& value);
  // Writes only if the key's last revision is `last`. Returns the new revision;
  // FailedPrecondition ("wrong last sequence") if it moved on.
  absl::StatusOr<uint64_t> Update(const std::string& key, const std::string& value, uint64_t last);
  const std::string& name() const { return name_; }

 private:
  friend class NatsClient;
  struct Impl;
  KvBucket(std::unique_ptr<Impl> impl, std::string name, std::string servers);
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::string servers_;
};

class NatsSubscription {
 public:
  ~NatsSubscription();  // unsubscribes; no callback runs after it returns
  NatsSubscription(const NatsSubscription&) = delete;
  NatsSubscription& operator=(const NatsSubscription&) = delete;

 private:
  friend class NatsClient;
  struct Impl;
  explicit NatsSubscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nats
}  // namespace gonka

#endif  // GONKA_NATS_KV_CLIENT_H_
