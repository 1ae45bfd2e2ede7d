// edge-srv with real processes: devchain (40-block epochs of 100 ms), PostgreSQL, two edge-srv
// replicas and two development ML nodes, each ML node calling back a different replica. Every
// generated artifact reaches the shared store once, whichever replica took it; duplicates are
// ignored; outside the generation window the callback is a 503, and a bad batch a 400 naming the
// field.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/chain/comet_client.h"
#include "gonka/mlnode/ml_node_client.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

constexpr char kModel[] = "Qwen/Qwen3-8B";
constexpr int64_t kStage = 40;      // epoch 1's PoC start
constexpr int64_t kWindowEnd = 65;  // + poc_stage_duration 20 + exchange 5
constexpr int kNonces = 40;

class PocCallbacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DaemonProcess::Options d;
    d.binary = "daemons/devchain/devchain";
    d.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=0s",
              "--block-interval=100ms",
              "--epoch-length=40",
              "--poc-stage-duration=20",
              "--poc-validation-duration=6",
              "--set-new-validators-delay=3"};
    devchain_ = std::make_unique<testing::DaemonProcess>(d);
    ASSERT_TRUE(devchain_->Start().ok()) << devchain_->LogTail();
    ASSERT_TRUE(pg_.Start().ok());
    for (int i = 0; i < 2; ++i) {
      testing::DaemonProcess::Options e;
      e.binary = "daemons/edge-srv/edge-srv";
      e.args = {"--bind=127.0.0.1",
                "--port={{PORT}}",
                "--drain-announce=0s",
                absl::StrCat("--chain-rpc-url=", devchain_->url()),
                absl::StrCat("--pg-url=", pg_.url()),
                "--stage-poll=50ms"};
      srv_.push_back(std::make_unique<testing::DaemonProcess>(e));
      ASSERT_TRUE(srv_.back()->Start().ok()) << srv_.back()->LogTail();
      ml_.push_back(std::make_unique<testing::DevMlNode>(
          testing::DevMlNode::Options{.nonces_per_stage = kNonces, .batch_size = 8}));
      ASSERT_TRUE(ml_.back()->Start().ok()) << ml_.back()->LogTail();
    }
    comet_ = std::make_unique<chain::CometClient>(
        chain::CometClientOptions{.rpc_url = devchain_->url()});
  }

  int64_t Height() {
    absl::StatusOr<chain::CometStatus> s = comet_->Status();
    return s.ok() ? s->latest_height : 0;
  }

  absl::StatusOr<net::HttpResponse> Post(int replica, const std::string& path,
                                         const std::string& body) {
    return http_.Post(absl::StrCat(srv_[replica]->url(), path), body, "application/json",
                      net::HttpCallOptions::Timeout(absl::Seconds(5)));
  }

  std::string Batch(int64_t block_height, int node_id, int from, int count) {
    std::string artifacts;
    for (int n = from; n < from + count; ++n) {
      absl::StrAppend(&artifacts, n > from ? "," : "", "{\"nonce\":", n,
                      ",\"vector_b64\":\"AAECAwQFBgc=\"}");
    }
    return absl::StrCat("{\"block_hash\":\"AB\",\"block_height\":", block_height,
                        ",\"public_key\":\"pk\",\"node_id\":", node_id, ",\"artifacts\":[",
                        artifacts, "]}");
  }

  std::map<std::string, int64_t> Counts() {
    absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg_.url()});
    if (!pool.ok()) return {};
    absl::StatusOr<std::unique_ptr<pocstore::PgArtifactStore>> store =
        pocstore::PgArtifactStore::Open(pool->get());
    if (!store.ok()) return {};
    absl::StatusOr<std::map<std::string, int64_t>> counts = (*store)->CountsByNode(kStage, kModel);
    return counts.ok() ? *counts : std::map<std::string, int64_t>{};
  }

  std::unique_ptr<testing::DaemonProcess> devchain_;
  testing::PostgresServer pg_;
  std::vector<std::unique_ptr<testing::DaemonProcess>> srv_;
  std::vector<std::unique_ptr<testing::DevMlNode>> ml_;
  std::unique_ptr<chain::CometClient> comet_;
  net::HttpClient http_;
};

TEST_F(PocCallbacksTest, ArtifactsFromEveryReplicaLandOnceInTheSharedStore) {
  const std::string path =
      absl::StrCat("/v2/poc-batches/", net::UrlEncode(net::UrlEncode(kModel)), "/generated");
  // Before the stage: no generation window.
  ASSERT_LT(Height(), kStage - 5) << "devchain ran ahead of the test";
  absl::StatusOr<net::HttpResponse> early = Post(0, path, Batch(kStage, 0, 0, 1));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->status, 503) << early->body;

  ASSERT_TRUE(testing::WaitFor([&] { return Height() >= kStage + 1; }, absl::Seconds(20)).ok());
  ASSERT_LT(Height(), kWindowEnd - 10);
  // Each ML node generates for the stage and calls back its own replica.
  for (int n = 0; n < 2; ++n) {
    absl::StatusOr<std::unique_ptr<mlnode::MlNodeClient>> client = mlnode::MlNodeClient::Create(
        {.api_url = ml_[n]->api_url(), .inference_url = ml_[n]->inference_url()});
    ASSERT_TRUE(client.ok()) << client.status();
    mlnode::InitGenerateRequest request;
    request.block_hash = "AB";
    request.block_height = kStage;
    request.public_key = "pk";
    request.node_id = n;
    request.node_count = 2;
    request.params = {.model = kModel, .seq_len = 256};
    request.url = mlnode::PocCallbackUrl(srv_[n]->url(), kModel);
    auto started = (*client)->InitGenerate(request, {.token = 1, .idempotency_key = "gen"},
                                           absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(started.ok()) << started.status();
  }
  std::map<std::string, int64_t> counts;
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    counts = Counts();
                    return counts["0"] == kNonces && counts["1"] == kNonces;
                  },
                  absl::Seconds(20))
                  .ok())
      << "node 0: " << counts["0"] << ", node 1: " << counts["1"];

  // The same nonces again through the other replica: accepted, nothing new stored.
  absl::StatusOr<net::HttpResponse> again = Post(1, path, Batch(kStage, 0, 0, 8));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200) << again->body;
  counts = Counts();
  EXPECT_EQ(counts["0"], kNonces);

  // Bad batches: 400 naming the field; no model: 404.
  auto expect = [&](const std::string& p, const std::string& body, int status,
                    const std::string& field) {
    absl::StatusOr<net::HttpResponse> r = Post(0, p, body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status) << body << " → " << r->body;
    EXPECT_NE(r->body.find(field), std::string::npos) << r->body;
  };
  expect(path, Batch(kStage + 1, 0, 100, 1), 400, "block_height");
  expect(path, Batch(kStage, -1, 100, 1), 400, "node_id");
  expect(path,
         absl::StrCat("{\"block_height\":", kStage,
                      ",\"node_id\":0,\"artifacts\":[{\"nonce\":1,\"vector_b64\":\"@@\"}]}"),
         400, "artifacts[0].vector_b64");
  expect(path, "not json", 400, "body");
  expect("/v2/poc-batches/generated", Batch(kStage, 0, 100, 1), 404, "not found");

  // After the exchange deadline: 503.
  ASSERT_TRUE(testing::WaitFor([&] { return Height() > kWindowEnd; }, absl::Seconds(20)).ok());
  absl::StatusOr<net::HttpResponse> late = Post(1, path, Batch(kStage, 0, 200, 1));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->status, 503) << late->body;
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
