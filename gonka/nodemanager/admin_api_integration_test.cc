// The admin API over HTTP against a real PostgreSQL: every route with Gonka's answer shapes,
// every 4xx naming its field or id, refusal without (or with a wrong) bearer token, and the API
// off (403) without an authenticator.
#include "gonka/nodemanager/admin_api.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

std::string NodeBody(const std::string& id, int poc_port) {
  return absl::StrCat(R"({"id":")", id, R"(","host":"127.0.0.1","inference_segment":"",)",
                      R"("inference_port":)", poc_port + 1, R"(,"poc_segment":"","poc_port":)",
                      poc_port,
                      R"(,"models":{"Qwen/Qwen3-8B":{"args":["--tp","1"]}},"max_concurrent":10,)",
                      R"("hardware":[{"type":"H100","count":1}]})");
}

class AdminApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new testing::PostgresServer();
    absl::Status s = pg_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    auto pool = pg::Pool::Open({.conninfo = pg_->url()});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto store = NodeStore::Open(pool_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(pool_->Exec("DELETE FROM nodemanager_ml_nodes").ok());

    const std::string token_file = dir_.Join("admin-tokens");
    {
      std::ofstream out(token_file);
      out << "operator " << kToken << "\n";
    }
    chmod(token_file.c_str(), 0600);
    auto auth = BearerAuth::Open({.token_file = token_file, .what = "--admin-token-file"});
    ASSERT_TRUE(auth.ok()) << auth.status();
    server_ = std::make_unique<net::HttpServer>(net::HttpServerOptions{.name = "admin-test"});
    AddAdminRoutes(server_.get(), {.store = store_.get(),
                                   .authenticate = MakeHttpAuthenticator(
                                       std::shared_ptr<BearerAuth>(std::move(*auth)), false,
                                       "admin API", "--admin-token-file")});
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(absl::Now() + absl::Seconds(5)); }

  net::HttpResponse Call(const std::string& method, const std::string& path, std::string body = "",
                         const std::string& token = kToken, net::HttpServer* server = nullptr) {
    net::HttpCallOptions options = net::HttpCallOptions::Timeout(absl::Seconds(10));
    if (!token.empty()) options.headers.Set("Authorization", absl::StrCat("Bearer ", token));
    options.headers.Set("Content-Type", "application/json");
    const int port = (server ? server : server_.get())->port();
    auto response = client_.Request(method, absl::StrCat("http://127.0.0.1:", port, path),
                                    std::move(body), options);
    EXPECT_TRUE(response.ok()) << method << " " << path << ": " << response.status();
    return response.ok() ? *response : net::HttpResponse{.status = 0};
  }
  // The answer is `status` and its "error" starts with `prefix`.
  void ExpectError(const net::HttpResponse& r, int status, const std::string& prefix) {
    EXPECT_EQ(r.status, status) << r.body;
    simdjson::dom::parser parser;
    std::string_view error;
    ASSERT_EQ(parser.parse(r.body)["error"].get_string().get(error), simdjson::SUCCESS) << r.body;
    EXPECT_TRUE(absl::StartsWith(absl::string_view(error.data(), error.size()), prefix))
        << r.body << " (want " << prefix << "...)";
  }

  static testing::PostgresServer* pg_;
  testing::TempDir dir_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<NodeStore> store_;
  std::unique_ptr<net::HttpServer> server_;
  net::HttpClient client_;
};
testing::PostgresServer* AdminApiTest::pg_ = nullptr;

