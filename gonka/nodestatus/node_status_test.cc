// NodeStatus against fake services on loopback (real HTTP servers answering the same paths and
// shapes as edge-api, signerd and node-manager): the snapshot's JSON shape, a service that is down
// or answers garbage shown with its error without breaking the rest, leader/dead-letter/block/
// phase events on the SSE stream, the page's routes and the services file's errors.
#include "gonka/nodestatus/node_status.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/net/sse.h"
#include "gonka/nodestatus/status_page.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace nodestatus {
namespace {

using net::HttpRequest;
using net::HttpResponse;

// One fake daemon: /ready plus whatever body each path is set to.
class FakeService {
 public:
  FakeService() {
    server_.Handle("GET", "/*", [this](const HttpRequest& r) {
      absl::MutexLock lock(&mu_);
      auto it = bodies_.find(r.path);
      if (it == bodies_.end()) return HttpResponse::Text(404, "no route");
      HttpResponse res = HttpResponse::Json(200, it->second);
      if (r.path == "/metrics") res.headers.Set("Content-Type", "text/plain; version=0.0.4");
      return res;
    });
    Set("/ready", "ready");
    EXPECT_TRUE(server_.Start().ok());
  }
  void Set(const std::string& path, std::string body) {
    absl::MutexLock lock(&mu_);
    bodies_[path] = std::move(body);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", server_.port()); }

 private:
  net::HttpServer server_;
  absl::Mutex mu_;
  std::map<std::string, std::string> bodies_ ABSL_GUARDED_BY(mu_);
};

std::string HubStatus(bool leader, const std::string& identity, int chain, int emitted) {
  return absl::StrCat(R"({"status":"ok","chain_id":"c","identity":")", identity,
                      R"(","coordination":"nats","leader":)", leader ? "true" : "false",
                      R"(,"last_emitted_height":")", emitted, R"(","chain_height":")", chain,
                      R"(","lag":)", chain - emitted, R"(,"healthy":true})");
}

constexpr char kCacheStats[] =
    R"({"bytes":1,"routes":[{"route":"models","hits":6,"shared_hits":1,"misses":2},)"
    R"({"route":"pricing","hits":1,"shared_hits":0,"misses":0}]})";

std::string SignerMetrics(int signed_txs, int undecodable) {
  return absl::StrCat("# TYPE gonka_signer_txs_signed_total counter\n",
                      "gonka_signer_txs_signed_total{kind=\"single\"} ", signed_txs, "\n",
                      "gonka_signer_requests_total{outcome=\"included\"} ", signed_txs, "\n",
                      "gonka_txqueue_backlog 3\ngonka_txqueue_stream_messages 12\n",
                      "gonka_txqueue_dead_lettered_total{reason=\"undecodable\"} ", undecodable,
                      "\n");
}

constexpr char kManagerStatus[] =
    R"({"leader":true,"token":4,"height":50,"epoch":2,"phase":"Inference",)"
    R"("nodes":[{"id":"ml-0","intended":"INFERENCE","actual":"INFERENCE","last_error":""},)"
    R"({"id":"ml-1","intended":"POW","actual":"STOPPED","last_error":"timeout"}]})";

struct Topology {
  FakeService hub0, hub1, signer, manager, garbage;
  std::vector<ServiceEndpoint> services;
  Topology() {
    hub0.Set("/v1/status", HubStatus(true, "edge-0", 100, 98));
    hub0.Set("/v1/cache/stats", kCacheStats);
    hub1.Set("/v1/status", HubStatus(false, "edge-1", 101, 98));
    hub1.Set("/v1/cache/stats", kCacheStats);
    signer.Set("/metrics", SignerMetrics(10, 1));
    manager.Set("/v1/node-manager/status", kManagerStatus);
    garbage.Set("/v1/status", "<html>not json</html>");
    services = {{"edge-api-0", "edge-api", hub0.url()},
                {"edge-api-1", "edge-api", hub1.url()},
                {"signerd-0", "signerd", signer.url()},
                {"node-manager-0", "node-manager", manager.url()},
                {"edge-api-garbage", "edge-api", garbage.url()},
                // Port 1 on loopback: nothing listens, the connection is refused at once.
                {"signerd-down", "signerd", "http://127.0.0.1:1"}};
  }
};

