#include "gonka/nats/jetstream.h"

#include <nats/nats.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/status_macros.h"
#include "gonka/nats/internal/connection.h"

namespace gonka {
namespace nats {
namespace {

using internal::Connection;
using internal::LastError;
using internal::ToStatus;

// JetStream API error codes (nats-server errors.json) that change the mapping.
constexpr int kErrConsumerNotFound = 10014;
constexpr int kErrNoMessageFound = 10037;
constexpr int kErrStreamNotFound = 10059;
constexpr int kErrWrongLastMsgId = 10070;
constexpr int kErrWrongLastSequence = 10071;

int64_t Millis(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Milliseconds(d)); }

// A nats.c owned message, destroyed on scope exit.
struct MsgHolder {
  natsMsg* msg = nullptr;
  ~MsgHolder() {
    if (msg != nullptr) natsMsg_Destroy(msg);
  }
};

Headers ReadHeaders(natsMsg* msg) {
  Headers out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return out;
  for (int i = 0; i < count; ++i) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value != nullptr) {
      out.emplace(keys[i], value);
    }
  }
  free(keys);  // nats.c: the array is the caller's, the strings are the message's
  return out;
}

std::string HeaderOr(const Headers& h, const char* key) {
  auto it = h.find(key);
  return it == h.end() ? "" : it->second;
}

std::string DescribeConfig(const StreamConfig& c) {
  return absl::StrCat("subjects=[", absl::StrJoin(c.subjects, ","),
                      "] storage=", c.memory_storage ? "memory" : "file", " replicas=", c.replicas,
                      " max_age=", absl::FormatDuration(c.max_age),
                      " duplicate_window=", absl::FormatDuration(c.duplicate_window));
}

StreamConfig FromNats(const jsStreamConfig& c) {
  StreamConfig out;
  out.name = c.Name == nullptr ? "" : c.Name;
  for (int i = 0; i < c.SubjectsLen; ++i) out.subjects.push_back(c.Subjects[i]);
  out.memory_storage = c.Storage == js_MemoryStorage;
  out.replicas = static_cast<int>(c.Replicas);
  out.max_age = absl::Nanoseconds(c.MaxAge);
  out.duplicate_window = absl::Nanoseconds(c.Duplicates);
  return out;
}

StreamInfo FromNats(const jsStreamInfo& si) {
  StreamInfo out;
  if (si.Config != nullptr) out.config = FromNats(*si.Config);
  out.messages = si.State.Msgs;
  out.bytes = si.State.Bytes;
  out.first_sequence = si.State.FirstSeq;
  out.last_sequence = si.State.LastSeq;
  if (si.State.LastTime > 0) out.last_time = absl::FromUnixNanos(si.State.LastTime);
  out.consumers = si.State.Consumers;
  if (si.Cluster != nullptr && si.Cluster->Leader != nullptr) out.leader = si.Cluster->Leader;
  return out;
}

absl::Status Validate(const StreamConfig& c) {
  std::string where = absl::StrCat("stream ", c.name);
  if (c.name.empty() || c.name.find_first_of(" .*>") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream name \"", c.name, "\": must be non-empty without ' ', '.', '*', '>'"));
  }
  if (c.subjects.empty()) return absl::InvalidArgumentError(where + ": subjects: empty");
  if (c.replicas < 1 || c.replicas > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": replicas ", c.replicas, ": must be 1..5"));
  }
  if (c.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(where + ": max_age: negative");
  }
  if (c.duplicate_window <= absl::ZeroDuration() ||
      (c.max_age > absl::ZeroDuration() && c.duplicate_window > c.max_age)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": duplicate_window ", absl::FormatDuration(c.duplicate_window),
                     ": must be > 0 and <= max_age (", absl::FormatDuration(c.max_age), ")"));
  }
  return absl::OkStatus();
}

// The fields of `want` that differ from `have` (compatible or not).
std::vector<std::string> Differences(const StreamConfig& have, const StreamConfig& want) {
  std::vector<std::string> out;
  if (std::set<std::string>(have.subjects.begin(), have.subjects.end()) !=
      std::set<std::string>(want.subjects.begin(), want.subjects.end())) {
    out.push_back("subjects");
  }
  if (have.memory_storage != want.memory_storage) out.push_back("storage");
  if (have.replicas != want.replicas) out.push_back("replicas");
  if (have.max_age != want.max_age) out.push_back("max_age");
  if (have.duplicate_window != want.duplicate_window) out.push_back("duplicate_window");
  return out;
}

