// DevMlNode: the development ML node (daemons/devmlnode) as a test fixture — started on free
// loopback ports (management API and inference server), with helpers for its /debug endpoints.
// Test-only. Add "//daemons/devmlnode" to the test's `data`.
//
//   gonka::testing::DevMlNode node({.require_fencing = true, .nonces_per_stage = 40});
//   ASSERT_TRUE(node.Start().ok());             // both ports answer
//   client options: {.api_url = node.api_url(), .inference_url = node.inference_url()}
//   ASSERT_TRUE(node.SetFaults(R"({"refuse_status":503})").ok());
//   absl::StatusOr<std::string> log = node.CommandsJson();   // GET /debug/commands
//   node.Kill(); node.Restart();                 // same ports, fresh state
//
// Thread-safety: as ServerFixture (drive from one thread); the /debug helpers are thread-safe.
#ifndef GONKA_TESTING_DEV_ML_NODE_H_
#define GONKA_TESTING_DEV_ML_NODE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

class DevMlNode {
 public:
  struct Options {
    bool require_fencing = false;
    int64_t nonces_per_stage = 64;
    int batch_size = 16;
    std::string batch_interval = "20ms";
    std::string auth_token_file;          // "" = no auth
    std::vector<std::string> extra_args;  // e.g. {"--fault-garbage"}
  };

  explicit DevMlNode(Options options);
  DevMlNode() : DevMlNode(Options{}) {}

  // Starts the daemon and waits until both ports answer (DaemonProcess's errors, with the log).
  absl::Status Start();
  absl::Status Stop() { return process_->Stop(); }
  absl::Status Kill() { return process_->Kill(); }
  absl::Status Restart() { return process_->Restart(); }
  absl::Status Pause() { return process_->Pause(); }
  absl::Status Resume() { return process_->Resume(); }
  bool IsRunning() { return process_->IsRunning(); }

  int port() const { return process_->port(); }
  int inference_port() const { return inference_port_; }
  std::string api_url() const { return process_->url(); }
  std::string inference_url() const;
  std::string LogTail() const { return process_->LogTail(); }
  DaemonProcess& process() { return *process_; }

  // GET /debug/commands: the body ({"highest_fencing_token":..., "commands":[...], ...}).
  absl::StatusOr<std::string> CommandsJson();
  // POST /debug/faults with `json` (e.g. {"slow_ms":300}); Internal with the answer unless 200.
  absl::Status SetFaults(absl::string_view json);

 private:
  int inference_port_;
  std::unique_ptr<DaemonProcess> process_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_DEV_ML_NODE_H_
