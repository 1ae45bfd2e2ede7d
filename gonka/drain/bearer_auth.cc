#include "gonka/drain/bearer_auth.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/log.h"

namespace gonka {
namespace {

constexpr size_t kMinTokenLength = 16;

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

BearerAuth::BearerAuth(BearerAuthOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

absl::StatusOr<std::unique_ptr<BearerAuth>> BearerAuth::Open(BearerAuthOptions options) {
  std::unique_ptr<BearerAuth> auth(new BearerAuth(std::move(options)));
  absl::StatusOr<FileStamp> stamp = StampFile(auth->options_.token_file);
  absl::StatusOr<std::vector<Credential>> loaded = auth->Load();
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock lock(&auth->mu_);
  auth->credentials_ = std::move(*loaded);
  if (stamp.ok()) auth->stamp_ = *stamp;
  auth->checked_ = auth->clock_->Now();
  return auth;
}

absl::StatusOr<std::vector<BearerAuth::Credential>> BearerAuth::Load() const {
  const std::string& path = options_.token_file;
  absl::StatusOr<std::string> content = ReadSecretFile(path, options_.what, 1 << 20);
  if (!content.ok()) return content.status();
  std::vector<Credential> out;
  std::set<std::string> names;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*content, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    std::string name;
    absl::string_view token;
    if (fields.size() == 1) {
      name = absl::StrCat("token-", line_no);
      token = fields[0];
    } else if (fields.size() == 2) {
      name = std::string(fields[0]);
      token = fields[1];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(options_.what, " ", path, " line ", line_no,
                                                     ": want \"<name> <token>\" or \"<token>\""));
    }
    if (!ValidName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(options_.what, " ", path, " line ", line_no,
                                                     ": name must be [A-Za-z0-9._-], 1-64 chars"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(options_.what, " ", path, " line ", line_no,
                                                     ": name \"", name, "\" appears twice"));
    }
    if (token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.what, " ", path, " line ", line_no, ": the token of \"", name,
                       "\" has ", token.size(), " characters; want at least ", kMinTokenLength,
                       " (e.g. openssl rand -hex 32)"));
    }
    out.push_back({name, crypto::Sha256(token)});
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.what, " ", path, ": no tokens (one \"<name> <token>\" per line)"));
  }
  return out;
}

void BearerAuth::MaybeReload() {
  const absl::Time now = clock_->Now();
  if (now - checked_ < options_.reload_interval) return;
  checked_ = now;
  absl::StatusOr<FileStamp> stamp = StampFile(options_.token_file);
  if (stamp.ok() && *stamp == stamp_ && load_error_.ok()) return;
  if (stamp.ok()) stamp_ = *stamp;
  absl::StatusOr<std::vector<Credential>> loaded =
      stamp.ok() ? Load() : absl::StatusOr<std::vector<Credential>>(stamp.status());
  if (!loaded.ok()) {
    if (load_error_.message() != loaded.status().message()) {
      GONKA_LOG_ERROR("token file cannot be loaded: refusing every request until it is fixed",
                      {"file", options_.token_file}, {"error", loaded.status()});
    }
    load_error_ = loaded.status();
    credentials_.clear();
    return;
  }
  if (!load_error_.ok() || loaded->size() != credentials_.size()) {
    GONKA_LOG_INFO("token file reloaded", {"file", options_.token_file},
                   {"credentials", loaded->size()});
  }
  load_error_ = absl::OkStatus();
  credentials_ = std::move(*loaded);
}

absl::StatusOr<std::string> BearerAuth::Authenticate(absl::string_view authorization) {
  absl::string_view header = absl::StripAsciiWhitespace(authorization);
  if (header.empty()) return absl::UnauthenticatedError("missing bearer token");
  absl::string_view token = header;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return absl::UnauthenticatedError("malformed Authorization header (want: Bearer <token>)");
  }
  token = absl::StripAsciiWhitespace(token);
  const crypto::Sha256Digest presented = crypto::Sha256(token);
  const absl::string_view p(reinterpret_cast<const char*>(presented.data()), presented.size());
  absl::MutexLock lock(&mu_);
  MaybeReload();
  if (!load_error_.ok()) {
    return absl::UnavailableError(absl::StrCat(options_.what, " cannot be loaded; see the log"));
  }
  const std::string* match = nullptr;
  for (const Credential& c : credentials_) {  // every credential, no early exit
    const absl::string_view d(reinterpret_cast<const char*>(c.digest.data()), c.digest.size());
    if (crypto::ConstantTimeEquals(p, d)) match = &c.name;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown or revoked token");
  return *match;
}

