#include "gonka/testing/tcp_relay.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "gonka/testing/hosts.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kMaxHeldBytes = 4 << 20;
constexpr size_t kChunk = 64 << 10;
constexpr auto kPausePoll = std::chrono::milliseconds(5);
}  // namespace

class TcpRelay::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}

  ~Impl() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Start() {
    if (options_.target_port <= 0) {
      return absl::InvalidArgumentError("TcpRelay: Options.target_port is required");
    }
    if (options_.listen_port == 0) options_.listen_port = FreePort();
    std::promise<absl::Status> started;
    std::future<absl::Status> result = started.get_future();
    thread_ = std::thread([this, &started] {
      if (!options_.network_namespace.empty()) {
        absl::Status joined = JoinNetworkNamespace(options_.network_namespace);
        if (!joined.ok()) {
          started.set_value(joined);
          return;
        }
      }
      boost::system::error_code ec;
      tcp::endpoint endpoint(asio::ip::make_address(options_.listen_ip, ec),
                             static_cast<uint16_t>(options_.listen_port));
      if (!ec) acceptor_.open(endpoint.protocol(), ec);
      if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor_.bind(endpoint, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        started.set_value(
            absl::UnavailableError(absl::StrCat("TcpRelay: listen on ", options_.listen_ip, ":",
                                                options_.listen_port, ": ", ec.message())));
        return;
      }
      target_ = tcp::endpoint(asio::ip::make_address(options_.target_ip, ec),
                              static_cast<uint16_t>(options_.target_port));
      Accept();
      started.set_value(absl::OkStatus());
      auto work = asio::make_work_guard(io_);
      io_.run();
    });
    absl::Status status = result.get();
    if (!status.ok()) thread_.join();
    return status;
  }

  const Options& options() const { return options_; }
  std::atomic<int64_t> delay_ns{0};
  std::atomic<bool> paused{false};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> open{0};

  void CutConnections() {
    asio::post(io_, [this] {
      for (const std::shared_ptr<Connection>& c : std::set<std::shared_ptr<Connection>>(live_)) {
        c->Close();
      }
    });
  }

 private:
  struct Chunk {
    std::vector<char> bytes;
    Clock::time_point due;
  };

  // One accepted client and its upstream; two pumps (client -> upstream, upstream -> client).
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(Impl* relay, tcp::socket client)
        : relay_(relay),
          sockets_{std::move(client), tcp::socket(relay->io_)},
          timers_{asio::steady_timer(relay->io_), asio::steady_timer(relay->io_)} {}

    void Begin() {
      auto self = shared_from_this();
      sockets_[1].async_connect(relay_->target_, [self](const boost::system::error_code& ec) {
        if (ec) return self->Close();
        self->Read(0);
        self->Read(1);
      });
    }

    void Close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      for (tcp::socket& s : sockets_) s.close(ignored);
      for (asio::steady_timer& t : timers_) t.cancel();
      relay_->live_.erase(shared_from_this());
      relay_->open.fetch_sub(1);
    }

   private:
    // Direction d reads sockets_[d] and writes sockets_[1 - d].
    void Read(int d) {
      if (closed_ || held_[d] >= kMaxHeldBytes) {
        reading_[d] = false;
        return;
      }
      reading_[d] = true;
      auto self = shared_from_this();
      buffers_[d].resize(kChunk);
      sockets_[d].async_read_some(
          asio::buffer(buffers_[d]), [self, d](const boost::system::error_code& ec, size_t n) {
            if (ec) return self->Close();
            Chunk chunk{std::vector<char>(self->buffers_[d].begin(),
                                          self->buffers_[d].begin() + static_cast<long>(n)),
                        Clock::now() + std::chrono::nanoseconds(self->relay_->delay_ns.load())};
            self->held_[d] += n;
            self->queues_[d].push_back(std::move(chunk));
            if (!self->writing_[d]) self->Write(d);
            self->Read(d);
          });
    }

    void Write(int d) {
      if (closed_ || queues_[d].empty()) {
        writing_[d] = false;
        return;
      }
      writing_[d] = true;
      auto self = shared_from_this();
      Clock::time_point now = Clock::now();
      if (relay_->paused.load() || queues_[d].front().due > now) {
        timers_[d].expires_at(relay_->paused.load() ? now + kPausePoll
                                                    : std::min(queues_[d].front().due,
                                                               now + std::chrono::seconds(1)));
        timers_[d].async_wait([self, d](const boost::system::error_code&) { self->Write(d); });
        return;
      }
      asio::async_write(sockets_[1 - d], asio::buffer(queues_[d].front().bytes),
                        [self, d](const boost::system::error_code& ec, size_t n) {
                          if (ec) return self->Close();
                          self->held_[d] -= n;
                          self->queues_[d].pop_front();
                          if (!self->reading_[d]) self->Read(d);
                          self->Write(d);
                        });
    }

    Impl* relay_;
    tcp::socket sockets_[2];
    asio::steady_timer timers_[2];
    std::vector<char> buffers_[2];
    std::deque<Chunk> queues_[2];
    size_t held_[2] = {0, 0};
    bool reading_[2] = {false, false};
    bool writing_[2] = {false, false};
    bool closed_ = false;
  };

  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket client) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
      } else {
        accepted.fetch_add(1);
        open.fetch_add(1);
        auto connection = std::make_shared<Connection>(this, std::move(client));
        live_.insert(connection);
        connection->Begin();
      }
      Accept();
    });
  }

  Options options_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  tcp::endpoint target_;
  std::set<std::shared_ptr<Connection>> live_;  // touched on the io thread only
  std::thread thread_;
};

TcpRelay::TcpRelay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpRelay::~TcpRelay() = default;

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status started = impl->Start();
  if (!started.ok()) return started;
  return std::unique_ptr<TcpRelay>(new TcpRelay(std::move(impl)));
}

int TcpRelay::port() const { return impl_->options().listen_port; }
std::string TcpRelay::address() const {
  return absl::StrCat(impl_->options().listen_ip, ":", port());
}
void TcpRelay::SetDelay(absl::Duration delay) {
  impl_->delay_ns.store(absl::ToInt64Nanoseconds(delay));
}
absl::Duration TcpRelay::delay() const { return absl::Nanoseconds(impl_->delay_ns.load()); }
void TcpRelay::Pause() { impl_->paused.store(true); }
void TcpRelay::Resume() { impl_->paused.store(false); }
void TcpRelay::CutConnections() { impl_->CutConnections(); }
int64_t TcpRelay::accepted() const { return impl_->accepted.load(); }
int64_t TcpRelay::open_connections() const { return impl_->open.load(); }

}  // namespace testing
}  // namespace gonka
