// edge-srv's admin API end to end, over real processes: devchain (the cold account grants the warm
// key the seed and claim messages), nats-server and an edge-api emitting the block stream,
// PostgreSQL (signer ledger and the node-manager's seed store), one signerd with the warm key and
// two edge-srv replicas for the cold account.
//   - claim-reward/recover with an empty body claims the previous epoch with the seed the
//     node-manager stored (the test stores and submits it as the node-manager does): one
//     MsgClaimRewards included with code 0 on devchain, although the request is repeated on the
//     other replica (already_claimed, not sent again); a seed-less epoch, a malformed epoch_index
//     and a missing token are refused naming the cause;
//   - the Gonka admin routes edge-srv does not serve answer their documented status with
//     "served_by"; the ML-node routes redirect to the node-manager when it is configured;
//     poc/timing answers from the stream's phase and --epoch-length; setup/report checks
//     signerd's /ready, a daemon that does not answer, and the chain's sync;
//   - tx/send: a Cosmos Tx in JSON sends its first message as the participant, answered with the
//     broadcast's txhash; the tx is included with code 0 on devchain; the same message again is a
//     duplicate (sent once); a type signerd's allowlist refuses (bank MsgSend) is a 403; a body
//     that is not a Tx or has no message is a 400 naming it;
//   - GET unit-of-compute-price-proposal answers the chain's query (devchain, abci_query): the
//     proposal tx/send put there and the default price; 503 when the chain does not answer.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/edgesrv/admin_api.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/nodemanager/seed_store.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/signer/sequencer.h"
#include "gonka/testing/edge_srv_env.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

