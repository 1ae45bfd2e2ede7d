// RedisClient: a small, thread-safe, reconnecting Redis client on hiredis.
//
// Contract:
//   - Connects to one Redis (host:port) or, when `sentinels` is set, asks the Sentinels (in order)
//     for the current master of `master_name` and connects to it. Every connection is checked
//     with ROLE, so a demoted master is never used for writes.
//   - After any I/O error, timeout or READONLY reply the connection is dropped; the next call
//     reconnects (re-discovering the master through Sentinel), so a Sentinel failover or a Redis
//     restart is followed without the caller doing anything. A command that was sent is never
//     retried automatically (it might have been applied); a command that could not be sent
//     because the connection could not be made is not retried either: the caller decides.
//   - With credentials set, every connection (to a plain Redis, to a Sentinel, to the master a
//     Sentinel names, and the subscriber's) is AUTHed before anything else is sent.
//   - Errors are absl::Status and name the server: Unavailable (cannot connect / I/O error),
//     DeadlineExceeded (no reply within the timeout), FailedPrecondition (Redis error reply,
//     message starts with the Redis error text, e.g. "NOSCRIPT ..."). Credential errors name the
//     server and the user, never the password: Unauthenticated for a refused AUTH (WRONGPASS) or
//     a server that wants one we did not send (NOAUTH); PermissionDenied for a command or key the
//     ACL user may not use (NOPERM).
//   - No TLS: Debian 12's hiredis 0.14 has none. Keep Redis on loopback or a private network (or
//     behind stunnel/spiped); see docs/security-redis-pg.md.
//
// Thread-safety: RedisClient and RedisScript are thread-safe (calls are serialised on one
// connection). RedisSubscriber delivers messages on its own thread.
//
// Example:
//   RedisOptions options;
//   options.host = "127.0.0.1"; options.port = 6379;
//   RedisClient redis(options);
//   ASSIGN_OR_RETURN(RedisReply r, redis.Command({"INCR", "counter"}));
//   RedisScript script("return redis.call('GET', KEYS[1])");
//   ASSIGN_OR_RETURN(RedisReply v, script.Run(redis, {"counter"}, {}));
#ifndef GONKA_REDIS_REDIS_CLIENT_H_
#define GONKA_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct redisContext;

namespace gonka {
namespace redis {

struct RedisOptions {
  // A plain Redis. Ignored when `sentinels` is not empty.
  std::string host = "127.0.0.1";
  int port = 6379;
  // Sentinel discovery: "host:port" of each Sentinel, and the monitored master's name.
  std::vector<std::string> sentinels;
  std::string master_name;
  // Credentials, sent with AUTH on every (re)connect, before any other command. `user` is a
  // Redis 6+ ACL user (AUTH user password); "" with a password is AUTH password (the `default`
  // user, i.e. requirepass). Never put in a URL, a log line or an error.
  std::string user;
  std::string password;
  // The Sentinels' own credentials (Sentinel's requirepass / ACL), when they have any. The
  // master found through them is AUTHed with `user`/`password` above.
  std::string sentinel_user;
  std::string sentinel_password;
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(1);
};

// InvalidArgument naming the field (port, sentinels entry, master_name, timeouts).
absl::Status ValidateRedisOptions(const RedisOptions& options);

// Parses the URL form every daemon's --redis-url takes into `base` (timeouts and credentials
// are kept from it; credentials never come from a URL):
//   redis://host:port                       a plain Redis (port default 6379)
//   redis-sentinel://h1:p1,h2:p2/master     Sentinel discovery of `master` (port default 26379)
// InvalidArgument naming the URL and what is wrong with it.
absl::StatusOr<RedisOptions> ParseRedisUrl(absl::string_view url, RedisOptions base = {});

// One decoded reply. Error replies are returned as a Status, never as a RedisReply.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;                   // kString, kStatus
  int64_t integer = 0;               // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  // The integer, or a string that parses as one; InvalidArgument otherwise.
  absl::StatusOr<int64_t> AsInt() const;
  std::string DebugString() const;
};

class RedisClient {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects now (it also happens lazily on the first command). Unavailable naming the server
  // (or every Sentinel tried) on failure.
  absl::Status Connect();

  // Sends one command and waits for its reply, within `timeout` (default: command_timeout).
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args,
                                     std::optional<absl::Duration> timeout = std::nullopt);

  // Drops the connection (the next call reconnects).
  void Disconnect();

  // "host:port" of the server currently (or last) connected to, or the configured one.
  std::string server() const;

  const RedisOptions& options() const { return options_; }

  // Asks the Sentinels for the master address ("host", port). Unavailable listing each Sentinel's
  // error when none answers.
  static absl::StatusOr<std::pair<std::string, int>> DiscoverMaster(const RedisOptions& options);

 private:
  absl::Status EnsureConnectedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisOptions options_;
  mutable absl::Mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string server_ ABSL_GUARDED_BY(mu_);
};

// A Lua script run with EVALSHA, falling back to EVAL (which also loads it) on NOSCRIPT, e.g.
// after a Redis restart or failover.
class RedisScript {
 public:
  explicit RedisScript(std::string source);
  const std::string& sha1() const { return sha1_; }
  const std::string& source() const { return source_; }

  absl::StatusOr<RedisReply> Run(RedisClient& client, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args,
                                 std::optional<absl::Duration> timeout = std::nullopt) const;

 private:
  std::string source_;
  std::string sha1_;
};

// Subscribes to channels on a dedicated connection and thread. Reconnects (with backoff, through
// Sentinel when configured) and re-subscribes after any error; `on_connected` runs after each
// (re)subscription so the caller can re-check state it may have missed meanwhile.
class RedisSubscriber {
 public:
  using MessageFn = std::function<void(const std::string& channel, const std::string& message)>;
  RedisSubscriber(RedisOptions options, std::vector<std::string> channels, MessageFn on_message,
                  std::function<void()> on_connected = nullptr);
  ~RedisSubscriber();  // Stop()
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // Starts the thread (returns at once; connection errors are retried in the background).
  void Start();
  void Stop();
  // True while subscribed.
  bool subscribed() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// SHA1 of `data` in lowercase hex (what SCRIPT LOAD returns).
std::string Sha1Hex(const std::string& data);

}  // namespace redis
}  // namespace gonka

#endif  // GONKA_REDIS_REDIS_CLIENT_H_
