#include "gonka/election/jetstream_elector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/election/internal/elector_core.h"
#include "gonka/election/internal/lease_backend.h"

namespace gonka {
namespace election {
namespace {

constexpr char kLeaseKey[] = "lease";

// Lease value: "<owner>" right after Create (the token is the revision), "<owner> <token>" after
// a renew, "" when released.
void ParseLease(const nats::KvEntry& e, std::string* owner, FencingToken* token) {
  size_t space = e.value.rfind(' ');
  int64_t t = 0;
  if (space != std::string::npos && absl::SimpleAtoi(e.value.substr(space + 1), &t)) {
    *owner = e.value.substr(0, space);
    *token = t;
  } else {
    *owner = e.value;
    *token = static_cast<FencingToken>(e.revision);
  }
}

bool Live(const std::optional<nats::KvEntry>& e) {
  return e.has_value() && !e->deleted && !e->value.empty();
}

class JetStreamLeaseBackend : public internal::LeaseBackend {
 public:
  JetStreamLeaseBackend(nats::NatsOptions options, std::string bucket, std::string subject,
                        absl::Duration ttl)
      : options_(std::move(options)),
        bucket_name_(std::move(bucket)),
        subject_(std::move(subject)),
        ttl_(ttl) {}
  ~JetStreamLeaseBackend() override { Close(); }

  absl::Status Connect() override {
    ASSIGN_OR_RETURN(client_, nats::NatsClient::Connect(options_));
    ASSIGN_OR_RETURN(bucket_, client_->Bucket({.name = bucket_name_, .max_age = ttl_}));
    std::function<void()> wake;
    {
      absl::MutexLock lock(&mu_);
      wake = listener_;
    }
    if (wake) {
      ASSIGN_OR_RETURN(subscription_,
                       client_->Subscribe(subject_, [wake](const std::string&) { wake(); }));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<internal::AcquireResult> TryAcquire(const std::string& owner, absl::Duration ttl,
                                                     FencingToken min_token,
                                                     absl::Duration) override {
    internal::AcquireResult out;
    ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, bucket_->Get(kLeaseKey));
    if (Live(e)) {
      ParseLease(*e, &out.holder, &out.holder_token);
      out.remaining = std::clamp(e->created + ttl - absl::Now(), absl::ZeroDuration(), ttl);
      return out;
    }
    absl::StatusOr<uint64_t> rev = e.has_value() ? bucket_->Update(kLeaseKey, owner, e->revision)
                                                 : bucket_->Create(kLeaseKey, owner);
    if (absl::IsFailedPrecondition(rev.status())) return out;  // lost the race
    if (!rev.ok()) return rev.status();
    if (static_cast<FencingToken>(*rev) <= min_token) {
      GONKA_LOG_ERROR(
          "JetStream revision went backwards: was the bucket deleted? fencing is unsafe",
          {"bucket", bucket_name_}, {"revision", *rev}, {"highest_seen", min_token});
    }
    last_revision_ = *rev;
    out.acquired = true;
    out.token = static_cast<FencingToken>(*rev);
    return out;
  }

  absl::StatusOr<bool> Renew(const std::string& owner, FencingToken token, absl::Duration,
                             absl::Duration) override {
    std::string value = absl::StrCat(owner, " ", token);
    absl::StatusOr<uint64_t> rev = bucket_->Update(kLeaseKey, value, last_revision_);
    if (absl::IsFailedPrecondition(rev.status())) {
      // Maybe our previous renew was applied but its reply lost: adopt it if the live value is
      // exactly ours (owner has a per-instance nonce), else the lease is gone.
      ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, bucket_->Get(kLeaseKey));
      if (!Live(e) || e->value != value) return false;
      rev = bucket_->Update(kLeaseKey, value, e->revision);
      if (absl::IsFailedPrecondition(rev.status())) return false;
    }
    if (!rev.ok()) return rev.status();
    last_revision_ = *rev;
    return true;
  }

  absl::Status Release(const std::string& owner, FencingToken token, absl::Duration) override {
    ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, bucket_->Get(kLeaseKey));
    if (!Live(e)) return absl::OkStatus();
    std::string holder;
    FencingToken holder_token = 0;
    ParseLease(*e, &holder, &holder_token);
    if (holder != owner || holder_token != token) return absl::OkStatus();
    absl::StatusOr<uint64_t> rev = bucket_->Update(kLeaseKey, "", e->revision);
    if (absl::IsFailedPrecondition(rev.status())) return absl::OkStatus();
    RETURN_IF_ERROR(rev.status());
    return client_->Publish(subject_, owner);
  }

  void SetReleaseListener(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    listener_ = std::move(fn);
  }

  void Close() override { subscription_.reset(); }

  std::string Describe() const override {
    return absl::StrCat("nats ", client_ != nullptr ? client_->servers() : "", " bucket ",
                        bucket_name_);
  }

