#include "gonka/nodestatus/node_status.h"

#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gonka/base/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/net/sse.h"
#include "gonka/nodestatus/internal/prometheus_text.h"
#include "gonka/nodestatus/status_page.h"
#include "simdjson.h"

namespace gonka {
namespace nodestatus {

// What one poll of one service found. Values nobody reported stay unset (-1, nullopt, false).
struct NodeStatus::ServiceState {
  ServiceEndpoint endpoint;
  absl::Time polled_at = absl::InfinitePast();
  bool up = false;
  bool ready = false;
  std::string error;
  int64_t latency_ms = -1;
  // edge-api: GET /v1/status, GET /v1/cache/stats.
  bool hub_known = false;
  bool hub_leader = false;
  std::string identity, coordination, hub_error;
  int64_t chain_height = -1, emitted_height = -1, lag = -1;
  bool cache_known = false;
  double cache_hits = 0, cache_misses = 0;
  // signerd: GET /metrics.
  bool metrics_known = false;
  double signed_total = 0, requests_total = 0;
  std::optional<double> backlog, stream_messages;
  std::map<std::string, double> dead_letters;
  std::optional<double> signed_per_s, requests_per_s;
  // node-manager: GET /v1/node-manager/status.
  bool manager_known = false;
  bool manager_leader = false;
  int64_t token = 0, manager_height = 0, epoch = -1;
  std::string phase;
  struct MlNode {
    std::string id, intended, actual, last_error;
  };
  std::vector<MlNode> ml_nodes;
};

// The block stream through a temporary Subscriber (the server forgets it 30 s after we stop).
class NodeStatus::BlockFeed {
 public:
  BlockFeed(NodeStatus* owner, const NodeStatusOptions& options) {
    std::random_device rd;
    eventhub::SubscriberOptions o;
    o.stream = options.stream;
    o.subject = options.subject;
    o.durable =
        absl::StrCat("status-", absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8));
    o.start_height = 0;  // the next block
    o.inactive_threshold = absl::Seconds(30);
    subscriber_ = std::make_unique<eventhub::Subscriber>(o, options.js);
    subscriber_->OnBlock([owner](const chain::v1::BlockEvents& b) {
      owner->RecordBlock(b);
      return absl::OkStatus();
    });
  }
  absl::Status Start() { return subscriber_->Start(); }
  void Stop() { subscriber_->Stop(); }

 private:
  std::unique_ptr<eventhub::Subscriber> subscriber_;
};

namespace {

constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.4g", v);
}

void OptNum(JsonWriter& w, const std::optional<double>& v) {
  if (v.has_value()) {
    w.Raw(Num(*v));
  } else {
    w.Null();
  }
}

void OptInt(JsonWriter& w, int64_t v) {
  if (v >= 0) {
    w.Int(v);
  } else {
    w.Null();
  }
}

void OptString(JsonWriter& w, const std::string& s) {
  if (s.empty()) {
    w.Null();
  } else {
    w.String(s);
  }
}

// A short excerpt of a body for an error message (bodies may be long HTML).
// One block of the live list, as both the snapshot and the "block" event carry it (`B` is
// NodeStatus::Block, private to the class).
template <typename B>
void WriteBlock(JsonWriter& w, const B& b) {
  w.BeginObject().Key("height").Int(b.height).Key("time").String(b.time);
  w.Key("hash").String(b.hash).Key("txs").Int(b.txs).Key("epoch");
  OptInt(w, b.epoch);
  w.Key("phase");
  OptString(w, b.phase);
  w.EndObject();
}

std::string Excerpt(absl::string_view body) {
  body = absl::StripAsciiWhitespace(body);
  if (body.size() > 160) return absl::StrCat(body.substr(0, 160), "...");
  return std::string(body);
}

void AddError(std::string* error, absl::string_view what) {
  if (!error->empty()) error->append("; ");
  error->append(what.data(), what.size());
}

int64_t IntField(simdjson::dom::element doc, const char* key, int64_t fallback) {
  int64_t v = 0;
  if (doc[key].get_int64().get(v) == simdjson::SUCCESS) return v;
  // Heights travel as strings in /v1/status (CometBFT style).
  std::string_view s;
  if (doc[key].get_string().get(s) == simdjson::SUCCESS &&
      absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v)) {
    return v;
  }
  return fallback;
}

