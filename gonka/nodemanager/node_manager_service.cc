#include "gonka/nodemanager/node_manager_service.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/net/http_server.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

// Percent-encodes every byte but RFC 3986's unreserved ones (Go's url.PathEscape differs only in
// also leaving sub-delims; model ids like "Qwen/Qwen3-32B" encode the same either way).
std::string PathEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

bool ValidNodeId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

prometheus::Family<prometheus::Gauge>& Gauges() {
  static auto& family = prometheus::BuildGauge()
                            .Name("gonka_nodemanager")
                            .Help("node-manager: leader (1/0), token, height, epoch handled")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Actions() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_nodemanager_actions_total")
                            .Help("Phase-engine actions by kind and result (done, skipped, error)")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Commands() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_nodemanager_commands_total")
                            .Help("Mutating ML-node commands by node, command and result")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Gauge>& NodeStates() {
  static auto& family =
      prometheus::BuildGauge()
          .Name("gonka_nodemanager_node_state")
          .Help("1 for each ML node's current intended and actual state (kind, state labels)")
          .Register(metrics::Registry());
  return family;
}

void SetGauge(const char* value, double v) { Gauges().Add({{"value", value}}).Set(v); }

constexpr char kCursorKey[] = "cursor";

bool IsWindDown(absl::string_view phase) {
  return phase == "PoCGenerateWindDown" || phase == "PoCValidateWindDown";
}

}  // namespace

absl::StatusOr<std::vector<MlNodeConfig>> ReadMlNodesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseMlNodes(text.str());
}

absl::StatusOr<std::vector<MlNodeConfig>> ParseMlNodes(absl::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("ml nodes: not JSON");
  }
  simdjson::dom::array array;
  if (root.get_array().get(array) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("ml nodes: must be a JSON array of objects");
  }
  std::vector<MlNodeConfig> nodes;
  size_t i = 0;
  for (simdjson::dom::element e : array) {
    MlNodeConfig node;
    auto field = [&](const char* name, std::string* out, bool required) -> absl::Status {
      std::string_view v;
      simdjson::error_code error = e[name].get_string().get(v);
      if (error == simdjson::NO_SUCH_FIELD && !required) return absl::OkStatus();
      if (error != simdjson::SUCCESS || (required && v.empty())) {
        return absl::InvalidArgumentError(
            absl::StrCat("ml nodes[", i, "].", name, ": required non-empty string"));
      }
      *out = std::string(v);
      return absl::OkStatus();
    };
    for (absl::Status s :
         {field("id", &node.id, true), field("api_url", &node.api_url, true),
          field("inference_url", &node.inference_url, true), field("model", &node.model, true),
          field("auth_token_file", &node.auth_token_file, false)}) {
      if (!s.ok()) return s;
    }
    int64_t seq_len = 0;
    simdjson::error_code error = e["seq_len"].get_int64().get(seq_len);
    if (error == simdjson::SUCCESS) {
      if (seq_len <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("ml nodes[", i, "].seq_len: must be > 0"));
      }
      node.seq_len = seq_len;
    } else if (error != simdjson::NO_SUCH_FIELD) {
      return absl::InvalidArgumentError(absl::StrCat("ml nodes[", i, "].seq_len: not an integer"));
    }
    nodes.push_back(std::move(node));
    ++i;
  }
  return nodes;
}

// One ML node: its client, its worker (one task at a time) and the state the service keeps.
struct NodeManagerService::Node {
  MlNodeConfig config;
  int index = 0;  // node_id among this participant's nodes
  std::unique_ptr<mlnode::MlNodeClient> client;
  NodeStatus status;
  bool in_flight = false;
  absl::Time next_attempt = absl::InfinitePast();
  absl::Duration backoff;
  std::thread worker;
};

NodeManagerService::NodeManagerService(NodeManagerOptions options, nats::JetStream* js,
                                       election::LeaderElector* elector,
                                       election::FencedStore* store)
    : options_(std::move(options)), js_(js), elector_(elector), store_(store) {}

NodeManagerService::~NodeManagerService() { Stop(); }

