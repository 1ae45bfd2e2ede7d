// The upgrade plan from the chain, against real processes: devchain (gRPC and abci_query) with
// partial upgrades from genesis and scheduled at run time (POST /devchain/partial_upgrade),
// read by InferenceQueryClient::PartialUpgradeAll page by page over both transports and
// deleted once their height passed; then MlNodeAdmin wired with ChainUpgradePlan as
// node-manager wires it, with PostgreSQL and a development ML node serving version v2:
// upgrade-status answers "No upgrade plan active", then v2's health once devchain has a plan
// for v2, then 502 once devchain is down.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/net/http_client.h"
#include "gonka/nodemanager/admin_api.h"
#include "gonka/nodemanager/upgrade_plan.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nodemanager {
namespace {

namespace ipb = ::inference::inference;
using PageRequest = ::cosmos::base::query::v1beta1::PageRequest;

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

std::string Key(uint64_t height) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, height >>= 8) key[i] = static_cast<char>(height & 0xff);
  return key;
}

class UpgradePlanTest : public ::testing::Test {
 protected:
  void StartChain(const std::string& genesis_json) {
    const std::string genesis = dir_.Join("genesis.json");
    std::ofstream(genesis) << genesis_json;
    grpc_port_ = testing::FreePort();
    testing::DaemonProcess::Options d;
    d.binary = "daemons/devchain/devchain";
    d.args = {"--bind=127.0.0.1",     "--port={{PORT}}",
              "--drain-announce=0s",  "--block-interval=100ms",
              "--genesis=" + genesis, absl::StrCat("--grpc-address=127.0.0.1:", grpc_port_)};
    chain_ = std::make_unique<testing::DaemonProcess>(d);
    absl::Status s = chain_->Start();
    ASSERT_TRUE(s.ok()) << s << chain_->LogTail();
  }

