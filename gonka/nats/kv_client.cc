#include "gonka/nats/kv_client.h"

#include <nats/nats.h>

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gonka/base/status_macros.h"
#include "gonka/nats/internal/connection.h"

namespace gonka {
namespace nats {
using internal::ToStatus;

struct NatsClient::Impl {
  std::unique_ptr<internal::Connection> conn;
  natsConnection* nc() const { return conn->nc(); }
  jsCtx* js() const { return conn->js(); }
};

struct KvBucket::Impl {
  kvStore* kv = nullptr;
  ~Impl() {
    if (kv != nullptr) kvStore_Destroy(kv);
  }
};

struct NatsSubscription::Impl {
  natsSubscription* sub = nullptr;
  std::function<void(const std::string&)> fn;
  absl::Notification completed;
};

NatsClient::NatsClient(std::unique_ptr<Impl> impl, std::string servers)
    : impl_(std::move(impl)), servers_(std::move(servers)) {}
NatsClient::~NatsClient() = default;

absl::StatusOr<std::unique_ptr<NatsClient>> NatsClient::Connect(const NatsOptions& options) {
  auto impl = std::make_unique<Impl>();
  ASSIGN_OR_RETURN(impl->conn, internal::Connection::Open(options));
  std::string servers = impl->conn->servers();
  return std::unique_ptr<NatsClient>(new NatsClient(std::move(impl), servers));
}

absl::StatusOr<std::unique_ptr<KvBucket>> NatsClient::Bucket(const KvBucketOptions& options) {
  std::string where = absl::StrCat("nats ", servers_, ": bucket ", options.name);
  auto impl = std::make_unique<KvBucket::Impl>();
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = options.name.c_str();
  cfg.History = static_cast<uint8_t>(options.history);
  cfg.TTL = absl::ToInt64Nanoseconds(options.max_age);  // nats.c: nanoseconds
  cfg.StorageType = options.memory_storage ? js_MemoryStorage : js_FileStorage;
  cfg.Replicas = options.replicas;
  // Creating an existing bucket with the same config succeeds; with another config it fails and
  // we bind to it, then compare max_age below.
  natsStatus s = options.create ? js_CreateKeyValue(&impl->kv, impl_->js(), &cfg) : NATS_ERR;
  if (s != NATS_OK) s = js_KeyValue(&impl->kv, impl_->js(), options.name.c_str());
  if (s == NATS_OK && !options.create) {
    return std::unique_ptr<KvBucket>(new KvBucket(std::move(impl), options.name, servers_));
  }
  if (s != NATS_OK) return ToStatus(s, where);
  kvStatus* status = nullptr;
  s = kvStore_Status(&status, impl->kv);
  if (s != NATS_OK) return ToStatus(s, where);
  absl::Duration ttl = absl::Nanoseconds(kvStatus_TTL(status));
  kvStatus_Destroy(status);
  if (ttl != options.max_age) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": exists with max_age ",
                                                      absl::FormatDuration(ttl), ", want max_age ",
                                                      absl::FormatDuration(options.max_age)));
  }
  return std::unique_ptr<KvBucket>(new KvBucket(std::move(impl), options.name, servers_));
}

absl::Status NatsClient::Publish(const std::string& subject, const std::string& data) {
  natsStatus s = natsConnection_Publish(impl_->nc(), subject.c_str(), data.data(),
                                        static_cast<int>(data.size()));
  if (s == NATS_OK) s = natsConnection_FlushTimeout(impl_->nc(), 1000);
  return ToStatus(s, absl::StrCat("nats ", servers_, ": publish ", subject));
}

absl::StatusOr<std::unique_ptr<NatsSubscription>> NatsClient::Subscribe(
    const std::string& subject, std::function<void(const std::string&)> fn) {
  auto impl = std::make_unique<NatsSubscription::Impl>();
  impl->fn = std::move(fn);
  auto on_msg = [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<NatsSubscription::Impl*>(closure);
    std::string data(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    self->fn(data);
  };
  natsStatus s =
      natsConnection_Subscribe(&impl->sub, impl_->nc(), subject.c_str(), on_msg, impl.get());
  if (s == NATS_OK) {
    s = natsSubscription_SetOnCompleteCB(
        impl->sub,
        [](void* closure) { static_cast<NatsSubscription::Impl*>(closure)->completed.Notify(); },
        impl.get());
  }
  if (s == NATS_OK) s = natsConnection_FlushTimeout(impl_->nc(), 1000);
  if (s != NATS_OK) {
    if (impl->sub != nullptr) {
      natsSubscription_Unsubscribe(impl->sub);
      natsSubscription_Destroy(impl->sub);
      impl->sub = nullptr;
    }
    return ToStatus(s, absl::StrCat("nats ", servers_, ": subscribe ", subject));
  }
  return std::unique_ptr<NatsSubscription>(new NatsSubscription(std::move(impl)));
}

NatsSubscription::NatsSubscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NatsSubscription::~NatsSubscription() {
  if (impl_->sub == nullptr) return;
  bool unsubscribed = natsSubscription_Unsubscribe(impl_->sub) == NATS_OK;
  // The on-complete callback runs once no message callback can run any more.
  if (unsubscribed) impl_->completed.WaitForNotificationWithTimeout(absl::Seconds(5));
  natsSubscription_Destroy(impl_->sub);
}

KvBucket::KvBucket(std::unique_ptr<Impl> impl, std::string name, std::string servers)
    : impl_(std::move(impl)), name_(std::move(name)), servers_(std::move(servers)) {}
KvBucket::~KvBucket() = default;

absl::StatusOr<std::optional<KvEntry>> KvBucket::Get(const std::string& key) {
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, impl_->kv, key.c_str());
  if (s == NATS_NOT_FOUND) {
    return std::optional<KvEntry>();
  }
  if (s != NATS_OK) {
    return ToStatus(s, absl::StrCat("nats ", servers_, ": get ", name_, "/", key));
  }
  KvEntry out;
  const char* data = static_cast<const char*>(kvEntry_Value(e));
  out.value.assign(data == nullptr ? "" : data, kvEntry_ValueLen(e));
  out.revision = kvEntry_Revision(e);
  out.created = absl::FromUnixNanos(kvEntry_Created(e));
  out.deleted = kvEntry_Operation(e) != kvOp_Put;
  kvEntry_Destroy(e);
  return std::optional<KvEntry>(std::move(out));
}

absl::StatusOr<uint64_t> KvBucket::Create(const std::string& key, const std::string& value) {
  uint64_t rev = 0;
  natsStatus s =
      kvStore_Create(&rev, impl_->kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) {
    return ToStatus(s, absl::StrCat("nats ", servers_, ": create ", name_, "/", key));
  }
  return rev;
}

absl::StatusOr<uint64_t> KvBucket::Update(const std::string& key, const std::string& value,
                                          uint64_t last) {
  uint64_t rev = 0;
  natsStatus s = kvStore_Update(&rev, impl_->kv, key.c_str(), value.data(),
                                static_cast<int>(value.size()), last);
  if (s != NATS_OK) {
    return ToStatus(
        s, absl::StrCat("nats ", servers_, ": update ", name_, "/", key, " at revision ", last));
  }
  return rev;
}

}  // namespace nats
}  // namespace gonka
