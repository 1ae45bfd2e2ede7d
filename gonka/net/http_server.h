// HttpServer: an HTTP/1.1 server on Boost.Beast/Asio with plain, streaming (chunked, for
// Server-Sent Events) and WebSocket routes, keep-alive, per-request timeouts, an admission hook
// for drain, and a graceful stop.
//
//   HttpServer server({.name = "edge-api", .port = 8080});
//   server.Handle("GET", "/healthz", [](const HttpRequest&) { return HttpResponse::Text(200, "ok");
//   }); server.HandleStream("GET", "/events", [&](const HttpRequest&,
//   std::shared_ptr<ResponseStream> s) {
//     hub.Subscribe(s);                       // the hub calls s->Write(SseEvent(...)) later
//   });
//   server.SetAdmission(drain.AdmissionHook());
//   RETURN_IF_ERROR(server.Start());
//   ... server.SetDraining(true);   // announce: still serving, keep-alive ends per response
//   ... server.StopAccepting();     // after the announce window: refuse, close idle connections
//   ... server.Stop(absl::Now() + grace);
//
// Routing: an exact path ("/status") or a prefix written with a trailing '*' ("/v1/*" matches
// every path starting with "/v1/"), per method. The most specific route whose method matches
// wins (exact, then longest prefix). A path some route matches but no route for that method
// → 405 with `Allow`; no route → 404. Paths are matched as received (not percent-decoded).
//
// Per request: the whole request must arrive and a plain handler must return within
// `request_timeout` (else 408 for a slow request, 503 for a slow handler, and the connection
// closes). A body over `max_body_bytes` is answered 413 as soon as the excess is known (the
// declared Content-Length, or while reading a chunked body) and the connection closes.
// Idle keep-alive connections close after `idle_timeout`.
//
// Admission: when a hook is set it is called once per routed request (plain, stream or
// WebSocket). Its result is kept alive until the response is fully written — or, for streams and
// WebSocket sessions, until they end — and also until the handler returns; nullptr means
// "refuse": 503 with `Connection: close`. 404/405 answers do not consult the hook.
//
// Threads: `threads` I/O threads run Beast; handlers run on a separate pool of
// `handler_threads`, so a handler may block (e.g. on an upstream call) without stalling I/O.
// An asynchronous route (HandleAsync) runs its handler on the I/O thread; it must not block and
// answers later through a Responder from any thread (a reverse proxy then holds no thread per
// request in flight, and pays no hand-off to the pool).
//
//   server.HandleAsync("GET", "/up/*", [&](const HttpRequest& r, std::shared_ptr<Responder> out) {
//     upstream.Request(..., [out](HttpResponse res) { out->Respond(std::move(res)); });
//   });
// A route's optional prepared and inline handlers (RouteOptions) run on the I/O thread first,
// for answers already in memory (a cache hit then costs no thread hand-off).
// A reverse proxy can also run its upstream sockets on the server's own event loop: pass
// `out->executor()` to AsyncHttpClient (AsyncRequest::executor) and the upstream answer is read
// by the server's own I/O threads and completes on the client connection's executor, so
// Respond() from its callback wakes no other thread (no hand-off per request).
// ResponseStream and WebSocketSession are thread-safe. WebSocket message/close callbacks and
// ResponseStream close callbacks run on I/O threads and must not block.
// All HttpServer methods are thread-safe; routes may be added at any time.
#ifndef GONKA_NET_HTTP_SERVER_H_
#define GONKA_NET_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/http_message.h"

namespace gonka {
namespace net {

// An event loop of gonka/net (gonka/net/internal/io_executor.h), handed from HttpServer to
// AsyncHttpClient; opaque to everyone else.
struct IoExecutor;

struct HttpServerOptions {
  // Label `server` on the gonka_http_server_* metrics.
  std::string name = "http";
  std::string bind_address = "127.0.0.1";
  // 0 picks a free port; port() returns the bound one.
  int port = 0;
  // I/O threads, at most one per CPU the process may run on (its affinity mask): more only add
  // context switches between them.
  int threads = 2;
  // Threads that run handlers (plain, stream and WebSocket-accept handlers).
  int handler_threads = 8;
  // Largest accepted request body (and WebSocket message). Larger → 413.
  size_t max_body_bytes = 8 << 20;
  // Reading one request plus running its plain handler. Streams and WebSockets are exempt once
  // their handler is called.
  absl::Duration request_timeout = absl::Seconds(30);
  // A keep-alive connection waiting for its next request closes after this. A WebSocket with no
  // traffic for half of it gets a ping, and is closed if nothing arrives by the full period.
  absl::Duration idle_timeout = absl::Seconds(60);
  // Bytes a ResponseStream or WebSocketSession may have queued but unsent; a client too slow to
  // keep up beyond this is disconnected (Write/SendText return false).
  size_t max_stream_buffer_bytes = 8 << 20;
};

// The body of a streaming response, sent with chunked transfer encoding. Defaults: status 200,
// `Content-Type: text/event-stream`, `Cache-Control: no-cache`; change them before the first
// Write(). The status line and headers go out at the first Write(), at Close(), or when the
// handler returns, whichever is first. The stream ends on Close(), when the last reference is
// dropped, when the client disconnects, or when the server stops; the connection then closes
// (stream responses are never kept alive). Thread-safe.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;

