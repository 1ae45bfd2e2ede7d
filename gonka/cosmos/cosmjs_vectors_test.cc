// Byte-exactness against the committed CosmJS vectors (testdata/cosmjs/vectors/vectors.json,
// produced by `node testdata/cosmjs/oracle.js vectors`). Needs no node.
#include <gtest/gtest.h>

#include "gonka/cosmos/cosmjs_oracle_testutil.h"

namespace gonka::cosmos::testing {
namespace {

TEST(CosmjsVectorsTest, CommittedVectorsMatchByteForByte) {
  absl::StatusOr<std::string> json = ReadFile("testdata/cosmjs/vectors/vectors.json");
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<OracleCounts> counts = CheckOracleDocument(*json);
  ASSERT_TRUE(counts.ok()) << counts.status();
  std::printf("CosmJS fixed vectors: %d key vectors, %d tx vectors\n", counts->keys, counts->txs);
  EXPECT_GE(counts->keys + counts->txs, 20);
  EXPECT_GE(counts->txs, 15);
}

}  // namespace
}  // namespace gonka::cosmos::testing
