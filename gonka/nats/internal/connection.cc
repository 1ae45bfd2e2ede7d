#include "gonka/nats/internal/connection.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gonka/base/log.h"
#include "gonka/base/secret_file.h"
#include "gonka/crypto/ed25519.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace nats {
namespace internal {
namespace {

// nats.c calls this after every failed pass over the server list (attempts = 1, 2, ...).
int64_t ReconnectDelay(natsConnection*, int attempts, void* closure) {
  const auto* policy = static_cast<const ReconnectPolicy*>(closure);
  int doublings = std::min(std::max(attempts - 1, 0), 20);
  int64_t delay = std::min(policy->max_ms, policy->initial_ms << doublings);
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(delay) * jitter(rng)));
}

// A secret held in memory only as long as needed; wiped on destruction.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  ~Secret() { Wipe(); }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  Secret& operator=(Secret&& other) noexcept {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
    return *this;
  }
  const std::string& value() const { return value_; }
  void Wipe() {
    if (!value_.empty()) crypto::SecureWipe(value_.data(), value_.size());
    value_.clear();
  }

 private:
  std::string value_;
};

// A checked secret file's content (gonka/base/secret_file.h: 0600 or refused, naming the file
// and its mode, never the content), held as a Secret.
absl::StatusOr<Secret> ReadSecret(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> content = ReadSecretFile(path, absl::StrCat("nats ", what));
  if (!content.ok()) return content.status();
  return Secret(std::move(*content));
}

// --- nkeys (github.com/nats-io/nkeys): base32 (RFC 4648, no padding) of
// prefix byte(s) | key | CRC-16/XMODEM little-endian. Only the encoding lives here; the Ed25519
// public key is derived by OpenSSL. ---
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr uint8_t kPrefixSeed = 18 << 3;  // 'S'
constexpr uint8_t kPrefixUser = 20 << 3;  // 'U'