absl::Status NodeManagerService::SetNodes(const std::vector<MlNodeConfig>& configs) {
  std::map<std::string, std::unique_ptr<Node>> nodes;
  int index = 0;
  for (const MlNodeConfig& c : configs) {
    if (!ValidNodeId(c.id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ml node id \"", c.id, "\": must be 1-128 of [A-Za-z0-9_.-]"));
    }
    if (nodes.count(c.id) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("ml node id \"", c.id, "\": duplicate"));
    }
    absl::StatusOr<std::unique_ptr<mlnode::MlNodeClient>> client =
        mlnode::MlNodeClient::Create({.api_url = c.api_url,
                                      .inference_url = c.inference_url,
                                      .auth_token_file = c.auth_token_file,
                                      .name = absl::StrCat("mlnode-", c.id)});
    if (!client.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ml node \"", c.id, "\": ", client.status().message()));
    }
    auto node = std::make_unique<Node>();
    node->config = c;
    node->index = index++;
    node->client = *std::move(client);
    node->status.id = c.id;
    node->status.intended = "INFERENCE";
    node->status.actual = "UNKNOWN";
    node->backoff = options_.retry_initial;
    nodes.emplace(c.id, std::move(node));
  }
  auto same = [](const MlNodeConfig& a, const MlNodeConfig& b) {
    return a.api_url == b.api_url && a.inference_url == b.inference_url && a.model == b.model &&
           a.seq_len == b.seq_len && a.auth_token_file == b.auth_token_file;
  };
  absl::MutexLock lock(&mu_);
  for (auto& [id, node] : nodes_) {
    if (node->in_flight) {
      return absl::FailedPreconditionError("ml nodes: a reconciliation is in flight; retry");
    }
  }
  // No worker runs (none in flight: each has released mu_ for the last time), so joining here
  // cannot wait on this lock. A node whose configuration did not change keeps its state.
  for (auto& [id, node] : nodes_) {
    if (node->worker.joinable()) node->worker.join();
    auto it = nodes.find(id);
    if (it != nodes.end() && same(it->second->config, node->config)) {
      node->index = it->second->index;
      it->second = std::move(node);
    }
  }
  nodes_ = std::move(nodes);
  return absl::OkStatus();
}

absl::Status NodeManagerService::Start() {
  if (options_.participant.empty()) return absl::InvalidArgumentError("participant: required");
  if (absl::Status s = chain::ValidateEpochParams(options_.epochs); !s.ok()) return s;
  if (options_.epochs.epoch_length <= 0) {
    return absl::InvalidArgumentError("epochs.epoch_length: must be > 0");
  }
  if (js_ == nullptr || elector_ == nullptr || store_ == nullptr) {
    return absl::InvalidArgumentError(
        "NodeManagerService: needs a JetStream, an elector and its fenced store");
  }
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void NodeManagerService::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (loop_.joinable()) loop_.join();
  BecomeFollower();
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, node] : nodes_) {
      if (node->worker.joinable()) workers.push_back(std::move(node->worker));
    }
  }
  for (std::thread& t : workers) t.join();
}

void NodeManagerService::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    const bool leader = elector_->IsLeader();
    const election::FencingToken token = leader ? elector_->Token() : 0;
    bool was_leader;
    election::FencingToken held;
    {
      absl::MutexLock lock(&mu_);
      was_leader = leader_;
      held = token_;
    }
    if (leader && (!was_leader || token != held)) {
      if (was_leader) BecomeFollower();
      BecomeLeader(token);
    } else if (!leader && was_leader) {
      BecomeFollower();
    }
    if (leader) MaybeReconcile(false);
  }
}