  // Before the headers are sent; ignored afterwards.
  virtual void SetStatus(int status) = 0;
  virtual void SetHeader(absl::string_view name, absl::string_view value) = 0;

  // Queues `chunk`. Returns false when the stream has ended (client gone, closed, server
  // stopped, or this write would exceed max_stream_buffer_bytes, which ends the stream).
  // An empty chunk is a no-op.
  virtual bool Write(absl::string_view chunk) = 0;
  // Sends what is queued, then the final chunk. Idempotent.
  virtual void Close() = 0;
  // True once the stream has ended or Close() was called.
  virtual bool closed() const = 0;
  // Runs once when the stream ends (on an I/O thread), or at once if it already has.
  virtual void OnClose(std::function<void()> callback) = 0;
};

// A server-side WebSocket connection (text messages). Set the callbacks inside the
// WebSocketHandler: messages are read only after it returns. The session stays open until
// either side closes it or the server stops; holding a reference is not required (capture it in
// the callbacks to reply). Beast answers pings and pings idle clients. Thread-safe.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;

  // Queues a text message. False when the session has ended or is closing (or the queue would
  // exceed max_stream_buffer_bytes, which ends the session).
  virtual bool SendText(std::string text) = 0;
  // Sends what is queued, then a normal close frame. Idempotent.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // Each received text (or binary) message, in order, on an I/O thread.
  virtual void OnMessage(std::function<void(std::string message)> callback) = 0;
  // Once, when the session ends: OK for a clean close by either side, otherwise why it failed.
  virtual void OnClose(std::function<void(const absl::Status& status)> callback) = 0;
  virtual const std::string& remote_address() const = 0;
};

// The answer to an asynchronous request (HttpServer::HandleAsync). The handler gets one, returns
// at once, and later — from any thread — calls exactly one of Respond, Stream or Defer. Calls
// after the first are ignored. Dropping the last reference without answering sends 500. The
// request timeout still applies: no answer within `request_timeout` of the request's arrival →
// 503 and the connection closes (a later answer is ignored). The admission guard is held until
// the response has been written (for Stream: until the stream ends). Thread-safe.
class Responder {
 public:
  virtual ~Responder() = default;
  // Sends `response` as a plain handler's return value would be sent (keep-alive as usual).
  virtual void Respond(HttpResponse response) = 0;
  // Answers with a streaming response instead: `body` runs on the handler pool (it may block,
  // as a stream handler does) and gets the stream.
  virtual void Stream(std::function<void(std::shared_ptr<ResponseStream>)> body) = 0;
  // Answers with what `work` returns, run on the handler pool (it may block): for requests the
  // asynchronous path cannot serve at once.
  virtual void Defer(std::function<HttpResponse()> work) = 0;
  // The executor of the connection the request arrived on, for AsyncRequest::executor: an
  // upstream call made with it runs its socket on the server's event loop and completes on
  // this connection's executor (serialised with the connection's own handlers), so answering
  // from its callback is no cross-thread hand-off. Valid while this Responder lives; nullptr
  // when there is none to offer.
  virtual const IoExecutor* executor() const { return nullptr; }
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  using StreamHandler = std::function<void(const HttpRequest&, std::shared_ptr<ResponseStream>)>;
  using WebSocketHandler =
      std::function<void(const HttpRequest&, std::shared_ptr<WebSocketSession>)>;
  // Runs on an I/O thread and must not block: it starts the work (e.g. an asynchronous upstream
  // call) and returns; the answer goes through the Responder (see above). Copy from the request
  // what the work needs: the reference is valid only during the call. No handler thread is held
  // while the request waits, so thousands can be in flight.
  using AsyncHandler = std::function<void(const HttpRequest&, std::shared_ptr<Responder>)>;
  // Returns a guard held for the request's lifetime, or nullptr to refuse with 503.
  using AdmissionHook = std::function<std::shared_ptr<void>()>;