std::string StringField(simdjson::dom::element doc, const char* key) {
  std::string_view s;
  if (doc[key].get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  return "";
}

bool BoolField(simdjson::dom::element doc, const char* key) {
  bool b = false;
  return doc[key].get_bool().get(b) == simdjson::SUCCESS && b;
}

}  // namespace

absl::StatusOr<std::vector<ServiceEndpoint>> ParseServices(absl::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto e = parser.parse(json.data(), json.size()).get(doc); e != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("services: not JSON: ", simdjson::error_message(e)));
  }
  simdjson::dom::array list;
  if (doc.get_array().get(list) != simdjson::SUCCESS &&
      doc["services"].get_array().get(list) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("services: want an array or {\"services\": [...]}");
  }
  std::vector<ServiceEndpoint> out;
  std::set<std::string> names;
  size_t i = 0;
  for (simdjson::dom::element entry : list) {
    const std::string where = absl::StrCat("services[", i++, "]");
    if (!entry.is_object())
      return absl::InvalidArgumentError(absl::StrCat(where, ": want an object"));
    ServiceEndpoint s{StringField(entry, "name"), StringField(entry, "kind"),
                      StringField(entry, "url")};
    if (s.name.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".name: missing"));
    if (s.kind.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".kind: missing"));
    if (!absl::StartsWith(s.url, "http://") && !absl::StartsWith(s.url, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".url: want http:// or https://, got \"", s.url, "\""));
    }
    // The URL is shown on the page and in errors: no credentials in it.
    absl::string_view authority = absl::string_view(s.url).substr(s.url.find("//") + 2);
    authority = authority.substr(0, authority.find('/'));
    if (absl::StrContains(authority, '@')) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".url: credentials in the URL are not accepted"));
    }
    while (absl::EndsWith(s.url, "/")) s.url.pop_back();
    if (!names.insert(s.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".name: \"", s.name, "\" listed twice"));
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<ServiceEndpoint>> LoadServicesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("services file ", path, ": cannot read"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<ServiceEndpoint>> s = ParseServices(text.str());
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("services file ", path, ": ", s.status().message()));
  }
  return s;
}

NodeStatus::NodeStatus(NodeStatusOptions options)
    : options_(std::move(options)),
      http_({.name = "nodestatus",
             .default_timeout = options_.request_timeout,
             .tls = options_.tls}) {
  absl::MutexLock lock(&mu_);
  for (const ServiceEndpoint& s : options_.services) {
    ServiceState state;
    state.endpoint = s;
    state.error = "not polled yet";
    services_.push_back(std::move(state));
  }
}

NodeStatus::~NodeStatus() { Stop(); }

absl::Status NodeStatus::Validate(const NodeStatusOptions& options) {
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval: want > 0");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_timeout: want > 0");
  }
  if (options.max_blocks == 0) return absl::InvalidArgumentError("max_blocks: want > 0");
  std::set<std::string> names;
  for (size_t i = 0; i < options.services.size(); ++i) {
    const ServiceEndpoint& s = options.services[i];
    if (s.name.empty() || !names.insert(s.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("services[", i, "].name: empty or repeated"));
    }
    if (!absl::StartsWith(s.url, "http://") && !absl::StartsWith(s.url, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("services[", i, "].url: want http(s)://"));
    }
  }
  return absl::OkStatus();
}

