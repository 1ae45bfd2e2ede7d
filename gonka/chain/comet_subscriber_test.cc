// CometSubscriber against an in-process devchain: consecutive NewBlock heights, and after the
// devchain drops every WebSocket (fault knob) it reconnects, resubscribes and continues.
#include "gonka/chain/comet_subscriber.h"

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

TEST(CometSubscriberTest, FollowsNewBlocksAcrossDroppedSockets) {
  devchain::ChainOptions options;
  options.block_interval = absl::Milliseconds(50);
  devchain::Chain chain(options, nullptr);
  net::HttpServer server;
  devchain::RpcService rpc(&chain, &server, {});
  ASSERT_TRUE(server.Start().ok());
  chain.Start();

  std::mutex mu;
  std::vector<int64_t> heights;
  CometSubscriber sub({.ws_url = absl::StrCat("ws://127.0.0.1:", server.port(), "/websocket")},
                      [&](int64_t h) {
                        std::lock_guard<std::mutex> lock(mu);
                        heights.push_back(h);
                      });
  ASSERT_TRUE(sub.Start().ok());
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return heights.size();
  };
  ASSERT_TRUE(testing::WaitFor([&] { return count() >= 5; }, absl::Seconds(10)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 1; i < heights.size(); ++i) EXPECT_EQ(heights[i], heights[i - 1] + 1);
  }
  rpc.DropWebSockets();
  size_t before = count();
  ASSERT_TRUE(testing::WaitFor([&] { return sub.subscriptions() >= 2 && count() >= before + 5; },
                               absl::Seconds(10))
                  .ok())
      << "subscriptions " << sub.subscriptions();
  EXPECT_LE(sub.latest_height(), chain.height());
  sub.Stop();
  chain.Stop();
}

TEST(CometSubscriberTest, ParsesOnlyNewBlockEvents) {
  EXPECT_EQ(CometSubscriber::ParseNewBlockHeight(R"({"jsonrpc":"2.0","id":1,"result":{}})"), 0);
  EXPECT_EQ(CometSubscriber::ParseNewBlockHeight("not json"), 0);
  EXPECT_EQ(
      CometSubscriber::ParseNewBlockHeight(
          R"({"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"42"}}}}}})"),
      42);
  EXPECT_EQ(CometSubscriber::ParseNewBlockHeight(
                R"({"result":{"data":{"type":"tendermint/event/Tx","value":{}}}})"),
            0);
}

}  // namespace
}  // namespace chain
}  // namespace gonka
