// secp256k1: RFC 6979 deterministic signatures (the widely published secp256k1/SHA-256 vectors,
// in low-S compact form), the published CosmJS MsgSend vector (docs/reference/protocol.md, "Test
// vectors"), verification rules.
#include "gonka/crypto/secp256k1.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::gonka::crypto::testing::ToArray;
using ::gonka::crypto::testing::Unhex;
using ::testing::HasSubstr;

PrivateKey Key(absl::string_view hex) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(Unhex(hex));
  if (!key.ok()) std::abort();
  return *std::move(key);
}

TEST(Secp256k1Test, Rfc6979Vectors) {
  struct Vector {
    const char* key;
    const char* message;
    const char* signature;  // r || s, low-S
  };
  const Vector vectors[] = {
      {"0000000000000000000000000000000000000000000000000000000000000001", "Satoshi Nakamoto",
       "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8"
       "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5"},
      {"0000000000000000000000000000000000000000000000000000000000000001",
       "All those moments will be lost in time, like tears in rain. Time to die...",
       "8600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b"
       "547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21"},
      {"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", "Satoshi Nakamoto",
       "fd567d121db66e382991534ada77a6bd3106f0a1098c231e47993447cd6af2d0"
       "6b39cd0eb1bc8603e159ef5c20a5c8ad685a45b06ce9bebed3f153d10d93bed5"},
      {"f8b8af8ce3c7cca5e300d33939540c10d45ce001b8f252bfbc57ba0342904181", "Alan Turing",
       "7063ae83e7f62bbb171798131b4a0564b956930092b33b07b395615d9ec7e15c"
       "58dfcc1e00a35e1572f366ffe34ba0fc47db1e7189759b9fb233c5b05ab388ea"},
      {"cca9fbcc1b41e5a95d369eaa6ddcff73b61a4efaa279cfc6567e8daa39cbaf50", "sample",
       "af340daf02cc15c8d5d08d7735dfe6b98a474ed373bdb5fbecf7571be52b3842"
       "5009fb27f37034a9b24b707b7c6b79ca23ddef9e25f7282e8a797efe53a8f124"},
  };
  for (const Vector& v : vectors) {
    SCOPED_TRACE(v.message);
    PrivateKey key = Key(v.key);
    const Sha256Digest digest = Sha256(v.message);
    const Signature sig = key.Sign(digest);
    EXPECT_EQ(Hex(sig), v.signature);
    EXPECT_TRUE(
        VerifySignature(key.public_key().view(), AsStringView(digest), AsStringView(sig)).ok());
  }
}

TEST(Secp256k1Test, PublicKeyOfOneIsTheGenerator) {
  EXPECT_EQ(Hex(Key("0000000000000000000000000000000000000000000000000000000000000001")
                    .public_key()
                    .view()),
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
}

TEST(Secp256k1Test, CosmjsSignDocVector) {
  // The published CosmJS MsgSend vector, sequence 0 (docs/reference/protocol.md, "Test vectors"):
  // faucet key, SHA-256(signBytes) and the published signature.
  PrivateKey key = Key("e16ee698b4a4ee03566d7dd9bb6f0e8a2dda802527ba56205f5767c0049fa0b9");
  EXPECT_EQ(Hex(key.public_key().view()),
            "034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c70290");
  const Sha256Digest digest =
      ToArray<32>(Unhex("5d5967f13a4ff2045594ece00ad7bef5c61b149a559b15fd948af00fb93b31d3"));
  EXPECT_EQ(Hex(key.Sign(digest)),
            "c9dd20e07464d3a688ff4b710b1fbc027e495e797cfa0b4804da2ed117959227"
            "772de059808f765aa29b8f92edf30f4c2c5a438e30d3fe6897daa7141e3ce6f9");
}

TEST(Secp256k1Test, RejectsInvalidPrivateKeys) {
  for (const char* bad : {"0000000000000000000000000000000000000000000000000000000000000000",
                          "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
                          "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}) {
    absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(Unhex(bad));
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(key.status().message(), ::testing::Not(HasSubstr("ffff")));
  }
  EXPECT_EQ(PrivateKey::FromBytes("short").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Secp256k1Test, VerifyRejectsHighSAndTampering) {
  PrivateKey key = Key("0000000000000000000000000000000000000000000000000000000000000001");
  const Sha256Digest digest = Sha256("Satoshi Nakamoto");
  Signature sig = key.Sign(digest);
  // s' = n - s: the same signature in high-S form, which the SDK refuses.
  const std::string n = Unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  Signature high = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = static_cast<uint8_t>(n[i]) - sig[32 + i] - borrow;
    borrow = d < 0;
    high[32 + i] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
  }
  absl::Status st =
      VerifySignature(key.public_key().view(), AsStringView(digest), AsStringView(high));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("lower-S"));

  Signature tampered = sig;
  tampered[5] ^= 1;
  EXPECT_EQ(
      VerifySignature(key.public_key().view(), AsStringView(digest), AsStringView(tampered)).code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifySignature(key.public_key().view(), AsStringView(digest), "short").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Secp256k1Test, PublicKeyParsing) {
  EXPECT_TRUE(PublicKey::FromBytes(
                  Unhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))
                  .ok());
  EXPECT_EQ(PublicKey::FromBytes(Unhex("04")).status().code(), absl::StatusCode::kInvalidArgument);
  // x = 5 is not on the curve (y^2 = 132 has no square root mod p).
  EXPECT_EQ(PublicKey::FromBytes(
                Unhex("020000000000000000000000000000000000000000000000000000000000000005"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Secp256k1Test, MoveWipesTheSource) {
  PrivateKey a = Key("0000000000000000000000000000000000000000000000000000000000000007");
  PrivateKey b = std::move(a);
  const std::array<uint8_t, 32> zero{};
  EXPECT_EQ(a.secret_bytes(), zero);  // NOLINT(bugprone-use-after-move): checking the wipe
  EXPECT_NE(b.secret_bytes(), zero);
}

}  // namespace
}  // namespace gonka::crypto
