// devchain in-process: blocks, epochs, the CometBFT JSON-RPC shapes and errors, WebSocket
// subscriptions and fault knobs.
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/chain/commit_verify.h"
#include "gonka/crypto/hash.h"
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

// Reads one WebSocket message within `timeout` ("" if none came).
std::string ReadWithin(boost::beast::websocket::stream<boost::asio::ip::tcp::socket>& ws,
                       boost::asio::io_context& ioc, absl::Duration timeout) {
  boost::beast::flat_buffer buffer;
  bool done = false;
  boost::beast::error_code ec;
  ws.async_read(buffer, [&](boost::beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  if (!done) {
    ws.next_layer().cancel();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(1));
    return "";
  }
  return ec ? "" : boost::beast::buffers_to_string(buffer.data());
}

std::string Minify(simdjson::dom::element e) { return simdjson::minify(e); }

// Every commit devchain publishes is signed by its validator key over CometBFT's canonical vote:
// /block's last_commit and /commit verify against /validators (gonka/chain/commit_verify.h).
TEST_F(DevchainTest, CommitsAreSignedByTheValidatorKey) {
  for (int i = 0; i < 3; ++i) chain_->ProduceBlock();
  absl::StatusOr<chain::ValidatorsPage> validators =
      chain::ParseValidatorsAnswer(Get("/validators?height=3"));
  ASSERT_TRUE(validators.ok()) << validators.status();
  ASSERT_EQ(validators->validators.size(), 1u);
  EXPECT_EQ(validators->validators[0].public_key, chain_->validator().public_key());
  simdjson::dom::parser parser;
  auto block3 = Parse(parser, Get("/block?height=3"));
  absl::StatusOr<chain::SignedBlock> signed_block =
      chain::ParseBlockJson(Minify(block3["result"]["block"]));
  ASSERT_TRUE(signed_block.ok()) << signed_block.status();
  EXPECT_TRUE(chain::VerifyLastCommit(*signed_block, validators->validators).ok())
      << chain::VerifyLastCommit(*signed_block, validators->validators);
  // Under another chain id the same signatures do not verify.
  chain::SignedBlock other = *signed_block;
  other.chain_id = "other-chain";
  EXPECT_EQ(chain::VerifyLastCommit(other, validators->validators).code(),
            absl::StatusCode::kUnauthenticated);
  // /commit at a past height and at the tip (the seen commit, signed at the tip's time).
  for (int height : {2, 3}) {
    simdjson::dom::parser pc;
    auto commit = Parse(pc, Get(absl::StrCat("/commit?height=", height)))["result"].value();
    const std::string block_json =
        absl::StrCat("{\"header\":{\"chain_id\":\"test-chain\",\"height\":\"", height + 1,
                     "\"},\"last_commit\":", Minify(commit["signed_header"]["commit"]), "}");
    absl::StatusOr<chain::SignedBlock> from_commit = chain::ParseBlockJson(block_json);
    ASSERT_TRUE(from_commit.ok()) << from_commit.status();
    EXPECT_TRUE(chain::VerifyLastCommit(*from_commit, validators->validators).ok())
        << height << ": " << chain::VerifyLastCommit(*from_commit, validators->validators);
  }
}

TEST(ChainValidatorTest, SeedChoosesTheKey) {
  AcceptAll executor;
  ChainOptions options;
  options.validator_seed = std::string(32, '\x07');
  Chain chain(options, &executor);
  absl::StatusOr<ValidatorKey> key = ValidatorKey::FromSeed(std::string(32, '\x07'));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(chain.validator().public_key(), key->public_key());
  EXPECT_NE(chain.validator().public_key(), ValidatorKey::Default().public_key());
  EXPECT_EQ(chain.validator().address(), chain::ValidatorAddress(key->public_key()));
  EXPECT_EQ(chain.ProduceBlock()->proposer, key->address());
  options.validator_seed = "short";
  EXPECT_THAT(std::string(Chain::Validate(options).message()), HasSubstr("validator_seed"));
}

TEST_F(DevchainTest, CommitHeaderValidatorsGenesis) {
  for (int i = 0; i < 3; ++i) chain_->ProduceBlock();
  auto block2 = Parse(parser_, Get("/block?height=2"));
  std::string header2 = Minify(block2["result"]["block"]["header"]);
  std::string hash2 = Str(block2["result"]["block_id"]["hash"]);
  simdjson::dom::parser p3;
  auto block3 = Parse(p3, Get("/block?height=3"));
  simdjson::dom::parser ps;
  std::string validator = Str(Parse(ps, Get("/status"))["result"]["validator_info"]["address"]);

  // A past height: the header, and the commit block 3 carries as its last_commit.
  simdjson::dom::parser pc;
  auto commit = Parse(pc, Get("/commit?height=2"))["result"].value();
  EXPECT_EQ(Minify(commit["signed_header"]["header"]), header2);
  EXPECT_TRUE(commit["canonical"].get_bool().value());
  EXPECT_EQ(Str(commit["signed_header"]["commit"]["height"]), "2");
  EXPECT_EQ(Str(commit["signed_header"]["commit"]["block_id"]["hash"]), hash2);
  EXPECT_EQ(Minify(commit["signed_header"]["commit"]),
            Minify(block3["result"]["block"]["last_commit"]));
  auto signature = commit["signed_header"]["commit"]["signatures"].at(0).value();
  EXPECT_EQ(signature["block_id_flag"].get_int64().value(), 2);
  EXPECT_EQ(Str(signature["validator_address"]), validator);
  // The tip: the seen commit, not canonical.
  auto tip = Parse(parser_, Get("/commit"));
  EXPECT_FALSE(tip["result"]["canonical"].get_bool().value());
  EXPECT_EQ(Str(tip["result"]["signed_header"]["header"]["height"]), "3");

  auto header = Parse(parser_, Get("/header?height=2"));
  EXPECT_EQ(Minify(header["result"]["header"]), header2);
  header = Parse(parser_, Get("/header_by_hash?hash=0x" + hash2));
  EXPECT_EQ(Minify(header["result"]["header"]), header2);
  // header_by_hash takes HexBytes (hex in JSON), block_by_hash []byte (base64 in JSON).
  header = Parse(parser_, Post(absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"header_by_hash",)",
                                            R"("params":{"hash":")", hash2, R"("}})")));
  EXPECT_EQ(Minify(header["result"]["header"]), header2);
  std::string raw_hash;
  ASSERT_TRUE(crypto::HexDecode(hash2, "hash", &raw_hash).ok());
  auto by_hash = Parse(
      parser_, Post(absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":"block_by_hash",)",
                                 R"("params":{"hash":")", absl::Base64Escape(raw_hash), R"("}})")));
  EXPECT_EQ(Str(by_hash["result"]["block"]["header"]["height"]), "2");
  auto unknown = Parse(parser_, Get("/block_by_hash?hash=0x" + std::string(64, 'A')));
  EXPECT_TRUE(unknown["result"]["block"].is_null());
  unknown = Parse(parser_, Get("/header_by_hash?hash=0x" + std::string(64, 'A')));
  EXPECT_TRUE(unknown["result"]["header"].is_null());

  // One validator; with no height, the next block's set (CometBFT: latest height + 1).
  auto validators = Parse(parser_, Get("/validators"))["result"].value();
  EXPECT_EQ(Str(validators["block_height"]), "4");
  EXPECT_EQ(Str(validators["count"]), "1");
  EXPECT_EQ(Str(validators["total"]), "1");
  EXPECT_EQ(Str(validators["validators"].at(0)["address"]), validator);
  EXPECT_EQ(Str(validators["validators"].at(0)["voting_power"]), "10");
  EXPECT_EQ(Str(validators["validators"].at(0)["pub_key"]["type"]), "tendermint/PubKeyEd25519");
  auto page = Parse(parser_, Get("/validators?height=2&page=2", 500));
  EXPECT_EQ(page["error"]["code"].get_int64().value(), -32603);
  EXPECT_EQ(Str(page["error"]["data"]), "page should be within [1, 1] range, given 2");
  auto beyond = Parse(parser_, Get("/validators?height=9", 500));
  EXPECT_EQ(Str(beyond["error"]["data"]),
            "height 9 must be less than or equal to the current blockchain height 4");

  auto params = Parse(parser_, Get("/consensus_params?height=2"))["result"].value();
  EXPECT_EQ(Str(params["block_height"]), "2");
  EXPECT_EQ(Str(params["consensus_params"]["block"]["max_bytes"]), "22020096");
  EXPECT_EQ(Str(params["consensus_params"]["evidence"]["max_age_duration"]), "172800000000000");

  auto genesis = Parse(parser_, Get("/genesis"))["result"]["genesis"].value();
  EXPECT_EQ(Str(genesis["chain_id"]), "test-chain");
  EXPECT_EQ(Str(genesis["initial_height"]), "1");
  EXPECT_EQ(Str(genesis["validators"].at(0)["power"]), "10");
  EXPECT_EQ(Str(genesis["validators"].at(0)["address"]), validator);
  auto net = Parse(parser_, Get("/net_info"))["result"].value();
  EXPECT_EQ(Str(net["n_peers"]), "0");
  EXPECT_EQ(net["peers"].get_array().size(), 0u);

  // "params": null is no params; bad params name the parameter.
  auto null_params =
      Parse(parser_, Post(R"({"jsonrpc":"2.0","id":1,"method":"validators","params":null})"));
  EXPECT_EQ(Str(null_params["result"]["total"]), "1");
  auto bad = Parse(parser_, Get("/commit?height=abc", 500));
  EXPECT_EQ(bad["error"]["code"].get_int64().value(), -32602);
  EXPECT_THAT(Str(bad["error"]["data"]), HasSubstr("height"));
  bad = Parse(parser_,
              Post(R"({"jsonrpc":"2.0","id":1,"method":"validators","params":{"per_page":5}})"));
  EXPECT_EQ(bad["error"]["code"].get_int64().value(), -32602);
  EXPECT_THAT(Str(bad["error"]["data"]), HasSubstr("per_page"));
  bad = Parse(parser_,
              Post(R"({"jsonrpc":"2.0","id":1,"method":"header_by_hash","params":{"hash":"zz"}})"));
  EXPECT_EQ(bad["error"]["code"].get_int64().value(), -32602);
  EXPECT_THAT(Str(bad["error"]["data"]), HasSubstr("hash"));
}