 private:
  const nats::NatsOptions options_;
  const std::string bucket_name_;
  const std::string subject_;
  const absl::Duration ttl_;
  std::unique_ptr<nats::NatsClient> client_;
  std::unique_ptr<nats::KvBucket> bucket_;
  std::unique_ptr<nats::NatsSubscription> subscription_;
  uint64_t last_revision_ = 0;  // elector thread only
  absl::Mutex mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::string> JetStreamElectionBucket(const std::string& name) {
  bool ok = !name.empty();
  for (char c : name) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("election_name: \"", name, "\" must be [A-Za-z0-9_-]+ for JetStream KV"));
  }
  return absl::StrCat("gonka_election_", name);
}

absl::StatusOr<std::unique_ptr<LeaderElector>> NewJetStreamLeaderElector(
    const nats::NatsOptions& nats, const std::string& election_name, LeaderElectorOptions options) {
  ASSIGN_OR_RETURN(std::string bucket, JetStreamElectionBucket(election_name));
  RETURN_IF_ERROR(ValidateLeaderElectorOptions(options));
  if (nats.urls.empty()) return absl::InvalidArgumentError("nats urls: empty");
  nats::NatsOptions o = nats;
  // Each call must end well within the renew deadline.
  o.timeout = std::min(o.timeout, options.renew_deadline - options.renew_interval);
  auto backend = std::make_unique<JetStreamLeaseBackend>(
      o, bucket, absl::StrCat("gonka.election.", election_name, ".released"), options.lease_ttl);
  return std::unique_ptr<LeaderElector>(
      new internal::ElectorCore(election_name, std::move(backend), std::move(options)));
}

absl::StatusOr<std::unique_ptr<JetStreamFence>> JetStreamFence::Open(
    nats::NatsClient* client, const std::string& election_name) {
  ASSIGN_OR_RETURN(std::string lease_bucket, JetStreamElectionBucket(election_name));
  ASSIGN_OR_RETURN(std::unique_ptr<nats::KvBucket> fence,
                   client->Bucket({.name = absl::StrCat("gonka_fence_", election_name)}));
  return std::unique_ptr<JetStreamFence>(
      new JetStreamFence(client, lease_bucket, std::move(fence)));
}

JetStreamFence::JetStreamFence(nats::NatsClient* client, std::string lease_bucket,
                               std::unique_ptr<nats::KvBucket> fence)
    : client_(client), lease_bucket_(std::move(lease_bucket)), fence_(std::move(fence)) {}

absl::StatusOr<FencingToken> JetStreamFence::LiveLeaseToken() {
  nats::KvBucket* lease;
  {
    absl::MutexLock lock(&mu_);
    if (lease_ == nullptr) {
      auto b = client_->Bucket({.name = lease_bucket_, .create = false});
      if (!b.ok()) return FencingToken{0};  // no election yet: only the key's fence applies
      lease_ = std::move(*b);
    }
    lease = lease_.get();
  }
  ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, lease->Get(kLeaseKey));
  if (!Live(e)) return FencingToken{0};
  std::string owner;
  FencingToken token = 0;
  ParseLease(*e, &owner, &token);
  return token;
}

namespace {

// A key JetStream KV accepts: [-/_=.A-Za-z0-9], anything else as "_".
std::string KvKey(const std::string& key) {
  std::string out = key;
  for (char& c : out) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '/' && c != '_' &&
        c != '=' && c != '.') {
      c = '_';
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<FenceResult> JetStreamFence::Set(FencingToken token, const std::string& key,
                                                const std::string& value) {
  return Write(token, key, false, value, 0);
}

absl::StatusOr<std::optional<std::string>> JetStreamFence::Get(const std::string& key) {
  ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, fence_->Get(KvKey(key)));
  if (!e.has_value() || e->deleted) return std::optional<std::string>();
  size_t space = e->value.find(' ');  // "<token> <value>"
  return std::optional<std::string>(space == std::string::npos ? std::string()
                                                               : e->value.substr(space + 1));
}

absl::StatusOr<FenceResult> JetStreamFence::IncrBy(FencingToken token, const std::string& key,
                                                   int64_t delta) {
  return Write(token, key, true, "", delta);
}

absl::StatusOr<FenceResult> JetStreamFence::Write(FencingToken token, const std::string& name,
                                                  bool incr, const std::string& value,
                                                  int64_t delta) {
  const std::string key = KvKey(name);
  if (token <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fenced write to \"", key, "\": token must be positive, got ", token));
  }
  for (int attempt = 0; attempt < 50; ++attempt) {
    ASSIGN_OR_RETURN(FencingToken lease_token, LiveLeaseToken());
    ASSIGN_OR_RETURN(std::optional<nats::KvEntry> e, fence_->Get(key));
    FencingToken stored_token = 0;
    std::string stored_value;
    if (e.has_value() && !e->deleted) {
      size_t space = e->value.find(' ');
      (void)absl::SimpleAtoi(e->value.substr(0, space), &stored_token);
      if (space != std::string::npos) stored_value = e->value.substr(space + 1);
    }
    FenceResult out;
    out.newest_token = std::max({lease_token, stored_token, token});
    if (token < lease_token || token < stored_token) {
      out.newest_token = std::max(lease_token, stored_token);
      return out;
    }
    std::string next = value;
    if (incr) {
      int64_t current = 0;
      (void)absl::SimpleAtoi(stored_value, &current);
      out.value = current + delta;
      next = absl::StrCat(out.value);
    }
    std::string encoded = absl::StrCat(token, " ", next);
    absl::StatusOr<uint64_t> rev =
        e.has_value() ? fence_->Update(key, encoded, e->revision) : fence_->Create(key, encoded);
    if (absl::IsFailedPrecondition(rev.status())) continue;  // raced: re-read and re-check
    RETURN_IF_ERROR(rev.status());
    out.applied = true;
    return out;
  }
  return absl::AbortedError(absl::StrCat("fenced write to \"", key, "\": too much contention"));
}

}  // namespace election
}  // namespace gonka
