// Stage gates: where the chain is in its PoC schedule, as edge-srv's callback routes need it —
// which stage (its PoC start height) is active and whether ML nodes' generated artifacts or
// validation results are accepted now (docs/edge-srv.md, "The phase gate").
//
// StreamStageGate follows the event hub's block stream (gonka/eventhub): every BlockEvents record
// carries the height's epoch position (phase, PoC start, stage boundary), so a replica knows the
// phase without asking the chain itself. Gonka's rules (decentralized-api poc/phase.go,
// ShouldAcceptGeneratedArtifacts / ShouldAcceptValidatedArtifacts):
//   generating  phase PoCGenerate, or PoCGenerateWindDown up to and including the stage's
//               PoCExchangeDeadline block (the exchange window);
//   validating  phase PoCValidate or PoCValidateWindDown.
// The deadline is known from the stream's stage marker: after a block marked
// "PoCExchangeDeadline" the stage's generation window is closed. With Gonka's parameters
// (exchange duration = validation delay) the deadline is the first validation block, so the
// phase alone decides; a replica that starts inside a longer wind-down after the deadline block
// passed accepts until StartOfPoCValidation (documented limit).
//
// ChainStageFn is the development fallback that reads the chain node's /status instead.
//
// Contract:
//   - Current(): Unavailable before the first block arrives and when the last one is older than
//     `stale_after` (the stream stalled: the phase is unknown, Gonka's "not synced") — callers
//     answer 503 and the ML node retries.
//   - Observe() is what the stream callback runs; public so tests can drive the gate.
//
// Thread-safety: thread-safe.
//
// Example (daemons/edge-srv):
//   StreamStageGate gate(js.get(), {.durable_prefix = "edge-srv"});
//   RETURN_IF_ERROR(gate.Start());
//   PocCallbacks callbacks(store.get(), gate.AsStageFn());
#ifndef GONKA_EDGESRV_STAGE_GATE_H_
#define GONKA_EDGESRV_STAGE_GATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/chain/epoch.h"

namespace gonka {
namespace chain {
class CometClient;
}  // namespace chain
namespace eventhub {
class Subscriber;
}  // namespace eventhub
namespace nats {
class JetStream;
}  // namespace nats

namespace edgesrv {

// Where the chain is in its PoC schedule.
struct StageWindow {
  int64_t height = 0;
  int64_t epoch_index = 0;  // the epoch `height` is in (Gonka's EpochIndex)
  int64_t poc_start = 0;    // the latest PoC start at or before `height` (0: none yet)
  bool generating = false;  // generated artifacts are accepted
  bool validating = false;  // validation results are accepted
  std::string phase;        // Gonka's phase name at `height`
  // Hash of the PoC start block (uppercase hex, the value the node-manager sends its ML nodes as
  // block_hash) when this gate saw that block; "" when it did not (started after it, chain mode).
  std::string poc_start_hash;
};

using StageFn = std::function<absl::StatusOr<StageWindow>()>;

// The window at `height` for `params` (the schedule of gonka/chain/epoch.h): generating from
// StartOfPoC to PoCExchangeDeadline inclusive, validating in PoCValidate and its wind-down.
StageWindow WindowAt(const chain::EpochParams& params, int64_t height);

// Development fallback: the window from the chain node's /status, read at most once per
// `interval`. Unavailable while the node cannot be read.
StageFn ChainStageFn(chain::CometClient* comet, chain::EpochParams params, absl::Duration interval);

struct StreamStageGateOptions {
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  // Each replica reads the stream through its own temporary consumer "<prefix>-<random>", which
  // the server forgets a minute after the replica stops fetching.
  std::string durable_prefix = "edge-srv";
  absl::Duration stale_after = absl::Seconds(60);  // no block for this long: phase unknown
  Clock* clock = nullptr;                          // nullptr = the real clock
};

class StreamStageGate {
 public:
  // `js` may be nullptr when only Observe() drives the gate (tests); not owned.
  StreamStageGate(nats::JetStream* js, StreamStageGateOptions options = {});
  ~StreamStageGate();  // Stop()

  // Starts following the stream from its next block. InvalidArgument for bad options. A stream
  // that does not exist yet (the event hub has not created it) is not an error: the gate tries
  // again every 500 ms until Stop(), the phase unknown meanwhile.
  absl::Status Start();
  void Stop();

  // Takes one block's epoch position. Always OK (a block without one leaves the window unknown).
  absl::Status Observe(const chain::v1::BlockEvents& block);

  absl::StatusOr<StageWindow> Current() const;
  StageFn AsStageFn();

  // The last height observed (0 before the first).
  int64_t height() const;

 private:
  const StreamStageGateOptions options_;
  nats::JetStream* const js_;
  Clock* const clock_;
  absl::Status Subscribe();

  absl::Mutex subscriber_mu_;
  std::unique_ptr<eventhub::Subscriber> subscriber_ ABSL_GUARDED_BY(subscriber_mu_);
  absl::Mutex retry_mu_;
  bool retry_stop_ ABSL_GUARDED_BY(retry_mu_) = false;
  int retry_errors_ ABSL_GUARDED_BY(retry_mu_) = 0;
  std::thread retry_;
  mutable absl::Mutex mu_;
  StageWindow window_ ABSL_GUARDED_BY(mu_);
  bool known_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time observed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t exchange_closed_for_ ABSL_GUARDED_BY(mu_) = 0;  // a stage whose deadline passed
  // The latest PoC start block seen and its hash.
  int64_t start_height_ ABSL_GUARDED_BY(mu_) = 0;
  std::string start_hash_ ABSL_GUARDED_BY(mu_);
};

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_STAGE_GATE_H_