void NodeManagerService::BecomeLeader(election::FencingToken token) {
  GONKA_LOG_INFO("node-manager elected: following the block stream",
                 {"token", static_cast<int64_t>(token)});
  engine_ = std::make_unique<PhaseEngine>(
      PhaseEngineOptions{.params = options_.epochs, .participant = options_.participant});
  absl::StatusOr<std::optional<std::string>> cursor = store_->Get(kCursorKey);
  if (!cursor.ok()) {
    GONKA_LOG_WARN("node-manager: cannot read the cursor yet",
                   {"error", cursor.status().ToString()});
    return;  // not leader_ yet: the loop tries again on its next tick
  }
  int64_t resume = 0;
  if (cursor->has_value() && absl::SimpleAtoi(**cursor, &resume) && resume > 0) {
    engine_->ResumeAfter(resume);
    GONKA_LOG_INFO("node-manager resumes after the cursor", {"height", resume});
  }
  SetGauge("leader", 1);
  SetGauge("token", static_cast<double>(token));
  {
    absl::MutexLock lock(&mu_);
    leader_ = true;
    token_ = token;
    last_reconcile_time_ = absl::InfinitePast();
    for (auto& [id, node] : nodes_) {
      node->next_attempt = absl::InfinitePast();
      node->backoff = options_.retry_initial;
    }
  }
  eventhub::SubscriberOptions so;
  so.stream = options_.stream;
  so.subject = options_.subject;
  so.durable = options_.durable;
  so.start_height = 0;  // first start: from the next block
  so.retry_initial = absl::Milliseconds(100);
  so.retry_max = absl::Seconds(2);
  // What a dead predecessor held comes back soon; by then the cursor has usually passed it.
  so.ack_wait = absl::Seconds(5);
  subscriber_ = std::make_unique<eventhub::Subscriber>(so, js_);
  subscriber_->OnBlock([this](const chain::v1::BlockEvents& b) { return HandleBlock(b); });
  if (absl::Status s = subscriber_->Start(); !s.ok()) {
    GONKA_LOG_WARN("node-manager: cannot follow the block stream yet", {"error", s.ToString()});
    subscriber_.reset();
    absl::MutexLock lock(&mu_);
    leader_ = false;  // the loop retries the election path on its next tick
    token_ = 0;
  }
}

void NodeManagerService::BecomeFollower() {
  if (subscriber_) {
    subscriber_->Stop();
    subscriber_.reset();
  }
  SetGauge("leader", 0);
  absl::MutexLock lock(&mu_);
  if (leader_) GONKA_LOG_INFO("node-manager: not the leader any more", {"token", token_});
  leader_ = false;
  token_ = 0;
}

absl::Status NodeManagerService::HandleBlock(const chain::v1::BlockEvents& block) {
  election::FencingToken token;
  {
    absl::MutexLock lock(&mu_);
    token = token_;
  }
  if (!elector_->IsLeader() || elector_->Token() != token) {
    return absl::FailedPreconditionError("not the leader: leaving the block to the next one");
  }
  const int64_t h = block.height();
  if (engine_->last_height() == 0) engine_->ResumeAfter(h - 1);  // first start: from here
  if (h <= engine_->last_height()) return absl::OkStatus();      // handled before: ack, skip
  chain::EpochSchedule at = chain::ScheduleAt(options_.epochs, h);
  {
    absl::MutexLock lock(&mu_);
    if (at.stage == "StartOfPoC") block_hashes_[h] = block.hash();
    while (block_hashes_.size() > 4) block_hashes_.erase(block_hashes_.begin());
  }
  // A block handled long after it was made (catch-up after a failover or downtime): a process
  // that acts only on the block it sees live, as Gonka's dispatcher does, would have missed its
  // transitions.
  const bool late =
      block.time_unix_nanos() > 0 &&
      absl::Now() - absl::FromUnixNanos(block.time_unix_nanos()) > options_.live_window;
  const int64_t before = engine_->last_height();
  const int64_t missed_before = engine_->missed_by_exact_height();
  std::vector<Action> actions = engine_->Advance(h);
  for (const Action& a : actions) {
    const bool chain_action =
        a.kind == ActionKind::kEnsureSeed || a.kind == ActionKind::kStoreCommit ||
        a.kind == ActionKind::kDistributeWeights || a.kind == ActionKind::kClaimRewards;
    std::string result = "done";
    if (chain_action) {
      if (!options_.chain_sink) {
        result = "skipped";
      } else if (absl::Status s = options_.chain_sink(a, token); !s.ok()) {
        // Leave the block for a retry: rewind the engine so the same actions come again.
        engine_ = std::make_unique<PhaseEngine>(
            PhaseEngineOptions{.params = options_.epochs, .participant = options_.participant});
        engine_->ResumeAfter(before);
        Actions()
            .Add({{"kind", std::string(ActionKindName(a.kind))}, {"result", "error"}})
            .Increment();
        absl::MutexLock lock(&mu_);
        ++actions_[absl::StrCat(ActionKindName(a.kind), "/error")];
        return s;
      }
    }
    GONKA_LOG_INFO("node-manager action", {"kind", std::string(ActionKindName(a.kind))},
                   {"height", a.height}, {"key", a.idempotency_key}, {"result", result});
    Actions().Add({{"kind", std::string(ActionKindName(a.kind))}, {"result", result}}).Increment();
    absl::MutexLock lock(&mu_);
    ++actions_[absl::StrCat(ActionKindName(a.kind), "/", result)];
    if (late) ++rescued_;
  }
  // The cursor moves only under the current token: a deposed leader's write is refused, and it
  // stops acting on this block.
  absl::StatusOr<election::FenceResult> moved = store_->Set(token, kCursorKey, absl::StrCat(h));
  if (!moved.ok() || !moved->applied) {
    engine_ = std::make_unique<PhaseEngine>(
        PhaseEngineOptions{.params = options_.epochs, .participant = options_.participant});
    engine_->ResumeAfter(before);
    return moved.ok()
               ? absl::FailedPreconditionError(absl::StrCat("cursor refused: token ", token,
                                                            " superseded by ", moved->newest_token))
               : moved.status();
  }
  {
    absl::MutexLock lock(&mu_);
    height_ = h;
    epoch_ = at.epoch_index;
    phase_ = block.has_epoch() && !block.epoch().phase().empty() ? block.epoch().phase() : at.phase;
    poc_start_ = at.poc_start_height;
    missed_ += engine_->missed_by_exact_height() - missed_before;
  }
  SetGauge("height", static_cast<double>(h));
  SetGauge("epoch", static_cast<double>(at.epoch_index));
  MaybeReconcile(true);
  return absl::OkStatus();
}