void NodeStatus::AddRoutes(net::HttpServer* server) {
  auto serve_asset = [](absl::string_view name) {
    const StatusPageAsset* asset = FindStatusPageAsset(name);
    if (asset == nullptr) return net::HttpResponse::Text(404, absl::StrCat("no asset ", name));
    net::HttpResponse r;
    r.status = 200;
    r.body = std::string(asset->body);
    r.headers.Set("Content-Type", asset->content_type);
    r.headers.Set("Content-Security-Policy", kContentSecurityPolicy);
    r.headers.Set("X-Content-Type-Options", "nosniff");
    r.headers.Set("Cache-Control", "no-cache");
    return r;
  };
  server->Handle("GET", "/status",
                 [serve_asset](const net::HttpRequest&) { return serve_asset("index.html"); });
  server->Handle("GET", "/status/*", [serve_asset](const net::HttpRequest& request) {
    absl::string_view name = request.path;
    absl::ConsumePrefix(&name, "/status/");
    if (name.empty()) name = "index.html";
    return serve_asset(name);
  });
  server->Handle("GET", "/v1/node/status", [this](const net::HttpRequest&) {
    net::HttpResponse r = net::HttpResponse::Json(200, SnapshotJson());
    r.headers.Set("Cache-Control", "no-store");
    return r;
  });
  server->HandleStream("GET", "/v1/node/events",
                       [this](const net::HttpRequest&, std::shared_ptr<net::ResponseStream> out) {
                         out->SetHeader("Cache-Control", "no-store");
                         absl::MutexLock lock(&mu_);
                         if (stopping_ || draining_) {
                           // EventSource retries; the router sends it to another replica.
                           out->SetStatus(503);
                           out->Write(net::SseComment("draining: reconnect"));
                           out->Close();
                           return;
                         }
                         // The client learns to reconnect after a poll interval, not 3 s.
                         out->Write(absl::StrCat(
                             "retry: ", absl::ToInt64Milliseconds(options_.poll_interval), "\n\n"));
                         out->Write(net::SseEvent(SnapshotLocked(), "snapshot"));
                         streams_.push_back(std::move(out));
                       });
}

absl::Status NodeStatus::Start() {
  if (absl::Status s = Validate(options_); !s.ok()) return s;
  if (started_) return absl::FailedPreconditionError("NodeStatus already started");
  started_ = true;
  PollOnce();
  StartBlocks();
  poller_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void NodeStatus::StartBlocks() {
  if (options_.js == nullptr || blocks_feed_ != nullptr) return;
  auto feed = std::make_unique<BlockFeed>(this, options_);
  if (absl::Status s = feed->Start(); !s.ok()) {
    // E.g. the block stream does not exist yet on a fresh node; the poll thread retries.
    GONKA_LOG_WARN("status page: block stream not followed yet", {"error", s.ToString()});
    return;
  }
  blocks_feed_ = std::move(feed);
}

void NodeStatus::Run() {
  Clock* clock = Clock::Real();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (clock->WaitUntil(&mu_, &stopping_, clock->Now() + options_.poll_interval)) return;
    }
    PollOnce();
    StartBlocks();
  }
}

void NodeStatus::CloseStreams() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  for (auto& s : streams_) {
    s->Write(net::SseComment("draining: reconnect"));
    s->Close();
  }
  streams_.clear();
}

void NodeStatus::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
  if (blocks_feed_ != nullptr) blocks_feed_->Stop();
  CloseStreams();
}

size_t NodeStatus::open_streams() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& s : streams_) n += s->closed() ? 0 : 1;
  return n;
}

