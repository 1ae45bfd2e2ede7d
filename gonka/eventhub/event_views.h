// EventViews: the per-event-type subjects derived from the block stream. Every event of every
// block (tx events in tx order, then finalize-block events) is republished to
// `events.<event type>` in the stream EVENTS with Nats-Msg-Id "<chain>/<height>/<position>", so a
// consumer interested in one type (e.g. `events.inference_finished`) need not read whole blocks.
// The views live in their own stream, so the block stream's last-message fencing stays exact; a
// retried or redelivered block republishes nothing new (dedupe window).
//
// Run it in one process at a time for strict per-type order (edge-api runs it on the leader);
// it resumes from its durable consumer.
//
//   EventViews views({.chain_id = "gonka-mainnet"}, js.get());
//   RETURN_IF_ERROR(views.Start());
//
// The event payload is the gonka.chain.v1.Event protobuf; headers carry Gonka-Height,
// Gonka-Tx-Index ("-" for finalize-block events) and Gonka-Tx-Hash.
//
// Thread-safety: thread-safe. Start() and Stop() are serialised by one mutex (a Start() racing a
// Stop() either finishes first or finds the views stopped); running() and last_height() wait for
// a Start() or Stop() in progress.
#ifndef GONKA_EVENTHUB_EVENT_VIEWS_H_
#define GONKA_EVENTHUB_EVENT_VIEWS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"

namespace gonka {
namespace eventhub {

struct EventViewsOptions {
  std::string chain_id;
  std::string block_stream = "BLOCKS";
  std::string block_subject = "blocks";
  std::string stream = "EVENTS";
  std::string subject_prefix = "events";
  std::string durable = "event-views";
  int replicas = 1;
};

// "events.<type>" with characters NATS subjects cannot carry (space, '*', '>') replaced by '_'
// and empty tokens avoided.
std::string EventSubject(const std::string& prefix, const std::string& type);

class EventViews {
 public:
  EventViews(EventViewsOptions options, nats::JetStream* js);
  ~EventViews();

  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool running() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return subscriber_ != nullptr;
  }
  int64_t last_height() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return subscriber_ ? subscriber_->last_height() : 0;
  }

 private:
  const EventViewsOptions options_;
  nats::JetStream* const js_;
  // Held for the whole of Start() and Stop(). The subscriber's callback (on its own thread, which
  // Stop() joins) never takes it.
  mutable absl::Mutex mu_;
  std::unique_ptr<Subscriber> subscriber_ ABSL_GUARDED_BY(mu_);
};

}  // namespace eventhub
}  // namespace gonka

#endif  // GONKA_EVENTHUB_EVENT_VIEWS_H_
