// CometBFT 0.38 commit verification: the sign bytes of a precommit (the canonical vote), Ed25519
// verification of each signature of a Commit against a validator set, and the "more than 2/3 of
// the voting power" rule — what CometBFT's ValidatorSet.VerifyCommit checks, and what Gonka's
// POST /v1/verify-block and GET /v1/debug/verify/{height} run on a block's last_commit
// (docs/cache.md, "Commit verification").
//
// Contract:
//   - VerifyCommit(chain_id, block_id, height, commit, validators) is CometBFT's
//     ValidatorSet.VerifyCommit: the validators are ordered as CometBFT orders a set (voting power
//     descending, then address ascending) and matched to the commit's signatures by index; the set
//     and the signatures must have the same size, the commit must be for `height` and
//     `block_id`; absent signatures are skipped, every other one (for the block or nil) must
//     verify, and only those for the block count; the signed power must exceed 2/3 of the total.
//   - VerifyLastCommit(block, validators) is Gonka's merkleproof.VerifyCommit: the block's
//     last_commit against its own block id and header height - 1 (the header hash itself is not
//     checked, as Gonka does not).
//   - Errors are InvalidArgument for malformed input and Unauthenticated for a commit that does
//     not verify, with CometBFT's texts ("wrong signature (#0): ...", "invalid commit --
//     insufficient voting power: got 0, needed more than 6", "invalid commit -- wrong set size:
//     2 vs 1", ...).
//
// Thread-safety: stateless functions; thread-safe.
//
// Example (edge-api's verify routes):
//   ASSIGN_OR_RETURN(SignedBlock block, ParseBlockJson(request_block_json));
//   ASSIGN_OR_RETURN(ValidatorsPage page, ParseValidatorsAnswer(comet_validators_answer));
//   RETURN_IF_ERROR(VerifyLastCommit(block, page.validators));
//   // devchain: signature = Ed25519Sign(seed, PrecommitSignBytes(chain_id, height, 0, id, time))
#ifndef GONKA_CHAIN_COMMIT_VERIFY_H_
#define GONKA_CHAIN_COMMIT_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {
namespace chain {

// A CometBFT BlockID: the header hash and the part set header (raw bytes).
struct CommitBlockId {
  std::string hash;
  uint32_t part_set_total = 0;
  std::string part_set_hash;
  bool IsZero() const { return hash.empty() && part_set_total == 0 && part_set_hash.empty(); }
  bool operator==(const CommitBlockId& o) const {
    return hash == o.hash && part_set_total == o.part_set_total && part_set_hash == o.part_set_hash;
  }
};

// CometBFT's BlockIDFlag.
enum class BlockIdFlag : int { kUnknown = 0, kAbsent = 1, kCommit = 2, kNil = 3 };

struct CommitSignature {
  BlockIdFlag flag = BlockIdFlag::kAbsent;
  std::string validator_address;  // 20 raw bytes (empty when absent)
  absl::Time timestamp = absl::UnixEpoch();
  std::string signature;  // 64 raw bytes (empty when absent)
};

struct Commit {
  int64_t height = 0;
  int32_t round = 0;
  CommitBlockId block_id;
  std::vector<CommitSignature> signatures;
};

struct CommitValidator {
  std::string public_key;  // 32 raw bytes, Ed25519
  int64_t voting_power = 0;
};

// What verification needs of a block: its header's chain id and height, and its last_commit.
struct SignedBlock {
  std::string chain_id;
  int64_t height = 0;
  Commit last_commit;
};

// A page of CometBFT's /validators answer.
struct ValidatorsPage {
  int64_t block_height = 0;
  int64_t total = 0;  // validators in the whole set (all pages)
  std::vector<CommitValidator> validators;
};

// CometBFT's validator address: the first 20 bytes of SHA-256 of the Ed25519 public key.
std::string ValidatorAddress(absl::string_view public_key);

// The bytes a validator signs for a precommit: the CanonicalVote {type 2, height, round,
// block_id (omitted when zero: a nil vote), timestamp, chain_id} in protobuf, prefixed with its
// varint length.
std::string PrecommitSignBytes(absl::string_view chain_id, int64_t height, int32_t round,
                               const CommitBlockId& block_id, absl::Time timestamp);

// The sign bytes of signature `index` of `commit`: for the commit's block id when the flag is
// kCommit, for the zero block id when kNil. `index` must be in range.
std::string VoteSignBytes(absl::string_view chain_id, const Commit& commit, size_t index);

// See the contract. InvalidArgument for a validator with a key that is not 32 bytes, a
// non-positive or overflowing voting power, a duplicate key or an unknown flag; Unauthenticated
// for a commit that does not verify.
absl::Status VerifyCommit(absl::string_view chain_id, const CommitBlockId& block_id, int64_t height,
                          const Commit& commit, std::vector<CommitValidator> validators);

// Gonka's check: VerifyCommit(block.chain_id, block.last_commit.block_id, block.height - 1,
// block.last_commit, validators).
absl::Status VerifyLastCommit(const SignedBlock& block, std::vector<CommitValidator> validators);

// A CometBFT Block as JSON (the `result.block` of /block: header, data, evidence, last_commit).
// Integers may be JSON strings (CometBFT's encoding) or numbers (Go's encoding/json); hashes and
// addresses hex, signatures base64, times RFC 3339. InvalidArgument naming the field otherwise.
absl::StatusOr<SignedBlock> ParseBlockJson(absl::string_view block_json);

// A /validators JSON-RPC answer (envelope included) or its `result` object: the validators'
// Ed25519 keys (pub_key.value, base64) and voting powers. InvalidArgument naming the field
// otherwise (a key type other than Ed25519 included).
absl::StatusOr<ValidatorsPage> ParseValidatorsAnswer(absl::string_view answer_json);

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_COMMIT_VERIFY_H_
