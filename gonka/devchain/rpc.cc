#include "gonka/devchain/rpc.h"

#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include <simdjson.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/render.h"

namespace gonka {
namespace devchain {
namespace {

using Error = RpcService::Error;

Error InvalidParams(std::string data) { return Error{-32602, "Invalid params", std::move(data)}; }
Error Internal(std::string data) { return Error{-32603, "Internal error", std::move(data)}; }

// ---------------------------------------------------------------------------------------------
// Parameters, from a URI query or a JSON-RPC params value (docs/reference/protocol.md, "Value
// encoding").

struct ParamValue {
  enum Kind { kUri, kString, kNumber, kBool, kNull, kOther } kind = kNull;
  std::string text;
};

class Params {
 public:
  static Params FromUri(const std::vector<std::pair<std::string, std::string>>& query) {
    Params p;
    for (const auto& [k, v] : query) p.values_[k] = {ParamValue::kUri, v};
    return p;
  }

  // `names` maps positional (array) params to names.
  static bool FromJson(const std::string& json, const std::vector<std::string>& names, Params* out,
                       Error* error) {
    if (json.empty()) return true;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json).get(root) != simdjson::SUCCESS) {
      *error = InvalidParams("params are not valid JSON");
      return false;
    }
    auto put = [&](const std::string& name, simdjson::dom::element v) {
      ParamValue value;
      switch (v.type()) {
        case simdjson::dom::element_type::STRING:
          value = {ParamValue::kString, std::string(v.get_string().value())};
          break;
        case simdjson::dom::element_type::INT64:
        case simdjson::dom::element_type::UINT64:
        case simdjson::dom::element_type::DOUBLE:
          value = {ParamValue::kNumber, simdjson::minify(v)};
          break;
        case simdjson::dom::element_type::BOOL:
          value = {ParamValue::kBool, v.get_bool().value() ? "true" : "false"};
          break;
        case simdjson::dom::element_type::NULL_VALUE:
          value = {ParamValue::kNull, ""};
          break;
        default:
          value = {ParamValue::kOther, simdjson::minify(v)};
      }
      out->values_[name] = std::move(value);
    };
    if (root.type() == simdjson::dom::element_type::OBJECT) {
      // A named object, not `root.get_object().value()` in the loop header: that returns a
      // reference into a temporary that dies before the loop runs.
      simdjson::dom::object fields = root.get_object().value_unsafe();
      for (auto field : fields) put(std::string(field.key), field.value);
      return true;
    }
    if (root.type() == simdjson::dom::element_type::ARRAY) {
      size_t i = 0;
      simdjson::dom::array values = root.get_array().value_unsafe();
      for (auto v : values) {
        if (i >= names.size()) {
          *error = InvalidParams(absl::StrCat("expected at most ", names.size(), " params"));
          return false;
        }
        put(names[i++], v);
      }
      return true;
    }
    *error = InvalidParams("params must be an object or an array");
    return false;
  }

  bool Int(const std::string& name, int64_t* out, Error* error) const {
    *out = 0;
    auto it = values_.find(name);
    if (it == values_.end() || it->second.kind == ParamValue::kNull) return true;
    absl::string_view text = it->second.text;
    switch (it->second.kind) {
      case ParamValue::kUri:
        if (absl::ConsumePrefix(&text, "\"")) absl::ConsumeSuffix(&text, "\"");
        break;
      case ParamValue::kString:
        break;
      case ParamValue::kNumber:
        *error = InvalidParams(
            absl::StrCat(name, ": int64 values are JSON strings (\"", text, "\"), not numbers"));
        return false;
      default:
        *error = InvalidParams(absl::StrCat(name, ": expected an integer"));
        return false;
    }
    if (text.empty()) return true;
    if (!absl::SimpleAtoi(text, out)) {
      *error = InvalidParams(absl::StrCat(name, ": not an integer: \"", text, "\""));
      return false;
    }
    return true;
  }

  bool Bytes(const std::string& name, std::string* out, Error* error) const {
    out->clear();
    auto it = values_.find(name);
    if (it == values_.end() || it->second.kind == ParamValue::kNull) return true;
    absl::string_view text = it->second.text;
    if (it->second.kind == ParamValue::kString) {
      if (!absl::Base64Unescape(text, out)) {
        *error = InvalidParams(absl::StrCat(name, ": not base64"));
        return false;
      }
      return true;
    }
    if (it->second.kind == ParamValue::kUri) {
      if (absl::ConsumePrefix(&text, "0x") || absl::ConsumePrefix(&text, "0X")) {
        absl::Status s = crypto::HexDecode(text, name, out);
        if (!s.ok()) {
          *error = InvalidParams(std::string(s.message()));
          return false;
        }
        return true;
      }
      if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        *out = std::string(text.substr(1, text.size() - 2));
        return true;
      }
      *error = InvalidParams(absl::StrCat(name, ": expected 0x-prefixed hex or a quoted string"));
      return false;
    }
    *error = InvalidParams(absl::StrCat(name, ": expected a base64 string"));
    return false;
  }

