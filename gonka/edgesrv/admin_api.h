// edge-srv's admin REST routes: Gonka's dapi admin API (`/admin/v1/`) minus the ML-node routes the
// node-manager serves. A stateless replica serves a route whole when it only publishes to the tx
// queue or reads PostgreSQL; every other Gonka admin route gets an answer a Gonka client can
// handle, naming why and where the data lives (docs/edge-srv.md, "Admin REST", has the table).
//
//   POST /admin/v1/unit-of-compute-price-proposal  {"price": <uint64>, "denom": "<denom>"}
//        → MsgSubmitUnitOfComputePriceProposal{creator, price in ngonka} on the tx queue;
//        200 {"idempotency_key": ..., "duplicate": bool, "price": <ngonka>}
//   GET  /admin/v1/unit-of-compute-price-proposal
//        → the chain's Query/GetUnitOfComputePriceProposal{participant = creator}: 200 Gonka's
//        {"proposal": {"participant", "price", "proposed_at_block_height", "proposed_at_epoch"},
//        "default": <ngonka>} (Go's encoding/json: zero fields and an absent proposal left out);
//        503 when the chain does not answer, 502 for any other query error; 501 without
//        `price_query`
//   POST /admin/v1/claim-reward/recover  {"epoch_index"?: <uint64>, "seed"?: <int64>,
//        "force_claim"?: bool}
//        → MsgClaimRewards{creator, seed, epoch_index} on the tx queue, the seed read from the
//        node-manager's seed store unless given; 200 Gonka's {success, message, epoch_index,
//        seed, missed_validations, already_claimed, claim_executed}
//   POST /admin/v1/tx/send  a Cosmos Tx in JSON ({"body": {"messages": [{"@type": ..., ...}]}})
//        → its FIRST message (as Gonka's handler) on the tx queue, signed by the signer as this
//        participant; the signer's --allowed-msg-types decides. Waits up to `tx_wait` for the
//        ledger: 200 (Gonka's status; its current handler sends no body) with the fields of the
//        TxResponse an earlier Gonka answered {height, txhash, codespace, code, data, raw_log,
//        info, gas_wanted, gas_used, timestamp} plus {idempotency_key, duplicate, state}: once
//        signed, "txhash" and "state" "signed"/"broadcast"/"included"; after `tx_wait` without
//        the signer, "txhash" "" and "state" "queued" (it is sent later). 403 when the signer
//        refused the type; 502 when it failed the tx otherwise.
//   POST /admin/v1/models  {"id": "<model id>", "units_of_compute_per_token": <uint64>}
//        → as Gonka's handler, a governance proposal signed by this participant:
//        cosmos.gov.v1.MsgSubmitProposal{messages: [MsgRegisterModel{authority = the gov module
//        account, proposed_by = creator, id, units_of_compute_per_token}], initial_deposit
//        100000000 ngonka, proposer = creator, Gonka's metadata, title and summary} on the tx
//        queue; answered as tx/send (200 with the tx hash, 403 when the signer's
//        --allowed-msg-types does not list /cosmos.gov.v1.MsgSubmitProposal, 502, 503)
//   POST /admin/v1/bridge/block  Gonka's BridgeBlock {"blockNumber", "originChain",
//        "receiptsRoot", "receipts"?: [{"contract", "owner", "publicKey", "amount",
//        "receiptIndex"}]}
//        → one MsgBridgeExchange per receipt on the tx queue (BridgeExchangeTxs), each under its
//        receipt's key; 200 {"status": "success", "message", "blockNumber", "receiptsCount",
//        "queueSize": 0, "duplicates"} once every receipt is recorded; 503 when the queue or the
//        ledger cannot be reached (Gonka: 500; the sender retries the block)
//   GET  /admin/v1/setup/report
//        → 200 Gonka's SetupReport JSON from `setup_report` (setup_report.h), generated at most
//        once a minute per replica (Gonka caches it as long; "cached_until" says until when)
//   GET  /admin/v1/poc/timing
//        → 200 {"available": true, "timing": {"current_phase", "blocks_until_next_poc",
//        "seconds_until_next_poc", "should_be_online"}} from the stage, `epoch_length` and
//        `epoch_shift` (before the first PoC it counts down to it, as Gonka's epoch 0 does);
//        {"available": false, "reason"} while the phase is unknown (as Gonka before its
//        tracker synced; "reason" is libgonka's);
//        501 without `epoch_length`
//   POST nodes/version-status, GET nodes/upgrade-status, POST|GET nodes/<id>/test,
//   GET nodes/<id>/launch-plan, POST nodes/<id>/enable|disable
//        → 307 to `node_manager_url` + the same path when set (the node-manager's routes), else
//        404 {"error": ..., "served_by": "node-manager"}
//   Gonka routes with no meaning in a stateless replica (kUnservedRoutes) → their status and
//        {"error": <why>, "served_by": <where>}
//
// Gonka's price handler converts the price to nano-units by denom (ngonka ×1, ugonka ×10³,
// mgonka ×10⁶, gonka ×10⁹); the chain keeps a participant's latest proposal. Gonka's recover
// handler claims the previous epoch with its stored seed, and skips the claim when it was made
// already unless force_claim.
//
// Contract:
//   - Every route first passes `authenticate` (gonka/drain/bearer_auth.h): Unauthenticated → 401
//     with `WWW-Authenticate: Bearer`, PermissionDenied → 403, anything else → 503. Without an
//     authenticator every request is 403 (the API is off).
//   - 400 naming the field: a body that is not an object, `price` not a positive integer, an
//     unknown `denom`, a price that overflows uint64 in ngonka; `epoch_index` not a positive
//     integer (or none given and the phase unknown: no current epoch), `seed` not a positive
//     int64, `force_claim` not a bool, no seed stored for the epoch; models: `id` not a non-empty
//     string, `units_of_compute_per_token` not a positive integer; bridge/block: blockNumber,
//     receiptsRoot or originChain missing or empty, receipts not an array, a receipt field not
//     a string, receipts[i].publicKey not hex, receipts[i].receiptIndex empty. 503 when the queue,
//     the ledger or the seed store cannot be reached; nothing is sent then.
//   - Idempotency keys: "price_proposal/<creator>/<X-Gonka-Idempotency-Key>" (or a fresh random
//     one without that header); "claim/<epoch>/<creator>", the node-manager's key for the same
//     claim, so a claim it made (or a retried recover) is not sent again (already_claimed true,
//     claim_executed false); force_claim sends under "claim/<epoch>/<creator>/recover/<random>";
//     "tx_send/<creator>/<X-Gonka-Idempotency-Key>", or without that header the SHA-256 hex of
//     the message's type URL, "\n" and its bytes (the same message is sent once);
//     "models/<creator>/<X-Gonka-Idempotency-Key>", or without that header the SHA-256 hex of
//     the model id, "\n" and the units (the same proposal is sent once);
//     "bridge/<creator>/<originChain>/<blockNumber>/<receiptIndex>" (a block re-sent, to any
//     replica, sends each receipt once).
//   - Metrics: gonka_edgesrv_admin_requests_total{route, status} for the served routes.
//
// Thread-safety: the handlers are thread-safe.
//
// Example (gonka/edgesrv/edge_srv_service.cc):
//   AddEdgeAdminRoutes(&daemon.server(), {.authenticate = *auth, .creator = participant,
//                                         .enqueue = [&](txqueue::ChainTx tx) {
//                                           return signer::EnqueueRecorded(ledger, &queue, tx);
//                                         },
//                                         .seed = [&](uint64_t e) { return seeds->Get(me, e); },
//                                         .stage = gate.AsStageFn()});
#ifndef GONKA_EDGESRV_ADMIN_API_H_
#define GONKA_EDGESRV_ADMIN_API_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/edgesrv/stage_gate.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/proto/inference/inference/query.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace net {
class HttpServer;
}  // namespace net

