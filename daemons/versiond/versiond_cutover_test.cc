// versiond's readiness and warm-cutover waits with real devchild variants (docs/versiond.md,
// "Readiness and the warm cutover"): a child that gets ready late (past VERSIOND_READY_TIMEOUT,
// within VERSIOND_READY_MAX_WAIT) takes the route; one that never does, or that never reports
// recovery_complete within VERSIOND_RECOVERY_TIMEOUT, never takes traffic and the old child keeps
// serving; /healthz reports each child's binary_version; a child without the admin API gets no
// admin address.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
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
#include "simdjson.h"

namespace gonka {
namespace versiond_testing {
namespace {

using net::HttpCallOptions;
using net::HttpClient;

HttpCallOptions Call() { return HttpCallOptions::Timeout(absl::Seconds(10)); }

std::string Field(const std::string& body, const char* name) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view v;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || doc[name].get(v)) return "";
  return std::string(v);
}

// One client posting escrow requests without pause: which binary answered, when each binary
// answered first, and every failure.
class Load {
 public:
  explicit Load(const VersiondEnv& env) {
    worker_ = std::thread([this, &env] {
      HttpClient http;
      while (!stop_.load()) {
        auto r = http.Post(env.Url("/app/v1/escrows/e1/requests?delay_ms=2"), "{}",
                           "application/json", Call());
        std::lock_guard<std::mutex> lock(mu_);
        if (!r.ok() || r->status != 200) {
          ++failures_;
          last_error_ = r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
          continue;
        }
        std::string v = Field(r->body, "version");
        if (count_[v]++ == 0) first_[v] = absl::Now();
      }
    });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (worker_.joinable()) worker_.join();
  }
  int count(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    return count_[v];
  }
  absl::Time first(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    return first_.count(v) ? first_[v] : absl::InfiniteFuture();
  }

  std::mutex mu_;
  std::map<std::string, int> count_;
  std::map<std::string, absl::Time> first_;
  int failures_ = 0;
  std::string last_error_;

 private:
  std::atomic<bool> stop_{false};
  std::thread worker_;
};

absl::Status WaitMetric(VersiondEnv& env, const char* metric, double at_least) {
  return testing::WaitFor([&] { return env.Metric(metric) >= at_least; }, absl::Seconds(40),
                          absl::Milliseconds(50), metric);
}

TEST(VersiondCutoverTest, ReadyMaxWaitExtendsOnlyForAChildThatSaysItIsStarting) {
  VersiondEnv env("readywait");
  Variant v1 = env.MakeVariant("v1");
  env.SetOracle({{"app", v1}});
  // Bounds of seconds, not less: a sanitized child on a loaded machine can take over a second
  // just to listen, and a child that does not answer fails at the ready timeout.
  ASSERT_TRUE(env.StartVersiond({"--ready-timeout=4s"}, {{"VERSIOND_READY_MAX_WAIT", "10s"},
                                                         {"DEVCHILD_READY_AFTER_MS", "6000"}})
                  .ok())
      << env.versiond().LogTail();
  Load load(env);

  // 1. Says "still starting" for 6 s: past the 4 s ready timeout, within the 10 s max wait.
  Variant late = env.MakeVariant("late", "ready-late");
  const absl::Time listed = absl::Now();
  env.SetOracle({{"app", late}});
  ASSERT_TRUE(WaitMetric(env, "versiond_swaps_total", 1).ok()) << env.versiond().LogTail();
  ASSERT_TRUE(testing::WaitFor([&] { return load.count("late") > 0; }, absl::Seconds(10)).ok());
  const absl::Duration late_after = load.first("late") - listed;
  EXPECT_GE(late_after, absl::Seconds(6));
  EXPECT_TRUE(absl::StrContains(env.Log(), "extending the readiness wait"));

  // 2. Says "still starting" forever: fails at the max wait (10 s), not at the ready timeout.
  // On a loaded machine a start may fail sooner for another reason (the late child's first
  // start outliving the max wait; a child not yet listening at the ready timeout, which fails
  // there as documented) and be retried at the next poll, so look for the max-wait failure in
  // the log written from here.
  Variant forever = env.MakeVariant("forever", "always-starting");
  const double failed_before = env.Metric("versiond_deploys_total{result=\"failed\"}");
  const size_t log_before = env.Log().size();
  absl::Time t0 = absl::Now();
  env.SetOracle({{"app", forever}});
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    return env.Log().find("not ready within 10s: /ready answered 503 (still",
                                          log_before) != std::string::npos;
                  },
                  absl::Seconds(60))
                  .ok())
      << env.versiond().LogTail();
  const absl::Duration forever_failed = absl::Now() - t0;
  EXPECT_GE(forever_failed, absl::Seconds(10)) << env.versiond().LogTail();
  EXPECT_TRUE(WaitMetric(env, "versiond_deploys_total{result=\"failed\"}", failed_before + 1).ok());

  // 3. Not ready and not starting (a plain 503): fails at the ready timeout (4 s). (The oracle
  // change may find a retry of the previous binary under way, so the log says which bound hit.)
  Variant never = env.MakeVariant("never", "never-ready");
  const double failed = env.Metric("versiond_deploys_total{result=\"failed\"}");
  const size_t log_never = env.Log().size();
  env.SetOracle({{"app", never}});
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    return env.Log().find("not ready within 4s: /ready answered 503\"",
                                          log_never) != std::string::npos;
                  },
                  absl::Seconds(60))
                  .ok())
      << env.versiond().LogTail();
  EXPECT_TRUE(WaitMetric(env, "versiond_deploys_total{result=\"failed\"}", failed + 1).ok());
  load.Stop();
  std::printf(
      "ready wait: late child served after %s (ready 6 s), always-starting failed after %s "
      "(max wait 10 s); answers v1=%d late=%d forever=%d never=%d failures=%d\n",
      absl::FormatDuration(late_after).c_str(), absl::FormatDuration(forever_failed).c_str(),
      load.count("v1"), load.count("late"), load.count("forever"), load.count("never"),
      load.failures_);
  EXPECT_EQ(load.failures_, 0) << load.last_error_;
  EXPECT_EQ(load.count("forever") + load.count("never"), 0);
  EXPECT_EQ(env.Metric("versiond_swaps_total"), 1);
}

