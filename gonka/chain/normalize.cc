#include "gonka/chain/normalize.h"

#include "gonka/chain/internal/normalize_dom.h"

#include <string_view>
#include <vector>

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/base/status_macros.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace chain {
namespace {

namespace dom = simdjson::dom;
using simdjson::error_code;

// The DOM API rather than on-demand: Debian's libsimdjson dispatches DOM parsing at run time to
// the best kernel for this CPU (icelake, haswell, ...), while on-demand code compiled here without
// -march flags is the portable `fallback` kernel. The DOM tape walk below is then a few loads per
// value, so normalising costs little more than parsing.

// Propagates a simdjson error out of an error_code-returning parse function.
#define GONKA_SJ(expr)                         \
  do {                                         \
    if (error_code _e = (expr); _e) return _e; \
  } while (0)

error_code ReadString(dom::element v, std::string* out) {
  std::string_view s;
  GONKA_SJ(v.get_string().get(s));
  out->assign(s.data(), s.size());
  return simdjson::SUCCESS;
}

// int64 as CometBFT encodes it (a JSON string), also accepting a number or null.
error_code ReadInt64(dom::element v, int64_t* out) {
  switch (v.type()) {
    case dom::element_type::STRING: {
      std::string_view s;
      GONKA_SJ(v.get_string().get(s));
      if (s.empty()) {
        *out = 0;
        return simdjson::SUCCESS;
      }
      return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), out) ? simdjson::SUCCESS
                                                                          : simdjson::NUMBER_ERROR;
    }
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return v.get_int64().get(*out);
    case dom::element_type::NULL_VALUE:
      *out = 0;
      return simdjson::SUCCESS;
    default:
      return simdjson::INCORRECT_TYPE;
  }
}

// Calls fn(key, value) for each member of the object `v`, in document order (so a repeated key's
// last value wins, as with a streaming parser); stops at the first error.
template <typename Fn>
error_code ForEachField(dom::element v, Fn&& fn) {
  dom::object object;
  GONKA_SJ(v.get_object().get(object));
  for (dom::key_value_pair field : object) GONKA_SJ(fn(field.key, field.value));
  return simdjson::SUCCESS;
}

// Calls fn(element) for each element of the array `v`; null counts as empty.
template <typename Fn>
error_code ForEachElement(dom::element v, Fn&& fn) {
  if (v.is_null()) return simdjson::SUCCESS;
  dom::array array;
  GONKA_SJ(v.get_array().get(array));
  for (dom::element element : array) GONKA_SJ(fn(element));
  return simdjson::SUCCESS;
}

// The "hash" member of a block id object.
error_code ReadIdHash(dom::element v, std::string* out) {
  return ForEachField(v, [&](std::string_view key, dom::element value) -> error_code {
    return key == "hash" ? ReadString(value, out) : simdjson::SUCCESS;
  });
}

error_code ReadAttribute(dom::element v, v1::Attribute* attribute) {
  return ForEachField(v, [&](std::string_view key, dom::element value) -> error_code {
    if (key == "key") return ReadString(value, attribute->mutable_key());
    if (key == "value") {
      return value.is_null() ? simdjson::SUCCESS : ReadString(value, attribute->mutable_value());
    }
    if (key == "index") {
      bool index = false;
      GONKA_SJ(value.get_bool().get(index));
      attribute->set_index(index);
    }
    return simdjson::SUCCESS;
  });
}

error_code ReadEvents(dom::element v, google::protobuf::RepeatedPtrField<v1::Event>* out) {
  return ForEachElement(v, [&](dom::element element) -> error_code {
    v1::Event* event = out->Add();
    return ForEachField(element, [&](std::string_view key, dom::element value) -> error_code {
      if (key == "type") return ReadString(value, event->mutable_type());
      if (key == "attributes") {
        return ForEachElement(
            value, [&](dom::element a) { return ReadAttribute(a, event->add_attributes()); });
      }
      return simdjson::SUCCESS;
    });
  });
}

