// InferenceQueryClient against a running devchain process: every query over gRPC and over
// abci_query gives the same answer at a pinned height, past epochs stay answerable, errors map
// to the codes edge-api's GRPCErrorToHTTP needs, and with devchain's gRPC off
// (--grpc-address=) the client answers through abci_query, re-probing gRPC after the interval.
#include "gonka/chain/inference_query_client.h"

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/base/clock.h"
#include "gonka/base/metrics.h"
#include "gonka/chain/ics23.h"
#include "gonka/crypto/bech32.h"
#include "gonka/proto/inference/inference/activeparticipants.pb.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

namespace ipb = ::inference::inference;
using ::cosmos::base::query::v1beta1::PageRequest;

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }

// Epoch e >= 1 starts PoC at 20e and is effective from 20e + 10 (docs/devchain.md).
std::string Genesis() {
  return absl::StrCat(R"({
    "block_interval": "50ms",
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "accounts": [{"address": ")",
                      Address(1), R"(", "balances": {"ngonka": "1000"}},
                 {"address": ")",
                      Address(2), R"(", "balances": {"ngonka": "2000"}}],
    "inference": {
      "models": [{"id": "Qwen/Qwen3-8B", "units_of_compute_per_token": "100"}],
      "participants": [{"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10},
                       {"address": ")",
                      Address(2), R"(", "inference_url": "http://p2", "weight": 20},
                       {"address": ")",
                      Address(3), R"(", "inference_url": "http://p3", "weight": 30}],
      "bridge_addresses": [{"id": "1", "chainId": "ethereum", "address": "0xabc"}]
    }})");
}

class Devchain {
 public:
  // `grpc_port` 0 = gRPC off.
  explicit Devchain(int grpc_port) : dir_("inference-client") {
    std::string genesis = dir_.Join("genesis.json");
    std::ofstream(genesis) << Genesis();
    testing::DaemonProcess::Options o;
    o.binary = "daemons/devchain/devchain";
    o.args = {"--bind=127.0.0.1", "--port={{PORT}}", "--drain-announce=0s", "--genesis=" + genesis,
              grpc_port == 0 ? std::string("--grpc-address=")
                             : absl::StrCat("--grpc-address=127.0.0.1:", grpc_port)};
    process_ = std::make_unique<testing::DaemonProcess>(o);
  }
  absl::Status Start() { return process_->Start(); }
  std::string url() const { return process_->url(); }
  std::string LogTail() { return process_->LogTail(); }

 private:
  testing::TempDir dir_;
  std::unique_ptr<testing::DaemonProcess> process_;
};

// Waits (up to 30 s) until `client` reports effective epoch >= `epoch`.
absl::Status WaitForEpoch(InferenceQueryClient& client, uint64_t epoch) {
  return testing::WaitFor(
      [&] {
        auto current = client.GetCurrentEpoch();
        return current.ok() && current->epoch() >= epoch;
      },
      absl::Seconds(30));
}

int64_t Counter(absl::string_view method, absl::string_view result, absl::string_view transport) {
  std::string prefix =
      absl::StrCat("gonka_chain_query_calls_total{method=\"/inference.inference.Query/", method,
                   "\",result=\"", result, "\",transport=\"", transport, "\"} ");
  std::string text = metrics::ExposeText();
  size_t at = text.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stoll(text.substr(at + prefix.size()));
}

