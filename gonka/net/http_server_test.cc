// HttpServer tests. The client side is Beast's synchronous API used directly, so these tests do
// not depend on gonka/net's own client.
#include "gonka/net/http_server.h"

#include <poll.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gonka/net/sse.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;

using Client = ::gonka::testing::TestClient;

// Polls `done` every 10 ms for up to 5 s: OK, or DeadlineExceeded naming `what`.
absl::Status WaitUntil(const std::function<bool()>& done, absl::string_view what) {
  return ::gonka::testing::WaitFor(done, absl::Seconds(5), absl::Milliseconds(10), what);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    options.name = "test";
    server_ = std::make_unique<HttpServer>(options);
    server_->Handle("GET", "/hello", [](const HttpRequest& req) {
      return HttpResponse::Text(200, absl::StrCat("hello ", req.QueryParam("name").value_or("")));
    });
    server_->Handle("POST", "/echo", [](const HttpRequest& req) {
      HttpResponse res = HttpResponse::Json(200, req.body);
      res.headers.Set("X-Method", req.method);
      return res;
    });
    server_->Handle("GET", "/v1/*", [](const HttpRequest& req) {
      return HttpResponse::Text(200, absl::StrCat("prefix ", req.path));
    });
    server_->Handle("GET", "/sleep", [](const HttpRequest& req) {
      int ms = std::stoi(req.QueryParam("ms").value_or("0"));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return HttpResponse::Text(200, "slept");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoundTripWithKeepAlive) {
  StartServer();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  auto res = client.Send(http::verb::get, "/hello?name=gonka");
  ASSERT_FALSE(client.error()) << client.error().message();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello gonka");
  EXPECT_TRUE(res.keep_alive());

  res = client.Send(http::verb::post, "/echo", "{\"a\":1}");
  ASSERT_FALSE(client.error());
  EXPECT_EQ(res.body(), "{\"a\":1}");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res["X-Method"], "POST");

  res = client.Send(http::verb::get, "/v1/anything/deep");
  EXPECT_EQ(res.body(), "prefix /v1/anything/deep");
  // All three on one connection.
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
  EXPECT_EQ(server_->stats().requests, 3u);
}

// An inline handler answers on the I/O thread; nullopt hands the request to the pool handler.
// Run with one I/O thread (the io_context's executor, no strand) and with two (strands).
TEST_F(HttpServerTest, InlineHandlerAnswersOrPassesToThePool) {
  for (int threads : {1, 2}) {
    HttpServerOptions options;
    options.name = "inline";
    options.threads = threads;
    HttpServer server(options);
    std::atomic<int> inline_calls{0}, pool_calls{0};
    HttpServer::RouteOptions route;
    route.inline_handler = [&](const HttpRequest& req) -> std::optional<HttpResponse> {
      inline_calls++;
      if (req.QueryParam("miss").has_value()) return std::nullopt;
      return HttpResponse::Text(200, "inline");
    };
    server.Handle(
        "GET", "/cached",
        [&](const HttpRequest&) {
          pool_calls++;
          return HttpResponse::Text(200, "pool");
        },
        route);
    ASSERT_TRUE(server.Start().ok());
    Client client(server.port());
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 50; ++i) {  // alternating on one keep-alive connection
      const bool miss = i % 2 == 1;
      auto res = client.Send(http::verb::get, miss ? "/cached?miss=1" : "/cached");
      ASSERT_FALSE(client.error()) << client.error().message();
      EXPECT_EQ(res.result_int(), 200);
      EXPECT_EQ(res.body(), miss ? "pool" : "inline") << "threads " << threads;
      EXPECT_TRUE(res.keep_alive());
    }
    EXPECT_EQ(inline_calls.load(), 50);
    EXPECT_EQ(pool_calls.load(), 25);
    EXPECT_EQ(server.stats().connections_accepted, 1u);
    EXPECT_TRUE(server.Stop(absl::Now() + absl::Seconds(5)));
  }
}

