// secp256k1 keys, signing and verification through libsecp256k1, in the form Cosmos SDK uses:
// compressed 33-byte public keys and compact 64-byte `r || s` signatures with s in the lower
// half of the group order (low-S). Nonces are RFC 6979 (libsecp256k1's default), so a key and a
// digest always give the same signature — the one CosmJS and the Go SDK produce.
//
//   ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromBytes(raw32));
//   Signature sig = key.Sign(Sha256(sign_bytes));
//   RETURN_IF_ERROR(VerifySignature(key.public_key().view(), AsStringView(digest),
//   AsStringView(sig)));
//
// A PrivateKey is move-only and wipes its 32 bytes when destroyed or moved from; it is never
// printed, logged or put in an error message. Thread-safety: const methods of every class here,
// and the free functions, may be called concurrently (one shared, randomized libsecp256k1
// context is created on first use).
#ifndef GONKA_CRYPTO_SECP256K1_H_
#define GONKA_CRYPTO_SECP256K1_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/hash.h"

namespace gonka::crypto {

// 64 bytes: r (32, big-endian) || s (32, big-endian), s <= n/2.
using Signature = std::array<uint8_t, 64>;

// A compressed SEC1 public key: 0x02/0x03 || X (33 bytes). Always a valid curve point.
class PublicKey {
 public:
  static constexpr size_t kSize = 33;

  // Parses a 33-byte compressed key. InvalidArgument if the length is wrong or it is not a point.
  static absl::StatusOr<PublicKey> FromBytes(absl::string_view bytes);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  absl::string_view view() const { return AsStringView(bytes_); }

  // The 20 address bytes: RIPEMD-160(SHA-256(compressed key)).
  Ripemd160Digest AddressBytes() const { return Hash160(view()); }

  friend bool operator==(const PublicKey& a, const PublicKey& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const PublicKey& a, const PublicKey& b) { return !(a == b); }

 private:
  friend class PrivateKey;
  PublicKey() = default;
  std::array<uint8_t, kSize> bytes_{};
};

// A secp256k1 private key (a scalar in [1, n-1]) with its public key cached.
class PrivateKey {
 public:
  static constexpr size_t kSize = 32;

  // From 32 big-endian bytes. InvalidArgument ("private key: ...", without the bytes) if the
  // length is not 32 or the value is 0 or >= n.
  static absl::StatusOr<PrivateKey> FromBytes(absl::string_view bytes);

  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  // An explicit copy (for handing the same key to another owner).
  PrivateKey Clone() const;

  const PublicKey& public_key() const { return public_key_; }

  // Signs a 32-byte digest (SHA-256 of the sign bytes): RFC 6979 nonce, low-S, compact form.
  Signature Sign(const Sha256Digest& digest) const;

  // The raw 32 secret bytes, for BIP-32 derivation and tests. Do not log or persist.
  const std::array<uint8_t, kSize>& secret_bytes() const { return secret_; }

 private:
  PrivateKey() = default;
  std::array<uint8_t, kSize> secret_{};
  PublicKey public_key_;
};

// Checks a Cosmos secp256k1 signature the way the SDK's verifier does: `public_key` 33 bytes
// compressed, `digest` 32 bytes, `signature` 64 bytes compact with r, s in [1, n-1] and s <= n/2.
// OK if it verifies. InvalidArgument naming the malformed part (length, not a point, r/s out of
// range, "signature is not in lower-S form"); Unauthenticated if well-formed but not a valid
// signature of `digest` by `public_key`.
absl::Status VerifySignature(absl::string_view public_key, absl::string_view digest,
                             absl::string_view signature);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_SECP256K1_H_
