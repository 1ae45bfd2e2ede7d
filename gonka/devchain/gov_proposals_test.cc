// devchain's governance subset: a model registration proposal is stored under the next id and
// answered by Query/Proposal; the refusals (no messages, another message type, an authority that
// is not the gov account, an empty id) store nothing.
#include "gonka/devchain/gov_proposals.h"

#include "gonka/proto/cosmos/gov/v1/gov.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

google::protobuf::Any Proposal(const std::string& authority, const std::string& id,
                               const char* inner_type = "/inference.inference.MsgRegisterModel") {
  ::inference::inference::MsgRegisterModel model;
  model.set_authority(authority);
  model.set_proposed_by("gonka1proposer");
  model.set_id(id);
  model.set_units_of_compute_per_token(3);
  ::cosmos::gov::v1::MsgSubmitProposal p;
  google::protobuf::Any* inner = p.add_messages();
  inner->set_type_url(inner_type);
  inner->set_value(model.SerializeAsString());
  p.set_proposer("gonka1proposer");
  p.set_title(id + " model proposal");
  google::protobuf::Any any;
  any.set_type_url(kMsgSubmitProposal);
  any.set_value(p.SerializeAsString());
  return any;
}

std::string QueryFor(uint64_t id) {
  ::cosmos::gov::v1::QueryProposalRequest q;
  q.set_proposal_id(id);
  return q.SerializeAsString();
}

TEST(GovProposals, StoresARegisterModelProposalAndAnswersIt) {
  absl::StatusOr<std::string> gov = GovModuleAddress("cosmos");
  ASSERT_TRUE(gov.ok());
  EXPECT_EQ(*gov, "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn");  // the SDK's gov account
  GovProposalState state;
  std::vector<Event> events;
  uint64_t id = 0;
  EXPECT_EQ(ProposalSigner(Proposal(*gov, "m")), "gonka1proposer");
  ASSERT_FALSE(ApplySubmitProposal(Proposal(*gov, "m"), *gov, &state, &events, &id).has_value());
  EXPECT_EQ(id, 1u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "submit_proposal");
  TxExecutor::QueryResult q = QueryProposal(QueryFor(1), state);
  ASSERT_EQ(q.code, 0u) << q.log;
  ::cosmos::gov::v1::QueryProposalResponse response;
  ASSERT_TRUE(response.ParseFromString(q.value));
  EXPECT_EQ(response.proposal().id(), 1u);
  EXPECT_EQ(response.proposal().proposer(), "gonka1proposer");
  EXPECT_EQ(response.proposal().status(), ::cosmos::gov::v1::PROPOSAL_STATUS_VOTING_PERIOD);
  EXPECT_EQ(response.proposal().messages_size(), 1);
  EXPECT_EQ(QueryProposal(QueryFor(2), state).code, 2u);
}

TEST(GovProposals, RefusalsStoreNothing) {
  absl::StatusOr<std::string> gov = GovModuleAddress("gonka");
  ASSERT_TRUE(gov.ok());
  GovProposalState state;
  std::vector<Event> events;
  uint64_t id = 0;
  std::optional<TxResult> r =
      ApplySubmitProposal(Proposal("gonka1someone", "m"), *gov, &state, &events, &id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->codespace, "gov");
  EXPECT_EQ(r->code, 13u);
  r = ApplySubmitProposal(Proposal(*gov, ""), *gov, &state, &events, &id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 12u);
  r = ApplySubmitProposal(Proposal(*gov, "m", "/cosmos.bank.v1beta1.MsgSend"), *gov, &state,
                          &events, &id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 12u);
  google::protobuf::Any empty;
  empty.set_type_url(kMsgSubmitProposal);
  r = ApplySubmitProposal(empty, *gov, &state, &events, &id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 11u);
  EXPECT_TRUE(state.proposals.empty());
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
