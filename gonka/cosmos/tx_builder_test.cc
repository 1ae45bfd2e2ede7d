// TxBuilder against the CosmJS/Go MsgSend vector (published) and the unordered and MsgExec +
// fee-granter vectors (computed by an independent encoder that reproduced the published one; see
// docs/reference/protocol.md, "Test vectors"), plus the InvalidArgument cases.
#include "gonka/cosmos/tx_builder.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"

namespace gonka::cosmos {
namespace {

using ::testing::HasSubstr;

constexpr char kFaucetMnemonic[] =
    "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren bottom "
    "lizard educate guess current outdoor pair theory focus wife stone";
constexpr char kFaucet[] = "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6";
constexpr char kRecipient[] = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu";
constexpr char kGranter[] = "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5";

constexpr char kBody0[] =
    "0a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f7331706b"
    "707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f733171"
    "7970717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d"
    "120731323334353637";
constexpr char kAuthInfo0[] =
    "0a4e0a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a21034f04181e"
    "eba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a02080112130a0d0a0575636f736d12"
    "043230303010c09a0c";

crypto::SigningKey Faucet() {
  crypto::KeyOptions options;
  options.prefix = "cosmos";
  options.hd_path = std::string(crypto::kCosmosHubHdPath);
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(kFaucetMnemonic, options);
  if (!key.ok()) std::abort();
  return *std::move(key);
}

std::string Hex(absl::string_view s) { return crypto::HexEncode(s); }

TxBuilder SendTx(uint64_t sequence) {
  TxBuilder tx;
  tx.AddMessage(MakeMsgSend(kFaucet, kRecipient, {{"ucosm", "1234567"}}))
      .SetFee({{{"ucosm", "2000"}}, 200000, "", ""})
      .SetChainId("simd-testing")
      .SetAccountNumber(1)
      .SetSequence(sequence);
  return tx;
}

TEST(TxBuilderTest, PublishedCosmjsVector0) {
  absl::StatusOr<SignedTx> tx = SendTx(0).Sign(Faucet());
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(Hex(tx->body_bytes), kBody0);
  EXPECT_EQ(Hex(tx->auth_info_bytes), kAuthInfo0);
  EXPECT_EQ(Hex(tx->sign_bytes),
            absl::StrCat("0a9301", kBody0, "1265", kAuthInfo0, "1a0c73696d642d74657374696e672001"));
  EXPECT_EQ(crypto::HexEncode(tx->signature),
            "c9dd20e07464d3a688ff4b710b1fbc027e495e797cfa0b4804da2ed117959227772de059808f765aa2"
            "9b8f92edf30f4c2c5a438e30d3fe6897daa7141e3ce6f9");
  EXPECT_EQ(Hex(tx->tx_raw), absl::StrCat("0a9301", kBody0, "1265", kAuthInfo0, "1a40",
                                          crypto::HexEncode(tx->signature)));
  EXPECT_EQ(tx->tx_raw.size(), 319u);
  EXPECT_EQ(tx->hash, "61C87B6853590FFE339D8423E439CD9E4E742424357FFEF4108280E1443DE245");
}

TEST(TxBuilderTest, PublishedCosmjsVectorsWithSequence) {
  absl::StatusOr<SignedTx> one = SendTx(1).Sign(Faucet());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(crypto::HexEncode(one->signature),
            "525adc7e61565a509c60497b798c549fbf217bb5cd31b24cc9b419d098cc95330c99ecc4bc72448f85"
            "c365a4e3f91299a3d40412fb3751bab82f1940a83a0a4c");
  EXPECT_EQ(one->hash, "20A39D30186BC4F7A26668F12F8C42527F5B9A67F998AC49754B2D090FEE4B5E");
  absl::StatusOr<SignedTx> two = SendTx(2).Sign(Faucet());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(crypto::HexEncode(two->signature),
            "f3f2ca73806f2abbf6e0fe85f9b8af66f0e9f7f79051fdb8abe5bb8633b17da132e82d577b9d5f7a6d"
            "ae57a144efc9ccc6eef15167b44b3b22a57240109762af");
  EXPECT_EQ(two->hash, "FC7E1A0D8917096FEFC6063FC7754FDEAC443D2AB44E983826DFE9FF51E9352E");
}

TEST(TxBuilderTest, UnorderedVectorU) {
  TxBuilder tx = SendTx(0);
  tx.SetUnordered(absl::FromUnixSeconds(1735689600) + absl::Nanoseconds(1));
  absl::StatusOr<SignedTx> s = tx.Sign(Faucet());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Hex(s->body_bytes), absl::StrCat(kBody0, "20012a0808808bd2bb061001"));
  EXPECT_EQ(Hex(s->auth_info_bytes), kAuthInfo0);
  EXPECT_EQ(crypto::HexEncode(crypto::Sha256(s->sign_bytes)),
            "b7c623f7f949551f59e13ef08ecdfb37253eb35a9c4e3a66a97041ba5f8a8c42");
  EXPECT_EQ(crypto::HexEncode(s->signature),
            "31b06f2104ee611c046ae815956a712d3e0c130d04f1bc6c8b55bf44b9903d05070b508e2cc138e7bb"
            "eda54b094355c87b2a8a786f52477337eb3d37e3008e12");
  EXPECT_EQ(s->tx_raw.size(), 331u);
  EXPECT_EQ(s->hash, "82F3002FE5BEE03FA089D35F2467D2F4F6BC0CF2F88A5DB860837665646F9881");
}

TEST(TxBuilderTest, MsgExecWithFeeGranterVectorE) {
  TxBuilder tx;
  tx.AddMessage(MakeMsgSend(kGranter, kRecipient, {{"ucosm", "1000"}}))
      .WrapInExec(kFaucet)
      .SetMemo("authz+feegrant")
      .SetFee({{{"ucosm", "5000"}}, 250000, "", kGranter})
      .SetChainId("simd-testing")
      .SetAccountNumber(1)
      .SetSequence(3);
  absl::StatusOr<SignedTx> s = tx.Sign(Faucet());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(
      Hex(s->body_bytes),
      "0ae1010a1d2f636f736d6f732e617574687a2e763162657461312e4d73674578656312bf010a2d636f736d6f73"
      "31706b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336128d010a1c2f"
      "636f736d6f732e62616e6b2e763162657461312e4d736753656e64126d0a2d636f736d6f73316a686730653773"
      "36676e3434746663356b33376b723034737a6e79686564746339727a797335122d636f736d6f73317179707178"
      "70713971637273737a673270767871367273307a716733797963356c7a763778751a0d0a0575636f736d120431"
      "303030120e617574687a2b6665656772616e74");
  EXPECT_EQ(
      Hex(s->auth_info_bytes),
      "0a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a21034f0418"
      "1eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180312420a0d0a057563"
      "6f736d1204353030301090a10f222d636f736d6f73316a68673065377336676e3434746663356b33376b723034"
      "737a6e79686564746339727a797335");
  EXPECT_EQ(crypto::HexEncode(s->signature),
            "466f2312b0ec6244d97671b63651db0b6a6955520b132851020e10cefe5e90947384701f45762d48e8"
            "e8223e64170580d97c7371ca08c8f8ae0ac05f30e8fa68");
  EXPECT_EQ(s->hash, "8C56DF9B41E3C5376B8349B420153B80A90159A30C73DAA5538D21C9244825BC");
}

TEST(TxBuilderTest, SignatureVerifies) {
  crypto::SigningKey key = Faucet();
  absl::StatusOr<SignedTx> s = SendTx(7).Sign(key);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(crypto::VerifySignature(key.public_key().view(),
                                      crypto::AsStringView(crypto::Sha256(s->sign_bytes)),
                                      crypto::AsStringView(s->signature))
                  .ok());
}

TEST(TxBuilderTest, EmptyMessageListIsInvalid) {
  TxBuilder tx;
  tx.SetChainId("c");
  absl::StatusOr<SignedTx> s = tx.Sign(Faucet());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("empty"));
}

