#include "gonka/testing/rollout_harness.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/drain/haproxy_runtime.h"
#include "gonka/net/sse.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

namespace http = boost::beast::http;

// The backend name in deploy/haproxy/haproxy.cfg.template.
constexpr char kBackend[] = "replicas";
constexpr char kTestDaemon[] = "gonka/testing/test_daemon";
constexpr char kTemplate[] = "deploy/haproxy/haproxy.cfg.template";

struct Counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> posts{0};
  std::atomic<uint64_t> non_2xx{0};
  std::atomic<uint64_t> bad_answers{0};
  std::atomic<uint64_t> resets{0};
  std::atomic<uint64_t> streams{0};
  std::atomic<uint64_t> cut_streams{0};
};

// Keep-alive request loop through HAProxy; reconnects when the connection closes or fails.
void RequestLoop(int port, const RolloutOptions& options, int client_id,
                 const std::atomic<bool>& stop, Counters& counters) {
  std::unique_ptr<TestClient> client;
  uint64_t n = 0;
  while (!stop.load()) {
    if (!client) {
      client = std::make_unique<TestClient>(port);
      if (!client->connected()) {
        counters.resets++;
        GONKA_LOG_WARN("rollout: connect to haproxy failed", {"error", client->error().message()});
        client.reset();
        continue;
      }
    }
    ++n;
    const bool post = options.post_every > 0 && n % options.post_every == 0;
    const std::string body = absl::StrCat("c", client_id, "-", n);
    TestClient::Response res = post ? client->Send(http::verb::post, "/echo", body)
                                    : client->Get(absl::StrCat("/slow?ms=", options.slow_ms));
    if (client->error()) {
      counters.resets++;
      GONKA_LOG_WARN("rollout: request failed", {"method", post ? "POST" : "GET"},
                     {"error", client->error().message()});
      client.reset();
      continue;
    }
    counters.requests++;
    if (post) counters.posts++;
    if (res.result_int() < 200 || res.result_int() > 299) {
      counters.non_2xx++;
      GONKA_LOG_WARN("rollout: non-2xx", {"method", post ? "POST" : "GET"},
                     {"status", res.result_int()}, {"body", res.body()});
    } else if (post ? res.body() != body : !absl::StartsWith(res.body(), "ok ")) {
      counters.bad_answers++;
      GONKA_LOG_WARN("rollout: wrong answer", {"body", res.body()});
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
      GONKA_LOG_WARN("rollout: stream cut", {"error", client.error().message()});
      continue;
    }
    if (res.result_int() != 200) {
      counters.non_2xx++;
      GONKA_LOG_WARN("rollout: stream non-2xx", {"status", res.result_int()});
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
      GONKA_LOG_WARN("rollout: stream incomplete", {"events", seen}, {"expected", events});
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

// The template's retry directives, for the report ("retries 3; option redispatch 1; ...").
std::string RetryPolicy(const std::string& config) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "retries") || absl::StartsWith(line, "retry-on") ||
        absl::StartsWith(line, "option redispatch") || absl::StartsWith(line, "http-reuse")) {
      lines.emplace_back(line);
    }
  }
  return absl::StrJoin(lines, "; ");
}

// The config with every HAProxy retry turned off: `retries 0`, `retry-on none`.
std::string WithoutRetries(const std::string& config) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    std::string indent(line.substr(0, line.size() - stripped.size()));
    if (absl::StartsWith(stripped, "retries ")) {
      lines.push_back(indent + "retries 0");
    } else if (absl::StartsWith(stripped, "retry-on ")) {
      lines.push_back(indent + "retry-on none");
    } else {
      lines.emplace_back(line);
    }
  }
  return absl::StrJoin(lines, "\n");
}

// One step of the rollout procedure for one replica. Returns an error only when the procedure
// itself could not go on (HAProxy never marked it DOWN/UP, it did not start again).
absl::Status RestartReplica(DaemonProcess& replica, const std::string& name,
                            const HaproxyRuntime& haproxy, const RolloutOptions& options,
                            RolloutResult& result) {
  // 1. SIGTERM: /ready fails at once, the replica keeps serving for the announce window, and
  //    HAProxy's checks must mark it DOWN inside that window.
  const absl::Time sigterm = absl::Now();
  RETURN_IF_ERROR(replica.process()->Signal(SIGTERM));
  RETURN_IF_ERROR(haproxy.WaitForServer(kBackend, name, HaproxyRuntime::kDown, absl::Seconds(30),
                                        absl::Milliseconds(10)));
  result.max_down_after_sigterm = std::max(result.max_down_after_sigterm, absl::Now() - sigterm);
  // 2. It drains (listener closed after the announce window, in-flight work finishes) and exits.
  absl::StatusOr<int> code = replica.process()->Wait(absl::Seconds(60));
  if (!code.ok() || *code != 0) {
    result.unclean_exits++;
    GONKA_LOG_WARN("rollout: replica exit", {"replica", name}, {"code", code.ok() ? *code : -1});
    if (!code.ok()) RETURN_IF_ERROR(replica.Kill());
  }
  // 3. Start it again on the same port; Start() returns once its /ready answers 200.
  RETURN_IF_ERROR(replica.Start());
  const absl::Time ready = absl::Now();
  // 4. Only HAProxy's own view says it takes traffic again (after `rise` passing checks).
  if (options.wait_for_router_up) {
    RETURN_IF_ERROR(haproxy.WaitForServer(kBackend, name, HaproxyRuntime::kUp, absl::Seconds(30),
                                          absl::Milliseconds(10)));
    result.max_up_after_ready = std::max(result.max_up_after_ready, absl::Now() - ready);
  }
  result.restarts++;
  return absl::OkStatus();
}

}  // namespace

