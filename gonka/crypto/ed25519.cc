#include "gonka/crypto/ed25519.h"

#include <openssl/evp.h>

#include "absl/status/status.h"

namespace gonka::crypto {

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKeyFromSeed(absl::Span<const uint8_t> seed) {
  if (seed.size() != 32) return absl::InvalidArgumentError("Ed25519 seed: want 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (key == nullptr) return absl::InternalError("Ed25519: libcrypto refused the seed");
  Ed25519PublicKey pub{};
  size_t len = pub.size();
  const int ok = EVP_PKEY_get_raw_public_key(key, pub.data(), &len);
  EVP_PKEY_free(key);  // also wipes the private key material it holds
  if (ok != 1 || len != pub.size()) return absl::InternalError("Ed25519: public key derivation");
  return pub;
}

}  // namespace gonka::crypto
