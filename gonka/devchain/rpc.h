// RpcService: CometBFT 0.38 JSON-RPC (URI/GET and JSON-RPC 2.0 POST, batches) and the
// `/websocket` subscription endpoint for a devchain Chain, mounted on a gonka::net::HttpServer,
// plus the fault knobs later chaos tests use. Shapes and error codes follow
// docs/reference/protocol.md ("CometBFT JSON-RPC", "CometBFT WebSocket"); see docs/devchain.md.
//
//   Chain chain(options, &executor);
//   net::HttpServer server(...);
//   RpcService rpc(&chain, &server, {});
//   server.Start(); chain.Start();
//   // GET /status, /block?height=5, POST / {"method":"block_results",...}, ws://.../websocket
//
// Thread-safe. Construct before the server starts; destroy after it stopped.
#ifndef GONKA_DEVCHAIN_RPC_H_
#define GONKA_DEVCHAIN_RPC_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/devchain/chain.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace devchain {

struct RpcOptions {
  std::string moniker = "devchain";
  // CometBFT's default limits (docs/reference/protocol.md, "CometBFT WebSocket").
  int max_subscription_clients = 100;
  int max_subscriptions_per_client = 5;
  size_t max_query_length = 512;
  // > 0: /block and /block_results of heights below this answer "height H is not available,
  // lowest height is N" as a pruning node does, while the chain keeps them. A second RpcService
  // over the same Chain without it then plays the archive node (tests of archive fallback).
  int64_t lowest_served_height = 0;
  // The `app_state` of /genesis (raw JSON); "" = {}.
  std::string genesis_app_state;
};

class RpcService {
 public:
  RpcService(Chain* chain, net::HttpServer* server, RpcOptions options);
  ~RpcService();
  RpcService(const RpcService&) = delete;
  RpcService& operator=(const RpcService&) = delete;

  // A JSON-RPC error object's fields (docs/reference/protocol.md, "Transport and errors").
  struct Error {
    int code = -32603;
    std::string message = "Internal error";
    std::string data;
  };

  // Runs one method; returns the `result` JSON or an error. Public for tests and the
  // WebSocket path. `params_json` is the params value (object or array), "" for none.
  struct Outcome {
    std::string result;
    bool ok = true;
    Error error;
  };
  Outcome Call(const std::string& method, const std::string& params_json);

  // Fault knobs.
  void DropWebSockets();                                     // closes every WebSocket connection
  void SetEventsPaused(bool paused);                         // blocks continue, nothing is pushed
  void SetRpcDelay(absl::Duration delay);                    // every RPC answer is delayed
  void FailBlockResults(int64_t height, bool fail);          // a JSON-RPC error for that height
  void TruncateBlockResults(int64_t height, bool truncate);  // its answer cut in half
  int websocket_clients() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_RPC_H_
