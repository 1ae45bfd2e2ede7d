// Supervisor tests with real child processes (test_child.cc) behind a real front HttpServer that
// forwards through the supervisor, as versiond will.
#include "gonka/supervisor/supervisor.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/supervisor/internal/child_process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace supervisor {
namespace {

using net::HttpClient;
using net::HttpRequest;
using net::HttpResponse;
using net::HttpServer;
using net::ResponseStream;

std::string ChildBinary() {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    return absl::StrCat(srcdir, "/", workspace, "/gonka/supervisor/test_child");
  }
  return "gonka/supervisor/test_child";
}

std::string TempDir(absl::string_view name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/", name, "-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

SupervisorOptions TestOptions() {
  SupervisorOptions o;
  // Below Linux's ephemeral range (32768+), where client sockets would collide with children;
  // spread by pid so tests running side by side rarely probe the same ports.
  o.first_port = 20000 + static_cast<int>(getpid() % 500) * 20;
  o.last_port = 32000;
  o.admin_address_env = "DEVSHARD_ADMIN_ADDR";
  o.ready_timeout = absl::Seconds(15);
  o.ready_poll_interval = absl::Milliseconds(20);
  o.drain_timeout = absl::Seconds(15);
  o.drain_poll_interval = absl::Milliseconds(20);
  o.kill_grace = absl::Seconds(10);
  o.acquire_wait = absl::Seconds(10);
  o.restart_backoff = absl::Milliseconds(100);
  o.monitor_interval = absl::Milliseconds(20);
  o.forward_timeout = absl::Seconds(20);
  return o;
}

ChildSpec Spec(absl::string_view child_version, const std::string& data_dir,
               std::vector<std::pair<std::string, std::string>> env = {}) {
  ChildSpec spec;
  spec.version = "app";
  spec.binary = ChildBinary();
  spec.data_dir = data_dir;
  spec.env = std::move(env);
  spec.env.emplace_back("TEST_CHILD_VERSION", std::string(child_version));
  return spec;
}

// Polls `pred` until true or 20 s pass.
template <typename Pred>
bool WaitFor(Pred pred, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

std::optional<GenerationInfo> Gen(const Supervisor& sup, uint64_t id) {
  for (const GenerationInfo& g : sup.Generations()) {
    if (g.id == id) return g;
  }
  return std::nullopt;
}

std::optional<GenerationInfo> Current(const Supervisor& sup) {
  for (const GenerationInfo& g : sup.Generations()) {
    if (g.current) return g;
  }
  return std::nullopt;
}

bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// The front server: /app/... forwarded to the supervisor's "app" child; /app/sse streamed.
class Front {
 public:
  explicit Front(Supervisor* sup) : server_({.name = "front", .handler_threads = 16}) {
    auto strip = [](const HttpRequest& r) { return r.target.substr(4); };  // "/app"
    server_.Handle("GET", "/app/*",
                   [sup, strip](const HttpRequest& r) { return sup->Forward("app", r, strip(r)); });
    server_.Handle("POST", "/app/*",
                   [sup, strip](const HttpRequest& r) { return sup->Forward("app", r, strip(r)); });
    server_.HandleStream("GET", "/app/sse",
                         [sup, strip](const HttpRequest& r, std::shared_ptr<ResponseStream> s) {
                           sup->ForwardStream("app", r, strip(r), s);
                         });
    EXPECT_TRUE(server_.Start().ok());
  }
  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", server_.port(), path);
  }

 private:
  HttpServer server_;
};

TEST(SupervisorTest, ServesThroughFrontAndReportsRunning) {
  Supervisor sup(TestOptions());
  ASSERT_TRUE(sup.Deploy(Spec("v1", TempDir("serve"))).ok());
  Front front(&sup);
  HttpClient http;
  auto res = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(absl::StartsWith(res->body, "v1 ")) << res->body;
  auto cur = Current(sup);
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(cur->state, GenerationState::kRunning);
  EXPECT_EQ(cur->storage_mode, "postgres");
  EXPECT_NE(cur->port, cur->admin_port);  // admin on the second loopback port
  EXPECT_EQ(res->body, absl::StrCat("v1 ", cur->pid));
}

TEST(SupervisorTest, SwapKeepsSlowRequestAndSseOnOldChildThenReapsIt) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("swap");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir)).ok());
  const GenerationInfo v1 = *Current(sup);
  Front front(&sup);

  // A slow request and an SSE stream, both started on v1.
  absl::StatusOr<HttpResponse> slow;
  std::thread slow_thread([&] {
    HttpClient http;
    slow =
        http.Get(front.Url("/app/slow?ms=1500"), net::HttpCallOptions::Timeout(absl::Seconds(20)));
  });
  std::string sse_body;
  absl::StatusOr<HttpResponse> sse;
  std::thread sse_thread([&] {
    HttpClient http;
    sse = http.Stream(
        front.Url("/app/sse?n=12&interval_ms=150"),
        [&](absl::string_view b) {
          sse_body.append(b.data(), b.size());
          return true;
        },
        net::HttpCallOptions::Timeout(absl::Seconds(20)));
  });
  ASSERT_TRUE(WaitFor([&] { return Gen(sup, v1.id)->leases == 2; }))
      << "both requests should hold a lease on v1";

  ASSERT_TRUE(sup.Deploy(Spec("v2", dir)).ok());
  const GenerationInfo v2 = *Current(sup);
  EXPECT_NE(v2.id, v1.id);
  EXPECT_NE(v2.port, v1.port);

  // New requests go to v2 at once, while v1 still holds its two leases.
  HttpClient http;
  auto now = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->body, absl::StrCat("v2 ", v2.pid));
  auto v1_now = *Gen(sup, v1.id);
  EXPECT_EQ(v1_now.state, GenerationState::kRetiring);
  EXPECT_FALSE(v1_now.done);

  slow_thread.join();
  sse_thread.join();
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, absl::StrCat("v1 ", v1.pid));
  ASSERT_TRUE(sse.ok()) << sse.status();
  EXPECT_EQ(sse->status, 200);
  // Every one of the 12 events, all from v1.
  int events = 0;
  for (absl::string_view line : absl::StrSplit(sse_body, '\n')) {
    if (absl::StartsWith(line, "data: ")) {
      EXPECT_EQ(line, absl::StrCat("data: v1 ", v1.pid, " ", events));
      ++events;
    }
  }
  EXPECT_EQ(events, 12);

  ASSERT_TRUE(sup.WaitRetired(absl::Now() + absl::Seconds(20)));
  v1_now = *Gen(sup, v1.id);
  EXPECT_EQ(v1_now.state, GenerationState::kStopped);
  EXPECT_TRUE(v1_now.done);
  EXPECT_TRUE(WIFEXITED(v1_now.exit_status) && WEXITSTATUS(v1_now.exit_status) == 0)
      << v1_now.exit_status;  // drained and stopped by SIGTERM, not killed
  EXPECT_TRUE(ProcessGone(v1.pid));
  EXPECT_EQ(sup.stats().forward_errors, 0u);
}

