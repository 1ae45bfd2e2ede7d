// CometClient against an in-process devchain over real HTTP.
#include "gonka/chain/comet_client.h"

#include "gmock/gmock.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

using ::testing::HasSubstr;

class Recorder : public devchain::TxExecutor {
 public:
  devchain::TxResult Check(absl::string_view tx, const devchain::TxContext&) override {
    if (tx == "bad") return {4, "sdk", "signature verification failed"};
    return {};
  }
  devchain::TxResult Deliver(absl::string_view, const devchain::TxContext&) override {
    devchain::TxResult r;
    r.gas_used = 7;
    return r;
  }
  QueryResult Query(absl::string_view path, absl::string_view data, int64_t) override {
    if (path == "/cosmos.auth.v1beta1.Query/Account")
      return {0, "", "", absl::StrCat("acct:", data)};
    return {22, "sdk", "account not found", ""};
  }
};

class CometClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    devchain::ChainOptions options;
    options.chain_id = "comet-test";
    options.synthetic_txs_per_block = 3;
    chain_ = std::make_unique<devchain::Chain>(options, &executor_);
    rpc_ = std::make_unique<devchain::RpcService>(chain_.get(), &server_, devchain::RpcOptions());
    ASSERT_TRUE(server_.Start().ok());
    client_ = std::make_unique<CometClient>(
        CometClientOptions{.rpc_url = absl::StrCat("http://127.0.0.1:", server_.port())});
  }
  Recorder executor_;
  net::HttpServer server_;
  std::unique_ptr<devchain::Chain> chain_;
  std::unique_ptr<devchain::RpcService> rpc_;
  std::unique_ptr<CometClient> client_;
};

TEST_F(CometClientTest, StatusAndBlockEvents) {
  for (int i = 0; i < 4; ++i) chain_->ProduceBlock();
  absl::StatusOr<CometStatus> s = client_->Status();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->chain_id, "comet-test");
  EXPECT_EQ(s->latest_height, 4);
  EXPECT_EQ(s->earliest_height, 1);
  EXPECT_EQ(s->latest_time, chain_->Latest()->time);

  absl::StatusOr<v1::BlockEvents> b = client_->FetchBlockEvents(3, {.chain_id = "comet-test"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->height(), 3);
  EXPECT_EQ(b->txs_size(), 3);

  absl::Status beyond = client_->FetchBlockEvents(9, {}).status();
  EXPECT_EQ(beyond.code(), absl::StatusCode::kOutOfRange) << beyond;
  chain_->PruneBelow(3);
  absl::Status pruned = client_->FetchBlockEvents(2, {}).status();
  EXPECT_EQ(pruned.code(), absl::StatusCode::kNotFound) << pruned;
  EXPECT_THAT(std::string(pruned.message()), HasSubstr("lowest height is 3"));
}

TEST_F(CometClientTest, BatchFetchNormalisesEachHeightAndReportsErrorsPerHeight) {
  for (int i = 0; i < 6; ++i) chain_->ProduceBlock();
  std::vector<int64_t> seen;
  absl::Status s = client_->FetchBlockEventsBatch(
      2, 4, {.chain_id = "comet-test"},
      [&](int64_t height, const absl::Status& status, v1::BlockEvents* events) {
        ASSERT_TRUE(status.ok()) << status;
        EXPECT_EQ(events->height(), height);
        EXPECT_EQ(events->txs_size(), 3);
        absl::StatusOr<v1::BlockEvents> single = client_->FetchBlockEvents(height, {});
        ASSERT_TRUE(single.ok());
        EXPECT_EQ(single->SerializeAsString(), events->SerializeAsString());
        seen.push_back(height);
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, (std::vector<int64_t>{2, 3, 4, 5}));

  // A pruned height and one above the tip fail alone; the others are still delivered.
  chain_->PruneBelow(3);
  std::vector<absl::StatusCode> codes;
  s = client_->FetchBlockEventsBatch(2, 6, {},
                                     [&](int64_t, const absl::Status& status, v1::BlockEvents*) {
                                       codes.push_back(status.code());
                                     });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(codes,
            (std::vector<absl::StatusCode>{absl::StatusCode::kNotFound, absl::StatusCode::kOk,
                                           absl::StatusCode::kOk, absl::StatusCode::kOk,
                                           absl::StatusCode::kOk, absl::StatusCode::kOutOfRange}));
  EXPECT_EQ(
      client_
          ->FetchBlockEventsBatch(0, 1, {}, [](int64_t, const absl::Status&, v1::BlockEvents*) {})
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(CometClientTest, LargeTxIsBroadcastInTheRequestBody) {
  chain_->ProduceBlock();
  // 200 KB: far beyond what fits in a GET's URL (devchain's header limit is 64 KB).
  absl::StatusOr<BroadcastResponse> big = client_->BroadcastTxSync(std::string(200 << 10, 'b'));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->code, 0u);
}

TEST_F(CometClientTest, BroadcastTxAndQuery) {
  chain_->ProduceBlock();
  absl::StatusOr<BroadcastResponse> ok = client_->BroadcastTxSync("good-tx");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->code, 0u);
  EXPECT_EQ(ok->hash.size(), 64u);
  absl::StatusOr<BroadcastResponse> bad = client_->BroadcastTxSync("bad");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->code, 4u);
  EXPECT_EQ(bad->codespace, "sdk");
  // The same bytes again: a JSON-RPC error from the mempool cache.
  EXPECT_EQ(client_->BroadcastTxSync("good-tx").status().code(), absl::StatusCode::kUnavailable);

  chain_->ProduceBlock();
  std::string raw_hash;
  ASSERT_TRUE(crypto::HexDecode(ok->hash, "hash", &raw_hash).ok());
  absl::StatusOr<TxInfo> tx = client_->Tx(raw_hash);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->height, 2);
  EXPECT_EQ(tx->gas_used, 7);
  EXPECT_EQ(client_->Tx(std::string(32, 'x')).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<AbciQueryResponse> q =
      client_->AbciQuery("/cosmos.auth.v1beta1.Query/Account", std::string("\x0a\x01\x41", 3));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->value, std::string("acct:\x0a\x01\x41", 8));
  q = client_->AbciQuery("/other", "");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->code, 22u);
}

TEST(CometClientErrors, RefusedConnectionIsUnavailable) {
  net::HttpServer probe;
  ASSERT_TRUE(probe.Start().ok());
  int port = probe.port();
  probe.Stop(absl::Now());
  CometClient client(
      {.rpc_url = absl::StrCat("http://127.0.0.1:", port), .timeout = absl::Seconds(2)});
  absl::Status s = client.Status().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

}  // namespace
}  // namespace chain
}  // namespace gonka
