#include "gonka/signer/message_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gonka {
namespace signer {
namespace {

// docs/reference/gonka.md, "Messages the warm key sends": what a Gonka node's decentralized-api
// signs with its warm (ML operations) key, and the generic authz grants the cold account gives it.
constexpr const char* kGonkaTypes[] = {
    // x/inference: inference, validation, PoC (v1 and v2), seed, rewards, registration, pricing,
    // bridge, hardware, training.
    "/inference.inference.MsgStartInference",
    "/inference.inference.MsgFinishInference",
    "/inference.inference.MsgValidation",
    "/inference.inference.MsgInvalidateInference",
    "/inference.inference.MsgRevalidateInference",
    "/inference.inference.MsgSubmitPocBatch",
    "/inference.inference.MsgSubmitPocValidation",
    "/inference.inference.MsgSubmitPocBatchesV2",
    "/inference.inference.MsgSubmitPocValidationsV2",
    "/inference.inference.MsgPoCV2StoreCommit",
    "/inference.inference.MsgMLNodeWeightDistribution",
    "/inference.inference.MsgSubmitPoCChallengeValidations",
    "/inference.inference.MsgPoCChallengeStoreCommit",
    "/inference.inference.MsgSubmitSeed",
    "/inference.inference.MsgClaimRewards",
    "/inference.inference.MsgSubmitNewParticipant",
    "/inference.inference.MsgSubmitNewUnfundedParticipant",
    "/inference.inference.MsgSubmitUnitOfComputePriceProposal",
    "/inference.inference.MsgBridgeExchange",
    "/inference.inference.MsgSubmitHardwareDiff",
    "/inference.inference.MsgCreateTrainingTask",
    "/inference.inference.MsgClaimTrainingTaskForAssignment",
    "/inference.inference.MsgAssignTrainingTask",
    "/inference.inference.MsgSubmitTrainingKvRecord",
    "/inference.inference.MsgJoinTraining",
    "/inference.inference.MsgJoinTrainingStatus",
    "/inference.inference.MsgTrainingHeartbeat",
    "/inference.inference.MsgSetBarrier",
    // x/bls: the distributed key generation and threshold signing rounds.
    "/inference.bls.MsgSubmitDealerPart",
    "/inference.bls.MsgRespondDealerComplaints",
    "/inference.bls.MsgSubmitVerificationVector",
    "/inference.bls.MsgSubmitGroupKeyValidationSignature",
    "/inference.bls.MsgSubmitPartialSignature",
    "/inference.bls.MsgRequestThresholdSignature",
};

constexpr const char* kFundsOrAuthorityPackages[] = {
    "/cosmos.bank.",    "/cosmos.authz.",        "/cosmos.feegrant.",
    "/cosmos.staking.", "/cosmos.distribution.", "/cosmos.gov.",
};

// "/a.b.MsgX": a leading slash, then dot-separated identifiers.
bool IsTypeUrl(absl::string_view s) {
  if (!absl::ConsumePrefix(&s, "/") || s.empty()) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (part.empty()) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    }
  }
  return true;
}

}  // namespace

bool IsFundsOrAuthorityType(absl::string_view type_url) {
  for (const char* p : kFundsOrAuthorityPackages) {
    if (absl::StartsWith(type_url, p)) return true;
  }
  return false;
}

MessagePolicy MessagePolicy::Gonka() {
  MessagePolicy p;
  for (const char* t : kGonkaTypes) p.exact_.insert(t);
  return p;
}

MessagePolicy MessagePolicy::AllowAll() {
  MessagePolicy p;
  p.allow_all_ = true;
  return p;
}

absl::StatusOr<MessagePolicy> MessagePolicy::Of(const std::vector<std::string>& entries) {
  MessagePolicy p;
  for (const std::string& raw : entries) {
    absl::string_view e = absl::StripAsciiWhitespace(raw);
    if (e.empty()) continue;
    if (e == "gonka") {
      for (const char* t : kGonkaTypes) p.exact_.insert(t);
      continue;
    }
    absl::string_view package = e;
    if (absl::ConsumeSuffix(&package, ".*")) {
      if (!IsTypeUrl(package)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", e, "\" is not a package wildcard like /inference.inference.*"));
      }
      p.packages_.insert(absl::StrCat(package, "."));
      continue;
    }
    if (!IsTypeUrl(e)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", e, "\" is not a message type URL like /inference.inference.MsgClaimRewards"));
    }
    p.exact_.insert(std::string(e));
  }
  if (p.exact_.empty() && p.packages_.empty()) {
    return absl::InvalidArgumentError("no message type allowed: the signer would sign nothing");
  }
  return p;
}

absl::StatusOr<MessagePolicy> MessagePolicy::Parse(absl::string_view list) {
  return Of(absl::StrSplit(list, ',', absl::SkipWhitespace()));
}

bool MessagePolicy::Allows(absl::string_view type_url) const {
  if (allow_all_) return true;
  if (exact_.find(type_url) != exact_.end()) return true;
  if (IsFundsOrAuthorityType(type_url)) return false;  // only an exact entry allows these
  for (const std::string& p : packages_) {
    if (absl::StartsWith(type_url, p)) return true;
  }
  return false;
}

absl::Status MessagePolicy::Check(const txqueue::ChainTx& tx) const {
  for (int i = 0; i < tx.messages_size(); ++i) {
    const std::string& t = tx.messages(i).type_url();
    if (!Allows(t)) {
      return absl::PermissionDeniedError(
          absl::StrCat("message type ", t, " (messages[", i,
                       "]) is not allowed by this signer (--allowed-msg-types)"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> MessagePolicy::entries() const {
  if (allow_all_) return {"*"};
  std::vector<std::string> out(exact_.begin(), exact_.end());
  for (const std::string& p : packages_) out.push_back(absl::StrCat(p, "*"));
  return out;
}

}  // namespace signer
}  // namespace gonka
