#include "gonka/net/http_server.h"

#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/status_macros.h"
#include "gonka/net/internal/asio_status.h"
#include "gonka/net/internal/io_executor.h"

namespace gonka {
namespace net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// How long a closing connection keeps reading (and discarding) after its last response, so
// the client's unread bytes do not turn our close into a reset.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// After the Stop() deadline cut everything, how long the I/O threads get to unwind.
constexpr auto kUnwindTimeout = std::chrono::seconds(3);
// At Stop(), how long a connection accepted without a request yet may take to send one.
constexpr auto kFirstRequestGrace = std::chrono::seconds(1);

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

enum class RouteKind { kPlain, kStream, kWebSocket, kAsync };

struct Route {
  RouteKind kind = RouteKind::kPlain;
  HttpServer::Handler plain;
  HttpServer::StreamHandler stream;
  HttpServer::WebSocketHandler websocket;
  HttpServer::AsyncHandler async;
  HttpServer::PreparedHandler prepared_handler;  // kPlain only; may be empty
  HttpServer::InlineHandler inline_handler;      // kPlain only; may be empty
  bool admission = true;
};

// method → route
using MethodRoutes = std::map<std::string, std::shared_ptr<const Route>>;

// The routes and the admission hook. Immutable once published: a change publishes a new table
// (routes are added at start-up), so a request's lookup takes no lock and copies no handler.
struct RouteTable {
  absl::flat_hash_map<std::string, MethodRoutes> exact;
  std::map<std::string, MethodRoutes> prefix;  // prefix (without '*') → routes
  HttpServer::AdmissionHook admission;
};

// Result of matching a request against the route table.
struct Match {
  std::shared_ptr<const RouteTable> table;  // keeps `route` alive
  const Route* route = nullptr;             // set when a route for the method exists
  bool path_known = false;                  // some route matches the path (for 405 vs 404)
  std::vector<std::string> allowed;
};

HttpRequest ToRequest(const http::request<http::string_body>& req, const std::string& remote) {
  HttpRequest out;
  absl::string_view target(req.target().data(), req.target().size());
  out.method = std::string(req.method_string());
  out.target = std::string(target);
  size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != absl::string_view::npos) out.query = ParseQuery(target.substr(q + 1));
  for (const auto& field : req) {
    out.headers.Add(absl::string_view(field.name_string().data(), field.name_string().size()),
                    absl::string_view(field.value().data(), field.value().size()));
  }
  out.body = req.body();
  out.remote_address = remote;
  return out;
}

std::string StatusClass(int status) { return absl::StrCat(status / 100, "xx"); }

// CPUs this process may run on (its affinity mask, e.g. under taskset or a cgroup cpuset).
int CpusAvailable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1 << 10;  // unknown: no cap
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl: the shared state of one server.

