#include "gonka/net/websocket_client.h"

#include <chrono>
#include <deque>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/metrics.h"
#include "gonka/net/internal/asio_status.h"
#include "gonka/net/internal/tls_client.h"
#include "gonka/net/url.h"

namespace gonka {
namespace net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::chrono::nanoseconds ToChrono(absl::Duration duration) {
  return absl::ToChronoNanoseconds(std::max(duration, absl::ZeroDuration()));
}

}  // namespace

class WebSocketClient::Impl {
 public:
  explicit Impl(WebSocketClientOptions options)
      : options_(std::move(options)),
        connects_(&prometheus::BuildCounter()
                       .Name("gonka_websocket_client_connects_total")
                       .Help("Successful WebSocket handshakes, by client")
                       .Register(metrics::Registry())
                       .Add({{"client", options_.name}})),
        disconnects_(&prometheus::BuildCounter()
                          .Name("gonka_websocket_client_disconnects_total")
                          .Help("Established WebSocket connections that ended, by client")
                          .Register(metrics::Registry())
                          .Add({{"client", options_.name}})),
        connected_gauge_(&prometheus::BuildGauge()
                              .Name("gonka_websocket_client_connected")
                              .Help("Open WebSocket client connections, by client")
                              .Register(metrics::Registry())
                              .Add({{"client", options_.name}})),
        reconnect_timer_(ioc_),
        resolve_timer_(ioc_),
        resolver_(ioc_) {}

  ~Impl() { Close(); }