  net::HttpResponse Schedule(const std::string& body) {
    auto r = http_.Request("POST", absl::StrCat(chain_->url(), "/devchain/partial_upgrade"), body,
                           net::HttpCallOptions::Timeout(absl::Seconds(5)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpResponse{};
  }

  int64_t Tip() {
    auto r = http_.Get(absl::StrCat(chain_->url(), "/status"), {.timeout = absl::Seconds(5)});
    if (!r.ok()) return 0;
    const std::string marker = "\"latest_block_height\":\"";
    size_t at = r->body.find(marker);
    if (at == std::string::npos) return 0;
    at += marker.size();
    int64_t height = 0;
    absl::SimpleAtoi(r->body.substr(at, r->body.find('"', at) - at), &height);
    return height;
  }

  testing::TempDir dir_{"upgrade-plan"};
  std::unique_ptr<testing::DaemonProcess> chain_;
  int grpc_port_ = 0;
  net::HttpClient http_;
};

// Pages over gRPC and abci_query alike; genesis and run-time upgrades in one ascending list; a
// passed height deleted; the route's 400s.
TEST_F(UpgradePlanTest, PartialUpgradesPagedOverBothTransports) {
  StartChain(R"({"inference": {"partial_upgrades": [
      {"height": "2000000", "node_version": "v3", "name": "genesis-b"},
      {"height": "1000000", "node_version": "v2", "name": "genesis-a"}]}})");
  net::HttpResponse added = Schedule(R"({"height":"3000000","node_version":"v4"})");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(
      added.body,
      R"({"name":"PartialUpgrade at height 3000000 for node version v4","height":"3000000"})");
  added = Schedule(R"({"height":"1500000","apiBinariesJson":"{}","name":"named"})");
  ASSERT_EQ(added.status, 200) << added.body;

  // Each refusal names its problem; nothing is stored. (Block 2 first: height 1 must have
  // passed.)
  absl::Status grown = testing::WaitFor([&] { return Tip() >= 2; }, absl::Seconds(10),
                                        absl::Milliseconds(20), "block 2");
  ASSERT_TRUE(grown.ok()) << grown;
  for (const auto& [body, expect] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "body: not a PartialUpgrade JSON object"},
           {R"({"height":"5","nodeVersion":"v2","extra":1})", "body: not a PartialUpgrade"},
           {R"({"node_version":"v2"})", "height: required"},
           {R"({"height":"1","node_version":"v2"})", "height: must be above the latest block"}}) {
    net::HttpResponse refused = Schedule(body);
    EXPECT_EQ(refused.status, 400) << body;
    EXPECT_TRUE(absl::StrContains(refused.body, expect)) << body << " → " << refused.body;
  }

  chain::InferenceQueryClient grpc(
      {.grpc_address = absl::StrCat("127.0.0.1:", grpc_port_), .timeout = absl::Seconds(5)});
  chain::InferenceQueryClient abci({.rpc_url = chain_->url(), .timeout = absl::Seconds(5)});
  // A run-time upgrade is in the state from the next block on.
  absl::Status visible = testing::WaitFor(
      [&] {
        auto all = ReadPartialUpgrades(grpc);
        return all.ok() && all->size() == 4;
      },
      absl::Seconds(10), absl::Milliseconds(50), "4 partial upgrades");
  ASSERT_TRUE(visible.ok()) << visible;

  for (chain::InferenceQueryClient* client : {&grpc, &abci}) {
    SCOPED_TRACE(client == &grpc ? "grpc" : "abci_query");
    PageRequest page;
    page.set_limit(3);
    page.set_count_total(true);
    chain::QueryMeta meta;
    auto first = client->PartialUpgradeAll(page, 0, &meta);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(meta.transport,
              client == &grpc ? chain::QueryTransport::kGrpc : chain::QueryTransport::kAbciQuery);
    ASSERT_EQ(first->partialupgrade_size(), 3);
    EXPECT_EQ(first->partialupgrade(0).name(), "genesis-a");
    EXPECT_EQ(first->partialupgrade(0).node_version(), "v2");
    EXPECT_EQ(first->partialupgrade(1).name(), "named");
    EXPECT_EQ(first->partialupgrade(1).api_binaries_json(), "{}");
    EXPECT_EQ(first->partialupgrade(2).height(), 2000000u);
    EXPECT_EQ(first->pagination().total(), 4u);
    EXPECT_EQ(first->pagination().next_key(), Key(3000000));  // the height, 8 bytes big-endian
    PageRequest next;
    next.set_key(first->pagination().next_key());
    auto second = client->PartialUpgradeAll(next, meta.height);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_EQ(second->partialupgrade_size(), 1);
    EXPECT_EQ(second->partialupgrade(0).height(), 3000000u);
    EXPECT_TRUE(second->pagination().next_key().empty());
    PageRequest both;
    both.set_key(Key(1));
    both.set_offset(1);
    EXPECT_EQ(client->PartialUpgradeAll(both).status().code(), absl::StatusCode::kInvalidArgument);

    auto all = ReadPartialUpgrades(*client, 100);
    ASSERT_TRUE(all.ok()) << all.status();
    ASSERT_EQ(all->size(), 4u);
    // The plan by Gonka's rule: "named" has an empty binaries object (skipped), the last one
    // with a node version wins.
    UpgradePlan plan = PlanFromPartialUpgrades(*all);
    EXPECT_EQ(plan.name, "PartialUpgrade at height 3000000 for node version v4");
    EXPECT_EQ(plan.height, 3000000);
    EXPECT_EQ(plan.node_version, "v4");
  }

  // Deleted once a block above its height ended (Gonka's EndBlock): schedule one just ahead.
  const int64_t soon = Tip() + 3;
  ASSERT_GT(soon, 3);
  added = Schedule(absl::StrCat(R"({"height":")", soon, R"(","node_version":"v5"})"));
  ASSERT_EQ(added.status, 200) << added.body;
  auto count = [&] {
    auto all = ReadPartialUpgrades(grpc);
    return all.ok() ? static_cast<int>(all->size()) : -1;
  };
  absl::Status appeared = testing::WaitFor([&] { return count() == 5; }, absl::Seconds(10),
                                           absl::Milliseconds(20), "the near upgrade");
  EXPECT_TRUE(appeared.ok()) << appeared;
  absl::Status deleted = testing::WaitFor([&] { return count() == 4; }, absl::Seconds(10),
                                          absl::Milliseconds(50), "the passed upgrade deleted");
  EXPECT_TRUE(deleted.ok()) << deleted;
  // Still there when asked at a height at which it was scheduled and not yet passed.
  PageRequest page;
  auto past = grpc.PartialUpgradeAll(page, soon);
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_EQ(past->partialupgrade_size(), 5);
}

