// WebSocketClient against a small asynchronous Beast echo server defined here.
#include "gonka/net/websocket_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/metrics.h"

namespace gonka {
namespace net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Echoes every message back. A `mute` server completes the handshake and then never reads, so
// it answers neither pings nor messages: a dead peer whose TCP connection stays up. Stopping
// (destruction) drops every connection at once, as a crashed server would.
class EchoServer {
 public:
  explicit EchoServer(uint16_t port = 0, bool mute = false) : acceptor_(ioc_), mute_(mute) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~EchoServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string Url() const { return absl::StrCat("ws://127.0.0.1:", port_, "/websocket"); }
  std::vector<std::string> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  int sessions() const { return sessions_.load(); }

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(EchoServer* server, tcp::socket socket) : server_(server), ws_(std::move(socket)) {}

    void Start() {
      ws_.async_accept([self = shared_from_this()](error_code ec) {
        if (ec) return;
        ++self->server_->sessions_;
        if (self->server_->mute_) {
          self->server_->Park(self);
          return;
        }
        self->Read();
      });
    }

   private:
    void Read() {
      ws_.async_read(buffer_, [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return;
        self->Echo();
      });
    }

    void Echo() {
      auto message = std::make_shared<std::string>(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      {
        absl::MutexLock lock(&server_->mu_);
        server_->received_.push_back(*message);
      }
      ws_.text(true);
      ws_.async_write(asio::buffer(*message),
                      [self = shared_from_this(), message](error_code ec, size_t) {
                        if (!ec) self->Read();
                      });
    }

    EchoServer* server_;
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
  };

  void Accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(this, std::move(socket))->Start();
      Accept();
    });
  }

  // Keeps a mute session's connection open (I/O thread only).
  void Park(std::shared_ptr<Session> session) { parked_.push_back(std::move(session)); }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  const bool mute_;
  uint16_t port_ = 0;
  std::atomic<int> sessions_{0};
  std::vector<std::shared_ptr<Session>> parked_;
  mutable absl::Mutex mu_;
  std::vector<std::string> received_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// What the client's callbacks saw.
struct Observed {
  mutable absl::Mutex mu;
  int connects ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> messages ABSL_GUARDED_BY(mu);
  std::vector<absl::Status> disconnects ABSL_GUARDED_BY(mu);

  // Waits up to 10 s for `done`, evaluated under mu: annotate it
  // ABSL_SHARED_LOCKS_REQUIRED(observed.mu) so clang's -Wthread-safety checks what it reads.
  template <class Predicate>
  bool WaitFor(Predicate done) const {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
  }
};

WebSocketClientOptions Options(const std::string& url, Observed* observed,
                               std::string send_on_connect = "") {
  WebSocketClientOptions options;
  options.url = url;
  options.handshake_timeout = absl::Seconds(2);
  options.reconnect_backoff.initial = absl::Milliseconds(20);
  options.reconnect_backoff.max = absl::Milliseconds(100);
  options.on_connect = [observed] {
    absl::MutexLock lock(&observed->mu);
    ++observed->connects;
  };
  options.on_message = [observed](absl::string_view message) {
    absl::MutexLock lock(&observed->mu);
    observed->messages.emplace_back(message);
  };
  options.on_disconnect = [observed](const absl::Status& reason) {
    absl::MutexLock lock(&observed->mu);
    observed->disconnects.push_back(reason);
  };
  return options;
}

TEST(WebSocketClientTest, EchoRoundTrip) {
  EchoServer server;
  Observed observed;
  WebSocketClient client(Options(server.Url(), &observed));
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.connect_count(), 1);

  ASSERT_TRUE(client.SendText("hello").ok());
  ASSERT_TRUE(client.SendText(std::string(100000, 'z')).ok());
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.messages.size() == 2; }));
  {
    absl::MutexLock lock(&observed.mu);
    EXPECT_EQ(observed.messages[0], "hello");
    EXPECT_EQ(observed.messages[1], std::string(100000, 'z'));
    EXPECT_EQ(observed.connects, 1);
  }

  client.Close();
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.SendText("late").code(), absl::StatusCode::kUnavailable);
  absl::MutexLock lock(&observed.mu);
  ASSERT_EQ(observed.disconnects.size(), 1u);
  EXPECT_EQ(observed.disconnects[0].code(), absl::StatusCode::kCancelled);
}

