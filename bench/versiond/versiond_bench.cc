// bench/versiond: versiond's three performance limits, measured in one run on this machine.
//
//   1. Proxy overhead: wrk against a child directly, through versiond (`/app/version`) and
//      through nginx (the peer: `proxy_pass` to the same child, one worker, keep-alive
//      upstream), alternated in the same rounds; overhead = 1 - proxied/direct requests/s,
//      limit 0.10, and versiond/nginx requests/s. Twice: a trivial endpoint (CPU-bound: on 2
//      cores the proxy, the child and wrk compete for the CPU, so this is the worst case) and
//      one where the child works `work_ms` per request. CPU per request of each proxy and of the
//      child from /proc/<pid>/stat, the proxy's context switches per request from
//      /proc/<pid>/task/*/status. With --handoff (default) a second versiond forwarding the old
//      way (--forward-on-server-loop=false: a client thread, answers handed back to the
//      server's) in front of a child of its own is measured in the same rounds.
//   2. Route swap: closed-loop POSTs through versiond while the oracle swaps the binary N
//      times; the p99 latency of requests in flight at a swap (started before the swap instant,
//      ended after it) minus the p99 of requests in flight at control instants 0.7 s and 1 s
//      after each swap (sampled the same way: long requests are likelier to be in flight);
//      limit 1 ms. The swap instant is taken as the start of the first request the new binary
//      answered. The new child's first requests (started within 20 ms after) are reported too.
//   3. versiond's peak RSS (VmHWM) after all of it; limit 32 MB.
//
//   bazel build -c opt //bench/versiond:versiond_bench
//   bazel-bin/bench/versiond/versiond_bench [--swaps=10] [--wrk_seconds=5] [--connections=16]
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "daemons/versiond/versiond_env.h"
#include "gonka/base/config.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/proc_stats.h"
#include "gonka/testing/process.h"
#include "simdjson.h"

namespace {

using gonka::versiond_testing::Variant;
using gonka::versiond_testing::VersiondEnv;
using Clock = std::chrono::steady_clock;

double Wrk(const std::string& url, int seconds, int connections) {
  std::string cmd = absl::StrCat("wrk -t1 -c", connections, " -d", seconds, "s ", url, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  double rps = -1;
  bool errors = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "Requests/sec:")) {
      absl::SimpleAtod(absl::StripAsciiWhitespace(line), &rps);
    }
    if (absl::StartsWith(line, "Non-2xx") || absl::StartsWith(line, "Socket errors")) {
      errors = true;
    }
  }
  if (errors) std::printf("  wrk %s reported errors:\n%s\n", url.c_str(), out.c_str());
  return rps;
}

// Context switches (voluntary + involuntary) of every thread of `pid` so far.
double ContextSwitches(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  double total = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream status(absl::StrCat(dir, "/", e->d_name, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      absl::string_view v(line);
      if (absl::ConsumePrefix(&v, "voluntary_ctxt_switches:") ||
          absl::ConsumePrefix(&v, "nonvoluntary_ctxt_switches:")) {
        double n = 0;
        if (absl::SimpleAtod(absl::StripAsciiWhitespace(v), &n)) total += n;
      }
    }
  }
  closedir(d);
  return total;
}

// The port and pid of the one child versiond reports in /healthz.
bool ChildOf(gonka::net::HttpClient& http, VersiondEnv& env, int64_t* port, int64_t* pid) {
  auto health = http.Get(env.Url("/healthz"));
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  if (!health.ok() || parser.parse(health->body).get(list) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element c : list) {
    if (c["port"].get(*port) != simdjson::SUCCESS) return false;
    if (c["pid"].get(*pid) != simdjson::SUCCESS) return false;
  }
  return *pid > 0;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string VersionOf(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view v;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || doc["version"].get(v)) return "";
  return std::string(v);
}

