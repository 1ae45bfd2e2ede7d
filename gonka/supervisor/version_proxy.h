// VersionProxy: versiond's public face over a Supervisor — `/<version>/...` reverse-proxied to
// that version's current child (streamed for `Accept: text/event-stream`), `/healthz` with the
// children as JSON, and `/readyz` latched once every desired version was reconciled, with
// `/readyz?version=NAME` per version and 503 while the host announces its evacuation
// (docs/supervisor.md, "versiond").
//
// Contract:
//   - A path without a version segment is a 404; a version with no running child answers what
//     Supervisor::Forward answers (503).
//   - `/readyz` is 503 until SetReconciled(true), then 200 for good (a later failure of one
//     version does not clear it: `?version=` says which); after BeginAnnounce() it is 503.
//   - ValidateHostBudget: Gonka's rules for the host drain settings — the announce is 0 or at
//     least 5 s (a router notices within about 4 s), shorter than the host budget, and the child
//     kill grace fits in what the budget leaves after it; InvalidArgument naming the setting.
//
// Thread-safety: thread-safe.
//
// Example (daemons/versiond):
//   Supervisor sup(options);
//   VersionProxy proxy(&sup);
//   proxy.AddRoutes(&server);
//   ... deploy every version ...
//   proxy.SetReconciled(all_ok);
//   ... on SIGTERM: proxy.BeginAnnounce(); sleep(announce); sup.Shutdown(deadline);
#ifndef GONKA_SUPERVISOR_VERSION_PROXY_H_
#define GONKA_SUPERVISOR_VERSION_PROXY_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gonka/supervisor/supervisor.h"

namespace gonka {
namespace net {
class HttpServer;
}  // namespace net

namespace supervisor {

class VersionProxy {
 public:
  explicit VersionProxy(Supervisor* supervisor) : supervisor_(supervisor) {}

  // GET /healthz, GET /readyz, and every method on /* (the proxy).
  void AddRoutes(net::HttpServer* server);

  void SetReconciled(bool reconciled) { reconciled_.store(reconciled); }
  bool reconciled() const { return reconciled_.load(); }
  void BeginAnnounce() { announcing_.store(true); }

  // Called once per proxied request when its answer starts (plain: the status; stream: 0).
  // Set before AddRoutes' server starts.
  void OnProxied(std::function<void(int status)> hook) { on_proxied_ = std::move(hook); }
  // Whether plain forwards run on the server's event loop (Responder::executor(); the default)
  // or on the supervisor's client thread. Set before AddRoutes' server starts.
  void ForwardOnServerLoop(bool on) { on_server_loop_ = on; }

 private:
  Supervisor* const supervisor_;
  std::function<void(int status)> on_proxied_;
  bool on_server_loop_ = true;
  std::atomic<bool> reconciled_{false};
  std::atomic<bool> announcing_{false};
};

// "/<version>/rest?q" → {"<version>", "/rest?q"}; false when there is no version segment.
bool SplitVersion(const std::string& target, std::string* version, std::string* rest);

// The live children as versiond's /healthz JSON array.
std::string ChildrenJson(const std::vector<GenerationInfo>& generations);

absl::Status ValidateHostBudget(absl::Duration announce, absl::Duration budget,
                                absl::Duration kill_grace);

}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_VERSION_PROXY_H_
