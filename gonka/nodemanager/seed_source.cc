#include "gonka/nodemanager/seed_source.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/secret_file.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/secp256k1.h"
#include "gonka/net/http_client.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

// A string field of signerd's answer ("" when absent or not a string).
std::string Field(simdjson::dom::object& object, const char* name) {
  std::string_view value;
  if (object[name].get(value) != simdjson::SUCCESS) return "";
  return std::string(value);
}

}  // namespace

absl::StatusOr<signer::SeedInfo> LocalSeedSource::Seed(uint64_t epoch) {
  return signer::GenerateSeed(*key_, epoch);
}

absl::StatusOr<std::string> ParsePublicKey(absl::string_view text, absl::string_view what) {
  std::string bytes;
  text = absl::StripAsciiWhitespace(text);
  if (text.size() == 66) {
    if (!crypto::HexDecode(text, what, &bytes).ok()) bytes.clear();
  } else if (!absl::Base64Unescape(text, &bytes)) {
    bytes.clear();
  }
  if (bytes.size() != 33 || !crypto::PublicKey::FromBytes(bytes).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": want a compressed secp256k1 public key (33 bytes) as 66 hex "
                     "characters or base64"));
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<RemoteSeedSource>> RemoteSeedSource::Open(
    RemoteSeedSourceOptions options) {
  if (!absl::StartsWith(options.url, "http://") && !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(options.url_what, ": \"", options.url,
                                                   "\" is not an http:// or https:// URL"));
  }
  while (absl::EndsWith(options.url, "/")) options.url.pop_back();
  if (options.token_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.token_file_what, ": required with ", options.url_what));
  }
  absl::StatusOr<std::string> token = ReadSecretFile(options.token_file, options.token_file_what);
  if (!token.ok()) return absl::InvalidArgumentError(token.status().message());
  if (absl::StripAsciiWhitespace(*token).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(options.token_file_what, " is empty"));
  }
  if (options.public_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.public_key_what, ": required with ", options.url_what,
        " (the warm key's public key: every seed signerd returns is verified with it)"));
  }
  absl::StatusOr<std::string> public_key =
      ParsePublicKey(options.public_key, options.public_key_what);
  if (!public_key.ok()) return public_key.status();
  return std::unique_ptr<RemoteSeedSource>(
      new RemoteSeedSource(std::move(options), *std::move(public_key)));
}

RemoteSeedSource::RemoteSeedSource(RemoteSeedSourceOptions options, std::string public_key)
    : options_(std::move(options)),
      public_key_(std::move(public_key)),
      http_(std::make_unique<net::HttpClient>(net::HttpClientOptions{
          .name = "seed_signer", .default_timeout = options_.timeout, .tls = options_.tls})) {}

RemoteSeedSource::~RemoteSeedSource() = default;

std::string RemoteSeedSource::Describe() const { return absl::StrCat("signerd ", options_.url); }

absl::StatusOr<signer::SeedInfo> RemoteSeedSource::Seed(uint64_t epoch) {
  absl::StatusOr<std::string> token = ReadSecretFile(options_.token_file, options_.token_file_what);
  if (!token.ok()) return absl::UnavailableError(token.status().message());
  const std::string url = absl::StrCat(options_.url, "/v1/seed");
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.timeout);
  call.headers.Set("Authorization", absl::StrCat("Bearer ", absl::StripAsciiWhitespace(*token)));
  call.idempotent = true;  // the answer is a pure function of the epoch
  absl::StatusOr<net::HttpResponse> response =
      http_->Post(url, absl::StrCat("{\"epoch\":\"", epoch, "\"}"), "application/json", call);
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    // signerd's error bodies name the problem, never the token.
    std::string detail = response->body.substr(0, 300);
    std::string what = absl::StrCat("seed signer POST ", url, " epoch ", epoch, ": HTTP ",
                                    response->status, " ", detail);
    switch (response->status) {
      case 401:
      case 403:
        return absl::UnauthenticatedError(absl::StrCat(what, " (check ", options_.token_file_what,
                                                       " against signerd's --enqueue-token-file)"));
      case 400:
        return absl::InvalidArgumentError(what);
      case 429:
        return absl::ResourceExhaustedError(what);
      default:
        return absl::UnavailableError(what);
    }
  }
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(response->body).get(object) != simdjson::SUCCESS) {
    return absl::UnavailableError(
        absl::StrCat("seed signer ", url, " epoch ", epoch, ": answer is not a JSON object"));
  }
  signer::SeedInfo seed;
  std::string epoch_text = Field(object, "epoch"), seed_text = Field(object, "seed");
  seed.signature_hex = Field(object, "signature");
  uint64_t answered_epoch = 0;
  if (!absl::SimpleAtoi(epoch_text, &answered_epoch) || answered_epoch != epoch ||
      !absl::SimpleAtoi(seed_text, &seed.seed) || seed.seed <= 0 ||
      seed.signature_hex.size() != 128) {
    return absl::UnavailableError(absl::StrCat(
        "seed signer ", url, " epoch ", epoch,
        ": malformed answer (want {epoch: \"<asked>\", seed: \"<positive int64>\", signature: "
        "\"<128 hex>\"})"));
  }
  seed.epoch = epoch;
  if (absl::Status verified = signer::VerifySeed(seed, public_key_); !verified.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "seed signer ", url, " epoch ", epoch, ": the seed's signature does not verify with ",
        options_.public_key_what, " (", verified.message(),
        "); refusing it — is signerd running with the warm key of that public key?"));
  }
  return seed;
}

void SeedSourceFlags::Register(Config* config) {
  config->AddString("key-file", &key_file_, "",
                    "warm key (0600), used only for the epoch seed: with it (or "
                    "--seed-signer-url), seeds, weights, commits and claims go on chain through "
                    "the tx queue, recorded in the signer ledger (--pg-url); with neither, they "
                    "are skipped");
  config->AddString("seed-signer-url", &remote_.url, "",
                    "signerd base URL whose POST /v1/seed gives the epoch seed, so no key is "
                    "needed here (instead of --key-file)");
  config->AddString("seed-signer-token-file", &remote_.token_file, "",
                    "bearer token for --seed-signer-url (0600 file, the token alone; one of "
                    "signerd's --enqueue-token-file tokens)");
  config->AddString("seed-signer-public-key", &remote_.public_key, "",
                    "the warm key's public key (66 hex or base64): every seed from "
                    "--seed-signer-url is verified with it before it is stored or sent");
  config
      ->AddDuration("seed-signer-timeout", &remote_.timeout, absl::Seconds(5),
                    "deadline of one POST /v1/seed")
      .Positive();
  tls_.Register(config, "seed-signer", "--seed-signer-url");
}

absl::Status SeedSourceFlags::Validate() {
  if (!key_file_.empty() && !remote_.url.empty()) {
    return absl::InvalidArgumentError(
        "--key-file and --seed-signer-url: give one (the seed comes from a local key or signerd)");
  }
  if (remote_.url.empty() && (!remote_.token_file.empty() || !remote_.public_key.empty())) {
    return absl::InvalidArgumentError(
        "--seed-signer-token-file / --seed-signer-public-key need --seed-signer-url");
  }
  remote_.tls = tls_.options();
  if (remote_.url.empty()) return absl::OkStatus();
  return RemoteSeedSource::Open(remote_).status();
}

std::string SeedSourceFlags::Describe() const {
  if (!key_file_.empty()) return "local key";
  if (!remote_.url.empty()) return absl::StrCat("signerd ", remote_.url);
  return "none";
}

}  // namespace nodemanager
}  // namespace gonka