  struct Stats {
    uint64_t connections_accepted = 0;
    int64_t open_connections = 0;
    int64_t in_flight = 0;  // plain requests being read, handled or answered
    int64_t open_streams = 0;
    int64_t open_websockets = 0;
    uint64_t requests = 0;  // responses started (all codes)
  };

  explicit HttpServer(HttpServerOptions options = {});
  // Stop(absl::Now()): open streams and sessions are cut.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // InvalidArgument naming the field for bad options.
  static absl::Status Validate(const HttpServerOptions& options);

  // Runs on an I/O thread before `handler`: returns the response, or nullopt to pass the
  // request to `handler` on the handler pool. It must never block (no I/O, no lock held across
  // I/O): a blocked I/O thread stalls every connection it serves. For answers already in memory,
  // e.g. a cache hit, which then cost no thread hand-off.
  using InlineHandler = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

  // Like InlineHandler (on an I/O thread, never blocking), for answers prepared once and sent to
  // many requests: returns the prepared response, or nullptr to pass the request on (to the
  // inline handler, then `handler`). The server sends the prepared bytes as they are on an
  // HTTP/1.1 keep-alive exchange, and an equal response built from them otherwise (HEAD,
  // HTTP/1.0, a closing or draining connection).
  using PreparedHandler =
      std::function<std::shared_ptr<const PreparedResponse>(const HttpRequest&)>;

  struct RouteOptions {
    // False: the admission hook is not consulted (health, readiness, metrics and drain-status
    // endpoints must answer while the instance drains).
    bool admission = true;
    // Optional (plain routes): tried first on the I/O thread, see PreparedHandler.
    PreparedHandler prepared_handler;
    // Optional (plain routes): tried next on the I/O thread, see InlineHandler.
    InlineHandler inline_handler;
  };

  void Handle(absl::string_view method, absl::string_view path, Handler handler);
  void Handle(absl::string_view method, absl::string_view path, Handler handler,
              RouteOptions options);
  void HandleStream(absl::string_view method, absl::string_view path, StreamHandler handler);
  // An asynchronous route (AsyncHandler, Responder). `options.admission` applies; the prepared
  // and inline handlers are not used.
  void HandleAsync(absl::string_view method, absl::string_view path, AsyncHandler handler);
  void HandleAsync(absl::string_view method, absl::string_view path, AsyncHandler handler,
                   RouteOptions options);
  // GET with `Upgrade: websocket`; a plain GET on the path gets 426.
  void HandleWebSocket(absl::string_view path, WebSocketHandler handler);
  // nullptr handler clears it.
  void SetAdmission(AdmissionHook hook);

  // Binds, listens and starts the threads. InvalidArgument for bad options or address;
  // Unavailable naming address:port when it cannot be bound (e.g. in use); FailedPrecondition
  // when called twice.
  absl::Status Start();
  // The bound port (after Start()), else 0.
  int port() const;
  // The server's event loop (its I/O threads, once Start() has run them), for
  // AsyncHttpClient::Warm(..., executor): connections opened with it join the pool that calls
  // made with a Responder's executor() draw from. Never null; valid until the server is
  // destroyed. Work given to it before Start() or after Stop() does not run (a Warm() then
  // returns at its timeout with 0): use it while the server runs. The server must outlive
  // every AsyncHttpClient that used it (their pooled sockets belong to its loop).
  const IoExecutor* io_executor() const;

  // While draining, every response carries `Connection: close` and its connection closes after
  // it, so keep-alive clients reconnect elsewhere. Idle keep-alive connections are NOT closed
  // here: a router (HAProxy) may be sending a request on one at this very moment, and closing it
  // would turn that request into an empty response the router must not replay (a POST) — they
  // stay open until their next response (sent with `Connection: close`) or until the listener
  // closes. New connections are still accepted. Can be turned off again.
  void SetDraining(bool draining);
  bool draining() const;
  // Closes the listening socket: new connections are refused (never reset: the kernel's accept
  // backlog is served first). Idle keep-alive connections close now; one accepted that has not
  // sent its first request yet gets 1 s to send it. Requests, streams and WebSocket sessions in
  // progress carry on; every response from now on carries `Connection: close`. Call it once the
  // routers have stopped sending here (after the drain announce window).
  void StopAccepting();
  // StopAccepting() if not done yet, then lets in-flight requests, streams and WebSocket sessions
  // finish until `deadline`, then cuts the rest (WebSockets get a going-away close) and joins
  // all threads. Running handlers are waited for: they must return. Returns true when
  // everything finished before the deadline. Idempotent; the server cannot be restarted.
  bool Stop(absl::Time deadline);

  Stats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_HTTP_SERVER_H_
