// HttpClient against a small asynchronous Beast server defined here, so the client's tests do
// not depend on gonka/net's own server.
#include "gonka/net/http_client.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/metrics.h"
#include "gonka/net/sse.h"
#include "gonka/net/url.h"

namespace gonka {
namespace net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using ::testing::HasSubstr;

constexpr int kEvents = 100;

// Routes:
//   /slow     answers "slow" after 3 s
//   /events   kEvents SSE events (event "tick", id i, data {"n":i}), chunked, each event split
//             over two chunks
//   /big      a 1 MiB body
//   /missing  404 "nope"
//   else      200 "<METHOD> <target> <body>"
// Responses keep the connection alive when the request does, unless close_after_response is set
// (the server then closes right after answering while still saying keep-alive, as a server whose
// idle timeout fires just after a response).
class TestServer {
 public:
  TestServer() : acceptor_(ioc_) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  // Pending handlers, and the sessions they own, are destroyed with ioc_.
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  int accepted() const { return accepted_.load(); }
  std::atomic<bool> close_after_response{false};
  // Closes each connection, unanswered, when its second request arrives: a pooled connection
  // the server dropped too late for the client to notice before sending.
  std::atomic<bool> drop_second_request{false};

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(TestServer* server, tcp::socket socket)
        : server_(server), stream_(std::move(socket)), timer_(stream_.get_executor()) {}

    void Read() {
      request_ = {};
      http::async_read(stream_, buffer_, request_,
                       [self = shared_from_this()](error_code ec, size_t) {
                         if (!ec) self->Handle();
                       });
    }

   private:
    void Handle() {
      std::string target(request_.target());
      if (++requests_ == 2 && server_->drop_second_request) {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
        return;
      }
      keep_alive_ = request_.keep_alive() && !server_->close_after_response;
      if (target == "/slow") {
        timer_.expires_after(std::chrono::seconds(3));
        timer_.async_wait([self = shared_from_this()](error_code ec) {
          if (!ec) self->Reply(http::status::ok, "slow");
        });
      } else if (target == "/stall-body") {
        // A header promising 100 bytes, 10 of them, then silence (the connection stays open).
        auto head = std::make_shared<std::string>(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n0123456789");
        asio::async_write(stream_, asio::buffer(*head),
                          [self = shared_from_this(), head](error_code, size_t) {
                            self->timer_.expires_after(std::chrono::seconds(5));
                            self->timer_.async_wait([self](error_code) {});
                          });
      } else if (target == "/events") {
        StartEvents();
      } else if (target == "/big") {
        Reply(http::status::ok, std::string(1 << 20, 'x'));
      } else if (target == "/missing") {
        Reply(http::status::not_found, "nope");
      } else {
        Reply(http::status::ok, absl::StrCat(std::string(request_.method_string()), " ", target,
                                             " ", request_.body()));
      }
    }

    void Reply(http::status status, std::string body) {
      auto response = std::make_shared<http::response<http::string_body>>(status, 11);
      response->set(http::field::content_type, "text/plain");
      response->keep_alive(true);
      response->body() = std::move(body);
      response->prepare_payload();
      http::async_write(stream_, *response,
                        [self = shared_from_this(), response](error_code ec, size_t) {
                          if (!ec) self->Next();
                        });
    }

    void StartEvents() {
      auto response = std::make_shared<http::response<http::empty_body>>(http::status::ok, 11);
      response->set(http::field::content_type, "text/event-stream");
      response->keep_alive(true);
      response->chunked(true);
      auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*response);
      http::async_write_header(
          stream_, *serializer,
          [self = shared_from_this(), response, serializer](error_code ec, size_t) {
            if (!ec) self->WriteEventPiece(0);
          });
    }

    void WriteEventPiece(int piece) {
      if (piece == 2 * kEvents) {
        auto last = std::make_shared<http::chunk_last<http::chunk_crlf>>(http::make_chunk_last());
        asio::async_write(stream_, *last, [self = shared_from_this(), last](error_code ec, size_t) {
          if (!ec) self->Next();
        });
        return;
      }
      int n = piece / 2;
      std::string event = SseEvent(absl::StrCat("{\"n\":", n, "}"), "tick", absl::StrCat(n));
      size_t half = event.size() / 2;
      auto text = std::make_shared<std::string>(piece % 2 == 0 ? event.substr(0, half)
                                                               : event.substr(half));
      auto chunk = std::make_shared<http::chunk_body<asio::const_buffer>>(
          asio::const_buffer(text->data(), text->size()));
      asio::async_write(stream_, *chunk,
                        [self = shared_from_this(), text, chunk, piece](error_code ec, size_t) {
                          if (!ec) self->WriteEventPiece(piece + 1);
                        });
    }

    void Next() {
      if (keep_alive_) {
        Read();
        return;
      }
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
    }

    TestServer* server_;
    beast::tcp_stream stream_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    bool keep_alive_ = true;
    int requests_ = 0;
  };

