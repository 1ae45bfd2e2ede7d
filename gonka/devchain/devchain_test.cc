// devchain in-process: blocks, epochs, the CometBFT JSON-RPC shapes and errors, WebSocket
// subscriptions and fault knobs.
#include <memory>
#include <string>

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

namespace http = boost::beast::http;
using ::gonka::testing::TestClient;
using ::testing::HasSubstr;

// Accepts every tx; records a deterministic result with an event (stands in for the Cosmos rules
// in these transport tests).
class AcceptAll : public TxExecutor {
 public:
  TxResult Check(absl::string_view tx, const TxContext&) override {
    if (absl::StartsWith(tx, "bad")) return {4, "sdk", "signature verification failed"};
    return {};
  }
  TxResult Deliver(absl::string_view tx, const TxContext& c) override {
    TxResult r;
    r.gas_wanted = 100;
    r.gas_used = 50;
    r.events = {{"record", {{"key", std::string(tx)}, {"height", absl::StrCat(c.height)}}}};
    return r;
  }
};

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  return root;
}

std::string Str(simdjson::dom::element e) { return std::string(e.get_string().value()); }

class DevchainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChainOptions options;
    options.chain_id = "test-chain";
    options.block_interval = absl::Milliseconds(50);
    options.epochs.epoch_length = 400;
    chain_ = std::make_unique<Chain>(options, &executor_);
    server_ = std::make_unique<net::HttpServer>();
    rpc_ = std::make_unique<RpcService>(chain_.get(), server_.get(), RpcOptions());
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    chain_->Stop();
    server_->Stop(absl::Now() + absl::Seconds(2));
  }

  std::string Get(const std::string& target, int expect_status = 200) {
    TestClient client(server_->port());
    auto res = client.Get(target);
    EXPECT_EQ(res.result_int(), expect_status) << target << " " << res.body();
    return res.body();
  }
  std::string Post(const std::string& body, int expect_status = 200) {
    TestClient client(server_->port());
    auto res = client.Send(http::verb::post, "/", body);
    EXPECT_EQ(res.result_int(), expect_status) << body << " " << res.body();
    return res.body();
  }

  AcceptAll executor_;
  std::unique_ptr<Chain> chain_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<RpcService> rpc_;
  simdjson::dom::parser parser_;
};

TEST(ChainDataDirTest, RestartKeepsBlocksAndState) {
  testing::TempDir dir("devchain-data");
  ChainOptions options;
  options.chain_id = "persist";
  options.data_dir = dir.Join("chain");
  options.synthetic_txs_per_block = 2;
  std::vector<std::string> hashes;
  std::string tx_hash;
  {
    AcceptAll executor;
    Chain chain(options, &executor);
    ASSERT_TRUE(chain.Open().ok());
    for (int i = 0; i < 5; ++i) {
      if (i == 2) tx_hash = chain.Broadcast("persisted-tx").hash;
      hashes.push_back(chain.ProduceBlock()->hash);
    }
  }
  // A torn write at the end (a crash mid-append) is dropped.
  {
    std::FILE* f = std::fopen((options.data_dir + "/blocks.log").c_str(), "ab");
    std::fwrite("\x40\x00\x00\x00garbage", 1, 11, f);
    std::fclose(f);
  }
  AcceptAll executor;
  Chain chain(options, &executor);
  ASSERT_TRUE(chain.Open().ok());
  EXPECT_EQ(chain.height(), 5);
  for (int h = 1; h <= 5; ++h) EXPECT_EQ((*chain.GetBlock(h))->hash, hashes[h - 1]) << h;
  absl::StatusOr<TxLocation> tx = chain.GetTx(tx_hash);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->block->height, 3);
  EXPECT_EQ((*chain.GetBlock(3))->txs.size(), 3u);  // 1 real + 2 synthetic
  BlockPtr next = chain.ProduceBlock();
  EXPECT_EQ(next->height, 6);
  EXPECT_EQ(next->last_hash, hashes[4]);
  // The same bytes are still known: a replay is refused as CometBFT's cache would.
  EXPECT_EQ(chain.Broadcast("persisted-tx").rpc_error, "tx already exists in cache");
}

