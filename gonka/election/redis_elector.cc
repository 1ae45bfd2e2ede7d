#include "gonka/election/redis_elector.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/status_macros.h"
#include "gonka/election/internal/elector_core.h"
#include "gonka/election/internal/lease_backend.h"

namespace gonka {
namespace election {
namespace {

// KEYS: lease, epoch. ARGV: owner, ttl ms, min token.
constexpr char kAcquireScript[] = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then
  return {0, redis.call('PTTL', KEYS[1]), cur}
end
local floor = tonumber(ARGV[3])
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
if epoch < floor then redis.call('SET', KEYS[2], tostring(floor)) end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return {1, token}
)lua";

// KEYS: lease. ARGV: "<owner> <token>", ttl ms.
constexpr char kRenewScript[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
)lua";

// KEYS: lease. ARGV: "<owner> <token>", channel.
constexpr char kReleaseScript[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
)lua";

int64_t Millis(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Milliseconds(d)); }

class RedisLeaseBackend : public internal::LeaseBackend {
 public:
  RedisLeaseBackend(redis::RedisOptions options, std::string name)
      : options_(std::move(options)),
        keys_(RedisElectionKeysFor(name)),
        client_(options_),
        acquire_(kAcquireScript),
        renew_(kRenewScript),
        release_(kReleaseScript) {}
  ~RedisLeaseBackend() override { Close(); }

  absl::Status Connect() override {
    RETURN_IF_ERROR(client_.Connect());
    std::function<void()> wake;
    {
      absl::MutexLock lock(&mu_);
      wake = listener_;
    }
    if (wake && subscriber_ == nullptr) {
      subscriber_ = std::make_unique<redis::RedisSubscriber>(
          options_, std::vector<std::string>{keys_.channel},
          [wake](const std::string&, const std::string&) { wake(); },
          // After a (re)subscription we may have missed a release: look again now.
          wake);
      subscriber_->Start();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<internal::AcquireResult> TryAcquire(const std::string& owner, absl::Duration ttl,
                                                     FencingToken min_token,
                                                     absl::Duration timeout) override {
    ASSIGN_OR_RETURN(
        redis::RedisReply r,
        acquire_.Run(client_, {keys_.lease, keys_.epoch},
                     {owner, absl::StrCat(Millis(ttl)), absl::StrCat(min_token)}, timeout));
    internal::AcquireResult out;
    if (r.type != redis::RedisReply::Type::kArray || r.elements.size() < 2) {
      return absl::InternalError(
          absl::StrCat("redis ", client_.server(), ": acquire: bad reply ", r.DebugString()));
    }
    if (r.elements[0].integer == 1) {
      out.acquired = true;
      out.token = r.elements[1].integer;
      return out;
    }
    out.remaining = absl::Milliseconds(std::max<int64_t>(0, r.elements[1].integer));
    if (r.elements.size() >= 3) {
      const std::string& value = r.elements[2].str;
      size_t space = value.rfind(' ');
      out.holder = value.substr(0, space);
      if (space != std::string::npos) {
        (void)absl::SimpleAtoi(value.substr(space + 1), &out.holder_token);
      }
    }
    return out;
  }

  absl::StatusOr<bool> Renew(const std::string& owner, FencingToken token, absl::Duration ttl,
                             absl::Duration timeout) override {
    ASSIGN_OR_RETURN(
        redis::RedisReply r,
        renew_.Run(client_, {keys_.lease},
                   {absl::StrCat(owner, " ", token), absl::StrCat(Millis(ttl))}, timeout));
    return r.integer == 1;
  }

  absl::Status Release(const std::string& owner, FencingToken token,
                       absl::Duration timeout) override {
    return release_
        .Run(client_, {keys_.lease}, {absl::StrCat(owner, " ", token), keys_.channel}, timeout)
        .status();
  }

  void SetReleaseListener(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    listener_ = std::move(fn);
  }

  void Close() override {
    if (subscriber_ != nullptr) subscriber_->Stop();
  }

  std::string Describe() const override { return absl::StrCat("redis ", client_.server()); }

 private:
  const redis::RedisOptions options_;
  const RedisElectionKeys keys_;
  redis::RedisClient client_;
  const redis::RedisScript acquire_, renew_, release_;
  absl::Mutex mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<redis::RedisSubscriber> subscriber_;
};

}  // namespace

RedisElectionKeys RedisElectionKeysFor(const std::string& name) {
  // The hash tag keeps all keys of one election in one Redis Cluster slot (scripts need that).
  std::string base = absl::StrCat("gonka:election:{", name, "}:");
  return {base + "lease", base + "epoch", base + "released"};
}

absl::StatusOr<std::unique_ptr<LeaderElector>> NewRedisLeaderElector(
    const redis::RedisOptions& redis, const std::string& election_name,
    LeaderElectorOptions options) {
  if (election_name.empty()) return absl::InvalidArgumentError("election_name: required");
  RETURN_IF_ERROR(ValidateLeaderElectorOptions(options));
  RETURN_IF_ERROR(redis::ValidateRedisOptions(redis));
  return std::unique_ptr<LeaderElector>(new internal::ElectorCore(
      election_name, std::make_unique<RedisLeaseBackend>(redis, election_name),
      std::move(options)));
}

}  // namespace election
}  // namespace gonka
