// PocCallbacks on an in-memory store with a hand-made stage: a generated batch must carry the
// participant's public_key and the stage's start block hash when those checks are configured,
// and each refusal is counted by reason.
#include "gonka/edgesrv/poc_callbacks.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/base/metrics.h"
#include "gonka/net/http_message.h"
#include "gonka/pocstore/artifact_store.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

constexpr int64_t kStage = 100;
constexpr char kKey[] = "02ab0000000000000000000000000000000000000000000000000000000000cdef";
constexpr char kStartHash[] = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

StageFn Generating(std::string start_hash) {
  return [start_hash]() -> absl::StatusOr<StageWindow> {
    return StageWindow{.height = kStage + 3,
                       .poc_start = kStage,
                       .generating = true,
                       .phase = "PoCGenerate",
                       .poc_start_hash = start_hash};
  };
}

net::HttpRequest Batch(const std::string& public_key, const std::string& block_hash, int nonce) {
  net::HttpRequest r;
  r.method = "POST";
  r.path = "/v2/poc-batches/org%252Fmodel/generated";
  r.body = absl::StrCat("{\"block_hash\":\"", block_hash, "\",\"block_height\":", kStage,
                        ",\"public_key\":\"", public_key, "\",\"node_id\":0,\"artifacts\":[",
                        "{\"nonce\":", nonce, ",\"vector_b64\":\"AAECAw==\"}]}");
  return r;
}

// The value of gonka_edgesrv_rejections_total{route="generated",reason=`reason`} (0 if absent).
double Rejections(const std::string& reason) {
  const std::string text = metrics::ExposeText();
  const std::string series =
      absl::StrFormat("gonka_edgesrv_rejections_total{reason=\"%s\",route=\"generated\"} ", reason);
  size_t at = text.find(series);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size()));
}

TEST(PocCallbacks, ABatchForAnotherKeyOrStartBlockIsRefusedAndNotStored) {
  pocstore::InMemoryArtifactStore store;
  PocCallbacks callbacks(&store, Generating(kStartHash),
                         {.public_key = kKey, .check_block_hash = true});
  const double key_before = Rejections("public_key");
  const double hash_before = Rejections("block_hash");

  net::HttpResponse wrong_key = callbacks.Handle(Batch("02ffff", kStartHash, 1));
  EXPECT_EQ(wrong_key.status, 400);
  EXPECT_NE(wrong_key.body.find("public_key"), std::string::npos) << wrong_key.body;
  net::HttpResponse wrong_hash = callbacks.Handle(Batch(kKey, "AB", 2));
  EXPECT_EQ(wrong_hash.status, 400);
  EXPECT_NE(wrong_hash.body.find("block_hash"), std::string::npos) << wrong_hash.body;
  EXPECT_EQ(Rejections("public_key"), key_before + 1);
  EXPECT_EQ(Rejections("block_hash"), hash_before + 1);
  EXPECT_EQ(store.CountsByNode(kStage, "org/model")->size(), 0u);

  // Hex case does not matter (CometBFT prints hashes upper case, ML nodes may echo lower case).
  net::HttpResponse ok =
      callbacks.Handle(Batch(absl::AsciiStrToUpper(kKey), absl::AsciiStrToLower(kStartHash), 3));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(callbacks.stored(), 1);
}

TEST(PocCallbacks, UncheckedWithoutTheOptionsOrAnUnknownStartHash) {
  pocstore::InMemoryArtifactStore store;
  // Gonka's dapi checks neither field: by default any value is accepted.
  PocCallbacks unchecked(&store, Generating(kStartHash));
  EXPECT_EQ(unchecked.Handle(Batch("pk", "AB", 1)).status, 200);
  // A replica that did not see the stage's start block cannot check the hash.
  PocCallbacks unknown(&store, Generating(""), {.check_block_hash = true});
  EXPECT_EQ(unknown.Handle(Batch("pk", "AB", 2)).status, 200);
}

StageFn Validating() {
  return []() -> absl::StatusOr<StageWindow> {
    return StageWindow{
        .height = kStage + 45, .poc_start = kStage, .validating = true, .phase = "PoCValidate"};
  };
}

