// /validated end to end, over real processes: devchain (the cold account grants the warm key
// MsgSubmitPocValidationsV2, as Gonka's grant-ml-ops-permissions does), nats-server and an
// edge-api emitting the block stream, PostgreSQL (signer ledger), one signerd with the warm key
// executing for the cold account, and two edge-srv replicas for the cold account. One validation
// result delivered five times over both replicas, and another participant's fraud verdict
// delivered twice, reach the chain as exactly two MsgSubmitPocValidationsV2 txs, each included
// with code 0, while two incomplete results (NaN steps, excluded nonces) are answered 200 and
// never recorded (Gonka abstains); a price proposal through the admin route, retried on the other
// replica with the same request key, is one MsgSubmitUnitOfComputePriceProposal on chain; a model
// registration (POST /admin/v1/models) retried likewise is one MsgSubmitProposal, recorded by
// devchain as proposal 1 with the participant's MsgRegisterModel; a bridge block of two receipts
// sent to both replicas is two MsgBridgeExchange txs.
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/edgesrv/admin_api.h"
#include "gonka/edgesrv/validation_sink.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/cosmos/gov/v1/gov.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/sequencer.h"
#include "gonka/testing/edge_srv_env.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

constexpr char kModel[] = "Qwen/Qwen3-8B";
constexpr int64_t kStage = 100;
constexpr int64_t kValidation = 145;  // + poc_stage_duration 40 + validation delay 5

std::string Validated(int64_t block_height, const std::string& public_key_hex, int n_total,
                      bool fraud) {
  return absl::StrCat("{\"block_height\":", block_height, ",\"public_key\":\"", public_key_hex,
                      "\",\"n_total\":", n_total, ",\"n_mismatch\":", fraud ? 5 : 0,
                      ",\"mismatch_nonces\":[],\"p_value\":", fraud ? 0 : 1,
                      ",\"fraud_detected\":", fraud ? "true" : "false", "}");
}

