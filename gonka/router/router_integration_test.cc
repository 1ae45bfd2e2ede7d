// The versiond router for real: HAProxy 2.6 on deploy/haproxy/versiond-router.cfg.template (via
// RenderRouterConfig) in front of three in-process hosts that answer like versiond
// (/readyz?version=, /<version>/sessions/<escrow>/..., SSE on version v2). Checks the escrow
// stickiness, the headers, the retry rules, and EvacuateHost / ReturnHost under load.
#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gonka/base/status_macros.h"
#include "gonka/drain/haproxy_runtime.h"
#include "gonka/net/http_server.h"
#include "gonka/router/host_evacuation.h"
#include "gonka/router/router_config.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace router {
namespace {

namespace http = boost::beast::http;
using ::gonka::testing::TestClient;
using ::testing::HasSubstr;

// A stand-in for one versiond host: readiness per version, plain session routes on v1 (answer
// "<host>|<Devshard-Ha seen>"; paths ending in /fail503 or /fail502 answer that status and count
// the attempt), SSE session streams on v2 (?n=events&ms=interval).
class FakeHost {
 public:
  FakeHost(std::string name, int port) : name_(std::move(name)), port_(port) {}

  absl::Status Start() {
    server_ = std::make_unique<net::HttpServer>(
        net::HttpServerOptions{.name = name_, .port = port_, .handler_threads = 16});
    server_->Handle("GET", "/readyz", [this](const net::HttpRequest& req) {
      const std::string v = req.QueryParam("version").value_or("");
      const bool ok = ready_.load() && (v == "v1" || v == "v2");
      return net::HttpResponse::Text(ok ? 200 : 503, ok ? "ready" : "not ready");
    });
    auto plain = [this](const net::HttpRequest& req) {
      if (absl::EndsWith(req.path, "/fail503")) {
        failed_attempts_++;
        return net::HttpResponse::Text(503, "draining");
      }
      if (absl::EndsWith(req.path, "/fail502")) {
        failed_attempts_++;
        return net::HttpResponse::Text(502, "bad gateway");
      }
      return net::HttpResponse::Text(200, absl::StrCat(name_, "|", req.headers.Get("Devshard-Ha")));
    };
    server_->Handle("GET", "/v1/*", plain);
    server_->Handle("POST", "/v1/*", plain);
    server_->HandleStream(
        "GET", "/v2/*",
        [this](const net::HttpRequest& req, std::shared_ptr<net::ResponseStream> s) {
          int n = 10, ms = 50;
          if (auto v = req.QueryParam("n")) (void)absl::SimpleAtoi(*v, &n);
          if (auto v = req.QueryParam("ms")) (void)absl::SimpleAtoi(*v, &ms);
          std::string name = name_;
          std::thread([s, n, ms, name] {
            for (int i = 0; i < n; ++i) {
              if (!s->Write(absl::StrCat("data: ", name, " ", i, "\n\n"))) return;
              absl::SleepFor(absl::Milliseconds(ms));
            }
            s->Close();
          }).detach();
        });
    return server_->Start();
  }
  void Stop() {
    ready_ = false;
    if (server_) server_->Stop(absl::Now() + absl::Seconds(5));
    server_.reset();
  }

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  int failed_attempts() const { return failed_attempts_.load(); }

