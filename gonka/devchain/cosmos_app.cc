#include "gonka/devchain/cosmos_app.h"

#include <google/protobuf/util/json_util.h>
#include <simdjson.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/base/json.h"
#include "gonka/base/status_macros.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/crypto/secp256k1.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/devchain/render.h"
#include "gonka/proto/cosmos/auth/v1beta1/auth.pb.h"
#include "gonka/proto/cosmos/authz/v1beta1/authz.pb.h"
#include "gonka/proto/cosmos/authz/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/bank/v1beta1/query.pb.h"
#include "gonka/proto/cosmos/bank/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/crypto/secp256k1/keys.pb.h"
#include "gonka/proto/cosmos/feegrant/v1beta1/feegrant.pb.h"
#include "gonka/proto/cosmos/feegrant/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/service.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/tx.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/unknown_field_set.h"

namespace gonka {
namespace devchain {

const char* const kGonkaRecordTypes[] = {
    "/inference.inference.MsgStartInference",
    "/inference.inference.MsgFinishInference",
    "/inference.inference.MsgValidation",
    "/inference.inference.MsgClaimRewards",
    "/inference.inference.MsgSubmitPocBatch",
    "/inference.inference.MsgSubmitPocValidation",
    "/inference.inference.MsgSubmitSeed",
    // The node-manager's PoC v2 messages (gonka/devchain/node_manager_messages.h).
    "/inference.inference.MsgMLNodeWeightDistribution",
    "/inference.inference.MsgPoCV2StoreCommit",
    "/inference.inference.MsgSubmitPocValidationsV2",
    // edge-srv's admin routes (price vote, bridge receipts; MsgBridgeExchange's signer
    // `validator` is field 1 too).
    "/inference.inference.MsgSubmitUnitOfComputePriceProposal",
    "/inference.inference.MsgBridgeExchange",
    nullptr,
};

namespace {

using absl::uint128;
using Coins = std::map<std::string, uint128>;

namespace txpb = ::cosmos::tx::v1beta1;
namespace bankpb = ::cosmos::bank::v1beta1;
namespace authzpb = ::cosmos::authz::v1beta1;
namespace feegrantpb = ::cosmos::feegrant::v1beta1;
namespace authpb = ::cosmos::auth::v1beta1;

constexpr char kMsgSend[] = "/cosmos.bank.v1beta1.MsgSend";
constexpr char kMsgGrant[] = "/cosmos.authz.v1beta1.MsgGrant";
constexpr char kMsgRevoke[] = "/cosmos.authz.v1beta1.MsgRevoke";
constexpr char kMsgExec[] = "/cosmos.authz.v1beta1.MsgExec";
constexpr char kMsgGrantAllowance[] = "/cosmos.feegrant.v1beta1.MsgGrantAllowance";
constexpr char kMsgRevokeAllowance[] = "/cosmos.feegrant.v1beta1.MsgRevokeAllowance";
constexpr char kMsgRecord[] = "/gonka.devchain.v1.MsgRecord";
constexpr char kGenericAuthorization[] = "/cosmos.authz.v1beta1.GenericAuthorization";
constexpr char kBasicAllowance[] = "/cosmos.feegrant.v1beta1.BasicAllowance";
constexpr char kAllowedMsgAllowance[] = "/cosmos.feegrant.v1beta1.AllowedMsgAllowance";
constexpr char kSecp256k1PubKey[] = "/cosmos.crypto.secp256k1.PubKey";
constexpr char kBaseAccount[] = "/cosmos.auth.v1beta1.BaseAccount";

// Gas (deterministic, roughly the SDK's orders of magnitude).
constexpr uint64_t kAnteBaseGas = 10000;
constexpr uint64_t kGasPerTxByte = 10;
constexpr uint64_t kSigVerifyGas = 1000;
constexpr uint64_t kUnorderedGas = 2240;  // DefaultUnorderedTxGasCost
constexpr uint64_t kMsgGas = 15000;

TxResult Err(uint32_t code, absl::string_view codespace, std::string log) {
  TxResult r;
  r.code = code;
  r.codespace = std::string(codespace);
  r.log = std::move(log);
  return r;
}

std::string CoinsString(const Coins& coins) {
  std::vector<std::string> parts;
  for (const auto& [denom, amount] : coins) {
    std::ostringstream os;
    os << amount;
    parts.push_back(absl::StrCat(os.str(), denom));
  }
  return absl::StrJoin(parts, ",");
}

// Coins from the wire: each must be valid (sdk.Coin.Validate) and positive.
bool ParseCoins(const google::protobuf::RepeatedPtrField<::cosmos::base::v1beta1::Coin>& in,
                Coins* out, std::string* error) {
  out->clear();
  for (const auto& c : in) {
    absl::Status s = cosmos::ValidateCoin({c.denom(), c.amount()}, "coin");
    uint128 amount;
    if (!s.ok() || !absl::SimpleAtoi(c.amount(), &amount) || amount == 0 || out->count(c.denom())) {
      *error = absl::StrCat(c.amount(), c.denom());
      return false;
    }
    (*out)[c.denom()] = amount;
  }
  return true;
}

// ADR-027 for TxRaw, as the SDK's tx decoder checks it before decoding (rejectNonADR027TxRaw in
// x/auth/tx/decoder.go): every field is length-delimited, field numbers ascend, the singular
// body_bytes (1) and auth_info_bytes (2) appear at most once (only signatures, 3, repeat), and
// every length prefix is the shortest varint. Without it the same signed content could travel in
// other bytes (a duplicated body field: protobuf keeps the last one) — another tx hash.
std::string NonAdr027TxRaw(absl::string_view tx) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(tx.data()),
                                            static_cast<int>(tx.size()));
  uint32_t previous = 0;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ExpectAtEnd() ? "" : "invalid field tag";
    const uint32_t number = tag >> 3;
    if ((tag & 7) != 2) return absl::StrCat("expected wire type 2, got ", tag & 7);
    if (number < previous) {
      return absl::StrCat("txRaw must follow ADR-027, got tagNum ", number, " after tagNum ",
                          previous);
    }
    if (number == previous && number != 3) {
      return absl::StrCat("txRaw must follow ADR-027, field ", number, " appears more than once");
    }
    previous = number;
    const int before = in.CurrentPosition();
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return "invalid length";
    const int used = in.CurrentPosition() - before;
    if (used != static_cast<int>(google::protobuf::io::CodedOutputStream::VarintSize32(length))) {
      return absl::StrCat("length prefix varint for tagNum ", number,
                          " is not as short as possible");
    }
    if (!in.Skip(static_cast<int>(length))) return "invalid length";
  }
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// ADR-020 / the SDK's tx decoder: unknown fields in TxRaw and AuthInfo are rejected, and in
// TxBody unless their number is >= 1024 ("non-critical"). Without this the same signed content
// could travel in different tx bytes (a different hash) — transaction malleability.
bool HasUnknownFields(const google::protobuf::Message& message, bool allow_non_critical) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (!allow_non_critical || unknown.field(i).number() < 1024) return true;
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    // An Any's value is checked when it is unpacked, like the SDK's interface registry does.
    if (field->is_repeated()) {
      for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
        if (HasUnknownFields(reflection->GetRepeatedMessage(message, field, j), false)) {
          return true;
        }
      }
    } else if (HasUnknownFields(reflection->GetMessage(message, field), false)) {
      return true;
    }
  }
  return false;
}

