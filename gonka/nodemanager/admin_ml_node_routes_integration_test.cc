// The admin API's ML-node routes (upgrade-status, version-status, test, launch-plan) as
// node-manager wires them (MlNodeAdmin), against real processes: PostgreSQL for the node store,
// devchain for the governance models (ModelsAll over abci_query) and two development ML nodes,
// one of which also serves a versioned URL. Each route: its happy path in Gonka's shape, 401
// without the token, 404 for an unknown node, 400 naming the bad field, and a node that is down
// answered as Gonka answers it (is_alive false; a FAILED, retryable test).
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/metrics.h"
#include "gonka/net/http_client.h"
#include "gonka/nodemanager/admin_api.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";
constexpr char kModel[] = "Qwen/Qwen3-8B";

// Governance: Qwen with its serving args; "m2" without.
constexpr char kGenesis[] = R"({"inference": {"models": [
  {"id": "Qwen/Qwen3-8B", "model_args": ["--max-model-len", "8192", "--tp", "2"]},
  {"id": "m2"}]}})";

std::string NodeBody(const std::string& id, const testing::DevMlNode& ml,
                     const std::string& models_json) {
  return absl::StrCat(R"({"id":")", id, R"(","host":"127.0.0.1","inference_port":)",
                      ml.inference_port(), R"(,"poc_port":)", ml.port(), R"(,"models":)",
                      models_json, "}");
}

