// The node-manager's admin REST API for ML nodes, on Gonka's paths and JSON shapes (Gonka's
// decentralized-api/internal/server/admin/server.go and node_handlers.go), backed by NodeStore:
//
//   GET    /admin/v1/nodes               200 [{"node": <node>, "state": {"admin_state":
//                                            {"enabled": bool}}}, ...]
//   POST   /admin/v1/nodes               <node> → 200 <stored node>; 409 when the id exists
//   POST   /admin/v1/nodes/batch         [<node>, ...] → 201 [<created node>, ...] (ids that
//                                            exist are skipped, as Gonka skips nodes it fails
//                                            to add; one malformed element → 400, none stored)
//   GET    /admin/v1/nodes/{id}          200 {"node": ..., "state": ...}         (libgonka)
//   PUT    /admin/v1/nodes/{id}          <node> → 200 <stored node>; body id absent or equal
//   DELETE /admin/v1/nodes/{id}          200 true
//   POST   /admin/v1/nodes/{id}/enable   200 {"message": "node enabled successfully",
//                                            "node_id": id}
//   POST   /admin/v1/nodes/{id}/disable  200 {"message": "node disabled successfully", ...}
//
// The ML-node routes (Gonka's upgrade_handlers.go, node_handlers.go postNodeTest,
// fact_handlers.go; docs/node-manager.md, "ML-node routes"):
//
//   GET  /admin/v1/nodes/upgrade-status  200 {"message": "No upgrade plan active"} or, for the
//                                            plan's node_version, what version-status answers
//   POST /admin/v1/nodes/version-status  {"version": "v2"} → 200 {<id>: {"is_alive": bool
//                                            [, "error": "..."]}, ...}: every stored node's
//                                            GET /<version><poc_segment>/api/v1/state answered
//   POST /admin/v1/nodes/{id}/test        200 TestResult {"node_id", "status": "SUCCESS" |
//                                            "FAILED", "failing_model", "error", "load_ms",
//                                            "health_ms", "resp_ms", "started_at",
//                                            "duration_ms", "retryable"}; 409 while the node is
//                                            enabled (the leader drives it) or a test runs
//   GET  /admin/v1/nodes/{id}/test        200 {"node_id", "running": bool, "last": TestResult
//                                            | null}
//   GET  /admin/v1/nodes/{id}/launch-plan 200 {"node_id", "plans": [{"model_id", "args"}],
//                                            "skipped_models": [...]}; 502 when the chain's
//                                            governance models cannot be read
//
// An ML node that does not answer is not an HTTP error of these routes (as in Gonka): it is
// {"is_alive": false, "error": ...} in version-status and a FAILED TestResult with
// "retryable": true in the test. Every answer is counted in
// gonka_nodemanager_admin_requests_total{route, status}.
//
// <node> is Gonka's InferenceNodeConfig (node_store.h, AdminNode). Errors are
// {"error": "<message>"}: 400 naming the field ("inference_port: required, an integer in
// 1..65535"), 404 "node not found: <id>" (also for DELETE, where Gonka answers 200 false), 409
// "node already exists: <id>", 503 when PostgreSQL cannot be reached.
//
// Contract:
//   - Every route, reads included, first passes `authenticate` (gonka/drain/bearer_auth.h,
//     MakeHttpAuthenticator): Unauthenticated → 401 with `WWW-Authenticate: Bearer`,
//     PermissionDenied → 403, anything else → 503. Without an authenticator every request is
//     refused with 403 (the API is off). The caller binds the server to loopback or a separate
//     admin port: the routes change which machines the participant's PoC runs on.
//   - Changes take effect through the store: every replica's NodeStoreWatcher applies them
//     within its poll interval. The answer does not wait for that.
//   - The test runs only on a disabled node (an enabled one is the leader's), one at a time per
//     node on this replica; its last result is kept in this replica's memory until the node is
//     changed or deleted. Its commands carry no fencing token (they are not the leader's).
//
// Thread-safety: the handlers are thread-safe.
//
// Example:
//   net::HttpServer admin({.name = "node-manager-admin", .port = 9200,
//                          .request_timeout = absl::Minutes(6)});   // a test may take 5
//   auto chain = std::make_shared<chain::InferenceQueryClient>(chain_flags.Queries(timeout));
//   AddAdminRoutes(&admin, {.store = store.get(),
//                           .authenticate = MakeHttpAuthenticator(auth, false, "admin API",
//                                                                 "--admin-token-file"),
//                           .governance_models = ChainGovernanceModels(chain)});
//   RETURN_IF_ERROR(admin.Start());
#ifndef GONKA_NODEMANAGER_ADMIN_API_H_
#define GONKA_NODEMANAGER_ADMIN_API_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/net/http_server.h"
#include "gonka/nodemanager/node_store.h"
#include "gonka/pg/pg.h"