TEST(SupervisorTest, RequestRefusedByARetiredChildIsRetriedOnTheNewOne) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("retry");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir)).ok());
  const GenerationInfo v1 = *Current(sup);
  Front front(&sup);
  // v1 answers this request 503 once v2 has the route, so the proxy sends it again.
  const std::string swapped = dir + "/swapped";
  absl::StatusOr<HttpResponse> res;
  std::thread client([&] {
    HttpClient http;
    res = http.Get(
        front.Url(absl::StrCat("/app/slow?ms=15000&refuse_version=v1&until_file=", swapped)),
        net::HttpCallOptions::Timeout(absl::Seconds(20)));
  });
  ASSERT_TRUE(WaitFor([&] { return Gen(sup, v1.id)->leases == 1; }));
  ASSERT_TRUE(sup.Deploy(Spec("v2", dir)).ok());
  const GenerationInfo v2 = *Current(sup);
  std::ofstream(swapped) << "1";
  client.join();
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, absl::StrCat("v2 ", v2.pid));
  EXPECT_EQ(sup.stats().forward_retries, 1u);
  // A 503 from the current child is the answer, not retried.
  HttpClient http;
  auto direct = http.Get(front.Url("/app/slow?ms=1&refuse_version=v2"),
                         net::HttpCallOptions::Timeout(absl::Seconds(20)));
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->status, 503);
  EXPECT_EQ(sup.stats().forward_retries, 1u);
}

