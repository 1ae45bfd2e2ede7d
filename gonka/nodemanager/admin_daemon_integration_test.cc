// The node-manager daemon with its ML nodes in PostgreSQL (--ml-nodes-from-store), end to end:
// devchain, nats-server, an edge-api emitting the block stream, PostgreSQL, one development ML
// node and one node-manager. The replica starts with no node; a node added over the admin REST
// API in Gonka's shape (host and ports of the ML node) is driven to INFERENCE through the URLs
// mapped from it; disabling it takes it out of the service; the admin port refuses a request
// without the token.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr char kToken[] = "admin-token-0123456789abcdef";

class AdminDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(hub_.Start().ok()) << hub_.Logs();
    ASSERT_TRUE(pg_.Start().ok());
    ml_ = std::make_unique<testing::DevMlNode>(
        testing::DevMlNode::Options{.extra_args = {"--versions=v2"}});
    ASSERT_TRUE(ml_->Start().ok()) << ml_->LogTail();

    const std::string token_file = dir_.Join("admin-tokens");
    std::ofstream(token_file) << "operator " << kToken << "\n";
    chmod(token_file.c_str(), 0600);
    admin_port_ = testing::FreePort();
    testing::DaemonProcess::Options m = testing::NodeManagerOptions(hub_, "nm-0", "");
    m.args.insert(m.args.end(),
                  {"--ml-nodes-from-store", absl::StrCat("--pg-url=", pg_.url()),
                   absl::StrCat("--admin-api-address=127.0.0.1:", admin_port_),
                   "--admin-token-file=" + token_file, "--coordination=nats", "--log-level=info"});
    manager_ = std::make_unique<testing::DaemonProcess>(m);
    ASSERT_TRUE(manager_->Start().ok()) << manager_->LogTail();
  }

  absl::StatusOr<net::HttpResponse> Admin(const std::string& method, const std::string& path,
                                          std::string body, bool with_token = true) {
    net::HttpCallOptions options = net::HttpCallOptions::Timeout(absl::Seconds(5));
    if (with_token) options.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
    return http_.Request(method, absl::StrCat("http://127.0.0.1:", admin_port_, path),
                         std::move(body), options);
  }

  // The node's "actual" state in the replica's status ("" when the service has no such node).
  std::string Actual(const std::string& id) {
    absl::StatusOr<net::HttpResponse> r = http_.Get(
        absl::StrCat(manager_->url(), "/v1/node-manager/status"), {.timeout = absl::Seconds(1)});
    if (!r.ok() || r->status != 200) return "";
    simdjson::dom::element doc;
    if (parser_.parse(r->body).get(doc) != simdjson::SUCCESS) return "";
    simdjson::dom::array nodes;
    if (doc["nodes"].get_array().get(nodes) != simdjson::SUCCESS) return "";
    for (simdjson::dom::element n : nodes) {
      std::string_view node_id, actual;
      if (n["id"].get_string().get(node_id) == simdjson::SUCCESS && node_id == id &&
          n["actual"].get_string().get(actual) == simdjson::SUCCESS) {
        return std::string(actual);
      }
    }
    return "";
  }

  testing::TempDir dir_;
  testing::ChainHub hub_{{.devchain_args = {"--block-interval=100ms", "--epoch-length=1000"}}};
  testing::PostgresServer pg_;
  std::unique_ptr<testing::DevMlNode> ml_;
  std::unique_ptr<testing::DaemonProcess> manager_;
  int admin_port_ = 0;
  net::HttpClient http_;
  simdjson::dom::parser parser_;
};

TEST_F(AdminDaemonTest, NodeAddedOverTheAdminApiIsDrivenAndDisablingRemovesIt) {
  auto refused = Admin("GET", "/admin/v1/nodes", "", /*with_token=*/false);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 401);

  const std::string node =
      absl::StrCat(R"({"id":"ml-0","host":"127.0.0.1","inference_segment":"","inference_port":)",
                   ml_->inference_port(), R"(,"poc_segment":"","poc_port":)", ml_->port(),
                   R"(,"models":{"Qwen/Qwen3-8B":{"args":[]}},"max_concurrent":10,"hardware":[]})");
  auto created = Admin("POST", "/admin/v1/nodes", node);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->status, 200) << created->body;

  // The store watcher hands it to the service; the leader brings the ML node up for inference.
  absl::Status up =
      testing::WaitFor([&] { return Actual("ml-0") == "INFERENCE"; }, absl::Seconds(30),
                       absl::Milliseconds(100), "ml-0 driven to INFERENCE");
  ASSERT_TRUE(up.ok()) << up << "\n" << manager_->LogTail(3000);

  auto disabled = Admin("POST", "/admin/v1/nodes/ml-0/disable", "");
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  ASSERT_EQ(disabled->status, 200) << disabled->body;
  absl::Status gone = testing::WaitFor([&] { return Actual("ml-0").empty(); }, absl::Seconds(15),
                                       absl::Milliseconds(100), "ml-0 out of the service");
  ASSERT_TRUE(gone.ok()) << gone << "\n" << manager_->LogTail(3000);
}

