#include "gonka/drain/rollout_harness.h"

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/net/internal/test_client.h"
#include "gonka/net/sse.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace {

namespace http = boost::beast::http;
using net::internal::TestClient;

struct Counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> non_2xx{0};
  std::atomic<uint64_t> resets{0};
  std::atomic<uint64_t> streams{0};
  std::atomic<uint64_t> cut_streams{0};
};

// Keep-alive request loop through HAProxy; reconnects when the connection closes or fails.
void RequestLoop(int port, int slow_ms, int client_id, const std::atomic<bool>& stop,
                 Counters& counters) {
  std::unique_ptr<TestClient> client;
  uint64_t n = 0;
  while (!stop.load()) {
    if (!client) {
      client = std::make_unique<TestClient>(port);
      if (!client->connected()) {
        counters.resets++;
        GLOG_WARN("rollout: connect to haproxy failed", {"error", client->error().message()});
        client.reset();
        continue;
      }
    }
    ++n;
    TestClient::Response res =
        (n % 4 == 0) ? client->Send(http::verb::post, "/echo", absl::StrCat("c", client_id, "-", n))
                     : client->Get(absl::StrCat("/slow?ms=", slow_ms));
    if (client->error()) {
      counters.resets++;
      GLOG_WARN("rollout: request failed", {"error", client->error().message()});
      client.reset();
      continue;
    }
    counters.requests++;
    if (res.result_int() < 200 || res.result_int() > 299) {
      counters.non_2xx++;
      GLOG_WARN("rollout: non-2xx", {"status", res.result_int()}, {"body", res.body()});
    }
    if (!res.keep_alive()) client.reset();
  }
}

// Opens SSE streams back to back; each must deliver every event in order and end cleanly.
void StreamLoop(int port, int events, int interval_ms, const std::atomic<bool>& stop,
                Counters& counters) {
  while (!stop.load()) {
    TestClient client(port);
    if (!client.connected()) {
      counters.resets++;
      continue;
    }
    TestClient::Response res = client.Get(absl::StrCat("/events?n=", events, "&ms=", interval_ms));
    if (client.error()) {
      counters.cut_streams++;
      GLOG_WARN("rollout: stream cut", {"error", client.error().message()});
      continue;
    }
    if (res.result_int() != 200) {
      counters.non_2xx++;
      GLOG_WARN("rollout: stream non-2xx", {"status", res.result_int()});
      continue;
    }
    int seen = 0;
    bool in_order = true;
    net::SseReader reader([&](const net::SseMessage& m) {
      if (m.data != absl::StrCat(seen)) in_order = false;
      ++seen;
      return true;
    });
    reader.Feed(res.body());
    if (seen == events && in_order) {
      counters.streams++;
    } else {
      counters.cut_streams++;
      GLOG_WARN("rollout: stream incomplete", {"events", seen}, {"expected", events});
    }
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string RolloutResult::ToString() const {
  return absl::StrCat("requests=", requests, " non_2xx=", non_2xx, " resets=", resets,
                      " streams=", streams, " cut_streams=", cut_streams, " restarts=", restarts,
                      " unclean_exits=", unclean_exits, " elapsed=", absl::FormatDuration(elapsed));
}

absl::StatusOr<RolloutResult> RunRollout(const RolloutOptions& options) {
  absl::Time t0 = absl::Now();
  ASSIGN_OR_RETURN(std::string binary, testing::ResolveRunfile("gonka/drain/test_daemon"));
  ASSIGN_OR_RETURN(std::string template_path,
                   testing::ResolveRunfile("deploy/haproxy/haproxy.cfg.template"));
  ASSIGN_OR_RETURN(std::string config, ReadFile(template_path));

  std::vector<std::unique_ptr<testing::DaemonProcess>> replicas;
  std::string servers;
  for (int i = 0; i < options.replicas; ++i) {
    testing::DaemonProcess::Options o;
    o.binary = binary;
    o.name = absl::StrCat("r", i);
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              absl::StrCat("--instance=r", i),
              absl::StrCat("--drain-announce=", options.drain_announce),
              absl::StrCat("--shutdown-grace=", options.shutdown_grace),
              "--log-level=warn"};
    o.ready = [](testing::DaemonProcess& d) -> absl::Status {
      TestClient client(d.port());
      if (!client.connected()) return absl::UnavailableError("not listening");
      int code = client.Get("/ready").result_int();
      if (code != 200) return absl::UnavailableError(absl::StrCat("/ready ", code));
      return absl::OkStatus();
    };
    replicas.push_back(std::make_unique<testing::DaemonProcess>(o));
    RETURN_IF_ERROR(replicas.back()->Start());
    absl::StrAppend(&servers, "    server r", i, " 127.0.0.1:", replicas.back()->port(),
                    " check\n");
  }
  testing::HaproxyServer::Options ho;
  ho.config = config;
  ho.port = testing::FreePort();
  ho.vars = {{"BIND", absl::StrCat("127.0.0.1:", ho.port)}, {"SERVERS", servers}};
  testing::HaproxyServer haproxy(ho);
  RETURN_IF_ERROR(haproxy.Start());
  for (int i = 0; i < options.replicas; ++i) {
    RETURN_IF_ERROR(
        haproxy.WaitForServerState("replicas", absl::StrCat("r", i), true, absl::Seconds(15)));
  }

  Counters counters;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int i = 0; i < options.request_clients; ++i) {
    load.emplace_back(RequestLoop, haproxy.port(), options.slow_ms, i, std::cref(stop),
                      std::ref(counters));
  }
  for (int i = 0; i < options.stream_clients; ++i) {
    load.emplace_back(StreamLoop, haproxy.port(), options.stream_events, options.stream_interval_ms,
                      std::cref(stop), std::ref(counters));
  }

  RolloutResult result;
  absl::Status setup = absl::OkStatus();
  for (int round = 0; round < options.rounds && setup.ok(); ++round) {
    for (int i = 0; i < options.replicas && setup.ok(); ++i) {
      testing::DaemonProcess& replica = *replicas[i];
      std::string name = absl::StrCat("r", i);
      // SIGTERM and wait for the drain to complete; the exit code says whether it was clean.
      absl::StatusOr<int> code = replica.process()->Terminate(absl::Seconds(60));
      if (!code.ok() || *code != 0) {
        result.unclean_exits++;
        GLOG_WARN("rollout: replica exit", {"replica", name}, {"code", code.ok() ? *code : -1});
      }
      setup = replica.Start();
      if (!setup.ok()) break;
      setup = haproxy.WaitForServerState("replicas", name, true, absl::Seconds(15));
      result.restarts++;
    }
  }
  stop = true;
  for (auto& t : load) t.join();
  RETURN_IF_ERROR(setup);

  result.requests = counters.requests;
  result.non_2xx = counters.non_2xx;
  result.resets = counters.resets;
  result.streams = counters.streams;
  result.cut_streams = counters.cut_streams;
  result.elapsed = absl::Now() - t0;
  return result;
}

}  // namespace gonka
