// versiond as a process: a version oracle served in the test, devchild variants as the
// binaries, real ports. Swaps under load with open SSE streams, refused and failing binaries,
// start-up validation, host evacuation, and kill -9.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemons/versiond/versiond_env.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace versiond_testing {
namespace {

using net::HttpCallOptions;
using net::HttpClient;

HttpCallOptions Call(absl::Duration timeout = absl::Seconds(10)) {
  return HttpCallOptions::Timeout(timeout);
}

// The "version" field of a devchild JSON answer ("" if none).
std::string VersionOf(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view v;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || doc["version"].get(v)) return "";
  return std::string(v);
}

// The pids of the children in versiond's /healthz.
std::vector<int64_t> ChildPids(HttpClient& http, const VersiondEnv& env) {
  std::vector<int64_t> pids;
  auto r = http.Get(env.Url("/healthz"), Call());
  if (!r.ok()) return pids;
  simdjson::dom::parser parser;
  simdjson::dom::array children;
  if (parser.parse(r->body).get(children) != simdjson::SUCCESS) return pids;
  for (simdjson::dom::element c : children) {
    int64_t pid = 0;
    if (c["pid"].get(pid) == simdjson::SUCCESS) pids.push_back(pid);
  }
  return pids;
}

bool PidGone(int64_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  // A zombie waiting for init holds no port.
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || line.substr(paren + 2, 1) == "Z";
}

// Free = a server could listen there now. SO_REUSEADDR as servers set it: connections of the
// dead child left in TIME_WAIT do not hold the port, a listener does.
bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

