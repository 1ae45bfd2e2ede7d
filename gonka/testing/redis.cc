// RedisServer, RedisSentinel and RedisCommand (hiredis 0.14).
#include <hiredis/hiredis.h>

#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

void AppendReply(const redisReply* reply, std::vector<std::string>* out) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out->emplace_back(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out->push_back(std::to_string(reply->integer));
      break;
    case REDIS_REPLY_ARRAY:
      for (size_t i = 0; i < reply->elements; ++i) AppendReply(reply->element[i], out);
      break;
    default:
      out->emplace_back();
      break;
  }
}

}  // namespace

std::string NodeRedisAclRule(const std::string& user, const std::string& password) {
  return absl::StrCat(
      user, " on >", password,
      " resetkeys ~gonka:* ~eventhub:* resetchannels &gonka:* -@all +ping +role +get +set +incr"
      " +incrby +pttl +pexpire +del +publish +subscribe +eval +evalsha");
}

absl::StatusOr<std::string> RedisCommand(const std::string& host, int port,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout, const RedisAuth& auth) {
  const std::string target = absl::StrCat(host, ":", port);
  if (args.empty()) return absl::InvalidArgumentError("RedisCommand: no arguments");
  timeval tv = absl::ToTimeval(timeout);
  redisContext* context = redisConnectWithTimeout(host.c_str(), port, tv);
  if (context == nullptr) {
    return absl::UnavailableError(absl::StrCat("redis ", target, ": cannot allocate context"));
  }
  if (context->err != 0) {
    std::string error = context->errstr;
    redisFree(context);
    return absl::UnavailableError(absl::StrCat("redis ", target, ": connect: ", error));
  }
  redisSetTimeout(context, tv);
  if (!auth.password.empty()) {
    std::vector<std::string> auth_args = {"AUTH"};
    if (!auth.user.empty()) auth_args.push_back(auth.user);
    auth_args.push_back(auth.password);
    std::vector<const char*> auth_argv;
    std::vector<size_t> auth_lens;
    for (const std::string& arg : auth_args) {
      auth_argv.push_back(arg.data());
      auth_lens.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(
        context, static_cast<int>(auth_args.size()), auth_argv.data(), auth_lens.data()));
    std::string error = reply == nullptr                   ? context->errstr
                        : reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                           : "";
    bool io_error = reply == nullptr;
    if (reply != nullptr) freeReplyObject(reply);
    if (!error.empty()) {
      redisFree(context);
      std::string message = absl::StrCat("redis ", target, ": AUTH: ", error);
      return io_error ? absl::UnavailableError(message) : absl::FailedPreconditionError(message);
    }
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    std::string error = context->errstr;
    redisFree(context);
    return absl::UnavailableError(absl::StrCat("redis ", target, ": ", args[0], ": ", error));
  }
  absl::StatusOr<std::string> result;
  if (reply->type == REDIS_REPLY_NIL) {
    result = absl::NotFoundError(absl::StrCat("redis ", target, ": ", args[0], ": nil reply"));
  } else if (reply->type == REDIS_REPLY_ERROR) {
    result = absl::FailedPreconditionError(
        absl::StrCat("redis ", target, ": ", args[0], ": ", std::string(reply->str, reply->len)));
  } else {
    std::vector<std::string> parts;
    AppendReply(reply, &parts);
    result = absl::StrJoin(parts, "\n");
  }
  freeReplyObject(reply);
  redisFree(context);
  return result;
}

// ---------------------------------------------------------------------------------------------

RedisServer::RedisServer() : RedisServer(Options()) {}

RedisServer::RedisServer(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout),
      options_(std::move(options)) {
  options_.port = port();
}

std::string RedisServer::url() const { return absl::StrCat("redis://", host(), ":", port()); }

