#include "gonka/chain/commit_verify.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/ed25519.h"
#include "gonka/crypto/hash.h"
#include "gtest/gtest.h"

namespace gonka::chain {
namespace {

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Seed(int i) {
  return std::string(crypto::AsStringView(crypto::Sha256(absl::StrCat("validator seed ", i))));
}

std::string PublicKey(const std::string& seed) {
  return std::string(crypto::AsStringView(*crypto::Ed25519PublicKeyFromSeed(Bytes(seed))));
}

std::string Sign(const std::string& seed, absl::string_view message) {
  return std::string(crypto::AsStringView(*crypto::Ed25519Sign(Bytes(seed), message)));
}

absl::Time GoZeroTime() {
  return absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
}

// CometBFT's TestVoteSignBytesTestVectors case 1: a precommit at height 1, round 1, no block
// id, Go's zero time, empty chain id.
TEST(CommitVerifyTest, PrecommitSignBytesMatchCometBftVector) {
  const std::string want = absl::HexStringToBytes(
      "2108021101000000000000001901000000000000002a0b088092b8c398feffffff01");
  EXPECT_EQ(absl::BytesToHexString(PrecommitSignBytes("", 1, 1, {}, GoZeroTime())),
            absl::BytesToHexString(want));
  // The chain id is field 6 after the timestamp; the length prefix grows with it.
  EXPECT_EQ(absl::BytesToHexString(PrecommitSignBytes("test_chain_id", 1, 1, {}, GoZeroTime())),
            "3008021101000000000000001901000000000000002a0b088092b8c398feffffff01320d"
            "746573745f636861696e5f6964");
}

TEST(CommitVerifyTest, PrecommitSignBytesCarryTheBlockId) {
  CommitBlockId id{
      .hash = std::string(32, 'h'), .part_set_total = 1, .part_set_hash = std::string(32, 'p')};
  const std::string with_id = PrecommitSignBytes("c", 5, 0, id, absl::FromUnixSeconds(100));
  // block_id (field 4): 0x22, length 0x48 = hash (2+32) + part set header (2 + 2 + 2+32).
  EXPECT_NE(with_id.find(absl::HexStringToBytes("2248")), std::string::npos);
  EXPECT_EQ(PrecommitSignBytes("c", 5, 0, {}, absl::FromUnixSeconds(100))
                .find(absl::HexStringToBytes("2248")),
            std::string::npos);
}

// A chain of `n` validators (power 10 each unless given) and a commit at height 7 signed by
// those in `signers` (flag kCommit), others absent.
struct Fixture {
  std::string chain_id = "gonka-test";
  std::vector<std::string> seeds;
  std::vector<CommitValidator> validators;
  Commit commit;

  explicit Fixture(const std::vector<int64_t>& powers) {
    for (size_t i = 0; i < powers.size(); ++i) {
      seeds.push_back(Seed(static_cast<int>(i)));
      validators.push_back({PublicKey(seeds.back()), powers[i]});
    }
    commit.height = 7;
    commit.round = 0;
    commit.block_id = {std::string(32, '\x11'), 1, std::string(32, '\x22')};
    // Signatures in CometBFT's set order: power descending, then address ascending.
    std::vector<size_t> order(powers.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (powers[a] != powers[b]) return powers[a] > powers[b];
      return ValidatorAddress(validators[a].public_key) <
             ValidatorAddress(validators[b].public_key);
    });
    for (size_t i : order) {
      CommitSignature s;
      s.flag = BlockIdFlag::kCommit;
      s.validator_address = ValidatorAddress(validators[i].public_key);
      s.timestamp = absl::FromUnixMillis(1700000000123 + static_cast<int64_t>(i));
      commit.signatures.push_back(s);
      signer_of.push_back(i);
    }
    SignAll();
  }
  void SignAll() {
    for (size_t k = 0; k < commit.signatures.size(); ++k) {
      if (commit.signatures[k].flag == BlockIdFlag::kAbsent) {
        commit.signatures[k].signature.clear();
        continue;
      }
      commit.signatures[k].signature =
          Sign(seeds[signer_of[k]], VoteSignBytes(chain_id, commit, k));
    }
  }
  absl::Status Verify() { return VerifyCommit(chain_id, commit.block_id, 7, commit, validators); }
  std::vector<size_t> signer_of;  // commit index → validator index
};

TEST(CommitVerifyTest, ValidCommitVerifies) {
  Fixture f({10, 30, 20});
  EXPECT_TRUE(f.Verify().ok()) << f.Verify();
  // The validators' order in the input does not matter (CometBFT sorts the set).
  std::reverse(f.validators.begin(), f.validators.end());
  EXPECT_TRUE(f.Verify().ok()) << f.Verify();
}

TEST(CommitVerifyTest, TamperedSignatureIsRefused) {
  Fixture f({10, 10});
  f.commit.signatures[1].signature[5] ^= 1;
  absl::Status s = f.Verify();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StartsWith(s.message(), "wrong signature (#1): ")) << s;
}

