#include "gonka/chain/commit_verify.h"

#include <simdjson.h>

#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"
#include "gonka/crypto/ed25519.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/tendermint/types/canonical.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace gonka {
namespace chain {
namespace {

namespace dom = simdjson::dom;
namespace tmpb = ::tendermint::types;

// CometBFT caps a validator set's total voting power at MaxInt64 / 8 (types/validator_set.go).
constexpr int64_t kMaxTotalVotingPower = std::numeric_limits<int64_t>::max() / 8;

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string BlockIdText(const CommitBlockId& id) {
  return absl::StrCat(crypto::HexEncodeUpper(id.hash), ":", id.part_set_total, ":",
                      crypto::HexEncodeUpper(id.part_set_hash));
}

// JSON field readers: each names the field in its error.
absl::StatusOr<dom::element> Member(dom::element object, absl::string_view key,
                                    absl::string_view where) {
  dom::element value;
  if (object.type() != dom::element_type::OBJECT ||
      object.get_object()[std::string_view(key.data(), key.size())].get(value) !=
          simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": missing ", key));
  }
  return value;
}

// An integer as CometBFT writes it (a string) or as Go's encoding/json does (a number).
absl::StatusOr<int64_t> IntField(dom::element object, absl::string_view key,
                                 absl::string_view where) {
  ASSIGN_OR_RETURN(dom::element value, Member(object, key, where));
  std::string_view text;
  int64_t number = 0;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    if (absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &number)) return number;
  } else if (value.get_int64().get(number) == simdjson::SUCCESS) {
    return number;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, " is not an integer"));
}

// A string field; absent or null reads as "" (Go's zero value) unless `required`.
absl::StatusOr<std::string> TextField(dom::element object, absl::string_view key,
                                      absl::string_view where, bool required = false) {
  dom::element value;
  if (object.get_object()[std::string_view(key.data(), key.size())].get(value) !=
          simdjson::SUCCESS ||
      value.is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(where, ": missing ", key));
    return std::string();
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, " is not a string"));
  }
  return std::string(text);
}

absl::StatusOr<std::string> HexField(dom::element object, absl::string_view key,
                                     absl::string_view where) {
  ASSIGN_OR_RETURN(std::string text, TextField(object, key, where));
  std::string bytes;
  RETURN_IF_ERROR(crypto::HexDecode(text, absl::StrCat(where, ".", key), &bytes));
  return bytes;
}

absl::StatusOr<std::string> Base64Field(dom::element object, absl::string_view key,
                                        absl::string_view where) {
  ASSIGN_OR_RETURN(std::string text, TextField(object, key, where));
  std::string bytes;
  if (!absl::Base64Unescape(text, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, " is not base64"));
  }
  return bytes;
}

absl::StatusOr<CommitBlockId> ParseBlockId(dom::element object, absl::string_view where) {
  CommitBlockId id;
  ASSIGN_OR_RETURN(id.hash, HexField(object, "hash", where));
  ASSIGN_OR_RETURN(dom::element parts, Member(object, "parts", where));
  const std::string parts_where = absl::StrCat(where, ".parts");
  ASSIGN_OR_RETURN(int64_t total, IntField(parts, "total", parts_where));
  if (total < 0 || total > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(parts_where, ": total out of range"));
  }
  id.part_set_total = static_cast<uint32_t>(total);
  ASSIGN_OR_RETURN(id.part_set_hash, HexField(parts, "hash", parts_where));
  return id;
}

absl::StatusOr<Commit> ParseCommit(dom::element object) {
  constexpr absl::string_view kWhere = "last_commit";
  Commit commit;
  ASSIGN_OR_RETURN(commit.height, IntField(object, "height", kWhere));
  ASSIGN_OR_RETURN(int64_t round, IntField(object, "round", kWhere));
  if (round < 0 || round > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError("last_commit: round out of range");
  }
  commit.round = static_cast<int32_t>(round);
  ASSIGN_OR_RETURN(dom::element block_id, Member(object, "block_id", kWhere));
  ASSIGN_OR_RETURN(commit.block_id, ParseBlockId(block_id, "last_commit.block_id"));
  ASSIGN_OR_RETURN(dom::element signatures, Member(object, "signatures", kWhere));
  dom::array list;
  if (!signatures.is_null() && signatures.get_array().get(list) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("last_commit: signatures is not an array");
  }
  if (signatures.is_null()) return commit;
  size_t index = 0;
  for (dom::element sig : list) {
    const std::string where = absl::StrCat("last_commit.signatures[", index++, "]");
    CommitSignature s;
    ASSIGN_OR_RETURN(int64_t flag, IntField(sig, "block_id_flag", where));
    if (flag < 0 || flag > 3) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown block_id_flag ", flag));
    }
    s.flag = static_cast<BlockIdFlag>(flag);
    ASSIGN_OR_RETURN(s.validator_address, HexField(sig, "validator_address", where));
    ASSIGN_OR_RETURN(std::string time, TextField(sig, "timestamp", where));
    std::string time_error;
    if (!time.empty() && !absl::ParseTime(absl::RFC3339_full, time, &s.timestamp, &time_error)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": bad timestamp: ", time_error));
    }
    ASSIGN_OR_RETURN(s.signature, Base64Field(sig, "signature", where));
    commit.signatures.push_back(std::move(s));
  }
  return commit;
}

void FillTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  // ToUnixSeconds rounds toward the infinite past, so the nanos are never negative (protobuf's
  // Timestamp rule) also before 1970 (Go's zero time of an absent vote is year 1).
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

}  // namespace

std::string ValidatorAddress(absl::string_view public_key) {
  return std::string(crypto::AsStringView(crypto::Sha256(public_key)).substr(0, 20));
}

std::string PrecommitSignBytes(absl::string_view chain_id, int64_t height, int32_t round,
                               const CommitBlockId& block_id, absl::Time timestamp) {
  tmpb::CanonicalVote vote;
  vote.set_type(tmpb::SIGNED_MSG_TYPE_PRECOMMIT);
  vote.set_height(height);
  vote.set_round(round);
  if (!block_id.IsZero()) {
    tmpb::CanonicalBlockID* id = vote.mutable_block_id();
    id->set_hash(block_id.hash);
    id->mutable_part_set_header()->set_total(block_id.part_set_total);
    id->mutable_part_set_header()->set_hash(block_id.part_set_hash);
  }
  FillTimestamp(timestamp, vote.mutable_timestamp());
  vote.set_chain_id(std::string(chain_id));
  const std::string body = vote.SerializeAsString();
  // CometBFT's protoio.MarshalDelimited: the varint length, then the message.
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint32(static_cast<uint32_t>(body.size()));
  }
  out += body;
  return out;
}

std::string VoteSignBytes(absl::string_view chain_id, const Commit& commit, size_t index) {
  const CommitSignature& sig = commit.signatures[index];
  const CommitBlockId for_block =
      sig.flag == BlockIdFlag::kCommit ? commit.block_id : CommitBlockId{};
  return PrecommitSignBytes(chain_id, commit.height, commit.round, for_block, sig.timestamp);
}

absl::Status VerifyCommit(absl::string_view chain_id, const CommitBlockId& block_id, int64_t height,
                          const Commit& commit, std::vector<CommitValidator> validators) {
  // The set as CometBFT builds it (NewValidatorSet): valid keys and powers, no duplicates, total
  // within the cap, ordered by power descending then address ascending.
  int64_t total_power = 0;
  std::set<std::string> keys;
  for (size_t i = 0; i < validators.size(); ++i) {
    const CommitValidator& v = validators[i];
    if (v.public_key.size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat("validator ", i, ": Ed25519 public key has ",
                                                     v.public_key.size(), " bytes, want 32"));
    }
    if (v.voting_power <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("validator ", i, ": voting power ", v.voting_power, " is not positive"));
    }
    if (!keys.insert(v.public_key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("validator ", i, ": duplicate key (address ",
                       crypto::HexEncodeUpper(ValidatorAddress(v.public_key)), ")"));
    }
    if (v.voting_power > kMaxTotalVotingPower - total_power) {
      return absl::InvalidArgumentError(
          absl::StrCat("total voting power exceeds the maximum allowed ", kMaxTotalVotingPower));
    }
    total_power += v.voting_power;
  }
  std::vector<std::pair<std::string, CommitValidator>> ordered;
  ordered.reserve(validators.size());
  for (CommitValidator& v : validators) {
    std::string address = ValidatorAddress(v.public_key);
    ordered.emplace_back(std::move(address), std::move(v));
  }
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    if (a.second.voting_power != b.second.voting_power) {
      return a.second.voting_power > b.second.voting_power;
    }
    return a.first < b.first;
  });

  // CometBFT's verifyBasicValsAndCommit, with its texts.
  if (ordered.size() != commit.signatures.size()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "invalid commit -- wrong set size: ", ordered.size(), " vs ", commit.signatures.size()));
  }
  if (height != commit.height) {
    return absl::UnauthenticatedError(
        absl::StrCat("invalid commit -- wrong height: ", height, " vs ", commit.height));
  }
  if (!(block_id == commit.block_id)) {
    return absl::UnauthenticatedError(absl::StrCat("invalid commit -- wrong block ID: want ",
                                                   BlockIdText(block_id), ", got ",
                                                   BlockIdText(commit.block_id)));
  }

  // verifyCommitSingle with lookUpByIndex and countAllSignatures: every non-absent signature
  // verifies, only those for the block count.
  const int64_t power_needed = total_power * 2 / 3;
  int64_t tallied = 0;
  for (size_t i = 0; i < commit.signatures.size(); ++i) {
    const CommitSignature& sig = commit.signatures[i];
    if (sig.flag == BlockIdFlag::kAbsent) continue;
    if (sig.flag != BlockIdFlag::kCommit && sig.flag != BlockIdFlag::kNil) {
      return absl::InvalidArgumentError(absl::StrCat("invalid commit -- signature #", i,
                                                     ": unknown block_id_flag ",
                                                     static_cast<int>(sig.flag)));
    }
    const CommitValidator& validator = ordered[i].second;
    if (!crypto::Ed25519Verify(Bytes(validator.public_key), VoteSignBytes(chain_id, commit, i),
                               Bytes(sig.signature))) {
      return absl::UnauthenticatedError(
          absl::StrCat("wrong signature (#", i, "): ", crypto::HexEncodeUpper(sig.signature)));
    }
    if (sig.flag == BlockIdFlag::kCommit) tallied += validator.voting_power;
  }
  if (tallied <= power_needed) {
    return absl::UnauthenticatedError(
        absl::StrCat("invalid commit -- insufficient voting power: got ", tallied,
                     ", needed more than ", power_needed));
  }
  return absl::OkStatus();
}

