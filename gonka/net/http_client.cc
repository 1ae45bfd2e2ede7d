#include "gonka/net/http_client.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kHeaderLimit = 64 << 10;
constexpr size_t kStreamBufferBytes = 64 << 10;
// Beast's http::read reads at most 64 KB per read_some.
constexpr size_t kBodyReadChunk = 64 << 10;

// One pooled keep-alive connection. Each owns its io_context so that a call runs its
// asynchronous operations (which is what gives Beast's per-operation timeouts) on the caller's
// thread, without a shared I/O thread and without handing callbacks to another thread.
// An https connection is a Beast ssl_stream over the same kind of tcp_stream, whose expiry
// bounds the TLS records' reads and writes just as it bounds plain ones.
struct Connection {
  // `tls_context` null: plain TCP.
  explicit Connection(std::shared_ptr<asio::ssl::context> tls_context)
      : context(std::move(tls_context)) {
    if (context != nullptr) {
      tls.emplace(ioc, *context);
    } else {
      plain.emplace(ioc);
    }
  }

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  // Runs `f` with the stream HTTP messages travel on.
  template <class F>
  void WithStream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(*plain);
    }
  }

  asio::io_context ioc;  // declared first: destroyed after the streams that use it
  std::shared_ptr<asio::ssl::context> context;  // outlives `tls`
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  absl::Time idle_since;
};

// Runs the pending operation (and its timer) to completion on the calling thread.
void RunPending(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

void SetExpiry(beast::tcp_stream& stream, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    stream.expires_never();
    return;
  }
  absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  stream.expires_after(absl::ToChronoNanoseconds(left));
}

// A pooled connection is usable when the peer has not closed it and sent nothing unsolicited.
// A non-blocking peek sees a FIN (returns 0) or stray bytes without consuming anything.
// (Over TLS a server's close_notify alert counts as stray bytes: the connection is dropped.)
bool LooksReusable(Connection& conn) {
  if (conn.buffer.size() > 0 || !conn.tcp().socket().is_open()) return false;
  if (conn.tls && SSL_pending(conn.tls->native_handle()) > 0) return false;
  char byte;
  ssize_t n = ::recv(conn.tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool IsIdempotent(http::verb verb) {
  switch (verb) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::options:
    case http::verb::trace:
      return true;
    default:
      return false;
  }
}

beast::string_view ToBeast(absl::string_view text) { return {text.data(), text.size()}; }

// Per-call context for error messages: "GET http://host:port/path".
struct Call {
  std::string what;
  absl::Time deadline;
  bool idempotent = false;  // HttpCallOptions::idempotent
};

// A peer gone away, over TCP or TLS (a TLS peer that closes without close_notify reads as a
// truncated stream).
bool IsDisconnect(const error_code& ec) {
  return internal::IsDisconnect(ec) || ec == asio::ssl::error::stream_truncated;
}

absl::Status Fail(const error_code& ec, const Call& call, absl::string_view phase) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(call.what, ": deadline exceeded while ", phase));
  }
  if (ec == asio::ssl::error::stream_truncated) {
    return absl::UnavailableError(
        absl::StrCat(call.what, " (", phase, "): the peer closed the TLS connection"));
  }
  return internal::ErrorToStatus(ec, absl::StrCat(call.what, " (", phase, ")"));
}

// The `result` label: the status class of a response, or the error code.
std::string ResultLabel(const absl::StatusOr<HttpResponse>& result) {
  if (!result.ok()) return absl::AsciiStrToLower(absl::StatusCodeToString(result.status().code()));
  return absl::StrCat(result->status / 100, "xx");
}

void CopyHeaders(const http::fields& fields, HttpHeaders* out) {
  for (const auto& field : fields) {
    out->Add(absl::string_view(field.name_string().data(), field.name_string().size()),
             absl::string_view(field.value().data(), field.value().size()));
  }
}

}  // namespace

class HttpClient::Impl {
 public:
  explicit Impl(HttpClientOptions options)
      : options_(std::move(options)),
        requests_family_(&prometheus::BuildCounter()
                              .Name("gonka_http_client_requests_total")
                              .Help("HTTP client calls, by client and result (status class or "
                                    "error code)")
                              .Register(metrics::Registry())),
        duration_(&prometheus::BuildHistogram()
                       .Name("gonka_http_client_request_duration_seconds")
                       .Help("HTTP client call duration (for Stream(), until the body ends)")
                       .Register(metrics::Registry())
                       .Add({{"client", options_.name}}, metrics::LatencyBuckets())),
        connections_opened_(&prometheus::BuildCounter()
                                 .Name("gonka_http_client_connections_opened_total")
                                 .Help("TCP connections opened by the HTTP client")
                                 .Register(metrics::Registry())
                                 .Add({{"client", options_.name}})) {}

