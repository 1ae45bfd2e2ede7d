#include "gonka/chain/comet_client.h"

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gonka/base/status_macros.h"
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

absl::StatusOr<BroadcastResponse> CometClient::BroadcastTxSync(absl::string_view tx_bytes) {
  ASSIGN_OR_RETURN(std::string body,
                   Call("broadcast_tx_sync", absl::StrCat("tx=0x", crypto::HexEncode(tx_bytes))));
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
                                                         absl::string_view data) {
  ASSIGN_OR_RETURN(
      std::string body,
      Call("abci_query", absl::StrCat("path=", net::UrlEncode(absl::StrCat("\"", path, "\"")),
                                      "&data=0x", crypto::HexEncode(data))));
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
  return q;
}

}  // namespace chain
}  // namespace gonka