TEST_F(AdminApiTest, EveryRouteWithGonkasShapes) {
  // POST /admin/v1/nodes → 200 and the node as stored.
  net::HttpResponse r = Call("POST", "/admin/v1/nodes", NodeBody("n1", 8080));
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(e["id"]), "n1");
  EXPECT_EQ(int64_t(e["poc_port"]), 8080);
  EXPECT_EQ(int64_t(e["inference_port"]), 8081);
  EXPECT_EQ(int64_t(e["max_concurrent"]), 10);
  EXPECT_EQ(std::string_view(e["models"]["Qwen/Qwen3-8B"]["args"].at(0)), "--tp");
  EXPECT_EQ(std::string_view(e["hardware"].at(0)["type"]), "H100");

  // POST /admin/v1/nodes/batch → 201 with the nodes it created; an existing id is skipped.
  r = Call("POST", "/admin/v1/nodes/batch",
           absl::StrCat("[", NodeBody("n1", 1000), ",", NodeBody("n2", 9090), "]"));
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  ASSERT_EQ(simdjson::dom::array(e).size(), 1u);
  EXPECT_EQ(std::string_view(e.at(0)["id"]), "n2");

  // GET /admin/v1/nodes → [{"node": ..., "state": {"admin_state": {"enabled": ...}}}].
  r = Call("GET", "/admin/v1/nodes");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  ASSERT_EQ(simdjson::dom::array(e).size(), 2u);
  EXPECT_EQ(std::string_view(e.at(0)["node"]["id"]), "n1");
  EXPECT_EQ(int64_t(e.at(0)["node"]["poc_port"]), 8080);  // the batch did not overwrite it
  EXPECT_TRUE(bool(e.at(0)["state"]["admin_state"]["enabled"]));
  EXPECT_EQ(std::string_view(e.at(1)["node"]["id"]), "n2");

  // POST /admin/v1/nodes/{id}/disable and /enable → Gonka's message.
  r = Call("POST", "/admin/v1/nodes/n1/disable");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(e["message"]), "node disabled successfully");
  EXPECT_EQ(std::string_view(e["node_id"]), "n1");
  r = Call("GET", "/admin/v1/nodes/n1");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_FALSE(bool(e["state"]["admin_state"]["enabled"]));
  r = Call("POST", "/admin/v1/nodes/n1/enable");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(e["message"]), "node enabled successfully");
  EXPECT_TRUE(store_->Get("n1")->enabled);

  // PUT /admin/v1/nodes/{id}: the body's id may be left out.
  std::string update = NodeBody("n2", 7000);
  update.replace(update.find(R"("id":"n2",)"), 10, "");
  r = Call("PUT", "/admin/v1/nodes/n2", update);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(e["poc_port"]), 7000);
  EXPECT_EQ(store_->Get("n2")->poc_port, 7000);

  // DELETE /admin/v1/nodes/{id} → true.
  r = Call("DELETE", "/admin/v1/nodes/n2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  EXPECT_EQ(store_->Get("n2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Version().value_or(0) >= 6, true);
}

TEST_F(AdminApiTest, ErrorsNameTheFieldOrTheId) {
  ASSERT_EQ(Call("POST", "/admin/v1/nodes", NodeBody("n1", 8080)).status, 200);

  ExpectError(Call("POST", "/admin/v1/nodes", "{"), 400, "body: not JSON");
  ExpectError(Call("POST", "/admin/v1/nodes", R"({"host":"h"})"), 400, "id:");
  std::string bad_port = NodeBody("n9", 8080);
  bad_port.replace(bad_port.find("\"poc_port\":8080"), 15, "\"poc_port\":\"8080\"");
  ExpectError(Call("POST", "/admin/v1/nodes", bad_port), 400, "poc_port:");
  ExpectError(Call("POST", "/admin/v1/nodes",
                   R"({"id":"n9","host":"h","inference_port":1,)"
                   R"("poc_port":2,"models":{}})"),
              400, "models:");
  ExpectError(Call("POST", "/admin/v1/nodes/batch",
                   absl::StrCat("[", NodeBody("a", 1000), R"(,{"id":"b"}])")),
              400, "[1].host:");
  EXPECT_EQ(store_->Get("a").status().code(), absl::StatusCode::kNotFound);  // none stored
  ExpectError(Call("PUT", "/admin/v1/nodes/n1", NodeBody("other", 8080)), 400, "id:");
  ExpectError(Call("PUT", "/admin/v1/nodes/n1", R"({"host":"h"})"), 400, "inference_port:");
  ExpectError(Call("POST", "/admin/v1/nodes//enable"), 400, "id:");

  ExpectError(Call("POST", "/admin/v1/nodes", NodeBody("n1", 1)), 409, "node already exists: n1");
  ExpectError(Call("GET", "/admin/v1/nodes/ghost"), 404, "node not found: ghost");
  ExpectError(Call("PUT", "/admin/v1/nodes/ghost", NodeBody("ghost", 1)), 404,
              "node not found: ghost");
  ExpectError(Call("DELETE", "/admin/v1/nodes/ghost"), 404, "node not found: ghost");
  ExpectError(Call("POST", "/admin/v1/nodes/ghost/enable"), 404, "node not found: ghost");
  ExpectError(Call("POST", "/admin/v1/nodes/ghost/disable"), 404, "node not found: ghost");
  ExpectError(Call("POST", "/admin/v1/nodes/n1/restart"), 404, "no such route");
  EXPECT_EQ(store_->Get("n1")->poc_port, 8080);
}