// Stands in for the chain's upgrade plan (the daemon reads it from PartialUpgradeAll through
// ChainUpgradePlan, tested in upgrade_plan_integration_test): here each case sets its own.
class PlanSource {
 public:
  void Set(absl::StatusOr<UpgradePlan> plan) {
    absl::MutexLock lock(&mu_);
    plan_ = std::move(plan);
  }
  absl::StatusOr<UpgradePlan> Get() {
    absl::MutexLock lock(&mu_);
    return plan_;
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<UpgradePlan> plan_ = UpgradePlan{};
};

class AdminMlNodeRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new testing::PostgresServer();
    absl::Status s = pg_->Start();
    ASSERT_TRUE(s.ok()) << s;
    dir_ = new testing::TempDir("admin-ml-routes");
    const std::string genesis = dir_->Join("genesis.json");
    std::ofstream(genesis) << kGenesis;
    testing::DaemonProcess::Options d;
    d.binary = "daemons/devchain/devchain";
    d.args = {"--bind=127.0.0.1", "--port={{PORT}}", "--drain-announce=0s",
              "--block-interval=200ms", "--genesis=" + genesis};
    chain_ = new testing::DaemonProcess(d);
    s = chain_->Start();
    ASSERT_TRUE(s.ok()) << s << chain_->LogTail();
  }
  static void TearDownTestSuite() {
    delete chain_;
    delete dir_;
    delete pg_;
  }

  void SetUp() override {
    ml1_ = std::make_unique<testing::DevMlNode>(
        testing::DevMlNode::Options{.extra_args = {"--versions=v2"}});
    ml2_ = std::make_unique<testing::DevMlNode>(testing::DevMlNode::Options{});
    ASSERT_TRUE(ml1_->Start().ok()) << ml1_->LogTail();
    ASSERT_TRUE(ml2_->Start().ok()) << ml2_->LogTail();

    const std::string token_file = dir_->Join("admin-tokens");
    std::ofstream(token_file) << "operator " << kToken << "\n";
    chmod(token_file.c_str(), 0600);
    port_ = testing::FreePort();
    MlNodeAdminOptions options;
    options.pg = {.conninfo = pg_->url()};
    options.address = absl::StrCat("127.0.0.1:", port_);
    options.token_file = token_file;
    options.chain = {.rpc_url = chain_->url(), .timeout = absl::Seconds(5)};
    options.upgrade_plan = [this] { return plans_.Get(); };
    options.ml_node_timeout = absl::Seconds(3);
    auto admin = MlNodeAdmin::Start(options, [](const auto&) { return absl::OkStatus(); });
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    // A fresh store per test.
    auto nodes = admin_->store()->List();
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    for (const AdminNode& n : *nodes) ASSERT_TRUE(admin_->store()->Delete(n.id).ok());

    ASSERT_EQ(Call("POST", "/admin/v1/nodes",
                   NodeBody("n1", *ml1_,
                            R"({"Qwen/Qwen3-8B":{"args":["--tp","4","--gpu-memory-utilization",)"
                            R"("0.9"]},"not-governed":{"args":[]}})"))
                  .status,
              200);
    ASSERT_EQ(
        Call("POST", "/admin/v1/nodes", NodeBody("n2", *ml2_, R"({"m2":{"args":[]}})")).status,
        200);
  }
  void TearDown() override { admin_.reset(); }

  net::HttpResponse Call(const std::string& method, const std::string& path, std::string body = "",
                         bool with_token = true) {
    net::HttpCallOptions options = net::HttpCallOptions::Timeout(absl::Seconds(60));
    if (with_token) options.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
    options.headers.Set("Content-Type", "application/json");
    auto response = client_.Request(method, absl::StrCat("http://127.0.0.1:", port_, path),
                                    std::move(body), options);
    EXPECT_TRUE(response.ok()) << method << " " << path << ": " << response.status();
    return response.ok() ? *response : net::HttpResponse{.status = 0};
  }

  // `r` is `status` and its "error" starts with `prefix`.
  static void ExpectError(const net::HttpResponse& r, int status, const std::string& prefix) {
    EXPECT_EQ(r.status, status) << r.body;
    simdjson::dom::parser parser;
    std::string_view error;
    ASSERT_EQ(parser.parse(r.body)["error"].get_string().get(error), simdjson::SUCCESS) << r.body;
    EXPECT_TRUE(absl::StartsWith(absl::string_view(error.data(), error.size()), prefix))
        << r.body << " (want " << prefix << "...)";
  }

  // Every route refuses a request without the token (401 with WWW-Authenticate).
  void ExpectUnauthenticated(const std::string& method, const std::string& path,
                             const std::string& body = "") {
    net::HttpResponse r = Call(method, path, body, /*with_token=*/false);
    EXPECT_EQ(r.status, 401) << method << " " << path << ": " << r.body;
    EXPECT_EQ(r.headers.Get("WWW-Authenticate"), "Bearer") << method << " " << path;
  }

  std::string MlState(testing::DevMlNode& ml) {
    auto r = client_.Get(absl::StrCat(ml.api_url(), "/api/v1/state"),
                         net::HttpCallOptions::Timeout(absl::Seconds(5)));
    return r.ok() ? r->body : r.status().ToString();
  }

  static testing::PostgresServer* pg_;
  static testing::TempDir* dir_;
  static testing::DaemonProcess* chain_;
  std::unique_ptr<testing::DevMlNode> ml1_, ml2_;
  PlanSource plans_;
  int port_ = 0;
  std::unique_ptr<MlNodeAdmin> admin_;
  net::HttpClient client_;
};
testing::PostgresServer* AdminMlNodeRoutesTest::pg_ = nullptr;
testing::TempDir* AdminMlNodeRoutesTest::dir_ = nullptr;
testing::DaemonProcess* AdminMlNodeRoutesTest::chain_ = nullptr;

TEST_F(AdminMlNodeRoutesTest, LaunchPlanMergesGovernanceArgsAndSkipsUngovernedModels) {
  net::HttpResponse r = Call("GET", "/admin/v1/nodes/n1/launch-plan");
  EXPECT_EQ(r.status, 200) << r.body;
  // Governance's args first; the node's --tp is governance's option and is dropped.
  EXPECT_EQ(r.body,
            R"({"node_id":"n1","plans":[{"model_id":"Qwen/Qwen3-8B","args":["--max-model-len",)"
            R"("8192","--tp","2","--gpu-memory-utilization","0.9"]}],)"
            R"("skipped_models":["not-governed"]})");
  r = Call("GET", "/admin/v1/nodes/n2/launch-plan");
  EXPECT_EQ(r.body, R"({"node_id":"n2","plans":[{"model_id":"m2","args":[]}]})");
  // The ML node is never asked: a node that is down has the same plan.
  ASSERT_TRUE(ml2_->Kill().ok());
  EXPECT_EQ(Call("GET", "/admin/v1/nodes/n2/launch-plan").status, 200);

  ExpectError(Call("GET", "/admin/v1/nodes/nope/launch-plan"), 404, "node not found: nope");
  ExpectUnauthenticated("GET", "/admin/v1/nodes/n1/launch-plan");
  // The chain down: the governance query fails → 502 naming it.
  ASSERT_TRUE(chain_->Stop().ok());
  ExpectError(Call("GET", "/admin/v1/nodes/n1/launch-plan"), 502, "get governance models: ");
  ASSERT_TRUE(chain_->Start().ok()) << chain_->LogTail();
}

