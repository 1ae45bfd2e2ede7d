// The hosts fixture on a real kernel: sockets across hosts, cuts both ways and one way, heal,
// link down/up, a server placed on a host, and clean-up after a normal end and after kill -9.
// Needs root (CI runs as root): fails, does not skip, otherwise.
#include "gonka/testing/hosts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace testing {
namespace {

// A TCP listener on `ip` (port chosen by the kernel), created on `host` by the caller's RunOn.
struct Listener {
  int fd = -1;
  int port = 0;
  ~Listener() {
    if (fd >= 0) close(fd);
  }
};

void Listen(const std::string& ip, int type, Listener* out) {
  out->fd = socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  ASSERT_EQ(bind(out->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << ip;
  if (type == SOCK_STREAM) ASSERT_EQ(listen(out->fd, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(out->fd, reinterpret_cast<sockaddr*>(&addr), &len);
  out->port = ntohs(addr.sin_port);
}

bool Connects(const Hosts& hosts, int from, const std::string& ip, int port) {
  bool open = false;
  EXPECT_TRUE(
      hosts.RunOn(from, [&] { open = TcpPortOpen(ip, port, absl::Milliseconds(400)); }).ok());
  return open;
}

// Sends one datagram from host `from` to the UDP listener; true if it arrives within 300 ms.
bool DatagramArrives(const Hosts& hosts, int from, const std::string& ip, const Listener& udp) {
  EXPECT_TRUE(hosts
                  .RunOn(from,
                         [&] {
                           int fd = socket(AF_INET, SOCK_DGRAM, 0);
                           sockaddr_in addr{};
                           addr.sin_family = AF_INET;
                           addr.sin_port = htons(static_cast<uint16_t>(udp.port));
                           inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
                           sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
                           close(fd);
                         })
                  .ok());
  pollfd p{udp.fd, POLLIN, 0};
  if (poll(&p, 1, 300) != 1) return false;
  char buf[16];
  return recv(udp.fd, buf, sizeof(buf), 0) == 1;
}

std::vector<std::string> NamespacesWithPrefix(const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix + "-", 0) == 0) names.push_back(name);
  }
  return names;
}

TEST(HostsTest, NeedsRoot) {
  ASSERT_TRUE(RunningAsRoot()) << "the hosts fixture needs root (network namespaces); CI runs "
                                  "as root — run this test as root";
}

TEST(HostsTest, CutHealAndLinkDown) {
  absl::StatusOr<std::unique_ptr<Hosts>> made = Hosts::Create({.hosts = 3, .prefix = "gkt"});
  ASSERT_TRUE(made.ok()) << made.status();
  Hosts& hosts = **made;
  ASSERT_EQ(hosts.size(), 3);
  Listener tcp1, tcp2, udp0, udp1;
  ASSERT_TRUE(hosts.RunOn(1, [&] { Listen(hosts.ip(1), SOCK_STREAM, &tcp1); }).ok());
  ASSERT_TRUE(hosts.RunOn(2, [&] { Listen(hosts.ip(2), SOCK_STREAM, &tcp2); }).ok());
  ASSERT_TRUE(hosts.RunOn(0, [&] { Listen(hosts.ip(0), SOCK_DGRAM, &udp0); }).ok());
  ASSERT_TRUE(hosts.RunOn(1, [&] { Listen(hosts.ip(1), SOCK_DGRAM, &udp1); }).ok());

  // Whole network: every host reaches every other, and the test process reaches them too.
  EXPECT_TRUE(Connects(hosts, 0, hosts.ip(1), tcp1.port));
  EXPECT_TRUE(Connects(hosts, 0, hosts.ip(2), tcp2.port));
  EXPECT_TRUE(TcpPortOpen(hosts.ip(1), tcp1.port));
  EXPECT_TRUE(DatagramArrives(hosts, 1, hosts.ip(0), udp0));
  // A listener on host 1's loopback is not reachable at host 2's address: separate stacks.
  EXPECT_FALSE(Connects(hosts, 0, hosts.ip(2), tcp1.port));

  // Both ways: 0 and 1 cannot talk; 0 still reaches 2.
  ASSERT_TRUE(hosts.Partition({0}, {1}).ok());
  EXPECT_EQ(hosts.Describe(), "0->1 1->0");
  EXPECT_FALSE(Connects(hosts, 0, hosts.ip(1), tcp1.port));
  EXPECT_FALSE(DatagramArrives(hosts, 1, hosts.ip(0), udp0));
  EXPECT_FALSE(DatagramArrives(hosts, 0, hosts.ip(1), udp1));
  EXPECT_TRUE(Connects(hosts, 0, hosts.ip(2), tcp2.port));
  EXPECT_TRUE(Connects(hosts, 2, hosts.ip(1), tcp1.port));

  // Heal restores.
  ASSERT_TRUE(hosts.Heal().ok());
  EXPECT_EQ(hosts.Describe(), "");
  EXPECT_TRUE(Connects(hosts, 0, hosts.ip(1), tcp1.port));

  // One way: 0 -> 1 dropped, 1 -> 0 delivered (UDP shows it; TCP needs both ways).
  ASSERT_TRUE(hosts.Partition({0}, {1}, /*one_way=*/true).ok());
  EXPECT_FALSE(DatagramArrives(hosts, 0, hosts.ip(1), udp1));
  EXPECT_TRUE(DatagramArrives(hosts, 1, hosts.ip(0), udp0));
  EXPECT_FALSE(Connects(hosts, 0, hosts.ip(1), tcp1.port));
  ASSERT_TRUE(hosts.Heal().ok());
  EXPECT_TRUE(DatagramArrives(hosts, 0, hosts.ip(1), udp1));

  // The test process's own host can be cut like any other.
  ASSERT_TRUE(hosts.Partition({hosts.test_host()}, {1}).ok());
  EXPECT_FALSE(TcpPortOpen(hosts.ip(1), tcp1.port, absl::Milliseconds(400)));
  EXPECT_TRUE(TcpPortOpen(hosts.ip(2), tcp2.port, absl::Milliseconds(400)));
  ASSERT_TRUE(hosts.Heal().ok());

  // A host's link down: nobody reaches it; up again: back.
  ASSERT_TRUE(hosts.LinkDown(2).ok());
  EXPECT_EQ(hosts.Describe(), "down:2");
  EXPECT_FALSE(Connects(hosts, 0, hosts.ip(2), tcp2.port));
  EXPECT_FALSE(TcpPortOpen(hosts.ip(2), tcp2.port, absl::Milliseconds(400)));
  ASSERT_TRUE(hosts.LinkUp(2).ok());
  ASSERT_TRUE(WaitFor([&] { return TcpPortOpen(hosts.ip(2), tcp2.port); }, absl::Seconds(10)).ok());

  ASSERT_TRUE(hosts.Partition({0}, {9}).code() == absl::StatusCode::kInvalidArgument);
}

TEST(HostsTest, ServerOnAHost) {
  absl::StatusOr<std::unique_ptr<Hosts>> made = Hosts::Create({.hosts = 2, .prefix = "gkt"});
  ASSERT_TRUE(made.ok()) << made.status();
  Hosts& hosts = **made;
  RedisServer redis;
  redis.Place(hosts.placement(0));
  absl::Status started = redis.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(redis.host(), hosts.ip(0));
  EXPECT_EQ(*redis.Command({"PING"}), "PONG");
  // Host 1 reaches it; cut, it does not; the test host still does.
  EXPECT_TRUE(Connects(hosts, 1, redis.host(), redis.port()));
  ASSERT_TRUE(hosts.Partition({1}, {0}).ok());
  EXPECT_FALSE(Connects(hosts, 1, redis.host(), redis.port()));
  EXPECT_EQ(*redis.Command({"PING"}), "PONG");
  ASSERT_TRUE(hosts.Partition({hosts.test_host()}, {0}).ok());
  EXPECT_EQ(
      RedisCommand(redis.host(), redis.port(), {"PING"}, absl::Milliseconds(300)).status().code(),
      absl::StatusCode::kUnavailable);
  ASSERT_TRUE(hosts.Heal().ok());
  EXPECT_EQ(*redis.Command({"PING"}), "PONG");
}

TEST(HostsTest, NamespacesRemovedAtEnd) {
  std::vector<std::string> names;
  {
    absl::StatusOr<std::unique_ptr<Hosts>> made = Hosts::Create({.hosts = 2, .prefix = "gkt"});
    ASSERT_TRUE(made.ok()) << made.status();
    names = (*made)->namespace_names();
    EXPECT_EQ(names.size(), 4u);  // 2 hosts, the test host, the bridge
    for (const std::string& name : names) {
      EXPECT_TRUE(std::filesystem::exists("/run/netns/" + name)) << name;
    }
  }
  for (const std::string& name : names) {
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + name)) << name;
  }
}