class ConnBase;

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions options)
      : options_(std::move(options)),
        requests_family_(&prometheus::BuildCounter()
                              .Name("gonka_http_server_requests_total")
                              .Help("HTTP responses sent, by server and status class")
                              .Register(metrics::Registry())),
        duration_family_(&prometheus::BuildHistogram()
                              .Name("gonka_http_server_request_duration_seconds")
                              .Help("Time from a request's headers to its response written")
                              .Register(metrics::Registry())),
        gauge_family_(&prometheus::BuildGauge()
                           .Name("gonka_http_server_open")
                           .Help("Open connections, in-flight requests, streams and WebSockets")
                           .Register(metrics::Registry())),
        duration_(&duration_family_->Add({{"server", options_.name}}, metrics::LatencyBuckets())),
        open_connections_gauge_(
            &gauge_family_->Add({{"server", options_.name}, {"kind", "connections"}})),
        in_flight_gauge_(&gauge_family_->Add({{"server", options_.name}, {"kind", "requests"}})),
        streams_gauge_(&gauge_family_->Add({{"server", options_.name}, {"kind", "streams"}})),
        websockets_gauge_(&gauge_family_->Add({{"server", options_.name}, {"kind", "websockets"}})),
        pool_(std::max(1, options_.handler_threads)),
        acceptor_(ioc_),
        loop_{ioc_.get_executor(), false} {}

  const HttpServerOptions options_;

  // Routes: writers copy the table under routes_mu_ and publish the copy; readers load it
  // with std::atomic_load (a request takes no lock of ours and copies no handler).
  absl::Mutex routes_mu_;
  std::shared_ptr<const RouteTable> table_ = std::make_shared<const RouteTable>();

  std::shared_ptr<const RouteTable> Table() const { return std::atomic_load(&table_); }
  void UpdateTable(const std::function<void(RouteTable&)>& change) {
    absl::MutexLock lock(&routes_mu_);
    auto next = std::make_shared<RouteTable>(*Table());
    change(*next);
    std::atomic_store(&table_, std::shared_ptr<const RouteTable>(std::move(next)));
  }

  void AddRoute(absl::string_view method, absl::string_view path, Route route) {
    auto shared = std::make_shared<const Route>(std::move(route));
    UpdateTable([&](RouteTable& table) {
      if (absl::EndsWith(path, "*")) {
        table.prefix[std::string(path.substr(0, path.size() - 1))][std::string(method)] = shared;
      } else {
        table.exact[std::string(path)][std::string(method)] = shared;
      }
    });
  }
  void SetAdmission(AdmissionHook hook) {
    UpdateTable([&](RouteTable& table) { table.admission = std::move(hook); });
  }

  Match Find(const std::string& method, const std::string& path) const {
    Match match;
    match.table = Table();
    const RouteTable& table = *match.table;
    const MethodRoutes* methods = nullptr;
    auto exact = table.exact.find(path);
    if (exact != table.exact.end()) {
      methods = &exact->second;
    } else {
      size_t best = 0;
      for (const auto& [prefix, m] : table.prefix) {
        if (absl::StartsWith(path, prefix) && (methods == nullptr || prefix.size() > best)) {
          methods = &m;
          best = prefix.size();
        }
      }
    }
    if (methods == nullptr) return match;
    match.path_known = true;
    auto it = methods->find(method);
    // HEAD is served by the GET route when there is no HEAD route.
    if (it == methods->end() && method == "HEAD") it = methods->find("GET");
    if (it != methods->end()) {
      match.route = it->second.get();
      return match;
    }
    // Only a 405 needs them (not copied for every routed request).
    for (const auto& [m, r] : *methods) match.allowed.push_back(m);
    return match;
  }

  // Metrics and stats.
  void CountResponse(int status) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    // One label lookup per status class, not per response (Family::Add locks and hashes).
    const int status_class = status / 100;
    if (status_class < 0 || status_class >= static_cast<int>(status_counters_.size())) {
      requests_family_->Add({{"server", options_.name}, {"code", StatusClass(status)}}).Increment();
      return;
    }
    prometheus::Counter* counter = status_counters_[status_class].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &requests_family_->Add({{"server", options_.name}, {"code", StatusClass(status)}});
      status_counters_[status_class].store(counter, std::memory_order_release);
    }
    counter->Increment();
  }
  void ObserveDuration(std::chrono::steady_clock::time_point start) {
    duration_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  void ConnectionOpened() {
    connections_accepted_.fetch_add(1);
    open_connections_.fetch_add(1);
    open_connections_gauge_->Increment();
  }
  void ConnectionClosed() {
    open_connections_gauge_->Decrement();
    if (open_connections_.fetch_sub(1) == 1) {
      absl::MutexLock lock(&idle_mu_);
      idle_cv_.SignalAll();
    }
  }
  void InFlight(int delta) {
    in_flight_.fetch_add(delta);
    in_flight_gauge_->Increment(delta);
  }
  void Streams(int delta) {
    open_streams_.fetch_add(delta);
    streams_gauge_->Increment(delta);
  }
  void WebSockets(int delta) {
    open_websockets_.fetch_add(delta);
    websockets_gauge_->Increment(delta);
  }

  std::atomic<uint64_t> connections_accepted_{0};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> open_streams_{0};
  std::atomic<int64_t> open_websockets_{0};
  std::atomic<uint64_t> requests_{0};
  // Stop() waits on idle_cv_ for open_connections_ (an atomic) to reach 0; idle_mu_ guards no
  // data, it only orders the last close's signal after the waiter's check.
  absl::Mutex idle_mu_;
  absl::CondVar idle_cv_;

  prometheus::Family<prometheus::Counter>* requests_family_;
  // requests_family_'s counter per status class (index status / 100), resolved on first use.
  std::array<std::atomic<prometheus::Counter*>, 10> status_counters_{};
  prometheus::Family<prometheus::Histogram>* duration_family_;
  prometheus::Family<prometheus::Gauge>* gauge_family_;
  prometheus::Histogram* duration_;
  prometheus::Gauge* open_connections_gauge_;
  prometheus::Gauge* in_flight_gauge_;
  prometheus::Gauge* streams_gauge_;
  prometheus::Gauge* websockets_gauge_;

  std::atomic<bool> draining_{false};
  // The listener closed (StopAccepting() or Stop()): idle keep-alive connections close, and every
  // response from now on carries `Connection: close`.
  std::atomic<bool> listener_closed_{false};
  std::atomic<bool> stopping_{false};

  // Live connections, so StopAccepting() and Stop() can reach them.
  absl::Mutex conns_mu_;
  uint64_t next_conn_id_ ABSL_GUARDED_BY(conns_mu_) = 0;
  std::unordered_map<uint64_t, std::weak_ptr<ConnBase>> conns_ ABSL_GUARDED_BY(conns_mu_);
  uint64_t Register(std::weak_ptr<ConnBase> conn) {
    absl::MutexLock lock(&conns_mu_);
    uint64_t id = ++next_conn_id_;
    conns_[id] = std::move(conn);
    return id;
  }
  void Unregister(uint64_t id) {
    absl::MutexLock lock(&conns_mu_);
    conns_.erase(id);
  }
  std::vector<std::shared_ptr<ConnBase>> Connections() {
    std::vector<std::shared_ptr<ConnBase>> out;
    absl::MutexLock lock(&conns_mu_);
    for (auto& [id, weak] : conns_) {
      if (auto conn = weak.lock()) out.push_back(std::move(conn));
    }
    return out;
  }

  // Lifecycle.
  absl::Status Start();
  void StopAccepting();
  bool Stop(absl::Time deadline);
  void DoAccept() ABSL_EXCLUSIVE_LOCKS_REQUIRED(acceptor_mu_);
  void OnAccept(const boost::system::error_code& ec, tcp::socket socket);
  void Serve(tcp::socket socket);

  asio::thread_pool pool_;
  absl::Mutex lifecycle_mu_;
  bool started_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  bool stop_result_ ABSL_GUARDED_BY(lifecycle_mu_) = true;
  std::vector<std::thread> threads_;
  // I/O threads running ioc_ (set by Start()).
  int io_threads_ = 1;
  // A connection's executor: a strand when several threads run ioc_; with one, the io_context's
  // own executor is already an implicit strand and a real one only adds a lock and a queue per
  // handler.
  asio::any_io_executor ConnectionExecutor() {
    if (io_threads_ == 1) return ioc_.get_executor();
    return asio::make_strand(ioc_);
  }
  std::atomic<int> port_{0};

  absl::Mutex acceptor_mu_;
  bool accepting_ ABSL_GUARDED_BY(acceptor_mu_) = false;
  std::optional<asio::steady_timer> accept_retry_timer_ ABSL_GUARDED_BY(acceptor_mu_);

  // Declared last: destroyed first, so handlers still queued in it (and the connections they
  // own) are destroyed while everything above is alive.
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  tcp::acceptor acceptor_ ABSL_GUARDED_BY(acceptor_mu_);
  // io_executor(): the loop itself (several threads may run it).
  const IoExecutor loop_;
};

// ---------------------------------------------------------------------------------------------
// Connections.

class ConnBase {
 public:
  virtual ~ConnBase() = default;
  // The listener closed (StopAccepting() or Stop()): close if nothing is in progress.
  // Draining alone closes nothing: see HttpServer::SetDraining().
  virtual void OnListenerClosed() = 0;
  // The Stop() deadline passed: end whatever is left.
  virtual void Cut() = 0;
};

