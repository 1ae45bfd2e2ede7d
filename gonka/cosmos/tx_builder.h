// Cosmos SDK transactions for SIGN_MODE_DIRECT: build, sign, encode and hash, byte-for-byte as
// the Go SDK and CosmJS do (checked against CosmJS-generated vectors in testdata/cosmjs/).
//
// Contract:
// - Messages are packed as google.protobuf.Any ("/" + full message name, deterministic bytes).
// - Serialisation writes fields in field-number order and omits proto3 defaults (0, false, "",
//   unset messages), exactly as gogoproto and ts-proto do: an account number or sequence of 0, an
//   empty memo and an unset timeout vanish from the bytes.
// - Unordered transactions (ADR-070, how the Gonka node sends): TxBody.unordered = true, a
//   timeout_timestamp, and SignerInfo.sequence 0. Sequenced ones carry the account sequence.
// - WrapInExec(grantee) turns the messages into one authz MsgExec signed by the grantee.
// - Sign() returns InvalidArgument naming the offending input for: no messages, a fee coin with a
//   bad denom or amount (or unsorted/duplicate denoms), a bad bech32 payer/granter/grantee, an
//   empty chain id, unordered without a timeout or with a non-zero sequence. Never a secret.
//
//   TxBuilder tx;
//   tx.AddMessage(MakeMsgSend(from, to, {{"ngonka", "1000"}}))
//     .WrapInExec(grantee_address)
//     .SetFee({{}, 1'000'000'000, "", granter_address})
//     .SetUnordered(absl::Now() + absl::Seconds(60))
//     .SetChainId("gonka-mainnet").SetAccountNumber(42);
//   ASSIGN_OR_RETURN(SignedTx signed_tx, tx.Sign(key));   // signed_tx.tx_raw, signed_tx.hash
//
// Thread-safety: a TxBuilder is a value; concurrent const calls (Build, Sign) are safe.
#ifndef GONKA_COSMOS_TX_BUILDER_H_
#define GONKA_COSMOS_TX_BUILDER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/crypto/key.h"
#include "gonka/crypto/secp256k1.h"
#include "gonka/proto/cosmos/authz/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/bank/v1beta1/tx.pb.h"
#include "gonka/proto/cosmos/feegrant/v1beta1/tx.pb.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message.h"

namespace gonka::cosmos {

struct Coin {
  std::string denom;
  std::string amount;  // decimal integer, e.g. "1000"
};

struct Fee {
  std::vector<Coin> amount;  // sorted by denom, positive amounts; may be empty
  uint64_t gas_limit = 0;
  std::string payer;    // bech32 or empty
  std::string granter;  // bech32 or empty: the fee is paid from granter's x/feegrant allowance
};

// Any{type_url = "/" + full name, value = deterministic bytes of `msg`}.
google::protobuf::Any PackAny(const google::protobuf::Message& msg);

// Deterministic serialisation (field order, defaults omitted), as the Go SDK.
std::string SerializeDeterministic(const google::protobuf::Message& msg);

// cosmos.bank.v1beta1.MsgSend.
::cosmos::bank::v1beta1::MsgSend MakeMsgSend(absl::string_view from, absl::string_view to,
                                             const std::vector<Coin>& amount);

// cosmos.authz.v1beta1.MsgGrant of a GenericAuthorization for `msg_type_url` (e.g.
// "/cosmos.bank.v1beta1.MsgSend"); no expiration when `expiration` is empty.
::cosmos::authz::v1beta1::MsgGrant MakeGenericGrant(absl::string_view granter,
                                                    absl::string_view grantee,
                                                    absl::string_view msg_type_url,
                                                    std::optional<absl::Time> expiration = {});

// cosmos.feegrant.v1beta1.MsgGrantAllowance of a BasicAllowance (empty `spend_limit` =
// unlimited), wrapped in an AllowedMsgAllowance when `allowed_messages` is not empty.
::cosmos::feegrant::v1beta1::MsgGrantAllowance MakeFeeAllowance(
    absl::string_view granter, absl::string_view grantee, const std::vector<Coin>& spend_limit,
    const std::vector<std::string>& allowed_messages = {},
    std::optional<absl::Time> expiration = {});

// Checks a coin the way sdk.Coin.Validate does: denom [a-zA-Z][a-zA-Z0-9/:._-]{2,127}, amount a
// positive decimal integer without sign or leading zeros. InvalidArgument naming `what` and coin.
absl::Status ValidateCoin(const Coin& coin, absl::string_view what);

// The pieces of a signed transaction.
struct SignedTx {
  std::string body_bytes;       // serialized TxBody
  std::string auth_info_bytes;  // serialized AuthInfo
  std::string sign_bytes;       // serialized SignDoc (what was signed, after SHA-256)
  crypto::Signature signature;  // 64 bytes r||s, low-S
  std::string tx_raw;           // serialized TxRaw: broadcast these bytes
  std::string hash;             // uppercase hex SHA-256(tx_raw): the CometBFT tx hash
};

// The unsigned pieces: what every signer signs.
struct SignPayload {
  std::string body_bytes;
  std::string auth_info_bytes;
  std::string sign_bytes;
};

class TxBuilder {
 public:
  TxBuilder() = default;

