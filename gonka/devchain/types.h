// Value types of the development chain: ABCI-style events and results, blocks, and the
// epoch/phase schedule. Plain data. See docs/devchain.md.
#ifndef GONKA_DEVCHAIN_TYPES_H_
#define GONKA_DEVCHAIN_TYPES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gonka/chain/epoch.h"

namespace gonka {
namespace devchain {

struct EventAttribute {
  std::string key;
  std::string value;
  bool index = true;
};

struct Event {
  std::string type;
  std::vector<EventAttribute> attributes;
};

// CometBFT's ExecTxResult (and the CheckTx result of a broadcast).
struct TxResult {
  uint32_t code = 0;
  std::string codespace;
  std::string log;
  std::string data;  // raw bytes (base64 on the wire)
  int64_t gas_wanted = 0;
  int64_t gas_used = 0;
  std::vector<Event> events;
};

// One committed block with its results. Immutable once produced; shared by readers.
struct Block {
  std::string chain_id;
  int64_t height = 0;
  absl::Time time;
  std::string hash;       // 32 raw bytes
  std::string last_hash;  // 32 raw bytes ("" at height 1)
  std::string data_hash;
  std::string app_hash;
  // The digest of devchain's own state after this block (its results, chained): the "devchain"
  // store's root in the multistore whose root is the next block's app_hash (proofs.h).
  std::string store_digest;
  std::string proposer;                // 20 raw bytes
  std::vector<std::string> txs;        // raw TxRaw bytes
  std::vector<std::string> tx_hashes;  // 32 raw bytes each
  std::vector<TxResult> tx_results;
  std::vector<Event> finalize_block_events;

  // Pre-rendered CometBFT JSON (the `result` objects), built once at production time so
  // serving a block costs a lookup.
  std::string block_json;          // /block result
  std::string block_results_json;  // /block_results result
  std::string header_json;         // the header object (/header, /commit, /blockchain)
  std::string block_id_json;       // the block_id object
};

using BlockPtr = std::shared_ptr<const Block>;

using EpochParams = chain::EpochParams;

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_TYPES_H_