// The server may accept a config and quietly keep another value (a standalone server keeps
// replicas=1): report that as a conflict on the field instead of pretending it applied.
absl::StatusOr<StreamInfo> CheckApplied(const std::string& where, StreamInfo got,
                                        const StreamConfig& want) {
  std::vector<std::string> diff = Differences(got.config, want);
  if (diff.empty()) return got;
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": the server kept ", DescribeConfig(got.config), "; not applied: ",
      absl::StrJoin(diff, ", "), " (e.g. replicas > 1 needs a JetStream cluster that size)"));
}

// A message for `subject` with `options.headers`; the caller owns it (MsgHolder).
absl::Status BuildMessage(const std::string& subject, const std::string& data,
                          const PublishOptions& options, MsgHolder* m) {
  natsStatus s =
      natsMsg_Create(&m->msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  for (const auto& [key, value] : options.headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(m->msg, key.c_str(), value.c_str());
  }
  if (s != NATS_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("publish ", subject, ": building the message: ", LastError(s)));
  }
  return absl::OkStatus();
}

// jsPubOptions for `options` (pointing into it: keep `options` alive while they are used).
jsPubOptions PubOptions(const PublishOptions& options, int64_t default_timeout_ms) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  if (!options.msg_id.empty()) po.MsgId = options.msg_id.c_str();
  if (!options.expected_last_msg_id.empty()) {
    po.ExpectLastMsgId = options.expected_last_msg_id.c_str();
  }
  po.ExpectLastSeq = options.expected_last_sequence;
  po.MaxWait =
      options.timeout > absl::ZeroDuration() ? Millis(options.timeout) : default_timeout_ms;
  return po;
}

// Maps a refused publish (see the contract in jetstream.h). `text` is the server's or nats.c's
// error text, `max_wait_ms` the ack timeout that applied.
absl::Status PublishError(natsStatus s, jsErrCode code, const std::string& text,
                          const std::string& where, const std::string& subject,
                          const PublishOptions& options, int64_t max_wait_ms) {
  std::string what = absl::StrCat(where, ": publish ", subject);
  if (!options.msg_id.empty()) absl::StrAppend(&what, " msg id ", options.msg_id);
  if (code == kErrWrongLastMsgId) {
    // Server text: "wrong last msg ID: <actual>".
    std::string actual = text;
    size_t colon = text.rfind(": ");
    if (colon != std::string::npos) actual = text.substr(colon + 2);
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": expected last msg id \"", options.expected_last_msg_id,
                     "\" but the stream's last msg id is \"", actual, "\" (JetStream error ",
                     kErrWrongLastMsgId, ")"));
  }
  if (code == kErrWrongLastSequence) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": expected last sequence ", options.expected_last_sequence, ": ", text,
                     " (JetStream error ", kErrWrongLastSequence, ")"));
  }
  if (s == NATS_NO_RESPONDERS) {
    return absl::UnavailableError(
        absl::StrCat(what, ": no stream answered (no responders for the subject)"));
  }
  if (s == NATS_TIMEOUT) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": no ack within ", max_wait_ms,
                                                    " ms (the message may be stored; retry with "
                                                    "the same msg id)"));
  }
  if (code != 0)
    return absl::UnavailableError(
        absl::StrCat(what, ": ", text, " (JetStream error ", static_cast<int>(code), ")"));
  return ToStatus(s, what);
}

PubAck FromNats(const jsPubAck& ack) {
  PubAck out;
  out.stream = ack.Stream == nullptr ? "" : ack.Stream;
  out.sequence = ack.Sequence;
  out.duplicate = ack.Duplicate;
  return out;
}

