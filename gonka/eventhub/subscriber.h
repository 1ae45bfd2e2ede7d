// Subscriber: reads the event hub's block stream for a C++ consumer (node-manager, dashboards):
// every height in order, typed callbacks per block and per event type, explicit ack, and resume
// after a restart from its own durable JetStream consumer.
//
//   SubscriberOptions options;
//   options.durable = "node-manager";        // resumes here after a restart
//   options.start_height = 0;                // first start only: 0 = from the next block
//   Subscriber sub(options, js.get());
//   sub.OnBlock([&](const BlockEvents& b) { return phases.Advance(b.epoch()); });
//   sub.OnEvent("inference_finished", [&](const BlockEvents& b, const Event& e) {
//     return stats.Record(b.height(), e);
//   });
//   RETURN_IF_ERROR(sub.Start());
//
// Contract: callbacks run on the subscriber's thread, strictly in height order. A block is
// acked only after every callback returned OK for it; a callback error is retried (with backoff,
// keeping the message's ack deadline alive) until it succeeds or Stop() — the stream never moves
// past a block a callback refused. JetStream may redeliver after a server crash (at-least-once);
// the subscriber drops heights at or below the last one it completed, so in one process every
// height is delivered once. Across a process restart, a callback may see the last block again:
// make side effects idempotent by height.
//
// Thread-safety: register callbacks before Start(); the rest is thread-safe.
#ifndef GONKA_EVENTHUB_SUBSCRIBER_H_
#define GONKA_EVENTHUB_SUBSCRIBER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/nats/jetstream.h"

namespace gonka {
namespace eventhub {

struct SubscriberOptions {
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  std::string durable;       // required; [A-Za-z0-9_-]
  int64_t start_height = 0;  // used when the durable is created: 0 = from the next block
  // > 0: a temporary subscriber; the server forgets it after this long without a fetch.
  absl::Duration inactive_threshold = absl::ZeroDuration();
  int batch = 64;
  absl::Duration fetch_timeout = absl::Milliseconds(500);
  absl::Duration ack_wait = absl::Seconds(30);
  absl::Duration retry_initial = absl::Milliseconds(100);
  absl::Duration retry_max = absl::Seconds(5);
};

class Subscriber {
 public:
  using BlockCallback = std::function<absl::Status(const chain::v1::BlockEvents&)>;
  using EventCallback =
      std::function<absl::Status(const chain::v1::BlockEvents&, const chain::v1::Event&)>;

  Subscriber(SubscriberOptions options, nats::JetStream* js);
  ~Subscriber();

  void OnBlock(BlockCallback callback);
  // Every event of this type, from txs (in tx order) and then finalize-block events.
  void OnEvent(std::string type, EventCallback callback);

  // Creates or binds the durable consumer and starts the delivery thread. InvalidArgument naming
  // the field for bad options; NotFound when the stream does not exist.
  absl::Status Start();
  void Stop();

  // The last height whose callbacks all succeeded (0 before the first).
  int64_t last_height() const { return last_height_.load(); }

 private:
  void Loop();
  // Runs the callbacks for `block`; OK when all succeeded.
  absl::Status Deliver(const chain::v1::BlockEvents& block);

  const SubscriberOptions options_;
  nats::JetStream* const js_;
  std::vector<BlockCallback> block_callbacks_;
  std::map<std::string, std::vector<EventCallback>> event_callbacks_;
  std::unique_ptr<nats::PullConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_height_{0};
  std::thread thread_;
};

}  // namespace eventhub
}  // namespace gonka

#endif  // GONKA_EVENTHUB_SUBSCRIBER_H_