namespace gonka {
namespace nodemanager {

// A model as the chain's governance lists it (inference.inference.Query/ModelsAll: `id` and
// `model_args`, the serving arguments every node must use).
struct GovernanceModel {
  std::string id;
  std::vector<std::string> args;
};
using GovernanceModelsFn = std::function<absl::StatusOr<std::vector<GovernanceModel>>()>;

// The upgrade the chain has scheduled, as Gonka's API keeps it (apiconfig.UpgradePlan: name,
// height, node_version); node_version "" = no ML-node upgrade planned.
struct UpgradePlan {
  std::string name;
  int64_t height = 0;
  std::string node_version;
};
using UpgradePlanFn = std::function<absl::StatusOr<UpgradePlan>()>;

// The governance models read through `queries` (ModelsAll); errors as InferenceQueryClient.
GovernanceModelsFn ChainGovernanceModels(std::shared_ptr<chain::InferenceQueryClient> queries);

// A node's launch plan for one model: governance args first, then the node's own args for the
// model except options governance already sets (Gonka's broker, MergeModelArgs: an option is a
// token starting with "--", "--opt=value" included, with the tokens after it that do not start
// with "--"; governance wins on the same option name).
std::vector<std::string> MergeModelArgs(const std::vector<std::string>& governance,
                                        const std::vector<std::string>& local);

struct AdminApiOptions {
  NodeStore* store = nullptr;  // required; outlives the server
  HttpAuthenticator authenticate;
  // The chain's governance models (test, launch-plan). Null: those routes answer 502 naming
  // the missing chain connection (test: a FAILED result).
  GovernanceModelsFn governance_models;
  // The chain's upgrade plan (upgrade-status): ChainUpgradePlan (upgrade_plan.h) reads Gonka's
  // partial upgrades. Null: upgrade-status answers 503 saying there is no source for it.
  UpgradePlanFn upgrade_plan;
  // Deadline of one ML-node call (version-status probes, stop, health, the test inference).
  absl::Duration ml_node_timeout = absl::Seconds(10);
  // Deadline of a whole test (Gonka's 5 minutes: a model load can take that long).
  absl::Duration test_timeout = absl::Minutes(5);
};

// Registers the routes above on `server` (before or after it starts). POST nodes/{id}/test
// answers when the test ends (up to `test_timeout`): give `server` a request_timeout longer than
// that (MlNodeAdmin does), else a long model load is cut off with the server's 503.
void AddAdminRoutes(net::HttpServer* server, AdminApiOptions options);

// The daemon's side in one object: a pool on `pg`, the store (migrated), the admin server on
// `address` with tokens from `token_file`, and a NodeStoreWatcher calling `apply` with the
// enabled nodes (node-manager wires `apply` to NodeManagerService::SetNodes).
struct MlNodeAdminOptions {
  pg::PgOptions pg;
  // host:port of the admin server. Loopback by default (Gonka's admin port is 9200); another
  // address is a separate admin port for an operator network.
  std::string address = "127.0.0.1:9200";
  // Bearer tokens (gonka/drain/bearer_auth.h); "" = the routes answer 403 (API off).
  std::string token_file;
  absl::Duration poll_interval = absl::Seconds(1);
  // The chain, for the governance models the test and launch-plan routes read (ModelsAll).
  // Neither grpc_address nor rpc_url set: no chain (those routes answer 502). node-manager
  // wires its --chain-grpc-address / --chain-rpc-url here.
  chain::InferenceQueryClientOptions chain;
  // The upgrade plan's source (see AdminApiOptions::upgrade_plan; node-manager wires
  // ChainUpgradePlan on `chain`); null: none.
  UpgradePlanFn upgrade_plan;
  // As AdminApiOptions.
  absl::Duration ml_node_timeout = absl::Seconds(10);
  absl::Duration test_timeout = absl::Minutes(5);
};

class MlNodeAdmin {
 public:
  // Opens everything, delivers the first node set to `apply` (its error is returned: a node
  // the service refuses stops the daemon at start), then starts serving and polling.
  // InvalidArgument naming the option (address, token file); pool/migration errors as
  // gonka/pg; Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MlNodeAdmin>> Start(MlNodeAdminOptions options,
                                                            NodeStoreWatcher::Callback apply);
  ~MlNodeAdmin();  // Stop()
  // Stops the server (in-flight requests get 5 s) and the watcher. Idempotent.
  void Stop();
  NodeStore* store() { return store_.get(); }
  int port() const { return server_ ? server_->port() : 0; }

 private:
  MlNodeAdmin() = default;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<NodeStore> store_;
  std::shared_ptr<chain::InferenceQueryClient> queries_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<NodeStoreWatcher> watcher_;
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_ADMIN_API_H_