TEST(ChainOptionsTest, ValidateNamesTheField) {
  ChainOptions o;
  o.block_interval = absl::ZeroDuration();
  EXPECT_THAT(std::string(Chain::Validate(o).message()), HasSubstr("block_interval"));
  o = {};
  o.epochs.epoch_length = 100;  // shorter than the PoC schedule
  EXPECT_THAT(std::string(Chain::Validate(o).message()), HasSubstr("epoch_length"));
}

TEST_F(DevchainTest, StatusAndBlocks) {
  for (int i = 0; i < 3; ++i) chain_->ProduceBlock();
  auto status = Parse(parser_, Get("/status"));
  EXPECT_EQ(status["id"].get_int64().value(), -1);
  EXPECT_EQ(Str(status["result"]["node_info"]["network"]), "test-chain");
  EXPECT_EQ(Str(status["result"]["sync_info"]["latest_block_height"]), "3");
  EXPECT_EQ(Str(status["result"]["sync_info"]["earliest_block_height"]), "1");

  auto block = Parse(parser_, Get("/block?height=2"));
  EXPECT_EQ(Str(block["result"]["block"]["header"]["height"]), "2");
  EXPECT_EQ(Str(block["result"]["block"]["header"]["chain_id"]), "test-chain");
  auto block3 = Parse(parser_, Get("/block"));
  std::string last_hash = Str(block3["result"]["block"]["header"]["last_block_id"]["hash"]);
  auto block2 = Parse(parser_, Get("/block?height=2"));
  EXPECT_EQ(last_hash, Str(block2["result"]["block_id"]["hash"]));  // chained
  EXPECT_EQ(last_hash.size(), 64u);

  auto results = Parse(parser_, Get("/block_results?height=1"));
  EXPECT_EQ(Str(results["result"]["height"]), "1");
  EXPECT_TRUE(results["result"]["txs_results"].is_null());

  auto chainlist = Parse(parser_, Get("/blockchain?minHeight=1&maxHeight=3"));
  EXPECT_EQ(chainlist["result"]["block_metas"].get_array().size(), 3u);
  EXPECT_EQ(Get("/health"), "{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":{}}");
}

TEST_F(DevchainTest, HeightErrorsAsCometBft) {
  chain_->ProduceBlock();
  auto beyond = Parse(parser_, Get("/block?height=9", 500));
  EXPECT_EQ(beyond["error"]["code"].get_int64().value(), -32603);
  EXPECT_EQ(Str(beyond["error"]["data"]),
            "height 9 must be less than or equal to the current blockchain height 1");
  for (int i = 0; i < 4; ++i) chain_->ProduceBlock();
  chain_->PruneBelow(4);
  auto pruned = Parse(parser_, Get("/block_results?height=2", 500));
  EXPECT_EQ(Str(pruned["error"]["data"]), "height 2 is not available, lowest height is 4");
  auto status = Parse(parser_, Get("/status"));
  EXPECT_EQ(Str(status["result"]["sync_info"]["earliest_block_height"]), "4");
}