bool RolloutResult::clean() const {
  return non_2xx == 0 && bad_answers == 0 && resets == 0 && cut_streams == 0 && unclean_exits == 0;
}

std::string RolloutResult::ToString() const {
  return absl::StrCat(
      "requests=", requests, " posts=", posts, " non_2xx=", non_2xx, " bad_answers=", bad_answers,
      " resets=", resets, " streams=", streams, " cut_streams=", cut_streams,
      " restarts=", restarts, " unclean_exits=", unclean_exits, " haproxy_retries=", router_retries,
      " haproxy_redispatches=", router_redispatches, " haproxy_eresp=", router_response_errors,
      " haproxy_econ=", router_connect_errors,
      " max_down_after_sigterm=", absl::FormatDuration(max_down_after_sigterm),
      " max_up_after_ready=", absl::FormatDuration(max_up_after_ready),
      " elapsed=", absl::FormatDuration(elapsed), " policy=[", retry_policy, "]");
}

absl::StatusOr<RolloutResult> RunRollout(const RolloutOptions& options) {
  absl::Time t0 = absl::Now();
  ASSIGN_OR_RETURN(std::string template_path, ResolveRunfile(kTemplate));
  ASSIGN_OR_RETURN(std::string config, ReadFile(template_path));
  if (!options.router_retries) config = WithoutRetries(config);

  std::vector<std::unique_ptr<DaemonProcess>> replicas;
  std::string servers;
  for (int i = 0; i < options.replicas; ++i) {
    DaemonProcess::Options o;
    o.binary = kTestDaemon;
    o.name = absl::StrCat("r", i);
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              absl::StrCat("--instance=r", i),
              absl::StrCat("--drain-announce=", options.drain_announce),
              absl::StrCat("--shutdown-grace=", options.shutdown_grace),
              "--log-level=warn"};
    o.ready = [](DaemonProcess& d) -> absl::Status {
      TestClient client(d.port());
      if (!client.connected()) return absl::UnavailableError("not listening");
      int code = client.Get("/ready").result_int();
      if (code != 200) return absl::UnavailableError(absl::StrCat("/ready ", code));
      return absl::OkStatus();
    };
    replicas.push_back(std::make_unique<DaemonProcess>(o));
    RETURN_IF_ERROR(replicas.back()->Start());
    absl::StrAppend(&servers, "    server r", i, " 127.0.0.1:", replicas.back()->port(),
                    " check\n");
  }
  HaproxyServer::Options ho;
  ho.config = config;
  ho.port = FreePort();
  ho.vars = {{"BIND", absl::StrCat("127.0.0.1:", ho.port)}, {"SERVERS", servers}};
  HaproxyServer haproxy(ho);
  RETURN_IF_ERROR(haproxy.Start());
  HaproxyRuntime runtime(haproxy.admin_socket());
  for (int i = 0; i < options.replicas; ++i) {
    RETURN_IF_ERROR(runtime.WaitForServer(kBackend, absl::StrCat("r", i), HaproxyRuntime::kUp,
                                          absl::Seconds(15)));
  }

  Counters counters;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int i = 0; i < options.request_clients; ++i) {
    load.emplace_back(RequestLoop, haproxy.port(), std::cref(options), i, std::cref(stop),
                      std::ref(counters));
  }
  for (int i = 0; i < options.stream_clients; ++i) {
    load.emplace_back(StreamLoop, haproxy.port(), options.stream_events, options.stream_interval_ms,
                      std::cref(stop), std::ref(counters));
  }

  RolloutResult result;
  result.retry_policy = RetryPolicy(haproxy.config());
  absl::Status setup = absl::OkStatus();
  for (int round = 0; round < options.rounds && setup.ok(); ++round) {
    for (int i = 0; i < options.replicas && setup.ok(); ++i) {
      setup = RestartReplica(*replicas[i], absl::StrCat("r", i), runtime, options, result);
    }
  }
  // The last replica restarted must carry traffic for a while too before the load stops.
  if (setup.ok() && !options.wait_for_router_up) absl::SleepFor(absl::Seconds(2));
  stop = true;
  for (auto& t : load) t.join();
  RETURN_IF_ERROR(setup);

  ASSIGN_OR_RETURN(HaproxyStatRow backend, runtime.StatRow(kBackend, "BACKEND"));
  result.router_retries = backend.Int("wretr");
  result.router_redispatches = backend.Int("wredis");
  result.router_response_errors = backend.Int("eresp");
  result.router_connect_errors = backend.Int("econ");
  result.requests = counters.requests;
  result.posts = counters.posts;
  result.non_2xx = counters.non_2xx;
  result.bad_answers = counters.bad_answers;
  result.resets = counters.resets;
  result.streams = counters.streams;
  result.cut_streams = counters.cut_streams;
  result.elapsed = absl::Now() - t0;
  return result;
}

}  // namespace testing
}  // namespace gonka
