// ChainRoutes: Gonka's public read routes (edge-api's "Tier A" routes, common/queryapi in Gonka)
// served from a ChainCache whose upstream is an InferenceQueryClient (docs/cache.md "Routes").
//
// Contract:
//   - Same paths, JSON shapes, status codes and error mapping as Gonka's edge-api handlers
//     (docs/cache.md, "Gonka's public routes"): upstream NotFound → 404, InvalidArgument →
//     400, Unauthenticated → 401, PermissionDenied → 403, ResourceExhausted → 429, Unavailable →
//     503, anything else → 500 (GRPCErrorToHTTP); errors are `{"error": "<message>"}`.
//   - Every answer belongs to one height: each cached route's fetch pins all of its upstream calls
//     to the snapshot height, so a multi-query route (models, pricing: CurrentEpochGroupData plus
//     one EpochGroupData per model; participants: every page) never mixes heights. The height is
//     sent as `X-Cosmos-Block-Height`, with ETag (304 on If-None-Match), Cache-Control by class,
//     and Age/Warning when served stale (HttpResponseFor in chain_cache.h).
//   - Freshness classes (why: docs/cache.md): models and pricing kEpoch (the effective epoch group
//     changes at SetNewValidators, which is the cache's epoch boundary); governance models,
//     participants, an account, bridge addresses and epochs/latest (its body carries
//     block_height) kBlock; PoC batches of a stage kPhase; restrictions, BLS and /v1/versions
//     kBlock; /v1/epochs/{n}/participants kNever keyed by n for a finished epoch (n below the
//     effective epoch), kBlock for the effective one and later.
//   - BLS: upstream errors → 500 with Gonka's text; an unknown signing request → 200 {}; the
//     uncompressed BLS12-381 fields (gonka/crypto/bls12381.h) are base64 when the compressed
//     point is valid and in its subgroup, else null (epoch) or left out (signature; also left out
//     unless the request is COMPLETED), as Gonka. /v1/versions: an upstream error → 500
//     {"error":"failed to get node info: ..."}.
//   - Not served here: the optional routes (AddOptionalRoutes below, registered separately);
//     proof_ops of /v1/epochs/{n}/participants appear only when the node answers them (devchain
//     does; POST /v1/verify-proof checks them, gonka/cache/proof_routes.h).
//
// Thread-safety: after Register(), handlers may run concurrently (ChainCache and
// InferenceQueryClient are thread-safe).
//
// Example (edge-api):
//   ChainCache cache(cache_options);
//   InferenceQueryClient chain({.grpc_address = "127.0.0.1:9090", .rpc_url = rpc_url});
//   ChainRoutes routes(&cache, &chain, {.serve_status = false});  // the hub owns /v1/status
//   RETURN_IF_ERROR(routes.Register());                           // the cache's route table
//   routes.AddRoutes(&daemon.server());                           // GET /v1/models, ...
#ifndef GONKA_CACHE_CHAIN_ROUTES_H_
#define GONKA_CACHE_CHAIN_ROUTES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/version.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/chain/epoch.h"
#include "gonka/net/http_message.h"

namespace gonka {
namespace chain {
class CometClient;
class InferenceQueryClient;
}  // namespace chain
namespace net {
class HttpServer;
}  // namespace net

namespace cache {

struct ChainRoutesOptions {
  // GET /v1/status → {"status":"ok"} (Gonka's constant). False when another component of the
  // process already answers /v1/status (edge-api's event hub status).
  bool serve_status = true;
  // Page size of ParticipantsWithBalances (Gonka's edge-api asks 1000).
  uint64_t participants_page_limit = 1000;
  // `max-age` of kBlock responses (ChainCacheOptions::block_max_age of the same cache).
  absl::Duration block_max_age = absl::Seconds(1);
  // /v1/versions' api_version: this server's name, version and commit.
  std::string api_name = "edge-api";
  std::string api_version = kVersion;  // libgonka's release (gonka/base/version.h)
  std::string api_commit;
};

class ChainRoutes {
 public:
  // Neither pointer is owned; both must outlive this object and the server it serves on.
  ChainRoutes(ChainCache* cache, chain::InferenceQueryClient* chain,
              ChainRoutesOptions options = {});

