#include "gonka/devchain/rpc.h"

#include <algorithm>
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
    if (json.empty() || json == "null") return true;  // "params": null is no params
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

  // Present with a value (CometBFT's pointer params: absent means "use the default").
  bool Has(const std::string& name) const {
    auto it = values_.find(name);
    return it != values_.end() && it->second.kind != ParamValue::kNull &&
           !(it->second.kind == ParamValue::kUri && it->second.text.empty());
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
  // From a tm.event='X' condition; "" = every event is matched against the query (a query such
  // as message.sender='x' then selects Tx events, as CometBFT's pubsub does).
  std::string event_type;
};

// The heights a query's conditions on `key` (tx.height, block.height) allow, within [lo, hi].
void NarrowHeights(const std::vector<Condition>& conditions, absl::string_view key, int64_t* lo,
                   int64_t* hi) {
  for (const auto& c : conditions) {
    if (c.key != key) continue;
    double v = c.number;
    if (!c.numeric && !absl::SimpleAtod(c.operand, &v)) continue;
    if (!(v > -1e18 && v < 1e18)) continue;  // no height is that far out (and NaN stays out)
    int64_t n = static_cast<int64_t>(v);
    if (c.op == "=") {
      *lo = std::max(*lo, n);
      *hi = std::min(*hi, n);
    } else if (c.op == ">") {
      *lo = std::max(*lo, n + 1);
    } else if (c.op == ">=") {
      *lo = std::max(*lo, n);
    } else if (c.op == "<") {
      *hi = std::min(*hi, n - 1);
    } else if (c.op == "<=") {
      *hi = std::min(*hi, n);
    }
  }
}

// An attribute condition an event index can answer: `type.key='value'`.
const Condition* IndexableCondition(const std::vector<Condition>& conditions) {
  for (const auto& c : conditions) {
    if (c.op == "=" && !c.numeric && c.key != "tm.event" && !absl::StartsWith(c.key, "tx.") &&
        !absl::StartsWith(c.key, "block.")) {
      return &c;
    }
  }
  return nullptr;
}

// CometBFT's list pagination (rpc/core/env.go): per_page defaults to 30 and is capped at 100;
// page is 1-based and must name an existing page (page 1 of an empty list is fine).
bool Paginate(const Params& p, int64_t total, int64_t* skip, int64_t* count, Error* error) {
  int64_t per_page = 0, page = 1;
  if (!p.Int("per_page", &per_page, error)) return false;
  if (per_page < 1) per_page = 30;
  if (per_page > 100) per_page = 100;
  if (p.Has("page")) {
    if (!p.Int("page", &page, error)) return false;
    int64_t pages = std::max<int64_t>(1, (total - 1) / per_page + 1);
    if (page <= 0 || page > pages) {
      *error = Internal(absl::StrCat("page should be within [1, ", pages, "] range, given ", page));
      return false;
    }
  }
  *skip = (page - 1) * per_page;
  *count = std::max<int64_t>(0, std::min(per_page, total - *skip));
  return true;
}

bool OrderBy(const Params& p, bool default_desc, bool* desc, Error* error) {
  std::string order;
  if (!p.String("order_by", &order, error)) return false;
  if (order.empty()) {
    *desc = default_desc;
  } else if (order == "asc" || order == "desc") {
    *desc = order == "desc";
  } else {
    *error = Internal("expected order_by to be either `asc` or `desc` or empty");
    return false;
  }
  return true;
}

// The devchain validator: one Ed25519 key with all the voting power; its address (SHA-256 of
// the key, first 20 bytes) is the one every block names as proposer and its key signs every
// commit (gonka/devchain/validator.h).
std::string ValidatorAddressHex(const ValidatorKey& key) {
  return crypto::HexEncodeUpper(key.address());
}

void WriteValidatorPubKey(JsonWriter& w, const ValidatorKey& key) {
  w.BeginObject()
      .Key("type")
      .String("tendermint/PubKeyEd25519")
      .Key("value")
      .String(absl::Base64Escape(key.public_key()))
      .EndObject();
}

