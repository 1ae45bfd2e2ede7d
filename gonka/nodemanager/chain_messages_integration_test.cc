// The node-manager's chain messages end to end, over real servers: the PhaseEngine's actions for
// epoch 1 are built with chain_messages.h (the seed from a PostgreSQL SeedStore), enqueued with
// EnqueueRecorded (real NATS JetStream, real PostgreSQL ledger), signed by a Signer with the warm
// key wrapping each in authz MsgExec for the cold account and the default (Gonka) message policy,
// broadcast to an in-process devchain over HTTP, and read back through the queries
// (ListRandomSeeds, MLNodeWeightDistribution, PoCV2StoreCommit over Cosmos gRPC with
// chain::InferenceQueryClient, and ListRandomSeeds over abci_query too). Each message
// must land exactly once however often it is enqueued; a claim sent by a "new leader" (another
// SeedStore object on another pool) uses the seed the first one stored.
//
// The remote seed source (no key in node-manager): a SignerService's POST /v1/seed (bearer
// tokens from a 0600 file, as signerd) gives the seed to a QueueChainSink over RemoteSeedSource;
// MsgSubmitSeed and MsgClaimRewards land with the seed signed by the signer's warm key (the
// devchain checks the claim's seed against the signature with the grantee's key); a signer
// answering with another key is refused before anything is stored; a bad token is a clear error.
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/grpc_server.h"
#include "gonka/devchain/rpc.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/nodemanager/phase_engine.h"
#include "gonka/nodemanager/queue_chain_sink.h"
#include "gonka/nodemanager/seed_source.h"
#include "gonka/nodemanager/seed_store.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/inference/inference/query_nodemanager.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/signer/signer.h"
#include "gonka/signer/signer_service.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace nodemanager {
namespace {

namespace infpb = ::inference::inference;

constexpr char kCold[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kWarm[] =
    "oyster design unusual machine spread century engine gravity focus cave carry slot";
constexpr char kChainId[] = "nodemanager-chain-test";
constexpr char kModel[] = "Qwen/Qwen3-8B";

// Epoch e starts PoC at 20e: weights at 20e + 4, SetNewValidators at 20e + 8, ClaimMoney 20e + 9.
chain::EpochParams Schedule() {
  chain::EpochParams p;
  p.epoch_length = 20;
  p.poc_stage_duration = 3;
  p.poc_exchange_duration = 1;
  p.poc_validation_delay = 1;
  p.poc_validation_duration = 2;
  p.set_new_validators_delay = 2;
  return p;
}

// Polls `done` every 20 ms until it holds or `timeout` passes; false on timeout.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

class ChainMessagesIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new testing::PostgresServer();
    absl::Status s = pg_->Start();
    ASSERT_TRUE(s.ok()) << s;
    nats_ = new testing::NatsServer();
    s = nats_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete nats_;
    nats_ = nullptr;
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    devchain::AppOptions app_options;
    app_options.accounts = {{"", kCold, {{"ngonka", "1000000000"}}},
                            {"", kWarm, {{"ngonka", "1"}}}};
    app_options.inference_schedule = Schedule();
    auto app = devchain::CosmosApp::Create(app_options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    devchain::ChainOptions chain_options;
    chain_options.chain_id = kChainId;
    chain_options.block_interval = absl::Milliseconds(50);
    chain_options.epochs = Schedule();
    chain_ = std::make_unique<devchain::Chain>(chain_options, app_.get());
    chain_->ProduceBlock();
    rpc_ = std::make_unique<devchain::RpcService>(chain_.get(), &http_, devchain::RpcOptions());
    ASSERT_TRUE(http_.Start().ok());
    comet_ = std::make_unique<chain::CometClient>(chain::CometClientOptions{
        .rpc_url = absl::StrCat("http://127.0.0.1:", http_.port()), .timeout = absl::Seconds(5)});
    grpc_ = std::make_unique<devchain::CosmosGrpcServer>(chain_.get());
    ASSERT_TRUE(grpc_->Start("127.0.0.1:0").ok());
    queries_ = std::make_unique<chain::InferenceQueryClient>(chain::InferenceQueryClientOptions{
        .grpc_address = absl::StrCat("127.0.0.1:", grpc_->port()), .timeout = absl::Seconds(5)});

    // The cold account grants the warm key the node-manager's messages (Gonka's
    // grant-ml-ops-permissions), in block 2, before blocks run on their own.
    cosmos::TxBuilder grant;
    for (const char* t : {kMsgSubmitSeed, kMsgClaimRewards, kMsgMLNodeWeightDistribution,
                          kMsgPoCV2StoreCommit, kMsgSubmitPocValidationsV2}) {
      grant.AddMessage(cosmos::MakeGenericGrant(cold_.address(), warm_.address(), t));
    }
    grant.SetChainId(kChainId)
        .SetAccountNumber(app_->Account(cold_.address())->first)
        .SetSequence(0)
        .SetFee({{}, 400000, "", ""});
    auto signed_grant = grant.Sign(cold_);
    ASSERT_TRUE(signed_grant.ok()) << signed_grant.status();
    auto broadcast = comet_->BroadcastTxSync(signed_grant->tx_raw);
    ASSERT_TRUE(broadcast.ok()) << broadcast.status();
    ASSERT_EQ(broadcast->code, 0u) << broadcast->log;
    devchain::BlockPtr block = chain_->ProduceBlock();
    ASSERT_EQ(block->tx_results.size(), 1u);
    ASSERT_EQ(block->tx_results[0].code, 0u) << block->tx_results[0].log;
    chain_->Start();

    nats::NatsOptions nats_options;
    nats_options.urls = {nats_->url()};
    nats_options.timeout = absl::Seconds(2);
    auto js = nats::JetStream::Connect(nats_options);
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = std::move(*js);
    (void)js_->DeleteStream(txqueue::kStream);
    queue_ = std::make_unique<txqueue::TxQueue>(js_.get());
    ASSERT_TRUE(queue_->EnsureStream().ok());
    auto consumer = txqueue::TxConsumer::Bind(js_.get(), {});
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = std::move(*consumer);

    pool_ = OpenPool();
    ASSERT_TRUE(pool_);
    auto ledger = signer::Ledger::Open(pool_.get());
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
    auto seeds = PgSeedStore::Open(pool_.get());
    ASSERT_TRUE(seeds.ok()) << seeds.status();
    seeds_ = std::move(*seeds);
    // Each test runs against a new chain: the ledger and the seeds of an earlier test would make
    // its messages look settled already.
    auto wiped = pool_->Exec("TRUNCATE signer_ledger, signer_txs, nodemanager_seeds");
    ASSERT_TRUE(wiped.ok()) << wiped.status();

    signer::SignerOptions options;  // policy: MessagePolicy::Gonka(), the default
    options.chain_id = kChainId;
    options.account_number = app_->Account(warm_.address())->first;
    options.exec_granter = cold_.address();
    options.gas_limit = 400000;
    options.observe_interval = absl::Milliseconds(50);
    options.observe_budget = absl::Seconds(5);
    options.retry_delay = absl::Milliseconds(300);
    signer_ = std::make_unique<signer::Signer>(&warm_, consumer_.get(), ledger_.get(), comet_.get(),
                                               options);
    signer_thread_ = std::thread([this] {
      while (!stop_.load()) (void)signer_->RunOnce(absl::Milliseconds(200));
    });
  }

  void TearDown() override {
    stop_.store(true);
    if (signer_thread_.joinable()) signer_thread_.join();
    if (chain_) chain_->Stop();
    if (grpc_) grpc_->Stop(absl::Now());
    http_.Stop(absl::Now());
  }

  static std::unique_ptr<pg::Pool> OpenPool() {
    pg::PgOptions o;
    o.conninfo = pg_->url();
    o.max_connections = 4;
    auto pool = pg::Pool::Open(o);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }

  // The engine's actions of `kind` up to `height`, for the cold account.
  std::vector<Action> Actions(ActionKind kind, int64_t height) {
    PhaseEngine engine({.params = Schedule(), .participant = cold_.address()});
    std::vector<Action> out;
    for (const Action& a : engine.Advance(height)) {
      if (a.kind == kind) out.push_back(a);
    }
    return out;
  }

  // Enqueues `tx` twice (a replay after failover) and waits until the ledger has it included.
  void SendAndWait(const txqueue::ChainTx& tx) {
    for (int i = 0; i < 2; ++i) {
      auto r = signer::EnqueueRecorded(ledger_.get(), queue_.get(), tx);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    bool included = WaitFor([&] {
      auto e = ledger_->Get(tx.idempotency_key());
      return e.ok() && e->state == signer::TxState::kIncluded;
    });
    auto e = ledger_->Get(tx.idempotency_key());
    ASSERT_TRUE(included) << tx.idempotency_key() << ": "
                          << (e.ok()
                                  ? absl::StrCat(signer::TxStateName(e->state), " ", e->last_error)
                                  : std::string(e.status().message()));
  }

  // How often the message of `tx` landed on chain (devchain records Gonka messages under
  // "<type url>/<hex sha256 of the message>").
  uint64_t OnChain(const txqueue::ChainTx& tx) {
    const auto& any = tx.messages(0);
    return app_->RecordCount(
        absl::StrCat(any.type_url(), "/", crypto::HexEncode(crypto::Sha256(any.value()))));
  }

  // Over Cosmos gRPC, as the node-manager reads the chain.
  template <typename Response>
  Response Query(const std::string& method, const google::protobuf::Message& request) {
    Response response;
    chain::QueryMeta meta;
    absl::Status s = queries_->Call(method, request, &response, 0, &meta);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(meta.transport, chain::QueryTransport::kGrpc);
    return response;
  }
  // Over CometBFT abci_query.
  template <typename Response>
  Response AbciQuery(const std::string& path, const google::protobuf::Message& request) {
    auto q = comet_->AbciQuery(path, request.SerializeAsString());
    EXPECT_TRUE(q.ok()) << q.status();
    Response response;
    if (q.ok()) {
      EXPECT_EQ(q->code, 0u) << q->log;
      EXPECT_TRUE(response.ParseFromString(q->value));
    }
    return response;
  }

  static testing::PostgresServer* pg_;
  static testing::NatsServer* nats_;
  crypto::SigningKey cold_ = *crypto::KeyFromMnemonic(kCold);
  crypto::SigningKey warm_ = *crypto::KeyFromMnemonic(kWarm);
  std::unique_ptr<devchain::CosmosApp> app_;
  std::unique_ptr<devchain::Chain> chain_;
  net::HttpServer http_;
  std::unique_ptr<devchain::RpcService> rpc_;
  std::unique_ptr<chain::CometClient> comet_;
  std::unique_ptr<devchain::CosmosGrpcServer> grpc_;
  std::unique_ptr<chain::InferenceQueryClient> queries_;
  std::unique_ptr<nats::JetStream> js_;
  std::unique_ptr<txqueue::TxQueue> queue_;
  std::unique_ptr<txqueue::TxConsumer> consumer_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<signer::Ledger> ledger_;
  std::unique_ptr<PgSeedStore> seeds_;
  std::unique_ptr<signer::Signer> signer_;
  std::thread signer_thread_;
  std::atomic<bool> stop_{false};
};
testing::PostgresServer* ChainMessagesIntegrationTest::pg_ = nullptr;
testing::NatsServer* ChainMessagesIntegrationTest::nats_ = nullptr;

TEST_F(ChainMessagesIntegrationTest, EachMessageLandsOnceAndReadsBack) {
  MessageContext context{.creator = cold_.address()};

  // StartOfPoC of epoch 1 (height 20): the seed.
  ASSERT_TRUE(WaitFor([&] { return chain_->height() >= 21; }));
  std::vector<Action> seed_actions = Actions(ActionKind::kEnsureSeed, 21);
  ASSERT_EQ(seed_actions.size(), 1u);
  auto seed = EnsureSeed(*seeds_, warm_, cold_.address(), seed_actions[0].epoch);
  ASSERT_TRUE(seed.ok()) << seed.status();
  auto seed_tx = SubmitSeedTx(context, seed_actions[0], *seed);
  ASSERT_TRUE(seed_tx.ok()) << seed_tx.status();
  EXPECT_EQ(seed_tx->idempotency_key(), absl::StrCat("seed/1/", cold_.address()));
  SendAndWait(*seed_tx);
  infpb::QueryRandomSeedsRequest seeds_request;
  seeds_request.set_epoch_index(1);
  auto listed = Query<infpb::QueryRandomSeedsResponse>(kQueryListRandomSeeds, seeds_request);
  ASSERT_EQ(listed.seeds_size(), 1);
  EXPECT_EQ(listed.seeds(0).participant(), cold_.address());
  EXPECT_EQ(listed.seeds(0).signature(), seed->signature_hex);
  auto listed_abci =
      AbciQuery<infpb::QueryRandomSeedsResponse>(kQueryListRandomSeeds, seeds_request);
  ASSERT_EQ(listed_abci.seeds_size(), 1);
  EXPECT_EQ(listed_abci.seeds(0).signature(), seed->signature_hex);

  // StartOfPoCValidation (height 24): the weight distribution; the store's commit and the
  // validations of the stage (edge-srv's seam, sent whenever they change).
  ASSERT_TRUE(WaitFor([&] { return chain_->height() >= 25; }));
  std::vector<Action> weight_actions = Actions(ActionKind::kDistributeWeights, 25);
  ASSERT_EQ(weight_actions.size(), 1u);
  auto weights_tx =
      WeightDistributionTx(context, weight_actions[0], {{kModel, {{"node-1", 40}, {"node-2", 2}}}});
  ASSERT_TRUE(weights_tx.ok()) << weights_tx.status();
  SendAndWait(*weights_tx);
  infpb::QueryMLNodeWeightDistributionRequest weights_request;
  weights_request.set_poc_stage_start_block_height(20);
  weights_request.set_participant_address(cold_.address());
  weights_request.set_model_id(kModel);
  auto weights = Query<infpb::QueryMLNodeWeightDistributionResponse>(kQueryMLNodeWeightDistribution,
                                                                     weights_request);
  EXPECT_TRUE(weights.found());
  ASSERT_EQ(weights.weights_size(), 2);
  EXPECT_EQ(weights.weights(0).node_id(), "node-1");
  EXPECT_EQ(weights.weights(0).weight(), 40u);

  crypto::Sha256Digest root_digest = crypto::Sha256("mmr root");
  std::string root(crypto::AsStringView(root_digest));
  auto commit_tx = StoreCommitTx(context, 20, {{kModel, 42, root}});
  ASSERT_TRUE(commit_tx.ok()) << commit_tx.status();
  SendAndWait(*commit_tx);
  infpb::QueryPoCV2StoreCommitRequest commit_request;
  commit_request.set_poc_stage_start_block_height(20);
  commit_request.set_participant_address(cold_.address());
  commit_request.set_model_id(kModel);
  auto commit = Query<infpb::QueryPoCV2StoreCommitResponse>(kQueryPoCV2StoreCommit, commit_request);
  EXPECT_TRUE(commit.found());
  EXPECT_EQ(commit.count(), 42u);
  EXPECT_EQ(commit.root_hash(), root);

  auto validations_tx = PocValidationsTx(context, 20, {{warm_.address(), 7, kModel}});
  ASSERT_TRUE(validations_tx.ok()) << validations_tx.status();
  SendAndWait(*validations_tx);

  // ClaimMoney of epoch 2 (height 49): claim epoch 1 — by a "new leader" whose only link to the
  // old one is the database.
  ASSERT_TRUE(WaitFor([&] { return chain_->height() >= 50; }));
  std::vector<Action> claims = Actions(ActionKind::kClaimRewards, 50);
  ASSERT_FALSE(claims.empty());
  const Action& claim = claims.back();
  ASSERT_EQ(claim.epoch, 1);
  auto other_pool = OpenPool();
  ASSERT_TRUE(other_pool);
  auto successor = PgSeedStore::Open(other_pool.get());
  ASSERT_TRUE(successor.ok()) << successor.status();
  auto stored = (*successor)->Get(cold_.address(), 1);
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto claim_tx = ClaimRewardsTx(context, claim, *stored);
  ASSERT_TRUE(claim_tx.ok()) << claim_tx.status();
  EXPECT_EQ(claim_tx->idempotency_key(), absl::StrCat("claim/1/", cold_.address()));
  SendAndWait(*claim_tx);

  // Exactly once on chain, each, though every one was enqueued twice.
  for (const auto* tx : {&*seed_tx, &*weights_tx, &*commit_tx, &*validations_tx, &*claim_tx}) {
    EXPECT_EQ(OnChain(*tx), 1u) << tx->idempotency_key();
  }
}

// A signerd stand-in: SignerService's HTTP routes (POST /v1/seed among them) on their own server,
// signing with `key`, admitting the tokens of a 0600 file as signerd's --enqueue-token-file.
class SeedSignerServer {
 public:
  SeedSignerServer(const crypto::SigningKey* key, nats::JetStream* js, txqueue::TxQueue* queue,
                   signer::Ledger* ledger, chain::CometClient* comet)
      : dir_("seed-signer") {
    WriteSecret(dir_.Join("tokens"), "node-manager 0123456789abcdef0123456789abcdef\n");
    auto auth = BearerAuth::Open({.token_file = dir_.Join("tokens"), .what = "tokens"});
    EXPECT_TRUE(auth.ok()) << auth.status();
    signer::SignerServiceOptions options;
    options.authenticate = MakeHttpAuthenticator(std::shared_ptr<BearerAuth>(std::move(*auth)),
                                                 false, "HTTP enqueue", "--enqueue-token-file");
    service_ = std::make_unique<signer::SignerService>(key, js, queue, ledger, comet, options);
    service_->AddRoutes(&http_);  // no Start: the fixture's Signer does the signing
    EXPECT_TRUE(http_.Start().ok());
  }
  ~SeedSignerServer() { http_.Stop(absl::Now()); }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", http_.port()); }
  // A node-manager token file holding `token`.
  std::string TokenFile(const std::string& name, const std::string& token) {
    WriteSecret(dir_.Join(name), token + "\n");
    return dir_.Join(name);
  }

 private:
  static void WriteSecret(const std::string& path, const std::string& text) {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    fputs(text.c_str(), f);
    fclose(f);
    chmod(path.c_str(), 0600);
  }
  testing::TempDir dir_;
  net::HttpServer http_;
  std::unique_ptr<signer::SignerService> service_;
};

constexpr char kGoodToken[] = "0123456789abcdef0123456789abcdef";

TEST_F(ChainMessagesIntegrationTest, RemoteSeedFromSignerLandsAndClaims) {
  SeedSignerServer signerd(&warm_, js_.get(), queue_.get(), ledger_.get(), comet_.get());
  auto source =
      RemoteSeedSource::Open({.url = signerd.url(),
                              .token_file = signerd.TokenFile("nm-token", kGoodToken),
                              .public_key = crypto::HexEncode(warm_.public_key().view())});
  ASSERT_TRUE(source.ok()) << source.status();
  QueueChainSink sink({.creator = cold_.address()}, source->get(), seeds_.get(), ledger_.get(),
                      queue_.get());

  ASSERT_TRUE(WaitFor([&] { return chain_->height() >= 21; }));
  std::vector<Action> seed_actions = Actions(ActionKind::kEnsureSeed, 21);
  ASSERT_EQ(seed_actions.size(), 1u);
  absl::Status sent = sink.Send(seed_actions[0], 1);
  ASSERT_TRUE(sent.ok()) << sent;
  const std::string seed_key = absl::StrCat("seed/1/", cold_.address());
  ASSERT_TRUE(WaitFor([&] {
    auto e = ledger_->Get(seed_key);
    return e.ok() && e->state == signer::TxState::kIncluded;
  })) << seed_key;
  // The seed node-manager stored and the signature on chain are the signer's key's.
  SeedInfo expected = GenerateSeed(warm_, 1);
  auto stored = seeds_->Get(cold_.address(), 1);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->seed, expected.seed);
  EXPECT_EQ(stored->signature_hex, expected.signature_hex);
  infpb::QueryRandomSeedsRequest seeds_request;
  seeds_request.set_epoch_index(1);
  auto listed = Query<infpb::QueryRandomSeedsResponse>(kQueryListRandomSeeds, seeds_request);
  ASSERT_EQ(listed.seeds_size(), 1);
  EXPECT_EQ(listed.seeds(0).signature(), expected.signature_hex);

  // ClaimMoney of epoch 2: the claim carries the stored seed; the chain accepts it only if the
  // seed verifies against the submitted signature with the grantee's (warm) key.
  ASSERT_TRUE(WaitFor([&] { return chain_->height() >= 50; }));
  std::vector<Action> claims = Actions(ActionKind::kClaimRewards, 50);
  ASSERT_FALSE(claims.empty());
  ASSERT_EQ(claims.back().epoch, 1);
  sent = sink.Send(claims.back(), 1);
  ASSERT_TRUE(sent.ok()) << sent;
  const std::string claim_key = absl::StrCat("claim/1/", cold_.address());
  bool included = WaitFor([&] {
    auto e = ledger_->Get(claim_key);
    return e.ok() && e->state == signer::TxState::kIncluded;
  });
  auto e = ledger_->Get(claim_key);
  ASSERT_TRUE(included) << claim_key << ": "
                        << (e.ok() ? absl::StrCat(signer::TxStateName(e->state), " ", e->last_error)
                                   : std::string(e.status().message()));
  auto claim_tx = ClaimRewardsTx({.creator = cold_.address()}, claims.back(), *stored);
  ASSERT_TRUE(claim_tx.ok());
  EXPECT_EQ(OnChain(*claim_tx), 1u);
  EXPECT_EQ(sink.counts()["ensure_seed/sent"], 1);
}

TEST_F(ChainMessagesIntegrationTest, SeedFromAnotherKeyIsRefusedAndNotStored) {
  crypto::SigningKey impostor = *crypto::KeyFromHex(std::string(64, '7'));
  SeedSignerServer signerd(&impostor, js_.get(), queue_.get(), ledger_.get(), comet_.get());
  auto source = RemoteSeedSource::Open({.url = signerd.url(),
                                        .token_file = signerd.TokenFile("nm-token", kGoodToken),
                                        .public_key = crypto::HexEncode(warm_.public_key().view()),
                                        .public_key_what = "--seed-signer-public-key"});
  ASSERT_TRUE(source.ok()) << source.status();
  auto seed = (*source)->Seed(3);
  EXPECT_EQ(seed.status().code(), absl::StatusCode::kUnauthenticated) << seed.status();
  EXPECT_NE(seed.status().message().find("--seed-signer-public-key"), std::string::npos)
      << seed.status();

  QueueChainSink sink({.creator = cold_.address()}, source->get(), seeds_.get(), ledger_.get(),
                      queue_.get());
  Action action{.kind = ActionKind::kEnsureSeed,
                .epoch = 3,
                .idempotency_key = absl::StrCat("seed/3/", cold_.address())};
  absl::Status sent = sink.Send(action, 1);
  EXPECT_EQ(sent.code(), absl::StatusCode::kUnauthenticated) << sent;
  EXPECT_TRUE(absl::IsNotFound(seeds_->Get(cold_.address(), 3).status()));
  EXPECT_TRUE(absl::IsNotFound(ledger_->Get(action.idempotency_key).status()));
  EXPECT_EQ(sink.counts()["ensure_seed/seed_error"], 1);
}

TEST_F(ChainMessagesIntegrationTest, BadTokenAndBadBodiesAreClearErrors) {
  SeedSignerServer signerd(&warm_, js_.get(), queue_.get(), ledger_.get(), comet_.get());
  auto source = RemoteSeedSource::Open(
      {.url = signerd.url(),
       .token_file = signerd.TokenFile("wrong-token", "ffffffffffffffffffffffffffffffff"),
       .public_key = crypto::HexEncode(warm_.public_key().view()),
       .token_file_what = "--seed-signer-token-file"});
  ASSERT_TRUE(source.ok()) << source.status();
  auto seed = (*source)->Seed(1);
  EXPECT_EQ(seed.status().code(), absl::StatusCode::kUnauthenticated) << seed.status();
  EXPECT_NE(seed.status().message().find("HTTP 401"), std::string::npos) << seed.status();
  EXPECT_NE(seed.status().message().find("--seed-signer-token-file"), std::string::npos);
  EXPECT_EQ(seed.status().message().find("ffffffff"), std::string::npos) << "token leaked";

  // Bad options stop at Open, naming the option.
  auto no_key = RemoteSeedSource::Open({.url = signerd.url(),
                                        .token_file = signerd.TokenFile("t2", kGoodToken),
                                        .public_key = "not-a-key"});
  EXPECT_EQ(no_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_key.status().message().find("seed signer public key"), std::string::npos);
  auto bad_url = RemoteSeedSource::Open({.url = "signerd:8081"});
  EXPECT_EQ(bad_url.status().code(), absl::StatusCode::kInvalidArgument);

  // signerd's 400s name the field.
  net::HttpClient http;
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(absl::Seconds(5));
  call.headers.Set("Authorization", absl::StrCat("Bearer ", kGoodToken));
  const std::string url = signerd.url() + "/v1/seed";
  for (const auto& [body, want] : std::vector<std::pair<std::string, std::string>>{
           {"{}", "epoch: required"},
           {"{\"epoch\": -1}", "epoch:"},
           {"{\"epoch\": \"12x\"}", "epoch:"},
           {"{\"epoch\": 1, \"bytes\": \"00\"}", "unknown field"},
           {"[1]", "not a JSON object"}}) {
    auto r = http.Post(url, body, "application/json", call);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_NE(r->body.find(want), std::string::npos) << body << " -> " << r->body;
  }
  auto ok = http.Post(url, "{\"epoch\": 7}", "application/json", call);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_NE(ok->body.find(GenerateSeed(warm_, 7).signature_hex), std::string::npos) << ok->body;
  auto anonymous = http.Post(url, "{\"epoch\": 7}", "application/json",
                             net::HttpCallOptions::Timeout(absl::Seconds(5)));
  ASSERT_TRUE(anonymous.ok()) << anonymous.status();
  EXPECT_EQ(anonymous->status, 401);
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
