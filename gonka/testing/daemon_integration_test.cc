// DaemonProcess with the fake_daemon binary from runfiles: start, wait until ready, answer,
// SIGTERM and its exit code, crash + restart on the same port, a daemon that fails at start.
#include <csignal>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

DaemonProcess::Options FakeDaemon(std::vector<std::string> extra_args = {}) {
  DaemonProcess::Options o;
  o.binary = "gonka/testing/fake_daemon";
  o.args = {"--port={{PORT}}", "--delay_ms=200", "--exit_code=7"};
  o.args.insert(o.args.end(), extra_args.begin(), extra_args.end());
  o.env["GONKA_FAKE_GREETING"] = "from {{DIR}}";
  o.start_timeout = absl::Seconds(10);
  return o;
}

TEST(DaemonProcessTest, StartsWaitsReadyAndExitsOnSigterm) {
  DaemonProcess::Options o = FakeDaemon();
  // Ready = GET /ready answers 200 (not just an open port).
  o.ready = [](DaemonProcess& d) -> absl::Status {
    absl::StatusOr<HttpResponse> r = HttpGet(d.host(), d.port(), "/ready", absl::Seconds(1));
    if (!r.ok()) return r.status();
    if (r->status != 200) return absl::UnavailableError(absl::StrCat("/ready ", r->status));
    return absl::OkStatus();
  };
  DaemonProcess daemon(o);
  absl::Status started = daemon.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_TRUE(absl::EndsWith(daemon.binary_path(), "gonka/testing/fake_daemon"))
      << daemon.binary_path();
  EXPECT_EQ(daemon.url(), absl::StrCat("http://127.0.0.1:", daemon.port()));

  absl::StatusOr<HttpResponse> r = HttpGet(daemon.host(), daemon.port(), "/hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // {{DIR}} and {{PORT}} were substituted in env and args.
  EXPECT_EQ(r->body, absl::StrCat("hello from ", daemon.dir(), " from ", daemon.port(), "\n"));

  ASSERT_TRUE(daemon.process()->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = daemon.process()->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 7);
  EXPECT_FALSE(daemon.IsRunning());
  EXPECT_TRUE(absl::StrContains(daemon.LogTail(), "stopping with exit code 7"));
}

TEST(DaemonProcessTest, KillPauseAndRestartOnSamePort) {
  DaemonProcess daemon(FakeDaemon());
  ASSERT_TRUE(daemon.Start().ok());
  const int port = daemon.port();
  const pid_t first_pid = daemon.pid();

  // SIGSTOP: the port still accepts (kernel backlog) but nothing answers.
  ASSERT_TRUE(daemon.Pause().ok());
  absl::StatusOr<HttpResponse> stalled =
      HttpGet(daemon.host(), port, "/hello", absl::Milliseconds(300));
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kDeadlineExceeded) << stalled.status();
  ASSERT_TRUE(daemon.Resume().ok());
  EXPECT_TRUE(HttpGet(daemon.host(), port, "/hello").ok());

  // kill -9, then the same port again.
  ASSERT_TRUE(daemon.Kill().ok());
  EXPECT_FALSE(daemon.IsRunning());
  absl::StatusOr<int> killed = daemon.process()->Wait(absl::ZeroDuration());
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*killed, 128 + SIGKILL);
  ASSERT_TRUE(daemon.Restart().ok());
  EXPECT_EQ(daemon.port(), port);
  EXPECT_NE(daemon.pid(), first_pid);
  EXPECT_TRUE(HttpGet(daemon.host(), port, "/hello").ok());

  // Graceful Stop() uses the stop signal (SIGTERM).
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_EQ(*daemon.process()->Wait(absl::ZeroDuration()), 7);
}

TEST(DaemonProcessTest, FailureAtStartIsReportedWithTheLog) {
  DaemonProcess daemon(FakeDaemon({"--fail_at_start"}));
  absl::Status started = daemon.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable) << started;
  EXPECT_TRUE(absl::StrContains(started.message(), "failing at start as asked")) << started;

  DaemonProcess::Options missing = FakeDaemon();
  missing.binary = "gonka/testing/no_such_daemon";
  DaemonProcess absent(missing);
  EXPECT_EQ(absent.Start().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace testing
}  // namespace gonka
