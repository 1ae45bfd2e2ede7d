#include "gonka/nats/internal/connection.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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
  natsOptions* o = nullptr;
  natsStatus s = natsOptions_Create(&o);
  std::vector<const char*> urls;
  for (const std::string& u : options.urls) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, c->timeout_ms_);
  if (s == NATS_OK) s = natsOptions_SetName(o, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, c->reconnect_->initial_ms);
  if (s == NATS_OK) {
    s = natsOptions_SetCustomReconnectDelay(o, &ReconnectDelay, c->reconnect_.get());
  }
  // Publishes made while reconnecting are buffered (up to 8 MB) and sent on reconnect; their acks
  // then time out or arrive, so the caller retries with the same msg id and is deduplicated.
  if (s == NATS_OK) s = natsConnection_Connect(&c->nc_, o);
  absl::Status st = ToStatus(s, absl::StrCat("nats ", c->servers_, ": connect"));
  if (o != nullptr) natsOptions_Destroy(o);
  if (!st.ok()) return st;
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
}

std::string Connection::Where() const {
  char url[256] = {0};
  if (natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED &&
      natsConnection_GetConnectedUrl(nc_, url, sizeof(url)) == NATS_OK && url[0] != '\0') {
    return absl::StrCat("nats ", url);
  }
  return absl::StrCat("nats ", servers_, " (disconnected)");
}

}  // namespace internal
}  // namespace nats
}  // namespace gonka
