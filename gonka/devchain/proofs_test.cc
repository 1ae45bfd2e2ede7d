#include "gonka/devchain/proofs.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/chain/ics23.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

// Every entry of trees of 1..17 keys, under a multistore of 1..3 stores, verifies with
// libgonka's ICS-23 verifier (which is tested on proofs built by hand from the rules).
TEST(ProofsTest, EveryKeyVerifiesAgainstTheMultistoreRoot) {
  for (size_t n = 1; n <= 17; ++n) {
    std::vector<StoreEntry> entries;
    for (size_t i = 0; i < n; ++i) {
      entries.push_back({absl::StrCat("key/", std::string(1, static_cast<char>('a' + i)), "/\x2f%"),
                         absl::StrCat("value ", i), static_cast<int64_t>(10 + 7 * i)});
    }
    const std::string iavl_root = IavlRootHash(entries);
    for (const auto& others : std::vector<std::map<std::string, std::string>>{
             {}, {{"devchain", "d"}}, {{"bank", "b"}, {"devchain", ""}}}) {
      std::map<std::string, std::string> roots = others;
      roots["inference"] = iavl_root;
      const std::string app_hash = MultistoreRootHash(roots);
      for (size_t i = 0; i < n; ++i) {
        std::vector<chain::ProofOp> ops = {IavlProofOp(entries, i),
                                           MultistoreProofOp(roots, "inference")};
        const std::string path = "/inference/" + chain::PathEscape(entries[i].key);
        absl::Status s = chain::VerifyProofOps(ops, app_hash, path, entries[i].value);
        EXPECT_TRUE(s.ok()) << "n=" << n << " i=" << i << " stores=" << roots.size() << ": " << s;
        EXPECT_FALSE(chain::VerifyProofOps(ops, app_hash, path, "other").ok());
      }
    }
  }
}

TEST(ProofsTest, RootsChangeWithContent) {
  std::vector<StoreEntry> entries = {{"a", "1", 1}, {"b", "2", 2}};
  const std::string root = IavlRootHash(entries);
  entries[1].version = 3;
  EXPECT_NE(IavlRootHash(entries), root);
  EXPECT_EQ(IavlRootHash({}).size(), 32u);
  EXPECT_NE(MultistoreRootHash({{"a", "x"}}), MultistoreRootHash({{"a", "y"}}));
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