// Publishes through `conn`; shared by JetStream::Publish and PullConsumer::DeadLetter.
absl::StatusOr<PubAck> DoPublish(const Connection& conn, const std::string& subject,
                                 const std::string& data, const PublishOptions& options) {
  MsgHolder m;
  RETURN_IF_ERROR(BuildMessage(subject, data, options, &m));
  jsPubOptions po = PubOptions(options, conn.timeout_ms());
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PublishMsg(&ack, conn.js(), m.msg, &po, &code);
  if (s == NATS_OK) {
    PubAck out = FromNats(*ack);
    jsPubAck_Destroy(ack);
    return out;
  }
  return PublishError(s, code, LastError(s), conn.Where(), subject, options, po.MaxWait);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// StoredMessage / JsMessage

std::string StoredMessage::msg_id() const { return HeaderOr(headers, kMsgIdHeader); }

void JsMessage::natsMsgDeleter::operator()(void* msg) const {
  natsMsg_Destroy(static_cast<natsMsg*>(msg));
}

JsMessage::JsMessage(JsMessage&& other) noexcept = default;
JsMessage& JsMessage::operator=(JsMessage&& other) noexcept = default;
JsMessage::~JsMessage() = default;

std::string JsMessage::msg_id() const { return HeaderOr(headers_, kMsgIdHeader); }

namespace {

absl::Status AckResult(natsStatus s, const std::string& where, const char* op, uint64_t seq,
                       jsErrCode code = static_cast<jsErrCode>(0)) {
  return ToStatus(s, absl::StrCat(where, ": ", op, " stream sequence ", seq), code);
}

}  // namespace

absl::Status JsMessage::Ack() {
  if (done_)
    return absl::FailedPreconditionError(
        absl::StrCat("ack ", stream_sequence_, ": already acked, naked or termed"));
  natsStatus s = natsMsg_Ack(static_cast<natsMsg*>(msg_.get()), nullptr);
  if (s == NATS_OK) done_ = true;
  return AckResult(s, where_, "ack", stream_sequence_);
}

absl::Status JsMessage::AckSync() {
  if (done_)
    return absl::FailedPreconditionError(
        absl::StrCat("ack ", stream_sequence_, ": already acked, naked or termed"));
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = natsMsg_AckSync(static_cast<natsMsg*>(msg_.get()), nullptr, &code);
  if (s == NATS_OK) done_ = true;
  return AckResult(s, where_, "ack (sync)", stream_sequence_, code);
}

absl::Status JsMessage::Nak(absl::Duration delay) {
  if (done_)
    return absl::FailedPreconditionError(
        absl::StrCat("nak ", stream_sequence_, ": already acked, naked or termed"));
  natsMsg* m = static_cast<natsMsg*>(msg_.get());
  natsStatus s = delay > absl::ZeroDuration()
                     ? natsMsg_NakWithDelay(m, absl::ToInt64Milliseconds(delay), nullptr)
                     : natsMsg_Nak(m, nullptr);
  if (s == NATS_OK) done_ = true;
  return AckResult(s, where_, "nak", stream_sequence_);
}

absl::Status JsMessage::Term() {
  if (done_)
    return absl::FailedPreconditionError(
        absl::StrCat("term ", stream_sequence_, ": already acked, naked or termed"));
  natsStatus s = natsMsg_Term(static_cast<natsMsg*>(msg_.get()), nullptr);
  if (s == NATS_OK) done_ = true;
  return AckResult(s, where_, "term", stream_sequence_);
}

absl::Status JsMessage::InProgress() {
  if (done_)
    return absl::FailedPreconditionError(
        absl::StrCat("in-progress ", stream_sequence_, ": already acked, naked or termed"));
  return AckResult(natsMsg_InProgress(static_cast<natsMsg*>(msg_.get()), nullptr), where_,
                   "in-progress", stream_sequence_);
}

// ---------------------------------------------------------------------------------------------
// PullConsumer

struct PullConsumer::Impl {
  const Connection* conn = nullptr;
  absl::Mutex mu;  // nats.c allows one Fetch at a time per subscription
  natsSubscription* sub ABSL_GUARDED_BY(mu) = nullptr;
  ~Impl() {
    absl::MutexLock lock(&mu);
    if (sub != nullptr) natsSubscription_Destroy(sub);  // keeps the durable consumer
  }
};

PullConsumer::PullConsumer(std::unique_ptr<Impl> impl, ConsumerConfig config)
    : impl_(std::move(impl)), config_(std::move(config)) {}
PullConsumer::~PullConsumer() = default;

absl::StatusOr<std::vector<JsMessage>> PullConsumer::Fetch(int batch, absl::Duration timeout) {
  if (batch < 1) return absl::InvalidArgumentError(absl::StrCat("fetch batch ", batch, ": < 1"));
  natsMsgList list = {nullptr, 0};
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s;
  {
    absl::MutexLock lock(&impl_->mu);
    s = natsSubscription_Fetch(&list, impl_->sub, batch, Millis(timeout), &code);
  }
  std::vector<JsMessage> out;
  if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
    natsMsgList_Destroy(&list);
    return out;
  }
  std::string where = impl_->conn->Where();
  if (s != NATS_OK) {
    natsMsgList_Destroy(&list);
    return ToStatus(s, absl::StrCat(where, ": fetch ", config_.stream, "/", config_.durable), code);
  }
  out.reserve(list.Count);
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* m = list.Msgs[i];
    list.Msgs[i] = nullptr;  // ownership moves to JsMessage
    JsMessage jm;
    jm.msg_.reset(m);
    jm.where_ = where;
    jm.subject_ = natsMsg_GetSubject(m);
    const char* data = natsMsg_GetData(m);
    jm.data_.assign(data == nullptr ? "" : data, natsMsg_GetDataLength(m));
    jm.headers_ = ReadHeaders(m);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      jm.stream_sequence_ = meta->Sequence.Stream;
      jm.consumer_sequence_ = meta->Sequence.Consumer;
      jm.num_delivered_ = meta->NumDelivered;
      jm.timestamp_ = absl::FromUnixNanos(meta->Timestamp);
      jsMsgMetaData_Destroy(meta);
    }
    out.push_back(std::move(jm));
  }
  natsMsgList_Destroy(&list);  // skips the nulled entries, frees the array
  return out;
}

