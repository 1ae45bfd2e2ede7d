#include "gonka/chain/comet_client.h"

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gonka/base/status_macros.h"
#include "gonka/chain/internal/normalize_dom.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace chain {
namespace {

namespace dom = simdjson::dom;

using Field = simdjson::simdjson_result<dom::element>;

// A member's text, or "" when absent (CometBFT omits zero values) or not a string.
std::string Text(Field e) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

// An int64 encoded as a string (or a number); 0 when absent.
int64_t Int(Field e) {
  std::string_view s;
  int64_t v = 0;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    if (!absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v)) return 0;
    return v;
  }
  if (e.get_int64().get(v) == simdjson::SUCCESS) return v;
  return 0;
}

absl::Status MapRpcError(absl::string_view where, int64_t code, const std::string& message,
                         const std::string& data) {
  std::string text = absl::StrCat(where, ": JSON-RPC error ", code, " ", message,
                                  data.empty() ? "" : absl::StrCat(": ", data));
  if (absl::StrContains(data, "must be less than or equal to the current blockchain height")) {
    return absl::OutOfRangeError(text);
  }
  if (absl::StrContains(data, "is not available, lowest height is") ||
      absl::StrContains(data, "not found")) {
    return absl::NotFoundError(text);
  }
  return absl::UnavailableError(text);
}

}  // namespace

CometClient::CometClient(CometClientOptions options, net::HttpClient* http)
    : options_(std::move(options)) {
  if (http == nullptr) {
    net::HttpClientOptions http_options;
    http_options.max_body_bytes = options_.max_response_bytes;
    http_options.tls = options_.tls;
    own_http_ = std::make_unique<net::HttpClient>(http_options);
    http = own_http_.get();
  }
  http_ = http;
}

CometClient::~CometClient() = default;

absl::StatusOr<std::string> CometClient::Call(absl::string_view method, absl::string_view query) {
  std::string url = absl::StrCat(absl::StripSuffix(options_.rpc_url, "/"), "/", method,
                                 query.empty() ? "" : "?", query);
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.timeout);
  call.max_body_bytes = options_.max_response_bytes;
  ASSIGN_OR_RETURN(net::HttpResponse res, http_->Get(url, call));
  if (res.status == 200) return std::move(res.body);
  dom::parser parser;
  dom::element root;
  if (parser.parse(res.body).get(root) == simdjson::SUCCESS && !root["error"].error()) {
    Field error = root["error"];
    return MapRpcError(absl::StrCat(method, " ", url), Int(error["code"]), Text(error["message"]),
                       Text(error["data"]));
  }
  return absl::UnavailableError(
      absl::StrCat(method, " ", url, ": HTTP ", res.status, ": ", res.body.substr(0, 200)));
}

absl::StatusOr<CometStatus> CometClient::Status() {
  ASSIGN_OR_RETURN(std::string body, Call("status", ""));
  dom::parser parser;
  dom::element root, result;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root["result"].get(result) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("status ", options_.rpc_url, ": malformed answer"));
  }
  CometStatus s;
  s.chain_id = Text(result["node_info"]["network"]);
  dom::element sync = result["sync_info"];
  s.latest_height = Int(sync["latest_block_height"]);
  s.earliest_height = Int(sync["earliest_block_height"]);
  bool catching_up = false;
  if (sync["catching_up"].get_bool().get(catching_up) == simdjson::SUCCESS) {
    s.catching_up = catching_up;
  }
  std::string time = Text(sync["latest_block_time"]);
  std::string error;
  if (!time.empty() && !absl::ParseTime(absl::RFC3339_full, time, &s.latest_time, &error)) {
    return absl::InternalError(
        absl::StrCat("status ", options_.rpc_url, ": bad latest_block_time \"", time, "\""));
  }
  if (s.chain_id.empty()) {
    return absl::InternalError(absl::StrCat("status ", options_.rpc_url, ": no node_info.network"));
  }
  return s;
}

absl::StatusOr<std::string> CometClient::BlockJson(int64_t height) {
  return Call("block", absl::StrCat("height=", height));
}

absl::StatusOr<std::string> CometClient::BlockResultsJson(int64_t height) {
  return Call("block_results", absl::StrCat("height=", height));
}

absl::StatusOr<std::string> CometClient::ValidatorsJson(int64_t height, int page, int per_page) {
  return Call("validators",
              absl::StrCat("height=", height, "&page=", page, "&per_page=", per_page));
}