// The ML-node routes on the daemon as main.cc wires them: version-status probes the node's
// versioned URL; launch-plan reads governance models from the chain; upgrade-status reads the
// chain's partial upgrades (none, then one devchain schedules at run time); an enabled node is
// not tested; 401 without a token.
TEST_F(AdminDaemonTest, MlNodeRoutesOnTheDaemon) {
  const std::string node =
      absl::StrCat(R"({"id":"ml-0","host":"127.0.0.1","inference_port":)", ml_->inference_port(),
                   R"(,"poc_port":)", ml_->port(), R"(,"models":{"Qwen/Qwen3-8B":{"args":[]}}})");
  auto created = Admin("POST", "/admin/v1/nodes", node);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->status, 200) << created->body;

  auto versions = Admin("POST", "/admin/v1/nodes/version-status", R"({"version":"v2"})");
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->status, 200);
  EXPECT_EQ(versions->body, R"({"ml-0":{"is_alive":true}})");
  versions = Admin("POST", "/admin/v1/nodes/version-status", R"({"version":"v3"})");
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_TRUE(absl::StrContains(versions->body, R"({"ml-0":{"is_alive":false,"error":")"))
      << versions->body;
  auto bad = Admin("POST", "/admin/v1/nodes/version-status", R"({"versio":"v2"})");
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(absl::StrContains(bad->body, "version: required")) << bad->body;

  // upgrade-status reads the chain's partial upgrades (main.cc: ChainUpgradePlan on the chain
  // flags): none yet; then one scheduled on devchain for the node's version v2 shows, within the
  // source's cache time, v2's health on every node.
  auto upgrade = Admin("GET", "/admin/v1/nodes/upgrade-status", "");
  ASSERT_TRUE(upgrade.ok()) << upgrade.status();
  EXPECT_EQ(upgrade->status, 200) << upgrade->body;
  EXPECT_EQ(upgrade->body, R"({"message":"No upgrade plan active"})");
  auto scheduled =
      http_.Request("POST", absl::StrCat(hub_.devchain().url(), "/devchain/partial_upgrade"),
                    R"({"height":"1000000000","node_version":"v2"})",
                    net::HttpCallOptions::Timeout(absl::Seconds(5)));
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  ASSERT_EQ(scheduled->status, 200) << scheduled->body;
  std::string last;
  absl::Status planned = testing::WaitFor(
      [&] {
        auto r = Admin("GET", "/admin/v1/nodes/upgrade-status", "");
        last = r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
        return last == R"(200 {"ml-0":{"is_alive":true}})";
      },
      absl::Seconds(20), absl::Milliseconds(250), "upgrade-status shows the plan's version");
  ASSERT_TRUE(planned.ok()) << planned << ": " << last << "\n" << manager_->LogTail(3000);
  // main.cc wires the chain (--chain-rpc-url) for governance models; this devchain's genesis
  // governs no model, so the node's model is skipped.
  auto plan = Admin("GET", "/admin/v1/nodes/ml-0/launch-plan", "");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->status, 200) << plan->body;
  EXPECT_EQ(plan->body, R"({"node_id":"ml-0","plans":[],"skipped_models":["Qwen/Qwen3-8B"]})");
  auto test = Admin("POST", "/admin/v1/nodes/ml-0/test", "");
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->status, 409);
  EXPECT_TRUE(absl::StrContains(test->body, "node is enabled")) << test->body;
  auto missing = Admin("GET", "/admin/v1/nodes/nope/test", "");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);

  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/admin/v1/nodes/upgrade-status"},
           {"POST", "/admin/v1/nodes/version-status"},
           {"POST", "/admin/v1/nodes/ml-0/test"},
           {"GET", "/admin/v1/nodes/ml-0/test"},
           {"GET", "/admin/v1/nodes/ml-0/launch-plan"}}) {
    auto refused = Admin(method, path, R"({"version":"v2"})", /*with_token=*/false);
    ASSERT_TRUE(refused.ok()) << refused.status();
    EXPECT_EQ(refused->status, 401) << method << " " << path;
  }
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