uint16_t Crc16(const uint8_t* data, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint16_t>(data[i]) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

bool Base32Decode(absl::string_view text, std::vector<uint8_t>* out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const char* pos = std::strchr(kBase32, c);
    if (c == '\0' || pos == nullptr) return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(pos - kBase32);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return true;
}

std::string Base32Encode(const std::vector<uint8_t>& data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kBase32[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

}  // namespace

absl::StatusOr<std::string> NkeyUserPublicKeyFromSeed(absl::string_view seed_text) {
  seed_text = absl::StripAsciiWhitespace(seed_text);
  std::vector<uint8_t> raw;
  raw.reserve(40);
  const absl::Status bad = absl::InvalidArgumentError("not a NATS user nkey seed (SU...)");
  if (!Base32Decode(seed_text, &raw) || raw.size() != 2 + 32 + 2) {
    crypto::SecureWipe(raw.data(), raw.size());
    return bad;
  }
  uint16_t crc = static_cast<uint16_t>(raw[34] | (raw[35] << 8));
  uint8_t kind = static_cast<uint8_t>(((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3));
  if (Crc16(raw.data(), 34) != crc || (raw[0] & 0xf8) != kPrefixSeed || kind != kPrefixUser) {
    crypto::SecureWipe(raw.data(), raw.size());
    return bad;
  }
  absl::StatusOr<crypto::Ed25519PublicKey> key =
      crypto::Ed25519PublicKeyFromSeed(absl::MakeConstSpan(raw.data() + 2, 32));
  crypto::SecureWipe(raw.data(), raw.size());
  if (!key.ok()) return bad;
  std::vector<uint8_t> pub(1 + 32 + 2);
  std::copy(key->begin(), key->end(), pub.begin() + 1);
  pub[0] = kPrefixUser;
  uint16_t pub_crc = Crc16(pub.data(), 33);
  pub[33] = static_cast<uint8_t>(pub_crc & 0xff);
  pub[34] = static_cast<uint8_t>(pub_crc >> 8);
  return Base32Encode(pub);
}

namespace {

// Host part of "nats://host:port" / "tls://[::1]:port" / "host:port".
std::string UrlHost(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme != absl::string_view::npos) url.remove_prefix(scheme + 3);
  size_t slash = url.find('/');
  if (slash != absl::string_view::npos) url = url.substr(0, slash);
  if (absl::StartsWith(url, "[")) {
    size_t close = url.find(']');
    return std::string(url.substr(1, close == absl::string_view::npos ? url.size() : close - 1));
  }
  size_t colon = url.rfind(':');
  return std::string(colon == absl::string_view::npos ? url : url.substr(0, colon));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The name to check in the server certificate: tls_server_name, else the one DNS host all URLs
// share ("" when they differ or are IP literals: then only the chain is verified).
std::string ExpectedServerName(const NatsOptions& options) {
  if (!options.tls_server_name.empty()) return options.tls_server_name;
  std::string host;
  for (const std::string& url : options.urls) {
    std::string h = UrlHost(url);
    if (h.empty() || IsIpLiteral(h) || (!host.empty() && h != host)) return "";
    host = h;
  }
  return host;
}

bool WantsTls(const NatsOptions& options) {
  if (options.tls || !options.tls_ca_file.empty() || !options.tls_cert_file.empty()) return true;
  for (const std::string& url : options.urls) {
    if (absl::StartsWith(url, "tls://")) return true;
  }
  return false;
}

// Who we tried to be, for error messages (never a secret).
std::string Identity(const NatsOptions& options, const std::string& nkey_public) {
  if (!options.password_file.empty()) {
    return options.user.empty() ? absl::StrCat("user from ", options.password_file)
                                : absl::StrCat("user \"", options.user, "\"");
  }
  if (!options.token_file.empty()) return absl::StrCat("token from ", options.token_file);
  if (!options.nkey_seed_file.empty()) return absl::StrCat("nkey ", nkey_public);
  if (!options.creds_file.empty()) return absl::StrCat("creds ", options.creds_file);
  return "anonymous";
}

// Where asynchronous errors go, by id. nats.c may call the error handler after the Connection is
// gone (its callback thread holds the natsConnection, not us), so the handler's closure is an id
// looked up here rather than a pointer; a Connection removes its entry when destroyed.
ABSL_CONST_INIT absl::Mutex sinks_mu(absl::kConstInit);
std::map<uintptr_t, std::weak_ptr<AsyncErrors>>& Sinks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sinks_mu) {
  static auto* sinks = new std::map<uintptr_t, std::weak_ptr<AsyncErrors>>();
  return *sinks;
}
uintptr_t AddSink(std::weak_ptr<AsyncErrors> sink) {
  static uintptr_t next_id = 0;
  absl::MutexLock lock(&sinks_mu);
  Sinks()[++next_id] = std::move(sink);
  return next_id;
}
std::shared_ptr<AsyncErrors> FindSink(uintptr_t id) {
  absl::MutexLock lock(&sinks_mu);
  auto it = Sinks().find(id);
  return it == Sinks().end() ? nullptr : it->second.lock();
}

// nats.c calls this for asynchronous server errors (permission violations, slow consumer).
void OnAsyncError(natsConnection* nc, natsSubscription*, natsStatus err, void* closure) {
  std::shared_ptr<AsyncErrors> sink = FindSink(reinterpret_cast<uintptr_t>(closure));
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  std::string message = text != nullptr && *text != '\0' ? text : natsStatus_GetText(err);
  GONKA_LOG_WARN("nats server error", {"error", message});
  if (sink != nullptr) {
    absl::MutexLock lock(&sink->mu);
    sink->last = message;
    sink->at = absl::Now();
  }
}

absl::Status ApplyCredentialsAndTls(const NatsOptions& options, natsOptions* o,
                                    std::string* nkey_public) {
  std::vector<std::string> methods;
  if (!options.password_file.empty()) methods.push_back("password_file");
  if (!options.token_file.empty()) methods.push_back("token_file");
  if (!options.nkey_seed_file.empty()) methods.push_back("nkey_seed_file");
  if (!options.creds_file.empty()) methods.push_back("creds_file");
  if (methods.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("nats: more than one authentication method: ",
                                                   absl::StrJoin(methods, " and ")));
  }
  if (!options.user.empty() && options.password_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("nats: user \"", options.user, "\" given without a password file"));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "nats: a TLS client certificate needs both a certificate file and a key file");
  }
  natsStatus s = NATS_OK;
  if (!options.password_file.empty()) {
    absl::StatusOr<Secret> content = ReadSecret(options.password_file, "password file");
    if (!content.ok()) return content.status();
    std::string user = options.user;
    Secret password;
    if (user.empty()) {
      size_t colon = content->value().find(':');
      if (colon == std::string::npos || colon == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("nats password file ", options.password_file,
                         ": expected \"user:password\" (or give the user separately)"));
      }
      user = content->value().substr(0, colon);
      password = Secret(content->value().substr(colon + 1));
    } else {
      password = Secret(content->value());
    }
    s = natsOptions_SetUserInfo(o, user.c_str(), password.value().c_str());
  } else if (!options.token_file.empty()) {
    absl::StatusOr<Secret> token = ReadSecret(options.token_file, "token file");
    if (!token.ok()) return token.status();
    s = natsOptions_SetToken(o, token->value().c_str());
  } else if (!options.nkey_seed_file.empty()) {
    absl::StatusOr<Secret> seed = ReadSecret(options.nkey_seed_file, "nkey seed file");
    if (!seed.ok()) return seed.status();
    absl::StatusOr<std::string> pub = NkeyUserPublicKeyFromSeed(seed->value());
    if (!pub.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("nats nkey seed file ", options.nkey_seed_file,
                                                     ": ", pub.status().message()));
    }
    *nkey_public = *pub;
    s = natsOptions_SetNKeyFromSeed(o, pub->c_str(), options.nkey_seed_file.c_str());
  } else if (!options.creds_file.empty()) {
    absl::Status checked = CheckSecretFileMode(options.creds_file, "nats creds file");
    if (!checked.ok()) return checked;
    s = natsOptions_SetUserCredentialsFromFiles(o, options.creds_file.c_str(), nullptr);
  }
  if (s != NATS_OK) return ToStatus(s, "nats: credentials");

  if (!WantsTls(options)) return absl::OkStatus();
  s = natsOptions_SetSecure(o, true);
  if (s == NATS_OK && !options.tls_ca_file.empty()) {
    s = natsOptions_LoadCATrustedCertificates(o, options.tls_ca_file.c_str());
    if (s != NATS_OK) return ToStatus(s, absl::StrCat("nats: TLS CA file ", options.tls_ca_file));
  }
  if (s == NATS_OK && !options.tls_cert_file.empty()) {
    absl::Status checked = CheckSecretFileMode(options.tls_key_file, "nats TLS key file");
    if (!checked.ok()) return checked;
    s = natsOptions_LoadCertificatesChain(o, options.tls_cert_file.c_str(),
                                          options.tls_key_file.c_str());
    if (s != NATS_OK) {
      return ToStatus(s, absl::StrCat("nats: TLS client certificate ", options.tls_cert_file));
    }
  }
  const std::string server_name = ExpectedServerName(options);
  if (s == NATS_OK && !server_name.empty()) {
    s = natsOptions_SetExpectedHostname(o, server_name.c_str());
  }
  if (s != NATS_OK) return ToStatus(s, "nats: TLS options");
  return absl::OkStatus();
}

