#include "gonka/signer/sequencer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/proto/cosmos/auth/v1beta1/auth.pb.h"

namespace gonka {
namespace signer {

absl::StatusOr<AccountInfo> QueryAccount(chain::CometClient& comet, const std::string& address) {
  ::cosmos::auth::v1beta1::QueryAccountRequest request;
  request.set_address(address);
  absl::StatusOr<chain::AbciQueryResponse> q =
      comet.AbciQuery("/cosmos.auth.v1beta1.Query/Account", request.SerializeAsString());
  if (!q.ok()) {
    return absl::UnavailableError(
        absl::StrCat("account query for ", address, ": ", q.status().message()));
  }
  if (q->code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the signing key's account ", address, " is unknown to the chain (",
                     q->codespace, " ", q->code, ": ", q->log, "): fund it or grant it first"));
  }
  ::cosmos::auth::v1beta1::QueryAccountResponse response;
  ::cosmos::auth::v1beta1::BaseAccount account;
  if (!response.ParseFromString(q->value) || !account.ParseFromString(response.account().value())) {
    return absl::InternalError(
        absl::StrCat("account query for ", address, ": cannot decode the answer"));
  }
  return AccountInfo{account.account_number(), account.sequence(), q->height};
}

Sequencer::Sequencer(election::LeaderElector* lease, Ledger* ledger, chain::CometClient* comet,
                     std::string account)
    : lease_(lease), ledger_(ledger), comet_(comet), account_(std::move(account)) {}

bool Sequencer::HoldsLease() const { return lease_->IsLeader(); }

void Sequencer::Resync() { resync_requested_ = true; }

absl::StatusOr<uint64_t> Sequencer::ChainSequence() {
  ASSIGN_OR_RETURN(AccountInfo info, QueryAccount(*comet_, account_));
  return info.sequence;
}

// Returns with mu_ held exactly when it returns a Slot (which unlocks it when destroyed): a
// hand-off -Wthread-safety cannot express, so the analysis is off for this function and ~Slot.
absl::StatusOr<std::unique_ptr<Sequencer::Slot>> Sequencer::Acquire()
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu_.Lock();
  absl::StatusOr<std::unique_ptr<Slot>> slot = AcquireLocked();
  if (!slot.ok()) mu_.Unlock();
  return slot;
}

absl::StatusOr<std::unique_ptr<Sequencer::Slot>> Sequencer::AcquireLocked() {
  const election::FencingToken token = lease_->Token();
  if (token == 0 || !lease_->IsLeader()) {
    synced_token_ = 0;
    return absl::UnavailableError(absl::StrCat("lease lost: not the sequence owner of ", account_));
  }
  if (resync_requested_.exchange(false)) synced_token_ = 0;
  if (synced_token_ != token) {
    // Fence first, then read: once the fence holds our token no earlier holder can record a
    // tx, so the sequence we read cannot be taken by a zombie's new record afterwards.
    RETURN_IF_ERROR(ledger_->RaiseFence(account_, token));
    ASSIGN_OR_RETURN(AccountInfo info, QueryAccount(*comet_, account_));
    GONKA_LOG_INFO("signer: sequence read from chain", {"account", account_},
                   {"sequence", info.sequence}, {"fencing_token", token},
                   {"reason", synced_token_ == 0 ? "resync" : "new lease"});
    next_ = info.sequence;
    synced_token_ = token;
  }
  return std::unique_ptr<Slot>(new Slot(this, token, next_));
}

Sequencer::Slot::~Slot() ABSL_NO_THREAD_SAFETY_ANALYSIS { owner_->mu_.Unlock(); }

bool Sequencer::Slot::StillHolds() const {
  return owner_->lease_->IsLeader() && owner_->lease_->Token() == token_;
}

void Sequencer::Slot::Consumed() {
  owner_->mu_.AssertHeld();
  if (owner_->synced_token_ == token_) owner_->next_ = std::max(owner_->next_, sequence_ + 1);
}

void Sequencer::Slot::Observed(uint64_t sequence) {
  owner_->mu_.AssertHeld();
  if (owner_->synced_token_ == token_) owner_->next_ = std::max(owner_->next_, sequence + 1);
}

void Sequencer::Slot::Resync() {
  owner_->mu_.AssertHeld();
  owner_->synced_token_ = 0;
}

}  // namespace signer
}  // namespace gonka