// CometBFT's DefaultConsensusParams (types/params.go), int64s as strings, the 48 h evidence
// age as nanoseconds.
void WriteConsensusParams(JsonWriter& w) {
  w.BeginObject();
  w.Key("block").BeginObject().Key("max_bytes").String("22020096").Key("max_gas").String("-1");
  w.EndObject();
  w.Key("evidence").BeginObject();
  w.Key("max_age_num_blocks").String("100000");
  w.Key("max_age_duration").String("172800000000000");
  w.Key("max_bytes").String("1048576");
  w.EndObject();
  w.Key("validator").BeginObject().Key("pub_key_types").BeginArray().String("ed25519");
  w.EndArray().EndObject();
  w.Key("version").BeginObject().Key("app").String("0").EndObject();
  w.Key("abci").BeginObject().Key("vote_extensions_enable_height").String("0").EndObject();
  w.EndObject();
}

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
      return Ok(absl::StrCat("{\"n_txs\":\"", n, "\",\"total\":\"", n, "\",\"total_bytes\":\"",
                             chain_->mempool_bytes(), "\",\"txs\":null}"));
    });
    method("unconfirmed_txs", {"limit"}, [this](const Params& p) { return UnconfirmedTxs(p); });
    method("check_tx", {"tx"}, [this](const Params& p) { return CheckTx(p); });
    method("header", {"height"}, [this](const Params& p) { return Header(p); });
    method("header_by_hash", {"hash"}, [this](const Params& p) { return ByHash(p, true); });
    method("block_by_hash", {"hash"}, [this](const Params& p) { return ByHash(p, false); });
    method("commit", {"height"}, [this](const Params& p) { return Commit(p); });
    method("validators", {"height", "page", "per_page"},
           [this](const Params& p) { return Validators(p); });
    method("consensus_params", {"height"}, [this](const Params& p) { return ConsensusParams(p); });
    method("genesis", {}, [this](const Params&) { return Genesis(); });
    method("net_info", {}, [](const Params&) {
      return Ok(
          "{\"listening\":true,\"listeners\":[\"Listener(@tcp://127.0.0.1:26656)\"],"
          "\"n_peers\":\"0\",\"peers\":[]}");
    });
    method("block_search", {"query", "page", "per_page", "order_by"},
           [this](const Params& p) { return BlockSearch(p); });
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
    w.Key("address").String(ValidatorAddressHex(chain_->validator()));
    w.Key("pub_key");
    WriteValidatorPubKey(w, chain_->validator());
    w.Key("voting_power").String(absl::StrCat(kValidatorVotingPower));
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

  // tx_search (rpc/core/tx.go): conditions on tx.hash, tx.height (=, <, <=, >, >=) and event
  // attributes, joined by AND; ascending (height, index) unless order_by=desc. Candidates come
  // from the tx hash index, the attribute index (a `type.key='value'` condition) or the blocks
  // the tx.height conditions allow; every candidate is then checked against the whole query.
  Outcome TxSearch(const Params& p) {
    Error error;
    std::string query;
    bool desc = false, prove = false;
    if (!p.String("query", &query, &error) || !p.Bool("prove", &prove, &error) ||
        !OrderBy(p, false, &desc, &error)) {
      return Fail(error);
    }
    if (query.size() > options_.max_query_length) {
      return Fail(Internal("maximum query length exceeded"));
    }
    std::vector<Condition> conditions;
    std::string parse_error;
    if (!ParseQuery(query, &conditions, &parse_error)) return Fail(Internal(parse_error));
    int64_t lo = std::max<int64_t>(1, chain_->earliest_height()), hi = chain_->height();
    NarrowHeights(conditions, "tx.height", &lo, &hi);
    std::vector<TxLocation> candidates;
    const Condition* hash_condition = nullptr;
    for (const auto& c : conditions) {
      if (c.key == "tx.hash" && c.op == "=") hash_condition = &c;
    }
    if (hash_condition != nullptr) {
      std::string hash;
      if (crypto::HexDecode(hash_condition->operand, "tx.hash", &hash).ok()) {
        absl::StatusOr<TxLocation> tx = chain_->GetTx(hash);
        if (tx.ok()) candidates.push_back(*tx);
      }
    } else if (const Condition* c = IndexableCondition(conditions)) {
      candidates = chain_->FindTxs(c->key, c->operand, lo, hi);
    } else {
      for (int64_t h = lo; h <= hi; ++h) {
        absl::StatusOr<BlockPtr> block = chain_->GetBlock(h);
        if (!block.ok()) continue;
        for (uint32_t i = 0; i < (*block)->txs.size(); ++i) candidates.push_back({*block, i});
      }
    }
    std::vector<TxLocation> found;
    for (auto& tx : candidates) {
      if (Matches(conditions, TxEventMap(*tx.block, tx.index))) found.push_back(std::move(tx));
    }
    if (desc) std::reverse(found.begin(), found.end());
    int64_t skip = 0, count = 0;
    if (!Paginate(p, static_cast<int64_t>(found.size()), &skip, &count, &error)) {
      return Fail(error);
    }
    JsonWriter w;
    w.BeginObject().Key("txs").BeginArray();
    for (int64_t k = skip; k < skip + count; ++k) w.Raw(TxJson(*found[k].block, found[k].index));
    w.EndArray().Key("total_count").String(absl::StrCat(found.size())).EndObject();
    return Ok(w.Take());
  }

  // block_search (rpc/core/blocks.go): block.height conditions and finalize-block event
  // attributes; descending unless order_by=asc.
  Outcome BlockSearch(const Params& p) {
    Error error;
    std::string query;
    bool desc = true;
    if (!p.String("query", &query, &error) || !OrderBy(p, true, &desc, &error)) {
      return Fail(error);
    }
    if (query.size() > options_.max_query_length) {
      return Fail(Internal("maximum query length exceeded"));
    }
    std::vector<Condition> conditions;
    std::string parse_error;
    if (!ParseQuery(query, &conditions, &parse_error)) return Fail(Internal(parse_error));
    int64_t lo = std::max<int64_t>(1, chain_->earliest_height()), hi = chain_->height();
    NarrowHeights(conditions, "block.height", &lo, &hi);
    bool heights_only = true;
    for (const auto& c : conditions) heights_only = heights_only && c.key == "block.height";
    // Only block.height conditions: the answer is the range itself, no block is read.
    std::vector<int64_t> heights;
    int64_t total = std::max<int64_t>(0, hi - lo + 1);
    if (!heights_only) {
      std::vector<int64_t> candidates;
      if (const Condition* c = IndexableCondition(conditions)) {
        candidates = chain_->FindBlocks(c->key, c->operand, lo, hi);
      } else {
        for (int64_t h = lo; h <= hi; ++h) candidates.push_back(h);
      }
      for (int64_t h : candidates) {
        absl::StatusOr<BlockPtr> block = chain_->GetBlock(h);
        if (!block.ok()) continue;
        auto map = BlockEventMap(**block, "NewBlock");
        map.erase("tm.event");
        map["block.height"] = {absl::StrCat(h)};
        if (Matches(conditions, map)) heights.push_back(h);
      }
      total = static_cast<int64_t>(heights.size());
    }
    auto height_at = [&](int64_t k) {
      if (heights_only) return desc ? hi - k : lo + k;
      return desc ? heights[heights.size() - 1 - k] : heights[k];
    };
    int64_t skip = 0, count = 0;
    if (!Paginate(p, total, &skip, &count, &error)) return Fail(error);
    JsonWriter w;
    w.BeginObject().Key("blocks").BeginArray();
    for (int64_t k = skip; k < skip + count; ++k) {
      absl::StatusOr<BlockPtr> block = chain_->GetBlock(height_at(k));
      if (block.ok()) w.Raw((*block)->block_json);
    }
    w.EndArray().Key("total_count").String(absl::StrCat(total)).EndObject();
    return Ok(w.Take());
  }

  // CometBFT's getHeight (rpc/core/env.go): absent = `latest`; otherwise 1 ≤ height ≤ latest
  // and not pruned. `latest` is the tip, or tip + 1 for validators and consensus params (the
  // next block's, which are already known).
  bool ResolveHeight(const Params& p, int64_t latest, int64_t* height, Error* error) {
    *height = latest;
    if (!p.Has("height")) return true;
    if (!p.Int("height", height, error)) return false;
    if (*height <= 0) {
      *error = Internal(absl::StrCat("height must be greater than 0, but got ", *height));
      return false;
    }
    if (*height > latest) {
      *error = Internal(
          absl::StrCat("height ", *height,
                       " must be less than or equal to the current blockchain height ", latest));
      return false;
    }
    int64_t base = chain_->earliest_height();
    if (*height < base) {
      *error =
          Internal(absl::StrCat("height ", *height, " is not available, lowest height is ", base));
      return false;
    }
    return true;
  }

  Outcome Header(const Params& p) {
    Error error;
    int64_t height;
    if (!ResolveHeight(p, chain_->height(), &height, &error)) return Fail(error);
    absl::StatusOr<BlockPtr> block = chain_->GetBlock(height);
    if (!block.ok()) return Ok("{\"header\":null}");  // no blocks yet
    return Ok(absl::StrCat("{\"header\":", (*block)->header_json, "}"));
  }

  // header_by_hash takes HexBytes (hex in JSON), block_by_hash []byte (base64 in JSON); both
  // 0x-hex in a URI. An unknown hash is not an error: CometBFT answers empty results.
  Outcome ByHash(const Params& p, bool header) {
    Error error;
    std::string hash;
    if (!(header ? p.HexBytes("hash", &hash, &error) : p.Bytes("hash", &hash, &error))) {
      return Fail(error);
    }
    absl::StatusOr<BlockPtr> block = chain_->GetBlockByHash(hash);
    if (header) {
      return Ok(block.ok() ? absl::StrCat("{\"header\":", (*block)->header_json, "}")
                           : "{\"header\":null}");
    }
    if (block.ok()) return Ok((*block)->block_json);
    return Ok(
        "{\"block_id\":{\"hash\":\"\",\"parts\":{\"total\":0,\"hash\":\"\"}},\"block\":null}");
  }

  Outcome Commit(const Params& p) {
    Error error;
    int64_t height;
    if (!ResolveHeight(p, chain_->height(), &height, &error)) return Fail(error);
    absl::StatusOr<BlockPtr> block = chain_->GetBlock(height);
    if (!block.ok()) return Fail(Internal(std::string(block.status().message())));
    absl::StatusOr<BlockPtr> next = chain_->GetBlock(height + 1);
    return Ok(CommitJson(**block, next.ok() ? next->get() : nullptr, chain_->validator()));
  }

  Outcome Validators(const Params& p) {
    Error error;
    int64_t height, skip = 0, count = 0;
    if (!ResolveHeight(p, chain_->height() + 1, &height, &error) ||
        !Paginate(p, 1, &skip, &count, &error)) {
      return Fail(error);
    }
    JsonWriter w;
    w.BeginObject().Key("block_height").String(absl::StrCat(height));
    w.Key("validators").BeginArray();
    if (count > 0) {
      w.BeginObject().Key("address").String(ValidatorAddressHex(chain_->validator()));
      w.Key("pub_key");
      WriteValidatorPubKey(w, chain_->validator());
      w.Key("voting_power")
          .String(absl::StrCat(kValidatorVotingPower))
          .Key("proposer_priority")
          .String("0")
          .EndObject();
    }
    w.EndArray();
    w.Key("count").String(absl::StrCat(count)).Key("total").String("1").EndObject();
    return Ok(w.Take());
  }

  Outcome ConsensusParams(const Params& p) {
    Error error;
    int64_t height;
    if (!ResolveHeight(p, chain_->height() + 1, &height, &error)) return Fail(error);
    JsonWriter w;
    w.BeginObject().Key("block_height").String(absl::StrCat(height)).Key("consensus_params");
    WriteConsensusParams(w);
    w.EndObject();
    return Ok(w.Take());
  }

  Outcome Genesis() {
    // The chain's genesis time is its first block's (stable across restarts with a data dir).
    absl::StatusOr<BlockPtr> first = chain_->GetBlock(chain_->earliest_height());
    absl::Time genesis_time = first.ok() ? (*first)->time : absl::Now();
    JsonWriter w;
    w.BeginObject().Key("genesis").BeginObject();
    w.Key("genesis_time").String(RfcTime(genesis_time));
    w.Key("chain_id").String(chain_->options().chain_id);
    w.Key("initial_height").String("1");
    w.Key("consensus_params");
    WriteConsensusParams(w);
    w.Key("validators").BeginArray().BeginObject();
    w.Key("address").String(ValidatorAddressHex(chain_->validator())).Key("pub_key");
    WriteValidatorPubKey(w, chain_->validator());
    w.Key("power").String(absl::StrCat(kValidatorVotingPower)).Key("name").String(options_.moniker);
    w.EndObject().EndArray();
    w.Key("app_hash").String("");
    w.Key("app_state").Raw(options_.genesis_app_state.empty() ? "{}" : options_.genesis_app_state);
    w.EndObject().EndObject();
    return Ok(w.Take());
  }

  Outcome UnconfirmedTxs(const Params& p) {
    Error error;
    int64_t limit;
    if (!p.Int("limit", &limit, &error)) return Fail(error);
    if (limit < 1) limit = 30;
    if (limit > 100) limit = 100;
    size_t total = 0;
    int64_t total_bytes = 0;
    std::vector<std::string> txs =
        chain_->MempoolTxs(static_cast<size_t>(limit), &total, &total_bytes);
    JsonWriter w;
    w.BeginObject().Key("n_txs").String(absl::StrCat(txs.size()));
    w.Key("total").String(absl::StrCat(total)).Key("total_bytes").String(absl::StrCat(total_bytes));
    w.Key("txs").BeginArray();
    for (const auto& tx : txs) w.String(absl::Base64Escape(tx));
    w.EndArray().EndObject();
    return Ok(w.Take());
  }

  // check_tx: CometBFT's ResultCheckTx is the ABCI ResponseCheckTx itself (omitempty fields).
  Outcome CheckTx(const Params& p) {
    Error error;
    std::string tx;
    if (!p.Bytes("tx", &tx, &error)) return Fail(error);
    if (tx.empty()) return Fail(InvalidParams("tx: empty"));
    BroadcastResult result = chain_->CheckTx(tx);
    if (!result.rpc_error.empty()) return Fail(Internal(result.rpc_error));
    JsonWriter w;
    WriteTxResult(w, result.result);
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
    TxExecutor::QueryResult q = chain_->Query(path, data, height);
    // ICS-23 proof ops for a provable store key (docs/devchain.md, "Proofs").
    std::vector<chain::ProofOp> proof_ops;
    if (prove && q.code == 0) {
      proof_ops = chain_->ProveQuery(path, data, q.height).value_or(std::vector<chain::ProofOp>{});
    }
    JsonWriter w;
    w.BeginObject().Key("response").BeginObject();
    if (q.code != 0) w.Key("code").Uint(q.code);
    if (!q.log.empty()) w.Key("log").String(q.log);
    if (!q.value.empty()) w.Key("value").String(absl::Base64Escape(q.value));
    if (!proof_ops.empty()) {
      w.Key("proofOps").BeginObject().Key("ops").BeginArray();
      for (const chain::ProofOp& op : proof_ops) {
        w.BeginObject()
            .Key("type")
            .String(op.type)
            .Key("key")
            .String(absl::Base64Escape(op.key))
            .Key("data")
            .String(absl::Base64Escape(op.data))
            .EndObject();
      }
      w.EndArray().EndObject();
    }
    // The height answered; baseapp leaves it 0 on an error result.
    w.Key("height").String(absl::StrCat(q.code == 0 ? q.height : 0));
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
      if (c.key == "tm.event" && c.op == "=") sub.event_type = c.operand;
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
    // The events CometBFT publishes for a block, in its order (state/execution.go fireEvents):
    // NewBlock, NewBlockHeader, NewBlockEvents, then one Tx per tx. Each is rendered lazily,
    // once, only if some subscription matches it.
    struct Published {
      std::string type;
      uint32_t tx_index = 0;
      std::optional<std::map<std::string, std::vector<std::string>>> map;
      std::optional<std::string> data, events;
    };
    std::vector<Published> published;
    for (const char* type : {"NewBlock", "NewBlockHeader", "NewBlockEvents"}) {
      published.push_back({type});
    }
    for (uint32_t i = 0; i < block->txs.size(); ++i) published.push_back({"Tx", i});
    for (const auto& client : clients) {
      std::vector<std::string> out;
      {
        absl::MutexLock lock(&client->mu);
        for (const auto& [query, sub] : client->subscriptions) {
          for (auto& event : published) {
            if (!sub.event_type.empty() && sub.event_type != event.type) continue;
            bool tx = event.type == "Tx";
            if (!event.map) {
              event.map =
                  tx ? TxEventMap(*block, event.tx_index) : BlockEventMap(*block, event.type);
            }
            if (!Matches(sub.conditions, *event.map)) continue;
            if (!event.data) {
              event.data = tx                               ? TxEventData(*block, event.tx_index)
                           : event.type == "NewBlock"       ? NewBlockEventData(*block)
                           : event.type == "NewBlockHeader" ? NewBlockHeaderEventData(*block)
                                                            : NewBlockEventsEventData(*block);
              JsonWriter w;
              WriteEventMap(w, *event.map);
              event.events = w.Take();
            }
            out.push_back(EventMessage(sub.id, query, *event.data, *event.events));
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
