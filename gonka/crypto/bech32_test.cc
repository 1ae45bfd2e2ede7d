// BIP-173 test vectors (bitcoin/bips bip-0173.mediawiki, "Test vectors") and Cosmos addresses
// from the CosmJS vectors (docs/reference/protocol.md, "Test vectors").
#include "gonka/crypto/bech32.h"

#include <cctype>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::gonka::crypto::testing::Unhex;
using ::testing::HasSubstr;

TEST(Bech32Test, Bip173ValidStringsRoundTrip) {
  const char* valid[] = {
      "A12UEL5L",
      "a12uel5l",
      "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
      "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
      "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
      "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
      "?1ezyfcl",
  };
  for (const char* s : valid) {
    absl::StatusOr<Bech32Decoded> d = Bech32Decode(s);
    ASSERT_TRUE(d.ok()) << s << ": " << d.status();
    absl::StatusOr<std::string> again = Bech32Encode(d->hrp, d->words);
    ASSERT_TRUE(again.ok()) << again.status();
    std::string lower(s);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(*again, lower);
  }
}

TEST(Bech32Test, Bip173InvalidStrings) {
  const std::string invalid[] = {
      std::string("\x20") + "1nwldj5",  // HRP character out of range
      std::string("\x7f") + "1axkwrx",  // HRP character out of range
      std::string("\x80") + "1eym55h",  // HRP character out of range
      "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
      "pzry9x0s0muk",                    // no separator
      "1pzry9x0s0muk",                   // empty HRP
      "x1b4n0q5v",                       // invalid data character
      "li1dgmt3",                        // too short checksum
      std::string("de1lg7wt") + "\xff",  // invalid character in checksum
      "A1G7SGD8",                        // checksum calculated with uppercase HRP
      "10a06t8",                         // empty HRP
      "1qzzfhee",                        // empty HRP
  };
  for (const std::string& s : invalid) {
    absl::StatusOr<Bech32Decoded> d = Bech32Decode(s);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

TEST(Bech32Test, Bip173SegwitV0AddressesExerciseBitRegrouping) {
  // witness version 0 = first word, program = remaining words regrouped 5 -> 8.
  struct Vector {
    const char* address;
    const char* script_pubkey;
  };
  const Vector vectors[] = {
      {"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
       "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
      {"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
       "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
      {"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
       "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
  };
  for (const Vector& v : vectors) {
    absl::StatusOr<Bech32Decoded> d = Bech32Decode(v.address);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_FALSE(d->words.empty());
    EXPECT_EQ(d->words[0], 0);
    std::vector<uint8_t> program_words(d->words.begin() + 1, d->words.end());
    absl::StatusOr<std::vector<uint8_t>> program = ConvertBits(program_words, 5, 8, false);
    ASSERT_TRUE(program.ok()) << program.status();
    const std::string script = std::string(1, '\0') + static_cast<char>(program->size()) +
                               std::string(program->begin(), program->end());
    EXPECT_EQ(Hex(script), v.script_pubkey) << v.address;
  }
  // "Mixed case" and "Non-zero padding in 8-to-5 conversion" from the invalid address list.
  EXPECT_FALSE(Bech32Decode("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7").ok());
  absl::StatusOr<Bech32Decoded> padded =
      Bech32Decode("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv");
  ASSERT_TRUE(padded.ok());
  std::vector<uint8_t> words(padded->words.begin() + 1, padded->words.end());
  EXPECT_FALSE(ConvertBits(words, 5, 8, false).ok());
  // "zero padding of more than 4 bits".
  absl::StatusOr<Bech32Decoded> long_pad = Bech32Decode("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du");
  ASSERT_TRUE(long_pad.ok());
  std::vector<uint8_t> words2(long_pad->words.begin() + 1, long_pad->words.end());
  EXPECT_FALSE(ConvertBits(words2, 5, 8, false).ok());
  // "Invalid checksum".
  EXPECT_FALSE(Bech32Decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5").ok());
}

TEST(AddressTest, CosmosVectors) {
  // docs/reference/protocol.md, "Test vectors": the same 20 bytes under two prefixes.
  const std::string bytes = Unhex("0d82b1e7c96dbfa42462fe612932e6bff111d51b");
  EXPECT_EQ(*EncodeAddress("cosmos", bytes), "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6");
  EXPECT_EQ(*EncodeAddress("wasm", bytes), "wasm1pkptre7fdkl6gfrzlesjjvhxhlc3r4gm32kke3");
  EXPECT_EQ(*DecodeAddress("cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6", "cosmos"), bytes);
  EXPECT_EQ(Hex(*DecodeAddress("cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5", "")),
            "95d0fcfa1a44eb55a714b47d61beb014c97cb578");
  EXPECT_EQ(Hex(*DecodeAddress("cosmos1cjsxept9rkggzxztslae9ndgpdyt2408lk850u", "cosmos")),
            "c4a06c85651d9081184b87fb92cda80b48b555e7");
}

TEST(AddressTest, ErrorsNameTheAddressAndReason) {
  absl::StatusOr<std::string> wrong_prefix =
      DecodeAddress("cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6", "gonka");
  EXPECT_EQ(wrong_prefix.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_prefix.status().message(),
              HasSubstr("cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6"));
  EXPECT_THAT(wrong_prefix.status().message(), HasSubstr("want \"gonka\""));

  absl::StatusOr<std::string> bad_checksum =
      DecodeAddress("cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs7", "cosmos");
  EXPECT_EQ(bad_checksum.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_checksum.status().message(), HasSubstr("invalid checksum"));
  EXPECT_THAT(bad_checksum.status().message(),
              HasSubstr("cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs7"));

  // 19 bytes is not an account address.
  absl::StatusOr<std::string> short_addr = EncodeAddress("gonka", std::string(19, '\1'));
  ASSERT_TRUE(short_addr.ok());
  EXPECT_THAT(DecodeAddress(*short_addr, "gonka").status().message(), HasSubstr("19 bytes"));
  EXPECT_EQ(Bech32Encode("Gonka", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::crypto
