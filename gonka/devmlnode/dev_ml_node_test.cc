// DevMlNode's pure parts: the stand-in artifact function and option validation.
#include "gonka/devmlnode/dev_ml_node.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
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
}

}  // namespace
}  // namespace devmlnode
}  // namespace gonka