absl::Status PullConsumer::DeadLetter(JsMessage& msg, const std::string& dead_subject,
                                      const std::string& reason) {
  PublishOptions po;
  for (const auto& [key, value] : msg.headers()) {
    // Keep the producer's headers, but not the ones JetStream would act on again.
    if (absl::StartsWith(key, "Nats-")) continue;
    po.headers[key] = value;
  }
  std::string original_id = msg.msg_id();
  if (!original_id.empty()) po.headers["Gonka-Dead-Msg-Id"] = original_id;
  po.headers[kDeadReasonHeader] = reason;
  po.headers[kDeadSubjectHeader] = msg.subject();
  po.headers[kDeadSequenceHeader] = absl::StrCat(msg.stream_sequence());
  po.msg_id = absl::StrCat("dead/", config_.stream, "/", msg.stream_sequence());
  absl::StatusOr<PubAck> ack = DoPublish(*impl_->conn, dead_subject, msg.data(), po);
  if (!ack.ok()) {
    return Annotate(ack.status(), absl::StrCat("dead-letter of stream sequence ",
                                               msg.stream_sequence(), " (not termed)"));
  }
  return msg.Term();
}

// ---------------------------------------------------------------------------------------------
// JetStream

JetStream::JetStream(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
JetStream::~JetStream() = default;

absl::StatusOr<std::unique_ptr<JetStream>> JetStream::Connect(const NatsOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connection::Open(options));
  return std::unique_ptr<JetStream>(new JetStream(std::move(conn)));
}

const std::string& JetStream::servers() const { return conn_->servers(); }
std::string JetStream::Where() const { return conn_->Where(); }