error_code ReadTxResult(dom::element v, v1::TxEvents* tx) {
  return ForEachField(v, [&](std::string_view key, dom::element value) -> error_code {
    int64_t number = 0;
    if (key == "code") {
      uint64_t code = 0;
      GONKA_SJ(value.get_uint64().get(code));
      if (code > UINT32_MAX) return simdjson::NUMBER_OUT_OF_RANGE;
      tx->set_code(static_cast<uint32_t>(code));
    } else if (key == "codespace") {
      return ReadString(value, tx->mutable_codespace());
    } else if (key == "log") {
      return ReadString(value, tx->mutable_log());
    } else if (key == "gas_wanted") {
      GONKA_SJ(ReadInt64(value, &number));
      tx->set_gas_wanted(number);
    } else if (key == "gas_used") {
      GONKA_SJ(ReadInt64(value, &number));
      tx->set_gas_used(number);
    } else if (key == "events") {
      return ReadEvents(value, tx->mutable_events());
    }
    return simdjson::SUCCESS;
  });
}

struct BlockFields {
  std::string hash;
  std::string chain_id;
  int64_t height = -1;
  std::string time;
  std::string last_hash;
  std::vector<crypto::Sha256Digest> tx_hashes;
  std::string bad_tx;  // the start of a tx that is not base64
};

error_code ReadHeader(dom::element v, BlockFields* b) {
  return ForEachField(v, [&](std::string_view key, dom::element value) -> error_code {
    if (key == "chain_id") return ReadString(value, &b->chain_id);
    if (key == "height") return ReadInt64(value, &b->height);
    if (key == "time") return ReadString(value, &b->time);
    if (key == "last_block_id") return ReadIdHash(value, &b->last_hash);
    return simdjson::SUCCESS;
  });
}

error_code ReadTxs(dom::element v, BlockFields* b) {
  thread_local std::string raw;  // reused across txs and blocks
  return ForEachElement(v, [&](dom::element tx) -> error_code {
    std::string_view b64;
    GONKA_SJ(tx.get_string().get(b64));
    if (!absl::Base64Unescape(absl::string_view(b64.data(), b64.size()), &raw)) {
      b->bad_tx = std::string(b64.substr(0, 40));
      return simdjson::INCORRECT_TYPE;
    }
    b->tx_hashes.push_back(crypto::Sha256(raw));
    return simdjson::SUCCESS;
  });
}

error_code ReadBlock(dom::element root, BlockFields* b) {
  return ForEachField(root, [&](std::string_view key, dom::element value) -> error_code {
    if (key == "result") return ReadBlock(value, b);  // a whole JSON-RPC answer
    if (key == "block_id") return ReadIdHash(value, &b->hash);
    if (key != "block") return simdjson::SUCCESS;
    return ForEachField(value, [&](std::string_view k, dom::element bv) -> error_code {
      if (k == "header") return ReadHeader(bv, b);
      if (k != "data") return simdjson::SUCCESS;
      return ForEachField(bv, [&](std::string_view dk, dom::element dv) -> error_code {
        return dk == "txs" ? ReadTxs(dv, b) : simdjson::SUCCESS;
      });
    });
  });
}

error_code ReadResults(dom::element root, int64_t* height, v1::BlockEvents* out) {
  return ForEachField(root, [&](std::string_view key, dom::element value) -> error_code {
    if (key == "result") return ReadResults(value, height, out);  // a whole JSON-RPC answer
    if (key == "height") return ReadInt64(value, height);
    if (key == "txs_results") {
      return ForEachElement(value, [&](dom::element r) {
        v1::TxEvents* tx = out->add_txs();
        tx->set_index(static_cast<uint32_t>(out->txs_size() - 1));
        return ReadTxResult(r, tx);
      });
    }
    if (key == "finalize_block_events") {
      return ReadEvents(value, out->mutable_finalize_block_events());
    }
    if (key == "app_hash") {
      std::string b64, raw;
      GONKA_SJ(ReadString(value, &b64));
      if (!absl::Base64Unescape(b64, &raw)) return simdjson::INCORRECT_TYPE;
      out->set_app_hash(crypto::HexEncodeUpper(raw));
    }
    return simdjson::SUCCESS;
  });
}