absl::StatusOr<v1::BlockEvents> CometClient::FetchBlockEvents(int64_t height,
                                                              const NormalizeOptions& options) {
  ASSIGN_OR_RETURN(std::string block, BlockJson(height));
  ASSIGN_OR_RETURN(std::string results, BlockResultsJson(height));
  absl::StatusOr<v1::BlockEvents> events = NormalizeBlock(block, results, options);
  if (events.ok() && events->height() != height) {
    return absl::DataLossError(absl::StrCat("block ", options_.rpc_url, ": asked for height ",
                                            height, ", got ", events->height()));
  }
  return events;
}

absl::Status CometClient::FetchBlockEventsBatch(
    int64_t from, int count, const NormalizeOptions& options,
    const std::function<void(int64_t height, const absl::Status& status, v1::BlockEvents* events)>&
        fn) {
  if (from < 1 || count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("block batch: bad range from ", from, " count ", count));
  }
  // Request ids 2k (block) and 2k+1 (block_results) for the k-th height.
  std::string body = "[";
  for (int k = 0; k < count; ++k) {
    absl::StrAppend(&body, k == 0 ? "" : ",", R"({"jsonrpc":"2.0","id":)", 2 * k,
                    R"(,"method":"block","params":{"height":")", from + k,
                    R"("}},{"jsonrpc":"2.0","id":)", 2 * k + 1,
                    R"(,"method":"block_results","params":{"height":")", from + k, R"("}})");
  }
  body += "]";
  const std::string where =
      absl::StrCat("block batch ", from, "..", from + count - 1, " ", options_.rpc_url);
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.timeout);
  call.max_body_bytes = options_.max_response_bytes;
  call.idempotent = true;  // read-only: safe to resend after a stale pooled connection
  ASSIGN_OR_RETURN(net::HttpResponse res,
                   http_->Post(options_.rpc_url, std::move(body), "application/json", call));
  if (res.status != 200) {
    return absl::UnavailableError(
        absl::StrCat(where, ": HTTP ", res.status, ": ", res.body.substr(0, 200)));
  }
  thread_local dom::parser parser;
  dom::element root;
  dom::array answers;
  if (simdjson::error_code e = parser.parse(res.body).get(root); e != simdjson::SUCCESS) {
    return absl::InternalError(
        absl::StrCat(where, ": malformed JSON in the batch answer: ", simdjson::error_message(e)));
  }
  if (root.get_array().get(answers) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat(where, ": the answer is not a JSON-RPC batch"));
  }
  // Answers may come in any order: place them by id.
  std::vector<dom::element> by_id(2 * static_cast<size_t>(count));
  std::vector<bool> seen(by_id.size(), false);
  for (dom::element answer : answers) {
    int64_t id = -1;
    if (answer["id"].get_int64().get(id) != simdjson::SUCCESS || id < 0 ||
        id >= static_cast<int64_t>(by_id.size()) || seen[id]) {
      return absl::InternalError(absl::StrCat(where, ": unexpected answer id in the batch"));
    }
    by_id[id] = answer;
    seen[id] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return absl::InternalError(absl::StrCat(where, ": the batch answer lacks id ", i));
    }
  }
  thread_local v1::BlockEvents events;  // reused: its strings and repeated fields keep storage
  for (int k = 0; k < count; ++k) {
    const int64_t height = from + k;
    absl::Status status;
    for (int part = 0; part < 2 && status.ok(); ++part) {
      dom::element answer = by_id[2 * k + part];
      if (!answer["error"].error()) {
        Field error = answer["error"];
        status = MapRpcError(absl::StrCat(part == 0 ? "block" : "block_results", " height ", height,
                                          " ", options_.rpc_url),
                             Int(error["code"]), Text(error["message"]), Text(error["data"]));
      }
    }
    if (status.ok()) {
      status = internal::NormalizeElements(by_id[2 * k], by_id[2 * k + 1], options, &events);
    }
    if (status.ok() && events.height() != height) {
      status = absl::DataLossError(absl::StrCat("block ", options_.rpc_url, ": asked for height ",
                                                height, ", got ", events.height()));
    }
    fn(height, status, &events);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CometClient::PostCall(absl::string_view method,
                                                  absl::string_view params_json, bool idempotent) {
  std::string request = absl::StrCat(R"({"jsonrpc":"2.0","id":1,"method":")", method,
                                     R"(","params":)", params_json, "}");
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.timeout);
  call.max_body_bytes = options_.max_response_bytes;
  call.idempotent = idempotent;
  const std::string where = absl::StrCat(method, " ", options_.rpc_url);
  ASSIGN_OR_RETURN(net::HttpResponse res,
                   http_->Post(options_.rpc_url, std::move(request), "application/json", call));
  dom::parser parser;
  dom::element root;
  if (parser.parse(res.body).get(root) == simdjson::SUCCESS && !root["error"].error()) {
    Field error = root["error"];
    return MapRpcError(where, Int(error["code"]), Text(error["message"]), Text(error["data"]));
  }
  if (res.status == 200) return std::move(res.body);
  return absl::UnavailableError(
      absl::StrCat(where, ": HTTP ", res.status, ": ", res.body.substr(0, 200)));
}

