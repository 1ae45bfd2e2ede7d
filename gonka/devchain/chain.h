// Chain: the development chain's block producer — mempool, blocks on an interval, results and
// events, epoch/phase events, pruning, fault knobs — with transaction rules supplied by a
// TxExecutor (the Cosmos rules live in their own executor; see docs/devchain.md).
//
//   ChainOptions options;
//   options.chain_id = "gonka-devnet";
//   options.block_interval = absl::Milliseconds(100);
//   Chain chain(options, &executor);
//   chain.OnBlock([](const BlockPtr& b) { ... });   // every committed block, in order
//   chain.Start();                                  // or ProduceBlock() by hand in tests
//
// Thread-safe. OnBlock listeners run on the producer thread, in height order, after the block is
// visible to readers; they must not block for long.
#ifndef GONKA_DEVCHAIN_CHAIN_H_
#define GONKA_DEVCHAIN_CHAIN_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/ics23.h"
#include "gonka/devchain/proofs.h"
#include "gonka/devchain/types.h"
#include "gonka/devchain/validator.h"

namespace gonka {
namespace devchain {

// Context handed to the executor for one tx.
struct TxContext {
  std::string chain_id;
  int64_t height = 0;     // the block being built (CheckTx: the next block)
  absl::Time block_time;  // its time (CheckTx: now)
  bool simulate = false;
  // The check_tx RPC: CheckTx whose check-state changes (e.g. a reserved sequence) are dropped.
  bool check_only = false;
};

// The chain's rules. Check() decides mempool admission (CheckTx: signature, sequence, fees, ...)
// and may reserve state (e.g. a sequence) in its check state; Deliver() executes in a block.
// Implementations are called under the chain's lock, one call at a time.
class TxExecutor {
 public:
  virtual ~TxExecutor() = default;
  virtual TxResult Check(absl::string_view tx, const TxContext& context) = 0;
  virtual TxResult Deliver(absl::string_view tx, const TxContext& context) = 0;
  // After every block (reset check state to the committed state).
  virtual void Commit(int64_t height) {}
  // abci_query: `path` is the gRPC method; returns the response bytes or an error result.
  // `height` is the committed height queried (Chain::Query resolved 0 to the latest and refused
  // heights above it); executors without history may answer from their latest state.
  struct QueryResult {
    uint32_t code = 0;
    std::string codespace;
    std::string log;
    std::string value;
    int64_t height = 0;  // the height answered (set by Chain::Query)
  };
  virtual QueryResult Query(absl::string_view path, absl::string_view data, int64_t height) {
    return {6, "sdk", absl::StrCat("unknown query path: ", path), ""};
  }
  // Merkle proofs (gonka/devchain/proofs.h): the IAVL-shaped stores whose keys this executor
  // proves, by store name, as committed at `height` (entries sorted by key). With the chain's
  // own "devchain" store they make the multistore whose root is block height+1's app_hash.
  virtual std::map<std::string, std::vector<StoreEntry>> ProvableStores(int64_t height) {
    return {};
  }
};

struct ChainOptions {
  std::string chain_id = "gonka-devnet";
  absl::Duration block_interval = absl::Seconds(1);
  EpochParams epochs;
  // Keep at most this many recent blocks (0 = all); older heights answer as pruned.
  int64_t retain_blocks = 0;
  // Mempool capacity in txs; a full mempool rejects broadcasts (sdk 20).
  size_t mempool_size = 5000;
  // Largest tx in bytes (CometBFT: "Tx too large").
  size_t max_tx_bytes = 1 << 20;
  // Load mode: each block also carries this many synthetic txs (benchmarks).
  int synthetic_txs_per_block = 0;
  // Keeps committed blocks in <data_dir>/blocks.log; Open() replays them through the executor,
  // so a restart continues at the same height with the same state. "" = in memory only.
  std::string data_dir;
  // The validator's 32-byte Ed25519 seed (raw bytes); "" = ValidatorKey::Default()'s
  // (docs/devchain.md, "Validator key").
  std::string validator_seed;
  Clock* clock = Clock::Real();
};

// Broadcast outcome. `admitted` = accepted into the mempool; otherwise `result` says why (a
// CheckTx code) or `rpc_error` is set for CometBFT-level refusals ("tx already exists in cache").
struct BroadcastResult {
  std::string hash;  // 32 raw bytes
  TxResult result;
  std::string rpc_error;
};

// Where a tx landed.
struct TxLocation {
  BlockPtr block;
  uint32_t index = 0;
};

class Chain {
 public:
  // `executor` may be null: then every tx is refused with `sdk` 2 (a block-only chain).
  Chain(ChainOptions options, TxExecutor* executor);
  ~Chain();
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  static absl::Status Validate(const ChainOptions& options);

  // With a data dir: replays the blocks it holds (rebuilding the executor's state) and opens it
  // for appending. A torn last record (a crash mid-write) is dropped. Call once, before Start()
  // and before any broadcast. Internal/DataLoss naming the file on I/O or format errors.
  absl::Status Open();

  // Produces blocks every block_interval on a thread until Stop().
  void Start();
  void Stop();
  // Builds, commits and publishes one block now (tests drive the chain with this).
  BlockPtr ProduceBlock();

