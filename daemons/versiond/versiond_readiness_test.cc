// versiond's view of a running child's readiness, with real devchild variants
// (docs/versiond.md, "Readiness and the warm cutover"): Gonka's readiness monitor asks each
// running child admin /ready about once a second, and `/readyz?version=` (the router's check)
// follows it — 503 while the child says it is not ready, 200 again once it is — while the host's
// `/readyz` stays latched and requests are still proxied. Under load with a ready child it never
// answers 503.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemons/versiond/versiond_env.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace versiond_testing {
namespace {

using net::HttpCallOptions;
using net::HttpClient;

HttpCallOptions Call() { return HttpCallOptions::Timeout(absl::Seconds(10)); }

// Whether one line of versiond's log has both `a` and `b`.
bool LogLine(const VersiondEnv& env, absl::string_view a, absl::string_view b) {
  for (absl::string_view line : absl::StrSplit(env.Log(), '\n')) {
    if (absl::StrContains(line, a) && absl::StrContains(line, b)) return true;
  }
  return false;
}

int Status(HttpClient& http, const std::string& url) {
  auto r = http.Get(url, Call());
  return r.ok() ? r->status : -1;
}

// Clients posting escrow requests without pause through versiond; counts answers that are not
// 200.
class Load {
 public:
  Load(const VersiondEnv& env, int clients) {
    for (int i = 0; i < clients; ++i) {
      workers_.emplace_back([this, &env, i] {
        HttpClient http;
        while (!stop_.load()) {
          auto r = http.Post(env.Url(absl::StrCat("/app/v1/escrows/e", i, "/requests")), "{}",
                             "application/json", Call());
          (r.ok() && r->status == 200 ? ok_ : failed_).fetch_add(1);
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }
  std::atomic<int> ok_{0}, failed_{0};

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

TEST(VersiondReadinessTest, ARunningChildThatLosesReadinessLeavesItsVersionAndComesBack) {
  VersiondEnv env("readymon");
  HttpClient http;
  const std::string unready = env.dir().Join("unready");
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  ASSERT_TRUE(env.StartVersiond({}, {{"DEVCHILD_UNREADY_FILE", unready}}).ok())
      << env.versiond().LogTail();
  const std::string version_ready = env.Url("/readyz?version=app");
  ASSERT_EQ(Status(http, version_ready), 200);
  Load load(env, 4);

  // 1. Ready under load: sampled every 50 ms for 4 s (about four monitor probes), never 503.
  int samples = 0, not_ready = 0;
  for (absl::Time end = absl::Now() + absl::Seconds(4); absl::Now() < end; ++samples) {
    if (Status(http, version_ready) != 200) ++not_ready;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(not_ready, 0) << "of " << samples << " samples";

  // 2. The child says it is not ready (devshardd: serving → disconnected): the version leaves.
  { std::ofstream(unready) << "x"; }
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(
      testing::WaitFor([&] { return Status(http, version_ready) == 503; }, absl::Seconds(10)).ok())
      << env.versiond().LogTail();
  const absl::Duration out_after = absl::Now() - t0;
  auto health = http.Get(env.Url("/healthz"), Call());
  ASSERT_TRUE(health.ok());
  EXPECT_TRUE(absl::StrContains(health->body, "\"ready\":false")) << health->body;
  EXPECT_TRUE(absl::StrContains(health->body, "\"status\":\"running\"")) << health->body;
  EXPECT_EQ(Status(http, env.Url("/readyz")), 200) << "the host's /readyz stays latched";
  // As Gonka: the route stays; only the router's per-version check changes.
  const int ok_before = load.ok_.load();
  ASSERT_TRUE(
      testing::WaitFor([&] { return load.ok_.load() > ok_before + 10; }, absl::Seconds(10)).ok());
  EXPECT_EQ(Status(http, version_ready), 503);

  // 3. Ready again: back within about a probe interval.
  std::filesystem::remove(unready);
  t0 = absl::Now();
  ASSERT_TRUE(
      testing::WaitFor([&] { return Status(http, version_ready) == 200; }, absl::Seconds(10)).ok())
      << env.versiond().LogTail();
  const absl::Duration back_after = absl::Now() - t0;
  load.Stop();
  std::printf(
      "readiness monitor: %d samples under load, %d not ready; out %s after /ready failed, back "
      "%s after it recovered; %d requests answered 200, %d not\n",
      samples, not_ready, absl::FormatDuration(out_after).c_str(),
      absl::FormatDuration(back_after).c_str(), load.ok_.load(), load.failed_.load());
  EXPECT_LT(out_after, absl::Seconds(5));
  EXPECT_LT(back_after, absl::Seconds(5));
  EXPECT_EQ(load.failed_.load(), 0);
  const std::string log = env.Log();
  EXPECT_TRUE(absl::StrContains(log, "child not ready (readiness monitor)"));
  EXPECT_TRUE(absl::StrContains(log, "child ready again"));
}

std::string Field(const std::string& body, absl::string_view name) {
  const std::string key = absl::StrCat("\"", name, "\":\"");
  size_t at = body.find(key);
  if (at == std::string::npos) return "<none>";
  at += key.size();
  return body.substr(at, body.find('"', at) - at);
}

TEST(VersiondReadinessTest, BadHaSettingsStopItAtStartNamingTheVariable) {
  struct Case {
    std::map<std::string, std::string> env;
    const char* expect;
  };
  for (const Case& c : std::vector<Case>{
           {{{"GONKA_HA", "maybe"}}, "GONKA_HA=\"maybe\": not a boolean"},
           {{{"GONKA_HA", "true"}, {"VERSIOND_NON_HA_VERSIONS", "v4,../etc"}},
            "VERSIOND_NON_HA_VERSIONS: \"../etc\" is not a version name"},
       }) {
    VersiondEnv env("habad");
    env.SetOracle({{"app", env.MakeVariant("v1")}});
    ASSERT_TRUE(env.StartVersiond({}, c.env, /*wait_ready=*/false).ok());
    auto exit = env.versiond().Wait(absl::Seconds(10));
    ASSERT_TRUE(exit.ok()) << c.expect;
    EXPECT_EQ(*exit, 2) << c.expect;
    EXPECT_TRUE(absl::StrContains(env.versiond().LogTail(), c.expect)) << env.versiond().LogTail();
  }
}

TEST(VersiondReadinessTest, AnHaVersionMustBeOnPostgresAndANonHaVersionNeedNot) {
  VersiondEnv env("ha");
  HttpClient http;
  // Every child says sqlite: fine for `legacy` (pinned to one host by the router), refused for
  // `app` (HA-routed: several hosts may serve one escrow).
  env.SetOracle({{"app", env.MakeVariant("v1")}, {"legacy", env.MakeVariant("old")}});
  ASSERT_TRUE(env.StartVersiond({},
                                {{"GONKA_HA", " Yes "},
                                 {"VERSIOND_NON_HA_VERSIONS", "v4; legacy"},
                                 {"DEVCHILD_STORAGE_MODE", "sqlite"}},
                                /*wait_ready=*/false)
                  .ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return Status(http, env.Url("/readyz?version=legacy")) == 200; },
                       absl::Seconds(30))
          .ok())
      << env.versiond().LogTail();
  ASSERT_TRUE(testing::WaitFor(
                  [&] { return absl::StrContains(env.Log(), "requires storage mode postgres"); },
                  absl::Seconds(30))
                  .ok())
      << env.versiond().LogTail();
  EXPECT_EQ(Status(http, env.Url("/readyz?version=app")), 404);
  auto legacy = http.Get(env.Url("/legacy/version"), Call());
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(Field(legacy->body, "gonka_ha"), "false") << legacy->body;
  ASSERT_TRUE(env.versiond().Terminate(absl::Seconds(30)).ok());

  // The same versions on Postgres: both run; `app` is told it is HA-routed.
  VersiondEnv pg("hapg");
  pg.SetOracle({{"app", pg.MakeVariant("v1")}, {"legacy", pg.MakeVariant("old")}});
  ASSERT_TRUE(
      pg.StartVersiond({}, {{"GONKA_HA", "1"}, {"VERSIOND_NON_HA_VERSIONS", "legacy"}}).ok())
      << pg.versiond().LogTail();
  auto app = http.Get(pg.Url("/app/version"), Call());
  legacy = http.Get(pg.Url("/legacy/version"), Call());
  ASSERT_TRUE(app.ok() && legacy.ok());
  EXPECT_EQ(Field(app->body, "gonka_ha"), "true") << app->body;
  EXPECT_EQ(Field(legacy->body, "gonka_ha"), "false") << legacy->body;
  std::printf(
      "GONKA_HA: sqlite refused for the HA version, served for the non-HA one; on "
      "postgres both served (app gonka_ha=%s, legacy gonka_ha=%s)\n",
      Field(app->body, "gonka_ha").c_str(), Field(legacy->body, "gonka_ha").c_str());
}

TEST(VersiondReadinessTest, ARestartedChildGetsALongerReadyWindowOnlyWhileItSaysItIsStarting) {
  VersiondEnv env("readywindow");
  HttpClient http;
  const std::string control = env.dir().Join("unready");
  auto say = [&](const char* word) { std::ofstream(control) << word; };
  env.SetOracle({{"app", env.MakeVariant("v1")}});
  // Bounds of seconds: a sanitized child on a loaded machine can take over a second to listen.
  ASSERT_TRUE(env.StartVersiond({"--ready-timeout=2s"}, {{"VERSIOND_READY_MAX_WAIT", "5s"},
                                                         {"DEVCHILD_UNREADY_FILE", control}})
                  .ok())
      << env.versiond().LogTail();
  auto health = http.Get(env.Url("/healthz"), Call());
  ASSERT_TRUE(health.ok());
  const size_t at = health->body.find("\"pid\":");
  ASSERT_NE(at, std::string::npos) << health->body;
  const pid_t pid = std::atoi(health->body.c_str() + at + 6);
  ASSERT_GT(pid, 0);
  // (A loaded machine may have failed the first start at the ready timeout and retried it.)
  const double failed_at_start = env.Metric("versiond_deploys_total{result=\"failed\"}");
  const absl::Time t0 = absl::Now();

  // 1. The running child dies; its restarts crash at start: no longer window.
  say("crash");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(
      testing::WaitFor([&] { return LogLine(env, "restart failed", "exited before ready"); },
                       absl::Seconds(30))
          .ok())
      << env.versiond().LogTail();
  // 2. They answer a plain 503 (not "still starting"): each fails at the 2 s ready timeout.
  say("plain");
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    return LogLine(env, "restart failed",
                                   "not ready within 2s: /ready answered 503\"");
                  },
                  absl::Seconds(30))
                  .ok())
      << env.versiond().LogTail();
  const size_t before_starting = env.Log().size();
  EXPECT_FALSE(absl::StrContains(env.Log(), "restarting with a longer window"));
  // 3. They say "still starting": each fails at the 5 s max wait, and the next start's window
  // doubles: 2 s → 4 s → 5 s (the max wait). (Restarts back off 1, 2, 4, 8 s, ...)
  say("starting");
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    const std::string log = env.Log();
                    return absl::StrContains(log, "ready_window=2s next_ready_window=4s") &&
                           absl::StrContains(log, "ready_window=4s next_ready_window=5s");
                  },
                  absl::Seconds(90))
                  .ok())
      << env.versiond().LogTail();
  EXPECT_LT(env.Log().find("restarting with a longer window"), std::string::npos);
  EXPECT_GE(env.Log().find("restarting with a longer window"), before_starting);
  // 4. Ready: the version is served again.
  std::filesystem::remove(control);
  ASSERT_TRUE(testing::WaitFor([&] { return Status(http, env.Url("/readyz?version=app")) == 200; },
                               absl::Seconds(90))
                  .ok())
      << env.versiond().LogTail();
  auto r = http.Post(env.Url("/app/v1/escrows/e1/requests"), "{}", "application/json", Call());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  // The restarts were the supervisor's alone: the reconcile loop started no second generation.
  EXPECT_EQ(env.Metric("versiond_deploys_total{result=\"failed\"}"), failed_at_start)
      << env.versiond().LogTail();
  std::printf(
      "ready window: crash and plain-503 restarts kept 2s; still-starting restarts grew "
      "2s -> 4s -> 5s; served again %s after the kill\n",
      absl::FormatDuration(absl::Now() - t0).c_str());
}

}  // namespace
}  // namespace versiond_testing
}  // namespace gonka
