// Hashes, HMAC and PBKDF2: the one facade libgonka uses over libcrypto.
//
// Contract: every function is deterministic and pure (RandomBytes aside); outputs are raw bytes.
// Only libcrypto calls that OpenSSL 3 and BoringSSL both provide are used (SHA256, HMAC,
// PKCS5_PBKDF2_HMAC, OPENSSL_cleanse, CRYPTO_memcmp, RAND_bytes), so the same sources build
// against either; the default build links OpenSSL 3 (`//gonka/crypto`), a test target links
// Debian's BoringSSL
// (`//gonka/crypto:crypto_boringssl`). RIPEMD-160 is computed by libgonka itself
// (internal/ripemd160.cc): Debian's BoringSSL declares RIPEMD160() in <openssl/ripemd.h> but its
// libcrypto.so does not export it.
//
//   Sha256Digest d = Sha256("abc");
//   std::string hex = HexEncode(d);                       // "ba7816bf..."
//   Ripemd160Digest a = Hash160(compressed_pubkey);       // Cosmos address bytes
//
// Thread-safety: all functions are thread-safe.
#ifndef GONKA_CRYPTO_HASH_H_
#define GONKA_CRYPTO_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gonka::crypto {

using Sha256Digest = std::array<uint8_t, 32>;
using Sha512Digest = std::array<uint8_t, 64>;
using Ripemd160Digest = std::array<uint8_t, 20>;

// SHA-256 of `data`.
Sha256Digest Sha256(absl::string_view data);

// SHA-256 of data given in pieces, e.g. a large file read in chunks without holding it whole
// (versiond verifies downloaded binaries so). Finish() once; Update after Finish is ignored.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(absl::string_view data);
  Sha256Digest Finish();

 private:
  void* ctx_;  // EVP_MD_CTX; no OpenSSL type in this header
  bool ok_ = false;
};

// RIPEMD-160 of `data`.
Ripemd160Digest Ripemd160(absl::string_view data);

// RIPEMD-160(SHA-256(data)): a Cosmos/Bitcoin address from a compressed public key.
Ripemd160Digest Hash160(absl::string_view data);

// HMAC-SHA512(key, data).
Sha512Digest HmacSha512(absl::string_view key, absl::string_view data);

// PBKDF2-HMAC-SHA512(password, salt, iterations) into `out` (any length).
// InvalidArgument if iterations is 0 or an input is larger than 2 GiB; Internal if libcrypto fails.
absl::Status Pbkdf2HmacSha512(absl::string_view password, absl::string_view salt,
                              uint32_t iterations, absl::Span<uint8_t> out);

// Whether two equally long byte strings are equal, in time that depends only on their length
// (libcrypto's CRYPTO_memcmp). Different lengths compare unequal at once: compare fixed-size
// digests (e.g. Sha256 of a presented secret against Sha256 of the stored one) to hide lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Overwrites `size` bytes at `data` with zeros in a way the compiler may not elide.
void SecureWipe(void* data, size_t size);

// Fills `out` from libcrypto's CSPRNG. Internal on failure.
absl::Status RandomBytes(absl::Span<uint8_t> out);

// Lowercase hex of `data` (and of any byte array).
std::string HexEncode(absl::string_view data);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& data) {
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(data.data()), N));
}

// Uppercase hex (CometBFT's HexBytes form, used for tx hashes).
std::string HexEncodeUpper(absl::string_view data);

// Decodes hex (either case, no prefix, even length). InvalidArgument naming `what` and the
// offending position otherwise; the input itself is never echoed (it may be a secret).
absl::Status HexDecode(absl::string_view hex, absl::string_view what, std::string* out);

// Views a byte array as a string_view (no copy).
template <size_t N>
absl::string_view AsStringView(const std::array<uint8_t, N>& data) {
  return absl::string_view(reinterpret_cast<const char*>(data.data()), N);
}

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_HASH_H_