TEST(SupervisorTest, ZeroFailedRequestsAcrossSwapsUnderConcurrentLoad) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("load");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir)).ok());
  Front front(&sup);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  absl::Mutex seen_mu;
  std::map<std::string, int> served_by;  // child version → responses
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      HttpClient http;
      for (int i = 0; !stop.load(); ++i) {
        absl::StatusOr<HttpResponse> res =
            (i + c) % 2 == 0 ? http.Get(front.Url("/app/version"),
                                        net::HttpCallOptions::Timeout(absl::Seconds(20)))
                             : http.Post(front.Url("/app/echo"), "x", "text/plain",
                                         net::HttpCallOptions::Timeout(absl::Seconds(20)));
        if (res.ok() && res->status == 200) {
          ok.fetch_add(1);
          absl::MutexLock lock(&seen_mu);
          ++served_by[std::string(res->body.substr(0, res->body.find(' ')))];
        } else {
          failed.fetch_add(1);
          std::fprintf(stderr, "failed request: %s\n",
                       res.ok() ? absl::StrCat(res->status, " ", res->body).c_str()
                                : res.status().ToString().c_str());
        }
      }
    });
  }
  const int kSwaps = 3;
  for (int s = 2; s <= kSwaps + 1; ++s) {
    const int before = ok.load();
    ASSERT_TRUE(WaitFor([&] { return ok.load() >= before + 50; }));
    ASSERT_TRUE(sup.Deploy(Spec(absl::StrCat("v", s), dir)).ok());
  }
  const int before = ok.load();
  ASSERT_TRUE(WaitFor([&] { return ok.load() >= before + 50; }));
  stop.store(true);
  for (auto& t : clients) t.join();
  ASSERT_TRUE(sup.WaitRetired(absl::Now() + absl::Seconds(20)));

  std::string by;
  for (const auto& [v, n] : served_by) absl::StrAppend(&by, v, "=", n, " ");
  std::printf("swaps=%d ok=%d failed=%d served_by: %s retries=%llu\n", kSwaps, ok.load(),
              failed.load(), by.c_str(),
              static_cast<unsigned long long>(sup.stats().forward_retries));
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(served_by["v1"], 0);
  EXPECT_GT(served_by["v4"], 0);
  int reaped = 0;
  for (const GenerationInfo& g : sup.Generations()) {
    if (!g.current) {
      EXPECT_TRUE(g.done);
      EXPECT_TRUE(ProcessGone(g.pid));
      ++reaped;
    }
  }
  EXPECT_EQ(reaped, kSwaps);
}

TEST(SupervisorTest, ChildNeverReadyFailsAndOldKeepsServing) {
  SupervisorOptions o = TestOptions();
  o.ready_timeout = absl::Seconds(1);
  o.kill_grace = absl::Seconds(5);
  Supervisor sup(o);
  const std::string dir = TempDir("never-ready");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir)).ok());
  const GenerationInfo v1 = *Current(sup);

  absl::Status s = sup.Deploy(Spec("v2", dir, {{"TEST_CHILD_NEVER_READY", "1"}}));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "not ready within")) << s;

  std::optional<GenerationInfo> failed;
  for (const GenerationInfo& g : sup.Generations()) {
    if (g.id != v1.id) failed = g;
  }
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->state, GenerationState::kFailed);
  EXPECT_TRUE(failed->done);  // stopped and reaped
  EXPECT_FALSE(failed->current);
  EXPECT_TRUE(ProcessGone(failed->pid));

  EXPECT_EQ(Current(sup)->id, v1.id);
  Front front(&sup);
  HttpClient http;
  auto res = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, absl::StrCat("v1 ", v1.pid));
}

TEST(SupervisorTest, ChildThatCrashesAtStartNeverTakesTraffic) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("crash-start");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir)).ok());
  const GenerationInfo v1 = *Current(sup);
  ChildSpec bad = Spec("v2", dir);
  bad.args = {"--unknown-flag-makes-no-difference"};
  // Exits before it binds: a child exiting "soon after start" could still answer a readiness
  // poll first (it did under ASan).
  bad.env.emplace_back("TEST_CHILD_CRASH_AT_START", "1");
  absl::Status s = sup.Deploy(bad);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(Current(sup)->id, v1.id);

  ChildSpec missing = Spec("v3", dir);
  missing.binary = "/nonexistent/child";
  s = sup.Deploy(missing);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "/nonexistent/child")) << s;
  EXPECT_EQ(Current(sup)->id, v1.id);
}