namespace edgesrv {

inline constexpr char kMsgSubmitUnitOfComputePriceProposal[] =
    "/inference.inference.MsgSubmitUnitOfComputePriceProposal";

inline constexpr char kMsgBridgeExchange[] = "/inference.inference.MsgBridgeExchange";
inline constexpr char kMsgSubmitProposal[] = "/cosmos.gov.v1.MsgSubmitProposal";
inline constexpr char kMsgRegisterModel[] = "/inference.inference.MsgRegisterModel";

// The gov module account under bech32 `prefix` (the SDK's authtypes.NewModuleAddress("gov"):
// the first 20 bytes of SHA-256("gov")). InvalidArgument for a bad prefix.
absl::StatusOr<std::string> GovModuleAddress(absl::string_view prefix);

// Gonka's model registration proposal (POST models) as `creator` under `idempotency_key`,
// producer "edge-srv". InvalidArgument naming creator (empty or not bech32) or the key.
absl::StatusOr<txqueue::ChainTx> RegisterModelProposalTx(const std::string& creator,
                                                         const std::string& model_id,
                                                         uint64_t units_of_compute_per_token,
                                                         const std::string& idempotency_key);

// Gonka's BridgeBlock body (bridge/block).
struct BridgeReceiptData {
  std::string contract, owner, public_key, amount, receipt_index;
};
struct BridgeBlockData {
  std::string block_number, origin_chain, receipts_root;
  std::vector<BridgeReceiptData> receipts;
};
// One MsgBridgeExchange{validator = creator, ...} per receipt, as Gonka's bridge queue builds
// them (ownerAddress from the receipt's hex public key under creator's bech32 prefix;
// ownerPubKey with a 0x prefix), each under "bridge/<creator>/<originChain>/<blockNumber>/
// <receiptIndex>". InvalidArgument naming the receipt field (publicKey not hex, receiptIndex
// empty) or creator; nothing is built then.
absl::StatusOr<std::vector<txqueue::ChainTx>> BridgeExchangeTxs(const std::string& creator,
                                                                const BridgeBlockData& block);

// `price` in `denom` as ngonka. InvalidArgument naming "denom" (unknown) or "price" (overflow).
absl::StatusOr<uint64_t> NanoPrice(uint64_t price, absl::string_view denom);

// MsgSubmitUnitOfComputePriceProposal{creator, price} under `idempotency_key`, producer
// "edge-srv". InvalidArgument for an empty creator or key.
absl::StatusOr<txqueue::ChainTx> PriceProposalTx(const std::string& creator, uint64_t nano_price,
                                                 const std::string& idempotency_key);

using EnqueueFn = std::function<absl::StatusOr<txqueue::EnqueueResult>(txqueue::ChainTx)>;
// The seed this participant submitted for an epoch (nodemanager::SeedStore::Get): NotFound when
// none is stored.
// The signer ledger's row for an idempotency key (signer::Ledger::Get).
using LedgerLookupFn = std::function<absl::StatusOr<signer::LedgerEntry>(const std::string& key)>;
// Gonka's Query/GetUnitOfComputePriceProposal for a participant (a chain query).
using PriceQueryFn = std::function<
    absl::StatusOr<::inference::inference::QueryGetUnitOfComputePriceProposalResponse>(
        const std::string& participant)>;
using SeedFn = std::function<absl::StatusOr<nodemanager::SeedInfo>(uint64_t epoch)>;

struct EdgeAdminOptions {
  HttpAuthenticator authenticate;  // none: every request is 403
  std::string creator;             // this participant's address; required
  EnqueueFn enqueue;               // required
  SeedFn seed;                     // none: claim-reward/recover needs "seed" in the body
  StageFn stage;                   // the current epoch (claim-reward/recover, poc/timing)
  int64_t epoch_length = 0;        // blocks per epoch (poc/timing); 0: unknown
  int64_t epoch_shift = 0;         // the chain's epoch_shift (poc/timing before the first PoC)
  std::string node_manager_url;    // "http://host:port" of the node-manager's admin API, or ""
  PriceQueryFn price_query;        // none: GET unit-of-compute-price-proposal is 501
  LedgerLookupFn lookup;           // tx/send waits for the signer's outcome; none: answers "queued"
  absl::Duration tx_wait = absl::Seconds(10);  // tx/send's wait for the signer
  // GET setup/report's JSON at a time (gonka/edgesrv/setup_report.h); none: 501.
  std::function<std::string(absl::Time)> setup_report;
};

// A Gonka admin route edge-srv does not serve, and what it answers instead.
struct UnservedRoute {
  const char* method;
  const char* path;       // under /admin/v1/
  int status;             // 404, 410 or 501
  const char* why;        // the "error" text
  const char* served_by;  // where the data or the action lives in libgonka
};
// Every such route (docs/edge-srv.md has the same table).
const std::vector<UnservedRoute>& UnservedRoutes();

// Gonka's PoC timing (dapi admin timing_calculator.go): the next PoC start is the latest one plus
// the epoch length — before the first PoC (`window` has no PoC start: Gonka's epoch 0) it is
// epoch_length - epoch_shift — seconds at Gonka's default 6 s block time, and nodes should be
// online in a PoC phase or when the next PoC is at most 600 s away. Empty when `epoch_length` is
// not positive or `epoch_shift` is not in [0, epoch_length).
struct PocTiming {
  std::string current_phase;
  int64_t blocks_until_next_poc = 0;
  int64_t seconds_until_next_poc = 0;
  bool should_be_online = false;
};
std::optional<PocTiming> ComputePocTiming(const StageWindow& window, int64_t epoch_length,
                                          int64_t epoch_shift = 0);

// Registers the routes above on `server`.
void AddEdgeAdminRoutes(net::HttpServer* server, EdgeAdminOptions options);

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_ADMIN_API_H_
