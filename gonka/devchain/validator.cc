#include "gonka/devchain/validator.h"

#include "absl/strings/str_cat.h"
#include "gonka/crypto/ed25519.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace devchain {
namespace {

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

absl::StatusOr<ValidatorKey> ValidatorKey::FromSeed(absl::string_view seed) {
  if (seed.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("validator seed: ", seed.size(), " bytes, want 32"));
  }
  absl::StatusOr<crypto::Ed25519PublicKey> public_key =
      crypto::Ed25519PublicKeyFromSeed(Bytes(seed));
  if (!public_key.ok()) return public_key.status();
  ValidatorKey key;
  key.seed_ = std::string(seed);
  key.public_key_ = std::string(crypto::AsStringView(*public_key));
  key.address_ = chain::ValidatorAddress(key.public_key_);
  return key;
}

ValidatorKey ValidatorKey::Default() {
  absl::StatusOr<ValidatorKey> key =
      FromSeed(crypto::AsStringView(crypto::Sha256("devchain-validator-key")));
  // A 32-byte seed always makes a key; a failure is libcrypto's and nothing can work without it.
  if (!key.ok()) std::abort();
  return *std::move(key);
}

std::string ValidatorKey::SignPrecommit(absl::string_view chain_id, int64_t height,
                                        const chain::CommitBlockId& block_id,
                                        absl::Time timestamp) const {
  absl::StatusOr<crypto::Ed25519Signature> signature = crypto::Ed25519Sign(
      Bytes(seed_), chain::PrecommitSignBytes(chain_id, height, 0, block_id, timestamp));
  if (!signature.ok()) std::abort();  // the seed was checked: only libcrypto can fail here
  return std::string(crypto::AsStringView(*signature));
}

chain::CommitBlockId DevchainBlockId(absl::string_view hash) {
  if (hash.empty()) return {};
  return {std::string(hash), 1,
          std::string(crypto::AsStringView(crypto::Sha256(absl::StrCat("parts", hash))))};
}

}  // namespace devchain
}  // namespace gonka
