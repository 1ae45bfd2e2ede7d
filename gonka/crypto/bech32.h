// bech32 (BIP-173; the original checksum constant 1, not bech32m) and Cosmos addresses.
//
// Contract: encoding always yields lowercase; decoding accepts all-lowercase or all-uppercase
// (never mixed) and returns the HRP in lowercase. Errors are InvalidArgument and name the input
// (addresses are public) and what is wrong with it: bad checksum, bad character at a position,
// wrong prefix, bad length.
//
//   ASSIGN_OR_RETURN(std::string addr, EncodeAddress("gonka", pubkey.AddressBytes()));
//   ASSIGN_OR_RETURN(std::string raw, DecodeAddress(addr, "gonka"));     // 20 bytes
//
// Thread-safety: all functions are thread-safe.
#ifndef GONKA_CRYPTO_BECH32_H_
#define GONKA_CRYPTO_BECH32_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gonka::crypto {

// BIP-173's limit on the whole string. CosmJS and the Go SDK allow longer strings on decode; this
// library's addresses (20 or 32 bytes) are far below it either way.
inline constexpr size_t kBech32MaxLength = 90;

struct Bech32Decoded {
  std::string hrp;             // lowercase
  std::vector<uint8_t> words;  // 5-bit values, checksum removed
};

// Encodes `hrp` and 5-bit `words` (each < 32). InvalidArgument if the HRP is empty, has a
// character outside US-ASCII 33..126 or an uppercase letter, a word is >= 32, or the result
// would exceed `max_length`.
absl::StatusOr<std::string> Bech32Encode(absl::string_view hrp, const std::vector<uint8_t>& words,
                                         size_t max_length = kBech32MaxLength);

// Decodes and verifies the checksum. InvalidArgument naming `input` and the reason.
absl::StatusOr<Bech32Decoded> Bech32Decode(absl::string_view input,
                                           size_t max_length = kBech32MaxLength);

// Regroups bits: 8 -> 5 with zero padding (pad = true), or 5 -> 8 requiring that leftover
// padding is under 5 bits and all zero (pad = false). InvalidArgument otherwise.
absl::StatusOr<std::vector<uint8_t>> ConvertBits(const std::vector<uint8_t>& in, int from_bits,
                                                 int to_bits, bool pad);

// bech32 of `prefix` and 8-bit `data` (the Cosmos address form, CosmJS toBech32).
absl::StatusOr<std::string> EncodeAddress(absl::string_view prefix, absl::string_view data);
template <size_t N>
absl::StatusOr<std::string> EncodeAddress(absl::string_view prefix,
                                          const std::array<uint8_t, N>& data) {
  return EncodeAddress(prefix, absl::string_view(reinterpret_cast<const char*>(data.data()), N));
}

// Decodes a Cosmos address and returns its bytes (20 for accounts, 32 for module/ICA accounts).
// InvalidArgument if the checksum fails, the prefix is not `expected_prefix` (skipped when it is
// empty), or the data is not 20 or 32 bytes.
absl::StatusOr<std::string> DecodeAddress(absl::string_view address,
                                          absl::string_view expected_prefix);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_BECH32_H_
