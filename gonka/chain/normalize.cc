#include "gonka/chain/normalize.h"

#include <string_view>
#include <vector>

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace chain {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// Propagates a simdjson error out of an error_code-returning parse function.
#define GONKA_SJ(expr)                         \
  do {                                         \
    if (error_code _e = (expr); _e) return _e; \
  } while (0)

error_code ReadString(od::value v, std::string* out) {
  std::string_view s;
  GONKA_SJ(v.get_string().get(s));
  out->assign(s.data(), s.size());
  return simdjson::SUCCESS;
}

// int64 as CometBFT encodes it (a JSON string), also accepting a number or null.
error_code ReadInt64(od::value v, int64_t* out) {
  od::json_type type;
  GONKA_SJ(v.type().get(type));
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      GONKA_SJ(v.get_string().get(s));
      if (s.empty()) {
        *out = 0;
        return simdjson::SUCCESS;
      }
      return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), out) ? simdjson::SUCCESS
                                                                          : simdjson::NUMBER_ERROR;
    }
    case od::json_type::number:
      return v.get_int64().get(*out);
    case od::json_type::null:
      *out = 0;
      return simdjson::SUCCESS;
    default:
      return simdjson::INCORRECT_TYPE;
  }
}

error_code IsNull(od::value v, bool* null) {
  od::json_type type;
  GONKA_SJ(v.type().get(type));
  *null = type == od::json_type::null;
  return simdjson::SUCCESS;
}

