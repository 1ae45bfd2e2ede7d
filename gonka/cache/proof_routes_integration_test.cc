// edge-api's POST /v1/verify-proof (--expose-optional-routes) on a real edge-api process against
// a real devchain (gRPC on) that answers abci_query prove=true with ICS-23 proof ops: the value,
// proof ops and block that /v1/epochs/{n}/participants prints verify (200); a changed value, app
// hash, op or epoch is 500 with the verifier's error; bad hex and bad JSON are 400.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/route_client.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace cache {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }

// 20-block epochs of 100 ms blocks: epoch 1's ActiveParticipants are written at 28 (the end of
// its PoC validation), so block 29's header carries the app hash they are proven against.
std::string Genesis() {
  return absl::StrCat(R"({
    "block_interval": "100ms",
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "inference": {
      "models": [{"id": "Qwen/Qwen3-8B"}],
      "participants": [
        {"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10,
         "validator_key": ")",
                      absl::Base64Escape(std::string(32, '\x01')), R"("},
        {"address": ")",
                      Address(2), R"(", "inference_url": "http://p2", "weight": 20,
         "validator_key": ")",
                      absl::Base64Escape(std::string(32, '\x02')), R"("}]}})");
}

struct Post {
  int status = 0;
  std::string body;
};

class ProofRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new testing::ChainHub({.edge_api_args = {"--start-height=1", "--cache-height-poll=50ms",
                                                    "--expose-optional-routes"},
                                  .chain_id = "proof-routes-test",
                                  .genesis_json = Genesis(),
                                  .grpc = true});
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
    // Epoch 1's participants with the block after their creation (height 29).
    net::HttpClient client;
    s = testing::WaitFor(
        [&] {
          absl::StatusOr<testing::RouteAnswer> a =
              testing::GetRoute(client, env_->url("/v1/epochs/1/participants"));
          if (!a.ok() || a->status != 200 || !absl::StrContains(a->body, "\"block\"")) {
            return false;
          }
          *participants_ = a->body;
          return true;
        },
        kWait, absl::Milliseconds(100));
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  void SetUp() override {
    simdjson::dom::element doc = testing::ParseJson(parser_, *participants_);
    value_hex_ = testing::StringField(doc, "active_participants_bytes");
    simdjson::dom::element ops;
    ASSERT_EQ(doc["proof_ops"].get(ops), simdjson::SUCCESS) << *participants_;
    proof_ops_json_ = simdjson::minify(ops);
    std::string app_hash;
    ASSERT_TRUE(
        absl::Base64Unescape(testing::StringField(doc["block"]["header"], "app_hash"), &app_hash));
    app_hash_hex_ = crypto::HexEncode(app_hash);
    ASSERT_EQ(app_hash.size(), 32u);
    ASSERT_EQ(testing::StringField(doc["block"]["header"], "height"), "29");
  }

  static Post Verify(const std::string& body) {
    net::HttpClient client;
    net::HttpCallOptions options;
    options.timeout = absl::Seconds(10);
    absl::StatusOr<net::HttpResponse> r =
        client.Post(env_->url("/v1/verify-proof"), body, "application/json", options);
    if (!r.ok()) return {0, std::string(r.status().message())};
    return {r->status, r->body};
  }
  static std::string Body(const std::string& value, const std::string& app_hash,
                          const std::string& ops, int64_t epoch) {
    return absl::StrCat(R"({"value":")", value, R"(","app_hash":")", app_hash, R"(","proof_ops":)",
                        ops, R"(,"epoch":)", epoch, "}");
  }

  static testing::ChainHub* env_;
  static std::string* participants_;
  simdjson::dom::parser parser_;
  std::string value_hex_, app_hash_hex_, proof_ops_json_;
};

testing::ChainHub* ProofRoutesTest::env_ = nullptr;
std::string* ProofRoutesTest::participants_ = new std::string;

// A hex string with its last digit changed.
std::string Flip(std::string hex) {
  hex.back() = hex.back() == '0' ? '1' : '0';
  return hex;
}

TEST_F(ProofRoutesTest, ParticipantsProofVerifies) {
  // Two ops: the key in the "inference" IAVL tree, that tree in the multistore.
  EXPECT_TRUE(absl::StrContains(proof_ops_json_, R"("type":"ics23:iavl")")) << proof_ops_json_;
  EXPECT_TRUE(absl::StrContains(proof_ops_json_, R"("type":"ics23:simple")")) << proof_ops_json_;
  Post p = Verify(Body(value_hex_, app_hash_hex_, proof_ops_json_, 1));
  EXPECT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.body, "");
  // Upper-case hex decodes too (Go's hex.DecodeString takes either case).
  std::string upper = app_hash_hex_;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_EQ(Verify(Body(value_hex_, upper, proof_ops_json_, 1)).status, 200);
}

