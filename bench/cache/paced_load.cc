// paced_load: an open-loop HTTP/1.1 load generator for bench/cache (wrk has no fixed-rate mode in
// Debian). Requests are sent at a fixed total rate over keep-alive connections, cycling through
// the given paths; each request's latency is measured from the time it was *due*, not from when
// it could be sent, so a response that holds a connection up delays the next request and that
// delay counts (the coordinated-omission correction wrk2 makes). One request in flight per
// connection, as wrk does.
//
//   paced_load --port=8080 --rate=50000 --connections=16 --seconds=5 --paths=/v1/models,/v1/pricing
//
// Prints one line: RESULT requests=N rate=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
// non2xx=N errors=N late=N late_client=N service_p99_us=N (errors: failed requests, each followed
// by a reconnect; late: requests sent more than 1 ms after they were due, i.e. the client or the
// server could not keep the rate; late_client: of those, the ones whose connection had its
// previous answer before the request was due, so the client fell behind; service_p99_us: the p99
// from when each request was actually sent, the server's part without the client's delays;
// service_max_us: the longest of those).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_split.h"
#include "gonka/base/config.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Run {
  Clock::time_point start;
  Clock::time_point measure_from;
  Clock::time_point end;
  Clock::duration interval;           // between two requests of one connection
  std::vector<std::string> requests;  // serialized, one per path
  std::vector<int64_t> latencies_us;  // from the time each request was due
  std::vector<int64_t> service_us;    // from the time each request was sent
  uint64_t non2xx = 0;
  uint64_t errors = 0;
  uint64_t late = 0;
  // Of the late ones: sent late although the connection had its previous answer before the
  // request was due (the client fell behind), vs the previous answer itself came after it.
  uint64_t late_client = 0;
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& ioc, Run& run, int index, int connections)
      : run_(run), socket_(ioc), timer_(ioc), index_(index) {
    // Connection i's k-th request is due at start + (k * connections + i) / rate.
    due_ = run_.start + run_.interval * index / connections;
    next_path_ = index;
  }

  bool Connect(int port) {
    port_ = port;
    beast::error_code ec;
    socket_.close(ec);
    buffer_.clear();
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
                    ec);
    if (ec) return false;
    socket_.set_option(tcp::no_delay(true), ec);
    return true;
  }

  void Next() {
    if (due_ >= run_.end) return;
    const Clock::time_point now = Clock::now();
    if (now < due_) {
      timer_.expires_at(due_);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Send();
      });
      return;
    }
    Send();
  }

 private:
  void Send() {
    sent_at_ = Clock::now();
    if (sent_at_ - due_ > std::chrono::milliseconds(1) && due_ >= run_.measure_from) {
      ++run_.late;
      if (answered_at_ <= due_) ++run_.late_client;
    }
    const std::string& request = run_.requests[next_path_++ % run_.requests.size()];
    asio::async_write(socket_, asio::buffer(request),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Fail();
                        self->Read();
                      });
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(64 << 20);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Fail();
                       self->OnResponse();
                     });
  }

  void OnResponse() {
    const Clock::time_point now = Clock::now();
    if (due_ >= run_.measure_from) {
      run_.latencies_us.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(now - due_).count());
      run_.service_us.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_).count());
      const int status = parser_->get().result_int();
      if (status < 200 || status > 299) ++run_.non2xx;
    }
    answered_at_ = now;
    due_ += run_.interval;
    // A server that ends keep-alive (nginx after keepalive_requests) is reconnected, as wrk does.
    if (!parser_->get().keep_alive() && !Connect(port_)) return Fail();
    Next();
  }

  // The request is counted as an error; the connection is re-established once, then given up.
  void Fail() {
    ++run_.errors;
    if (reconnects_++ < 100 && Connect(port_)) {
      due_ += run_.interval;
      Next();
      return;
    }
    beast::error_code ignored;
    socket_.close(ignored);
  }

  Run& run_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  int index_;
  int port_ = 0;
  int reconnects_ = 0;
  Clock::time_point due_;
  Clock::time_point sent_at_;
  Clock::time_point answered_at_;  // of the previous request (epoch: none yet)
  size_t next_path_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int connections = 16;
  double rate = 10000, seconds = 5, warmup_seconds = 1;
  std::string paths;
  gonka::Config config("paced_load");
  config.AddPort("port", &port, 0, "server port on 127.0.0.1");
  config.AddDouble("rate", &rate, 10000, "requests per second, all connections together");
  config.AddInt("connections", &connections, 16, "keep-alive connections").Range(1, 10000);
  config.AddDouble("seconds", &seconds, 5, "measured duration");
  config.AddDouble("warmup-seconds", &warmup_seconds, 1, "paced, not measured, first");
  config.AddString("paths", &paths, "/", "comma-separated request targets, used in turn");
  if (absl::Status parsed = config.Parse(argc, argv); !parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.ToString().c_str());
    return 2;
  }
  if (port <= 0 || rate <= 0 || seconds <= 0) {
    std::fprintf(stderr, "paced_load: --port, --rate and --seconds must be > 0\n");
    return 2;
  }
  Run run;
  for (absl::string_view path : absl::StrSplit(paths, ',')) {
    http::request<http::empty_body> req(http::verb::get, std::string(path), 11);
    req.set(http::field::host, "127.0.0.1");
    std::ostringstream out;
    out << req;  // Beast serializes the request
    run.requests.push_back(out.str());
  }
  run.interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(connections / rate));
  asio::io_context ioc(1);
  std::vector<std::shared_ptr<Conn>> conns;
  run.start = Clock::now() + std::chrono::milliseconds(100);
  run.measure_from = run.start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(warmup_seconds));
  run.end = run.measure_from +
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  run.latencies_us.reserve(static_cast<size_t>(rate * seconds * 1.1));
  for (int i = 0; i < connections; ++i) {
    auto conn = std::make_shared<Conn>(ioc, run, i, connections);
    if (!conn->Connect(port)) {
      std::fprintf(stderr, "paced_load: cannot connect to 127.0.0.1:%d\n", port);
      return 1;
    }
    conns.push_back(conn);
  }
  for (auto& conn : conns) conn->Next();
  conns.clear();  // the pending operations own them
  ioc.run();
  std::vector<int64_t>& l = run.latencies_us;
  std::sort(l.begin(), l.end());
  std::sort(run.service_us.begin(), run.service_us.end());
  const double measured = std::chrono::duration<double>(run.end - run.measure_from).count();
  std::printf(
      "RESULT requests=%zu rate=%.0f p50_us=%lld p90_us=%lld p99_us=%lld p999_us=%lld "
      "max_us=%lld non2xx=%llu errors=%llu late=%llu late_client=%llu service_p99_us=%lld "
      "service_max_us=%lld\n",
      l.size(), static_cast<double>(l.size()) / measured, static_cast<long long>(Percentile(l, 50)),
      static_cast<long long>(Percentile(l, 90)), static_cast<long long>(Percentile(l, 99)),
      static_cast<long long>(Percentile(l, 99.9)), static_cast<long long>(l.empty() ? 0 : l.back()),
      static_cast<unsigned long long>(run.non2xx), static_cast<unsigned long long>(run.errors),
      static_cast<unsigned long long>(run.late), static_cast<unsigned long long>(run.late_client),
      static_cast<long long>(Percentile(run.service_us, 99)),
      static_cast<long long>(run.service_us.empty() ? 0 : run.service_us.back()));
  return 0;
}