SubprocessOptions RedisServer::ProcessOptions() {
  SubprocessOptions options;
  options.argv = {"redis-server",
                  "--bind",
                  host(),
                  "--port",
                  std::to_string(port()),
                  "--dir",
                  dir(),
                  "--daemonize",
                  "no",
                  "--save",
                  "",
                  "--appendonly",
                  options_.appendonly ? "yes" : "no"};
  if (options_.appendonly) {
    options.argv.insert(options.argv.end(), {"--appendfsync", "always"});
  }
  if (options_.replica_of_port != 0) {
    options.argv.insert(options.argv.end(), {"--replicaof", options_.replica_of_host,
                                             std::to_string(options_.replica_of_port)});
  }
  if (!options_.password.empty()) {
    // The same password for the default user on every node, so a replica can follow a master.
    options.argv.insert(options.argv.end(),
                        {"--requirepass", options_.password, "--masterauth", options_.password});
  }
  for (const std::string& rule : options_.acl_users) {
    // Each word its own argument: redis-server joins "--user a b c" into the config line
    // "user a b c" (one quoted argument would be read as a single word).
    options.argv.push_back("--user");
    for (absl::string_view word : absl::StrSplit(rule, ' ', absl::SkipEmpty())) {
      options.argv.emplace_back(word);
    }
  }
  // On a test host (hosts.h) clients come from other addresses of the test's private network,
  // which protected mode would refuse without a password.
  if (host() != "127.0.0.1") options.argv.insert(options.argv.end(), {"--protected-mode", "no"});
  options.argv.insert(options.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  options.working_dir = dir();
  return options;
}

absl::Status RedisServer::Probe() {
  ASSIGN_OR_RETURN(std::string pong, Command({"PING"}));
  if (pong != "PONG") return absl::UnavailableError(absl::StrCat("PING answered ", pong));
  return absl::OkStatus();
}

absl::StatusOr<std::string> RedisServer::Command(const std::vector<std::string>& args) {
  return RedisCommand(host(), port(), args, absl::Seconds(2), {"", options_.password});
}

absl::Status RedisServer::WaitForReplicaSync(absl::Duration timeout) {
  return WaitForOk(
      [&]() -> absl::Status {
        ASSIGN_OR_RETURN(std::string info, Command({"INFO", "replication"}));
        if (info.find("master_link_status:up") == std::string::npos) {
          return absl::UnavailableError("master_link_status is not up");
        }
        return absl::OkStatus();
      },
      timeout, absl::Milliseconds(50), absl::StrCat("replica ", address(), " to sync"));
}

// ---------------------------------------------------------------------------------------------

RedisSentinel::RedisSentinel(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout),
      options_(std::move(options)) {
  options_.port = port();
}

std::string RedisSentinel::url() const { return absl::StrCat("redis://", host(), ":", port()); }

absl::Status RedisSentinel::Prepare() {
  if (options_.master_port == 0) {
    return absl::InvalidArgumentError("RedisSentinel: Options.master_port is required");
  }
  const std::string& m = options_.master_name;
  std::string conf = absl::StrCat(
      "port ", port(), "\nbind ", host(), "\nprotected-mode no\ndaemonize no\ndir ", dir(), "\n",
      "sentinel monitor ", m, " ", options_.master_host, " ", options_.master_port, " ",
      options_.quorum, "\n", "sentinel down-after-milliseconds ", m, " ",
      absl::ToInt64Milliseconds(options_.down_after), "\n", "sentinel failover-timeout ", m, " ",
      absl::ToInt64Milliseconds(options_.failover_timeout), "\n", "sentinel parallel-syncs ", m,
      " 1\n");
  if (!options_.master_user.empty()) {
    absl::StrAppend(&conf, "sentinel auth-user ", m, " ", options_.master_user, "\n");
  }
  if (!options_.master_password.empty()) {
    absl::StrAppend(&conf, "sentinel auth-pass ", m, " ", options_.master_password, "\n");
  }
  if (!options_.password.empty()) absl::StrAppend(&conf, "requirepass ", options_.password, "\n");
  for (const std::string& line : options_.extra_config_lines) absl::StrAppend(&conf, line, "\n");
  const std::string path = dir() + "/sentinel.conf";
  std::ofstream out(path);
  out << conf;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

SubprocessOptions RedisSentinel::ProcessOptions() {
  SubprocessOptions options;
  options.argv = {"redis-sentinel", dir() + "/sentinel.conf"};
  options.working_dir = dir();
  return options;
}

absl::Status RedisSentinel::Probe() {
  ASSIGN_OR_RETURN(std::string pong, Command({"PING"}));
  if (pong != "PONG") return absl::UnavailableError(absl::StrCat("PING answered ", pong));
  return GetMasterAddr().status();
}

absl::StatusOr<std::string> RedisSentinel::Command(const std::vector<std::string>& args) {
  return RedisCommand(host(), port(), args, absl::Seconds(2), {"", options_.password});
}

absl::StatusOr<HostPort> RedisSentinel::GetMasterAddr() {
  ASSIGN_OR_RETURN(std::string reply,
                   Command({"SENTINEL", "get-master-addr-by-name", options_.master_name}));
  std::vector<std::string> parts = absl::StrSplit(reply, '\n');
  HostPort addr;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &addr.port)) {
    return absl::InternalError(absl::StrCat("sentinel ", address(),
                                            ": unexpected get-master-addr-by-name reply: ", reply));
  }
  addr.host = parts[0];
  return addr;
}

absl::StatusOr<int> RedisSentinel::KnownReplicas() {
  ASSIGN_OR_RETURN(std::string reply, Command({"SENTINEL", "master", options_.master_name}));
  std::vector<std::string> fields = absl::StrSplit(reply, '\n');
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    int n = 0;
    if (fields[i] == "num-slaves" && absl::SimpleAtoi(fields[i + 1], &n)) return n;
  }
  return absl::InternalError(
      absl::StrCat("sentinel ", address(), ": no num-slaves in SENTINEL master reply"));
}

absl::Status RedisSentinel::WaitForKnownReplicas(int n, absl::Duration timeout) {
  return WaitForOk(
      [&]() -> absl::Status {
        ASSIGN_OR_RETURN(int known, KnownReplicas());
        if (known < n) {
          return absl::UnavailableError(absl::StrCat("sentinel knows ", known, " replicas"));
        }
        return absl::OkStatus();
      },
      timeout, absl::Milliseconds(50),
      absl::StrCat("sentinel ", address(), " to know ", n, " replicas"));
}

}  // namespace testing
}  // namespace gonka