NodeStatus::ServiceState NodeStatus::Poll(const ServiceEndpoint& service) {
  ServiceState st;
  st.endpoint = service;
  const absl::Time start = absl::Now();
  st.polled_at = start;
  const net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.request_timeout);
  absl::StatusOr<net::HttpResponse> ready = http_.Get(service.url + "/ready", call);
  st.latency_ms = absl::ToInt64Milliseconds(absl::Now() - start);
  if (!ready.ok()) {
    st.error = std::string(ready.status().message());
    return st;
  }
  st.up = true;
  st.ready = ready->status == 200;
  if (!st.ready) {
    AddError(&st.error, absl::StrCat("not ready: HTTP ", ready->status, " ", Excerpt(ready->body)));
  }
  simdjson::dom::parser parser;
  auto get_json = [&](const std::string& path,
                      simdjson::dom::element* doc) -> bool {  // false: error recorded
    absl::StatusOr<net::HttpResponse> r = http_.Get(service.url + path, call);
    if (!r.ok()) {
      AddError(&st.error, r.status().message());
      return false;
    }
    if (r->status != 200) {
      AddError(&st.error, absl::StrCat("GET ", path, ": HTTP ", r->status, " ", Excerpt(r->body)));
      return false;
    }
    // parse() copies into the parser's padded buffer; `doc` lives until the next parse.
    if (auto e = parser.parse(r->body).get(*doc); e != simdjson::SUCCESS) {
      AddError(&st.error, absl::StrCat("GET ", path, ": not JSON: ", simdjson::error_message(e)));
      return false;
    }
    return true;
  };
  simdjson::dom::element doc;
  if (service.kind == "edge-api") {
    if (get_json("/v1/status", &doc)) {
      st.hub_known = true;
      st.hub_leader = BoolField(doc, "leader");
      st.identity = StringField(doc, "identity");
      st.coordination = StringField(doc, "coordination");
      st.chain_height = IntField(doc, "chain_height", -1);
      st.emitted_height = IntField(doc, "last_emitted_height", -1);
      st.lag = IntField(doc, "lag", -1);
      st.hub_error = StringField(doc, "error");
    }
    if (get_json("/v1/cache/stats", &doc)) {
      simdjson::dom::array routes;
      if (doc["routes"].get_array().get(routes) == simdjson::SUCCESS) {
        st.cache_known = true;
        for (simdjson::dom::element r : routes) {
          st.cache_hits += IntField(r, "hits", 0) + IntField(r, "shared_hits", 0);
          st.cache_misses += IntField(r, "misses", 0);
        }
      }
    }
  } else if (service.kind == "signerd") {
    absl::StatusOr<net::HttpResponse> r = http_.Get(service.url + "/metrics", call);
    if (!r.ok()) {
      AddError(&st.error, r.status().message());
    } else if (r->status != 200) {
      AddError(&st.error, absl::StrCat("GET /metrics: HTTP ", r->status));
    } else {
      internal::ParsedMetrics m = internal::ParsePrometheusText(r->body);
      st.metrics_known = true;
      st.signed_total = m.Sum("gonka_signer_txs_signed_total");
      st.requests_total = m.Sum("gonka_signer_requests_total");
      if (m.Has("gonka_txqueue_backlog")) st.backlog = m.Sum("gonka_txqueue_backlog");
      if (m.Has("gonka_txqueue_stream_messages")) {
        st.stream_messages = m.Sum("gonka_txqueue_stream_messages");
      }
      st.dead_letters = m.SumBy("gonka_txqueue_dead_lettered_total", "reason");
    }
  } else if (service.kind == "node-manager") {
    if (get_json("/v1/node-manager/status", &doc)) {
      st.manager_known = true;
      st.manager_leader = BoolField(doc, "leader");
      st.token = IntField(doc, "token", 0);
      st.manager_height = IntField(doc, "height", 0);
      st.epoch = IntField(doc, "epoch", -1);
      st.phase = StringField(doc, "phase");
      simdjson::dom::array nodes;
      if (doc["nodes"].get_array().get(nodes) == simdjson::SUCCESS) {
        for (simdjson::dom::element n : nodes) {
          st.ml_nodes.push_back({StringField(n, "id"), StringField(n, "intended"),
                                 StringField(n, "actual"), StringField(n, "last_error")});
        }
      }
    }
  }
  return st;
}

void NodeStatus::PollOnce() {
  std::vector<ServiceState> round(options_.services.size());
  std::vector<std::thread> workers;
  workers.reserve(options_.services.size());
  for (size_t i = 0; i < options_.services.size(); ++i) {
    workers.emplace_back([this, i, &round] { round[i] = Poll(options_.services[i]); });
  }
  for (std::thread& t : workers) t.join();
  Apply(std::move(round));
}

