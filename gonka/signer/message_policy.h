// MessagePolicy: the message types a signer is allowed to sign. Anything else is refused before a
// signature exists: the signer dead-letters it with reason "type_not_allowed" and marks its ledger
// row failed; signerd's HTTP enqueue answers 403 naming the type.
//
// Entries are exact type URLs ("/inference.inference.MsgClaimRewards") or a package wildcard
// ("/inference.inference.*": every message of that package). Messages of the modules that move or
// delegate funds or authority — bank, authz, feegrant, staking, distribution, gov — are refused by
// any wildcard: they are signed only when listed by their exact type URL. Without an exec granter
// such a message would spend the warm account's own funds or hand out its authority; with one, the
// cold account's grants still limit it, but the signer does not rely on that.
//
// The default (Gonka()) is the set of messages a Gonka node's warm key sends: the inference and BLS
// messages of docs/reference/gonka.md ("Messages the warm key sends").
//
// Example:
//   ASSIGN_OR_RETURN(signer::MessagePolicy policy,
//                    signer::MessagePolicy::Parse("/inference.inference.*,/inference.bls.*"));
//   if (absl::Status s = policy.Check(tx); !s.ok()) { ... }  // PermissionDenied naming the type
//
// Thread-safety: immutable after construction; Check is thread-safe.
#ifndef GONKA_SIGNER_MESSAGE_POLICY_H_
#define GONKA_SIGNER_MESSAGE_POLICY_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

class MessagePolicy {
 public:
  // The Gonka warm key's messages (the default of SignerOptions and of signerd).
  static MessagePolicy Gonka();
  // Every type allowed (tests and tools that sign arbitrary messages on purpose; never a daemon's
  // default).
  static MessagePolicy AllowAll();
  // Exactly these entries (type URLs or "/package.*" wildcards).
  static absl::StatusOr<MessagePolicy> Of(const std::vector<std::string>& entries);
  // A comma-separated list as --allowed-msg-types takes it; "gonka" stands for Gonka()'s entries.
  // InvalidArgument naming the entry that is not a type URL.
  static absl::StatusOr<MessagePolicy> Parse(absl::string_view list);

  // OK, or PermissionDenied: "message type /cosmos.bank.v1beta1.MsgSend (messages[0]) is not
  // allowed by this signer (--allowed-msg-types)".
  absl::Status Check(const txqueue::ChainTx& tx) const;
  bool Allows(absl::string_view type_url) const;

  // The entries, sorted (for logs and /v1/status).
  std::vector<std::string> entries() const;

 private:
  MessagePolicy() = default;
  bool allow_all_ = false;
  std::set<std::string, std::less<>> exact_;
  std::set<std::string, std::less<>>
      packages_;  // "/inference.inference." for "/inference.inference.*"
};

// Modules whose messages only an exact entry allows ("/cosmos.bank.", ...).
bool IsFundsOrAuthorityType(absl::string_view type_url);

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_MESSAGE_POLICY_H_
