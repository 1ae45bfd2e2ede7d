// CometBFT 0.38 JSON for the development chain's data (docs/reference/protocol.md, "CometBFT
// JSON-RPC" and "CometBFT WebSocket"): int64 as strings, tx bytes and result data as base64,
// hashes as uppercase hex, RFC3339Nano UTC times, ABCI result fields omitted when zero (Go's
// omitempty).
#ifndef GONKA_DEVCHAIN_RENDER_H_
#define GONKA_DEVCHAIN_RENDER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gonka/base/json.h"
#include "gonka/devchain/types.h"

namespace gonka {
namespace devchain {

// "2025-06-01T10:00:00.123456789Z" (trailing fractional zeros trimmed, as Go's RFC3339Nano).
std::string RfcTime(absl::Time time);

void WriteEvents(JsonWriter& w, const std::vector<Event>& events);
void WriteTxResult(JsonWriter& w, const TxResult& result);

// Fills block.block_json (the /block result) and block.block_results_json (/block_results).
void RenderBlockJson(Block& block);

// The /tx result for tx `index` of `block`.
std::string TxJson(const Block& block, uint32_t index);

// WebSocket event payloads: the `data` object and the `events` map of a NewBlock / Tx event.
std::string NewBlockEventData(const Block& block);
std::string TxEventData(const Block& block, uint32_t index);
// "<type>.<key>" → values, plus the reserved keys (tm.event, tx.hash, tx.height).
std::map<std::string, std::vector<std::string>> NewBlockEventMap(const Block& block);
std::map<std::string, std::vector<std::string>> TxEventMap(const Block& block, uint32_t index);
void WriteEventMap(JsonWriter& w, const std::map<std::string, std::vector<std::string>>& events);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_RENDER_H_
