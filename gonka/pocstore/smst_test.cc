#include "gonka/pocstore/smst.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gonka/crypto/hash.h"
#include "gtest/gtest.h"

namespace gonka {
namespace pocstore {
namespace {

struct Art {
  int32_t nonce;
  std::string vector;
};

std::vector<SmstLeaf> Sorted(const std::vector<Art>& arts) {
  std::vector<SmstLeaf> leaves;
  for (const Art& a : arts)
    leaves.push_back({static_cast<uint32_t>(a.nonce), LeafHash(a.nonce, a.vector)});
  std::sort(leaves.begin(), leaves.end(),
            [](const SmstLeaf& a, const SmstLeaf& b) { return a.key < b.key; });
  return leaves;
}

std::string Hex(const Digest& d) { return crypto::HexEncode(d); }

// A second computation of the root, level by level over a map (no recursion, no sorted split):
// the definition applied bottom-up.
std::pair<Digest, uint64_t> LevelByLevelRoot(const std::vector<Art>& arts) {
  std::map<uint64_t, std::pair<Digest, uint32_t>> level;
  uint32_t max_key = 0;
  for (const Art& a : arts) {
    uint32_t key = static_cast<uint32_t>(a.nonce);
    max_key = std::max(max_key, key);
    level[key] = {LeafHash(a.nonce, a.vector), 1};
  }
  int depth = SmstDepthFor(max_key);
  for (int h = 0; h < depth; ++h) {
    std::map<uint64_t, std::pair<Digest, uint32_t>> up;
    for (const auto& [prefix, v] : level) {
      uint64_t parent = prefix >> 1;
      if (up.count(parent)) continue;
      auto l = level.find(parent * 2);
      auto r = level.find(parent * 2 + 1);
      Digest lh = l == level.end() ? SmstEmptyHash(h) : l->second.first;
      Digest rh = r == level.end() ? SmstEmptyHash(h) : r->second.first;
      uint32_t c =
          (l == level.end() ? 0 : l->second.second) + (r == level.end() ? 0 : r->second.second);
      up[parent] = {SmstNodeHash(lh, rh, c), c};
    }
    level = std::move(up);
  }
  return {level.begin()->second.first, level.begin()->second.second};
}

// Vectors from testdata/smst_vectors.py (Gonka's insert-and-grow tree in Python's hashlib).
TEST(SmstTest, MatchesIndependentVectors) {
  EXPECT_EQ(Hex(SmstEmptyHash(0)),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(Hex(SmstEmptyHash(24)),
            "c37ff3c98906a0a22cd65891ae94f8a25146c7c168c648470b4a827005660991");
  struct Case {
    std::vector<Art> arts;
    int depth;
    const char* root;
  };
  std::vector<Art> hundred;
  for (int i = 0; i < 100; ++i) hundred.push_back({i, std::string(1, static_cast<char>(i))});
  std::vector<Case> cases = {
      {hundred, 24, "2048cfa0c502176a6b84e907bb445349f903e403f34fc8778ef1d2cf2dc11adf"},
      {{{5, "\x05"}}, 24, "b419c66d3fcbbbb7192e78a1fe07e95552e5424a6b24a912ab0a3b12cde658a3"},
      {{{3, "\x03"}, {1 << 24, "\x04"}, {7, "\x07"}},
       25,
       "729f6e6dc89acc57dd88ca6b0f042fe8180e56eec53ee50df67f03f4ef613a72"},
      {{{10, "\x0a"}, {-1, "\xff"}, {INT32_MIN, "\x80"}},
       32,
       "50fa2fef2b9d647f8c477a19ce9964171114bcaaa0e3842ae4196406cdeb642f"},
  };
  for (const Case& c : cases) {
    auto r = SmstBuild(Sorted(c.arts), 64, nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->count, c.arts.size());
    EXPECT_EQ(r->depth, c.depth);
    EXPECT_EQ(Hex(r->root), c.root);
    auto [root, count] = LevelByLevelRoot(c.arts);
    EXPECT_EQ(Hex(root), c.root);
    EXPECT_EQ(count, c.arts.size());
  }
}

TEST(SmstTest, RefusesUnsortedOrDuplicateKeys) {
  std::vector<SmstLeaf> leaves = Sorted({{1, "a"}, {2, "b"}});
  std::swap(leaves[0], leaves[1]);
  EXPECT_EQ(SmstBuild(leaves, 64, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  leaves[0] = leaves[1];
  EXPECT_EQ(SmstBuild(leaves, 64, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

// Random sets (sparse and dense, positive and negative nonces): the root equals the level-by-level
// computation, the reported buckets partition the leaves in rank order, and a proof built from the
// reported nodes plus one bucket's leaves verifies for every leaf — and fails when tampered with.
TEST(SmstTest, ProofsFromPersistedNodesVerify) {
  std::mt19937 rng(19);
  std::printf("seed 19\n");
  for (int round = 0; round < 6; ++round) {
    std::map<int32_t, std::string> unique;
    int n = 1 + static_cast<int>(rng() % 700);
    for (int i = 0; i < n; ++i) {
      int32_t nonce = round % 3 == 0   ? static_cast<int32_t>(rng() % 1000)
                      : round % 3 == 1 ? static_cast<int32_t>(rng())
                                       : static_cast<int32_t>(rng() % (1 << 26));
      unique.emplace(nonce, std::string(1 + rng() % 8, static_cast<char>(rng())));
    }
    std::vector<Art> arts;
    for (auto& [nonce, v] : unique) arts.push_back({nonce, v});
    std::vector<SmstLeaf> sorted = Sorted(arts);
    uint32_t bucket_leaves = 2 + rng() % 20;
    std::map<std::pair<int, uint64_t>, SmstNode> persisted;
    std::vector<SmstNode> buckets;
    auto r = SmstBuild(sorted, bucket_leaves, [&](const SmstNode& node) {
      persisted[{node.height, node.prefix}] = node;
      if (node.bucket) buckets.push_back(node);
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Hex(r->root), Hex(LevelByLevelRoot(arts).first)) << "round " << round;
    std::sort(buckets.begin(), buckets.end(),
              [](const SmstNode& a, const SmstNode& b) { return a.rank_start < b.rank_start; });
    uint64_t next_rank = 0;
    for (const SmstNode& b : buckets) {
      EXPECT_EQ(b.rank_start, next_rank);
      EXPECT_LT(b.count, bucket_leaves);
      next_rank += b.count;
    }
    EXPECT_EQ(next_rank, sorted.size());
    auto above = [&](int height, uint64_t prefix) {
      auto it = persisted.find({height, prefix});
      return it == persisted.end() ? SmstNode{} : it->second;
    };
    for (uint64_t leaf = 0; leaf < sorted.size(); ++leaf) {
      auto b = std::upper_bound(buckets.begin(), buckets.end(), leaf,
                                [](uint64_t l, const SmstNode& x) { return l < x.rank_start; });
      ASSERT_NE(b, buckets.begin());
      --b;
      std::vector<SmstLeaf> in_bucket(sorted.begin() + b->rank_start,
                                      sorted.begin() + b->rank_start + b->count);
      uint32_t key = sorted[leaf].key;
      int32_t nonce = static_cast<int32_t>(key);
      const std::string& vector = unique[nonce];
      std::vector<SmstProofElement> proof = SmstProve(r->depth, key, b->height, in_bucket, above);
      ASSERT_EQ(proof.size(), static_cast<size_t>(r->depth));
      ASSERT_TRUE(VerifySmstProof(r->root, r->count, leaf, nonce, vector, proof))
          << "round " << round << " leaf " << leaf;
      EXPECT_FALSE(VerifySmstProof(r->root, r->count, leaf, nonce, vector + "x", proof));
      EXPECT_FALSE(VerifySmstProof(r->root, r->count + 1, leaf, nonce, vector, proof));
      if (r->count > 1) {
        EXPECT_FALSE(
            VerifySmstProof(r->root, r->count, (leaf + 1) % r->count, nonce, vector, proof));
      }
      auto bad = proof;
      bad[rng() % bad.size()].sibling[0] ^= 1;
      EXPECT_FALSE(VerifySmstProof(r->root, r->count, leaf, nonce, vector, bad));
      bad = proof;
      bad[rng() % bad.size()].sibling_count += 1;
      EXPECT_FALSE(VerifySmstProof(r->root, r->count, leaf, nonce, vector, bad));
      EXPECT_EQ(EncodeSmstProofElement(proof[0]).size(), 36u);
    }
  }
}

TEST(SmstTest, DepthFollowsTheLargestKey) {
  EXPECT_EQ(SmstDepthFor(0), 24);
  EXPECT_EQ(SmstDepthFor((1u << 24) - 1), 24);
  EXPECT_EQ(SmstDepthFor(1u << 24), 25);
  EXPECT_EQ(SmstDepthFor(0xffffffffu), 32);
}

}  // namespace
}  // namespace pocstore
}  // namespace gonka
