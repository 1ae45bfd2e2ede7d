#include "gonka/devchain/price_proposals.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/chain/epoch.h"
#include "gonka/proto/inference/inference/query.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"

namespace gonka {
namespace devchain {
namespace {

constexpr char kSubmitPrice[] = "/inference.inference.MsgSubmitUnitOfComputePriceProposal";
constexpr char kQueryPrice[] = "/inference.inference.Query/GetUnitOfComputePriceProposal";

}  // namespace

bool IsPriceProposalMsg(absl::string_view type_url) { return type_url == kSubmitPrice; }

std::optional<TxResult> ApplyPriceProposal(const google::protobuf::Any& msg,
                                           const EpochParams& schedule, int64_t height,
                                           PriceProposalState* state) {
  ::inference::inference::MsgSubmitUnitOfComputePriceProposal m;
  if (!m.ParseFromString(msg.value())) {
    TxResult r;
    r.code = 2;
    r.codespace = "sdk";
    r.log = "MsgSubmitUnitOfComputePriceProposal: tx parse error";
    return r;
  }
  ::inference::inference::UnitOfComputePriceProposal p;
  p.set_participant(m.creator());
  p.set_price(m.price());
  p.set_proposed_at_block_height(static_cast<uint64_t>(height));
  p.set_proposed_at_epoch(static_cast<uint64_t>(chain::ScheduleAt(schedule, height).epoch_index));
  state->by_participant[m.creator()] = p.SerializeAsString();
  return std::nullopt;
}

bool HandlesPriceProposalQuery(absl::string_view path) { return path == kQueryPrice; }

TxExecutor::QueryResult QueryPriceProposal(absl::string_view data, const PriceProposalState& state,
                                           uint64_t default_price) {
  ::inference::inference::QueryGetUnitOfComputePriceProposalRequest request;
  if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return {18, "sdk", "invalid request: cannot decode QueryGetUnitOfComputePriceProposalRequest",
            ""};
  }
  ::inference::inference::QueryGetUnitOfComputePriceProposalResponse response;
  auto it = state.by_participant.find(request.participant());
  if (it != state.by_participant.end() &&
      !response.mutable_proposal()->ParseFromString(it->second)) {
    return {1, "sdk", "stored proposal does not decode", ""};
  }
  response.set_default_(default_price);
  return {0, "", "", response.SerializeAsString()};
}

}  // namespace devchain
}  // namespace gonka
