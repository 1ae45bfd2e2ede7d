#include "gonka/devchain/chain.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/render.h"

namespace gonka {
namespace devchain {
namespace {

std::string Sha(absl::string_view data) {
  return std::string(crypto::AsStringView(crypto::Sha256(data)));
}

uint64_t EventKey(absl::string_view composite_key, absl::string_view value) {
  return absl::Hash<std::pair<absl::string_view, absl::string_view>>{}({composite_key, value});
}

constexpr int kTxIndexBits = 24;  // a block holds fewer than 16M txs
uint64_t TxPosition(int64_t height, uint32_t index) {
  return (static_cast<uint64_t>(height) << kTxIndexBits) | index;
}

// Adds `position` under every indexed attribute of `events` (once per key and value).
void AddToIndex(std::unordered_map<uint64_t, std::vector<uint64_t>>& index,
                const std::vector<Event>& events, uint64_t position, std::string& scratch) {
  for (const auto& e : events) {
    for (const auto& a : e.attributes) {
      if (!a.index) continue;
      scratch.assign(e.type).append(".").append(a.key);
      std::vector<uint64_t>& positions = index[EventKey(scratch, a.value)];
      if (positions.empty() || positions.back() != position) positions.push_back(position);
    }
  }
}

// Drops positions below `limit` under every attribute of `events` (a pruned block's).
void DropFromIndex(std::unordered_map<uint64_t, std::vector<uint64_t>>& index,
                   const std::vector<Event>& events, uint64_t limit, std::string& scratch) {
  for (const auto& e : events) {
    for (const auto& a : e.attributes) {
      if (!a.index) continue;
      scratch.assign(e.type).append(".").append(a.key);
      auto it = index.find(EventKey(scratch, a.value));
      if (it == index.end()) continue;
      auto& positions = it->second;
      positions.erase(positions.begin(),
                      std::lower_bound(positions.begin(), positions.end(), limit));
      if (positions.empty()) index.erase(it);
    }
  }
}

}  // namespace

Chain::Chain(ChainOptions options, TxExecutor* executor)
    : options_(std::move(options)),
      // Validate() refuses a seed of another length; an unvalidated one falls back to the default.
      validator_(
          options_.validator_seed.empty()
              ? ValidatorKey::Default()
              : ValidatorKey::FromSeed(options_.validator_seed).value_or(ValidatorKey::Default())),
      executor_(executor),
      clock_(options_.clock) {}

Chain::~Chain() {
  Stop();
  if (log_ != nullptr) std::fclose(log_);
}

namespace {

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
bool GetU32(absl::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  std::memcpy(v, in->data(), 4);
  in->remove_prefix(4);
  return true;
}
bool GetU64(absl::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  std::memcpy(v, in->data(), 8);
  in->remove_prefix(8);
  return true;
}

}  // namespace

// blocks.log: records of [u32 length][u64 time ns][u32 n]{[u32 len][tx bytes]}*n, little-endian;
// only the txs that came from the mempool are stored (synthetic ones are regenerated).
absl::Status Chain::Open() {
  if (options_.data_dir.empty()) return absl::OkStatus();
  if (log_ != nullptr) return absl::FailedPreconditionError("Chain::Open called twice");
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("devchain data dir ", options_.data_dir, ": ", ec.message()));
  }
  log_path_ = options_.data_dir + "/blocks.log";
  std::string content;
  if (std::FILE* in = std::fopen(log_path_.c_str(), "rb")) {
    char buffer[1 << 16];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), in)) > 0) content.append(buffer, n);
    std::fclose(in);
  }
  absl::string_view rest = content;
  size_t good = 0;
  int64_t replayed = 0;
  while (true) {
    absl::string_view record = rest;
    uint32_t length;
    if (!GetU32(&record, &length) || record.size() < length) break;  // end, or a torn record
    absl::string_view body = record.substr(0, length);
    Replay replay;
    uint64_t time_ns;
    uint32_t count;
    if (!GetU64(&body, &time_ns) || !GetU32(&body, &count)) {
      return absl::DataLossError(absl::StrCat(log_path_, ": malformed record at byte ", good));
    }
    replay.time = absl::FromUnixNanos(static_cast<int64_t>(time_ns));
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t len;
      if (!GetU32(&body, &len) || body.size() < len) {
        return absl::DataLossError(absl::StrCat(log_path_, ": malformed tx at byte ", good));
      }
      replay.txs.emplace_back(body.substr(0, len));
      body.remove_prefix(len);
    }
    {
      absl::MutexLock lock(&mu_);
      CommitBlock(BuildBlock(&replay));
    }
    ++replayed;
    good += 4 + length;
    rest.remove_prefix(4 + length);
  }
  if (good < content.size()) {
    GONKA_LOG_WARN("devchain: dropping a torn record at the end of the block log",
                   {"file", log_path_}, {"bytes", static_cast<int64_t>(content.size() - good)});
    std::filesystem::resize_file(log_path_, good, ec);
  }
  log_ = std::fopen(log_path_.c_str(), "ab");
  if (log_ == nullptr) {
    return absl::InternalError(absl::StrCat("cannot open ", log_path_, " for appending"));
  }
  GONKA_LOG_INFO("devchain state restored", {"file", log_path_}, {"blocks", replayed},
                 {"height", height()});
  return absl::OkStatus();
}

