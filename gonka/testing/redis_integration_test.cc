// RedisServer through hiredis: round trip, crash + restart on the same port, persistence with
// appendonly, and a paused server that stops answering.
#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

struct RedisFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisPtr = std::unique_ptr<redisContext, RedisFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

RedisPtr Connect(const RedisServer& redis) {
  timeval tv{2, 0};
  RedisPtr c(redisConnectWithTimeout(redis.host().c_str(), redis.port(), tv));
  if (c != nullptr) redisSetTimeout(c.get(), tv);
  return c;
}

ReplyPtr RedisExec(redisContext* c, const char* format, const char* arg1 = nullptr,
                   const char* arg2 = nullptr) {
  return ReplyPtr(static_cast<redisReply*>(redisCommand(c, format, arg1, arg2)));
}

TEST(RedisServerTest, SetGetThenKillAndRestartOnSamePort) {
  RedisServer redis;
  absl::Status started = redis.Start();
  ASSERT_TRUE(started.ok()) << started;
  const int port = redis.port();
  EXPECT_EQ(redis.url(), "redis://127.0.0.1:" + std::to_string(port));
  {
    RedisPtr c = Connect(redis);
    ASSERT_TRUE(c != nullptr && c->err == 0) << (c ? c->errstr : "null");
    ReplyPtr set = RedisExec(c.get(), "SET %s %s", "gonka:key", "value-1");
    ASSERT_TRUE(set != nullptr);
    EXPECT_EQ(std::string(set->str, set->len), "OK");
    ReplyPtr get = RedisExec(c.get(), "GET %s", "gonka:key");
    ASSERT_TRUE(get != nullptr);
    ASSERT_EQ(get->type, REDIS_REPLY_STRING);
    EXPECT_EQ(std::string(get->str, get->len), "value-1");
  }

  const pid_t old_pid = redis.pid();
  ASSERT_TRUE(redis.Kill().ok());
  EXPECT_FALSE(redis.IsRunning());
  EXPECT_FALSE(TcpPortOpen(redis.host(), port));
  absl::Status restarted = redis.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(redis.port(), port);
  EXPECT_NE(redis.pid(), old_pid);

  RedisPtr c = Connect(redis);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  // No persistence by default: the key is gone, and the server works.
  ReplyPtr get = RedisExec(c.get(), "GET %s", "gonka:key");
  ASSERT_TRUE(get != nullptr);
  EXPECT_EQ(get->type, REDIS_REPLY_NIL);
  ReplyPtr incr = RedisExec(c.get(), "INCR %s", "gonka:counter");
  ASSERT_TRUE(incr != nullptr);
  EXPECT_EQ(incr->integer, 1);
}

TEST(RedisServerTest, AppendOnlySurvivesACrash) {
  RedisServer::Options options;
  options.appendonly = true;
  RedisServer redis(options);
  ASSERT_TRUE(redis.Start().ok());
  ASSERT_TRUE(redis.Command({"SET", "durable", "yes"}).ok());
  ASSERT_TRUE(redis.Kill().ok());
  ASSERT_TRUE(redis.Restart().ok());
  absl::StatusOr<std::string> value = redis.Command({"GET", "durable"});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "yes");
  EXPECT_EQ(redis.Command({"GET", "missing"}).status().code(), absl::StatusCode::kNotFound);
}

TEST(RedisServerTest, PausedServerTimesOutThenRecovers) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  ASSERT_TRUE(redis.Pause().ok());
  absl::StatusOr<std::string> pong =
      RedisCommand(redis.host(), redis.port(), {"PING"}, absl::Milliseconds(300));
  EXPECT_EQ(pong.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(redis.Resume().ok());
  pong = redis.Command({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(*pong, "PONG");
  // Graceful stop, then a restart keeps the port.
  ASSERT_TRUE(redis.Stop().ok());
  EXPECT_FALSE(redis.IsRunning());
  ASSERT_TRUE(redis.Start().ok());
  EXPECT_EQ(*redis.Command({"PING"}), "PONG");
}

TEST(RedisServerTest, ErrorsAreReported) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  EXPECT_EQ(redis.Command({"NOSUCHCOMMAND"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(redis.Kill().ok());
  EXPECT_EQ(redis.Command({"PING"}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace testing
}  // namespace gonka
