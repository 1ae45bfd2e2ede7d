// Randomized differential test: node (testdata/cosmjs/oracle.js) draws >= 1,000 random tx specs
// from a seed (random messages, amounts, memos, fees, payers, granters, MsgExec wrapping,
// sequences, unordered timeouts) and signs them with CosmJS; libgonka builds and signs the same
// specs and must produce identical TxRaw bytes, signatures and hashes. The seed is printed;
// rerun one with GONKA_DIFF_SEED=<seed>. Skipped when node_modules is not installed.
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/cosmos/cosmjs_oracle_testutil.h"

namespace gonka::cosmos::testing {
namespace {

TEST(CosmjsRandomDiffTest, ThousandRandomTransactions) {
  absl::StatusOr<std::string> dir = CosmjsSourceDir();
  ASSERT_TRUE(dir.ok()) << dir.status();
  if (!NodeModulesInstalled(*dir)) {
    GTEST_SKIP() << "node_modules not installed in " << *dir << " (tools/test runs npm install)";
  }
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("GONKA_DIFF_SEED"); env != nullptr) {
    ASSERT_TRUE(absl::SimpleAtoi(env, &seed)) << "GONKA_DIFF_SEED=" << env;
  }
  int count = 1000;
  std::printf("random differential test: seed %llu, %d transactions\n",
              static_cast<unsigned long long>(seed), count);
  std::fflush(stdout);
  absl::StatusOr<std::string> json =
      RunCommand(absl::StrCat("cd '", *dir, "' && node oracle.js random ", seed, " ", count));
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<OracleCounts> counts = CheckOracleDocument(*json);
  ASSERT_TRUE(counts.ok()) << "seed " << seed << ": " << counts.status();
  EXPECT_EQ(counts->txs, count);
  std::printf("random differential test: seed %llu, %d/%d transactions byte-identical\n",
              static_cast<unsigned long long>(seed), counts->txs, count);
}

}  // namespace
}  // namespace gonka::cosmos::testing
