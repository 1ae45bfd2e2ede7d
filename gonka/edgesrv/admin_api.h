// edge-srv's admin REST routes: the ones of Gonka's dapi admin API (`/admin/v1/`) that a stateless
// replica can serve because they only publish to the tx queue (docs/edge-srv.md, "Admin REST").
//
//   POST /admin/v1/unit-of-compute-price-proposal  {"price": <uint64>, "denom": "<denom>"}
//        → MsgSubmitUnitOfComputePriceProposal{creator, price in ngonka} on the tx queue;
//        200 {"idempotency_key": ..., "duplicate": bool, "price": <ngonka>}
//
// Gonka's handler converts the price to nano-units by denom (ngonka ×1, ugonka ×10³, mgonka ×10⁶,
// gonka ×10⁹) and sends the message; the chain keeps a participant's latest proposal.
//
// Contract:
//   - Every route first passes `authenticate` (gonka/drain/bearer_auth.h): Unauthenticated → 401
//     with `WWW-Authenticate: Bearer`, PermissionDenied → 403, anything else → 503. Without an
//     authenticator every request is 403 (the API is off).
//   - 400 naming the field: a body that is not an object, `price` not a positive integer, an
//     unknown `denom`, a price that overflows uint64 in ngonka. 503 when the queue (or the signer
//     ledger) cannot be reached; the message is not sent then.
//   - Idempotency key "price_proposal/<creator>/<X-Gonka-Idempotency-Key>" when the request
//     carries that header (a retried request is sent once), else a fresh random one per request
//     (the same price proposed twice is harmless: the chain keeps the latest).
//
// Thread-safety: the handlers are thread-safe.
//
// Example (daemons/edge-srv):
//   AddEdgeAdminRoutes(&daemon.server(), {.authenticate = *auth, .creator = participant,
//                                         .enqueue = [&](txqueue::ChainTx tx) {
//                                           return signer::EnqueueRecorded(ledger, &queue, tx);
//                                         }});
#ifndef GONKA_EDGESRV_ADMIN_API_H_
#define GONKA_EDGESRV_ADMIN_API_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace net {
class HttpServer;
}  // namespace net

namespace edgesrv {

inline constexpr char kMsgSubmitUnitOfComputePriceProposal[] =
    "/inference.inference.MsgSubmitUnitOfComputePriceProposal";

// `price` in `denom` as ngonka. InvalidArgument naming "denom" (unknown) or "price" (overflow).
absl::StatusOr<uint64_t> NanoPrice(uint64_t price, absl::string_view denom);

// MsgSubmitUnitOfComputePriceProposal{creator, price} under `idempotency_key`, producer
// "edge-srv". InvalidArgument for an empty creator or key.
absl::StatusOr<txqueue::ChainTx> PriceProposalTx(const std::string& creator, uint64_t nano_price,
                                                 const std::string& idempotency_key);

using EnqueueFn = std::function<absl::StatusOr<txqueue::EnqueueResult>(txqueue::ChainTx)>;

struct EdgeAdminOptions {
  HttpAuthenticator authenticate;  // none: every request is 403
  std::string creator;             // this participant's address; required
  EnqueueFn enqueue;               // required
};

// Registers the routes above on `server`.
void AddEdgeAdminRoutes(net::HttpServer* server, EdgeAdminOptions options);

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_ADMIN_API_H_