  // CheckTx + mempool admission.
  BroadcastResult Broadcast(absl::string_view tx);
  // The check_tx RPC: CheckTx only, nothing enters the mempool and no check state is kept.
  BroadcastResult CheckTx(absl::string_view tx);
  // Waits (up to `timeout`) until the tx with `hash` is in a block.
  absl::StatusOr<TxLocation> WaitForTx(absl::string_view hash, absl::Duration timeout);
  // A query at `height` (0 = latest), as baseapp answers abci_query and gRPC with
  // x-cosmos-block-height: a negative height is sdk 18, one above the latest block sdk 26
  // ("cannot query with height in the future; please provide a valid height").
  TxExecutor::QueryResult Query(absl::string_view path, absl::string_view data, int64_t height = 0);
  // abci_query with prove=true (chain_proofs.cc): for a "store/<name>/key" path (or "/store/…")
  // and a key present in that provable store at committed `height` (0 = latest), the ICS-23 ops
  // ("ics23:iavl", then "ics23:simple") against the app_hash in block height+1's header. Empty
  // for other paths or stores and for absent keys (no non-existence proofs); GetBlock's errors
  // for a height the chain does not hold.
  absl::StatusOr<std::vector<chain::ProofOp>> ProveQuery(absl::string_view path,
                                                         absl::string_view data,
                                                         int64_t height) const;

  // Reads. Heights: 0 = latest. Errors carry CometBFT's messages: height above the tip
  // ("height 99 must be less than or equal to the current blockchain height 12") or pruned
  // ("height 3 is not available, lowest height is 40").
  absl::StatusOr<BlockPtr> GetBlock(int64_t height) const;
  absl::StatusOr<TxLocation> GetTx(absl::string_view hash) const;
  // NotFound for a hash the chain does not hold (never produced, or pruned).
  absl::StatusOr<BlockPtr> GetBlockByHash(absl::string_view hash) const;
  // Txs of retained blocks in [min_height, max_height] with an attribute `type.key` = `value`
  // (attributes with index=true, as CometBFT's kv indexer), in (height, index) order. From an
  // index kept at commit, so the cost is the number of matches, not the chain's length.
  std::vector<TxLocation> FindTxs(absl::string_view composite_key, absl::string_view value,
                                  int64_t min_height, int64_t max_height) const;
  // Heights of retained blocks in [min_height, max_height] whose finalize-block events carry
  // `type.key` = `value`, ascending (the block_search index).
  std::vector<int64_t> FindBlocks(absl::string_view composite_key, absl::string_view value,
                                  int64_t min_height, int64_t max_height) const;
  // The first `limit` mempool txs (oldest first), with the mempool's count and byte size.
  std::vector<std::string> MempoolTxs(size_t limit, size_t* total, int64_t* total_bytes) const;
  int64_t mempool_bytes() const;
  BlockPtr Latest() const;  // nullptr before the first block
  int64_t height() const;
  int64_t earliest_height() const;
  size_t mempool_size() const;
  const ChainOptions& options() const { return options_; }
  // The validator whose key signs every commit (ChainOptions::validator_seed).
  const ValidatorKey& validator() const { return validator_; }

  // Every committed block, in order, on the producer thread.
  void OnBlock(std::function<void(const BlockPtr&)> listener);

  // Fault knobs (docs/devchain.md).
  void SetStalled(bool stalled);                             // no blocks while true
  void SetRejectBroadcasts(uint32_t code, std::string log);  // 0 = off
  // While on, a broadcast passes CheckTx and is answered as accepted, but never reaches the
  // mempool (a node that loses it): the tx times out unincluded.
  void SetDropBroadcasts(bool drop);
  void PruneBelow(int64_t height);  // drop heights < height now

 private:
  void Loop();
  struct Replay {
    absl::Time time;
    std::vector<std::string> txs;
  };
  BlockPtr BuildBlock(const Replay* replay) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CommitBlock(const BlockPtr& block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Append(const Block& block, size_t real_txs);
  std::vector<Event> EpochEvents(int64_t height) const;
  // The multistore root after `height` (chain_proofs.cc): the executor's provable stores and
  // "devchain", whose root is `devchain_digest`.
  std::string AppHashAfter(int64_t height, absl::string_view devchain_digest) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The event indexes: add a committed block's attributes, or drop a pruned block's.
  void IndexBlock(const Block& block, bool add) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unindex(const BlockPtr& pruned) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ChainOptions options_;
  const ValidatorKey validator_;
  TxExecutor* const executor_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  std::deque<BlockPtr> blocks_ ABSL_GUARDED_BY(mu_);  // contiguous, earliest first
  std::map<std::string, TxLocation> tx_index_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, int64_t> block_hash_index_ ABSL_GUARDED_BY(mu_);
  // Hash of (composite key, value) → positions, ascending: (height << 24 | tx index) for txs,
  // heights for finalize-block events. A hash collision only adds candidates; readers check
  // the attribute itself.
  std::unordered_map<uint64_t, std::vector<uint64_t>> tx_event_index_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, std::vector<uint64_t>> block_event_index_ ABSL_GUARDED_BY(mu_);
  int64_t mempool_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::string> mempool_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> mempool_hashes_ ABSL_GUARDED_BY(mu_);
  uint32_t reject_code_ ABSL_GUARDED_BY(mu_) = 0;
  bool drop_broadcasts_ ABSL_GUARDED_BY(mu_) = false;
  std::string reject_log_ ABSL_GUARDED_BY(mu_);
  uint64_t synthetic_counter_ ABSL_GUARDED_BY(mu_) = 0;
  std::FILE* log_ = nullptr;  // under produce_mu_
  std::string log_path_;

  absl::Mutex produce_mu_;  // one block at a time; listeners run under it, in order
  absl::Mutex listeners_mu_;
  std::vector<std::function<void(const BlockPtr&)>> listeners_ ABSL_GUARDED_BY(listeners_mu_);

  std::atomic<bool> stalled_{false};
  absl::Mutex loop_mu_;
  bool stop_ ABSL_GUARDED_BY(loop_mu_) = false;
  std::thread thread_;
};

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_CHAIN_H_
