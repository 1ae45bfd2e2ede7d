#include "gonka/net/internal/asio_status.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

#include "absl/strings/str_cat.h"

namespace gonka {
namespace net {
namespace internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

bool IsDisconnect(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::error::not_connected || ec == asio::error::shut_down ||
         ec == beast::http::error::end_of_stream || ec == websocket::error::closed;
}

absl::Status ErrorToStatus(const boost::system::error_code& ec, absl::string_view context) {
  if (!ec) return absl::OkStatus();
  std::string message = absl::StrCat(context, ": ", ec.message());
  if (ec == beast::error::timeout || ec == asio::error::timed_out) {
    return absl::DeadlineExceededError(message);
  }
  if (ec == asio::error::operation_aborted) return absl::CancelledError(message);
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow || ec == websocket::error::message_too_big ||
      ec == websocket::error::buffer_overflow || ec == asio::error::no_buffer_space ||
      ec == asio::error::no_memory) {
    return absl::ResourceExhaustedError(message);
  }
  if (IsDisconnect(ec) || ec == asio::error::connection_refused ||
      ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
      ec == asio::error::network_down || ec == asio::error::host_not_found ||
      ec == asio::error::host_not_found_try_again || ec == asio::error::address_in_use ||
      ec == boost::system::errc::address_not_available || ec == http::error::partial_message) {
    return absl::UnavailableError(message);
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
      ec.category() == websocket::make_error_code(websocket::error::closed).category()) {
    return absl::UnavailableError(absl::StrCat(message, " (protocol error from peer)"));
  }
  return absl::UnknownError(message);
}

}  // namespace internal
}  // namespace net
}  // namespace gonka