  void Accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      ++accepted_;
      std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(HttpClientTest, RoundTripReusesTheConnection) {
  TestServer server;
  HttpClientOptions options;
  options.name = "round_trip";
  HttpClient client(options);

  absl::StatusOr<HttpResponse> first = client.Get(server.Url("/a?x=1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "GET /a?x=1 ");
  EXPECT_EQ(first->headers.Get("content-type"), "text/plain");

  absl::StatusOr<HttpResponse> second = client.Post(server.Url("/b"), "hello", "text/plain");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->body, "POST /b hello");

  absl::StatusOr<HttpResponse> third = client.Request("PUT", server.Url("/c"), "v");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->body, "PUT /c v");

  EXPECT_EQ(server.accepted(), 1);
  HttpClientStats stats = client.stats();
  EXPECT_EQ(stats.requests, 3u);
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 2u);
  EXPECT_EQ(stats.idle_connections, 1u);

  std::string metrics = metrics::ExposeText();
  EXPECT_THAT(
      metrics,
      HasSubstr("gonka_http_client_requests_total{client=\"round_trip\",result=\"2xx\"} 3"));
  EXPECT_THAT(metrics,
              HasSubstr("gonka_http_client_connections_opened_total{client=\"round_trip\"} 1"));
}

TEST(HttpClientTest, HttpErrorStatusIsAResponse) {
  TestServer server;
  HttpClient client;
  absl::StatusOr<HttpResponse> response = client.Get(server.Url("/missing"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "nope");
}

TEST(HttpClientTest, DeadlineExceededNamesTheUrl) {
  TestServer server;
  HttpClient client;
  absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      client.Get(server.Url("/slow"), HttpCallOptions::Timeout(absl::Milliseconds(200)));
  absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(server.Url("/slow")));
  EXPECT_GE(elapsed, absl::Milliseconds(190));
  EXPECT_LT(elapsed, absl::Seconds(2));

  // An absolute deadline works the same way, and the client stays usable.
  response = client.Get(server.Url("/slow"),
                        HttpCallOptions::Deadline(absl::Now() + absl::Milliseconds(100)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  absl::StatusOr<HttpResponse> after = client.Get(server.Url("/fine"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->body, "GET /fine ");
}

TEST(HttpClientTest, BodyThatStopsArrivingHitsTheDeadline) {
  TestServer server;
  HttpClient client;
  absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      client.Get(server.Url("/stall-body"), HttpCallOptions::Timeout(absl::Milliseconds(300)));
  absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr("response body"));
  EXPECT_GE(elapsed, absl::Milliseconds(290));
  EXPECT_LT(elapsed, absl::Seconds(2));
  absl::StatusOr<HttpResponse> big = client.Get(server.Url("/big"));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body.size(), 1u << 20);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  uint16_t port;
  {
    asio::io_context ioc;
    tcp::acceptor probe(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }  // closed: nothing listens on `port` now
  std::string url = absl::StrCat("http://127.0.0.1:", port, "/status");
  HttpClient client;
  absl::StatusOr<HttpResponse> response =
      client.Get(url, HttpCallOptions::Timeout(absl::Seconds(5)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(url));
}

TEST(HttpClientTest, StreamsServerSentEventsToTheEnd) {
  TestServer server;
  HttpClient client;
  std::vector<SseMessage> events;
  SseReader reader([&](const SseMessage& message) {
    events.push_back(message);
    return true;
  });
  int chunks = 0;
  absl::StatusOr<HttpResponse> response = client.Stream(
      server.Url("/events"),
      [&](absl::string_view bytes) {
        ++chunks;
        return reader.Feed(bytes);
      },
      HttpCallOptions::Timeout(absl::Seconds(20)));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->headers.Get("Content-Type"), "text/event-stream");
  EXPECT_TRUE(response->body.empty());
  ASSERT_EQ(events.size(), static_cast<size_t>(kEvents));
  EXPECT_GT(chunks, 1);
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(events[i].event, "tick");
    EXPECT_EQ(events[i].id, absl::StrCat(i));
    EXPECT_EQ(events[i].data, absl::StrCat("{\"n\":", i, "}"));
  }
  // The finished stream's connection went back to the pool and serves the next request.
  absl::StatusOr<HttpResponse> next = client.Get(server.Url("/after"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClientTest, StreamStopsWhenTheCallbackSaysSo) {
  TestServer server;
  HttpClient client;
  int seen = 0;
  SseReader reader([&](const SseMessage&) { return ++seen < 10; });
  absl::StatusOr<HttpResponse> response = client.Stream(
      server.Url("/events"), [&](absl::string_view bytes) { return reader.Feed(bytes); });
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(client.stats().idle_connections, 0u);  // a half-read stream is not reusable
}

TEST(HttpClientTest, StreamOfAnErrorStatusReturnsTheBody) {
  TestServer server;
  HttpClient client;
  bool called = false;
  absl::StatusOr<HttpResponse> response =
      client.Stream(server.Url("/missing"), [&](absl::string_view) {
        called = true;
        return true;
      });
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "nope");
  EXPECT_FALSE(called);
}

TEST(HttpClientTest, StreamIdleTimeout) {
  TestServer server;
  HttpClient client;
  HttpCallOptions options;
  options.no_deadline = true;
  options.stream_idle_timeout = absl::Milliseconds(200);
  absl::StatusOr<HttpResponse> response = client.Stream(
      server.Url("/slow"), [](absl::string_view) { return true; }, options);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
}

TEST(HttpClientTest, BodyLimit) {
  TestServer server;
  HttpClientOptions options;
  options.max_body_bytes = 1000;
  HttpClient client(options);
  absl::StatusOr<HttpResponse> response = client.Get(server.Url("/big"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(server.Url("/big")));

  HttpCallOptions larger;
  larger.max_body_bytes = 2 << 20;
  response = client.Get(server.Url("/big"), larger);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body.size(), 1u << 20);
}

TEST(HttpClientTest, ConnectionClosedByTheServerIsReplaced) {
  TestServer server;
  server.close_after_response = true;
  HttpClient client;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<HttpResponse> response = client.Get(server.Url(absl::StrCat("/", i)));
    ASSERT_TRUE(response.ok()) << i << ": " << response.status();
    EXPECT_EQ(response->body, absl::StrCat("GET /", i, " "));
  }
  EXPECT_EQ(server.accepted(), 5);
  EXPECT_EQ(client.stats().connections_opened, 5u);
}

TEST(HttpClientTest, StaleConnectionRetriesOnlyIdempotentRequests) {
  TestServer server;
  server.drop_second_request = true;
  HttpClient client;
  ASSERT_TRUE(client.Get(server.Url("/1")).ok());
  // The pooled connection is dropped when the GET arrives: retried once on a fresh connection.
  absl::StatusOr<HttpResponse> get = client.Get(server.Url("/2"));
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->body, "GET /2 ");
  EXPECT_EQ(client.stats().stale_retries, 1u);
  EXPECT_EQ(server.accepted(), 2);

  // A POST that was sent may have been acted on: it is not repeated.
  absl::StatusOr<HttpResponse> post = client.Post(server.Url("/3"), "once");
  EXPECT_EQ(post.status().code(), absl::StatusCode::kUnavailable) << post.status();
  EXPECT_THAT(post.status().message(), HasSubstr(server.Url("/3")));
  EXPECT_EQ(client.stats().stale_retries, 1u);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientTest, ConcurrentCallsShareThePool) {
  TestServer server;
  HttpClientOptions options;
  options.max_idle_per_host = 2;
  HttpClient client(options);
  constexpr int kThreads = 4;
  constexpr int kCalls = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string body = absl::StrCat(t, "-", i);
        absl::StatusOr<HttpResponse> response = client.Post(server.Url("/p"), body);
        if (response.ok() && response->body == absl::StrCat("POST /p ", body)) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
  EXPECT_LE(client.stats().idle_connections, 2u);
  EXPECT_LT(server.accepted(), kThreads * kCalls);
}