 private:
  const std::string name_;
  const int port_;
  std::atomic<bool> ready_{true};
  std::atomic<int> failed_attempts_{0};
  std::unique_ptr<net::HttpServer> server_;
};

std::string ReadTemplate() {
  absl::StatusOr<std::string> path =
      testing::ResolveRunfile("deploy/haproxy/versiond-router.cfg.template");
  EXPECT_TRUE(path.ok()) << path.status();
  std::ifstream in(*path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RouterConfig config;
    config.versions = {"v1", "v2"};
    config.admin_socket = "{{ADMIN_SOCKET}}";  // the fixture's own
    config.max_body_bytes = 1024;
    config.stream_idle_seconds = 30;
    for (int i = 0; i < 3; ++i) {
      hosts_.push_back(std::make_unique<FakeHost>(absl::StrCat("h", i), testing::FreePort()));
      config.hosts.push_back({.name = hosts_.back()->name(),
                              .address = absl::StrCat("127.0.0.1:", hosts_.back()->port())});
    }
    const int port = testing::FreePort();
    admin_port_ = testing::FreePort();
    config.bind = absl::StrCat("127.0.0.1:", port);
    config.admin_bind = absl::StrCat("127.0.0.1:", admin_port_);
    absl::StatusOr<std::string> cfg = RenderRouterConfig(ReadTemplate(), config);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    testing::HaproxyServer::Options o;
    o.config = *cfg;
    o.port = port;
    haproxy_ = std::make_unique<testing::HaproxyServer>(o);
    ASSERT_TRUE(haproxy_->Start().ok());  // after `haproxy -c` accepted the rendered config
    runtime_ = std::make_unique<HaproxyRuntime>(haproxy_->admin_socket());
    // The hosts start after HAProxy: Boost.Asio's sockets are not close-on-exec, so a process
    // forked after them (HAProxy) would inherit their listening sockets and keep a stopped
    // host's port bound.
    for (auto& host : hosts_) ASSERT_TRUE(host->Start().ok());
    for (const char* be : {"version_v1", "version_v2"}) {
      for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(
            runtime_
                ->WaitForServer(be, absl::StrCat("h", i), HaproxyRuntime::kUp, absl::Seconds(20))
                .ok());
      }
    }
  }
  void TearDown() override {
    haproxy_.reset();
    for (auto& h : hosts_) h->Stop();
  }

  int port() const { return haproxy_->port(); }

  // The host that answered a v1 request for `escrow` ("" on failure).
  std::string HostOf(const std::string& escrow) {
    TestClient c(port());
    TestClient::Response r = c.Get(absl::StrCat("/v1/sessions/", escrow, "/x"));
    if (c.error() || r.result_int() != 200) return "";
    return std::string(r[std::string("X-Versiond-Backend")]);
  }

  std::vector<std::unique_ptr<FakeHost>> hosts_;
  int admin_port_ = 0;
  std::unique_ptr<testing::HaproxyServer> haproxy_;
  std::unique_ptr<HaproxyRuntime> runtime_;
};

TEST_F(RouterTest, EveryEscrowSticksToOneHostWhateverFollowsTheId) {
  std::map<std::string, std::string> owner;
  std::set<std::string> used;
  TestClient c(port());
  ASSERT_TRUE(c.connected());
  for (int round = 0; round < 3; ++round) {
    for (int e = 0; e < 60; ++e) {
      const std::string escrow = absl::StrCat("escrow", e);
      const std::string path = round == 0 ? absl::StrCat("/v1/sessions/", escrow, "/x")
                               : round == 1
                                   ? absl::StrCat("/v1/sessions/", escrow, "/a/b?q=", round)
                                   : absl::StrCat("/devshard/v1/sessions/", escrow, "/y");
      TestClient::Response r = c.Get(path);
      ASSERT_FALSE(c.error()) << c.error().message();
      ASSERT_EQ(r.result_int(), 200) << path;
      const std::string host(r[std::string("X-Versiond-Backend")]);
      // The body names the host that answered; the router's header names the same one.
      EXPECT_EQ(r.body(), absl::StrCat(host, "|1"));
      auto [it, inserted] = owner.emplace(escrow, host);
      EXPECT_EQ(it->second, host) << escrow << " moved on " << path;
      used.insert(host);
    }
  }
  EXPECT_EQ(used.size(), 3u) << "60 escrows should spread over all 3 hosts";
}

