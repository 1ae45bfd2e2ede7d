// test_child: a tiny child for the supervisor's tests, following Gonka's child contract.
//
//   test_child --port N --data-dir DIR      serve until SIGTERM
//   test_child --print-storage-mode         print $TEST_CHILD_STORAGE_MODE (default "postgres")
//
// Public port N: GET /healthz, GET /version ("<version> <pid>"), GET /slow?ms=M (answers after M
// ms; 503 instead when refuse_version is this child's version), GET /sse?n=K&interval_ms=M (K
// events, then the stream ends), POST /echo. Admin (port N, or the address in
// $DEVSHARD_ADMIN_ADDR): GET /ready, POST /drain, GET /drain/status
// ({"ready":..,"draining":..,"inflight":n}). While draining, public requests get 503 and
// /ready 503; admitted requests finish. Environment: TEST_CHILD_VERSION (the body of /version),
// TEST_CHILD_NEVER_READY=1 (/ready always 503), TEST_CHILD_READY_AFTER_MS=M (/ready 503 "still
// starting" for M ms), TEST_CHILD_CRASH_AT_START=1 (exit 3 before
// binding), TEST_CHILD_CRASH_AT_START_FILE=path (the same while that file exists),
// TEST_CHILD_IGNORE_SIGTERM=1,
// TEST_CHILD_EXIT_AFTER_MS=M (exit 3 on its own after M ms; with TEST_CHILD_EXIT_ONCE=1 only the
// first start in a data dir does).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/net/http_server.h"
#include "gonka/supervisor/child_contract.h"

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;
using gonka::net::ResponseStream;
using gonka::supervisor::ChildContract;
using gonka::supervisor::EnvOr;
using gonka::supervisor::IntParam;

int main(int argc, char** argv) {
  int port = -1;
  std::string data_dir;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--print-storage-mode") {
      std::printf("%s\n", EnvOr("TEST_CHILD_STORAGE_MODE", "postgres").c_str());
      return 0;
    }
    if (arg == "--port" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &port)) port = -1;
    } else if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    }
  }
  if (port < 0 || data_dir.empty()) {
    std::fprintf(stderr, "usage: test_child --port N --data-dir DIR\n");
    return 2;
  }
  const std::string crash_file = EnvOr("TEST_CHILD_CRASH_AT_START_FILE");
  if (EnvOr("TEST_CHILD_CRASH_AT_START") == "1" ||
      (!crash_file.empty() && access(crash_file.c_str(), F_OK) == 0)) {
    std::fprintf(stderr, "test_child: crash at start\n");
    return 3;  // before binding anything: it can never answer /ready
  }
  const sigset_t signals = ChildContract::BlockTermSignals();
  const std::string version = EnvOr("TEST_CHILD_VERSION", "v0");
  int ready_after_ms = 0;
  if (!absl::SimpleAtoi(EnvOr("TEST_CHILD_READY_AFTER_MS", "0"), &ready_after_ms)) {
    ready_after_ms = 0;
  }
  auto contract = ChildContract::Create({.name = "test_child",
                                         .port = port,
                                         .never_ready = EnvOr("TEST_CHILD_NEVER_READY") == "1",
                                         .ready_after = absl::Milliseconds(ready_after_ms)});
  if (!contract.ok()) {
    std::fprintf(stderr, "test_child: %s\n", contract.status().ToString().c_str());
    return 2;
  }
  gonka::net::HttpServer& pub = (*contract)->pub();
  pub.Handle("GET", "/version", [&](const HttpRequest&) {
    return HttpResponse::Text(200, absl::StrCat(version, " ", getpid()));
  });
  pub.Handle("POST", "/echo", [&](const HttpRequest& req) {
    return HttpResponse::Text(200, absl::StrCat(version, " ", req.body));
  });
  pub.Handle("GET", "/slow", [&](const HttpRequest& req) {
    // until_file=P: answers once file P exists (at most `ms` later); else after `ms`.
    const std::string until_file = req.QueryParam("until_file").value_or("");
    const absl::Time deadline = absl::Now() + absl::Milliseconds(IntParam(req, "ms", 500));
    while (absl::Now() < deadline &&
           (until_file.empty() || access(until_file.c_str(), F_OK) != 0)) {
      absl::SleepFor(std::min(absl::Milliseconds(10), deadline - absl::Now()));
    }
    // refuse_version=V: the child of version V answers 503 (as a draining child would).
    const int status = req.QueryParam("refuse_version") == version ? 503 : 200;
    return HttpResponse::Text(status, absl::StrCat(version, " ", getpid()));
  });
  pub.HandleStream("GET", "/sse", [&](const HttpRequest& req, std::shared_ptr<ResponseStream> s) {
    const int n = IntParam(req, "n", 5);
    const int interval_ms = IntParam(req, "interval_ms", 100);
    // Writes from a thread of its own; the stream (and the admission guard) lives until Close.
    std::thread([s, n, interval_ms, version] {
      for (int i = 0; i < n; ++i) {
        if (!s->Write(
                absl::StrCat("id: ", i, "\ndata: ", version, " ", getpid(), " ", i, "\n\n"))) {
          return;
        }
        absl::SleepFor(absl::Milliseconds(interval_ms));
      }
      s->Close();
    }).detach();
  });
  if (auto s = (*contract)->Start(); !s.ok()) {
    std::fprintf(stderr, "test_child: %s\n", s.ToString().c_str());
    return 1;
  }
  int exit_after_ms = 0;
  // TEST_CHILD_EXIT_ONCE=1: only the first start in this data dir exits (a marker file records it).
  const std::string marker = data_dir + "/exited-once";
  bool exit_now = EnvOr("TEST_CHILD_EXIT_ONCE") != "1" || access(marker.c_str(), F_OK) != 0;
  if (exit_now && EnvOr("TEST_CHILD_EXIT_ONCE") == "1") {
    if (FILE* f = std::fopen(marker.c_str(), "w")) std::fclose(f);
  }
  if (exit_now && absl::SimpleAtoi(EnvOr("TEST_CHILD_EXIT_AFTER_MS"), &exit_after_ms) &&
      exit_after_ms > 0) {
    std::thread([exit_after_ms] {
      absl::SleepFor(absl::Milliseconds(exit_after_ms));
      std::_Exit(3);
    }).detach();
  }
  (*contract)->WaitForSignalAndStop(signals, absl::Seconds(10),
                                    EnvOr("TEST_CHILD_IGNORE_SIGTERM") == "1");
  return 0;
}