// A prepared handler's response goes out as prepared on an HTTP/1.1 keep-alive exchange, and
// as the same response built from it for HEAD, HTTP/1.0 and `Connection: close`; nullptr passes
// the request to the inline handler, then the pool.
TEST_F(HttpServerTest, PreparedHandlerSendsThePreparedBytes) {
  for (int threads : {1, 2}) {
    HttpServerOptions options;
    options.name = "prepared";
    options.threads = threads;
    HttpServer server(options);
    auto body = std::make_shared<const std::string>("{\"prepared\":true}");
    auto prepared = std::make_shared<const PreparedResponse>(
        200, HttpHeaders{{"Content-Type", "application/json"}, {"ETag", "\"e1\""}}, body);
    EXPECT_THAT(prepared->head(), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(prepared->head(), HasSubstr("\r\nContent-Length: 17\r\n"));
    EXPECT_THAT(prepared->head(), HasSubstr("\r\nServer: libgonka\r\n"));
    EXPECT_THAT(prepared->head(), ::testing::EndsWith("\r\n\r\n"));
    std::atomic<int> prepared_calls{0}, inline_calls{0}, pool_calls{0};
    HttpServer::RouteOptions route;
    route.prepared_handler =
        [&](const HttpRequest& req) -> std::shared_ptr<const PreparedResponse> {
      prepared_calls++;
      if (req.QueryParam("pass").has_value()) return nullptr;
      return prepared;
    };
    route.inline_handler = [&](const HttpRequest& req) -> std::optional<HttpResponse> {
      inline_calls++;
      if (req.QueryParam("pool").has_value()) return std::nullopt;
      return HttpResponse::Text(200, "inline");
    };
    server.Handle(
        "GET", "/cached",
        [&](const HttpRequest&) {
          pool_calls++;
          return HttpResponse::Text(200, "pool");
        },
        route);
    ASSERT_TRUE(server.Start().ok());
    Client client(server.port());
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 30; ++i) {  // one keep-alive connection
      const char* target = i % 3 == 0   ? "/cached"
                           : i % 3 == 1 ? "/cached?pass"
                                        : "/cached?pass&pool";
      auto res = client.Send(http::verb::get, target);
      ASSERT_FALSE(client.error()) << client.error().message();
      EXPECT_EQ(res.result_int(), 200);
      EXPECT_TRUE(res.keep_alive());
      if (i % 3 == 0) {
        EXPECT_EQ(res.body(), *body);
        EXPECT_EQ(res[http::field::content_type], "application/json");
        EXPECT_EQ(res[http::field::etag], "\"e1\"");
        EXPECT_EQ(res[http::field::server], "libgonka");
      } else {
        EXPECT_EQ(res.body(), i % 3 == 1 ? "inline" : "pool");
      }
    }
    EXPECT_EQ(prepared_calls.load(), 30);
    EXPECT_EQ(inline_calls.load(), 20);
    EXPECT_EQ(pool_calls.load(), 10);
    EXPECT_EQ(server.stats().connections_accepted, 1u);
    EXPECT_EQ(server.stats().requests, 30u);

    // HEAD, HTTP/1.0 and Connection: close: the same response (HEAD without its body), and the
    // connection closes after the last two.
    for (int variant = 0; variant < 3; ++variant) {
      Client other(server.port());
      ASSERT_TRUE(other.connected());
      http::request<http::string_body> req(variant == 0 ? http::verb::head : http::verb::get,
                                           "/cached", variant == 1 ? 10 : 11);
      req.set(http::field::host, "127.0.0.1");
      req.keep_alive(variant == 0);
      beast::error_code ec;
      http::write(other.socket(), req, ec);
      ASSERT_FALSE(ec) << ec.message();
      http::response_parser<http::string_body> parser;
      parser.skip(variant == 0);
      http::read(other.socket(), other.buffer(), parser, ec);
      ASSERT_FALSE(ec) << ec.message();
      auto res = parser.release();
      EXPECT_EQ(res.result_int(), 200);
      EXPECT_EQ(res.version(), variant == 1 ? 10u : 11u);
      EXPECT_EQ(res[http::field::content_length], "17");
      EXPECT_EQ(res[http::field::etag], "\"e1\"");
      EXPECT_EQ(res.body(), variant == 0 ? "" : *body);
      EXPECT_EQ(res.keep_alive(), variant == 0);
    }
    // Draining: the prepared answer carries Connection: close.
    server.SetDraining(true);
    auto drained = client.Send(http::verb::get, "/cached");
    ASSERT_FALSE(client.error()) << client.error().message();
    EXPECT_EQ(drained.body(), *body);
    EXPECT_FALSE(drained.keep_alive());
    client.socket().close();
    EXPECT_TRUE(server.Stop(absl::Now() + absl::Seconds(5)));
  }
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  StartServer();
  Client client(server_->port());
  auto res = client.Send(http::verb::get, "/nope");
  EXPECT_EQ(res.result_int(), 404);
  res = client.Send(http::verb::delete_, "/echo");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[http::field::allow], "POST");
}

