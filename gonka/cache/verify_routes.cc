#include "gonka/cache/verify_routes.h"

#include <simdjson.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/base/status_macros.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/commit_verify.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace cache {
namespace {

namespace dom = simdjson::dom;

// CometBFT's largest /validators page.
constexpr int kValidatorsPerPage = 100;

// Gonka's TransparentErrorHandler body: {"error": "<message>"}, never cached.
net::HttpResponse JsonError(int status, absl::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  net::HttpResponse response = net::HttpResponse::Json(status, w.Take());
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

// The node's whole validator set at `height`, every page. (Gonka asks one page of CometBFT's
// default 30, so a larger set fails its size check there.)
absl::StatusOr<std::vector<chain::CommitValidator>> NodeValidators(chain::CometClient* comet,
                                                                   int64_t height) {
  std::vector<chain::CommitValidator> validators;
  for (int page = 1;; ++page) {
    ASSIGN_OR_RETURN(std::string answer, comet->ValidatorsJson(height, page, kValidatorsPerPage));
    ASSIGN_OR_RETURN(chain::ValidatorsPage got, chain::ParseValidatorsAnswer(answer));
    for (chain::CommitValidator& v : got.validators) validators.push_back(std::move(v));
    if (got.validators.empty() || static_cast<int64_t>(validators.size()) >= got.total) break;
  }
  return validators;
}

// An integer as a JSON number (Go's encoding/json, Gonka's binder) or a decimal string.
bool ReadInt(dom::element e, int64_t* out) {
  std::string_view text;
  if (e.get_string().get(text) == simdjson::SUCCESS) {
    return absl::SimpleAtoi(absl::string_view(text.data(), text.size()), out);
  }
  return e.get_int64().get(*out) == simdjson::SUCCESS;
}

struct VerifyBlockRequest {
  chain::SignedBlock block;
  std::vector<chain::CommitValidator> validators;
};

// The request body; the error is the 400 answer.
std::optional<net::HttpResponse> ParseVerifyBlockRequest(absl::string_view body,
                                                         VerifyBlockRequest* out) {
  constexpr absl::string_view kDecoding = "Error decoding request: ";
  dom::parser parser;
  dom::element root;
  if (simdjson::error_code e = parser.parse(body.data(), body.size()).get(root);
      e != simdjson::SUCCESS) {
    return JsonError(400, absl::StrCat(kDecoding, "malformed JSON: ", simdjson::error_message(e)));
  }
  dom::element block;
  if (root.type() != dom::element_type::OBJECT || root["block"].get(block) != simdjson::SUCCESS) {
    return JsonError(400, absl::StrCat(kDecoding, "missing block"));
  }
  absl::StatusOr<chain::SignedBlock> parsed = chain::ParseBlockJson(simdjson::minify(block));
  if (!parsed.ok()) return JsonError(400, absl::StrCat(kDecoding, parsed.status().message()));
  out->block = *std::move(parsed);
  dom::element list;
  if (root["validators"].get(list) != simdjson::SUCCESS || list.is_null()) return std::nullopt;
  dom::array validators;
  if (list.get_array().get(validators) != simdjson::SUCCESS) {
    return JsonError(400, absl::StrCat(kDecoding, "validators is not an array"));
  }
  size_t index = 0;
  for (dom::element v : validators) {
    const std::string where = absl::StrCat("validators[", index++, "]");
    std::string_view pub_key;
    dom::element key_field;
    if (v.type() != dom::element_type::OBJECT) {
      return JsonError(400, absl::StrCat(kDecoding, where, " is not an object"));
    }
    if (v["pub_key"].get(key_field) == simdjson::SUCCESS && !key_field.is_null() &&
        key_field.get_string().get(pub_key) != simdjson::SUCCESS) {
      return JsonError(400, absl::StrCat(kDecoding, where, ".pub_key is not a string"));
    }
    chain::CommitValidator validator;
    if (!absl::Base64Unescape(absl::string_view(pub_key.data(), pub_key.size()),
                              &validator.public_key)) {
      return JsonError(
          400, absl::StrCat("Error decoding public key: ", where, ".pub_key is not base64"));
    }
    dom::element power;
    if (v["voting_power"].get(power) == simdjson::SUCCESS &&
        !ReadInt(power, &validator.voting_power)) {
      return JsonError(400, absl::StrCat(kDecoding, where, ".voting_power is not an int64"));
    }
    out->validators.push_back(std::move(validator));
  }
  return std::nullopt;
}

// Gonka's merkleproof.VerifyCommit masks every reason as "invalid commit signatures"; the
// reason follows it here.
std::string InvalidCommit(absl::string_view which, const absl::Status& status) {
  return absl::StrCat("invalid commit signatures: ", which, ": ", status.message());
}

}  // namespace

net::HttpResponse ServeVerifyBlock(const net::HttpRequest& request, chain::CometClient* comet) {
  VerifyBlockRequest parsed;
  if (std::optional<net::HttpResponse> bad = ParseVerifyBlockRequest(request.body, &parsed)) {
    return *std::move(bad);
  }
  // First the node's own set at the block's height (Gonka's "ground truth" step), then the
  // request's validators.
  absl::StatusOr<std::vector<chain::CommitValidator>> node =
      NodeValidators(comet, parsed.block.height);
  if (!node.ok()) return JsonError(500, node.status().message());
  if (absl::Status s = chain::VerifyLastCommit(parsed.block, *std::move(node)); !s.ok()) {
    return JsonError(
        500,
        InvalidCommit(absl::StrCat("the node's validators at height ", parsed.block.height), s));
  }
  if (absl::Status s = chain::VerifyLastCommit(parsed.block, std::move(parsed.validators));
      !s.ok()) {
    return JsonError(500, InvalidCommit("the request's validators", s));
  }
  net::HttpResponse ok;
  ok.status = 200;
  ok.headers.Set("Cache-Control", "no-store");
  return ok;
}

net::HttpResponse ServeDebugVerify(const net::HttpRequest& request, chain::CometClient* comet) {
  absl::string_view rest = request.path;
  int64_t height = 0;
  if (!absl::ConsumePrefix(&rest, "/v1/debug/verify/") || !absl::SimpleAtoi(rest, &height)) {
    return JsonError(400, absl::StrCat("invalid height: \"", rest, "\" is not an int64"));
  }
  absl::StatusOr<std::string> answer = comet->BlockJson(height);
  if (!answer.ok()) return JsonError(500, answer.status().message());
  dom::parser parser;
  dom::element block;
  if (parser.parse(*answer).get(block) != simdjson::SUCCESS ||
      block["result"]["block"].get(block) != simdjson::SUCCESS || block.is_null()) {
    return JsonError(500, absl::StrCat("block ", height, ": malformed /block answer"));
  }
  absl::StatusOr<chain::SignedBlock> signed_block = chain::ParseBlockJson(simdjson::minify(block));
  if (!signed_block.ok()) {
    return JsonError(500, absl::StrCat("block ", height, ": ", signed_block.status().message()));
  }
  absl::StatusOr<std::vector<chain::CommitValidator>> node = NodeValidators(comet, height);
  if (!node.ok()) return JsonError(500, node.status().message());
  if (absl::Status s = chain::VerifyLastCommit(*signed_block, *std::move(node)); !s.ok()) {
    return JsonError(
        500,
        absl::StrCat("block signature verification failed: ",
                     InvalidCommit(absl::StrCat("the node's validators at height ", height), s)));
  }
  net::HttpResponse ok = net::HttpResponse::Text(200, "Block signatures verified");
  ok.headers.Set("Cache-Control", "no-store");
  return ok;
}

void AddVerifyRoutes(net::HttpServer* server, chain::CometClient* comet) {
  server->Handle("POST", "/v1/verify-block", [comet](const net::HttpRequest& request) {
    return ServeVerifyBlock(request, comet);
  });
  server->Handle("GET", "/v1/debug/verify/*", [comet](const net::HttpRequest& request) {
    return ServeDebugVerify(request, comet);
  });
}

}  // namespace cache
}  // namespace gonka