absl::StatusOr<StreamInfo> JetStream::EnsureStream(const StreamConfig& config) {
  RETURN_IF_ERROR(Validate(config));
  std::vector<const char*> subjects;
  for (const std::string& s : config.subjects) subjects.push_back(s.c_str());
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = config.name.c_str();
  sc.Subjects = subjects.data();
  sc.SubjectsLen = static_cast<int>(subjects.size());
  sc.Storage = config.memory_storage ? js_MemoryStorage : js_FileStorage;
  sc.Replicas = config.replicas;
  sc.MaxAge = absl::ToInt64Nanoseconds(config.max_age);
  sc.Duplicates = absl::ToInt64Nanoseconds(config.duplicate_window);

  // Two attempts: a concurrent creator may win between our lookup and our create.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<StreamInfo> have = GetStreamInfo(config.name);
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    if (absl::IsNotFound(have.status())) {
      natsStatus s = js_AddStream(&si, conn_->js(), &sc, nullptr, &code);
      if (s == NATS_OK) {
        StreamInfo out = FromNats(*si);
        jsStreamInfo_Destroy(si);
        return CheckApplied(absl::StrCat(conn_->Where(), ": create stream ", config.name), out,
                            config);
      }
      if (attempt == 0 && code == 10058) continue;  // stream name already in use: re-read
      std::string what = absl::StrCat(conn_->Where(), ": create stream ", config.name, " (",
                                      DescribeConfig(config), ")");
      if (code != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": ", LastError(s), " (JetStream error ", static_cast<int>(code), ")"));
      }
      return ToStatus(s, what);
    }
    if (!have.ok()) return have.status();
    std::vector<std::string> diff = Differences(have->config, config);
    if (diff.empty()) return have;
    std::string what =
        absl::StrCat(conn_->Where(), ": stream ", config.name, " exists with ",
                     DescribeConfig(have->config), ", want ", DescribeConfig(config));
    if (have->config.memory_storage != config.memory_storage) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": storage cannot change on an existing stream"));
    }
    natsStatus s = js_UpdateStream(&si, conn_->js(), &sc, nullptr, &code);
    if (s != NATS_OK) {
      std::string text = LastError(s);
      if (code != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": update of ", absl::StrJoin(diff, ", "), " refused: ", text,
                         " (JetStream error ", static_cast<int>(code), ")"));
      }
      return ToStatus(s, absl::StrCat(what, ": update of ", absl::StrJoin(diff, ", ")));
    }
    StreamInfo out = FromNats(*si);
    jsStreamInfo_Destroy(si);
    return CheckApplied(absl::StrCat(conn_->Where(), ": update stream ", config.name), out, config);
  }
  return absl::AbortedError(
      absl::StrCat(conn_->Where(), ": stream ", config.name, ": concurrent create/delete"));
}

absl::StatusOr<StreamInfo> JetStream::GetStreamInfo(const std::string& stream,
                                                    const std::string& subject) {
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, conn_->js(), stream.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    std::string what = absl::StrCat(conn_->Where(), ": stream info ", stream);
    if (code == kErrStreamNotFound || s == NATS_NOT_FOUND) {
      return absl::NotFoundError(absl::StrCat(what, ": stream not found"));
    }
    return ToStatus(s, what, code);
  }
  StreamInfo out = FromNats(*si);
  jsStreamInfo_Destroy(si);
  if (!subject.empty()) {
    ASSIGN_OR_RETURN(std::optional<StoredMessage> last, LastMessage(stream, subject));
    if (last.has_value()) {
      out.subject_last_sequence = last->sequence;
      out.subject_last_msg_id = last->msg_id();
    }
  }
  return out;
}

absl::StatusOr<std::optional<StoredMessage>> JetStream::LastMessage(const std::string& stream,
                                                                    const std::string& subject) {
  MsgHolder m;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetLastMsg(&m.msg, conn_->js(), stream.c_str(), subject.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    std::string what = absl::StrCat(conn_->Where(), ": last message of ", stream, " on ", subject);
    if (code == kErrNoMessageFound) {
      return std::optional<StoredMessage>();
    }
    if (code == kErrStreamNotFound) {
      return absl::NotFoundError(absl::StrCat(what, ": stream not found"));
    }
    return ToStatus(s, what, code);
  }
  StoredMessage out;
  out.subject = natsMsg_GetSubject(m.msg);
  const char* data = natsMsg_GetData(m.msg);
  out.data.assign(data == nullptr ? "" : data, natsMsg_GetDataLength(m.msg));
  out.headers = ReadHeaders(m.msg);
  out.sequence = natsMsg_GetSequence(m.msg);
  out.time = absl::FromUnixNanos(natsMsg_GetTime(m.msg));
  return std::optional<StoredMessage>(std::move(out));
}