  absl::StatusOr<HttpResponse> Execute(absl::string_view method, absl::string_view url_text,
                                       std::string body, absl::string_view content_type,
                                       const HttpCallOptions& options,
                                       const ChunkCallback* on_chunk) {
    absl::Time start = absl::Now();
    absl::StatusOr<HttpResponse> result;
    try {
      result = ExecuteOrThrow(method, url_text, std::move(body), content_type, options, on_chunk);
    } catch (const std::exception& e) {
      // Asio throws only on resource exhaustion (e.g. no file descriptors for an io_context).
      result = absl::ResourceExhaustedError(absl::StrCat(method, " ", url_text, ": ", e.what()));
    }
    if (result.ok() || result.status().code() != absl::StatusCode::kInvalidArgument) {
      requests_family_->Add({{"client", options_.name}, {"result", ResultLabel(result)}})
          .Increment();
      duration_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    }
    return result;
  }

  HttpClientStats stats() const {
    absl::MutexLock lock(&mu_);
    HttpClientStats stats = stats_;
    stats.idle_connections = 0;
    for (const auto& entry : idle_) stats.idle_connections += entry.second.size();
    return stats;
  }

  void CloseIdleConnections() {
    std::map<std::string, std::vector<std::unique_ptr<Connection>>> closing;
    {
      absl::MutexLock lock(&mu_);
      closing.swap(idle_);
    }
  }

 private:
  absl::Time CallDeadline(const HttpCallOptions& options) const {
    if (options.no_deadline) return absl::InfiniteFuture();
    absl::Time deadline = options.deadline;
    if (options.timeout != absl::InfiniteDuration()) {
      deadline = std::min(deadline, absl::Now() + options.timeout);
    }
    if (deadline == absl::InfiniteFuture()) deadline = absl::Now() + options_.default_timeout;
    return deadline;
  }