size_t BearerAuth::size() const {
  absl::MutexLock lock(&mu_);
  return credentials_.size();
}

HttpAuthenticator MakeHttpAuthenticator(std::shared_ptr<BearerAuth> auth, bool insecure_loopback,
                                        absl::string_view what, absl::string_view token_flag) {
  if (auth != nullptr) {
    return [auth](const net::HttpRequest& request) {
      return auth->Authenticate(request.headers.Get("Authorization"));
    };
  }
  if (insecure_loopback) {
    return
        [what = std::string(what)](const net::HttpRequest& request) -> absl::StatusOr<std::string> {
          if (IsLoopbackPeer(request.remote_address)) return std::string("insecure-loopback");
          return absl::PermissionDeniedError(absl::StrCat(
              what, " without a token is allowed from loopback only (insecure development mode)"));
        };
  }
  return [message = absl::StrCat(what, " is off: the daemon was started without ", token_flag)](
             const net::HttpRequest&) -> absl::StatusOr<std::string> {
    return absl::PermissionDeniedError(message);
  };
}

HttpAuthFlags::HttpAuthFlags(std::string prefix, std::string what)
    : prefix_(std::move(prefix)), what_(std::move(what)) {}

void HttpAuthFlags::Register(Config* config) {
  config->AddString(absl::StrCat(prefix_, "-token-file"), &token_file_, "",
                    absl::StrCat("bearer tokens for ", what_,
                                 ": one \"<name> <token>\" per line, "
                                 "mode 0600; re-read when it changes (empty: ",
                                 what_, " is off unless --", prefix_, "-insecure-loopback)"));
  config->AddBool(
      absl::StrCat(prefix_, "-insecure-loopback"), &insecure_loopback_, false,
      absl::StrCat("development only: ", what_, " without a token, from loopback peers only"));
  config->AddDouble(absl::StrCat(prefix_, "-rate"), &rate_, 50,
                    absl::StrCat(what_, " requests per second per credential (0 = unlimited)"));
  config
      ->AddInt(absl::StrCat(prefix_, "-burst"), &burst_, 100,
               absl::StrCat(what_, " requests a credential may send at once"))
      .Range(1, 1'000'000);
}

absl::StatusOr<HttpAuthenticator> HttpAuthFlags::Build() const {
  const std::string token_flag = absl::StrCat("--", prefix_, "-token-file");
  if (!token_file_.empty() && insecure_loopback_) {
    return absl::InvalidArgumentError(
        absl::StrCat(token_flag, " and --", prefix_, "-insecure-loopback exclude each other"));
  }
  std::shared_ptr<BearerAuth> auth;
  if (!token_file_.empty()) {
    absl::StatusOr<std::unique_ptr<BearerAuth>> opened =
        BearerAuth::Open({.token_file = token_file_, .what = token_flag});
    if (!opened.ok()) return opened.status();
    auth = std::move(*opened);
  }
  return MakeHttpAuthenticator(std::move(auth), insecure_loopback_, what_, token_flag);
}

RateLimiterOptions HttpAuthFlags::rate_limit() const {
  RateLimiterOptions o;
  o.rate_per_second = rate_;
  o.burst = static_cast<double>(burst_);
  return o;
}

std::string HttpAuthFlags::mode() const {
  if (!token_file_.empty()) return "tokens";
  return insecure_loopback_ ? "insecure-loopback" : "off";
}

bool IsLoopbackPeer(absl::string_view remote_address) {
  absl::string_view a = remote_address;
  if (absl::ConsumePrefix(&a, "[")) {  // [v6]:port
    a = a.substr(0, a.find(']'));
    return a == "::1" || absl::StartsWith(a, "::ffff:127.");
  }
  return absl::StartsWith(a, "127.") || absl::StartsWith(a, "::1") ||
         absl::StartsWith(a, "::ffff:127.");
}

}  // namespace gonka
