// Internal: one nats.c connection + JetStream context shared by NatsClient and JetStream, and the
// natsStatus -> absl::Status mapping. Not part of the public API.
#ifndef GONKA_NATS_INTERNAL_CONNECTION_H_
#define GONKA_NATS_INTERNAL_CONNECTION_H_

#include <nats/nats.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/nats/options.h"

namespace gonka {
namespace nats {
namespace internal {

struct ReconnectPolicy {
  int64_t initial_ms = 100;
  int64_t max_ms = 2000;
};

// The last asynchronous server error (e.g. `Permissions Violation for Publish to "chain.tx"`):
// the server answers a denied publish or subscribe with -ERR and nothing else, so a request then
// merely times out. Connection::Where() adds a recent one to every error message.
struct AsyncErrors {
  absl::Mutex mu;
  std::string last ABSL_GUARDED_BY(mu);
  absl::Time at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

// The public key ("U...") of a NATS user nkey seed ("SU..."). InvalidArgument (without the
// seed) if `seed_text` is not one.
absl::StatusOr<std::string> NkeyUserPublicKeyFromSeed(absl::string_view seed_text);

// Owns nc and js (destroyed in the right order). Thread-safe, as nats.c connections are.
class Connection {
 public:
  // Connects with `options` (fails fast, then reconnects forever with backoff) and creates a
  // JetStream context whose default wait is options.timeout. Credentials and TLS as options.h
  // says: InvalidArgument for a bad or unsafe secret file or conflicting options,
  // PermissionDenied for an authorization violation, FailedPrecondition for a TLS mismatch,
  // Unavailable for a failed TLS handshake or an unreachable server.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const NatsOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  // The configured URLs, comma-separated.
  const std::string& servers() const { return servers_; }
  // "nats <connected url>" when connected, else "nats <servers> (disconnected)": the prefix of
  // every error message, so errors name the server. A server error of the last few seconds
  // (permission violation) is appended: "nats nats://h:p (server error 12ms ago: ...)".
  std::string Where() const;
  int64_t timeout_ms() const { return timeout_ms_; }

 private:
  Connection() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::string servers_;
  int64_t timeout_ms_ = 1000;
  std::unique_ptr<ReconnectPolicy> reconnect_;  // closure of the reconnect-delay callback
  std::shared_ptr<AsyncErrors> async_errors_;   // written by the async error callback
  uintptr_t error_sink_id_ = 0;                 // its entry in the callback's registry
  absl::Duration async_error_window_ = absl::Seconds(5);

  std::string RecentServerError() const;
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