void NodeStatus::Apply(std::vector<ServiceState> round) {
  absl::MutexLock lock(&mu_);
  // Rates from the previous round of the same service (a counter that went down: restarted).
  for (ServiceState& now : round) {
    for (const ServiceState& before : services_) {
      if (before.endpoint.name != now.endpoint.name) continue;
      const double dt = absl::ToDoubleSeconds(now.polled_at - before.polled_at);
      if (now.metrics_known && before.metrics_known && dt > 0 &&
          now.signed_total >= before.signed_total && now.requests_total >= before.requests_total) {
        now.signed_per_s = (now.signed_total - before.signed_total) / dt;
        now.requests_per_s = (now.requests_total - before.requests_total) / dt;
      }
      if (before.up != now.up || before.ready != now.ready) {
        JsonWriter w;
        w.BeginObject()
            .Key("name")
            .String(now.endpoint.name)
            .Key("up")
            .Bool(now.up)
            .Key("ready")
            .Bool(now.ready)
            .Key("error")
            .String(now.error)
            .EndObject();
        if (before.polled_at != absl::InfinitePast()) Emit("service", w.Take());
      }
    }
  }
  services_ = std::move(round);

  // Leaders: the edge-api / node-manager that says it leads (and answers).
  std::string hub_leader, manager_leader;
  const ServiceState* manager = nullptr;
  for (const ServiceState& s : services_) {
    if (s.hub_known && s.hub_leader && hub_leader.empty()) hub_leader = s.endpoint.name;
    if (s.manager_known && s.manager_leader && manager_leader.empty()) {
      manager_leader = s.endpoint.name;
      manager = &s;
    }
  }
  auto leader_json = [](const char* role, const std::string& now, const std::string& before) {
    JsonWriter w;
    w.BeginObject().Key("role").String(role).Key("leader");
    OptString(w, now);
    w.Key("previous");
    OptString(w, before);
    w.EndObject();
    return w.Take();
  };
  if (leaders_known_ && hub_leader != hub_leader_) {
    Emit("leader", leader_json("eventhub", hub_leader, hub_leader_));
  }
  if (leaders_known_ && manager_leader != manager_leader_) {
    Emit("leader", leader_json("node-manager", manager_leader, manager_leader_));
  }
  hub_leader_ = hub_leader;
  manager_leader_ = manager_leader;
  leaders_known_ = true;
  if (manager != nullptr && manager->epoch >= 0) {
    NotePhase(manager->manager_height, manager->epoch, manager->phase);
  }

  // Dead letters by reason over every signer; an increase is an event.
  std::map<std::string, double> dead;
  for (const ServiceState& s : services_) {
    for (const auto& [reason, n] : s.dead_letters) dead[reason] += n;
  }
  if (dead_letters_known_) {
    for (const auto& [reason, n] : dead) {
      const double before = dead_letters_.count(reason) ? dead_letters_[reason] : 0;
      if (n > before) {
        Emit("dead_letter", absl::StrCat("{\"reason\":", JsonQuote(reason), ",\"count\":",
                                         Num(n - before), ",\"total\":", Num(n), "}"));
      }
    }
  }
  dead_letters_ = std::move(dead);
  dead_letters_known_ = true;
  last_round_ = absl::Now();
  Broadcast(net::SseEvent(SnapshotLocked(), "snapshot"));
}

void NodeStatus::RecordBlock(const chain::v1::BlockEvents& block) {
  absl::MutexLock lock(&mu_);
  Block b;
  b.height = block.height();
  b.time = block.time();
  b.hash = block.hash();
  b.txs = block.txs_size();
  if (block.has_epoch()) {
    b.epoch = block.epoch().epoch_index();
    b.phase = block.epoch().phase();
  }
  if (!blocks_.empty() && b.height <= blocks_.front().height) return;  // replayed
  blocks_.push_front(b);
  while (blocks_.size() > options_.max_blocks) blocks_.pop_back();
  JsonWriter w;
  WriteBlock(w, b);
  Emit("block", w.Take());
  if (b.epoch >= 0) NotePhase(b.height, b.epoch, b.phase);
}

