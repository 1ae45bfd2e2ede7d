#include "gonka/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <poll.h>

#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gonka/base/backoff.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace redis {
namespace {

timeval ClampedTimeval(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& s) {
  std::pair<std::string, std::string> parts = absl::StrSplit(s, absl::MaxSplits(':', 1));
  int port = 0;
  if (parts.first.empty() || !absl::SimpleAtoi(parts.second, &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("sentinels: bad \"host:port\": \"", s, "\""));
  }
  return std::make_pair(parts.first, port);
}

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// "host:port" plus the ACL user when there is one, for credential errors (never the password).
std::string Who(const std::string& where, const std::string& user) {
  return user.empty() ? where : absl::StrCat(where, " user \"", user, "\"");
}

// The Status for a Redis error reply. Credential errors get their own codes so a caller (and an
// operator reading the log) can tell "wrong password" from "server busy".
absl::Status ErrorReplyStatus(const std::string& err, const std::string& where,
                              const std::string& user, const std::string& cmd) {
  std::string context = absl::StrCat(" (redis ", Who(where, user), ": ", cmd, ")");
  if (absl::StartsWith(err, "NOAUTH")) {
    return absl::UnauthenticatedError(
        absl::StrCat(err, context,
                     ": the server requires a password and none was sent (RedisOptions.password, "
                     "e.g. --redis-password-file)"));
  }
  if (absl::StartsWith(err, "WRONGPASS") || absl::StartsWith(err, "ERR invalid password") ||
      absl::StartsWith(err, "ERR invalid username-password")) {
    return absl::UnauthenticatedError(absl::StrCat(err, context));
  }
  if (absl::StartsWith(err, "NOPERM")) {
    return absl::PermissionDeniedError(absl::StrCat(err, context));
  }
  return absl::FailedPreconditionError(absl::StrCat(err, context));
}

bool IsCredentialError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnauthenticated ||
         s.code() == absl::StatusCode::kPermissionDenied;
}

// Opens a connection to host:port, AUTHs with `user`/`password` (none when password is empty),
// and returns it; nullptr + status on failure.
absl::StatusOr<redisContext*> Open(const std::string& host, int port, const std::string& user,
                                   const std::string& password, const RedisOptions& o) {
  std::string where = absl::StrCat(host, ":", port);
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, ClampedTimeval(o.connect_timeout));
  if (c == nullptr) return absl::UnavailableError(absl::StrCat("redis ", where, ": out of memory"));
  if (c->err) {
    std::string err = c->errstr;
    redisFree(c);
    return absl::UnavailableError(absl::StrCat("redis ", where, ": connect: ", err));
  }
  redisSetTimeout(c, ClampedTimeval(o.command_timeout));
  if (!password.empty()) {
    // Argv form: the password may hold spaces or '%'. Redis 6+ takes AUTH user password.
    std::vector<const char*> argv = {"AUTH"};
    std::vector<size_t> lens = {4};
    if (!user.empty()) {
      argv.push_back(user.data());
      lens.push_back(user.size());
    }
    argv.push_back(password.data());
    lens.push_back(password.size());
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) {
      std::string err = c->errstr;
      redisFree(c);
      return absl::UnavailableError(absl::StrCat("redis ", where, ": AUTH: ", err));
    }
    if (r->type == REDIS_REPLY_ERROR) {
      // Redis never echoes the password in its AUTH errors ("WRONGPASS invalid
      // username-password pair or user is disabled.", "ERR AUTH <password> called without any
      // password configured ...").
      std::string err(r->str, r->len);
      freeReplyObject(r);
      redisFree(c);
      return absl::UnauthenticatedError(absl::StrCat(
          "redis ", Who(where, user.empty() ? "default" : user), ": AUTH refused: ", err));
    }
    freeReplyObject(r);
  }
  return c;
}

// Runs one command on `c`. `*broken` is set when the connection must be dropped.
absl::StatusOr<RedisReply> RunOn(redisContext* c, const std::string& where, const std::string& user,
                                 const std::vector<std::string>& args, bool* broken) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string cmd = args.empty() ? "" : args[0];
  if (r == nullptr) {
    *broken = true;
    std::string err = c->errstr;
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                   absl::StrContains(err, "temporarily unavailable"))) {
      return absl::DeadlineExceededError(
          absl::StrCat("redis ", where, ": ", cmd, ": no reply within timeout"));
    }
    return absl::UnavailableError(absl::StrCat("redis ", where, ": ", cmd, ": ", err));
  }
  if (r->type == REDIS_REPLY_ERROR) {
    std::string err(r->str, r->len);
    freeReplyObject(r);
    // A demoted master (after a Sentinel failover) or a loading server: reconnect next time.
    if (absl::StartsWith(err, "READONLY") || absl::StartsWith(err, "LOADING") ||
        absl::StartsWith(err, "MASTERDOWN")) {
      *broken = true;
      return absl::UnavailableError(absl::StrCat(err, " (redis ", where, ": ", cmd, ")"));
    }
    return ErrorReplyStatus(err, where, user, cmd);
  }
  RedisReply out = Convert(r);
  freeReplyObject(r);
  return out;
}

}  // namespace