// A WebSocket session after the upgrade.
class WsConnection : public ConnBase,
                     public WebSocketSession,
                     public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(HttpServer::Impl* server, beast::tcp_stream stream, std::string remote,
               std::shared_ptr<void> guard)
      : server_(server),
        ws_(std::move(stream)),
        remote_(std::move(remote)),
        guard_(std::move(guard)) {}

  ~WsConnection() override {
    server_->Unregister(id_);
    server_->ConnectionClosed();
  }

  void Start(http::request<http::string_body> req, HttpServer::WebSocketHandler handler,
             HttpRequest request) {
    id_ = server_->Register(shared_from_this());
    server_->WebSockets(1);
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = ToChrono(server_->options_.request_timeout);
    timeout.idle_timeout = ToChrono(server_->options_.idle_timeout);
    timeout.keep_alive_pings = true;
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(timeout);
    ws_.read_message_max(server_->options_.max_body_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, kServerHeader); }));
    auto self = shared_from_this();
    upgrade_request_ = std::move(req);
    ws_.async_accept(upgrade_request_, [self, handler = std::move(handler),
                                        request =
                                            std::move(request)](beast::error_code ec) mutable {
      if (ec) {
        self->End(internal::ErrorToStatus(ec, "websocket handshake"));
        return;
      }
      self->server_->CountResponse(101);
      asio::post(self->server_->pool_, [self, handler = std::move(handler),
                                        request = std::move(request)]() {
        try {
          handler(request, self);
        } catch (const std::exception& e) {
          GONKA_LOG_ERROR("websocket handler threw", {"path", request.path}, {"error", e.what()});
          self->Close();
        }
        asio::post(self->ws_.get_executor(), [self] { self->DoRead(); });
      });
    });
  }

  // WebSocketSession.
  bool SendText(std::string text) override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_ || close_requested_) return false;
      if (queued_bytes_ + text.size() > server_->options_.max_stream_buffer_bytes) {
        overflow_ = true;
      } else {
        queued_bytes_ += text.size();
        queue_.push_back(std::move(text));
      }
    }
    auto self = shared_from_this();
    asio::post(ws_.get_executor(), [self] {
      if (self->overflow_) {
        self->Abort(absl::ResourceExhaustedError("websocket client too slow: send queue full"));
      } else {
        self->DoWrite();
      }
    });
    return !overflow_;
  }
  void Close() override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_ || close_requested_) return;
      close_requested_ = true;
    }
    auto self = shared_from_this();
    asio::post(ws_.get_executor(), [self] { self->DoWrite(); });
  }
  bool closed() const override {
    absl::MutexLock lock(&mu_);
    return ended_ || close_requested_;
  }
  void OnMessage(std::function<void(std::string)> callback) override {
    absl::MutexLock lock(&mu_);
    on_message_ = std::move(callback);
  }
  void OnClose(std::function<void(const absl::Status&)> callback) override {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (!ended_) {
        on_close_ = std::move(callback);
        return;
      }
      status = end_status_;
    }
    callback(status);
  }
  const std::string& remote_address() const override { return remote_; }

  // ConnBase. A WebSocket session is work in progress: it ends with Stop().
  void OnListenerClosed() override {}
  void Cut() override {
    auto self = shared_from_this();
    asio::post(ws_.get_executor(), [self] {
      if (self->ended_flag_) return;
      beast::get_lowest_layer(self->ws_).expires_after(std::chrono::seconds(1));
      self->ws_.async_close(websocket::close_code::going_away, [self](beast::error_code) {
        self->End(absl::UnavailableError("server stopped"));
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().close(ignored);
      });
    });
  }

 private:
  // On the strand.
  void DoRead() {
    if (ended_flag_) return;
    auto self = shared_from_this();
    ws_.async_read(read_buffer_, [self](beast::error_code ec, size_t) {
      if (ec) {
        if (ec == websocket::error::closed) {
          self->End(absl::OkStatus());
        } else {
          self->End(internal::ErrorToStatus(ec, "websocket read"));
        }
        return;
      }
      std::string message = beast::buffers_to_string(self->read_buffer_.data());
      self->read_buffer_.consume(self->read_buffer_.size());
      std::function<void(std::string)> callback;
      {
        absl::MutexLock lock(&self->mu_);
        callback = self->on_message_;
      }
      if (callback) callback(std::move(message));
      self->DoRead();
    });
  }

  void DoWrite() {
    if (writing_ || ended_flag_) return;
    std::string next;
    bool close = false;
    {
      absl::MutexLock lock(&mu_);
      if (!queue_.empty()) {
        next = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= next.size();
      } else if (close_requested_ && !close_sent_) {
        close_sent_ = true;
        close = true;
      } else {
        return;
      }
    }
    writing_ = true;
    auto self = shared_from_this();
    if (close) {
      ws_.async_close(websocket::close_code::normal, [self](beast::error_code ec) {
        self->writing_ = false;
        if (ec) self->End(internal::ErrorToStatus(ec, "websocket close"));
        // Otherwise the read loop sees the peer's close and ends the session.
      });
      return;
    }
    current_ = std::move(next);
    ws_.text(true);
    ws_.async_write(asio::buffer(current_), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->End(internal::ErrorToStatus(ec, "websocket write"));
        return;
      }
      self->DoWrite();
    });
  }

  void Abort(absl::Status status) {
    if (ended_flag_) return;
    End(std::move(status));
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void End(absl::Status status) {
    std::function<void(const absl::Status&)> callback;
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
      ended_flag_ = true;
      end_status_ = status;
      callback = std::move(on_close_);
      on_message_ = nullptr;
      queue_.clear();
    }
    server_->WebSockets(-1);
    if (callback) callback(status);
    guard_.reset();
  }

  HttpServer::Impl* server_;
  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> upgrade_request_;
  const std::string remote_;
  std::shared_ptr<void> guard_;
  uint64_t id_ = 0;
  beast::flat_buffer read_buffer_;
  std::string current_;
  bool writing_ = false;  // strand
  std::atomic<bool> ended_flag_{false};
  std::atomic<bool> overflow_{false};

  mutable absl::Mutex mu_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool close_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool close_sent_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void(std::string)> on_message_ ABSL_GUARDED_BY(mu_);
  std::function<void(const absl::Status&)> on_close_ ABSL_GUARDED_BY(mu_);
};

class Connection;

// The state of one streaming response, shared by the connection and the handle the handler got.
class StreamState {
 public:
  explicit StreamState(size_t max_buffer) : max_buffer_(max_buffer) {}

  absl::Mutex mu;
  const size_t max_buffer_;
  int status ABSL_GUARDED_BY(mu) = 200;
  HttpHeaders headers ABSL_GUARDED_BY(mu) = HttpHeaders{{"Content-Type", "text/event-stream"},
                                                        {"Cache-Control", "no-cache"}};
  bool headers_sent ABSL_GUARDED_BY(mu) = false;  // once true, status/headers are frozen
  std::deque<std::string> queue ABSL_GUARDED_BY(mu);
  size_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  bool close_requested ABSL_GUARDED_BY(mu) = false;
  bool ended ABSL_GUARDED_BY(mu) = false;
  bool overflow ABSL_GUARDED_BY(mu) = false;
  std::vector<std::function<void()>> on_close ABSL_GUARDED_BY(mu);
};

