// ChildContract: the child's side of Gonka's versiond child contract, shared by the development
// and test children (daemons/devchild, gonka/supervisor/test_child) — the public server with
// `/healthz` and the in-flight count, the admin endpoints (`GET /ready`, `POST /drain`,
// `GET /drain/status` {ready, draining, inflight}) on the public port or on
// $DEVSHARD_ADMIN_ADDR, and the SIGTERM drain. Testonly: real children are Gonka's.
//
//   sigset_t signals = ChildContract::BlockTermSignals();   // first: before any thread starts
//   ASSIGN_OR_RETURN(auto child, ChildContract::Create({.name = "devchild", .port = port}));
//   child->pub().Handle("GET", "/version", ...);            // the child's own routes
//   RETURN_IF_ERROR(child->Start());
//   child->WaitForSignalAndStop(signals, absl::Seconds(60));
//
// Contract: every public request except `/healthz` (and routes added with admission off) counts
// as in flight until its response or stream ends; after `POST /drain` or a signal new ones get 503
// and admitted ones finish. `/ready` is 200 while not draining (never with `never_ready`), with a
// JSON body {ready, draining, storage_ready, recovery_complete, sessions_pending}.
// Responses of the contract's own routes go through `stamp` when set (identity headers).
//
// Thread-safety: draining()/inflight()/Drain() from any thread; the rest from main.
#ifndef GONKA_SUPERVISOR_CHILD_CONTRACT_H_
#define GONKA_SUPERVISOR_CHILD_CONTRACT_H_

#include <signal.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace supervisor {

struct ChildContractOptions {
  std::string name = "child";  // server name (metrics, logs)
  int port = 0;
  int handler_threads = 16;
  bool never_ready = false;  // admin ready: 503 "not ready" (text: not "still starting")
  // Admin ready answers 503 {"ready":false,"draining":false,"storage_ready":false} — a child
  // still starting, as Gonka's devshardd says it — until this long after Start().
  absl::Duration ready_after = absl::ZeroDuration();
  // The warm cutover (Gonka's devshardd v5): the ready body carries "recovery_complete" (false
  // until this long after Start(); absl::InfiniteDuration(): never) and "sessions_pending".
  // Negative: the field is left out (a child that predates it).
  absl::Duration recovery_after = absl::ZeroDuration();
  // While this file exists, admin ready answers 503 {"ready":false,"draining":false,
  // "storage_ready":true} — a running child that lost readiness (devshardd's serving →
  // disconnected); a file that says `plain` makes it a plain-text 503 (not "still starting").
  // Removing the file makes it ready again. Empty: not used.
  std::string unready_file;
  std::string version;  // added to /drain/status as "version" when set
  std::function<net::HttpResponse(net::HttpResponse)> stamp;
};

class ChildContract {
 public:
  // Reads $DEVSHARD_ADMIN_ADDR (127.0.0.1:<port>); InvalidArgument naming it when malformed.
  static absl::StatusOr<std::unique_ptr<ChildContract>> Create(ChildContractOptions options);
  // Blocks SIGTERM and SIGINT in the calling thread (so in every thread started after it) and
  // returns the set for WaitForSignalAndStop.
  static sigset_t BlockTermSignals();

  net::HttpServer& pub() { return pub_; }
  // Starts the public server and the admin one (if separate); errors name the port.
  absl::Status Start();
  // Waits for SIGTERM/SIGINT (with `ignore_sigterm` only SIGINT or SIGKILL end it), then drains:
  // new requests 503, the public server stops once admitted work ends (at most `grace`).
  void WaitForSignalAndStop(const sigset_t& signals, absl::Duration grace,
                            bool ignore_sigterm = false);

  void Drain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }
  int inflight() const { return inflight_.load(); }
  const std::string& admin_address() const { return admin_address_; }

 private:
  ChildContract(ChildContractOptions options, int admin_port, std::string admin_address);
  void AddRoutes();

  const ChildContractOptions options_;
  const std::string admin_address_;
  absl::Time started_ = absl::Now();  // set again by Start(), before any handler runs
  std::atomic<bool> draining_{false};
  std::atomic<int> inflight_{0};
  net::HttpServer pub_;
  std::unique_ptr<net::HttpServer> admin_server_;
};

// Small helpers both children use.
std::string EnvOr(const char* name, const char* fallback = "");
int IntParam(const net::HttpRequest& request, absl::string_view name, int fallback);

}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_CHILD_CONTRACT_H_
