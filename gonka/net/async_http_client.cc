#include "gonka/net/async_http_client.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/metrics.h"
#include "gonka/net/internal/asio_status.h"
#include "gonka/net/internal/io_executor.h"

namespace gonka {
namespace net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

bool DefaultIdempotent(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE";
}

// The peer has not closed an idle connection and sent nothing unsolicited: a non-blocking peek
// sees a FIN (0) or stray bytes without consuming them.
bool LooksReusable(tcp::socket& socket) {
  if (!socket.is_open()) return false;
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string Key(const std::string& host, int port) { return absl::StrCat(host, ":", port); }

}  // namespace

// The client's metrics (process-wide registry, label client=<name>; clients of one name share
// them, so the gauges move by increments).
struct AsyncClientMetrics {
  explicit AsyncClientMetrics(const std::string& name)
      : idle(prometheus::BuildGauge()
                 .Name("gonka_async_http_client_idle_connections")
                 .Help("Keep-alive connections pooled (idle) by the asynchronous HTTP client")
                 .Register(metrics::Registry())
                 .Add({{"client", name}})),
        in_flight(prometheus::BuildGauge()
                      .Name("gonka_async_http_client_requests_in_flight")
                      .Help("Requests of the asynchronous HTTP client not yet completed")
                      .Register(metrics::Registry())
                      .Add({{"client", name}})),
        connects(prometheus::BuildCounter()
                     .Name("gonka_async_http_client_connections_opened_total")
                     .Help("TCP connections opened by the asynchronous HTTP client")
                     .Register(metrics::Registry())
                     .Add({{"client", name}})),
        stale_retries(prometheus::BuildCounter()
                          .Name("gonka_async_http_client_stale_retries_total")
                          .Help("Requests sent again on a new connection because the pooled one "
                                "was found closed by the peer")
                          .Register(metrics::Registry())
                          .Add({{"client", name}})),
        deadline_expiries(prometheus::BuildCounter()
                              .Name("gonka_async_http_client_deadline_expiries_total")
                              .Help("Requests of the asynchronous HTTP client that failed at "
                                    "their deadline (a stream: its idle timeout)")
                              .Register(metrics::Registry())
                              .Add({{"client", name}})),
        requests(prometheus::BuildCounter()
                     .Name("gonka_async_http_client_requests_total")
                     .Help("Completed requests of the asynchronous HTTP client, by result "
                           "(ok or error)")
                     .Register(metrics::Registry())),
        ok(requests.Add({{"client", name}, {"result", "ok"}})),
        error(requests.Add({{"client", name}, {"result", "error"}})) {}

  prometheus::Gauge& idle;
  prometheus::Gauge& in_flight;
  prometheus::Counter& connects;
  prometheus::Counter& stale_retries;
  prometheus::Counter& deadline_expiries;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Counter& ok;
  prometheus::Counter& error;
};

class AsyncHttpClient::Impl : public std::enable_shared_from_this<AsyncHttpClient::Impl> {
 public:
  explicit Impl(AsyncHttpClientOptions options)
      : options_(std::move(options)), metrics_(options_.name) {
    work_.emplace(ioc_.get_executor());
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
  }

  struct Exchange;

  void Request(AsyncRequest request, Callback done, bool fresh = false);
  int Warm(int port, const std::string& path, int connections, absl::Duration timeout,
           const IoExecutor* executor);

  // A pool per endpoint and event loop: `loop` is the execution context of a caller's loop
  // (AsyncRequest::executor), nullptr for the client's own.
  using PoolKey = std::pair<std::string, const void*>;

