#include "gonka/txqueue/txqueue.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace gonka {
namespace txqueue {
namespace {

using ::google::protobuf::util::TimeUtil;

struct Metrics {
  prometheus::Family<prometheus::Counter>& enqueued;
  prometheus::Family<prometheus::Counter>& dead;
  prometheus::Gauge& stream_messages;
  prometheus::Gauge& backlog;
};

Metrics& M() {
  static Metrics* m = [] {
    auto& reg = metrics::Registry();
    auto& enqueued = prometheus::BuildCounter()
                         .Name("gonka_txqueue_enqueued_total")
                         .Help("Enqueue calls accepted by the stream, by result (stored|duplicate)")
                         .Register(reg);
    auto& dead = prometheus::BuildCounter()
                     .Name("gonka_txqueue_dead_lettered_total")
                     .Help("Requests moved to chain.tx.dead, by reason kind")
                     .Register(reg);
    auto& gauge = prometheus::BuildGauge()
                      .Name("gonka_txqueue_stream_messages")
                      .Help("Messages stored in the tx queue stream (chain.tx + chain.tx.dead)")
                      .Register(reg);
    auto& backlog = prometheus::BuildGauge()
                        .Name("gonka_txqueue_backlog")
                        .Help("Requests queued and not yet delivered to any signer")
                        .Register(reg);
    return new Metrics{enqueued, dead, gauge.Add({}), backlog.Add({})};
  }();
  return *m;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp FromTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t nanos = absl::ToUnixNanos(t);
  ts.set_seconds(nanos / 1000000000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return ts;
}

}  // namespace

absl::Status Validate(const ChainTx& tx) {
  if (tx.idempotency_key().empty()) {
    return absl::InvalidArgumentError("chain tx: idempotency_key is empty");
  }
  if (tx.idempotency_key().size() > kMaxKeyLength) {
    return absl::InvalidArgumentError(absl::StrCat("chain tx: idempotency_key has ",
                                                   tx.idempotency_key().size(),
                                                   " characters, at most ", kMaxKeyLength));
  }
  if (tx.messages_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("chain tx ", tx.idempotency_key(), ": messages is empty"));
  }
  for (int i = 0; i < tx.messages_size(); ++i) {
    if (tx.messages(i).type_url().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chain tx ", tx.idempotency_key(), ": messages[", i, "].type_url is empty"));
    }
  }
  return absl::OkStatus();
}

TxQueue::TxQueue(nats::JetStream* js, QueueOptions options)
    : js_(js),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

absl::StatusOr<nats::StreamInfo> TxQueue::EnsureStream() {
  nats::StreamConfig c;
  c.name = options_.stream;
  c.subjects = {kSubject, kDeadSubject};
  c.replicas = options_.replicas;
  c.memory_storage = options_.memory_storage;
  c.duplicate_window = options_.duplicate_window;
  return js_->EnsureStream(c);
}

absl::StatusOr<std::string> TxQueue::Prepare(ChainTx* tx) {
  RETURN_IF_ERROR(Validate(*tx));
  if (!tx->has_enqueued_at()) *tx->mutable_enqueued_at() = FromTime(clock_->Now());
  std::string bytes;
  if (!tx->SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("chain tx ", tx->idempotency_key(), ": serialize"));
  }
  return bytes;
}

absl::StatusOr<EnqueueResult> TxQueue::Enqueue(ChainTx tx) {
  ASSIGN_OR_RETURN(std::string bytes, Prepare(&tx));
  return EnqueuePrepared(tx, bytes);
}

absl::StatusOr<EnqueueResult> TxQueue::EnqueuePrepared(const ChainTx& tx,
                                                       const std::string& bytes) {
  return Publish(tx.idempotency_key(), tx.idempotency_key(), bytes);
}

absl::StatusOr<EnqueueResult> TxQueue::Reenqueue(const std::string& request, int generation) {
  ChainTx tx;
  if (!tx.ParseFromString(request)) {
    return absl::InvalidArgumentError("reenqueue: the stored request is not a ChainTx");
  }
  RETURN_IF_ERROR(Validate(tx));
  return Publish(tx.idempotency_key(), absl::StrCat(tx.idempotency_key(), "#re", generation),
                 request);
}

absl::StatusOr<EnqueueResult> TxQueue::Publish(const std::string& key, const std::string& msg_id,
                                               const std::string& bytes) {
  nats::PublishOptions po;
  po.msg_id = msg_id;
  po.timeout = options_.publish_timeout;
  absl::StatusOr<nats::PubAck> ack = js_->Publish(kSubject, bytes, po);
  if (!ack.ok()) {
    return Annotate(ack.status(), absl::StrCat("enqueue ", key));
  }
  M().enqueued.Add({{"result", ack->duplicate ? "duplicate" : "stored"}}).Increment();
  return EnqueueResult{ack->sequence, ack->duplicate};
}

absl::StatusOr<uint64_t> TxQueue::Backlog(const std::string& durable) {
  ASSIGN_OR_RETURN(nats::ConsumerState state, js_->GetConsumerState(options_.stream, durable));
  M().backlog.Set(static_cast<double>(state.num_pending));
  return state.num_pending;
}

