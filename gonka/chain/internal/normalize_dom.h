// Internal: normalisation from already-parsed simdjson DOM elements, for callers that parse one
// document holding several answers (CometClient's JSON-RPC batches). Not part of the public API:
// it exposes simdjson types.
#ifndef GONKA_CHAIN_INTERNAL_NORMALIZE_DOM_H_
#define GONKA_CHAIN_INTERNAL_NORMALIZE_DOM_H_

#include <simdjson.h>

#include "absl/status/status.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/chain/normalize.h"

namespace gonka {
namespace chain {
namespace internal {

// As NormalizeBlockInto, from the /block and /block_results answers (whole JSON-RPC responses or
// their `result` objects) as elements of a parsed document.
absl::Status NormalizeElements(simdjson::dom::element block_answer,
                               simdjson::dom::element results_answer,
                               const NormalizeOptions& options, v1::BlockEvents* out);

}  // namespace internal
}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_INTERNAL_NORMALIZE_DOM_H_