TEST_F(RouterTest, HeadersLimitsAndUnknownVersions) {
  TestClient c(port());
  // A client cannot set Devshard-Ha: the backend stamps 1.
  http::request<http::string_body> req{http::verb::get, "/v1/sessions/e1/x", 11};
  req.set(http::field::host, "x");
  req.set("Devshard-Ha", "spoofed");
  http::write(c.socket(), req);
  http::response<http::string_body> res;
  http::read(c.socket(), c.buffer(), res);
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_THAT(res.body(), ::testing::EndsWith("|1"));
  const std::string host(res["X-Versiond-Backend"]);
  int host_port = 0;
  for (auto& h : hosts_) {
    if (h->name() == host) host_port = h->port();
  }
  EXPECT_EQ(std::string(res["X-Upstream-Addr"]), absl::StrCat("127.0.0.1:", host_port));

  TestClient c2(port());
  EXPECT_EQ(c2.Get("/v9/sessions/e1/x").result_int(), 404);
  EXPECT_EQ(c2.Send(http::verb::post, "/v1/sessions/e1/x", std::string(2000, 'x')).result_int(),
            413);
  TestClient c3(port());
  EXPECT_EQ(c3.Send(http::verb::post, "/v1/sessions/e1/x", std::string(1000, 'x')).result_int(),
            200);
  TestClient admin(admin_port_);
  EXPECT_EQ(admin.Get("/livez").result_int(), 200);
  TestClient::Response metrics = admin.Get("/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_THAT(metrics.body(), HasSubstr("haproxy_backend_"));
}

int FailedAttempts(const std::vector<std::unique_ptr<FakeHost>>& hosts) {
  int n = 0;
  for (auto& h : hosts) n += h->failed_attempts();
  return n;
}

TEST_F(RouterTest, RetriesOnlyIdempotent502sAndNever503s) {
  TestClient c(port());
  EXPECT_EQ(c.Get("/v1/sessions/e1/fail503").result_int(), 503);
  EXPECT_EQ(FailedAttempts(hosts_), 1) << "a 503 is never retried";
  EXPECT_EQ(c.Send(http::verb::post, "/v1/sessions/e2/fail502", "body").result_int(), 502);
  EXPECT_EQ(FailedAttempts(hosts_), 2) << "a POST is never retried";
  EXPECT_EQ(c.Get("/v1/sessions/e3/fail502").result_int(), 502);
  EXPECT_EQ(FailedAttempts(hosts_), 5) << "a GET that got 502 is retried twice";
}

// Escrows → the hosts that served them, in order of change.
struct Pins {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> hosts;
  void Saw(const std::string& escrow, const std::string& host) {
    std::lock_guard<std::mutex> l(mu);
    auto& v = hosts[escrow];
    if (v.empty() || v.back() != host) v.push_back(host);
  }
};

TEST_F(RouterTest, EvacuateHostUnderLoadMovesOnlyItsEscrowsOnceAndCutsNothing) {
  constexpr int kEscrows = 60;
  std::map<std::string, std::string> before;
  for (int e = 0; e < kEscrows; ++e) {
    const std::string escrow = absl::StrCat("escrow", e);
    before[escrow] = HostOf(escrow);
    ASSERT_FALSE(before[escrow].empty());
  }
  std::string streamed_escrow;
  for (auto& [escrow, host] : before) {
    if (host == "h1") streamed_escrow = escrow;
  }
  ASSERT_FALSE(streamed_escrow.empty());

  Pins pins;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, non_2xx{0}, requests{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&, t] {
      std::unique_ptr<TestClient> c;
      for (int i = t; !stop.load(); i += 3) {
        if (!c) c = std::make_unique<TestClient>(port());
        const std::string escrow = absl::StrCat("escrow", i % kEscrows);
        TestClient::Response r = c->Get(absl::StrCat("/v1/sessions/", escrow, "/x"));
        if (c->error()) {
          errors++;
          c.reset();
          continue;
        }
        requests++;
        if (r.result_int() != 200) non_2xx++;
        pins.Saw(escrow, std::string(r[std::string("X-Versiond-Backend")]));
        if (!r.keep_alive()) c.reset();
      }
    });
  }
  // A 1.5 s stream on h1, open when the evacuation starts.
  std::atomic<int> stream_events{-1};
  std::atomic<bool> stream_done{false};
  std::thread stream([&] {
    TestClient c(port());
    TestClient::Response r =
        c.Get(absl::StrCat("/v2/sessions/", streamed_escrow, "/events?n=30&ms=50"));
    int n = 0;
    for (size_t pos = r.body().find("data: h1 "); pos != std::string::npos;
         pos = r.body().find("data: h1 ", pos + 1)) {
      ++n;
    }
    stream_events = c.error() ? -2 : n;
    stream_done = true;
  });
  ASSERT_TRUE(testing::WaitForOk(
                  [&]() -> absl::Status {
                    ASSIGN_OR_RETURN(ServerLoad l, ReadServerLoad(*runtime_, "h1", {"version_v2"}));
                    return l.sessions > 0 ? absl::OkStatus() : absl::UnavailableError("no stream");
                  },
                  absl::Seconds(5))
                  .ok());

  // Every escrow served at least once before the drain (its first host is its pinned one).
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    std::lock_guard<std::mutex> l(pins.mu);
                    return pins.hosts.size() == static_cast<size_t>(kEscrows);
                  },
                  absl::Seconds(10))
                  .ok());

  std::vector<EvacuationProgress> progress;
  bool stream_ended_before_stop = false;
  EvacuationOptions options;
  options.server = "h1";
  options.drain_timeout = absl::Seconds(20);
  options.poll_interval = absl::Milliseconds(20);
  options.progress = [&](const EvacuationProgress& p) { progress.push_back(p); };
  options.stop_host = [&]() -> absl::Status {
    stream_ended_before_stop = stream_done.load();
    hosts_[1]->Stop();
    return absl::OkStatus();
  };
  absl::StatusOr<EvacuationResult> result = EvacuateHost(*runtime_, options);
  ASSERT_TRUE(result.ok()) << result.status();
  absl::SleepFor(absl::Milliseconds(500));  // load keeps running on the other two hosts
  stop = true;
  for (auto& t : load) t.join();
  stream.join();

  EXPECT_EQ(stream_events.load(), 30) << "the stream ran to its own end";
  EXPECT_TRUE(stream_ended_before_stop);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(non_2xx.load(), 0);
  EXPECT_GT(requests.load(), 100);
  EXPECT_EQ(result->backends, (std::vector<std::string>{"version_v1", "version_v2"}));
  EXPECT_GE(result->sessions_at_drain, 1);
  EXPECT_GT(result->drain_duration, absl::Milliseconds(500));
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().phase, "drain");
  EXPECT_EQ(progress.back().phase, "stopped");
  int moved = 0;
  std::map<std::string, std::string> after = before;  // where each escrow is pinned now
  for (auto& [escrow, seq] : pins.hosts) {
    if (before[escrow] == "h1") {
      ASSERT_LE(seq.size(), 2u) << escrow;
      EXPECT_EQ(seq.front(), "h1") << escrow;
      if (seq.size() == 2) ++moved;
      after[escrow] = seq.back();
    } else {
      EXPECT_EQ(seq, std::vector<std::string>{before[escrow]}) << escrow << " was not on h1";
    }
  }
  EXPECT_GT(moved, 0);
  std::printf("evacuation: requests=%d moved_escrows=%d drain=%s sessions_at_drain=%lld\n",
              requests.load(), moved, absl::FormatDuration(result->drain_duration).c_str(),
              static_cast<long long>(result->sessions_at_drain));

  // The replacement at the same address takes no traffic until returned. Escrows that moved
  // away stay where they went (the router pinned them there): each moved once, not back.
  const int h1_port = hosts_[1]->port();
  absl::Status restarted = testing::WaitForOk(
      [&] {
        hosts_[1] = std::make_unique<FakeHost>("h1", h1_port);
        return hosts_[1]->Start();
      },
      absl::Seconds(5), absl::Milliseconds(100), "h1 listening again");
  ASSERT_TRUE(restarted.ok()) << restarted;
  absl::StatusOr<HaproxyServerState> st = runtime_->ServerState("version_v1", "h1");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->draining());
  EXPECT_NE(HostOf(streamed_escrow), "h1");
  ASSERT_TRUE(ReturnHost(*runtime_, {.server = "h1", .up_timeout = absl::Seconds(20)}).ok());
  for (auto& [escrow, host] : after) EXPECT_EQ(HostOf(escrow), host) << escrow;
}