bool IsGonkaRecordType(absl::string_view type_url) {
  for (const char* const* t = kGonkaRecordTypes; *t != nullptr; ++t) {
    if (type_url == *t) return true;
  }
  return false;
}

// The address that must sign `msg` (GetSigners), or "" for an unknown type.
std::string SignerOf(const google::protobuf::Any& msg) {
  const std::string& t = msg.type_url();
  if (t == kMsgSend) {
    bankpb::MsgSend m;
    return m.ParseFromString(msg.value()) ? m.from_address() : "";
  }
  if (t == kMsgGrant) {
    authzpb::MsgGrant m;
    return m.ParseFromString(msg.value()) ? m.granter() : "";
  }
  if (t == kMsgRevoke) {
    authzpb::MsgRevoke m;
    return m.ParseFromString(msg.value()) ? m.granter() : "";
  }
  if (t == kMsgExec) {
    authzpb::MsgExec m;
    return m.ParseFromString(msg.value()) ? m.grantee() : "";
  }
  if (t == kMsgGrantAllowance) {
    feegrantpb::MsgGrantAllowance m;
    return m.ParseFromString(msg.value()) ? m.granter() : "";
  }
  if (t == kMsgRevokeAllowance) {
    feegrantpb::MsgRevokeAllowance m;
    return m.ParseFromString(msg.value()) ? m.granter() : "";
  }
  if (t == kMsgSubmitProposal) return ProposalSigner(msg);
  if (t == kMsgRecord || IsGonkaRecordType(t)) {
    // Gonka messages carry their signer, `creator`, in field 1 like MsgRecord.
    gonka::devchain::v1::MsgRecord m;
    return m.ParsePartialFromString(msg.value()) ? m.creator() : "";
  }
  return "";
}

class Executor {
 public:
  Executor(const AppOptions& options, CosmosApp::State& state, const TxContext& context)
      : options_(options), s_(state), context_(context) {}

  std::vector<Event>& events() { return events_; }
  uint64_t gas() const { return gas_; }

  // Runs one message signed by `signer`; nullopt on success, else the failure.
  std::optional<TxResult> Run(const google::protobuf::Any& msg, const std::string& signer) {
    gas_ += kMsgGas + msg.value().size() * kGasPerTxByte;
    const std::string& t = msg.type_url();
    events_.push_back({"message", {{"action", t}, {"sender", signer}, {"module", Module(t)}}});
    if (t == kMsgSend) return Send(msg);
    if (t == kMsgGrant) return Grant(msg);
    if (t == kMsgRevoke) return Revoke(msg);
    if (t == kMsgExec) return Exec(msg, signer);
    if (t == kMsgGrantAllowance) return GrantAllowance(msg);
    if (t == kMsgRevokeAllowance) return RevokeAllowance(msg);
    if (IsNodeManagerMsg(t)) {
      if (auto refused = ApplyNodeManagerMsg(msg, options_.inference_schedule, context_.height,
                                             SeedSignerKeys(signer), &s_.node_manager, &events_)) {
        return refused;
      }
    }
    if (IsPriceProposalMsg(t)) {
      if (auto refused = ApplyPriceProposal(msg, options_.inference_schedule, context_.height,
                                            &s_.price_proposals)) {
        return refused;
      }
    }
    if (t == kMsgSubmitProposal) {
      absl::StatusOr<std::string> gov = GovModuleAddress(options_.prefix);
      if (!gov.ok()) return Err(1, "sdk", std::string(gov.status().message()));
      uint64_t id = 0;
      return ApplySubmitProposal(msg, *gov, &s_.gov, &events_, &id);
    }
    if (t == kMsgRecord || IsGonkaRecordType(t)) return Record(msg, signer);
    return Err(2, "sdk", absl::StrCat("unable to resolve type URL ", t, ": tx parse error"));
  }

 private:
  static std::string Module(absl::string_view t) {
    if (absl::StartsWith(t, "/cosmos.bank.")) return "bank";
    if (absl::StartsWith(t, "/cosmos.authz.")) return "authz";
    if (absl::StartsWith(t, "/cosmos.feegrant.")) return "feegrant";
    if (absl::StartsWith(t, "/cosmos.gov.")) return "gov";
    if (absl::StartsWith(t, "/inference.")) return "inference";
    return "devchain";
  }

  // The public keys that may have signed `creator`'s epoch seed: its own and those of the
  // accounts it granted anything to through authz (Gonka's GetAccountPubKeysWithGrantees).
  std::vector<std::string> SeedSignerKeys(const std::string& creator) const {
    std::vector<std::string> keys;
    auto own = s_.accounts.find(creator);
    if (own != s_.accounts.end() && !own->second.pub_key.empty()) {
      keys.push_back(own->second.pub_key);
    }
    for (const auto& [grant, expiration] : s_.grants) {
      if (std::get<0>(grant) != creator) continue;
      auto grantee = s_.accounts.find(std::get<1>(grant));
      if (grantee != s_.accounts.end() && !grantee->second.pub_key.empty()) {
        keys.push_back(grantee->second.pub_key);
      }
    }
    return keys;
  }

  bool ValidAddress(absl::string_view address) const {
    return crypto::DecodeAddress(address, options_.prefix).ok();
  }

  CosmosApp::AccountState& EnsureAccount(const std::string& address) {
    auto it = s_.accounts.find(address);
    if (it != s_.accounts.end()) return it->second;
    CosmosApp::AccountState& a = s_.accounts[address];
    a.number = s_.next_account_number++;
    return a;
  }

