#include "gonka/pocstore/smst.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace pocstore {
namespace {

constexpr char kLeafPrefix = 0x00;
constexpr char kNodePrefix = 0x01;

void PutLe32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

const std::array<Digest, kSmstMaxDepth + 1>& EmptyHashes() {
  static const auto* table = [] {
    auto* t = new std::array<Digest, kSmstMaxDepth + 1>();
    (*t)[0] = crypto::Sha256(absl::string_view(&kLeafPrefix, 1));
    for (int h = 1; h <= kSmstMaxDepth; ++h) (*t)[h] = SmstNodeHash((*t)[h - 1], (*t)[h - 1], 0);
    return t;
  }();
  return *table;
}

// First key of the subtree (height, prefix), as 64 bits so height 32 needs no special case.
uint64_t FirstKey(int height, uint64_t prefix) { return prefix << height; }

using Iter = std::vector<SmstLeaf>::const_iterator;

Iter LowerBound(Iter lo, Iter hi, uint64_t key) {
  return std::lower_bound(lo, hi, key,
                          [](const SmstLeaf& l, uint64_t k) { return uint64_t{l.key} < k; });
}

struct Builder {
  Iter begin;  // rank base
  uint32_t bucket_leaves;
  const std::function<void(const SmstNode&)>* visit;

  // (hash, count) of the subtree over [lo, hi); `report` says whether this node is one a store
  // persists (the root, or a child of a node with ≥ bucket_leaves leaves).
  SmstNode Build(Iter lo, Iter hi, int height, uint64_t prefix, bool report) const {
    SmstNode n;
    n.height = height;
    n.prefix = prefix;
    n.count = static_cast<uint32_t>(hi - lo);
    n.rank_start = static_cast<uint64_t>(lo - begin);
    if (lo == hi) {
      n.hash = EmptyHashes()[height];
      return n;
    }
    if (height == 0) {
      n.hash = lo->hash;
    } else {
      Iter mid = LowerBound(lo, hi, FirstKey(height, prefix) | (uint64_t{1} << (height - 1)));
      bool children_report = report && n.count >= bucket_leaves;
      SmstNode left = Build(lo, mid, height - 1, prefix * 2, children_report);
      SmstNode right = Build(mid, hi, height - 1, prefix * 2 + 1, children_report);
      n.hash = SmstNodeHash(left.hash, right.hash, n.count);
    }
    if (report && visit != nullptr && *visit) {
      n.bucket = n.count < bucket_leaves;
      (*visit)(n);
    }
    return n;
  }
};

}  // namespace

Digest SmstEmptyHash(int height) { return EmptyHashes()[height]; }

Digest SmstNodeHash(const Digest& left, const Digest& right, uint32_t count) {
  char pre[69];
  pre[0] = kNodePrefix;
  std::memcpy(pre + 1, left.data(), 32);
  std::memcpy(pre + 33, right.data(), 32);
  PutLe32(pre + 65, count);
  return crypto::Sha256(absl::string_view(pre, sizeof(pre)));
}

int SmstDepthFor(uint32_t max_key) {
  int bits = max_key == 0 ? 1 : 32 - absl::countl_zero(max_key);
  return std::max(kSmstDefaultDepth, bits);
}

absl::StatusOr<SmstResult> SmstBuild(const std::vector<SmstLeaf>& sorted, uint32_t bucket_leaves,
                                     const std::function<void(const SmstNode&)>& visit) {
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i - 1].key >= sorted[i].key) {
      return absl::InvalidArgumentError(
          absl::StrCat("SMST leaves not strictly ascending at ", i, " (key ", sorted[i].key, ")"));
    }
  }
  SmstResult result;
  result.count = sorted.size();
  result.depth = SmstDepthFor(sorted.empty() ? 0 : sorted.back().key);
  Builder b{sorted.begin(), std::max<uint32_t>(bucket_leaves, 2), &visit};
  SmstNode root = b.Build(sorted.begin(), sorted.end(), result.depth, 0, true);
  result.root = root.hash;
  return result;
}

SmstNode SmstSubtree(const std::vector<SmstLeaf>& sorted, int height, uint64_t prefix) {
  Iter lo = LowerBound(sorted.begin(), sorted.end(), FirstKey(height, prefix));
  Iter hi = LowerBound(lo, sorted.end(), FirstKey(height, prefix + 1));
  Builder b{sorted.begin(), 2, nullptr};
  return b.Build(lo, hi, height, prefix, false);
}

std::vector<SmstProofElement> SmstProve(
    int depth, uint32_t key, int bucket_height, const std::vector<SmstLeaf>& bucket_leaves_sorted,
    const std::function<SmstNode(int height, uint64_t prefix)>& above) {
  std::vector<SmstProofElement> proof;
  proof.reserve(depth);
  for (int level = 0; level < depth; ++level) {
    int height = depth - level - 1;  // the sibling's height
    uint64_t sibling_prefix = (uint64_t{key} >> height) ^ 1;
    SmstNode sibling = height >= bucket_height
                           ? above(height, sibling_prefix)
                           : SmstSubtree(bucket_leaves_sorted, height, sibling_prefix);
    SmstProofElement e;
    e.sibling_count = sibling.count;
    e.sibling = sibling.count == 0 ? EmptyHashes()[height] : sibling.hash;
    proof.push_back(e);
  }
  return proof;
}

bool VerifySmstProof(const Digest& root, uint64_t count, uint64_t leaf_index, int32_t nonce,
                     absl::string_view vector, const std::vector<SmstProofElement>& proof) {
  int depth = static_cast<int>(proof.size());
  if (depth == 0 || depth > kSmstMaxDepth || count == 0 || leaf_index >= count) return false;
  uint32_t key = static_cast<uint32_t>(nonce);
  if (depth < 32 && (uint64_t{key} >> depth) != 0) return false;  // the path cannot hold it
  Digest hash = LeafHash(nonce, vector);
  uint64_t current = 1;
  uint64_t index = 0;
  for (int level = depth - 1; level >= 0; --level) {
    const SmstProofElement& e = proof[level];
    bool right = ((key >> (depth - 1 - level)) & 1) != 0;
    current += e.sibling_count;
    if (current > 0xffffffffu) return false;
    hash = right ? SmstNodeHash(e.sibling, hash, static_cast<uint32_t>(current))
                 : SmstNodeHash(hash, e.sibling, static_cast<uint32_t>(current));
    if (right) index += e.sibling_count;
  }
  return current == count && hash == root && index == leaf_index;
}

std::string EncodeSmstProofElement(const SmstProofElement& e) {
  std::string out(reinterpret_cast<const char*>(e.sibling.data()), 32);
  char le[4];
  PutLe32(le, e.sibling_count);
  out.append(le, 4);
  return out;
}

}  // namespace pocstore
}  // namespace gonka
