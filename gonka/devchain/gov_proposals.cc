#include "gonka/devchain/gov_proposals.h"

#include "absl/strings/str_cat.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/cosmos/gov/v1/gov.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"

namespace gonka {
namespace devchain {
namespace {

constexpr char kMsgRegisterModel[] = "/inference.inference.MsgRegisterModel";
constexpr char kQueryProposal[] = "/cosmos.gov.v1.Query/Proposal";

TxResult Refuse(uint32_t code, std::string log) {
  TxResult r;
  r.code = code;
  r.codespace = "gov";
  r.log = std::move(log);
  return r;
}

}  // namespace

absl::StatusOr<std::string> GovModuleAddress(absl::string_view prefix) {
  const crypto::Sha256Digest digest = crypto::Sha256("gov");
  return crypto::EncodeAddress(prefix,
                               absl::string_view(reinterpret_cast<const char*>(digest.data()), 20));
}

std::string ProposalSigner(const google::protobuf::Any& msg) {
  ::cosmos::gov::v1::MsgSubmitProposal m;
  return m.ParseFromString(msg.value()) ? m.proposer() : "";
}

std::optional<TxResult> ApplySubmitProposal(const google::protobuf::Any& msg,
                                            const std::string& gov_authority,
                                            GovProposalState* state, std::vector<Event>* events,
                                            uint64_t* proposal_id) {
  ::cosmos::gov::v1::MsgSubmitProposal m;
  if (!m.ParseFromString(msg.value())) {
    TxResult r = Refuse(2, "MsgSubmitProposal: tx parse error");
    r.codespace = "sdk";
    return r;
  }
  if (m.messages_size() == 0) return Refuse(11, "no messages proposed");
  std::string types;
  for (int i = 0; i < m.messages_size(); ++i) {
    const google::protobuf::Any& inner = m.messages(i);
    if (inner.type_url() != kMsgRegisterModel) {
      return Refuse(12, absl::StrCat("messages[", i, "]: devchain's gov runs only ",
                                     kMsgRegisterModel, ", not ", inner.type_url()));
    }
    ::inference::inference::MsgRegisterModel model;
    if (!model.ParseFromString(inner.value())) {
      return Refuse(12, absl::StrCat("messages[", i, "]: MsgRegisterModel does not decode"));
    }
    if (model.authority() != gov_authority) {
      return Refuse(13, absl::StrCat("messages[", i, "]: expected the gov account ", gov_authority,
                                     " as the only signer, got ", model.authority()));
    }
    if (model.id().empty()) return Refuse(12, absl::StrCat("messages[", i, "]: empty model id"));
    absl::StrAppend(&types, types.empty() ? "" : ",", inner.type_url());
  }
  ::cosmos::gov::v1::Proposal p;
  p.set_id(++state->last_id);
  *p.mutable_messages() = m.messages();
  p.set_status(::cosmos::gov::v1::PROPOSAL_STATUS_VOTING_PERIOD);
  *p.mutable_total_deposit() = m.initial_deposit();
  p.set_metadata(m.metadata());
  p.set_title(m.title());
  p.set_summary(m.summary());
  p.set_proposer(m.proposer());
  p.set_expedited(m.expedited());
  state->proposals[p.id()] = p.SerializeAsString();
  events->push_back(
      {"submit_proposal", {{"proposal_id", absl::StrCat(p.id())}, {"proposal_messages", types}}});
  *proposal_id = p.id();
  return std::nullopt;
}

bool HandlesGovQuery(absl::string_view path) { return path == kQueryProposal; }

TxExecutor::QueryResult QueryProposal(absl::string_view data, const GovProposalState& state) {
  ::cosmos::gov::v1::QueryProposalRequest request;
  if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return {18, "sdk", "invalid request: cannot decode QueryProposalRequest", ""};
  }
  auto it = state.proposals.find(request.proposal_id());
  if (it == state.proposals.end()) {
    return {2, "gov", absl::StrCat("proposal ", request.proposal_id(), " doesn't exist"), ""};
  }
  ::cosmos::gov::v1::QueryProposalResponse response;
  if (!response.mutable_proposal()->ParseFromString(it->second)) {
    return {1, "sdk", "stored proposal does not decode", ""};
  }
  return {0, "", "", response.SerializeAsString()};
}

}  // namespace devchain
}  // namespace gonka