  std::optional<TxResult> Send(const google::protobuf::Any& any) {
    bankpb::MsgSend m;
    if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgSend: tx parse error");
    if (!ValidAddress(m.to_address())) {
      return Err(7, "sdk",
                 absl::StrCat("invalid to address ", m.to_address(), ": invalid address"));
    }
    Coins amount;
    std::string bad;
    if (!ParseCoins(m.amount(), &amount, &bad) || amount.empty()) {
      return Err(10, "sdk", absl::StrCat(bad, ": invalid coins"));
    }
    CosmosApp::AccountState& from = EnsureAccount(m.from_address());
    for (const auto& [denom, value] : amount) {
      if (from.balances[denom] < value) {
        return Err(5, "sdk",
                   absl::StrCat("spendable balance ", CoinsString({{denom, from.balances[denom]}}),
                                " is smaller than ", CoinsString({{denom, value}}),
                                ": insufficient funds"));
      }
    }
    CosmosApp::AccountState& to = EnsureAccount(m.to_address());
    CosmosApp::AccountState& from_again = s_.accounts[m.from_address()];
    for (const auto& [denom, value] : amount) {
      from_again.balances[denom] -= value;
      to.balances[denom] += value;
    }
    std::string coins = CoinsString(amount);
    events_.push_back({"coin_spent", {{"spender", m.from_address()}, {"amount", coins}}});
    events_.push_back({"coin_received", {{"receiver", m.to_address()}, {"amount", coins}}});
    events_.push_back(
        {"transfer",
         {{"recipient", m.to_address()}, {"sender", m.from_address()}, {"amount", coins}}});
    return std::nullopt;
  }

  std::optional<TxResult> Grant(const google::protobuf::Any& any) {
    authzpb::MsgGrant m;
    if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgGrant: tx parse error");
    if (m.granter() == m.grantee()) {
      return Err(7, "authz", "grantee and granter should be different");
    }
    if (!ValidAddress(m.grantee())) {
      return Err(7, "sdk",
                 absl::StrCat("invalid grantee address ", m.grantee(), ": invalid address"));
    }
    if (m.grant().authorization().type_url() != kGenericAuthorization) {
      return Err(
          4, "authz",
          absl::StrCat(m.grant().authorization().type_url(), ": unknown authorization type"));
    }
    authzpb::GenericAuthorization auth;
    if (!auth.ParseFromString(m.grant().authorization().value()) || auth.msg().empty()) {
      return Err(2, "sdk", "GenericAuthorization: tx parse error");
    }
    std::optional<absl::Time> expiration;
    if (m.grant().has_expiration()) {
      expiration = FromTimestamp(m.grant().expiration());
      if (*expiration <= context_.block_time) {
        return Err(3, "authz", "expiration time of authorization should be more than current time");
      }
    }
    s_.grants[{m.granter(), m.grantee(), auth.msg()}] = expiration;
    events_.push_back(
        {"cosmos.authz.v1beta1.EventGrant",
         {{"granter", m.granter()}, {"grantee", m.grantee()}, {"msg_type_url", auth.msg()}}});
    return std::nullopt;
  }

  std::optional<TxResult> Revoke(const google::protobuf::Any& any) {
    authzpb::MsgRevoke m;
    if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgRevoke: tx parse error");
    if (s_.grants.erase({m.granter(), m.grantee(), m.msg_type_url()}) == 0) {
      return Err(2, "authz", "authorization not found");
    }
    return std::nullopt;
  }

  std::optional<TxResult> Exec(const google::protobuf::Any& any, const std::string& grantee) {
    authzpb::MsgExec m;
    if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgExec: tx parse error");
    if (m.msgs_size() == 0)
      return Err(18, "sdk", "must contain at least one message: invalid request");
    for (const auto& inner : m.msgs()) {
      std::string granter = SignerOf(inner);
      if (granter.empty()) {
        return Err(
            2, "sdk",
            absl::StrCat("unable to resolve type URL ", inner.type_url(), ": tx parse error"));
      }
      if (granter != grantee) {
        auto it = s_.grants.find({granter, grantee, inner.type_url()});
        if (it == s_.grants.end()) {
          return Err(2, "authz",
                     absl::StrCat("failed to get grant with given granter: ", granter,
                                  ", grantee: ", grantee, " & msgType: ", inner.type_url(),
                                  " : authorization not found"));
        }
        if (it->second && *it->second <= context_.block_time) {
          return Err(6, "authz", "authorization expired");
        }
      }
      if (std::optional<TxResult> failed = Run(inner, granter)) return failed;
    }
    return std::nullopt;
  }

  std::optional<TxResult> GrantAllowance(const google::protobuf::Any& any) {
    feegrantpb::MsgGrantAllowance m;
    if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgGrantAllowance: tx parse error");
    if (m.granter() == m.grantee() || !ValidAddress(m.grantee())) {
      return Err(7, "sdk", absl::StrCat("invalid grantee ", m.grantee(), ": invalid address"));
    }
    if (s_.allowances.count({m.granter(), m.grantee()})) {
      return Err(18, "sdk", "fee allowance already exists: invalid request");
    }
    CosmosApp::Allowance allowance;
    google::protobuf::Any basic_any = m.allowance();
    if (basic_any.type_url() == kAllowedMsgAllowance) {
      feegrantpb::AllowedMsgAllowance allowed;
      if (!allowed.ParseFromString(basic_any.value()) || allowed.allowed_messages_size() == 0) {
        return Err(6, "feegrant", "allowed messages are empty");
      }
      allowance.allowed_messages.assign(allowed.allowed_messages().begin(),
                                        allowed.allowed_messages().end());
      basic_any = allowed.allowance();
    }
    if (basic_any.type_url() != kBasicAllowance) {
      return Err(18, "sdk",
                 absl::StrCat("unsupported allowance ", basic_any.type_url(), ": invalid request"));
    }
    feegrantpb::BasicAllowance basic;
    if (!basic.ParseFromString(basic_any.value())) {
      return Err(2, "sdk", "BasicAllowance: tx parse error");
    }
    std::string bad;
    if (!ParseCoins(basic.spend_limit(), &allowance.spend_limit, &bad)) {
      return Err(10, "sdk", absl::StrCat(bad, ": invalid coins"));
    }
    if (basic.has_expiration()) {
      allowance.expiration = FromTimestamp(basic.expiration());
      if (*allowance.expiration <= context_.block_time) {
        return Err(3, "feegrant", "fee allowance expired");
      }
    }
    s_.allowances[{m.granter(), m.grantee()}] = std::move(allowance);
    events_.push_back({"set_feegrant", {{"granter", m.granter()}, {"grantee", m.grantee()}}});
    return std::nullopt;
  }

