#include "tests/chaos/nodemanager_chaos.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/epoch.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/net/http_client.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/nodemanager/phase_engine.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/inference/inference/query_nodemanager.pb.h"
#include "gonka/signer/sequencer.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "simdjson.h"

namespace gonka {
namespace {

// Epochs of 40 blocks of 200 ms: the generation window (PoC start to wind-down, 16 blocks = 3.2 s)
// is longer than a failover (lease TTL 2 s), so every stage can be reached whatever the faults —
// as on Gonka, where it is 48 blocks of ~5 s.
constexpr char kCold[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kWarm[] =
    "oyster design unusual machine spread century engine gravity focus cave carry slot";
constexpr char kModel[] = "Qwen/Qwen3-8B";
constexpr int kNonces = 8;  // artifacts per ML node and stage (devmlnode --nonces-per-stage)
constexpr int64_t kEpochLength = 40;
constexpr int64_t kPocStage = 20;  // --poc-stage-duration

// devchain's schedule (the flags below; exchange duration and validation delay are its defaults).
chain::EpochParams Schedule() {
  return chain::EpochParams{.epoch_length = kEpochLength,
                            .poc_stage_duration = kPocStage,
                            .poc_exchange_duration = 5,
                            .poc_validation_delay = 5,
                            .poc_validation_duration = 6,
                            .set_new_validators_delay = 3};
}

#define NM_CHECK(expr)                                                                    \
  do {                                                                                    \
    absl::Status _s = (expr);                                                             \
    if (!_s.ok()) {                                                                       \
      return absl::InternalError(                                                         \
          absl::StrCat("node-manager chaos setup: ", #expr, " failed: ", _s.ToString())); \
    }                                                                                     \
  } while (0)

struct Leader {
  int index = -1;
  int64_t token = 0;
  int64_t height = 0;
  std::string phase;
  int64_t rescued = 0;
};

struct Command {
  std::string endpoint, key, outcome;
  int64_t token = 0;
  absl::Time time;
};

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

std::string NodeManagerChaosResult::ToString() const {
  return absl::StrCat(
      "seed=", seed, " seeds_on_chain_once=", seeds_on_chain_once, "/", seeds_expected,
      " claims_included=", claims_included, "/", claims_expected,
      " store_commits_complete=", commits_complete, "/", commits_expected,
      " weights_complete=", weights_complete, "/", commits_expected,
      " unexpected_messages=", unexpected_messages, " ledger_failed=", ledger_failed,
      " kills=", kills, " pauses=", pauses, " stages=", stages,
      " stage_node_pairs=", stage_node_pairs, " generated=", generated,
      " generated_before_wind_down=", generated_in_time,
      " duplicate_generates=", duplicate_generates, " back_to_inference=", returned_to_inference,
      " lower_token_accepted=", lower_token_accepted, " refused=", refused_commands,
      " rescued_transitions=", rescued_transitions, " transitions_in_gaps=", transitions_in_gaps,
      " failover_p50=", absl::FormatDuration(failover_p50),
      " p99=", absl::FormatDuration(failover_p99), " max=", absl::FormatDuration(failover_max),
      missing.empty() ? "" : " missing=" + missing,
      ledger_error.empty() ? "" : " ledger_error=" + ledger_error,
      unexpected.empty() ? "" : " unexpected=" + unexpected);
}

absl::StatusOr<NodeManagerChaosResult> RunNodeManagerChaos(const NodeManagerChaosOptions& o) {
  NodeManagerChaosResult result;
  result.seed = o.seed != 0 ? o.seed : std::random_device()();
  std::printf("node-manager chaos: seed %llu, %d epochs, %d replicas, %d ML nodes\n",
              static_cast<unsigned long long>(result.seed), o.epochs, o.replicas, o.ml_nodes);
  std::fflush(stdout);
  std::mt19937_64 rng(result.seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };

  testing::TempDir dir;
  // Accounts: the participant (cold, funded) and the warm key that signs for it through authz.
  const crypto::KeyOptions key_options;
  absl::StatusOr<crypto::SigningKey> cold = crypto::KeyFromMnemonic(kCold, key_options);
  absl::StatusOr<crypto::SigningKey> warm = crypto::KeyFromMnemonic(kWarm, key_options);
  if (!cold.ok() || !warm.ok()) return absl::InternalError("test keys");
  const std::string genesis = dir.path() + "/genesis.json";
  std::ofstream(genesis) << absl::StrCat(
      R"({"accounts":[{"mnemonic":")", kCold, R"(","balances":{"ngonka":"1000000000000"}},)",
      R"({"mnemonic":")", kWarm, R"(","balances":{"ngonka":"1000"}}]})");
  const std::string warm_key_file = dir.path() + "/warm.key";
  std::ofstream(warm_key_file) << kWarm << "\n";
  chmod(warm_key_file.c_str(), 0600);
  std::unique_ptr<testing::PostgresServer> pg;
  if (o.chain_messages) {
    pg = std::make_unique<testing::PostgresServer>();
    NM_CHECK(pg->Start());
  }
  // devchain, nats-server and the edge-api hub emitting the block stream.
  testing::ChainHub hub(
      {.devchain_args = {"--block-interval=200ms", absl::StrCat("--epoch-length=", kEpochLength),
                         absl::StrCat("--poc-stage-duration=", kPocStage),
                         "--poc-validation-duration=6", "--set-new-validators-delay=3",
                         "--genesis=" + genesis}});
  NM_CHECK(hub.Start());
  testing::DaemonProcess& devchain = hub.devchain();
  chain::CometClient comet({.rpc_url = devchain.url(), .timeout = absl::Seconds(5)});
  std::vector<std::unique_ptr<testing::DaemonProcess>> signerds;
  testing::DaemonProcess::Options s;
  if (o.chain_messages) {
    // Gonka's grant of the node-manager's messages from the cold account to the warm key.
    absl::StatusOr<signer::AccountInfo> account = signer::QueryAccount(comet, cold->address());
    if (!account.ok()) return account.status();
    cosmos::TxBuilder grant;
    for (const char* t :
         {nodemanager::kMsgSubmitSeed, nodemanager::kMsgClaimRewards,
          nodemanager::kMsgMLNodeWeightDistribution, nodemanager::kMsgPoCV2StoreCommit}) {
      grant.AddMessage(cosmos::MakeGenericGrant(cold->address(), warm->address(), t));
    }
    grant.SetChainId("gonka-devnet")
        .SetAccountNumber(account->account_number)
        .SetSequence(account->sequence)
        .SetFee({{}, 400000, "", ""});
    absl::StatusOr<cosmos::SignedTx> signed_grant = grant.Sign(*cold);
    if (!signed_grant.ok()) return signed_grant.status();
    absl::StatusOr<chain::BroadcastResponse> sent = comet.BroadcastTxSync(signed_grant->tx_raw);
    if (!sent.ok() || sent->code != 0) {
      return absl::InternalError(
          absl::StrCat("grant: ", sent.ok() ? sent->log : sent.status().ToString()));
    }
    s.binary = "daemons/signerd/signerd";
    s.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=0s",
              "--chain-id=gonka-devnet",
              "--key-file=" + warm_key_file,
              "--exec-granter=" + cold->address(),
              absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", hub.nats().url()),
              absl::StrCat("--pg-url=", pg->url()),
              "--retry-delay=500ms",
              "--log-level=warn"};
  }
  testing::RedisServer redis;  // the node-managers' lease and cursor
  NM_CHECK(redis.Start());
  // edge-srv: the ML nodes' PoC callbacks into the shared artifact store the leader commits.
  std::unique_ptr<testing::DaemonProcess> edge_srv;
  if (o.chain_messages) {
    testing::DaemonProcess::Options e;
    e.binary = "daemons/edge-srv/edge-srv";
    e.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=0s",
              absl::StrCat("--nats-url=", hub.nats().url()),  // the phase, from the stream
              absl::StrCat("--pg-url=", pg->url()),
              "--log-level=warn"};
    edge_srv = std::make_unique<testing::DaemonProcess>(e);
    NM_CHECK(edge_srv->Start());
  }
  if (o.chain_messages) {
    for (int i = 0; i < 2; ++i) {  // two signers share the queue
      signerds.push_back(std::make_unique<testing::DaemonProcess>(s));
      NM_CHECK(signerds.back()->Start());
    }
  }

  std::vector<std::unique_ptr<testing::DevMlNode>> ml;
  std::vector<testing::DevMlNode*> ml_ptrs;
  for (int i = 0; i < o.ml_nodes; ++i) {
    ml.push_back(std::make_unique<testing::DevMlNode>(
        testing::DevMlNode::Options{.require_fencing = true, .nonces_per_stage = kNonces}));
    NM_CHECK(ml.back()->Start());
    ml_ptrs.push_back(ml.back().get());
  }
  const std::string nodes_file = testing::WriteMlNodesFile(dir.Join("ml-nodes.json"), ml_ptrs);
  std::vector<std::unique_ptr<testing::DaemonProcess>> managers;
  for (int i = 0; i < o.replicas; ++i) {
    testing::DaemonProcess::Options m =
        testing::NodeManagerOptions(hub, absl::StrCat("nm-", i), nodes_file, cold->address());
    m.args.push_back(absl::StrCat("--redis-url=", redis.url()));
    if (edge_srv)
      m.args.push_back(absl::StrCat("--callback-url=", edge_srv->url(), "/v2/poc-batches"));
    if (o.chain_messages) {
      m.args.push_back("--key-file=" + warm_key_file);
      m.args.push_back(absl::StrCat("--pg-url=", pg->url()));
    }
    managers.push_back(std::make_unique<testing::DaemonProcess>(m));
    NM_CHECK(managers.back()->Start());
  }

  simdjson::dom::parser parser;
  auto find_leader = [&]() {
    Leader found;
    for (size_t i = 0; i < managers.size(); ++i) {
      testing::NodeManagerStatus st = testing::ReadNodeManagerStatus(*managers[i]);
      if (!st.ok) continue;
      found.rescued += st.rescued_transitions;
      if (!st.leader) continue;
      found.index = static_cast<int>(i);
      found.token = st.token;
      found.height = st.height;
      found.phase = st.phase;
    }
    return found;
  };
  auto wait_leader_at = [&](int64_t height, Leader* out) {
    return testing::WaitFor(
        [&] {
          *out = find_leader();
          return out->index >= 0 && out->height >= height;
        },
        absl::Seconds(40));
  };

  Leader leader;
  NM_CHECK(wait_leader_at(1, &leader));
  // The run: from the next epoch boundary through `epochs` PoC stages.
  const int64_t first_stage = (leader.height / kEpochLength + 1) * kEpochLength;
  const int64_t last_stage = first_stage + (o.epochs - 1) * kEpochLength;
  const int64_t end_height = last_stage + kEpochLength - 2;  // after the last stage's validation
  std::vector<absl::Duration> failovers;
  std::vector<std::pair<int64_t, int64_t>> gaps;  // heights (from, to] no leader acted on live
  std::vector<int> dead;
  // After a fault on the leader `was`: waits for the next leader's first handled block.
  auto await_next = [&](const Leader& was, absl::Time fault_at, bool measure) -> void {
    Leader next;
    if (testing::WaitFor(
            [&] {
              next = find_leader();
              return next.index >= 0 && next.token > was.token && next.height > was.height;
            },
            absl::Seconds(20), absl::Milliseconds(50))
            .ok()) {
      if (measure) failovers.push_back(absl::Now() - fault_at);
      gaps.push_back({was.height, next.height});
    }
  };
  while (true) {
    // At least one failover apart, so no two faults make a leaderless gap longer than a
    // generation window.
    absl::SleepFor(absl::Milliseconds(uniform(2500, 4000)));
    for (int i : dead) NM_CHECK(managers[i]->Restart());
    dead.clear();
    Leader now = find_leader();
    if (now.index < 0) continue;
    if (now.height >= end_height - 8) break;  // let the last stage finish without faults
    if (uniform(0, 9) < 6) {
      const absl::Time killed_at = absl::Now();
      NM_CHECK(managers[now.index]->Kill());
      dead.push_back(now.index);
      ++result.kills;
      std::printf("  kill -9 nm-%d (token %lld) at height %lld, %s\n", now.index,
                  static_cast<long long>(now.token), static_cast<long long>(now.height),
                  now.phase.c_str());
      await_next(now, killed_at, true);
    } else {
      const absl::Time paused_at = absl::Now();
      NM_CHECK(managers[now.index]->Pause());
      ++result.pauses;
      std::printf("  SIGSTOP nm-%d (token %lld) at height %lld, %s\n", now.index,
                  static_cast<long long>(now.token), static_cast<long long>(now.height),
                  now.phase.c_str());
      std::fflush(stdout);
      const absl::Duration pause = absl::Milliseconds(uniform(2500, 4000));  // past the lease
      await_next(now, paused_at, false);
      absl::SleepFor(pause - (absl::Now() - paused_at));
      NM_CHECK(managers[now.index]->Resume());
    }
    std::fflush(stdout);
  }
  for (int i : dead) NM_CHECK(managers[i]->Restart());
  NM_CHECK(wait_leader_at(end_height + 3, &leader));
  absl::SleepFor(absl::Seconds(1));  // the last reconciliation's commands
  result.rescued_transitions = find_leader().rescued;
  // The transitions that fell on heights no leader saw live: a process acting only on the block
  // it sees (Gonka's exact-height dispatcher) would have missed each of them.
  for (const auto& [from, to] : gaps) {
    nodemanager::PhaseEngine offline({.params = Schedule(), .participant = cold->address()});
    offline.ResumeAfter(from);
    result.transitions_in_gaps += static_cast<int64_t>(offline.Advance(to).size());
  }

  // The ML nodes' own records.
  std::vector<std::vector<Command>> logs(ml.size());
  for (size_t n = 0; n < ml.size(); ++n) {
    absl::StatusOr<std::string> json = ml[n]->CommandsJson();
    if (!json.ok()) return json.status();
    simdjson::dom::element doc;
    if (parser.parse(*json).get(doc) != simdjson::SUCCESS) {
      return absl::InternalError("ml node command log: not JSON");
    }
    // A named array: a range over the temporary simdjson_result would read it after its end.
    simdjson::dom::array commands;
    if (doc["commands"].get_array().get(commands) != simdjson::SUCCESS) commands = {};
    for (simdjson::dom::element c : commands) {
      Command cmd;
      std::string_view v;
      if (c["endpoint"].get_string().get(v) == simdjson::SUCCESS) cmd.endpoint = v;
      if (c["idempotency_key"].get_string().get(v) == simdjson::SUCCESS) cmd.key = v;
      if (c["outcome"].get_string().get(v) == simdjson::SUCCESS) cmd.outcome = v;
      if (c["time"].get_string().get(v) == simdjson::SUCCESS) {
        std::string error;
        absl::ParseTime(absl::RFC3339_full, std::string(v), &cmd.time, &error);
      }
      int64_t t = 0;
      if (c["fencing_token"].get_int64().get(t) == simdjson::SUCCESS) cmd.token = t;
      logs[n].push_back(cmd);
    }
  }
  result.failover_p50 = Percentile(failovers, 0.5);
  result.failover_p99 = Percentile(failovers, 0.99);
  result.failover_max = failovers.empty() ? absl::ZeroDuration()
                                          : *std::max_element(failovers.begin(), failovers.end());

  for (int64_t stage = first_stage; stage <= last_stage; stage += kEpochLength) ++result.stages;
  std::map<int64_t, absl::Time> wind_down_time;
  for (size_t n = 0; n < logs.size(); ++n) {
    int64_t highest = 0;
    std::map<int64_t, int> generates;     // stage → accepted InitGenerates
    std::vector<absl::Time> leave_times;  // commands that end generation
    std::map<int64_t, absl::Time> generate_time;
    for (const Command& c : logs[n]) {
      if (c.outcome != "accepted") {
        ++result.refused_commands;
        continue;
      }
      if (c.token < highest) ++result.lower_token_accepted;
      highest = std::max(highest, c.token);
      std::vector<std::string> parts = absl::StrSplit(c.key, '/');
      if (c.endpoint == "POST /api/v1/inference/pow/init/generate" && parts.size() >= 2) {
        int64_t stage = 0;
        if (absl::SimpleAtoi(parts[1], &stage)) {
          if (++generates[stage] == 1) generate_time[stage] = c.time;
        }
      }
      if (c.endpoint == "POST /api/v1/inference/pow/stop" ||
          c.endpoint == "POST /api/v1/inference/up" || c.endpoint == "POST /api/v1/stop") {
        leave_times.push_back(c.time);
      }
    }
    for (int64_t stage = first_stage; stage <= last_stage; stage += kEpochLength) {
      ++result.stage_node_pairs;
      auto it = generates.find(stage);
      if (it == generates.end()) {
        if (result.missing.size() < 200) absl::StrAppend(&result.missing, stage, "/ml-", n, " ");
        continue;
      }
      ++result.generated;
      if (it->second > 1) ++result.duplicate_generates;
      // Within the reconciliation bound: generation began before the stage's wind-down block.
      const int64_t wind_down = stage + kPocStage * 8 / 10;
      if (!wind_down_time.count(wind_down)) {
        absl::StatusOr<chain::v1::BlockEvents> b = comet.FetchBlockEvents(wind_down, {});
        wind_down_time[wind_down] =
            b.ok() ? absl::FromUnixNanos(b->time_unix_nanos()) : absl::InfinitePast();
      }
      if (generate_time[stage] <= wind_down_time[wind_down]) ++result.generated_in_time;
      const absl::Time generated_at = generate_time[stage];
      if (std::any_of(leave_times.begin(), leave_times.end(),
                      [&](absl::Time t) { return t > generated_at; })) {
        ++result.returned_to_inference;
      }
    }
  }
  if (o.chain_messages) {
    // Let the last claim's signing finish, then read the chain and the ledger.
    absl::SleepFor(absl::Seconds(2));
    absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open({.conninfo = pg->url()});
    if (!pool.ok()) return pool.status();
    absl::StatusOr<pg::Result> rows =
        (*pool)->Exec("SELECT idempotency_key, state, last_error FROM signer_ledger");
    if (!rows.ok()) return rows.status();
    std::map<std::string, std::string> ledger;
    for (int r = 0; r < rows->rows(); ++r) {
      ledger[rows->Get(r, 0).value_or("")] = rows->Get(r, 1).value_or("");
      if (rows->Get(r, 1).value_or("") == "failed" && result.ledger_error.empty()) {
        result.ledger_error =
            absl::StrCat(rows->Get(r, 0).value_or(""), ": ", rows->Get(r, 2).value_or(""));
      }
    }
    for (const auto& [key, state] : ledger) result.ledger_failed += state == "failed";
    const chain::EpochParams params = Schedule();
    // No message that should not exist: every key is one of the node-manager's kinds, for this
    // participant, about a stage (or its epoch) of the run — the stage after the last may have
    // begun while the run wound down.
    const int64_t first_epoch = chain::LatestEpochAt(params, first_stage);
    const int64_t last_epoch = chain::LatestEpochAt(params, last_stage) + 1;
    for (const auto& [key, state] : ledger) {
      std::vector<std::string> parts = absl::StrSplit(key, '/');
      int64_t n = 0;
      bool ok = parts.size() >= 3 && absl::SimpleAtoi(parts[1], &n) && parts[2] == cold->address();
      if (ok && (parts[0] == "seed" || parts[0] == "weights")) {
        ok = n >= first_epoch && n <= last_epoch;
      } else if (ok && parts[0] == "claim") {
        ok = n >= first_epoch - 1 && n <= last_epoch - 1;
      } else if (ok && parts[0] == "store_commit") {
        ok = n >= first_stage && n <= last_stage + kEpochLength &&
             (n - first_stage) % kEpochLength == 0;
      } else {
        ok = false;
      }
      if (!ok) {
        ++result.unexpected_messages;
        if (result.unexpected.size() < 200) absl::StrAppend(&result.unexpected, key, " ");
      }
    }
    for (int64_t stage = first_stage; stage <= last_stage; stage += kEpochLength) {
      const int64_t epoch = chain::LatestEpochAt(params, stage);
      ++result.seeds_expected;
      ::inference::inference::QueryRandomSeedsRequest request;
      request.set_epoch_index(static_cast<uint64_t>(epoch));
      absl::StatusOr<chain::AbciQueryResponse> answer =
          comet.AbciQuery(nodemanager::kQueryListRandomSeeds, request.SerializeAsString());
      ::inference::inference::QueryRandomSeedsResponse seeds;
      int mine = 0;
      if (answer.ok() && answer->code == 0 && seeds.ParseFromString(answer->value)) {
        for (const auto& s : seeds.seeds()) mine += s.participant() == cold->address();
      }
      const std::string key = absl::StrCat("seed/", epoch, "/", cold->address());
      if (mine == 1 && ledger[key] == "included") ++result.seeds_on_chain_once;
      // The stage's store commit and weights: on chain with every artifact the ML nodes made
      // (kNonces per node), the weights one entry per node.
      ++result.commits_expected;
      ::inference::inference::QueryPoCV2StoreCommitRequest commit_request;
      commit_request.set_poc_stage_start_block_height(stage);
      commit_request.set_participant_address(cold->address());
      commit_request.set_model_id(kModel);
      answer =
          comet.AbciQuery(nodemanager::kQueryPoCV2StoreCommit, commit_request.SerializeAsString());
      ::inference::inference::QueryPoCV2StoreCommitResponse commit;
      if (answer.ok() && answer->code == 0 && commit.ParseFromString(answer->value) &&
          commit.count() == static_cast<uint32_t>(o.ml_nodes * kNonces)) {
        ++result.commits_complete;
      }
      ::inference::inference::QueryMLNodeWeightDistributionRequest weights_request;
      weights_request.set_poc_stage_start_block_height(stage);
      weights_request.set_participant_address(cold->address());
      weights_request.set_model_id(kModel);
      answer = comet.AbciQuery(nodemanager::kQueryMLNodeWeightDistribution,
                               weights_request.SerializeAsString());
      ::inference::inference::QueryMLNodeWeightDistributionResponse weights;
      if (answer.ok() && answer->code == 0 && weights.ParseFromString(answer->value) &&
          weights.found() && weights.weights_size() == o.ml_nodes &&
          ledger[absl::StrCat("weights/", epoch, "/", cold->address())] == "included") {
        ++result.weights_complete;
      }
      if (stage > first_stage) {  // this stage's ClaimMoney claims the previous epoch
        ++result.claims_expected;
        if (ledger[absl::StrCat("claim/", epoch - 1, "/", cold->address())] == "included") {
          ++result.claims_included;
        }
      }
    }
  }
  return result;
}

}  // namespace gonka
