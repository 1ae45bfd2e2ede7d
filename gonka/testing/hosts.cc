#include "gonka/testing/hosts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace testing {
namespace {

constexpr char kNetnsDir[] = "/run/netns";

// Runs a command (in `netns` when given) and waits up to 15 s. Internal with its output unless it
// exits 0.
absl::Status Run(const std::vector<std::string>& argv, const std::string& netns = "") {
  TempDir dir("hosts-cmd");
  SubprocessOptions options;
  options.argv = argv;
  options.log_path = dir.Join("out.log");
  options.network_namespace = netns;
  Subprocess process(options);
  RETURN_IF_ERROR(process.Start());
  absl::StatusOr<int> code = process.Wait(absl::Seconds(15));
  if (code.ok() && *code == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(absl::StrJoin(argv, " "), netns.empty() ? "" : absl::StrCat(" (in ", netns, ")"),
                   code.ok() ? absl::StrCat(" exited with ", *code) : code.status().ToString(),
                   ": ", process.LogTail(1000)));
}

// Namespaces to remove if the test dies by a signal: fixed-size, filled before the handlers can
// run, read by an async-signal-safe handler (umount2 and unlink only).
constexpr int kMaxSignalPaths = 128;
char g_signal_paths[kMaxSignalPaths][200];
std::atomic<bool> g_signal_path_used[kMaxSignalPaths];
std::atomic<int> g_live_instances{0};
std::set<int>* LiveInstances() {
  static auto* live = new std::set<int>();
  return live;
}
constexpr int kCleanupSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
struct sigaction g_previous[4];
bool g_handlers_installed = false;

void CleanupOnSignal(int signo) {
  for (int i = 0; i < kMaxSignalPaths; ++i) {
    if (!g_signal_path_used[i].load()) continue;
    umount2(g_signal_paths[i], MNT_DETACH);
    unlink(g_signal_paths[i]);
  }
  signal(signo, SIG_DFL);
  raise(signo);
}

void RegisterForSignalCleanup(const std::string& name) {
  for (int i = 0; i < kMaxSignalPaths; ++i) {
    if (g_signal_path_used[i].load()) continue;
    snprintf(g_signal_paths[i], sizeof(g_signal_paths[i]), "%s/%s", kNetnsDir, name.c_str());
    g_signal_path_used[i].store(true);
    break;
  }
  if (!g_handlers_installed) {
    struct sigaction action {};
    action.sa_handler = CleanupOnSignal;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 4; ++i) sigaction(kCleanupSignals[i], &action, &g_previous[i]);
    g_handlers_installed = true;
  }
}

void UnregisterForSignalCleanup(const std::string& name) {
  const std::string path = absl::StrCat(kNetnsDir, "/", name);
  for (int i = 0; i < kMaxSignalPaths; ++i) {
    if (g_signal_path_used[i].load() && path == g_signal_paths[i]) {
      g_signal_path_used[i].store(false);
    }
  }
}

}  // namespace

absl::Status JoinNetworkNamespace(const std::string& name) {
  const std::string path = absl::StrCat(kNetnsDir, "/", name);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("network namespace ", path, ": ", strerror(errno)));
  }
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("setns ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Hosts::RemoveStale(const std::string& prefix) {
  DIR* dir = opendir(kNetnsDir);
  if (dir == nullptr) return 0;  // no namespace was ever named on this machine
  std::vector<std::string> stale;
  const std::string lead = prefix + "-";
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind(lead, 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(name.substr(lead.size()), '-');
    int pid = 0;
    int instance = 0;
    if (parts.size() < 3 || !absl::SimpleAtoi(parts[0], &pid) ||
        !absl::SimpleAtoi(parts[1], &instance)) {
      continue;
    }
    bool dead = kill(pid, 0) != 0 && errno == ESRCH;
    bool ours_orphaned = pid == getpid() && LiveInstances()->count(instance) == 0;
    if (dead || ours_orphaned) stale.push_back(name);
  }
  closedir(dir);
  for (const std::string& name : stale) RETURN_IF_ERROR(Run({"ip", "netns", "del", name}));
  return static_cast<int>(stale.size());
}

Hosts::Hosts(Options options, int instance) : options_(std::move(options)), instance_(instance) {}

absl::StatusOr<std::unique_ptr<Hosts>> Hosts::Create(Options options) {
  if (!RunningAsRoot()) {
    return absl::FailedPreconditionError(
        "Hosts needs root (network namespaces, veth pairs, iptables); this test runs as uid " +
        std::to_string(geteuid()) + " — run it as root as CI does");
  }
  if (options.hosts < 1 || options.hosts > 200) {
    return absl::InvalidArgumentError(absl::StrCat("Hosts: hosts = ", options.hosts, " (1..200)"));
  }
  if (options.prefix.empty() || options.prefix.find('-') != std::string::npos) {
    return absl::InvalidArgumentError("Hosts: prefix must be non-empty without '-'");
  }
  RETURN_IF_ERROR(RemoveStale(options.prefix).status());
  int instance = g_live_instances.fetch_add(1);
  LiveInstances()->insert(instance);
  std::unique_ptr<Hosts> hosts(new Hosts(std::move(options), instance));
  absl::Status built = hosts->Build();
  if (!built.ok()) return built;  // the destructor removed what was made
  return hosts;
}