absl::Status JetStream::DeleteStream(const std::string& stream) {
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteStream(conn_->js(), stream.c_str(), nullptr, &code);
  if (s == NATS_OK) return absl::OkStatus();
  std::string what = absl::StrCat(conn_->Where(), ": delete stream ", stream);
  if (code == kErrStreamNotFound) {
    return absl::NotFoundError(absl::StrCat(what, ": stream not found"));
  }
  return ToStatus(s, what, code);
}

absl::StatusOr<ConsumerState> JetStream::GetConsumerState(const std::string& stream,
                                                          const std::string& durable) {
  jsConsumerInfo* ci = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetConsumerInfo(&ci, conn_->js(), stream.c_str(), durable.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    std::string what = absl::StrCat(conn_->Where(), ": consumer info ", stream, "/", durable);
    if (code == kErrStreamNotFound || code == kErrConsumerNotFound || s == NATS_NOT_FOUND) {
      return absl::NotFoundError(absl::StrCat(what, ": not found"));
    }
    return ToStatus(s, what, code);
  }
  ConsumerState out;
  out.num_pending = ci->NumPending;
  out.num_ack_pending = ci->NumAckPending;
  out.num_redelivered = ci->NumRedelivered;
  out.delivered_stream_sequence = ci->Delivered.Stream;
  jsConsumerInfo_Destroy(ci);
  return out;
}

absl::StatusOr<PubAck> JetStream::Publish(const std::string& subject, const std::string& data,
                                          const PublishOptions& options) {
  return DoPublish(*conn_, subject, data, options);
}

// ---------------------------------------------------------------------------------------------
// AsyncPublisher

struct AsyncPublisher::Impl {
  struct Entry {
    Done done;
    std::string subject;
    PublishOptions options;  // for mapping errors (headers dropped)
    int64_t max_wait_ms = 0;
  };

  const Connection* conn = nullptr;
  jsCtx* js = nullptr;
  int max_pending = 0;
  mutable absl::Mutex mu;
  // By message: nats.c hands the original message back to the ack handler.
  std::unordered_map<natsMsg*, Entry> pending ABSL_GUARDED_BY(mu);

  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    Entry entry;
    bool found = false;
    {
      absl::MutexLock lock(&self->mu);
      auto it = self->pending.find(msg);
      if (it != self->pending.end()) {
        entry = std::move(it->second);
        found = true;
      }
    }
    if (found) {
      if (pa != nullptr) {
        entry.done(FromNats(*pa));
      } else {
        natsStatus s = pae != nullptr ? pae->Err : NATS_ERR;
        jsErrCode code = pae != nullptr ? pae->ErrCode : static_cast<jsErrCode>(0);
        std::string text = pae != nullptr && pae->ErrText != nullptr
                               ? std::string(pae->ErrText)
                               : std::string(natsStatus_GetText(s));
        entry.done(PublishError(s, code, text, self->conn->Where(), entry.subject, entry.options,
                                entry.max_wait_ms));
      }
    }
    {
      // Erased after `done` returned (Flush and the destructor wait for the map to empty) and
      // before the message is freed (a new message may get its address).
      absl::MutexLock lock(&self->mu);
      self->pending.erase(msg);
    }
    natsMsg_Destroy(msg);
  }

  ~Impl() {
    if (js == nullptr) return;
    // Unacked messages back from nats.c: no ack handler runs for them any more. (nats.c 3.4
    // crashes in js_PublishAsyncGetPendingList on a context that never published async.)
    bool any = false;
    {
      absl::MutexLock lock(&mu);
      any = !pending.empty();
    }
    natsMsgList list;
    if (any && js_PublishAsyncGetPendingList(&list, js) == NATS_OK) {
      for (int i = 0; i < list.Count; ++i) {
        Entry entry;
        bool found = false;
        {
          absl::MutexLock lock(&mu);
          auto it = pending.find(list.Msgs[i]);
          if (it != pending.end()) {
            entry = std::move(it->second);
            pending.erase(it);
            found = true;
          }
        }
        if (found) {
          entry.done(absl::CancelledError(absl::StrCat(
              conn->Where(), ": publish ", entry.subject, " msg id ", entry.options.msg_id,
              ": publisher closed before the ack (the message may be stored)")));
        }
      }
      natsMsgList_Destroy(&list);
    }
    // Handlers already running finish before their context goes away.
    {
      absl::MutexLock lock(&mu);
      auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending.empty(); };
      mu.AwaitWithTimeout(absl::Condition(&empty), absl::Seconds(5));
    }
    jsCtx_Destroy(js);
  }
};

