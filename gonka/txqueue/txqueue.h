// gonka/txqueue: the durable queue every chain-bound message goes through.
//
// Contract:
//   - Producers call TxQueue::Enqueue(ChainTx). The request is validated first (InvalidArgument
//     naming the field: idempotency_key empty or longer than 256 characters, no messages, a
//     message without type_url) and then published to subject `chain.tx` of stream `CHAIN_TX`
//     with Nats-Msg-Id = idempotency_key. A second enqueue of the same key within the stream's
//     duplicate window is not stored again and is reported as `duplicate = true` (not an error);
//     beyond the window the signer's Postgres ledger (gonka/signer/ledger.h) is what dedupes.
//     DeadlineExceeded from Enqueue means "maybe stored": retry with the same key.
//   - Signers share one durable pull consumer (`signers`) through TxConsumer: each message goes
//     to one signer at a time and is redelivered after Retry(delay), after ack_wait without an
//     answer, or after a signer crash. Delivery is at-least-once; the ledger makes the chain
//     effect exactly-once.
//   - Nothing is silently dropped. TxConsumer::Fetch itself moves to `chain.tx.dead` (with the
//     reason in the Gonka-Dead-Reason header, and the original payload) every message that
//     cannot be sent: undecodable payload, invalid request (no key, no messages, a message
//     without type_url), a message type outside `known_type_urls` (when configured), or a
//     deadline already past (unless `dead_letter_expired` is off: signers check it themselves).
//     Such messages are never returned to the caller. A Retry() on the last allowed delivery
//     (max_deliver) dead-letters instead of letting JetStream drop it.
//
// Thread-safety: TxQueue and TxConsumer are thread-safe. A Delivery belongs to one thread.
// Neither owns the JetStream; it must outlive them.
//
// Example:
//   ASSIGN_OR_RETURN(auto js, nats::JetStream::Connect({.urls = {"nats://127.0.0.1:4222"}}));
//   txqueue::TxQueue queue(js.get());
//   RETURN_IF_ERROR(queue.EnsureStream().status());
//   ChainTx tx;  tx.set_idempotency_key("inf-42/finish");  *tx.add_messages() = any_msg;
//   ASSIGN_OR_RETURN(txqueue::EnqueueResult r, queue.Enqueue(tx));
//   // In a signer:
//   ASSIGN_OR_RETURN(auto consumer, txqueue::TxConsumer::Bind(js.get(), {}));
//   ASSIGN_OR_RETURN(auto batch, consumer->Fetch(10, absl::Seconds(1)));
//   for (auto& d : batch) RETURN_IF_ERROR(consumer->Ack(d));   // after inclusion
#ifndef GONKA_TXQUEUE_TXQUEUE_H_
#define GONKA_TXQUEUE_TXQUEUE_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/nats/jetstream.h"
#include "gonka/txqueue/chain_tx.pb.h"

namespace gonka {
namespace txqueue {

using ChainTx = ::gonka::txqueue::v1::ChainTx;

inline constexpr char kStream[] = "CHAIN_TX";
inline constexpr char kSubject[] = "chain.tx";
inline constexpr char kDeadSubject[] = "chain.tx.dead";
inline constexpr char kDurable[] = "signers";
inline constexpr size_t kMaxKeyLength = 256;

// Dead-letter reasons start with one of these words (the rest of the header says which input).
inline constexpr char kReasonUndecodable[] = "undecodable";
inline constexpr char kReasonInvalid[] = "invalid";
inline constexpr char kReasonUnknownType[] = "unknown_type";
inline constexpr char kReasonExpired[] = "expired";
inline constexpr char kReasonRetriesExhausted[] = "retries_exhausted";
inline constexpr char kReasonRejected[] = "rejected";  // the chain refused it for good
// The signer's MessagePolicy (--allowed-msg-types) does not allow one of its messages: never
// signed.
inline constexpr char kReasonTypeNotAllowed[] = "type_not_allowed";

// OK, or InvalidArgument naming the field ("idempotency_key", "messages", "messages[2].type_url").
absl::Status Validate(const ChainTx& tx);

struct QueueOptions {
  std::string stream = kStream;
  int replicas = 1;             // R3 in production clusters
  bool memory_storage = false;  // file storage survives a server restart
  absl::Duration duplicate_window = absl::Minutes(2);
  absl::Duration publish_timeout = absl::ZeroDuration();  // 0 = the connection's timeout
  Clock* clock = nullptr;                                 // nullptr = Clock::Real()
};

struct EnqueueResult {
  uint64_t sequence = 0;   // stream sequence (of the original message for a duplicate)
  bool duplicate = false;  // the key was already queued within the duplicate window
};

class TxQueue {
 public:
  explicit TxQueue(nats::JetStream* js, QueueOptions options = {});

  // Creates or updates stream `options.stream` with subjects chain.tx and chain.tx.dead.
  // Errors as JetStream::EnsureStream.
  absl::StatusOr<nats::StreamInfo> EnsureStream();

  // Validates, stamps enqueued_at when unset, and publishes. InvalidArgument naming the field;
  // otherwise the publish error (Unavailable: no stream or not connected; DeadlineExceeded:
  // maybe stored, retry with the same key).
  absl::StatusOr<EnqueueResult> Enqueue(ChainTx tx);

  // Enqueue in two steps, for callers that store the request before publishing it (the signer's
  // EnqueueRecorded): Prepare validates `tx` (InvalidArgument naming the field), stamps
  // enqueued_at when unset and returns the serialized bytes; EnqueuePrepared publishes those
  // bytes under tx's idempotency key. Errors as Enqueue.
  absl::StatusOr<std::string> Prepare(ChainTx* tx);
  absl::StatusOr<EnqueueResult> EnqueuePrepared(const ChainTx& tx, const std::string& bytes);