void NodeManagerService::MaybeReconcile(bool block_arrived) {
  std::vector<Node*> due;
  std::vector<std::thread> finished;  // the due nodes' previous workers (done: not in flight)
  IntendedState intended;
  election::FencingToken token;
  {
    absl::MutexLock lock(&mu_);
    if (!leader_ || height_ == 0 || IsWindDown(phase_)) return;
    intended = IntendedStateFor(phase_);
    const bool inference = intended == IntendedState::kInference;
    const int64_t blocks = inference ? options_.inference_blocks : options_.poc_blocks;
    const absl::Duration period = inference ? options_.inference_period : options_.poc_period;
    const absl::Time now = absl::Now();
    const std::string name(IntendedStateName(intended));
    bool changed = false;
    for (auto& [id, node] : nodes_) changed |= node->status.intended != name;
    const bool by_blocks = block_arrived && height_ - last_reconcile_height_ >= blocks;
    const bool by_time = now - last_reconcile_time_ >= period;
    // A node that failed is retried on its own backoff, whatever the schedule.
    for (auto& [id, node] : nodes_) {
      if (node->in_flight) continue;
      const bool retry = node->status.actual == "FAILED" && now >= node->next_attempt;
      if (changed || by_blocks || by_time || retry) {
        if (node->status.actual == "FAILED" && now < node->next_attempt) continue;
        due.push_back(node.get());
      }
    }
    if (changed || by_blocks || by_time) {
      last_reconcile_height_ = height_;
      last_reconcile_time_ = now;
    }
    token = token_;
    // Workers start under mu_ (SetNodes and Stop read node->worker under it); each blocks on mu_
    // first, so it runs once this pass has released the lock.
    for (Node* node : due) {
      node->status.intended = name;
      node->in_flight = true;
      if (node->worker.joinable()) finished.push_back(std::move(node->worker));
      node->worker =
          std::thread([this, node, intended, token] { Reconcile(node, intended, token); });
    }
  }
  // The previous workers of the due nodes have finished (they were not in flight).
  for (std::thread& t : finished) t.join();
}