TEST_F(DevchainTest, JsonRpcPostBatchAndErrors) {
  chain_->ProduceBlock();
  auto res =
      Parse(parser_, Post(R"({"jsonrpc":"2.0","id":7,"method":"block","params":{"height":"1"}})"));
  EXPECT_EQ(res["id"].get_int64().value(), 7);
  EXPECT_EQ(Str(res["result"]["block"]["header"]["height"]), "1");
  // Positional params, string id.
  res = Parse(parser_, Post(R"({"jsonrpc":"2.0","id":"x","method":"block","params":["1"]})"));
  EXPECT_EQ(Str(res["id"]), "x");
  // int64 as a bare number is invalid (CometBFT's libs/json).
  res = Parse(parser_, Post(R"({"jsonrpc":"2.0","id":1,"method":"block","params":{"height":1}})"));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32602);
  res = Parse(parser_, Post(R"({"jsonrpc":"2.0","id":1,"method":"nope"})"));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32601);
  res = Parse(parser_, Post("{not json", 500));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32700);
  res = Parse(parser_, Post("   ", 400));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32600);
  auto batch = Parse(
      parser_,
      Post(R"([{"jsonrpc":"2.0","id":1,"method":"health"},{"jsonrpc":"2.0","method":"health"},)"
           R"({"jsonrpc":"2.0","id":2,"method":"status"}])"));
  EXPECT_EQ(batch.get_array().size(), 2u);  // the notification gets no response
  // Too large a body: 413 before anything is parsed.
  {
    TestClient client(server_->port());
    auto huge = client.Send(http::verb::post, "/", std::string(9 << 20, 'x'));
    EXPECT_EQ(huge.result_int(), 413);
  }
  res =
      Parse(parser_,
            Post(R"({"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"!!"}})"));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32602);  // not base64
  res = Parse(parser_,
              Post(R"({"jsonrpc":"2.0","id":1,"method":"block","params":{"height":["1"]}})"));
  EXPECT_EQ(res["error"]["code"].get_int64().value(), -32602);  // wrong type
  Get("/block?height=abc", 500);
  Get("/tx?hash=0xZZ", 500);
}

TEST_F(DevchainTest, BroadcastTxLandsAndIsFound) {
  chain_->ProduceBlock();
  auto res = Parse(parser_, Get("/broadcast_tx_sync?tx=0x68656c6c6f"));  // "hello"
  EXPECT_EQ(res["result"]["code"].get_int64().value(), 0);
  std::string hash = Str(res["result"]["hash"]);
  EXPECT_EQ(hash.size(), 64u);
  // The same bytes again: CometBFT's cache error.
  auto again = Parse(parser_, Get("/broadcast_tx_sync?tx=0x68656c6c6f", 500));
  EXPECT_EQ(Str(again["error"]["data"]), "tx already exists in cache");
  // A CheckTx rejection: a result with code and codespace.
  auto bad = Parse(
      parser_,
      Post(R"({"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"YmFkdHg="}})"));
  EXPECT_EQ(bad["result"]["code"].get_int64().value(), 4);
  EXPECT_EQ(Str(bad["result"]["codespace"]), "sdk");

  chain_->ProduceBlock();
  auto tx = Parse(parser_, Get(absl::StrCat("/tx?hash=0x", hash)));
  EXPECT_EQ(Str(tx["result"]["height"]), "2");
  EXPECT_EQ(Str(tx["result"]["tx"]), "aGVsbG8=");
  EXPECT_EQ(Str(tx["result"]["tx_result"]["gas_used"]), "50");
  auto search = Parse(parser_, Get(absl::StrCat("/tx_search?query=\"tx.hash='", hash, "'\"")));
  EXPECT_EQ(Str(search["result"]["total_count"]), "1");
  auto missing = Parse(parser_, Get(absl::StrCat("/tx?hash=0x", std::string(64, 'A')), 500));
  EXPECT_THAT(Str(missing["error"]["data"]), HasSubstr("not found"));
  auto results = Parse(parser_, Get("/block_results?height=2"));
  EXPECT_EQ(results["result"]["txs_results"].get_array().size(), 1u);
}

