#include "gonka/election/fenced_write.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"
#include "gonka/election/redis_elector.h"

namespace gonka {
namespace election {
namespace {

// KEYS: epoch, fence, target. ARGV: token, op ("SET" | "INCRBY"), arg.
// Returns {applied, newest token, value}.
constexpr char kFencedWriteScript[] = R"lua(
local token = tonumber(ARGV[1])
local epoch = tonumber(redis.call('GET', KEYS[1]) or '0')
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local newest = math.max(epoch, fence)
if token < newest then
  return {0, newest, 0}
end
redis.call('SET', KEYS[2], ARGV[1])
if ARGV[2] == 'INCRBY' then
  return {1, token, redis.call('INCRBY', KEYS[3], ARGV[3])}
end
redis.call('SET', KEYS[3], ARGV[3])
return {1, token, 0}
)lua";

const redis::RedisScript& Script() {
  static const redis::RedisScript* script = new redis::RedisScript(kFencedWriteScript);
  return *script;
}

}  // namespace

RedisFence::RedisFence(redis::RedisClient* client, std::string election_name)
    : client_(client), epoch_key_(RedisElectionKeysFor(election_name).epoch) {}

absl::StatusOr<FenceResult> RedisFence::Set(FencingToken token, const std::string& key,
                                            const std::string& value) {
  return Run(token, key, "SET", value);
}

absl::StatusOr<FenceResult> RedisFence::IncrBy(FencingToken token, const std::string& key,
                                               int64_t delta) {
  return Run(token, key, "INCRBY", absl::StrCat(delta));
}

absl::StatusOr<std::optional<std::string>> RedisFence::Get(const std::string& key) {
  ASSIGN_OR_RETURN(redis::RedisReply r, client_->Command({"GET", key}));
  if (r.is_nil()) return std::optional<std::string>();
  return std::optional<std::string>(r.str);
}

absl::StatusOr<FenceResult> RedisFence::Run(FencingToken token, const std::string& key,
                                            const std::string& op, const std::string& arg) {
  if (token <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fenced write to \"", key, "\": token must be positive, got ", token));
  }
  ASSIGN_OR_RETURN(redis::RedisReply r, Script().Run(*client_, {epoch_key_, FenceKey(key), key},
                                                     {absl::StrCat(token), op, arg}));
  if (r.type != redis::RedisReply::Type::kArray || r.elements.size() != 3) {
    return absl::InternalError(
        absl::StrCat("fenced write to \"", key, "\": bad reply ", r.DebugString()));
  }
  FenceResult out;
  out.applied = r.elements[0].integer == 1;
  out.newest_token = r.elements[1].integer;
  out.value = r.elements[2].integer;
  return out;
}

}  // namespace election
}  // namespace gonka
