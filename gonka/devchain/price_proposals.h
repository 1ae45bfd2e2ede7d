// devchain's unit-of-compute price votes: MsgSubmitUnitOfComputePriceProposal stores the
// creator's latest proposal, and Query/GetUnitOfComputePriceProposal reads it back with the
// chain's default price, as Gonka's keeper (msg_server_submit_unit_of_compute_price_proposal.go,
// query_get_unit_of_compute_price_proposal.go; docs/edge-srv.md, "GET
// unit-of-compute-price-proposal").
//
// Contract:
//   - ApplyPriceProposal runs after the ante handler and the signer/authz checks: it records
//     {participant = creator, price, proposed_at_block_height = the block,
//     proposed_at_epoch = the effective epoch}, overwriting the creator's previous proposal
//     (Gonka: latest wins). An undecodable message is sdk 2.
//   - QueryPriceProposal answers from the committed state (whatever the queried height, like
//     devchain's other module queries): the participant's proposal (unset when none) and
//     `default_price`. An undecodable request is sdk 18.
//
// Thread-safety: plain functions over caller-owned state; CosmosApp calls them under its lock.
#ifndef GONKA_DEVCHAIN_PRICE_PROPOSALS_H_
#define GONKA_DEVCHAIN_PRICE_PROPOSALS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/types.h"
#include "google/protobuf/any.pb.h"

namespace gonka {
namespace devchain {

struct PriceProposalState {
  // participant → the serialized UnitOfComputePriceProposal.
  std::map<std::string, std::string> by_participant;
};

// True for MsgSubmitUnitOfComputePriceProposal.
bool IsPriceProposalMsg(absl::string_view type_url);

// Applies `msg` in block `height` under `schedule`; nullopt on success, else the refusal.
std::optional<TxResult> ApplyPriceProposal(const google::protobuf::Any& msg,
                                           const EpochParams& schedule, int64_t height,
                                           PriceProposalState* state);

// True for "/inference.inference.Query/GetUnitOfComputePriceProposal".
bool HandlesPriceProposalQuery(absl::string_view path);
TxExecutor::QueryResult QueryPriceProposal(absl::string_view data, const PriceProposalState& state,
                                           uint64_t default_price);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_PRICE_PROPOSALS_H_
