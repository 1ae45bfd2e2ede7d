// devchain's Merkle commitments: IAVL-shaped store trees and the Cosmos multistore over them,
// so abci_query with prove=true answers real ICS-23 proof ops and the block header's app_hash
// is the multistore root they prove against (docs/devchain.md, "Proofs").
//
//   std::vector<StoreEntry> inference = ...;  // sorted by key, unique
//   std::map<std::string, std::string> roots = {{"devchain", digest},
//                                               {"inference", IavlRootHash(inference)}};
//   std::string app_hash = MultistoreRootHash(roots);
//   std::vector<chain::ProofOp> ops = {IavlProofOp(inference, i),
//                                      MultistoreProofOp(roots, "inference")};
//   // chain::VerifyProofOps(ops, app_hash, "/inference/" + PathEscape(key), value) is OK.
//
// Contract: the trees are built fresh from the entries (devchain keeps only the keys it
// serves); an IAVL tree here is balanced by position (the left half rounded up), not by an AVL
// insertion history, which verifiers cannot tell apart: they check hashes and each node's
// height/size/version header, not the balancing. All functions are pure and thread-safe.
#ifndef GONKA_DEVCHAIN_PROOFS_H_
#define GONKA_DEVCHAIN_PROOFS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gonka/chain/ics23.h"

namespace gonka {
namespace devchain {

// One key of a store, written at block `version`.
struct StoreEntry {
  std::string key;
  std::string value;  // non-empty (IAVL keeps no empty values)
  int64_t version = 0;
};

// The root of an IAVL tree over `sorted` (ascending unique keys). An empty tree hashes as IAVL's
// does: SHA-256 of nothing.
std::string IavlRootHash(absl::Span<const StoreEntry> sorted);

// The "ics23:iavl" op proving sorted[index] (index < size) under IavlRootHash(sorted).
chain::ProofOp IavlProofOp(absl::Span<const StoreEntry> sorted, size_t index);

// The Cosmos multistore root: Tendermint's simple Merkle tree over the stores sorted by name,
// each leaf the name and SHA-256 of its root hash, both uvarint-length-prefixed.
std::string MultistoreRootHash(const std::map<std::string, std::string>& store_roots);

// The "ics23:simple" op proving `name`'s root under MultistoreRootHash(store_roots). `name` must
// be a key of `store_roots` with a non-empty root.
chain::ProofOp MultistoreProofOp(const std::map<std::string, std::string>& store_roots,
                                 const std::string& name);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_PROOFS_H_