TEST(ValidatedIntegrationTest, EachVoteOnChainOnceWhateverTheReplicasAndRetries) {
  // The cold account grants the warm key the validation, price, governance and bridge messages;
  // signerd is told to sign the gov proposal (its default refuses gov messages).
  testing::EdgeSrvTestEnv env;
  ASSERT_TRUE(
      env.Start({.grants = {nodemanager::kMsgSubmitPocValidationsV2,
                            kMsgSubmitUnitOfComputePriceProposal, kMsgSubmitProposal,
                            kMsgBridgeExchange},
                 .signerd_args = {std::string("--allowed-msg-types=gonka,") + kMsgSubmitProposal}})
          .ok())
      << env.Logs();
  const crypto::SigningKey* cold = &env.cold();
  testing::PostgresServer& pg = env.pg();
  chain::CometClient& comet = env.comet();
  testing::DaemonProcess& signerd = env.signerd();
  auto Height = [&] { return env.Height(); };
  ASSERT_TRUE(testing::WaitFor([&] { return Height() >= kValidation + 1; }, absl::Seconds(40)).ok())
      << "height " << Height();

  // Two validated participants: A accepted (five deliveries), B fraudulent (two).
  absl::StatusOr<crypto::SigningKey> a = crypto::KeyFromHex(std::string(64, '7'));
  absl::StatusOr<crypto::SigningKey> b = crypto::KeyFromHex(std::string(64, '9'));
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string path =
      absl::StrCat("/v2/poc-batches/", net::UrlEncode(net::UrlEncode(kModel)), "/validated");
  net::HttpClient http;
  struct Delivery {
    int replica;
    const crypto::SigningKey* key;
    bool fraud;
  };
  for (const Delivery& d : std::vector<Delivery>{{0, &*a, false},
                                                 {1, &*a, false},
                                                 {0, &*b, true},
                                                 {1, &*a, false},
                                                 {1, &*b, true},
                                                 {0, &*a, false},
                                                 {1, &*a, false}}) {
    absl::StatusOr<net::HttpResponse> r =
        http.Post(absl::StrCat(env.replica(d.replica).url(), path),
                  Validated(kStage, crypto::HexEncode(d.key->public_key().view()), 32, d.fraud),
                  "application/json", net::HttpCallOptions::Timeout(absl::Seconds(5)));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << r->body;
  }

  // Two incomplete validations (Gonka abstains): C with NaN steps, D with excluded nonces, each
  // on both replicas. 200, and nothing reaches the ledger or the chain for them.
  absl::StatusOr<crypto::SigningKey> c = crypto::KeyFromHex(std::string(64, '5'));
  absl::StatusOr<crypto::SigningKey> d = crypto::KeyFromHex(std::string(64, '3'));
  ASSERT_TRUE(c.ok() && d.ok());
  for (int replica : {0, 1}) {
    for (const auto& [key, extra] : std::vector<std::pair<const crypto::SigningKey*, std::string>>{
             {&*c, ",\"n_nan_steps\":3}"}, {&*d, ",\"n_excluded\":2,\"excluded_nonces\":[4,9]}"}}) {
      std::string body = Validated(kStage, crypto::HexEncode(key->public_key().view()), 32, false);
      body.pop_back();  // the closing brace
      absl::StatusOr<net::HttpResponse> r =
          http.Post(absl::StrCat(env.replica(replica).url(), path), body + extra,
                    "application/json", net::HttpCallOptions::Timeout(absl::Seconds(5)));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->status, 200) << r->body;
    }
  }

  // Admin: a price proposal of 2 ugonka, retried with the same request key on the other replica;
  // refused without the token and for an unknown denom.
  auto propose = [&](int replica, const std::string& body, const std::string& token) {
    net::HttpCallOptions call = net::HttpCallOptions::Timeout(absl::Seconds(5));
    call.headers.Set("X-Gonka-Idempotency-Key", "vote-1");
    if (!token.empty()) call.headers.Set("Authorization", "Bearer " + token);
    return http.Post(
        absl::StrCat(env.replica(replica).url(), "/admin/v1/unit-of-compute-price-proposal"), body,
        "application/json", call);
  };
  const std::string token = testing::EdgeSrvTestEnv::kToken;
  absl::StatusOr<net::HttpResponse> refused = propose(0, R"({"price":2,"denom":"ugonka"})", "");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 401) << refused->body;
  absl::StatusOr<net::HttpResponse> bad = propose(0, R"({"price":2,"denom":"icoin"})", token);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("denom"), std::string::npos) << bad->body;
  for (int replica : {0, 1}) {
    absl::StatusOr<net::HttpResponse> r =
        propose(replica, R"({"price":2,"denom":"ugonka"})", token);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find("\"price\":2000"), std::string::npos) << r->body;
  }
  const std::string key_price = absl::StrCat("price_proposal/", cold->address(), "/vote-1");

  // Admin: a model registration proposal, retried with the same request key on the other
  // replica: one MsgSubmitProposal on chain, answered with its tx hash.
  net::HttpHeaders model_key;
  model_key.Set("X-Gonka-Idempotency-Key", "model-1");
  for (int replica : {0, 1}) {
    absl::StatusOr<net::HttpResponse> r =
        env.Admin(replica, "POST", "models",
                  R"({"id":"Qwen/Qwen3-8B","units_of_compute_per_token":3})", true, model_key);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find(replica == 0 ? "\"duplicate\":false" : "\"duplicate\":true"),
              std::string::npos)
        << r->body;
  }
  const std::string key_model = absl::StrCat("models/", cold->address(), "/model-1");

  // Admin: a bridge block with two receipts, re-sent to the other replica: one MsgBridgeExchange
  // per receipt on chain.
  const std::string owner_key = crypto::HexEncode(a->public_key().view());
  const std::string bridge_block = absl::StrCat(
      R"({"blockNumber":"777","originChain":"ethereum","receiptsRoot":"0xroot","receipts":[)",
      R"({"contract":"0xc","owner":"0xo","publicKey":")", owner_key,
      R"(","amount":"10","receiptIndex":"0"},)", R"({"contract":"0xc","owner":"0xo","publicKey":")",
      owner_key, R"(","amount":"20","receiptIndex":"1"}]})");
  for (int replica : {0, 1}) {
    absl::StatusOr<net::HttpResponse> r = env.Admin(replica, "POST", "bridge/block", bridge_block);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find(replica == 0 ? "\"duplicates\":0" : "\"duplicates\":2"),
              std::string::npos)
        << r->body;
  }
  const std::string key_bridge0 = absl::StrCat("bridge/", cold->address(), "/ethereum/777/0");
  const std::string key_bridge1 = absl::StrCat("bridge/", cold->address(), "/ethereum/777/1");

  // The ledger: one row per vote, included; the chain: each tx found with code 0.
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg.url()});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<std::unique_ptr<signer::Ledger>> ledger = signer::Ledger::Open(pool->get());
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  const std::string key_a = ValidationKey(
      cold->address(), {.poc_start = kStage, .model = kModel, .participant = a->address()});
  const std::string key_b = ValidationKey(
      cold->address(), {.poc_start = kStage, .model = kModel, .participant = b->address()});
  std::map<std::string, signer::LedgerEntry> entries;
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    for (const std::string& key :
                         {key_a, key_b, key_price, key_model, key_bridge0, key_bridge1}) {
                      absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(key);
                      if (!e.ok() || e->state != signer::TxState::kIncluded) return false;
                      entries[key] = *e;
                    }
                    return true;
                  },
                  absl::Seconds(30))
                  .ok())
      << signerd.LogTail();
  for (const crypto::SigningKey* abstained : {&*c, &*d}) {
    const std::string key =
        ValidationKey(cold->address(),
                      {.poc_start = kStage, .model = kModel, .participant = abstained->address()});
    EXPECT_FALSE((*ledger)->Get(key).ok()) << key << " was recorded";
  }
  absl::StatusOr<pg::Result> rows = (*pool)->Exec(
      "SELECT count(*) FROM signer_ledger WHERE idempotency_key LIKE 'validation/%' OR "
      "idempotency_key LIKE 'price_proposal/%' OR idempotency_key LIKE 'models/%' OR "
      "idempotency_key LIKE 'bridge/%'");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->Get(0, 0).value_or(""), "6");
  for (const auto& [key, entry] : entries) {
    std::string hash;
    ASSERT_TRUE(crypto::HexDecode(entry.tx_hash, "tx_hash", &hash).ok()) << entry.tx_hash;
    absl::StatusOr<chain::TxInfo> tx = comet.Tx(hash);
    ASSERT_TRUE(tx.ok()) << key << ": " << tx.status();
    EXPECT_EQ(tx->code, 0u) << key << ": " << tx->log;
  }
  // devchain recorded the proposal: proposal 1, the participant's MsgRegisterModel inside.
  ::cosmos::gov::v1::QueryProposalRequest query;
  query.set_proposal_id(1);
  absl::StatusOr<chain::AbciQueryResponse> answer =
      comet.AbciQuery("/cosmos.gov.v1.Query/Proposal", query.SerializeAsString());
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->code, 0u) << answer->log;
  ::cosmos::gov::v1::QueryProposalResponse proposal;
  ASSERT_TRUE(proposal.ParseFromString(answer->value));
  EXPECT_EQ(proposal.proposal().proposer(), cold->address());
  EXPECT_EQ(proposal.proposal().title(), "Qwen/Qwen3-8B model proposal");
  ASSERT_EQ(proposal.proposal().messages_size(), 1);
  ::inference::inference::MsgRegisterModel model;
  ASSERT_TRUE(model.ParseFromString(proposal.proposal().messages(0).value()));
  EXPECT_EQ(model.id(), "Qwen/Qwen3-8B");
  EXPECT_EQ(model.units_of_compute_per_token(), 3u);
  EXPECT_EQ(model.proposed_by(), cold->address());
  answer = comet.AbciQuery("/cosmos.gov.v1.Query/Proposal", [] {
    ::cosmos::gov::v1::QueryProposalRequest q;
    q.set_proposal_id(2);
    return q.SerializeAsString();
  }());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_NE(answer->code, 0u);  // sent once
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