AsyncPublisher::AsyncPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AsyncPublisher::~AsyncPublisher() = default;

absl::StatusOr<std::unique_ptr<AsyncPublisher>> JetStream::NewAsyncPublisher(int max_pending) {
  if (max_pending < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("async publisher: max_pending ", max_pending, ": must be >= 1"));
  }
  auto impl = std::make_unique<AsyncPublisher::Impl>();
  impl->conn = conn_.get();
  impl->max_pending = max_pending;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = conn_->timeout_ms();
  jo.PublishAsync.MaxPending = max_pending;
  jo.PublishAsync.AckHandler = &AsyncPublisher::Impl::OnAck;
  jo.PublishAsync.AckHandlerClosure = impl.get();
  jo.PublishAsync.StallWait = conn_->timeout_ms();
  natsStatus s = natsConnection_JetStream(&impl->js, conn_->nc(), &jo);
  if (s != NATS_OK) return ToStatus(s, absl::StrCat(conn_->Where(), ": async JetStream context"));
  return std::unique_ptr<AsyncPublisher>(new AsyncPublisher(std::move(impl)));
}

absl::Status AsyncPublisher::Publish(const std::string& subject, const std::string& data,
                                     const PublishOptions& options, Done done) {
  MsgHolder m;
  RETURN_IF_ERROR(BuildMessage(subject, data, options, &m));
  jsPubOptions po = PubOptions(options, impl_->conn->timeout_ms());
  natsMsg* key = m.msg;
  {
    Impl::Entry entry;
    entry.done = std::move(done);
    entry.subject = subject;
    entry.options.msg_id = options.msg_id;
    entry.options.expected_last_msg_id = options.expected_last_msg_id;
    entry.options.expected_last_sequence = options.expected_last_sequence;
    entry.max_wait_ms = po.MaxWait;
    absl::MutexLock lock(&impl_->mu);
    impl_->pending.emplace(key, std::move(entry));  // before the ack can arrive
  }
  natsStatus s = js_PublishMsgAsync(impl_->js, &m.msg, &po);
  if (s == NATS_OK) return absl::OkStatus();  // nats.c owns the message (m.msg is now null)
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->pending.erase(key);
  }
  return PublishError(s, static_cast<jsErrCode>(0), LastError(s), impl_->conn->Where(), subject,
                      options, po.MaxWait);
}

