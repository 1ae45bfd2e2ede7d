// MlNodeClient against real devmlnode processes: every call, the state machine, PoC callbacks
// (shape, count, no duplicate nonce), fencing, each fault knob's client error, bad input, auth.
#include <simdjson.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gonka/devmlnode/dev_ml_node.h"
#include "gonka/mlnode/ml_node_client.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace mlnode {
namespace {

namespace dom = simdjson::dom;
using ::testing::HasSubstr;

constexpr char kModel[] = "Qwen/Qwen3-32B";
// Gonka's broker path-escapes the model twice in the callback URL.
constexpr char kModelPath[] = "Qwen%252FQwen3-32B";
constexpr char kBlockHash[] = "9f2c4e1b7a";
constexpr char kPublicKey[] = "A1b2C3pubkey";

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

// The test's stand-in for dapi's ML-node-facing server: records every callback POST.
class CallbackSink {
 public:
  struct Post {
    std::string path;
    std::string body;
  };

  CallbackSink() : server_({.name = "callback-sink"}) {
    server_.Handle("POST", "/v2/poc-batches/*", [this](const net::HttpRequest& r) {
      absl::MutexLock lock(&mu_);
      if (fail_next_ > 0) {
        --fail_next_;
        return net::HttpResponse::Text(503, "not now");
      }
      posts_.push_back({r.path, r.body});
      return net::HttpResponse::Text(200, "");
    });
    EXPECT_TRUE(server_.Start().ok());
  }
  ~CallbackSink() { server_.Stop(absl::Now() + absl::Seconds(1)); }

  std::string base() const {
    return PocCallbackUrl(absl::StrCat("http://127.0.0.1:", server_.port()), kModel);
  }
  std::vector<Post> posts() {
    absl::MutexLock lock(&mu_);
    return posts_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return posts_.size();
  }
  void FailNext(int n) {
    absl::MutexLock lock(&mu_);
    fail_next_ = n;
  }