TEST(VersiondCutoverTest, WarmCutoverWaitsForRecoveryCompleteOrKeepsTheOldChild) {
  VersiondEnv env("warm");
  HttpClient http;
  Variant v1 = env.MakeVariant("v1");
  env.SetOracle({{"app", v1}});
  ASSERT_TRUE(env.StartVersiond({}, {{"VERSIOND_RECOVERY_TIMEOUT", "4s"},
                                     {"DEVCHILD_RECOVERY_AFTER_MS", "2000"}})
                  .ok())
      << env.versiond().LogTail();
  Load load(env);

  // 1. Ready at once, recovery_complete after 2 s: the route moves only then.
  Variant warm = env.MakeVariant("warm", "recovers-late");
  const absl::Time listed = absl::Now();
  env.SetOracle({{"app", warm}});
  ASSERT_TRUE(WaitMetric(env, "versiond_swaps_total", 1).ok()) << env.versiond().LogTail();
  ASSERT_TRUE(testing::WaitFor([&] { return load.count("warm") > 0; }, absl::Seconds(10)).ok());
  const absl::Duration warm_after = load.first("warm") - listed;
  EXPECT_GE(warm_after, absl::Seconds(2));
  EXPECT_TRUE(absl::StrContains(env.Log(), "recovery complete"));
  const int v1_before = load.count("v1");

  // 2. Never recovers: stopped after the 4 s recovery timeout, never on the route.
  Variant stuck = env.MakeVariant("stuck", "never-recovers");
  const absl::Time t0 = absl::Now();
  env.SetOracle({{"app", stuck}});
  ASSERT_TRUE(WaitMetric(env, "versiond_deploys_total{result=\"failed\"}", 1).ok())
      << env.versiond().LogTail();
  const absl::Duration stuck_failed = absl::Now() - t0;
  EXPECT_GE(stuck_failed, absl::Seconds(4));
  // The stuck child is reaped; only the warm one is listed.
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    auto r = http.Get(env.Url("/healthz"), Call());
                    return r.ok() && !absl::StrContains(r->body, "devchild-stuck") &&
                           absl::StrContains(r->body, "devchild-warm");
                  },
                  absl::Seconds(20))
                  .ok());
  load.Stop();
  std::printf(
      "warm cutover: recovering child took the route after %s (recovery 2 s), never-recovering "
      "child failed after %s (timeout 4 s); answers v1=%d warm=%d stuck=%d failures=%d\n",
      absl::FormatDuration(warm_after).c_str(), absl::FormatDuration(stuck_failed).c_str(),
      load.count("v1"), load.count("warm"), load.count("stuck"), load.failures_);
  EXPECT_GT(v1_before, 0);
  EXPECT_EQ(load.failures_, 0) << load.last_error_;
  EXPECT_EQ(load.count("stuck"), 0);
  EXPECT_EQ(env.Metric("versiond_swaps_total"), 1);
}