TEST(InferenceQueryClientTest, GrpcAndAbciQueryGiveTheSameAnswersAtAPinnedHeight) {
  int grpc_port = testing::FreePort();
  Devchain devchain(grpc_port);
  ASSERT_TRUE(devchain.Start().ok()) << devchain.LogTail();
  InferenceQueryClient grpc(
      {.grpc_address = absl::StrCat("127.0.0.1:", grpc_port), .rpc_url = devchain.url()});
  InferenceQueryClient abci({.rpc_url = devchain.url()});
  ASSERT_TRUE(WaitForEpoch(grpc, 1).ok()) << devchain.LogTail();

  QueryMeta meta;
  auto info = grpc.EpochInfo(0, &meta);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(meta.transport, QueryTransport::kGrpc);
  EXPECT_EQ(grpc.active_transport(), QueryTransport::kGrpc);
  const int64_t pinned = meta.height;
  ASSERT_GE(pinned, 30);
  EXPECT_EQ(info->block_height(), pinned);
  EXPECT_EQ(info->params().epoch_params().epoch_length(), 20);

  // Each query at `pinned` through both transports: the same bytes, the same height.
  auto same = [&](const char* name, auto call) {
    QueryMeta g, a;
    auto over_grpc = call(grpc, &g);
    auto over_abci = call(abci, &a);
    ASSERT_TRUE(over_grpc.ok()) << name << ": " << over_grpc.status();
    ASSERT_TRUE(over_abci.ok()) << name << ": " << over_abci.status();
    EXPECT_EQ(over_grpc->SerializeAsString(), over_abci->SerializeAsString()) << name;
    EXPECT_EQ(g.transport, QueryTransport::kGrpc) << name;
    EXPECT_EQ(a.transport, QueryTransport::kAbciQuery) << name;
    EXPECT_EQ(g.height, pinned) << name;
    EXPECT_EQ(a.height, pinned) << name;
  };
  same("Params", [&](InferenceQueryClient& c, QueryMeta* m) { return c.Params(pinned, m); });
  same("EpochInfo", [&](InferenceQueryClient& c, QueryMeta* m) { return c.EpochInfo(pinned, m); });
  same("GetCurrentEpoch",
       [&](InferenceQueryClient& c, QueryMeta* m) { return c.GetCurrentEpoch(pinned, m); });
  same("CurrentEpochGroupData",
       [&](InferenceQueryClient& c, QueryMeta* m) { return c.CurrentEpochGroupData(pinned, m); });
  same("EpochGroupData", [&](InferenceQueryClient& c, QueryMeta* m) {
    return c.EpochGroupData(1, "Qwen/Qwen3-8B", pinned, m);
  });
  same("ModelsAll", [&](InferenceQueryClient& c, QueryMeta* m) { return c.ModelsAll(pinned, m); });
  same("ParticipantsWithBalances", [&](InferenceQueryClient& c, QueryMeta* m) {
    return c.ParticipantsWithBalances(PageRequest(), pinned, m);
  });
  same("PocBatchesForStage",
       [&](InferenceQueryClient& c, QueryMeta* m) { return c.PocBatchesForStage(20, pinned, m); });
  same("BridgeAddressesByChain", [&](InferenceQueryClient& c, QueryMeta* m) {
    return c.BridgeAddressesByChain("ethereum", pinned, m);
  });
  same("ExcludedParticipants",
       [&](InferenceQueryClient& c, QueryMeta* m) { return c.ExcludedParticipants(0, pinned, m); });

  // edge-api's participants loop: limit per page, following pages pinned to the first's height.
  PageRequest page;
  page.set_limit(2);
  std::vector<std::string> seen;
  int64_t first_height = 0;
  for (int pages = 0; pages < 10; ++pages) {
    auto answer = grpc.ParticipantsWithBalances(page, first_height);
    ASSERT_TRUE(answer.ok()) << answer.status();
    if (first_height == 0) first_height = answer->block_height();
    EXPECT_EQ(answer->block_height(), first_height);
    for (const auto& p : answer->participants()) seen.push_back(p.participant().address());
    if (answer->pagination().next_key().empty()) break;
    page.set_key(answer->pagination().next_key());
  }
  EXPECT_EQ(seen.size(), 3u);

  // A past epoch stays answerable; a pinned height sees its own epoch.
  auto at5 = abci.GetCurrentEpoch(5);
  ASSERT_TRUE(at5.ok()) << at5.status();
  EXPECT_EQ(at5->epoch(), 0u);
  auto group0 = grpc.EpochGroupData(0, "", pinned);
  ASSERT_TRUE(group0.ok()) << group0.status();
  EXPECT_EQ(group0->epoch_group_data().last_block_height(), 29);

  // Errors, the same code over both transports.
  for (InferenceQueryClient* c : {&grpc, &abci}) {
    EXPECT_EQ(c->EpochGroupData(99, "").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(c->AccountByAddress("gonka1bad").status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c->AccountByAddress(Address(9)).status().code(), absl::StatusCode::kNotFound);
    absl::Status future = c->GetCurrentEpoch(pinned + 1'000'000).status();
    EXPECT_EQ(future.code(), absl::StatusCode::kInvalidArgument) << future;
    EXPECT_THAT(std::string(future.message()), ::testing::HasSubstr("GetCurrentEpoch"));
  }
  // Application errors do not switch transports.
  EXPECT_EQ(grpc.active_transport(), QueryTransport::kGrpc);
}

TEST(InferenceQueryClientTest, FallsBackToAbciQueryWhenGrpcIsOffAndReprobes) {
  Devchain devchain(/*grpc_port=*/0);
  ASSERT_TRUE(devchain.Start().ok()) << devchain.LogTail();
  FakeClock clock;
  InferenceQueryClient client({.grpc_address = absl::StrCat("127.0.0.1:", testing::FreePort()),
                               .rpc_url = devchain.url(),
                               .timeout = absl::Seconds(5),
                               .grpc_reprobe_interval = absl::Minutes(30),
                               .clock = &clock});
  int64_t refused_before = Counter("EpochInfo", "UNAVAILABLE", "grpc");

  QueryMeta meta;
  auto info = client.EpochInfo(0, &meta);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(client.active_transport(), QueryTransport::kAbciQuery);
  EXPECT_EQ(Counter("EpochInfo", "UNAVAILABLE", "grpc"), refused_before + 1);

  // Within the re-probe interval gRPC is not tried again.
  ASSERT_TRUE(client.EpochInfo(0, &meta).ok());
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(Counter("EpochInfo", "UNAVAILABLE", "grpc"), refused_before + 1);
  EXPECT_GE(Counter("EpochInfo", "ok", "abci_query"), 2);

  // Every query answers through abci_query, pinned heights included.
  ASSERT_TRUE(WaitForEpoch(client, 1).ok()) << devchain.LogTail();
  auto group = client.CurrentEpochGroupData(0, &meta);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(group->epoch_group_data().epoch_index(), 1u);
  auto early = client.EpochInfo(3, &meta);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(meta.height, 3);
  EXPECT_EQ(early->latest_epoch().index(), 0u);
  EXPECT_EQ(client.EpochGroupData(7, "").status().code(), absl::StatusCode::kNotFound);

  // After the interval the next call tries gRPC again (still refused) and still answers.
  clock.Advance(absl::Minutes(31));
  EXPECT_EQ(client.active_transport(), QueryTransport::kGrpc);
  ASSERT_TRUE(client.EpochInfo(0, &meta).ok());
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(Counter("EpochInfo", "UNAVAILABLE", "grpc"), refused_before + 2);

  // Without an RPC URL there is no fallback: Unavailable, naming the method and transport.
  InferenceQueryClient grpc_only({.grpc_address = absl::StrCat("127.0.0.1:", testing::FreePort()),
                                  .timeout = absl::Seconds(5)});
  absl::Status down = grpc_only.Params().status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_THAT(std::string(down.message()), ::testing::HasSubstr("Params via grpc"));
}

// Gonka's ActiveParticipantsFullKey(epoch) (docs/reference/gonka.md).
std::string ActiveParticipantsKey(uint64_t epoch) {
  std::string key = "ActiveParticipants/value/";
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(epoch >> shift));
  return key + "/";
}

