#include "tests/versiond/router_proof.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemons/versiond/versiond_env.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/drain/haproxy_runtime.h"
#include "gonka/net/http_client.h"
#include "gonka/net/sse.h"
#include "gonka/router/host_evacuation.h"
#include "gonka/router/router_config.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "simdjson.h"

namespace gonka {
namespace proof {
namespace {

namespace http = boost::beast::http;
using testing::TestClient;
using versiond_testing::OracleEntry;
using versiond_testing::Variant;
using versiond_testing::VersiondEnv;

constexpr char kVersion[] = "app";
constexpr char kBackend[] = "version_app";
constexpr int kHosts = 3;

std::string HostName(int i) { return absl::StrCat("h", i); }

struct Reply {
  bool ok = false;
  int status = 0;
  bool keep_alive = false;
  std::string host;   // X-Versiond-Backend (the router's server name)
  std::string label;  // X-Devchild-Version (the binary)
  std::string body;
  std::string error;
};

// One request on `client`'s connection, read to the end of the response (an SSE stream to its
// close). The socket gets a 30 s receive timeout so a hang fails instead of blocking the run.
Reply Send(TestClient& client, http::verb verb, const std::string& target, bool sse) {
  Reply r;
  timeval tv{30, 0};
  setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "router");
  if (sse) req.set(http::field::accept, "text/event-stream");
  if (verb == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = "{}";
    req.prepare_payload();
  }
  boost::beast::error_code ec;
  http::write(client.socket(), req, ec);
  if (ec) {
    r.error = absl::StrCat("write: ", ec.message());
    return r;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(8 << 20);
  http::read(client.socket(), client.buffer(), parser, ec);
  if (ec) {
    r.error = absl::StrCat("read: ", ec.message());
    return r;
  }
  const auto& res = parser.get();
  r.ok = true;
  r.status = res.result_int();
  r.keep_alive = res.keep_alive();
  r.host = std::string(res["X-Versiond-Backend"]);
  r.label = std::string(res["X-Devchild-Version"]);
  r.body = res.body();
  return r;
}

// When a host's escrows were away: from the drain until the replacement was back in the ring.
struct Window {
  std::string host;
  absl::Time drain_start = absl::InfiniteFuture();
  absl::Time return_start = absl::InfiniteFuture();
  absl::Time return_end = absl::InfiniteFuture();
};

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests{0}, non_2xx{0}, errors{0}, streams{0}, long_streams{0},
      cut_streams{0};
  std::mutex mu;
  // escrow → its hosts in order, each with the first and last time a response came from it.
  struct Stay {
    std::string host;
    absl::Time first;  // the first answer from this host arrived
    absl::Time last;   // the last request this host answered was sent
  };
  std::map<std::string, std::vector<Stay>> pins;
  std::map<std::string, std::set<std::string>> label_hosts;  // binary label → hosts
  int logged = 0;

