// JetStream: durable streams, fenced publishes and shared pull consumers over nats.c, for the
// event hub (gap-free block stream) and the tx queue (exactly-once chain messages).
//
// Contract:
//   - Connect fails fast (Unavailable naming every URL); afterwards the connection reconnects
//     forever with backoff (options.h). Every error message starts with the server it concerns
//     ("nats nats://127.0.0.1:4222: ...", or the URL list while disconnected).
//   - EnsureStream is idempotent: it creates the stream, does nothing when it already matches,
//     updates it for compatible changes (subjects, max_age, duplicate_window, replicas) and returns
//     InvalidArgument naming the field for a conflicting one (storage) or one the server refuses.
//   - Publish maps JetStream answers exactly:
//       OK                          stored (PubAck.duplicate = false)
//       OK, duplicate = true        msg_id seen within the stream's duplicate window: NOT stored
//                                   again. A publish retried after a lost ack lands here.
//       FailedPrecondition          expected_last_msg_id / expected_last_sequence did not match
//                                   (JetStream errors 10070 / 10071); names expected and actual.
//       DeadlineExceeded            no ack within `timeout` (server hung or slow): the message may
//                                   or may not be stored; retry with the same msg_id.
//       Unavailable                 no stream listens on the subject (no responders), or not
//                                   connected.
//     The server checks the duplicate window before the expected-last checks, so a retry of a
//     fenced publish that did land is reported as a duplicate, not as a fencing failure.
//   - PullConsumer is a durable, explicit-ack pull consumer. Any number of PullConsumer objects
//     (in any processes) bound to the same durable share its messages: each message is delivered
//     to one fetcher at a time, and redelivered after Nak, after ack_wait without an ack, until
//     max_deliver; Term stops redelivery. Delivery is at-least-once: nats-server 2.9 writes
//     consumer state (acks, delivery counts) to disk asynchronously, so after a kill -9 of the
//     server a message acked just before may come back with num_delivered 1. Consumers must be
//     idempotent (the tx queue checks its ledger, event-hub subscribers check the height).
//
// Thread-safety: JetStream and PullConsumer are thread-safe. A JsMessage belongs to one thread;
// messages and consumers must not outlive the JetStream that made them.
//
// Example (tx queue producer and signer):
//   ASSIGN_OR_RETURN(auto js, JetStream::Connect({.urls = {"nats://127.0.0.1:4222"}}));
//   RETURN_IF_ERROR(js->EnsureStream({.name = "TX", .subjects = {"chain.tx", "chain.tx.dead"}}));
//   ASSIGN_OR_RETURN(PubAck ack, js->Publish("chain.tx", bytes, {.msg_id = key}));
//   ASSIGN_OR_RETURN(auto consumer, js->Consumer({.stream = "TX", .durable = "signers",
//                                                 .filter_subject = "chain.tx"}));
//   ASSIGN_OR_RETURN(auto batch, consumer->Fetch(10, absl::Seconds(1)));
//   for (JsMessage& m : batch) RETURN_IF_ERROR(m.Ack());
#ifndef GONKA_NATS_JETSTREAM_H_
#define GONKA_NATS_JETSTREAM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/nats/options.h"

