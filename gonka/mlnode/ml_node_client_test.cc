// MlNodeClient against an in-process HTTP server: the exact JSON bodies and headers it sends,
// and how each kind of answer maps to an absl::Status.
#include "gonka/mlnode/ml_node_client.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gonka/net/http_server.h"
#include "gtest/gtest.h"

namespace gonka {
namespace mlnode {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MlNodeClientJsonTest, InitGenerateBodyIsGonkasShape) {
  InitGenerateRequest r;
  r.block_hash = "abc";
  r.block_height = 100;
  r.public_key = "pk";
  r.node_id = 2;
  r.node_count = 4;
  r.params = {.model = "Qwen/Qwen3-32B", .seq_len = 256};
  r.url = "http://api:9100/v2/poc-batches/Qwen%252FQwen3-32B";
  EXPECT_EQ(InitGenerateJson(r),
            R"({"block_hash":"abc","block_height":100,"public_key":"pk","node_id":2,)"
            R"("node_count":4,"params":{"model":"Qwen/Qwen3-32B","seq_len":256},)"
            R"("url":"http://api:9100/v2/poc-batches/Qwen%252FQwen3-32B"})");
  r.params.decode = true;
  r.params.max_tokens = 64;
  r.url.clear();
  r.poc_stronger_rng = true;
  EXPECT_EQ(InitGenerateJson(r),
            R"({"block_hash":"abc","block_height":100,"public_key":"pk","node_id":2,)"
            R"("node_count":4,"params":{"model":"Qwen/Qwen3-32B","seq_len":256,"decode":true,)"
            R"("max_tokens":64},"poc_stronger_rng":true})");
}

TEST(MlNodeClientJsonTest, GenerateAndInferenceUpBodies) {
  GenerateRequest g;
  g.block_hash = "h";
  g.block_height = 7;
  g.public_key = "pk";
  g.nonces = {1, 5};
  g.params = {.model = "m", .seq_len = 8};
  g.url = "http://cb/v2/poc-batches/m";
  g.validation = std::vector<Artifact>{{1, "AAAA"}, {5, "BBBB"}};
  g.stat_test = StatTest{};
  EXPECT_EQ(
      GenerateJson(g),
      R"({"block_hash":"h","block_height":7,"public_key":"pk","node_id":0,"node_count":1,)"
      R"("nonces":[1,5],"params":{"model":"m","seq_len":8},"url":"http://cb/v2/poc-batches/m",)"
      R"("validation":{"artifacts":[{"nonce":1,"vector_b64":"AAAA"},)"
      R"({"nonce":5,"vector_b64":"BBBB"}]},)"
      R"("stat_test":{"dist_threshold":0.4,"p_mismatch":0.1,"p_value_threshold":0.05}})");
  EXPECT_EQ(InferenceUpJson({.model = "m", .additional_args = {"--tp", "2"}}),
            R"({"model":"m","dtype":"float16","additional_args":["--tp","2"]})");
}

TEST(MlNodeClientJsonTest, CallbackUrlEscapesTheModelTwice) {
  EXPECT_EQ(PocCallbackUrl("http://api:9100", "Qwen/Qwen3-32B"),
            "http://api:9100/v2/poc-batches/Qwen%252FQwen3-32B");
  EXPECT_EQ(PocCallbackUrl("http://api:9100/", "m"), "http://api:9100/v2/poc-batches/m");
}

TEST(MlNodeClientTest, CreateNamesTheBadOption) {
  absl::Status s = MlNodeClient::Create({}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("api_url"));
  s = MlNodeClient::Create({.api_url = "ftp://x"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("api_url"));
  s = MlNodeClient::Create({.api_url = "http://127.0.0.1:1", .auth_token_file = "/nonexistent"})
          .status();
  EXPECT_FALSE(s.ok());
}

// A server answering each path with a fixed response and recording the headers it saw.
class FakeNode {
 public:
  FakeNode() : server_({.name = "fake-ml-node"}) {
    server_.Handle("GET", "/*", [this](const net::HttpRequest& r) { return Answer(r); });
    server_.Handle("POST", "/*", [this](const net::HttpRequest& r) { return Answer(r); });
    EXPECT_TRUE(server_.Start().ok());
  }
  ~FakeNode() { server_.Stop(absl::Now() + absl::Seconds(1)); }

  void Set(const std::string& path, int status, const std::string& body) {
    absl::MutexLock lock(&mu_);
    answers_[path] = net::HttpResponse::Json(status, body);
  }
  net::HttpRequest last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", server_.port()); }

 private:
  net::HttpResponse Answer(const net::HttpRequest& r) {
    absl::MutexLock lock(&mu_);
    last_ = r;
    auto it = answers_.find(r.path);
    return it == answers_.end() ? net::HttpResponse::Json(404, "{}") : it->second;
  }

  net::HttpServer server_;
  absl::Mutex mu_;
  std::map<std::string, net::HttpResponse> answers_ ABSL_GUARDED_BY(mu_);
  net::HttpRequest last_ ABSL_GUARDED_BY(mu_);
};

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST(MlNodeClientTest, MutatingCommandsCarryTheFenceAndReadsDoNot) {
  FakeNode node;
  auto client = *MlNodeClient::Create({.api_url = node.url(), .inference_url = node.url()});
  node.Set("/api/v1/stop", 200, R"({"status":"OK"})");
  ASSERT_TRUE(client->Stop({42, "e7/stop/node-1"}, Soon()).ok());
  EXPECT_EQ(node.last().method, "POST");
  EXPECT_EQ(node.last().headers.Get(kFencingTokenHeader), "42");
  EXPECT_EQ(node.last().headers.Get(kIdempotencyKeyHeader), "e7/stop/node-1");
  EXPECT_FALSE(node.last().headers.Has("Authorization"));
  node.Set("/api/v1/state", 200, R"({"state":"POW"})");
  EXPECT_EQ(*client->GetState(Soon()), NodeState::kPow);
  EXPECT_FALSE(node.last().headers.Has(kFencingTokenHeader));
}

TEST(MlNodeClientTest, AnswersMapToDocumentedCodes) {
  FakeNode node;
  auto client = *MlNodeClient::Create({.api_url = node.url(), .inference_url = node.url()});
  struct Case {
    int status;
    std::string body;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {409, R"({"detail":"fencing token 3 is lower than the highest seen, 5"})",
       absl::StatusCode::kFailedPrecondition,
       "ml node GET /api/v1/state: refused (409): fencing token 3 is lower"},
      {400, R"({"detail":"node_count: required"})", absl::StatusCode::kInvalidArgument,
       "rejected (400): node_count: required"},
      {401, R"({"detail":"no"})", absl::StatusCode::kPermissionDenied, "not authorized (401)"},
      {503, "Bearer leaked-secret", absl::StatusCode::kUnavailable,
       "ml node GET /api/v1/state: answered 503"},
      {200, "<html>", absl::StatusCode::kInternal, "answer is not JSON"},
      {200, "[1]", absl::StatusCode::kInternal, "answer is not a JSON object"},
      {200, R"({"status":"OK"})", absl::StatusCode::kInternal, "field 'state' missing"},
      {200, R"({"state":"DANCING"})", absl::StatusCode::kInternal,
       "field 'state': unknown value \"DANCING\""},
  };
  for (const Case& c : cases) {
    node.Set("/api/v1/state", c.status, c.body);
    absl::Status s = client->GetState(Soon()).status();
    EXPECT_EQ(s.code(), c.code) << c.body << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("leaked-secret")));
  }
  // inference/up's 200 {"status":"ERROR"} is a failure.
  node.Set("/api/v1/inference/up", 200, R"({"status":"ERROR","message":"CUDA OOM"})");
  absl::Status up = client->InferenceUp({.model = "m"}, {1, "k"}, Soon());
  EXPECT_EQ(up.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(up.message()), HasSubstr("could not start the model: CUDA OOM"));
  // Models: the OpenAI list.
  node.Set("/v1/models", 200, R"({"object":"list","data":[{"id":"a"},{"id":"b"}]})");
  EXPECT_EQ(*client->Models(Soon()), (std::vector<std::string>{"a", "b"}));
  node.Set("/v1/models", 200, R"({"data":[{"name":"a"}]})");
  EXPECT_THAT(std::string(client->Models(Soon()).status().message()), HasSubstr("data[].id"));
  // Connection refused → Unavailable naming the endpoint.
  auto nowhere = *MlNodeClient::Create({.api_url = "http://127.0.0.1:1"});
  absl::Status refused = nowhere->GetPowStatus(Soon()).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("ml node GET /api/v1/inference/pow/status"));
}

}  // namespace
}  // namespace mlnode
}  // namespace gonka
