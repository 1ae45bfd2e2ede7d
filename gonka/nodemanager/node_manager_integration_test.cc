// node-manager end to end with real processes: devchain with short epochs, nats-server, an
// edge-api emitting the block stream, two development ML nodes requiring fencing, and two
// node-manager replicas. Across PoC stages the leader drives both ML nodes into generation at
// each stage (InitGenerate with the stage's block), back to inference after validation, and a
// kill -9 of the leader hands over to the other replica, whose commands carry a higher token;
// no ML node ever accepts a command with a lower token than one it accepted before.
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr int64_t kEpochLength = 30;  // PoC at 30, 60, 90, ...; 100 ms blocks

class NodeManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(hub_.Start().ok()) << hub_.Logs();
    std::vector<testing::DevMlNode*> nodes;
    for (int i = 0; i < 2; ++i) {
      ml_.push_back(std::make_unique<testing::DevMlNode>(
          testing::DevMlNode::Options{.require_fencing = true, .nonces_per_stage = 8}));
      ASSERT_TRUE(ml_.back()->Start().ok()) << ml_.back()->LogTail();
      nodes.push_back(ml_.back().get());
    }
    const std::string nodes_file = testing::WriteMlNodesFile(dir_.Join("ml-nodes.json"), nodes);
    for (int i = 0; i < 2; ++i) {
      testing::DaemonProcess::Options m =
          testing::NodeManagerOptions(hub_, absl::StrCat("nm-", i), nodes_file);
      m.args.push_back("--coordination=nats");
      m.args.push_back("--callback-url=http://127.0.0.1:1/v2/poc-batches");
      managers_.push_back(std::make_unique<testing::DaemonProcess>(m));
      ASSERT_TRUE(managers_.back()->Start().ok()) << managers_.back()->LogTail();
    }
  }

  struct Leader {
    int index = -1;
    testing::NodeManagerStatus status;
  };
  // The replica that reports itself leader (index -1 if none).
  Leader FindLeader() {
    Leader found;
    for (size_t i = 0; i < managers_.size(); ++i) {
      testing::NodeManagerStatus s = testing::ReadNodeManagerStatus(*managers_[i]);
      if (s.ok && s.leader) found = {static_cast<int>(i), s};
    }
    return found;
  }

  // Waits until the leader has handled a block at or above `height`.
  absl::StatusOr<Leader> WaitForLeaderAt(int64_t height) {
    Leader leader;
    absl::Status s = testing::WaitFor(
        [&] {
          leader = FindLeader();
          return leader.index >= 0 && leader.status.height >= height;
        },
        absl::Seconds(30));
    if (!s.ok()) {
      return absl::DeadlineExceededError(absl::StrCat("no leader at height ", height, ": ",
                                                      managers_[0]->LogTail(1500), "\n",
                                                      managers_[1]->LogTail(1500)));
    }
    return leader;
  }

  struct Command {
    std::string endpoint, key, outcome;
    int64_t token = 0;
  };
  std::vector<Command> Commands(int node) {
    std::vector<Command> out;
    absl::StatusOr<std::string> json = ml_[node]->CommandsJson();
    EXPECT_TRUE(json.ok()) << json.status();
    if (!json.ok()) return out;
    simdjson::dom::element doc;
    EXPECT_EQ(parser_.parse(*json).get(doc), simdjson::SUCCESS);
    // A named array: a range over the temporary simdjson_result would read it after its end.
    simdjson::dom::array commands;
    if (doc["commands"].get_array().get(commands) != simdjson::SUCCESS) commands = {};
    for (simdjson::dom::element c : commands) {
      Command cmd;
      std::string_view v;
      if (c["endpoint"].get_string().get(v) == simdjson::SUCCESS) cmd.endpoint = v;
      if (c["idempotency_key"].get_string().get(v) == simdjson::SUCCESS) cmd.key = v;
      if (c["outcome"].get_string().get(v) == simdjson::SUCCESS) cmd.outcome = v;
      int64_t t = 0;
      if (c["fencing_token"].get_int64().get(t) == simdjson::SUCCESS) cmd.token = t;
      out.push_back(cmd);
    }
    return out;
  }

  testing::TempDir dir_;
  testing::ChainHub hub_{
      {.devchain_args = {"--block-interval=100ms", absl::StrCat("--epoch-length=", kEpochLength),
                         "--poc-stage-duration=6", "--poc-validation-duration=6",
                         "--set-new-validators-delay=3"}}};
  std::vector<std::unique_ptr<testing::DevMlNode>> ml_;
  std::vector<std::unique_ptr<testing::DaemonProcess>> managers_;
  simdjson::dom::parser parser_;
  net::HttpClient http_;
};