TEST(HostsTest, StaleNamespacesOfAKilledTestRemovedAtStart) {
  TempDir dir;
  absl::StatusOr<std::string> holder = ResolveRunfile("gonka/testing/hosts_holder");
  ASSERT_TRUE(holder.ok()) << holder.status();
  SubprocessOptions options;
  options.argv = {*holder, "gkk"};
  options.log_path = dir.Join("holder.log");
  Subprocess process(options);
  ASSERT_TRUE(process.Start().ok());
  const std::string lead = absl::StrCat("gkk-", process.pid());
  ASSERT_TRUE(
      WaitFor([&] { return NamespacesWithPrefix(lead).size() == 4; }, absl::Seconds(20)).ok())
      << process.LogTail();
  ASSERT_TRUE(process.Kill().ok());  // kill -9: no destructor, no signal handler
  EXPECT_EQ(NamespacesWithPrefix(lead).size(), 4u);
  absl::StatusOr<int> removed = Hosts::RemoveStale("gkk");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_GE(*removed, 4);
  EXPECT_TRUE(NamespacesWithPrefix(lead).empty());
}

TEST(HostsTest, SigtermRemovesNamespaces) {
  TempDir dir;
  absl::StatusOr<std::string> holder = ResolveRunfile("gonka/testing/hosts_holder");
  ASSERT_TRUE(holder.ok()) << holder.status();
  SubprocessOptions options;
  options.argv = {*holder, "gks"};
  options.log_path = dir.Join("holder.log");
  Subprocess process(options);
  ASSERT_TRUE(process.Start().ok());
  const std::string lead = absl::StrCat("gks-", process.pid());
  ASSERT_TRUE(
      WaitFor([&] { return NamespacesWithPrefix(lead).size() == 4; }, absl::Seconds(20)).ok())
      << process.LogTail();
  ASSERT_TRUE(process.Signal(SIGTERM).ok());  // a Bazel timeout
  ASSERT_TRUE(process.Wait(absl::Seconds(10)).ok());
  EXPECT_TRUE(NamespacesWithPrefix(lead).empty());
}

}  // namespace
}  // namespace testing
}  // namespace gonka
