// A network of test hosts on one machine: each host is a Linux network namespace with one address
// on a private /24, all joined by veth pairs to a bridge that lives in its own namespace. Servers
// run on a host (ServerFixture::Place(hosts.placement(i))), and the test can at any moment cut
// hosts apart (both directions, or one), heal, or drop a host's link — the faults a real
// deployment sees that kill -9 and SIGSTOP on one loopback interface never produce.
//
// Contract:
//   - Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): Create() returns FailedPrecondition saying so
//     otherwise; tests that need it must fail, not skip, then (CI runs as root).
//   - Nothing outside the fixture's own namespaces changes: the root namespace gets no interface,
//     address, route or firewall rule. The test process itself joins an extra host, test_host()
//     (its calling thread only; threads it starts afterwards inherit it), so its probes and
//     checkers reach every host and can be cut like any other; ~Hosts puts the thread back.
//   - Faults are silent, as on a real network: a cut drops packets on arrival (iptables INPUT rule
//     in the receiving namespace, so the sender sees timeouts, never an error), and LinkDown takes
//     the bridge side of the host's veth down (carrier lost, packets vanish). Established TCP
//     connections stall until heal or their own timeouts.
//   - No latency or loss knobs: this kernel has no netem qdisc. Latency is injected with a
//     TcpRelay (tcp_relay.h) placed on a host.
//   - Clean-up: namespaces are named <prefix>-<pid>-<instance>-<role>. Create() first removes
//     every namespace with the prefix whose process is gone (a test killed with kill -9 leaves
//     them behind), the destructor removes its own, and SIGTERM/SIGINT/SIGHUP/SIGQUIT (a Bazel
//     timeout) unmount and unlink them before the signal takes its default action. Processes on a
//     host are children of the test (Subprocess: parent-death signal), so they die with it and
//     the namespaces vanish with the last of them.
//
// Thread-safety: not thread-safe; drive a Hosts from one thread. RunOn() may be called from any
// thread.
//
// Example:
//   absl::StatusOr<std::unique_ptr<gonka::testing::Hosts>> hosts =
//       gonka::testing::Hosts::Create({.hosts = 3});
//   ASSERT_TRUE(hosts.ok()) << hosts.status();
//   gonka::testing::RedisServer redis;
//   redis.Place((*hosts)->placement(0));        // binds 10.x.y.1 inside host 0
//   ASSERT_TRUE(redis.Start().ok());            // the test process reaches it from test_host()
//   ASSERT_TRUE((*hosts)->Partition({1}, {0}).ok());   // host 1 can no longer reach Redis
//   ASSERT_TRUE((*hosts)->Heal().ok());
#ifndef GONKA_TESTING_HOSTS_H_
#define GONKA_TESTING_HOSTS_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

class Hosts {
 public:
  struct Options {
    int hosts = 3;              // hosts for servers; the test process gets one more
    std::string prefix = "gk";  // namespace names start with it (keep it short)
    // false: the test process stays in its own namespace (it then reaches no host; for tests of
    // the fixture itself and helpers that only start processes).
    bool enter_test_host = true;
  };

  // Builds the network. FailedPrecondition when not root; Internal (with the failing `ip`
  // command and its output) when the kernel refuses a step. Removes stale namespaces first.
  static absl::StatusOr<std::unique_ptr<Hosts>> Create(Options options);
  ~Hosts();  // heals nothing, just removes every namespace (and the processes' network with it)

  Hosts(const Hosts&) = delete;
  Hosts& operator=(const Hosts&) = delete;

  // Hosts for servers are 0..size()-1; test_host() == size() is the test process's.
  int size() const { return static_cast<int>(ips_.size()) - 1; }
  int test_host() const { return size(); }
  // 10.a.b.(host+1): a /24 picked at random per run.
  const std::string& ip(int host) const { return ips_.at(host); }
  // The namespace's name (for `ip netns exec` when debugging; Subprocess network_namespace).
  const std::string& netns(int host) const { return namespaces_.at(host); }
  Placement placement(int host) const { return {ip(host), netns(host)}; }
  // Every namespace this fixture made (hosts, test host, bridge).
  std::vector<std::string> namespace_names() const;

  // Packets between every host of `a` and every host of `b` are dropped: both ways, or with
  // `one_way` only those from `a` to `b` (b -> a still arrives; TCP then stalls both ways, UDP
  // shows the asymmetry). Adds to the cuts already in place. InvalidArgument for an unknown host.
  absl::Status Partition(const std::vector<int>& a, const std::vector<int>& b,
                         bool one_way = false);
  // Removes every cut (links taken down stay down: LinkUp them).
  absl::Status Heal();
  // The host's link to the bridge goes down / comes back.
  absl::Status LinkDown(int host);
  absl::Status LinkUp(int host);
  // "1->0 0->1" (cut directions) and "down:2"; "" when the network is whole.
  std::string Describe() const;

  // Runs `fn` on a new thread joined to `host`'s namespace and waits for it: sockets it creates
  // belong to that host (and keep working from any thread afterwards).
  absl::Status RunOn(int host, const std::function<void()>& fn) const;

  // Removes namespaces named <prefix>-<pid>-... whose pid is not alive (also this process's own
  // that no live Hosts owns). Returns how many were removed.
  static absl::StatusOr<int> RemoveStale(const std::string& prefix);

 private:
  Hosts(Options options, int instance);
  absl::Status Build();
  absl::Status ApplyRules(int host);

  Options options_;
  int instance_;
  std::string bridge_ns_;
  std::vector<std::string> namespaces_;  // per host, the test host last
  std::vector<std::string> ips_;
  std::set<std::pair<int, int>> cut_;  // (from, to): packets from `from` dropped at `to`
  std::set<int> down_;
  int original_netns_fd_ = -1;  // the test thread's namespace before it joined test_host()
};

// Moves the calling thread into the named network namespace (/run/netns/<name>). New sockets of
// this thread, and threads it starts later, belong to it.
absl::Status JoinNetworkNamespace(const std::string& name);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_HOSTS_H_