// One HTTP connection: reads requests, dispatches them, writes responses (or one stream).
class Connection : public ConnBase, public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServer::Impl* server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
  }

  ~Connection() override {
    server_->Unregister(id_);
    if (!transferred_) server_->ConnectionClosed();
  }

  void Start() {
    id_ = server_->Register(shared_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // An idle keep-alive connection closes now. One that was accepted but has not sent its first
  // request yet gets a short grace for it (the client is usually mid-send), then closes.
  //
  // Only the listener closing does this, never SetDraining(): a router reuses idle keep-alive
  // connections, so closing one while the router may still pick this instance races a request
  // being sent on it — the router then sees an empty response, which it must not replay for a
  // non-idempotent request (and should not have to for any). Once the listener closes, the
  // announce window has passed and the router has stopped sending here (docs/operations.md).
  void OnListenerClosed() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->requests_read_ > 0) {
        self->CloseIfIdle();
        return;
      }
      if (self->phase_ != Phase::kIdle) return;
      self->timer_.emplace(self->stream_.get_executor());
      self->timer_->expires_after(kFirstRequestGrace);
      self->timer_->async_wait([self](beast::error_code ec) {
        if (!ec) self->CloseIfIdle();
      });
    });
  }
  void Cut() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
  }

  // Called by the stream handle (any thread).
  void PostFlush() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->FlushStream(); });
  }

 private:
  enum class Phase { kIdle, kBusy, kStream, kClosing };

  void CloseIfIdle() {
    if (phase_ == Phase::kIdle && buffer_.size() == 0 && !(parser_ && parser_->got_some())) {
      CloseNow();
    }
  }

  void CloseNow() {
    phase_ = Phase::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  // Half-closes, then discards what the client still sends until it closes (or a timeout), so
  // the close never resets data the client has in flight.
  void Linger() {
    phase_ = Phase::kClosing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      CloseNow();
      return;
    }
    stream_.expires_after(kLingerTimeout);
    DrainInput();
  }
  void DrainInput() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(discard_), [self](beast::error_code ec, size_t) {
      if (ec) {
        self->CloseNow();
        return;
      }
      self->DrainInput();
    });
  }

  void ReadHeader() {
    // After a response sent with keep-alive, the connection waits for its next request even while
    // draining (that request's response then carries `Connection: close`); it closes here only
    // once the listener has closed. A connection with no request yet waits for its first one
    // (OnListenerClosed() limits that wait).
    if (requests_read_ > 0 && (server_->stopping_.load() || server_->listener_closed_.load())) {
      Linger();
      return;
    }
    phase_ = Phase::kIdle;
    parser_.emplace();
    parser_->body_limit(server_->options_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_never();
    ArmReadTimer(ToChrono(server_->options_.idle_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Reads are timed by our own timer, which cancels the read but keeps the socket open so a
  // 408 can still be written (Beast's stream timeout would close the socket).
  //
  // The timer is lazy: arming only moves `read_deadline_`; the one pending wait is replaced only
  // when the new deadline is earlier than it, and when it fires before the deadline it waits
  // again. A keep-alive connection thus costs no timer operation per request (arming and
  // cancelling a timer per read was a scheduler round trip each, most of a cache hit's cost).
  void ArmReadTimer(std::chrono::steady_clock::duration after) {
    read_timed_out_ = false;
    reading_ = true;
    read_deadline_ = std::chrono::steady_clock::now() + after;
    if (!read_timer_) read_timer_.emplace(stream_.get_executor());
    if (read_timer_waiting_ && read_timer_->expiry() <= read_deadline_) return;
    read_timer_->expires_at(read_deadline_);  // a later pending wait ends (superseded)
    WaitReadTimer();
  }
  void WaitReadTimer() {
    read_timer_waiting_ = true;
    const uint64_t generation = ++read_generation_;
    // A weak reference: a pending wait must not keep a closed connection alive (Stop() waits
    // for every connection to go); destroying the timer ends the wait.
    read_timer_->async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      std::shared_ptr<Connection> self = weak.lock();
      if (self == nullptr || self->read_generation_ != generation) return;
      self->read_timer_waiting_ = false;
      if (ec || !self->reading_) return;
      if (std::chrono::steady_clock::now() < self->read_deadline_) {
        self->read_timer_->expires_at(self->read_deadline_);
        self->WaitReadTimer();
        return;
      }
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }
  bool DisarmReadTimer(beast::error_code* ec) {
    reading_ = false;
    if (read_timed_out_ && *ec == asio::error::operation_aborted) {
      *ec = beast::error::timeout;
      return true;
    }
    return false;
  }

  void OnHeader(beast::error_code ec) {
    DisarmReadTimer(&ec);
    if (ec) {
      if (ec == beast::error::timeout && parser_->got_some()) {
        SendError(408, "request timeout");
      } else if (ec == http::error::body_limit) {
        start_ = std::chrono::steady_clock::now();
        SendError(413, absl::StrCat("request body exceeds the limit of ",
                                    server_->options_.max_body_bytes, " bytes"));
      } else if (ec == http::error::header_limit) {
        SendError(431, "request header fields too large");
      } else if (ec == http::error::end_of_stream || internal::IsDisconnect(ec) ||
                 ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                 !parser_->got_some()) {
        CloseNow();
      } else {
        SendError(400, absl::StrCat("bad request: ", ec.message()));
      }
      return;
    }
    phase_ = Phase::kBusy;
    requests_read_++;
    start_ = std::chrono::steady_clock::now();
    server_->InFlight(1);
    in_flight_ = true;
    auto length = parser_->content_length();
    if (length && *length > server_->options_.max_body_bytes) {
      SendError(413, absl::StrCat("request body of ", *length, " bytes exceeds the limit of ",
                                  server_->options_.max_body_bytes));
      return;
    }
    // Beast reads at most the buffer's free capacity at a time: room for 64 KB reads when a
    // large body is coming (e.g. a broadcast of a big batch tx), not a few KB per recv.
    if (length && *length > 4096)
      buffer_.reserve(static_cast<size_t>(std::min<uint64_t>(*length, 64 << 10)));
    // No body (a GET): dispatch now rather than through a read that completes at once but
    // still costs a timer and a scheduler round trip.
    if (parser_->is_done()) {
      Dispatch(parser_->release());
      return;
    }
    ArmReadTimer(ToChrono(server_->options_.request_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    DisarmReadTimer(&ec);
    if (ec) {
      if (ec == http::error::body_limit) {
        SendError(413, absl::StrCat("request body exceeds the limit of ",
                                    server_->options_.max_body_bytes, " bytes"));
      } else if (ec == beast::error::timeout) {
        SendError(408, "request timeout");
      } else if (internal::IsDisconnect(ec) || ec == asio::error::operation_aborted) {
        CloseNow();
      } else {
        SendError(400, absl::StrCat("bad request: ", ec.message()));
      }
      return;
    }
    Dispatch(parser_->release());
  }

  void Dispatch(http::request<http::string_body> req) {
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    HttpRequest request = ToRequest(req, remote_);
    Match match = server_->Find(request.method, request.path);
    if (match.route == nullptr) {
      if (match.path_known) {
        HttpResponse res = HttpResponse::Text(405, "method not allowed\n");
        res.headers.Set("Allow", absl::StrJoin(match.allowed, ", "));
        Respond(std::move(res), false);
      } else {
        Respond(HttpResponse::Text(404, "not found\n"), false);
      }
      return;
    }
    const Route& route = *match.route;
    bool upgrade = websocket::is_upgrade(req);
    if (route.kind == RouteKind::kWebSocket && !upgrade) {
      HttpResponse res = HttpResponse::Text(426, "websocket upgrade required\n");
      res.headers.Set("Upgrade", "websocket");
      Respond(std::move(res), false);
      return;
    }
    std::shared_ptr<void> guard;
    const HttpServer::AdmissionHook& hook = match.table->admission;
    if (route.admission && hook) {
      guard = hook();
      if (guard == nullptr) {
        HttpResponse res = HttpResponse::Text(503, "draining: not accepting new requests\n");
        res.headers.Set("Retry-After", "1");
        Respond(std::move(res), true);
        return;
      }
    }
    switch (route.kind) {
      case RouteKind::kWebSocket: {
        // The TCP connection now belongs to the WebSocket session.
        transferred_ = true;
        EndInFlight();
        phase_ = Phase::kClosing;
        auto ws =
            std::make_shared<WsConnection>(server_, std::move(stream_), remote_, std::move(guard));
        ws->Start(std::move(req), route.websocket, std::move(request));
        return;
      }
      case RouteKind::kStream:
        StartStream(std::move(request), route.stream, std::move(guard));
        return;
      case RouteKind::kAsync:
        RunAsync(request, route.async, std::move(guard));
        return;
      case RouteKind::kPlain:
        if (route.prepared_handler && RunPrepared(request, route.prepared_handler, guard)) return;
        if (route.inline_handler && RunInline(request, route.inline_handler, guard)) return;
        RunPlain(std::move(request), route.plain, std::move(guard));
        return;
    }
  }

  // Tries the route's inline handler on this I/O thread (no hand-off to the handler pool and
  // back: two thread wake-ups per request, most of a cache hit's cost). False when it declined.
  bool RunInline(const HttpRequest& request, const HttpServer::InlineHandler& handler,
                 const std::shared_ptr<void>& guard) {
    std::optional<HttpResponse> response;
    try {
      response = handler(request);
    } catch (const std::exception& e) {
      GONKA_LOG_ERROR("inline handler threw", {"path", request.path}, {"error", e.what()});
      response = HttpResponse::Text(500, "internal error\n");
    }
    if (!response.has_value()) return false;
    guard_ = guard;
    ++generation_;
    Respond(*std::move(response), false);
    return true;
  }

  // Tries the route's prepared handler on this I/O thread. On an HTTP/1.1 keep-alive exchange the
  // prepared head and the shared body go out in one gathered write straight on the socket (no
  // serializer, no copy of the body, no header building); otherwise as a plain response. False
  // when it declined.
  bool RunPrepared(const HttpRequest& request, const HttpServer::PreparedHandler& handler,
                   const std::shared_ptr<void>& guard) {
    std::shared_ptr<const PreparedResponse> prepared;
    try {
      prepared = handler(request);
    } catch (const std::exception& e) {
      GONKA_LOG_ERROR("prepared handler threw", {"path", request.path}, {"error", e.what()});
      guard_ = guard;
      ++generation_;
      Respond(HttpResponse::Text(500, "internal error\n"), false);
      return true;
    }
    if (prepared == nullptr) return false;
    guard_ = guard;
    ++generation_;
    if (!KeepAlive(false) || head_ || version_ != 11) {
      Respond(prepared->ToResponse(), false);
      return true;
    }
    responded_ = true;
    server_->CountResponse(prepared->status());
    phase_ = Phase::kBusy;
    ArmReadTimer(ToChrono(server_->options_.request_timeout));  // times the write, see Respond()
    prepared_ = std::move(prepared);
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(prepared_->head()),
                                                       asio::buffer(prepared_->body())};
    asio::async_write(stream_.socket(), buffers,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->prepared_.reset();
                        self->OnWritten(ec, true);
                      });
    return true;
  }

  // Whether the connection stays open after this response.
  bool KeepAlive(bool close) const {
    return keep_alive_ && !close && !server_->draining_.load() &&
           !server_->listener_closed_.load() && !server_->stopping_.load();
  }

  void RunPlain(HttpRequest request, HttpServer::Handler handler, std::shared_ptr<void> guard) {
    guard_ = guard;
    responded_ = false;
    auto self = shared_from_this();
    timer_.emplace(stream_.get_executor());
    timer_->expires_at(start_ + ToChrono(server_->options_.request_timeout));
    uint64_t generation = ++generation_;
    timer_->async_wait([self, generation](beast::error_code ec) {
      if (ec || self->generation_ != generation || self->responded_) return;
      GONKA_LOG_WARN("handler exceeded the request timeout",
                     {"server", self->server_->options_.name}, {"remote", self->remote_});
      self->SendError(503, "handler timed out");
    });
    asio::post(server_->pool_, [self, generation, request = std::move(request),
                                handler = std::move(handler), guard = std::move(guard)]() {
      HttpResponse response;
      try {
        response = handler(request);
      } catch (const std::exception& e) {
        GONKA_LOG_ERROR("handler threw", {"path", request.path}, {"error", e.what()});
        response = HttpResponse::Text(500, "internal error\n");
      }
      asio::post(self->stream_.get_executor(),
                 [self, generation, response = std::move(response)]() mutable {
                   if (self->generation_ != generation || self->responded_) return;
                   if (self->timer_) self->timer_->cancel();
                   self->Respond(std::move(response), false);
                 });
    });
  }

  // The Responder an asynchronous handler gets: every answer is posted to the connection's
  // strand and checked against the request's generation (a timed-out request ignores it).
  class AsyncResponder : public Responder {
   public:
    // Weak: while it waits, the connection is kept alive by its request-timeout timer; once
    // that fired (or the server stopped) an answer has nowhere to go.
    AsyncResponder(std::weak_ptr<Connection> conn, uint64_t generation,
                   asio::any_io_executor executor)
        : conn_(std::move(conn)), generation_(generation), executor_{std::move(executor), true} {}
    ~AsyncResponder() override {
      if (!answered_.exchange(true)) {
        Post(Answer{HttpResponse::Text(500, "internal error: no response\n"), nullptr, nullptr});
      }
    }
    void Respond(HttpResponse response) override {
      if (answered_.exchange(true)) return;
      Post(Answer{std::move(response), nullptr, nullptr});
    }
    void Stream(std::function<void(std::shared_ptr<ResponseStream>)> body) override {
      if (answered_.exchange(true)) return;
      Post(Answer{HttpResponse(), std::move(body), nullptr});
    }
    void Defer(std::function<HttpResponse()> work) override {
      if (answered_.exchange(true)) return;
      Post(Answer{HttpResponse(), nullptr, std::move(work)});
    }
    // The connection's executor: a strand, or the loop's own on a one-thread loop (serial
    // either way).
    const IoExecutor* executor() const override { return &executor_; }

   private:
    struct Answer {
      HttpResponse response;
      std::function<void(std::shared_ptr<ResponseStream>)> stream;
      std::function<HttpResponse()> deferred;
    };
    void Post(Answer answer) {
      std::shared_ptr<Connection> conn = conn_.lock();
      if (conn == nullptr) return;
      const uint64_t generation = generation_;
      asio::post(conn->stream_.get_executor(),
                 [conn, generation, answer = std::move(answer)]() mutable {
                   conn->OnAsyncAnswer(generation, std::move(answer));
                 });
    }
    friend class Connection;
    std::weak_ptr<Connection> conn_;
    const uint64_t generation_;
    const IoExecutor executor_;
    std::atomic<bool> answered_{false};
  };

  void RunAsync(const HttpRequest& request, const HttpServer::AsyncHandler& handler,
                std::shared_ptr<void> guard) {
    guard_ = std::move(guard);
    responded_ = false;
    auto self = shared_from_this();
    timer_.emplace(stream_.get_executor());
    timer_->expires_at(start_ + ToChrono(server_->options_.request_timeout));
    const uint64_t generation = ++generation_;
    timer_->async_wait([self, generation](beast::error_code ec) {
      if (ec || self->generation_ != generation || self->responded_) return;
      GONKA_LOG_WARN("asynchronous handler exceeded the request timeout",
                     {"server", self->server_->options_.name}, {"remote", self->remote_});
      self->SendError(503, "handler timed out");
    });
    auto responder = std::make_shared<AsyncResponder>(self, generation, stream_.get_executor());
    try {
      handler(request, responder);
    } catch (const std::exception& e) {
      GONKA_LOG_ERROR("async handler threw", {"path", request.path}, {"error", e.what()});
      responder->Respond(HttpResponse::Text(500, "internal error\n"));
    }
  }

  void OnAsyncAnswer(uint64_t generation, AsyncResponder::Answer answer) {
    if (generation_ != generation || responded_ || phase_ == Phase::kClosing) return;
    if (answer.stream) {
      if (timer_) timer_->cancel();
      responded_ = true;
      StartStreamBody(std::move(answer.stream), guard_);
      return;
    }
    if (answer.deferred) {
      // As a plain handler: on the pool, answered through the same generation check.
      auto self = shared_from_this();
      asio::post(server_->pool_, [self, generation, work = std::move(answer.deferred)]() {
        HttpResponse response;
        try {
          response = work();
        } catch (const std::exception& e) {
          GONKA_LOG_ERROR("deferred handler threw", {"error", e.what()});
          response = HttpResponse::Text(500, "internal error\n");
        }
        asio::post(self->stream_.get_executor(),
                   [self, generation, response = std::move(response)]() mutable {
                     if (self->generation_ != generation || self->responded_) return;
                     if (self->timer_) self->timer_->cancel();
                     self->Respond(std::move(response), false);
                   });
      });
      return;
    }
    if (timer_) timer_->cancel();
    Respond(std::move(answer.response), false);
  }

  void SendError(int status, std::string message) {
    Respond(HttpResponse::Text(status, absl::StrCat(message, "\n")), true);
  }

  void Respond(HttpResponse response, bool close) {
    responded_ = true;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version_ ? version_ : 11);
    for (const auto& [name, value] : response.headers) res->insert(name, value);
    if (!res->count(http::field::server)) res->set(http::field::server, kServerHeader);
    res->body() = std::move(response.body);
    const bool keep = KeepAlive(close);
    res->keep_alive(keep);
    res->prepare_payload();
    if (head_) res->body().clear();
    server_->CountResponse(response.status);
    phase_ = Phase::kBusy;
    // The write is timed by the same lazy timer as reads (they never overlap on a plain
    // connection): on expiry the socket's operations are cancelled and the connection closes,
    // as Beast's stream timeout would, without a timer armed and cancelled per response.
    ArmReadTimer(ToChrono(server_->options_.request_timeout));
    auto self = shared_from_this();
    response_ = res;
    http::async_write(stream_, *res, [self, keep](beast::error_code ec, size_t) {
      self->response_.reset();
      self->OnWritten(ec, keep);
    });
  }

  // A plain or prepared response was written (or failed to be).
  void OnWritten(beast::error_code ec, bool keep) {
    DisarmReadTimer(&ec);
    guard_.reset();
    EndInFlight();
    if (ec) {
      CloseNow();
      return;
    }
    if (!keep) {
      Linger();
      return;
    }
    ReadHeader();
  }

  void EndInFlight() {
    if (!in_flight_) return;
    in_flight_ = false;
    server_->InFlight(-1);
    server_->ObserveDuration(start_);
  }

  // Streams.
  class StreamHandle : public ResponseStream {
   public:
    StreamHandle(std::shared_ptr<StreamState> state, std::weak_ptr<Connection> conn)
        : state_(std::move(state)), conn_(std::move(conn)) {}
    ~StreamHandle() override { Close(); }

    void SetStatus(int status) override {
      absl::MutexLock lock(&state_->mu);
      if (!state_->headers_sent) state_->status = status;
    }
    void SetHeader(absl::string_view name, absl::string_view value) override {
      absl::MutexLock lock(&state_->mu);
      if (!state_->headers_sent) state_->headers.Set(name, value);
    }
    bool Write(absl::string_view chunk) override {
      {
        absl::MutexLock lock(&state_->mu);
        if (state_->ended || state_->close_requested || state_->overflow) return false;
        if (chunk.empty()) return true;
        if (state_->queued_bytes + chunk.size() > state_->max_buffer_) {
          state_->overflow = true;
        } else {
          state_->queued_bytes += chunk.size();
          state_->queue.emplace_back(chunk);
        }
      }
      if (auto conn = conn_.lock()) conn->PostFlush();
      absl::MutexLock lock(&state_->mu);
      return !state_->overflow;
    }
    void Close() override {
      {
        absl::MutexLock lock(&state_->mu);
        if (state_->ended || state_->close_requested) return;
        state_->close_requested = true;
      }
      if (auto conn = conn_.lock()) conn->PostFlush();
    }
    bool closed() const override {
      absl::MutexLock lock(&state_->mu);
      return state_->ended || state_->close_requested;
    }
    void OnClose(std::function<void()> callback) override {
      {
        absl::MutexLock lock(&state_->mu);
        if (!state_->ended) {
          state_->on_close.push_back(std::move(callback));
          return;
        }
      }
      callback();
    }

   private:
    std::shared_ptr<StreamState> state_;
    std::weak_ptr<Connection> conn_;
  };

  void StartStream(HttpRequest request, HttpServer::StreamHandler handler,
                   std::shared_ptr<void> guard) {
    StartStreamBody([request = std::move(request), handler = std::move(handler)](
                        std::shared_ptr<ResponseStream> out) { handler(request, std::move(out)); },
                    std::move(guard));
  }

  void StartStreamBody(std::function<void(std::shared_ptr<ResponseStream>)> body,
                       std::shared_ptr<void> guard) {
    phase_ = Phase::kStream;
    guard_ = std::move(guard);
    stream_state_ = std::make_shared<StreamState>(server_->options_.max_stream_buffer_bytes);
    server_->Streams(1);
    EndInFlight();
    stream_.expires_never();
    auto self = shared_from_this();
    auto handle = std::make_shared<StreamHandle>(stream_state_, self);
    asio::post(server_->pool_, [self, handle, body = std::move(body)]() mutable {
      try {
        body(handle);
      } catch (const std::exception& e) {
        GONKA_LOG_ERROR("stream handler threw", {"remote", self->remote_}, {"error", e.what()});
        handle->Close();
      }
      handle.reset();
      asio::post(self->stream_.get_executor(), [self] {
        self->handler_returned_ = true;
        self->FlushStream();
      });
    });
  }

  // On the strand: sends headers, queued chunks, and the last chunk once closed.
  void FlushStream() {
    if (!stream_state_ || stream_ended_ || writing_) return;
    auto self = shared_from_this();
    bool send_headers = false;
    bool send_last = false;
    bool abort = false;
    std::string chunk;
    {
      absl::MutexLock lock(&stream_state_->mu);
      if (stream_state_->overflow) {
        abort = true;
      } else if (!stream_state_->headers_sent) {
        if (!handler_returned_ && stream_state_->queue.empty() && !stream_state_->close_requested) {
          return;
        }
        stream_state_->headers_sent = true;
        send_headers = true;
        header_res_.emplace(static_cast<http::status>(stream_state_->status),
                            version_ ? version_ : 11);
        for (const auto& [name, value] : stream_state_->headers) header_res_->insert(name, value);
        header_res_->set(http::field::server, kServerHeader);
        header_res_->keep_alive(false);
        header_res_->chunked(true);
      } else if (!stream_state_->queue.empty()) {
        while (!stream_state_->queue.empty() && chunk.size() < 64 * 1024) {
          chunk += stream_state_->queue.front();
          stream_state_->queued_bytes -= stream_state_->queue.front().size();
          stream_state_->queue.pop_front();
        }
      } else if (stream_state_->close_requested) {
        send_last = true;
      } else {
        return;
      }
    }
    if (abort) {
      GONKA_LOG_WARN("stream client too slow; closing", {"remote", remote_});
      EndStream();
      CloseNow();
      return;
    }
    writing_ = true;
    if (send_headers) {
      server_->CountResponse(static_cast<int>(header_res_->result_int()));
      header_sr_.emplace(*header_res_);
      http::async_write_header(stream_, *header_sr_, [self](beast::error_code ec, size_t) {
        self->writing_ = false;
        if (ec) return self->OnStreamError();
        self->StartStreamWatch();
        self->FlushStream();
      });
      return;
    }
    if (send_last) {
      asio::async_write(stream_, http::make_chunk_last(), [self](beast::error_code ec, size_t) {
        self->writing_ = false;
        self->EndStream();
        if (ec) return self->CloseNow();
        // The watch read still runs and discards input until the client closes; half-close
        // and give it kLingerTimeout to do so.
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        self->timer_.emplace(self->stream_.get_executor());
        self->timer_->expires_after(kLingerTimeout);
        self->timer_->async_wait([self](beast::error_code) { self->CloseNow(); });
      });
      return;
    }
    current_chunk_ = std::move(chunk);
    asio::async_write(stream_, http::make_chunk(asio::buffer(current_chunk_)),
                      [self](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->OnStreamError();
                        self->FlushStream();
                      });
  }

  // Reads while streaming, only to notice the client going away.
  void StartStreamWatch() {
    auto self = shared_from_this();
    stream_.socket().async_read_some(asio::buffer(discard_), [self](beast::error_code ec, size_t) {
      if (ec) {
        if (self->timer_) self->timer_->cancel();
        return self->OnStreamError();
      }
      self->StartStreamWatch();
    });
  }

  void OnStreamError() {
    EndStream();
    CloseNow();
  }

  void EndStream() {
    if (stream_ended_ || !stream_state_) return;
    stream_ended_ = true;
    std::vector<std::function<void()>> callbacks;
    {
      absl::MutexLock lock(&stream_state_->mu);
      stream_state_->ended = true;
      stream_state_->queue.clear();
      callbacks.swap(stream_state_->on_close);
    }
    for (auto& callback : callbacks) callback();
    server_->Streams(-1);
    EndInFlight();
    guard_.reset();
  }

  HttpServer::Impl* server_;
  beast::tcp_stream stream_;
  std::string remote_;
  uint64_t id_ = 0;
  bool transferred_ = false;

  // All below: only on the connection's strand.
  Phase phase_ = Phase::kIdle;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::shared_ptr<const PreparedResponse> prepared_;  // being written
  std::shared_ptr<void> guard_;
  std::optional<asio::steady_timer> timer_;
  std::optional<asio::steady_timer> read_timer_;
  uint64_t read_generation_ = 0;  // of the pending wait
  bool read_timer_waiting_ = false;
  bool reading_ = false;  // a read is timed: between ArmReadTimer and DisarmReadTimer
  std::chrono::steady_clock::time_point read_deadline_;
  bool read_timed_out_ = false;
  std::chrono::steady_clock::time_point start_;
  uint64_t generation_ = 0;
  uint64_t requests_read_ = 0;  // request headers read on this connection
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool responded_ = false;
  bool in_flight_ = false;
  std::array<char, 512> discard_;

  std::shared_ptr<StreamState> stream_state_;
  std::optional<http::response<http::empty_body>> header_res_;
  std::optional<http::response_serializer<http::empty_body>> header_sr_;
  std::string current_chunk_;
  bool writing_ = false;
  bool handler_returned_ = false;
  bool stream_ended_ = false;
};

// ---------------------------------------------------------------------------------------------
// Impl lifecycle.

absl::Status HttpServer::Impl::Start() {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  if (started_) return absl::FailedPreconditionError("HttpServer::Start called twice");
  RETURN_IF_ERROR(HttpServer::Validate(options_));
  io_threads_ = std::max(1, std::min(options_.threads, CpusAvailable()));
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bind_address: not an IP address: \"", options_.bind_address, "\""));
  }
  tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
  std::string where = absl::StrCat(options_.bind_address, ":", options_.port);
  {
    absl::MutexLock lock(&acceptor_mu_);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return absl::UnavailableError(
          absl::StrCat("server ", options_.name, ": cannot listen on ", where, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    accepting_ = true;
    DoAccept();
  }
  work_.emplace(ioc_.get_executor());
  for (int i = 0; i < io_threads_; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  started_ = true;
  GONKA_LOG_INFO("http server listening", {"server", options_.name},
                 {"address", absl::StrCat(options_.bind_address, ":", port_.load())});
  return absl::OkStatus();
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept(ConnectionExecutor(), [this](beast::error_code ec, tcp::socket s) {
    OnAccept(ec, std::move(s));
  });
}

void HttpServer::Impl::OnAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (!ec) Serve(std::move(socket));
  absl::MutexLock lock(&acceptor_mu_);
  if (!accepting_) return;
  if (ec && ec != asio::error::operation_aborted) {
    // Out of descriptors and the like: back off briefly instead of spinning.
    GONKA_LOG_WARN("accept failed", {"server", options_.name}, {"error", ec.message()});
    accept_retry_timer_.emplace(ioc_);
    accept_retry_timer_->expires_after(std::chrono::milliseconds(100));
    accept_retry_timer_->async_wait([this](beast::error_code) {
      absl::MutexLock lock(&acceptor_mu_);
      if (accepting_) DoAccept();
    });
    return;
  }
  if (ec) return;
  DoAccept();
}

void HttpServer::Impl::Serve(tcp::socket socket) {
  if (stopping_.load()) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  // Responses go out in one write each; Nagle's algorithm would only hold a small one back
  // until the client's ACK of the previous segment.
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  ConnectionOpened();
  std::make_shared<Connection>(this, std::move(socket))->Start();
}

void HttpServer::Impl::StopAccepting() {
  std::vector<tcp::socket> backlog;
  {
    absl::MutexLock lock(&acceptor_mu_);
    if (!accepting_) return;
    accepting_ = false;
    // Connections the kernel already completed are served rather than reset by the close.
    beast::error_code ec;
    acceptor_.non_blocking(true, ec);
    while (!ec) {
      tcp::socket socket(ConnectionExecutor());
      acceptor_.accept(socket, ec);
      if (!ec) backlog.push_back(std::move(socket));
    }
    beast::error_code ignored;
    acceptor_.close(ignored);
    if (accept_retry_timer_) accept_retry_timer_->cancel();
    listener_closed_ = true;
  }
  for (auto& socket : backlog) Serve(std::move(socket));
  for (auto& conn : Connections()) conn->OnListenerClosed();
  GONKA_LOG_INFO("http server stopped accepting", {"server", options_.name},
                 {"backlog_served", static_cast<int>(backlog.size())});
}

bool HttpServer::Impl::Stop(absl::Time deadline) {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  if (stopped_) return stop_result_;
  stopped_ = true;
  if (!started_) return true;
  // Closing the listener serves the kernel's backlog first (so before stopping_, which makes
  // Serve() refuse), then closes idle connections; those with work in progress finish below.
  StopAccepting();
  draining_ = true;
  stopping_ = true;

  auto wait_idle = [this](absl::Time until) {
    absl::MutexLock lock(&idle_mu_);
    while (open_connections_.load() != 0) {
      if (idle_cv_.WaitWithDeadline(&idle_mu_, until)) return open_connections_.load() == 0;
    }
    return true;
  };
  bool clean = wait_idle(deadline);
  if (!clean) {
    GONKA_LOG_WARN("http server stop deadline passed; cutting connections",
                   {"server", options_.name}, {"open_connections", open_connections_.load()},
                   {"open_streams", open_streams_.load()});
    for (auto& conn : Connections()) conn->Cut();
    wait_idle(absl::Now() + absl::FromChrono(kUnwindTimeout));
  }
  work_.reset();
  pool_.join();
  ioc_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  stop_result_ = clean;
  GONKA_LOG_INFO("http server stopped", {"server", options_.name}, {"clean", clean});
  return clean;
}

// ---------------------------------------------------------------------------------------------
// HttpServer.

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { impl_->Stop(absl::Now()); }

absl::Status HttpServer::Validate(const HttpServerOptions& o) {
  if (o.name.empty()) return absl::InvalidArgumentError("name: must not be empty");
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port: ", o.port, " is not in 0..65535"));
  }
  if (o.threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("threads: ", o.threads, " must be >= 1"));
  }
  if (o.handler_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("handler_threads: ", o.handler_threads, " must be >= 1"));
  }
  if (o.max_body_bytes == 0) return absl::InvalidArgumentError("max_body_bytes: must be > 0");
  if (o.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_timeout: ", absl::FormatDuration(o.request_timeout), " must be > 0"));
  }
  if (o.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("idle_timeout: ", absl::FormatDuration(o.idle_timeout), " must be > 0"));
  }
  if (o.max_stream_buffer_bytes == 0) {
    return absl::InvalidArgumentError("max_stream_buffer_bytes: must be > 0");
  }
  return absl::OkStatus();
}