TEST(HttpClientTest, InvalidInputs) {
  HttpClient client;
  EXPECT_EQ(client.Get("ftp://127.0.0.1/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Get("ws://127.0.0.1/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Request("BREW", "http://127.0.0.1:1/", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  HttpCallOptions injected;
  injected.headers.Add("X-Note", "a\r\nX-Evil: 1");
  EXPECT_EQ(client.Get("http://127.0.0.1:1/", injected).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<HttpResponse> expired =
      client.Get("http://127.0.0.1:1/", HttpCallOptions::Deadline(absl::Now()));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpClientTest, HttpsUrlsDefaultToPort443AndAreRefusedOnAPlainPort) {
  absl::StatusOr<Url> https = ParseUrl("HTTPS://node.example/status");
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_EQ(https->scheme, "https");
  EXPECT_EQ(https->port, 443);
  EXPECT_TRUE(https->tls());
  absl::StatusOr<Url> wss = ParseUrl("wss://127.0.0.1/websocket");
  ASSERT_TRUE(wss.ok());
  EXPECT_EQ(wss->port, 443);
  EXPECT_TRUE(wss->tls());
  EXPECT_FALSE(ParseUrl("http://127.0.0.1/")->tls());
  EXPECT_EQ(ParseUrl("http://127.0.0.1/")->port, 80);

  // A plain HTTP server answering a TLS ClientHello: the handshake fails with a reason, at once.
  TestServer server;
  HttpClient client;
  const std::string url = absl::StrCat("https", server.Url("/x").substr(4));
  absl::StatusOr<HttpResponse> r = client.Get(url, HttpCallOptions::Timeout(absl::Seconds(5)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("GET ", url, ": TLS handshake failed")));
}

}  // namespace
}  // namespace net
}  // namespace gonka