absl::Status Chain::Append(const Block& block, size_t real_txs) {
  std::string body;
  PutU64(&body, static_cast<uint64_t>(absl::ToUnixNanos(block.time)));
  PutU32(&body, static_cast<uint32_t>(real_txs));
  for (size_t i = 0; i < real_txs; ++i) {
    PutU32(&body, static_cast<uint32_t>(block.txs[i].size()));
    body += block.txs[i];
  }
  std::string record;
  PutU32(&record, static_cast<uint32_t>(body.size()));
  record += body;
  if (std::fwrite(record.data(), 1, record.size(), log_) != record.size() ||
      std::fflush(log_) != 0 || fdatasync(fileno(log_)) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot append block ", block.height, " to ", log_path_));
  }
  return absl::OkStatus();
}

absl::Status Chain::Validate(const ChainOptions& o) {
  if (o.chain_id.empty()) return absl::InvalidArgumentError("chain_id: must not be empty");
  if (o.block_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_interval: ", absl::FormatDuration(o.block_interval), " must be > 0"));
  }
  if (o.retain_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("retain_blocks: ", o.retain_blocks, " must be >= 0"));
  }
  if (absl::Status s = chain::ValidateEpochParams(o.epochs); !s.ok()) return s;
  if (o.synthetic_txs_per_block < 0) {
    return absl::InvalidArgumentError("synthetic_txs_per_block: must be >= 0");
  }
  if (!o.validator_seed.empty() && o.validator_seed.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("validator_seed: ", o.validator_seed.size(), " bytes, want 32"));
  }
  return absl::OkStatus();
}