TEST(CommitVerifyTest, TamperedTimestampIsRefused) {
  Fixture f({10});
  f.commit.signatures[0].timestamp += absl::Nanoseconds(1);
  EXPECT_TRUE(absl::StartsWith(f.Verify().message(), "wrong signature (#0)")) << f.Verify();
}

TEST(CommitVerifyTest, WrongChainIdIsRefused) {
  Fixture f({10});
  absl::Status s = VerifyCommit("other-chain", f.commit.block_id, 7, f.commit, f.validators);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StartsWith(s.message(), "wrong signature (#0)")) << s;
}

TEST(CommitVerifyTest, InsufficientPowerIsRefused) {
  // 3 validators of 10: two thirds (20) is not more than 2/3 of 30 (20).
  Fixture f({10, 10, 10});
  f.commit.signatures[2].flag = BlockIdFlag::kAbsent;
  f.SignAll();
  absl::Status s = f.Verify();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(),
            "invalid commit -- insufficient voting power: got 20, needed more than 20");
  // 3 of 4 (30 > 26) is enough.
  Fixture g({10, 10, 10, 10});
  g.commit.signatures[0].flag = BlockIdFlag::kAbsent;
  g.SignAll();
  EXPECT_TRUE(g.Verify().ok()) << g.Verify();
}

TEST(CommitVerifyTest, NilVotesVerifyButDoNotCount) {
  Fixture f({10, 10, 10, 10});
  f.commit.signatures[3].flag = BlockIdFlag::kNil;
  f.SignAll();  // the nil vote signs the zero block id
  EXPECT_TRUE(f.Verify().ok()) << f.Verify();
  f.commit.signatures[2].flag = BlockIdFlag::kNil;
  f.SignAll();
  EXPECT_EQ(f.Verify().message(),
            "invalid commit -- insufficient voting power: got 20, needed more than 26");
  // A nil vote whose signature is over the block id (not the zero one) is a wrong signature.
  Fixture g({10, 10, 10, 10});
  g.commit.signatures[3].flag = BlockIdFlag::kNil;
  EXPECT_TRUE(absl::StartsWith(g.Verify().message(), "wrong signature (#3)")) << g.Verify();
}

