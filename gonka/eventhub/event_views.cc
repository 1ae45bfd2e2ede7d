#include "gonka/eventhub/event_views.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gonka {
namespace eventhub {

std::string EventSubject(const std::string& prefix, const std::string& type) {
  std::string clean;
  for (char c : type) {
    clean.push_back(c == ' ' || c == '*' || c == '>' || c == '\t' ? '_' : c);
  }
  // No empty tokens ("a..b", a leading or trailing dot).
  std::vector<std::string> tokens = absl::StrSplit(clean, '.');
  std::string out = prefix;
  for (const auto& t : tokens) absl::StrAppend(&out, ".", t.empty() ? "_" : t);
  return out;
}

EventViews::EventViews(EventViewsOptions options, nats::JetStream* js)
    : options_(std::move(options)), js_(js) {}

EventViews::~EventViews() { Stop(); }

absl::Status EventViews::Start() {
  absl::MutexLock lock(&mu_);
  if (subscriber_) return absl::OkStatus();
  nats::StreamConfig stream;
  stream.name = options_.stream;
  stream.subjects = {absl::StrCat(options_.subject_prefix, ".>")};
  stream.replicas = options_.replicas;
  if (absl::StatusOr<nats::StreamInfo> s = js_->EnsureStream(stream); !s.ok()) return s.status();
  SubscriberOptions sub;
  sub.stream = options_.block_stream;
  sub.subject = options_.block_subject;
  sub.durable = options_.durable;
  sub.start_height = 1;  // the views cover the whole block stream
  auto subscriber = std::make_unique<Subscriber>(sub, js_);
  subscriber->OnBlock([this](const chain::v1::BlockEvents& block) -> absl::Status {
    int position = 0;
    auto publish = [&](const chain::v1::Event& event, const std::string& tx_index,
                       const std::string& tx_hash) -> absl::Status {
      nats::PublishOptions o;
      o.msg_id = absl::StrCat(options_.chain_id, "/", block.height(), "/", position++);
      o.headers = {{"Gonka-Height", absl::StrCat(block.height())},
                   {"Gonka-Tx-Index", tx_index},
                   {"Gonka-Tx-Hash", tx_hash}};
      return js_
          ->Publish(EventSubject(options_.subject_prefix, event.type()), event.SerializeAsString(),
                    o)
          .status();
    };
    for (const auto& tx : block.txs()) {
      for (const auto& event : tx.events()) {
        if (absl::Status s = publish(event, absl::StrCat(tx.index()), tx.hash()); !s.ok()) {
          return s;  // retried by the subscriber; what was published dedupes
        }
      }
    }
    for (const auto& event : block.finalize_block_events()) {
      if (absl::Status s = publish(event, "-", ""); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (absl::Status s = subscriber->Start(); !s.ok()) return s;
  subscriber_ = std::move(subscriber);
  return absl::OkStatus();
}

void EventViews::Stop() {
  absl::MutexLock lock(&mu_);
  if (subscriber_) subscriber_->Stop();
  subscriber_.reset();
}

}  // namespace eventhub
}  // namespace gonka
