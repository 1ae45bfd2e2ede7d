// Chain's Merkle commitments: the app hash of each block and abci_query's proof ops (proofs.h
// builds the trees; docs/devchain.md, "Proofs").
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/proofs.h"

namespace gonka {
namespace devchain {
namespace {

// The chain's own state digest is one more store of the multistore, so the app hash still
// changes with every block's results (as a real chain's does with its fee and auth stores).
constexpr char kDevchainStore[] = "devchain";

std::map<std::string, std::string> StoreRoots(
    const std::map<std::string, std::vector<StoreEntry>>& stores,
    absl::string_view devchain_digest) {
  std::map<std::string, std::string> roots;
  roots[kDevchainStore] = std::string(devchain_digest);
  for (const auto& [name, entries] : stores) roots[name] = IavlRootHash(entries);
  return roots;
}

}  // namespace

std::string Chain::AppHashAfter(int64_t height, absl::string_view devchain_digest) const {
  std::map<std::string, std::vector<StoreEntry>> stores;
  if (executor_ != nullptr) stores = executor_->ProvableStores(height);
  return MultistoreRootHash(StoreRoots(stores, devchain_digest));
}

absl::StatusOr<std::vector<chain::ProofOp>> Chain::ProveQuery(absl::string_view path,
                                                              absl::string_view data,
                                                              int64_t height) const {
  // The SDK proves raw store reads: "/store/<name>/key" (baseapp also takes it without the
  // leading slash, as devchain's abci_query does).
  absl::string_view store = path;
  absl::ConsumePrefix(&store, "/");
  if (!absl::ConsumePrefix(&store, "store/") || !absl::ConsumeSuffix(&store, "/key") ||
      data.empty()) {
    return std::vector<chain::ProofOp>{};
  }
  absl::StatusOr<BlockPtr> block = GetBlock(height);
  if (!block.ok()) return block.status();
  absl::MutexLock lock(&mu_);
  if (executor_ == nullptr) return std::vector<chain::ProofOp>{};
  const std::map<std::string, std::vector<StoreEntry>> stores =
      executor_->ProvableStores((*block)->height);
  auto it = stores.find(std::string(store));
  if (it == stores.end()) return std::vector<chain::ProofOp>{};
  const std::vector<StoreEntry>& entries = it->second;
  auto entry =
      std::lower_bound(entries.begin(), entries.end(), data,
                       [](const StoreEntry& e, absl::string_view key) { return e.key < key; });
  if (entry == entries.end() || entry->key != data) return std::vector<chain::ProofOp>{};
  const std::map<std::string, std::string> roots = StoreRoots(stores, (*block)->store_digest);
  return std::vector<chain::ProofOp>{
      IavlProofOp(entries, static_cast<size_t>(entry - entries.begin())),
      MultistoreProofOp(roots, std::string(store))};
}

}  // namespace devchain
}  // namespace gonka
