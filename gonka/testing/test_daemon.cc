// A small daemon for drain and rollout tests: the Daemon runtime plus a slow endpoint and an SSE
// endpoint.
//   GET /slow?ms=N            200 "ok <instance>" after N ms
//   GET /events?n=N&ms=M      SSE: N events M ms apart (data = sequence number), then the end
//   POST /echo                the body back
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/drain/daemon.h"
#include "gonka/net/sse.h"

namespace {

int IntParam(const gonka::net::HttpRequest& req, const char* name, int fallback) {
  int value = fallback;
  if (auto raw = req.QueryParam(name)) {
    if (!absl::SimpleAtoi(*raw, &value)) value = fallback;
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "test-daemon", .default_port = 18080});
  std::string instance;
  daemon.config().AddString("instance", &instance, "a", "name echoed in responses");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;

  daemon.server().Handle("GET", "/slow", [&instance](const gonka::net::HttpRequest& req) {
    std::this_thread::sleep_for(std::chrono::milliseconds(IntParam(req, "ms", 0)));
    return gonka::net::HttpResponse::Text(200, absl::StrCat("ok ", instance));
  });
  daemon.server().Handle("POST", "/echo", [](const gonka::net::HttpRequest& req) {
    return gonka::net::HttpResponse::Text(200, req.body);
  });
  daemon.server().HandleStream(
      "GET", "/events",
      [](const gonka::net::HttpRequest& req, std::shared_ptr<gonka::net::ResponseStream> stream) {
        int n = IntParam(req, "n", 10);
        int ms = IntParam(req, "ms", 10);
        // Streams run on their own thread; the stream holds its drain guard until Close().
        std::thread([stream, n, ms] {
          for (int i = 0; i < n; ++i) {
            if (!stream->Write(gonka::net::SseEvent(absl::StrCat(i), "tick", absl::StrCat(i)))) {
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
          }
          stream->Close();
        }).detach();
      });
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
