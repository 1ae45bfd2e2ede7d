#include "gonka/devchain/proofs.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/cosmos/ics23/v1/proofs.pb.h"

namespace gonka {
namespace devchain {
namespace {

namespace ics = ::cosmos::ics23::v1;

std::string Sha(absl::string_view data) {
  return std::string(crypto::AsStringView(crypto::Sha256(data)));
}

void AppendUvarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Go's binary.PutVarint: zigzag, then uvarint (IAVL's node header fields).
void AppendVarint(int64_t value, std::string* out) {
  AppendUvarint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63), out);
}

std::string LengthPrefixed(absl::string_view data) {
  std::string out;
  AppendUvarint(data.size(), &out);
  absl::StrAppend(&out, data);
  return out;
}

// Both specs' leaf op: SHA-256 of prefix || len(key) key || len(SHA-256(value)) SHA-256(value).
ics::LeafOp LeafOp(std::string prefix) {
  ics::LeafOp leaf;
  leaf.set_hash(ics::SHA256);
  leaf.set_prehash_key(ics::NO_HASH);
  leaf.set_prehash_value(ics::SHA256);
  leaf.set_length(ics::VAR_PROTO);
  leaf.set_prefix(std::move(prefix));
  return leaf;
}

// --- IAVL ------------------------------------------------------------------------------------

struct IavlNode {
  std::string hash;
  int64_t height = 0;
  int64_t size = 0;
  int64_t version = 0;
};

std::string IavlHeader(int64_t height, int64_t size, int64_t version) {
  std::string out;
  AppendVarint(height, &out);
  AppendVarint(size, &out);
  AppendVarint(version, &out);
  return out;
}

IavlNode IavlLeaf(const StoreEntry& entry) {
  IavlNode node{"", 0, 1, entry.version};
  node.hash = Sha(absl::StrCat(IavlHeader(0, 1, entry.version), LengthPrefixed(entry.key),
                               LengthPrefixed(Sha(entry.value))));
  return node;
}

// The left half takes the middle entry of an odd count.
size_t IavlSplit(size_t lo, size_t hi) { return lo + (hi - lo + 1) / 2; }

// Builds the subtree over [lo, hi); when `index` is inside it, appends the inner ops from the
// leaf at `index` upwards to `path`.
IavlNode BuildIavl(absl::Span<const StoreEntry> sorted, size_t lo, size_t hi, size_t index,
                   ics::ExistenceProof* path) {
  if (hi - lo == 1) return IavlLeaf(sorted[lo]);
  const size_t mid = IavlSplit(lo, hi);
  const bool on_path = path != nullptr && index >= lo && index < hi;
  IavlNode left = BuildIavl(sorted, lo, mid, index, on_path && index < mid ? path : nullptr);
  IavlNode right = BuildIavl(sorted, mid, hi, index, on_path && index >= mid ? path : nullptr);
  IavlNode node;
  node.height = 1 + std::max(left.height, right.height);
  node.size = left.size + right.size;
  node.version = std::max(left.version, right.version);
  const std::string header = IavlHeader(node.height, node.size, node.version);
  // A child is length-prefixed (0x20 for a 32-byte hash) in the node's preimage.
  node.hash = Sha(absl::StrCat(header, LengthPrefixed(left.hash), LengthPrefixed(right.hash)));
  if (on_path) {
    ics::InnerOp* op = path->add_path();
    op->set_hash(ics::SHA256);
    if (index < mid) {
      op->set_prefix(absl::StrCat(header, "\x20"));
      op->set_suffix(LengthPrefixed(right.hash));
    } else {
      op->set_prefix(absl::StrCat(header, LengthPrefixed(left.hash), "\x20"));
    }
  }
  return node;
}

// --- Tendermint simple Merkle tree -------------------------------------------------------------

// The largest power of two below n (n >= 2): the left subtree's leaf count.
size_t SimpleSplit(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

std::string BuildSimple(const std::vector<std::string>& items, size_t lo, size_t hi, size_t index,
                        ics::ExistenceProof* path) {
  if (hi - lo == 1) return Sha(absl::StrCat(std::string(1, '\0'), items[lo]));
  const size_t mid = lo + SimpleSplit(hi - lo);
  const bool on_path = path != nullptr && index >= lo && index < hi;
  std::string left = BuildSimple(items, lo, mid, index, on_path && index < mid ? path : nullptr);
  std::string right = BuildSimple(items, mid, hi, index, on_path && index >= mid ? path : nullptr);
  if (on_path) {
    ics::InnerOp* op = path->add_path();
    op->set_hash(ics::SHA256);
    if (index < mid) {
      op->set_prefix("\x01");
      op->set_suffix(right);
    } else {
      op->set_prefix(absl::StrCat("\x01", left));
    }
  }
  return Sha(absl::StrCat("\x01", left, right));
}

std::vector<std::string> StoreItems(const std::map<std::string, std::string>& store_roots) {
  std::vector<std::string> items;
  items.reserve(store_roots.size());
  for (const auto& [name, root] : store_roots) {
    items.push_back(absl::StrCat(LengthPrefixed(name), LengthPrefixed(Sha(root))));
  }
  return items;
}

}  // namespace

std::string IavlRootHash(absl::Span<const StoreEntry> sorted) {
  if (sorted.empty()) return Sha("");
  return BuildIavl(sorted, 0, sorted.size(), 0, nullptr).hash;
}

chain::ProofOp IavlProofOp(absl::Span<const StoreEntry> sorted, size_t index) {
  ics::CommitmentProof proof;
  ics::ExistenceProof* exist = proof.mutable_exist();
  const StoreEntry& entry = sorted[index];
  exist->set_key(entry.key);
  exist->set_value(entry.value);
  *exist->mutable_leaf() = LeafOp(IavlHeader(0, 1, entry.version));
  BuildIavl(sorted, 0, sorted.size(), index, exist);
  return chain::ProofOp{std::string(chain::kProofOpIavl), entry.key, proof.SerializeAsString()};
}

std::string MultistoreRootHash(const std::map<std::string, std::string>& store_roots) {
  if (store_roots.empty()) return Sha("");
  const std::vector<std::string> items = StoreItems(store_roots);
  return BuildSimple(items, 0, items.size(), 0, nullptr);
}

chain::ProofOp MultistoreProofOp(const std::map<std::string, std::string>& store_roots,
                                 const std::string& name) {
  const std::vector<std::string> items = StoreItems(store_roots);
  const size_t index =
      static_cast<size_t>(std::distance(store_roots.begin(), store_roots.find(name)));
  ics::CommitmentProof proof;
  ics::ExistenceProof* exist = proof.mutable_exist();
  exist->set_key(name);
  exist->set_value(store_roots.at(name));
  *exist->mutable_leaf() = LeafOp(std::string(1, '\0'));
  BuildSimple(items, 0, items.size(), index, exist);
  return chain::ProofOp{std::string(chain::kProofOpSimpleMerkle), name, proof.SerializeAsString()};
}

}  // namespace devchain
}  // namespace gonka