TEST_F(ProofRoutesTest, PrintsLatency) {
  // 200 sequential verifications over one keep-alive connection, end to end through edge-api.
  net::HttpClient client;
  net::HttpCallOptions options;
  options.timeout = absl::Seconds(10);
  const std::string body = Body(value_hex_, app_hash_hex_, proof_ops_json_, 1);
  std::vector<double> micros;
  for (int i = 0; i < 200; ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<net::HttpResponse> r =
        client.Post(env_->url("/v1/verify-proof"), body, "application/json", options);
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    ASSERT_TRUE(r.ok() && r->status == 200);
  }
  std::sort(micros.begin(), micros.end());
  std::printf("POST /v1/verify-proof (%zu-byte body): p50 %.0f us, p99 %.0f us\n", body.size(),
              micros[micros.size() / 2], micros[micros.size() * 99 / 100]);
}

TEST_F(ProofRoutesTest, AppHashIsDevchainsHeader) {
  // The same app hash in devchain's own /block (CometBFT's upper-case hex), and the RPC's
  // abci_query answers the same proof ops as gRPC (as "proofOps").
  net::HttpClient client;
  absl::StatusOr<net::HttpResponse> block =
      client.Get(absl::StrCat(env_->devchain().url(), "/block?height=29"));
  ASSERT_TRUE(block.ok() && block->status == 200);
  std::string upper = app_hash_hex_;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_TRUE(absl::StrContains(block->body, absl::StrCat("\"app_hash\":\"", upper, "\"")))
      << block->body.substr(0, 600);
  std::string key = std::string("ActiveParticipants/value/\0\0\0\0\0\0\0\x01/", 34);
  absl::StatusOr<net::HttpResponse> query = client.Get(absl::StrCat(
      env_->devchain().url(), "/abci_query?path=", net::UrlEncode("\"store/inference/key\""),
      "&data=0x", crypto::HexEncode(key), "&height=28&prove=true"));
  ASSERT_TRUE(query.ok() && query->status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element response = testing::ParseJson(parser, query->body)["result"]["response"];
  simdjson::dom::array ops;
  ASSERT_EQ(response["proofOps"]["ops"].get(ops), simdjson::SUCCESS) << query->body;
  EXPECT_EQ(ops.size(), 2u);
  EXPECT_TRUE(absl::StrContains(
      proof_ops_json_, absl::StrCat("\"data\":\"", testing::StringField(ops.at(0), "data"), "\"")));
}

TEST_F(ProofRoutesTest, TamperedInputsAre500) {
  Post p = Verify(Body(Flip(value_hex_), app_hash_hex_, proof_ops_json_, 1));
  EXPECT_EQ(p.status, 500) << p.body;
  EXPECT_TRUE(absl::StrContains(p.body, "provided value doesn't match proof")) << p.body;

  p = Verify(Body(value_hex_, Flip(app_hash_hex_), proof_ops_json_, 1));
  EXPECT_EQ(p.status, 500) << p.body;
  EXPECT_TRUE(absl::StrContains(p.body, "calculated root hash is invalid")) << p.body;

  // The multistore op's data with one byte changed (a sibling hash or a header byte).
  simdjson::dom::parser parser;
  simdjson::dom::element ops = testing::ParseJson(parser, proof_ops_json_);
  const std::string data_b64 = testing::StringField(ops["ops"].at(1), "data");
  std::string data;
  ASSERT_TRUE(absl::Base64Unescape(data_b64, &data));
  data[data.size() - 3] ^= 0x01;
  std::string tampered = proof_ops_json_;
  tampered.replace(tampered.find(data_b64), data_b64.size(), absl::Base64Escape(data));
  p = Verify(Body(value_hex_, app_hash_hex_, tampered, 1));
  EXPECT_EQ(p.status, 500) << p.body;
  EXPECT_FALSE(p.body.empty());

  // Another epoch's key path: the IAVL op's key no longer matches.
  p = Verify(Body(value_hex_, app_hash_hex_, proof_ops_json_, 2));
  EXPECT_EQ(p.status, 500) << p.body;
  EXPECT_TRUE(absl::StrContains(p.body, "key mismatch on operation #0")) << p.body;

  // No ops at all.
  p = Verify(Body(value_hex_, app_hash_hex_, R"({"ops":[]})", 1));
  EXPECT_EQ(p.status, 500) << p.body;
}

TEST_F(ProofRoutesTest, BadHexAndJsonAre400) {
  Post p = Verify(Body(value_hex_, "zz", proof_ops_json_, 1));
  EXPECT_EQ(p.status, 400) << p.body;
  EXPECT_EQ(p.body, "encoding/hex: invalid byte: U+007A 'z'\n");
  p = Verify(Body("abc", app_hash_hex_, proof_ops_json_, 1));
  EXPECT_EQ(p.status, 400) << p.body;
  EXPECT_EQ(p.body, "encoding/hex: odd length hex string\n");
  for (const std::string& body :
       {std::string("{"), std::string("[1]"), std::string(""),
        absl::StrCat(R"({"value":")", value_hex_, R"(","epoch":"1"})"),
        absl::StrCat(R"({"value":1})"), std::string(R"({"proof_ops":{"ops":[{"key":"%%"}]}})")}) {
    p = Verify(body);
    EXPECT_EQ(p.status, 400) << body << ": " << p.body;
    EXPECT_EQ(p.body, "Error decoding request\n") << body;
  }
}

}  // namespace
}  // namespace cache
}  // namespace gonka
