// Gonka's optional proof-verification route (decentralized-api's WrapVerifyProof), served by
// edge-api with --expose-optional-routes (ServeOptionalRoute in chain_routes.h dispatches it):
//
//   POST /v1/verify-proof  {"value": hex, "app_hash": hex, "proof_ops": {"ops": [{"type",
//       "key": base64, "data": base64}]}, "epoch": n}
//     → whether `value` is epoch n's ActiveParticipants in the "inference" store of the state
//       whose app hash is `app_hash`: the proof ops are run as the Cosmos SDK's store proof
//       runtime does (chain::VerifyProofOps) on the key path "/inference/" +
//       PathEscape(ActiveParticipantsFullKey(n)).
//     200 with an empty body when it verifies; 400 text "Error decoding request" for a body that
//     does not decode as that object; 400 text with the hex error for a bad app_hash or value
//     (app_hash checked first); 500 text with the verifier's error otherwise. Text answers end
//     in a newline, as Go's http.Error writes them.
//
// The values for a proof: /v1/epochs/{n}/participants's active_participants_bytes and
// proof_ops, and the app_hash of block created_at_block_height + 1 (that response's `block`).
// docs/cache.md ("Proof verification") has the rules and where this differs from Gonka.
//
// Thread-safety: the handler is pure; it may run concurrently.
//
// Example:
//   server.Handle("POST", "/v1/verify-proof", ServeVerifyProof);
#ifndef GONKA_CACHE_PROOF_ROUTES_H_
#define GONKA_CACHE_PROOF_ROUTES_H_

#include "gonka/net/http_message.h"

namespace gonka {
namespace cache {

// Answers POST /v1/verify-proof as above (never cached: Cache-Control no-store).
net::HttpResponse ServeVerifyProof(const net::HttpRequest& request);

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_PROOF_ROUTES_H_
