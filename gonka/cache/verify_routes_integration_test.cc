// edge-api's POST /v1/verify-block and GET /v1/debug/verify/{height} (--expose-optional-routes)
// on a real edge-api process against a real devchain whose validator key signs every commit:
// a block as devchain's /block answers it verifies with devchain's validators; a changed
// signature, a changed last_commit or other validators are 500 naming the problem; a body that
// does not decode is 400; /v1/debug/verify/{h} answers Gonka's text.
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/route_client.h"
#include "gtest/gtest.h"

namespace gonka {
namespace cache {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr int64_t kHeight = 3;

class VerifyRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new testing::ChainHub({.devchain_args = {"--block-interval=100ms"},
                                  .edge_api_args = {"--expose-optional-routes"},
                                  .chain_id = "verify-test"});
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
    net::HttpClient client;
    s = testing::WaitFor(
        [&] {
          absl::StatusOr<net::HttpResponse> r =
              client.Get(absl::StrCat(env_->devchain().url(), "/block?height=", kHeight + 1));
          return r.ok() && r->status == 200 && !absl::StrContains(r->body, "\"error\"");
        },
        kWait);
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  // devchain's answer `path` (a JSON-RPC envelope), or "" on failure.
  static std::string Devchain(const std::string& path) {
    net::HttpClient client;
    absl::StatusOr<net::HttpResponse> r = client.Get(env_->devchain().url() + path);
    return r.ok() && r->status == 200 ? r->body : "";
  }
  // The `result.block` object of devchain's /block at `height` (the RPC's own bytes).
  static std::string BlockJson(int64_t height) {
    const std::string answer = Devchain(absl::StrCat("/block?height=", height));
    const size_t start = answer.find("\"block\":{\"header\"");
    if (start == std::string::npos) return "";
    // The envelope ends with "}}" (result, then the answer); the block is the last member.
    return answer.substr(start + 8, answer.size() - (start + 8) - 2);
  }
  // devchain's validators at `height` as Gonka's request carries them.
  static std::string ValidatorsJson(int64_t height) {
    const std::string answer = Devchain(absl::StrCat("/validators?height=", height));
    const std::string marker = "\"tendermint/PubKeyEd25519\",\"value\":\"";
    const size_t at = answer.find(marker);
    if (at == std::string::npos) return "[]";
    const size_t begin = at + marker.size();
    const std::string key = answer.substr(begin, answer.find('"', begin) - begin);
    return absl::StrCat("[{\"pub_key\":\"", key, "\",\"voting_power\":10}]");
  }
  static net::HttpResponse Post(const std::string& body) {
    net::HttpClient client;
    net::HttpCallOptions options;
    options.timeout = absl::Seconds(15);
    absl::StatusOr<net::HttpResponse> r =
        client.Post(env_->url("/v1/verify-block"), body, "application/json", options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::HttpResponse{};
  }
  static std::string Request(const std::string& block, const std::string& validators) {
    return absl::StrCat("{\"block\":", block, ",\"validators\":", validators, "}");
  }

  static testing::ChainHub* env_;
};
testing::ChainHub* VerifyRoutesTest::env_ = nullptr;

TEST_F(VerifyRoutesTest, DevchainBlockWithDevchainValidatorsVerifies) {
  const std::string block = BlockJson(kHeight);
  ASSERT_FALSE(block.empty());
  net::HttpResponse r = Post(Request(block, ValidatorsJson(kHeight)));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "");
  // Another height too (its last_commit signs a different block id and time).
  r = Post(Request(BlockJson(kHeight + 1), ValidatorsJson(kHeight + 1)));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(VerifyRoutesTest, ChangedSignatureIs500) {
  std::string block = BlockJson(kHeight);
  const std::string marker = "\"signature\":\"";
  const size_t at = block.find(marker);
  ASSERT_NE(at, std::string::npos) << block;
  char& first = block[at + marker.size()];
  first = first == 'A' ? 'B' : 'A';  // the signature's first byte changes
  net::HttpResponse r = Post(Request(block, ValidatorsJson(kHeight)));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "invalid commit signatures")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "wrong signature (#0)")) << r.body;
}

TEST_F(VerifyRoutesTest, ChangedLastCommitIs500) {
  const std::string block = BlockJson(kHeight);
  // The commit's round: the signature no longer matches its sign bytes.
  std::string round = absl::StrReplaceAll(block, {{"\"round\":0", "\"round\":1"}});
  ASSERT_NE(round, block);
  net::HttpResponse r = Post(Request(round, ValidatorsJson(kHeight)));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "wrong signature (#0)")) << r.body;
  // The commit's height: not the header's height - 1.
  std::string height = absl::StrReplaceAll(
      block, {{absl::StrCat("\"last_commit\":{\"height\":\"", kHeight - 1, "\""),
               "\"last_commit\":{\"height\":\"7\""}});
  ASSERT_NE(height, block);
  r = Post(Request(height, ValidatorsJson(kHeight)));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "wrong height: 2 vs 7")) << r.body;
}

TEST_F(VerifyRoutesTest, WrongValidatorsAre500) {
  const std::string block = BlockJson(kHeight);
  // A valid Ed25519 key that did not sign (RFC 8032 test 1's public key).
  const std::string other = absl::Base64Escape(
      absl::HexStringToBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  net::HttpResponse r =
      Post(Request(block, absl::StrCat("[{\"pub_key\":\"", other, "\",\"voting_power\":10}]")));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "the request's validators: wrong signature")) << r.body;
  // Two validators for a one-signature commit: the set size.
  const std::string devchain = ValidatorsJson(kHeight);
  r = Post(Request(block, absl::StrCat(devchain.substr(0, devchain.size() - 1), ",{\"pub_key\":\"",
                                       other, "\",\"voting_power\":10}]")));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "wrong set size: 2 vs 1")) << r.body;
  // No validators at all.
  r = Post(Request(block, "[]"));
  EXPECT_EQ(r.status, 500) << r.body;
}

TEST_F(VerifyRoutesTest, UndecodableBodiesAre400) {
  net::HttpResponse r = Post("{not json");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "Error decoding request")) << r.body;
  r = Post("{\"validators\":[]}");
  EXPECT_EQ(r.status, 400) << r.body;
  r = Post(Request(BlockJson(kHeight), "[{\"pub_key\":\"!!notbase64\",\"voting_power\":10}]"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "Error decoding public key")) << r.body;
}

TEST_F(VerifyRoutesTest, DebugVerifyAnswersGonkasText) {
  net::HttpClient client;
  absl::StatusOr<testing::RouteAnswer> a =
      testing::GetRoute(client, env_->url(absl::StrCat("/v1/debug/verify/", kHeight)));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(a->body, "Block signatures verified");
  a = testing::GetRoute(client, env_->url("/v1/debug/verify/abc"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_TRUE(absl::StrContains(a->body, "invalid height")) << a->body;
  // A height the chain does not have yet: the RPC's error, 500.
  a = testing::GetRoute(client, env_->url("/v1/debug/verify/99999999"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, 500) << a->body;
}

}  // namespace
}  // namespace cache
}  // namespace gonka
