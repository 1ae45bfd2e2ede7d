// edge-srv with real processes: devchain (100-block epochs of 100 ms), nats-server and an edge-api
// emitting the block stream (the replicas' only source for the phase), PostgreSQL, two edge-srv
// replicas and two development ML nodes, each ML node calling back a different replica. Every
// generated artifact reaches the shared store once, whichever replica took it; duplicates are
// ignored; outside the windows a callback is a 503; bad input is a 400 naming the field, stores
// nothing and is counted by reason; validation results become one MsgSubmitPocValidationsV2 per
// (stage, participant, model) on the tx queue however many replicas and retries deliver them.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/mlnode/ml_node_client.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

constexpr char kModel[] = "Qwen/Qwen3-8B";
constexpr int64_t kStage = 100;          // epoch 1's PoC start
constexpr int64_t kWindowEnd = 145;      // + poc_stage_duration 40 + exchange 5
constexpr int64_t kValidation = 145;     // StartOfPoCValidation: + 40 + validation delay 5
constexpr int64_t kValidationEnd = 165;  // + poc_validation_duration 20
constexpr int kNonces = 40;

class PocCallbacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_ = std::make_unique<testing::ChainHub>(testing::ChainHubOptions{
        .devchain_args = {"--block-interval=100ms", "--epoch-length=100", "--poc-stage-duration=40",
                          "--poc-validation-duration=20", "--set-new-validators-delay=3"}});
    ASSERT_TRUE(hub_->Start().ok()) << hub_->Logs();
    ASSERT_TRUE(pg_.Start().ok());
    for (int i = 0; i < 2; ++i) {
      ml_.push_back(std::make_unique<testing::DevMlNode>(
          testing::DevMlNode::Options{.nonces_per_stage = kNonces, .batch_size = 8}));
      ASSERT_TRUE(ml_.back()->Start().ok()) << ml_.back()->LogTail();
    }
    const std::string nodes =
        testing::WriteMlNodesFile(dir_.Join("ml-nodes.json"), {ml_[0].get(), ml_[1].get()});
    // This participant (the validator whose votes edge-srv sends).
    absl::StatusOr<crypto::SigningKey> self = crypto::KeyFromHex(std::string(64, '5'));
    ASSERT_TRUE(self.ok());
    participant_ = self->address();
    for (int i = 0; i < 2; ++i) {
      testing::DaemonProcess::Options e;
      e.binary = "daemons/edge-srv/edge-srv";
      e.name = absl::StrCat("edge-srv-", i);
      e.args = {"--bind=127.0.0.1",
                "--port={{PORT}}",
                "--drain-announce=0s",
                absl::StrCat("--nats-url=", hub_->nats().url()),
                absl::StrCat("--pg-url=", pg_.url()),
                absl::StrCat("--participant=", participant_),
                "--ml-nodes-file=" + nodes};
      // Ready once the phase is known (the first block from the stream).
      e.ready = [](testing::DaemonProcess& d) -> absl::Status {
        net::HttpClient http;
        absl::StatusOr<net::HttpResponse> r = http.Get(
            absl::StrCat(d.url(), "/ready"), net::HttpCallOptions::Timeout(absl::Seconds(1)));
        if (!r.ok()) return r.status();
        return r->status == 200 ? absl::OkStatus()
                                : absl::UnavailableError(absl::StrCat("/ready ", r->body));
      };
      srv_.push_back(std::make_unique<testing::DaemonProcess>(e));
      ASSERT_TRUE(srv_.back()->Start().ok()) << srv_.back()->LogTail();
    }
    comet_ = std::make_unique<chain::CometClient>(
        chain::CometClientOptions{.rpc_url = hub_->devchain().url()});
    // The tx queue's stream, as signerd creates it.
    auto js = nats::JetStream::Connect({.urls = {hub_->nats().url()}});
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
    queue_ = std::make_unique<txqueue::TxQueue>(js_.get());
    ASSERT_TRUE(queue_->EnsureStream().ok());
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

  std::string Batch(int64_t block_height, int node_id, int from, int count,
                    const std::string& vector_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX") {
    std::string artifacts;
    for (int n = from; n < from + count; ++n) {
      absl::StrAppend(&artifacts, n > from ? "," : "", "{\"nonce\":", n, ",\"vector_b64\":\"",
                      vector_b64, "\"}");
    }
    return absl::StrCat("{\"block_hash\":\"AB\",\"block_height\":", block_height,
                        ",\"public_key\":\"pk\",\"node_id\":", node_id, ",\"artifacts\":[",
                        artifacts, "],\"encoding\":{\"dtype\":\"f16\",\"k_dim\":12,",
                        "\"endian\":\"le\"}}");
  }

  std::string Validated(int64_t block_height, const std::string& public_key_hex, int n_total,
                        bool fraud) {
    return absl::StrCat(
        "{\"request_id\":\"r\",\"block_hash\":\"AB\",\"block_height\":", block_height,
        ",\"public_key\":\"", public_key_hex, "\",\"node_id\":1,\"n_total\":", n_total,
        ",\"n_mismatch\":", fraud ? 5 : 0, ",\"mismatch_nonces\":[],\"p_value\":", fraud ? 0 : 1,
        ",\"fraud_detected\":", fraud ? "true" : "false", "}");
  }

  std::map<std::string, int64_t> Counts() {
    absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg_.url()});
    if (!pool.ok()) return {};
    // The daemon's default store (--accumulator=smst).
    absl::StatusOr<std::unique_ptr<pocstore::ArtifactStore>> store =
        pocstore::OpenPgArtifactStore(pool->get(), pocstore::Accumulator::kSmst);
    if (!store.ok()) return {};
    absl::StatusOr<std::map<std::string, int64_t>> counts = (*store)->CountsByNode(kStage, kModel);
    return counts.ok() ? *counts : std::map<std::string, int64_t>{};
  }

  int64_t Total() {
    int64_t total = 0;
    for (const auto& [node, n] : Counts()) total += n;
    return total;
  }

  // The value of gonka_edgesrv_rejections_total for (route, reason) on replica 0.
  int64_t Rejections(const std::string& route, const std::string& reason) {
    absl::StatusOr<net::HttpResponse> r = http_.Get(
        absl::StrCat(srv_[0]->url(), "/metrics"), net::HttpCallOptions::Timeout(absl::Seconds(5)));
    if (!r.ok()) return -1;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      if (!absl::StartsWith(line, "gonka_edgesrv_rejections_total{") ||
          !absl::StrContains(line, absl::StrCat("reason=\"", reason, "\"")) ||
          !absl::StrContains(line, absl::StrCat("route=\"", route, "\""))) {
        continue;
      }
      double v = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) return static_cast<int64_t>(v);
    }
    return 0;
  }

  uint64_t QueuedMessages() {
    absl::StatusOr<nats::StreamInfo> info = js_->GetStreamInfo(txqueue::kStream);
    return info.ok() ? info->messages : 0;
  }

  testing::TempDir dir_;
  std::string participant_;
  std::unique_ptr<testing::ChainHub> hub_;
  testing::PostgresServer pg_;
  std::vector<std::unique_ptr<testing::DaemonProcess>> srv_;
  std::vector<std::unique_ptr<testing::DevMlNode>> ml_;
  std::unique_ptr<chain::CometClient> comet_;
  std::unique_ptr<nats::JetStream> js_;
  std::unique_ptr<txqueue::TxQueue> queue_;
  net::HttpClient http_;
};