  // CometBFT's HexBytes (abci_query `data`): hex in JSON, 0x-hex or a quoted string in a URI.
  bool HexBytes(const std::string& name, std::string* out, Error* error) const {
    out->clear();
    auto it = values_.find(name);
    if (it == values_.end() || it->second.kind == ParamValue::kNull) return true;
    if (it->second.kind == ParamValue::kString) {
      absl::Status s = crypto::HexDecode(it->second.text, name, out);
      if (!s.ok()) {
        *error = InvalidParams(std::string(s.message()));
        return false;
      }
      return true;
    }
    return Bytes(name, out, error);
  }

  bool String(const std::string& name, std::string* out, Error* error) const {
    out->clear();
    auto it = values_.find(name);
    if (it == values_.end() || it->second.kind == ParamValue::kNull) return true;
    absl::string_view text = it->second.text;
    if (it->second.kind == ParamValue::kString) {
      *out = std::string(text);
      return true;
    }
    if (it->second.kind == ParamValue::kUri && text.size() >= 2 && text.front() == '"' &&
        text.back() == '"') {
      *out = std::string(text.substr(1, text.size() - 2));
      return true;
    }
    *error = InvalidParams(absl::StrCat(
        name, ": expected a ", it->second.kind == ParamValue::kUri ? "quoted " : "", "string"));
    return false;
  }

  bool Bool(const std::string& name, bool* out, Error* error) const {
    *out = false;
    auto it = values_.find(name);
    if (it == values_.end() || it->second.kind == ParamValue::kNull) return true;
    const std::string& text = it->second.text;
    if ((it->second.kind == ParamValue::kBool || it->second.kind == ParamValue::kUri) &&
        (text == "true" || text == "false")) {
      *out = text == "true";
      return true;
    }
    *error = InvalidParams(absl::StrCat(name, ": expected true or false"));
    return false;
  }

 private:
  std::map<std::string, ParamValue> values_;
};

// ---------------------------------------------------------------------------------------------
// Event queries (docs/reference/protocol.md, "CometBFT WebSocket"): conditions joined by AND.

struct Condition {
  std::string key;
  std::string op;  // = < <= > >= CONTAINS EXISTS
  std::string operand;
  bool numeric = false;
  double number = 0;
};

bool ParseQuery(absl::string_view query, std::vector<Condition>* out, std::string* error) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(query, " AND ")) {
    part = absl::StripAsciiWhitespace(part);
    Condition c;
    if (absl::EndsWith(part, " EXISTS")) {
      c.key = std::string(absl::StripAsciiWhitespace(part.substr(0, part.size() - 7)));
      c.op = "EXISTS";
      out->push_back(std::move(c));
      continue;
    }
    size_t pos = absl::string_view::npos;
    for (const char* op : {" CONTAINS ", "<=", ">=", "=", "<", ">"}) {
      pos = part.find(op);
      if (pos != absl::string_view::npos) {
        c.op = std::string(absl::StripAsciiWhitespace(op));
        c.key = std::string(absl::StripAsciiWhitespace(part.substr(0, pos)));
        c.operand = std::string(absl::StripAsciiWhitespace(part.substr(pos + strlen(op))));
        break;
      }
    }
    if (pos == absl::string_view::npos || c.key.empty() || c.operand.empty()) {
      *error = absl::StrCat("failed to parse query: \"", part, "\"");
      return false;
    }
    if (c.operand.size() >= 2 && c.operand.front() == '\'' && c.operand.back() == '\'') {
      c.operand = c.operand.substr(1, c.operand.size() - 2);
    } else if (absl::SimpleAtod(c.operand, &c.number)) {
      c.numeric = true;
    } else {
      *error = absl::StrCat("failed to parse query: unsupported operand ", c.operand);
      return false;
    }
    out->push_back(std::move(c));
  }
  if (out->empty()) {
    *error = "empty query";
    return false;
  }
  return true;
}