void Chain::Start() {
  absl::MutexLock lock(&loop_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Chain::Stop() {
  {
    absl::MutexLock lock(&loop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Chain::Loop() {
  absl::Time next = clock_->Now() + options_.block_interval;
  while (true) {
    {
      absl::MutexLock lock(&loop_mu_);
      if (clock_->WaitUntil(&loop_mu_, &stop_, next)) return;
    }
    if (!stalled_.load()) ProduceBlock();
    next += options_.block_interval;
    absl::Time now = clock_->Now();
    if (next < now) next = now;  // fell behind (e.g. a stall): no burst of catch-up blocks
  }
}

std::vector<Event> Chain::EpochEvents(int64_t height) const {
  std::vector<Event> events;
  if (options_.epochs.epoch_length <= 0) return events;
  chain::EpochSchedule pos = chain::ScheduleAt(options_.epochs, height);
  chain::EpochSchedule prev = chain::ScheduleAt(options_.epochs, height - 1);
  if (!pos.stage.empty()) {
    events.push_back({"epoch_stage",
                      {{"stage", pos.stage},
                       {"epoch_index", absl::StrCat(pos.epoch_index)},
                       {"poc_start_height", absl::StrCat(pos.poc_start_height)},
                       {"block_height", absl::StrCat(height)}}});
  }
  if (pos.phase != prev.phase) {
    events.push_back({"epoch_phase_changed",
                      {{"phase", pos.phase},
                       {"previous_phase", prev.phase},
                       {"epoch_index", absl::StrCat(pos.epoch_index)},
                       {"block_height", absl::StrCat(height)}}});
  }
  if (pos.epoch_index != prev.epoch_index) {
    events.push_back({"epoch_started",
                      {{"epoch_index", absl::StrCat(pos.epoch_index)},
                       {"poc_start_height", absl::StrCat(pos.poc_start_height)},
                       {"block_height", absl::StrCat(height)}}});
  }
  return events;
}

BlockPtr Chain::BuildBlock(const Replay* replay) {
  auto block = std::make_shared<Block>();
  BlockPtr last = blocks_.empty() ? nullptr : blocks_.back();
  block->chain_id = options_.chain_id;
  block->height = last ? last->height + 1 : 1;
  absl::Time now = replay ? replay->time : clock_->Now();
  // Block times strictly increase, as on a real chain.
  block->time = last && now <= last->time ? last->time + absl::Nanoseconds(1) : now;
  block->last_hash = last ? last->hash : "";
  block->proposer = validator_.address();

  TxContext context{options_.chain_id, block->height, block->time, false};
  std::deque<std::string> replayed;
  if (replay) replayed.assign(replay->txs.begin(), replay->txs.end());
  std::deque<std::string>& source = replay ? replayed : mempool_;
  while (!source.empty()) {
    std::string tx = std::move(source.front());
    source.pop_front();
    std::string hash = Sha(tx);
    if (!replay) {
      mempool_hashes_.erase(hash);
      mempool_bytes_ -= static_cast<int64_t>(tx.size());
    }
    TxResult result = executor_ ? executor_->Deliver(tx, context)
                                : TxResult{2, "sdk", "tx parse error: no executor"};
    block->txs.push_back(std::move(tx));
    block->tx_hashes.push_back(std::move(hash));
    block->tx_results.push_back(std::move(result));
  }
  for (int i = 0; i < options_.synthetic_txs_per_block; ++i) {
    uint64_t n = ++synthetic_counter_;
    std::string tx = absl::StrCat("synthetic-tx/", options_.chain_id, "/", block->height, "/", n);
    TxResult result;
    result.gas_wanted = 200000;
    result.gas_used = 61000 + static_cast<int64_t>(n % 1000);
    result.events = {
        {"tx", {{"fee", "100ngonka"}, {"fee_payer", "gonka1synthetic"}}},
        {"message",
         {{"action", "/gonka.devchain.v1.MsgRecord"},
          {"sender", "gonka1synthetic"},
          {"module", "devchain"}}},
        {"record", {{"key", absl::StrCat("synthetic-", n)}, {"creator", "gonka1synthetic"}}}};
    block->tx_hashes.push_back(Sha(tx));
    block->txs.push_back(std::move(tx));
    block->tx_results.push_back(std::move(result));
  }
  if (executor_) executor_->Commit(block->height);

  block->finalize_block_events = EpochEvents(block->height);
  std::string hashes;
  for (const auto& h : block->tx_hashes) hashes += h;
  block->data_hash = Sha(hashes);
  std::string results_digest;
  for (const auto& r : block->tx_results) {
    absl::StrAppend(&results_digest, r.code, "/", r.gas_used, ";");
  }
  block->store_digest =
      Sha(absl::StrCat(last ? last->store_digest : "", block->height, results_digest));
  // As CometBFT: a header carries the app hash of the state after the previous block.
  block->app_hash = AppHashAfter(block->height - 1, last ? last->store_digest : "");
  block->hash =
      Sha(absl::StrCat(options_.chain_id, "/", block->height, "/", absl::ToUnixNanos(block->time),
                       "/", block->last_hash, block->data_hash, block->app_hash));
  RenderBlockJson(*block, validator_);

  return block;
}

void Chain::CommitBlock(const BlockPtr& block) {
  blocks_.push_back(block);
  for (uint32_t i = 0; i < block->tx_hashes.size(); ++i) {
    tx_index_[block->tx_hashes[i]] = TxLocation{block, i};
  }
  block_hash_index_[block->hash] = block->height;
  IndexBlock(*block, true);
  if (options_.retain_blocks > 0) {
    while (static_cast<int64_t>(blocks_.size()) > options_.retain_blocks) {
      Unindex(blocks_.front());
      blocks_.pop_front();
    }
  }
}

void Chain::IndexBlock(const Block& block, bool add) {
  std::string scratch;
  for (uint32_t i = 0; i < block.tx_results.size(); ++i) {
    if (add) {
      AddToIndex(tx_event_index_, block.tx_results[i].events, TxPosition(block.height, i), scratch);
    } else {
      DropFromIndex(tx_event_index_, block.tx_results[i].events, TxPosition(block.height + 1, 0),
                    scratch);
    }
  }
  if (add) {
    AddToIndex(block_event_index_, block.finalize_block_events, block.height, scratch);
  } else {
    DropFromIndex(block_event_index_, block.finalize_block_events, block.height + 1, scratch);
  }
}

void Chain::Unindex(const BlockPtr& pruned) {
  for (const auto& h : pruned->tx_hashes) tx_index_.erase(h);
  block_hash_index_.erase(pruned->hash);
  IndexBlock(*pruned, false);
}

BlockPtr Chain::ProduceBlock() {
  absl::MutexLock produce(&produce_mu_);
  BlockPtr block;
  {
    absl::MutexLock lock(&mu_);
    block = BuildBlock(nullptr);
    if (log_ != nullptr) {
      // Durable before anyone can see it: a restart never forgets a block a client saw.
      size_t real = block->txs.size() - static_cast<size_t>(options_.synthetic_txs_per_block);
      if (absl::Status s = Append(*block, real); !s.ok()) {
        GONKA_LOG_ERROR("devchain: block log write failed", {"error", s.ToString()});
      }
    }
    CommitBlock(block);
  }
  std::vector<std::function<void(const BlockPtr&)>> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners = listeners_;
  }
  for (auto& listener : listeners) listener(block);
  return block;
}

BroadcastResult Chain::Broadcast(absl::string_view tx) {
  BroadcastResult out;
  out.hash = Sha(tx);
  absl::MutexLock lock(&mu_);
  if (tx.size() > options_.max_tx_bytes) {
    out.rpc_error =
        absl::StrCat("Tx too large. Max size is ", options_.max_tx_bytes, ", but got ", tx.size());
    return out;
  }
  if (mempool_hashes_.count(out.hash) || tx_index_.count(out.hash)) {
    out.rpc_error = "tx already exists in cache";
    return out;
  }
  if (mempool_.size() >= options_.mempool_size) {
    out.rpc_error = absl::StrCat("mempool is full: number of txs ", mempool_.size(),
                                 " (max: ", options_.mempool_size, ")");
    return out;
  }
  if (reject_code_ != 0) {
    out.result.code = reject_code_;
    out.result.codespace = "sdk";
    out.result.log = reject_log_;
    return out;
  }
  int64_t next_height = blocks_.empty() ? 1 : blocks_.back()->height + 1;
  TxContext context{options_.chain_id, next_height, clock_->Now(), false};
  out.result =
      executor_ ? executor_->Check(tx, context) : TxResult{2, "sdk", "tx parse error: no executor"};
  if (out.result.code == 0 && !drop_broadcasts_) {
    mempool_.emplace_back(tx);
    mempool_hashes_.insert(out.hash);
    mempool_bytes_ += static_cast<int64_t>(tx.size());
  }
  return out;
}

BroadcastResult Chain::CheckTx(absl::string_view tx) {
  BroadcastResult out;
  out.hash = Sha(tx);
  absl::MutexLock lock(&mu_);
  int64_t next_height = blocks_.empty() ? 1 : blocks_.back()->height + 1;
  TxContext context{options_.chain_id, next_height, clock_->Now(), false};
  context.check_only = true;
  out.result =
      executor_ ? executor_->Check(tx, context) : TxResult{2, "sdk", "tx parse error: no executor"};
  return out;
}

absl::StatusOr<TxLocation> Chain::WaitForTx(absl::string_view hash, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string key(hash);
  absl::MutexLock lock(&mu_);
  auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return tx_index_.count(key) > 0; };
  while (!found()) {
    if (mu_.AwaitWithDeadline(absl::Condition(&found), deadline)) break;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("tx ", crypto::HexEncodeUpper(hash),
                                                      " not included within ",
                                                      absl::FormatDuration(timeout)));
    }
  }
  return tx_index_.at(key);
}

TxExecutor::QueryResult Chain::Query(absl::string_view path, absl::string_view data,
                                     int64_t height) {
  absl::MutexLock lock(&mu_);
  int64_t latest = blocks_.empty() ? 0 : blocks_.back()->height;
  // baseapp's CreateQueryContext checks, in its order and with its texts.
  if (height < 0) {
    return {18, "sdk",
            "cannot query with height < 0; please provide a valid height: invalid request", ""};
  }
  if (height > latest) {
    return {26, "sdk",
            "cannot query with height in the future; please provide a valid height: invalid "
            "height",
            ""};
  }
  if (height == 0) height = latest;
  TxExecutor::QueryResult result =
      executor_ ? executor_->Query(path, data, height)
                : TxExecutor::QueryResult{6, "sdk", absl::StrCat("unknown query path: ", path), ""};
  result.height = height;
  return result;
}

absl::StatusOr<BlockPtr> Chain::GetBlock(int64_t height) const {
  absl::MutexLock lock(&mu_);
  if (blocks_.empty()) {
    return absl::FailedPreconditionError("no blocks yet: the chain has not produced block 1");
  }
  int64_t tip = blocks_.back()->height;
  int64_t base = blocks_.front()->height;
  if (height == 0) return blocks_.back();
  if (height < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("height must be greater than 0, but got ", height));
  }
  if (height > tip) {
    return absl::OutOfRangeError(absl::StrCat(
        "height ", height, " must be less than or equal to the current blockchain height ", tip));
  }
  if (height < base) {
    return absl::NotFoundError(
        absl::StrCat("height ", height, " is not available, lowest height is ", base));
  }
  return blocks_[height - base];
}

