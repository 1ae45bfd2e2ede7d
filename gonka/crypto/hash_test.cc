// Published vectors for the libcrypto facade: FIPS 180-2 (SHA-256), the RIPEMD-160 authors'
// page, RFC 4231 (HMAC-SHA512), and PBKDF2-HMAC-SHA512 vectors in the RFC 6070 style.
#include "gonka/crypto/hash.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::gonka::crypto::testing::Unhex;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConstantTimeEqualsTest, ComparesBytes) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Sha256Test, PublishedVectors) {
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Ripemd160Test, PublishedVectors) {
  struct Vector {
    std::string input;
    const char* digest;
  };
  const Vector vectors[] = {
      {"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"},
      {"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"},
      {"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
      {"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"},
      {"abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "12a053384a9c0c88e405a06c27dcf49ada62eb2b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "b0e20b6e3116640286ed3a87a5713079b21f5189"},
      {"1234567890123456789012345678901234567890"
       "1234567890123456789012345678901234567890",
       "9b752e45573d4b39f4dbd3323cab82bf63326bfb"},
      {std::string(1000000, 'a'), "52783243c1697bdbe16d37f97f68f08325dc1528"},
  };
  for (const Vector& v : vectors) {
    EXPECT_EQ(Hex(Ripemd160(v.input)), v.digest) << "input of " << v.input.size() << " bytes";
  }
}

TEST(Ripemd160Test, PaddingBoundaries) {
  // 55, 56, 63, 64 and 65 bytes straddle the one/two padding block boundary; the results are
  // checked for self-consistency with Hash160 and for distinctness here, and byte for byte
  // against OpenSSL's implementation in openssl_crosscheck_test.cc.
  std::string last;
  for (size_t n : {55, 56, 63, 64, 65, 119, 120, 128}) {
    const std::string h = Hex(Ripemd160(std::string(n, 'x')));
    EXPECT_NE(h, last);
    last = h;
  }
}

TEST(Hash160Test, IsRipemdOfSha) {
  const std::string pubkey =
      Unhex("034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c70290");
  // docs/reference/protocol.md, "Test vectors", C: address bytes of the CosmJS faucet key.
  EXPECT_EQ(Hex(Hash160(pubkey)), "0d82b1e7c96dbfa42462fe612932e6bff111d51b");
  EXPECT_EQ(Hash160(pubkey), Ripemd160(AsStringView(Sha256(pubkey))));
}

TEST(HmacSha512Test, Rfc4231Vectors) {
  EXPECT_EQ(Hex(HmacSha512(std::string(20, '\x0b'), "Hi There")),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
  EXPECT_EQ(Hex(HmacSha512("Jefe", "what do ya want for nothing?")),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  EXPECT_EQ(Hex(HmacSha512(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")),
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
            "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598");
}

TEST(Pbkdf2Test, HmacSha512Vectors) {
  std::array<uint8_t, 64> out;
  ASSERT_TRUE(Pbkdf2HmacSha512("password", "salt", 1, absl::MakeSpan(out)).ok());
  EXPECT_EQ(Hex(out),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
            "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce");
  ASSERT_TRUE(Pbkdf2HmacSha512("password", "salt", 2, absl::MakeSpan(out)).ok());
  EXPECT_EQ(Hex(out),
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
            "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e");
  EXPECT_EQ(Pbkdf2HmacSha512("password", "salt", 0, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HexTest, RoundTripAndErrorsDoNotEchoInput) {
  std::string out;
  ASSERT_TRUE(HexDecode("00ffAb", "x", &out).ok());
  EXPECT_EQ(out, std::string("\x00\xff\xab", 3));
  EXPECT_EQ(HexEncode(out), "00ffab");
  EXPECT_EQ(HexEncodeUpper(out), "00FFAB");
  absl::Status bad = HexDecode("deadbeefzz", "secret thing", &out);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("secret thing"));
  EXPECT_THAT(bad.message(), HasSubstr("position 8"));
  EXPECT_THAT(bad.message(), Not(HasSubstr("deadbeef")));
  EXPECT_EQ(HexDecode("abc", "x", &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SecureWipeTest, Zeroes) {
  std::array<uint8_t, 16> buf;
  buf.fill(0x5a);
  SecureWipe(buf.data(), buf.size());
  for (uint8_t b : buf) EXPECT_EQ(b, 0);
}

TEST(RandomBytesTest, FillsAndDiffers) {
  std::array<uint8_t, 32> a{}, b{};
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(a)).ok());
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(b)).ok());
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gonka::crypto