bool Matches(const std::vector<Condition>& conditions,
             const std::map<std::string, std::vector<std::string>>& events) {
  for (const auto& c : conditions) {
    auto it = events.find(c.key);
    if (it == events.end()) return false;
    if (c.op == "EXISTS") continue;
    bool any = false;
    for (const auto& value : it->second) {
      if (c.op == "CONTAINS") {
        any = absl::StrContains(value, c.operand);
      } else if (c.numeric) {
        double v;
        if (!absl::SimpleAtod(value, &v)) continue;
        any = (c.op == "=" && v == c.number) || (c.op == "<" && v < c.number) ||
              (c.op == "<=" && v <= c.number) || (c.op == ">" && v > c.number) ||
              (c.op == ">=" && v >= c.number);
      } else {
        any = (c.op == "=" && value == c.operand) || (c.op == "<" && value < c.operand) ||
              (c.op == "<=" && value <= c.operand) || (c.op == ">" && value > c.operand) ||
              (c.op == ">=" && value >= c.operand);
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

std::string Envelope(absl::string_view id, const RpcService::Outcome& outcome) {
  JsonWriter w;
  w.BeginObject().Key("jsonrpc").String("2.0").Key("id").Raw(id);
  if (outcome.ok) {
    w.Key("result").Raw(outcome.result);
  } else {
    w.Key("error")
        .BeginObject()
        .Key("code")
        .Int(outcome.error.code)
        .Key("message")
        .String(outcome.error.message)
        .Key("data")
        .String(outcome.error.data)
        .EndObject();
  }
  w.EndObject();
  return w.Take();
}

RpcService::Outcome Fail(Error error) {
  RpcService::Outcome o;
  o.ok = false;
  o.error = std::move(error);
  return o;
}

RpcService::Outcome Ok(std::string result) {
  RpcService::Outcome o;
  o.result = std::move(result);
  return o;
}

struct Subscription {
  std::string id;  // raw JSON of the subscribe request's id
  std::vector<Condition> conditions;
  bool wants_block = false;  // tm.event='NewBlock'
  bool wants_tx = false;     // tm.event='Tx'
};

struct WsClient {
  std::weak_ptr<net::WebSocketSession> session;
  std::string remote;
  absl::Mutex mu;
  std::map<std::string, Subscription> subscriptions ABSL_GUARDED_BY(mu);  // by query text
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class RpcService::Impl : public std::enable_shared_from_this<RpcService::Impl> {
 public:
  Impl(Chain* chain, RpcOptions options) : chain_(chain), options_(std::move(options)) {
    auto method = [this](std::string name, std::vector<std::string> args,
                         std::function<Outcome(const Params&)> fn) {
      methods_[name] = {std::move(args), std::move(fn)};
    };
    method("health", {}, [](const Params&) { return Ok("{}"); });
    method("status", {}, [this](const Params&) { return Status(); });
    method("block", {"height"}, [this](const Params& p) { return GetBlock(p, false); });
    method("block_results", {"height"}, [this](const Params& p) { return GetBlock(p, true); });
    method("blockchain", {"minHeight", "maxHeight"},
           [this](const Params& p) { return Blockchain(p); });
    method("tx", {"hash", "prove"}, [this](const Params& p) { return Tx(p); });
    method("tx_search", {"query", "prove", "page", "per_page", "order_by"},
           [this](const Params& p) { return TxSearch(p); });
    method("broadcast_tx_sync", {"tx"}, [this](const Params& p) { return Broadcast(p, 1); });
    method("broadcast_tx_async", {"tx"}, [this](const Params& p) { return Broadcast(p, 0); });
    method("broadcast_tx_commit", {"tx"}, [this](const Params& p) { return Broadcast(p, 2); });
    method("abci_query", {"path", "data", "height", "prove"},
           [this](const Params& p) { return AbciQuery(p); });
    method("abci_info", {}, [this](const Params&) { return AbciInfo(); });
    method("num_unconfirmed_txs", {}, [this](const Params&) {
      std::string n = absl::StrCat(chain_->mempool_size());
      return Ok(absl::StrCat("{\"n_txs\":\"", n, "\",\"total\":\"", n,
                             "\",\"total_bytes\":\"0\",\"txs\":null}"));
    });
  }

  void Mount(net::HttpServer* server) {
    auto self = shared_from_this();
    for (const auto& [name, m] : methods_) {
      std::string method_name = name;
      server->Handle(
          "GET", absl::StrCat("/", name), [self, method_name](const net::HttpRequest& r) {
            self->Delay();
            Outcome outcome = self->Invoke(method_name, Params::FromUri(r.query));
            return net::HttpResponse::Json(outcome.ok ? 200 : 500, Envelope("-1", outcome));
          });
    }
    server->Handle("POST", "/", [self](const net::HttpRequest& r) { return self->Post(r.body); });
    server->Handle("GET", "/", [self](const net::HttpRequest&) {
      std::string text = "Available endpoints:\n";
      for (const auto& [name, m] : self->methods_) absl::StrAppend(&text, "/", name, "\n");
      absl::StrAppend(&text, "/websocket\n");
      return net::HttpResponse::Text(200, text);
    });
    server->HandleWebSocket(
        "/websocket", [self](const net::HttpRequest& r, std::shared_ptr<net::WebSocketSession> s) {
          self->AcceptWebSocket(r, std::move(s));
        });
    MountFaults(server);
  }

  Outcome Invoke(const std::string& method, const Params& params) {
    auto it = methods_.find(method);
    if (it == methods_.end()) return Fail(Error{-32601, "Method not found", ""});
    return it->second.fn(params);
  }

  Outcome Call(const std::string& method, const std::string& params_json) {
    auto it = methods_.find(method);
    if (it == methods_.end()) return Fail(Error{-32601, "Method not found", ""});
    Params params;
    Error error;
    if (!Params::FromJson(params_json, it->second.args, &params, &error)) return Fail(error);
    return it->second.fn(params);
  }

  void Delay() {
    absl::Duration d;
    {
      absl::MutexLock lock(&mu_);
      d = rpc_delay_;
    }
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }

  // One JSON-RPC request object → the response text ("" for a notification).
  std::string HandleRequest(simdjson::dom::element request) {
    if (request.type() != simdjson::dom::element_type::OBJECT) {
      return Envelope("null", Fail(Error{-32600, "Invalid Request", "not an object"}));
    }
    simdjson::dom::element id_el;
    bool has_id = request["id"].get(id_el) == simdjson::SUCCESS;
    std::string id = has_id ? simdjson::minify(id_el) : "";
    if (!has_id) return "";  // notification
    std::string_view method;
    if (request["method"].get_string().get(method) != simdjson::SUCCESS) {
      return Envelope(id, Fail(Error{-32600, "Invalid Request", "missing method"}));
    }
    simdjson::dom::element params_el;
    std::string params =
        request["params"].get(params_el) == simdjson::SUCCESS ? simdjson::minify(params_el) : "";
    return Envelope(id, Call(std::string(method), params));
  }

  net::HttpResponse Post(const std::string& body) {
    Delay();
    if (absl::StripAsciiWhitespace(body).empty()) {
      return net::HttpResponse::Json(
          400, Envelope("null", Fail(Error{-32600, "Invalid Request", "empty body"})));
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) {
      return net::HttpResponse::Json(
          500, Envelope("null", Fail(Error{-32700, "Parse error. Invalid JSON", ""})));
    }
    if (root.type() == simdjson::dom::element_type::ARRAY) {
      JsonWriter w;
      w.BeginArray();
      simdjson::dom::array requests = root.get_array().value_unsafe();  // type checked above
      for (auto request : requests) {
        std::string response = HandleRequest(request);
        if (!response.empty()) w.Raw(response);
      }
      w.EndArray();
      return net::HttpResponse::Json(200, w.Take());
    }
    std::string response = HandleRequest(root);
    return net::HttpResponse::Json(200, response.empty() ? "" : response);
  }

  // --- methods --------------------------------------------------------------------------------

  Outcome Status() {
    BlockPtr latest = chain_->Latest();
    absl::StatusOr<BlockPtr> earliest = chain_->GetBlock(chain_->earliest_height());
    JsonWriter w;
    w.BeginObject();
    w.Key("node_info").BeginObject();
    w.Key("protocol_version")
        .BeginObject()
        .Key("p2p")
        .String("8")
        .Key("block")
        .String("11")
        .Key("app")
        .String("0")
        .EndObject();
    w.Key("id").String(
        crypto::HexEncode(crypto::AsStringView(crypto::Sha256("devchain-node"))).substr(0, 40));
    w.Key("listen_addr").String("tcp://127.0.0.1:26656");
    w.Key("network").String(chain_->options().chain_id);
    w.Key("version").String("0.38.17");
    w.Key("channels").String("40202122233038606100");
    w.Key("moniker").String(options_.moniker);
    w.Key("other")
        .BeginObject()
        .Key("tx_index")
        .String("on")
        .Key("rpc_address")
        .String("")
        .EndObject();
    w.EndObject();
    w.Key("sync_info").BeginObject();
    auto hex = [](absl::string_view b) { return crypto::HexEncodeUpper(b); };
    w.Key("latest_block_hash").String(latest ? hex(latest->hash) : "");
    w.Key("latest_app_hash").String(latest ? hex(latest->app_hash) : "");
    w.Key("latest_block_height").String(absl::StrCat(latest ? latest->height : 0));
    w.Key("latest_block_time").String(latest ? RfcTime(latest->time) : RfcTime(absl::UnixEpoch()));
    bool have_earliest = earliest.ok();
    w.Key("earliest_block_hash").String(have_earliest ? hex((*earliest)->hash) : "");
    w.Key("earliest_app_hash").String(have_earliest ? hex((*earliest)->app_hash) : "");
    w.Key("earliest_block_height").String(absl::StrCat(have_earliest ? (*earliest)->height : 0));
    w.Key("earliest_block_time")
        .String(have_earliest ? RfcTime((*earliest)->time) : RfcTime(absl::UnixEpoch()));
    w.Key("catching_up").Bool(false);
    w.EndObject();
    w.Key("validator_info").BeginObject();
    w.Key("address").String(latest ? hex(latest->proposer) : "");
    w.Key("pub_key")
        .BeginObject()
        .Key("type")
        .String("tendermint/PubKeyEd25519")
        .Key("value")
        .String(absl::Base64Escape(crypto::AsStringView(crypto::Sha256("devchain-validator-key"))))
        .EndObject();
    w.Key("voting_power").String("10");
    w.EndObject();
    w.EndObject();
    return Ok(w.Take());
  }

  Outcome GetBlock(const Params& p, bool results) {
    Error error;
    int64_t height;
    if (!p.Int("height", &height, &error)) return Fail(error);
    if (results) {
      absl::MutexLock lock(&mu_);
      if (failing_results_.count(height)) {
        return Fail(Internal(
            absl::StrCat("block_results for height ", height, " failed (devchain fault knob)")));
      }
    }
    if (height > 0 && height < options_.lowest_served_height) {
      return Fail(Internal(absl::StrCat("height ", height, " is not available, lowest height is ",
                                        options_.lowest_served_height)));
    }
    absl::StatusOr<BlockPtr> block = chain_->GetBlock(height);
    if (!block.ok()) return Fail(Internal(std::string(block.status().message())));
    if (results) {
      absl::MutexLock lock(&mu_);
      if (truncated_results_.count(height)) {
        // A node (or proxy) cutting the answer short: the JSON ends mid-document.
        const std::string& json = (*block)->block_results_json;
        return Ok(json.substr(0, json.size() / 2));
      }
    }
    return Ok(results ? (*block)->block_results_json : (*block)->block_json);
  }

  Outcome Blockchain(const Params& p) {
    Error error;
    int64_t min_h, max_h;
    if (!p.Int("minHeight", &min_h, &error) || !p.Int("maxHeight", &max_h, &error)) {
      return Fail(error);
    }
    int64_t tip = chain_->height();
    int64_t base = chain_->earliest_height();
    if (max_h == 0 || max_h > tip) max_h = tip;
    if (min_h == 0) min_h = std::max<int64_t>(base, max_h - 19);
    min_h = std::max(min_h, std::max<int64_t>(base, max_h - 19));
    if (min_h > max_h) {
      return Fail(Internal(
          absl::StrCat("min height ", min_h, " can't be greater than max height ", max_h)));
    }
    JsonWriter w;
    w.BeginObject().Key("last_height").String(absl::StrCat(tip)).Key("block_metas").BeginArray();
    for (int64_t h = max_h; h >= min_h; --h) {
      absl::StatusOr<BlockPtr> block = chain_->GetBlock(h);
      if (!block.ok()) break;
      // The block meta reuses the /block rendering: {"block_id":…,"block":{"header":…}}.
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      if (parser.parse((*block)->block_json).get(root) != simdjson::SUCCESS) break;
      size_t size = 0;
      for (const auto& tx : (*block)->txs) size += tx.size();
      w.BeginObject()
          .Key("block_id")
          .Raw(simdjson::minify(root["block_id"]))
          .Key("block_size")
          .String(absl::StrCat(size))
          .Key("header")
          .Raw(simdjson::minify(root["block"]["header"]))
          .Key("num_txs")
          .String(absl::StrCat((*block)->txs.size()))
          .EndObject();
    }
    w.EndArray().EndObject();
    return Ok(w.Take());
  }

  Outcome Tx(const Params& p) {
    Error error;
    std::string hash;
    bool prove;
    if (!p.Bytes("hash", &hash, &error) || !p.Bool("prove", &prove, &error)) return Fail(error);
    if (hash.size() != 32) {
      return Fail(InvalidParams(absl::StrCat("hash: expected 32 bytes, got ", hash.size())));
    }
    absl::StatusOr<TxLocation> tx = chain_->GetTx(hash);
    if (!tx.ok()) return Fail(Internal(std::string(tx.status().message())));
    return Ok(TxJson(*tx->block, tx->index));
  }

  Outcome TxSearch(const Params& p) {
    Error error;
    std::string query;
    if (!p.String("query", &query, &error)) return Fail(error);
    std::vector<Condition> conditions;
    std::string parse_error;
    if (!ParseQuery(query, &conditions, &parse_error)) return Fail(Internal(parse_error));
    std::string hash_hex;
    for (const auto& c : conditions) {
      if (c.key == "tx.hash" && c.op == "=") hash_hex = c.operand;
    }
    if (hash_hex.empty()) {
      return Fail(Internal("devchain tx_search supports queries on tx.hash='<HEX>'"));
    }
    std::string hash;
    JsonWriter w;
    w.BeginObject().Key("txs").BeginArray();
    int count = 0;
    if (crypto::HexDecode(hash_hex, "tx.hash", &hash).ok()) {
      absl::StatusOr<TxLocation> tx = chain_->GetTx(hash);
      if (tx.ok() && Matches(conditions, TxEventMap(*tx->block, tx->index))) {
        w.Raw(TxJson(*tx->block, tx->index));
        count = 1;
      }
    }
    w.EndArray().Key("total_count").String(absl::StrCat(count)).EndObject();
    return Ok(w.Take());
  }

  // mode: 0 async, 1 sync, 2 commit.
  Outcome Broadcast(const Params& p, int mode) {
    Error error;
    std::string tx;
    if (!p.Bytes("tx", &tx, &error)) return Fail(error);
    if (tx.empty()) return Fail(InvalidParams("tx: empty"));
    BroadcastResult result = chain_->Broadcast(tx);
    if (!result.rpc_error.empty()) return Fail(Internal(result.rpc_error));
    JsonWriter w;
    if (mode == 2) {
      if (result.result.code != 0) {
        w.BeginObject().Key("check_tx");
        WriteTxResult(w, result.result);
        w.Key("tx_result").BeginObject().EndObject();
        w.Key("hash").String(crypto::HexEncodeUpper(result.hash)).Key("height").String("0");
        w.EndObject();
        return Ok(w.Take());
      }
      absl::StatusOr<TxLocation> landed = chain_->WaitForTx(result.hash, absl::Seconds(10));
      if (!landed.ok()) {
        return Fail(Internal("timed out waiting for tx to be included in a block"));
      }
      w.BeginObject().Key("check_tx");
      WriteTxResult(w, result.result);
      w.Key("tx_result");
      WriteTxResult(w, landed->block->tx_results[landed->index]);
      w.Key("hash").String(crypto::HexEncodeUpper(result.hash));
      w.Key("height").String(absl::StrCat(landed->block->height));
      w.EndObject();
      return Ok(w.Take());
    }
    const TxResult& r = mode == 0 ? TxResult{} : result.result;
    w.BeginObject()
        .Key("code")
        .Uint(r.code)
        .Key("data")
        .String(crypto::HexEncodeUpper(r.data))
        .Key("log")
        .String(r.log)
        .Key("codespace")
        .String(r.codespace)
        .Key("hash")
        .String(crypto::HexEncodeUpper(result.hash))
        .EndObject();
    return Ok(w.Take());
  }

  Outcome AbciQuery(const Params& p) {
    Error error;
    std::string path, data;
    int64_t height;
    bool prove;
    if (!p.String("path", &path, &error) || !p.HexBytes("data", &data, &error) ||
        !p.Int("height", &height, &error) || !p.Bool("prove", &prove, &error)) {
      return Fail(error);
    }
    TxExecutor::QueryResult q = chain_->Query(path, data);
    JsonWriter w;
    w.BeginObject().Key("response").BeginObject();
    if (q.code != 0) w.Key("code").Uint(q.code);
    if (!q.log.empty()) w.Key("log").String(q.log);
    if (!q.value.empty()) w.Key("value").String(absl::Base64Escape(q.value));
    w.Key("height").String(absl::StrCat(chain_->height()));
    if (!q.codespace.empty()) w.Key("codespace").String(q.codespace);
    w.EndObject().EndObject();
    return Ok(w.Take());
  }

  Outcome AbciInfo() {
    BlockPtr latest = chain_->Latest();
    JsonWriter w;
    w.BeginObject().Key("response").BeginObject();
    w.Key("data").String("devchain").Key("version").String("0.1.0");
    w.Key("last_block_height").String(absl::StrCat(latest ? latest->height : 0));
    w.Key("last_block_app_hash").String(latest ? absl::Base64Escape(latest->app_hash) : "");
    w.EndObject().EndObject();
    return Ok(w.Take());
  }

  // --- WebSocket -----------------------------------------------------------------------------

  void AcceptWebSocket(const net::HttpRequest& request,
                       std::shared_ptr<net::WebSocketSession> session) {
    auto client = std::make_shared<WsClient>();
    client->session = session;
    client->remote = request.remote_address;
    {
      absl::MutexLock lock(&mu_);
      clients_[client.get()] = client;
    }
    std::weak_ptr<Impl> weak_self = shared_from_this();
    std::weak_ptr<WsClient> weak_client = client;
    session->OnMessage([weak_self, weak_client](std::string message) {
      auto self = weak_self.lock();
      auto c = weak_client.lock();
      if (self && c) self->OnWsMessage(*c, message);
    });
    session->OnClose([weak_self, raw = client.get()](const absl::Status&) {
      if (auto self = weak_self.lock()) {
        absl::MutexLock lock(&self->mu_);
        self->clients_.erase(raw);
      }
    });
  }

  void Send(WsClient& client, std::string text) {
    if (auto s = client.session.lock()) s->SendText(std::move(text));
  }

  void OnWsMessage(WsClient& client, const std::string& message) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(message).get(root) != simdjson::SUCCESS) {
      Send(client, Envelope("null", Fail(Error{-32700, "Parse error. Invalid JSON", ""})));
      return;
    }
    if (root.type() != simdjson::dom::element_type::OBJECT) {
      Send(client, Envelope("null", Fail(Error{-32600, "Invalid Request", "not an object"})));
      return;
    }
    simdjson::dom::element id_el;
    if (root["id"].get(id_el) != simdjson::SUCCESS) return;  // notification
    std::string id = simdjson::minify(id_el);
    std::string_view method;
    if (root["method"].get_string().get(method) != simdjson::SUCCESS) {
      Send(client, Envelope(id, Fail(Error{-32600, "Invalid Request", "missing method"})));
      return;
    }
    simdjson::dom::element params_el;
    std::string params_json =
        root["params"].get(params_el) == simdjson::SUCCESS ? simdjson::minify(params_el) : "";
    if (method == "subscribe" || method == "unsubscribe") {
      Params params;
      Error error;
      std::string query;
      if (!Params::FromJson(params_json, {"query"}, &params, &error) ||
          !params.String("query", &query, &error)) {
        Send(client, Envelope(id, Fail(error)));
        return;
      }
      Send(client, Envelope(id, method == "subscribe" ? Subscribe(client, id, query)
                                                      : Unsubscribe(client, query)));
      return;
    }
    if (method == "unsubscribe_all") {
      absl::MutexLock lock(&client.mu);
      client.subscriptions.clear();
      Send(client, Envelope(id, Ok("{}")));
      return;
    }
    Send(client, Envelope(id, Call(std::string(method), params_json)));
  }

  Outcome Subscribe(WsClient& client, const std::string& id, const std::string& query) {
    if (query.size() > options_.max_query_length) {
      return Fail(Internal("maximum query length exceeded"));
    }
    Subscription sub;
    sub.id = id;
    std::string error;
    if (!ParseQuery(query, &sub.conditions, &error)) return Fail(Internal(error));
    for (const auto& c : sub.conditions) {
      if (c.key == "tm.event" && c.op == "=") {
        sub.wants_block = c.operand == "NewBlock";
        sub.wants_tx = c.operand == "Tx";
      }
    }
    {
      absl::MutexLock lock(&mu_);
      int subscribed = 0;
      for (const auto& [raw, c] : clients_) {
        absl::MutexLock client_lock(&c->mu);
        if (!c->subscriptions.empty()) ++subscribed;
      }
      absl::MutexLock client_lock(&client.mu);
      if (client.subscriptions.empty() && subscribed >= options_.max_subscription_clients) {
        return Fail(Internal(absl::StrCat("max_subscription_clients ",
                                          options_.max_subscription_clients, " reached")));
      }
    }
    absl::MutexLock lock(&client.mu);
    if (client.subscriptions.count(query)) return Fail(Internal("already subscribed"));
    if (static_cast<int>(client.subscriptions.size()) >= options_.max_subscriptions_per_client) {
      return Fail(Internal(absl::StrCat("max_subscriptions_per_client ",
                                        options_.max_subscriptions_per_client, " reached")));
    }
    client.subscriptions[query] = std::move(sub);
    return Ok("{}");
  }

  Outcome Unsubscribe(WsClient& client, const std::string& query) {
    absl::MutexLock lock(&client.mu);
    if (client.subscriptions.erase(query) == 0) return Fail(Internal("subscription not found"));
    return Ok("{}");
  }

  void OnBlock(const BlockPtr& block) {
    std::vector<std::shared_ptr<WsClient>> clients;
    {
      absl::MutexLock lock(&mu_);
      if (events_paused_) return;
      for (const auto& [raw, c] : clients_) clients.push_back(c);
    }
    if (clients.empty()) return;
    // Rendered lazily, once per block / tx, only if someone subscribed.
    std::optional<std::string> block_data, block_events;
    std::optional<std::map<std::string, std::vector<std::string>>> block_map;
    std::vector<std::optional<std::map<std::string, std::vector<std::string>>>> tx_maps(
        block->txs.size());
    std::vector<std::optional<std::string>> tx_data(block->txs.size());
    for (const auto& client : clients) {
      std::vector<std::string> out;
      {
        absl::MutexLock lock(&client->mu);
        for (const auto& [query, sub] : client->subscriptions) {
          if (!sub.wants_tx) {
            if (!block_map) block_map = NewBlockEventMap(*block);
            if (!Matches(sub.conditions, *block_map)) continue;
            if (!block_data) block_data = NewBlockEventData(*block);
            if (!block_events) {
              JsonWriter w;
              WriteEventMap(w, *block_map);
              block_events = w.Take();
            }
            out.push_back(EventMessage(sub.id, query, *block_data, *block_events));
          } else {
            for (uint32_t i = 0; i < block->txs.size(); ++i) {
              if (!tx_maps[i]) tx_maps[i] = TxEventMap(*block, i);
              if (!Matches(sub.conditions, *tx_maps[i])) continue;
              if (!tx_data[i]) tx_data[i] = TxEventData(*block, i);
              JsonWriter w;
              WriteEventMap(w, *tx_maps[i]);
              out.push_back(EventMessage(sub.id, query, *tx_data[i], w.Take()));
            }
          }
        }
      }
      for (auto& text : out) Send(*client, std::move(text));
    }
  }

  static std::string EventMessage(const std::string& id, const std::string& query,
                                  const std::string& data, const std::string& events) {
    JsonWriter w;
    w.BeginObject().Key("jsonrpc").String("2.0").Key("id").Raw(id).Key("result").BeginObject();
    w.Key("query").String(query).Key("data").Raw(data).Key("events").Raw(events);
    w.EndObject().EndObject();
    return w.Take();
  }

  // --- faults --------------------------------------------------------------------------------

  void MountFaults(net::HttpServer* server) {
    auto self = shared_from_this();
    auto flag = [](const net::HttpRequest& r) {
      std::string v = r.QueryParam("on").value_or("true");
      return v == "1" || v == "true";
    };
    server->Handle("POST", "/devchain/fault/stall", [self, flag](const net::HttpRequest& r) {
      self->chain_->SetStalled(flag(r));
      return net::HttpResponse::Json(200, "{}");
    });
    server->Handle("POST", "/devchain/fault/pause_events", [self, flag](const net::HttpRequest& r) {
      self->SetEventsPaused(flag(r));
      return net::HttpResponse::Json(200, "{}");
    });
    server->Handle("POST", "/devchain/fault/drop_websockets", [self](const net::HttpRequest&) {
      self->DropWebSockets();
      return net::HttpResponse::Json(200, "{}");
    });
    server->Handle("POST", "/devchain/fault/rpc_delay", [self](const net::HttpRequest& r) {
      absl::Duration d;
      if (!absl::ParseDuration(r.QueryParam("delay").value_or("0s"), &d) ||
          d < absl::ZeroDuration()) {
        return net::HttpResponse::Json(400,
                                       "{\"error\":\"delay: expected a duration like 200ms\"}");
      }
      self->SetRpcDelay(d);
      return net::HttpResponse::Json(200, "{}");
    });
    server->Handle("POST", "/devchain/fault/fail_block_results",
                   [self, flag](const net::HttpRequest& r) {
                     int64_t h = 0;
                     if (!absl::SimpleAtoi(r.QueryParam("height").value_or(""), &h) || h <= 0) {
                       return net::HttpResponse::Json(400, "{\"error\":\"height: expected > 0\"}");
                     }
                     self->FailBlockResults(h, flag(r));
                     return net::HttpResponse::Json(200, "{}");
                   });
    server->Handle("POST", "/devchain/fault/truncate_block_results",
                   [self, flag](const net::HttpRequest& r) {
                     int64_t h = 0;
                     if (!absl::SimpleAtoi(r.QueryParam("height").value_or(""), &h) || h <= 0) {
                       return net::HttpResponse::Json(400, "{\"error\":\"height: expected > 0\"}");
                     }
                     self->TruncateBlockResults(h, flag(r));
                     return net::HttpResponse::Json(200, "{}");
                   });
    server->Handle("POST", "/devchain/fault/drop_broadcasts",
                   [self, flag](const net::HttpRequest& r) {
                     self->chain_->SetDropBroadcasts(flag(r));
                     return net::HttpResponse::Json(200, "{}");
                   });
    server->Handle("POST", "/devchain/fault/reject_broadcasts", [self](const net::HttpRequest& r) {
      uint32_t code = 0;
      if (!absl::SimpleAtoi(r.QueryParam("code").value_or("0"), &code)) {
        return net::HttpResponse::Json(400, "{\"error\":\"code: expected an integer\"}");
      }
      self->chain_->SetRejectBroadcasts(code, r.QueryParam("log").value_or(""));
      return net::HttpResponse::Json(200, "{}");
    });
    server->Handle("POST", "/devchain/fault/prune", [self](const net::HttpRequest& r) {
      int64_t h = 0;
      if (!absl::SimpleAtoi(r.QueryParam("below").value_or(""), &h) || h <= 0) {
        return net::HttpResponse::Json(400, "{\"error\":\"below: expected a height > 0\"}");
      }
      self->chain_->PruneBelow(h);
      return net::HttpResponse::Json(
          200, absl::StrCat("{\"earliest_height\":\"", self->chain_->earliest_height(), "\"}"));
    });
  }

  void DropWebSockets() {
    std::vector<std::shared_ptr<WsClient>> clients;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [raw, c] : clients_) clients.push_back(c);
    }
    for (auto& c : clients) {
      if (auto s = c->session.lock()) s->Close();
    }
    GONKA_LOG_INFO("devchain fault: dropped websockets",
                   {"count", static_cast<int>(clients.size())});
  }

  void SetEventsPaused(bool paused) {
    absl::MutexLock lock(&mu_);
    events_paused_ = paused;
  }

  void FailBlockResults(int64_t height, bool fail) {
    absl::MutexLock lock(&mu_);
    if (fail) {
      failing_results_.insert(height);
    } else {
      failing_results_.erase(height);
    }
  }

  void TruncateBlockResults(int64_t height, bool truncate) {
    absl::MutexLock lock(&mu_);
    if (truncate) {
      truncated_results_.insert(height);
    } else {
      truncated_results_.erase(height);
    }
  }

  void SetRpcDelay(absl::Duration delay) {
    absl::MutexLock lock(&mu_);
    rpc_delay_ = delay;
  }

  int websocket_clients() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(clients_.size());
  }

 private:
  struct Method {
    std::vector<std::string> args;
    std::function<Outcome(const Params&)> fn;
  };

  Chain* const chain_;
  const RpcOptions options_;
  std::map<std::string, Method> methods_;  // fixed after construction

  absl::Mutex mu_;
  std::map<WsClient*, std::shared_ptr<WsClient>> clients_ ABSL_GUARDED_BY(mu_);
  bool events_paused_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration rpc_delay_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> failing_results_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> truncated_results_ ABSL_GUARDED_BY(mu_);
};

RpcService::RpcService(Chain* chain, net::HttpServer* server, RpcOptions options)
    : impl_(std::make_shared<Impl>(chain, std::move(options))) {
  impl_->Mount(server);
  std::weak_ptr<Impl> weak = impl_;
  chain->OnBlock([weak](const BlockPtr& block) {
    if (auto impl = weak.lock()) impl->OnBlock(block);
  });
}

RpcService::~RpcService() = default;

RpcService::Outcome RpcService::Call(const std::string& method, const std::string& params_json) {
  return impl_->Call(method, params_json);
}

void RpcService::DropWebSockets() { impl_->DropWebSockets(); }
void RpcService::SetEventsPaused(bool paused) { impl_->SetEventsPaused(paused); }
void RpcService::SetRpcDelay(absl::Duration delay) { impl_->SetRpcDelay(delay); }
void RpcService::FailBlockResults(int64_t height, bool fail) {
  impl_->FailBlockResults(height, fail);
}

void RpcService::TruncateBlockResults(int64_t height, bool truncate) {
  impl_->TruncateBlockResults(height, truncate);
}
int RpcService::websocket_clients() const { return impl_->websocket_clients(); }

}  // namespace devchain
}  // namespace gonka
