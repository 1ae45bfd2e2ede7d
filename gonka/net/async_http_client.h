// AsyncHttpClient: a plain-HTTP/1.1 client whose calls return at once and complete through a
// callback, with a keep-alive connection pool per endpoint. For a reverse proxy in front of
// loopback children (versiond): an asynchronous HttpServer route forwards a request here and
// answers from the callback, so no thread waits while the upstream works.
//
//   AsyncHttpClient client({.name = "versiond"});
//   client.Request({.port = 5000, .method = "GET", .target = "/version"},
//                  [out](absl::StatusOr<HttpResponse> res) { ... out->Respond(...); });
//   client.Warm(5000, "/healthz", 8, absl::Seconds(2));   // 8 pooled connections, blocking
//
// Contract:
// - One request per connection at a time; an idle pooled connection is reused (after checking
//   the peer has not closed it), else a new one is opened. At most `max_idle_per_endpoint` idle
//   connections are kept per endpoint; an idle one closes after `idle_timeout`.
// - A reused connection found closed before any response byte (the peer closed it while idle)
//   is retried once on a new connection when the request is idempotent (or not written at all).
// - Errors (as absl::Status): the deadline → DeadlineExceeded; refused/reset/EOF → Unavailable;
//   a response over `max_body_bytes` → ResourceExhausted. They name "METHOD host:port target".
// - The callback runs once, on one of the client's own I/O threads — or, for a call made with
//   AsyncRequest::executor, on that executor — and must not block.
// - The destructor cancels calls still running (their callbacks get Cancelled) and joins; it
//   also waits for a callback a caller's loop is running at that moment. After it no callback
//   runs.
// - On the caller's event loop (AsyncRequest::executor, e.g. HttpServer's Responder::executor()):
//   the call's socket belongs to that loop and every completion, the callback included, runs
//   on that executor, so a reverse proxy answering from the callback crosses no thread. Such
//   connections are pooled per loop (Warm() can fill that pool). The loop's owner must outlive
//   the client (its pooled sockets belong to the loop): declare the HttpServer first.
// - Metrics (process-wide registry, label client=<name>):
//   gonka_async_http_client_idle_connections, _requests_in_flight, _connections_opened_total,
//   _stale_retries_total, _deadline_expiries_total, _requests_total{result=ok|error}.
// No TLS (loopback children only); no proxy, no redirects; the response body is buffered whole
// unless the request streams it (AsyncRequest::on_body).
//
// Thread-safety: thread-safe.
#ifndef GONKA_NET_ASYNC_HTTP_CLIENT_H_
#define GONKA_NET_ASYNC_HTTP_CLIENT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/http_message.h"

namespace gonka {
namespace net {

// An event loop (HttpServer::io_executor(), Responder::executor()); opaque here.
struct IoExecutor;

struct AsyncHttpClientOptions {
  std::string name = "async-http";
  // I/O threads.
  int threads = 1;
  int max_idle_per_endpoint = 256;
  absl::Duration idle_timeout = absl::Seconds(30);
  size_t max_body_bytes = 64 << 20;
  // A request that finds a pooled connection is written from the calling thread (a
  // non-blocking send; what does not fit continues on the I/O thread) and its read is started
  // there: the I/O thread is woken only by the answer, not also by the hand-off of the request
  // (one cross-thread wake-up fewer per request). Streamed requests are always handed off.
  bool send_on_caller_thread = false;
};

struct AsyncRequest {
  std::string host = "127.0.0.1";  // an IP address (no name resolution)
  int port = 0;
  std::string method = "GET";
  std::string target = "/";
  HttpHeaders headers;  // Host and Content-Length are set by the client
  std::string body;
  absl::Duration timeout = absl::Seconds(30);
  // Unset: GET, HEAD, OPTIONS, PUT, DELETE count as idempotent.
  bool idempotent = false;
  // Streaming (Server-Sent Events, chunked answers): when `on_body` is set, the status and
  // headers go to `on_head` (if set) as soon as they are in, and each body piece, as it arrives,
  // to `on_body` (return false to stop: the connection is closed and the call ends Cancelled);
  // the callback then gets the status and headers with an empty body. `timeout` bounds the wait
  // for the head and then each gap between pieces (there is no overall deadline); `max_body_bytes`
  // does not apply. The connection is not pooled afterwards. Both run on the client's I/O thread
  // and must not block.
  std::function<void(const HttpResponse& head)> on_head;
  std::function<bool(absl::string_view piece)> on_body;
  // Optional: run the call on this event loop instead of the client's own I/O thread (see the
  // contract above). Read during Request() only. nullptr: the client's own loop.
  const IoExecutor* executor = nullptr;
};

class AsyncHttpClient {
 public:
  using Callback = std::function<void(absl::StatusOr<HttpResponse>)>;

  explicit AsyncHttpClient(AsyncHttpClientOptions options = {});
  ~AsyncHttpClient();
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  void Request(AsyncRequest request, Callback done);
  // Opens `connections` new pooled connections to 127.0.0.1:`port` (each by a concurrent GET of
  // `path` on a connection of its own, never an idle one) and waits for them (at most
  // `timeout`). Returns how many answered 2xx. With
  // `executor` (HttpServer::io_executor(), a running server's) they join that loop's pool.
  int Warm(int port, const std::string& path, int connections, absl::Duration timeout,
           const IoExecutor* executor = nullptr);
  // Closes the idle connections to 127.0.0.1:`port`, in every loop's pool (e.g. its child was
  // stopped).
  void DropEndpoint(int port);
  // Idle connections to 127.0.0.1:`port` right now.
  int IdleConnections(int port) const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_ASYNC_HTTP_CLIENT_H_