namespace {

// "host[:port]" with `default_port`; false when the port is not a number in 1..65535.
bool SplitHostPort(absl::string_view hostport, int default_port, std::string* host, int* port) {
  size_t colon = hostport.rfind(':');
  *port = default_port;
  if (colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(hostport.substr(colon + 1), port) || *port <= 0 || *port > 65535) {
      return false;
    }
    hostport = hostport.substr(0, colon);
  }
  *host = std::string(hostport);
  return !host->empty();
}

}  // namespace

absl::StatusOr<RedisOptions> ParseRedisUrl(absl::string_view url, RedisOptions base) {
  auto bad = [url](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("redis url \"", url, "\": ", why));
  };
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "redis://")) {
    if (absl::StrContains(rest, "@")) return bad("credentials do not belong in a URL");
    absl::ConsumeSuffix(&rest, "/");
    if (absl::StrContains(rest, "/")) return bad("a database number is not supported");
    base.sentinels.clear();
    base.master_name.clear();
    if (!SplitHostPort(rest, 6379, &base.host, &base.port)) return bad("want redis://host:port");
    return base;
  }
  if (absl::ConsumePrefix(&rest, "redis-sentinel://")) {
    if (absl::StrContains(rest, "@")) return bad("credentials do not belong in a URL");
    size_t slash = rest.find('/');
    if (slash == absl::string_view::npos || slash + 1 == rest.size()) {
      return bad("want redis-sentinel://host:port[,host:port...]/master-name");
    }
    base.master_name = std::string(rest.substr(slash + 1));
    base.sentinels.clear();
    for (absl::string_view hp : absl::StrSplit(rest.substr(0, slash), ',', absl::SkipEmpty())) {
      std::string host;
      int port = 0;
      if (!SplitHostPort(hp, 26379, &host, &port)) {
        return bad(absl::StrCat("sentinel \"", hp, "\": want host:port"));
      }
      base.sentinels.push_back(absl::StrCat(host, ":", port));
    }
    if (base.sentinels.empty()) return bad("no sentinel address");
    return base;
  }
  return bad("want redis://host:port or redis-sentinel://host:port,.../master");
}

