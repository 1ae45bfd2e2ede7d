// CometSubscriber: follows a CometBFT 0.38 node's `tm.event='NewBlock'` WebSocket subscription
// and reports each new height — the event hub's wake-up signal. It reconnects and resubscribes
// on its own (gonka::net::WebSocketClient), parses pushed events with simdjson on-demand reading
// only the height, and never claims completeness: a dropped socket loses notifications, so
// callers poll `/status` as well and treat heights only as "the chain moved".
//
//   CometSubscriber sub({.ws_url = "ws://127.0.0.1:26657/websocket"},
//                       [&](int64_t height) { hub.Wake(height); });
//   RETURN_IF_ERROR(sub.Start());
//
// Thread-safety: thread-safe; the callback runs on the subscriber's I/O thread and must not
// block.
#ifndef GONKA_CHAIN_COMET_SUBSCRIBER_H_
#define GONKA_CHAIN_COMET_SUBSCRIBER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/tls.h"
#include "gonka/net/websocket_client.h"

namespace gonka {
namespace chain {

struct CometSubscriberOptions {
  std::string ws_url = "ws://127.0.0.1:26657/websocket";  // or wss://
  // Whom to trust for a wss:// URL (gonka/net/tls.h).
  net::TlsClientOptions tls;
  // CometBFT pings every 27 s and drops a client silent for 30 s; stay below.
  absl::Duration idle_timeout = absl::Seconds(20);
};

class CometSubscriber {
 public:
  using OnNewBlock = std::function<void(int64_t height)>;

  CometSubscriber(CometSubscriberOptions options, OnNewBlock on_new_block);
  ~CometSubscriber();

  // InvalidArgument naming the URL when it is not ws:// or wss:// (or the CA file cannot be
  // read). A failing connection (e.g. a certificate that does not verify) is retried with
  // backoff and logged as a warning each time its error changes.
  absl::Status Start();
  void Stop();

  // The highest height pushed so far (0 before the first), and subscriptions made (one per
  // connection).
  int64_t latest_height() const { return latest_.load(); }
  int64_t subscriptions() const { return subscriptions_.load(); }
  bool connected() const;

  // The height of a pushed NewBlock event message, or 0 when the message is something else
  // (a subscribe acknowledgement, an error). Exposed for tests.
  static int64_t ParseNewBlockHeight(absl::string_view message);

 private:
  const CometSubscriberOptions options_;
  OnNewBlock on_new_block_;
  std::unique_ptr<net::WebSocketClient> client_;
  std::atomic<int64_t> latest_{0};
  std::atomic<int64_t> subscriptions_{0};
};

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_COMET_SUBSCRIBER_H_