absl::StatusOr<TxLocation> Chain::GetTx(absl::string_view hash) const {
  absl::MutexLock lock(&mu_);
  auto it = tx_index_.find(std::string(hash));
  if (it == tx_index_.end()) {
    return absl::NotFoundError(absl::StrCat("tx (", crypto::HexEncodeUpper(hash), ") not found"));
  }
  return it->second;
}

absl::StatusOr<BlockPtr> Chain::GetBlockByHash(absl::string_view hash) const {
  absl::MutexLock lock(&mu_);
  auto it = block_hash_index_.find(std::string(hash));
  if (it == block_hash_index_.end() || blocks_.empty()) {
    return absl::NotFoundError(absl::StrCat("block ", crypto::HexEncodeUpper(hash), " not found"));
  }
  return blocks_[it->second - blocks_.front()->height];
}

std::vector<TxLocation> Chain::FindTxs(absl::string_view composite_key, absl::string_view value,
                                       int64_t min_height, int64_t max_height) const {
  std::vector<TxLocation> out;
  absl::MutexLock lock(&mu_);
  if (blocks_.empty()) return out;
  auto it = tx_event_index_.find(EventKey(composite_key, value));
  if (it == tx_event_index_.end()) return out;
  int64_t base = blocks_.front()->height;
  min_height = std::max(min_height, base);
  max_height = std::min(max_height, blocks_.back()->height);
  if (min_height > max_height) return out;
  const auto& positions = it->second;
  for (auto p = std::lower_bound(positions.begin(), positions.end(), TxPosition(min_height, 0));
       p != positions.end(); ++p) {
    int64_t height = static_cast<int64_t>(*p >> kTxIndexBits);
    if (height > max_height) break;
    out.push_back(
        TxLocation{blocks_[height - base], static_cast<uint32_t>(*p & ((1u << kTxIndexBits) - 1))});
  }
  return out;
}

