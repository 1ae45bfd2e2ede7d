// Cross-checks the facade against OpenSSL 3's own EVP implementations on random inputs (only in
// the OpenSSL target: it uses EVP calls the facade deliberately avoids).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "gonka/crypto/hash.h"

namespace gonka::crypto {
namespace {

std::string RandomString(std::mt19937_64& rng, size_t max_len) {
  std::string s(rng() % (max_len + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(OpensslCrosscheckTest, LinkedAgainstOpenssl3) {
#ifdef OPENSSL_IS_BORINGSSL
  FAIL() << "the default target must link OpenSSL 3, not BoringSSL";
#endif
  EXPECT_GE(OPENSSL_VERSION_MAJOR, 3);
}

TEST(OpensslCrosscheckTest, Sha256AndHmacMatchEvp) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200; ++i) {
    const std::string data = RandomString(rng, 300);
    const std::string key = RandomString(rng, 200);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr), 1);
    const Sha256Digest ours = Sha256(data);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(md), len), std::string(AsStringView(ours)));
    ASSERT_NE(HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len),
              nullptr);
    const Sha512Digest hmac = HmacSha512(key, data);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(md), len), std::string(AsStringView(hmac)));
  }
}

}  // namespace
}  // namespace gonka::crypto