TEST(VersiondCutoverTest, HealthzReportsBinaryVersionAndALegacyChildGetsNoAdminAddress) {
  VersiondEnv env("binver");
  HttpClient http;
  Variant modern = env.MakeVariant("modern");
  Variant legacy = env.MakeVariant("legacy", "no-admin-api");
  env.SetOracle({{"a", modern}, {"b", legacy}});
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();
  auto health = http.Get(env.Url("/healthz"), Call());
  ASSERT_TRUE(health.ok());
  simdjson::dom::parser parser;
  simdjson::dom::array children;
  ASSERT_EQ(parser.parse(health->body).get(children), simdjson::SUCCESS) << health->body;
  std::map<std::string, std::pair<std::string, int64_t>> by_version;  // binary_version, port
  for (simdjson::dom::element c : children) {
    std::string_view version, binary_version;
    int64_t port = 0;
    ASSERT_EQ(c["version"].get(version), simdjson::SUCCESS);
    ASSERT_EQ(c["binary_version"].get(binary_version), simdjson::SUCCESS) << health->body;
    ASSERT_EQ(c["port"].get(port), simdjson::SUCCESS);
    by_version[std::string(version)] = {std::string(binary_version), port};
  }
  EXPECT_EQ(by_version["a"].first, "devchild-modern");
  EXPECT_EQ(by_version["b"].first, "devchild-legacy");
  // The modern child serves its admin endpoints on the address versiond gave it, not on its
  // public port; the legacy one, given none, on its public port.
  auto modern_ready =
      http.Get(absl::StrCat("http://127.0.0.1:", by_version["a"].second, "/ready"), Call());
  auto legacy_ready =
      http.Get(absl::StrCat("http://127.0.0.1:", by_version["b"].second, "/ready"), Call());
  ASSERT_TRUE(modern_ready.ok() && legacy_ready.ok());
  EXPECT_EQ(modern_ready->status, 404);
  EXPECT_EQ(legacy_ready->status, 200) << legacy_ready->body;
  // Both are served through versiond.
  EXPECT_EQ(
      http.Post(env.Url("/a/v1/escrows/e/requests"), "{}", "application/json", Call())->status,
      200);
  EXPECT_EQ(
      http.Post(env.Url("/b/v1/escrows/e/requests"), "{}", "application/json", Call())->status,
      200);
  // The forwarding client's metrics are in versiond's /metrics.
  const std::string client = "{client=\"supervisor\"";
  EXPECT_GE(env.Metric(absl::StrCat("gonka_async_http_client_connections_opened_total", client)),
            2);
  EXPECT_GE(env.Metric(absl::StrCat("gonka_async_http_client_idle_connections", client)), 1);
  EXPECT_GE(
      env.Metric(absl::StrCat("gonka_async_http_client_requests_total", client, ",result=\"ok\"")),
      2);
  EXPECT_EQ(env.Metric(absl::StrCat("gonka_async_http_client_stale_retries_total", client)), 0);
  EXPECT_EQ(env.Metric(absl::StrCat("gonka_async_http_client_deadline_expiries_total", client)), 0);
  EXPECT_EQ(env.Metric(absl::StrCat("gonka_async_http_client_requests_in_flight", client)), 0);
}

TEST(VersiondCutoverTest, OverridesAndForcedVersionsRunTheOperatorsBinary) {
  VersiondEnv env("pins");
  HttpClient http;
  Variant v1 = env.MakeVariant("v1");
  Variant pinned = env.MakeVariant("pinned");
  Variant forced = env.MakeVariant("forced");
  env.SetOracle({{"app", v1}});
  // VERSIOND_OVERRIDE_v0_2_11 names version v0.2.11 ('_' reads as '.'), which the oracle does not
  // list: VERSIOND_FORCE runs it anyway.
  ASSERT_TRUE(env.StartVersiond({}, {{"VERSIOND_OVERRIDE_app", pinned.path},
                                     {"VERSIOND_OVERRIDE_v0_2_11", forced.path},
                                     {"VERSIOND_FORCE", " v0.2.11 ,"}})
                  .ok())
      << env.versiond().LogTail();
  auto version_at = [&](const std::string& route) {
    auto r = http.Post(env.Url(absl::StrCat("/", route, "/v1/escrows/e/requests")), "{}",
                       "application/json", Call());
    return r.ok() && r->status == 200 ? Field(r->body, "version") : std::string("error");
  };
  EXPECT_EQ(version_at("app"), "pinned");
  EXPECT_EQ(version_at("v0.2.11"), "forced");
  auto health = http.Get(env.Url("/healthz"), Call());
  ASSERT_TRUE(health.ok());
  EXPECT_TRUE(absl::StrContains(health->body, absl::StrCat("\"override:", pinned.sha256, "\"")))
      << health->body;

  // New bytes at the override path: deployed on the next pass like a new binary.
  Variant pinned2 = env.MakeVariant("pinned2");
  std::filesystem::copy_file(pinned2.path, pinned.path + ".new");
  std::filesystem::rename(pinned.path + ".new", pinned.path);
  ASSERT_TRUE(
      testing::WaitFor([&] { return version_at("app") == "pinned2"; }, absl::Seconds(30)).ok())
      << env.versiond().LogTail();

  // The oracle drops app: it goes (404); the forced version stays.
  env.SetOracle({});
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    auto r = http.Post(env.Url("/app/v1/escrows/e/requests"), "{}",
                                       "application/json", Call());
                    return r.ok() && r->status == 404;
                  },
                  absl::Seconds(30))
                  .ok());
  EXPECT_EQ(version_at("v0.2.11"), "forced");
  EXPECT_EQ(http.Get(env.Url("/readyz?version=v0.2.11"), Call())->status, 200);
}