  absl::StatusOr<HttpResponse> ExecuteOrThrow(absl::string_view method, absl::string_view url_text,
                                              std::string body, absl::string_view content_type,
                                              const HttpCallOptions& options,
                                              const ChunkCallback* on_chunk) {
    absl::StatusOr<Url> url = ParseUrl(url_text);
    if (!url.ok()) return url.status();
    if (url->scheme != "http" && url->scheme != "https") {
      return absl::InvalidArgumentError(
          absl::StrCat("HttpClient: URL \"", url_text, "\" is not http:// or https://"));
    }
    std::string upper_method = absl::AsciiStrToUpper(method);
    http::verb verb = http::string_to_verb(ToBeast(upper_method));
    if (verb == http::verb::unknown) {
      return absl::InvalidArgumentError(
          absl::StrCat("HttpClient: unknown method \"", method, "\" for ", url_text));
    }
    for (const auto& header : options.headers) {
      // Beast writes fields as given; a line break would let a value inject fields.
      if (header.first.empty() || header.first.find_first_of(":\r\n \t") != std::string::npos ||
          header.second.find_first_of("\r\n") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("HttpClient: invalid header field \"",
                                                       absl::CEscape(header.first), "\" for ",
                                                       url_text));
      }
    }
    Call call{absl::StrCat(upper_method, " ", url_text), CallDeadline(options), options.idempotent};
    if (absl::Now() >= call.deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(call.what, ": deadline exceeded before the request was sent"));
    }

    http::request<http::string_body> req{verb, url->target, 11};
    req.set(http::field::host, url->HostPort());
    if (!options.headers.Has("User-Agent")) req.set(http::field::user_agent, options_.user_agent);
    if (!content_type.empty()) req.set(http::field::content_type, ToBeast(content_type));
    for (const auto& header : options.headers) req.insert(header.first, header.second);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();

    size_t body_limit =
        options.max_body_bytes != 0 ? options.max_body_bytes : options_.max_body_bytes;
    std::string key = absl::StrCat(url->scheme, "://", url->HostPort());
    if (on_chunk == nullptr) {
      return Plain(*url, key, call, req, body_limit);
    }
    return Streamed(*url, key, call, req, body_limit, options.stream_idle_timeout, *on_chunk);
  }

  // Sends `req` and reads the response header into `parser` (emplaced here, once per attempt).
  // On success `conn` holds the connection the response is arriving on.
  template <class Body>
  absl::Status SendAndReadHeader(const Url& url, const std::string& key, const Call& call,
                                 const http::request<http::string_body>& req,
                                 std::unique_ptr<Connection>* conn,
                                 std::optional<http::response_parser<Body>>* parser,
                                 uint64_t body_limit,
                                 absl::Duration idle_timeout = absl::InfiniteDuration()) {
    const bool idempotent = call.idempotent || IsIdempotent(req.method());
    for (int attempt = 0;; ++attempt) {
      // The retry always uses a fresh connection: other pooled ones to the same server are
      // probably just as stale.
      *conn = attempt == 0 ? TakeIdle(key) : nullptr;
      const bool reused = *conn != nullptr;
      if (!reused) {
        absl::StatusOr<std::unique_ptr<Connection>> fresh = Connect(url, call);
        if (!fresh.ok()) return fresh.status();
        *conn = std::move(*fresh);
      }
      {
        absl::MutexLock lock(&mu_);
        if (attempt == 0) ++stats_.requests;
        if (reused) ++stats_.connections_reused;
      }
      Connection& c = **conn;

      error_code ec;
      size_t written = 0;
      SetExpiry(c.tcp(), call.deadline);
      c.WithStream([&](auto& stream) {
        http::async_write(stream, req, [&](error_code e, size_t n) {
          ec = e;
          written = n;
        });
      });
      RunPending(c.ioc);
      if (ec) {
        if (reused && ec != beast::error::timeout && (idempotent || written == 0)) {
          CountRetry();
          continue;
        }
        return Fail(ec, call, "sending the request");
      }

      parser->emplace();
      (*parser)->header_limit(kHeaderLimit);
      (*parser)->body_limit(body_limit);
      if (req.method() == http::verb::head) (*parser)->skip(true);
      absl::Time header_deadline = call.deadline;
      if (idle_timeout != absl::InfiniteDuration()) {
        header_deadline = std::min(header_deadline, absl::Now() + idle_timeout);
      }
      SetExpiry(c.tcp(), header_deadline);
      c.WithStream([&](auto& stream) {
        http::async_read_header(stream, c.buffer, **parser, [&](error_code e, size_t) { ec = e; });
      });
      RunPending(c.ioc);
      if (ec) {
        // A stale connection shows up as EOF/reset before any byte of the response; the server
        // may have acted on a non-idempotent request, so only idempotent ones are repeated.
        if (reused && idempotent && IsDisconnect(ec) && !(*parser)->got_some()) {
          CountRetry();
          continue;
        }
        if (ec == beast::error::timeout && absl::Now() < call.deadline) {
          return absl::DeadlineExceededError(absl::StrCat(call.what, ": no response header within ",
                                                          absl::FormatDuration(idle_timeout)));
        }
        return Fail(ec, call, "reading the response header");
      }
      return absl::OkStatus();
    }
  }

  absl::StatusOr<HttpResponse> Plain(const Url& url, const std::string& key, const Call& call,
                                     const http::request<http::string_body>& req,
                                     size_t body_limit) {
    std::unique_ptr<Connection> conn;
    std::optional<http::response_parser<http::string_body>> parser;
    absl::Status sent = SendAndReadHeader(url, key, call, req, &conn, &parser, body_limit);
    if (!sent.ok()) return sent;

    if (!parser->is_done()) {
      // The body is read from the socket itself with ONE timer for the call's deadline: the
      // tcp_stream re-arms its timer for every read_some (a timerfd_settime syscall each), which
      // dominated the cost of large answers such as a heavy /block_results. (Over TLS the
      // records are read through the ssl_stream, whose tcp_stream then arms no timer either.)
      error_code ec;
      bool timed_out = false;
      conn->tcp().expires_never();
      std::optional<asio::steady_timer> timer;
      if (call.deadline != absl::InfiniteFuture()) {
        timer.emplace(conn->ioc);
        timer->expires_after(
            absl::ToChronoNanoseconds(std::max(call.deadline - absl::Now(), absl::ZeroDuration())));
        timer->async_wait([&](error_code e) {
          if (e) return;  // cancelled: the body arrived
          timed_out = true;
          error_code ignored;
          conn->tcp().socket().cancel(ignored);
        });
      }
      // Beast reads at most the buffer's free capacity per read_some, and the parser moves what
      // it read into the body at once: a buffer sized by the response header would read a large
      // body a few KB per recv (~140 recv + epoll_wait pairs for a 700 KB batch answer; half the
      // event hub's CPU in catch-up). Room for a full 64 KB read each time.
      conn->buffer.reserve(kBodyReadChunk);
      auto on_read = [&](error_code e, size_t) {
        ec = e;
        if (timer) timer->cancel();
      };
      if (conn->tls) {
        http::async_read(*conn->tls, conn->buffer, *parser, on_read);
      } else {
        http::async_read(conn->plain->socket(), conn->buffer, *parser, on_read);
      }
      RunPending(conn->ioc);
      if (timed_out && ec) ec = beast::error::timeout;
      if (ec) return Fail(ec, call, "reading the response body");
    }
    http::response<http::string_body>& message = parser->get();
    HttpResponse response;
    response.status = message.result_int();
    CopyHeaders(message, &response.headers);
    response.body = std::move(message.body());
    if (message.keep_alive()) ReturnIdle(key, std::move(conn));
    return response;
  }

  absl::StatusOr<HttpResponse> Streamed(const Url& url, const std::string& key, const Call& call,
                                        const http::request<http::string_body>& req,
                                        size_t body_limit, absl::Duration idle_timeout,
                                        const ChunkCallback& on_chunk) {
    std::unique_ptr<Connection> conn;
    std::optional<http::response_parser<http::buffer_body>> parser;
    // The limit applies to error bodies only (checked below); a stream may be endless.
    absl::Status sent = SendAndReadHeader(url, key, call, req, &conn, &parser,
                                          std::numeric_limits<uint64_t>::max(), idle_timeout);
    if (!sent.ok()) return sent;

    HttpResponse response;
    response.status = parser->get().result_int();
    CopyHeaders(parser->get(), &response.headers);
    const bool success = response.status >= 200 && response.status < 300;

    std::vector<char> buffer(kStreamBufferBytes);
    conn->buffer.reserve(kBodyReadChunk);  // full-size reads, as in Plain
    while (!parser->is_done()) {
      parser->get().body().data = buffer.data();
      parser->get().body().size = buffer.size();
      absl::Time read_deadline = call.deadline;
      if (idle_timeout != absl::InfiniteDuration()) {
        read_deadline = std::min(read_deadline, absl::Now() + idle_timeout);
      }
      error_code ec;
      SetExpiry(conn->tcp(), read_deadline);
      conn->WithStream([&](auto& stream) {
        http::async_read_some(stream, conn->buffer, *parser, [&](error_code e, size_t) { ec = e; });
      });
      RunPending(conn->ioc);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (ec == beast::error::timeout && absl::Now() < call.deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat(call.what, ": no stream data for ", absl::FormatDuration(idle_timeout)));
        }
        return Fail(ec, call, "reading the response stream");
      }
      size_t received = buffer.size() - parser->get().body().size;
      if (received == 0) continue;
      absl::string_view bytes(buffer.data(), received);
      if (success) {
        if (!on_chunk(bytes)) return response;  // `conn` closes: the rest is unread
      } else {
        if (response.body.size() + bytes.size() > body_limit) {
          return absl::ResourceExhaustedError(absl::StrCat(
              call.what, ": HTTP ", response.status, " response body over ", body_limit, " bytes"));
        }
        response.body.append(bytes.data(), bytes.size());
      }
    }
    if (parser->get().keep_alive()) ReturnIdle(key, std::move(conn));
    return response;
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Url& url, const Call& call) {
    std::shared_ptr<asio::ssl::context> tls_context;
    if (url.tls()) {
      absl::StatusOr<std::shared_ptr<asio::ssl::context>> context = TlsContext();
      if (!context.ok()) {
        return absl::Status(context.status().code(),
                            absl::StrCat(call.what, ": ", context.status().message()));
      }
      tls_context = *std::move(context);
    }
    auto conn = std::make_unique<Connection>(std::move(tls_context));
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    asio::ip::address address = asio::ip::make_address(url.host, ec);
    if (!ec) {
      endpoints.emplace_back(address, url.port);
    } else {
      // Asio resolves on a helper thread with getaddrinfo, which cannot be interrupted: the
      // cancellation at the deadline takes effect when the lookup returns.
      tcp::resolver resolver(conn->ioc);
      asio::steady_timer timer(conn->ioc);
      tcp::resolver::results_type results;
      ec = {};
      resolver.async_resolve(url.host, std::to_string(url.port),
                             [&](error_code e, tcp::resolver::results_type r) {
                               ec = e;
                               results = std::move(r);
                               timer.cancel();
                             });
      timer.expires_after(
          absl::ToChronoNanoseconds(std::max(call.deadline - absl::Now(), absl::ZeroDuration())));
      timer.async_wait([&](error_code e) {
        if (!e) resolver.cancel();
      });
      RunPending(conn->ioc);
      if (ec == asio::error::operation_aborted && absl::Now() >= call.deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(call.what, ": deadline exceeded while resolving ", url.host));
      }
      if (ec) return Fail(ec, call, absl::StrCat("resolving ", url.host));
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }

    SetExpiry(conn->tcp(), call.deadline);
    conn->tcp().async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    RunPending(conn->ioc);
    if (ec) return Fail(ec, call, "connecting");
    conn->tcp().socket().set_option(tcp::no_delay(true), ec);  // best effort
    if (conn->tls) {
      absl::Status prepared =
          internal::PrepareTlsClient(conn->tls->native_handle(), options_.tls, url.host);
      if (!prepared.ok()) {
        return absl::Status(prepared.code(), absl::StrCat(call.what, ": ", prepared.message()));
      }
      conn->tls->async_handshake(asio::ssl::stream_base::client, [&](error_code e) { ec = e; });
      RunPending(conn->ioc);
      if (ec) return internal::TlsHandshakeStatus(ec, conn->tls->native_handle(), call.what);
    }
    connections_opened_->Increment();
    absl::MutexLock lock(&mu_);
    ++stats_.connections_opened;
    return conn;
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::vector<std::unique_ptr<Connection>> expired;  // closed outside the lock
    std::unique_ptr<Connection> found;
    {
      absl::MutexLock lock(&mu_);
      auto it = idle_.find(key);
      if (it == idle_.end()) return nullptr;
      std::vector<std::unique_ptr<Connection>>& pool = it->second;
      absl::Time oldest_allowed = absl::Now() - options_.idle_timeout;
      // Most recently used last: it is the least likely to have been closed by the server.
      while (!pool.empty() && found == nullptr) {
        std::unique_ptr<Connection> candidate = std::move(pool.back());
        pool.pop_back();
        if (candidate->idle_since >= oldest_allowed && LooksReusable(*candidate)) {
          found = std::move(candidate);
        } else {
          expired.push_back(std::move(candidate));
        }
      }
      if (pool.empty()) idle_.erase(it);
    }
    return found;
  }

  void ReturnIdle(const std::string& key, std::unique_ptr<Connection> conn) {
    if (options_.max_idle_per_host == 0) return;
    conn->idle_since = absl::Now();
    std::unique_ptr<Connection> evicted;
    absl::MutexLock lock(&mu_);
    std::vector<std::unique_ptr<Connection>>& pool = idle_[key];
    if (pool.size() >= options_.max_idle_per_host) {
      evicted = std::move(pool.front());  // the least recently used
      pool.erase(pool.begin());
    }
    pool.push_back(std::move(conn));
  }

  // The client's TLS context, made on first use and shared by its https connections. A CA file
  // that cannot be read is reported on every https call (and retried: it may appear later).
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> TlsContext() {
    absl::MutexLock lock(&tls_mu_);
    if (tls_context_ == nullptr) {
      absl::StatusOr<std::shared_ptr<asio::ssl::context>> made =
          internal::MakeTlsClientContext(options_.tls);
      if (!made.ok()) return made.status();
      tls_context_ = *std::move(made);
    }
    return tls_context_;
  }

  void CountRetry() {
    absl::MutexLock lock(&mu_);
    ++stats_.stale_retries;
  }

  const HttpClientOptions options_;
  prometheus::Family<prometheus::Counter>* const requests_family_;
  prometheus::Histogram* const duration_;
  prometheus::Counter* const connections_opened_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_ ABSL_GUARDED_BY(mu_);
  HttpClientStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Mutex tls_mu_;
  std::shared_ptr<asio::ssl::context> tls_context_ ABSL_GUARDED_BY(tls_mu_);
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<HttpResponse> HttpClient::Get(absl::string_view url,
                                             const HttpCallOptions& options) {
  return impl_->Execute("GET", url, "", "", options, nullptr);
}

absl::StatusOr<HttpResponse> HttpClient::Post(absl::string_view url, std::string body,
                                              absl::string_view content_type,
                                              const HttpCallOptions& options) {
  return impl_->Execute("POST", url, std::move(body), content_type, options, nullptr);
}

absl::StatusOr<HttpResponse> HttpClient::Request(absl::string_view method, absl::string_view url,
                                                 std::string body, const HttpCallOptions& options) {
  return impl_->Execute(method, url, std::move(body), "", options, nullptr);
}

absl::StatusOr<HttpResponse> HttpClient::Stream(absl::string_view url,
                                                const ChunkCallback& on_chunk,
                                                const HttpCallOptions& options) {
  return impl_->Execute("GET", url, "", "", options, &on_chunk);
}

HttpClientStats HttpClient::stats() const { return impl_->stats(); }

void HttpClient::CloseIdleConnections() { impl_->CloseIdleConnections(); }

}  // namespace net
}  // namespace gonka