TEST_F(DevchainTest, TxSearchBlockSearchMempool) {
  chain_->ProduceBlock();
  ASSERT_EQ(chain_->Broadcast("a1").result.code, 0u);
  ASSERT_EQ(chain_->Broadcast("a2").result.code, 0u);
  chain_->ProduceBlock();  // 2: a1, a2
  ASSERT_EQ(chain_->Broadcast("b1").result.code, 0u);
  chain_->ProduceBlock();  // 3: b1
  chain_->ProduceBlock();  // 4: empty

  auto search = [&](const std::string& uri_query) -> simdjson::dom::element {
    return Parse(parser_, Get("/tx_search?" + uri_query))["result"].value();
  };
  auto keys = [](simdjson::dom::element result) {
    std::string out;
    for (auto tx : result["txs"].get_array()) {
      std::string decoded;
      absl::Base64Unescape(Str(tx["tx"]), &decoded);
      absl::StrAppend(&out, out.empty() ? "" : ",", decoded);
    }
    return out;
  };
  auto r = search("query=\"tx.height=2\"");
  EXPECT_EQ(Str(r["total_count"]), "2");
  EXPECT_EQ(keys(r), "a1,a2");
  r = search("query=\"record.key='b1'\"");
  EXPECT_EQ(keys(r), "b1");
  EXPECT_EQ(Str(r["txs"].at(0)["height"]), "3");
  r = search("query=\"tx.height>=2%20AND%20tx.height<3\"");
  EXPECT_EQ(keys(r), "a1,a2");
  r = search("query=\"tx.height>1\"&order_by=\"desc\"");
  EXPECT_EQ(keys(r), "b1,a2,a1");
  r = search("query=\"tx.height<1e300\"");  // absurd bounds are no bound
  EXPECT_EQ(Str(r["total_count"]), "3");
  r = search("query=\"record.key='a1'%20AND%20tx.height=3\"");
  EXPECT_EQ(Str(r["total_count"]), "0");
  r = search("query=\"record.key='a2'%20AND%20record.height=2\"");
  EXPECT_EQ(keys(r), "a2");
  r = search("query=\"tx.height>1\"&per_page=1&page=2");
  EXPECT_EQ(Str(r["total_count"]), "3");
  EXPECT_EQ(keys(r), "a2");
  auto page = Parse(parser_, Get("/tx_search?query=\"tx.height>1\"&per_page=1&page=4", 500));
  EXPECT_EQ(Str(page["error"]["data"]), "page should be within [1, 3] range, given 4");
  auto order = Parse(parser_, Get("/tx_search?query=\"tx.height>1\"&order_by=\"up\"", 500));
  EXPECT_THAT(Str(order["error"]["data"]), HasSubstr("order_by"));
  auto post = Parse(parser_, Post(R"({"jsonrpc":"2.0","id":1,"method":"tx_search","params":)"
                                  R"({"query":"record.key='a1'","prove":false,"page":"1",)"
                                  R"("per_page":"30","order_by":"asc"}})"));
  EXPECT_EQ(Str(post["result"]["total_count"]), "1");

  auto blocks =
      Parse(parser_, Get("/block_search?query=\"block.height>=2%20AND%20block.height<=3\""));
  EXPECT_EQ(Str(blocks["result"]["total_count"]), "2");
  EXPECT_EQ(Str(blocks["result"]["blocks"].at(0)["block"]["header"]["height"]), "3");  // desc
  blocks =
      Parse(parser_, Get("/block_search?query=\"block.height>1\"&order_by=\"asc\"&per_page=2"));
  EXPECT_EQ(Str(blocks["result"]["total_count"]), "3");
  EXPECT_EQ(blocks["result"]["blocks"].get_array().size(), 2u);
  EXPECT_EQ(Str(blocks["result"]["blocks"].at(0)["block"]["header"]["height"]), "2");

  // Pruned heights leave the indexes.
  chain_->PruneBelow(3);
  r = search("query=\"record.key='a1'\"");
  EXPECT_EQ(Str(r["total_count"]), "0");
  r = search("query=\"record.key='b1'\"");
  EXPECT_EQ(Str(r["total_count"]), "1");

  // Mempool: unconfirmed_txs lists it; check_tx runs CheckTx and leaves the mempool alone.
  ASSERT_EQ(chain_->Broadcast("m1").result.code, 0u);
  auto unconfirmed = Parse(parser_, Get("/unconfirmed_txs?limit=5"))["result"].value();
  EXPECT_EQ(Str(unconfirmed["n_txs"]), "1");
  EXPECT_EQ(Str(unconfirmed["total_bytes"]), "2");
  EXPECT_EQ(Str(unconfirmed["txs"].at(0)), "bTE=");
  EXPECT_EQ(Str(Parse(parser_, Get("/num_unconfirmed_txs"))["result"]["total_bytes"]), "2");
  auto check = Parse(parser_, Get("/check_tx?tx=0x6261642d7478"));  // "bad-tx"
  EXPECT_EQ(check["result"]["code"].get_int64().value(), 4);
  EXPECT_EQ(Str(check["result"]["codespace"]), "sdk");
  check = Parse(parser_,
                Post(R"({"jsonrpc":"2.0","id":1,"method":"check_tx","params":{"tx":"Z29vZA=="}})"));
  EXPECT_EQ(Minify(check["result"]), "{}");  // code 0: every field omitted
  EXPECT_EQ(chain_->mempool_size(), 1u);
}