  std::unique_ptr<tcp::socket> TakeIdle(const PoolKey& key) {
    const auto now = std::chrono::steady_clock::now();
    absl::MutexLock lock(&mu_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    while (!it->second.empty()) {
      Idle idle = std::move(it->second.back());
      it->second.pop_back();
      metrics_.idle.Decrement();
      if (now - idle.since < absl::ToChronoNanoseconds(options_.idle_timeout) &&
          LooksReusable(*idle.socket)) {
        return std::move(idle.socket);
      }
      CloseSocket(std::move(idle.socket));
    }
    return nullptr;
  }

  void PutIdle(const PoolKey& key, std::unique_ptr<tcp::socket> socket) {
    if (stopping_.load()) return CloseSocket(std::move(socket));
    absl::MutexLock lock(&mu_);
    std::deque<Idle>& list = idle_[key];
    if (static_cast<int>(list.size()) >= options_.max_idle_per_endpoint) {
      CloseSocket(std::move(list.front().socket));
      list.pop_front();
      metrics_.idle.Decrement();
    }
    list.push_back(Idle{std::move(socket), std::chrono::steady_clock::now()});
    metrics_.idle.Increment();
  }

  // Every pool of the endpoint `key` (all loops).
  void Drop(const std::string& key) {
    std::deque<Idle> list;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = idle_.lower_bound(PoolKey(key, nullptr));
           it != idle_.end() && it->first.first == key;) {
        metrics_.idle.Decrement(static_cast<double>(it->second.size()));
        for (Idle& idle : it->second) list.push_back(std::move(idle));
        it = idle_.erase(it);
      }
    }
    for (Idle& idle : list) CloseSocket(std::move(idle.socket));
  }

  int IdleCount(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (auto it = idle_.lower_bound(PoolKey(key, nullptr));
         it != idle_.end() && it->first.first == key; ++it) {
      n += static_cast<int>(it->second.size());
    }
    return n;
  }

  // A socket is closed on its own executor (another of its handlers may be running).
  static void CloseSocket(std::unique_ptr<tcp::socket> socket) {
    if (socket == nullptr) return;
    auto executor = socket->get_executor();
    asio::post(executor, [s = std::shared_ptr<tcp::socket>(std::move(socket))] {
      beast::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    });
  }

  uint64_t Register(const std::shared_ptr<Exchange>& exchange);
  void Unregister(uint64_t id) {
    absl::MutexLock lock(&mu_);
    if (active_.erase(id) > 0) metrics_.in_flight.Decrement();
  }

  void Shutdown();

  const AsyncHttpClientOptions options_;
  AsyncClientMetrics metrics_;
  std::atomic<bool> stopping_{false};
  // Callbacks being run (Exchange::Claim() to the end of the callback): Shutdown() waits for
  // those running on callers' loops.
  std::atomic<int> callbacks_running_{0};

 private:
  struct Idle {
    std::unique_ptr<tcp::socket> socket;
    std::chrono::steady_clock::time_point since;
  };
  mutable absl::Mutex mu_;
  std::map<PoolKey, std::deque<Idle>> idle_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::weak_ptr<Exchange>> active_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;

 public:
  // Declared last: destroyed first.
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
};

