#include "gonka/cosmos/tx_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/cosmos/authz/v1beta1/authz.pb.h"
#include "gonka/proto/cosmos/authz/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/feegrant/v1beta1/feegrant.pb.h"
#include "gonka/proto/cosmos/tx/signing/v1beta1/signing.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace gonka::cosmos {
namespace {

constexpr absl::string_view kPubKeyTypeUrl = "/cosmos.crypto.secp256k1.PubKey";

bool IsDenomChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' || c == ':' || c == '.' ||
         c == '_' || c == '-';
}

absl::Status ValidateAddress(absl::string_view address, absl::string_view what) {
  absl::StatusOr<std::string> raw = crypto::DecodeAddress(address, "");
  if (!raw.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", raw.status().message()));
  }
  return absl::OkStatus();
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

// Appends a base-128 varint.
void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Appends a length-delimited field (tag = field << 3 | 2) unless `bytes` is empty (proto3
// omits empty bytes/strings).
void PutBytesField(uint32_t field, absl::string_view bytes, std::string* out) {
  if (bytes.empty()) return;
  PutVarint((field << 3) | 2, out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

size_t BytesFieldSize(absl::string_view bytes) {
  return bytes.empty() ? 0 : 1 + VarintSize(bytes.size()) + bytes.size();
}

// SignDoc and TxRaw only concatenate bytes that are already serialized, so they are written
// directly (same bytes as protobuf would produce: ascending field numbers, empty fields and a
// zero account number omitted) instead of copying every buffer into a message first; on the
// signing hot path this saves two copies of the body and auth info per tx.
std::string EncodeSignDoc(absl::string_view body_bytes, absl::string_view auth_info_bytes,
                          absl::string_view chain_id, uint64_t account_number) {
  std::string out;
  out.reserve(BytesFieldSize(body_bytes) + BytesFieldSize(auth_info_bytes) +
              BytesFieldSize(chain_id) + 1 + VarintSize(account_number));
  PutBytesField(1, body_bytes, &out);
  PutBytesField(2, auth_info_bytes, &out);
  PutBytesField(3, chain_id, &out);
  if (account_number != 0) {
    out.push_back(0x20);  // field 4, varint
    PutVarint(account_number, &out);
  }
  return out;
}

// Any{1: type_url, 2: value} as a length-delimited field `field` of the enclosing message.
void PutAnyField(uint32_t field, absl::string_view type_url, absl::string_view value,
                 std::string* out) {
  PutVarint((field << 3) | 2, out);
  PutVarint(BytesFieldSize(type_url) + BytesFieldSize(value), out);
  PutBytesField(1, type_url, out);
  PutBytesField(2, value, out);
}

// A set sub-message is always written, even when empty (tag + length 0).
void PutMessageField(uint32_t field, absl::string_view encoded, std::string* out) {
  PutVarint((field << 3) | 2, out);
  PutVarint(encoded.size(), out);
  out->append(encoded.data(), encoded.size());
}

void PutVarintField(uint32_t field, uint64_t value, std::string* out) {
  if (value == 0) return;
  PutVarint(field << 3, out);
  PutVarint(value, out);
}

}  // namespace

std::string SerializeDeterministic(const google::protobuf::Message& msg) {
  std::string out;
  const size_t size = msg.ByteSizeLong();
  out.resize(size);
  google::protobuf::io::ArrayOutputStream array(out.data(), static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  msg.SerializeWithCachedSizes(&coded);
  return out;
}

google::protobuf::Any PackAny(const google::protobuf::Message& msg) {
  google::protobuf::Any any;
  any.set_type_url(absl::StrCat("/", msg.GetDescriptor()->full_name()));
  any.set_value(SerializeDeterministic(msg));
  return any;
}

::cosmos::bank::v1beta1::MsgSend MakeMsgSend(absl::string_view from, absl::string_view to,
                                             const std::vector<Coin>& amount) {
  ::cosmos::bank::v1beta1::MsgSend msg;
  msg.set_from_address(std::string(from));
  msg.set_to_address(std::string(to));
  for (const Coin& c : amount) {
    auto* coin = msg.add_amount();
    coin->set_denom(c.denom);
    coin->set_amount(c.amount);
  }
  return msg;
}

::cosmos::authz::v1beta1::MsgGrant MakeGenericGrant(absl::string_view granter,
                                                    absl::string_view grantee,
                                                    absl::string_view msg_type_url,
                                                    std::optional<absl::Time> expiration) {
  ::cosmos::authz::v1beta1::MsgGrant msg;
  msg.set_granter(std::string(granter));
  msg.set_grantee(std::string(grantee));
  ::cosmos::authz::v1beta1::GenericAuthorization auth;
  auth.set_msg(std::string(msg_type_url));
  // Grant is non-nullable in the SDK (gogoproto): always present, even when empty.
  ::cosmos::authz::v1beta1::Grant* grant = msg.mutable_grant();
  *grant->mutable_authorization() = PackAny(auth);
  if (expiration.has_value()) SetTimestamp(*expiration, grant->mutable_expiration());
  return msg;
}

::cosmos::feegrant::v1beta1::MsgGrantAllowance MakeFeeAllowance(
    absl::string_view granter, absl::string_view grantee, const std::vector<Coin>& spend_limit,
    const std::vector<std::string>& allowed_messages, std::optional<absl::Time> expiration) {
  ::cosmos::feegrant::v1beta1::BasicAllowance basic;
  for (const Coin& c : spend_limit) {
    auto* coin = basic.add_spend_limit();
    coin->set_denom(c.denom);
    coin->set_amount(c.amount);
  }
  if (expiration.has_value()) SetTimestamp(*expiration, basic.mutable_expiration());
  ::cosmos::feegrant::v1beta1::MsgGrantAllowance msg;
  msg.set_granter(std::string(granter));
  msg.set_grantee(std::string(grantee));
  if (allowed_messages.empty()) {
    *msg.mutable_allowance() = PackAny(basic);
  } else {
    ::cosmos::feegrant::v1beta1::AllowedMsgAllowance allowed;
    *allowed.mutable_allowance() = PackAny(basic);
    for (const std::string& m : allowed_messages) allowed.add_allowed_messages(m);
    *msg.mutable_allowance() = PackAny(allowed);
  }
  return msg;
}

absl::Status ValidateCoin(const Coin& coin, absl::string_view what) {
  const std::string shown = absl::StrCat("\"", coin.amount, coin.denom, "\"");
  const absl::string_view d = coin.denom;
  if (d.size() < 3 || d.size() > 128 || !absl::ascii_isalpha(static_cast<unsigned char>(d[0])) ||
      !std::all_of(d.begin(), d.end(), IsDenomChar)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " coin ", shown, ": invalid denom \"", d,
                                                   "\" (want [a-zA-Z][a-zA-Z0-9/:._-]{2,127})"));
  }
  const absl::string_view a = coin.amount;
  if (a.empty() || !std::all_of(a.begin(), a.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " coin ", shown, ": amount must be a decimal integer"));
  }
  if (a[0] == '0') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " coin ", shown, ": amount must be positive, without leading zeros"));
  }
  if (a.size() > 78) {  // sdk.Int is at most 256 bits
    return absl::InvalidArgumentError(absl::StrCat(what, " coin ", shown, ": amount too large"));
  }
  return absl::OkStatus();
}