// Uppercase hex of a digest into `out`, reusing its storage.
void HexUpperInto(const crypto::Sha256Digest& digest, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->resize(2 * digest.size());
  char* p = &(*out)[0];
  for (uint8_t byte : digest) {
    *p++ = kHex[byte >> 4];
    *p++ = kHex[byte & 0xF];
  }
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
  v1::BlockEvents out;
  RETURN_IF_ERROR(NormalizeBlockInto(block_json, block_results_json, options, &out));
  return out;
}

namespace {

// The block's fields, checked. `e` is the error of reading them (after a parse).
absl::Status CheckBlock(error_code e, const BlockFields& block) {
  if (!block.bad_tx.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("/block height ", block.height, ": tx is not base64: ", block.bad_tx));
  }
  if (e) return Malformed("/block", block.height, e);
  if (block.height <= 0) return absl::InvalidArgumentError("/block: missing block.header.height");
  if (block.hash.empty()) return absl::InvalidArgumentError("/block: missing block_id.hash");
  if (block.time.empty()) return absl::InvalidArgumentError("/block: missing block.header.time");
  return absl::OkStatus();
}

// Completes `out` (holding the results read with `e`, `results_height`) with the block's fields.
absl::Status Finish(const BlockFields& block, error_code e, int64_t results_height,
                    const NormalizeOptions& options, v1::BlockEvents* out_ptr) {
  v1::BlockEvents& out = *out_ptr;
  if (e) return Malformed("/block_results", block.height, e);
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
  for (int i = 0; i < out.txs_size(); ++i)
    HexUpperInto(block.tx_hashes[i], out.mutable_txs(i)->mutable_hash());
  if (options.epochs.epoch_length > 0) {
    EpochSchedule s = ScheduleAt(options.epochs, block.height);
    v1::EpochPosition* epoch = out.mutable_epoch();
    epoch->set_epoch_index(s.epoch_index);
    epoch->set_poc_start_height(s.poc_start_height);
    epoch->set_phase(s.phase);
    epoch->set_stage(s.stage);
  }
  return absl::OkStatus();
}

// simdjson copies the input with memcpy even when it is empty; an empty string_view may have a
// null data() (absl::string_view()), and memcpy from null is undefined (found by normalize_fuzz,
// testdata/fuzz/normalize_fuzz/crash-empty-results). simdjson answers EMPTY for "" as before.
simdjson::simdjson_result<dom::element> Parse(dom::parser& parser, absl::string_view json) {
  return parser.parse(json.empty() ? "" : json.data(), json.size());
}

}  // namespace

absl::Status NormalizeBlockInto(absl::string_view block_json, absl::string_view block_results_json,
                                const NormalizeOptions& options, v1::BlockEvents* out) {
  // One parser per thread: its buffers are reused across calls (no allocation per block). The
  // block is read completely (tx hashes computed) before the same parser takes the results.
  thread_local dom::parser parser;
  out->Clear();
  BlockFields block;
  {
    dom::element root;
    error_code e = Parse(parser, block_json).get(root);
    if (!e) e = ReadBlock(root, &block);
    RETURN_IF_ERROR(CheckBlock(e, block));
  }
  int64_t results_height = -1;
  dom::element root;
  error_code e = Parse(parser, block_results_json).get(root);
  if (!e) e = ReadResults(root, &results_height, out);
  return Finish(block, e, results_height, options, out);
}

namespace internal {

absl::Status NormalizeElements(simdjson::dom::element block_answer,
                               simdjson::dom::element results_answer,
                               const NormalizeOptions& options, v1::BlockEvents* out) {
  out->Clear();
  BlockFields block;
  RETURN_IF_ERROR(CheckBlock(ReadBlock(block_answer, &block), block));
  int64_t results_height = -1;
  error_code e = ReadResults(results_answer, &results_height, out);
  return Finish(block, e, results_height, options, out);
}

}  // namespace internal

}  // namespace chain
}  // namespace gonka