// One request: connect (or reuse) → write → read → pool the connection → callback.
// Every handler of an exchange runs on `ex`: the socket's own strand on the client's loop, or,
// with AsyncRequest::executor, the caller's executor (a strand made on it unless it is serial)
// while the socket belongs to the caller's loop. Handlers are bound to `ex` explicitly, so a
// pooled socket of a caller's loop serves any executor of that loop.
struct AsyncHttpClient::Impl::Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(std::shared_ptr<Impl> owner, AsyncRequest req, Callback cb)
      : impl(owner.get()), request(std::move(req)), done(std::move(cb)) {
    if (request.executor != nullptr) {
      keep = std::move(owner);
      loop_ex = request.executor->executor;
      ex = request.executor->serial ? loop_ex : asio::any_io_executor(asio::make_strand(loop_ex));
      pool.second = &asio::query(loop_ex, asio::execution::context);
      request.executor = nullptr;  // the caller's; valid during Request() only
    }
    key = Key(request.host, request.port);
    pool.first = key;
    idempotent = request.idempotent || DefaultIdempotent(request.method);
    context = absl::StrCat(request.method, " ", key, request.target);
    message.method_string(request.method);
    message.target(request.target);
    message.version(11);
    for (const auto& [name, value] : request.headers) message.insert(name, value);
    message.set(http::field::host, key);
    message.body() = request.body;
    message.keep_alive(true);
    message.prepare_payload();
  }

  bool foreign() const { return pool.second != nullptr; }

  // A new socket: on the caller's loop, or on the client's with a strand of its own (which
  // then is `ex` for the whole exchange).
  std::unique_ptr<tcp::socket> NewSocket() {
    if (foreign()) return std::make_unique<tcp::socket>(loop_ex);
    if (ex) return std::make_unique<tcp::socket>(ex);
    return std::make_unique<tcp::socket>(asio::make_strand(impl->ioc_));
  }

  template <typename Handler>
  auto Bind(Handler&& handler) {
    return asio::bind_executor(ex, std::forward<Handler>(handler));
  }

  void Start() {
    socket = fresh ? nullptr : impl->TakeIdle(pool);
    reused = socket != nullptr;
    if (socket == nullptr) socket = NewSocket();
    if (!foreign()) ex = socket->get_executor();
    timer.emplace(ex);
    auto self = shared_from_this();
    if (reused && impl->options_.send_on_caller_thread && !request.on_body) {
      return SendNow();
    }
    asio::dispatch(ex, [self] {
      self->ArmTimer();
      if (self->reused) {
        self->Write();
      } else {
        self->Connect();
      }
    });
  }

  void ArmTimer() {
    timer->expires_after(absl::ToChronoNanoseconds(request.timeout));
    auto self = shared_from_this();
    timer->async_wait(Bind([self](beast::error_code ec) {
      if (ec || self->finished) return;
      self->timed_out = true;
      beast::error_code ignored;
      self->socket->close(ignored);
    }));
  }

  // AsyncHttpClientOptions::send_on_caller_thread, on a pooled connection no other operation
  // uses: the request is written by a non-blocking send on the calling thread and the read is
  // started from here too, so the client's I/O thread is first woken by the answer (not by a
  // hand-off of the request). What the socket cannot take at once continues on the I/O thread.
  // Nothing here touches the exchange after the read is started: its completion may already be
  // running on the I/O thread.
  void SendNow() {
    ArmTimer();
    std::ostringstream serialized;
    serialized << message;
    raw = serialized.str();
    beast::error_code ec;
    socket->non_blocking(true, ec);
    size_t sent = ec ? 0 : socket->write_some(asio::buffer(raw), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    auto self = shared_from_this();
    if (ec) {
      // Nothing reached a peer that closed the idle connection: retry as Write() would.
      return asio::dispatch(ex, [self, ec] {
        if (self->CanRetry(true)) return self->Retry();
        self->Fail(ec);
      });
    }
    if (sent == raw.size()) return Read();
    asio::dispatch(ex, [self, sent] {
      asio::async_write(*self->socket,
                        asio::buffer(self->raw.data() + sent, self->raw.size() - sent),
                        self->Bind([self](beast::error_code ec, size_t) {
                          if (ec) return self->Fail(ec);
                          self->Read();
                        }));
    });
  }

  void Connect() {
    beast::error_code ec;
    auto address = asio::ip::make_address(request.host, ec);
    if (ec) {
      return Finish(absl::InvalidArgumentError(
          absl::StrCat(context, ": host is not an IP address: ", request.host)));
    }
    auto self = shared_from_this();
    socket->async_connect(tcp::endpoint(address, static_cast<uint16_t>(request.port)),
                          Bind([self](beast::error_code ec) {
                            if (ec) return self->Fail(ec);
                            self->impl->metrics_.connects.Increment();
                            beast::error_code ignored;
                            self->socket->set_option(tcp::no_delay(true), ignored);
                            self->Write();
                          }));
  }

  void Write() {
    auto self = shared_from_this();
    http::async_write(*socket, message, Bind([self](beast::error_code ec, size_t written) {
      if (ec) {
        // Nothing was sent on a stale connection: safe to repeat for any method.
        if (self->CanRetry(self->idempotent || written == 0)) return self->Retry();
        return self->Fail(ec);
      }
      self->Read();
    }));
  }

  // The head, then the body piece by piece (AsyncRequest::on_body).
  void ReadStream() {
    stream_parser.emplace();
    stream_parser->body_limit(boost::none);
    auto self = shared_from_this();
    http::async_read_header(
        *socket, buffer, *stream_parser, Bind([self](beast::error_code ec, size_t) {
          if (ec) {
            if (internal::IsDisconnect(ec) && !self->stream_parser->got_some() &&
                self->CanRetry(self->idempotent)) {
              return self->Retry();
            }
            return self->Fail(ec);
          }
          const auto& res = self->stream_parser->get();
          self->head.status = static_cast<int>(res.result_int());
          for (const auto& field : res) {
            self->head.headers.Add(
                absl::string_view(field.name_string().data(), field.name_string().size()),
                absl::string_view(field.value().data(), field.value().size()));
          }
          self->RestartIdleTimer();
          if (self->request.on_head) self->request.on_head(self->head);
          self->ReadPiece();
        }));
  }

  void ReadPiece() {
    if (stream_parser->is_done()) return Finish(head);
    stream_parser->get().body().data = piece;
    stream_parser->get().body().size = sizeof(piece);
    auto self = shared_from_this();
    http::async_read_some(
        *socket, buffer, *stream_parser, Bind([self](beast::error_code ec, size_t) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) return self->Fail(ec);
          const size_t got = sizeof(self->piece) - self->stream_parser->get().body().size;
          self->RestartIdleTimer();
          if (got > 0 && !self->request.on_body(absl::string_view(self->piece, got))) {
            beast::error_code ignored;
            self->socket->close(ignored);
            return self->Finish(
                absl::CancelledError(absl::StrCat(self->context, ": consumer stopped")));
          }
          self->ReadPiece();
        }));
  }

  // Streams: the timeout is the longest silence (the deadline restarts with each piece).
  void RestartIdleTimer() { ArmTimer(); }

  void Read() {
    if (request.on_body) return ReadStream();
    parser.emplace();
    parser->body_limit(impl->options_.max_body_bytes);
    if (request.method == "HEAD") parser->skip(true);  // a HEAD answer has no body
    auto self = shared_from_this();
    http::async_read(*socket, buffer, *parser, Bind([self](beast::error_code ec, size_t) {
      if (ec) {
        if (internal::IsDisconnect(ec) && !self->parser->got_some() &&
            self->CanRetry(self->idempotent)) {
          return self->Retry();
        }
        return self->Fail(ec);
      }
      http::response<http::string_body> res = self->parser->release();
      HttpResponse out;
      out.status = static_cast<int>(res.result_int());
      for (const auto& field : res) {
        out.headers.Add(absl::string_view(field.name_string().data(), field.name_string().size()),
                        absl::string_view(field.value().data(), field.value().size()));
      }
      out.body = std::move(res.body());
      if (res.keep_alive() && self->buffer.size() == 0) {
        self->impl->PutIdle(self->pool, std::move(self->socket));
      }
      self->Finish(std::move(out));
    }));
  }

  bool CanRetry(bool allowed) const {
    return reused && !retried && !timed_out && allowed && !impl->stopping_.load();
  }

  void Retry() {
    impl->metrics_.stale_retries.Increment();
    retried = true;
    reused = false;
    beast::error_code ignored;
    socket->close(ignored);
    buffer.clear();
    // The new connection keeps this exchange's executor (the timer is bound to it).
    socket = NewSocket();
    Connect();
  }

  void Fail(beast::error_code ec) {
    if (timed_out) {
      ec = beast::error::timeout;
      impl->metrics_.deadline_expiries.Increment();
    }
    if (impl->stopping_.load() && !timed_out) {
      return Finish(absl::CancelledError(absl::StrCat(context, ": client shutting down")));
    }
    Finish(internal::ErrorToStatus(ec, context));
  }

  void Finish(absl::StatusOr<HttpResponse> result) {
    if (finished) return;
    finished = true;
    if (timer) timer->cancel();
    impl->Unregister(id);
    (result.ok() ? impl->metrics_.ok : impl->metrics_.error).Increment();
    if (!Claim()) return;  // Shutdown() answered it (Cancelled)
    Callback cb = std::move(done);
    done = nullptr;
    if (cb) cb(std::move(result));
    impl->callbacks_running_.fetch_sub(1);
  }

  // Whoever claims the exchange first runs its callback: its handlers, or Shutdown() for an
  // exchange on a caller's loop (which may not run again). True: claimed, and counted in
  // callbacks_running_ until the caller has run the callback.
  bool Claim() {
    impl->callbacks_running_.fetch_add(1);
    if (!claimed.exchange(true)) return true;
    impl->callbacks_running_.fetch_sub(1);
    return false;
  }

  ~Exchange() {
    if (!finished && Claim()) {
      if (done) done(absl::CancelledError(absl::StrCat(context, ": cancelled")));
      impl->callbacks_running_.fetch_sub(1);
    }
  }

  // On a caller's loop only: the client's state outlives the exchange (its handlers may run
  // after the client is gone). Not on the client's own loop, which the state owns (a cycle).
  std::shared_ptr<Impl> keep;
  Impl* impl;
  AsyncRequest request;
  Callback done;
  std::string key;
  PoolKey pool;                   // key and, on a caller's loop, that loop
  asio::any_io_executor loop_ex;  // the caller's loop (AsyncRequest::executor), else empty
  asio::any_io_executor ex;       // where every handler of this exchange runs
  std::atomic<bool> claimed{false};
  std::string context;
  bool idempotent = false;
  uint64_t id = 0;
  http::request<http::string_body> message;
  std::unique_ptr<tcp::socket> socket;
  std::optional<asio::steady_timer> timer;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  std::string raw;    // the serialized request (SendNow)
  HttpResponse head;  // a stream's status and headers
  char piece[16 * 1024];
  bool fresh = false;  // a new connection even if one is idle (Warm())
  bool reused = false;
  bool retried = false;
  bool timed_out = false;
  bool finished = false;
};