  // Puts a request back into the queue as another copy: `request` is a serialized ChainTx as
  // once delivered (the signer ledger keeps it), published unchanged with Nats-Msg-Id
  // "<idempotency_key>#re<generation>" so the stream's dedupe of the original key does not
  // swallow it (a repeat of the same generation is deduplicated). Signers tell copies apart from
  // nothing: the ledger gives the key one chain effect however many copies arrive.
  // InvalidArgument when `request` is not a valid ChainTx; otherwise as Enqueue.
  absl::StatusOr<EnqueueResult> Reenqueue(const std::string& request, int generation);

  // Messages stored on chain.tx and chain.tx.dead together (the stream keeps acked messages until
  // max_age; this is the stream's size, not the consumer's backlog). Also sets the gauge
  // gonka_txqueue_stream_messages.
  absl::StatusOr<uint64_t> StreamMessages();

  // Requests stored and not yet delivered to any consumer of durable `durable` (its num_pending:
  // the queue's depth). Also sets the gauge gonka_txqueue_backlog. NotFound when no signer ever
  // bound the durable.
  absl::StatusOr<uint64_t> Backlog(const std::string& durable = kDurable);

 private:
  absl::StatusOr<EnqueueResult> Publish(const std::string& key, const std::string& msg_id,
                                        const std::string& bytes);

  nats::JetStream* js_;
  QueueOptions options_;
  Clock* clock_;
};

struct ConsumerOptions {
  std::string stream = kStream;
  std::string durable = kDurable;
  absl::Duration ack_wait = absl::Seconds(30);  // longer than one sign+broadcast+observe round
  int64_t max_deliver = -1;                     // -1 = unlimited (as the Gonka node)
  std::vector<absl::Duration> backoff;          // redelivery delays after ack_wait expiries
  int64_t max_ack_pending = 1000;
  // Non-empty: a message whose type_url is not listed is dead-lettered as unknown_type.
  std::set<std::string> known_type_urls;
  // true: Fetch dead-letters requests whose deadline has passed. A signer sets false and decides
  // itself with its ledger: a tx already in flight may still land (its timeout_timestamp is at
  // most the deadline), so only the signer knows when "expired" is final.
  bool dead_letter_expired = true;
  Clock* clock = nullptr;  // for deadlines; nullptr = Clock::Real()
};

// What TxConsumer::Fetch makes of one raw chain.tx payload (`msg_id` is its Nats-Msg-Id, only
// named in reasons). A payload comes from any producer allowed to publish chain.tx, so anything
// may arrive: never crashes, never signs. `kind` empty: deliver `tx`; otherwise dead-letter with
// `kind` (kReasonUndecodable, kReasonInvalid, kReasonExpired, kReasonUnknownType) and `reason`.
// `clock` (not nullptr) is read only for a request with a deadline.
struct DecodedMessage {
  ChainTx tx;
  std::string kind;
  std::string reason;
};
DecodedMessage DecodeMessage(absl::string_view payload, absl::string_view msg_id,
                             const ConsumerOptions& options, Clock* clock);

// One queued request handed to one signer.
class Delivery {
 public:
  Delivery(Delivery&&) = default;
  Delivery& operator=(Delivery&&) = default;

  const ChainTx& tx() const { return tx_; }
  const std::string& key() const { return tx_.idempotency_key(); }
  uint64_t num_delivered() const { return msg_.num_delivered(); }
  uint64_t stream_sequence() const { return msg_.stream_sequence(); }
  nats::JsMessage& message() { return msg_; }

 private:
  friend class TxConsumer;
  Delivery(ChainTx tx, nats::JsMessage msg) : tx_(std::move(tx)), msg_(std::move(msg)) {}
  ChainTx tx_;
  nats::JsMessage msg_;
};

class TxConsumer {
 public:
  // Creates or binds the shared durable (filter chain.tx). Errors as JetStream::Consumer.
  static absl::StatusOr<std::unique_ptr<TxConsumer>> Bind(nats::JetStream* js,
                                                          ConsumerOptions options);

  // Up to `batch` sendable requests, waiting at most `timeout` for the first; unsendable ones are
  // dead-lettered on the way (see the contract) and not returned. If a dead-letter publish fails
  // the message is left unacked (redelivered later) and the error is returned.
  absl::StatusOr<std::vector<Delivery>> Fetch(int batch, absl::Duration timeout);

  // Done: the request had its effect (included, or found included). Waits for the server.
  absl::Status Ack(Delivery& d);
  // Retryable failure: redeliver after `delay`. On the last allowed delivery (max_deliver) the
  // request is dead-lettered as retries_exhausted with `reason` instead.
  absl::Status Retry(Delivery& d, absl::Duration delay, const std::string& reason);
  // Permanent failure (e.g. kind "rejected" for a chain's permanent error): publishes to
  // chain.tx.dead with reason "<kind>: <detail>", then never redelivers. If the publish fails the
  // request stays queued and the error is returned.
  absl::Status DeadLetter(Delivery& d, const std::string& kind, const std::string& detail);
  // Keeps the request (resets ack_wait) during a long observation.
  absl::Status InProgress(Delivery& d);

  const ConsumerOptions& options() const { return options_; }

 private:
  TxConsumer(std::unique_ptr<nats::PullConsumer> consumer, ConsumerOptions options);
  absl::Status DeadLetterMessage(nats::JsMessage& msg, const std::string& kind,
                                 const std::string& reason);

  std::unique_ptr<nats::PullConsumer> consumer_;
  ConsumerOptions options_;
  Clock* clock_;
};

}  // namespace txqueue
}  // namespace gonka

#endif  // GONKA_TXQUEUE_TXQUEUE_H_