TEST(SupervisorTest, SigtermIgnoringChildIsKilledAfterGrace) {
  SupervisorOptions o = TestOptions();
  o.kill_grace = absl::Milliseconds(300);
  Supervisor sup(o);
  ASSERT_TRUE(
      sup.Deploy(Spec("v1", TempDir("ignore-term"), {{"TEST_CHILD_IGNORE_SIGTERM", "1"}})).ok());
  const GenerationInfo v1 = *Current(sup);
  ASSERT_TRUE(sup.Remove("app").ok());
  EXPECT_TRUE(absl::IsNotFound(sup.Acquire("app", absl::Now()).status()));
  ASSERT_TRUE(sup.WaitRetired(absl::Now() + absl::Seconds(20)));
  GenerationInfo g = *Gen(sup, v1.id);
  EXPECT_EQ(g.state, GenerationState::kStopped);
  EXPECT_TRUE(g.done);
  EXPECT_TRUE(WIFSIGNALED(g.exit_status) && WTERMSIG(g.exit_status) == SIGKILL) << g.exit_status;
  EXPECT_TRUE(ProcessGone(v1.pid));
}

// The nice value of every thread of `pid` (/proc/<pid>/task/*/stat, field 19); empty when the
// process is gone.
std::vector<int> ThreadNices(pid_t pid) {
  std::vector<int> nices;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
    int nice = 0;
    if (fields.size() > 16 && absl::SimpleAtoi(fields[16], &nice)) nices.push_back(nice);
  }
  return nices;
}

bool AllEqual(const std::vector<int>& v, int want) {
  if (v.empty()) return false;
  for (int x : v) {
    if (x != want) return false;
  }
  return true;
}

// A new child runs at `starting_nice` (every thread) until it is ready, then at the supervisor's
// own nice when it takes the route; a retired one, at `retiring_nice` (every thread too).
TEST(SupervisorTest, ANewChildStartsNicedAndTakesTheRouteAtFullPriority) {
  if (!internal::MayRestorePriority()) {
    GTEST_SKIP() << "this process may not lower a nice value (no CAP_SYS_NICE or RLIMIT_NICE)";
  }
  const int base = getpriority(PRIO_PROCESS, 0);
  SupervisorOptions o = TestOptions();
  o.starting_nice = 7;
  o.retiring_nice = 12;
  o.kill_grace = absl::Seconds(3);
  Supervisor sup(o);
  const std::string dir = TempDir("nice");
  absl::Status deployed;
  std::thread deploy([&] {
    deployed = sup.Deploy(Spec(
        "v1", dir, {{"TEST_CHILD_READY_AFTER_MS", "1500"}, {"TEST_CHILD_IGNORE_SIGTERM", "1"}}));
  });
  std::vector<int> starting;
  const bool seen = WaitFor([&] {
    for (const GenerationInfo& g : sup.Generations()) {
      if (g.state == GenerationState::kStarting && g.pid > 0) starting = ThreadNices(g.pid);
    }
    return starting.size() > 1 && AllEqual(starting, 7);
  });
  deploy.join();
  ASSERT_TRUE(deployed.ok()) << deployed;
  EXPECT_TRUE(seen) << "threads while starting: " << absl::StrJoin(starting, ",");
  const GenerationInfo v1 = *Current(sup);
  const std::vector<int> running = ThreadNices(v1.pid);
  EXPECT_GT(running.size(), 1u);
  EXPECT_TRUE(AllEqual(running, base)) << absl::StrJoin(running, ",");

  ASSERT_TRUE(sup.Deploy(Spec("v2", dir)).ok());
  std::vector<int> retiring;
  EXPECT_TRUE(WaitFor([&] {
    retiring = ThreadNices(v1.pid);
    return AllEqual(retiring, 12);
  })) << absl::StrJoin(retiring, ",");
  EXPECT_TRUE(AllEqual(ThreadNices(Current(sup)->pid), base));
  ASSERT_TRUE(sup.WaitRetired(absl::Now() + absl::Seconds(20)));
}