uint64_t AsyncHttpClient::Impl::Register(const std::shared_ptr<Exchange>& exchange) {
  absl::MutexLock lock(&mu_);
  uint64_t id = ++next_id_;
  active_[id] = exchange;
  metrics_.in_flight.Increment();
  return id;
}

void AsyncHttpClient::Impl::Request(AsyncRequest request, Callback done, bool fresh) {
  if (stopping_.load()) {
    done(absl::CancelledError("async http client shutting down"));
    return;
  }
  auto exchange =
      std::make_shared<Exchange>(shared_from_this(), std::move(request), std::move(done));
  exchange->id = Register(exchange);
  exchange->fresh = fresh;
  exchange->Start();
}

int AsyncHttpClient::Impl::Warm(int port, const std::string& path, int connections,
                                absl::Duration timeout, const IoExecutor* executor) {
  struct Count {
    absl::Mutex mu;
    int left = 0;
    int ok = 0;
  };
  auto count = std::make_shared<Count>();
  count->left = connections;
  for (int i = 0; i < connections; ++i) {
    AsyncRequest r;
    r.port = port;
    r.target = path;
    r.timeout = timeout;
    r.executor = executor;
    // Each on a connection of its own: a GET that reused one an earlier GET just pooled (the
    // calling thread preempted between two of them) would leave the pool a connection short.
    Request(
        std::move(r),
        [count](absl::StatusOr<HttpResponse> res) {
          absl::MutexLock lock(&count->mu);
          --count->left;
          if (res.ok() && res->status >= 200 && res->status < 300) ++count->ok;
        },
        /*fresh=*/true);
  }
  absl::MutexLock lock(&count->mu);
  auto all_done = [&count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(count->mu) { return count->left == 0; };
  count->mu.AwaitWithTimeout(absl::Condition(&all_done), timeout + absl::Seconds(1));
  return count->ok;
}

void AsyncHttpClient::Impl::Shutdown() {
  stopping_.store(true);
  std::vector<std::shared_ptr<Exchange>> running;
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, weak] : active_) {
      if (auto e = weak.lock()) running.push_back(std::move(e));
    }
    for (auto& [key, list] : idle_) keys.push_back(key.first);
  }
  for (const std::string& key : keys) Drop(key);
  for (auto& e : running) {
    // On a caller's loop the handlers may never run again (the loop stopped): the call is
    // answered Cancelled here unless its own handlers got to it first.
    if (e->foreign() && e->Claim()) {
      Callback cb = std::move(e->done);
      e->done = nullptr;
      if (cb) cb(absl::CancelledError(absl::StrCat(e->context, ": client shutting down")));
      callbacks_running_.fetch_sub(1);
    }
    if (!e->timer) continue;
    asio::post(e->timer->get_executor(), [e] {
      beast::error_code ignored;
      if (e->socket) e->socket->close(ignored);
    });
  }
  running.clear();
  work_.reset();
  for (std::thread& t : threads_) t.join();
  // A callback a caller's loop is running right now.
  while (callbacks_running_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

AsyncHttpClient::AsyncHttpClient(AsyncHttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

AsyncHttpClient::~AsyncHttpClient() { impl_->Shutdown(); }

void AsyncHttpClient::Request(AsyncRequest request, Callback done) {
  impl_->Request(std::move(request), std::move(done));
}

int AsyncHttpClient::Warm(int port, const std::string& path, int connections,
                          absl::Duration timeout, const IoExecutor* executor) {
  return impl_->Warm(port, path, connections, timeout, executor);
}

void AsyncHttpClient::DropEndpoint(int port) { impl_->Drop(Key("127.0.0.1", port)); }

int AsyncHttpClient::IdleConnections(int port) const {
  return impl_->IdleCount(Key("127.0.0.1", port));
}

}  // namespace net
}  // namespace gonka