absl::StatusOr<BroadcastResponse> CometClient::BroadcastTxSync(absl::string_view tx_bytes) {
  // POSTed: a large tx (a batch of hundreds of messages) does not fit in a GET's URL. Sending the
  // same bytes twice is harmless (the chain refuses the copy), so a stale pooled connection may
  // be retried.
  ASSIGN_OR_RETURN(std::string body,
                   PostCall("broadcast_tx_sync",
                            absl::StrCat(R"({"tx":")", absl::Base64Escape(tx_bytes), R"("})"),
                            /*idempotent=*/true));
  dom::parser parser;
  dom::element root, result;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root["result"].get(result) != simdjson::SUCCESS) {
    return absl::InternalError(
        absl::StrCat("broadcast_tx_sync ", options_.rpc_url, ": malformed answer"));
  }
  BroadcastResponse r;
  r.code = static_cast<uint32_t>(Int(result["code"]));
  r.codespace = Text(result["codespace"]);
  r.log = Text(result["log"]);
  r.hash = Text(result["hash"]);
  return r;
}

absl::StatusOr<TxInfo> CometClient::Tx(absl::string_view hash) {
  ASSIGN_OR_RETURN(std::string body,
                   Call("tx", absl::StrCat("hash=0x", crypto::HexEncodeUpper(hash))));
  dom::parser parser;
  dom::element root, result;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root["result"].get(result) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("tx ", options_.rpc_url, ": malformed answer"));
  }
  TxInfo t;
  t.hash = Text(result["hash"]);
  t.height = Int(result["height"]);
  t.index = static_cast<uint32_t>(Int(result["index"]));
  dom::element tx_result = result["tx_result"];
  t.code = static_cast<uint32_t>(Int(tx_result["code"]));
  t.codespace = Text(tx_result["codespace"]);
  t.log = Text(tx_result["log"]);
  t.gas_used = Int(tx_result["gas_used"]);
  t.gas_wanted = Int(tx_result["gas_wanted"]);
  return t;
}

absl::StatusOr<AbciQueryResponse> CometClient::AbciQuery(absl::string_view path,
                                                         absl::string_view data, int64_t height,
                                                         bool prove) {
  std::string query = absl::StrCat("path=", net::UrlEncode(absl::StrCat("\"", path, "\"")),
                                   "&data=0x", crypto::HexEncode(data));
  if (height != 0) absl::StrAppend(&query, "&height=", height);
  if (prove) absl::StrAppend(&query, "&prove=true");
  ASSIGN_OR_RETURN(std::string body, Call("abci_query", query));
  dom::parser parser;
  dom::element root, response;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root["result"]["response"].get(response) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("abci_query ", options_.rpc_url, ": malformed answer"));
  }
  AbciQueryResponse q;
  q.code = static_cast<uint32_t>(Int(response["code"]));
  q.codespace = Text(response["codespace"]);
  q.log = Text(response["log"]);
  q.height = Int(response["height"]);
  std::string value = Text(response["value"]);
  if (!value.empty() && !absl::Base64Unescape(value, &q.value)) {
    return absl::InternalError(
        absl::StrCat("abci_query ", options_.rpc_url, ": value is not base64"));
  }
  // CometBFT prints ResponseQuery.proof_ops as "proofOps": {"ops": [{type, key, data}]}, the
  // bytes base64.
  dom::array ops;
  if (response["proofOps"]["ops"].get(ops) == simdjson::SUCCESS) {
    for (dom::element op : ops) {
      ProofOp out;
      out.type = Text(op["type"]);
      if (!absl::Base64Unescape(Text(op["key"]), &out.key) ||
          !absl::Base64Unescape(Text(op["data"]), &out.data)) {
        return absl::InternalError(
            absl::StrCat("abci_query ", options_.rpc_url, ": a proof op is not base64"));
      }
      q.proof_ops.push_back(std::move(out));
    }
  }
  return q;
}

}  // namespace chain
}  // namespace gonka