struct Sample {
  double start_ms, end_ms;
  std::string version;
};

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("versiond_bench");
  int swaps = 10, wrk_seconds = 5, connections = 16, threads = 6, work_ms = 20;
  config.AddInt("swaps", &swaps, 10, "binary swaps in part 2").Env("");
  config.AddInt("wrk_seconds", &wrk_seconds, 5, "length of each wrk run").Env("");
  config.AddInt("connections", &connections, 16, "wrk connections").Env("");
  config.AddInt("threads", &threads, 6, "closed-loop clients in part 2").Env("");
  config.AddInt("work_ms", &work_ms, 20, "per-request work of the child in part 1b").Env("");
  bool handoff = true;
  config
      .AddBool("handoff", &handoff, true,
               "part 1 also through a second versiond with --forward-on-server-loop=false (the "
               "forward on a client thread, answers handed back to the server's)")
      .Env("");
  bool forward_on_server_loop = true;
  config
      .AddBool("forward_on_server_loop", &forward_on_server_loop, true,
               "the measured versiond's --forward-on-server-loop (false: compare the swap figure "
               "with the forward on a client thread)")
      .Env("");
  int starting_nice = 10;
  config
      .AddInt("starting_nice", &starting_nice, 10,
              "the measured versiond's --starting-nice (0: compare the swap figure with new "
              "children started at full priority)")
      .Env("");
  if (absl::Status s = config.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  VersiondEnv env("bench");
  std::vector<Variant> variants;
  for (int i = 0; i <= swaps; ++i) variants.push_back(env.MakeVariant(absl::StrCat("b", i)));
  env.SetOracle({{"app", variants[0]}});
  if (absl::Status s = env.StartVersiond(
          {absl::StrCat("--forward-on-server-loop=", forward_on_server_loop ? "true" : "false"),
           absl::StrCat("--starting-nice=", starting_nice)});
      !s.ok()) {
    std::fprintf(stderr, "versiond: %s\n%s\n", s.ToString().c_str(),
                 env.versiond().LogTail().c_str());
    return 1;
  }
  gonka::net::HttpClient http;
  int64_t child_port = 0, child_pid = 0;
  if (!ChildOf(http, env, &child_port, &child_pid)) return 1;
  const pid_t versiond_pid = env.versiond().pid();
  // The same versiond forwarding the old way (a client thread, answers handed back), in front
  // of a child of its own: the cross-thread hand-off's cost, measured in the same rounds.
  VersiondEnv legacy("bench-handoff");
  int64_t legacy_child_port = 0, legacy_child_pid = 0;
  if (handoff) {
    legacy.SetOracle({{"app", legacy.MakeVariant("h0")}});
    if (absl::Status s = legacy.StartVersiond({"--forward-on-server-loop=false"}); !s.ok()) {
      std::fprintf(stderr, "versiond (hand-off): %s\n", s.ToString().c_str());
      return 1;
    }
    if (!ChildOf(http, legacy, &legacy_child_port, &legacy_child_pid)) return 1;
  }
  // The peer: nginx in front of the same child, one worker process (master_process off, so its
  // CPU time is one pid's), keep-alive connections to the child, no access log.
  gonka::testing::TempDir nginx_dir("versiond-bench-nginx");
  const int nginx_port = gonka::testing::FreePort();
  {
    std::ofstream conf(nginx_dir.Join("nginx.conf"));
    const std::string d = nginx_dir.path();
    conf << "master_process off;\nworker_processes 1;\nerror_log " << d << "/error.log warn;\npid "
         << d << "/nginx.pid;\n"
         << "events { worker_connections 4096; }\nhttp {\n  access_log off;\n"
         << "  keepalive_requests 1000000;\n"
         << "  client_body_temp_path " << d << "/body;\n  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << "  upstream child { server 127.0.0.1:" << child_port << "; keepalive 32; }\n"
         << "  server {\n    listen 127.0.0.1:" << nginx_port << ";\n    location / {\n"
         << "      proxy_pass http://child;\n      proxy_http_version 1.1;\n"
         << "      proxy_set_header Connection \"\";\n    }\n  }\n}\n";
  }
  gonka::testing::Subprocess nginx({.argv = {"nginx", "-c", nginx_dir.Join("nginx.conf"), "-p",
                                             nginx_dir.path(), "-g", "daemon off;"},
                                    .log_path = nginx_dir.Join("nginx.log")});
  if (absl::Status s = nginx.Start(); !s.ok()) {
    std::fprintf(stderr, "nginx: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string nginx_url = absl::StrCat("http://127.0.0.1:", nginx_port);
  if (!gonka::testing::WaitFor(
           [&] {
             auto r = http.Get(absl::StrCat(nginx_url, "/version"));
             return r.ok() && r->status == 200;
           },
           absl::Seconds(10))
           .ok()) {
    std::fprintf(stderr, "nginx did not answer /version:\n%s\n", nginx.LogTail().c_str());
    return 1;
  }
  const pid_t nginx_pid = nginx.pid();

  // CPU per request of the proxy and of the child over one wrk run: what a proxied request costs
  // the proxy next to what it costs the child (on 2 shared cores, this bounds the ratio).
  struct Run {
    double rps = 0, proxy_us = 0, child_us = 0, proxy_switches = 0;
  };
  auto measured = [&](const std::string& url, pid_t proxy_pid, int64_t child) {
    const double v0 = proxy_pid > 0 ? gonka::testing::ProcCpuSeconds(proxy_pid) : 0;
    const double s0 = proxy_pid > 0 ? ContextSwitches(proxy_pid) : 0;
    const double c0 = gonka::testing::ProcCpuSeconds(static_cast<pid_t>(child));
    Run run;
    run.rps = Wrk(url, wrk_seconds, connections);
    const double n = std::max(1.0, run.rps * wrk_seconds);
    if (proxy_pid > 0) {
      run.proxy_us = (gonka::testing::ProcCpuSeconds(proxy_pid) - v0) / n * 1e6;
      run.proxy_switches = (ContextSwitches(proxy_pid) - s0) / n;
    }
    run.child_us = (gonka::testing::ProcCpuSeconds(static_cast<pid_t>(child)) - c0) / n * 1e6;
    return run;
  };
  // Alternating direct / versiond / nginx (/ versiond with the hand-off), two rounds each; the
  // better round of each counts.
  struct Best {
    Run direct, versiond, nginx, handoff;
  };
  auto rounds = [&](const std::string& query, const char* what) {
    Best best;
    for (int round = 0; round < 2; ++round) {
      Run d =
          measured(absl::StrCat("http://127.0.0.1:", child_port, "/version", query), 0, child_pid);
      Run v = measured(env.Url(absl::StrCat("/app/version", query)), versiond_pid, child_pid);
      Run g = measured(absl::StrCat(nginx_url, "/version", query), nginx_pid, child_pid);
      Run h;
      if (handoff) {
        h = measured(legacy.Url(absl::StrCat("/app/version", query)), legacy.versiond().pid(),
                     legacy_child_pid);
      }
      double load[3] = {0, 0, 0};
      if (getloadavg(load, 3) < 0) load[0] = -1;
      std::printf(
          "  round %d%s: direct %.0f req/s (child %.1f us CPU/req) | via versiond %.0f req/s "
          "(versiond %.1f + child %.1f us CPU/req, %.2f context switches/req) | via nginx %.0f "
          "req/s (nginx %.1f + child %.1f us CPU/req, %.2f cs/req)",
          round, what, d.rps, d.child_us, v.rps, v.proxy_us, v.child_us, v.proxy_switches, g.rps,
          g.proxy_us, g.child_us, g.proxy_switches);
      if (handoff) {
        std::printf(
            " | via versiond with the hand-off %.0f req/s (versiond %.1f + child %.1f us "
            "CPU/req, %.2f cs/req)",
            h.rps, h.proxy_us, h.child_us, h.proxy_switches);
      }
      std::printf(" | load average %.2f\n", load[0]);
      if (d.rps > best.direct.rps) best.direct = d;
      if (v.rps > best.versiond.rps) best.versiond = v;
      if (g.rps > best.nginx.rps) best.nginx = g;
      if (h.rps > best.handoff.rps) best.handoff = h;
    }
    return best;
  };

  // 1. Proxy overhead.
  std::printf(
      "part 1: wrk -t1 -c%d -d%ds, GET /version direct vs /app/version via versiond vs /version "
      "via nginx\n",
      connections, wrk_seconds);
  const Best trivial = rounds("", "");
  const double direct = trivial.direct.rps, proxied = trivial.versiond.rps;
  const double overhead = direct > 0 ? 1 - proxied / direct : 1;
  const double overhead_nginx = direct > 0 ? 1 - trivial.nginx.rps / direct : 1;
  // The same with a child that spends `work_ms` per request (sleeping, as on a database round
  // trip): the proxy's own cost is then a small part of each request.
  const Best work = rounds(absl::StrCat("?delay_ms=", work_ms),
                           absl::StrCat(", child works ", work_ms, " ms").c_str());
  const double direct_work = work.direct.rps, proxied_work = work.versiond.rps;
  const double overhead_work = direct_work > 0 ? 1 - proxied_work / direct_work : 1;
  const double overhead_work_nginx = direct_work > 0 ? 1 - work.nginx.rps / direct_work : 1;
  nginx.Terminate(absl::Seconds(10)).IgnoreError();
  if (handoff) legacy.versiond().Terminate(absl::Seconds(30)).IgnoreError();

  // 2. Swaps under closed-loop load.
  std::printf("part 2: %d swaps under %d closed-loop clients (POST escrow requests)\n", swaps,
              threads);
  const Clock::time_point t0 = Clock::now();
  const absl::Time wall0 = absl::Now();
  auto ms = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - t0).count();
  };
  std::mutex mu;
  std::vector<Sample> samples;
  int errors = 0;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&, t] {
      gonka::net::HttpClient client;
      while (!stop.load()) {
        Clock::time_point s = Clock::now();
        auto r = client.Post(env.Url(absl::StrCat("/app/v1/escrows/e", t, "/requests")), "{}",
                             "application/json",
                             gonka::net::HttpCallOptions::Timeout(absl::Seconds(10)));
        Clock::time_point e = Clock::now();
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok() || r->status != 200) {
          ++errors;
        } else {
          samples.push_back({ms(s), ms(e), VersionOf(r->body)});
        }
      }
    });
  }
  absl::SleepFor(absl::Seconds(1));
  for (int k = 1; k <= swaps; ++k) {
    env.SetOracle({{"app", variants[k]}});
    const std::string want = absl::StrCat("b", k);
    gonka::testing::WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return !samples.empty() && samples.back().version == want;
        },
        absl::Seconds(30))
        .IgnoreError();
    absl::SleepFor(absl::Milliseconds(1500));
  }
  stop.store(true);
  for (auto& c : clients) c.join();

  std::vector<double> swap_at;
  for (int k = 1; k <= swaps; ++k) {
    const std::string v = absl::StrCat("b", k);
    double first = -1;
    for (const Sample& s : samples) {
      if (s.version == v && (first < 0 || s.start_ms < first)) first = s.start_ms;
    }
    if (first >= 0) swap_at.push_back(first);
  }
  // In flight at a swap: started before the swap instant and ended after it (these hold a
  // lease on the old child across the swap). The swap instant lies before the start of the first
  // request the new binary answered; the last start the old binary answered before it bounds it
  // from below, so "in flight" = start < t_new and end >= t_new: the request that starts at t_new
  // is the new binary's first, which went to the new route (counted "right after"; until
  // 2026-12-04 it was counted in flight too, so each swap's sample held its cold first request).
  // Right after the swap: started within 20 ms after t_new (the new child's first requests, cold
  // process included).
  // A request is "in flight" at an instant when it started before and ended after it. Longer
  // requests are more likely to be in flight at any instant, so the baseline is sampled the same
  // way: requests in flight at control instants 700 ms and 1000 ms after each swap (the old child
  // is reaped by then and the next swap is >= 1.5 s away).
  std::vector<double> at_swap, after_swap, control;
  for (const Sample& s : samples) {
    bool in_flight = false, just_after = false, at_control = false;
    for (double t : swap_at) {
      if (s.start_ms < t && s.end_ms >= t) in_flight = true;
      if (s.start_ms >= t && s.start_ms <= t + 20) just_after = true;
      for (double c : {t + 700, t + 1000}) {
        if (s.start_ms <= c && s.end_ms >= c) at_control = true;
      }
    }
    if (in_flight) at_swap.push_back(s.end_ms - s.start_ms);
    if (just_after) after_swap.push_back(s.end_ms - s.start_ms);
    if (at_control) control.push_back(s.end_ms - s.start_ms);
  }
  std::vector<double> steady;  // every request started > 500 ms from any swap
  for (const Sample& s : samples) {
    double nearest = 1e18;
    for (double t : swap_at) nearest = std::min(nearest, std::abs(s.start_ms - t));
    if (nearest > 500) steady.push_back(s.end_ms - s.start_ms);
  }
  const double p99_swap = Percentile(at_swap, 0.99), p99_steady = Percentile(control, 0.99);

  // The timeline of the swap whose in-flight requests were slowest: versiond's child events
  // (log timestamps) and those requests, in ms from the swap instant — what they waited for.
  {
    struct Event {
      double ms;
      std::string text;
    };
    std::vector<Event> events;
    const std::string log = env.versiond().LogTail(8 << 20);
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      if (!absl::StrContains(line, "msg=\"child state\"") &&
          !absl::StrContains(line, "msg=\"child reaped\"") &&
          !absl::StrContains(line, "msg=\"deploy\"")) {
        continue;
      }
      size_t sp = line.find(' ');
      absl::Time t;
      std::string err;
      std::string stamp(line.substr(0, sp == absl::string_view::npos ? 0 : sp));
      if (absl::EndsWith(stamp, "Z"))
        stamp = absl::StrCat(stamp.substr(0, stamp.size() - 1), "+00:00");
      if (sp == absl::string_view::npos ||
          !absl::ParseTime("%Y-%m-%dT%H:%M:%E*S%Ez", stamp, &t, &err)) {
        continue;
      }
      absl::string_view text = line.substr(sp + 1);
      size_t msg = text.find("msg=");
      if (msg != absl::string_view::npos) text = text.substr(msg);
      events.push_back({absl::ToDoubleMilliseconds(t - wall0), std::string(text)});
    }
    double worst = -1, worst_t = -1;
    for (const Sample& s : samples) {
      for (double t : swap_at) {
        if (s.start_ms < t && s.end_ms >= t && s.end_ms - s.start_ms > worst) {
          worst = s.end_ms - s.start_ms;
          worst_t = t;
        }
      }
    }
    std::printf("  %zu child events in versiond's log (first at %.1f ms, last at %.1f ms)\n",
                events.size(), events.empty() ? 0.0 : events.front().ms,
                events.empty() ? 0.0 : events.back().ms);
    if (worst_t >= 0) {
      std::printf(
          "  timeline of the swap with the slowest in-flight request (at %.1f ms; ms from it):\n",
          worst_t);
      for (const Event& e : events) {
        if (e.ms >= worst_t - 400 && e.ms <= worst_t + 400) {
          std::printf("    %+8.2f  %s\n", e.ms - worst_t, e.text.substr(0, 140).c_str());
        }
      }
      for (const Sample& s : samples) {
        if (s.end_ms >= worst_t - 50 && s.start_ms <= worst_t + 50 &&
            (s.end_ms - s.start_ms > 3 || (s.start_ms <= worst_t && s.end_ms >= worst_t))) {
          std::printf("    request %+8.2f .. %+8.2f (%.2f ms) served by %s\n", s.start_ms - worst_t,
                      s.end_ms - worst_t, s.end_ms - s.start_ms, s.version.c_str());
        }
      }
    }
  }
  const double added = p99_swap - p99_steady;

  // 3. Peak RSS.
  const int64_t hwm_kb = gonka::testing::ProcStatusKb(env.versiond().pid(), "VmHWM");
  const double swaps_total = env.Metric("versiond_swaps_total");
  env.versiond().Terminate(absl::Seconds(30)).IgnoreError();

  {
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
    std::printf("\nresults (load average now %.2f %.2f %.2f: the machine is shared)\n", load[0],
                load[1], load[2]);
  }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0; };
  std::printf(
      "  proxy: direct %.0f req/s, via versiond %.0f req/s, ratio %.3f, overhead %.3f "
      "(limit 0.10) -> %.2fx of the limit\n",
      direct, proxied, ratio(proxied, direct), overhead, overhead / 0.10);
  std::printf("  peer: via nginx %.0f req/s, overhead %.3f; versiond / nginx %.3f req/s\n",
              trivial.nginx.rps, overhead_nginx, ratio(proxied, trivial.nginx.rps));
  std::printf(
      "  CPU per request (best rounds): direct: child %.1f us; via versiond: versiond %.1f us + "
      "child %.1f us; via nginx: nginx %.1f us + child %.1f us -> versiond costs %.2fx the "
      "child and %.2fx nginx per request\n",
      trivial.direct.child_us, trivial.versiond.proxy_us, trivial.versiond.child_us,
      trivial.nginx.proxy_us, trivial.nginx.child_us,
      ratio(trivial.versiond.proxy_us, trivial.versiond.child_us),
      ratio(trivial.versiond.proxy_us, trivial.nginx.proxy_us));
  std::printf("  context switches per request (best rounds): versiond %.2f, nginx %.2f\n",
              trivial.versiond.proxy_switches, trivial.nginx.proxy_switches);
  if (handoff) {
    std::printf(
        "  versiond with the hand-off (forward on a client thread): %.0f req/s, versiond %.1f us "
        "CPU/req, %.2f context switches/req; on the server's loop: %.0f req/s, %.1f us, %.2f\n",
        trivial.handoff.rps, trivial.handoff.proxy_us, trivial.handoff.proxy_switches,
        trivial.versiond.rps, trivial.versiond.proxy_us, trivial.versiond.proxy_switches);
  }
  std::printf(
      "  proxy, child works %d ms: direct %.0f req/s, via versiond %.0f req/s, ratio "
      "%.3f, overhead %.3f (limit 0.10) -> %.2fx of the limit; via nginx %.0f req/s, overhead "
      "%.3f; versiond %.1f us, nginx %.1f us CPU/req\n",
      work_ms, direct_work, proxied_work, ratio(proxied_work, direct_work), overhead_work,
      std::max(0.0, overhead_work) / 0.10, work.nginx.rps, overhead_work_nginx,
      work.versiond.proxy_us, work.nginx.proxy_us);
  std::printf("  swaps: %d done (versiond_swaps_total %.0f), %zu requests, %d errors\n",
              static_cast<int>(swap_at.size()), swaps_total, samples.size(), errors);
  std::printf("  in flight at a swap: %zu requests, p50 %.2f ms, p99 %.2f ms\n", at_swap.size(),
              Percentile(at_swap, 0.5), p99_swap);
  std::printf(
      "  first 20 ms after:   %zu requests, p50 %.2f ms, p99 %.2f ms (new child's "
      "first requests)\n",
      after_swap.size(), Percentile(after_swap, 0.5), Percentile(after_swap, 0.99));
  std::printf("  in flight at control instants: %zu requests, p50 %.2f ms, p99 %.2f ms\n",
              control.size(), Percentile(control, 0.5), p99_steady);
  std::printf("  all steady requests: %zu requests, p50 %.2f ms, p99 %.2f ms\n", steady.size(),
              Percentile(steady, 0.5), Percentile(steady, 0.99));
  std::printf(
      "  route swap adds %.2f ms p99 vs control instants (limit 1 ms) -> %.2fx of the "
      "limit\n",
      added, std::max(0.0, added) / 1.0);
  std::printf("  versiond peak RSS %.1f MB (limit 32 MB) -> %.2fx of the limit\n", hwm_kb / 1024.0,
              hwm_kb / 1024.0 / 32);
  return errors == 0 ? 0 : 1;
}
