// node-manager with no key: the chart's layout, as processes. devchain + NATS + the edge-api hub,
// PostgreSQL, one signerd holding the warm key (authz grantee of the cold participant) with an
// enqueue token file, and one node-manager started with --seed-signer-url/-token-file/-public-key
// and no --key-file. The epoch's MsgSubmitSeed and, an epoch later, MsgClaimRewards must be
// included (signerd's ledger says so; the devchain accepts a claim only if its seed verifies
// against the submitted signature with the grantee's key), and the seed on chain must be the
// warm key's. Bad seed-signer flags stop node-manager at start naming the flag.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/net/http_client.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/proto/inference/inference/query_nodemanager.pb.h"
#include "gonka/signer/signer.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;

constexpr char kCold[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kWarm[] =
    "oyster design unusual machine spread century engine gravity focus cave carry slot";
constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

void WriteSecret(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

TEST(SeedSignerTest, NodeManagerWithoutKeySubmitsSeedAndClaims) {
  testing::TempDir dir("seed-signer");
  crypto::SigningKey cold = *crypto::KeyFromMnemonic(kCold);
  crypto::SigningKey warm = *crypto::KeyFromMnemonic(kWarm);
  const std::string warm_key_file = dir.Join("warm.key");
  WriteSecret(warm_key_file, std::string(kWarm) + "\n");
  const std::string tokens_file = dir.Join("enqueue.tokens");
  WriteSecret(tokens_file, absl::StrCat("node-manager ", kToken, "\n"));
  const std::string seed_token_file = dir.Join("seed-signer.token");
  WriteSecret(seed_token_file, absl::StrCat(kToken, "\n"));

  testing::ChainHub hub(
      {.devchain_args = {"--block-interval=100ms", "--epoch-length=20", "--poc-stage-duration=3",
                         "--poc-validation-duration=2", "--set-new-validators-delay=2"},
       .genesis_json = absl::StrCat(
           R"({"accounts":[{"mnemonic":")", kCold, R"(","balances":{"ngonka":"1000000000000"}},)",
           R"({"mnemonic":")", kWarm, R"(","balances":{"ngonka":"1000"}}]})")});
  ASSERT_TRUE(hub.Start().ok()) << hub.Logs();
  testing::PostgresServer pg;
  ASSERT_TRUE(pg.Start().ok());

  // Gonka's grant of the node-manager's messages from the cold account to the warm key.
  chain::CometClient comet({.rpc_url = hub.devchain().url(), .timeout = absl::Seconds(5)});
  absl::StatusOr<signer::AccountInfo> account = signer::QueryAccount(comet, cold.address());
  ASSERT_TRUE(account.ok()) << account.status();
  cosmos::TxBuilder grant;
  for (const char* t :
       {nodemanager::kMsgSubmitSeed, nodemanager::kMsgClaimRewards,
        nodemanager::kMsgMLNodeWeightDistribution, nodemanager::kMsgPoCV2StoreCommit}) {
    grant.AddMessage(cosmos::MakeGenericGrant(cold.address(), warm.address(), t));
  }
  grant.SetChainId("gonka-devnet")
      .SetAccountNumber(account->account_number)
      .SetSequence(account->sequence)
      .SetFee({{}, 400000, "", ""});
  absl::StatusOr<cosmos::SignedTx> signed_grant = grant.Sign(cold);
  ASSERT_TRUE(signed_grant.ok()) << signed_grant.status();
  absl::StatusOr<chain::BroadcastResponse> sent = comet.BroadcastTxSync(signed_grant->tx_raw);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->code, 0u) << sent->log;

  testing::DaemonProcess::Options s;
  s.binary = "daemons/signerd/signerd";
  s.name = "signerd";
  s.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            "--chain-id=gonka-devnet",
            "--key-file=" + warm_key_file,
            "--exec-granter=" + cold.address(),
            absl::StrCat("--chain-rpc-url=", hub.devchain().url()),
            absl::StrCat("--nats-url=", hub.nats().url()),
            absl::StrCat("--pg-url=", pg.url()),
            "--enqueue-token-file=" + tokens_file,
            "--gas-limit=400000",
            "--retry-delay=500ms",
            "--log-level=warn"};
  testing::DaemonProcess signerd(s);
  ASSERT_TRUE(signerd.Start().ok()) << signerd.LogTail();

  testing::DevMlNode ml({.require_fencing = true, .nonces_per_stage = 4});
  ASSERT_TRUE(ml.Start().ok());
  const std::string nodes_file = testing::WriteMlNodesFile(dir.Join("ml-nodes.json"), {&ml});
  testing::DaemonProcess::Options m =
      testing::NodeManagerOptions(hub, "nm-0", nodes_file, cold.address());
  m.args.push_back("--coordination=nats");
  m.args.push_back(absl::StrCat("--pg-url=", pg.url()));
  std::vector<std::string> seed_flags = {
      "--seed-signer-url=" + signerd.url(), "--seed-signer-token-file=" + seed_token_file,
      "--seed-signer-public-key=" + crypto::HexEncode(warm.public_key().view())};

  // Bad seed-signer configuration stops node-manager at start, naming the flag.
  struct Bad {
    std::vector<std::string> flags;
    std::string names;
  };
  const std::string open_token = dir.Join("open.token");
  WriteSecret(open_token, absl::StrCat(kToken, "\n"), 0644);
  for (const Bad& bad : std::vector<Bad>{
           {{seed_flags[0], seed_flags[1], seed_flags[2], "--key-file=" + warm_key_file},
            "--key-file and --seed-signer-url"},
           {{seed_flags[0], seed_flags[2]}, "--seed-signer-token-file"},
           {{seed_flags[0], "--seed-signer-token-file=" + open_token, seed_flags[2]},
            "--seed-signer-token-file"},
           {{seed_flags[0], seed_flags[1]}, "--seed-signer-public-key"},
           {{seed_flags[0], seed_flags[1], "--seed-signer-public-key=AtestKey"},
            "--seed-signer-public-key"}}) {
    testing::DaemonProcess::Options o = m;
    o.name = "nm-bad";
    for (const std::string& f : bad.flags) o.args.push_back(f);
    testing::DaemonProcess p(o);
    EXPECT_FALSE(p.Start().ok());
    EXPECT_THAT(p.LogTail(), HasSubstr(bad.names)) << absl::StrJoin(bad.flags, " ");
    EXPECT_THAT(p.LogTail(), ::testing::Not(HasSubstr(kToken)));
  }

  for (const std::string& f : seed_flags) m.args.push_back(f);
  testing::DaemonProcess node_manager(m);
  ASSERT_TRUE(node_manager.Start().ok()) << node_manager.LogTail();

  // The ledger state of a key, from signerd's GET /v1/ledger.
  net::HttpClient http;
  auto state = [&](const std::string& key) -> std::string {
    net::HttpCallOptions call = net::HttpCallOptions::Timeout(absl::Seconds(3));
    call.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
    auto r = http.Get(absl::StrCat(signerd.url(), "/v1/ledger?key=", key), call);
    if (!r.ok() || r->status != 200) return "";
    simdjson::dom::parser parser;
    std::string_view v;
    if (parser.parse(r->body)["state"].get(v) != simdjson::SUCCESS) return "";
    return std::string(v);
  };
  // Some epoch e whose seed and (at ClaimMoney of e+1) claim are both included.
  int64_t claimed = 0;
  absl::Status done = testing::WaitFor(
      [&] {
        for (int64_t e = 1; e < 40; ++e) {
          if (state(absl::StrCat("claim/", e, "/", cold.address())) == "included" &&
              state(absl::StrCat("seed/", e, "/", cold.address())) == "included") {
            claimed = e;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(90), absl::Milliseconds(500), "a seed and its claim included");
  ASSERT_TRUE(done.ok()) << done << "\nnode-manager:\n"
                         << node_manager.LogTail() << "\nsignerd:\n"
                         << signerd.LogTail();

  // The signature on chain for that epoch is the warm key's seed signature.
  ::inference::inference::QueryRandomSeedsRequest request;
  request.set_epoch_index(static_cast<uint64_t>(claimed));
  auto q = comet.AbciQuery(nodemanager::kQueryListRandomSeeds, request.SerializeAsString());
  ASSERT_TRUE(q.ok()) << q.status();
  ::inference::inference::QueryRandomSeedsResponse seeds;
  ASSERT_TRUE(seeds.ParseFromString(q->value));
  ASSERT_EQ(seeds.seeds_size(), 1);
  EXPECT_EQ(seeds.seeds(0).participant(), cold.address());
  EXPECT_EQ(seeds.seeds(0).signature(),
            nodemanager::GenerateSeed(warm, static_cast<uint64_t>(claimed)).signature_hex);
}

}  // namespace
}  // namespace gonka
