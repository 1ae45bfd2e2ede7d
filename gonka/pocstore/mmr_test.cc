// The MMR against vectors computed independently (testdata/mmr_vectors.py, from Gonka's
// definition) and Gonka's own position tables (its artifact store's unit tests), plus the
// properties a validator relies on: the incremental root equals the recomputed one, every proof
// verifies at every snapshot, and any tampering fails.
#include "gonka/pocstore/mmr.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gonka {
namespace pocstore {
namespace {

std::string Hex(const Digest& d) { return crypto::HexEncode(d); }

Digest Leaf(int i) { return LeafHash(i, std::string(1, static_cast<char>(i))); }

TEST(MmrTest, LeafEncodingKeepsTheInt32BitPattern) {
  EXPECT_EQ(crypto::HexEncode(LeafBytes(-1, "\x01\x02")), "ffffffff0102");
  EXPECT_EQ(crypto::HexEncode(LeafBytes(0x01020304, "")), "04030201");
  EXPECT_EQ(Hex(LeafHash(-1, "\x01\x02\x03")),
            "598177bf2ec77176c69c974c00ed2d2592fe57e647255c837649fa93e539b7f8");
  EXPECT_EQ(Hex(LeafHash(100, "\x01\x02\x03\x04")),
            "54874794af395d098cdda3ac9b6fa677b9c1f0b7ca77031f4abf0a070fdedc30");
}

TEST(MmrTest, RootsMatchIndependentVectors) {
  const std::vector<std::pair<int, std::string>> want = {
      {1, "b0f66adc83641586656866813fd9dd0b8ebb63796075661ba45d1aa8089e1d44"},
      {2, "7aeca0b010ba786559e4fa3b3be4052e1b163e12b0270d02a71261557cb8c029"},
      {3, "deaddd05f72f18123cc4e479b20e0ed2845a36758f549434500c5d45a99eb2ab"},
      {4, "5fc79e084b3d078f6fcadcbbb6f2f0716bfaffa02ab110ac902ca1e7285cffb8"},
      {5, "6c61183b88bcd1ffa1b365976771d267eaca74ff321b840b4468f56c9a6db788"},
      {7, "0e6a10c9e75860016d0d02ab341e086d66f15ccb6c11d321a042cf1cd78a8a9d"},
      {8, "a6773d92a52da3928f850730e91b40022a88829518970e996a3ca2ed0a5759d1"},
      {11, "3c7bac1cf791f0ba8009e57b7126f6c10a8b38fa393932ee937bfc8ea55b6a38"},
      {100, "f6f8bc5f4b94b5d927db1fd98c724cf5f2ac1ebb3e638617130c9c89684996c9"},
  };
  Mmr mmr;
  EXPECT_FALSE(mmr.Root().has_value());  // Gonka: no root for an empty store
  for (int i = 0; i < 100; ++i) mmr.Append(Leaf(i));
  for (const auto& [count, root] : want) {
    ASSERT_TRUE(mmr.RootAt(count).has_value()) << count;
    EXPECT_EQ(Hex(*mmr.RootAt(count)), root) << "count " << count;
  }
  EXPECT_EQ(Hex(*mmr.Root()), want.back().second);
}

TEST(MmrTest, PositionsMatchGonkasTables) {
  // Gonka's TestMMRSizeForLeaves / TestLeafPositionInMMR / TestGetPeakPositions.
  const uint64_t sizes[] = {0, 1, 3, 4, 7, 8, 10, 11, 15};
  for (uint64_t n = 0; n <= 8; ++n) EXPECT_EQ(MmrSize(n), sizes[n]) << n;
  const std::vector<std::vector<uint64_t>> peaks = {{},     {0},    {2},        {2, 3}, {6},
                                                    {6, 7}, {6, 9}, {6, 9, 10}, {14}};
  for (uint64_t n = 0; n <= 8; ++n) EXPECT_EQ(PeakPositions(n), peaks[n]) << n;
  // A leaf in a 4-leaf mountain followed by a single leaf: path then the other peak.
  EXPECT_EQ(ProofPositions(0, 5), (std::vector<uint64_t>{1, 5, 7}));
  EXPECT_EQ(ProofPositions(3, 5), (std::vector<uint64_t>{3, 2, 7}));
  EXPECT_EQ(ProofPositions(4, 5), (std::vector<uint64_t>{6}));
  EXPECT_EQ(ProofPositions(5, 5), (std::vector<uint64_t>{}));
}

TEST(MmrTest, NodesAreGonkasPostOrderLayout) {
  Mmr mmr;
  for (int i = 0; i < 4; ++i) mmr.Append(Leaf(i));
  ASSERT_EQ(mmr.nodes().size(), 7u);  // L0 L1 N01 L2 L3 N23 N0123
  EXPECT_EQ(mmr.nodes()[2], NodeHash(Leaf(0), Leaf(1)));
  EXPECT_EQ(mmr.nodes()[5], NodeHash(Leaf(2), Leaf(3)));
  EXPECT_EQ(mmr.nodes()[6], NodeHash(mmr.nodes()[2], mmr.nodes()[5]));
  EXPECT_EQ(*mmr.Root(), mmr.nodes()[6]);
}

TEST(MmrTest, IncrementalRootEqualsRecomputedAndFrontierResumes) {
  std::mt19937 rng(19);
  Mmr mmr;
  MmrFrontier resumed;
  for (int i = 0; i < 300; ++i) {
    std::string vector(1 + rng() % 40, '\0');
    for (char& c : vector) c = static_cast<char>(rng());
    Digest leaf = LeafHash(static_cast<int32_t>(rng()), vector);
    mmr.Append(leaf);
    // Resume a frontier from the stored peaks (what PgArtifactStore::Commit does) and extend it.
    std::vector<Digest> peaks;
    for (uint64_t p : PeakPositions(mmr.count() - 1)) peaks.push_back(mmr.nodes()[p]);
    auto f = MmrFrontier::Resume(mmr.count() - 1, peaks);
    ASSERT_TRUE(f.ok()) << f.status();
    uint64_t first = MmrSize(mmr.count() - 1);
    std::vector<Digest> created = f->Append(leaf);
    for (size_t k = 0; k < created.size(); ++k) EXPECT_EQ(created[k], mmr.nodes()[first + k]);
    EXPECT_EQ(f->Root(), mmr.Root());
    // And the root recomputed from the node array's peaks.
    std::vector<Digest> all;
    for (uint64_t p : PeakPositions(mmr.count())) all.push_back(mmr.nodes()[p]);
    EXPECT_EQ(BagPeaks(all), mmr.Root());
  }
  EXPECT_EQ(MmrFrontier::Resume(3, {Leaf(0)}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MmrTest, EveryProofVerifiesAtEverySnapshot) {
  Mmr mmr;
  for (int i = 0; i < 70; ++i) mmr.Append(Leaf(i));
  for (uint64_t count = 1; count <= 70; ++count) {
    Digest root = *mmr.RootAt(count);
    for (uint64_t leaf = 0; leaf < count; ++leaf) {
      auto proof = mmr.Prove(leaf, count);
      ASSERT_TRUE(proof.ok()) << proof.status();
      std::string vector(1, static_cast<char>(leaf));
      ASSERT_TRUE(VerifyProof(root, count, leaf, static_cast<int32_t>(leaf), vector, *proof))
          << "leaf " << leaf << " count " << count;
    }
  }
  EXPECT_EQ(mmr.Prove(5, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mmr.Prove(0, 71).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MmrTest, TamperedProofsFail) {
  Mmr mmr;
  for (int i = 0; i < 13; ++i) mmr.Append(Leaf(i));
  const uint64_t count = 13, leaf = 5;
  Digest root = *mmr.Root();
  std::vector<Digest> proof = *mmr.Prove(leaf, count);
  const std::string vector(1, 5);
  ASSERT_TRUE(VerifyProof(root, count, leaf, 5, vector, proof));
  for (size_t i = 0; i < proof.size(); ++i) {
    std::vector<Digest> bad = proof;
    bad[i][7] ^= 0x01;
    EXPECT_FALSE(VerifyProof(root, count, leaf, 5, vector, bad)) << "sibling " << i;
  }
  EXPECT_FALSE(VerifyProof(root, count, leaf, 6, vector, proof));             // nonce
  EXPECT_FALSE(VerifyProof(root, count, leaf, 5, std::string(1, 6), proof));  // vector
  EXPECT_FALSE(VerifyProof(root, count, leaf + 1, 5, vector, proof));         // position
  EXPECT_FALSE(VerifyProof(root, count - 1, leaf, 5, vector, proof));         // snapshot
  EXPECT_FALSE(VerifyProof(root, count, count, 5, vector, proof));            // out of range
  Digest other_root = root;
  other_root[0] ^= 0x80;
  EXPECT_FALSE(VerifyProof(other_root, count, leaf, 5, vector, proof));
  std::vector<Digest> longer = proof;
  longer.push_back(root);
  EXPECT_FALSE(VerifyProof(root, count, leaf, 5, vector, longer));
  std::vector<Digest> shorter(proof.begin(), proof.end() - 1);
  EXPECT_FALSE(VerifyProof(root, count, leaf, 5, vector, shorter));
}

}  // namespace
}  // namespace pocstore
}  // namespace gonka
