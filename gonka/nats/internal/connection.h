// Internal: one nats.c connection + JetStream context shared by NatsClient and JetStream, and the
// natsStatus -> absl::Status mapping. Not part of the public API.
#ifndef GONKA_NATS_INTERNAL_CONNECTION_H_
#define GONKA_NATS_INTERNAL_CONNECTION_H_

#include <nats/nats.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gonka/nats/options.h"

namespace gonka {
namespace nats {
namespace internal {

struct ReconnectPolicy {
  int64_t initial_ms = 100;
  int64_t max_ms = 2000;
};

// Owns nc and js (destroyed in the right order). Thread-safe, as nats.c connections are.
class Connection {
 public:
  // Connects with `options` (fails fast, then reconnects forever with backoff) and creates a
  // JetStream context whose default wait is options.timeout.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const NatsOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  // The configured URLs, comma-separated.
  const std::string& servers() const { return servers_; }
  // "nats <connected url>" when connected, else "nats <servers> (disconnected)": the prefix of
  // every error message, so errors name the server.
  std::string Where() const;
  int64_t timeout_ms() const { return timeout_ms_; }

 private:
  Connection() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::string servers_;
  int64_t timeout_ms_ = 1000;
  std::unique_ptr<ReconnectPolicy> reconnect_;  // closure of the reconnect-delay callback
};

// The error text nats.c recorded for this thread, or the status text.
std::string LastError(natsStatus s);

// Maps a failed nats.c call: TIMEOUT -> DeadlineExceeded, NOT_FOUND -> NotFound, "wrong last
// sequence"/"key exists" -> FailedPrecondition, anything else -> Unavailable. `what` prefixes the
// message; a non-zero JetStream error code is appended.
absl::Status ToStatus(natsStatus s, const std::string& what, jsErrCode code = jsErrCode(0));

}  // namespace internal
}  // namespace nats
}  // namespace gonka

#endif  // GONKA_NATS_INTERNAL_CONNECTION_H_