TEST(DevchainBlockSearchTest, FinalizeBlockEvents) {
  ChainOptions options;
  options.epochs.epoch_length = 30;
  options.epochs.poc_stage_duration = 5;
  options.epochs.poc_validation_duration = 5;
  options.epochs.poc_validation_delay = 2;
  options.epochs.poc_exchange_duration = 2;
  options.epochs.set_new_validators_delay = 3;
  Chain chain(options, nullptr);
  net::HttpServer server;
  RpcService rpc(&chain, &server, RpcOptions());
  ASSERT_TRUE(server.Start().ok());
  for (int i = 0; i < 65; ++i) chain.ProduceBlock();
  TestClient client(server.port());
  auto res = client.Get("/block_search?query=\"epoch_stage.stage='StartOfPoC'\"&order_by=\"asc\"");
  simdjson::dom::parser parser;
  auto result = Parse(parser, res.body())["result"].value();
  EXPECT_EQ(Str(result["total_count"]), "2") << res.body();
  EXPECT_EQ(Str(result["blocks"].at(0)["block"]["header"]["height"]), "30");
  EXPECT_EQ(Str(result["blocks"].at(1)["block"]["header"]["height"]), "60");
  res =
      client.Get("/block_search?query=\"epoch_stage.stage='StartOfPoC'%20AND%20block.height>40\"");
  auto later = Parse(parser, res.body())["result"].value();
  EXPECT_EQ(Str(later["total_count"]), "1") << res.body();
  server.Stop(absl::Now() + absl::Seconds(2));
}

