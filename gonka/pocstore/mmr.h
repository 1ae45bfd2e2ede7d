// The append-only Merkle Mountain Range that commits a PoC stage's artifacts, byte-exact with
// Gonka's off-chain artifact store (docs/pocstore.md, "The commitment"): the count and root that
// MsgPoCV2StoreCommit carries, inclusion proofs in Gonka's layout, and their verification.
//
// The definition (SHA-256, domain-separated):
//   leaf_bytes  = LE32(nonce) || vector_bytes            (nonce is Gonka's int32, bit pattern kept)
//   leaf hash   = SHA256(0x00 || leaf_bytes)
//   node hash   = SHA256(0x01 || left || right)
//   MMR layout  = post-order node array: each leaf, then the parents it completes
//   root        = peaks bagged right to left: r = p[k-1]; r = H(p[i], r) for i = k-2 .. 0;
//                 no root (empty) for count 0
//   proof       = siblings from the leaf up to its peak, then the other peaks left to right
//
// Contract:
//   - MmrFrontier keeps only the peaks (O(log n) memory): Append() returns the nodes the leaf
//     added (its hash, then each parent), at positions MmrSize(count) onward; Root() bags the
//     peaks. A PostgreSQL store persists those nodes and proves from them.
//   - Mmr keeps every node (in memory) and proves any leaf at any earlier snapshot count.
//   - ProofPositions(leaf, count) names the node positions a proof holds, in proof order;
//     FailedPrecondition-free: callers check leaf < count (InvalidArgument from Mmr::Prove).
//   - VerifyProof() is false for any mismatch (wrong root, count, leaf, data or proof length).
//
// Thread-safety: the free functions are thread-safe; MmrFrontier and Mmr are not (one owner).
//
// Example:
//   Mmr mmr;
//   for (const auto& a : artifacts) mmr.Append(LeafHash(a.nonce, a.vector));
//   Digest root = *mmr.Root();
//   ASSIGN_OR_RETURN(std::vector<Digest> proof, mmr.Prove(leaf_index, mmr.count()));
//   bool ok = VerifyProof(root, mmr.count(), leaf_index, nonce, vector, proof);
#ifndef GONKA_POCSTORE_MMR_H_
#define GONKA_POCSTORE_MMR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace pocstore {

using Digest = crypto::Sha256Digest;

// LE32(nonce) || vector.
std::string LeafBytes(int32_t nonce, absl::string_view vector);
// SHA256(0x00 || LeafBytes(nonce, vector)).
Digest LeafHash(int32_t nonce, absl::string_view vector);
// SHA256(0x01 || left || right).
Digest NodeHash(const Digest& left, const Digest& right);

// Nodes in an MMR of `leaves` leaves: 2n - popcount(n). Also the position of leaf n's hash.
uint64_t MmrSize(uint64_t leaves);
// Positions (0-based, into the node array) of the peaks for `count` leaves, left to right.
std::vector<uint64_t> PeakPositions(uint64_t count);
// Positions of the proof of `leaf_index` at snapshot `count`: path siblings (leaf to peak), then
// the other peaks left to right. Requires leaf_index < count.
std::vector<uint64_t> ProofPositions(uint64_t leaf_index, uint64_t count);
// Bags peaks right to left; nullopt for none.
std::optional<Digest> BagPeaks(const std::vector<Digest>& peaks);

// True iff `proof` proves (nonce, vector) at `leaf_index` against (root, count).
bool VerifyProof(const Digest& root, uint64_t count, uint64_t leaf_index, int32_t nonce,
                 absl::string_view vector, const std::vector<Digest>& proof);

// The peaks of a growing MMR.
class MmrFrontier {
 public:
  MmrFrontier() = default;
  // Resumes from `count` leaves whose peaks (left to right, as PeakPositions(count)) are `peaks`.
  // InvalidArgument when the number of peaks does not match count.
  static absl::StatusOr<MmrFrontier> Resume(uint64_t count, std::vector<Digest> peaks);

  // Adds a leaf; returns the nodes it created in position order (leaf hash first), the first
  // at position MmrSize(count() before the call).
  std::vector<Digest> Append(const Digest& leaf_hash);
  uint64_t count() const { return count_; }
  std::optional<Digest> Root() const;
  const std::vector<Digest>& peaks() const { return peaks_; }

 private:
  uint64_t count_ = 0;
  std::vector<Digest> peaks_;  // left (highest) to right
};

// An MMR with every node kept: proofs at any snapshot.
class Mmr {
 public:
  void Append(const Digest& leaf_hash);
  uint64_t count() const { return frontier_.count(); }
  std::optional<Digest> Root() const { return frontier_.Root(); }
  // The root the MMR had at `count` leaves (count ≤ count()); nullopt for 0 or out of range.
  std::optional<Digest> RootAt(uint64_t count) const;
  // InvalidArgument unless leaf_index < snapshot_count ≤ count().
  absl::StatusOr<std::vector<Digest>> Prove(uint64_t leaf_index, uint64_t snapshot_count) const;
  const std::vector<Digest>& nodes() const { return nodes_; }

 private:
  MmrFrontier frontier_;
  std::vector<Digest> nodes_;
};

}  // namespace pocstore
}  // namespace gonka

#endif  // GONKA_POCSTORE_MMR_H_
