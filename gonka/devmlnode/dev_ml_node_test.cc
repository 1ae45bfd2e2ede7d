// DevMlNode's pure parts (the stand-in artifact function, option validation) and, in process,
// the inference server's chat completions and the versioned state route.
#include "gonka/devmlnode/dev_ml_node.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devmlnode {
namespace {

using ::testing::HasSubstr;

TEST(StandInArtifactTest, DeterministicFp16SizedAndStageBound) {
  std::string a = StandInArtifact("hash", "pk", 7, 12);
  EXPECT_EQ(a, StandInArtifact("hash", "pk", 7, 12));
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(a, &bytes));
  EXPECT_EQ(bytes.size(), 24u);  // 12 fp16 values
  EXPECT_NE(a, StandInArtifact("hash", "pk", 8, 12));
  EXPECT_NE(a, StandInArtifact("hash2", "pk", 7, 12));
  EXPECT_NE(a, StandInArtifact("hash", "pk2", 7, 12));
  // Longer than one SHA-256: extended by re-hashing, the prefix unchanged.
  std::string long_bytes;
  ASSERT_TRUE(absl::Base64Unescape(StandInArtifact("hash", "pk", 7, 40), &long_bytes));
  EXPECT_EQ(long_bytes.size(), 80u);
  EXPECT_EQ(long_bytes.substr(0, 24), bytes);
}

TEST(DevMlNodeOptionsTest, ValidateNamesTheOption) {
  EXPECT_TRUE(DevMlNode::Validate({}).ok());
  DevMlNodeOptions o;
  o.batch_size = 0;
  EXPECT_THAT(std::string(DevMlNode::Validate(o).message()), HasSubstr("batch_size"));
  o = {};
  o.faults.refuse_status = 404;
  EXPECT_THAT(std::string(DevMlNode::Validate(o).message()), HasSubstr("refuse_status"));
  o = {};
  o.k_dim = 0;
  EXPECT_THAT(std::string(DevMlNode::Validate(o).message()), HasSubstr("k_dim"));
  o = {};
  o.nonces_per_stage = -1;
  EXPECT_THAT(std::string(DevMlNode::Validate(o).message()), HasSubstr("nonces_per_stage"));
  o = {};
  o.versions = {"v2", "../x"};
  EXPECT_THAT(std::string(DevMlNode::Validate(o).message()), HasSubstr("versions: \"../x\""));
  o.versions = {"v2", "1.2.3+rc_1"};
  EXPECT_TRUE(DevMlNode::Validate(o).ok());
}

TEST(DevMlNodeHttpTest, ChatCompletionsAndVersionedState) {
  DevMlNode node({.versions = {"v2"}});
  net::HttpServer api({.name = "devmlnode-test-api"});
  net::HttpServer inference({.name = "devmlnode-test-inference"});
  node.RegisterApi(api);
  node.RegisterInference(inference);
  ASSERT_TRUE(api.Start().ok());
  ASSERT_TRUE(inference.Start().ok());
  net::HttpClient http;
  const std::string api_url = absl::StrCat("http://127.0.0.1:", api.port());
  const std::string chat =
      absl::StrCat("http://127.0.0.1:", inference.port(), "/v1/chat/completions");
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  auto r = http.Post(chat, body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503) << r->body;  // no model loaded
  r = http.Post(api_url + "/api/v1/inference/up", R"({"model":"m"})");
  ASSERT_TRUE(r.ok() && r->status == 200);
  r = http.Post(chat, body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr(R"("object":"chat.completion")"));
  EXPECT_THAT(r->body, HasSubstr(R"("choices":[{"index":0,"message":{"role":"assistant")"));
  r = http.Post(chat, R"({"model":"other","messages":[]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("The model `other` does not exist."));
  r = http.Post(chat, R"({"model":"m"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("messages"));

  r = http.Get(api_url + "/v2/api/v1/state");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, R"({"state":"INFERENCE"})");
  r = http.Get(api_url + "/v3/api/v1/state");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  node.Shutdown();
  api.Stop(absl::Now() + absl::Seconds(2));
  inference.Stop(absl::Now() + absl::Seconds(2));
}

}  // namespace
}  // namespace devmlnode
}  // namespace gonka