TEST_F(AdminApiTest, RefusedWithoutAValidToken) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/admin/v1/nodes"},
                                                        {"POST", "/admin/v1/nodes"},
                                                        {"POST", "/admin/v1/nodes/batch"},
                                                        {"GET", "/admin/v1/nodes/n1"},
                                                        {"PUT", "/admin/v1/nodes/n1"},
                                                        {"DELETE", "/admin/v1/nodes/n1"},
                                                        {"POST", "/admin/v1/nodes/n1/enable"},
                                                        {"POST", "/admin/v1/nodes/n1/disable"}}) {
    net::HttpResponse r = Call(method, path, NodeBody("n1", 8080), "");
    ExpectError(r, 401, "missing bearer token");
    EXPECT_EQ(r.headers.Get("WWW-Authenticate"), "Bearer") << method << " " << path;
    ExpectError(Call(method, path, NodeBody("n1", 8080), "wrong-token-wrong-token"), 401,
                "unknown or revoked token");
  }
  EXPECT_EQ(store_->List()->size(), 0u);  // nothing got through

  // No authenticator: the API is off.
  net::HttpServer off(net::HttpServerOptions{.name = "admin-off"});
  AddAdminRoutes(&off, {.store = store_.get()});
  ASSERT_TRUE(off.Start().ok());
  ExpectError(Call("GET", "/admin/v1/nodes", "", kToken, &off), 403, "the admin API is off");
  off.Stop(absl::Now() + absl::Seconds(5));
}

// The daemon's wiring: the first set is applied at start, a node created over HTTP reaches the
// callback within the poll interval, a disabled one leaves it.
TEST_F(AdminApiTest, MlNodeAdminAppliesWhatTheApiChanges) {
  absl::Mutex mu;
  std::vector<std::vector<std::string>> applied;
  MlNodeAdminOptions options;
  options.pg.conninfo = pg_->url();
  options.address = "127.0.0.1:0";
  options.token_file = dir_.Join("admin-tokens");
  options.poll_interval = absl::Milliseconds(50);
  auto admin = MlNodeAdmin::Start(options, [&](const std::vector<MlNodeConfig>& nodes) {
    absl::MutexLock lock(&mu);
    applied.emplace_back();
    for (const MlNodeConfig& n : nodes) applied.back().push_back(n.api_url);
    return absl::OkStatus();
  });
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return applied.size();
  };
  EXPECT_EQ(count(), 1u);  // the (empty) first set, before Start returned

  net::HttpCallOptions call = net::HttpCallOptions::Timeout(absl::Seconds(10));
  call.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
  const std::string base = absl::StrCat("http://127.0.0.1:", (*admin)->port(), "/admin/v1/nodes");
  auto r = client_.Request("POST", base, NodeBody("live", 8500), call);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(testing::WaitFor([&] { return count() == 2; }, absl::Seconds(10)).ok());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(applied.back(), std::vector<std::string>{"http://127.0.0.1:8500"});
  }
  r = client_.Request("POST", base + "/live/disable", "", call);
  ASSERT_TRUE(r.ok() && r->status == 200);
  ASSERT_TRUE(testing::WaitFor([&] { return count() == 3; }, absl::Seconds(10)).ok());
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(applied.back().empty());
  }
  (*admin)->Stop();

  options.address = "localhost";
  EXPECT_TRUE(absl::StartsWith(
      MlNodeAdmin::Start(options, [](const std::vector<MlNodeConfig>&) { return absl::OkStatus(); })
          .status()
          .message(),
      "--admin-api-address"));
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