TEST_F(NodeManagerTest, LeaderDrivesEveryStageAndAFailoverKeepsTokensMonotonic) {
  absl::StatusOr<Leader> first = WaitForLeaderAt(1);
  ASSERT_TRUE(first.ok()) << first.status();
  // Through the PoC stage of epoch 1 and back to inference.
  absl::StatusOr<Leader> after_first_stage = WaitForLeaderAt(2 * kEpochLength - 5);
  ASSERT_TRUE(after_first_stage.ok()) << after_first_stage.status();
  // Kill the leader inside the next stage's generation window (PoC at 60).
  ASSERT_TRUE(WaitForLeaderAt(2 * kEpochLength + 2).ok());
  Leader before = FindLeader();
  ASSERT_GE(before.index, 0);
  ASSERT_TRUE(managers_[before.index]->Kill().ok());
  std::cout << "killed leader nm-" << before.index << " (token " << before.status.token
            << ") at height " << before.status.height << " phase " << before.status.phase
            << std::endl;
  absl::StatusOr<Leader> next = WaitForLeaderAt(3 * kEpochLength + 20);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->index, before.index);
  EXPECT_GT(next->status.token, before.status.token);

  for (int n = 0; n < 2; ++n) {
    std::vector<Command> log = Commands(n);
    std::set<std::string> generated_stages;  // PoC stages with an accepted InitGenerate
    int64_t highest = 0;
    int accepted = 0, refused = 0;
    for (const Command& c : log) {
      if (c.outcome == "accepted") {
        ++accepted;
        EXPECT_GE(c.token, highest) << "node " << n << " accepted a lower token: " << c.key;
        highest = std::max(highest, c.token);
        if (c.endpoint == "POST /api/v1/inference/pow/init/generate") {
          // "POC_GENERATING/<poc_start>/<node>/init_generate"
          generated_stages.insert(c.key.substr(0, c.key.find("/ml-")));
        }
      } else {
        ++refused;
      }
    }
    std::cout << "ml-" << n << ": " << log.size() << " commands, " << accepted << " accepted, "
              << refused << " refused, PoC stages generated:";
    for (const std::string& s : generated_stages) std::cout << " " << s;
    std::cout << std::endl;
    EXPECT_TRUE(generated_stages.count("POC_GENERATING/30")) << "node " << n;
    EXPECT_TRUE(generated_stages.count("POC_GENERATING/90")) << "node " << n;
    EXPECT_GE(highest, next->status.token) << "node " << n << " never heard from the new leader";
  }
}

// An ML node answering garbage, then timing out, is FAILED with the reason in the leader's status
// and retried with backoff; once it answers properly again it is reconciled back.
TEST_F(NodeManagerTest, AFaultyMlNodeIsMarkedFailedWithTheReasonAndRecovers) {
  absl::StatusOr<Leader> leader = WaitForLeaderAt(1);
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto node_status = [&](const std::string& id) {
    Leader l = FindLeader();
    testing::NodeManagerStatus::Node found;
    for (const auto& n : l.status.nodes) {
      if (n.id == id) found = n;
    }
    return found;
  };
  auto last_error = [&](int index) -> std::string {
    absl::StatusOr<net::HttpResponse> r =
        http_.Get(absl::StrCat(managers_[index]->url(), "/v1/node-manager/status"),
                  {.timeout = absl::Seconds(1)});
    return r.ok() ? r->body : "";
  };
  for (const char* fault : {R"({"garbage":true})", R"({"slow_ms":4000})"}) {
    ASSERT_TRUE(ml_[1]->SetFaults(fault).ok());
    ASSERT_TRUE(
        testing::WaitFor([&] { return node_status("ml-1").actual == "FAILED"; }, absl::Seconds(40))
            .ok())
        << fault << ": " << last_error(FindLeader().index);
    const std::string body = last_error(FindLeader().index);
    // The reason names the ML-node call that failed (a state poll or a command, whichever came
    // first: "ml node GET /api/v1/state" or "ml node POST /api/v1/inference/up") and, for
    // garbage, what was wrong with the answer.
    EXPECT_TRUE(absl::StrContains(body, "ml node GET /api/v1/") ||
                absl::StrContains(body, "ml node POST /api/v1/"))
        << fault << ": " << body;
    if (absl::StrContains(fault, "garbage")) {
      EXPECT_NE(body.find("not JSON"), std::string::npos) << body;
    }
    EXPECT_EQ(node_status("ml-0").actual == "FAILED", false);  // the healthy node is untouched
    ASSERT_TRUE(ml_[1]->SetFaults(R"({"slow_ms":0,"refuse_status":0,"garbage":false})").ok());
    ASSERT_TRUE(
        testing::WaitFor([&] { return node_status("ml-1").actual != "FAILED"; }, absl::Seconds(40))
            .ok())
        << "ml-1 did not recover after " << fault;
  }
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
