// devchain's governance subset: cosmos.gov.v1.MsgSubmitProposal carrying Gonka's
// MsgRegisterModel (edge-srv's POST /admin/v1/models), recorded and answered by
// /cosmos.gov.v1.Query/Proposal (docs/devchain.md, "Governance proposals").
//
// Contract:
//   - ApplySubmitProposal runs after the ante handler and the signer/authz checks (the signer is
//     `proposer`, SignerOf): it refuses (codespace "gov", devchain's own codes) a proposal without
//     messages, with a message other than MsgRegisterModel, or whose MsgRegisterModel's authority
//     is not the gov module account `gov_authority`, or has an empty id; otherwise it stores the
//     proposal under the next id (1, 2, ...) in PROPOSAL_STATUS_VOTING_PERIOD with total_deposit =
//     initial_deposit, emits `submit_proposal{proposal_id, proposal_messages}` and sets
//     `*proposal_id`. Nothing else of x/gov: the deposit is not escrowed, there is no vote, no
//     tally, and the model is never registered.
//   - QueryProposal answers from the committed state: the proposal, or code 2 ("gov") when
//     unknown. An undecodable request is sdk 18.
//
// Thread-safety: plain functions over caller-owned state; CosmosApp calls them under its lock.
#ifndef GONKA_DEVCHAIN_GOV_PROPOSALS_H_
#define GONKA_DEVCHAIN_GOV_PROPOSALS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/types.h"
#include "google/protobuf/any.pb.h"

namespace gonka {
namespace devchain {

inline constexpr char kMsgSubmitProposal[] = "/cosmos.gov.v1.MsgSubmitProposal";

struct GovProposalState {
  uint64_t last_id = 0;
  // proposal id → the serialized cosmos.gov.v1.Proposal.
  std::map<uint64_t, std::string> proposals;
};

// The gov module account's address under `prefix`: bech32 of the first 20 bytes of
// SHA-256("gov") (the SDK's authtypes.NewModuleAddress).
absl::StatusOr<std::string> GovModuleAddress(absl::string_view prefix);

// The proposer of a MsgSubmitProposal ("" when it does not decode).
std::string ProposalSigner(const google::protobuf::Any& msg);

// Applies `msg`; nullopt on success (`*proposal_id` set, events appended), else the refusal.
std::optional<TxResult> ApplySubmitProposal(const google::protobuf::Any& msg,
                                            const std::string& gov_authority,
                                            GovProposalState* state, std::vector<Event>* events,
                                            uint64_t* proposal_id);

// True for "/cosmos.gov.v1.Query/Proposal".
bool HandlesGovQuery(absl::string_view path);
TxExecutor::QueryResult QueryProposal(absl::string_view data, const GovProposalState& state);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_GOV_PROPOSALS_H_
