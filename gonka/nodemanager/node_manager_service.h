// NodeManagerService: the node-manager replica — N of them run, the one holding the lease acts.
// The leader follows the event hub's block stream from a durable position, runs every height
// through the PhaseEngine (so a height it did not see live still makes its transition), hands the
// chain actions (seed, weights, claim) to a chain sink with their idempotency keys, and
// reconciles each ML node to the state its phase intends, every command carrying the leader's
// fencing token (docs/node-manager.md).
//
// Contract:
//   - Only the leader consumes the stream (durable consumer `durable`). The last height whose
//     actions all went to the sink without error is the cursor, written to the election's fenced
//     store under the leader's token (a deposed leader cannot move it). A new leader resumes the
//     engine after the cursor: heights the stream hands it at or below are acked and skipped, and
//     heights it does not hand it (still pending on a dead predecessor's consumer) are derived by
//     the engine at the next height it does — so a leader that dies mid-block leaves the block to
//     the next leader, which re-derives the same keys. A callback that finds this replica no
//     longer leader refuses the block (it stays unacked).
//   - Reconciliation (Gonka's rule): in Inference every `inference_blocks` blocks or
//     `inference_period`, in PoCGenerate/PoCValidate every `poc_blocks` block(s) or
//     `poc_period`, never in the wind-down phases. Each ML node has its own worker; its result
//     returns to the service, which keeps the one copy of every node's state. A result for an
//     intended state that is no longer current is dropped and the node is reconciled again.
//   - Commands: InferenceUp / StopPow / InitGenerate through MlNodeClient with Fence{token,
//     "<intended>/<anchor>/<node>/<command>"}; a failure marks the node FAILED with the reason
//     and it is retried with backoff (1 s doubling to 30 s).
//   - Without a leader lease nothing is sent; on losing it the consumer stops and in-flight
//     results are dropped.
//
// Thread-safety: Start/Stop from one thread; SetNodes (e.g. from the ML-node store's watcher),
// Status() and the HTTP routes are thread-safe.
//
// Example (daemons/node-manager):
//   NodeManagerService service(options, js.get(), coordination->elector(), coordination->store());
//   RETURN_IF_ERROR(service.SetNodes(nodes));
//   RETURN_IF_ERROR(coordination->elector()->Start());
//   RETURN_IF_ERROR(service.Start());
//   service.AddRoutes(&daemon.server());   // GET /v1/node-manager/status
#ifndef GONKA_NODEMANAGER_NODE_MANAGER_SERVICE_H_
#define GONKA_NODEMANAGER_NODE_MANAGER_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/chain/epoch.h"
#include "gonka/election/fenced_store.h"
#include "gonka/election/leader_elector.h"
#include "gonka/mlnode/ml_node_client.h"
#include "gonka/nodemanager/phase_engine.h"

namespace gonka {
namespace nats {
class JetStream;
}  // namespace nats
namespace net {
class HttpServer;
}  // namespace net
namespace eventhub {
class Subscriber;
}  // namespace eventhub

namespace nodemanager {

// One ML node as Gonka's admin API configures it (docs/node-manager.md, "ML nodes").
struct MlNodeConfig {
  std::string id;             // unique, [A-Za-z0-9_.-]+
  std::string api_url;        // management API base URL
  std::string inference_url;  // inference server base URL
  std::string model;          // the model it serves and runs PoC for
  int64_t seq_len = 256;      // PoC sequence length for the model
  std::string auth_token_file;
};

// Parses a JSON array of {"id","api_url","inference_url","model"[,"seq_len","auth_token_file"]};
// InvalidArgument naming the element and field.
absl::StatusOr<std::vector<MlNodeConfig>> ParseMlNodes(absl::string_view json);
// ParseMlNodes of a file's contents; InvalidArgument "cannot read <path>" when it cannot be read.
absl::StatusOr<std::vector<MlNodeConfig>> ReadMlNodesFile(const std::string& path);

// Sends one chain action (seed, weights, claim) under the given fencing token; an error leaves
// the block unacked so it is retried (by this leader or the next).
using ChainSink = std::function<absl::Status(const Action& action, election::FencingToken token)>;
// The hash (uppercase hex) of block `height` when the stream did not carry it to this replica.
using BlockHashFn = std::function<absl::StatusOr<std::string>(int64_t height)>;

struct NodeManagerOptions {
  std::string participant;  // account address (keys, claim delay)
  std::string public_key;   // sent to ML nodes in PoC requests
  // PoC callbacks: ML nodes POST to "<callback_url>/v2/poc-batches/<model>/generated".
  std::string callback_url;
  chain::EpochParams epochs;  // the chain's schedule (epoch_length > 0)

  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  std::string durable = "node-manager";