  // Adds the cache routes ("models", "pricing", "governance_models", "governance_models_legacy",
  // "participants", "account", "epoch_info", "poc_batches", "bridge_addresses",
  // "restrictions_status", "restrictions_exemptions", "restrictions_usage", "bls_epoch",
  // "bls_signature", "versions", "current_epoch", "epoch_participants",
  // "epoch_participants_live"). AlreadyExists when called twice on one cache.
  absl::Status Register();

  // GET /v1/status (optional), /v1/models, /v1/governance/models, /v1/governance/models-legacy,
  // /v1/pricing, /v1/participants, /v1/participants/{address}, /v1/epochs/latest,
  // /v1/epochs/{n|current}/participants, /v1/poc-batches/{height},
  // /v1/bridge/addresses?chain=X, /v1/restrictions/status, /v1/restrictions/exemptions,
  // /v1/restrictions/exemptions/{id}/usage/{account}, /v1/bls/epoch/{id}, /v1/bls/epochs/{id},
  // /v1/bls/signatures/{request_id hex}, /v1/versions and /v1/cache/stats.
  void AddRoutes(net::HttpServer* server);

  // One request, routed by path as AddRoutes does (404 for a path not served).
  net::HttpResponse Serve(const net::HttpRequest& request);

  // The same answer as Serve() when it is a hit in the in-process store, without blocking (for
  // net::HttpServer's inline handlers, on an I/O thread); nullopt otherwise (Serve() then runs
  // on the handler pool). Only routes answered by one cache entry are tried.
  std::optional<net::HttpResponse> ServeIfCached(const net::HttpRequest& request);
  // ServeIfCached()'s 200 as the entry's prepared response (ChainCache::PreparedIfCached(), with
  // the cache's block_max_age), for net::HttpServer's prepared handlers; nullptr when it is not
  // a hit or the request carries If-None-Match (ServeIfCached() answers those, 304 included).
  std::shared_ptr<const net::PreparedResponse> PreparedIfCached(const net::HttpRequest& request);

 private:
  // The one cache entry that answers `request`, if it is such a route with valid parameters.
  std::optional<Query> CachedQuery(const net::HttpRequest& request) const;
  // `error_prefix` non-empty: an error answers 500 with that prefix (Gonka's BLS/versions).
  net::HttpResponse ServeCached(const net::HttpRequest& request, const Query& query,
                                absl::string_view error_prefix = "");
  net::HttpResponse ServeEpochParticipants(const net::HttpRequest& request,
                                           absl::string_view epoch_text);
  net::HttpResponse ServeEpochs(const net::HttpRequest& request);
  net::HttpResponse ServeStats();

  ChainCache* const cache_;
  chain::InferenceQueryClient* const chain_;
  const ChainRoutesOptions options_;
};

// Gonka's GRPCErrorToHTTP: the HTTP status for an upstream error code.
int HttpStatusForError(const absl::Status& status);

// The epoch schedule a ChainCache derives phase/epoch boundaries from (ChainCacheOptions::
// epoch_params): the chain's own Params, asked once through `probe` (give it a short timeout);
// else `fallback` when it has an epoch length (e.g. a daemon's --epoch-length); else nullopt, and
// phase/epoch entries then live at most ttl_without_boundaries. Logs which one it chose.
std::optional<chain::EpochParams> ChainEpochParams(chain::InferenceQueryClient& probe,
                                                   const chain::EpochParams& fallback);

// Gonka's optional routes (edge-api serves them; Gonka's proxy keeps them private unless
// EDGE_API_EXPOSE_OPTIONAL_ROUTES=true; here edge-api registers them only with
// --expose-optional-routes): GET /v1/debug/pubkey-to-addr/{pubkey} — the base64 of a 33-byte
// compressed secp256k1 key → its bech32 "gonka" account address as text/plain (400 "invalid
// pubkey: ..." otherwise). POST /v1/verify-block and GET /v1/debug/verify/{height} verify a
// block's commit signatures (gonka/cache/verify_routes.h) over `comet`, the chain's CometBFT RPC;
// without one (nullptr) they answer 501 naming what is missing. POST /v1/verify-proof checks an
// epoch's ActiveParticipants against an app hash with ICS-23 proofs (gonka/cache/proof_routes.h).
void AddOptionalRoutes(net::HttpServer* server, chain::CometClient* comet = nullptr);
net::HttpResponse ServeOptionalRoute(const net::HttpRequest& request);

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_CHAIN_ROUTES_H_
