// TestClient: the one HTTP test client of this repository — a blocking HTTP/1.1 client on one
// connection, on Boost.Beast. It uses Beast directly (not gonka/net's HttpClient) so the server
// tests do not depend on the client under test, and it exposes the socket for tests that need
// to misbehave on purpose. Test-only.
#ifndef GONKA_TESTING_HTTP_TEST_CLIENT_H_
#define GONKA_TESTING_HTTP_TEST_CLIENT_H_

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gonka {
namespace testing {

class TestClient {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  explicit TestClient(int port) : socket_(ioc_) {
    socket_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                   static_cast<uint16_t>(port)),
                    ec_);
  }
  bool connected() const { return !ec_; }

  // Sends one request and reads the whole response (a streamed one to its end). On failure
  // error() is set and the response is default-constructed.
  Response Send(boost::beast::http::verb verb, const std::string& target,
                const std::string& body = "", bool keep_alive = true) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    if (!body.empty() || verb == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    http::write(socket_, req, ec_);
    if (ec_) return Response();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    // Room for full 64 KB reads: Beast reads at most the buffer's free capacity at a time, so a
    // buffer sized by the header would read a large body a few KB per syscall.
    buffer_.reserve(64 << 10);
    http::read(socket_, buffer_, parser, ec_);
    if (ec_) return Response();
    return parser.release();
  }
  Response Get(const std::string& target) { return Send(boost::beast::http::verb::get, target); }

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  boost::beast::error_code error() const { return ec_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  boost::beast::error_code ec_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_HTTP_TEST_CLIENT_H_
