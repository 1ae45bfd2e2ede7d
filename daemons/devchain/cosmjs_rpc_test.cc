// The devchain binary checked by CosmJS (testdata/devchain_oracle/rpc_check.mjs): StargateClient
// and Comet38Client read status, blocks, block results, commit, validators, genesis,
// blockSearch(All), txSearch, header/header_by_hash/block_by_hash, consensus_params, net_info and
// unconfirmed_txs, decoding each with CosmJS's own decoders, and NewBlock / NewBlockHeader
// WebSocket subscriptions receive consecutive heights. Needs `npm install` in
// testdata/devchain_oracle (tools/test does it).
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

TEST(CosmJsRpcTest, CosmJsReadsDevchain) {
  absl::StatusOr<std::string> script =
      testing::ResolveRunfile("testdata/devchain_oracle/rpc_check.mjs");
  ASSERT_TRUE(script.ok()) << script.status();
  testing::DaemonProcess::Options o;
  o.binary = "daemons/devchain/devchain";
  o.args = {"--bind=127.0.0.1",       "--port={{PORT}}",     "--chain-id=oracle-test",
            "--block-interval=100ms", "--drain-announce=0s", "--grpc-address=127.0.0.1:0"};
  testing::DaemonProcess devchain(o);
  ASSERT_TRUE(devchain.Start().ok());

  testing::TempDir dir("cosmjs");
  testing::SubprocessOptions node;
  node.argv = {"node", *script, devchain.url(), "oracle-test"};
  node.log_path = dir.Join("node.log");
  testing::Subprocess check(node);
  ASSERT_TRUE(check.Start().ok());
  absl::StatusOr<int> code = check.Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << check.LogTail();
  EXPECT_EQ(*code, 0) << check.LogTail() << "\ndevchain log:\n" << devchain.LogTail();
  std::printf("%s\n", check.LogTail().c_str());
}

// SigningStargateClient signs and broadcasts MsgSend, MsgGrant and an authz MsgExec, sees them
// included with the right balance changes; a wrong chain-id, a stale sequence and a tampered
// signature are rejected with codes 4, 32 and 4. searchTx / txSearch find the txs by
// message.sender, transfer.recipient and tx.height; a Tx subscription on message.sender without
// tm.event gets the grantee's tx; check_tx passes a valid tx without consuming its sequence.
TEST(CosmJsRpcTest, CosmJsSignsAndBroadcasts) {
  constexpr char kA[] =
      "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
  constexpr char kC[] =
      "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren "
      "bottom lizard educate guess current outdoor pair theory focus wife stone";
  absl::StatusOr<std::string> script =
      testing::ResolveRunfile("testdata/devchain_oracle/sign_check.mjs");
  ASSERT_TRUE(script.ok()) << script.status();
  testing::TempDir dir("cosmjs-sign");
  std::string genesis = dir.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kA,
                                         R"(","balances":{"ngonka":"1000000"}},{"mnemonic":")", kC,
                                         R"(","balances":{"ngonka":"1000000"}}]})");
  testing::DaemonProcess::Options o;
  o.binary = "daemons/devchain/devchain";
  o.args = {"--bind=127.0.0.1",       "--port={{PORT}}",     "--chain-id=sign-test",
            "--block-interval=100ms", "--drain-announce=0s", "--genesis=" + genesis,
            "--grpc-address="};
  testing::DaemonProcess devchain(o);
  ASSERT_TRUE(devchain.Start().ok()) << devchain.LogTail();

  testing::SubprocessOptions node;
  node.argv = {"node", *script, devchain.url(), "sign-test", kA, kC};
  node.log_path = dir.Join("node.log");
  testing::Subprocess check(node);
  ASSERT_TRUE(check.Start().ok());
  absl::StatusOr<int> code = check.Wait(absl::Seconds(90));
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << check.LogTail();
  EXPECT_EQ(*code, 0) << check.LogTail() << "\ndevchain log:\n" << devchain.LogTail();
  std::printf("%s\n", check.LogTail().c_str());
}

}  // namespace
}  // namespace gonka