  std::optional<TxResult> RevokeAllowance(const google::protobuf::Any& any) {
    feegrantpb::MsgRevokeAllowance m;
    if (!m.ParseFromString(any.value())) {
      return Err(2, "sdk", "MsgRevokeAllowance: tx parse error");
    }
    if (s_.allowances.erase({m.granter(), m.grantee()}) == 0) {
      return Err(5, "feegrant", "fee-grant not found: no allowance");
    }
    return std::nullopt;
  }

  std::optional<TxResult> Record(const google::protobuf::Any& any, const std::string& signer) {
    std::string key;
    if (any.type_url() == kMsgRecord) {
      gonka::devchain::v1::MsgRecord m;
      if (!m.ParseFromString(any.value())) return Err(2, "sdk", "MsgRecord: tx parse error");
      if (m.key().empty()) return Err(18, "sdk", "MsgRecord: empty key: invalid request");
      key = m.key();
    } else {
      key = absl::StrCat(any.type_url(), "/", crypto::HexEncode(crypto::Sha256(any.value())));
    }
    uint64_t count = ++s_.records[key];
    events_.push_back(
        {"record", {{"creator", signer}, {"key", key}, {"count", absl::StrCat(count)}}});
    return std::nullopt;
  }

  const AppOptions& options_;
  CosmosApp::State& s_;
  const TxContext& context_;
  std::vector<Event> events_;
  uint64_t gas_ = 0;
};

}  // namespace

absl::StatusOr<AppOptions> ParseGenesis(absl::string_view json) {
  AppOptions options;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root); e) {
    return absl::InvalidArgumentError(
        absl::StrCat("genesis: not valid JSON: ", simdjson::error_message(e)));
  }
  simdjson::dom::array accounts;
  if (root["accounts"].get(accounts) == simdjson::SUCCESS) {
    size_t i = 0;
    for (simdjson::dom::element a : accounts) {
      std::string where = absl::StrCat("genesis accounts[", i++, "]");
      GenesisAccount account;
      std::string_view text;
      if (a["address"].get_string().get(text) == simdjson::SUCCESS) account.address = text;
      if (a["mnemonic"].get_string().get(text) == simdjson::SUCCESS) account.mnemonic = text;
      if (account.address.empty() == account.mnemonic.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": exactly one of \"address\" and \"mnemonic\" is required"));
      }
      simdjson::dom::object balances;
      if (a["balances"].get(balances) == simdjson::SUCCESS) {
        for (auto field : balances) {
          std::string_view amount;
          if (field.value.get_string().get(amount) != simdjson::SUCCESS) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ".balances.", std::string(field.key), ": amount must be a string"));
          }
          account.balances[std::string(field.key)] = std::string(amount);
        }
      }
      options.accounts.push_back(std::move(account));
    }
  }
  std::string_view text;
  if (root["fee_denom"].get_string().get(text) == simdjson::SUCCESS) options.fee_denom = text;
  if (root["min_gas_price"].get_string().get(text) == simdjson::SUCCESS &&
      !absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &options.min_gas_price)) {
    return absl::InvalidArgumentError(
        absl::StrCat("genesis min_gas_price: not an integer: \"", std::string(text), "\""));
  }
  if (root["prefix"].get_string().get(text) == simdjson::SUCCESS) options.prefix = text;
  if (root["chain_id"].get_string().get(text) == simdjson::SUCCESS) {
    if (text.empty()) return absl::InvalidArgumentError("genesis chain_id: must not be empty");
    options.chain_id = std::string(text);
  }
  if (root["block_interval"].get_string().get(text) == simdjson::SUCCESS) {
    absl::Duration d;
    if (!absl::ParseDuration(absl::string_view(text.data(), text.size()), &d) ||
        d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "genesis block_interval: not a positive duration: \"", std::string(text), "\""));
    }
    options.block_interval = d;
  }
  simdjson::dom::object epoch;
  if (root["epoch"].get(epoch) == simdjson::SUCCESS) {
    EpochParams params;
    const std::pair<const char*, int64_t*> fields[] = {
        {"epoch_length", &params.epoch_length},
        {"epoch_shift", &params.epoch_shift},
        {"poc_stage_duration", &params.poc_stage_duration},
        {"poc_exchange_duration", &params.poc_exchange_duration},
        {"poc_validation_delay", &params.poc_validation_delay},
        {"poc_validation_duration", &params.poc_validation_duration},
        {"set_new_validators_delay", &params.set_new_validators_delay},
    };
    for (const auto& [name, out] : fields) {
      if (epoch[name].get_string().get(text) != simdjson::SUCCESS) continue;
      if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), out)) {
        return absl::InvalidArgumentError(
            absl::StrCat("genesis epoch.", name, ": not an integer: \"", std::string(text), "\""));
      }
    }
    if (absl::Status s = chain::ValidateEpochParams(params); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("genesis epoch.", s.message()));
    }
    options.epochs = params;
  }
  simdjson::dom::element inference;
  if (root["inference"].get(inference) == simdjson::SUCCESS) {
    absl::StatusOr<InferenceGenesis> parsed = ParseInferenceGenesis(simdjson::minify(inference));
    if (!parsed.ok()) return parsed.status();
    options.inference = *std::move(parsed);
  }
  if (root["max_unordered_timeout"].get_string().get(text) == simdjson::SUCCESS &&
      !absl::ParseDuration(absl::string_view(text.data(), text.size()),
                           &options.max_unordered_timeout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("genesis max_unordered_timeout: not a duration: \"", std::string(text), "\""));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<CosmosApp>> CosmosApp::Create(AppOptions options) {
  std::unique_ptr<CosmosApp> app(new CosmosApp(options));
  absl::MutexLock lock(&app->mu_);
  State& s = app->committed_;
  size_t i = 0;
  for (const GenesisAccount& a : app->options_.accounts) {
    std::string where = absl::StrCat("genesis accounts[", i++, "]");
    std::string address = a.address;
    if (!a.mnemonic.empty()) {
      crypto::KeyOptions key_options;
      key_options.prefix = app->options_.prefix;
      absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(a.mnemonic, key_options);
      if (!key.ok()) return Annotate(key.status(), where);
      address = key->address();
    } else if (absl::Status st = crypto::DecodeAddress(address, app->options_.prefix).status();
               !st.ok()) {
      return Annotate(st, where);
    }
    AccountState& account = s.accounts[address];
    account.number = s.next_account_number++;
    for (const auto& [denom, amount] : a.balances) {
      uint128 value;
      if (!cosmos::ValidateCoin({denom, amount}, where).ok() || !absl::SimpleAtoi(amount, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".balances.", denom, ": invalid amount \"", amount, "\""));
      }
      account.balances[denom] = value;
    }
  }
  app->check_ = s;
  app->inference_ =
      std::make_unique<InferenceModule>(app->options_.inference, app->options_.inference_schedule);
  return app;
}