std::vector<int64_t> Chain::FindBlocks(absl::string_view composite_key, absl::string_view value,
                                       int64_t min_height, int64_t max_height) const {
  std::vector<int64_t> out;
  absl::MutexLock lock(&mu_);
  if (blocks_.empty()) return out;
  auto it = block_event_index_.find(EventKey(composite_key, value));
  if (it == block_event_index_.end()) return out;
  min_height = std::max(min_height, blocks_.front()->height);
  max_height = std::min(max_height, blocks_.back()->height);
  const auto& positions = it->second;
  for (auto p = std::lower_bound(positions.begin(), positions.end(),
                                 static_cast<uint64_t>(std::max<int64_t>(min_height, 0)));
       p != positions.end() && static_cast<int64_t>(*p) <= max_height; ++p) {
    out.push_back(static_cast<int64_t>(*p));
  }
  return out;
}

std::vector<std::string> Chain::MempoolTxs(size_t limit, size_t* total,
                                           int64_t* total_bytes) const {
  absl::MutexLock lock(&mu_);
  *total = mempool_.size();
  *total_bytes = mempool_bytes_;
  std::vector<std::string> out;
  for (size_t i = 0; i < mempool_.size() && i < limit; ++i) out.push_back(mempool_[i]);
  return out;
}

