// Ed25519 through the libcrypto facade: the public key of a 32-byte private seed (RFC 8032). NATS
// nkeys are Ed25519 keys; nats.c signs with the seed itself, but needs the public key to present.
//
// Uses EVP_PKEY_new_raw_private_key / EVP_PKEY_get_raw_public_key, which OpenSSL 3 and BoringSSL
// both provide (the same facade rule as hash.h).
//
//   ASSIGN_OR_RETURN(Ed25519PublicKey pub, Ed25519PublicKeyFromSeed(seed));
//
// Thread-safety: thread-safe.
#ifndef GONKA_CRYPTO_ED25519_H_
#define GONKA_CRYPTO_ED25519_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gonka::crypto {

using Ed25519PublicKey = std::array<uint8_t, 32>;

// InvalidArgument unless `seed` has 32 bytes; Internal if libcrypto fails.
absl::StatusOr<Ed25519PublicKey> Ed25519PublicKeyFromSeed(absl::Span<const uint8_t> seed);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_ED25519_H_