TxBuilder& TxBuilder::AddMessage(const google::protobuf::Message& msg) {
  messages_.push_back(PackAny(msg));
  return *this;
}

TxBuilder& TxBuilder::AddAny(google::protobuf::Any any) {
  messages_.push_back(std::move(any));
  return *this;
}

TxBuilder& TxBuilder::WrapInExec(std::string grantee) {
  exec_grantee_ = std::move(grantee);
  return *this;
}

TxBuilder& TxBuilder::SetMemo(std::string memo) {
  memo_ = std::move(memo);
  return *this;
}

TxBuilder& TxBuilder::SetFee(Fee fee) {
  fee_ = std::move(fee);
  return *this;
}

TxBuilder& TxBuilder::SetTimeoutHeight(uint64_t height) {
  timeout_height_ = height;
  return *this;
}

TxBuilder& TxBuilder::SetUnordered(absl::Time timeout) {
  unordered_ = true;
  timeout_timestamp_ = timeout;
  return *this;
}

TxBuilder& TxBuilder::SetTimeoutTimestamp(absl::Time timeout) {
  timeout_timestamp_ = timeout;
  return *this;
}

TxBuilder& TxBuilder::SetChainId(std::string chain_id) {
  chain_id_ = std::move(chain_id);
  return *this;
}