TEST_F(HttpServerTest, OversizeBodyGets413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  auto res = client.Send(http::verb::post, "/echo", std::string(4096, 'x'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_FALSE(res.keep_alive());

  // A chunked body that grows past the limit.
  Client chunked(server_->port());
  http::request<http::string_body> req{http::verb::post, "/echo", 11};
  req.set(http::field::host, "x");
  req.chunked(true);
  req.body() = std::string(4096, 'y');
  beast::error_code ec;
  http::write(chunked.socket(), req, ec);
  http::response<http::string_body> res2;
  http::read(chunked.socket(), chunked.buffer(), res2, ec);
  EXPECT_EQ(res2.result_int(), 413);

  // Under the limit is fine.
  Client small(server_->port());
  EXPECT_EQ(small.Send(http::verb::post, "/echo", std::string(1000, 'z')).result_int(), 200);
}

TEST_F(HttpServerTest, SlowHandlerGets503AndSlowRequest408) {
  HttpServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  StartServer(options);
  Client client(server_->port());
  auto res = client.Send(http::verb::get, "/sleep?ms=1500");
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_THAT(res.body(), HasSubstr("timed out"));

  // Headers sent, body never completes.
  Client slow(server_->port());
  std::string partial = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
  asio::write(slow.socket(), asio::buffer(partial));
  http::response<http::string_body> res2;
  beast::error_code ec;
  http::read(slow.socket(), slow.buffer(), res2, ec);
  EXPECT_EQ(res2.result_int(), 408);
}

TEST_F(HttpServerTest, SseStreamOf100EventsReadToTheEnd) {
  StartServer();
  server_->HandleStream(
      "GET", "/events", [](const HttpRequest&, std::shared_ptr<ResponseStream> stream) {
        std::thread([stream] {
          for (int i = 0; i < 100; ++i) {
            stream->Write(SseEvent(absl::StrCat("{\"n\":", i, "}"), "block", absl::StrCat(i)));
          }
          stream->Close();
        }).detach();
      });
  Client client(server_->port());
  http::request<http::string_body> req{http::verb::get, "/events", 11};
  req.set(http::field::host, "x");
  http::write(client.socket(), req);
  http::response_parser<http::string_body> parser;
  beast::error_code ec;
  http::read(client.socket(), client.buffer(), parser, ec);
  ASSERT_FALSE(ec) << ec.message();
  auto res = parser.release();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");
  EXPECT_TRUE(res.chunked());
  std::vector<SseMessage> events;
  SseReader reader([&](const SseMessage& m) {
    events.push_back(m);
    return true;
  });
  reader.Feed(res.body());
  ASSERT_EQ(events.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(events[i].event, "block");
    EXPECT_EQ(events[i].id, absl::StrCat(i));
    EXPECT_EQ(events[i].data, absl::StrCat("{\"n\":", i, "}"));
  }
}

TEST_F(HttpServerTest, AdmissionRefusalAndGuardLifetime) {
  StartServer();
  std::atomic<int> held{0};
  std::atomic<bool> refuse{false};
  server_->SetAdmission([&]() -> std::shared_ptr<void> {
    if (refuse) return nullptr;
    held++;
    return std::shared_ptr<void>(new int(0), [&](void* p) {
      delete static_cast<int*>(p);
      held--;
    });
  });
  Client client(server_->port());
  EXPECT_EQ(client.Send(http::verb::get, "/hello").result_int(), 200);
  // Released once the response is written (allow the I/O thread to finish).
  absl::Status released = WaitUntil([&] { return held == 0; }, "the request's state released");
  EXPECT_TRUE(released.ok()) << released;

  refuse = true;
  auto res = client.Send(http::verb::get, "/hello");
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_FALSE(res.keep_alive());
  // 404 does not consult the hook (still 404 while refusing).
  Client other(server_->port());
  EXPECT_EQ(other.Send(http::verb::get, "/missing").result_int(), 404);
}

// True when the server closes `client`'s connection within 5 s (a read returns EOF or reset);
// false if the connection stays open (or data arrives).
bool ClosedByServer(Client& client) {
  pollfd pfd{client.socket().native_handle(), POLLIN, 0};
  if (::poll(&pfd, 1, 5000) != 1) return false;
  beast::error_code ec;
  char byte;
  client.socket().read_some(asio::buffer(&byte, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// The announce window: draining must not close idle keep-alive connections — a router may be
// sending a request on one right now, and a close would turn it into an empty response (which
// the router must not replay for a POST). The next request on it is answered in full, with
// `Connection: close`; only closing the listener closes idle connections.
TEST_F(HttpServerTest, DrainingKeepsIdleConnectionsUntilTheirNextResponse) {
  StartServer();
  Client idle(server_->port());
  Client idle_post(server_->port());
  ASSERT_TRUE(idle.Send(http::verb::get, "/hello").keep_alive());
  ASSERT_TRUE(idle_post.Send(http::verb::post, "/echo", "1").keep_alive());
  ASSERT_EQ(server_->stats().open_connections, 2);

  server_->SetDraining(true);
  // Closing happened asynchronously before this change; give it every chance to show up.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_->stats().open_connections, 2) << "draining closed idle connections";

  auto res = idle.Send(http::verb::get, "/hello?name=late");
  ASSERT_FALSE(idle.error()) << idle.error().message();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello late");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(res[http::field::connection], "close");
  EXPECT_TRUE(ClosedByServer(idle));

  res = idle_post.Send(http::verb::post, "/echo", "{\"n\":2}");
  ASSERT_FALSE(idle_post.error()) << idle_post.error().message();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "{\"n\":2}");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(ClosedByServer(idle_post));

  // New connections are still accepted while draining, and answered with Connection: close.
  Client fresh(server_->port());
  res = fresh.Send(http::verb::get, "/hello");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
}

TEST_F(HttpServerTest, StopAcceptingClosesIdleConnectionsAndRefusesNewOnes) {
  StartServer();
  Client idle(server_->port());
  ASSERT_TRUE(idle.Send(http::verb::get, "/hello").keep_alive());
  server_->SetDraining(true);
  Client idle_while_draining(server_->port());  // accepted during the announce window
  ASSERT_EQ(idle_while_draining.Send(http::verb::get, "/hello").result_int(), 200);
  Client busy(server_->port());
  http::request<http::string_body> slow{http::verb::get, "/sleep?ms=500", 11};
  slow.set(http::field::host, "x");
  http::write(busy.socket(), slow);
  absl::Status busy_seen =
      WaitUntil([&] { return server_->stats().in_flight == 1; }, "the slow request in flight");
  ASSERT_TRUE(busy_seen.ok()) << busy_seen;

  server_->StopAccepting();
  EXPECT_TRUE(ClosedByServer(idle));
  EXPECT_TRUE(ClosedByServer(idle_while_draining));
  // The request in progress finishes, with Connection: close.
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(busy.socket(), busy.buffer(), res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.body(), "slept");
  EXPECT_FALSE(res.keep_alive());
  absl::Status all_closed =
      WaitUntil([&] { return server_->stats().open_connections == 0; }, "every connection closed");
  EXPECT_TRUE(all_closed.ok()) << all_closed;

  Client refused(server_->port());
  EXPECT_FALSE(refused.connected());
  EXPECT_EQ(refused.error(), asio::error::connection_refused);
}

// Without SetDraining (e.g. a server stopped directly), closing the listener still ends
// keep-alive: idle connections close and responses in progress carry Connection: close.
TEST_F(HttpServerTest, StopAcceptingWithoutDrainingClosesIdleConnections) {
  StartServer();
  Client idle(server_->port());
  ASSERT_TRUE(idle.Send(http::verb::get, "/hello").keep_alive());
  server_->StopAccepting();
  EXPECT_TRUE(ClosedByServer(idle));
  absl::Status all_closed =
      WaitUntil([&] { return server_->stats().open_connections == 0; }, "every connection closed");
  EXPECT_TRUE(all_closed.ok()) << all_closed;
}

TEST_F(HttpServerTest, StopWaitsForStreamsToFinish) {
  StartServer();
  absl::Notification started;
  server_->HandleStream("GET", "/slow-stream",
                        [&](const HttpRequest&, std::shared_ptr<ResponseStream> stream) {
                          started.Notify();
                          std::thread([stream] {
                            for (int i = 0; i < 10; ++i) {
                              stream->Write(SseEvent(absl::StrCat(i)));
                              std::this_thread::sleep_for(std::chrono::milliseconds(50));
                            }
                            stream->Close();
                          }).detach();
                        });
  std::string body;
  beast::error_code read_error;
  std::thread reader([&] {
    Client client(server_->port());
    http::request<http::string_body> req{http::verb::get, "/slow-stream", 11};
    req.set(http::field::host, "x");
    http::write(client.socket(), req);
    http::response<http::string_body> res;
    http::read(client.socket(), client.buffer(), res, read_error);
    body = res.body();
  });
  // (Not ASSERT: the reader thread must be joined; Stop ends its read either way.)
  EXPECT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "timed out after 10s waiting for the stream handler to start";
  EXPECT_TRUE(server_->Stop(absl::Now() + absl::Seconds(10)));
  reader.join();
  EXPECT_FALSE(read_error) << read_error.message();
  int count = 0;
  SseReader sse([&](const SseMessage&) { return ++count > 0; });
  sse.Feed(body);
  EXPECT_EQ(count, 10);
}

TEST_F(HttpServerTest, StopCutsStreamsAtTheDeadline) {
  StartServer();
  std::shared_ptr<ResponseStream> kept;
  absl::Notification started;
  std::atomic<bool> closed{false};
  server_->HandleStream("GET", "/forever",
                        [&](const HttpRequest&, std::shared_ptr<ResponseStream> stream) {
                          stream->OnClose([&] { closed = true; });
                          stream->Write(SseComment("hi"));
                          kept = stream;
                          started.Notify();
                        });
  Client client(server_->port());
  http::request<http::string_body> req{http::verb::get, "/forever", 11};
  req.set(http::field::host, "x");
  http::write(client.socket(), req);
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "timed out after 10s waiting for the stream handler to start";
  auto t0 = absl::Now();
  EXPECT_FALSE(server_->Stop(absl::Now() + absl::Milliseconds(300)));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_TRUE(closed);
  EXPECT_TRUE(kept->closed());
  EXPECT_FALSE(kept->Write("late"));
}

TEST_F(HttpServerTest, WebSocketEcho) {
  StartServer();
  server_->HandleWebSocket("/ws", [](const HttpRequest&, std::shared_ptr<WebSocketSession> s) {
    std::weak_ptr<WebSocketSession> weak = s;
    s->OnMessage([weak](std::string message) {
      if (auto session = weak.lock()) session->SendText("echo:" + message);
    });
  });
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  ws.handshake("127.0.0.1", "/ws");
  for (int i = 0; i < 5; ++i) {
    ws.write(asio::buffer(absl::StrCat("m", i)));
    beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_EQ(beast::buffers_to_string(buffer.data()), absl::StrCat("echo:m", i));
  }
  EXPECT_EQ(server_->stats().open_websockets, 1);
  ws.close(websocket::close_code::normal);
  // A plain GET on a WebSocket route.
  Client plain(server_->port());
  EXPECT_EQ(plain.Send(http::verb::get, "/ws").result_int(), 426);
}

TEST_F(HttpServerTest, WebSocketAndStreamHoldTheAdmissionGuard) {
  StartServer();
  std::atomic<int> held{0};
  server_->SetAdmission([&]() -> std::shared_ptr<void> {
    held++;
    return std::shared_ptr<void>(new int(0), [&](void* p) {
      delete static_cast<int*>(p);
      held--;
    });
  });
  server_->HandleWebSocket("/ws", [](const HttpRequest&, std::shared_ptr<WebSocketSession>) {});
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  ws.handshake("127.0.0.1", "/ws");
  EXPECT_EQ(held, 1);  // held while the session is open
  ws.close(websocket::close_code::normal);
  beast::flat_buffer buffer;
  beast::error_code ec;
  ws.read(buffer, ec);  // the server's close reply
  absl::Status released = WaitUntil([&] { return held == 0; }, "the session's state released");
  EXPECT_TRUE(released.ok()) << released;
}

TEST(HttpServerOptionsTest, ValidateNamesTheField) {
  HttpServerOptions options;
  options.port = 70000;
  EXPECT_THAT(std::string(HttpServer::Validate(options).message()), HasSubstr("port"));
  options = {};
  options.request_timeout = absl::ZeroDuration();
  EXPECT_THAT(std::string(HttpServer::Validate(options).message()), HasSubstr("request_timeout"));
  options = {};
  options.bind_address = "not-an-ip";
  HttpServer server(options);
  absl::Status status = server.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bind_address"));
}

TEST(HttpServerPortTest, PortInUseIsUnavailable) {
  HttpServer first;
  ASSERT_TRUE(first.Start().ok());
  HttpServerOptions options;
  options.port = first.port();
  HttpServer second(options);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrCat(first.port())));
}

}  // namespace
}  // namespace net
}  // namespace gonka