void NodeStatus::NotePhase(int64_t height, int64_t epoch, const std::string& phase) {
  // The block stream and the node-manager both report the phase; the newest height wins so the
  // two never flip the page back and forth.
  if (height < phase_height_) return;
  phase_height_ = height;
  if (epoch == epoch_ && phase == phase_) return;
  if (epoch_ >= 0 || !phase_.empty()) {
    JsonWriter w;
    w.BeginObject()
        .Key("height")
        .Int(height)
        .Key("epoch")
        .Int(epoch)
        .Key("phase")
        .String(phase)
        .Key("previous_epoch");
    OptInt(w, epoch_);
    w.Key("previous");
    OptString(w, phase_);
    w.EndObject();
    Emit("phase", w.Take());
  }
  epoch_ = epoch;
  phase_ = phase;
}

void NodeStatus::Emit(const std::string& type, std::string json) {
  LiveEvent e{next_event_id_++, type, std::move(json)};
  Broadcast(net::SseEvent(e.json, e.type, absl::StrCat(e.id)));
  events_.push_back(std::move(e));
  while (events_.size() > options_.max_events) events_.pop_front();
}

void NodeStatus::Broadcast(const std::string& chunk) {
  std::vector<std::shared_ptr<net::ResponseStream>> alive;
  alive.reserve(streams_.size());
  for (auto& s : streams_) {
    if (s->Write(chunk)) alive.push_back(std::move(s));
  }
  streams_ = std::move(alive);
}

std::string NodeStatus::SnapshotJson() const {
  absl::MutexLock lock(&mu_);
  return SnapshotLocked();
}

