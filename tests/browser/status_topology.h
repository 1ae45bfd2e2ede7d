// A whole node on loopback for the status page's tests: devchain (200 ms blocks, epochs), NATS
// JetStream, PostgreSQL, two edge-api replicas (NATS coordination, each serving /status for the
// services file listing everything below), one signerd, one devmlnode and one node-manager.
// Test-only.
//
//   StatusTopology node;
//   ASSERT_TRUE(node.Start().ok()) << node.Logs();
//   std::string page = node.edge_api(1).url() + "/status";
//   int leader = node.EventHubLeader();        // 0 or 1, -1 while none
//   node.EnqueueDisallowedTx("bad/1");         // signerd dead-letters it as type_not_allowed
//
// Thread-safety: drive from one thread.
#ifndef GONKA_TESTS_BROWSER_STATUS_TOPOLOGY_H_
#define GONKA_TESTS_BROWSER_STATUS_TOPOLOGY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

class StatusTopology {
 public:
  StatusTopology();
  ~StatusTopology();

  // Starts everything and waits (deadline) until an edge-api leads and the node-manager leads.
  // Errors name the part that failed.
  absl::Status Start();

  DaemonProcess& edge_api(int i) { return *edge_apis_[i]; }
  DaemonProcess& signerd() { return *signerd_; }
  DaemonProcess& node_manager() { return *node_manager_; }
  DaemonProcess& devchain() { return *devchain_; }
  DevMlNode& ml_node() { return *ml_; }
  NatsServer& nats() { return nats_; }
  // The services file the edge-apis read (also what tests scrape /metrics from).
  const std::string& services_file() const { return services_file_; }
  // Every daemon's base URL, by service name ("edge-api-0", "signerd-0", ...).
  std::vector<std::pair<std::string, std::string>> Services();

  // The edge-api whose /v1/status says leader (0 or 1), -1 if none answers so.
  int EventHubLeader();
  // Enqueues on the tx queue a request holding a message type signerd does not sign
  // (/cosmos.bank.v1beta1.MsgMultiSend): signerd moves it to the dead letters as type_not_allowed.
  absl::Status EnqueueDisallowedTx(const std::string& idempotency_key);
  // Enqueues a devchain MsgRecord from signerd's own account, which signerd signs and the chain
  // includes (gonka_signer_txs_signed_total moves).
  absl::Status EnqueueRecordTx(const std::string& idempotency_key);

  // The tails of every daemon's log, for failure messages.
  std::string Logs();

 private:
  TempDir dir_;
  PostgresServer pg_;
  NatsServer nats_;
  std::unique_ptr<DaemonProcess> devchain_;
  std::vector<std::unique_ptr<DaemonProcess>> edge_apis_;
  std::unique_ptr<DaemonProcess> signerd_;
  std::unique_ptr<DevMlNode> ml_;
  std::unique_ptr<DaemonProcess> node_manager_;
  std::string services_file_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTS_BROWSER_STATUS_TOPOLOGY_H_