NodeStatusOptions Options(const Topology& t) {
  NodeStatusOptions o;
  o.services = t.services;
  o.poll_interval = absl::Hours(1);  // the tests poll with PollOnce()
  o.request_timeout = absl::Seconds(2);
  return o;
}

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return doc;
}

TEST(NodeStatusTest, SnapshotShapeAndAServiceDownShownWithItsError) {
  Topology t;
  NodeStatus status(Options(t));
  status.PollOnce();
  const std::string json = status.SnapshotJson();
  simdjson::dom::parser parser;
  simdjson::dom::element doc = Parse(parser, json);

  EXPECT_EQ(std::string_view(doc["eventhub"]["leader"]), "edge-api-0") << json;
  EXPECT_EQ(std::string_view(doc["eventhub"]["leader_identity"]), "edge-0");
  EXPECT_EQ(int64_t(doc["eventhub"]["chain_height"]), 101);  // the highest any replica saw
  EXPECT_EQ(int64_t(doc["eventhub"]["last_emitted_height"]), 98);
  EXPECT_EQ(int64_t(doc["eventhub"]["lag"]), 3);
  EXPECT_EQ(std::string_view(doc["node_manager"]["leader"]), "node-manager-0");
  EXPECT_EQ(int64_t(doc["node_manager"]["token"]), 4);
  EXPECT_EQ(int64_t(doc["epoch"]), 2);
  EXPECT_EQ(std::string_view(doc["phase"]), "Inference");
  simdjson::dom::array nodes = doc["node_manager"]["nodes"];
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(std::string_view(nodes.at(1)["intended"]), "POW");
  EXPECT_EQ(std::string_view(nodes.at(1)["actual"]), "STOPPED");
  EXPECT_EQ(std::string_view(nodes.at(1)["last_error"]), "timeout");
  EXPECT_EQ(int64_t(doc["txqueue"]["backlog"]), 3);
  EXPECT_EQ(int64_t(doc["txqueue"]["stream_messages"]), 12);
  EXPECT_EQ(int64_t(doc["txqueue"]["dead_letters"]["undecodable"]), 1);
  EXPECT_EQ(int64_t(doc["txqueue"]["dead_letters_total"]), 1);
  // Two edge-apis answered /v1/cache/stats: (6+1+1)*2 hits, 2*2 misses.
  EXPECT_EQ(int64_t(doc["cache"]["hits"]), 16);
  EXPECT_EQ(int64_t(doc["cache"]["misses"]), 4);
  EXPECT_NEAR(double(doc["cache"]["hit_rate"]), 0.8, 1e-3);
  simdjson::dom::array signers = doc["signers"];
  ASSERT_EQ(signers.size(), 2u);
  EXPECT_EQ(int64_t(signers.at(0)["signed_total"]), 10);
  EXPECT_TRUE(signers.at(0)["signed_per_s"].is_null());  // one round: no rate yet
  EXPECT_FALSE(bool(signers.at(1)["up"]));

  simdjson::dom::array services = doc["services"];
  ASSERT_EQ(services.size(), 6u);
  for (simdjson::dom::element s : services) {
    const std::string_view name = s["name"];
    if (name == "signerd-down") {
      EXPECT_FALSE(bool(s["up"]));
      EXPECT_TRUE(absl::StrContains(std::string(std::string_view(s["error"])), "127.0.0.1:1"))
          << json;
    } else if (name == "edge-api-garbage") {
      EXPECT_TRUE(bool(s["up"]));  // it answers /ready; its status is not JSON
      EXPECT_TRUE(
          absl::StrContains(std::string(std::string_view(s["error"])), "/v1/status: not JSON"))
          << json;
    } else {
      EXPECT_TRUE(bool(s["up"])) << name;
      EXPECT_TRUE(bool(s["ready"])) << name;
      EXPECT_TRUE(s["error"].is_null()) << name << ": " << json;
    }
  }
  EXPECT_EQ(doc["blocks"].get_array().size(), 0u);
}

