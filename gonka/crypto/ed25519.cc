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

absl::StatusOr<Ed25519Signature> Ed25519Sign(absl::Span<const uint8_t> seed,
                                             absl::string_view message) {
  if (seed.size() != 32) return absl::InvalidArgumentError("Ed25519 seed: want 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (key == nullptr) return absl::InternalError("Ed25519: libcrypto refused the seed");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Ed25519Signature signature{};
  size_t len = signature.size();
  // Ed25519 is a one-shot scheme: no digest (nullptr) and EVP_DigestSign, never Update/Final.
  const bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestSign(ctx, signature.data(), &len, reinterpret_cast<const uint8_t*>(message.data()),
                     message.size()) == 1 &&
      len == signature.size();
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return absl::InternalError("Ed25519: signing failed");
  return signature;
}

bool Ed25519Verify(absl::Span<const uint8_t> public_key, absl::string_view message,
                   absl::Span<const uint8_t> signature) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  EVP_PKEY* key =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size());
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, signature.data(), signature.size(),
                       reinterpret_cast<const uint8_t*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

}  // namespace gonka::crypto
