// ICS-23 Merkle proofs of Cosmos store values, verified as a Cosmos SDK client does: the
// commitment proofs in a store query's proof ops ("ics23:iavl" for a key in a module's IAVL
// tree, then "ics23:simple" for that tree's root in the multistore) applied in order up to the
// block's app hash.
//
//   // From abci_query(path "/store/inference/key", data key, prove true) at height h; the app
//   // hash is the one in block h+1's header.
//   std::vector<ProofOp> ops = ...;  // {type, key, data} as the node answered them
//   absl::Status s = VerifyProofOps(ops, app_hash, "/inference/" + PathEscape(key), value);
//   // OK: `value` is stored under `key` in the "inference" store of the state whose app hash
//   // is `app_hash`.
//
// Contract (the rules are in docs/cache.md, "Proof verification"):
// - VerifyProofOps is the SDK's rootmulti DefaultProofRuntime().VerifyValue: the key path is
//   split and URL-unescaped as CometBFT's KeyPathToKeys does; each op with a key must match the
//   path's last unconsumed part; each op computes its root from its CommitmentProof and checks
//   it against its spec (IAVL for "ics23:iavl", Tendermint's simple Merkle tree for
//   "ics23:simple") and the (key, value) it proves; that root is the next op's value; the last
//   root must equal `root` and the whole path must be consumed.
// - Membership only: a non-existence proof proves no value (InvalidArgument "not an existence
//   proof"); a batch proof is refused (Unimplemented). Only SHA-256 (and "no hash" for
//   pre-hashing) is computed; other hash ops are refused (Unimplemented), so proofs from SMT or
//   non-Cosmos trees do not verify here.
// - Errors are InvalidArgument naming what did not verify (a key, the op's number, the root);
//   nothing here is secret.
//
// Thread-safety: all functions are pure and thread-safe.
#ifndef GONKA_CHAIN_ICS23_H_
#define GONKA_CHAIN_ICS23_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gonka {
namespace chain {

// One op of CometBFT's ProofOps (tendermint.crypto.ProofOp): `data` is the serialized
// cosmos.ics23.v1.CommitmentProof for the ICS-23 op types.
struct ProofOp {
  std::string type;
  std::string key;
  std::string data;
};

// The Cosmos SDK's proof op types (store/types/proof.go).
inline constexpr absl::string_view kProofOpIavl = "ics23:iavl";
inline constexpr absl::string_view kProofOpSimpleMerkle = "ics23:simple";

// The two proof specs the SDK's store ops use (cosmos/ics23's IavlSpec and TendermintSpec).
enum class Ics23Spec { kIavl, kTendermint };

// The root a serialized CommitmentProof computes (the leaf op, then each inner op; for a
// non-existence proof, its left neighbour's, else its right one's, as ICS-23 computes it).
// InvalidArgument if it does not decode or an op lacks its input; Unimplemented for a batch
// proof or another hash op.
absl::StatusOr<std::string> Ics23CalculateRoot(absl::string_view commitment_proof);

// ICS-23 VerifyMembership: the proof is an existence proof of exactly `key`, its ops satisfy
// `spec`, it carries `value`, and it computes `root`. InvalidArgument saying which check
// failed; Unimplemented as above.
absl::Status Ics23VerifyMembership(Ics23Spec spec, absl::string_view root,
                                   absl::string_view commitment_proof, absl::string_view key,
                                   absl::string_view value);

// CometBFT's KeyPathToKeys: `path` starts with '/', its '/'-separated parts are URL-unescaped
// (or hex after an "x:" prefix). InvalidArgument naming the part otherwise.
absl::StatusOr<std::vector<std::string>> ParseKeyPath(absl::string_view path);

// Go's url.PathEscape: every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~) and
// $ & + : = @ as %XX (uppercase hex). ParseKeyPath undoes it.
std::string PathEscape(absl::string_view segment);

// The SDK's rootmulti DefaultProofRuntime().VerifyValue(ops, root, keypath, value): see the
// contract above. InvalidArgument (or Unimplemented) saying which op or check failed.
absl::Status VerifyProofOps(const std::vector<ProofOp>& ops, absl::string_view root,
                            absl::string_view keypath, absl::string_view value);

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_ICS23_H_
