// Proves the BoringSSL test target really runs the facade on Debian's BoringSSL.
#include <openssl/base.h>
#include <openssl/crypto.h>

#include <gtest/gtest.h>

#include "gonka/crypto/hash.h"

namespace gonka::crypto {
namespace {

TEST(BoringsslLinkTest, HeadersAndLibraryAreBoringssl) {
#ifndef OPENSSL_IS_BORINGSSL
  FAIL() << "compiled against a libcrypto that is not BoringSSL";
#endif
  // FIPS_mode exists in both; BoringSSL's library is libcrypto.so.0 from the android directory,
  // which is what the rpath in //third_party:boringssl points at.
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace gonka::crypto