absl::Status ValidateRedisOptions(const RedisOptions& o) {
  if (o.sentinels.empty()) {
    if (o.host.empty()) return absl::InvalidArgumentError("redis host: empty");
    if (o.port <= 0 || o.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("redis port: out of range: ", o.port));
    }
  } else {
    for (const std::string& s : o.sentinels) RETURN_IF_ERROR(ParseHostPort(s).status());
    if (o.master_name.empty()) {
      return absl::InvalidArgumentError("redis master_name: required with sentinels");
    }
  }
  if (o.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("redis connect_timeout: must be positive");
  }
  if (o.command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("redis command_timeout: must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RedisReply::AsInt() const {
  if (type == Type::kInteger) return integer;
  int64_t v = 0;
  if ((type == Type::kString || type == Type::kStatus) && absl::SimpleAtoi(str, &v)) return v;
  return absl::InvalidArgumentError(absl::StrCat("redis reply is not an integer: ", DebugString()));
}

std::string RedisReply::DebugString() const {
  switch (type) {
    case Type::kNil:
      return "(nil)";
    case Type::kString:
      return absl::StrCat("\"", str, "\"");
    case Type::kStatus:
      return str;
    case Type::kInteger:
      return absl::StrCat(integer);
    case Type::kArray: {
      std::vector<std::string> parts;
      for (const RedisReply& e : elements) parts.push_back(e.DebugString());
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
  }
  return "?";
}

absl::StatusOr<std::pair<std::string, int>> RedisClient::DiscoverMaster(const RedisOptions& o) {
  std::vector<std::string> errors;
  bool only_credential_errors = true;
  for (const std::string& s : o.sentinels) {
    auto hp = ParseHostPort(s);
    if (!hp.ok()) return hp.status();
    // Sentinels have credentials of their own (often none), not the master's.
    auto c = Open(hp->first, hp->second, o.sentinel_user, o.sentinel_password, o);
    if (!c.ok()) {
      errors.push_back(std::string(c.status().message()));
      if (!IsCredentialError(c.status())) only_credential_errors = false;
      continue;
    }
    bool broken = false;
    auto r = RunOn(*c, s, o.sentinel_user, {"SENTINEL", "get-master-addr-by-name", o.master_name},
                   &broken);
    redisFree(*c);
    if (!r.ok()) {
      errors.push_back(std::string(r.status().message()));
      if (!IsCredentialError(r.status())) only_credential_errors = false;
      continue;
    }
    int port = 0;
    if (r->type != RedisReply::Type::kArray || r->elements.size() != 2 ||
        !absl::SimpleAtoi(r->elements[1].str, &port)) {
      errors.push_back(absl::StrCat("sentinel ", s, ": master \"", o.master_name,
                                    "\" unknown: ", r->DebugString()));
      only_credential_errors = false;
      continue;
    }
    return std::make_pair(r->elements[0].str, port);
  }
  if (only_credential_errors && !errors.empty()) {
    // Every Sentinel refused our credentials: a configuration error, not an outage.
    return absl::UnauthenticatedError(
        absl::StrCat("no Sentinel accepted our credentials for master \"", o.master_name,
                     "\": ", absl::StrJoin(errors, "; ")));
  }
  return absl::UnavailableError(absl::StrCat("no Sentinel knows master \"", o.master_name,
                                             "\": ", absl::StrJoin(errors, "; ")));
}

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {
  server_ = options_.sentinels.empty()
                ? absl::StrCat(options_.host, ":", options_.port)
                : absl::StrCat("master \"", options_.master_name, "\" via sentinels ",
                               absl::StrJoin(options_.sentinels, ","));
}

RedisClient::~RedisClient() {
  absl::MutexLock lock(&mu_);
  DropLocked();
}

std::string RedisClient::server() const {
  absl::MutexLock lock(&mu_);
  return server_;
}

void RedisClient::DropLocked() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisClient::Disconnect() {
  absl::MutexLock lock(&mu_);
  DropLocked();
}

absl::Status RedisClient::EnsureConnectedLocked() {
  if (ctx_ != nullptr) return absl::OkStatus();
  std::string host = options_.host;
  int port = options_.port;
  if (!options_.sentinels.empty()) {
    ASSIGN_OR_RETURN(auto master, DiscoverMaster(options_));
    host = master.first;
    port = master.second;
  }
  ASSIGN_OR_RETURN(redisContext * c, Open(host, port, options_.user, options_.password, options_));
  std::string where = absl::StrCat(host, ":", port);
  if (!options_.sentinels.empty()) {
    // Sentinel may still name a master that was just demoted; check the role ourselves.
    bool broken = false;
    auto role = RunOn(c, where, options_.user, {"ROLE"}, &broken);
    if (!role.ok() && IsCredentialError(role.status())) {
      redisFree(c);
      return role.status();  // a credential problem, not a demoted master: say so
    }
    if (!role.ok() || role->elements.empty() || role->elements[0].str != "master") {
      redisFree(c);
      return absl::UnavailableError(absl::StrCat(
          "redis ", where, ": Sentinel names it master of \"", options_.master_name,
          "\" but ROLE says ", role.ok() ? role->DebugString() : role.status().ToString()));
    }
  }
  ctx_ = c;
  server_ = where;
  return absl::OkStatus();
}

absl::Status RedisClient::Connect() {
  absl::MutexLock lock(&mu_);
  return EnsureConnectedLocked();
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args,
                                                std::optional<absl::Duration> timeout) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnsureConnectedLocked());
  redisSetTimeout(ctx_, ClampedTimeval(timeout.value_or(options_.command_timeout)));
  bool broken = false;
  absl::StatusOr<RedisReply> r = RunOn(ctx_, server_, options_.user, args, &broken);
  if (broken) {
    DropLocked();
  } else if (timeout.has_value()) {
    redisSetTimeout(ctx_, ClampedTimeval(options_.command_timeout));
  }
  return r;
}

std::string Sha1Hex(const std::string& data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  sha1_ = Sha1Hex(source_);
}

