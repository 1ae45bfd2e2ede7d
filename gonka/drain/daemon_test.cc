// The Daemon runtime end to end: the real test_daemon binary, real signals, real sockets.
#include "gonka/drain/daemon.h"

#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/net/sse.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

namespace http = boost::beast::http;
using ::gonka::testing::TestClient;
using ::testing::HasSubstr;

constexpr char kBinary[] = "gonka/testing/test_daemon";

class DaemonTest : public ::testing::Test {
 protected:
  // Starts test_daemon with `flags` and waits until /ready answers 200.
  void StartDaemon(std::vector<std::string> flags) {
    port_ = testing::FreePort();
    testing::SubprocessOptions options;
    options.argv = {kBinary, "--bind=127.0.0.1", absl::StrCat("--port=", port_)};
    for (auto& f : flags) options.argv.push_back(f);
    options.log_path = dir_.Join("daemon.log");
    daemon_ = std::make_unique<testing::Subprocess>(options);
    ASSERT_TRUE(daemon_->Start().ok());
    absl::Status ready = testing::WaitFor(
        [&] {
          TestClient client(port_);
          return client.connected() && client.Get("/ready").result_int() == 200;
        },
        absl::Seconds(20), absl::Milliseconds(20), "test_daemon /ready");
    ASSERT_TRUE(ready.ok()) << ready << "\n" << daemon_->LogTail();
  }

  // Runs test_daemon with `flags` to its exit; returns the exit code and its output.
  std::pair<int, std::string> RunToExit(std::vector<std::string> flags) {
    testing::SubprocessOptions options;
    options.argv = {kBinary};
    for (auto& f : flags) options.argv.push_back(f);
    options.log_path = dir_.Join(absl::StrCat("run", runs_++, ".log"));
    testing::Subprocess p(options);
    EXPECT_TRUE(p.Start().ok());
    absl::StatusOr<int> code = p.Wait(absl::Seconds(20));
    EXPECT_TRUE(code.ok()) << code.status();
    return {code.ok() ? *code : -1, p.LogTail()};
  }

  testing::TempDir dir_{"daemon_test"};
  int port_ = 0;
  int runs_ = 0;
  std::unique_ptr<testing::Subprocess> daemon_;
};

TEST_F(DaemonTest, BadConfigStopsAtStartNamingTheField) {
  auto [code, out] = RunToExit({"--shutdown-grace=ten"});
  EXPECT_EQ(code, Daemon::kExitConfig);
  EXPECT_THAT(out, HasSubstr("--shutdown-grace"));
  EXPECT_THAT(out, HasSubstr("ten"));

  std::tie(code, out) = RunToExit({"--port=70000"});
  EXPECT_EQ(code, Daemon::kExitConfig);
  EXPECT_THAT(out, HasSubstr("--port"));
  EXPECT_THAT(out, HasSubstr("70000"));

  std::tie(code, out) = RunToExit({"--drain-announce=-1s"});
  EXPECT_EQ(code, Daemon::kExitConfig);
  EXPECT_THAT(out, HasSubstr("--drain-announce"));

  std::tie(code, out) = RunToExit({"--help"});
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("GONKA_SHUTDOWN_GRACE"));
}

TEST_F(DaemonTest, PortInUseFailsAtStart) {
  StartDaemon({});
  auto [code, out] = RunToExit({"--bind=127.0.0.1", absl::StrCat("--port=", port_)});
  EXPECT_EQ(code, 1);
  EXPECT_THAT(out, HasSubstr(absl::StrCat(port_)));
}

