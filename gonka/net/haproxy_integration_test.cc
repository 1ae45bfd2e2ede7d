// Real HAProxy, configured from deploy/haproxy/haproxy.cfg.template, in front of a gonka/net
// HttpServer: requests are forwarded, and the server is marked DOWN (and gets no traffic) while
// its /ready answers 503, and UP again when it recovers.
#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace net {
namespace {

using ::gonka::testing::TestClient;

TEST(HaproxyIntegrationTest, ForwardsAndFollowsReadiness) {
  std::atomic<bool> ready{true};
  std::atomic<int> served{0};
  HttpServer server;
  server.Handle("GET", "/ready", [&](const HttpRequest&) {
    return ready ? HttpResponse::Text(200, "ready") : HttpResponse::Text(503, "draining");
  });
  server.Handle("GET", "/hello", [&](const HttpRequest& req) {
    served++;
    return HttpResponse::Text(
        200, absl::StrCat("hello via ", req.headers.Get("X-Forwarded-For"), "|", req.path));
  });
  ASSERT_TRUE(server.Start().ok());

  absl::StatusOr<std::string> path = testing::ResolveRunfile("deploy/haproxy/haproxy.cfg.template");
  ASSERT_TRUE(path.ok()) << path.status();
  std::ifstream in(*path);
  std::stringstream text;
  text << in.rdbuf();
  testing::HaproxyServer::Options options;
  options.config = text.str();
  options.port = testing::FreePort();
  options.vars = {{"BIND", absl::StrCat("127.0.0.1:", options.port)},
                  {"SERVERS", absl::StrCat("    server r1 127.0.0.1:", server.port(), " check\n")}};
  testing::HaproxyServer haproxy(options);
  ASSERT_TRUE(haproxy.Start().ok());
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r1", true, absl::Seconds(10)).ok());

  TestClient client(haproxy.port());
  auto res = client.Get("/hello");
  ASSERT_FALSE(client.error()) << client.error().message();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello via 127.0.0.1|/hello");
  EXPECT_EQ(served, 1);

  ready = false;
  absl::Status down = haproxy.WaitForServerState("replicas", "r1", false, absl::Seconds(10));
  ASSERT_TRUE(down.ok()) << down << "\n" << haproxy.LogTail();
  TestClient client2(haproxy.port());
  res = client2.Get("/hello");
  EXPECT_EQ(res.result_int(), 503);  // HAProxy: no server available
  EXPECT_EQ(served, 1);

  ready = true;
  ASSERT_TRUE(haproxy.WaitForServerState("replicas", "r1", true, absl::Seconds(10)).ok());
  TestClient client3(haproxy.port());
  EXPECT_EQ(client3.Get("/hello").result_int(), 200);
  EXPECT_EQ(served, 2);
}

}  // namespace
}  // namespace net
}  // namespace gonka