TEST_F(AdminMlNodeRoutesTest, VersionStatusProbesEveryNodesVersionedState) {
  net::HttpResponse r = Call("POST", "/admin/v1/nodes/version-status", R"({"version":"v2"})");
  EXPECT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["n1"]["is_alive"].get_bool().value_unsafe(), true) << r.body;
  EXPECT_EQ(doc["n1"]["error"].error(), simdjson::NO_SUCH_FIELD) << r.body;
  // ml2 serves no "v2": its versioned URL answers 404.
  EXPECT_EQ(doc["n2"]["is_alive"].get_bool().value_unsafe(), false) << r.body;
  std::string_view error;
  ASSERT_EQ(doc["n2"]["error"].get_string().get(error), simdjson::SUCCESS) << r.body;
  EXPECT_TRUE(absl::StrContains(absl::string_view(error.data(), error.size()),
                                "/v2: ml node GET /api/v1/state: rejected (404)"))
      << r.body;

  ExpectError(Call("POST", "/admin/v1/nodes/version-status", "{}"), 400, "version: required");
  ExpectError(Call("POST", "/admin/v1/nodes/version-status", R"({"version":""})"), 400,
              "version: required");
  ExpectError(Call("POST", "/admin/v1/nodes/version-status", R"({"version":7})"), 400,
              "version: required");
  ExpectError(Call("POST", "/admin/v1/nodes/version-status", R"({"version":"../x"})"), 400,
              "version: 1-64 characters");
  ExpectError(Call("POST", "/admin/v1/nodes/version-status", "not json"), 400, "body: ");
  ExpectUnauthenticated("POST", "/admin/v1/nodes/version-status", R"({"version":"v2"})");

  // A node that is down: 200 with is_alive false and the reason (Gonka's report), within the
  // ML-node deadline.
  ASSERT_TRUE(ml1_->Kill().ok());
  const absl::Time start = absl::Now();
  r = Call("POST", "/admin/v1/nodes/version-status", R"({"version":"v2"})");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["n1"]["is_alive"].get_bool().value_unsafe(), false) << r.body;
  EXPECT_EQ(doc["n1"]["error"].error(), simdjson::SUCCESS) << r.body;
}

TEST_F(AdminMlNodeRoutesTest, UpgradeStatusFollowsThePlansNodeVersion) {
  net::HttpResponse r = Call("GET", "/admin/v1/nodes/upgrade-status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"message":"No upgrade plan active"})");

  plans_.Set(UpgradePlan{.name = "v0.2.0", .height = 5000, .node_version = "v2"});
  r = Call("GET", "/admin/v1/nodes/upgrade-status");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::StartsWith(r.body, R"({"n1":{"is_alive":true},"n2":{"is_alive":false,)"))
      << r.body;

  plans_.Set(absl::UnavailableError("chain down"));
  ExpectError(Call("GET", "/admin/v1/nodes/upgrade-status"), 502, "upgrade plan: chain down");
  plans_.Set(UpgradePlan{.name = "bad", .node_version = "a/b"});
  ExpectError(Call("GET", "/admin/v1/nodes/upgrade-status"), 502, "upgrade plan bad: ");
  ExpectUnauthenticated("GET", "/admin/v1/nodes/upgrade-status");
}

