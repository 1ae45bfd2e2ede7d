// BIP-32 hierarchical deterministic derivation of secp256k1 private keys, and BIP-44 paths.
//
// Contract: paths look like "m/44'/1200'/0'/0/0" (hardened marked with ', h or H; indices below
// 2^31). Gonka's default is m/44'/1200'/0'/0/0 (coin type 1200, `inferenced` config.go); Cosmos
// Hub's is m/44'/118'/0'/0/0. Errors are InvalidArgument naming the path or index; derivation
// whose intermediate key is invalid (probability about 2^-127) returns InvalidArgument naming
// the index rather than silently skipping to the next one.
//
//   ASSIGN_OR_RETURN(ExtendedKey key, DerivePath(seed.view(), kGonkaHdPath));
//   const PublicKey& pub = key.private_key.public_key();
//
// Thread-safety: all functions are thread-safe.
#ifndef GONKA_CRYPTO_BIP32_H_
#define GONKA_CRYPTO_BIP32_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/secp256k1.h"

namespace gonka::crypto {

inline constexpr uint32_t kHardened = 0x80000000u;
inline constexpr uint32_t kGonkaCoinType = 1200;
inline constexpr absl::string_view kGonkaHdPath = "m/44'/1200'/0'/0/0";
inline constexpr absl::string_view kCosmosHubHdPath = "m/44'/118'/0'/0/0";

// An extended private key. The chain code is wiped on destruction with the key.
struct ExtendedKey {
  ExtendedKey(PrivateKey key, const std::array<uint8_t, 32>& chain) noexcept
      : private_key(std::move(key)), chain_code(chain) {}
  ExtendedKey(ExtendedKey&&) noexcept = default;
  ExtendedKey& operator=(ExtendedKey&&) noexcept = default;
  ~ExtendedKey();

  PrivateKey private_key;
  std::array<uint8_t, 32> chain_code;
  uint8_t depth = 0;
  uint32_t parent_fingerprint = 0;  // first 4 bytes of the parent's Hash160(pubkey), big-endian
  uint32_t child_number = 0;        // index (with kHardened) that produced this key
};

// "m/44'/1200'/0'/0/0" -> {44|H, 1200|H, 0|H, 0, 0}. InvalidArgument naming the path.
absl::StatusOr<std::vector<uint32_t>> ParseHdPath(absl::string_view path);

// The master key from a seed (16..64 bytes): HMAC-SHA512("Bitcoin seed", seed).
absl::StatusOr<ExtendedKey> MasterKeyFromSeed(absl::string_view seed);

// CKDpriv: the child at `index` (>= kHardened for hardened).
absl::StatusOr<ExtendedKey> DeriveChild(const ExtendedKey& parent, uint32_t index);

// Master key from `seed`, then each index of `path`.
absl::StatusOr<ExtendedKey> DerivePath(absl::string_view seed, absl::string_view path);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_BIP32_H_