// Constant load of escrow requests on `threads` threads: every answer's status and version.
class Load {
 public:
  Load(const VersiondEnv& env, int threads, int delay_ms) {
    for (int t = 0; t < threads; ++t) {
      workers_.emplace_back([this, &env, t, delay_ms] {
        HttpClient http;
        std::vector<std::string> seen;
        while (!stop_.load()) {
          auto r = http.Post(
              env.Url(absl::StrCat("/app/v1/escrows/e", t, "/requests?delay_ms=", delay_ms)), "{}",
              "application/json", Call());
          std::lock_guard<std::mutex> lock(mu_);
          if (!r.ok()) {
            ++errors_;
            last_error_ = r.status().ToString();
          } else if (r->status != 200) {
            ++non_2xx_;
            last_error_ = absl::StrCat(r->status, " ", r->body);
          } else {
            std::string v = VersionOf(r->body);
            ++by_version_[v];
            // Per thread the answers must switch once: never back to an older binary.
            if (!seen.empty() && seen.back() != v) seen.push_back(v);
            if (seen.empty()) seen.push_back(v);
          }
        }
        std::lock_guard<std::mutex> lock(mu_);
        sequences_.push_back(seen);
      });
    }
  }
  void Stop() {
    stop_.store(true);
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  ~Load() { Stop(); }
  int count(const std::string& version) {
    std::lock_guard<std::mutex> lock(mu_);
    return by_version_[version];
  }

  std::mutex mu_;
  std::map<std::string, int> by_version_;
  std::vector<std::vector<std::string>> sequences_;
  int errors_ = 0;
  int non_2xx_ = 0;
  std::string last_error_;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

// One SSE stream through versiond: the events it got and whether it ended with `event: end`.
struct StreamResult {
  int events = 0;
  bool ended = false;
  std::string version;
  absl::Status status;
};

StreamResult OpenStream(const VersiondEnv& env, const std::string& escrow, int n, int interval_ms) {
  HttpClient http;
  HttpCallOptions call;
  call.no_deadline = true;
  call.stream_idle_timeout = absl::Seconds(20);
  call.headers.Set("Accept", "text/event-stream");
  StreamResult out;
  std::string buffer;
  auto r = http.Stream(
      env.Url(
          absl::StrCat("/app/v1/escrows/", escrow, "/stream?n=", n, "&interval_ms=", interval_ms)),
      [&](absl::string_view bytes) {
        buffer.append(bytes.data(), bytes.size());
        return true;
      },
      call);
  out.status = r.ok() ? (r->status == 200 ? absl::OkStatus()
                                          : absl::InternalError(absl::StrCat("HTTP ", r->status)))
                      : r.status();
  for (absl::string_view line : absl::StrSplit(buffer, '\n')) {
    if (absl::StartsWith(line, "data: {")) {
      ++out.events;
      std::string v = VersionOf(std::string(line.substr(6)));
      if (out.version.empty()) out.version = v;
      if (v != out.version) out.version = "mixed";
    }
    if (line == "event: end") out.ended = true;
  }
  return out;
}

TEST(VersiondTest, SwapsABinaryUnderLoadWithoutAnErrorOrACutStream) {
  VersiondEnv env("swap");
  HttpClient http;
  Variant v1 = env.MakeVariant("v1");
  Variant v2 = env.MakeVariant("v2");
  ASSERT_NE(v1.sha256, v2.sha256);
  env.SetOracle({{"app", v1}});
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();

  Load load(env, 4, 20);
  // Long streams open on v1 across the swap, and new streams opened through it.
  std::vector<std::thread> streams;
  std::mutex streams_mu;
  std::vector<StreamResult> results;
  for (int i = 0; i < 3; ++i) {
    streams.emplace_back([&, i] {
      StreamResult r = OpenStream(env, absl::StrCat("long", i), 40, 50);  // 2 s
      std::lock_guard<std::mutex> lock(streams_mu);
      results.push_back(r);
    });
  }
  std::atomic<bool> stop_short{false};
  std::thread short_streams([&] {
    for (int i = 0; !stop_short.load(); ++i) {
      StreamResult r = OpenStream(env, absl::StrCat("short", i), 5, 20);
      std::lock_guard<std::mutex> lock(streams_mu);
      results.push_back(r);
    }
  });
  ASSERT_TRUE(testing::WaitFor([&] { return load.count("v1") >= 20; }, absl::Seconds(20)).ok());

  env.SetOracle({{"app", v2}});  // the governance update
  ASSERT_TRUE(testing::WaitFor([&] { return load.count("v2") >= 40; }, absl::Seconds(30)).ok())
      << env.versiond().LogTail();
  for (auto& t : streams) t.join();
  stop_short.store(true);
  short_streams.join();
  load.Stop();

  std::printf("swap under load: v1=%d v2=%d errors=%d non_2xx=%d streams=%zu\n", load.count("v1"),
              load.count("v2"), load.errors_, load.non_2xx_, results.size());
  EXPECT_EQ(load.errors_, 0) << load.last_error_;
  EXPECT_EQ(load.non_2xx_, 0) << load.last_error_;
  EXPECT_GT(load.count("v1"), 0);
  EXPECT_GT(load.count("v2"), 0);
  for (const auto& seq : load.sequences_) {
    ASSERT_FALSE(seq.empty());
    EXPECT_EQ(seq.front(), "v1");
    EXPECT_EQ(seq.back(), "v2");
    EXPECT_LE(seq.size(), 2u) << "a thread went back to an old binary";
  }
  int long_on_v1 = 0;
  for (const StreamResult& r : results) {
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.ended) << "stream cut after " << r.events << " events";
    EXPECT_NE(r.version, "mixed");
    if (r.events == 40 && r.version == "v1") ++long_on_v1;
  }
  EXPECT_EQ(long_on_v1, 3) << "the long streams opened on v1 finish on v1";
  EXPECT_EQ(env.Metric("versiond_swaps_total"), 1);
  // The old child is reaped: /healthz lists v2 only.
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    auto r = http.Get(env.Url("/healthz"), Call());
                    return r.ok() && !absl::StrContains(r->body, v1.sha256) &&
                           absl::StrContains(r->body, v2.sha256);
                  },
                  absl::Seconds(20))
                  .ok());
  auto exit = env.versiond().Terminate(absl::Seconds(30));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 0) << env.versiond().LogTail();
}