TEST(VersiondCutoverTest, AStreamCarriesTheChildsResponseHeaders) {
  VersiondEnv env("streamheaders");
  Variant v1 = env.MakeVariant("v1");
  env.SetOracle({{"app", v1}});
  ASSERT_TRUE(env.StartVersiond().ok()) << env.versiond().LogTail();
  HttpClient http;
  HttpCallOptions call = Call();
  call.headers.Set("Accept", "text/event-stream");
  std::string events;
  int pieces = 0;
  auto res = http.Stream(
      env.Url("/app/v1/escrows/e1/stream?n=3&interval_ms=20"),
      [&](absl::string_view bytes) {
        events.append(bytes.data(), bytes.size());
        ++pieces;
        return true;
      },
      call);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  // Set by the child on its stream, relayed by versiond before the first event.
  EXPECT_EQ(res->headers.Get("X-Devchild-Version"), "v1");
  EXPECT_EQ(res->headers.Get("X-Devchild-Sha256"), v1.sha256);
  EXPECT_FALSE(res->headers.Get("X-Devchild-Pid").empty());
  EXPECT_TRUE(absl::StartsWith(res->headers.Get("Content-Type"), "text/event-stream"));
  EXPECT_TRUE(absl::StrContains(events, "event: end")) << events;
  EXPECT_GE(pieces, 2) << "the events arrived in one piece: not streamed";
}

TEST(VersiondCutoverTest, AnEvacuationEndsAnExtendedReadinessWait) {
  VersiondEnv env("evacwait");
  Variant v1 = env.MakeVariant("v1");
  env.SetOracle({{"app", v1}});
  ASSERT_TRUE(env.StartVersiond({"--ready-timeout=3s"}, {{"VERSIOND_READY_MAX_WAIT", "60s"}}).ok())
      << env.versiond().LogTail();
  Variant forever = env.MakeVariant("forever", "always-starting");
  env.SetOracle({{"app", forever}});
  ASSERT_TRUE(
      testing::WaitFor([&] { return absl::StrContains(env.Log(), "extending the readiness wait"); },
                       absl::Seconds(30))
          .ok())
      << env.versiond().LogTail();
  // The wait has up to a minute left; SIGTERM ends it and the host evacuates cleanly (exit 0,
  // not the exit 3 of a budget cut short), well inside the 30 s budget.
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(env.versiond().Signal(SIGTERM).ok());
  absl::StatusOr<int> exit = env.versiond().Wait(absl::Seconds(40));
  ASSERT_TRUE(exit.ok()) << exit.status();
  const absl::Duration took = absl::Now() - t0;
  std::printf("evacuation during an extended readiness wait: exit %d after %s\n", *exit,
              absl::FormatDuration(took).c_str());
  EXPECT_EQ(*exit, 0) << env.versiond().LogTail();
  EXPECT_LT(took, absl::Seconds(15));
}

TEST(VersiondCutoverTest, ABinaryBuiltForAnotherProtocolIsRefused) {
  VersiondEnv env("protocol");
  HttpClient http;
  // Every child says it speaks protocol "app": right for version app, wrong for version other.
  env.SetOracle({{"app", env.MakeVariant("v1")}, {"other", env.MakeVariant("v2")}});
  ASSERT_TRUE(
      env.StartVersiond({}, {{"DEVCHILD_PROTOCOL_VERSION", "app"}}, /*wait_ready=*/false).ok());
  ASSERT_TRUE(WaitMetric(env, "versiond_deploys_total{result=\"failed\"}", 1).ok())
      << env.versiond().LogTail();
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    auto r = http.Post(env.Url("/app/v1/escrows/e/requests"), "{}",
                                       "application/json", Call());
                    return r.ok() && r->status == 200;
                  },
                  absl::Seconds(30))
                  .ok());
  EXPECT_TRUE(absl::StrContains(env.Log(), "binary protocol mismatch"));
  auto other = http.Post(env.Url("/other/v1/escrows/e/requests"), "{}", "application/json", Call());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 404);
  EXPECT_EQ(http.Get(env.Url("/readyz"), Call())->status, 503);  // other never reconciled
}

}  // namespace
}  // namespace versiond_testing
}  // namespace gonka