  absl::Status Start() {
    absl::StatusOr<Url> url = ParseUrl(options_.url);
    if (!url.ok()) return url.status();
    if (url->scheme != "ws" && url->scheme != "wss") {
      return absl::InvalidArgumentError(
          absl::StrCat("WebSocketClient: URL \"", options_.url, "\" is not ws:// or wss://"));
    }
    if (url->tls()) {
      absl::StatusOr<std::shared_ptr<asio::ssl::context>> context =
          internal::MakeTlsClientContext(options_.tls);
      if (!context.ok()) {
        return absl::Status(
            context.status().code(),
            absl::StrCat("WebSocketClient ", options_.url, ": ", context.status().message()));
      }
      tls_context_ = *std::move(context);
    }
    absl::Status backoff_ok = Backoff::Validate(options_.reconnect_backoff);
    if (!backoff_ok.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "WebSocketClient ", options_.url, ": reconnect_backoff: ", backoff_ok.message()));
    }
    absl::MutexLock start_lock(&start_mu_);  // Start() and Close() exclude each other
    {
      absl::MutexLock lock(&mu_);
      if (started_ || closing_) {
        return absl::FailedPreconditionError(
            absl::StrCat("WebSocketClient ", options_.url, ": already started or closed"));
      }
      started_ = true;
    }
    url_ = *std::move(url);
    backoff_.emplace(options_.reconnect_backoff);
    work_.emplace(asio::make_work_guard(ioc_));
    asio::post(ioc_, [this] { Connect(); });
    thread_ = std::thread([this] {
      {
        absl::MutexLock lock(&mu_);
        io_thread_id_ = std::this_thread::get_id();
      }
      ioc_.run();
    });
    return absl::OkStatus();
  }

  absl::Status SendText(std::string message) {
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      const bool from_on_connect = in_on_connect_ && std::this_thread::get_id() == io_thread_id_;
      if ((!connected_ && !from_on_connect) || closing_) {
        return absl::UnavailableError(
            absl::StrCat("WebSocketClient ", options_.url, ": not connected"));
      }
      if (queued_bytes_ + message.size() > options_.max_queued_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat("WebSocketClient ", options_.url,
                                                         ": send queue over ",
                                                         options_.max_queued_bytes, " bytes"));
      }
      queued_bytes_ += message.size();
      queue_.push_back(std::move(message));
      if (writing_) return absl::OkStatus();
      writing_ = true;
      generation = generation_;
    }
    asio::post(ioc_, [this, generation] { WriteNext(generation); });
    return absl::OkStatus();
  }

  void Close() {
    std::thread::id io_thread;
    {
      absl::MutexLock lock(&mu_);
      io_thread = io_thread_id_;
    }
    if (std::this_thread::get_id() == io_thread) {
      // From a callback: Start() has finished (the thread exists). The close proceeds once the
      // callback returns; the destructor joins.
      BeginClose();
      return;
    }
    absl::MutexLock start_lock(&start_mu_);
    BeginClose();
    if (thread_.joinable()) thread_.join();
  }

  bool connected() const {
    absl::MutexLock lock(&mu_);
    return connected_ && !closing_;
  }

  int64_t connect_count() const {
    absl::MutexLock lock(&mu_);
    return connect_count_;
  }

  absl::Status last_error() const {
    absl::MutexLock lock(&mu_);
    return last_error_;
  }

  absl::Status WaitConnected(absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return connected_ || closing_; };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (closing_) {
      return absl::FailedPreconditionError(
          absl::StrCat("WebSocketClient ", options_.url, ": closed"));
    }
    if (!connected_) {
      return absl::DeadlineExceededError(
          absl::StrCat("WebSocketClient ", options_.url, ": not connected by the deadline"));
    }
    return absl::OkStatus();
  }

 private:
  // One connection attempt and, if it succeeds, the connection. Handlers hold it alive; a
  // handler whose connection is no longer `current_` does nothing. A wss connection runs the
  // WebSocket over a Beast ssl_stream on the same kind of tcp_stream.
  struct Connection {
    Connection(asio::io_context& ioc, asio::ssl::context* tls_context) {
      if (tls_context != nullptr) {
        tls.emplace(ioc, *tls_context);
      } else {
        plain.emplace(ioc);
      }
    }
    beast::tcp_stream& tcp() {
      return tls ? beast::get_lowest_layer(*tls) : beast::get_lowest_layer(*plain);
    }
    // Runs `f` with the WebSocket stream.
    template <class F>
    void WithStream(F&& f) {
      if (tls) {
        f(*tls);
      } else {
        f(*plain);
      }
    }
    std::optional<websocket::stream<beast::tcp_stream>> plain;
    std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> tls;
    beast::flat_buffer read_buffer;
    bool open = false;
  };

  // Marks the client closing and, the first time, has the I/O thread close the connection.
  void BeginClose() {
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;
      closing_ = true;
      if (!started_) return;
    }
    asio::post(ioc_, [this] {
      reconnect_timer_.cancel();
      resolve_timer_.cancel();
      resolver_.cancel();
      work_.reset();  // run() returns once the close below completes
      std::shared_ptr<Connection> conn = current_;
      if (conn == nullptr) return;
      if (conn->open) {
        // Bounded by the stream's handshake timeout; the peer's close frame ends the read.
        conn->WithStream([&](auto& ws) {
          ws.async_close(websocket::close_code::normal, [this, conn](error_code ec) {
            conn->tcp().close();
            Failed(conn, ec);
          });
        });
      } else {
        conn->tcp().close();  // aborts the connect or handshake
      }
    });
  }

  // --- Everything below runs on the I/O thread. ---

  bool Closing() {
    absl::MutexLock lock(&mu_);
    return closing_;
  }

  void Connect() {
    if (Closing()) return;
    auto conn = std::make_shared<Connection>(ioc_, tls_context_.get());
    current_ = conn;
    error_code ec;
    asio::ip::address address = asio::ip::make_address(url_.host, ec);
    if (!ec) {
      ConnectTo(conn, {tcp::endpoint(address, url_.port)});
      return;
    }
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [this, conn](error_code ec, tcp::resolver::results_type results) {
                              resolve_timer_.cancel();
                              if (conn != current_) return;
                              if (ec) {
                                Failed(conn, ec);
                                return;
                              }
                              std::vector<tcp::endpoint> endpoints;
                              for (const auto& entry : results) {
                                endpoints.push_back(entry.endpoint());
                              }
                              ConnectTo(conn, std::move(endpoints));
                            });
    resolve_timer_.expires_after(ToChrono(options_.handshake_timeout));
    resolve_timer_.async_wait([this](error_code ec) {
      if (!ec) resolver_.cancel();
    });
  }

  void ConnectTo(const std::shared_ptr<Connection>& conn, std::vector<tcp::endpoint> endpoints) {
    beast::tcp_stream& tcp_stream = conn->tcp();
    tcp_stream.expires_after(ToChrono(options_.handshake_timeout));
    tcp_stream.async_connect(endpoints, [this, conn](error_code ec, const tcp::endpoint&) {
      if (conn != current_) return;
      if (ec) {
        Failed(conn, ec);
        return;
      }
      error_code ignored;
      conn->tcp().socket().set_option(tcp::no_delay(true), ignored);
      if (conn->tls) {
        TlsHandshake(conn);
      } else {
        Handshake(conn);
      }
    });
  }

  // wss: the TLS handshake (bounded by the handshake timeout on the TCP layer), then the
  // WebSocket one.
  void TlsHandshake(const std::shared_ptr<Connection>& conn) {
    beast::ssl_stream<beast::tcp_stream>& ssl = conn->tls->next_layer();
    absl::Status prepared =
        internal::PrepareTlsClient(ssl.native_handle(), options_.tls, url_.host);
    if (!prepared.ok()) {
      Failed(conn, asio::error::invalid_argument,
             absl::Status(prepared.code(),
                          absl::StrCat("WebSocket ", options_.url, ": ", prepared.message())));
      return;
    }
    conn->tcp().expires_after(ToChrono(options_.handshake_timeout));
    ssl.async_handshake(asio::ssl::stream_base::client, [this, conn](error_code ec) {
      if (conn != current_) return;
      if (ec) {
        Failed(conn, ec,
               internal::TlsHandshakeStatus(ec, conn->tls->next_layer().native_handle(),
                                            absl::StrCat("WebSocket ", options_.url)));
        return;
      }
      Handshake(conn);
    });
  }

  void Handshake(const std::shared_ptr<Connection>& conn) {
    // From here on the WebSocket stream's own timeouts apply (Beast requires the TCP layer's
    // to be off): the handshake timeout, then idle pings and dead-peer detection.
    conn->tcp().expires_never();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = ToChrono(options_.handshake_timeout);
    if (options_.idle_timeout == absl::InfiniteDuration()) {
      timeouts.idle_timeout = websocket::stream_base::none();
      timeouts.keep_alive_pings = false;
    } else {
      timeouts.idle_timeout = ToChrono(options_.idle_timeout);
      timeouts.keep_alive_pings = true;
    }
    conn->WithStream([&](auto& ws) {
      ws.set_option(timeouts);
      ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, options_.user_agent);
        for (const auto& header : options_.headers) req.set(header.first, header.second);
      }));
      ws.read_message_max(options_.max_message_bytes);
      ws.async_handshake(url_.HostPort(), url_.target, [this, conn](error_code ec) {
        if (conn != current_) return;
        if (ec) {
          Failed(conn, ec);
          return;
        }
        Opened(conn);
      });
    });
  }

  void Opened(const std::shared_ptr<Connection>& conn) {
    conn->open = true;
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;  // Close() has already sent the close frame
      ++generation_;
      // on_connect may queue messages; the writer starts once it returns, and other threads see
      // the connection only then, so resubscriptions go out first.
      in_on_connect_ = true;
      writing_ = true;
    }
    backoff_->Reset();
    if (options_.on_connect) options_.on_connect();
    {
      absl::MutexLock lock(&mu_);
      in_on_connect_ = false;
      connected_ = true;
      ++connect_count_;
      generation = generation_;
    }
    connects_->Increment();
    connected_gauge_->Increment();
    WriteNext(generation);
    Read(conn);
  }

  void Read(const std::shared_ptr<Connection>& conn) {
    conn->WithStream([&](auto& ws) {
      ws.async_read(conn->read_buffer, [this, conn](error_code ec, size_t) {
        if (conn != current_) return;
        if (ec) {
          Failed(conn, ec);
          return;
        }
        asio::const_buffer data = conn->read_buffer.data();
        if (options_.on_message) {
          options_.on_message(
              absl::string_view(static_cast<const char*>(data.data()), data.size()));
        }
        conn->read_buffer.consume(data.size());
        Read(conn);
      });
    });
  }

  void WriteNext(uint64_t generation) {
    std::shared_ptr<Connection> conn = current_;
    auto message = std::make_shared<std::string>();
    {
      absl::MutexLock lock(&mu_);
      if (generation != generation_) return;  // queued for a connection that has since ended
      if (conn == nullptr || queue_.empty()) {
        writing_ = false;
        return;
      }
      *message = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= message->size();
    }
    conn->WithStream([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(*message),
                     [this, conn, message, generation](error_code ec, size_t) {
                       if (conn != current_) return;
                       if (ec) {
                         Failed(conn, ec);
                         return;
                       }
                       WriteNext(generation);
                     });
    });
  }

  // Ends `conn` (if still current): reports the disconnect (or the failed attempt) and schedules
  // the next attempt. `why`, when not OK, is the error to report instead of `ec`'s.
  void Failed(const std::shared_ptr<Connection>& conn, const error_code& ec,
              absl::Status why = absl::OkStatus()) {
    if (conn != current_) return;
    current_.reset();
    error_code ignored;
    conn->tcp().socket().close(ignored);
    if (why.ok()) why = internal::ErrorToStatus(ec, absl::StrCat("WebSocket ", options_.url));
    bool was_connected;
    bool closing;
    {
      absl::MutexLock lock(&mu_);
      was_connected = connected_;
      closing = closing_;
      if (!closing_) last_error_ = why;
      connected_ = false;
      queue_.clear();
      queued_bytes_ = 0;
      writing_ = false;
      ++generation_;
    }
    if (was_connected) {
      disconnects_->Increment();
      connected_gauge_->Decrement();
    }
    if (was_connected && options_.on_disconnect) {
      options_.on_disconnect(closing
                                 ? absl::CancelledError(absl::StrCat(
                                       "WebSocketClient ", options_.url, ": closed by the client"))
                                 : why);
    }
    if (!was_connected && !closing && options_.on_connect_error) options_.on_connect_error(why);
    if (closing) return;
    reconnect_timer_.expires_after(ToChrono(backoff_->Next()));
    reconnect_timer_.async_wait([this](error_code ec) {
      if (!ec) Connect();
    });
  }

  const WebSocketClientOptions options_;
  Url url_;                                          // set by Start() before the I/O thread exists
  std::shared_ptr<asio::ssl::context> tls_context_;  // wss only; set by Start() as url_
  prometheus::Counter* const connects_;
  prometheus::Counter* const disconnects_;
  prometheus::Gauge* const connected_gauge_;

  asio::io_context ioc_;  // declared before everything that uses it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer resolve_timer_;
  tcp::resolver resolver_;
  absl::Mutex start_mu_;
  std::thread thread_ ABSL_GUARDED_BY(start_mu_);
  // I/O thread only (work_ is set by Start() before the thread exists).
  std::optional<Backoff> backoff_;
  std::shared_ptr<Connection> current_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  int64_t connect_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  // True while on_connect runs (on the I/O thread): only it may SendText() then.
  bool in_on_connect_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id io_thread_id_ ABSL_GUARDED_BY(mu_);
  // Messages for the current connection; cleared when it ends.
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // True while a WriteNext chain runs for generation_.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Changes whenever a connection opens or ends, so work queued for an old one is dropped.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

WebSocketClient::WebSocketClient(WebSocketClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

WebSocketClient::~WebSocketClient() = default;

absl::Status WebSocketClient::Start() { return impl_->Start(); }

absl::Status WebSocketClient::SendText(std::string message) {
  return impl_->SendText(std::move(message));
}

void WebSocketClient::Close() { impl_->Close(); }

bool WebSocketClient::connected() const { return impl_->connected(); }

int64_t WebSocketClient::connect_count() const { return impl_->connect_count(); }

absl::Status WebSocketClient::last_error() const { return impl_->last_error(); }

absl::Status WebSocketClient::WaitConnected(absl::Time deadline) const {
  return impl_->WaitConnected(deadline);
}

}  // namespace net
}  // namespace gonka
