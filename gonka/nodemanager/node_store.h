// NodeStore: this participant's ML nodes, configured through the admin API and kept in
// PostgreSQL so every node-manager replica drives the same set. NodeStoreWatcher: polls the
// store's version (once a second) and hands the enabled nodes to a callback when they change —
// wire it to NodeManagerService::SetNodes.
//
// A node is written in Gonka's admin shape (decentralized-api/apiconfig/config.go,
// InferenceNodeConfig: id, host, inference_segment, inference_port, poc_segment, poc_port,
// models{<model>:{args[]}}, max_concurrent, hardware[{type,count}], version), plus two libgonka
// fields (seq_len, auth_token_file) and the admin state (enabled). ToMlNodeConfig maps it to
// what the reconciler needs, as Gonka's broker builds its URLs (broker.go, Node.PoCUrl and
// Node.InferenceUrl):
//   api_url       = "http://<host>:<poc_port><poc_segment>"        (management API base)
//   inference_url = "http://<host>:<inference_port><inference_segment>"
//   model         = the first key of `models`, in the order the request gave them
//   seq_len, auth_token_file as stored (seq_len defaults to 256)
// (docs/node-manager.md, "ML nodes and the admin API").
//
// Contract:
//   - Every change (create, update, delete, enable, disable) runs in one transaction with an
//     increment of the store's version, so a reader that sees version v sees every change up to
//     v. Version() is one indexed row: cheap to poll.
//   - Create: AlreadyExists naming the id when it exists (nothing changes). Update replaces the
//     configuration but keeps `enabled` and `node_num`. Get/Update/Delete/SetEnabled: NotFound
//     naming the id. Nodes are listed in creation order (node_num ascending).
//   - ValidateAdminNode / ParseAdminNode: InvalidArgument whose message starts with the field's
//     path ("inference_port: ...", "models.Qwen/Qwen3-8B.args[1]: ...").
//   - Errors from PostgreSQL as gonka/pg (Unavailable when it cannot be reached; retry later —
//     nothing is half-written).
//   - NodeStoreWatcher calls its callback from its own thread: once with the first snapshot it
//     reads, then whenever the enabled nodes' MlNodeConfigs differ from the last delivered ones.
//     A callback InvalidArgument (SetNodes refusing a node) is logged and not retried until
//     the store changes again: the same set would fail the same way. Any other callback error
//     (SetNodes' FailedPrecondition "a reconciliation is in flight; retry") is retried at the
//     next poll. Store errors are logged and the poll goes on.
//
// Thread-safety: NodeStore is thread-safe (it only uses the pool). NodeStoreWatcher: Start/Stop
// from one thread.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<NodeStore> store, NodeStore::Open(pool.get()));
//   ASSIGN_OR_RETURN(AdminNode node, ParseAdminNode(request.body));
//   ASSIGN_OR_RETURN(node, store->Create(node));              // AlreadyExists → 409
//   NodeStoreWatcher watcher(store.get(), [&](const std::vector<MlNodeConfig>& nodes) {
//     return service.SetNodes(nodes);
//   });
//   watcher.Start();
#ifndef GONKA_NODEMANAGER_NODE_STORE_H_
#define GONKA_NODEMANAGER_NODE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gonka/nodemanager/node_manager_service.h"
#include "gonka/pg/pg.h"