TEST(VersiondTest, BadBinariesNeverTakeTrafficAndTheOldChildKeepsServing) {
  VersiondEnv env("bad");
  HttpClient http;
  Variant v1 = env.MakeVariant("v1");
  env.SetOracle({{"app", v1}});
  ASSERT_TRUE(env.StartVersiond({"--ready-timeout=2s"}).ok()) << env.versiond().LogTail();
  Load load(env, 2, 5);

  // 1. The oracle lists a hash the served bytes do not have: refused, never installed.
  Variant v2 = env.MakeVariant("v2");
  env.SetOracle({{"app", v2, /*sha256_override=*/std::string(64, 'a')}});
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    return env.Metric(
                               "versiond_install_failures_total{reason=\"sha256_mismatch\"}") >= 1;
                  },
                  absl::Seconds(20))
                  .ok())
      << env.versiond().LogTail();
  EXPECT_FALSE(
      std::ifstream(env.dir().Join(absl::StrCat("bin/app/", std::string(64, 'a'), "/devshard"))));
  // 2. A binary that never gets ready, 3. one that crashes at start. (Failures are counted from
  // each step: a loaded machine may have failed v1's first start at the ready timeout.)
  auto failed = [&] { return env.Metric("versiond_deploys_total{result=\"failed\"}"); };
  Variant never = env.MakeVariant("never", "never-ready");
  const double before_never = failed();
  env.SetOracle({{"app", never}});
  ASSERT_TRUE(
      testing::WaitFor([&] { return failed() >= before_never + 1; }, absl::Seconds(30)).ok())
      << env.versiond().LogTail();
  Variant crash = env.MakeVariant("crash", "crash-at-start");
  const size_t log_crash = env.Log().size();
  env.SetOracle({{"app", crash}});
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    return env.Log().find("exited before ready", log_crash) != std::string::npos &&
                           failed() >= before_never + 2;
                  },
                  absl::Seconds(30))
                  .ok())
      << env.versiond().LogTail();
  load.Stop();
  std::printf("bad binaries: v1=%d never=%d crash=%d v2=%d errors=%d non_2xx=%d\n",
              load.count("v1"), load.count("never"), load.count("crash"), load.count("v2"),
              load.errors_, load.non_2xx_);
  EXPECT_GT(load.count("v1"), 0);
  EXPECT_EQ(load.count("v2") + load.count("never") + load.count("crash"), 0);
  EXPECT_EQ(load.errors_, 0) << load.last_error_;
  EXPECT_EQ(load.non_2xx_, 0) << load.last_error_;
  EXPECT_EQ(env.Metric("versiond_swaps_total"), 0);
  // /readyz stays latched; the version is still served by v1.
  EXPECT_EQ(http.Get(env.Url("/readyz"), Call())->status, 200);
  EXPECT_EQ(http.Get(env.Url("/readyz?version=app"), Call())->status, 200);
}

