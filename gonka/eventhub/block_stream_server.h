// BlockStreamServer: the block stream served to dashboards as Server-Sent Events —
//   GET /v1/blocks/stream[?from=H]   one `block` event per height, id = the height, data = the
//                                    BlockEvents record as JSON (proto field names)
// starting at `from` (0 or absent: from the next block), or, when the client reconnects with a
// Last-Event-ID header, at that height + 1, so a client that lost its connection (or whose
// replica drained) resumes on any replica without a gap or a duplicate. Each stream reads the
// JetStream block stream through its own temporary Subscriber (forgotten by the server
// `inactive_threshold` after the client is gone).
//
// Errors: a `from` or Last-Event-ID that is not a non-negative integer gets 400 naming it; a
// stream that cannot start (NATS down, no block stream) gets 503 with the reason as an SSE
// comment.
//
// Drain: CloseAll() ends every open stream with a comment "draining: reconnect with
// Last-Event-ID" and a clean end of the response; subscribers are stopped on a reaper thread,
// never on an I/O thread. Shutdown() also stops all subscribers and the reaper.
//
// Thread-safety: thread-safe.
//
// Example:
//   BlockStreamServer streams({.stream = "BLOCKS"}, js.get());
//   streams.AddRoutes(&daemon.server());
//   daemon.drain().OnStateChange([&](State s) { if (s == State::kDraining) streams.CloseAll(); });
#ifndef GONKA_EVENTHUB_BLOCK_STREAM_SERVER_H_
#define GONKA_EVENTHUB_BLOCK_STREAM_SERVER_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace eventhub {

struct BlockStreamServerOptions {
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  std::string path = "/v1/blocks/stream";
  // How long the server keeps a stream's consumer after its client is gone.
  absl::Duration inactive_threshold = absl::Seconds(30);
};

class BlockStreamServer {
 public:
  // `js` is not owned and must outlive the server.
  BlockStreamServer(BlockStreamServerOptions options, nats::JetStream* js);
  ~BlockStreamServer();  // Shutdown()
  BlockStreamServer(const BlockStreamServer&) = delete;
  BlockStreamServer& operator=(const BlockStreamServer&) = delete;

  // Registers GET <path> on `server`.
  void AddRoutes(net::HttpServer* server);

  // Ends every open stream cleanly (drain).
  void CloseAll();
  // CloseAll, stops every subscriber and the reaper. Later requests get 503. Idempotent.
  void Shutdown();

  size_t open_streams() const;

 private:
  void Serve(const net::HttpRequest& request, std::shared_ptr<net::ResponseStream> out);
  void Closed(const std::shared_ptr<net::ResponseStream>& stream);
  void Reap();

  const BlockStreamServerOptions options_;
  nats::JetStream* const js_;
  mutable absl::Mutex mu_;
  std::map<std::shared_ptr<net::ResponseStream>, std::shared_ptr<Subscriber>> open_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscriber>> to_stop_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace eventhub
}  // namespace gonka

#endif  // GONKA_EVENTHUB_BLOCK_STREAM_SERVER_H_