absl::Status VerifyLastCommit(const SignedBlock& block, std::vector<CommitValidator> validators) {
  return VerifyCommit(block.chain_id, block.last_commit.block_id, block.height - 1,
                      block.last_commit, std::move(validators));
}

absl::StatusOr<SignedBlock> ParseBlockJson(absl::string_view block_json) {
  dom::parser parser;
  dom::element root;
  if (simdjson::error_code e = parser.parse(block_json.data(), block_json.size()).get(root);
      e != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("block: malformed JSON: ", simdjson::error_message(e)));
  }
  if (root.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("block: not a JSON object");
  }
  SignedBlock block;
  ASSIGN_OR_RETURN(dom::element header, Member(root, "header", "block"));
  if (header.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("block: header is not an object");
  }
  ASSIGN_OR_RETURN(block.chain_id, TextField(header, "chain_id", "block.header", true));
  ASSIGN_OR_RETURN(block.height, IntField(header, "height", "block.header"));
  ASSIGN_OR_RETURN(dom::element last_commit, Member(root, "last_commit", "block"));
  if (last_commit.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("block: last_commit is not an object");
  }
  ASSIGN_OR_RETURN(block.last_commit, ParseCommit(last_commit));
  return block;
}

absl::StatusOr<ValidatorsPage> ParseValidatorsAnswer(absl::string_view answer_json) {
  dom::parser parser;
  dom::element root;
  if (simdjson::error_code e = parser.parse(answer_json.data(), answer_json.size()).get(root);
      e != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("validators: malformed JSON: ", simdjson::error_message(e)));
  }
  if (root.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("validators: not a JSON object");
  }
  dom::element result = root;
  if (dom::element inner; root["result"].get(inner) == simdjson::SUCCESS) result = inner;
  if (result.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("validators: result is not an object");
  }
  ValidatorsPage page;
  ASSIGN_OR_RETURN(page.block_height, IntField(result, "block_height", "validators"));
  ASSIGN_OR_RETURN(page.total, IntField(result, "total", "validators"));
  ASSIGN_OR_RETURN(dom::element list, Member(result, "validators", "validators"));
  dom::array validators;
  if (list.get_array().get(validators) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("validators: validators is not an array");
  }
  size_t index = 0;
  for (dom::element v : validators) {
    const std::string where = absl::StrCat("validators[", index++, "]");
    ASSIGN_OR_RETURN(dom::element pub_key, Member(v, "pub_key", where));
    if (pub_key.type() != dom::element_type::OBJECT) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": pub_key is not an object"));
    }
    ASSIGN_OR_RETURN(std::string type, TextField(pub_key, "type", where));
    if (type != "tendermint/PubKeyEd25519") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": pub_key type \"", type, "\" is not tendermint/PubKeyEd25519"));
    }
    CommitValidator validator;
    ASSIGN_OR_RETURN(validator.public_key, Base64Field(pub_key, "value", where));
    ASSIGN_OR_RETURN(validator.voting_power, IntField(v, "voting_power", where));
    page.validators.push_back(std::move(validator));
  }
  return page;
}

}  // namespace chain
}  // namespace gonka