TEST_F(RouterTest, EvacuationPastItsDeadlineLeavesTheHostRunningAndDrained) {
  std::string escrow;
  for (int e = 0; e < 60 && escrow.empty(); ++e) {
    if (HostOf(absl::StrCat("escrow", e)) == "h2") escrow = absl::StrCat("escrow", e);
  }
  ASSERT_FALSE(escrow.empty());
  std::thread stream([&] {
    TestClient c(port());
    c.Get(absl::StrCat("/v2/sessions/", escrow, "/events?n=20&ms=100"));
  });
  ASSERT_TRUE(testing::WaitForOk(
                  [&]() -> absl::Status {
                    ASSIGN_OR_RETURN(ServerLoad l, ReadServerLoad(*runtime_, "h2", {"version_v2"}));
                    return l.sessions > 0 ? absl::OkStatus() : absl::UnavailableError("no stream");
                  },
                  absl::Seconds(5))
                  .ok());
  bool stopped = false;
  EvacuationOptions options;
  options.server = "h2";
  options.drain_timeout = absl::Milliseconds(300);
  options.stop_host = [&] {
    stopped = true;
    return absl::OkStatus();
  };
  absl::StatusOr<EvacuationResult> result = EvacuateHost(*runtime_, options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("h2"));
  EXPECT_THAT(result.status().message(), HasSubstr("sessions 1"));
  EXPECT_FALSE(stopped);
  absl::StatusOr<HaproxyServerState> st = runtime_->ServerState("version_v2", "h2");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->draining());
  stream.join();
  EXPECT_TRUE(ReturnHost(*runtime_, {.server = "h2", .up_timeout = absl::Seconds(20)}).ok());

  options.server = "nosuch";
  EXPECT_EQ(EvacuateHost(*runtime_, options).status().code(), absl::StatusCode::kNotFound);
  options.server = "h2";
  options.stop_host = nullptr;
  EXPECT_EQ(EvacuateHost(*runtime_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

// The operator command against the same router: status, out (the stop step a shell command),
// in, and bad usage.
TEST_F(RouterTest, GonkaEvacuateCommand) {
  absl::StatusOr<std::string> bin = testing::ResolveRunfile("tools/evacuate/gonka-evacuate");
  ASSERT_TRUE(bin.ok()) << bin.status();
  testing::TempDir dir("gonka-evacuate");
  int runs = 0;
  auto run = [&](std::vector<std::string> args, std::string* output) -> int {
    testing::SubprocessOptions o;
    o.argv = {*bin, absl::StrCat("--socket=", haproxy_->admin_socket())};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.log_path = dir.Join(absl::StrCat("run", runs++, ".log"));
    testing::Subprocess p(o);
    EXPECT_TRUE(p.Start().ok());
    absl::StatusOr<int> code = p.Wait(absl::Seconds(60));
    EXPECT_TRUE(code.ok()) << code.status();
    *output = p.LogTail();
    return code.ok() ? *code : -1;
  };
  std::string out;
  EXPECT_EQ(run({"--server=h1", "status"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("version_v1/h1 ready UP sessions=0"));
  EXPECT_THAT(out, HasSubstr("version_v2/h1 ready UP"));
  EXPECT_EQ(run({"--server=h1", "--stop-command=touch " + dir.Join("stopped"), "out"}, &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("h1: evacuated backends=version_v1,version_v2"));
  EXPECT_TRUE(std::ifstream(dir.Join("stopped")).good()) << "the stop command ran";
  EXPECT_EQ(run({"--server=h1", "status"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("version_v1/h1 drain"));
  EXPECT_EQ(run({"--server=h1", "in"}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("h1: UP, taking traffic"));
  EXPECT_EQ(run({"--server=h1", "out"}, &out), 2) << "out needs --pid or --stop-command";
  EXPECT_EQ(run({"--server=nosuch", "status"}, &out), 1) << out;
  EXPECT_EQ(run({"status"}, &out), 2) << "--server is required";
}

}  // namespace
}  // namespace router
}  // namespace gonka
