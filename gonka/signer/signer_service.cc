#include "gonka/signer/signer_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/backoff.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/signer/epoch_seed.h"
#include "gonka/signer/internal/chain_tx_body.h"
#include "simdjson.h"

namespace gonka {
namespace signer {
namespace {

using net::HttpRequest;
using net::HttpResponse;

// HTTP requests by credential ("-" before one is known) and result.
prometheus::Family<prometheus::Counter>& HttpCalls() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_http_requests_total")
                            .Help(
                                "Requests to signerd's HTTP routes by credential and result "
                                "(accepted, duplicate, invalid, type_not_allowed, "
                                "unauthenticated, forbidden, rate_limited, unavailable)")
                            .Register(metrics::Registry());
  return family;
}

// POST /v1/seed by credential and result (signed, invalid, unauthenticated, forbidden,
// rate_limited, unavailable).
prometheus::Family<prometheus::Counter>& SeedCalls() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_seed_requests_total")
                            .Help(
                                "POST /v1/seed (epoch seeds signed with the warm key) by "
                                "credential and result (signed, invalid, unauthenticated, "
                                "forbidden, rate_limited, unavailable)")
                            .Register(metrics::Registry());
  return family;
}

// The epoch of a POST /v1/seed body: exactly {"epoch": N}, N a non-negative integer (a JSON
// number or a decimal string, as Cosmos JSON writes 64-bit integers).
absl::StatusOr<uint64_t> ParseSeedRequest(absl::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body: not JSON; want {\"epoch\": <non-negative integer>}");
  }
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body: not a JSON object; want {\"epoch\": N}");
  }
  bool have_epoch = false;
  uint64_t epoch = 0;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key != "epoch") {
      return absl::InvalidArgumentError(absl::StrCat(
          "body: unknown field \"", absl::string_view(field.key.data(), field.key.size()),
          "\"; want only \"epoch\""));
    }
    have_epoch = true;
    std::string_view text;
    if (field.value.get(epoch) == simdjson::SUCCESS) continue;
    if (field.value.get(text) == simdjson::SUCCESS && !text.empty() && text.size() <= 20 &&
        absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &epoch) &&
        text.find_first_not_of("0123456789") == text.npos) {
      continue;
    }
    return absl::InvalidArgumentError("epoch: want a non-negative integer (uint64)");
  }
  if (!have_epoch) return absl::InvalidArgumentError("epoch: required");
  return epoch;
}

HttpResponse JsonError(int code, absl::string_view message) {
  return HttpResponse::Json(code, absl::StrCat("{\"error\":", JsonQuote(message), "}"));
}

}  // namespace

SignerService::SignerService(const crypto::SigningKey* key, nats::JetStream* js,
                             txqueue::TxQueue* queue, Ledger* ledger, chain::CometClient* comet,
                             SignerServiceOptions options)
    : key_(key),
      js_(js),
      queue_(queue),
      ledger_(ledger),
      comet_(comet),
      options_(std::move(options)),
      limiter_(options_.rate_limit),
      clock_(options_.signer.clock != nullptr ? options_.signer.clock : Clock::Real()) {
  options_.consumer.dead_letter_expired = false;  // only the signer knows when nothing can land
  if (options_.sequence_lease != nullptr) {
    sequencer_ =
        std::make_unique<Sequencer>(options_.sequence_lease, ledger_, comet_, key_->address());
    options_.signer.mode = SignerMode::kSequenced;
    options_.signer.sequencer = sequencer_.get();
  }
}

SignerService::~SignerService() { Stop(); }

