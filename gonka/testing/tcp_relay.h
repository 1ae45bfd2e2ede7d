// A TCP relay for latency faults: clients connect to the relay, which connects to the target and
// copies bytes both ways — after an adjustable delay, or not at all while paused. This kernel has
// no netem qdisc (tc cannot add latency), so a test that wants "the network to Redis got slow"
// points a client at a relay and turns the delay up.
//
// Contract:
//   - Each chunk read from one side is written to the other `delay` after it was read, in order
//     (a chunk read during a 2 s delay arrives 2 s later even if the delay is lowered meanwhile;
//     the next chunks keep their order). Pause() holds every byte (the relay keeps reading until
//     4 MB per direction are held) until Resume(); nothing is dropped.
//   - A connection ends on both sides when either side closes or fails; bytes still held are
//     dropped then (as a reset connection would). CutConnections() ends every live one.
//   - With `network_namespace` (a host from hosts.h) the relay's sockets live on that host: its
//     listener on `listen_ip` there, its upstream connections leave from there.
//   - Runs on its own thread (Boost.Asio); the destructor closes every socket and joins it.
//
// Thread-safety: SetDelay, Pause, Resume, CutConnections and the accessors may be called from any
// thread.
//
// Example:
//   auto relay = gonka::testing::TcpRelay::Start(
//       {.target_ip = redis.host(), .target_port = redis.port()});
//   ASSERT_TRUE(relay.ok()) << relay.status();
//   // the client uses redis://127.0.0.1:<(*relay)->port()>
//   (*relay)->SetDelay(absl::Seconds(3));   // every renew now takes >= 3 s
//   (*relay)->SetDelay(absl::ZeroDuration());
#ifndef GONKA_TESTING_TCP_RELAY_H_
#define GONKA_TESTING_TCP_RELAY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {
namespace testing {

class TcpRelay {
 public:
  struct Options {
    std::string listen_ip = "127.0.0.1";
    int listen_port = 0;  // 0 = FreePort()
    std::string target_ip = "127.0.0.1";
    int target_port = 0;            // required
    std::string network_namespace;  // "" = the calling thread's
  };

  // Listens and returns; InvalidArgument without a target port, Unavailable if it cannot listen
  // (with the address), NotFound for an unknown namespace.
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(Options options);
  ~TcpRelay();

  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const;
  std::string address() const;  // "<listen_ip>:<port>"

  void SetDelay(absl::Duration delay);
  absl::Duration delay() const;
  void Pause();
  void Resume();
  // Ends every live connection (new ones are still accepted).
  void CutConnections();
  // Connections accepted so far / open now.
  int64_t accepted() const;
  int64_t open_connections() const;

  class Impl;

 private:
  explicit TcpRelay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_TCP_RELAY_H_