std::string NodeStatus::SnapshotLocked() const {
  JsonWriter w;
  w.BeginObject()
      .Key("generated_at")
      .String(absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()));
  w.Key("last_poll");
  if (last_round_ == absl::InfinitePast()) {
    w.Null();
  } else {
    w.String(absl::FormatTime(absl::RFC3339_sec, last_round_, absl::UTCTimeZone()));
  }
  w.Key("poll_interval_ms").Int(absl::ToInt64Milliseconds(options_.poll_interval));

  w.Key("services").BeginArray();
  for (const ServiceState& s : services_) {
    w.BeginObject()
        .Key("name")
        .String(s.endpoint.name)
        .Key("kind")
        .String(s.endpoint.kind)
        .Key("url")
        .String(s.endpoint.url)
        .Key("up")
        .Bool(s.up)
        .Key("ready")
        .Bool(s.ready)
        .Key("error");
    OptString(w, s.error);
    w.Key("latency_ms");
    OptInt(w, s.latency_ms);
    w.EndObject();
  }
  w.EndArray();

  // Event hub: the leader's view; without a leader, the highest any replica reports.
  const ServiceState* hub = nullptr;
  int64_t chain_height = -1;
  for (const ServiceState& s : services_) {
    if (!s.hub_known) continue;
    chain_height = std::max(chain_height, s.chain_height);
    if (s.endpoint.name == hub_leader_) hub = &s;
  }
  if (hub == nullptr) {
    for (const ServiceState& s : services_) {
      if (s.hub_known && (hub == nullptr || s.emitted_height > hub->emitted_height)) hub = &s;
    }
  }
  w.Key("eventhub").BeginObject().Key("leader");
  OptString(w, hub_leader_);
  w.Key("leader_identity");
  OptString(w, hub != nullptr && !hub_leader_.empty() ? hub->identity : "");
  w.Key("coordination");
  OptString(w, hub != nullptr ? hub->coordination : "");
  w.Key("chain_height");
  OptInt(w, chain_height);
  w.Key("last_emitted_height");
  OptInt(w, hub != nullptr ? hub->emitted_height : -1);
  w.Key("lag");
  OptInt(w, hub != nullptr && chain_height > 0 && hub->emitted_height > 0
                ? chain_height - hub->emitted_height
                : -1);
  w.Key("error");
  OptString(w, hub != nullptr ? hub->hub_error : "");
  w.EndObject();

  const ServiceState* manager = nullptr;
  for (const ServiceState& s : services_) {
    if (s.manager_known && s.endpoint.name == manager_leader_) manager = &s;
  }
  w.Key("node_manager").BeginObject().Key("leader");
  OptString(w, manager_leader_);
  w.Key("token").Int(manager != nullptr ? manager->token : 0);
  w.Key("height");
  OptInt(w, manager != nullptr ? manager->manager_height : -1);
  w.Key("epoch");
  OptInt(w, manager != nullptr ? manager->epoch : -1);
  w.Key("phase");
  OptString(w, manager != nullptr ? manager->phase : "");
  w.Key("nodes").BeginArray();
  if (manager != nullptr) {
    for (const ServiceState::MlNode& n : manager->ml_nodes) {
      w.BeginObject()
          .Key("id")
          .String(n.id)
          .Key("intended")
          .String(n.intended)
          .Key("actual")
          .String(n.actual)
          .Key("last_error")
          .String(n.last_error)
          .Key("manager")
          .String(manager->endpoint.name)
          .EndObject();
    }
  }
  w.EndArray().EndObject();

  w.Key("epoch");
  OptInt(w, epoch_);
  w.Key("phase");
  OptString(w, phase_);

  // Tx queue: every signer sees the same queue, so its gauges are the highest any reports.
  std::optional<double> backlog, stream_messages;
  for (const ServiceState& s : services_) {
    if (s.backlog) backlog = std::max(backlog.value_or(0), *s.backlog);
    if (s.stream_messages)
      stream_messages = std::max(stream_messages.value_or(0), *s.stream_messages);
  }
  double dead_total = 0;
  w.Key("txqueue").BeginObject().Key("backlog");
  OptNum(w, backlog);
  w.Key("stream_messages");
  OptNum(w, stream_messages);
  w.Key("dead_letters").BeginObject();
  for (const auto& [reason, n] : dead_letters_) {
    w.Key(reason).Raw(Num(n));
    dead_total += n;
  }
  w.EndObject().Key("dead_letters_total").Raw(Num(dead_total)).EndObject();

  w.Key("signers").BeginArray();
  for (const ServiceState& s : services_) {
    if (s.endpoint.kind != "signerd") continue;
    w.BeginObject().Key("name").String(s.endpoint.name).Key("up").Bool(s.up);
    w.Key("signed_total");
    OptNum(w, s.metrics_known ? std::optional<double>(s.signed_total) : std::nullopt);
    w.Key("signed_per_s");
    OptNum(w, s.signed_per_s);
    w.Key("requests_per_s");
    OptNum(w, s.requests_per_s);
    w.EndObject();
  }
  w.EndArray();

  double hits = 0, misses = 0;
  bool cache_known = false;
  for (const ServiceState& s : services_) {
    if (!s.cache_known) continue;
    cache_known = true;
    hits += s.cache_hits;
    misses += s.cache_misses;
  }
  w.Key("cache").BeginObject().Key("hits");
  OptNum(w, cache_known ? std::optional<double>(hits) : std::nullopt);
  w.Key("misses");
  OptNum(w, cache_known ? std::optional<double>(misses) : std::nullopt);
  w.Key("hit_rate");
  OptNum(w, hits + misses > 0 ? std::optional<double>(hits / (hits + misses)) : std::nullopt);
  w.EndObject();

  w.Key("blocks").BeginArray();
  for (const Block& b : blocks_) WriteBlock(w, b);
  w.EndArray();

  w.Key("events").BeginArray();
  for (const LiveEvent& e : events_) {
    w.BeginObject().Key("id").Uint(e.id).Key("type").String(e.type).Key("data").Raw(e.json);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

}  // namespace nodestatus
}  // namespace gonka