error_code ReadEvents(od::value v, google::protobuf::RepeatedPtrField<v1::Event>* out) {
  bool null;
  GONKA_SJ(IsNull(v, &null));
  if (null) return simdjson::SUCCESS;
  od::array events;
  GONKA_SJ(v.get_array().get(events));
  for (auto item : events) {
    od::object object;
    GONKA_SJ(item.get_object().get(object));
    v1::Event* event = out->Add();
    for (auto field : object) {
      std::string_view key;
      GONKA_SJ(field.unescaped_key().get(key));
      od::value value;
      GONKA_SJ(field.value().get(value));
      if (key == "type") {
        GONKA_SJ(ReadString(value, event->mutable_type()));
      } else if (key == "attributes") {
        GONKA_SJ(IsNull(value, &null));
        if (null) continue;
        od::array attributes;
        GONKA_SJ(value.get_array().get(attributes));
        for (auto a : attributes) {
          od::object attribute;
          GONKA_SJ(a.get_object().get(attribute));
          v1::Attribute* out_attribute = event->add_attributes();
          for (auto af : attribute) {
            std::string_view ak;
            GONKA_SJ(af.unescaped_key().get(ak));
            od::value av;
            GONKA_SJ(af.value().get(av));
            if (ak == "key") {
              GONKA_SJ(ReadString(av, out_attribute->mutable_key()));
            } else if (ak == "value") {
              GONKA_SJ(IsNull(av, &null));
              if (!null) GONKA_SJ(ReadString(av, out_attribute->mutable_value()));
            } else if (ak == "index") {
              bool index = false;
              GONKA_SJ(av.get_bool().get(index));
              out_attribute->set_index(index);
            }
          }
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

error_code ReadTxResult(od::value v, v1::TxEvents* tx) {
  od::object object;
  GONKA_SJ(v.get_object().get(object));
  for (auto field : object) {
    std::string_view key;
    GONKA_SJ(field.unescaped_key().get(key));
    od::value value;
    GONKA_SJ(field.value().get(value));
    if (key == "code") {
      uint64_t code = 0;
      GONKA_SJ(value.get_uint64().get(code));
      if (code > UINT32_MAX) return simdjson::NUMBER_OUT_OF_RANGE;
      tx->set_code(static_cast<uint32_t>(code));
    } else if (key == "codespace") {
      GONKA_SJ(ReadString(value, tx->mutable_codespace()));
    } else if (key == "log") {
      GONKA_SJ(ReadString(value, tx->mutable_log()));
    } else if (key == "gas_wanted") {
      int64_t gas;
      GONKA_SJ(ReadInt64(value, &gas));
      tx->set_gas_wanted(gas);
    } else if (key == "gas_used") {
      int64_t gas;
      GONKA_SJ(ReadInt64(value, &gas));
      tx->set_gas_used(gas);
    } else if (key == "events") {
      GONKA_SJ(ReadEvents(value, tx->mutable_events()));
    }
  }
  return simdjson::SUCCESS;
}

struct BlockFields {
  std::string hash;
  std::string chain_id;
  int64_t height = -1;
  std::string time;
  std::string last_hash;
  std::vector<std::string> tx_hashes;
};

error_code ReadHeader(od::value v, BlockFields* b) {
  od::object header;
  GONKA_SJ(v.get_object().get(header));
  for (auto field : header) {
    std::string_view key;
    GONKA_SJ(field.unescaped_key().get(key));
    od::value value;
    GONKA_SJ(field.value().get(value));
    if (key == "chain_id") {
      GONKA_SJ(ReadString(value, &b->chain_id));
    } else if (key == "height") {
      GONKA_SJ(ReadInt64(value, &b->height));
    } else if (key == "time") {
      GONKA_SJ(ReadString(value, &b->time));
    } else if (key == "last_block_id") {
      od::object id;
      GONKA_SJ(value.get_object().get(id));
      for (auto f : id) {
        std::string_view k;
        GONKA_SJ(f.unescaped_key().get(k));
        if (k == "hash") {
          od::value hv;
          GONKA_SJ(f.value().get(hv));
          GONKA_SJ(ReadString(hv, &b->last_hash));
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

error_code ReadBlock(od::object root, BlockFields* b, std::string* bad_tx) {
  for (auto field : root) {
    std::string_view key;
    GONKA_SJ(field.unescaped_key().get(key));
    od::value value;
    GONKA_SJ(field.value().get(value));
    if (key == "block_id") {
      od::object id;
      GONKA_SJ(value.get_object().get(id));
      for (auto f : id) {
        std::string_view k;
        GONKA_SJ(f.unescaped_key().get(k));
        if (k == "hash") {
          od::value hv;
          GONKA_SJ(f.value().get(hv));
          GONKA_SJ(ReadString(hv, &b->hash));
        }
      }
    } else if (key == "block") {
      od::object block;
      GONKA_SJ(value.get_object().get(block));
      for (auto f : block) {
        std::string_view k;
        GONKA_SJ(f.unescaped_key().get(k));
        od::value bv;
        GONKA_SJ(f.value().get(bv));
        if (k == "header") {
          GONKA_SJ(ReadHeader(bv, b));
        } else if (k == "data") {
          od::object data;
          GONKA_SJ(bv.get_object().get(data));
          for (auto df : data) {
            std::string_view dk;
            GONKA_SJ(df.unescaped_key().get(dk));
            if (dk != "txs") continue;
            od::value txs_value;
            GONKA_SJ(df.value().get(txs_value));
            bool null;
            GONKA_SJ(IsNull(txs_value, &null));
            if (null) continue;
            od::array txs;
            GONKA_SJ(txs_value.get_array().get(txs));
            std::string raw;
            for (auto tx : txs) {
              std::string_view b64;
              GONKA_SJ(tx.get_string().get(b64));
              if (!absl::Base64Unescape(absl::string_view(b64.data(), b64.size()), &raw)) {
                *bad_tx = std::string(b64.substr(0, 40));
                return simdjson::INCORRECT_TYPE;
              }
              b->tx_hashes.push_back(
                  crypto::HexEncodeUpper(crypto::AsStringView(crypto::Sha256(raw))));
            }
          }
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

error_code ReadResults(od::object root, int64_t* height, v1::BlockEvents* out) {
  for (auto field : root) {
    std::string_view key;
    GONKA_SJ(field.unescaped_key().get(key));
    od::value value;
    GONKA_SJ(field.value().get(value));
    if (key == "height") {
      GONKA_SJ(ReadInt64(value, height));
    } else if (key == "txs_results") {
      bool null;
      GONKA_SJ(IsNull(value, &null));
      if (null) continue;
      od::array results;
      GONKA_SJ(value.get_array().get(results));
      for (auto r : results) {
        od::value rv;
        GONKA_SJ(r.get(rv));
        v1::TxEvents* tx = out->add_txs();
        tx->set_index(static_cast<uint32_t>(out->txs_size() - 1));
        GONKA_SJ(ReadTxResult(rv, tx));
      }
    } else if (key == "finalize_block_events") {
      GONKA_SJ(ReadEvents(value, out->mutable_finalize_block_events()));
    } else if (key == "app_hash") {
      std::string b64, raw;
      GONKA_SJ(ReadString(value, &b64));
      if (!absl::Base64Unescape(b64, &raw)) return simdjson::INCORRECT_TYPE;
      out->set_app_hash(crypto::HexEncodeUpper(raw));
    }
  }
  return simdjson::SUCCESS;
}

absl::Status Malformed(absl::string_view what, int64_t height, error_code e) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, height >= 0 ? absl::StrCat(" height ", height) : "",
                   ": malformed JSON: ", simdjson::error_message(e)));
}

}  // namespace

absl::StatusOr<v1::BlockEvents> NormalizeBlock(absl::string_view block_json,
                                               absl::string_view block_results_json,
                                               const NormalizeOptions& options) {
  od::parser parser;
  BlockFields block;
  {
    simdjson::padded_string padded(block_json.data(), block_json.size());
    od::document doc;
    od::object root;
    std::string bad_tx;
    error_code e = parser.iterate(padded).get(doc);
    if (!e) e = doc.get_object().get(root);
    if (!e) e = ReadBlock(root, &block, &bad_tx);
    if (!bad_tx.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("/block height ", block.height, ": tx is not base64: ", bad_tx));
    }
    if (e) return Malformed("/block", block.height, e);
  }
  if (block.height <= 0) return absl::InvalidArgumentError("/block: missing block.header.height");
  if (block.hash.empty()) return absl::InvalidArgumentError("/block: missing block_id.hash");
  if (block.time.empty()) return absl::InvalidArgumentError("/block: missing block.header.time");

  v1::BlockEvents out;
  int64_t results_height = -1;
  {
    simdjson::padded_string padded(block_results_json.data(), block_results_json.size());
    od::document doc;
    od::object root;
    error_code e = parser.iterate(padded).get(doc);
    if (!e) e = doc.get_object().get(root);
    if (!e) e = ReadResults(root, &results_height, &out);
    if (e) return Malformed("/block_results", block.height, e);
  }
  if (results_height != block.height) {
    return absl::DataLossError(absl::StrCat("/block_results height ", results_height,
                                            " does not match /block height ", block.height));
  }
  if (static_cast<size_t>(out.txs_size()) != block.tx_hashes.size()) {
    return absl::DataLossError(absl::StrCat("height ", block.height, ": block has ",
                                            block.tx_hashes.size(), " txs but block_results has ",
                                            out.txs_size(), " results"));
  }
  if (!options.chain_id.empty() && block.chain_id != options.chain_id) {
    return absl::DataLossError(absl::StrCat("height ", block.height, ": block is from chain \"",
                                            block.chain_id, "\", expected \"", options.chain_id,
                                            "\""));
  }
  absl::Time time;
  std::string time_error;
  if (!absl::ParseTime(absl::RFC3339_full, block.time, &time, &time_error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "/block height ", block.height, ": bad header.time \"", block.time, "\": ", time_error));
  }
  out.set_chain_id(block.chain_id);
  out.set_height(block.height);
  out.set_time(block.time);
  out.set_time_unix_nanos(absl::ToUnixNanos(time));
  out.set_hash(block.hash);
  out.set_last_hash(block.last_hash);
  for (int i = 0; i < out.txs_size(); ++i) out.mutable_txs(i)->set_hash(block.tx_hashes[i]);
  if (options.epochs.epoch_length > 0) {
    EpochSchedule s = ScheduleAt(options.epochs, block.height);
    v1::EpochPosition* epoch = out.mutable_epoch();
    epoch->set_epoch_index(s.epoch_index);
    epoch->set_poc_start_height(s.poc_start_height);
    epoch->set_phase(s.phase);
    epoch->set_stage(s.stage);
  }
  return out;
}

}  // namespace chain
}  // namespace gonka