namespace gonka {
namespace nats {

namespace internal {
class Connection;
}

// Header names JetStream interprets, and the ones DeadLetter adds.
inline constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
inline constexpr char kDeadReasonHeader[] = "Gonka-Dead-Reason";
inline constexpr char kDeadSubjectHeader[] = "Gonka-Dead-Subject";      // original subject
inline constexpr char kDeadSequenceHeader[] = "Gonka-Dead-Stream-Seq";  // original stream seq

struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;              // required, e.g. {"chain.tx", "chain.tx.dead"}
  bool memory_storage = false;                    // default file storage: survives a server restart
  int replicas = 1;                               // 1..5; R3 in production clusters
  absl::Duration max_age = absl::ZeroDuration();  // 0 = keep forever
  // Publishes with a msg_id seen within this window are acknowledged as duplicates and not
  // stored. Must be > 0 and, when max_age is set, <= max_age.
  absl::Duration duplicate_window = absl::Minutes(2);
};

struct StreamInfo {
  StreamConfig config;  // as the server has it
  uint64_t messages = 0;
  uint64_t bytes = 0;  // stored, headers included
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;  // 0 for an empty stream
  absl::Time last_time = absl::InfinitePast();
  int64_t consumers = 0;
  // In a cluster: the server name of the stream's current leader ("" on a standalone server).
  std::string leader;
  // Filled when GetStreamInfo was asked about a subject: the last message stored on it (0 / ""
  // when there is none). This is where a new event-hub leader resumes from.
  uint64_t subject_last_sequence = 0;
  std::string subject_last_msg_id;
};

// A durable consumer's counters (ConsumerState).
struct ConsumerState {
  uint64_t num_pending = 0;     // stored messages matching its filter never delivered yet
  int64_t num_ack_pending = 0;  // delivered, not acked yet
  int64_t num_redelivered = 0;  // delivered more than once and not acked yet
  uint64_t delivered_stream_sequence = 0;  // the last stream sequence delivered
};

using Headers = std::map<std::string, std::string>;  // first value of each header

// One message read back from a stream (not through a consumer).
struct StoredMessage {
  std::string subject;
  std::string data;
  Headers headers;
  uint64_t sequence = 0;
  absl::Time time;
  std::string msg_id() const;  // the Nats-Msg-Id header, "" if none
};

struct PublishOptions {
  std::string msg_id;                // Nats-Msg-Id: dedupe key within the duplicate window
  std::string expected_last_msg_id;  // refuse unless the stream's last msg id is this
  // Refuse unless the stream's last sequence is this. 0 = no check (JetStream cannot express
  // "expect empty stream" this way).
  uint64_t expected_last_sequence = 0;
  Headers headers;                                // extra headers
  absl::Duration timeout = absl::ZeroDuration();  // 0 = NatsOptions::timeout
};

struct PubAck {
  std::string stream;
  uint64_t sequence = 0;   // for a duplicate: the sequence of the original message
  bool duplicate = false;  // msg_id already stored within the duplicate window
};

struct ConsumerConfig {
  std::string stream;
  std::string durable;         // shared name: every fetcher binding to it shares the messages
  std::string filter_subject;  // "" = every subject of the stream
  absl::Duration ack_wait = absl::Seconds(30);  // redelivered when not acked within this
  int64_t max_deliver = -1;                     // -1 = unlimited
  // Redelivery delays after an ack_wait expiry: the n-th redelivery waits backoff[n-1] (the last
  // one repeats). Needs max_deliver > size. Empty = ack_wait every time.
  std::vector<absl::Duration> backoff;
  int64_t max_ack_pending = 1000;  // unacked messages in flight across all fetchers
  // Where a NEW durable starts; an existing one resumes where it left off (its own cursor).
  enum class Start { kAll, kNew, kLast, kSequence };
  Start start = Start::kAll;
  uint64_t start_sequence = 0;  // with kSequence: the first stream sequence delivered (>= 1)
  // > 0: the server deletes the durable after this long without a fetcher (temporary consumers
  // such as a dashboard's stream). 0 = keep it until deleted.
  absl::Duration inactive_threshold = absl::ZeroDuration();
};

class JsMessage;
class AsyncPublisher;

class PullConsumer {
 public:
  ~PullConsumer();
  PullConsumer(const PullConsumer&) = delete;
  PullConsumer& operator=(const PullConsumer&) = delete;

  // Up to `batch` messages, waiting at most `timeout` for the first. An empty vector when none
  // arrived in time (including while the server is unreachable). Unavailable on a connection or
  // consumer error (e.g. the consumer was deleted).
  absl::StatusOr<std::vector<JsMessage>> Fetch(int batch, absl::Duration timeout);

  // Publishes `msg` (data and headers) to `dead_subject` with kDeadReasonHeader = `reason`,
  // kDeadSubjectHeader and kDeadSequenceHeader, and Nats-Msg-Id "dead/<stream>/<seq>" (so a retry
  // is deduplicated), waits for the stream's ack, then Terms `msg`. If the publish fails, `msg`
  // is left as is (it will be redelivered) and the error is returned.
  absl::Status DeadLetter(JsMessage& msg, const std::string& dead_subject,
                          const std::string& reason);

  const ConsumerConfig& config() const { return config_; }

 private:
  friend class JetStream;
  struct Impl;
  PullConsumer(std::unique_ptr<Impl> impl, ConsumerConfig config);
  std::unique_ptr<Impl> impl_;
  ConsumerConfig config_;
};

// A message delivered by a PullConsumer. Move-only; not thread-safe.
class JsMessage {
 public:
  JsMessage(JsMessage&& other) noexcept;
  JsMessage& operator=(JsMessage&& other) noexcept;
  ~JsMessage();  // without an ack the message is redelivered after ack_wait

  const std::string& subject() const { return subject_; }
  const std::string& data() const { return data_; }
  const Headers& headers() const { return headers_; }
  std::string msg_id() const;  // Nats-Msg-Id, "" if none
  uint64_t stream_sequence() const { return stream_sequence_; }
  uint64_t consumer_sequence() const { return consumer_sequence_; }
  uint64_t num_delivered() const { return num_delivered_; }  // 1 on first delivery
  absl::Time timestamp() const { return timestamp_; }

  // Acknowledges. Ack() is fire-and-forget; AckSync() waits for the server's confirmation
  // (double ack: once it returns OK the message will not be redelivered). FailedPrecondition if
  // already acked/termed, Unavailable/DeadlineExceeded on transport errors.
  absl::Status Ack();
  absl::Status AckSync();
  // Asks for redelivery after `delay` (0 = now).
  absl::Status Nak(absl::Duration delay = absl::ZeroDuration());
  // Never redeliver.
  absl::Status Term();
  // Resets the ack_wait timer (long work in progress).
  absl::Status InProgress();