TEST(NodeStatusTest, NothingReportedIsNullNotZero) {
  NodeStatusOptions o;
  o.services = {{"gone", "edge-api", "http://127.0.0.1:1"}};
  NodeStatus status(o);
  status.PollOnce();
  const std::string json = status.SnapshotJson();
  simdjson::dom::parser parser;
  simdjson::dom::element doc = Parse(parser, json);
  EXPECT_TRUE(doc["eventhub"]["leader"].is_null()) << json;
  EXPECT_TRUE(doc["eventhub"]["chain_height"].is_null());
  EXPECT_TRUE(doc["epoch"].is_null());
  EXPECT_TRUE(doc["cache"]["hit_rate"].is_null());
  EXPECT_TRUE(doc["txqueue"]["backlog"].is_null());
}

// Reads SSE events from /v1/node/events on a background thread.
class EventReader {
 public:
  explicit EventReader(const std::string& url) {
    thread_ = std::thread([this, url] {
      net::SseReader reader([this](const net::SseMessage& m) {
        absl::MutexLock lock(&mu_);
        events_.push_back(m);
        return !stop_;
      });
      net::HttpCallOptions o;
      o.no_deadline = true;
      o.stream_idle_timeout = absl::Seconds(20);
      http_
          .Stream(
              url, [&](absl::string_view b) { return reader.Feed(b); }, o)
          .status()
          .IgnoreError();
    });
  }
  ~EventReader() { thread_.join(); }
  void StopAfterNext() {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  // Waits (10 s deadline) for an event of `type` whose data contains `needle`.
  bool WaitFor(const std::string& type, const std::string& needle, std::string* data = nullptr) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        for (const net::SseMessage& m : events_) {
          if (m.event == type && absl::StrContains(m.data, needle)) {
            if (data != nullptr) *data = m.data;
            return true;
          }
        }
      }
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

 private:
  net::HttpClient http_;
  absl::Mutex mu_;
  std::vector<net::SseMessage> events_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

TEST(NodeStatusTest, EventStreamCarriesLeaderDeadLetterBlockAndPhaseChanges) {
  Topology t;
  NodeStatus status(Options(t));
  net::HttpServer server;
  status.AddRoutes(&server);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(status.Start().ok());
  const std::string base = absl::StrCat("http://127.0.0.1:", server.port());
  {
    EventReader events(base + "/v1/node/events");
    ASSERT_TRUE(events.WaitFor("snapshot", "\"leader\":\"edge-api-0\""));

    // The event hub's lease moves to edge-api-1; a signer dead-letters two more requests.
    t.hub0.Set("/v1/status", HubStatus(false, "edge-0", 102, 100));
    t.hub1.Set("/v1/status", HubStatus(true, "edge-1", 102, 100));
    t.signer.Set("/metrics", SignerMetrics(14, 3));
    status.PollOnce();
    std::string leader, dead;
    EXPECT_TRUE(events.WaitFor("leader", "\"leader\":\"edge-api-1\"", &leader));
    EXPECT_TRUE(absl::StrContains(leader, "\"role\":\"eventhub\""));
    EXPECT_TRUE(absl::StrContains(leader, "\"previous\":\"edge-api-0\"")) << leader;
    EXPECT_TRUE(events.WaitFor("dead_letter", "\"reason\":\"undecodable\"", &dead));
    EXPECT_TRUE(absl::StrContains(dead, "\"count\":2,\"total\":3")) << dead;

    chain::v1::BlockEvents block;
    block.set_height(103);
    block.set_hash("ABCDEF");
    block.set_time("2026-12-03T10:00:00Z");
    block.add_txs();
    block.mutable_epoch()->set_epoch_index(3);
    block.mutable_epoch()->set_phase("PoCGenerate");
    status.RecordBlock(block);
    EXPECT_TRUE(events.WaitFor("block", "\"height\":103,"));
    std::string phase;
    EXPECT_TRUE(events.WaitFor("phase", "\"phase\":\"PoCGenerate\"", &phase));
    EXPECT_TRUE(absl::StrContains(phase, "\"previous\":\"Inference\"")) << phase;
    // A replayed (older) block is ignored; the node-manager's older height does not flip it back.
    block.set_height(102);
    status.RecordBlock(block);
    status.PollOnce();
    simdjson::dom::parser parser;
    const std::string json = status.SnapshotJson();
    simdjson::dom::element doc = Parse(parser, json);
    EXPECT_EQ(doc["blocks"].get_array().size(), 1u) << json;
    EXPECT_EQ(std::string_view(doc["phase"]), "PoCGenerate") << json;
    EXPECT_EQ(int64_t(doc["epoch"]), 3);
    // Rates need two rounds of the same counter.
    EXPECT_FALSE(doc["signers"].at(0)["signed_per_s"].is_null()) << json;
    events.StopAfterNext();
    status.PollOnce();  // one more event ends the reader
  }
  status.Stop();
  server.Stop(absl::Now() + absl::Seconds(2));
}

TEST(NodeStatusTest, ServesThePageAndTheJson) {
  NodeStatusOptions o;
  o.poll_interval = absl::Hours(1);
  NodeStatus status(o);
  net::HttpServer server;
  status.AddRoutes(&server);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(status.Start().ok());
  const std::string base = absl::StrCat("http://127.0.0.1:", server.port());
  net::HttpClient http;
  absl::StatusOr<net::HttpResponse> page = http.Get(base + "/status");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->status, 200);
  EXPECT_TRUE(absl::StartsWith(page->headers.Get("Content-Type"), "text/html"));
  EXPECT_TRUE(
      absl::StrContains(page->headers.Get("Content-Security-Policy"), "default-src 'self'"));
  EXPECT_TRUE(absl::StrContains(page->body, "/status/app.js"));
  EXPECT_FALSE(absl::StrContains(page->body, "https://"));  // nothing from a CDN
  absl::StatusOr<net::HttpResponse> js = http.Get(base + "/status/app.js");
  ASSERT_TRUE(js.ok());
  EXPECT_EQ(js->status, 200);
  EXPECT_TRUE(absl::StartsWith(js->headers.Get("Content-Type"), "text/javascript"));
  EXPECT_EQ(js->body, std::string(FindStatusPageAsset("app.js")->body));
  absl::StatusOr<net::HttpResponse> missing = http.Get(base + "/status/../etc/passwd");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  absl::StatusOr<net::HttpResponse> json = http.Get(base + "/v1/node/status");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = Parse(parser, json->body);
  EXPECT_EQ(doc["services"].get_array().size(), 0u);
  // Draining: new event streams are refused, so none can hold the drain open.
  status.CloseStreams();
  absl::StatusOr<net::HttpResponse> refused = http.Stream(
      base + "/v1/node/events", [](absl::string_view) { return true; },
      net::HttpCallOptions::Timeout(absl::Seconds(5)));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 503);
  status.Stop();
  server.Stop(absl::Now() + absl::Seconds(2));
}