namespace gonka {
namespace nodemanager {

// One entry of Gonka's `models` map: the model's id and the serving arguments for it.
struct AdminModel {
  std::string name;
  std::vector<std::string> args;
};

struct AdminHardware {
  std::string type;
  uint32_t count = 0;
};

// An ML node as the admin API takes and returns it.
struct AdminNode {
  std::string id;  // [A-Za-z0-9_.-]{1,128}
  std::string host;
  std::string inference_segment;   // "" or starting with '/'
  int inference_port = 0;          // 1..65535
  std::string poc_segment;         // "" or starting with '/'
  int poc_port = 0;                // 1..65535
  std::vector<AdminModel> models;  // at least one; the first is the node's model
  int max_concurrent = 0;
  std::vector<AdminHardware> hardware;
  std::string version;
  // libgonka's fields (absent from Gonka's shape).
  int64_t seq_len = 256;        // PoC sequence length for the model (> 0)
  std::string auth_token_file;  // the ML node's bearer token file ("" = none)
  // Kept by the store: ignored on input.
  bool enabled = true;
  int64_t node_num = 0;  // creation order, as Gonka's broker numbers nodes
};

// InvalidArgument naming the first bad field (prefixed by `where`, e.g. "[2].").
absl::Status ValidateAdminNode(const AdminNode& node, absl::string_view where = "");
// One JSON object in the admin shape; unknown fields are ignored (as Gonka's JSON binding
// does), a known field of the wrong type or a value ValidateAdminNode refuses is an
// InvalidArgument naming it. With `path_id` (PUT /admin/v1/nodes/{id}) the body's "id" may be
// absent (it is then `path_id`) and otherwise must equal it.
absl::StatusOr<AdminNode> ParseAdminNode(absl::string_view json, absl::string_view path_id = "");
// A JSON array of them ("nodes/batch"); fields named "[<i>].<field>".
absl::StatusOr<std::vector<AdminNode>> ParseAdminNodes(absl::string_view json);
// The node in the admin shape (Gonka's fields plus node_num, seq_len, auth_token_file).
std::string AdminNodeJson(const AdminNode& node);
MlNodeConfig ToMlNodeConfig(const AdminNode& node);

struct NodeSnapshot {
  int64_t version = 0;
  std::vector<AdminNode> nodes;  // all of them, enabled or not, in creation order
};

class NodeStore {
 public:
  // Applies the migrations (component "nodemanager_ml_nodes"); errors as pg::Migrate. `pool`
  // must outlive the store.
  static absl::StatusOr<std::unique_ptr<NodeStore>> Open(pg::Pool* pool);

  absl::StatusOr<std::vector<AdminNode>> List();
  absl::StatusOr<AdminNode> Get(absl::string_view id);
  // The stored node (with node_num and enabled = true).
  absl::StatusOr<AdminNode> Create(const AdminNode& node);
  absl::StatusOr<AdminNode> Update(const AdminNode& node);
  absl::Status Delete(absl::string_view id);
  absl::StatusOr<AdminNode> SetEnabled(absl::string_view id, bool enabled);

  // The number of changes ever made (0 for a new store).
  absl::StatusOr<int64_t> Version();
  // Version and nodes read in one REPEATABLE READ transaction.
  absl::StatusOr<NodeSnapshot> Snapshot();

 private:
  explicit NodeStore(pg::Pool* pool) : pool_(pool) {}
  pg::Pool* const pool_;
};

// The enabled nodes of `snapshot` as MlNodeConfigs, in creation order.
std::vector<MlNodeConfig> EnabledMlNodes(const NodeSnapshot& snapshot);

struct NodeStoreWatcherOptions {
  absl::Duration poll_interval = absl::Seconds(1);
};

class NodeStoreWatcher {
 public:
  using Callback = std::function<absl::Status(const std::vector<MlNodeConfig>& enabled_nodes)>;
  // `store` outlives the watcher.
  NodeStoreWatcher(NodeStore* store, Callback callback, NodeStoreWatcherOptions options = {});
  ~NodeStoreWatcher();  // Stop()
  NodeStoreWatcher(const NodeStoreWatcher&) = delete;
  NodeStoreWatcher& operator=(const NodeStoreWatcher&) = delete;

  // Polls once now (so the first set is delivered before Start returns when the store is
  // reachable; its error is returned but the watcher runs on), then every poll_interval.
  absl::Status Start();
  // Waits for a running callback; idempotent.
  void Stop();

 private:
  absl::Status PollOnce();

  NodeStore* const store_;
  const Callback callback_;
  const NodeStoreWatcherOptions options_;
  // Poll thread only (and Start, before the thread exists).
  int64_t seen_version_ = -1;
  bool delivered_ = false;
  std::vector<MlNodeConfig> last_delivered_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_NODE_STORE_H_
