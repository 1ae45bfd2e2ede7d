#include "gonka/devchain/render.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace devchain {
namespace {

std::string Hex(absl::string_view bytes) { return crypto::HexEncodeUpper(bytes); }

void WriteBlockId(JsonWriter& w, absl::string_view hash) {
  const chain::CommitBlockId id = DevchainBlockId(hash);
  w.BeginObject().Key("hash").String(Hex(id.hash)).Key("parts").BeginObject();
  w.Key("total").Int(id.part_set_total).Key("hash").String(Hex(id.part_set_hash));
  w.EndObject().EndObject();
}

std::string FakeHash(absl::string_view label) {
  return std::string(crypto::AsStringView(crypto::Sha256(label)));
}

void WriteHeader(JsonWriter& w, const Block& b) {
  w.BeginObject();
  w.Key("version").BeginObject().Key("block").String("11").Key("app").String("0").EndObject();
  w.Key("chain_id").String(b.chain_id);
  w.Key("height").String(absl::StrCat(b.height));
  w.Key("time").String(RfcTime(b.time));
  w.Key("last_block_id");
  WriteBlockId(w, b.last_hash);
  w.Key("last_commit_hash").String(Hex(FakeHash(absl::StrCat("commit", b.last_hash))));
  w.Key("data_hash").String(Hex(b.data_hash));
  std::string validators = Hex(FakeHash("validators"));
  w.Key("validators_hash").String(validators);
  w.Key("next_validators_hash").String(validators);
  w.Key("consensus_hash").String(Hex(FakeHash("consensus")));
  w.Key("app_hash").String(Hex(b.app_hash));
  w.Key("last_results_hash").String(Hex(FakeHash(absl::StrCat("results", b.last_hash))));
  w.Key("evidence_hash").String(Hex(FakeHash("evidence")));
  w.Key("proposer_address").String(Hex(b.proposer));
  w.EndObject();
}

void WriteBlock(JsonWriter& w, const Block& b, const ValidatorKey& key) {
  w.BeginObject().Key("block_id").Raw(b.block_id_json);
  w.Key("block").BeginObject();
  w.Key("header").Raw(b.header_json);
  w.Key("data").BeginObject().Key("txs").BeginArray();
  for (const auto& tx : b.txs) w.String(absl::Base64Escape(tx));
  w.EndArray().EndObject();
  w.Key("evidence").BeginObject().Key("evidence").BeginArray().EndArray().EndObject();
  w.Key("last_commit");
  WriteCommit(w, b.chain_id, b.height - 1, b.last_hash, b.time, key);
  w.EndObject().EndObject();
}

void WriteBlockResults(JsonWriter& w, const Block& b) {
  w.BeginObject();
  w.Key("height").String(absl::StrCat(b.height));
  w.Key("txs_results");
  if (b.tx_results.empty()) {
    w.Null();
  } else {
    w.BeginArray();
    for (const auto& r : b.tx_results) WriteTxResult(w, r);
    w.EndArray();
  }
  w.Key("finalize_block_events");
  WriteEvents(w, b.finalize_block_events);
  w.Key("validator_updates").Null();
  w.Key("consensus_param_updates").Null();
  w.Key("app_hash").String(absl::Base64Escape(b.app_hash));
  w.EndObject();
}

void AddEvents(std::map<std::string, std::vector<std::string>>& map,
               const std::vector<Event>& events) {
  for (const auto& e : events) {
    for (const auto& a : e.attributes) map[absl::StrCat(e.type, ".", a.key)].push_back(a.value);
  }
}

}  // namespace

std::string RfcTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

void WriteEvents(JsonWriter& w, const std::vector<Event>& events) {
  w.BeginArray();
  for (const auto& e : events) {
    w.BeginObject().Key("type").String(e.type).Key("attributes").BeginArray();
    for (const auto& a : e.attributes) {
      w.BeginObject().Key("key").String(a.key).Key("value").String(a.value);
      if (a.index) w.Key("index").Bool(true);
      w.EndObject();
    }
    w.EndArray().EndObject();
  }
  w.EndArray();
}

void WriteTxResult(JsonWriter& w, const TxResult& r) {
  w.BeginObject();
  if (r.code != 0) w.Key("code").Uint(r.code);
  if (!r.data.empty()) w.Key("data").String(absl::Base64Escape(r.data));
  if (!r.log.empty()) w.Key("log").String(r.log);
  if (r.gas_wanted != 0) w.Key("gas_wanted").String(absl::StrCat(r.gas_wanted));
  if (r.gas_used != 0) w.Key("gas_used").String(absl::StrCat(r.gas_used));
  if (!r.events.empty()) {
    w.Key("events");
    WriteEvents(w, r.events);
  }
  if (!r.codespace.empty()) w.Key("codespace").String(r.codespace);
  w.EndObject();
}

void WriteCommit(JsonWriter& w, absl::string_view chain_id, int64_t height,
                 absl::string_view block_hash, absl::Time timestamp, const ValidatorKey& key) {
  w.BeginObject();
  w.Key("height").String(absl::StrCat(height));
  w.Key("round").Int(0);
  w.Key("block_id");
  WriteBlockId(w, block_hash);
  w.Key("signatures").BeginArray();
  if (height > 0) {
    // The one validator's precommit (BlockIDFlagCommit = 2): its Ed25519 signature over the
    // canonical vote for this block id, height, round 0 and timestamp.
    const std::string sig =
        key.SignPrecommit(chain_id, height, DevchainBlockId(block_hash), timestamp);
    w.BeginObject()
        .Key("block_id_flag")
        .Int(2)
        .Key("validator_address")
        .String(Hex(key.address()))
        .Key("timestamp")
        .String(RfcTime(timestamp))
        .Key("signature")
        .String(absl::Base64Escape(sig))
        .EndObject();
  }
  w.EndArray().EndObject();
}