TEST_F(DevchainTest, WebSocketNewBlockAndTxSubscriptions) {
  boost::asio::io_context ioc;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())});
  ws.handshake("127.0.0.1", "/websocket");
  auto read = [&] {
    boost::beast::flat_buffer buffer;
    ws.read(buffer);
    return boost::beast::buffers_to_string(buffer.data());
  };
  ws.write(boost::asio::buffer(std::string(
      R"({"jsonrpc":"2.0","method":"subscribe","id":1,"params":{"query":"tm.event='NewBlock'"}})")));
  EXPECT_EQ(read(), R"({"jsonrpc":"2.0","id":1,"result":{}})");
  ws.write(boost::asio::buffer(std::string(
      R"({"jsonrpc":"2.0","method":"subscribe","id":1,"params":{"query":"tm.event='NewBlock'"}})")));
  EXPECT_THAT(read(), HasSubstr("already subscribed"));
  ws.write(boost::asio::buffer(std::string(
      R"({"jsonrpc":"2.0","method":"subscribe","id":"t","params":{"query":"tm.event='Tx' AND record.key='k1'"}})")));
  EXPECT_EQ(read(), R"({"jsonrpc":"2.0","id":"t","result":{}})");

  chain_->Start();
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    std::string message = read();
    auto root = Parse(parser_, message);
    ASSERT_EQ(root["id"].get_int64().value(), 1) << message;
    EXPECT_EQ(Str(root["result"]["data"]["type"]), "tendermint/event/NewBlock");
    int64_t h = std::stoll(Str(root["result"]["data"]["value"]["block"]["header"]["height"]));
    if (last != 0) EXPECT_EQ(h, last + 1);  // consecutive heights
    last = h;
  }
  ASSERT_EQ(chain_->Broadcast("k0").result.code, 0u);
  ASSERT_EQ(chain_->Broadcast("k1").result.code, 0u);
  // Only the matching tx is pushed to the Tx subscription.
  bool got_tx = false;
  for (int i = 0; i < 10 && !got_tx; ++i) {
    std::string message = read();
    auto root = Parse(parser_, message);
    simdjson::dom::element id = root["id"];
    if (id.is_string() && Str(id) == "t") {
      got_tx = true;
      EXPECT_EQ(Str(root["result"]["data"]["type"]), "tendermint/event/Tx");
      EXPECT_EQ(Str(root["result"]["data"]["value"]["TxResult"]["tx"]), "azE=");
      EXPECT_EQ(Str(root["result"]["events"]["tm.event"].at(0)), "Tx");
    }
  }
  EXPECT_TRUE(got_tx);

  // Fault knob: drop every WebSocket.
  rpc_->DropWebSockets();
  boost::beast::error_code ec;
  for (int i = 0; i < 20 && !ec; ++i) {
    boost::beast::flat_buffer buffer;
    ws.read(buffer, ec);
  }
  EXPECT_EQ(ec, boost::beast::websocket::error::closed);
}

TEST_F(DevchainTest, FaultKnobs) {
  chain_->ProduceBlock();
  rpc_->FailBlockResults(1, true);
  auto failed = Parse(parser_, Get("/block_results?height=1", 500));
  EXPECT_THAT(Str(failed["error"]["data"]), HasSubstr("fault"));
  rpc_->FailBlockResults(1, false);
  Get("/block_results?height=1");

  TestClient client(server_->port());
  auto res = client.Send(http::verb::post, "/devchain/fault/reject_broadcasts?code=20&log=full");
  EXPECT_EQ(res.result_int(), 200);
  auto rejected = Parse(parser_, Get("/broadcast_tx_sync?tx=0x01"));
  EXPECT_EQ(rejected["result"]["code"].get_int64().value(), 20);
  EXPECT_EQ(Str(rejected["result"]["log"]), "full");

  chain_->SetStalled(true);
  chain_->Start();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(chain_->height(), 1);
  chain_->SetStalled(false);
  absl::Status resumed = gonka::testing::WaitForValue(
      [&] { return chain_->height(); }, [](int64_t h) { return h >= 2; }, absl::Seconds(5),
      absl::Milliseconds(10), "block 2 after the stall");
  EXPECT_TRUE(resumed.ok()) << resumed;
}

TEST_F(DevchainTest, EpochEventsInBlockResults) {
  ChainOptions options;
  options.epochs.epoch_length = 300;
  options.epochs.poc_stage_duration = 10;
  options.epochs.poc_validation_duration = 10;
  options.epochs.poc_validation_delay = 2;
  options.epochs.poc_exchange_duration = 2;
  options.epochs.set_new_validators_delay = 5;
  Chain chain(options, nullptr);
  BlockPtr b;
  for (int i = 0; i < 300; ++i) b = chain.ProduceBlock();
  ASSERT_EQ(b->height, 300);
  ASSERT_FALSE(b->finalize_block_events.empty());
  EXPECT_EQ(b->finalize_block_events[0].type, "epoch_stage");
  EXPECT_EQ(b->finalize_block_events[0].attributes[0].value, "StartOfPoC");
  EXPECT_THAT(b->block_results_json, HasSubstr("\"epoch_phase_changed\""));
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