TEST(AdminIntegrationTest, ClaimRecoverLandsOnceAndUnservedRoutesSayWhere) {
  testing::EdgeSrvTestEnv env;
  ASSERT_TRUE(env.Start({.grants = {nodemanager::kMsgSubmitSeed, nodemanager::kMsgClaimRewards,
                                    kMsgSubmitUnitOfComputePriceProposal},
                         .replica_args =
                             [&env](int i, std::vector<std::string>* args) {
                               if (i == 0) {
                                 args->push_back("--epoch-length=100");
                                 args->push_back(absl::StrCat(
                                     "--setup-report-ready=signerd=", env.signerd().url(),
                                     ",ghost=http://127.0.0.1:1"));
                                 args->push_back(
                                     absl::StrCat("--chain-rpc-url=", env.hub().devchain().url()));
                               } else {
                                 args->push_back("--node-manager-admin-url=http://127.0.0.1:9999");
                               }
                             }})
                  .ok())
      << env.Logs();
  const crypto::SigningKey* cold = &env.cold();
  const crypto::SigningKey* warm = &env.warm();
  testing::PostgresServer& pg = env.pg();
  testing::ChainHub& hub = env.hub();
  chain::CometClient& comet = env.comet();
  testing::DaemonProcess& signerd = env.signerd();
  auto call = [&](int replica, const std::string& method, const std::string& path,
                  const std::string& body,
                  bool token = true) { return env.Admin(replica, method, path, body, token); };

  // Refusals (nothing is sent for them).
  absl::StatusOr<net::HttpResponse> r = call(0, "POST", "claim-reward/recover", "{}", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  r = call(0, "POST", "claim-reward/recover", R"({"epoch_index":"one"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "epoch_index")) << r->body;
  r = call(0, "POST", "claim-reward/recover", R"({"epoch_index":7000})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "no seed stored for epoch 7000")) << r->body;
  r = call(0, "POST", "claim-reward/recover", R"({"force_claim":1})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "force_claim")) << r->body;

  // The routes edge-srv does not serve: their status, and where the data lives.
  for (const UnservedRoute& route : UnservedRoutes()) {
    r = call(0, route.method, route.path, "{}");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, route.status) << route.path << ": " << r->body;
    EXPECT_TRUE(absl::StrContains(r->body, "served_by")) << route.path << ": " << r->body;
    r = call(0, route.method, route.path, "{}", false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << route.path;
  }
  r = call(0, "POST", "nodes/node-1/disable", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "node-manager")) << r->body;
  r = call(1, "POST", "nodes/node-1/disable", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 307) << r->body;
  EXPECT_EQ(r->headers.Get("Location"), "http://127.0.0.1:9999/admin/v1/nodes/node-1/disable");
  // Every nodes* route, also those the node-manager added later, goes to the node-manager.
  for (const char* path : {"nodes/upgrade-status", "nodes/node-1/launch-plan"}) {
    r = call(1, "GET", path, "");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 307) << path << ": " << r->body;
    EXPECT_EQ(r->headers.Get("Location"), absl::StrCat("http://127.0.0.1:9999/admin/v1/", path));
  }
  for (const char* path : {"nodes/version-status", "nodes/node-1/test"}) {
    r = call(1, "POST", path, "{}");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 307) << path << ": " << r->body;
  }
  // models: refused without a token, for a missing id or units (naming each), and by signerd's
  // default allowlist, which does not sign gov messages (403 naming the type).
  r = call(0, "POST", "models", R"({"id":"m","units_of_compute_per_token":1})", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  r = call(0, "POST", "models", R"({"units_of_compute_per_token":1})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "id:")) << r->body;
  r = call(0, "POST", "models", R"({"id":"m","units_of_compute_per_token":"x"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "units_of_compute_per_token")) << r->body;
  r = call(0, "POST", "models", R"({"id":"m","units_of_compute_per_token":1})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, kMsgSubmitProposal)) << r->body;
  // setup/report: Gonka's report with the checks edge-srv makes — signerd ready, the "ghost"
  // daemon not (so FAIL overall), devchain's blocks fresh.
  r = call(0, "GET", "setup/report", "", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  r = call(0, "GET", "setup/report", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("overall_status":"FAIL")")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"({"id":"ready_signerd","status":"PASS")")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"({"id":"ready_ghost","status":"FAIL")")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"({"id":"block_sync","status":"PASS")")) << r->body;
  {
    // The same report for a minute (Gonka's cache).
    absl::StatusOr<net::HttpResponse> again = call(0, "GET", "setup/report", "");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->body, r->body);
  }
  // bridge/block: refused without a token, without originChain, with a public key that is not
  // hex (naming each); nothing is queued.
  r = call(0, "POST", "bridge/block", R"({"blockNumber":"1","receiptsRoot":"r"})", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  r = call(0, "POST", "bridge/block", R"({"blockNumber":"1","receiptsRoot":"r"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "originChain")) << r->body;
  r = call(0, "POST", "bridge/block",
           R"({"blockNumber":"1","receiptsRoot":"r","originChain":"ethereum",)"
           R"("receipts":[{"publicKey":"zz","receiptIndex":"0"}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "receipts[0].publicKey")) << r->body;
  // tx/send: Gonka's body (a Cosmos Tx in JSON), its first message sent as the participant.
  r = call(0, "POST", "tx/send", "not json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "body")) << r->body;
  r = call(0, "POST", "tx/send", R"({"body":{"messages":[]}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "no messages found in tx")) << r->body;
  r = call(0, "POST", "tx/send", R"({"body":{"messages":[]}})", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  // Before any proposal: Gonka's answer has no "proposal" (encoding/json omitempty).
  r = call(0, "GET", "unit-of-compute-price-proposal", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, R"({"default":100})");
  const std::string price_tx = absl::StrCat(
      R"({"body":{"messages":[{"@type":"/inference.inference.MsgSubmitUnitOfComputePriceProposal",)",
      R"("creator":")", cold->address(), R"(","price":"4242"}]}})");
  r = call(0, "POST", "tx/send", price_tx);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("code":0)")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("duplicate":false)")) << r->body;
  const size_t hash_at = r->body.find(R"("txhash":")");
  ASSERT_NE(hash_at, std::string::npos) << r->body;
  const std::string sent_hash = r->body.substr(hash_at + 10, 64);
  r = call(1, "POST", "tx/send", price_tx);  // the same message on the other replica: sent once
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("duplicate":true)")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, sent_hash)) << r->body;
  {
    std::string raw_hash;
    ASSERT_TRUE(crypto::HexDecode(sent_hash, "txhash", &raw_hash).ok()) << sent_hash;
    absl::StatusOr<chain::TxInfo> included;
    ASSERT_TRUE(testing::WaitFor(
                    [&] {
                      included = comet.Tx(raw_hash);
                      return included.ok();
                    },
                    absl::Seconds(20))
                    .ok())
        << included.status();
    EXPECT_EQ(included->code, 0u) << included->log;
  }
  // GET unit-of-compute-price-proposal: the chain's answer (abci_query on devchain) holds the
  // proposal tx/send just put there, and the chain's default price (devchain's 100).
  r = call(0, "GET", "unit-of-compute-price-proposal", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, absl::StrCat(R"({"proposal":{"participant":")",
                                                      cold->address(), R"(","price":4242,)")))
      << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("proposed_at_block_height":)")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("default":100})")) << r->body;
  r = call(1, "GET", "unit-of-compute-price-proposal", "");  // its chain URL answers nothing
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503) << r->body;
  r = call(1, "GET", "unit-of-compute-price-proposal", "", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  r = call(0, "POST", "tx/send",
           absl::StrCat(R"({"body":{"messages":[{"@type":"/cosmos.bank.v1beta1.MsgSend",)",
                        R"("from_address":")", cold->address(), R"(","to_address":")",
                        warm->address(), R"(","amount":[{"denom":"ngonka","amount":"1"}]}]}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "not allowed")) << r->body;

  // The effective epoch E, from the default claim's refusal ("no seed stored for epoch E-1"); the
  // seed goes to epoch E+1, which an empty body claims once E+2 is effective.
  uint64_t target = 0;
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    r = call(0, "POST", "claim-reward/recover", "");
                    const std::string kNoSeed = "no seed stored for epoch ";
                    size_t at = r.ok() ? r->body.find(kNoSeed) : std::string::npos;
                    if (at == std::string::npos) return false;
                    target = std::stoull(r->body.substr(at + kNoSeed.size())) + 2;
                    return true;
                  },
                  absl::Seconds(30))
                  .ok())
      << (r.ok() ? r->body : r.status().ToString());
  // What the node-manager does at epoch `target`'s PoC: store the seed, submit it (the chain takes
  // a seed for the effective epoch or the next).
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg.url()});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<std::unique_ptr<nodemanager::PgSeedStore>> seeds =
      nodemanager::PgSeedStore::Open(pool->get());
  ASSERT_TRUE(seeds.ok()) << seeds.status();
  absl::StatusOr<nodemanager::SeedInfo> seed =
      nodemanager::EnsureSeed(**seeds, *warm, cold->address(), target);
  ASSERT_TRUE(seed.ok()) << seed.status();
  absl::StatusOr<std::unique_ptr<signer::Ledger>> ledger = signer::Ledger::Open(pool->get());
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  {
    auto js = nats::JetStream::Connect({.urls = {hub.nats().url()}});
    ASSERT_TRUE(js.ok()) << js.status();
    txqueue::TxQueue queue(js->get());
    ASSERT_TRUE(queue.EnsureStream().ok());
    absl::StatusOr<txqueue::ChainTx> submit = nodemanager::SubmitSeedTx(
        {.creator = cold->address()},
        {.kind = nodemanager::ActionKind::kEnsureSeed,
         .epoch = static_cast<int64_t>(target),
         .idempotency_key = absl::StrCat("seed/", target, "/", cold->address())},
        *seed);
    ASSERT_TRUE(submit.ok()) << submit.status();
    ASSERT_TRUE(signer::EnqueueRecorded(ledger->get(), &queue, *submit).ok());
  }

  // The claim: once epoch `target` has ended, an empty body claims it.
  absl::StatusOr<net::HttpResponse> claimed;
  std::vector<std::string> answers;  // each distinct answer on the way, for a failure message
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    claimed = call(0, "POST", "claim-reward/recover", "");
                    const std::string answer =
                        claimed.ok() ? claimed->body : claimed.status().ToString();
                    if (answers.empty() || answers.back() != answer) answers.push_back(answer);
                    return claimed.ok() && claimed->status != 400;
                  },
                  absl::Seconds(60))
                  .ok())
      << "target " << target << ": " << absl::StrJoin(answers, "\n");
  ASSERT_EQ(claimed->status, 200) << claimed->body;
  EXPECT_TRUE(absl::StrContains(claimed->body, absl::StrCat("\"epoch_index\":", target)))
      << claimed->body;
  EXPECT_TRUE(absl::StrContains(claimed->body, "\"claim_executed\":true")) << claimed->body;
  r = call(1, "POST", "claim-reward/recover", absl::StrCat(R"({"epoch_index":)", target, "}"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "\"already_claimed\":true")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "\"claim_executed\":false")) << r->body;

  const std::string key = absl::StrCat("claim/", target, "/", cold->address());
  signer::LedgerEntry entry;
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::StatusOr<signer::LedgerEntry> e = (*ledger)->Get(key);
                    if (!e.ok() || e->state != signer::TxState::kIncluded) return false;
                    entry = *e;
                    return true;
                  },
                  absl::Seconds(30))
                  .ok())
      << signerd.LogTail();
  std::string hash;
  ASSERT_TRUE(crypto::HexDecode(entry.tx_hash, "tx_hash", &hash).ok()) << entry.tx_hash;
  absl::StatusOr<chain::TxInfo> tx = comet.Tx(hash);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->code, 0u) << tx->log;
  // poc/timing, past the first PoC now: from the stream's phase and --epoch-length; 501 naming
  // the flag without it.
  r = call(0, "GET", "poc/timing", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("available":true)")) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, R"("blocks_until_next_poc":)")) << r->body;
  r = call(1, "GET", "poc/timing", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 501) << r->body;
  EXPECT_TRUE(absl::StrContains(r->body, "--epoch-length")) << r->body;

  absl::StatusOr<pg::Result> rows =
      (*pool)->Exec("SELECT count(*) FROM signer_ledger WHERE idempotency_key LIKE 'claim/%'");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->Get(0, 0).value_or(""), "1");
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
