// The latency relay in front of a real Redis: delay (each direction), pause/resume, cut, and a
// relay placed on a test host whose upstream crosses a partition.
#include "gonka/testing/tcp_relay.h"

#include "gonka/testing/hosts.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace testing {
namespace {

TEST(TcpRelayTest, DelaysPausesAndCuts) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  auto relay = TcpRelay::Start({.target_ip = redis.host(), .target_port = redis.port()});
  ASSERT_TRUE(relay.ok()) << relay.status();
  TcpRelay& r = **relay;
  EXPECT_EQ(*RedisCommand("127.0.0.1", r.port(), {"PING"}), "PONG");

  // A request and its reply each wait the delay: a round trip takes at least twice it.
  r.SetDelay(absl::Milliseconds(200));
  absl::Time start = absl::Now();
  EXPECT_EQ(*RedisCommand("127.0.0.1", r.port(), {"PING"}), "PONG");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
  r.SetDelay(absl::ZeroDuration());

  // Paused: nothing comes back; resumed: works again.
  r.Pause();
  EXPECT_FALSE(RedisCommand("127.0.0.1", r.port(), {"PING"}, absl::Milliseconds(300)).ok());
  r.Resume();
  EXPECT_EQ(*RedisCommand("127.0.0.1", r.port(), {"PING"}), "PONG");
  EXPECT_GE(r.accepted(), 4);
  ASSERT_TRUE(WaitFor([&] { return r.open_connections() == 0; }, absl::Seconds(5)).ok());

  EXPECT_EQ(TcpRelay::Start({.target_port = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TcpRelayTest, OnATestHost) {
  auto hosts = Hosts::Create({.hosts = 2, .prefix = "gkr"});
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  Hosts& h = **hosts;
  RedisServer redis;
  redis.Place(h.placement(1));
  ASSERT_TRUE(redis.Start().ok());
  // A sidecar on host 0: listens on host 0's address, forwards to Redis on host 1.
  auto relay = TcpRelay::Start({.listen_ip = h.ip(0),
                                .target_ip = redis.host(),
                                .target_port = redis.port(),
                                .network_namespace = h.netns(0)});
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_EQ(*RedisCommand(h.ip(0), (*relay)->port(), {"PING"}), "PONG");
  ASSERT_TRUE(h.Partition({0}, {1}).ok());  // the relay's upstream is cut, the test host is not
  EXPECT_FALSE(RedisCommand(h.ip(0), (*relay)->port(), {"PING"}, absl::Milliseconds(500)).ok());
  EXPECT_EQ(*redis.Command({"PING"}), "PONG");
  ASSERT_TRUE(h.Heal().ok());
  EXPECT_EQ(*RedisCommand(h.ip(0), (*relay)->port(), {"PING"}), "PONG");
}

}  // namespace
}  // namespace testing
}  // namespace gonka