  ChainSink chain_sink;    // nullptr: chain actions are logged and counted as "skipped"
  BlockHashFn block_hash;  // nullptr: PoC starts not carried by the stream fail the command

  int64_t inference_blocks = 5;
  absl::Duration inference_period = absl::Seconds(30);
  int64_t poc_blocks = 1;
  absl::Duration poc_period = absl::Seconds(30);
  absl::Duration command_timeout = absl::Seconds(10);
  // A block handled later than this after its time counts as caught up, not live.
  absl::Duration live_window = absl::Seconds(3);
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Seconds(30);
};

struct NodeStatus {
  std::string id;
  std::string intended;  // INFERENCE, POC_GENERATING, POC_VALIDATING
  std::string actual;    // what the last reconciliation found/made: same names, FAILED, UNKNOWN
  std::string last_error;
  int64_t commands_ok = 0;
  int64_t commands_failed = 0;
  absl::Time last_reconciled;
};

struct ServiceStatus {
  bool leader = false;
  election::FencingToken token = 0;
  int64_t height = 0;  // last block handled as leader
  int64_t epoch = 0;   // effective epoch at that height
  std::string phase;
  int64_t missed_by_exact_height = 0;
  // Transitions made for blocks handled more than `live_window` after they were made — ones a
  // process acting only on the block it sees live (Gonka's dispatcher) would have missed.
  int64_t rescued_transitions = 0;
  std::map<std::string, int64_t> actions;  // "<kind>/<result>" → count
  std::vector<NodeStatus> nodes;
};

class NodeManagerService {
 public:
  // No pointer is owned; all outlive the service. `store` is the fenced store of the same
  // election as `elector` (Coordination::store()).
  NodeManagerService(NodeManagerOptions options, nats::JetStream* js,
                     election::LeaderElector* elector, election::FencedStore* store);
  ~NodeManagerService();
  NodeManagerService(const NodeManagerService&) = delete;
  NodeManagerService& operator=(const NodeManagerService&) = delete;

  // Replaces the ML node set (InvalidArgument naming a bad or duplicate node). A node whose
  // configuration is unchanged keeps its state. FailedPrecondition while a reconciliation is in
  // flight: retry (the store watcher does).
  absl::Status SetNodes(const std::vector<MlNodeConfig>& nodes);

  // Starts the control loop (leadership watch, stream consumer while leader, reconciliation).
  // InvalidArgument naming a bad option.
  absl::Status Start();
  void Stop();

  ServiceStatus Status() const;
  // The ML nodes in node-number order (the node_id each is sent in PoC requests).
  std::vector<MlNodeConfig> Nodes() const;
  // GET /v1/node-manager/status (JSON of Status()).
  void AddRoutes(net::HttpServer* server);

 private:
  struct Node;
  void Loop();
  void BecomeLeader(election::FencingToken token);
  void BecomeFollower();
  absl::Status HandleBlock(const chain::v1::BlockEvents& block);
  void MaybeReconcile(bool block_arrived);
  void Reconcile(Node* node, IntendedState intended, election::FencingToken token);
  absl::Status Drive(Node* node, IntendedState intended, election::FencingToken token,
                     int64_t anchor, const std::string& block_hash, std::string* actual);

  const NodeManagerOptions options_;
  nats::JetStream* const js_;
  election::LeaderElector* const elector_;
  election::FencedStore* const store_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  election::FencingToken token_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t height_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::string phase_ ABSL_GUARDED_BY(mu_);
  int64_t poc_start_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, std::string> block_hashes_ ABSL_GUARDED_BY(mu_);  // PoC start → hash
  int64_t last_reconcile_height_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_reconcile_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::map<std::string, int64_t> actions_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PhaseEngine> engine_;  // the subscriber thread's (created on election)
  int64_t missed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rescued_ ABSL_GUARDED_BY(mu_) = 0;

  std::unique_ptr<eventhub::Subscriber> subscriber_;  // Loop thread only
  absl::Notification stop_;
  std::thread loop_;
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_NODE_MANAGER_SERVICE_H_