TEST(VersiondTest, BadSettingsStopItAtStartNamingTheVariable) {
  VersiondEnv env("config");
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> flags;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{{"VERSIOND_POLL_INTERVAL", "soon"}}, {}, "VERSIOND_POLL_INTERVAL"},
      {{{"VERSIOND_READY_TIMEOUT", "0s"}}, {}, "VERSIOND_READY_TIMEOUT"},
      {{{"VERSIOND_DRAIN_TIMEOUT", "-5s"}}, {}, "VERSIOND_DRAIN_TIMEOUT"},
      {{{"VERSIOND_DRAIN_ANNOUNCE", "2s"}}, {"--drain-announce=2s"}, "VERSIOND_DRAIN_ANNOUNCE"},
      {{}, {"--oracle-url=ftp://x"}, "VERSIOND_ORACLE_URL"},
      {{{"VERSIOND_READY_MAX_WAIT", "soon"}}, {}, "VERSIOND_READY_MAX_WAIT"},
      {{{"VERSIOND_RECOVERY_TIMEOUT", "0s"}}, {}, "VERSIOND_RECOVERY_TIMEOUT"},
      {{{"VERSIOND_FORCE", "v9"}}, {}, "VERSIOND_FORCE"},
      {{{"VERSIOND_OVERRIDE_app", "relative/devshard"}}, {}, "VERSIOND_OVERRIDE_app"},
  };
  for (const Case& c : cases) {
    testing::SubprocessOptions o;
    o.argv = {Runfile("daemons/versiond/versiond"), "--port=0",
              absl::StrCat("--oracle-url=", env.OracleUrl())};
    o.argv.insert(o.argv.end(), c.flags.begin(), c.flags.end());
    o.env = c.env;
    o.log_path = env.dir().Join(absl::StrCat("config-", c.expect, ".log"));
    testing::Subprocess p(o);
    ASSERT_TRUE(p.Start().ok());
    auto exit = p.Wait(absl::Seconds(10));
    ASSERT_TRUE(exit.ok()) << c.expect;
    EXPECT_EQ(*exit, 2) << c.expect;
    EXPECT_TRUE(absl::StrContains(p.LogTail(), c.expect)) << p.LogTail();
  }
  // No oracle at all.
  testing::SubprocessOptions o;
  o.argv = {Runfile("daemons/versiond/versiond"), "--port=0"};
  o.log_path = env.dir().Join("config-none.log");
  testing::Subprocess p(o);
  ASSERT_TRUE(p.Start().ok());
  auto exit = p.Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 2);
  EXPECT_TRUE(absl::StrContains(p.LogTail(), "VERSIOND_ORACLE_URL")) << p.LogTail();
}

TEST(VersiondTest, SigtermEvacuatesTheHostWithinTheBudget) {
  VersiondEnv env("evacuate");
  HttpClient http;
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  ASSERT_TRUE(env.StartVersiond({"--drain-announce=5s", "--host-shutdown-budget=20s"}).ok())
      << env.versiond().LogTail();
  std::vector<int64_t> children = ChildPids(http, env);
  ASSERT_EQ(children.size(), 1u);
  // A stream that outlives the announce: it must end on its own, not be cut.
  StreamResult stream;
  std::thread reader([&] { stream = OpenStream(env, "pinned", 70, 100); });  // 7 s
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(env.versiond().Signal(SIGTERM).ok());
  // announcing: /readyz 503 at once, requests still served.
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    auto r = http.Get(env.Url("/readyz"), Call());
                    return r.ok() && r->status == 503;
                  },
                  absl::Seconds(3))
                  .ok());
  auto during = http.Post(env.Url("/app/v1/escrows/e/requests"), "{}", "application/json", Call());
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ(during->status, 200);
  auto exit = env.versiond().Wait(absl::Seconds(30));
  const absl::Duration took = absl::Now() - sent;
  reader.join();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 0) << env.versiond().LogTail();
  EXPECT_LT(took, absl::Seconds(20)) << "within the host budget";
  EXPECT_GE(took, absl::Seconds(5)) << "not before the announce ended";
  EXPECT_TRUE(stream.status.ok()) << stream.status;
  EXPECT_TRUE(stream.ended);
  EXPECT_EQ(stream.events, 70);
  for (int64_t pid : children) EXPECT_TRUE(PidGone(pid));
  // The states, in order.
  std::string log = env.versiond().LogTail(1 << 20);
  size_t at = 0;
  for (const char* state :
       {"state=announcing", "state=draining", "state=stopping", "state=stopped"}) {
    size_t next = log.find(state, at);
    ASSERT_NE(next, std::string::npos) << state << "\n" << log;
    at = next;
  }
  std::printf("evacuation: %.2f s (announce 5 s, budget 20 s), stream %d/70 events\n",
              absl::ToDoubleSeconds(took), stream.events);
}

