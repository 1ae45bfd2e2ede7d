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

struct Rfc8032Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, tests 1 to 3 (empty, one-byte and two-byte messages).
constexpr Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, SignsAndVerifiesRfc8032Vectors) {
  for (const Rfc8032Vector& v : kVectors) {
    const std::string seed = absl::HexStringToBytes(v.seed);
    const std::string public_key = absl::HexStringToBytes(v.public_key);
    const std::string message = absl::HexStringToBytes(v.message);
    absl::StatusOr<Ed25519Signature> signature = Ed25519Sign(Bytes(seed), message);
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_EQ(HexEncode(*signature), v.signature) << v.seed;
    EXPECT_TRUE(Ed25519Verify(Bytes(public_key), message, *signature)) << v.seed;
  }
}

TEST(Ed25519Test, VerifyRefusesTamperedInputs) {
  const Rfc8032Vector& v = kVectors[2];
  const std::string public_key = absl::HexStringToBytes(v.public_key);
  const std::string message = absl::HexStringToBytes(v.message);
  std::string signature = absl::HexStringToBytes(v.signature);
  ASSERT_TRUE(Ed25519Verify(Bytes(public_key), message, Bytes(signature)));
  EXPECT_FALSE(Ed25519Verify(Bytes(public_key), "other message", Bytes(signature)));
  std::string flipped = signature;
  flipped[10] ^= 1;
  EXPECT_FALSE(Ed25519Verify(Bytes(public_key), message, Bytes(flipped)));
  const std::string other_key = absl::HexStringToBytes(kVectors[0].public_key);
  EXPECT_FALSE(Ed25519Verify(Bytes(other_key), message, Bytes(signature)));
  EXPECT_FALSE(Ed25519Verify(Bytes(public_key), message, Bytes(signature.substr(0, 63))));
  EXPECT_FALSE(Ed25519Verify(Bytes(public_key.substr(0, 31)), message, Bytes(signature)));
  EXPECT_EQ(Ed25519Sign(Bytes("short"), message).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Ed25519Test, WrongSeedLength) {
  EXPECT_EQ(Ed25519PublicKeyFromSeed(Bytes("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::crypto
