// The sparse Merkle sum tree (SMST) that commits a PoC stage's artifacts in Gonka's newest dapi
// (docs/reference/gonka-poc-artifacts.md, "The SMST"): its count and root, inclusion proofs in
// Gonka's layout (sibling hash and sibling count per level, root to leaf) and their
// verification. Unlike the MMR (mmr.h) the root depends only on the set of artifacts, not on
// the order they arrived in.
//
// The definition (SHA-256, domain-separated; a key is the nonce's int32 bit pattern as uint32):
//   leaf        = SHA256(0x00 || LE32(nonce) || vector)          (= LeafHash in mmr.h)
//   empty(0)    = SHA256(0x00);  empty(h) = node(empty(h-1), empty(h-1), 0)
//   node(l,r,c) = SHA256(0x01 || l || r || LE32(c)),  c = leaves below
//   depth       = max(24, bit length of the largest key); the key's bits from depth-1 down to 0
//                 choose right (1) or left (0) from the root
//   root        = the node at the top; count 0 has no root (empty)
//   leaf index  = the leaf's rank by key among the committed leaves ("dense index")
//   proof       = per level, root to leaf: the sibling's hash and count
//
// Contract:
//   - SmstBuild() computes the root of leaves given sorted by key (strictly ascending, else
//     InvalidArgument) in one pass (one hash per non-empty node), and reports the nodes a store
//     persists to prove from: every node with at least `bucket_leaves` leaves, and each non-empty
//     child of such a node that has fewer ("buckets"; they partition the leaves).
//   - SmstProve() builds a proof from the persisted nodes above a bucket and the bucket's leaves.
//   - VerifySmstProof() is Gonka's verifier: true iff the proof rebuilds (root, count) from the
//     leaf and the sibling counts put the leaf at `leaf_index`.
//
// Thread-safety: free functions, no shared state.
//
// Example:
//   std::vector<SmstLeaf> leaves = ...;  // {key, LeafHash(nonce, vector)}, sorted by key
//   ASSIGN_OR_RETURN(SmstResult r, SmstBuild(leaves, /*bucket_leaves=*/64, nullptr));
//   // r.root, r.count, r.depth go into the commitment.
#ifndef GONKA_POCSTORE_SMST_H_
#define GONKA_POCSTORE_SMST_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/pocstore/mmr.h"

namespace gonka {
namespace pocstore {

inline constexpr int kSmstDefaultDepth = 24;
inline constexpr int kSmstMaxDepth = 32;

struct SmstLeaf {
  uint32_t key = 0;  // static_cast<uint32_t>(nonce)
  Digest hash{};     // LeafHash(nonce, vector)
};

// A node: the subtree of height `height` over keys [prefix << height, (prefix + 1) << height).
struct SmstNode {
  int height = 0;
  uint64_t prefix = 0;
  Digest hash{};
  uint32_t count = 0;
  uint64_t rank_start = 0;  // leaves with a smaller key (the dense index of its first leaf)
  bool bucket = false;      // fewer than bucket_leaves leaves, under a node with at least that
};

struct SmstResult {
  uint64_t count = 0;
  int depth = kSmstDefaultDepth;
  Digest root{};  // meaningless when count is 0 (Gonka commits no root then)
};

struct SmstProofElement {
  Digest sibling{};
  uint32_t sibling_count = 0;
};

Digest SmstEmptyHash(int height);  // height 0..kSmstMaxDepth
Digest SmstNodeHash(const Digest& left, const Digest& right, uint32_t count);
// max(24, bit length of max_key); requiredDepth(0) is 1 in Gonka, so 24 for any small key.
int SmstDepthFor(uint32_t max_key);

// Root over `sorted` (ascending keys). `visit` (may be null) receives the nodes described above,
// in key order, parents after their children. bucket_leaves ≥ 2.
absl::StatusOr<SmstResult> SmstBuild(const std::vector<SmstLeaf>& sorted, uint32_t bucket_leaves,
                                     const std::function<void(const SmstNode&)>& visit);

// The (hash, count) of the subtree (height, prefix) over `sorted` (only leaves inside it count).
SmstNode SmstSubtree(const std::vector<SmstLeaf>& sorted, int height, uint64_t prefix);

// Proof for `key` in a tree of `depth`: `above(height, prefix)` returns a node persisted above
// the bucket (count 0 for an absent one), `bucket_leaves_sorted` are every leaf of the bucket
// (height bucket_height) that holds `key`. Elements root to leaf (depth of them).
std::vector<SmstProofElement> SmstProve(
    int depth, uint32_t key, int bucket_height, const std::vector<SmstLeaf>& bucket_leaves_sorted,
    const std::function<SmstNode(int height, uint64_t prefix)>& above);

// Gonka's VerifySMSTProofWithDenseIndex: depth = proof.size().
bool VerifySmstProof(const Digest& root, uint64_t count, uint64_t leaf_index, int32_t nonce,
                     absl::string_view vector, const std::vector<SmstProofElement>& proof);

// Gonka's transport form of a proof element: 32-byte hash || LE32(count).
std::string EncodeSmstProofElement(const SmstProofElement& e);

}  // namespace pocstore
}  // namespace gonka

#endif  // GONKA_POCSTORE_SMST_H_
