// HaproxyServer with the repository's deploy/haproxy/haproxy.cfg.template in front of two
// fake_daemon backends that answer /ready: requests are forwarded; a backend whose /ready turns
// 503 is marked DOWN (admin socket) and gets no more requests; it comes back UP when ready again.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

absl::StatusOr<std::string> ReadTemplate() {
  absl::StatusOr<std::string> path = ResolveRunfile("deploy/haproxy/haproxy.cfg.template");
  if (!path.ok()) return path.status();
  std::ifstream in(*path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError("cannot read " + *path);
  return text.str();
}

// Lines "served <path>" the backend printed: requests that reached it.
int ServedCount(const DaemonProcess& backend) {
  std::ifstream in(backend.log_path());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += absl::StartsWith(line, "served ") ? 1 : 0;
  return n;
}

// "show stat" CSV: the status column ("UP", "DOWN", ...) of replicas/<server>.
std::string StatStatus(HaproxyServer& haproxy, const std::string& server) {
  absl::StatusOr<std::string> csv = haproxy.RuntimeCommand("show stat");
  if (!csv.ok()) return csv.status().ToString();
  std::istringstream lines(*csv);
  std::string line;
  while (std::getline(lines, line)) {
    if (!absl::StartsWith(line, "replicas," + server + ",")) continue;
    // Column 18 (0-based 17) is "status".
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i <= 17 && std::getline(fields, field, ','); ++i) {
    }
    return field;
  }
  return "missing";
}

TEST(HaproxyServerTest, TemplateForwardsAndMarksUnreadyServerDown) {
  absl::StatusOr<std::string> config = ReadTemplate();
  ASSERT_TRUE(config.ok()) << config.status();

  TempDir dir("haproxy-test");
  const std::string unready_r1 = dir.Join("r1.unready");
  std::vector<std::unique_ptr<DaemonProcess>> backends;
  for (const std::string& name : {"r1", "r2"}) {
    DaemonProcess::Options o;
    o.binary = "gonka/testing/fake_daemon";
    o.name = "fake-" + name;
    o.args = {"--port={{PORT}}", "--unready_file=" + dir.Join(name + ".unready")};
    o.env["GONKA_FAKE_GREETING"] = name;
    backends.push_back(std::make_unique<DaemonProcess>(o));
    absl::Status started = backends.back()->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  HaproxyServer::Options options;
  options.config = *config;
  options.port = FreePort();
  options.vars["BIND"] = absl::StrCat("127.0.0.1:", options.port);
  options.vars["SERVERS"] =
      absl::StrCat("    server r1 127.0.0.1:", backends[0]->port(), " check\n",
                   "    server r2 127.0.0.1:", backends[1]->port(), " check\n");
  HaproxyServer haproxy(options);
  absl::Status started = haproxy.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r1", true).ok());
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r2", true).ok());
  EXPECT_EQ(StatStatus(haproxy, "r1"), "UP");

  // Both backends get traffic through the frontend.
  int via_r1 = 0, via_r2 = 0;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<HttpResponse> r = HttpGet(haproxy.host(), haproxy.port(), "/hello");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << r->body;
    via_r1 += absl::StartsWith(r->body, "hello r1 ") ? 1 : 0;
    via_r2 += absl::StartsWith(r->body, "hello r2 ") ? 1 : 0;
  }
  EXPECT_EQ(via_r1 + via_r2, 20);
  EXPECT_GT(via_r1, 0);
  EXPECT_GT(via_r2, 0);

  // r1's /ready answers 503: HAProxy marks it DOWN and stops sending it requests.
  { std::ofstream touch(unready_r1); }
  absl::StatusOr<HttpResponse> ready = HttpGet("127.0.0.1", backends[0]->port(), "/ready");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503);
  const absl::Time marked_from = absl::Now();
  absl::Status down = haproxy.WaitForServerState("replicas", "r1", false);
  ASSERT_TRUE(down.ok()) << down << "\n" << haproxy.LogTail();
  std::cerr << "r1 marked DOWN " << absl::FormatDuration(absl::Now() - marked_from)
            << " after /ready turned 503\n";
  EXPECT_TRUE(absl::StartsWith(StatStatus(haproxy, "r1"), "DOWN")) << StatStatus(haproxy, "r1");

  const int r1_served = ServedCount(*backends[0]);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<HttpResponse> r = HttpGet(haproxy.host(), haproxy.port(), "/after-down");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200);
    EXPECT_TRUE(absl::StartsWith(r->body, "hello r2 ")) << r->body;
  }
  EXPECT_EQ(ServedCount(*backends[0]), r1_served);

  // Ready again: back UP.
  ASSERT_EQ(std::remove(unready_r1.c_str()), 0);
  absl::Status up = haproxy.WaitForServerState("replicas", "r1", true);
  EXPECT_TRUE(up.ok()) << up;

  // With every backend down HAProxy answers 503 itself.
  ASSERT_TRUE(backends[0]->Kill().ok());
  ASSERT_TRUE(backends[1]->Kill().ok());
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r1", false).ok());
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r2", false).ok());
  absl::StatusOr<HttpResponse> none = HttpGet(haproxy.host(), haproxy.port(), "/x");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->status, 503);
}

TEST(HaproxyServerTest, RejectsABadConfigWithInvalidArgument) {
  HaproxyServer::Options options;
  options.config =
      "defaults\n  mode http\nfrontend fe\n  bind 127.0.0.1:{{PORT}}\n"
      "  no_such_keyword here\n";
  HaproxyServer haproxy(options);
  absl::Status started = haproxy.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument) << started;
  EXPECT_FALSE(haproxy.IsRunning());
}

}  // namespace
}  // namespace testing
}  // namespace gonka