TxBuilder& TxBuilder::SetAccountNumber(uint64_t account_number) {
  account_number_ = account_number;
  return *this;
}

TxBuilder& TxBuilder::SetSequence(uint64_t sequence) {
  sequence_ = sequence;
  return *this;
}

absl::StatusOr<SignPayload> TxBuilder::Build(const crypto::PublicKey& public_key) const {
  if (messages_.empty()) {
    return absl::InvalidArgumentError("tx: message list is empty (need at least one message)");
  }
  if (chain_id_.empty()) return absl::InvalidArgumentError("tx: chain id is empty");
  if (unordered_ && sequence_ != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tx: unordered transactions must have sequence 0, got ", sequence_));
  }
  if (unordered_ &&
      (!timeout_timestamp_.has_value() || absl::ToUnixNanos(*timeout_timestamp_) <= 0)) {
    return absl::InvalidArgumentError(
        "tx: unordered transactions need a timeout_timestamp after 1970-01-01");
  }
  for (size_t i = 0; i < fee_.amount.size(); ++i) {
    absl::Status st = ValidateCoin(fee_.amount[i], "fee");
    if (!st.ok()) return st;
    if (i > 0 && fee_.amount[i - 1].denom >= fee_.amount[i].denom) {
      return absl::InvalidArgumentError(
          absl::StrCat("fee coins must be sorted by denom without duplicates: \"",
                       fee_.amount[i - 1].denom, "\" then \"", fee_.amount[i].denom, "\""));
    }
  }
  if (!fee_.payer.empty()) {
    absl::Status st = ValidateAddress(fee_.payer, "fee payer");
    if (!st.ok()) return st;
  }
  if (!fee_.granter.empty()) {
    absl::Status st = ValidateAddress(fee_.granter, "fee granter");
    if (!st.ok()) return st;
  }

  // TxBody is written directly: its fields are the already-serialized messages plus scalars, and
  // copying every Any into a TxBody (and again into a MsgExec) costs more than the encoding.
  // Same bytes as protobuf/gogoproto: ascending field numbers, proto3 defaults omitted, a set
  // timeout_timestamp always present (the SDK's nullable stdtime). The CosmJS vectors and the
  // randomized differential test check this byte for byte.
  std::string body;
  body.reserve(256);
  if (exec_grantee_.empty()) {
    for (const google::protobuf::Any& any : messages_) {
      PutAnyField(1, any.type_url(), any.value(), &body);
    }
  } else {
    absl::Status st = ValidateAddress(exec_grantee_, "MsgExec grantee");
    if (!st.ok()) return st;
    // MsgExec{1: grantee, 2: repeated Any msgs}.
    std::string exec;
    PutBytesField(1, exec_grantee_, &exec);
    for (const google::protobuf::Any& any : messages_) {
      PutAnyField(2, any.type_url(), any.value(), &exec);
    }
    PutAnyField(1, "/cosmos.authz.v1beta1.MsgExec", exec, &body);
  }
  PutBytesField(2, memo_, &body);
  PutVarintField(3, timeout_height_, &body);
  PutVarintField(4, unordered_ ? 1 : 0, &body);
  if (timeout_timestamp_.has_value()) {
    google::protobuf::Timestamp ts;
    SetTimestamp(*timeout_timestamp_, &ts);
    std::string encoded;
    // int64 seconds and int32 nanos are varints of their two's complement (10 bytes if < 0).
    PutVarintField(1, static_cast<uint64_t>(ts.seconds()), &encoded);
    PutVarintField(2, static_cast<uint64_t>(static_cast<int64_t>(ts.nanos())), &encoded);
    body.push_back(0x2a);  // field 5, length-delimited
    PutVarint(encoded.size(), &body);
    body.append(encoded);
  }

  // AuthInfo{1: SignerInfo{1: Any(PubKey{1: key}), 2: ModeInfo{1: Single{1: DIRECT}},
  // 3: sequence}, 2: Fee{1: Coin*, 2: gas_limit, 3: payer, 4: granter}}, written directly for
  // the same reason as TxBody. Fee is always present (CosmJS and the SDK always set it).
  std::string pub_key;
  PutBytesField(1, public_key.view(), &pub_key);
  std::string signer;
  PutAnyField(1, kPubKeyTypeUrl, pub_key, &signer);
  // ModeInfo{single{mode: SIGN_MODE_DIRECT}} = 0a 02 08 01.
  static constexpr char kDirectModeInfo[] = {0x0a, 0x02, 0x08,
                                             ::cosmos::tx::signing::v1beta1::SIGN_MODE_DIRECT};
  PutMessageField(2, absl::string_view(kDirectModeInfo, sizeof(kDirectModeInfo)), &signer);
  PutVarintField(3, unordered_ ? 0 : sequence_, &signer);
  std::string fee;
  for (const Coin& c : fee_.amount) {
    std::string coin;
    PutBytesField(1, c.denom, &coin);
    PutBytesField(2, c.amount, &coin);
    PutMessageField(1, coin, &fee);
  }
  PutVarintField(2, fee_.gas_limit, &fee);
  PutBytesField(3, fee_.payer, &fee);
  PutBytesField(4, fee_.granter, &fee);
  std::string auth_info;
  auth_info.reserve(signer.size() + fee.size() + 8);
  PutMessageField(1, signer, &auth_info);
  PutMessageField(2, fee, &auth_info);

  SignPayload out;
  out.body_bytes = std::move(body);
  out.auth_info_bytes = std::move(auth_info);
  out.sign_bytes = EncodeSignDoc(out.body_bytes, out.auth_info_bytes, chain_id_, account_number_);
  return out;
}