void HttpServer::Handle(absl::string_view method, absl::string_view path, Handler handler) {
  Handle(method, path, std::move(handler), RouteOptions());
}

void HttpServer::Handle(absl::string_view method, absl::string_view path, Handler handler,
                        RouteOptions options) {
  Route route;
  route.kind = RouteKind::kPlain;
  route.plain = std::move(handler);
  route.prepared_handler = std::move(options.prepared_handler);
  route.inline_handler = std::move(options.inline_handler);
  route.admission = options.admission;
  impl_->AddRoute(method, path, std::move(route));
}

void HttpServer::HandleStream(absl::string_view method, absl::string_view path,
                              StreamHandler handler) {
  Route route;
  route.kind = RouteKind::kStream;
  route.stream = std::move(handler);
  impl_->AddRoute(method, path, std::move(route));
}

void HttpServer::HandleAsync(absl::string_view method, absl::string_view path,
                             AsyncHandler handler) {
  HandleAsync(method, path, std::move(handler), RouteOptions());
}

void HttpServer::HandleAsync(absl::string_view method, absl::string_view path, AsyncHandler handler,
                             RouteOptions options) {
  Route route;
  route.kind = RouteKind::kAsync;
  route.async = std::move(handler);
  route.admission = options.admission;
  impl_->AddRoute(method, path, std::move(route));
}