TEST(VersiondTest, ASecondSignalForcesTheStop) {
  VersiondEnv env("force");
  HttpClient http;
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  ASSERT_TRUE(env.StartVersiond({"--drain-announce=5s", "--host-shutdown-budget=60s",
                                 "--drain-kill-grace=20s", "--child-shutdown-grace=20s"})
                  .ok())
      << env.versiond().LogTail();
  std::vector<int64_t> children = ChildPids(http, env);
  std::thread reader([&] { OpenStream(env, "endless", 100000, 100); });
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(env.versiond().Signal(SIGTERM).ok());
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time forced = absl::Now();
  ASSERT_TRUE(env.versiond().Signal(SIGTERM).ok());
  auto exit = env.versiond().Wait(absl::Seconds(20));
  reader.join();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 3) << "work was cut";
  EXPECT_LT(absl::Now() - forced, absl::Seconds(5));
  for (int64_t pid : children) EXPECT_TRUE(PidGone(pid));
}

// Socket inodes of `pid`'s open descriptors.
std::set<std::string> SocketInodes(int64_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec)) {
    const std::string link = std::filesystem::read_symlink(e.path(), ec).string();
    absl::string_view target = link;
    if (absl::ConsumePrefix(&target, "socket:[") && absl::ConsumeSuffix(&target, "]")) {
      out.insert(std::string(target));
    }
  }
  return out;
}

// The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp), or "".
std::string ListenerInode(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  const std::string local = absl::StrCat(":", absl::AsciiStrToUpper(absl::StrFormat("%04x", port)));
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() > 9 && absl::EndsWith(f[1], local) && f[3] == "0A") return f[9];
  }
  return "";
}

TEST(VersiondTest, ChildrenInheritNoneOfVersiondsSockets) {
  VersiondEnv env("fds");
  HttpClient http;
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();
  std::vector<int64_t> children = ChildPids(http, env);
  ASSERT_EQ(children.size(), 1u);
  const std::string listener = ListenerInode(env.port());
  ASSERT_FALSE(listener.empty());
  EXPECT_TRUE(SocketInodes(env.versiond().pid()).count(listener));
  // A child holding versiond's listener would keep its port accepting after versiond closed it.
  EXPECT_FALSE(SocketInodes(children[0]).count(listener));
}

TEST(VersiondTest, Kill9LeavesNoChildHoldingAPort) {
  VersiondEnv env("kill9");
  HttpClient http;
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();
  auto r = http.Get(env.Url("/healthz"), Call());
  ASSERT_TRUE(r.ok());
  std::vector<int64_t> children = ChildPids(http, env);
  ASSERT_EQ(children.size(), 1u);
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  ASSERT_EQ(parser.parse(r->body).get(list), simdjson::SUCCESS);
  int64_t child_port = 0;
  for (simdjson::dom::element c : list) ASSERT_EQ(c["port"].get(child_port), simdjson::SUCCESS);

  ASSERT_TRUE(env.versiond().Kill().ok());  // SIGKILL: no shutdown code runs
  ASSERT_TRUE(testing::WaitFor([&] { return PidGone(children[0]); }, absl::Seconds(10)).ok())
      << "child " << children[0] << " outlived versiond";
  ASSERT_TRUE(
      testing::WaitFor([&] { return PortFree(static_cast<int>(child_port)); }, absl::Seconds(10))
          .ok());
  // A restart on the same data dir comes up and serves.
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();
  auto again = http.Post(env.Url("/app/v1/escrows/e/requests"), "{}", "application/json", Call());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(VersionOf(again->body), "v1");
}

}  // namespace
}  // namespace versiond_testing
}  // namespace gonka