absl::Status Hosts::Build() {
  const std::string base = absl::StrCat(options_.prefix, "-", getpid(), "-", instance_);
  std::mt19937 rng(std::random_device{}());
  const std::string subnet = absl::StrCat("10.", 1 + rng() % 250, ".", rng() % 256, ".");
  bridge_ns_ = base + "-br";
  for (int i = 0; i <= options_.hosts; ++i) {
    namespaces_.push_back(i < options_.hosts ? absl::StrCat(base, "-h", i) : base + "-t");
    ips_.push_back(absl::StrCat(subnet, i + 1));
  }
  for (const std::string& name : namespace_names()) {
    RegisterForSignalCleanup(name);
    RETURN_IF_ERROR(Run({"ip", "netns", "add", name}));
  }
  RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "add", "br0", "type", "bridge"}));
  RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "set", "br0", "up"}));
  for (int i = 0; i < static_cast<int>(namespaces_.size()); ++i) {
    const std::string port = absl::StrCat("v", i);
    const std::string& ns = namespaces_[i];
    RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "add", port, "type", "veth", "peer",
                         "name", "eth0", "netns", ns}));
    RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "set", port, "master", "br0", "up"}));
    RETURN_IF_ERROR(Run({"ip", "-n", ns, "link", "set", "lo", "up"}));
    RETURN_IF_ERROR(Run({"ip", "-n", ns, "addr", "add", ips_[i] + "/24", "dev", "eth0"}));
    RETURN_IF_ERROR(Run({"ip", "-n", ns, "link", "set", "eth0", "up"}));
  }
  if (options_.enter_test_host) {
    original_netns_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original_netns_fd_ < 0) {
      return absl::InternalError(absl::StrCat("open /proc/thread-self/ns/net: ", strerror(errno)));
    }
    RETURN_IF_ERROR(JoinNetworkNamespace(namespaces_.back()));
  }
  return absl::OkStatus();
}

Hosts::~Hosts() {
  if (original_netns_fd_ >= 0) {
    if (setns(original_netns_fd_, CLONE_NEWNET) != 0) {
      fprintf(stderr, "Hosts: cannot return to the original network namespace: %s\n",
              strerror(errno));
    }
    close(original_netns_fd_);
  }
  for (const std::string& name : namespace_names()) {
    absl::Status removed = Run({"ip", "netns", "del", name});
    if (!removed.ok() && access(absl::StrCat(kNetnsDir, "/", name).c_str(), F_OK) == 0) {
      fprintf(stderr, "Hosts: %s\n", removed.ToString().c_str());
    }
    UnregisterForSignalCleanup(name);
  }
  LiveInstances()->erase(instance_);
}

std::vector<std::string> Hosts::namespace_names() const {
  std::vector<std::string> names = namespaces_;
  if (!bridge_ns_.empty()) names.push_back(bridge_ns_);
  return names;
}

absl::Status Hosts::ApplyRules(int host) {
  std::string rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
  for (const auto& [from, to] : cut_) {
    if (to == host) absl::StrAppend(&rules, "-A INPUT -s ", ips_[from], "/32 -j DROP\n");
  }
  absl::StrAppend(&rules, "COMMIT\n");
  TempDir dir("hosts-rules");
  const std::string path = dir.Join("rules");
  std::ofstream out(path);
  out << rules;
  out.close();
  if (!out) return absl::InternalError("Hosts: cannot write " + path);
  return Run({"iptables-restore", path}, namespaces_[host]);
}

absl::Status Hosts::Partition(const std::vector<int>& a, const std::vector<int>& b, bool one_way) {
  for (int h : a) {
    if (h < 0 || h > size()) return absl::InvalidArgumentError(absl::StrCat("Hosts: host ", h));
  }
  for (int h : b) {
    if (h < 0 || h > size()) return absl::InvalidArgumentError(absl::StrCat("Hosts: host ", h));
  }
  std::set<int> touched;
  for (int x : a) {
    for (int y : b) {
      if (x == y) continue;
      cut_.insert({x, y});
      touched.insert(y);
      if (!one_way) {
        cut_.insert({y, x});
        touched.insert(x);
      }
    }
  }
  for (int h : touched) RETURN_IF_ERROR(ApplyRules(h));
  return absl::OkStatus();
}

absl::Status Hosts::Heal() {
  std::set<int> touched;
  for (const auto& cut : cut_) touched.insert(cut.second);
  cut_.clear();
  for (int h : touched) RETURN_IF_ERROR(ApplyRules(h));
  return absl::OkStatus();
}

absl::Status Hosts::LinkDown(int host) {
  if (host < 0 || host > size()) {
    return absl::InvalidArgumentError(absl::StrCat("Hosts: host ", host));
  }
  RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "set", absl::StrCat("v", host), "down"}));
  down_.insert(host);
  return absl::OkStatus();
}

absl::Status Hosts::LinkUp(int host) {
  if (host < 0 || host > size()) {
    return absl::InvalidArgumentError(absl::StrCat("Hosts: host ", host));
  }
  RETURN_IF_ERROR(Run({"ip", "-n", bridge_ns_, "link", "set", absl::StrCat("v", host), "up"}));
  down_.erase(host);
  return absl::OkStatus();
}

std::string Hosts::Describe() const {
  std::vector<std::string> parts;
  for (const auto& [from, to] : cut_) parts.push_back(absl::StrCat(from, "->", to));
  for (int h : down_) parts.push_back(absl::StrCat("down:", h));
  return absl::StrJoin(parts, " ");
}

absl::Status Hosts::RunOn(int host, const std::function<void()>& fn) const {
  if (host < 0 || host > size()) {
    return absl::InvalidArgumentError(absl::StrCat("Hosts: host ", host));
  }
  absl::Status joined;
  std::thread thread([&] {
    joined = JoinNetworkNamespace(namespaces_[host]);
    if (joined.ok()) fn();
  });
  thread.join();
  return joined;
}

}  // namespace testing
}  // namespace gonka