TEST(WebSocketClientTest, ReconnectsAfterTheServerRestartsAndResubscribes) {
  auto server = std::make_unique<EchoServer>();
  const uint16_t port = server->port();
  const std::string url = server->Url();
  Observed observed;
  WebSocketClientOptions options = Options(url, &observed);
  options.name = "restart_test";
  WebSocketClient* client_ptr = nullptr;
  // The resubscription a real caller makes from on_connect.
  options.on_connect = [&observed, &client_ptr] {
    {
      absl::MutexLock lock(&observed.mu);
      ++observed.connects;
    }
    EXPECT_TRUE(client_ptr->SendText("subscribe").ok());
  };
  WebSocketClient client(options);
  client_ptr = &client;
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.messages.size() == 1; }));
  ASSERT_TRUE(client.SendText("one").ok());
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.messages.size() == 2; }));
  EXPECT_THAT(server->received(), ElementsAre("subscribe", "one"));

  server.reset();  // every connection drops
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.disconnects.size() == 1; }));
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.SendText("lost").code(), absl::StatusCode::kUnavailable);
  {
    absl::MutexLock lock(&observed.mu);
    EXPECT_EQ(observed.disconnects[0].code(), absl::StatusCode::kUnavailable)
        << observed.disconnects[0];
  }

  server = std::make_unique<EchoServer>(port);  // same address; the client finds it by itself
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.connects == 2; }));
  ASSERT_TRUE(client.WaitConnected(absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(client.connect_count(), 2);
  ASSERT_TRUE(client.SendText("two").ok());
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.messages.size() == 4; }));
  EXPECT_THAT(server->received(), ElementsAre("subscribe", "two"));
  std::string metrics = metrics::ExposeText();
  EXPECT_THAT(metrics,
              HasSubstr("gonka_websocket_client_connects_total{client=\"restart_test\"} 2"));
  EXPECT_THAT(metrics,
              HasSubstr("gonka_websocket_client_disconnects_total{client=\"restart_test\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("gonka_websocket_client_connected{client=\"restart_test\"} 1"));
  absl::MutexLock lock(&observed.mu);
  EXPECT_THAT(observed.messages, ElementsAre("subscribe", "one", "subscribe", "two"));
}

TEST(WebSocketClientTest, DetectsADeadPeerAndReconnects) {
  EchoServer server(0, /*mute=*/true);
  Observed observed;
  WebSocketClientOptions options = Options(server.Url(), &observed);
  options.idle_timeout = absl::Milliseconds(400);
  options.handshake_timeout = absl::Milliseconds(300);  // bounds Close() against a mute peer
  WebSocketClient client(options);
  absl::Time start = absl::Now();
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(absl::Now() + absl::Seconds(10)).ok());
  // The peer answers no ping: the client gives up on it and connects again.
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.connects >= 2; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
  absl::MutexLock lock(&observed.mu);
  ASSERT_GE(observed.disconnects.size(), 1u);
  EXPECT_EQ(observed.disconnects[0].code(), absl::StatusCode::kDeadlineExceeded)
      << observed.disconnects[0];
}

TEST(WebSocketClientTest, KeepsTryingWhileNothingListens) {
  uint16_t port;
  {
    EchoServer probe;
    port = probe.port();
  }
  Observed observed;
  WebSocketClient client(Options(absl::StrCat("ws://127.0.0.1:", port, "/websocket"), &observed));
  ASSERT_TRUE(client.Start().ok());
  EXPECT_EQ(client.WaitConnected(absl::Now() + absl::Milliseconds(150)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(client.SendText("x").code(), absl::StatusCode::kUnavailable);
  EchoServer server(port);
  ASSERT_TRUE(client.WaitConnected(absl::Now() + absl::Seconds(10)).ok());
  absl::MutexLock lock(&observed.mu);
  EXPECT_TRUE(observed.disconnects.empty());  // failed attempts are not disconnects
}

TEST(WebSocketClientTest, CloseFromACallback) {
  EchoServer server;
  Observed observed;
  WebSocketClientOptions options = Options(server.Url(), &observed);
  WebSocketClient* client_ptr = nullptr;
  options.on_message = [&client_ptr](absl::string_view) { client_ptr->Close(); };
  auto client = std::make_unique<WebSocketClient>(options);
  client_ptr = client.get();
  ASSERT_TRUE(client->Start().ok());
  ASSERT_TRUE(client->WaitConnected(absl::Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(client->SendText("bye").ok());
  ASSERT_TRUE(observed.WaitFor(
      [&]() ABSL_SHARED_LOCKS_REQUIRED(observed.mu) { return observed.disconnects.size() == 1; }));
  EXPECT_FALSE(client->connected());
  client.reset();
  absl::MutexLock lock(&observed.mu);
  EXPECT_EQ(observed.disconnects[0].code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(observed.connects, 1);
}

TEST(WebSocketClientTest, InvalidUsage) {
  Observed observed;
  WebSocketClient http_url(Options("http://127.0.0.1:1/", &observed));
  EXPECT_EQ(http_url.Start().code(), absl::StatusCode::kInvalidArgument);
  WebSocketClient garbage(Options("not a url", &observed));
  EXPECT_EQ(garbage.Start().code(), absl::StatusCode::kInvalidArgument);

  WebSocketClient twice(Options("ws://127.0.0.1:1/", &observed));
  EXPECT_EQ(twice.SendText("early").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(twice.Start().ok());
  EXPECT_EQ(twice.Start().code(), absl::StatusCode::kFailedPrecondition);
  twice.Close();
  twice.Close();
  EXPECT_EQ(twice.WaitConnected(absl::Now() + absl::Seconds(1)).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace net
}  // namespace gonka