int64_t Chain::mempool_bytes() const {
  absl::MutexLock lock(&mu_);
  return mempool_bytes_;
}

BlockPtr Chain::Latest() const {
  absl::MutexLock lock(&mu_);
  return blocks_.empty() ? nullptr : blocks_.back();
}

int64_t Chain::height() const {
  absl::MutexLock lock(&mu_);
  return blocks_.empty() ? 0 : blocks_.back()->height;
}

int64_t Chain::earliest_height() const {
  absl::MutexLock lock(&mu_);
  return blocks_.empty() ? 0 : blocks_.front()->height;
}

size_t Chain::mempool_size() const {
  absl::MutexLock lock(&mu_);
  return mempool_.size();
}

void Chain::OnBlock(std::function<void(const BlockPtr&)> listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void Chain::SetStalled(bool stalled) {
  stalled_ = stalled;
  GONKA_LOG_INFO("devchain fault: block production", {"stalled", stalled});
}

void Chain::SetDropBroadcasts(bool drop) {
  absl::MutexLock lock(&mu_);
  drop_broadcasts_ = drop;
}

void Chain::SetRejectBroadcasts(uint32_t code, std::string log) {
  absl::MutexLock lock(&mu_);
  reject_code_ = code;
  reject_log_ = log.empty() ? "rejected by devchain fault knob" : std::move(log);
}

void Chain::PruneBelow(int64_t height) {
  absl::MutexLock lock(&mu_);
  // The tip always stays.
  while (blocks_.size() > 1 && blocks_.front()->height < height) {
    Unindex(blocks_.front());
    blocks_.pop_front();
  }
}

}  // namespace devchain
}  // namespace gonka
