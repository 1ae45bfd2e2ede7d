// Fuzz target: the daemon HTTP request path — HttpServer as every daemon runs it, fed raw bytes
// the way a client connection would. One server (plain, prefix, stream and WebSocket routes, an
// admission hook, a small body limit) listens on a loopback port for the whole run; each input
// is written to a new connection, the write side is shut down, and the answer is read to EOF, so
// Beast's request parser, our request conversion (target, query, headers), routing, 404/405/413/
// 426/431/400 answers, keep-alive and pipelining, chunked bodies and the WebSocket upgrade all
// see the bytes. The handlers touch what a real one reads (query parameters, headers, body).
//
// Why a socket rather than a parse function on a buffer: the request path is Beast's
// asynchronous reader driving the server's connection state machine, and a buffer-only seam
// would fuzz a copy of it, not it. Measured (2 shared cores, ASan+UBSan) about 2-4k exec/s,
// enough for 10^6 executions in a few minutes (bench/fuzz/run).
//
// Input: the bytes a client sends. Seeds: testdata/fuzz/http_server_fuzz.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/net/http_server.h"

namespace {

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;
using gonka::net::HttpServer;

HttpServer* StartServer() {
  gonka::net::HttpServerOptions options;
  options.name = "fuzz";
  options.threads = 1;
  options.handler_threads = 1;
  options.max_body_bytes = 4096;  // reachable: 413 paths
  // A client that stops mid-request is cut by its EOF, not by these (kept short all the same).
  options.request_timeout = absl::Seconds(5);
  options.idle_timeout = absl::Seconds(5);
  auto* server = new HttpServer(options);
  server->Handle("GET", "/status", [](const HttpRequest& req) {
    return HttpResponse::Json(
        200, absl::StrCat("{\"height\":\"", req.QueryParam("height").value_or("latest"),
                          "\",\"accept\":\"", req.headers.Get("Accept"), "\"}"));
  });
  server->Handle("POST", "/v1/txs", [](const HttpRequest& req) {
    if (req.headers.Get("Content-Type").empty()) return HttpResponse::Text(415, "type?\n");
    return HttpResponse::Json(202, absl::StrCat("{\"bytes\":", req.body.size(), "}"));
  });
  server->Handle("GET", "/v1/*", [](const HttpRequest& req) {
    std::string out = req.path;
    for (const auto& [k, v] : req.query) absl::StrAppend(&out, "\n", k, "=", v);
    return HttpResponse::Text(200, out);
  });
  server->Handle(
      "GET", "/healthz", [](const HttpRequest&) { return HttpResponse::Text(200, "ok\n"); },
      HttpServer::RouteOptions{.admission = false});
  server->HandleStream("GET", "/events",
                       [](const HttpRequest& req, std::shared_ptr<gonka::net::ResponseStream> s) {
                         s->Write(absl::StrCat("data: ", req.target, "\n\n"));
                         s->Close();
                       });
  server->HandleWebSocket(
      "/ws", [](const HttpRequest&, std::shared_ptr<gonka::net::WebSocketSession> session) {
        std::weak_ptr<gonka::net::WebSocketSession> weak = session;
        session->OnMessage([weak](std::string message) {
          if (auto s = weak.lock()) s->SendText(std::move(message));
        });
      });
  server->SetAdmission([]() -> std::shared_ptr<void> { return std::make_shared<int>(0); });
  absl::Status started = server->Start();
  if (!started.ok()) {
    std::fprintf(stderr, "http_server_fuzz: %s\n", started.ToString().c_str());
    std::abort();
  }
  return server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static HttpServer* const server = StartServer();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's SIGALRM (its -timeout watchdog) interrupts blocking calls: a connect cut by
  // EINTR carries on in the background, so start over on a fresh socket.
  int fd = -1;
  for (;;) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) std::abort();
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
    if (errno != EINTR) {
      std::perror("http_server_fuzz: connect");
      std::abort();
    }
    close(fd);
  }
  // The server must answer (or close) after the client's EOF; far longer than any path needs.
  timeval tv{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server closed early (e.g. 400 or 413): fine
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::fprintf(stderr, "http_server_fuzz: no EOF from the server within 20 s\n");
      std::abort();
    }
    break;  // EOF or reset
  }
  // Reset instead of TIME_WAIT: a million connections would exhaust the ephemeral ports.
  linger lg{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
  return 0;
}