absl::StatusOr<SignedTx> TxBuilder::Sign(const crypto::SigningKey& key) const {
  return Sign(key.private_key());
}

absl::StatusOr<SignedTx> TxBuilder::Sign(const crypto::PrivateKey& key) const {
  absl::StatusOr<SignPayload> payload = Build(key.public_key());
  if (!payload.ok()) return payload.status();
  SignedTx out;
  out.body_bytes = std::move(payload->body_bytes);
  out.auth_info_bytes = std::move(payload->auth_info_bytes);
  out.sign_bytes = std::move(payload->sign_bytes);
  out.signature = key.Sign(crypto::Sha256(out.sign_bytes));
  out.tx_raw = EncodeTxRaw(out.body_bytes, out.auth_info_bytes,
                           {std::string(crypto::AsStringView(out.signature))});
  out.hash = TxHash(out.tx_raw);
  return out;
}

std::string EncodeTxRaw(absl::string_view body_bytes, absl::string_view auth_info_bytes,
                        const std::vector<std::string>& signatures) {
  size_t size = BytesFieldSize(body_bytes) + BytesFieldSize(auth_info_bytes);
  for (const std::string& sig : signatures) size += 1 + VarintSize(sig.size()) + sig.size();
  std::string out;
  out.reserve(size);
  PutBytesField(1, body_bytes, &out);
  PutBytesField(2, auth_info_bytes, &out);
  // Repeated bytes: every element is written, even an empty one.
  for (const std::string& sig : signatures) {
    out.push_back(0x1a);
    PutVarint(sig.size(), &out);
    out.append(sig);
  }
  return out;
}

std::string TxHash(absl::string_view tx_raw) {
  return crypto::HexEncodeUpper(crypto::AsStringView(crypto::Sha256(tx_raw)));
}

}  // namespace gonka::cosmos