// The secp256k1 generator point, compressed: a valid validated participant's key.
constexpr char kValidatedKey[] =
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

net::HttpRequest Result(const std::string& extra) {
  net::HttpRequest r;
  r.method = "POST";
  r.path = "/v2/poc-batches/org%252Fmodel/validated";
  r.body = absl::StrCat("{\"block_height\":", kStage, ",\"public_key\":\"", kValidatedKey,
                        "\",\"node_id\":0,\"n_total\":5,\"n_mismatch\":0,"
                        "\"mismatch_nonces\":[],\"p_value\":1.0,\"fraud_detected\":false",
                        extra, "}");
  return r;
}

// The value of gonka_edgesrv_abstentions_total{reason=`reason`} (0 if absent).
double Abstentions(const std::string& reason) {
  const std::string text = metrics::ExposeText();
  const std::string series =
      absl::StrFormat("gonka_edgesrv_abstentions_total{reason=\"%s\"} ", reason);
  size_t at = text.find(series);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size()));
}

TEST(PocCallbacks, AbstainRule) {
  EXPECT_EQ(AbstainReason(0, 0), nullptr);
  EXPECT_STREQ(AbstainReason(2, 0), kAbstainNanSteps);
  EXPECT_STREQ(AbstainReason(0, 1), kAbstainExcluded);
  EXPECT_STREQ(AbstainReason(1, 1), kAbstainBoth);
}

TEST(PocCallbacks, AnIncompleteValidationIsAnswered200AndNothingIsSent) {
  pocstore::InMemoryArtifactStore store;
  std::vector<ValidationResult> sent;
  PocCallbacksOptions options;
  options.validations = [&](const ValidationResult& r) -> absl::StatusOr<ValidationSendResult> {
    sent.push_back(r);
    return ValidationSendResult{};
  };
  PocCallbacks callbacks(&store, Validating(), options);
  const double nan_before = Abstentions(kAbstainNanSteps);
  const double excluded_before = Abstentions(kAbstainExcluded);
  const double both_before = Abstentions(kAbstainBoth);

  // Gonka's two cases: NaN steps; excluded nonces (with their list, which is not read).
  EXPECT_EQ(callbacks.Handle(Result(",\"n_nan_steps\":2")).status, 200);
  EXPECT_EQ(callbacks.Handle(Result(",\"n_excluded\":2,\"excluded_nonces\":[4,9]")).status, 200);
  EXPECT_EQ(callbacks.Handle(Result(",\"n_nan_steps\":1,\"n_excluded\":1")).status, 200);
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(Abstentions(kAbstainNanSteps), nan_before + 1);
  EXPECT_EQ(Abstentions(kAbstainExcluded), excluded_before + 1);
  EXPECT_EQ(Abstentions(kAbstainBoth), both_before + 1);

  // Zero (or null) counts are a complete validation: the vote is sent.
  EXPECT_EQ(callbacks.Handle(Result(",\"n_nan_steps\":0,\"n_excluded\":null")).status, 200);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].validated_weight, 5);
  EXPECT_EQ(sent[0].model, "org/model");

  // A count that is not a non-negative integer is a bad request naming the field.
  net::HttpResponse bad = callbacks.Handle(Result(",\"n_excluded\":-1"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("n_excluded"), std::string::npos) << bad.body;
  bad = callbacks.Handle(Result(",\"n_nan_steps\":\"2\""));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("n_nan_steps"), std::string::npos) << bad.body;
  EXPECT_EQ(sent.size(), 1u);
}

TEST(PocCallbacks, AbstentionComesAfterThePhaseGate) {
  pocstore::InMemoryArtifactStore store;
  // Outside the validation phase an incomplete result is still 503 (the ML node retries).
  PocCallbacks callbacks(&store, Generating(kStartHash));
  EXPECT_EQ(callbacks.Handle(Result(",\"n_nan_steps\":2")).status, 503);
  // Inside it, abstaining needs no tx queue (Gonka answers before touching its recorder).
  PocCallbacks unconfigured(&store, Validating());
  EXPECT_EQ(unconfigured.Handle(Result(",\"n_nan_steps\":2")).status, 200);
  EXPECT_EQ(unconfigured.Handle(Result("")).status, 503);
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