TEST(SupervisorTest, ExclusiveStopThenStartWhenStorageIsNotShared) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("exclusive");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir, {{"TEST_CHILD_STORAGE_MODE", "sqlite"}})).ok());
  const GenerationInfo v1 = *Current(sup);
  EXPECT_EQ(v1.storage_mode, "sqlite");
  Front front(&sup);

  // Clients keep calling through the gap: they wait (acquire_wait) instead of failing.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      HttpClient http;
      while (!stop.load()) {
        auto res =
            http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(20)));
        if (res.ok() && res->status == 200) {
          ok.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok.load() >= 20; }));
  ASSERT_TRUE(sup.Deploy(Spec("v2", dir, {{"TEST_CHILD_STORAGE_MODE", "postgres"}})).ok());
  const int after_swap = ok.load();
  ASSERT_TRUE(WaitFor([&] { return ok.load() >= after_swap + 20; }));
  stop.store(true);
  for (auto& t : clients) t.join();
  std::printf("exclusive swap: ok=%d failed=%d\n", ok.load(), failed.load());
  EXPECT_EQ(failed.load(), 0);
  // v1 was stopped and reaped before v2 was spawned: Deploy retired it synchronously.
  GenerationInfo old = *Gen(sup, v1.id);
  EXPECT_TRUE(old.done);
  EXPECT_EQ(old.state, GenerationState::kStopped);
  EXPECT_TRUE(ProcessGone(v1.pid));
  const GenerationInfo v2 = *Current(sup);
  EXPECT_EQ(v2.state, GenerationState::kRunning);

  HttpClient http;
  auto res = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, absl::StrCat("v2 ", v2.pid));
}

TEST(SupervisorTest, ClientLeavingAStreamReleasesItsLease) {
  Supervisor sup(TestOptions());
  ASSERT_TRUE(sup.Deploy(Spec("v1", TempDir("leave"))).ok());
  const GenerationInfo v1 = *Current(sup);
  Front front(&sup);
  HttpClient http;
  int events = 0;
  auto res = http.Stream(
      front.Url("/app/sse?n=100000&interval_ms=20"),
      [&](absl::string_view b) {
        for (size_t at = b.find("data: "); at != absl::string_view::npos;
             at = b.find("data: ", at + 1)) {
          ++events;
        }
        return events < 3;  // leave after three events
      },
      net::HttpCallOptions::Timeout(absl::Seconds(20)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_GE(events, 3);
  // The proxy notices at its next write to the gone client, ends the upstream stream and drops
  // the lease; the child's own in-flight count follows.
  EXPECT_TRUE(WaitFor([&] { return Gen(sup, v1.id)->leases == 0; }));
  ASSERT_TRUE(sup.Deploy(Spec("v2", TempDir("leave"))).ok());
  EXPECT_TRUE(sup.WaitRetired(absl::Now() + absl::Seconds(20)));
  EXPECT_TRUE(WIFEXITED(Gen(sup, v1.id)->exit_status));  // drained, not killed
}

TEST(SupervisorTest, CrashedChildIsRestarted) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("restart");
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir,
                              {{"TEST_CHILD_EXIT_AFTER_MS", "300"}, {"TEST_CHILD_EXIT_ONCE", "1"}}))
                  .ok());
  const GenerationInfo first = *Current(sup);
  ASSERT_TRUE(WaitFor([&] {
    auto g = Current(sup);
    return g->restarts == 1 && g->state == GenerationState::kRunning;
  }));
  const GenerationInfo again = *Current(sup);
  EXPECT_EQ(again.id, first.id);  // the same generation: failed → starting → running
  EXPECT_NE(again.pid, first.pid);
  EXPECT_TRUE(ProcessGone(first.pid));
  Front front(&sup);
  HttpClient http;
  auto res = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, absl::StrCat("v1 ", again.pid));
}