absl::StatusOr<RedisReply> RedisScript::Run(RedisClient& client,
                                            const std::vector<std::string>& keys,
                                            const std::vector<std::string>& args,
                                            std::optional<absl::Duration> timeout) const {
  std::vector<std::string> argv = {"EVALSHA", sha1_, absl::StrCat(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> r = client.Command(argv, timeout);
  if (!r.ok() && absl::StartsWith(r.status().message(), "NOSCRIPT")) {
    argv[0] = "EVAL";
    argv[1] = source_;
    r = client.Command(argv, timeout);
  }
  return r;
}

struct RedisSubscriber::State {
  RedisOptions options;
  std::vector<std::string> channels;
  MessageFn on_message;
  std::function<void()> on_connected;
  std::atomic<bool> stop{false};
  std::atomic<bool> subscribed{false};
  std::thread thread;

  void Run();
  // Subscribes and reads until an error or stop. Returns the error.
  absl::Status Session();
};

absl::Status RedisSubscriber::State::Session() {
  std::string host = options.host;
  int port = options.port;
  if (!options.sentinels.empty()) {
    ASSIGN_OR_RETURN(auto master, RedisClient::DiscoverMaster(options));
    host = master.first;
    port = master.second;
  }
  ASSIGN_OR_RETURN(redisContext * c, Open(host, port, options.user, options.password, options));
  std::unique_ptr<redisContext, void (*)(redisContext*)> holder(c, redisFree);
  std::string where = absl::StrCat(host, ":", port);
  std::vector<std::string> argv = {"SUBSCRIBE"};
  argv.insert(argv.end(), channels.begin(), channels.end());
  {
    std::vector<const char*> a;
    std::vector<size_t> l;
    for (const auto& s : argv) {
      a.push_back(s.data());
      l.push_back(s.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(a.size()), a.data(), l.data()) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis ", where, ": SUBSCRIBE: ", c->errstr));
    }
    int done = 0;
    while (!done) {
      if (redisBufferWrite(c, &done) != REDIS_OK) {
        return absl::UnavailableError(absl::StrCat("redis ", where, ": SUBSCRIBE: ", c->errstr));
      }
    }
  }
  size_t confirmations = 0;
  while (!stop.load()) {
    pollfd pfd{c->fd, POLLIN, 0};
    int n = poll(&pfd, 1, 100);
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("redis ", where, ": poll failed"));
    }
    if (n <= 0) continue;
    if (redisBufferRead(c) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis ", where, ": subscriber: ", c->errstr));
    }
    while (true) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) {
        return absl::UnavailableError(absl::StrCat("redis ", where, ": subscriber: ", c->errstr));
      }
      if (raw == nullptr) break;
      if (static_cast<redisReply*>(raw)->type == REDIS_REPLY_ERROR) {
        // E.g. NOPERM for a channel the ACL user may not subscribe to: end the session (it is
        // retried with backoff) rather than wait forever for a confirmation.
        auto* e = static_cast<redisReply*>(raw);
        std::string err(e->str, e->len);
        freeReplyObject(raw);
        return ErrorReplyStatus(err, where, options.user, "SUBSCRIBE");
      }
      RedisReply r = Convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      if (r.type != RedisReply::Type::kArray || r.elements.size() < 3) continue;
      const std::string& kind = r.elements[0].str;
      if (kind == "subscribe") {
        if (++confirmations == channels.size()) {
          subscribed.store(true);
          if (on_connected) on_connected();
        }
      } else if (kind == "message") {
        on_message(r.elements[1].str, r.elements[2].str);
      }
    }
  }
  return absl::OkStatus();
}

void RedisSubscriber::State::Run() {
  Backoff backoff({.initial = absl::Milliseconds(50), .max = absl::Seconds(2)});
  while (!stop.load()) {
    absl::Status s = Session();
    subscribed.store(false);
    if (stop.load()) break;
    GONKA_LOG_DEBUG("redis subscriber reconnecting", {"error", s});
    absl::Time until = absl::Now() + backoff.Next();
    while (!stop.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  }
}

RedisSubscriber::RedisSubscriber(RedisOptions options, std::vector<std::string> channels,
                                 MessageFn on_message, std::function<void()> on_connected)
    : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->channels = std::move(channels);
  state_->on_message = std::move(on_message);
  state_->on_connected = std::move(on_connected);
}

RedisSubscriber::~RedisSubscriber() { Stop(); }

void RedisSubscriber::Start() {
  if (state_->thread.joinable()) return;
  state_->stop.store(false);
  state_->thread = std::thread([s = state_.get()] { s->Run(); });
}

void RedisSubscriber::Stop() {
  state_->stop.store(true);
  if (state_->thread.joinable()) state_->thread.join();
}

bool RedisSubscriber::subscribed() const { return state_->subscribed.load(); }

}  // namespace redis
}  // namespace gonka
