// BIP-39: the published Trezor English vectors (passphrase "TREZOR"), the Cosmos mnemonics of
// docs/reference/protocol.md ("Test vectors"), the wordlist checksum, and errors that never echo
// a word.
#include "gonka/crypto/bip39.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/crypto/hash.h"
#include "gonka/crypto/test_util.h"

namespace gonka::crypto {
namespace {

using ::gonka::crypto::testing::Hex;
using ::gonka::crypto::testing::Unhex;
using ::testing::HasSubstr;
using ::testing::Not;

struct Vector {
  const char* entropy;
  const char* mnemonic;
  const char* seed;  // with passphrase "TREZOR"
};

// From the BIP-39 reference vectors (trezor/python-mnemonic vectors.json).
const Vector kTrezorVectors[] = {
    {"00000000000000000000000000000000",
     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
     "about",
     "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2c"
     "f141630c7a3c4ab7c81b2f001698e7463b04"},
    {"80808080808080808080808080808080",
     "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
     "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a"
     "0358d18d69fe4f985ec81778c1b370b652a8"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth "
     "useful legal will",
     "f2b94508732bcbacbcc020faefecfc89feafa6649a5491b8c952cede496c214a0c7b3c392d168748f2d4a612bada"
     "0753b52a1c7ac53c1e93abd5c6320b9e95dd"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth "
     "useful legal winner thank year wave sausage worth title",
     "bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a4021b146ad717fbb7e451ce9eb835f"
     "43620bf5c514db0f8add49f5d121449d3e87"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo "
     "vote",
     "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed"
     "3992c456cdf60f5d4564b8ba3f05a69890ad"},
};

TEST(Bip39Test, TrezorVectors) {
  for (const Vector& v : kTrezorVectors) {
    SCOPED_TRACE(v.entropy);
    absl::StatusOr<SecretBytes> mnemonic = EntropyToMnemonic(Unhex(v.entropy));
    ASSERT_TRUE(mnemonic.ok()) << mnemonic.status();
    EXPECT_EQ(mnemonic->view(), v.mnemonic);
    EXPECT_TRUE(ValidateMnemonic(v.mnemonic).ok());
    absl::StatusOr<SecretBytes> entropy = MnemonicToEntropy(v.mnemonic);
    ASSERT_TRUE(entropy.ok()) << entropy.status();
    EXPECT_EQ(Hex(entropy->view()), v.entropy);
    absl::StatusOr<SecretBytes> seed = MnemonicToSeed(v.mnemonic, "TREZOR");
    ASSERT_TRUE(seed.ok()) << seed.status();
    EXPECT_EQ(Hex(seed->view()), v.seed);
  }
}

TEST(Bip39Test, CosmosMnemonicsWithEmptyPassphrase) {
  // docs/reference/protocol.md, "Test vectors", A and C (seeds computed by an implementation that
  // reproduced the published CosmJS addresses).
  absl::StatusOr<SecretBytes> a = MnemonicToSeed(
      "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Hex(a->view()),
            "682132cb7143965b2bdafc13119cfab35a1a6fffcef4c2e2bb0cd9c0c9647ebccf778d02ab58259ac2f9d5"
            "fa6e4b89906ee312e533772270707bdb587bd8d723");
  // Extra whitespace is normalised to single spaces before hashing.
  absl::StatusOr<SecretBytes> c = MnemonicToSeed(
      "  economy stock theory fatal elder harbor betray wasp final emotion task crumble siren\n"
      "bottom lizard educate guess current outdoor pair theory focus wife   stone \n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Hex(c->view()),
            "d25e1a6c53b35af566d2851b0d56640b5b331b49a69fbadd574b1b5f397550d93c9e2e4371a6902c180b96"
            "fb6bc0386047b72ae989a965537fcf5114bf01fe46");
}

TEST(Bip39Test, WordlistIsTheOfficialList) {
  const auto& list = Bip39EnglishWordlist();
  std::string joined;
  for (absl::string_view w : list) {
    joined.append(w.data(), w.size());
    joined.push_back('\n');
  }
  // SHA-256 of the official english.txt (2048 lines, LF endings).
  EXPECT_EQ(Hex(Sha256(joined)),
            "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda");
  EXPECT_EQ(list.front(), "abandon");
  EXPECT_EQ(list.back(), "zoo");
}

TEST(Bip39Test, BadWordIsNamedByPositionNotContent) {
  const absl::Status st = ValidateMnemonic(
      "abandon abandon abandon abandon notaword abandon abandon abandon abandon abandon abandon "
      "about");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("word 5"));
  EXPECT_THAT(st.message(), Not(HasSubstr("notaword")));
  EXPECT_THAT(st.message(), Not(HasSubstr("abandon")));
}

TEST(Bip39Test, BadChecksum) {
  const absl::Status st = ValidateMnemonic(
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
      "abandon");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("checksum"));
  EXPECT_THAT(st.message(), Not(HasSubstr("abandon")));
  EXPECT_EQ(MnemonicToSeed("abandon abandon abandon abandon abandon abandon abandon abandon "
                           "abandon abandon abandon abandon")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Bip39Test, BadWordCount) {
  const absl::Status st = ValidateMnemonic("abandon abandon abandon");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("3 words"));
  EXPECT_EQ(EntropyToMnemonic(std::string(15, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Bip39Test, GeneratedMnemonicsValidate) {
  for (int words : {12, 15, 18, 21, 24}) {
    absl::StatusOr<SecretBytes> m = GenerateMnemonic(words);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(ValidateMnemonic(m->view()).ok());
  }
  EXPECT_EQ(GenerateMnemonic(13).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::crypto