 private:
  net::HttpServer server_;
  absl::Mutex mu_;
  std::vector<Post> posts_ ABSL_GUARDED_BY(mu_);
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<MlNodeClient> ClientFor(testing::DevMlNode& node, std::string token_file = "") {
  absl::StatusOr<std::unique_ptr<MlNodeClient>> c =
      MlNodeClient::Create({.api_url = node.api_url(),
                            .inference_url = node.inference_url(),
                            .auth_token_file = token_file});
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

InitGenerateRequest Init(const std::string& url, int node_id = 1, int node_count = 3) {
  InitGenerateRequest r;
  r.block_hash = kBlockHash;
  r.block_height = 1200;
  r.public_key = kPublicKey;
  r.node_id = node_id;
  r.node_count = node_count;
  r.params = {.model = kModel, .seq_len = 256};
  r.url = url;
  return r;
}

// Total artifacts per nonce across every generated batch; fails the test on a bad shape.
std::map<int64_t, int> ArtifactsByNonce(const std::vector<CallbackSink::Post>& posts,
                                        int* batches) {
  std::map<int64_t, int> seen;
  *batches = 0;
  for (const CallbackSink::Post& p : posts) {
    if (!absl::EndsWith(p.path, "/generated")) continue;
    ++*batches;
    EXPECT_EQ(p.path, absl::StrCat("/v2/poc-batches/", kModelPath, "/generated"));
    dom::parser parser;
    dom::element root;
    EXPECT_EQ(parser.parse(p.body).get(root), simdjson::SUCCESS) << p.body;
    std::string_view s;
    int64_t i = 0;
    EXPECT_EQ(root["block_hash"].get_string().get(s), simdjson::SUCCESS);
    EXPECT_EQ(s, kBlockHash);
    EXPECT_EQ(root["public_key"].get_string().get(s), simdjson::SUCCESS);
    EXPECT_EQ(s, kPublicKey);
    EXPECT_EQ(root["block_height"].get_int64().get(i), simdjson::SUCCESS);
    EXPECT_EQ(i, 1200);
    EXPECT_EQ(root["node_id"].get_int64().get(i), simdjson::SUCCESS);
    EXPECT_EQ(i, 1);
    dom::array artifacts;
    EXPECT_EQ(root["artifacts"].get_array().get(artifacts), simdjson::SUCCESS);
    for (dom::element a : artifacts) {
      int64_t nonce = -1;
      EXPECT_EQ(a["nonce"].get_int64().get(nonce), simdjson::SUCCESS);
      EXPECT_EQ(a["vector_b64"].get_string().get(s), simdjson::SUCCESS);
      EXPECT_EQ(s, devmlnode::StandInArtifact(kBlockHash, kPublicKey, nonce, 12));
      ++seen[nonce];
    }
  }
  return seen;
}

TEST(MlNodeIntegrationTest, EveryCallThroughTheStateMachineWithCallbacks) {
  testing::DevMlNode node({.require_fencing = true, .nonces_per_stage = 40, .batch_size = 8});
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);
  CallbackSink sink;
  Fence fence{.token = 7, .idempotency_key = "e3/inference/node-1"};

  // STOPPED: no backends, the inference server is not up.
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
  EXPECT_EQ(client->GetPowStatus(Soon())->status, "NO_BACKENDS");
  absl::Status health = client->InferenceHealth(Soon());
  EXPECT_EQ(health.code(), absl::StatusCode::kUnavailable) << health;
  EXPECT_THAT(std::string(health.message()), HasSubstr("GET /health: answered 503"));
  EXPECT_EQ(client->Models(Soon()).status().code(), absl::StatusCode::kUnavailable);

  // inference/up → INFERENCE.
  ASSERT_TRUE(client->InferenceUp({.model = kModel}, fence, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kInference);
  EXPECT_EQ(client->GetPowStatus(Soon())->status, "IDLE");
  EXPECT_TRUE(client->InferenceHealth(Soon()).ok());
  EXPECT_EQ(*client->Models(Soon()), std::vector<std::string>{kModel});

  // init/generate → POW / GENERATING, 40 artifacts in 5 batches, nonces 1, 4, 7, ...
  fence.idempotency_key = "e3/poc/node-1/init";
  absl::StatusOr<InitGenerateResponse> init =
      client->InitGenerate(Init(sink.base()), fence, Soon());
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_EQ(init->status, "OK");
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kPow);
  EXPECT_EQ(client->GetPowStatus(Soon())->status, "GENERATING");
  ASSERT_TRUE(testing::WaitFor([&] { return sink.count() >= 5; }, absl::Seconds(10)).ok())
      << sink.count() << "\n"
      << node.LogTail();
  // The same stage again (a retry with a new key) is a no-op: no batch is sent twice.
  fence.idempotency_key = "e3/poc/node-1/init-retry";
  ASSERT_TRUE(client->InitGenerate(Init(sink.base()), fence, Soon()).ok());
  absl::SleepFor(absl::Milliseconds(300));  // > 5 batch intervals: a restart would have sent
  int batches = 0;
  std::map<int64_t, int> nonces = ArtifactsByNonce(sink.posts(), &batches);
  EXPECT_EQ(batches, 5);
  ASSERT_EQ(nonces.size(), 40u);
  for (int k = 0; k < 40; ++k) EXPECT_EQ(nonces[1 + 3 * k], 1) << "nonce " << 1 + 3 * k;

  // Another stage while generating: 409.
  InitGenerateRequest other = Init(sink.base());
  other.block_height = 1300;
  fence.idempotency_key = "e4/poc/node-1/init";
  absl::StatusOr<InitGenerateResponse> conflict = client->InitGenerate(other, fence, Soon());
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(conflict.status().message()), HasSubstr("already generating"));

