#include "gonka/pocstore/mmr.h"

#include <cstring>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"

namespace gonka {
namespace pocstore {
namespace {

constexpr char kLeafPrefix = 0x00;
constexpr char kNodePrefix = 0x01;

// Height of the leftmost mountain of `remaining` leaves (its highest set bit).
int MountainHeight(uint64_t remaining) { return 63 - absl::countl_zero(remaining); }

// Where `leaf_index` sits among the mountains of `count` leaves.
struct MountainOf {
  uint64_t start = 0;       // position of the mountain's first node
  int height = 0;           // its height (0 = a single leaf)
  uint64_t local_leaf = 0;  // the leaf's index inside the mountain
  int peak_index = 0;       // which peak (left to right)
};

MountainOf FindMountain(uint64_t leaf_index, uint64_t count) {
  MountainOf m;
  uint64_t remaining = count;
  uint64_t local = leaf_index;
  while (remaining > 0) {
    int height = MountainHeight(remaining);
    uint64_t leaves = uint64_t{1} << height;
    if (local < leaves) {
      m.height = height;
      m.local_leaf = local;
      return m;
    }
    m.start += 2 * leaves - 1;
    local -= leaves;
    remaining -= leaves;
    ++m.peak_index;
  }
  return m;  // unreachable for leaf_index < count
}

}  // namespace

std::string LeafBytes(int32_t nonce, absl::string_view vector) {
  // Gonka converts the int32 bitwise (-1 is ff ff ff ff), then little-endian.
  uint32_t bits = static_cast<uint32_t>(nonce);
  std::string out(4 + vector.size(), '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((bits >> (8 * i)) & 0xff);
  if (!vector.empty()) std::memcpy(&out[4], vector.data(), vector.size());
  return out;
}

Digest LeafHash(int32_t nonce, absl::string_view vector) {
  std::string pre;
  pre.reserve(5 + vector.size());
  pre.push_back(kLeafPrefix);
  pre.append(LeafBytes(nonce, vector));
  return crypto::Sha256(pre);
}

Digest NodeHash(const Digest& left, const Digest& right) {
  char pre[65];
  pre[0] = kNodePrefix;
  std::memcpy(pre + 1, left.data(), 32);
  std::memcpy(pre + 33, right.data(), 32);
  return crypto::Sha256(absl::string_view(pre, sizeof(pre)));
}

uint64_t MmrSize(uint64_t leaves) { return 2 * leaves - absl::popcount(leaves); }

std::vector<uint64_t> PeakPositions(uint64_t count) {
  std::vector<uint64_t> out;
  uint64_t pos = 0;
  uint64_t remaining = count;
  while (remaining > 0) {
    uint64_t leaves = uint64_t{1} << MountainHeight(remaining);
    uint64_t size = 2 * leaves - 1;
    out.push_back(pos + size - 1);
    pos += size;
    remaining -= leaves;
  }
  return out;
}

std::vector<uint64_t> ProofPositions(uint64_t leaf_index, uint64_t count) {
  std::vector<uint64_t> out;
  if (leaf_index >= count) return out;
  MountainOf m = FindMountain(leaf_index, count);
  uint64_t pos = m.start + MmrSize(m.local_leaf);
  uint64_t idx = m.local_leaf;
  for (int level = 0; level < m.height; ++level) {
    uint64_t spacing = (uint64_t{1} << (level + 1)) - 1;
    if ((idx & 1) == 0) {  // left child: sibling to the right, parent after it
      out.push_back(pos + spacing);
      pos = pos + spacing + 1;
    } else {
      out.push_back(pos - spacing);
      pos = pos + 1;
    }
    idx >>= 1;
  }
  std::vector<uint64_t> peaks = PeakPositions(count);
  for (int i = 0; i < static_cast<int>(peaks.size()); ++i) {
    if (i != m.peak_index) out.push_back(peaks[i]);
  }
  return out;
}

std::optional<Digest> BagPeaks(const std::vector<Digest>& peaks) {
  if (peaks.empty()) return std::nullopt;
  Digest root = peaks.back();
  for (int i = static_cast<int>(peaks.size()) - 2; i >= 0; --i) root = NodeHash(peaks[i], root);
  return root;
}

bool VerifyProof(const Digest& root, uint64_t count, uint64_t leaf_index, int32_t nonce,
                 absl::string_view vector, const std::vector<Digest>& proof) {
  if (leaf_index >= count) return false;
  MountainOf m = FindMountain(leaf_index, count);
  size_t peaks = static_cast<size_t>(absl::popcount(count));
  // Stricter than Gonka's verifier, which ignores trailing extra elements: a proof has exactly
  // the path and the other peaks.
  if (proof.size() != static_cast<size_t>(m.height) + peaks - 1) return false;
  Digest current = LeafHash(nonce, vector);
  uint64_t idx = m.local_leaf;
  for (int level = 0; level < m.height; ++level) {
    current = (idx & 1) == 0 ? NodeHash(current, proof[level]) : NodeHash(proof[level], current);
    idx >>= 1;
  }
  std::vector<Digest> all;
  all.reserve(peaks);
  size_t other = m.height;
  for (size_t i = 0; i < peaks; ++i) {
    all.push_back(static_cast<int>(i) == m.peak_index ? current : proof[other++]);
  }
  return *BagPeaks(all) == root;
}

absl::StatusOr<MmrFrontier> MmrFrontier::Resume(uint64_t count, std::vector<Digest> peaks) {
  if (peaks.size() != static_cast<size_t>(absl::popcount(count))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MMR of ", count, " leaves has ", absl::popcount(count), " peaks, not ", peaks.size()));
  }
  MmrFrontier f;
  f.count_ = count;
  f.peaks_ = std::move(peaks);
  return f;
}

std::vector<Digest> MmrFrontier::Append(const Digest& leaf_hash) {
  std::vector<Digest> created{leaf_hash};
  peaks_.push_back(leaf_hash);
  ++count_;
  // A leaf completes one pair per trailing zero of the new count (Gonka's appendToMMR).
  int merges = absl::countr_zero(count_);
  for (int i = 0; i < merges; ++i) {
    Digest right = peaks_.back();
    peaks_.pop_back();
    Digest parent = NodeHash(peaks_.back(), right);
    peaks_.back() = parent;
    created.push_back(parent);
  }
  return created;
}

std::optional<Digest> MmrFrontier::Root() const { return BagPeaks(peaks_); }

void Mmr::Append(const Digest& leaf_hash) {
  for (const Digest& d : frontier_.Append(leaf_hash)) nodes_.push_back(d);
}

std::optional<Digest> Mmr::RootAt(uint64_t count) const {
  if (count == 0 || count > frontier_.count()) return std::nullopt;
  std::vector<Digest> peaks;
  for (uint64_t p : PeakPositions(count)) peaks.push_back(nodes_[p]);
  return BagPeaks(peaks);
}

absl::StatusOr<std::vector<Digest>> Mmr::Prove(uint64_t leaf_index, uint64_t snapshot_count) const {
  if (leaf_index >= snapshot_count || snapshot_count > frontier_.count()) {
    return absl::InvalidArgumentError(absl::StrCat("proof of leaf ", leaf_index, " at count ",
                                                   snapshot_count, ": the MMR has ",
                                                   frontier_.count(), " leaves"));
  }
  std::vector<Digest> proof;
  for (uint64_t p : ProofPositions(leaf_index, snapshot_count)) proof.push_back(nodes_[p]);
  return proof;
}

}  // namespace pocstore
}  // namespace gonka