absl::StatusOr<uint64_t> TxQueue::StreamMessages() {
  ASSIGN_OR_RETURN(nats::StreamInfo info, js_->GetStreamInfo(options_.stream));
  M().stream_messages.Set(static_cast<double>(info.messages));
  return info.messages;
}

DecodedMessage DecodeMessage(absl::string_view payload, absl::string_view msg_id,
                             const ConsumerOptions& options, Clock* clock) {
  DecodedMessage m;
  ChainTx& tx = m.tx;
  std::string& kind = m.kind;
  std::string& reason = m.reason;
  if (!tx.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    kind = kReasonUndecodable;
    reason = absl::StrCat("payload of ", payload.size(), " bytes (msg id \"", msg_id,
                          "\") is not a ChainTx");
  } else if (absl::Status v = Validate(tx); !v.ok()) {
    kind = kReasonInvalid;
    reason = std::string(v.message());
  } else if (options.dead_letter_expired && tx.has_deadline() &&
             clock->Now() > ToTime(tx.deadline())) {
    kind = kReasonExpired;
    reason = absl::StrCat("chain tx ", tx.idempotency_key(), ": deadline ",
                          TimeUtil::ToString(tx.deadline()), " passed");
  } else if (!options.known_type_urls.empty()) {
    for (const auto& any : tx.messages()) {
      if (options.known_type_urls.count(any.type_url()) == 0) {
        kind = kReasonUnknownType;
        reason = absl::StrCat("chain tx ", tx.idempotency_key(), ": message type ", any.type_url(),
                              " is not known to this signer");
        break;
      }
    }
  }
  return m;
}

absl::StatusOr<std::unique_ptr<TxConsumer>> TxConsumer::Bind(nats::JetStream* js,
                                                             ConsumerOptions options) {
  nats::ConsumerConfig c;
  c.stream = options.stream;
  c.durable = options.durable;
  c.filter_subject = kSubject;
  c.ack_wait = options.ack_wait;
  c.max_deliver = options.max_deliver;
  c.backoff = options.backoff;
  c.max_ack_pending = options.max_ack_pending;
  ASSIGN_OR_RETURN(std::unique_ptr<nats::PullConsumer> consumer, js->Consumer(c));
  return std::unique_ptr<TxConsumer>(new TxConsumer(std::move(consumer), std::move(options)));
}

TxConsumer::TxConsumer(std::unique_ptr<nats::PullConsumer> consumer, ConsumerOptions options)
    : consumer_(std::move(consumer)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

absl::Status TxConsumer::DeadLetterMessage(nats::JsMessage& msg, const std::string& kind,
                                           const std::string& reason) {
  std::string full = absl::StrCat(kind, ": ", reason);
  RETURN_IF_ERROR(consumer_->DeadLetter(msg, kDeadSubject, full));
  M().dead.Add({{"reason", kind}}).Increment();
  GONKA_LOG_WARN("tx queue: dead-lettered", {"stream_seq", msg.stream_sequence()},
                 {"msg_id", msg.msg_id()}, {"reason", full});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Delivery>> TxConsumer::Fetch(int batch, absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::vector<nats::JsMessage> msgs, consumer_->Fetch(batch, timeout));
  std::vector<Delivery> out;
  out.reserve(msgs.size());
  absl::Status first_error;
  for (nats::JsMessage& msg : msgs) {
    DecodedMessage m = DecodeMessage(msg.data(), msg.msg_id(), options_, clock_);
    if (m.kind.empty()) {
      out.push_back(Delivery(std::move(m.tx), std::move(msg)));
      continue;
    }
    absl::Status s = DeadLetterMessage(msg, m.kind, m.reason);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  if (!first_error.ok() && out.empty()) return first_error;
  return out;
}

absl::Status TxConsumer::Ack(Delivery& d) {
  return Annotate(d.msg_.AckSync(), absl::StrCat("ack ", d.key()));
}

absl::Status TxConsumer::Retry(Delivery& d, absl::Duration delay, const std::string& reason) {
  if (options_.max_deliver > 0 &&
      d.num_delivered() >= static_cast<uint64_t>(options_.max_deliver)) {
    return DeadLetterMessage(
        d.msg_, kReasonRetriesExhausted,
        absl::StrCat("chain tx ", d.key(), ": ", d.num_delivered(), " deliveries, last: ", reason));
  }
  GONKA_LOG_INFO("tx queue: retry", {"key", d.key()}, {"delay", delay}, {"reason", reason});
  return Annotate(d.msg_.Nak(delay), absl::StrCat("retry ", d.key()));
}

absl::Status TxConsumer::DeadLetter(Delivery& d, const std::string& kind,
                                    const std::string& detail) {
  return DeadLetterMessage(d.msg_, kind, absl::StrCat("chain tx ", d.key(), ": ", detail));
}

absl::Status TxConsumer::InProgress(Delivery& d) { return d.msg_.InProgress(); }

}  // namespace txqueue
}  // namespace gonka
