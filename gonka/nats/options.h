// NatsOptions: how a gonka::nats client (NatsClient, JetStream) connects to NATS.
//
// Contract: the first connect fails fast (Unavailable naming every URL) when no server answers;
// after it succeeds the client reconnects forever, with exponential backoff between full passes
// over `urls` (reconnect_initial doubling up to reconnect_max, with jitter), and calls made while
// disconnected fail with Unavailable or DeadlineExceeded naming the servers.
//
// Example:
//   gonka::nats::NatsOptions o;
//   o.urls = {"nats://10.0.0.1:4222", "nats://10.0.0.2:4222"};
//   o.timeout = absl::Seconds(2);
#ifndef GONKA_NATS_OPTIONS_H_
#define GONKA_NATS_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gonka {
namespace nats {

struct NatsOptions {
  std::vector<std::string> urls = {"nats://127.0.0.1:4222"};
  // Connect timeout and the default wait of every JetStream request (publish ack, stream info).
  absl::Duration timeout = absl::Seconds(1);
  std::string name = "gonka";  // client name shown by the server
  // Delay before the next pass over `urls` after a pass failed: reconnect_initial, doubling per
  // failed pass up to reconnect_max, +-20% jitter. Reconnection never gives up.
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(2);
};

}  // namespace nats
}  // namespace gonka

#endif  // GONKA_NATS_OPTIONS_H_