  // pow/stop → INFERENCE / IDLE.
  fence.idempotency_key = "e3/val/node-1/stop";
  ASSERT_TRUE(client->StopPow(fence, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kInference);
  EXPECT_EQ(client->GetPowStatus(Soon())->status, "IDLE");

  // pow/generate with validation: one honest participant, one with half its vectors wrong.
  auto validation = [&](const std::string& key, int bad) {
    GenerateRequest g;
    g.block_hash = kBlockHash;
    g.block_height = 1200;
    g.public_key = key;
    g.node_id = 0;
    g.node_count = 1;
    g.params = {.model = kModel, .seq_len = 256};
    g.url = sink.base();
    g.validation.emplace();
    for (int64_t n = 0; n < 10; ++n) {
      g.nonces.push_back(n * 5);
      std::string v = devmlnode::StandInArtifact(kBlockHash, key, n * 5, 12);
      if (n < bad) v = devmlnode::StandInArtifact(kBlockHash, key, n * 5 + 1, 12);
      g.validation->push_back({n * 5, v});
    }
    g.stat_test = StatTest{};
    return g;
  };
  fence.idempotency_key = "e3/val/honest";
  absl::StatusOr<GenerateResponse> honest =
      client->Generate(validation("honest", 0), fence, Soon());
  ASSERT_TRUE(honest.ok()) << honest.status();
  EXPECT_EQ(honest->status, "queued");
  EXPECT_FALSE(honest->request_id.empty());
  fence.idempotency_key = "e3/val/cheat";
  absl::StatusOr<GenerateResponse> cheat = client->Generate(validation("cheat", 5), fence, Soon());
  ASSERT_TRUE(cheat.ok()) << cheat.status();
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kPow);
  EXPECT_EQ(client->GetPowStatus(Soon())->status, "VALIDATING");
  ASSERT_TRUE(testing::WaitFor([&] { return sink.count() >= 7; }, absl::Seconds(10)).ok());
  std::map<std::string, std::string> validated;  // request_id → body
  for (const CallbackSink::Post& p : sink.posts()) {
    if (!absl::EndsWith(p.path, "/validated")) continue;
    EXPECT_EQ(p.path, absl::StrCat("/v2/poc-batches/", kModelPath, "/validated"));
    dom::parser parser;
    dom::element root;
    ASSERT_EQ(parser.parse(p.body).get(root), simdjson::SUCCESS);
    std::string_view id;
    ASSERT_EQ(root["request_id"].get_string().get(id), simdjson::SUCCESS);
    validated[std::string(id)] = p.body;
    int64_t n_total = 0, n_mismatch = 0, height = 0;
    bool fraud = false;
    std::string_view key;
    ASSERT_EQ(root["n_total"].get_int64().get(n_total), simdjson::SUCCESS);
    ASSERT_EQ(root["n_mismatch"].get_int64().get(n_mismatch), simdjson::SUCCESS);
    ASSERT_EQ(root["fraud_detected"].get_bool().get(fraud), simdjson::SUCCESS);
    ASSERT_EQ(root["block_height"].get_int64().get(height), simdjson::SUCCESS);
    ASSERT_EQ(root["public_key"].get_string().get(key), simdjson::SUCCESS);
    double p_value = -1;
    ASSERT_EQ(root["p_value"].get_double().get(p_value), simdjson::SUCCESS);
    dom::array mismatches;
    ASSERT_EQ(root["mismatch_nonces"].get_array().get(mismatches), simdjson::SUCCESS);
    EXPECT_EQ(height, 1200);
    EXPECT_EQ(n_total, 10);
    if (id == honest->request_id) {
      EXPECT_EQ(key, "honest");
      EXPECT_EQ(n_mismatch, 0);
      EXPECT_FALSE(fraud);
    } else {
      EXPECT_EQ(id, cheat->request_id);
      EXPECT_EQ(key, "cheat");
      EXPECT_EQ(n_mismatch, 5);
      EXPECT_EQ(mismatches.size(), 5u);
      EXPECT_TRUE(fraud);
    }
  }
  EXPECT_EQ(validated.size(), 2u);