// The upgrade module's plan: devchain answers CurrentPlan over both transports (none, then the
// plan scheduled through /devchain/upgrade_plan, then none once its height ran); ChainUpgradePlan
// puts it over the partial upgrades' plan while it is scheduled.
TEST_F(UpgradePlanTest, UpgradeModulePlanOverThePartialUpgrades) {
  StartChain(R"({"inference": {"partial_upgrades": [
      {"height": "1000000000", "node_version": "v2", "name": "partial-v2"}]}})");
  chain::InferenceQueryClient grpc(
      {.grpc_address = absl::StrCat("127.0.0.1:", grpc_port_), .timeout = absl::Seconds(2)});
  chain::InferenceQueryClient abci({.rpc_url = chain_->url(), .timeout = absl::Seconds(2)});
  auto queries = std::make_shared<chain::InferenceQueryClient>(chain::InferenceQueryClientOptions{
      .grpc_address = absl::StrCat("127.0.0.1:", grpc_port_), .timeout = absl::Seconds(2)});
  UpgradePlanFn plan = ChainUpgradePlan(queries, {.ttl = absl::ZeroDuration()});
  ASSERT_TRUE(testing::WaitFor([&] { return Tip() >= 2; }, absl::Seconds(10)).ok());

  for (chain::InferenceQueryClient* client : {&grpc, &abci}) {
    auto none = client->CurrentPlan();
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_FALSE(none->has_plan());
  }
  absl::StatusOr<UpgradePlan> p = plan();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "partial-v2");
  EXPECT_EQ(p->node_version, "v2");

  auto post = [&](const std::string& body) {
    auto r = http_.Request("POST", absl::StrCat(chain_->url(), "/devchain/upgrade_plan"), body,
                           net::HttpCallOptions::Timeout(absl::Seconds(5)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
  };
  // The route's refusals name the problem.
  EXPECT_TRUE(absl::StartsWith(post("{"), "400 ")) << post("{");
  EXPECT_TRUE(absl::StrContains(post(R"({"height":"1200000000"})"), "name")) << "no name";
  EXPECT_TRUE(absl::StrContains(post(R"({"name":"x","height":"1"})"), "height")) << "past";
  EXPECT_TRUE(absl::StrContains(post(R"({"name":"x","height":"5","bogus":1})"), "400"));

  // A plan far ahead: listed on both transports; it becomes the plan.
  const std::string info = R"({\"api_binaries\":{\"linux/amd64\":\"u\"},\"node_version\":\"v5\"})";
  ASSERT_EQ(post(absl::StrCat(R"({"name":"v0.2.0","height":"1200000000","info":")", info, R"("})")),
            R"(200 {"name":"v0.2.0","height":"1200000000"})");
  for (chain::InferenceQueryClient* client : {&grpc, &abci}) {
    absl::StatusOr<::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse> got;
    ASSERT_TRUE(testing::WaitFor(
                    [&] {
                      got = client->CurrentPlan();
                      return got.ok() && got->has_plan();
                    },
                    absl::Seconds(10))
                    .ok());
    EXPECT_EQ(got->plan().name(), "v0.2.0");
    EXPECT_EQ(got->plan().height(), 1200000000);
    EXPECT_EQ(got->plan().info(), R"({"api_binaries":{"linux/amd64":"u"},"node_version":"v5"})");
  }
  p = plan();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "v0.2.0");
  EXPECT_EQ(p->height, 1200000000);
  EXPECT_EQ(p->node_version, "v5");

  // A plan a few blocks ahead replaces it; once its height has run it is gone, and the partial
  // upgrades' plan is back.
  const int64_t soon = Tip() + 5;
  ASSERT_EQ(post(absl::StrCat(R"({"name":"soon","height":")", soon,
                              R"(","info":"{\"node_version\":\"v6\"}"})")),
            absl::StrCat(R"(200 {"name":"soon","height":")", soon, R"("})"));
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::StatusOr<UpgradePlan> q = plan();
                    return q.ok() && q->name == "soon" && q->node_version == "v6";
                  },
                  absl::Seconds(10))
                  .ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Tip() >= soon; }, absl::Seconds(10)).ok());
  auto gone = grpc.CurrentPlan();
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_plan());
  p = plan();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "partial-v2");
}

