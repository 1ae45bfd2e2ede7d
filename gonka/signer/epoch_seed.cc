#include "gonka/signer/epoch_seed.h"

#include <string>

#include "gonka/base/status_macros.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/secp256k1.h"

namespace gonka {
namespace signer {
namespace {

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

// The Cosmos SDK keyring's Sign(bytes) for a secp256k1 key: SHA-256, then a compact signature.
// Only ever called with the 8 bytes of BigEndian64 (see the header: never a SignDoc).
crypto::Signature SignInteger(const crypto::SigningKey& key, uint64_t value) {
  return key.Sign(crypto::Sha256(BigEndian64(value)));
}

}  // namespace

SeedInfo GenerateSeed(const crypto::SigningKey& key, uint64_t epoch) {
  crypto::Signature epoch_signature = SignInteger(key, epoch);
  uint64_t first8 = 0;
  for (int i = 0; i < 8; ++i) first8 = (first8 << 8) | epoch_signature[i];
  int64_t seed = static_cast<int64_t>(first8 & ((uint64_t{1} << 63) - 1));
  if (seed == 0) seed = 1;
  crypto::Signature seed_signature = SignInteger(key, static_cast<uint64_t>(seed));
  SeedInfo info;
  info.seed = seed;
  info.epoch = epoch;
  info.signature_hex = crypto::HexEncode(seed_signature);
  return info;
}

absl::Status VerifySeed(const SeedInfo& seed, absl::string_view public_key) {
  std::string signature;
  RETURN_IF_ERROR(crypto::HexDecode(seed.signature_hex, "seed signature", &signature));
  crypto::Sha256Digest digest = crypto::Sha256(BigEndian64(static_cast<uint64_t>(seed.seed)));
  return crypto::VerifySignature(public_key, crypto::AsStringView(digest), signature);
}

}  // namespace signer
}  // namespace gonka