void HttpServer::HandleWebSocket(absl::string_view path, WebSocketHandler handler) {
  Route route;
  route.kind = RouteKind::kWebSocket;
  route.websocket = std::move(handler);
  impl_->AddRoute("GET", path, std::move(route));
}

void HttpServer::SetAdmission(AdmissionHook hook) { impl_->SetAdmission(std::move(hook)); }

absl::Status HttpServer::Start() { return impl_->Start(); }

int HttpServer::port() const { return impl_->port_.load(); }

const IoExecutor* HttpServer::io_executor() const { return &impl_->loop_; }

void HttpServer::SetDraining(bool draining) { impl_->draining_ = draining; }

bool HttpServer::draining() const { return impl_->draining_.load(); }

void HttpServer::StopAccepting() { impl_->StopAccepting(); }

bool HttpServer::Stop(absl::Time deadline) { return impl_->Stop(deadline); }

HttpServer::Stats HttpServer::stats() const {
  Stats s;
  s.connections_accepted = impl_->connections_accepted_.load();
  s.open_connections = impl_->open_connections_.load();
  s.in_flight = impl_->in_flight_.load();
  s.open_streams = impl_->open_streams_.load();
  s.open_websockets = impl_->open_websockets_.load();
  s.requests = impl_->requests_.load();
  return s;
}

}  // namespace net
}  // namespace gonka