TxResult CosmosApp::Check(absl::string_view tx, const TxContext& context) {
  absl::MutexLock lock(&mu_);
  if (context.simulate) {
    State scratch = check_;
    return Run(scratch, tx, context, /*deliver=*/true);
  }
  if (context.check_only) {  // the check_tx RPC: the ante handler on a copy of check state
    State scratch = check_;
    return Run(scratch, tx, context, /*deliver=*/false);
  }
  return Run(check_, tx, context, /*deliver=*/false);
}

TxResult CosmosApp::Deliver(absl::string_view tx, const TxContext& context) {
  absl::MutexLock lock(&mu_);
  last_block_time_ = context.block_time;
  last_height_ = context.height;
  return Run(committed_, tx, context, /*deliver=*/true);
}

std::map<std::string, std::vector<StoreEntry>> CosmosApp::ProvableStores(int64_t height) {
  absl::MutexLock lock(&mu_);
  // The epochs' keys sort as their 8-byte big-endian numbers, and each is written after the one
  // before: the store at `height` is epochs 1..n, already in key order. A written value never
  // changes, so each is built once.
  for (uint64_t epoch = inference_entries_.size() + 1;; ++epoch) {
    std::optional<::inference::inference::ActiveParticipants> value =
        inference_->ActiveParticipantsAt(epoch, height);
    if (!value.has_value()) break;
    inference_entries_.push_back({ActiveParticipantsKey(epoch),
                                  cosmos::SerializeDeterministic(*value),
                                  inference_->ActiveParticipantsHeight(epoch)});
  }
  std::vector<StoreEntry> entries;
  for (const StoreEntry& entry : inference_entries_) {
    if (entry.version > height) break;
    entries.push_back(entry);
  }
  std::map<std::string, std::vector<StoreEntry>> stores;
  stores["inference"] = std::move(entries);
  return stores;
}

void CosmosApp::Commit(int64_t height) {
  absl::MutexLock lock(&mu_);
  // x/auth PreBlocker: drop unordered nonces whose timeout has passed.
  int64_t now = absl::ToUnixNanos(last_block_time_);
  auto& nonces = committed_.unordered_nonces;
  nonces.erase(nonces.begin(), nonces.lower_bound({now + 1, std::string()}));
  check_ = committed_;
  inference_->OnCommit(height, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return Accounts(); });
}

AccountMap CosmosApp::Accounts() const {
  AccountMap accounts;
  for (const auto& [address, state] : committed_.accounts) {
    AccountView& view = accounts[address];
    view.pub_key = state.pub_key;
    view.balances = state.balances;
  }
  return accounts;
}