TEST(TxBuilderTest, InvalidFeeCoinsAreNamed) {
  struct Case {
    std::vector<Coin> coins;
    const char* named;
  };
  const Case cases[] = {
      {{{"u", "10"}}, "\"u\""},
      {{{"1abc", "10"}}, "\"1abc\""},
      {{{"ucosm", "-5"}}, "-5ucosm"},
      {{{"ucosm", "0"}}, "0ucosm"},
      {{{"ucosm", "007"}}, "007ucosm"},
      {{{"ucosm", ""}}, "ucosm"},
      {{{"ucosm", "1"}, {"atom", "1"}}, "\"atom\""},
      {{{"ucosm", "1"}, {"ucosm", "2"}}, "\"ucosm\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.named);
    TxBuilder tx = SendTx(0);
    tx.SetFee({c.coins, 1, "", ""});
    absl::StatusOr<SignedTx> s = tx.Sign(Faucet());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), HasSubstr(c.named));
  }
}

TEST(TxBuilderTest, BadAddressesAndUnorderedRules) {
  TxBuilder bad_granter = SendTx(0);
  bad_granter.SetFee({{}, 1, "", "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys4"});
  absl::StatusOr<SignedTx> s = bad_granter.Sign(Faucet());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("fee granter"));
  EXPECT_THAT(s.status().message(), HasSubstr("cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys4"));

  TxBuilder bad_grantee = SendTx(0);
  bad_grantee.WrapInExec("notanaddress");
  EXPECT_EQ(bad_grantee.Sign(Faucet()).status().code(), absl::StatusCode::kInvalidArgument);

  TxBuilder unordered_with_sequence = SendTx(4);
  unordered_with_sequence.SetUnordered(absl::FromUnixSeconds(1735689600));
  s = unordered_with_sequence.Sign(Faucet());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("sequence 0"));

  TxBuilder no_chain = SendTx(0);
  no_chain.SetChainId("");
  EXPECT_EQ(no_chain.Sign(Faucet()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TxBuilderTest, ZeroAccountNumberAndTimeoutHeight) {
  TxBuilder tx = SendTx(0);
  tx.SetAccountNumber(0).SetTimeoutHeight(300);
  absl::StatusOr<SignedTx> s = tx.Sign(Faucet());
  ASSERT_TRUE(s.ok());
  // account_number 0 vanishes from SignDoc; timeout_height 300 = 18 ac 02.
  EXPECT_EQ(Hex(s->sign_bytes).substr(Hex(s->sign_bytes).size() - 28),
            "1a0c73696d642d74657374696e67");
  EXPECT_EQ(Hex(s->body_bytes), absl::StrCat(kBody0, "18ac02"));
}

// The example of docs/signing.md, kept compiling and checked for the node's tx shape.
TEST(TxBuilderTest, DocsExampleGonkaNodeShape) {
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(kFaucetMnemonic);
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string granter = "gonka1774zgdfjcyh4hp2hvse6h8ymk62lmzaghfxuzx";
  const std::string recipient = key->address();
  const uint64_t account_number = 42;

  gonka::cosmos::TxBuilder tx;
  tx.AddMessage(gonka::cosmos::MakeMsgSend(granter, recipient, {{"ngonka", "1000"}}))
      .WrapInExec(key->address())
      .SetFee({/*amount=*/{}, /*gas_limit=*/1'000'000'000, /*payer=*/"", /*granter=*/""})
      .SetUnordered(absl::Now() + absl::Seconds(60))
      .SetChainId("gonka-mainnet")
      .SetAccountNumber(account_number);
  absl::StatusOr<gonka::cosmos::SignedTx> signed_tx = tx.Sign(*key);
  ASSERT_TRUE(signed_tx.ok()) << signed_tx.status();
  EXPECT_EQ(signed_tx->hash, TxHash(signed_tx->tx_raw));
  EXPECT_EQ(signed_tx->hash.size(), 64u);
  EXPECT_EQ(absl::AsciiStrToUpper(signed_tx->hash), signed_tx->hash);
  // unordered=true (20 01) is in the body; the sequence (field 3 of SignerInfo) is absent.
  EXPECT_NE(Hex(signed_tx->body_bytes).find("20012a"), std::string::npos);
}

}  // namespace
}  // namespace gonka::cosmos