TEST(DevchainBlockSearchTest, EpochShiftMovesEveryPocStartEarlier) {
  ChainOptions options;
  options.epochs.epoch_length = 30;
  options.epochs.epoch_shift = 20;  // PoC at 10, 40, 70 (Gonka: e * length - shift)
  options.epochs.poc_stage_duration = 5;
  options.epochs.poc_validation_duration = 5;
  options.epochs.poc_validation_delay = 2;
  options.epochs.poc_exchange_duration = 2;
  options.epochs.set_new_validators_delay = 3;
  Chain chain(options, nullptr);
  net::HttpServer server;
  RpcService rpc(&chain, &server, RpcOptions());
  ASSERT_TRUE(server.Start().ok());
  for (int i = 0; i < 65; ++i) chain.ProduceBlock();
  TestClient client(server.port());
  auto res = client.Get("/block_search?query=\"epoch_stage.stage='StartOfPoC'\"&order_by=\"asc\"");
  simdjson::dom::parser parser;
  auto result = Parse(parser, res.body())["result"].value();
  ASSERT_EQ(Str(result["total_count"]), "2") << res.body();
  EXPECT_EQ(Str(result["blocks"].at(0)["block"]["header"]["height"]), "10");
  EXPECT_EQ(Str(result["blocks"].at(1)["block"]["header"]["height"]), "40");
  server.Stop(absl::Now() + absl::Seconds(2));
}