TxResult CosmosApp::Run(State& s, absl::string_view tx, const TxContext& ctx, bool deliver) {
  if (std::string why = NonAdr027TxRaw(tx); !why.empty()) {
    return Err(2, "sdk", absl::StrCat(why, ": tx parse error"));
  }
  txpb::TxRaw raw;
  txpb::TxBody body;
  txpb::AuthInfo auth;
  if (!raw.ParseFromArray(tx.data(), static_cast<int>(tx.size())) ||
      !body.ParseFromString(raw.body_bytes()) || !auth.ParseFromString(raw.auth_info_bytes())) {
    return Err(2, "sdk", "tx parse error");
  }
  if (HasUnknownFields(raw, false) || HasUnknownFields(auth, false) ||
      HasUnknownFields(body, /*allow_non_critical=*/true)) {
    return Err(2, "sdk", "unknown field in tx: tx parse error");
  }
  if (body.messages_size() == 0) {
    return Err(18, "sdk", "must contain at least one message: invalid request");
  }
  std::string signer;
  for (const auto& msg : body.messages()) {
    std::string s_of = SignerOf(msg);
    if (s_of.empty()) {
      return Err(2, "sdk",
                 absl::StrCat("unable to resolve type URL ", msg.type_url(), ": tx parse error"));
    }
    if (!signer.empty() && s_of != signer) {
      return Err(4, "sdk", "devchain supports one signer per tx: unauthorized");
    }
    signer = s_of;
  }
  if (raw.signatures_size() == 0) return Err(15, "sdk", "no signatures supplied");
  if (raw.signatures_size() != 1 || auth.signer_infos_size() != 1) {
    return Err(4, "sdk",
               absl::StrCat("invalid number of signer;  expected: 1, got ", raw.signatures_size(),
                            ": unauthorized"));
  }
  if (body.timeout_height() != 0 && static_cast<uint64_t>(ctx.height) > body.timeout_height()) {
    return Err(30, "sdk",
               absl::StrCat("block height: ", ctx.height,
                            ", timeout height: ", body.timeout_height(), ": tx timeout height"));
  }
  std::optional<absl::Time> timeout;
  if (body.has_timeout_timestamp() &&
      (body.timeout_timestamp().seconds() != 0 || body.timeout_timestamp().nanos() != 0)) {
    timeout = FromTimestamp(body.timeout_timestamp());
    if (ctx.block_time > *timeout) {
      return Err(42, "sdk",
                 absl::StrCat("block time: ", RfcTime(ctx.block_time),
                              ", timeout timestamp: ", RfcTime(*timeout), ": tx timeout"));
    }
  }
  size_t memo_chars = 0;
  for (unsigned char c : body.memo()) memo_chars += (c & 0xC0) != 0x80;
  if (memo_chars > options_.max_memo_characters) {
    return Err(12, "sdk",
               absl::StrCat("maximum number of characters is ", options_.max_memo_characters,
                            " but received ", memo_chars, " characters: memo too large"));
  }
  uint64_t gas_limit = auth.fee().gas_limit();
  uint64_t ante_gas = kAnteBaseGas + kGasPerTxByte * tx.size() + kSigVerifyGas +
                      (body.unordered() ? kUnorderedGas : 0);
  if (gas_limit < ante_gas && !ctx.simulate) {  // simulation runs with an infinite gas meter
    TxResult r = Err(11, "sdk",
                     absl::StrCat("out of gas in location: txSize; gasWanted: ", gas_limit,
                                  ", gasUsed: ", ante_gas, ": out of gas"));
    r.gas_wanted = static_cast<int64_t>(gas_limit);
    r.gas_used = static_cast<int64_t>(ante_gas);
    return r;
  }

  // Fee: valid coins, minimum gas price (CheckTx), fee grant, payer balance.
  Coins fee;
  std::string bad;
  if (!ParseCoins(auth.fee().amount(), &fee, &bad)) {
    return Err(10, "sdk", absl::StrCat(bad, ": invalid coins"));
  }
  if (!deliver && options_.min_gas_price > 0) {
    uint128 required = uint128(gas_limit) * options_.min_gas_price;
    if (fee[options_.fee_denom] < required) {
      return Err(13, "sdk",
                 absl::StrCat("insufficient fees; got: ", CoinsString(fee), " required: ",
                              CoinsString({{options_.fee_denom, required}}), ": insufficient fee"));
    }
    if (fee[options_.fee_denom] == 0) fee.erase(options_.fee_denom);
  }
  std::string payer = signer;
  Allowance* used_allowance = nullptr;  // charged only once every check has passed
  const std::string& granter = auth.fee().granter();
  if (!granter.empty() && granter != signer) {
    auto it = s.allowances.find({granter, signer});
    if (it == s.allowances.end()) {
      return Err(5, "feegrant",
                 absl::StrCat(granter, " does not allow to pay fees for ", signer,
                              ": fee-grant not found: no allowance"));
    }
    Allowance& allowance = it->second;
    if (allowance.expiration && *allowance.expiration <= ctx.block_time) {
      return Err(3, "feegrant", "fee allowance expired");
    }
    if (!allowance.allowed_messages.empty()) {
      for (const auto& msg : body.messages()) {
        if (std::find(allowance.allowed_messages.begin(), allowance.allowed_messages.end(),
                      msg.type_url()) == allowance.allowed_messages.end()) {
          return Err(7, "feegrant",
                     absl::StrCat(msg.type_url(),
                                  ": message does not exist in allowed messages: "
                                  "message not allowed"));
        }
      }
    }
    if (!allowance.spend_limit.empty()) {
      for (const auto& [denom, value] : fee) {
        auto limit = allowance.spend_limit.find(denom);
        if (limit == allowance.spend_limit.end() || limit->second < value) {
          return Err(2, "feegrant", "basic allowance: fee limit exceeded");
        }
      }
    }
    used_allowance = &allowance;
    payer = granter;
  }
  auto payer_it = s.accounts.find(payer);
  if (payer_it == s.accounts.end()) {
    return Err(9, "sdk",
               absl::StrCat("fee payer address: ", payer, " does not exist: unknown address"));
  }
  for (const auto& [denom, value] : fee) {
    if (payer_it->second.balances[denom] < value) {
      return Err(5, "sdk",
                 absl::StrCat(
                     "spendable balance ", CoinsString({{denom, payer_it->second.balances[denom]}}),
                     " is smaller than ", CoinsString({{denom, value}}), ": insufficient funds"));
    }
  }

  // Signer account and public key.
  auto account_it = s.accounts.find(signer);
  if (account_it == s.accounts.end()) {
    return Err(9, "sdk", absl::StrCat("account ", signer, " does not exist: unknown address"));
  }
  AccountState& account = account_it->second;
  const txpb::SignerInfo& info = auth.signer_infos(0);
  ::cosmos::crypto::secp256k1::PubKey pub;
  if (info.public_key().type_url() != kSecp256k1PubKey ||
      !pub.ParseFromString(info.public_key().value())) {
    return Err(
        8, "sdk",
        absl::StrCat("unsupported public key ", info.public_key().type_url(), ": invalid pubkey"));
  }
  absl::StatusOr<crypto::PublicKey> key = crypto::PublicKey::FromBytes(pub.key());
  if (!key.ok())
    return Err(8, "sdk", "public key is not a compressed secp256k1 point: invalid pubkey");
  absl::StatusOr<std::string> derived = crypto::AddressFromPublicKey(*key, options_.prefix);
  if (!derived.ok() || *derived != signer) {
    return Err(8, "sdk",
               absl::StrCat("pubKey does not match signer address ", signer,
                            " with signer index: 0: invalid pubkey"));
  }
  if (!account.pub_key.empty() && account.pub_key != pub.key()) {
    return Err(8, "sdk", "pubKey does not match the account's: invalid pubkey");
  }
  if (!ctx.simulate && info.mode_info().single().mode() != 1) {  // SIGN_MODE_DIRECT
    return Err(4, "sdk", "devchain verifies SIGN_MODE_DIRECT only: unauthorized");
  }

  // Sequence or unordered nonce.
  std::pair<int64_t, std::string> nonce;
  if (body.unordered()) {
    if (info.sequence() != 0) {
      return Err(18, "sdk", "unordered transaction must have sequence 0: invalid request");
    }
    if (!timeout) {
      return Err(18, "sdk",
                 "unordered transaction must have timeout_timestamp set: invalid request");
    }
    if (*timeout > ctx.block_time + options_.max_unordered_timeout) {
      return Err(
          18, "sdk",
          absl::StrCat("unordered tx ttl exceeds ",
                       absl::FormatDuration(options_.max_unordered_timeout), ": invalid request"));
    }
    nonce = {absl::ToUnixNanos(*timeout), signer};
    if (s.unordered_nonces.count(nonce)) {
      return Err(18, "sdk",
                 absl::StrCat("failed to add unordered nonce: unordered tx with "
                              "already used timeout ",
                              RfcTime(*timeout), " for ", signer, ": invalid request"));
    }
  } else if (info.sequence() != account.sequence) {
    return Err(32, "sdk",
               absl::StrCat("account sequence mismatch, expected ", account.sequence, ", got ",
                            info.sequence(), ": incorrect account sequence"));
  }

  // SIGN_MODE_DIRECT signature over SignDoc.
  if (!ctx.simulate) {
    txpb::SignDoc doc;
    doc.set_body_bytes(raw.body_bytes());
    doc.set_auth_info_bytes(raw.auth_info_bytes());
    doc.set_chain_id(ctx.chain_id);
    doc.set_account_number(account.number);
    crypto::Sha256Digest digest = crypto::Sha256(cosmos::SerializeDeterministic(doc));
    if (!crypto::VerifySignature(pub.key(), crypto::AsStringView(digest), raw.signatures(0)).ok()) {
      return Err(4, "sdk",
                 absl::StrCat("signature verification failed; please verify account "
                              "number (",
                              account.number, ") and chain-id (", ctx.chain_id, "): unauthorized"));
    }
  }

  // Ante effects: kept even when a message fails (baseapp writes the ante branch first).
  for (const auto& [denom, value] : fee) s.accounts[payer].balances[denom] -= value;
  if (used_allowance != nullptr && !used_allowance->spend_limit.empty()) {
    for (const auto& [denom, value] : fee) used_allowance->spend_limit[denom] -= value;
  }
  account.pub_key = pub.key();
  if (body.unordered()) {
    s.unordered_nonces.insert(nonce);
  } else {
    account.sequence++;
  }
  TxResult result;
  result.gas_wanted = static_cast<int64_t>(gas_limit);
  result.gas_used = static_cast<int64_t>(ante_gas);
  result.events.push_back({"tx", {{"fee", CoinsString(fee)}, {"fee_payer", payer}}});
  result.events.push_back(
      {"tx",
       {{"acc_seq", absl::StrCat(signer, "/", body.unordered() ? 0 : account.sequence - 1)}}});
  result.events.push_back({"tx", {{"signature", absl::Base64Escape(raw.signatures(0))}}});
  if (!deliver) return result;  // CheckTx runs the ante handler only

  State branch = s;
  Executor exec(options_, branch, ctx);
  for (const auto& msg : body.messages()) {
    if (std::optional<TxResult> failed = exec.Run(msg, signer)) {
      failed->gas_wanted = result.gas_wanted;
      failed->gas_used = static_cast<int64_t>(ante_gas + exec.gas());
      failed->events = result.events;
      return *failed;
    }
  }
  uint64_t used = ante_gas + exec.gas();
  if (used > gas_limit && !ctx.simulate) {
    TxResult r = Err(11, "sdk",
                     absl::StrCat("out of gas in location: message; gasWanted: ", gas_limit,
                                  ", gasUsed: ", used, ": out of gas"));
    r.gas_wanted = static_cast<int64_t>(gas_limit);
    r.gas_used = static_cast<int64_t>(used);
    r.events = result.events;
    return r;
  }
  s = std::move(branch);
  result.gas_used = static_cast<int64_t>(used);
  for (auto& e : exec.events()) result.events.push_back(std::move(e));
  return result;
}