// A failed first connect, in words an operator can act on.
absl::Status ConnectError(natsStatus s, const NatsOptions& options, const std::string& servers,
                          const std::string& identity) {
  std::string text = LastError(s);
  const std::string lower = absl::AsciiStrToLower(text);
  if (s == NATS_CONNECTION_AUTH_FAILED || absl::StrContains(lower, "authorization")) {
    return absl::PermissionDeniedError(
        absl::StrCat("nats: authorization violation connecting to ", servers, " (", identity, ")"));
  }
  if (s == NATS_SECURE_CONNECTION_REQUIRED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nats: ", servers, " requires TLS: use tls:// URLs and a CA file (", text, ")"));
  }
  if (s == NATS_SECURE_CONNECTION_WANTED) {
    return absl::FailedPreconditionError(
        absl::StrCat("nats: TLS is configured but ", servers, " does not offer it (", text, ")"));
  }
  if (s == NATS_SSL_ERROR || absl::StrContains(lower, "ssl") ||
      absl::StrContains(lower, "certificate")) {
    std::string server_name = ExpectedServerName(options);
    return absl::UnavailableError(
        absl::StrCat("nats: TLS handshake with ", servers, " failed: ", text, " (CA file ",
                     options.tls_ca_file.empty() ? "system" : options.tls_ca_file,
                     ", expected server name ", server_name.empty() ? "none" : server_name, ")"));
  }
  return ToStatus(s, absl::StrCat("nats ", servers, ": connect (", identity, ")"));
}

}  // namespace

std::string LastError(natsStatus s) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(s);
}