  // Appends a message (packed as Any) / an already packed Any.
  TxBuilder& AddMessage(const google::protobuf::Message& msg);
  TxBuilder& AddAny(google::protobuf::Any any);
  // Wraps all messages added so far and later into one cosmos.authz.v1beta1.MsgExec whose
  // grantee (the signer) is `grantee`. Empty `grantee` turns wrapping off.
  TxBuilder& WrapInExec(std::string grantee);
  TxBuilder& SetMemo(std::string memo);
  TxBuilder& SetFee(Fee fee);
  // Block height after which the tx is invalid; 0 = none.
  TxBuilder& SetTimeoutHeight(uint64_t height);
  // Sets unordered = true and timeout_timestamp (nanosecond precision; each unordered tx of one
  // signer needs a distinct timeout). Forces SignerInfo.sequence to be 0.
  TxBuilder& SetUnordered(absl::Time timeout);
  // A timeout_timestamp on an ordered tx (SDK >= 0.53), without unordered.
  TxBuilder& SetTimeoutTimestamp(absl::Time timeout);
  TxBuilder& SetChainId(std::string chain_id);
  TxBuilder& SetAccountNumber(uint64_t account_number);
  // Account sequence of a sequenced tx; must stay 0 for unordered ones.
  TxBuilder& SetSequence(uint64_t sequence);

  // body, auth info (with `public_key` as the only signer) and SignDoc bytes.
  absl::StatusOr<SignPayload> Build(const crypto::PublicKey& public_key) const;

  // Build + sign with SIGN_MODE_DIRECT + TxRaw + hash.
  absl::StatusOr<SignedTx> Sign(const crypto::SigningKey& key) const;
  absl::StatusOr<SignedTx> Sign(const crypto::PrivateKey& key) const;

 private:
  std::vector<google::protobuf::Any> messages_;
  std::string exec_grantee_;
  std::string memo_;
  Fee fee_;
  uint64_t timeout_height_ = 0;
  bool unordered_ = false;
  std::optional<absl::Time> timeout_timestamp_;
  std::string chain_id_;
  uint64_t account_number_ = 0;
  uint64_t sequence_ = 0;
};

// Assembles TxRaw from already-signed parts (as the verifier sees them) and returns its bytes.
std::string EncodeTxRaw(absl::string_view body_bytes, absl::string_view auth_info_bytes,
                        const std::vector<std::string>& signatures);

// Uppercase hex SHA-256 of TxRaw bytes (CometBFT HexBytes form).
std::string TxHash(absl::string_view tx_raw);

}  // namespace gonka::cosmos

#endif  // GONKA_COSMOS_TX_BUILDER_H_
