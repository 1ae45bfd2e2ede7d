// versiond's view of a running child's readiness, with real devchild variants
// (docs/versiond.md, "Readiness and the warm cutover"): Gonka's readiness monitor asks each
// running child admin /ready about once a second, and `/readyz?version=` (the router's check)
// follows it — 503 while the child says it is not ready, 200 again once it is — while the host's
// `/readyz` stays latched and requests are still proxied. Under load with a ready child it never
// answers 503.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

std::string Log(const VersiondEnv& env) {
  std::ifstream in(env.dir().Join("versiond.log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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
  const std::string log = Log(env);
  EXPECT_TRUE(absl::StrContains(log, "child not ready (readiness monitor)"));
  EXPECT_TRUE(absl::StrContains(log, "child ready again"));
}

}  // namespace
}  // namespace versiond_testing
}  // namespace gonka