TEST_F(PocCallbacksTest, ArtifactsAndValidationsFromEveryReplicaLandOnce) {
  const std::string model = net::UrlEncode(net::UrlEncode(kModel));
  const std::string generated = absl::StrCat("/v2/poc-batches/", model, "/generated");
  const std::string validated = absl::StrCat("/v2/poc-batches/", model, "/validated");
  auto key = crypto::KeyFromHex(std::string(64, '7'));
  ASSERT_TRUE(key.ok());
  const std::string pk = crypto::HexEncode(key->public_key().view());
  auto other = crypto::KeyFromHex(std::string(64, '9'));
  ASSERT_TRUE(other.ok());
  const std::string other_pk = crypto::HexEncode(other->public_key().view());

  // Before the stage: no window for either route.
  ASSERT_LT(Height(), kStage - 10) << "devchain ran ahead of the test";
  absl::StatusOr<net::HttpResponse> early = Post(0, generated, Batch(kStage, 0, 0, 1));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->status, 503) << early->body;
  early = Post(0, validated, Validated(kStage, pk, 10, false));
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->status, 503) << early->body;
  EXPECT_EQ(Rejections("generated", "out_of_phase"), 1);
  EXPECT_EQ(Rejections("validated", "out_of_phase"), 1);

  ASSERT_TRUE(testing::WaitFor([&] { return Height() >= kStage + 1; }, absl::Seconds(30)).ok());
  ASSERT_LT(Height(), kWindowEnd - 20);
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
  absl::StatusOr<net::HttpResponse> again = Post(1, generated, Batch(kStage, 0, 0, 8));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(Total(), 2 * kNonces);

  // Bad input: the status, the field named, nothing stored, counted by reason.
  auto expect = [&](const std::string& path, const std::string& body, int status,
                    const std::string& field, const std::string& route, const std::string& reason) {
    const int64_t before = Rejections(route, reason);
    absl::StatusOr<net::HttpResponse> r = Post(0, path, body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status) << body << " → " << r->body;
    EXPECT_NE(r->body.find(field), std::string::npos) << r->body;
    EXPECT_EQ(Rejections(route, reason), before + 1) << reason;
    EXPECT_EQ(Total(), 2 * kNonces) << body;
  };
  expect(generated, "{\"block_height\": 100, \"artifacts\": [", 400, "body", "generated", "body");
  expect(generated, Batch(kStage, 0, 100, 2, "AAECAwQFBgc="), 400, "artifacts[0].vector_b64",
         "generated", "vector_length");
  expect(generated, Batch(kStage, 7, 100, 2), 400, "node_id", "generated", "node_id");
  expect(generated, Batch(kStage + 1, 0, 100, 1), 400, "block_height", "generated", "block_height");
  expect(generated, Batch(kStage, 0, 100, 1, "@@"), 400, "artifacts[0].vector_b64", "generated",
         "vector");
  expect("/v2/poc-batches/generated", Batch(kStage, 0, 100, 1), 404, "not found", "unknown",
         "not_found");
  expect(validated, Validated(kStage, pk, 10, false), 503, "validation", "validated",
         "out_of_phase");
  EXPECT_EQ(Counts().count("7"), 0u);

  // Validation: one vote per (stage, participant, model), however many replicas and retries.
  ASSERT_TRUE(
      testing::WaitFor([&] { return Height() >= kValidation + 1; }, absl::Seconds(30)).ok());
  ASSERT_LT(Height(), kValidationEnd - 8);
  const uint64_t queued = QueuedMessages();
  for (int replica : {0, 1, 0}) {
    absl::StatusOr<net::HttpResponse> r =
        Post(replica, validated, Validated(kStage, pk, 10, false));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
  }
  absl::StatusOr<net::HttpResponse> fraud =
      Post(1, validated, Validated(kStage, other_pk, 10, true));
  ASSERT_TRUE(fraud.ok());
  EXPECT_EQ(fraud->status, 200) << fraud->body;
  EXPECT_EQ(QueuedMessages(), queued + 2);
  expect(validated, Validated(kStage, "zz", 10, false), 400, "public_key", "validated",
         "public_key");
  expect(validated, Validated(kStage + 1, pk, 10, false), 400, "block_height", "validated",
         "block_height");
  expect(validated, "[]", 400, "body", "validated", "body");
  EXPECT_EQ(QueuedMessages(), queued + 2);
  // A generated batch during validation: the window closed at the exchange deadline.
  expect(generated, Batch(kStage, 0, 200, 1), 503, "generation", "generated", "out_of_phase");
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