TEST(CommitVerifyTest, BasicChecksUseCometBftTexts) {
  Fixture f({10, 10});
  EXPECT_EQ(VerifyCommit(f.chain_id, f.commit.block_id, 8, f.commit, f.validators).message(),
            "invalid commit -- wrong height: 8 vs 7");
  CommitBlockId other = f.commit.block_id;
  other.part_set_total = 2;
  EXPECT_TRUE(absl::StartsWith(VerifyCommit(f.chain_id, other, 7, f.commit, f.validators).message(),
                               "invalid commit -- wrong block ID: want "));
  std::vector<CommitValidator> one = {f.validators[0]};
  EXPECT_EQ(VerifyCommit(f.chain_id, f.commit.block_id, 7, f.commit, one).message(),
            "invalid commit -- wrong set size: 1 vs 2");
  std::vector<CommitValidator> zero = f.validators;
  zero[0].voting_power = 0;
  EXPECT_EQ(VerifyCommit(f.chain_id, f.commit.block_id, 7, f.commit, zero).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<CommitValidator> duplicate = {f.validators[0], f.validators[0]};
  EXPECT_EQ(VerifyCommit(f.chain_id, f.commit.block_id, 7, f.commit, duplicate).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CommitVerifyTest, WrongValidatorKeyIsRefused) {
  Fixture f({10});
  f.validators[0].public_key = PublicKey(Seed(99));
  EXPECT_TRUE(absl::StartsWith(f.Verify().message(), "wrong signature (#0)")) << f.Verify();
}

std::string BlockJson(const Fixture& f, bool numbers) {
  auto n = [numbers](int64_t v) { return numbers ? absl::StrCat(v) : absl::StrCat("\"", v, "\""); };
  std::string sigs;
  for (const CommitSignature& s : f.commit.signatures) {
    if (!sigs.empty()) sigs += ",";
    absl::StrAppend(
        &sigs, "{\"block_id_flag\":", static_cast<int>(s.flag), ",\"validator_address\":\"",
        crypto::HexEncodeUpper(s.validator_address), "\",\"timestamp\":\"",
        absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", s.timestamp, absl::UTCTimeZone()),
        "\",\"signature\":",
        s.signature.empty() ? "null" : absl::StrCat("\"", absl::Base64Escape(s.signature), "\""),
        "}");
  }
  return absl::StrCat(
      "{\"header\":{\"version\":{\"block\":", n(11), "},\"chain_id\":\"", f.chain_id,
      "\",\"height\":", n(8), ",\"time\":\"2025-01-01T00:00:00Z\"},\"data\":{\"txs\":[]},",
      "\"evidence\":{\"evidence\":[]},\"last_commit\":{\"height\":", n(7), ",\"round\":0,",
      "\"block_id\":{\"hash\":\"", crypto::HexEncodeUpper(f.commit.block_id.hash),
      "\",\"parts\":{\"total\":1,\"hash\":\"",
      crypto::HexEncodeUpper(f.commit.block_id.part_set_hash), "\"}},\"signatures\":[", sigs,
      "]}}");
}

TEST(CommitVerifyTest, ParsesBlockJsonAndVerifiesItsLastCommit) {
  Fixture f({10, 10, 10, 10});
  f.commit.signatures[1].flag = BlockIdFlag::kAbsent;
  f.SignAll();
  for (bool numbers : {false, true}) {
    absl::StatusOr<SignedBlock> block = ParseBlockJson(BlockJson(f, numbers));
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ(block->chain_id, "gonka-test");
    EXPECT_EQ(block->height, 8);
    ASSERT_EQ(block->last_commit.signatures.size(), 4u);
    EXPECT_EQ(block->last_commit.signatures[1].flag, BlockIdFlag::kAbsent);
    EXPECT_TRUE(VerifyLastCommit(*block, f.validators).ok())
        << VerifyLastCommit(*block, f.validators);
  }
}

TEST(CommitVerifyTest, ParseErrorsNameTheField) {
  EXPECT_EQ(ParseBlockJson("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBlockJson("{\"header\":{\"chain_id\":\"c\",\"height\":\"x\"}}").status().message(),
            "block.header: height is not an integer");
  EXPECT_EQ(ParseBlockJson("{\"header\":{\"chain_id\":\"c\",\"height\":\"2\"}}").status().message(),
            "block: missing last_commit");
}

TEST(CommitVerifyTest, ParsesValidatorsAnswer) {
  const std::string key = PublicKey(Seed(1));
  const std::string answer = absl::StrCat(
      "{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":{\"block_height\":\"12\",\"validators\":[{"
      "\"address\":\"",
      crypto::HexEncodeUpper(ValidatorAddress(key)),
      "\",\"pub_key\":{\"type\":\"tendermint/PubKeyEd25519\",\"value\":\"", absl::Base64Escape(key),
      "\"},\"voting_power\":\"10\",\"proposer_priority\":\"0\"}],\"count\":\"1\",\"total\":\"1\"}"
      "}");
  absl::StatusOr<ValidatorsPage> page = ParseValidatorsAnswer(answer);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->block_height, 12);
  EXPECT_EQ(page->total, 1);
  ASSERT_EQ(page->validators.size(), 1u);
  EXPECT_EQ(page->validators[0].public_key, key);
  EXPECT_EQ(page->validators[0].voting_power, 10);
}

}  // namespace
}  // namespace gonka::chain
