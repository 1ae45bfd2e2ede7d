#include "gonka/eventhub/event_hub_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"

namespace gonka {
namespace eventhub {
namespace {

EventViewsOptions ViewsOptions(const EmitterOptions& emitter) {
  EventViewsOptions o;
  o.chain_id = emitter.chain_id;
  o.block_stream = emitter.stream;
  o.replicas = emitter.stream_replicas;
  return o;
}

}  // namespace

EventHubService::EventHubService(EventHubServiceOptions options, chain::CometClient* comet,
                                 nats::JetStream* js, election::Coordination* coordination)
    : options_(std::move(options)),
      coordination_(coordination),
      emitter_(options_.emitter, comet, js, coordination->store(), coordination->elector()),
      views_(ViewsOptions(options_.emitter), js),
      streams_({.stream = options_.emitter.stream,
                .inactive_threshold = options_.stream_inactive_threshold},
               js) {
  if (!options_.ws_url.empty()) {
    wake_ = std::make_unique<chain::CometSubscriber>(
        chain::CometSubscriberOptions{.ws_url = options_.ws_url, .tls = options_.ws_tls},
        [this](int64_t) { emitter_.Wake(); });
  }
}

EventHubService::~EventHubService() { Stop(); }

void EventHubService::AddRoutes(net::HttpServer* server) {
  streams_.AddRoutes(server);
  server->Handle("GET", "/v1/status", [this](const net::HttpRequest&) {
    const int64_t emitted = emitter_.last_emitted();
    const int64_t chain = emitter_.chain_height();
    const absl::Status health = emitter_.health();
    JsonWriter w;
    // "status": "ok" first, as Gonka's edge-api answers this path ({"status":"ok"}), so Gonka
    // clients that check it see the same; the rest is the hub's own.
    w.BeginObject()
        .Key("status")
        .String("ok")
        .Key("chain_id")
        .String(options_.emitter.chain_id)
        .Key("identity")
        .String(options_.identity)
        .Key("coordination")
        .String(election::CoordinationBackendName(coordination_->backend()))
        .Key("leader")
        .Bool(coordination_->elector()->IsLeader())
        .Key("last_emitted_height")
        .String(absl::StrCat(emitted))
        .Key("chain_height")
        .String(absl::StrCat(chain))
        .Key("lag")
        .Int(chain > 0 && emitted > 0 ? chain - emitted : 0)
        .Key("healthy")
        .Bool(health.ok());
    if (!health.ok()) w.Key("error").String(health.ToString());
    w.EndObject();
    return net::HttpResponse::Json(200, w.Take());
  });
}

absl::Status EventHubService::Start() {
  absl::Status s = emitter_.Start();
  if (s.ok() && wake_ != nullptr) s = wake_->Start();
  if (s.ok()) {
    views_watcher_ = std::thread([this] { WatchViews(); });
    s = coordination_->elector()->Start();
  }
  if (!s.ok()) Stop();
  return s;
}

void EventHubService::WatchViews() {
  Clock* clock = Clock::Real();
  while (true) {
    const bool leader = coordination_->elector()->IsLeader();
    if (leader && !views_.running()) {
      if (absl::Status s = views_.Start(); !s.ok()) {
        GONKA_LOG_WARN("event views not started", {"error", s.ToString()});
      }
    } else if (!leader && views_.running()) {
      views_.Stop();
    }
    absl::MutexLock lock(&stop_mu_);
    if (clock->WaitUntil(&stop_mu_, &stopping_, clock->Now() + options_.views_check_interval)) {
      break;
    }
  }
  views_.Stop();
}

void EventHubService::BeginDrain() { streams_.CloseAll(); }

void EventHubService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Leadership first, so a standby takes over at once.
  coordination_->elector()->Stop();
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (views_watcher_.joinable()) views_watcher_.join();
  streams_.Shutdown();
  emitter_.Stop();
  if (wake_ != nullptr) wake_->Stop();
}

}  // namespace eventhub
}  // namespace gonka
