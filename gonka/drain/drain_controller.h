// DrainController: the lifecycle every libgonka daemon shares — alive, ready, draining, stopped —
// and the sequence that lets an instance leave a pool without failing a request.
//
// States: kServing → kAnnouncing → kDraining → kStopping → kStopped.
//   BeginDrain() (SIGTERM):  Ready() fails at once (routers and endpoint lists drop the instance)
//                            while it keeps serving for `announce` (kAnnouncing);
//   then:                    the stop-accepting hooks run (listeners close; new connections are
//                            refused) and in-flight work is awaited up to `shutdown_grace`
//                            (kDraining);
//   then:                    shutdown hooks run in order (release leases, flush) (kStopping);
//   finally:                 kStopped; Wait() returns. Force() (a second signal) skips ahead.
//
//   DrainController drain({.announce = absl::Seconds(5), .shutdown_grace = absl::Seconds(30)});
//   drain.AddReadinessProbe("chain", [&] { return chain.Ping(); });
//   drain.OnStopAccepting([&] { server.StopAccepting(); });
//   drain.AddShutdownHook("release lease", [&] { elector.Stop(); });
//   server.SetAdmission(drain.AdmissionHook());   // every request holds a gate guard
//   ... SIGTERM → drain.BeginDrain(); drain.Wait();
//
// Readiness probes are cached for `probe_cache` and single-flight: N concurrent /ready requests
// run each probe at most once per budget. Thread-safe.
#ifndef GONKA_DRAIN_DRAIN_CONTROLLER_H_
#define GONKA_DRAIN_DRAIN_CONTROLLER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/drain/gate.h"

namespace gonka {

struct DrainOptions {
  // How long /ready fails while the instance still serves, before it stops accepting. Routers
  // must notice within this window (HAProxy: inter × fall; Kubernetes: endpoint propagation).
  // GONKA_DRAIN_ANNOUNCE. Zero = no balancer in front.
  absl::Duration announce = absl::Seconds(5);
  // Budget for in-flight work (including long SSE streams) after accepting stops.
  // GONKA_SHUTDOWN_GRACE. Align terminationGracePeriodSeconds >= announce + grace + hooks.
  absl::Duration shutdown_grace = absl::Seconds(30);
  // How long a readiness probe result is reused.
  absl::Duration probe_cache = absl::Seconds(3);
  // Each probe gets this long; a probe that takes longer counts as failed.
  absl::Duration probe_timeout = absl::Seconds(2);
  Clock* clock = Clock::Real();
};

class DrainController {
 public:
  enum class State { kServing, kAnnouncing, kDraining, kStopping, kStopped };
  static const char* StateName(State s);

  explicit DrainController(DrainOptions options = {});
  ~DrainController();
  DrainController(const DrainController&) = delete;
  DrainController& operator=(const DrainController&) = delete;

  // InvalidArgument naming the field for negative durations or a zero grace.
  static absl::Status Validate(const DrainOptions& options);

  // --- readiness -------------------------------------------------------------------------------
  // A dependency that must be healthy for /ready. Register before serving.
  void AddReadinessProbe(std::string name, std::function<absl::Status()> probe);
  // Marks the instance not ready until SetStarted() (e.g. until the first chain sync).
  void SetStarted(bool started);
  // OK when serving and every probe passes; Unavailable("draining") or the failing probe's
  // status (annotated with its name) otherwise.
  absl::Status Ready();

  // --- in-flight work --------------------------------------------------------------------------
  Gate& gate() { return gate_; }
  // For gonka::net servers: returns a guard kept alive for the request/stream, or nullptr once
  // the gate is closed (the server then answers 503).
  std::function<std::shared_ptr<void>()> AdmissionHook();

  // --- shutdown --------------------------------------------------------------------------------
  void OnStopAccepting(std::function<void()> hook);
  void AddShutdownHook(std::string name, std::function<void()> hook);
  // Called with every state change (e.g. to flip a server into `Connection: close` mode).
  void OnStateChange(std::function<void(State)> listener);

  // Starts the drain sequence on a background thread. Idempotent; a call while draining is a
  // request to force (see Force()).
  void BeginDrain();
  // Skips the remaining waits: stop accepting now, do not wait for in-flight work, run hooks.
  void Force();
  // Blocks until kStopped. Returns true when in-flight work finished inside the grace.
  bool Wait();
  // As Wait(), with a real-time limit. Returns false on timeout.
  bool WaitFor(absl::Duration timeout);

  State state() const;
  bool draining() const { return state() != State::kServing; }
  // {"state":"draining","ready":false,"in_flight":3,"oldest_in_flight_ms":1200,
  //  "grace_left_ms":27000,"announce_ms":5000,"shutdown_grace_ms":30000}
  std::string StatusJson() const;

 private:
  struct Probe;
  void Run();
  void StartDrain();
  void SetState(State s);

  const DrainOptions options_;
  Clock* const clock_;
  Gate gate_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kServing;
  bool started_ ABSL_GUARDED_BY(mu_) = true;
  bool forced_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_started_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_in_grace_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time grace_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::vector<std::function<void()>> stop_accepting_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::function<void()>>> shutdown_hooks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(State)>> listeners_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Probe>> probes_ ABSL_GUARDED_BY(mu_);
  std::thread runner_;
};

}  // namespace gonka

#endif  // GONKA_DRAIN_DRAIN_CONTROLLER_H_
