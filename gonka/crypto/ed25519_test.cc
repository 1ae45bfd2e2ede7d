#include "gonka/crypto/ed25519.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gonka/crypto/hash.h"
#include "gtest/gtest.h"

namespace gonka::crypto {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// RFC 8032 section 7.1, tests 1 and 2.
TEST(Ed25519Test, PublicKeysOfRfc8032Vectors) {
  std::string seed1 =
      absl::HexStringToBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto pub1 = Ed25519PublicKeyFromSeed(Bytes(seed1));
  ASSERT_TRUE(pub1.ok()) << pub1.status();
  EXPECT_EQ(HexEncode(*pub1), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  std::string seed2 =
      absl::HexStringToBytes("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
  EXPECT_EQ(HexEncode(*Ed25519PublicKeyFromSeed(Bytes(seed2))),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
}

TEST(Ed25519Test, WrongSeedLength) {
  EXPECT_EQ(Ed25519PublicKeyFromSeed(Bytes("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::crypto
