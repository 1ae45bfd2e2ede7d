#include "gonka/crypto/bip32.h"

#include <secp256k1.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/crypto/internal/secp256k1_context.h"
#include "gonka/crypto/secret.h"

namespace gonka::crypto {
namespace {

absl::string_view View(const uint8_t* p, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

// Splits HMAC output I into a key candidate I_L and chain code I_R.
absl::StatusOr<ExtendedKey> FromHmac(const Sha512Digest& i, absl::string_view what) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(View(i.data(), 32));
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("BIP-32 ", what, ": derived key is invalid (I_L is 0 or >= n)"));
  }
  std::array<uint8_t, 32> chain;
  std::memcpy(chain.data(), i.data() + 32, 32);
  ExtendedKey out(*std::move(key), chain);
  SecureWipe(chain.data(), chain.size());
  return out;
}

}  // namespace

ExtendedKey::~ExtendedKey() { SecureWipe(chain_code.data(), chain_code.size()); }

absl::StatusOr<std::vector<uint32_t>> ParseHdPath(absl::string_view path) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("HD path \"", path, "\": ", why));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.empty() || parts[0] != "m") return error("must start with \"m\"");
  std::vector<uint32_t> out;
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view part = parts[i];
    uint32_t hardened = 0;
    if (!part.empty() && (part.back() == '\'' || part.back() == 'h' || part.back() == 'H')) {
      hardened = kHardened;
      part.remove_suffix(1);
    }
    uint32_t index = 0;
    if (part.empty() || part.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(part, &index) || index >= kHardened) {
      return error(absl::StrCat("component ", i, " is not an index below 2^31"));
    }
    out.push_back(index | hardened);
  }
  return out;
}

absl::StatusOr<ExtendedKey> MasterKeyFromSeed(absl::string_view seed) {
  if (seed.size() < 16 || seed.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("BIP-32 seed is ", seed.size(), " bytes; want 16..64"));
  }
  Sha512Digest i = HmacSha512("Bitcoin seed", seed);
  absl::StatusOr<ExtendedKey> out = FromHmac(i, "master key");
  SecureWipe(i.data(), i.size());
  return out;
}

absl::StatusOr<ExtendedKey> DeriveChild(const ExtendedKey& parent, uint32_t index) {
  // data = 0x00 || k || ser32(i) for hardened, serP(K) || ser32(i) otherwise; 37 bytes either way.
  std::array<uint8_t, 37> data;
  if (index >= kHardened) {
    data[0] = 0;
    std::memcpy(data.data() + 1, parent.private_key.secret_bytes().data(), 32);
  } else {
    std::memcpy(data.data(), parent.private_key.public_key().bytes().data(), 33);
  }
  for (int b = 0; b < 4; ++b) data[33 + b] = static_cast<uint8_t>(index >> (24 - 8 * b));
  Sha512Digest i = HmacSha512(AsStringView(parent.chain_code), AsStringView(data));
  SecureWipe(data.data(), data.size());

  // k_i = I_L + k_par (mod n). tweak_add fails if I_L >= n or the sum is zero: BIP-32's
  // "invalid child" case.
  std::array<uint8_t, 32> child = parent.private_key.secret_bytes();
  const bool ok =
      secp256k1_ec_seckey_tweak_add(internal::Secp256k1Context(), child.data(), i.data()) == 1;
  std::array<uint8_t, 32> chain;
  std::memcpy(chain.data(), i.data() + 32, 32);
  SecureWipe(i.data(), i.size());
  absl::StatusOr<PrivateKey> key = ok ? PrivateKey::FromBytes(AsStringView(child))
                                      : absl::StatusOr<PrivateKey>(absl::InvalidArgumentError(""));
  SecureWipe(child.data(), child.size());
  if (!key.ok()) {
    SecureWipe(chain.data(), chain.size());
    return absl::InvalidArgumentError(absl::StrCat("BIP-32 child index ", index & ~kHardened,
                                                   index >= kHardened ? "'" : "",
                                                   " yields an invalid key; use another index"));
  }
  ExtendedKey out(*std::move(key), chain);
  SecureWipe(chain.data(), chain.size());
  out.depth = static_cast<uint8_t>(parent.depth + 1);
  const Ripemd160Digest parent_id = parent.private_key.public_key().AddressBytes();
  out.parent_fingerprint = (uint32_t{parent_id[0]} << 24) | (uint32_t{parent_id[1]} << 16) |
                           (uint32_t{parent_id[2]} << 8) | uint32_t{parent_id[3]};
  out.child_number = index;
  return out;
}

absl::StatusOr<ExtendedKey> DerivePath(absl::string_view seed, absl::string_view path) {
  absl::StatusOr<std::vector<uint32_t>> indices = ParseHdPath(path);
  if (!indices.ok()) return indices.status();
  absl::StatusOr<ExtendedKey> key = MasterKeyFromSeed(seed);
  for (uint32_t index : *indices) {
    if (!key.ok()) break;
    key = DeriveChild(*key, index);
  }
  return key;
}

}  // namespace gonka::crypto