 private:
  friend class PullConsumer;
  JsMessage() = default;
  struct natsMsgDeleter {
    void operator()(void* msg) const;
  };
  std::unique_ptr<void, natsMsgDeleter> msg_;  // natsMsg*
  std::string where_;
  std::string subject_;
  std::string data_;
  Headers headers_;
  uint64_t stream_sequence_ = 0;
  uint64_t consumer_sequence_ = 0;
  uint64_t num_delivered_ = 0;
  absl::Time timestamp_;
  bool done_ = false;
};

// Pipelined publishing: Publish() sends and returns without waiting for the ack; `done` runs
// with the ack (or the error, mapped exactly as JetStream::Publish maps it) later, on a nats.c
// thread. Messages reach the server in Publish() order on one connection, so fenced publishes can
// be chained: publish h+1 expecting h right after h; if h is refused, h+1 is refused as well. Every
// publish has an ack timeout (options.timeout, default NatsOptions::timeout) after which `done`
// gets DeadlineExceeded (the message may still be stored: retry with the same msg_id).
//
// Thread-safety: thread-safe. `done` must be short and must not call Flush or destroy the
// publisher. Destroying the publisher runs `done` with Cancelled for publishes still unacked.
//
//   ASSIGN_OR_RETURN(auto pub, js->NewAsyncPublisher());
//   for (int h = from; h <= to; ++h)
//     RETURN_IF_ERROR(pub->Publish("blocks", record[h], {.msg_id = Id(h),
//                                  .expected_last_msg_id = Id(h - 1)}, on_ack));
//   RETURN_IF_ERROR(pub->Flush(absl::Seconds(5)));
class AsyncPublisher {
 public:
  using Done = std::function<void(const absl::StatusOr<PubAck>& ack)>;

  ~AsyncPublisher();
  AsyncPublisher(const AsyncPublisher&) = delete;
  AsyncPublisher& operator=(const AsyncPublisher&) = delete;

  // Sends the message; `done` runs exactly once unless this returns an error (then the message
  // was not sent and `done` never runs). Waits while `max_pending` publishes are unacked
  // (DeadlineExceeded if that lasts longer than the ack timeout).
  absl::Status Publish(const std::string& subject, const std::string& data,
                       const PublishOptions& options, Done done);
  // Waits until every `done` of the publishes made so far has run; DeadlineExceeded after
  // `timeout`.
  absl::Status Flush(absl::Duration timeout);
  // Publishes whose `done` has not run yet.
  int pending() const;

 private:
  friend class JetStream;
  struct Impl;
  explicit AsyncPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class JetStream {
 public:
  static absl::StatusOr<std::unique_ptr<JetStream>> Connect(const NatsOptions& options);
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // See the contract above. Returns the stream as it is after the call.
  absl::StatusOr<StreamInfo> EnsureStream(const StreamConfig& config);
  // NotFound if the stream does not exist. With `subject`, also reads the last message on it.
  absl::StatusOr<StreamInfo> GetStreamInfo(const std::string& stream,
                                           const std::string& subject = "");
  // The last message stored on `subject` (the leader's copy, via $JS.API.STREAM.MSG.GET
  // last_by_subj); nullopt if the subject has none. NotFound if the stream does not exist.
  absl::StatusOr<std::optional<StoredMessage>> LastMessage(const std::string& stream,
                                                           const std::string& subject);
  // NotFound if it does not exist.
  absl::Status DeleteStream(const std::string& stream);

  // The counters of durable consumer `durable` on `stream` (a queue's backlog is num_pending).
  // NotFound when the stream or the consumer does not exist.
  absl::StatusOr<ConsumerState> GetConsumerState(const std::string& stream,
                                                 const std::string& durable);

  absl::StatusOr<PubAck> Publish(const std::string& subject, const std::string& data,
                                 const PublishOptions& options = {});

  // A pipelined publisher on this connection (see AsyncPublisher): at most `max_pending`
  // publishes wait for their acks at once. Must not outlive this JetStream.
  absl::StatusOr<std::unique_ptr<AsyncPublisher>> NewAsyncPublisher(int max_pending = 256);

  // Creates the durable consumer, or binds to it (updating ack_wait, max_deliver, backoff and
  // max_ack_pending if they differ). InvalidArgument naming the field for a bad config or a
  // filter_subject that differs from the existing consumer's; NotFound if the stream is missing.
  absl::StatusOr<std::unique_ptr<PullConsumer>> Consumer(const ConsumerConfig& config);

  // The configured URLs, comma-separated.
  const std::string& servers() const;
  // "nats <connected url>" or "nats <servers> (disconnected)".
  std::string Where() const;

 private:
  explicit JetStream(std::unique_ptr<internal::Connection> conn);
  std::unique_ptr<internal::Connection> conn_;
};

}  // namespace nats
}  // namespace gonka

#endif  // GONKA_NATS_JETSTREAM_H_