  // `sent`: when the request was sent. A host change happened after the request that last
  // reached the old host was sent and before the first answer from the new host came back.
  void Saw(const std::string& escrow, const Reply& r, absl::Time sent) {
    std::lock_guard<std::mutex> lock(mu);
    auto& stays = pins[escrow];
    const absl::Time now = absl::Now();
    if (stays.empty() || stays.back().host != r.host) {
      stays.push_back({r.host, now, sent});
    } else {
      stays.back().last = sent;
    }
    label_hosts[r.label].insert(r.host);
  }
  void Problem(absl::string_view what, const Reply& r, absl::string_view target) {
    std::lock_guard<std::mutex> lock(mu);
    if (logged++ < 20) {
      GONKA_LOG_WARN("proof: problem", {"what", what}, {"target", target}, {"status", r.status},
                     {"error", r.error}, {"host", r.host}, {"body", r.body.substr(0, 200)});
    }
  }
};

// Keep-alive POSTs on the escrows that belong to this client (escrow % clients == client): one
// client per escrow, so each escrow's requests are sequential and its host changes are ordered.
void RequestLoop(int port, const ProofOptions& o, int client, uint32_t seed, Shared& shared) {
  std::mt19937 rng(seed);
  const int mine = std::max(1, o.escrows / o.request_clients);
  std::unique_ptr<TestClient> c;
  while (!shared.stop.load()) {
    if (!c) c = std::make_unique<TestClient>(port);
    const std::string escrow = absl::StrCat("e", (rng() % mine) * o.request_clients + client);
    const std::string target = absl::StrCat("/", kVersion, "/sessions/", escrow,
                                            "/requests?delay_ms=", o.request_delay_ms);
    const absl::Time sent = absl::Now();
    Reply r = Send(*c, http::verb::post, target, false);
    if (!r.ok) {
      shared.errors++;
      shared.Problem("connection", r, target);
      c.reset();
      continue;
    }
    shared.requests++;
    if (r.status < 200 || r.status > 299) {
      shared.non_2xx++;
      shared.Problem("non-2xx", r, target);
    } else {
      shared.Saw(escrow, r, sent);
    }
    if (!r.keep_alive) c.reset();
  }
}

// Back-to-back SSE streams on fresh escrows; each must deliver ids 0..n-1 in order from one
// binary, then `event: end`.
void StreamLoop(int port, int events, int interval_ms, bool long_stream, uint32_t seed,
                Shared& shared) {
  std::mt19937 rng(seed);
  while (!shared.stop.load()) {
    TestClient c(port);
    const std::string escrow = absl::StrCat("s", rng());
    const std::string target = absl::StrCat("/", kVersion, "/sessions/", escrow,
                                            "/stream?n=", events, "&interval_ms=", interval_ms);
    Reply r = Send(c, http::verb::get, target, true);
    if (!r.ok || r.status != 200) {
      shared.cut_streams++;
      shared.Problem(r.ok ? "stream non-200" : "stream cut", r, target);
      continue;
    }
    int next = 0;
    bool ended = false, in_order = true;
    std::string label;  // every event names the binary that wrote it: one binary per stream
    simdjson::dom::parser parser;
    net::SseReader reader([&](const net::SseMessage& m) {
      if (m.event == "end") {
        ended = true;
        return true;
      }
      if (m.id != absl::StrCat(next++)) in_order = false;
      simdjson::dom::element event;
      std::string_view version;
      if (parser.parse(m.data).get(event) != simdjson::SUCCESS ||
          event["version"].get(version) != simdjson::SUCCESS ||
          (!label.empty() && label != version)) {
        in_order = false;
      } else {
        label = std::string(version);
      }
      return true;
    });
    reader.Feed(r.body);
    if (!ended || !in_order || next != events) {
      shared.cut_streams++;
      shared.Problem(absl::StrCat("stream incomplete: ", next, " events"), r, target);
      continue;
    }
    shared.streams++;
    if (long_stream) shared.long_streams++;
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.label_hosts[label].insert(r.host);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // TIME_WAIT is not a holder
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

bool PidGone(int64_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || line.substr(paren + 2, 1) == "Z";
}

// (pid, port) of every child in a versiond's /healthz.
std::vector<std::pair<int64_t, int64_t>> Children(VersiondEnv& env) {
  std::vector<std::pair<int64_t, int64_t>> out;
  net::HttpClient client;
  auto r = client.Get(env.Url("/healthz"), net::HttpCallOptions::Timeout(absl::Seconds(5)));
  if (!r.ok()) return out;
  simdjson::dom::parser parser;
  simdjson::dom::array children;
  if (parser.parse(r->body).get(children) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element c : children) {
    int64_t pid = 0, port = 0;
    if (c["pid"].get(pid) == simdjson::SUCCESS && c["port"].get(port) == simdjson::SUCCESS) {
      out.push_back({pid, port});
    }
  }
  return out;
}

double MetricOr0(VersiondEnv& env, absl::string_view name) {
  const double v = env.Metric(name);
  return v < 0 ? 0 : v;
}

class Run {
 public:
  Run(const ProofOptions& options, uint32_t seed) : o_(options), seed_(seed) {}

  absl::StatusOr<ProofResult> Go() {
    const absl::Time t0 = t0_ = absl::Now();
    result_.seed = seed_;
    RETURN_IF_ERROR(StartHosts());
    RETURN_IF_ERROR(StartRouter());
    StartLoad();
    absl::Status run = Steps();
    absl::SleepFor(absl::Seconds(1));  // the last step's host carries load too
    shared_.stop = true;
    for (auto& t : load_) t.join();
    RETURN_IF_ERROR(run);
    // HAProxy's own counters: a clean run for the clients could hide retries.
    ASSIGN_OR_RETURN(HaproxyStatRow backend, runtime_->StatRow(kBackend, "BACKEND"));
    result_.router_retries = backend.Int("wretr");
    result_.router_redispatches = backend.Int("wredis");
    if (o_.kill9) RETURN_IF_ERROR(Kill9());
    Tally();
    result_.elapsed = absl::Now() - t0;
    return result_;
  }

 private:
  absl::Status StartHosts() {
    for (int i = 0; i < kHosts; ++i) {
      hosts_.push_back(std::make_unique<VersiondEnv>(HostName(i)));
      RETURN_IF_ERROR(Offer(i, absl::StrCat("g0-", HostName(i)), "normal"));
      RETURN_IF_ERROR(hosts_[i]->StartVersiond());
    }
    return absl::OkStatus();
  }

  // Lists a fresh devchild variant as `app` in host i's oracle.
  absl::Status Offer(int i, const std::string& label, const std::string& mode,
                     const std::string& wrong_sha = "") {
    Variant v = hosts_[i]->MakeVariant(label, mode);
    if (v.sha256.size() != 64) {
      return absl::InternalError(absl::StrCat("devchild --make-variant ", label, " failed"));
    }
    label_owner_[label] = HostName(i);
    hosts_[i]->SetOracle({OracleEntry{kVersion, v, wrong_sha}});
    return absl::OkStatus();
  }

  absl::Status StartRouter() {
    ASSIGN_OR_RETURN(std::string path,
                     testing::ResolveRunfile("deploy/haproxy/versiond-router.cfg.template"));
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    router::RouterConfig config;
    config.versions = {kVersion};
    config.admin_socket = "{{ADMIN_SOCKET}}";
    config.stream_idle_seconds = 30;
    const int port = testing::FreePort();
    config.bind = absl::StrCat("127.0.0.1:", port);
    config.admin_bind = absl::StrCat("127.0.0.1:", testing::FreePort());
    for (int i = 0; i < kHosts; ++i) {
      config.hosts.push_back(
          {.name = HostName(i), .address = absl::StrCat("127.0.0.1:", hosts_[i]->port())});
    }
    ASSIGN_OR_RETURN(std::string cfg, router::RenderRouterConfig(text, config));
    testing::HaproxyServer::Options ho;
    ho.config = cfg;
    ho.port = port;
    haproxy_ = std::make_unique<testing::HaproxyServer>(ho);
    RETURN_IF_ERROR(haproxy_->Start());
    runtime_ = std::make_unique<HaproxyRuntime>(haproxy_->admin_socket(), absl::Seconds(5));
    for (int i = 0; i < kHosts; ++i) {
      RETURN_IF_ERROR(
          runtime_->WaitForServer(kBackend, HostName(i), HaproxyRuntime::kUp, absl::Seconds(30)));
    }
    return absl::OkStatus();
  }

  void StartLoad() {
    const int port = haproxy_->port();
    uint32_t s = seed_;
    for (int c = 0; c < o_.request_clients; ++c) {
      load_.emplace_back(RequestLoop, port, std::cref(o_), c, ++s, std::ref(shared_));
    }
    for (int c = 0; c < o_.short_stream_clients; ++c) {
      load_.emplace_back(StreamLoop, port, 10, 50, false, ++s, std::ref(shared_));
    }
    for (int c = 0; c < o_.long_stream_clients; ++c) {
      load_.emplace_back(StreamLoop, port, o_.long_stream_events, 100, true, ++s,
                         std::ref(shared_));
    }
  }

  absl::Status Steps() {
    absl::SleepFor(absl::Seconds(1));
    const int plain = std::max(0, o_.swaps - (o_.bad_binaries ? kHosts : 0));
    int done = 0;
    for (int e = 0; e < o_.evacuations; ++e) {
      for (int j = 0; j < 2 && done < plain; ++j, ++done)
        RETURN_IF_ERROR(Swap(next_swap_host_++ % kHosts));
      if (e == 1 && o_.bad_binaries) RETURN_IF_ERROR(BadBinaries());
      RETURN_IF_ERROR(Evacuate(e));
    }
    if (o_.bad_binaries && o_.evacuations < 2) RETURN_IF_ERROR(BadBinaries());
    for (; done < plain; ++done) RETURN_IF_ERROR(Swap(next_swap_host_++ % kHosts));
    return absl::OkStatus();
  }

  absl::Status WaitSwapped(int i, double before) {
    return testing::WaitForValue([&] { return MetricOr0(*hosts_[i], "versiond_swaps_total"); },
                                 [&](double v) { return v >= before + 1; }, absl::Seconds(40),
                                 absl::Milliseconds(50),
                                 absl::StrCat(HostName(i), " versiond_swaps_total > ", before));
  }

  absl::Status Swap(int i) {
    const double before = MetricOr0(*hosts_[i], "versiond_swaps_total");
    RETURN_IF_ERROR(Offer(i, absl::StrCat("s", ++swap_count_, "-", HostName(i)), "normal"));
    RETURN_IF_ERROR(WaitSwapped(i, before));
    result_.swaps++;
    GONKA_LOG_INFO("proof: swapped", {"host", HostName(i)}, {"swap", swap_count_},
                   {"at_s", absl::ToDoubleSeconds(absl::Now() - t0_)});
    return absl::OkStatus();
  }

  // Three bad binaries, one per host, one host at a time: each must be refused or fail while the
  // old child keeps serving, then that host swaps to a good binary. (One at a time: the three
  // versiond share this machine's ports from 5000 up, and a crashing child's port taken by
  // another host's child at that moment would answer its readiness probe — see docs/router.md.)
  absl::Status BadBinaries() {
    const char* modes[kHosts] = {"mismatch", "never-ready", "crash-at-start"};
    for (int i = 0; i < kHosts; ++i) {
      const bool mismatch = i == 0;
      const std::string metric = mismatch
                                     ? "versiond_install_failures_total{reason=\"sha256_mismatch\"}"
                                     : "versiond_deploys_total{result=\"failed\"}";
      const double before = MetricOr0(*hosts_[i], metric);
      const std::string label = absl::StrCat("bad-", modes[i]);
      bad_labels_.insert(label);
      RETURN_IF_ERROR(
          Offer(i, label, mismatch ? "normal" : modes[i], mismatch ? std::string(64, 'a') : ""));
      RETURN_IF_ERROR(testing::WaitForValue(
          [&] { return MetricOr0(*hosts_[i], metric); }, [&](double v) { return v >= before + 1; },
          absl::Seconds(40), absl::Milliseconds(100), absl::StrCat(HostName(i), " ", metric)));
      result_.bad_binaries_refused++;
      RETURN_IF_ERROR(Swap(i));
    }
    return absl::OkStatus();
  }

  absl::Status Evacuate(int e) {
    const int i = e % kHosts;
    const std::string server = HostName(i);
    Window w;
    w.host = server;
    w.drain_start = absl::Now();
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      windows_.push_back(w);
    }
    if (e == o_.command_evacuation) {
      // The operator command, as an operator runs it.
      ASSIGN_OR_RETURN(std::string bin, testing::ResolveRunfile("tools/evacuate/gonka-evacuate"));
      testing::SubprocessOptions so;
      so.argv = {bin,
                 absl::StrCat("--socket=", haproxy_->admin_socket()),
                 absl::StrCat("--server=", server),
                 absl::StrCat("--pid=", hosts_[i]->versiond().pid()),
                 "--drain-timeout=60s",
                 "--stop-timeout=60s",
                 "out"};
      so.log_path = hosts_[i]->dir().Join("gonka-evacuate.log");
      testing::Subprocess command(so);
      RETURN_IF_ERROR(command.Start());
      ASSIGN_OR_RETURN(int code, command.Wait(absl::Seconds(150)));
      GONKA_LOG_INFO("proof: gonka-evacuate", {"exit", code}, {"output", command.LogTail(2000)});
      if (code != 0) {
        return absl::InternalError(
            absl::StrCat("gonka-evacuate exited ", code, ": ", command.LogTail()));
      }
      ASSIGN_OR_RETURN(int versiond_exit, hosts_[i]->versiond().Wait(absl::Seconds(10)));
      if (versiond_exit != 0) {
        return absl::InternalError(absl::StrCat(server, " versiond exited ", versiond_exit));
      }
      result_.command_evacuations++;
    } else {
      router::EvacuationOptions eo;
      eo.server = server;
      eo.drain_timeout = absl::Seconds(60);
      eo.poll_interval = absl::Milliseconds(50);
      eo.stop_host = [&]() -> absl::Status {
        RETURN_IF_ERROR(hosts_[i]->versiond().Signal(SIGTERM));
        ASSIGN_OR_RETURN(int code, hosts_[i]->versiond().Wait(absl::Seconds(60)));
        if (code != 0) return absl::InternalError(absl::StrCat("versiond exited ", code));
        return absl::OkStatus();
      };
      ASSIGN_OR_RETURN(router::EvacuationResult r, router::EvacuateHost(*runtime_, eo));
      result_.max_sessions_at_drain = std::max(result_.max_sessions_at_drain, r.sessions_at_drain);
      result_.max_drain = std::max(result_.max_drain, r.drain_duration);
      GONKA_LOG_INFO("proof: evacuated", {"host", server},
                     {"sessions_at_drain", r.sessions_at_drain},
                     {"drain", absl::FormatDuration(r.drain_duration)},
                     {"stop", absl::FormatDuration(r.stop_duration)});
    }
    result_.evacuations++;
    // A replacement versiond at the same address (same data dir: it sweeps what is left), then
    // back into the ring.
    RETURN_IF_ERROR(hosts_[i]->StartVersiond());
    const absl::Time return_start = absl::Now();
    RETURN_IF_ERROR(
        router::ReturnHost(*runtime_, {.server = server, .up_timeout = absl::Seconds(30)}));
    std::lock_guard<std::mutex> lock(shared_.mu);
    windows_.back().return_start = return_start;
    windows_.back().return_end = absl::Now();
    GONKA_LOG_INFO("proof: window", {"host", server},
                   {"drain_s", absl::ToDoubleSeconds(windows_.back().drain_start - t0_)},
                   {"return_start_s", absl::ToDoubleSeconds(return_start - t0_)},
                   {"return_end_s", absl::ToDoubleSeconds(windows_.back().return_end - t0_)});
    return absl::OkStatus();
  }

  absl::Status Kill9() {
    VersiondEnv& host = *hosts_[0];
    std::vector<std::pair<int64_t, int64_t>> children = Children(host);
    if (children.empty()) return absl::InternalError("kill -9: h0 reports no child");
    const pid_t pid = host.versiond().pid();
    if (kill(pid, SIGKILL) != 0) return absl::InternalError("kill -9 versiond failed");
    (void)host.versiond().Wait(absl::Seconds(10));
    result_.kill9_children_reaped = testing::WaitFor(
                                        [&] {
                                          for (auto& [child, port] : children) {
                                            if (!PidGone(child)) return false;
                                          }
                                          return true;
                                        },
                                        absl::Seconds(15), absl::Milliseconds(50), "children gone")
                                        .ok();
    result_.kill9_ports_free = testing::WaitFor(
                                   [&] {
                                     if (!PortFree(host.port())) return false;
                                     for (auto& [child, port] : children) {
                                       if (!PortFree(static_cast<int>(port))) return false;
                                     }
                                     return true;
                                   },
                                   absl::Seconds(15), absl::Milliseconds(50), "ports free")
                                   .ok();
    // Restarted, it serves again behind the router.
    RETURN_IF_ERROR(host.StartVersiond());
    RETURN_IF_ERROR(
        runtime_->WaitForServer(kBackend, "h0", HaproxyRuntime::kUp, absl::Seconds(30)));
    int answered_by_h0 = 0;
    TestClient c(haproxy_->port());
    for (int e = 0; e < 60; ++e) {
      Reply r = Send(c, http::verb::post,
                     absl::StrCat("/", kVersion, "/sessions/k", e, "/requests"), false);
      if (!r.ok || r.status != 200) return absl::InternalError("after kill -9: request failed");
      if (r.host == "h0") ++answered_by_h0;
      if (!r.keep_alive) break;
    }
    result_.kill9_restarted = answered_by_h0 > 0;
    return absl::OkStatus();
  }

  // Every host change of every escrow must be explained by an evacuation window.
  void Tally() {
    std::lock_guard<std::mutex> lock(shared_.mu);
    result_.requests = shared_.requests;
    result_.non_2xx = shared_.non_2xx;
    result_.errors = shared_.errors;
    result_.streams = shared_.streams;
    result_.long_streams = shared_.long_streams;
    result_.cut_streams = shared_.cut_streams;
    result_.escrows_seen = shared_.pins.size();
    // A move happened somewhere between the last response from the old host and the first from
    // the new one; it is explained when that span overlaps the old host's evacuation window, and
    // only once per window (an escrow moves once when its host is evacuated). A move onto a host
    // as it returns (back) is not explained: the router's pins keep moved escrows where they went.
    auto overlaps = [](absl::Time a0, absl::Time a1, absl::Time b0, absl::Time b1) {
      return a0 <= b1 && b0 <= a1;
    };
    for (auto& [escrow, stays] : shared_.pins) {
      bool away = false, back = false;
      std::set<size_t> windows_used;
      for (size_t k = 1; k < stays.size(); ++k) {
        const Shared::Stay& from = stays[k - 1];
        const Shared::Stay& to = stays[k];
        bool explained = false;
        for (size_t wi = 0; wi < windows_.size(); ++wi) {
          const Window& w = windows_[wi];
          if (w.host == from.host && overlaps(from.last, to.first, w.drain_start, w.return_end) &&
              windows_used.insert(wi).second) {
            explained = away = true;
            break;
          }
        }
        for (const Window& w : windows_) {
          if (!explained && w.host == to.host &&
              overlaps(from.last, to.first, w.return_start, w.return_end)) {
            back = true;
          }
        }
        if (!explained) {
          result_.unexplained_moves++;
          GONKA_LOG_WARN(
              "proof: unexplained move", {"escrow", escrow}, {"from", from.host}, {"to", to.host},
              {"last_on_from_s", absl::ToDoubleSeconds(from.last - t0_)},
              {"first_on_to_s", absl::ToDoubleSeconds(to.first - t0_)}, {"stays", stays.size()});
        }
      }
      if (away) result_.moved_away++;
      if (back) result_.moved_back++;
    }
    for (auto& [label, hosts] : shared_.label_hosts) {
      if (bad_labels_.count(label)) {
        result_.bad_binary_responses++;
        continue;
      }
      auto owner = label_owner_.find(label);
      for (const std::string& h : hosts) {
        if (owner == label_owner_.end() || owner->second != h) {
          result_.label_host_violations++;
          GONKA_LOG_WARN("proof: label answered by another host", {"label", label}, {"host", h});
        }
      }
    }
  }

  const ProofOptions o_;
  const uint32_t seed_;
  ProofResult result_;
  Shared shared_;
  std::vector<std::unique_ptr<VersiondEnv>> hosts_;
  std::unique_ptr<testing::HaproxyServer> haproxy_;
  std::unique_ptr<HaproxyRuntime> runtime_;
  std::vector<std::thread> load_;
  std::vector<Window> windows_;  // under shared_.mu
  std::map<std::string, std::string> label_owner_;
  std::set<std::string> bad_labels_;
  int swap_count_ = 0;
  int next_swap_host_ = 0;
  absl::Time t0_;
};

}  // namespace

bool ProofResult::clean(bool kill9) const {
  return non_2xx == 0 && errors == 0 && cut_streams == 0 && bad_binary_responses == 0 &&
         label_host_violations == 0 && unexplained_moves == 0 &&
         (!kill9 || (kill9_children_reaped && kill9_ports_free && kill9_restarted));
}

std::string ProofResult::ToString() const {
  return absl::StrCat(
      "seed=", seed, " requests=", requests, " non_2xx=", non_2xx, " errors=", errors,
      " streams=", streams, " long_streams=", long_streams, " cut_streams=", cut_streams,
      " swaps=", swaps, " bad_binaries_refused=", bad_binaries_refused,
      " bad_binary_responses=", bad_binary_responses,
      " label_host_violations=", label_host_violations, " evacuations=", evacuations,
      " (by command ", command_evacuations, ") max_sessions_at_drain=", max_sessions_at_drain,
      " max_drain=", absl::FormatDuration(max_drain), " escrows=", escrows_seen,
      " moved_away=", moved_away, " moved_back=", moved_back,
      " unexplained_moves=", unexplained_moves, " haproxy_retries=", router_retries,
      " haproxy_redispatches=", router_redispatches,
      " kill9_children_reaped=", kill9_children_reaped, " kill9_ports_free=", kill9_ports_free,
      " kill9_restarted=", kill9_restarted, " elapsed=", absl::FormatDuration(elapsed));
}

absl::StatusOr<ProofResult> RunRouterProof(const ProofOptions& options) {
  uint32_t seed = options.seed;
  if (seed == 0) seed = static_cast<uint32_t>(absl::ToUnixMicros(absl::Now()));
  std::printf("versiond router proof: seed=%u\n", seed);
  std::fflush(stdout);
  Run run(options, seed);
  return run.Go();
}

}  // namespace proof
}  // namespace gonka
