#include "gonka/crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/internal/ripemd160.h"

// The calls below have the same names and argument order in OpenSSL 3 and BoringSSL; only some
// length parameters differ in type (int there, size_t here), which the range checks make safe.

namespace gonka::crypto {
namespace {

const uint8_t* Bytes(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string Hex(absl::string_view data, const char* digits) {
  std::string out(data.size() * 2, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(data[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 15];
  }
  return out;
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Sha256Digest Sha256(absl::string_view data) {
  // OpenSSL 3's one-shot SHA256() looks the algorithm up (a global lock and a reference count) on
  // every call, which dominated hashing many small inputs (a block's txs). Fetch it once and reuse
  // one context per thread. BoringSSL has no providers: its one-shot call is already direct.
#if defined(OPENSSL_IS_BORINGSSL) || OPENSSL_VERSION_NUMBER < 0x30000000L
  Sha256Digest out;
  SHA256(Bytes(data), data.size(), out.data());
  return out;
#else
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Context {
    Context() : ctx(EVP_MD_CTX_new()) {}
    ~Context() { EVP_MD_CTX_free(ctx); }
    EVP_MD_CTX* ctx;
  };
  thread_local Context context;
  Sha256Digest out;
  unsigned int size = 0;
  if (md != nullptr && context.ctx != nullptr &&
      EVP_DigestInit_ex2(context.ctx, md, nullptr) == 1 &&
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) == 1 &&
      EVP_DigestFinal_ex(context.ctx, out.data(), &size) == 1 && size == out.size()) {
    return out;
  }
  SHA256(Bytes(data), data.size(), out.data());  // the slow path still gives the right answer
  return out;
#endif
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  ok_ = ctx_ != nullptr &&
        EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) == 1;
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(absl::string_view data) {
  if (ok_ && !data.empty()) {
    ok_ = EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) == 1;
  }
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest out{};
  unsigned int size = 0;
  if (!ok_ || EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &size) != 1 ||
      size != out.size()) {
    out.fill(0);  // an all-zero digest matches nothing a caller compares against
  }
  ok_ = false;
  return out;
}

Ripemd160Digest Ripemd160(absl::string_view data) {
  Ripemd160Digest out;
  internal::Ripemd160(Bytes(data), data.size(), out.data());
  return out;
}

Ripemd160Digest Hash160(absl::string_view data) {
  const Sha256Digest sha = Sha256(data);
  Ripemd160Digest out;
  internal::Ripemd160(sha.data(), sha.size(), out.data());
  return out;
}

Sha512Digest HmacSha512(absl::string_view key, absl::string_view data) {
  Sha512Digest out;
  unsigned int out_len = 0;
  // Keys here are at most a 64-byte chain code or a short constant; INT_MAX is never near.
  HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(), out.data(),
       &out_len);
  return out;
}

absl::Status Pbkdf2HmacSha512(absl::string_view password, absl::string_view salt,
                              uint32_t iterations, absl::Span<uint8_t> out) {
  if (iterations == 0 || iterations > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBKDF2: iterations must be in [1, 2^31), got ", iterations));
  }
  if (password.size() > INT_MAX || salt.size() > INT_MAX || out.size() > INT_MAX) {
    return absl::InvalidArgumentError("PBKDF2: password, salt or output larger than 2 GiB");
  }
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), Bytes(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha512(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return absl::InternalError("PBKDF2-HMAC-SHA512 failed in libcrypto");
  }
  return absl::OkStatus();
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(void* data, size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

absl::Status RandomBytes(absl::Span<uint8_t> out) {
  if (out.size() > INT_MAX) return absl::InvalidArgumentError("RandomBytes: request too large");
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return absl::InternalError("libcrypto RAND_bytes failed");
  }
  return absl::OkStatus();
}

std::string HexEncode(absl::string_view data) { return Hex(data, kHexLower); }

std::string HexEncodeUpper(absl::string_view data) { return Hex(data, kHexUpper); }

absl::Status HexDecode(absl::string_view hex, absl::string_view what, std::string* out) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": hex has odd length ", hex.size()));
  }
  std::string result(hex.size() / 2, '\0');
  for (size_t i = 0; i < result.size(); ++i) {
    const int hi = HexNibble(hex[2 * i]);
    const int lo = HexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      SecureWipe(result.data(), result.size());
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": non-hex character at position ", hi < 0 ? 2 * i : 2 * i + 1));
    }
    result[i] = static_cast<char>((hi << 4) | lo);
  }
  out->swap(result);
  SecureWipe(result.data(), result.size());
  return absl::OkStatus();
}

}  // namespace gonka::crypto
