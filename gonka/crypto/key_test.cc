// Keys: mnemonic / hex / key file loading, the 0600 mode rule, and that no secret ever reaches
// an error message.
#include "gonka/crypto/key.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMnemonicC[] =
    "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren bottom "
    "lizard educate guess current outdoor pair theory focus wife stone";
constexpr char kPrivC[] = "e16ee698b4a4ee03566d7dd9bb6f0e8a2dda802527ba56205f5767c0049fa0b9";

KeyOptions Cosmos() {
  KeyOptions o;
  o.prefix = "cosmos";
  o.hd_path = std::string(kCosmosHubHdPath);
  return o;
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/key" +
                        std::string(6, 'X');  // mkdtemp's template
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << content;
    }
    chmod(path.c_str(), mode);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST(KeyTest, PublishedCosmosMnemonics) {
  // docs/reference/protocol.md, "Test vectors" (CosmJS directsecp256k1hdwallet.spec.ts and
  // testutils.ts).
  struct Vector {
    const char* mnemonic;
    const char* pubkey;
    const char* address;
  };
  const Vector vectors[] = {
      {"special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling",
       "02baa4ef93f2ce84592a49b1d729c074eab640112522a7a89f7d03ebab21ded7b6",
       "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5"},
      {"oyster design unusual machine spread century engine gravity focus cave carry slot",
       "02b902685509fc81febca06635109d5159779820216e8a64f638d6e0aa3839f450",
       "cosmos1cjsxept9rkggzxztslae9ndgpdyt2408lk850u"},
      {kMnemonicC, "034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c70290",
       "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6"},
  };
  for (const Vector& v : vectors) {
    absl::StatusOr<SigningKey> key = KeyFromMnemonic(v.mnemonic, Cosmos());
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(Hex(key->public_key().view()), v.pubkey);
    EXPECT_EQ(key->address(), v.address);
  }
}

TEST(KeyTest, GonkaDefaultsUseCoinType1200AndPrefixGonka) {
  absl::StatusOr<SigningKey> gonka = KeyFromMnemonic(kMnemonicC);
  ASSERT_TRUE(gonka.ok()) << gonka.status();
  EXPECT_EQ(gonka->address().rfind("gonka1", 0), 0u);
  KeyOptions explicit_path;
  explicit_path.hd_path = "m/44'/1200'/0'/0/0";
  absl::StatusOr<SigningKey> same = KeyFromMnemonic(kMnemonicC, explicit_path);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(gonka->address(), same->address());
  absl::StatusOr<SigningKey> hub = KeyFromMnemonic(kMnemonicC, Cosmos());
  ASSERT_TRUE(hub.ok());
  EXPECT_NE(gonka->public_key(), hub->public_key());
}

TEST(KeyTest, FromHex) {
  for (std::string hex :
       {std::string(kPrivC), "0x" + std::string(kPrivC), "  " + std::string(kPrivC) + "\n"}) {
    absl::StatusOr<SigningKey> key = KeyFromHex(hex, Cosmos());
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->address(), "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6");
  }
}

TEST(KeyTest, HexErrorsDoNotLeakTheKey) {
  std::string bad = kPrivC;
  bad[10] = 'z';
  absl::StatusOr<SigningKey> key = KeyFromHex(bad);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), Not(HasSubstr(std::string(kPrivC).substr(0, 8))));
  absl::StatusOr<SigningKey> short_key = KeyFromHex(std::string(kPrivC).substr(0, 62));
  ASSERT_FALSE(short_key.ok());
  EXPECT_THAT(short_key.status().message(), HasSubstr("64 hex"));
  EXPECT_THAT(short_key.status().message(), Not(HasSubstr(std::string(kPrivC).substr(0, 8))));
}

TEST_F(KeyFileTest, LoadsHexAndMnemonicFiles) {
  absl::StatusOr<SigningKey> hex =
      LoadKeyFile(Write("hex.key", std::string(kPrivC) + "\n", 0600), Cosmos());
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(hex->address(), "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6");
  absl::StatusOr<SigningKey> words =
      LoadKeyFile(Write("words.key", std::string(kMnemonicC) + "\n", 0400), Cosmos());
  ASSERT_TRUE(words.ok()) << words.status();
  EXPECT_EQ(words->address(), "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6");
}

TEST_F(KeyFileTest, RefusesModeWiderThan0600NamingFileAndMode) {
  for (mode_t mode : {0644, 0640, 0604, 0700, 0660}) {
    const std::string path = Write("wide.key", kPrivC, mode);
    absl::StatusOr<SigningKey> key = LoadKeyFile(path);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(key.status().message(), HasSubstr(path));
    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o", static_cast<unsigned>(mode));
    EXPECT_THAT(key.status().message(), HasSubstr(mode_text));
    EXPECT_THAT(key.status().message(), Not(HasSubstr(std::string(kPrivC).substr(0, 8))));
  }
}

TEST_F(KeyFileTest, MissingFileIsNotFound) {
  absl::StatusOr<SigningKey> key = LoadKeyFile(dir_ + "/absent.key");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr("absent.key"));
}

TEST_F(KeyFileTest, BadMnemonicInFileNamesFileNotWords) {
  std::string words = kMnemonicC;
  words.replace(words.find("wasp"), 4, "wasq");
  const std::string path = Write("typo.key", words, 0600);
  absl::StatusOr<SigningKey> key = LoadKeyFile(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr(path));
  EXPECT_THAT(key.status().message(), HasSubstr("word 8"));
  for (const char* secret_word : {"wasq", "economy", "stock", "stone"}) {
    EXPECT_THAT(key.status().message(), Not(HasSubstr(secret_word)));
  }
}

TEST_F(KeyFileTest, BadChecksumInFile) {
  std::string words = kMnemonicC;
  words.replace(words.find("stone"), 5, "zoo");
  absl::StatusOr<SigningKey> key = LoadKeyFile(Write("sum.key", words, 0600));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("checksum"));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("economy")));
}

TEST(KeyTest, BadPrefixAndPath) {
  KeyOptions bad_prefix;
  bad_prefix.prefix = "Gonka";  // uppercase is not a valid bech32 HRP for encoding
  EXPECT_EQ(KeyFromHex(kPrivC, bad_prefix).status().code(), absl::StatusCode::kInvalidArgument);
  KeyOptions bad_path;
  bad_path.hd_path = "m/44'/x";
  absl::StatusOr<SigningKey> key = KeyFromMnemonic(kMnemonicC, bad_path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), Not(HasSubstr("economy")));
}

}  // namespace
}  // namespace gonka::crypto