absl::Status ToStatus(natsStatus s, const std::string& what, jsErrCode code) {
  if (s == NATS_OK) return absl::OkStatus();
  std::string text = LastError(s);
  std::string msg = absl::StrCat(what, ": ", text);
  if (code != 0) absl::StrAppend(&msg, " (JetStream error ", static_cast<int>(code), ")");
  if (absl::StrContains(text, "wrong last sequence") || absl::StrContains(text, "key exists")) {
    return absl::FailedPreconditionError(msg);
  }
  if (s == NATS_TIMEOUT) return absl::DeadlineExceededError(msg);
  if (s == NATS_NOT_FOUND) return absl::NotFoundError(msg);
  return absl::UnavailableError(msg);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const NatsOptions& options) {
  if (options.urls.empty()) return absl::InvalidArgumentError("nats urls: empty");
  std::unique_ptr<Connection> c(new Connection());
  c->servers_ = absl::StrJoin(options.urls, ",");
  c->timeout_ms_ = std::max<int64_t>(1, absl::ToInt64Milliseconds(options.timeout));
  c->reconnect_ = std::make_unique<ReconnectPolicy>();
  c->reconnect_->initial_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options.reconnect_initial));
  c->reconnect_->max_ms = std::max<int64_t>(c->reconnect_->initial_ms,
                                            absl::ToInt64Milliseconds(options.reconnect_max));
  c->async_errors_ = std::make_shared<AsyncErrors>();
  c->async_error_window_ = std::max(absl::Seconds(5), 2 * options.timeout);
  natsOptions* o = nullptr;
  natsStatus s = natsOptions_Create(&o);
  if (s != NATS_OK) return ToStatus(s, "nats: options");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> owned_options(o, &natsOptions_Destroy);
  std::vector<const char*> urls;
  for (const std::string& u : options.urls) urls.push_back(u.c_str());
  s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, c->timeout_ms_);
  if (s == NATS_OK) s = natsOptions_SetName(o, options.name.c_str());
  if (s == NATS_OK && !options.inbox_prefix.empty()) {
    s = natsOptions_SetCustomInboxPrefix(o, options.inbox_prefix.c_str());
  }
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, c->reconnect_->initial_ms);
  if (s == NATS_OK) {
    s = natsOptions_SetCustomReconnectDelay(o, &ReconnectDelay, c->reconnect_.get());
  }
  if (s == NATS_OK) {
    c->error_sink_id_ = AddSink(c->async_errors_);
    s = natsOptions_SetErrorHandler(o, &OnAsyncError, reinterpret_cast<void*>(c->error_sink_id_));
  }
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("nats ", c->servers_, ": options"));
  std::string nkey_public;
  absl::Status credentials = ApplyCredentialsAndTls(options, o, &nkey_public);
  if (!credentials.ok()) return credentials;
  // Publishes made while reconnecting are buffered (up to 8 MB) and sent on reconnect; their acks
  // then time out or arrive, so the caller retries with the same msg id and is deduplicated.
  s = natsConnection_Connect(&c->nc_, o);
  if (s != NATS_OK) {
    return ConnectError(s, options, c->servers_, Identity(options, nkey_public));
  }
  owned_options.reset();
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = c->timeout_ms_;
  s = natsConnection_JetStream(&c->js_, c->nc_, &jo);
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("nats ", c->servers_, ": JetStream context"));
  return c;
}

Connection::~Connection() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
  if (error_sink_id_ != 0) {
    absl::MutexLock lock(&sinks_mu);
    Sinks().erase(error_sink_id_);
  }
}

std::string Connection::Where() const {
  char url[256] = {0};
  if (natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED &&
      natsConnection_GetConnectedUrl(nc_, url, sizeof(url)) == NATS_OK && url[0] != '\0') {
    return absl::StrCat("nats ", url, RecentServerError());
  }
  return absl::StrCat("nats ", servers_, " (disconnected)", RecentServerError());
}

std::string Connection::RecentServerError() const {
  absl::MutexLock lock(&async_errors_->mu);
  if (async_errors_->last.empty() || absl::Now() - async_errors_->at > async_error_window_) {
    return "";
  }
  return absl::StrCat(" (server error ", absl::FormatDuration(absl::Now() - async_errors_->at),
                      " ago: ", async_errors_->last, ")");
}

}  // namespace internal
}  // namespace nats
}  // namespace gonka
