// WebSocketClient: a WebSocket (RFC 6455) client on Boost.Beast that stays connected: it pings
// an idle peer, treats a silent one as dead, and reconnects with exponential backoff, calling
// `on_connect` after every successful handshake so the caller can (re)subscribe.
//
//   WebSocketClientOptions options;
//   options.url = "ws://127.0.0.1:26657/websocket";
//   options.on_connect = [&] { client->SendText(kSubscribeNewBlock).IgnoreError(); };
//   options.on_message = [&](absl::string_view text) { wake.Notify(); };
//   auto client = std::make_unique<WebSocketClient>(options);
//   RETURN_IF_ERROR(client->Start());
//   ...
//   client->Close();
//
// Contract:
// - Start() validates the URL (InvalidArgument naming it) and returns at once; connecting,
//   reading and reconnecting happen on the client's own I/O thread.
// - With no traffic for `idle_timeout / 2` a ping goes out; when nothing at all (pong or data)
//   arrives for `idle_timeout`, the connection is considered dead and closed.
// - After any disconnect (and after a failed connection attempt) the client waits
//   `reconnect_backoff.Next()` and tries again, until Close(); the backoff resets on success.
// - Messages are not kept across connections: SendText() fails with Unavailable while
//   disconnected, and messages still queued when a connection drops are discarded (the caller
//   resends what it needs from `on_connect`).
// - `on_connect` runs before connected() turns true and before anything queued by other threads
//   can be sent, so messages it sends (resubscriptions) go out first on each connection.
// - Callbacks run on the I/O thread, one at a time and in order; they must not block and must
//   not throw. They may call SendText(), and Close() (which then returns at once; the client's
//   destructor, which must not run in a callback, waits). No callback runs after a Close()
//   called from another thread returns.
//
// Thread-safety: all methods are thread-safe.
#ifndef GONKA_NET_WEBSOCKET_CLIENT_H_
#define GONKA_NET_WEBSOCKET_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/backoff.h"
#include "gonka/net/http_message.h"
#include "gonka/net/tls.h"

namespace gonka {
namespace net {

struct WebSocketClientOptions {
  // Label `client` on the gonka_websocket_client_* metrics (connects_total, disconnects_total,
  // and the gauge connected).
  std::string name = "websocket";
  // `ws://host:port/path` or `wss://...` (see url.h).
  std::string url;
  // Whom to trust for wss:// URLs (tls.h); unused for ws://. A certificate that does not verify
  // fails the attempt (see on_connect_error / last_error()) and the client keeps retrying.
  TlsClientOptions tls;
  // Extra headers on the handshake request.
  HttpHeaders headers;
  std::string user_agent = "libgonka";
  // TCP connect, the TLS handshake (wss) and the WebSocket handshake, each (and, on Close(), the
  // closing handshake).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // See the contract above. InfiniteDuration disables pings and dead-peer detection.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Largest incoming message; a larger one closes the connection (then reconnect).
  size_t max_message_bytes = 16 << 20;
  // Bytes SendText() may have queued but unsent; beyond this it returns ResourceExhausted.
  size_t max_queued_bytes = 16 << 20;
  BackoffOptions reconnect_backoff = {absl::Milliseconds(100), absl::Seconds(10), 2.0, 0.5, 0};

  // After each successful handshake, before connected() turns true (see the contract).
  std::function<void()> on_connect;
  // Each complete incoming message (text or binary).
  std::function<void(absl::string_view message)> on_message;
  // When an established connection ends (not after failed connection attempts); the status says
  // why (Cancelled when Close() ended it).
  std::function<void(const absl::Status& reason)> on_disconnect;
  // When a connection attempt fails (resolve, connect, TLS or WebSocket handshake), before the
  // backoff; e.g. Unavailable "WebSocket wss://h/websocket: TLS handshake failed: certificate
  // verify failed (unable to get local issuer certificate)".
  std::function<void(const absl::Status& error)> on_connect_error;
};

class WebSocketClient {
 public:
  explicit WebSocketClient(WebSocketClientOptions options);
  // Close()s.
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Starts connecting in the background. InvalidArgument naming the URL when it is not a valid
  // ws:// or wss:// URL, the backoff options are invalid or (wss) `tls.ca_file` cannot be read;
  // FailedPrecondition when called twice or after Close().
  absl::Status Start();

  // Queues a text message for the current connection. Unavailable when not connected (or
  // closed), ResourceExhausted when the queue is full.
  absl::Status SendText(std::string message);

  // Sends a close frame (waiting at most `handshake_timeout` for the peer), stops reconnecting
  // and joins the I/O thread. Idempotent; thread-safe.
  void Close();

  bool connected() const;
  // Successful handshakes so far.
  int64_t connect_count() const;
  // Why the most recent connection attempt failed or connection ended (OK before any).
  absl::Status last_error() const;
  // Waits until connected() or `deadline`: OK or DeadlineExceeded (FailedPrecondition once
  // closed).
  absl::Status WaitConnected(absl::Time deadline) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_WEBSOCKET_CLIENT_H_