TEST_F(DevchainTest, WebSocketHeaderEventsAndTxQueriesWithoutTmEvent) {
  boost::asio::io_context ioc;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())});
  ws.handshake("127.0.0.1", "/websocket");
  const absl::Duration kWait = absl::Seconds(5);
  for (
      const char* request :
      {R"({"jsonrpc":"2.0","method":"subscribe","id":1,"params":{"query":"tm.event='NewBlockHeader'"}})",
       R"({"jsonrpc":"2.0","method":"subscribe","id":2,"params":{"query":"tm.event='NewBlockEvents'"}})",
       R"({"jsonrpc":"2.0","method":"subscribe","id":3,"params":{"query":"record.key='w1'"}})"}) {
    ws.write(boost::asio::buffer(std::string(request)));
    EXPECT_THAT(ReadWithin(ws, ioc, kWait), HasSubstr("\"result\":{}"));
  }
  ASSERT_EQ(chain_->Broadcast("w0").result.code, 0u);
  ASSERT_EQ(chain_->Broadcast("w1").result.code, 0u);
  chain_->ProduceBlock();
  std::map<int64_t, std::string> by_id;
  for (int i = 0; i < 3; ++i) {
    std::string message = ReadWithin(ws, ioc, kWait);
    ASSERT_FALSE(message.empty()) << "event " << i << " not delivered within 5 s";
    simdjson::dom::parser parser;
    auto root = Parse(parser, message);
    by_id[root["id"].get_int64().value()] = message;
  }
  simdjson::dom::parser parser;
  auto header = Parse(parser, by_id[1])["result"].value();
  EXPECT_EQ(Str(header["data"]["type"]), "tendermint/event/NewBlockHeader");
  EXPECT_EQ(Str(header["data"]["value"]["header"]["height"]), "1");
  EXPECT_EQ(Str(header["events"]["tm.event"].at(0)), "NewBlockHeader");
  simdjson::dom::parser parser2;
  auto events = Parse(parser2, by_id[2])["result"].value();
  EXPECT_EQ(Str(events["data"]["type"]), "tendermint/event/NewBlockEvents");
  EXPECT_EQ(Str(events["data"]["value"]["height"]), "1");
  EXPECT_EQ(Str(events["data"]["value"]["num_txs"]), "2");
  EXPECT_TRUE(events["data"]["value"]["events"].is_array());
  simdjson::dom::parser parser3;
  auto tx = Parse(parser3, by_id[3])["result"].value();
  EXPECT_EQ(Str(tx["data"]["type"]), "tendermint/event/Tx");
  EXPECT_EQ(Str(tx["data"]["value"]["TxResult"]["tx"]), "dzE=");  // only w1
  EXPECT_EQ(Str(tx["events"]["tx.height"].at(0)), "1");
  // Nothing else was pushed (w0 does not match; one event per subscription).
  EXPECT_EQ(ReadWithin(ws, ioc, absl::Milliseconds(300)), "");
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
