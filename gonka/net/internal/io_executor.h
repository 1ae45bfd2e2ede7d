// IoExecutor: what gonka/net's public headers call an event loop (HttpServer::io_executor(),
// Responder::executor(), AsyncRequest::executor), defined here so those headers carry no Boost
// type. Internal to gonka/net.
#ifndef GONKA_NET_INTERNAL_IO_EXECUTOR_H_
#define GONKA_NET_INTERNAL_IO_EXECUTOR_H_

#include <boost/asio/any_io_executor.hpp>

namespace gonka {
namespace net {

struct IoExecutor {
  // An executor of an asio::io_context (the loop whose reactor a socket made with it uses).
  boost::asio::any_io_executor executor;
  // True when handlers run through it never run concurrently (a strand, or a connection's
  // executor on a one-thread loop); false for a loop several threads run, on which a user
  // needs a strand of its own.
  bool serial = false;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_INTERNAL_IO_EXECUTOR_H_
