// versiond as a process, with gonka/supervisor's test_child as its one (static) version.
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace {

std::string Runfile(absl::string_view path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "", "/", path);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

TEST(VersiondTest, ProxiesAVersionReportsHealthAndStopsItsChildOnSigterm) {
  gonka::testing::TempDir dir("versiond");
  const int port = FreePort();
  gonka::testing::SubprocessOptions o;
  o.argv = {Runfile("daemons/versiond/versiond"),
            absl::StrCat("--port=", port),
            absl::StrCat("--data-dir=", dir.Join("data")),
            "--drain-announce=0s",
            "--drain-kill-grace=5s",
            "--drain-poll-interval=50ms",
            "--host-shutdown-budget=30s",
            absl::StrCat("app=", Runfile("gonka/supervisor/test_child"))};
  o.env = {{"TEST_CHILD_VERSION", "v7"}};
  o.log_path = dir.Join("versiond.log");
  gonka::testing::Subprocess versiond(o);
  ASSERT_TRUE(versiond.Start().ok());

  gonka::net::HttpClient http;
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  auto call = gonka::net::HttpCallOptions::Timeout(absl::Seconds(5));
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    auto r = http.Get(base + "/readyz", call);
                    return r.ok() && r->status == 200;
                  },
                  absl::Seconds(30))
                  .ok())
      << versiond.LogTail();

  auto version = http.Get(base + "/app/version", call);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->status, 200);
  ASSERT_TRUE(absl::StartsWith(version->body, "v7 ")) << version->body;
  int child_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(version->body.substr(3), &child_pid));

  auto echo = http.Post(base + "/app/echo", "hello", "text/plain", call);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->body, "v7 hello");

  gonka::net::HttpCallOptions sse_call = call;
  sse_call.headers.Set("Accept", "text/event-stream");
  std::string events;
  auto sse = http.Stream(
      base + "/app/sse?n=3&interval_ms=20",
      [&](absl::string_view b) {
        events.append(b.data(), b.size());
        return true;
      },
      sse_call);
  ASSERT_TRUE(sse.ok()) << sse.status();
  EXPECT_TRUE(absl::StrContains(events, absl::StrCat("data: v7 ", child_pid, " 2"))) << events;

  auto health = http.Get(base + "/healthz", call);
  ASSERT_TRUE(health.ok());
  EXPECT_TRUE(absl::StrContains(health->body, "\"status\":\"running\"")) << health->body;
  EXPECT_EQ(http.Get(base + "/readyz?version=app", call)->status, 200);
  EXPECT_EQ(http.Get(base + "/readyz?version=nope", call)->status, 404);
  EXPECT_EQ(http.Get(base + "/nope/version", call)->status, 404);

  absl::StatusOr<int> exit = versiond.Terminate(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0) << versiond.LogTail();
  EXPECT_TRUE(kill(child_pid, 0) != 0 && errno == ESRCH) << "child left running";
}

TEST(VersiondTest, RefusesInconsistentDurations) {
  gonka::testing::TempDir dir("versiond-bad");
  gonka::testing::SubprocessOptions o;
  o.argv = {Runfile("daemons/versiond/versiond"), "--port=0", "--drain-announce=2s"};
  o.log_path = dir.Join("versiond.log");
  gonka::testing::Subprocess versiond(o);
  ASSERT_TRUE(versiond.Start().ok());
  absl::StatusOr<int> exit = versiond.Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 2);
  EXPECT_TRUE(absl::StrContains(versiond.LogTail(), "VERSIOND_DRAIN_ANNOUNCE"))
      << versiond.LogTail();
}

}  // namespace