  // init/generate while validating: 409; inference/up → INFERENCE; stop → STOPPED.
  fence.idempotency_key = "e4/poc/node-1/init-while-validating";
  EXPECT_EQ(client->InitGenerate(other, fence, Soon()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fence.idempotency_key = "e3/inference-up";
  ASSERT_TRUE(client->InferenceUp({.model = kModel}, fence, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kInference);
  fence.idempotency_key = "e3/stop";
  ASSERT_TRUE(client->Stop(fence, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
  EXPECT_FALSE(client->InferenceHealth(Soon()).ok());
}

TEST(MlNodeIntegrationTest, CallbacksAreRetriedAndStopEndsTheStage) {
  testing::DevMlNode node({.nonces_per_stage = 24, .batch_size = 4, .batch_interval = "200ms"});
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);
  CallbackSink sink;
  sink.FailNext(2);  // the receiver is briefly unavailable: delivery is retried, not duplicated
  Fence fence{.token = 1, .idempotency_key = "init"};
  ASSERT_TRUE(client->InitGenerate(Init(sink.base()), fence, Soon()).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return sink.count() >= 2; }, absl::Seconds(10)).ok());
  fence.idempotency_key = "stop";
  ASSERT_TRUE(client->StopPow(fence, Soon()).ok());
  size_t at_stop = sink.count();
  absl::SleepFor(absl::Milliseconds(600));  // 3 batch intervals: time for any batch to leak
  EXPECT_LE(sink.count(), at_stop + 1);     // at most the batch in flight at the stop
  int batches = 0;
  std::map<int64_t, int> nonces = ArtifactsByNonce(sink.posts(), &batches);
  EXPECT_LT(nonces.size(), 24u);
  for (const auto& [nonce, count] : nonces) EXPECT_EQ(count, 1) << "nonce " << nonce;
}

// Sends a raw JSON POST (what a buggy or hostile caller could send).
net::HttpResponse RawPost(const std::string& url, std::string body, uint64_t token = 0) {
  net::HttpClient http;
  net::HttpCallOptions o = net::HttpCallOptions::Timeout(absl::Seconds(5));
  if (token != 0) o.headers.Set(kFencingTokenHeader, absl::StrCat(token));
  absl::StatusOr<net::HttpResponse> res = http.Post(url, std::move(body), "application/json", o);
  EXPECT_TRUE(res.ok()) << res.status();
  return res.ok() ? *res : net::HttpResponse{};
}

TEST(MlNodeIntegrationTest, LowerFencingTokenIsRefusedAndRecorded) {
  testing::DevMlNode node({.require_fencing = true});
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);

  ASSERT_TRUE(client->InferenceUp({.model = kModel}, {5, "up-5"}, Soon()).ok());
  absl::Status deposed = client->Stop({3, "stop-3"}, Soon());
  EXPECT_EQ(deposed.code(), absl::StatusCode::kFailedPrecondition) << deposed;
  EXPECT_THAT(std::string(deposed.message()), HasSubstr("POST /api/v1/stop: refused (409)"));
  EXPECT_THAT(std::string(deposed.message()), HasSubstr("fencing token 3"));
  EXPECT_THAT(std::string(deposed.message()), HasSubstr("highest seen, 5"));
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kInference);  // not executed
  // No token at all, with --require-fencing: 409.
  net::HttpResponse missing = RawPost(node.api_url() + "/api/v1/stop", "{}");
  EXPECT_EQ(missing.status, 409);
  EXPECT_THAT(missing.body, HasSubstr("missing X-Gonka-Fencing-Token"));
  // Client side: a fence without a token never leaves the process.
  EXPECT_EQ(client->Stop({0, "k"}, Soon()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Stop({5, ""}, Soon()).code(), absl::StatusCode::kInvalidArgument);
  // The same key again: the first answer, not a second execution.
  ASSERT_TRUE(client->InferenceUp({.model = kModel}, {5, "up-5"}, Soon()).ok());
  // A newer leader takes over.
  ASSERT_TRUE(client->Stop({6, "stop-6"}, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
  EXPECT_EQ(client->Stop({5, "stop-5"}, Soon()).code(), absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::string> log = node.CommandsJson();
  ASSERT_TRUE(log.ok()) << log.status();
  dom::parser parser;
  dom::element root;
  ASSERT_EQ(parser.parse(*log).get(root), simdjson::SUCCESS);
  uint64_t highest = 0;
  ASSERT_EQ(root["highest_fencing_token"].get_uint64().get(highest), simdjson::SUCCESS);
  EXPECT_EQ(highest, 6u);
  std::vector<std::string> summary;
  for (dom::element c : root["commands"].get_array()) {
    std::string_view endpoint, key, outcome, reason;
    int64_t status = 0;
    ASSERT_EQ(c["endpoint"].get_string().get(endpoint), simdjson::SUCCESS);
    ASSERT_EQ(c["idempotency_key"].get_string().get(key), simdjson::SUCCESS);
    ASSERT_EQ(c["outcome"].get_string().get(outcome), simdjson::SUCCESS);
    ASSERT_EQ(c["reason"].get_string().get(reason), simdjson::SUCCESS);
    ASSERT_EQ(c["status"].get_int64().get(status), simdjson::SUCCESS);
    EXPECT_FALSE(c["time"].get_string().value_unsafe().empty());
    std::string token = c["fencing_token"].is_null()
                            ? "-"
                            : absl::StrCat(c["fencing_token"].get_uint64().value_unsafe());
    summary.push_back(absl::StrCat(std::string(endpoint), " ", token, " ", std::string(key), " ",
                                   std::string(outcome), " ", status));
    if (key == "stop-3") {
      EXPECT_EQ(reason, "fencing token 3 is lower than the highest seen, 5");
    }
  }
  EXPECT_EQ(summary, (std::vector<std::string>{
                         "POST /api/v1/inference/up 5 up-5 accepted 200",
                         "POST /api/v1/stop 3 stop-3 refused 409",
                         "POST /api/v1/stop -  refused 409",
                         "POST /api/v1/inference/up 5 up-5 duplicate 200",
                         "POST /api/v1/stop 6 stop-6 accepted 200",
                         "POST /api/v1/stop 5 stop-5 refused 409",
                     }));
  // The same outcomes on /metrics.
  absl::StatusOr<testing::HttpResponse> metrics =
      testing::HttpGet("127.0.0.1", node.port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(metrics->body, HasSubstr("gonka_devmlnode_commands_total{endpoint=\"POST "
                                       "/api/v1/stop\",outcome=\"refused\"} 3"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_devmlnode_commands_total{endpoint=\"POST "
                                       "/api/v1/inference/up\",outcome=\"duplicate\"} 1"));
}

// Leaders racing: 4 threads send 40 commands each with tokens from a shared counter, some of
// them stale. In execution order (the log's seq), accepted tokens never decrease and every refused
// token is below one accepted earlier: no deposed leader's command takes effect.
TEST(MlNodeIntegrationTest, ConcurrentLeadersNeverInterleaveAStaleCommand) {
  testing::DevMlNode node({.require_fencing = true});
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);
  std::atomic<uint64_t> next_token{1};
  std::vector<std::thread> leaders;
  for (int t = 0; t < 4; ++t) {
    leaders.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        uint64_t token = next_token.fetch_add(1);
        if ((i + t) % 3 == 0 && token > 5) token -= 5;  // a leader that was deposed meanwhile
        std::string key = absl::StrCat("t", t, "/", i);
        absl::Status s = i % 2 == 0 ? client->InferenceUp({.model = kModel}, {token, key}, Soon())
                                    : client->Stop({token, key}, Soon());
        EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kFailedPrecondition) << s;
      }
    });
  }
  for (std::thread& l : leaders) l.join();
  absl::StatusOr<std::string> log = node.CommandsJson();
  ASSERT_TRUE(log.ok()) << log.status();
  dom::parser parser;
  dom::element root;
  ASSERT_EQ(parser.parse(*log).get(root), simdjson::SUCCESS);
  uint64_t highest = 0, last_seq = 0;
  int accepted = 0, refused = 0;
  for (dom::element c : root["commands"].get_array()) {
    uint64_t seq = c["seq"].get_uint64().value_unsafe();
    uint64_t token = c["fencing_token"].get_uint64().value_unsafe();
    std::string_view outcome = c["outcome"].get_string().value_unsafe();
    EXPECT_GT(seq, last_seq);
    last_seq = seq;
    if (outcome == "accepted") {
      EXPECT_GE(token, highest) << "seq " << seq;
      highest = token;
      ++accepted;
    } else {
      EXPECT_EQ(outcome, "refused");
      EXPECT_LT(token, highest) << "seq " << seq;
      ++refused;
    }
  }
  EXPECT_EQ(accepted + refused, 160);
  EXPECT_GT(refused, 0);
  std::printf("concurrent leaders: %d accepted, %d refused as stale\n", accepted, refused);
}

TEST(MlNodeIntegrationTest, EachFaultKnobGivesTheDocumentedClientError) {
  testing::DevMlNode node;
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);