void NodeManagerService::Reconcile(Node* node, IntendedState intended,
                                   election::FencingToken token) {
  int64_t anchor;
  std::string hash;
  {
    absl::MutexLock lock(&mu_);
    anchor = intended == IntendedState::kInference ? epoch_ : poc_start_;
    auto it = block_hashes_.find(poc_start_);
    if (it != block_hashes_.end()) hash = it->second;
  }
  if (intended == IntendedState::kPocGenerating && hash.empty() && options_.block_hash) {
    absl::StatusOr<std::string> fetched = options_.block_hash(anchor);
    if (fetched.ok()) {
      hash = *fetched;
      absl::MutexLock lock(&mu_);
      block_hashes_[anchor] = hash;
    }
  }
  std::string actual;
  absl::Status s = Drive(node, intended, token, anchor, hash, &actual);
  absl::MutexLock lock(&mu_);
  node->in_flight = false;
  node->status.last_reconciled = absl::Now();
  // A result for an intent that is no longer current (phase moved on, leadership lost) is
  // dropped: the next pass reconciles the node to the current intent.
  if (!leader_ || token_ != token || node->status.intended != IntendedStateName(intended)) {
    return;
  }
  const std::string previous = node->status.actual;
  if (s.ok()) {
    node->status.actual = actual;
    node->status.last_error.clear();
    node->backoff = options_.retry_initial;
  } else {
    node->status.actual = "FAILED";
    node->status.last_error = std::string(s.message());
    node->next_attempt = absl::Now() + node->backoff;
    node->backoff = std::min(node->backoff * 2, options_.retry_max);
    GONKA_LOG_WARN("ml node reconciliation failed", {"node", node->config.id},
                   {"intended", std::string(IntendedStateName(intended))}, {"error", s.ToString()});
  }
  if (previous != node->status.actual) {
    NodeStates().Add({{"node", node->config.id}, {"kind", "actual"}, {"state", previous}}).Set(0);
    NodeStates()
        .Add({{"node", node->config.id}, {"kind", "actual"}, {"state", node->status.actual}})
        .Set(1);
  }
}

