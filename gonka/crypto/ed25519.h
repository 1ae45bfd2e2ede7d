// Ed25519 (RFC 8032) through the libcrypto facade: the public key of a 32-byte private seed,
// signing with the seed and verifying with the public key. NATS nkeys and CometBFT validator keys
// are Ed25519 keys.
//
// Uses EVP_PKEY_new_raw_private_key / EVP_PKEY_new_raw_public_key / EVP_PKEY_get_raw_public_key
// and the one-shot EVP_DigestSign / EVP_DigestVerify (no digest: Ed25519 hashes internally),
// which OpenSSL 3 and BoringSSL both provide (the same facade rule as hash.h).
//
//   ASSIGN_OR_RETURN(Ed25519PublicKey pub, Ed25519PublicKeyFromSeed(seed));
//   ASSIGN_OR_RETURN(Ed25519Signature sig, Ed25519Sign(seed, message));
//   bool valid = Ed25519Verify(pub, message, sig);
//
// Verification is RFC 8032's (libcrypto's), which is stricter than CometBFT's ZIP-215 rules
// only for non-canonical encodings no honest signer produces.
//
// Thread-safety: thread-safe.
#ifndef GONKA_CRYPTO_ED25519_H_
#define GONKA_CRYPTO_ED25519_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gonka::crypto {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

// InvalidArgument unless `seed` has 32 bytes; Internal if libcrypto fails.
absl::StatusOr<Ed25519PublicKey> Ed25519PublicKeyFromSeed(absl::Span<const uint8_t> seed);

// The signature of `message` under the key of `seed` (deterministic). InvalidArgument unless
// `seed` has 32 bytes; Internal if libcrypto fails.
absl::StatusOr<Ed25519Signature> Ed25519Sign(absl::Span<const uint8_t> seed,
                                             absl::string_view message);

// True when `signature` is a valid signature of `message` by `public_key`. False for a key or
// signature of the wrong length, a key that is not a curve point, or a wrong signature.
bool Ed25519Verify(absl::Span<const uint8_t> public_key, absl::string_view message,
                   absl::Span<const uint8_t> signature);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_ED25519_H_