// While the supervisor restarts a crashed child, the generation is never reported failed and
// done: a reconcile seeing that would start a second generation beside the restart loop (it did,
// between a failed start and the loop's next attempt).
TEST(SupervisorTest, AGenerationBeingRestartedIsNeverReportedDone) {
  Supervisor sup(TestOptions());
  const std::string dir = TempDir("restart-owned");
  const std::string crash = dir + "/crash";
  ASSERT_TRUE(sup.Deploy(Spec("v1", dir, {{"TEST_CHILD_CRASH_AT_START_FILE", crash}})).ok());
  const GenerationInfo first = *Current(sup);
  std::ofstream(crash) << "1";
  ASSERT_EQ(kill(first.pid, SIGKILL), 0);
  // Restarts crash at start (backoff 100, 200, 400 ms, ...): look all the while, until the
  // third restart has failed too.
  int looks = 0, failed_looks = 0, done_looks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    std::optional<GenerationInfo> g = Current(sup);
    ASSERT_TRUE(g.has_value());
    ++looks;
    if (g->state == GenerationState::kFailed) ++failed_looks;
    if (g->done) ++done_looks;
    if (g->restarts >= 4 || absl::Now() > deadline) break;
  }
  std::filesystem::remove(crash);
  ASSERT_TRUE(WaitFor([&] { return Current(sup)->state == GenerationState::kRunning; }));
  const GenerationInfo again = *Current(sup);
  std::printf("restart loop: %d looks, %d saw it failed, %d saw it done; %d restarts\n", looks,
              failed_looks, done_looks, again.restarts);
  EXPECT_GT(failed_looks, 0);
  EXPECT_EQ(done_looks, 0);
  EXPECT_EQ(again.id, first.id);
  EXPECT_GE(again.restarts, 3);
  EXPECT_FALSE(again.done);
  EXPECT_EQ(sup.Generations().size(), 1u);
}

// The readiness probe's ownership check: a listener is matched to the process that holds it.
TEST(SupervisorTest, ListenerOwnershipIsTheHoldingProcess) {
  HttpServer server({.name = "owner"});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(internal::ListenerOwnedBy(server.port(), getpid()), std::optional<bool>(true));
  absl::StatusOr<pid_t> other = internal::Spawn({"/bin/sleep", "5"}, {}, false);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(internal::ListenerOwnedBy(server.port(), *other), std::optional<bool>(false));
  kill(*other, SIGKILL);
  waitpid(*other, nullptr, 0);
  server.Stop(absl::Now());
  EXPECT_EQ(internal::ListenerOwnedBy(server.port(), getpid()), std::nullopt);  // no listener
}

TEST(SupervisorTest, ErrorsNameTheInput) {
  Supervisor sup(TestOptions());
  EXPECT_TRUE(absl::IsNotFound(sup.Acquire("nope", absl::Now()).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(sup.Deploy(ChildSpec{})));
  Front front(&sup);
  HttpClient http;
  auto res = http.Get(front.Url("/app/version"), net::HttpCallOptions::Timeout(absl::Seconds(10)));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 404);
  sup.Shutdown(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(absl::IsFailedPrecondition(sup.Deploy(Spec("v1", TempDir("after")))));
}

TEST(SupervisorTest, ShutdownDrainsAndReapsEveryChild) {
  Supervisor sup(TestOptions());
  ChildSpec a = Spec("v1", TempDir("shutdown-a"));
  ChildSpec b = Spec("v1", TempDir("shutdown-b"));
  b.version = "other";
  ASSERT_TRUE(sup.Deploy(a).ok());
  ASSERT_TRUE(sup.Deploy(b).ok());
  std::vector<pid_t> pids;
  for (const auto& g : sup.Generations()) pids.push_back(g.pid);
  ASSERT_EQ(pids.size(), 2u);
  sup.Shutdown(absl::Now() + absl::Seconds(20));
  for (const auto& g : sup.Generations()) {
    EXPECT_TRUE(g.done);
    EXPECT_EQ(g.state, GenerationState::kStopped);
  }
  for (pid_t pid : pids) EXPECT_TRUE(ProcessGone(pid));
}

TEST(NextReadyWindowTest, DoublesUpToTheMaxWait) {
  // Gonka's ready_window_test.go: 1 m → 2, 4, 8, 16, 32, 32 m with a 32 m max wait.
  absl::Duration w = absl::Minutes(1);
  for (int m : {2, 4, 8, 16, 32, 32}) {
    w = NextReadyWindow(w, absl::Minutes(32));
    EXPECT_EQ(w, absl::Minutes(m));
  }
  EXPECT_EQ(NextReadyWindow(absl::Minutes(60), absl::Minutes(32)), absl::Minutes(32));
  EXPECT_EQ(NextReadyWindow(absl::Hours(1LL << 40), absl::Minutes(32)), absl::Minutes(32));
  EXPECT_EQ(NextReadyWindow(absl::Seconds(1), absl::Seconds(3)), absl::Seconds(2));
  EXPECT_EQ(NextReadyWindow(absl::Seconds(2), absl::Seconds(3)), absl::Seconds(3));
}

}  // namespace
}  // namespace supervisor
}  // namespace gonka
