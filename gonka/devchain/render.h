// CometBFT 0.38 JSON for the development chain's data (docs/reference/protocol.md, "CometBFT
// JSON-RPC" and "CometBFT WebSocket"): int64 as strings, tx bytes and result data as base64,
// hashes as uppercase hex, RFC3339Nano UTC times, ABCI result fields omitted when zero (Go's
// omitempty).
#ifndef GONKA_DEVCHAIN_RENDER_H_
#define GONKA_DEVCHAIN_RENDER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/json.h"
#include "gonka/devchain/types.h"
#include "gonka/devchain/validator.h"

namespace gonka {
namespace devchain {

// "2025-06-01T10:00:00.123456789Z" (trailing fractional zeros trimmed, as Go's RFC3339Nano).
std::string RfcTime(absl::Time time);

void WriteEvents(JsonWriter& w, const std::vector<Event>& events);
void WriteTxResult(JsonWriter& w, const TxResult& result);

// A Commit object (the last_commit of a block, the commit of /commit): the one devchain
// validator's precommit for `block_hash` at `height` (none at height 0), signed with `key`.
void WriteCommit(JsonWriter& w, absl::string_view chain_id, int64_t height,
                 absl::string_view block_hash, absl::Time timestamp, const ValidatorKey& key);

// The /commit result for `block`; `next` is the block after it (null at the tip: the commit is
// then the node's seen commit and "canonical" is false, as CometBFT answers).
std::string CommitJson(const Block& block, const Block* next, const ValidatorKey& key);

// Fills block.header_json, block.block_id_json, block.block_json (the /block result) and
// block.block_results_json (/block_results); the last_commit is signed with `key`.
void RenderBlockJson(Block& block, const ValidatorKey& key);

// The /tx result for tx `index` of `block`.
std::string TxJson(const Block& block, uint32_t index);

// WebSocket event payloads: the `data` object and the `events` map of a NewBlock / Tx event.
std::string NewBlockEventData(const Block& block);
std::string TxEventData(const Block& block, uint32_t index);
// tendermint/event/NewBlockHeader {header} and tendermint/event/NewBlockEvents {height, events,
// num_txs} (CometBFT 0.38 types/events.go).
std::string NewBlockHeaderEventData(const Block& block);
std::string NewBlockEventsEventData(const Block& block);
// The events map of a block-level event (`tm_event` NewBlock, NewBlockHeader, NewBlockEvents).
std::map<std::string, std::vector<std::string>> BlockEventMap(const Block& block,
                                                              absl::string_view tm_event);
// "<type>.<key>" → values, plus the reserved keys (tm.event, tx.hash, tx.height).
std::map<std::string, std::vector<std::string>> NewBlockEventMap(const Block& block);
std::map<std::string, std::vector<std::string>> TxEventMap(const Block& block, uint32_t index);
void WriteEventMap(JsonWriter& w, const std::map<std::string, std::vector<std::string>>& events);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_RENDER_H_