TxExecutor::QueryResult CosmosApp::Query(absl::string_view path, absl::string_view data,
                                         int64_t height) {
  absl::MutexLock lock(&mu_);
  if (HandlesNodeManagerQuery(path)) return QueryNodeManager(path, data, committed_.node_manager);
  if (HandlesPriceProposalQuery(path)) {
    // The default price: the inference module's EpochParams.default_unit_of_compute_price.
    ::inference::inference::QueryParamsResponse params;
    QueryResult p = inference_->Query("/inference.inference.Query/Params", "", height, Accounts());
    if (p.code == 0) params.ParseFromString(p.value);
    return QueryPriceProposal(
        data, committed_.price_proposals,
        static_cast<uint64_t>(params.params().epoch_params().default_unit_of_compute_price()));
  }
  if (HandlesGovQuery(path)) return QueryProposal(data, committed_.gov);
  if (path == "/cosmos.upgrade.v1beta1.Query/CurrentPlan") {
    // The plan in the state at `height`: the last one scheduled by then, unless it already ran.
    ::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse response;
    const ::cosmos::upgrade::v1beta1::Plan* current = nullptr;
    for (const auto& entry : upgrade_plans_) {
      if (entry.first <= height) current = &entry.second;
    }
    if (current != nullptr && current->height() > height) *response.mutable_plan() = *current;
    return {0, "", "", cosmos::SerializeDeterministic(response)};
  }
  if (InferenceModule::Handles(path)) {
    return inference_->Query(path, data, height, Accounts());
  }
  if (path == "/cosmos.auth.v1beta1.Query/Account" ||
      path == "/cosmos.auth.v1beta1.Query/AccountInfo") {
    authpb::QueryAccountRequest request;
    if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return {18, "sdk", "invalid request: cannot decode QueryAccountRequest", ""};
    }
    auto it = committed_.accounts.find(request.address());
    if (it == committed_.accounts.end()) {
      return {22, "sdk", absl::StrCat("account ", request.address(), " not found: key not found"),
              ""};
    }
    authpb::BaseAccount account;
    account.set_address(request.address());
    account.set_account_number(it->second.number);
    account.set_sequence(it->second.sequence);
    if (!it->second.pub_key.empty()) {
      ::cosmos::crypto::secp256k1::PubKey pub;
      pub.set_key(it->second.pub_key);
      account.mutable_pub_key()->set_type_url(kSecp256k1PubKey);
      account.mutable_pub_key()->set_value(cosmos::SerializeDeterministic(pub));
    }
    if (path == "/cosmos.auth.v1beta1.Query/AccountInfo") {
      authpb::QueryAccountInfoResponse response;
      *response.mutable_info() = account;
      return {0, "", "", cosmos::SerializeDeterministic(response)};
    }
    authpb::QueryAccountResponse response;
    response.mutable_account()->set_type_url(kBaseAccount);
    response.mutable_account()->set_value(cosmos::SerializeDeterministic(account));
    return {0, "", "", cosmos::SerializeDeterministic(response)};
  }
  if (path == "/cosmos.tx.v1beta1.Service/Simulate") {
    ::cosmos::tx::v1beta1::SimulateRequest request;
    if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return {18, "sdk", "invalid request: cannot decode SimulateRequest", ""};
    }
    std::string tx = request.tx_bytes();
    if (tx.empty() && request.has_tx()) {
      txpb::TxRaw raw;
      raw.set_body_bytes(cosmos::SerializeDeterministic(request.tx().body()));
      raw.set_auth_info_bytes(cosmos::SerializeDeterministic(request.tx().auth_info()));
      for (const auto& sig : request.tx().signatures()) raw.add_signatures(sig);
      tx = cosmos::SerializeDeterministic(raw);
    }
    if (tx.empty()) return {18, "sdk", "empty tx: invalid request", ""};
    State scratch = check_;
    TxContext context;
    context.height = last_height_ + 1;
    context.block_time = last_block_time_ == absl::Time() ? absl::Now() : last_block_time_;
    context.simulate = true;
    TxResult r = Run(scratch, tx, context, /*deliver=*/true);
    if (r.code != 0) return {r.code, r.codespace, r.log, ""};
    ::cosmos::tx::v1beta1::SimulateResponse response;
    response.mutable_gas_info()->set_gas_wanted(static_cast<uint64_t>(r.gas_wanted));
    response.mutable_gas_info()->set_gas_used(static_cast<uint64_t>(r.gas_used));
    response.mutable_result()->set_log(r.log);
    for (const auto& e : r.events) {
      auto* pe = response.mutable_result()->add_events();
      pe->set_type(e.type);
      for (const auto& a : e.attributes) {
        auto* pa = pe->add_attributes();
        pa->set_key(a.key);
        pa->set_value(a.value);
        pa->set_index(a.index);
      }
    }
    return {0, "", "", cosmos::SerializeDeterministic(response)};
  }
  if (path == "/cosmos.bank.v1beta1.Query/Balance") {
    bankpb::QueryBalanceRequest request;
    if (!request.ParseFromArray(data.data(), static_cast<int>(data.size())) ||
        request.denom().empty()) {
      return {18, "sdk", "invalid request: QueryBalanceRequest needs address and denom", ""};
    }
    if (!crypto::DecodeAddress(request.address(), options_.prefix).ok()) {
      return {7, "sdk", absl::StrCat("invalid address ", request.address(), ": invalid address"),
              ""};
    }
    uint128 amount = 0;
    auto it = committed_.accounts.find(request.address());
    if (it != committed_.accounts.end()) {
      auto b = it->second.balances.find(request.denom());
      if (b != it->second.balances.end()) amount = b->second;
    }
    std::ostringstream os;
    os << amount;
    bankpb::QueryBalanceResponse response;
    response.mutable_balance()->set_denom(request.denom());
    response.mutable_balance()->set_amount(os.str());
    return {0, "", "", cosmos::SerializeDeterministic(response)};
  }
  return {6, "sdk", absl::StrCat("unknown query path: ", path, ": unknown request"), ""};
}

