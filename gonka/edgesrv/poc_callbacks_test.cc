// PocCallbacks on an in-memory store with a hand-made stage: a generated batch must carry the
// participant's public_key and the stage's start block hash when those checks are configured,
// and each refusal is counted by reason.
#include "gonka/edgesrv/poc_callbacks.h"

#include <string>

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

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