// upgrade-status through MlNodeAdmin with the chain source, as node-manager wires it.
TEST_F(UpgradePlanTest, UpgradeStatusFollowsTheChain) {
  StartChain(R"({"inference": {"models": [{"id": "Qwen/Qwen3-8B"}]}})");
  testing::PostgresServer pg;
  ASSERT_TRUE(pg.Start().ok());
  testing::DevMlNode ml(testing::DevMlNode::Options{.extra_args = {"--versions=v2"}});
  ASSERT_TRUE(ml.Start().ok()) << ml.LogTail();

  const std::string token_file = dir_.Join("admin-tokens");
  std::ofstream(token_file) << "operator " << kToken << "\n";
  chmod(token_file.c_str(), 0600);
  const int port = testing::FreePort();
  MlNodeAdminOptions options;
  options.pg = {.conninfo = pg.url()};
  options.address = absl::StrCat("127.0.0.1:", port);
  options.token_file = token_file;
  options.chain = {.grpc_address = absl::StrCat("127.0.0.1:", grpc_port_),
                   .rpc_url = chain_->url(),
                   .timeout = absl::Seconds(2)};
  options.upgrade_plan =
      ChainUpgradePlan(std::make_shared<chain::InferenceQueryClient>(options.chain),
                       {.ttl = absl::Milliseconds(200)});
  options.ml_node_timeout = absl::Seconds(3);
  auto admin = MlNodeAdmin::Start(options, [](const auto&) { return absl::OkStatus(); });
  ASSERT_TRUE(admin.ok()) << admin.status();

  auto call = [&](const std::string& method, const std::string& path, std::string body = "") {
    net::HttpCallOptions o = net::HttpCallOptions::Timeout(absl::Seconds(10));
    o.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
    auto r =
        http_.Request(method, absl::StrCat("http://127.0.0.1:", port, path), std::move(body), o);
    return r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
  };
  const std::string created = call(
      "POST", "/admin/v1/nodes",
      absl::StrCat(R"({"id":"n1","host":"127.0.0.1","inference_port":)", ml.inference_port(),
                   R"(,"poc_port":)", ml.port(), R"(,"models":{"Qwen/Qwen3-8B":{"args":[]}}})"));
  ASSERT_TRUE(absl::StartsWith(created, "200 ")) << created;

  // No partial upgrade on the chain.
  EXPECT_EQ(call("GET", "/admin/v1/nodes/upgrade-status"),
            R"(200 {"message":"No upgrade plan active"})");
  // An upgrade with binaries but no node version is a plan without an ML-node version.
  ASSERT_EQ(Schedule(R"({"height":"900000000","name":"api-only",)"
                     R"("api_binaries_json":"{\"api_binaries\":{\"linux/amd64\":\"u\"}}"})")
                .status,
            200);
  // Then one for v2: once the cache (200 ms) and a block pass, v2's health on every node.
  ASSERT_EQ(Schedule(R"({"height":"1000000000","node_version":"v2"})").status, 200);
  std::string last;
  absl::Status planned = testing::WaitFor(
      [&] {
        last = call("GET", "/admin/v1/nodes/upgrade-status");
        return last == R"(200 {"n1":{"is_alive":true}})";
      },
      absl::Seconds(10), absl::Milliseconds(50), "upgrade-status for v2");
  EXPECT_TRUE(planned.ok()) << planned << ": " << last;
  // A later plan for a version the node does not serve: is_alive false with the reason.
  ASSERT_EQ(Schedule(R"({"height":"1100000000","node_version":"v3"})").status, 200);
  planned = testing::WaitFor(
      [&] {
        last = call("GET", "/admin/v1/nodes/upgrade-status");
        return absl::StartsWith(last, R"(200 {"n1":{"is_alive":false,"error":")");
      },
      absl::Seconds(10), absl::Milliseconds(50), "upgrade-status for v3");
  EXPECT_TRUE(planned.ok()) << planned << ": " << last;

  // The chain down: 502 naming the plan source's failure (within the cache time).
  ASSERT_TRUE(chain_->Kill().ok());
  absl::Status down = testing::WaitFor(
      [&] {
        last = call("GET", "/admin/v1/nodes/upgrade-status");
        return absl::StartsWith(last, R"(502 {"error":"upgrade plan: )");
      },
      absl::Seconds(15), absl::Milliseconds(100), "upgrade-status 502");
  EXPECT_TRUE(down.ok()) << down << ": " << last;
  EXPECT_TRUE(absl::StrContains(last, "PartialUpgradeAll")) << last;
  (*admin)->Stop();
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