TEST_F(DaemonTest, AdminEndpoints) {
  int admin = testing::FreePort();
  StartDaemon({absl::StrCat("--admin-port=", admin)});
  for (int p : {port_, admin}) {
    TestClient client(p);
    EXPECT_EQ(client.Get("/healthz").result_int(), 200);
    EXPECT_EQ(client.Get("/ready").result_int(), 200);
    EXPECT_EQ(client.Get("/readyz").result_int(), 200);
    auto status = client.Get("/drain/status");
    EXPECT_EQ(status.result_int(), 200);
    EXPECT_THAT(status.body(), HasSubstr("\"state\":\"serving\""));
    auto metrics = client.Get("/metrics");
    EXPECT_THAT(metrics.body(), HasSubstr("gonka_daemon{"));
    EXPECT_THAT(metrics.body(), HasSubstr("gonka_http_server_requests_total"));
    EXPECT_THAT(client.Get("/version").body(), HasSubstr("\"version\""));
  }
  TestClient client(port_);
  EXPECT_EQ(client.Get("/slow?ms=1").body(), "ok a");
}

// An SSE stream open across SIGTERM receives every event; /ready fails at once while requests
// are still served; after the announce window new connections are refused; exit code 0.
TEST_F(DaemonTest, SseStreamSurvivesSigterm) {
  StartDaemon({"--drain-announce=600ms", "--shutdown-grace=20s"});
  std::atomic<bool> first_event{false};
  int events = 0;
  boost::beast::error_code stream_error;
  std::thread reader([&] {
    TestClient client(port_);
    http::request<http::string_body> req{http::verb::get, "/events?n=40&ms=50", 11};
    req.set(http::field::host, "x");
    http::write(client.socket(), req, stream_error);
    http::response_parser<http::string_body> parser;
    http::read_header(client.socket(), client.buffer(), parser, stream_error);
    first_event = true;
    http::read(client.socket(), client.buffer(), parser, stream_error);
    net::SseReader sse([&](const net::SseMessage& m) {
      EXPECT_EQ(m.data, absl::StrCat(events));
      ++events;
      return true;
    });
    sse.Feed(parser.get().body());
  });
  ASSERT_TRUE(testing::WaitFor([&] { return first_event.load(); }, absl::Seconds(10)).ok());
  ASSERT_TRUE(daemon_->Signal(SIGTERM).ok());

  // During the announce window: not ready, but still serving.
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    TestClient c(port_);
                    return c.connected() && c.Get("/ready").result_int() == 503;
                  },
                  absl::Seconds(5))
                  .ok());
  {
    TestClient c(port_);
    if (c.connected()) {
      auto res = c.Get("/slow?ms=1");
      // Either served (with Connection: close) or, if the window just ended, refused at connect.
      if (!c.error()) {
        EXPECT_EQ(res.result_int(), 200);
        EXPECT_FALSE(res.keep_alive());
      }
    }
  }
  // After the announce window: connection refused (never a reset mid-response).
  ASSERT_TRUE(
      testing::WaitFor([&] { return !TestClient(port_).connected(); }, absl::Seconds(5)).ok());
  TestClient refused(port_);
  EXPECT_EQ(refused.error(), boost::asio::error::connection_refused);

  reader.join();
  EXPECT_FALSE(stream_error) << stream_error.message();
  EXPECT_EQ(events, 40);
  absl::StatusOr<int> code = daemon_->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << daemon_->LogTail();
}

TEST_F(DaemonTest, SecondSignalForces) {
  StartDaemon({"--drain-announce=200ms", "--shutdown-grace=60s"});
  std::atomic<bool> started{false};
  std::thread reader([&] {
    TestClient client(port_);
    http::request<http::string_body> req{http::verb::get, "/events?n=100000&ms=50", 11};
    req.set(http::field::host, "x");
    boost::beast::error_code ec;
    http::write(client.socket(), req, ec);
    http::response_parser<http::string_body> parser;
    http::read_header(client.socket(), client.buffer(), parser, ec);
    started = true;
    http::read(client.socket(), client.buffer(), parser, ec);  // ends when the daemon exits
  });
  ASSERT_TRUE(testing::WaitFor([&] { return started.load(); }, absl::Seconds(10)).ok());
  ASSERT_TRUE(daemon_->Signal(SIGTERM).ok());
  // The stream keeps the daemon draining well past the announce window.
  EXPECT_FALSE(daemon_->Wait(absl::Seconds(1)).ok());
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(daemon_->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = daemon_->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, Daemon::kExitCut);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  reader.join();
}

}  // namespace
}  // namespace gonka
