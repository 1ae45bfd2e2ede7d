// Helpers shared by the gonka/crypto tests (both the OpenSSL and the BoringSSL target).
#ifndef GONKA_CRYPTO_TEST_UTIL_H_
#define GONKA_CRYPTO_TEST_UTIL_H_

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "gonka/crypto/hash.h"

namespace gonka::crypto::testing {

// Hex -> bytes; aborts on malformed test data.
inline std::string Unhex(absl::string_view hex) {
  std::string out;
  if (!HexDecode(hex, "test vector", &out).ok()) std::abort();
  return out;
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& a) {
  return HexEncode(a);
}

inline std::string Hex(absl::string_view s) { return HexEncode(s); }

template <size_t N>
std::array<uint8_t, N> ToArray(absl::string_view bytes) {
  std::array<uint8_t, N> out{};
  if (bytes.size() != N) std::abort();
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<uint8_t>(bytes[i]);
  return out;
}

}  // namespace gonka::crypto::testing

#endif  // GONKA_CRYPTO_TEST_UTIL_H_