absl::Status NodeManagerService::Drive(Node* node, IntendedState intended,
                                       election::FencingToken token, int64_t anchor,
                                       const std::string& block_hash, std::string* actual) {
  mlnode::MlNodeClient& c = *node->client;
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  const std::string prefix =
      absl::StrCat(IntendedStateName(intended), "/", anchor, "/", node->config.id, "/");
  auto fence = [&](absl::string_view command) {
    return mlnode::Fence{.token = static_cast<uint64_t>(token),
                         .idempotency_key = absl::StrCat(prefix, command)};
  };
  auto count = [&](const absl::Status& s, const char* command) {
    Commands()
        .Add({{"node", node->config.id}, {"command", command}, {"result", s.ok() ? "ok" : "error"}})
        .Increment();
    absl::MutexLock lock(&mu_);
    ++(s.ok() ? node->status.commands_ok : node->status.commands_failed);
    return s;
  };
  switch (intended) {
    case IntendedState::kInference: {
      absl::StatusOr<mlnode::NodeState> state = c.GetState(deadline);
      if (!state.ok()) return state.status();
      // PoC v2 runs inside the inference server: a healthy node serving the model may still be
      // generating or validating (Gonka's InferenceUp command keeps it and stops the PoC).
      absl::StatusOr<mlnode::PowStatus> pow = c.GetPowStatus(deadline);
      if (!pow.ok()) return pow.status();
      const bool pow_running = pow->status == "GENERATING" || pow->status == "VALIDATING";
      if (*state == mlnode::NodeState::kInference && c.InferenceHealth(deadline).ok()) {
        if (pow_running) {
          if (absl::Status s = count(c.StopPow(fence("pow_stop"), deadline), "pow_stop"); !s.ok()) {
            return s;
          }
        }
        *actual = "INFERENCE";
        return absl::OkStatus();
      }
      if (*state == mlnode::NodeState::kPow) {
        if (absl::Status s = count(c.StopPow(fence("pow_stop"), deadline), "pow_stop"); !s.ok())
          return s;
      }
      if (*state != mlnode::NodeState::kStopped) {
        if (absl::Status s = count(c.Stop(fence("stop"), deadline), "stop"); !s.ok()) return s;
      }
      if (absl::Status s =
              count(c.InferenceUp({.model = node->config.model}, fence("inference_up"), deadline),
                    "inference_up");
          !s.ok()) {
        return s;
      }
      *actual = "INFERENCE";
      return absl::OkStatus();
    }
    case IntendedState::kPocGenerating: {
      absl::StatusOr<mlnode::PowStatus> pow = c.GetPowStatus(deadline);
      if (!pow.ok()) return pow.status();
      if (pow->status == "GENERATING") {
        *actual = "POC_GENERATING";
        return absl::OkStatus();
      }
      if (block_hash.empty()) {
        return absl::UnavailableError(
            absl::StrCat("no hash of the PoC start block ", anchor, " yet"));
      }
      int node_count;
      {
        absl::MutexLock lock(&mu_);
        node_count = static_cast<int>(nodes_.size());
      }
      mlnode::InitGenerateRequest request;
      request.block_hash = block_hash;
      request.block_height = anchor;
      request.public_key = options_.public_key;
      request.node_id = node->index;
      request.node_count = node_count;
      request.params = {.model = node->config.model, .seq_len = node->config.seq_len};
      if (!options_.callback_url.empty()) {
        request.url =
            absl::StrCat(options_.callback_url, "/", PathEscape(PathEscape(node->config.model)));
      }
      absl::StatusOr<mlnode::InitGenerateResponse> r =
          c.InitGenerate(request, fence("init_generate"), deadline);
      if (absl::Status s = count(r.status(), "init_generate"); !s.ok()) return s;
      *actual = "POC_GENERATING";
      return absl::OkStatus();
    }
    case IntendedState::kPocValidating: {
      // Gonka's v2 transition to validating sends nothing; generation must have stopped. The
      // validation requests themselves come from the stage's received artifacts (edge-srv).
      absl::StatusOr<mlnode::PowStatus> pow = c.GetPowStatus(deadline);
      if (!pow.ok()) return pow.status();
      if (pow->status == "GENERATING") {
        if (absl::Status s = count(c.StopPow(fence("pow_stop"), deadline), "pow_stop"); !s.ok())
          return s;
      }
      *actual = "POC_VALIDATING";
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown intended state");
}

std::vector<MlNodeConfig> NodeManagerService::Nodes() const {
  absl::MutexLock lock(&mu_);
  std::vector<MlNodeConfig> nodes(nodes_.size());
  for (const auto& [id, node] : nodes_) nodes[static_cast<size_t>(node->index)] = node->config;
  return nodes;
}

ServiceStatus NodeManagerService::Status() const {
  ServiceStatus s;
  absl::MutexLock lock(&mu_);
  s.leader = leader_;
  s.token = token_;
  s.height = height_;
  s.epoch = epoch_;
  s.phase = phase_;
  s.missed_by_exact_height = missed_;
  s.rescued_transitions = rescued_;
  s.actions = actions_;
  for (const auto& [id, node] : nodes_) s.nodes.push_back(node->status);
  return s;
}

void NodeManagerService::AddRoutes(net::HttpServer* server) {
  server->Handle("GET", "/v1/node-manager/status", [this](const net::HttpRequest&) {
    ServiceStatus s = Status();
    JsonWriter w;
    w.BeginObject()
        .Key("leader")
        .Bool(s.leader)
        .Key("token")
        .Int(s.token)
        .Key("height")
        .Int(s.height)
        .Key("epoch")
        .Int(s.epoch)
        .Key("phase")
        .String(s.phase)
        .Key("missed_by_exact_height")
        .Int(s.missed_by_exact_height)
        .Key("rescued_transitions")
        .Int(s.rescued_transitions)
        .Key("actions")
        .BeginObject();
    for (const auto& [key, n] : s.actions) w.Key(key).Int(n);
    w.EndObject().Key("nodes").BeginArray();
    for (const NodeStatus& n : s.nodes) {
      w.BeginObject()
          .Key("id")
          .String(n.id)
          .Key("intended")
          .String(n.intended)
          .Key("actual")
          .String(n.actual)
          .Key("last_error")
          .String(n.last_error)
          .Key("commands_ok")
          .Int(n.commands_ok)
          .Key("commands_failed")
          .Int(n.commands_failed)
          .EndObject();
    }
    w.EndArray().EndObject();
    return net::HttpResponse::Json(200, w.Take());
  });
}

}  // namespace nodemanager
}  // namespace gonka
