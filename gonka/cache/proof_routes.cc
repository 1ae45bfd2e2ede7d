#include "gonka/cache/proof_routes.h"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/chain/ics23.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace cache {
namespace {

namespace dom = simdjson::dom;

// The request as Go's encoding/json fills Gonka's ProofVerificationRequest: absent and null
// fields stay empty/zero, unknown fields are ignored, names match case-insensitively.
struct ProofRequest {
  std::string value_hex;
  std::string app_hash_hex;
  std::vector<chain::ProofOp> ops;
  int64_t epoch = 0;
};

// A JSON string (or null) into `out`; false for another type.
bool StringField(dom::element e, std::string* out) {
  if (e.is_null()) return true;
  std::string_view text;
  if (e.get_string().get(text) != simdjson::SUCCESS) return false;
  out->assign(text.data(), text.size());
  return true;
}

// Go decodes a JSON string into []byte as standard (padded) base64.
bool BytesField(dom::element e, std::string* out) {
  std::string text;
  if (!StringField(e, &text)) return false;
  if (text.size() % 4 != 0) return false;
  return absl::Base64Unescape(text, out);
}

bool ParseOp(dom::element e, chain::ProofOp* op) {
  if (e.is_null()) return true;
  dom::object fields;
  if (e.get_object().get(fields) != simdjson::SUCCESS) return false;
  for (dom::key_value_pair field : fields) {
    const absl::string_view key(field.key.data(), field.key.size());
    bool ok = true;
    if (absl::EqualsIgnoreCase(key, "type")) {
      ok = StringField(field.value, &op->type);
    } else if (absl::EqualsIgnoreCase(key, "key")) {
      ok = BytesField(field.value, &op->key);
    } else if (absl::EqualsIgnoreCase(key, "data")) {
      ok = BytesField(field.value, &op->data);
    }
    if (!ok) return false;
  }
  return true;
}

bool ParseOps(dom::element e, std::vector<chain::ProofOp>* ops) {
  if (e.is_null()) return true;
  dom::object fields;
  if (e.get_object().get(fields) != simdjson::SUCCESS) return false;
  for (dom::key_value_pair field : fields) {
    if (!absl::EqualsIgnoreCase(absl::string_view(field.key.data(), field.key.size()), "ops")) {
      continue;
    }
    ops->clear();
    if (field.value.is_null()) continue;
    dom::array list;
    if (field.value.get_array().get(list) != simdjson::SUCCESS) return false;
    for (dom::element item : list) {
      chain::ProofOp op;
      if (!ParseOp(item, &op)) return false;
      ops->push_back(std::move(op));
    }
  }
  return true;
}

std::optional<ProofRequest> ParseRequest(const std::string& body) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  ProofRequest request;
  if (root.is_null()) return request;  // Go decodes null into the zero value
  dom::object fields;
  if (root.get_object().get(fields) != simdjson::SUCCESS) return std::nullopt;
  for (dom::key_value_pair field : fields) {
    const absl::string_view key(field.key.data(), field.key.size());
    bool ok = true;
    if (absl::EqualsIgnoreCase(key, "value")) {
      ok = StringField(field.value, &request.value_hex);
    } else if (absl::EqualsIgnoreCase(key, "app_hash")) {
      ok = StringField(field.value, &request.app_hash_hex);
    } else if (absl::EqualsIgnoreCase(key, "proof_ops")) {
      ok = ParseOps(field.value, &request.ops);
    } else if (absl::EqualsIgnoreCase(key, "epoch")) {
      // An int64 JSON number (Go refuses fractions, exponents and strings here).
      ok = field.value.is_null() || field.value.get_int64().get(request.epoch) == simdjson::SUCCESS;
    }
    if (!ok) return std::nullopt;
  }
  return request;
}

// Go's encoding/hex error texts: the first invalid byte (checked before the length), else an
// odd length.
std::string HexError(absl::string_view hex) {
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      const unsigned char byte = static_cast<unsigned char>(c);
      if (absl::ascii_isprint(byte)) {
        return absl::StrFormat("encoding/hex: invalid byte: U+%04X '%c'", byte, c);
      }
      return absl::StrFormat("encoding/hex: invalid byte: U+%04X", byte);
    }
  }
  return "encoding/hex: odd length hex string";
}

bool DecodeHex(absl::string_view hex, std::string* out) {
  return crypto::HexDecode(hex, "hex", out).ok();
}

// Gonka's ActiveParticipantsFullKey(epoch) (x/inference/types/key_activeparticipants.go):
// "ActiveParticipants/value/", the epoch as 8 big-endian bytes, "/".
std::string ActiveParticipantsKey(uint64_t epoch) {
  std::string key = "ActiveParticipants/value/";
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((epoch >> shift) & 0xff));
  }
  key.push_back('/');
  return key;
}

// Go's http.Error: the text and a newline, as text/plain.
net::HttpResponse TextError(int status, absl::string_view message) {
  net::HttpResponse response = net::HttpResponse::Text(status, absl::StrCat(message, "\n"));
  response.headers.Set("X-Content-Type-Options", "nosniff");
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

}  // namespace

net::HttpResponse ServeVerifyProof(const net::HttpRequest& request) {
  std::optional<ProofRequest> parsed = ParseRequest(request.body);
  if (!parsed.has_value()) return TextError(400, "Error decoding request");
  std::string app_hash, value;
  if (!DecodeHex(parsed->app_hash_hex, &app_hash)) {
    return TextError(400, HexError(parsed->app_hash_hex));
  }
  if (!DecodeHex(parsed->value_hex, &value)) return TextError(400, HexError(parsed->value_hex));
  // Gonka converts the int64 epoch to uint64 (a negative one wraps) before building the key.
  const std::string keypath =
      "/inference/" +
      chain::PathEscape(ActiveParticipantsKey(static_cast<uint64_t>(parsed->epoch)));
  absl::Status verified = chain::VerifyProofOps(parsed->ops, app_hash, keypath, value);
  if (!verified.ok()) return TextError(500, verified.message());
  net::HttpResponse response = net::HttpResponse::Text(200, "");
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

}  // namespace cache
}  // namespace gonka
