// ValidatorKey: devchain's one CometBFT validator — a deterministic Ed25519 key whose address
// every block names as proposer and whose precommit signs every commit devchain publishes
// (/block's last_commit, /commit, the NewBlock events, gRPC GetBlockByHeight), over CometBFT's
// canonical vote sign bytes. So a commit from devchain verifies as a real one does
// (gonka/chain/commit_verify.h; docs/devchain.md, "Validator key").
//
//   ASSIGN_OR_RETURN(ValidatorKey key, ValidatorKey::FromSeed(seed));  // or Default()
//   std::string sig = key.SignPrecommit(chain_id, height, DevchainBlockId(block.hash), time);
//
// Thread-safety: immutable after construction; thread-safe.
#ifndef GONKA_DEVCHAIN_VALIDATOR_H_
#define GONKA_DEVCHAIN_VALIDATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/chain/commit_verify.h"

namespace gonka {
namespace devchain {

// The voting power devchain's validator has (all of it).
inline constexpr int64_t kValidatorVotingPower = 10;

class ValidatorKey {
 public:
  // The key of a 32-byte Ed25519 seed. InvalidArgument for another length.
  static absl::StatusOr<ValidatorKey> FromSeed(absl::string_view seed);
  // The default key: seed SHA-256("devchain-validator-key").
  static ValidatorKey Default();

  const std::string& public_key() const { return public_key_; }  // 32 raw bytes
  const std::string& address() const { return address_; }        // 20 raw bytes: SHA-256(key)[:20]

  // The 64-byte signature of the precommit for `block_id` at `height`, round 0, `timestamp`.
  std::string SignPrecommit(absl::string_view chain_id, int64_t height,
                            const chain::CommitBlockId& block_id, absl::Time timestamp) const;

 private:
  std::string seed_;
  std::string public_key_;
  std::string address_;
};

// devchain's block id of a block with header hash `hash`: one part, whose hash is
// SHA-256("parts" + hash); the zero block id for "" (before height 1).
chain::CommitBlockId DevchainBlockId(absl::string_view hash);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_VALIDATOR_H_
