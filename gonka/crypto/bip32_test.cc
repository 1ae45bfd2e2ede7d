// BIP-32: the published test vectors 1 and 2 (private keys and chain codes decoded from the
// xprv strings), Cosmos paths from the CosmJS vectors (docs/reference/protocol.md, "Test vectors"),
// and path parsing.
#include "gonka/crypto/bip32.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/bech32.h"
#include "gonka/crypto/bip39.h"
#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::gonka::crypto::testing::Unhex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Step {
  const char* path;
  const char* key;
  const char* chain_code;
};

void CheckChain(const std::string& seed, const Step* steps, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(steps[i].path);
    absl::StatusOr<ExtendedKey> key = DerivePath(seed, steps[i].path);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(Hex(key->private_key.secret_bytes()), steps[i].key);
    EXPECT_EQ(Hex(key->chain_code), steps[i].chain_code);
  }
}

TEST(Bip32Test, Vector1) {
  const Step steps[] = {
      {"m", "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35",
       "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508"},
      {"m/0'", "edb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea",
       "47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141"},
      {"m/0'/1", "3c6cb8d0f6a264c91ea8b5030fadaa8e538b020f0a387421a12de9319dc93368",
       "2a7857631386ba23dacac34180dd1983734e444fdbf774041578e9b6adb37c19"},
      {"m/0'/1/2'", "cbce0d719ecf7431d88e6a89fa1483e02e35092af60c042b1df2ff59fa424dca",
       "04466b9cc8e161e966409ca52986c584f07e9dc81f735db683c3ff6ec7b1503f"},
      {"m/0'/1/2'/2", "0f479245fb19a38a1954c5c7c0ebab2f9bdfd96a17563ef28a6a4b1a2a764ef4",
       "cfb71883f01676f587d023cc53a35bc7f88f724b1f8c2892ac1275ac822a3edd"},
      {"m/0'/1/2'/2/1000000000", "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8",
       "c783e67b921d2beb8f6b389cc646d7263b4145701dadd2161548a8b078e65e9e"},
  };
  CheckChain(Unhex("000102030405060708090a0b0c0d0e0f"), steps, std::size(steps));
}

TEST(Bip32Test, Vector2) {
  const Step steps[] = {
      {"m", "4b03d6fc340455b363f51020ad3ecca4f0850280cf436c70c727923f6db46c3e",
       "60499f801b896d83179a4374aeb7822aaeaceaa0db1f85ee3e904c4defbd9689"},
      {"m/0", "abe74a98f6c7eabee0428f53798f0ab8aa1bd37873999041703c742f15ac7e1e",
       "f0909affaa7ee7abe5dd4e100598d4dc53cd709d5a5c2cac40e7412f232f7c9c"},
      {"m/0/2147483647'", "877c779ad9687164e9c2f4f0f4ff0340814392330693ce95a58fe18fd52e6e93",
       "be17a268474a6bb9c61e1d720cf6215e2a88c5406c4aee7b38547f585c9a37d9"},
      {"m/0/2147483647'/1", "704addf544a06e5ee4bea37098463c23613da32020d604506da8c0518e1da4b7",
       "f366f48f1ea9f2d1d3fe958c95ca84ea18e4c4ddb9366c336c927eb246fb38cb"},
      {"m/0/2147483647'/1/2147483646'",
       "f1c7c871a54a804afe328b4c83a1c33b8e5ff48f5087273f04efa83b247d6a2d",
       "637807030d55d01f9a0cb3a7839515d796bd07706386a6eddf06cc29a65a0e29"},
      {"m/0/2147483647'/1/2147483646'/2",
       "bb7d39bdb83ecf58f2fd82b6d918341cbef428661ef01ab97c28a4842125ac23",
       "9452b549be8cea3ecb7a84bec10dcfd94afe4d129ebfd3b3cb58eedf394ed271"},
  };
  CheckChain(Unhex("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c99969390"
                   "8d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"),
             steps, std::size(steps));
}

TEST(Bip32Test, DepthFingerprintAndChildNumber) {
  absl::StatusOr<ExtendedKey> key = DerivePath(Unhex("000102030405060708090a0b0c0d0e0f"), "m/0'");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->depth, 1);
  EXPECT_EQ(key->child_number, kHardened);
  EXPECT_EQ(key->parent_fingerprint, 0x3442193eu);  // BIP-32 vector 1, chain m/0H
}

TEST(Bip32Test, CosmosPaths) {
  // docs/reference/protocol.md, "Test vectors": mnemonic C at m/44'/118'/0'/0/{0..4} with prefix
  // "wasm" (CosmJS spec).
  absl::StatusOr<SecretBytes> seed = MnemonicToSeed(
      "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren "
      "bottom lizard educate guess current outdoor pair theory focus wife stone");
  ASSERT_TRUE(seed.ok());
  const char* want[] = {
      "wasm1pkptre7fdkl6gfrzlesjjvhxhlc3r4gm32kke3", "wasm10dyr9899g6t0pelew4nvf4j5c3jcgv0r5d3a5l",
      "wasm1xy4yqngt0nlkdcenxymg8tenrghmek4n3u2lwa", "wasm142u9fgcjdlycfcez3lw8x6x5h7rfjlnfaallkd",
      "wasm1hsm76p4ahyhl5yh3ve9ur49r5kemhp2r93f89d"};
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<ExtendedKey> key =
        DerivePath(seed->view(), "m/44'/118'/0'/0/" + std::to_string(i));
    ASSERT_TRUE(key.ok()) << key.status();
    absl::StatusOr<std::string> addr =
        EncodeAddress("wasm", key->private_key.public_key().AddressBytes());
    ASSERT_TRUE(addr.ok());
    EXPECT_EQ(*addr, want[i]);
  }
  absl::StatusOr<ExtendedKey> key0 = DerivePath(seed->view(), kCosmosHubHdPath);
  ASSERT_TRUE(key0.ok());
  EXPECT_EQ(Hex(key0->private_key.secret_bytes()),
            "e16ee698b4a4ee03566d7dd9bb6f0e8a2dda802527ba56205f5767c0049fa0b9");
}

TEST(Bip32Test, ParseHdPath) {
  absl::StatusOr<std::vector<uint32_t>> p = ParseHdPath(kGonkaHdPath);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(*p, ElementsAre(44 | kHardened, 1200 | kHardened, kHardened, 0u, 0u));
  EXPECT_THAT(*ParseHdPath("m/1h/2H/3"), ElementsAre(1 | kHardened, 2 | kHardened, 3u));
  EXPECT_THAT(*ParseHdPath("m"), ElementsAre());
  for (const char* bad : {"", "44'/0'", "m/", "m/x", "m/2147483648", "m/-1", "m//1", "m/1''"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::vector<uint32_t>> r = ParseHdPath(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("HD path"));
  }
}

TEST(Bip32Test, SeedLength) {
  EXPECT_EQ(MasterKeyFromSeed(std::string(15, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MasterKeyFromSeed(std::string(65, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::crypto