  // slow: the call's own deadline → DeadlineExceeded naming the endpoint.
  ASSERT_TRUE(node.SetFaults(R"({"slow_ms":2000})").ok());
  absl::Status slow = client->GetState(absl::Now() + absl::Milliseconds(300)).status();
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_THAT(std::string(slow.message()), HasSubstr("ml node GET /api/v1/state"));
  ASSERT_TRUE(node.SetFaults(R"({"slow_ms":0,"refuse_status":503})").ok());

  // refuse: 5xx → Unavailable.
  absl::Status refused = client->InferenceUp({.model = kModel}, {1, "up"}, Soon());
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("ml node POST /api/v1/inference/up: answered 503: fault injected"));
  ASSERT_TRUE(node.SetFaults(R"({"refuse_status":0,"garbage":true})").ok());

  // garbage: 200 with a body that is not JSON → Internal.
  absl::Status garbage = client->GetPowStatus(Soon()).status();
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInternal) << garbage;
  EXPECT_THAT(std::string(garbage.message()),
              HasSubstr("ml node GET /api/v1/inference/pow/status: answer is not JSON"));
  EXPECT_THAT(std::string(garbage.message()), ::testing::Not(HasSubstr("devmlnode garbage")));
  ASSERT_TRUE(node.SetFaults(R"({"garbage":false})").ok());

  // lose state: back to STOPPED.
  ASSERT_TRUE(client->InferenceUp({.model = kModel}, {1, "up-2"}, Soon()).ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kInference);
  ASSERT_TRUE(node.SetFaults(R"({"lose_state":true})").ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);

  // crash: the next request kills the process unanswered → Unavailable; a restart is STOPPED.
  ASSERT_TRUE(node.SetFaults(R"({"crash_after":1})").ok());
  absl::Status crashed = client->InferenceUp({.model = kModel}, {1, "up-3"}, Soon());
  EXPECT_EQ(crashed.code(), absl::StatusCode::kUnavailable) << crashed;
  EXPECT_THAT(std::string(crashed.message()), HasSubstr("ml node POST /api/v1/inference/up"));
  ASSERT_TRUE(testing::WaitFor([&] { return !node.IsRunning(); }, absl::Seconds(5)).ok());
  absl::StatusOr<int> code = node.process().process()->Wait(absl::Seconds(1));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, devmlnode::kCrashExitCode);
  ASSERT_TRUE(node.Restart().ok());
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
  // A paused node: DeadlineExceeded.
  ASSERT_TRUE(node.Pause().ok());
  EXPECT_EQ(client->GetState(absl::Now() + absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(node.Resume().ok());
}

TEST(MlNodeIntegrationTest, FaultFlagsAtStart) {
  testing::DevMlNode node({.extra_args = {"--fault-refuse=502"}});
  ASSERT_TRUE(node.Start().ok());
  std::unique_ptr<MlNodeClient> client = ClientFor(node);
  absl::Status s = client->GetState(Soon()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("answered 502"));
  EXPECT_EQ(client->InferenceHealth(Soon()).code(), absl::StatusCode::kUnavailable);
}

TEST(MlNodeIntegrationTest, BadFlagStopsTheDaemonNamingIt) {
  for (std::string flag : {"--fault-refuse=404", "--batch-size=0", "--k-dim=x"}) {
    testing::DevMlNode node({.extra_args = {flag}});
    absl::Status s = node.Start();
    EXPECT_FALSE(s.ok()) << flag;
    std::string name = flag.substr(2, flag.find('=') - 2);
    EXPECT_THAT(node.LogTail(), HasSubstr(name)) << flag;
  }
  testing::TempDir dir("mlnode-badtoken");
  const std::string open_file = dir.Join("token");
  std::ofstream(open_file) << "s3cret-token-0123456789\n";
  ASSERT_EQ(chmod(open_file.c_str(), 0644), 0);
  testing::DevMlNode node({.auth_token_file = open_file});
  EXPECT_FALSE(node.Start().ok());
  EXPECT_THAT(node.LogTail(), HasSubstr("--auth-token-file"));
  EXPECT_THAT(node.LogTail(), ::testing::Not(HasSubstr("s3cret")));
}

TEST(MlNodeIntegrationTest, BadInputIsA400NamingTheField) {
  testing::DevMlNode node;
  ASSERT_TRUE(node.Start().ok());
  const std::string init = node.api_url() + "/api/v1/inference/pow/init/generate";
  struct Case {
    std::string url;
    std::string body;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {init, "{not json", "body: not JSON"},
      {init, "[1]", "body: must be a JSON object"},
      {init, R"({"block_hash":"h","block_height":10,"public_key":"pk","node_id":0,"params":{}})",
       "node_count: required integer"},
      {init,
       R"({"block_hash":"h","block_height":10,"public_key":"pk","node_id":2,"node_count":2,)"
       R"("params":{"model":"m","seq_len":256}})",
       "node_id: must be below node_count"},
      {init,
       R"({"block_hash":"h","block_height":"10","public_key":"pk","node_id":0,"node_count":1,)"
       R"("params":{"model":"m","seq_len":256}})",
       "block_height: must be an integer"},
      {init,
       R"({"block_hash":"h","block_height":10,"public_key":"pk","node_id":0,"node_count":1,)"
       R"("params":{"seq_len":256}})",
       "params.model: required string"},
      {node.api_url() + "/api/v1/inference/up", R"({"model":7})", "model: must be a string"},
      {node.api_url() + "/api/v1/inference/pow/generate",
       R"({"block_hash":"h","block_height":10,"public_key":"pk","node_id":0,"node_count":1,)"
       R"("nonces":[1],"params":{"model":"m","seq_len":256},"url":"http://127.0.0.1:1/x",)"
       R"("validation":{"artifacts":[{"nonce":1}]}})",
       "validation.artifacts[].vector_b64: required string"},
      {node.api_url() + "/debug/faults", R"({"refuse_status":404})",
       "refuse_status: must be 0 (off) or in [500, 599]"},
  };
  for (const Case& c : cases) {
    net::HttpResponse res = RawPost(c.url, c.body, 1);
    EXPECT_EQ(res.status, 400) << c.body << " → " << res.body;
    EXPECT_THAT(res.body, HasSubstr(c.detail)) << c.body;
  }
  // Through the client: InvalidArgument naming the field, state unchanged.
  std::unique_ptr<MlNodeClient> client = ClientFor(node);
  InitGenerateRequest bad = Init("");
  bad.public_key = "";
  absl::Status s = client->InitGenerate(bad, {1, "bad"}, Soon()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("rejected (400): public_key: must not be empty"));
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
}

TEST(MlNodeIntegrationTest, BearerTokenFromAFile) {
  testing::TempDir dir("mlnode-auth");
  const std::string token_file = dir.Join("token");
  std::ofstream(token_file) << "s3cret-token-0123456789\n";
  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  testing::DevMlNode node({.auth_token_file = token_file});
  ASSERT_TRUE(node.Start().ok()) << node.LogTail();

  std::unique_ptr<MlNodeClient> anonymous = ClientFor(node);
  absl::Status s = anonymous->GetState(Soon()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(anonymous->InferenceHealth(Soon()).code(), absl::StatusCode::kPermissionDenied);

  std::unique_ptr<MlNodeClient> client = ClientFor(node, token_file);
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kStopped);
  ASSERT_TRUE(client->InferenceUp({.model = kModel}, {1, "up"}, Soon()).ok());
  EXPECT_TRUE(client->InferenceHealth(Soon()).ok());
  absl::Status refused = client->Stop({0, "x"}, Soon());  // never sent; no token in the message
  EXPECT_THAT(std::string(refused.message()), ::testing::Not(HasSubstr("s3cret")));

  // A token file readable by others is refused at Create().
  ASSERT_EQ(chmod(token_file.c_str(), 0644), 0);
  EXPECT_FALSE(
      MlNodeClient::Create({.api_url = node.api_url(), .auth_token_file = token_file}).ok());
}

}  // namespace
}  // namespace mlnode
}  // namespace gonka