TEST_F(AdminMlNodeRoutesTest, TestLoadsEachModelChecksHealthAndAnInferenceThenStops) {
  // Enabled: the leader drives it → 409 (Gonka refuses a node in service).
  ExpectError(Call("POST", "/admin/v1/nodes/n1/test"), 409, "node is enabled");
  net::HttpResponse r = Call("GET", "/admin/v1/nodes/n1/test");
  EXPECT_EQ(r.body, R"({"node_id":"n1","running":false,"last":null})");

  ASSERT_EQ(Call("POST", "/admin/v1/nodes/n1/disable").status, 200);
  r = Call("POST", "/admin/v1/nodes/n1/test");
  EXPECT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  std::string_view status;
  ASSERT_EQ(doc["status"].get_string().get(status), simdjson::SUCCESS);
  EXPECT_EQ(status, "SUCCESS") << r.body;
  EXPECT_EQ(doc["load_ms"][kModel].error(), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["started_at"].error(), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["error"].error(), simdjson::NO_SUCH_FIELD) << r.body;
  // The node was loaded with the merged args, then left stopped.
  EXPECT_EQ(MlState(*ml1_), R"({"state":"STOPPED"})");
  absl::StatusOr<std::string> commands = ml1_->CommandsJson();
  ASSERT_TRUE(commands.ok());
  EXPECT_TRUE(absl::StrContains(*commands, "POST /api/v1/inference/up")) << *commands;

  // GET reads the recorded result back.
  net::HttpResponse last = Call("GET", "/admin/v1/nodes/n1/test");
  EXPECT_EQ(last.body, absl::StrCat(R"({"node_id":"n1","running":false,"last":)", r.body, "}"));
  // A changed node drops it (Gonka's Invalidate).
  ASSERT_EQ(
      Call("PUT", "/admin/v1/nodes/n1", NodeBody("n1", *ml1_, R"({"Qwen/Qwen3-8B":{"args":[]}})"))
          .status,
      200);
  EXPECT_EQ(Call("GET", "/admin/v1/nodes/n1/test").body,
            R"({"node_id":"n1","running":false,"last":null})");

  ExpectError(Call("POST", "/admin/v1/nodes/nope/test"), 404, "node not found: nope");
  ExpectError(Call("GET", "/admin/v1/nodes/nope/test"), 404, "node not found: nope");
  ExpectUnauthenticated("POST", "/admin/v1/nodes/n1/test");
  ExpectUnauthenticated("GET", "/admin/v1/nodes/n1/test");

  // The ML node down: 200 with a FAILED, retryable result naming the step (Gonka's).
  ASSERT_EQ(Call("POST", "/admin/v1/nodes/n2/disable").status, 200);
  ASSERT_TRUE(ml2_->Kill().ok());
  r = Call("POST", "/admin/v1/nodes/n2/test");
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  ASSERT_EQ(doc["status"].get_string().get(status), simdjson::SUCCESS);
  EXPECT_EQ(status, "FAILED") << r.body;
  EXPECT_EQ(doc["retryable"].get_bool().value_unsafe(), true) << r.body;
  EXPECT_EQ(doc["failing_model"].get_string().value_unsafe(), "m2") << r.body;
  std::string_view error;
  ASSERT_EQ(doc["error"].get_string().get(error), simdjson::SUCCESS);
  EXPECT_TRUE(absl::StartsWith(absl::string_view(error.data(), error.size()),
                               "failed to stop node before inference up: "))
      << r.body;

  // The metrics count each route's answers by pattern and status.
  const std::string metrics = metrics::ExposeText();
  EXPECT_TRUE(absl::StrContains(
      metrics,
      R"(gonka_nodemanager_admin_requests_total{route="POST nodes/:id/test",status="200"})"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(
      metrics,
      R"(gonka_nodemanager_admin_requests_total{route="POST nodes/:id/test",status="401"})"));
}

TEST_F(AdminMlNodeRoutesTest, TestFailsNamingTheStepThatFailed) {
  // No configured model in governance.
  ASSERT_EQ(
      Call("POST", "/admin/v1/nodes", NodeBody("n3", *ml2_, R"({"unknown/model":{"args":[]}})"))
          .status,
      200);
  ASSERT_EQ(Call("POST", "/admin/v1/nodes/n3/disable").status, 200);
  net::HttpResponse r = Call("POST", "/admin/v1/nodes/n3/test");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(
      r.body, R"("status":"FAILED","error":"no configured model is present in governance")"))
      << r.body;
  // The inference server refusing every request (500): the load fails, not retryable.
  ASSERT_EQ(Call("POST", "/admin/v1/nodes/n2/disable").status, 200);
  ASSERT_TRUE(ml2_->SetFaults(R"({"refuse_status":500})").ok());
  r = Call("POST", "/admin/v1/nodes/n2/test");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.body, R"("status":"FAILED","failing_model":"m2")")) << r.body;
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