absl::StatusOr<::inference::inference::PartialUpgrade> CosmosApp::AddPartialUpgrade(
    ::inference::inference::PartialUpgrade upgrade) {
  absl::MutexLock lock(&mu_);
  return inference_->AddPartialUpgrade(std::move(upgrade));
}

absl::Status CosmosApp::ScheduleUpgradePlan(::cosmos::upgrade::v1beta1::Plan plan) {
  absl::MutexLock lock(&mu_);
  if (plan.name().empty()) return absl::InvalidArgumentError("name: required");
  const int64_t next = last_height_ + 1;  // the block a governance tx would run in
  if (plan.height() <= next) {
    return absl::InvalidArgumentError(
        absl::StrCat("height: must be above the next block ", next, ", got ", plan.height(),
                     " (the SDK refuses an upgrade scheduled in the past)"));
  }
  upgrade_plans_.emplace_back(next, std::move(plan));
  return absl::OkStatus();
}

void AddUpgradePlanRoute(net::HttpServer* server, CosmosApp* app) {
  server->Handle("POST", "/devchain/upgrade_plan", [app](const net::HttpRequest& r) {
    auto error = [](absl::string_view message) {
      return net::HttpResponse::Json(400, absl::StrCat("{\"error\":", JsonQuote(message), "}"));
    };
    ::cosmos::upgrade::v1beta1::Plan plan;
    auto parsed = google::protobuf::util::JsonStringToMessage(r.body, &plan);
    if (!parsed.ok()) {
      return error(
          absl::StrCat("body: not an upgrade Plan JSON object: ", std::string(parsed.message())));
    }
    const std::string name = plan.name();
    const int64_t height = plan.height();
    if (absl::Status s = app->ScheduleUpgradePlan(std::move(plan)); !s.ok()) {
      return error(s.message());
    }
    return net::HttpResponse::Json(
        200, absl::StrCat("{\"name\":", JsonQuote(name), ",\"height\":\"", height, "\"}"));
  });
}

void AddPartialUpgradeRoute(net::HttpServer* server, CosmosApp* app) {
  server->Handle("POST", "/devchain/partial_upgrade", [app](const net::HttpRequest& r) {
    auto error = [](absl::string_view message) {
      return net::HttpResponse::Json(400, absl::StrCat("{\"error\":", JsonQuote(message), "}"));
    };
    ::inference::inference::PartialUpgrade upgrade;
    auto parsed = google::protobuf::util::JsonStringToMessage(r.body, &upgrade);
    if (!parsed.ok()) {
      return error(
          absl::StrCat("body: not a PartialUpgrade JSON object: ", std::string(parsed.message())));
    }
    if (upgrade.height() == 0) return error("height: required, a block height");
    absl::StatusOr<::inference::inference::PartialUpgrade> stored =
        app->AddPartialUpgrade(std::move(upgrade));
    if (!stored.ok()) return error(stored.status().message());
    return net::HttpResponse::Json(200, absl::StrCat("{\"name\":", JsonQuote(stored->name()),
                                                     ",\"height\":\"", stored->height(), "\"}"));
  });
}

uint64_t CosmosApp::RecordCount(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = committed_.records.find(std::string(key));
  return it == committed_.records.end() ? 0 : it->second;
}

absl::uint128 CosmosApp::Balance(absl::string_view address, absl::string_view denom) const {
  absl::MutexLock lock(&mu_);
  auto it = committed_.accounts.find(std::string(address));
  if (it == committed_.accounts.end()) return 0;
  auto b = it->second.balances.find(std::string(denom));
  return b == it->second.balances.end() ? 0 : b->second;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> CosmosApp::Account(absl::string_view address) const {
  absl::MutexLock lock(&mu_);
  auto it = committed_.accounts.find(std::string(address));
  if (it == committed_.accounts.end()) {
    return absl::NotFoundError(absl::StrCat("account ", address, " not found"));
  }
  return std::make_pair(it->second.number, it->second.sequence);
}

}  // namespace devchain
}  // namespace gonka