TEST(InferenceQueryClientTest, RestrictionsBlsAndCmtServiceOverGrpcAndTheFallback) {
  int grpc_port = testing::FreePort();
  Devchain devchain(grpc_port);
  ASSERT_TRUE(devchain.Start().ok()) << devchain.LogTail();
  InferenceQueryClient client({.grpc_address = absl::StrCat("127.0.0.1:", grpc_port),
                               .rpc_url = devchain.url(),
                               .timeout = absl::Seconds(5)});
  // Epoch 1's ActiveParticipants are written at 28; wait until the effective epoch is 1 (30).
  ASSERT_TRUE(WaitForEpoch(client, 1).ok()) << devchain.LogTail();

  QueryMeta meta;
  auto status = client.TransferRestrictionStatus(12, &meta);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(meta.transport, QueryTransport::kGrpc);
  EXPECT_EQ(meta.height, 12);
  EXPECT_EQ(status->current_block_height(), 12u);
  EXPECT_FALSE(status->is_active());  // no restrictions in this genesis: end block 0
  ASSERT_TRUE(client.TransferExemptions().ok());
  EXPECT_EQ(client.ExemptionUsage("", "gonka1nope").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.EpochBLSData(1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client.EpochBLSData(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.SigningStatus("\x01").status().code(), absl::StatusCode::kNotFound);

  auto info = client.GetNodeInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->application_version().name(), "devchain");
  auto block = client.GetBlockByHeight(29);
  ASSERT_TRUE(block.ok()) << block.status();
  EXPECT_EQ(block->sdk_block().header().height(), 29);
  EXPECT_EQ(client.GetBlockByHeight(1'000'000).status().code(), absl::StatusCode::kInvalidArgument);
  auto validators = client.GetValidatorSetByHeight(28);
  ASSERT_TRUE(validators.ok()) << validators.status();
  EXPECT_EQ(validators->validators_size(), 1);

  auto value = client.ABCIQuery("store/inference/key", ActiveParticipantsKey(1), 28, false, &meta);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(meta.transport, QueryTransport::kGrpc);
  EXPECT_EQ(value->code(), 0u);
  EXPECT_EQ(value->height(), 28);
  ipb::ActiveParticipants active;
  ASSERT_TRUE(active.ParseFromString(value->value()));
  EXPECT_EQ(active.epoch_id(), 1u);
  EXPECT_EQ(active.participants_size(), 3);

  // gRPC unreachable: ABCIQuery is CometBFT's abci_query (the same bytes); the other
  // cmtservice methods have no fallback.
  InferenceQueryClient fallback({.grpc_address = absl::StrCat("127.0.0.1:", testing::FreePort()),
                                 .rpc_url = devchain.url(),
                                 .timeout = absl::Seconds(5)});
  auto direct =
      fallback.ABCIQuery("store/inference/key", ActiveParticipantsKey(1), 28, false, &meta);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(direct->value(), value->value());
  EXPECT_EQ(direct->height(), 28);
  EXPECT_FALSE(direct->has_proof_ops());
  // With prove, the fallback carries the same proof ops as gRPC; they verify against block 29's
  // app hash.
  auto proved_grpc = client.ABCIQuery("store/inference/key", ActiveParticipantsKey(1), 28, true);
  auto proved = fallback.ABCIQuery("store/inference/key", ActiveParticipantsKey(1), 28, true);
  ASSERT_TRUE(proved.ok() && proved_grpc.ok()) << proved.status() << proved_grpc.status();
  ASSERT_EQ(proved->proof_ops().ops_size(), 2);
  EXPECT_EQ(proved->proof_ops().SerializeAsString(), proved_grpc->proof_ops().SerializeAsString());
  std::vector<ProofOp> ops;
  for (const auto& op : proved->proof_ops().ops()) ops.push_back({op.type(), op.key(), op.data()});
  absl::Status verified =
      VerifyProofOps(ops, block->sdk_block().header().app_hash(),
                     "/inference/" + PathEscape(ActiveParticipantsKey(1)), proved->value());
  EXPECT_TRUE(verified.ok()) << verified;
  auto restricted = fallback.TransferRestrictionStatus(12, &meta);
  ASSERT_TRUE(restricted.ok()) << restricted.status();
  EXPECT_EQ(meta.transport, QueryTransport::kAbciQuery);
  EXPECT_EQ(restricted->current_block_height(), 12u);
  absl::Status no_fallback = fallback.GetNodeInfo().status();
  EXPECT_EQ(no_fallback.code(), absl::StatusCode::kUnavailable) << no_fallback;
  EXPECT_THAT(std::string(no_fallback.message()), ::testing::HasSubstr("GetNodeInfo"));
}

}  // namespace
}  // namespace chain
}  // namespace gonka