std::string CommitJson(const Block& block, const Block* next, const ValidatorKey& key) {
  JsonWriter w;
  w.BeginObject().Key("signed_header").BeginObject().Key("header").Raw(block.header_json);
  w.Key("commit");
  // A past height's commit is the next block's last_commit; the tip's is the node's seen commit.
  WriteCommit(w, block.chain_id, block.height, block.hash, next ? next->time : block.time, key);
  w.EndObject().Key("canonical").Bool(next != nullptr).EndObject();
  return w.Take();
}

void RenderBlockJson(Block& block, const ValidatorKey& key) {
  JsonWriter h;
  WriteHeader(h, block);
  block.header_json = h.Take();
  JsonWriter id;
  WriteBlockId(id, block.hash);
  block.block_id_json = id.Take();
  JsonWriter w;
  WriteBlock(w, block, key);
  block.block_json = w.Take();
  JsonWriter r;
  WriteBlockResults(r, block);
  block.block_results_json = r.Take();
}

std::string TxJson(const Block& b, uint32_t index) {
  JsonWriter w;
  w.BeginObject();
  w.Key("hash").String(Hex(b.tx_hashes[index]));
  w.Key("height").String(absl::StrCat(b.height));
  w.Key("index").Uint(index);
  w.Key("tx_result");
  WriteTxResult(w, b.tx_results[index]);
  w.Key("tx").String(absl::Base64Escape(b.txs[index]));
  w.EndObject();
  return w.Take();
}

std::string NewBlockEventData(const Block& b) {
  JsonWriter w;
  w.BeginObject().Key("type").String("tendermint/event/NewBlock").Key("value").BeginObject();
  // The /block result is {"block_id":…,"block":…}: the event value has the same two keys plus
  // result_finalize_block, so the pre-rendered object is reused without its closing brace.
  absl::string_view block_json = b.block_json;
  block_json.remove_prefix(1);
  block_json.remove_suffix(1);
  w.Raw(block_json);
  w.Key("result_finalize_block").BeginObject();
  w.Key("events");
  WriteEvents(w, b.finalize_block_events);
  w.Key("tx_results").BeginArray();
  for (const auto& r : b.tx_results) WriteTxResult(w, r);
  w.EndArray();
  w.Key("validator_updates").BeginArray().EndArray();
  w.Key("consensus_param_updates").Null();
  w.Key("app_hash").String(absl::Base64Escape(b.app_hash));
  w.EndObject();
  w.EndObject().EndObject();
  return w.Take();
}

std::string TxEventData(const Block& b, uint32_t index) {
  JsonWriter w;
  w.BeginObject().Key("type").String("tendermint/event/Tx").Key("value").BeginObject();
  w.Key("TxResult").BeginObject();
  w.Key("height").String(absl::StrCat(b.height));
  w.Key("index").Uint(index);
  w.Key("tx").String(absl::Base64Escape(b.txs[index]));
  w.Key("result");
  WriteTxResult(w, b.tx_results[index]);
  w.EndObject().EndObject().EndObject();
  return w.Take();
}

std::string NewBlockHeaderEventData(const Block& b) {
  JsonWriter w;
  w.BeginObject().Key("type").String("tendermint/event/NewBlockHeader").Key("value").BeginObject();
  w.Key("header").Raw(b.header_json);
  w.EndObject().EndObject();
  return w.Take();
}

std::string NewBlockEventsEventData(const Block& b) {
  JsonWriter w;
  w.BeginObject().Key("type").String("tendermint/event/NewBlockEvents").Key("value").BeginObject();
  w.Key("height").String(absl::StrCat(b.height));
  w.Key("events");
  WriteEvents(w, b.finalize_block_events);
  w.Key("num_txs").String(absl::StrCat(b.txs.size()));
  w.EndObject().EndObject();
  return w.Take();
}

std::map<std::string, std::vector<std::string>> BlockEventMap(const Block& b,
                                                              absl::string_view tm_event) {
  std::map<std::string, std::vector<std::string>> map;
  map["tm.event"] = {std::string(tm_event)};
  // NewBlockHeader is published with tm.event alone (types/event_bus.go).
  if (tm_event != "NewBlockHeader") AddEvents(map, b.finalize_block_events);
  return map;
}

std::map<std::string, std::vector<std::string>> NewBlockEventMap(const Block& b) {
  std::map<std::string, std::vector<std::string>> map;
  map["tm.event"] = {"NewBlock"};
  AddEvents(map, b.finalize_block_events);
  return map;
}

std::map<std::string, std::vector<std::string>> TxEventMap(const Block& b, uint32_t index) {
  std::map<std::string, std::vector<std::string>> map;
  map["tm.event"] = {"Tx"};
  map["tx.hash"] = {Hex(b.tx_hashes[index])};
  map["tx.height"] = {absl::StrCat(b.height)};
  AddEvents(map, b.tx_results[index].events);
  return map;
}

void WriteEventMap(JsonWriter& w, const std::map<std::string, std::vector<std::string>>& events) {
  w.BeginObject();
  for (const auto& [key, values] : events) {
    w.Key(key).BeginArray();
    for (const auto& v : values) w.String(v);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace devchain
}  // namespace gonka