absl::Status AsyncPublisher::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&impl_->mu);
  auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) { return impl_->pending.empty(); };
  if (!impl_->mu.AwaitWithTimeout(absl::Condition(&empty), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat(impl_->conn->Where(), ": ", impl_->pending.size(),
                     " async publishes still unacked after ", absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

int AsyncPublisher::pending() const {
  absl::MutexLock lock(&impl_->mu);
  return static_cast<int>(impl_->pending.size());
}

absl::StatusOr<std::unique_ptr<PullConsumer>> JetStream::Consumer(const ConsumerConfig& config) {
  std::string where = absl::StrCat("consumer ", config.stream, "/", config.durable);
  if (config.stream.empty()) return absl::InvalidArgumentError(where + ": stream: empty");
  if (config.durable.empty() || config.durable.find_first_of(" .*>") != std::string::npos) {
    return absl::InvalidArgumentError(where +
                                      ": durable: must be non-empty without ' ', '.', '*', '>'");
  }
  if (config.ack_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(where + ": ack_wait: must be > 0");
  }
  if (config.max_deliver == 0 || config.max_deliver < -1) {
    return absl::InvalidArgumentError(where + ": max_deliver: must be -1 or >= 1");
  }
  if (!config.backoff.empty() && config.max_deliver != -1 &&
      config.max_deliver <= static_cast<int64_t>(config.backoff.size())) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": backoff has ", config.backoff.size(),
                                                   " entries: max_deliver must exceed that"));
  }
  std::vector<int64_t> backoff;
  for (absl::Duration d : config.backoff) backoff.push_back(absl::ToInt64Nanoseconds(d));
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = config.durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  switch (config.start) {
    case ConsumerConfig::Start::kAll:
      cc.DeliverPolicy = js_DeliverAll;
      break;
    case ConsumerConfig::Start::kNew:
      cc.DeliverPolicy = js_DeliverNew;
      break;
    case ConsumerConfig::Start::kLast:
      cc.DeliverPolicy = js_DeliverLast;
      break;
    case ConsumerConfig::Start::kSequence:
      if (config.start_sequence == 0) {
        return absl::InvalidArgumentError(where + ": start_sequence: must be >= 1");
      }
      cc.DeliverPolicy = js_DeliverByStartSequence;
      cc.OptStartSeq = config.start_sequence;
      break;
  }
  cc.InactiveThreshold = absl::ToInt64Nanoseconds(config.inactive_threshold);
  cc.AckWait = absl::ToInt64Nanoseconds(config.ack_wait);
  cc.MaxDeliver = config.max_deliver;
  cc.MaxAckPending = config.max_ack_pending;
  if (!backoff.empty()) {
    cc.BackOff = backoff.data();
    cc.BackOffLen = static_cast<int>(backoff.size());
  }
  if (!config.filter_subject.empty()) cc.FilterSubject = config.filter_subject.c_str();

  jsConsumerInfo* ci = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, conn_->js(), config.stream.c_str(), config.durable.c_str(),
                                    nullptr, &code);
  if (s == NATS_OK) {
    std::string have_filter = ci->Config->FilterSubject == nullptr ? "" : ci->Config->FilterSubject;
    bool same = ci->Config->AckWait == cc.AckWait && ci->Config->MaxDeliver == cc.MaxDeliver &&
                ci->Config->MaxAckPending == cc.MaxAckPending &&
                std::vector<int64_t>(ci->Config->BackOff,
                                     ci->Config->BackOff + ci->Config->BackOffLen) == backoff;
    jsConsumerInfo_Destroy(ci);
    ci = nullptr;
    if (have_filter != config.filter_subject) {
      return absl::InvalidArgumentError(absl::StrCat(conn_->Where(), ": ", where,
                                                     " exists with filter_subject \"", have_filter,
                                                     "\", want \"", config.filter_subject, "\""));
    }
    if (!same) {
      s = js_UpdateConsumer(&ci, conn_->js(), config.stream.c_str(), &cc, nullptr, &code);
      if (s != NATS_OK) {
        return absl::InvalidArgumentError(absl::StrCat(
            conn_->Where(), ": ", where, ": update of ack_wait/max_deliver/backoff refused: ",
            LastError(s), " (JetStream error ", static_cast<int>(code), ")"));
      }
      jsConsumerInfo_Destroy(ci);
    }
  } else if (code == kErrConsumerNotFound) {
    s = js_AddConsumer(&ci, conn_->js(), config.stream.c_str(), &cc, nullptr, &code);
    if (s != NATS_OK) {
      std::string what = absl::StrCat(conn_->Where(), ": create ", where);
      if (code == kErrStreamNotFound) return absl::NotFoundError(what + ": stream not found");
      if (code != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": ", LastError(s), " (JetStream error ", static_cast<int>(code), ")"));
      }
      return ToStatus(s, what);
    }
    jsConsumerInfo_Destroy(ci);
  } else if (code == kErrStreamNotFound) {
    return absl::NotFoundError(absl::StrCat(conn_->Where(), ": ", where, ": stream not found"));
  } else {
    return ToStatus(s, absl::StrCat(conn_->Where(), ": ", where), code);
  }

  auto impl = std::make_unique<PullConsumer::Impl>();
  impl->conn = conn_.get();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = config.stream.c_str();
  so.Consumer = config.durable.c_str();
  so.ManualAck = true;
  {
    absl::MutexLock lock(&impl->mu);
    s = js_PullSubscribe(&impl->sub, conn_->js(),
                         config.filter_subject.empty() ? nullptr : config.filter_subject.c_str(),
                         config.durable.c_str(), nullptr, &so, &code);
  }
  if (s != NATS_OK) {
    return ToStatus(s, absl::StrCat(conn_->Where(), ": bind ", where), code);
  }
  return std::unique_ptr<PullConsumer>(new PullConsumer(std::move(impl), config));
}

}  // namespace nats
}  // namespace gonka