absl::StatusOr<std::string> SignerService::Admit(const HttpRequest& request,
                                                 HttpResponse* refusal) {
  absl::StatusOr<std::string> who =
      options_.authenticate
          ? options_.authenticate(request)
          : absl::PermissionDeniedError(
                "HTTP enqueue is off: this signer takes requests only from the queue");
  if (!who.ok()) {
    const absl::StatusCode code = who.status().code();
    const int http = code == absl::StatusCode::kUnauthenticated    ? 401
                     : code == absl::StatusCode::kPermissionDenied ? 403
                                                                   : 503;
    *refusal = JsonError(http, who.status().message());
    if (http == 401) refusal->headers.Set("WWW-Authenticate", "Bearer");
    const char* result = http == 401   ? "unauthenticated"
                         : http == 403 ? "forbidden"
                                       : "unavailable";
    HttpCalls().Add({{"credential", "-"}, {"result", result}}).Increment();
    GONKA_LOG_INFO("signer http: request refused", {"path", request.path},
                   {"peer", request.remote_address}, {"status", http},
                   {"reason", std::string(who.status().message())});
    return who.status();
  }
  if (absl::Duration wait = limiter_.Take(*who); wait > absl::ZeroDuration()) {
    const int64_t retry_after =
        std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
    *refusal = JsonError(
        429, absl::StrCat("rate limit: credential \"", *who, "\" may send ",
                          options_.rate_limit.rate_per_second, " requests/s (burst ",
                          options_.rate_limit.burst, "); retry after ", retry_after, "s"));
    refusal->headers.Set("Retry-After", absl::StrCat(retry_after));
    HttpCalls().Add({{"credential", *who}, {"result", "rate_limited"}}).Increment();
    return absl::ResourceExhaustedError("rate limited");
  }
  return who;
}

void SignerService::AddRoutes(net::HttpServer* server) {
  server->Handle("POST", "/v1/txs", [this](const HttpRequest& request) {
    HttpResponse refusal;
    absl::StatusOr<std::string> who = Admit(request, &refusal);
    if (!who.ok()) return refusal;
    auto count = [&](absl::string_view result) {
      HttpCalls().Add({{"credential", *who}, {"result", std::string(result)}}).Increment();
    };
    absl::StatusOr<txqueue::ChainTx> tx = internal::ParseChainTx(request);
    if (!tx.ok()) {
      count("invalid");
      return JsonError(400, tx.status().message());
    }
    if (absl::Status allowed = options_.signer.policy.Check(*tx); !allowed.ok()) {
      count(txqueue::kReasonTypeNotAllowed);
      GONKA_LOG_WARN("signer http: message type refused", {"credential", *who},
                     {"key", tx->idempotency_key()}, {"reason", std::string(allowed.message())});
      JsonWriter w;
      w.BeginObject()
          .Key("error")
          .String(allowed.message())
          .Key("reason")
          .String(txqueue::kReasonTypeNotAllowed)
          .EndObject();
      return HttpResponse::Json(403, w.Take());
    }
    const std::string key = tx->idempotency_key();
    absl::StatusOr<txqueue::EnqueueResult> r = EnqueueRecorded(ledger_, queue_, std::move(*tx));
    if (!r.ok()) {
      const bool invalid = r.status().code() == absl::StatusCode::kInvalidArgument;
      count(invalid ? "invalid" : "unavailable");
      return JsonError(invalid ? 400 : 503, r.status().ToString());
    }
    count(r->duplicate ? "duplicate" : "accepted");
    JsonWriter w;
    w.BeginObject()
        .Key("idempotency_key")
        .String(key)
        .Key("duplicate")
        .Bool(r->duplicate)
        .Key("sequence")
        .String(absl::StrCat(r->sequence))
        .EndObject();
    return HttpResponse::Json(r->duplicate ? 200 : 202, w.Take());
  });
  // The epoch seed (epoch_seed.h): the warm key signs SHA-256 of 8-byte integers it derives
  // itself, never caller bytes, so the same credentials as /v1/txs suffice.
  server->Handle("POST", "/v1/seed", [this](const HttpRequest& request) {
    HttpResponse refusal;
    absl::StatusOr<std::string> who = Admit(request, &refusal);
    if (!who.ok()) {
      const absl::StatusCode code = who.status().code();
      const char* result = code == absl::StatusCode::kUnauthenticated     ? "unauthenticated"
                           : code == absl::StatusCode::kPermissionDenied  ? "forbidden"
                           : code == absl::StatusCode::kResourceExhausted ? "rate_limited"
                                                                          : "unavailable";
      SeedCalls().Add({{"credential", "-"}, {"result", result}}).Increment();
      return refusal;
    }
    absl::StatusOr<uint64_t> epoch = ParseSeedRequest(request.body);
    if (!epoch.ok()) {
      SeedCalls().Add({{"credential", *who}, {"result", "invalid"}}).Increment();
      return JsonError(400, epoch.status().message());
    }
    SeedInfo seed = GenerateSeed(*key_, *epoch);
    SeedCalls().Add({{"credential", *who}, {"result", "signed"}}).Increment();
    GONKA_LOG_INFO("signer http: epoch seed signed", {"credential", *who}, {"epoch", *epoch});
    JsonWriter w;
    w.BeginObject()
        .Key("epoch")
        .String(absl::StrCat(seed.epoch))
        .Key("seed")
        .String(absl::StrCat(seed.seed))
        .Key("signature")
        .String(seed.signature_hex)
        .Key("public_key")
        .String(crypto::HexEncode(key_->public_key().view()))
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  });
  server->Handle("GET", "/v1/ledger", [this](const HttpRequest& request) {
    HttpResponse refusal;
    if (!Admit(request, &refusal).ok()) return refusal;
    std::string key = request.QueryParam("key").value_or("");
    if (key.empty()) return JsonError(400, "query parameter key: required");
    absl::StatusOr<LedgerEntry> e = ledger_->Get(key);
    if (!e.ok()) {
      return JsonError(e.status().code() == absl::StatusCode::kNotFound ? 404 : 503,
                       e.status().ToString());
    }
    JsonWriter w;
    w.BeginObject()
        .Key("key")
        .String(key)
        .Key("state")
        .String(TxStateName(e->state))
        .Key("tx_hash")
        .String(e->tx_hash)
        .Key("height")
        .String(absl::StrCat(e->height))
        .Key("attempts")
        .Int(e->attempts)
        .Key("reenqueues")
        .Int(e->reenqueues)
        .Key("last_error")
        .String(e->last_error)
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  });
}

