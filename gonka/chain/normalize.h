// Normalisation: CometBFT 0.38 `/block` + `/block_results` → one BlockEvents record (the event
// hub's unit of publication). JSON is parsed with simdjson's DOM API, whose kernel is chosen at run
// time for the CPU (the catch-up hot path).
//
//   ASSIGN_OR_RETURN(gonka::chain::v1::BlockEvents events,
//                    gonka::chain::NormalizeBlock(block_result_json, results_result_json,
//                                                 {.chain_id = "gonka-mainnet", .epochs =
//                                                 params}));
//
// Inputs are the JSON-RPC `result` objects or whole answers (`{"jsonrpc":…,"result":{…}}`). Tx
// hashes are computed from the block's tx bytes (uppercase hex SHA-256). The two documents must
// agree — same height, one result per tx — and the block must belong to `chain_id` when it is set;
// otherwise the error is DataLoss naming the height and the mismatch (a node serving inconsistent
// data must never become a silently wrong record). Malformed JSON or a missing field →
// InvalidArgument naming the field. Thread-safe (each call has its own parser).
#ifndef GONKA_CHAIN_NORMALIZE_H_
#define GONKA_CHAIN_NORMALIZE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/chain/epoch.h"

namespace gonka {
namespace chain {

struct NormalizeOptions {
  std::string chain_id;  // expected chain; "" accepts any
  EpochParams epochs;    // epoch_length 0: BlockEvents.epoch is left unset
};

absl::StatusOr<v1::BlockEvents> NormalizeBlock(absl::string_view block_json,
                                               absl::string_view block_results_json,
                                               const NormalizeOptions& options);

// The same into `out` (cleared first). Reusing one message across blocks reuses its allocated
// strings and repeated fields: the catch-up hot path. `out` is unspecified after an error.
absl::Status NormalizeBlockInto(absl::string_view block_json, absl::string_view block_results_json,
                                const NormalizeOptions& options, v1::BlockEvents* out);

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_NORMALIZE_H_
