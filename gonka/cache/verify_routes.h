// Gonka's optional commit-verification routes (decentralized-api's postVerifyBlock and
// debugVerify), served by edge-api with --expose-optional-routes (AddOptionalRoutes in
// chain_routes.h registers them when it has the chain's CometBFT RPC):
//
//   POST /v1/verify-block  {"block": <CometBFT Block JSON>, "validators": [{"pub_key": base64
//       Ed25519, "voting_power": n}]} → the block's last_commit is verified against the header
//       (chain::VerifyLastCommit) first with the node's validator set at block.height
//       (/validators, every page), then with the request's validators: 200 with an empty body
//       when both verify; 400 {"error":"Error decoding request: ..."} for a body that does not
//       decode, 400 {"error":"Error decoding public key: ..."} for a key that is not base64;
//       500 {"error":"invalid commit signatures: ..."} naming which set failed and why (Gonka's
//       text, then the reason), or the RPC's error text.
//   GET /v1/debug/verify/{height}  → the node's block at `height` and its validators at
//       `height`, verified the same way: 200 text "Block signatures verified"; 400 for a height
//       that is not an int64; 500 {"error":"block signature verification failed: invalid commit
//       signatures: ..."} or the RPC's error text.
//
// docs/cache.md ("Commit verification") lists where these differ from Gonka's echo handlers.
// Answers are never cached (Cache-Control: no-store).
//
// Thread-safety: the handlers may run concurrently (CometClient is thread-safe).
//
// Example:
//   chain::CometClient comet({.rpc_url = "http://127.0.0.1:26657"});
//   AddVerifyRoutes(&server, &comet);  // comet must outlive the server's handlers
#ifndef GONKA_CACHE_VERIFY_ROUTES_H_
#define GONKA_CACHE_VERIFY_ROUTES_H_

#include "gonka/net/http_message.h"

namespace gonka {
namespace chain {
class CometClient;
}  // namespace chain
namespace net {
class HttpServer;
}  // namespace net

namespace cache {

// Registers POST /v1/verify-block and GET /v1/debug/verify/* on `server`.
void AddVerifyRoutes(net::HttpServer* server, chain::CometClient* comet);

net::HttpResponse ServeVerifyBlock(const net::HttpRequest& request, chain::CometClient* comet);
net::HttpResponse ServeDebugVerify(const net::HttpRequest& request, chain::CometClient* comet);

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_VERIFY_ROUTES_H_