absl::Status SignerService::Start() {
  if (started_) return absl::FailedPreconditionError("SignerService: Start called twice");
  started_ = true;
  for (int i = 0; i < options_.workers; ++i) {
    absl::StatusOr<std::unique_ptr<txqueue::TxConsumer>> consumer;
    Backoff backoff({.initial = absl::Milliseconds(200), .max = absl::Seconds(3)});
    const absl::Time give_up = absl::Now() + options_.bind_retry_for;
    while (true) {
      consumer = txqueue::TxConsumer::Bind(js_, options_.consumer);
      const absl::StatusCode code = consumer.status().code();
      if (consumer.ok() ||
          (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) ||
          absl::Now() > give_up) {
        break;
      }
      GONKA_LOG_WARN("signer: binding the queue consumer failed; retrying",
                     {"error", consumer.status().ToString()});
      if (WaitOrStop(backoff.Next())) break;
    }
    if (!consumer.ok()) {
      Stop();
      return consumer.status();
    }
    consumers_.push_back(std::move(*consumer));
    signers_.push_back(
        std::make_unique<Signer>(key_, consumers_.back().get(), ledger_, comet_, options_.signer));
  }
  for (auto& signer : signers_) {
    threads_.emplace_back([this, s = signer.get()] { Loop(s); });
  }
  if (options_.reenqueue_after > absl::ZeroDuration()) {
    reconciler_ = std::make_unique<Reconciler>(
        ledger_, queue_, ReconcilerOptions{.stale_after = options_.reenqueue_after});
    reconciler_->Start();
  }
  if (options_.queue_metrics_interval > absl::ZeroDuration()) {
    threads_.emplace_back([this] { RefreshQueueGauges(); });
  }
  return absl::OkStatus();
}

void SignerService::Loop(Signer* signer) {
  while (!stopping()) {
    absl::StatusOr<bool> r = signer->RunOnce(options_.fetch_timeout);
    if (!r.ok()) {
      // Queue or ledger trouble: the request stays queued and is redelivered.
      GONKA_LOG_WARN("signer loop", {"error", r.status().ToString()});
      if (WaitOrStop(options_.fetch_timeout)) return;
    }
  }
}

void SignerService::RefreshQueueGauges() {
  do {
    queue_->StreamMessages().status().IgnoreError();  // gonka_txqueue_stream_messages
    queue_->Backlog().status().IgnoreError();         // gonka_txqueue_backlog
  } while (!WaitOrStop(options_.queue_metrics_interval));
}

bool SignerService::stopping() const {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

bool SignerService::WaitOrStop(absl::Duration d) {
  absl::MutexLock lock(&stop_mu_);
  return clock_->WaitUntil(&stop_mu_, &stopping_, clock_->Now() + d);
}

void SignerService::BeginStop() {
  absl::MutexLock lock(&stop_mu_);
  stopping_ = true;
}

void SignerService::Stop() {
  BeginStop();
  if (reconciler_ != nullptr) reconciler_->Stop();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace signer
}  // namespace gonka