TEST(NodeStatusTest, ServicesFileErrorsNameTheField) {
  absl::StatusOr<std::vector<ServiceEndpoint>> ok = ParseServices(
      R"({"services":[{"name":"a","kind":"edge-api","url":"http://127.0.0.1:8080/"}]})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].url, "http://127.0.0.1:8080");
  EXPECT_TRUE(ParseServices(R"([{"name":"a","kind":"x","url":"https://h"}])").ok());
  auto error = [](absl::string_view json) {
    absl::StatusOr<std::vector<ServiceEndpoint>> s = ParseServices(json);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.status().message());
  };
  EXPECT_EQ(error("{"), error("{"));  // not JSON
  EXPECT_TRUE(absl::StrContains(error(R"({"services":[{"kind":"x","url":"http://h"}]})"),
                                "services[0].name"));
  EXPECT_TRUE(absl::StrContains(
      error(
          R"([{"name":"a","kind":"x","url":"http://h"},{"name":"b","kind":"x","url":"ftp://h"}])"),
      "services[1].url"));
  EXPECT_TRUE(absl::StrContains(
      error(
          R"([{"name":"a","kind":"x","url":"http://h"},{"name":"a","kind":"x","url":"http://g"}])"),
      "listed twice"));
  EXPECT_TRUE(absl::StrContains(
      error(R"([{"name":"a","kind":"x","url":"http://user:secret@h:1/"}])"), "credentials"));
  EXPECT_FALSE(absl::StrContains(
      error(R"([{"name":"a","kind":"x","url":"http://user:secret@h:1/"}])"), "secret"));
  EXPECT_EQ(LoadServicesFile("/nonexistent/services.json").status().code(),
            absl::StatusCode::kNotFound);
  NodeStatusOptions bad;
  bad.poll_interval = absl::ZeroDuration();
  EXPECT_TRUE(absl::StrContains(NodeStatus::Validate(bad).message(), "poll_interval"));
}

}  // namespace
}  // namespace nodestatus
}  // namespace gonka
