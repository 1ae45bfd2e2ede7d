// Boost error codes → absl::Status, the one place gonka/net converts them (its public headers
// carry no Boost types). Internal to gonka/net.
#ifndef GONKA_NET_INTERNAL_ASIO_STATUS_H_
#define GONKA_NET_INTERNAL_ASIO_STATUS_H_

#include <boost/system/error_code.hpp>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gonka {
namespace net {
namespace internal {

// "`context`: <message>" with a code chosen by what the caller can do about it:
//   timeouts → DeadlineExceeded; refused/reset/EOF/unreachable/DNS → Unavailable;
//   body/header/message size limits → ResourceExhausted; cancelled → Cancelled;
//   malformed HTTP or WebSocket from the peer → Unavailable (retrying elsewhere may help);
//   anything else → Unknown. OK for a zero error code.
absl::Status ErrorToStatus(const boost::system::error_code& ec, absl::string_view context);

// True for errors that mean "the peer went away" (EOF, reset, broken pipe, aborted).
bool IsDisconnect(const boost::system::error_code& ec);

}  // namespace internal
}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_INTERNAL_ASIO_STATUS_H_
