#include "gonka/signer/signer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/status_macros.h"
#include "gonka/proto/cosmos/tx/v1beta1/service.pb.h"
#include "google/protobuf/util/time_util.h"

namespace gonka {
namespace signer {
namespace {

prometheus::Family<prometheus::Counter>& Outcomes() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_requests_total")
                            .Help("Requests processed by the signer, by outcome")
                            .Register(metrics::Registry());
  return family;
}

// Txs signed (and recorded in the ledger before broadcast), by kind: single or batch.
prometheus::Family<prometheus::Counter>& Signed() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_txs_signed_total")
                            .Help("Transactions signed and recorded before broadcast")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Retries() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_retries_total")
                            .Help("Requests handed back for redelivery, by reason")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Gauge& InFlight() {
  static auto& gauge = prometheus::BuildGauge()
                           .Name("gonka_signer_in_flight")
                           .Help(
                               "Deliveries the signer is processing (signing, broadcasting or "
                               "observing their tx)")
                           .Register(metrics::Registry())
                           .Add({});
  return gauge;
}

// Counts `n` deliveries in gonka_signer_in_flight while alive.
class InFlightGuard {
 public:
  explicit InFlightGuard(size_t n) : n_(static_cast<double>(n)) { InFlight().Increment(n_); }
  ~InFlightGuard() { InFlight().Decrement(n_); }
  InFlightGuard(const InFlightGuard&) = delete;
  InFlightGuard& operator=(const InFlightGuard&) = delete;

 private:
  double n_;
};

absl::Time DeadlineOf(const txqueue::ChainTx& tx) {
  if (!tx.has_deadline()) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(tx.deadline().seconds()) + absl::Nanoseconds(tx.deadline().nanos());
}

absl::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kIncluded:
      return "included";
    case Outcome::kSkipped:
      return "skipped";
    case Outcome::kDeadLettered:
      return "dead_lettered";
    case Outcome::kRetry:
      return "retry";
  }
  return "unknown";
}

// Unordered txs of one signer address are told apart by their timeout_timestamp (ADR-070: the
// nonce is signer + timeout). Process-wide so several Signers sharing a key never reuse one.
// Entries are pruned once they are in the past (the chain refuses such timeouts anyway).
absl::Mutex g_timeouts_mu(absl::kConstInit);
std::set<int64_t>* g_used_timeouts ABSL_GUARDED_BY(g_timeouts_mu) = nullptr;

// `ns`, or the nearest earlier nanosecond not handed out yet (earlier keeps it within a
// deadline).
int64_t ReserveTimeout(int64_t ns, int64_t now_ns) {
  absl::MutexLock lock(&g_timeouts_mu);
  if (g_used_timeouts == nullptr) g_used_timeouts = new std::set<int64_t>();
  g_used_timeouts->erase(g_used_timeouts->begin(), g_used_timeouts->lower_bound(now_ns));
  while (g_used_timeouts->count(ns) != 0) --ns;
  g_used_timeouts->insert(ns);
  return ns;
}

// Codes of the "sdk" codespace that a later attempt can overcome (docs/reference/protocol.md,
// "Error codes"): insufficient funds 5, out of gas 11, insufficient fee 13, tx in mempool cache
// 19, mempool full 20.
bool RetryableCode(const std::string& codespace, uint32_t code) {
  if (codespace != "sdk" && !codespace.empty()) return false;
  return code == 5 || code == 11 || code == 13 || code == 19 || code == 20;
}

}  // namespace

Signer::Signer(const crypto::SigningKey* key, txqueue::TxConsumer* consumer, Ledger* ledger,
               chain::CometClient* comet, SignerOptions options)
    : key_(key),
      consumer_(consumer),
      ledger_(ledger),
      comet_(comet),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {
  // Every reason appears in /metrics (at 0) from the start.
  for (const char* reason : kRetryReasons) Retries().Add({{"reason", reason}});
  InFlight();
}

absl::StatusOr<bool> Signer::RunOnce(absl::Duration fetch_timeout) {
  if (options_.mode == SignerMode::kSequenced) {
    if (options_.sequencer == nullptr) {
      return absl::FailedPreconditionError("signer: sequenced mode needs a sequencer");
    }
    // Not the sequence owner: leave the queue to the lease holder.
    if (!options_.sequencer->HoldsLease()) {
      clock_->SleepFor(fetch_timeout);
      return false;
    }
  }
  const int fetch = std::max(1, options_.max_batch_messages);
  ASSIGN_OR_RETURN(std::vector<txqueue::Delivery> batch, consumer_->Fetch(fetch, fetch_timeout));
  if (batch.size() > 1) {
    std::vector<Outcome> outcomes;
    absl::Status s = ProcessBatch(batch, &outcomes);
    if (!s.ok()) {
      GONKA_LOG_WARN("signer: batch left for redelivery", {"requests", batch.size()}, {"error", s});
      return s;
    }
    for (Outcome o : outcomes) {
      Outcomes().Add({{"outcome", std::string(OutcomeName(o))}}).Increment();
    }
    return true;
  }
  for (txqueue::Delivery& d : batch) {
    absl::StatusOr<Outcome> o = Process(d);
    if (!o.ok()) {
      GONKA_LOG_WARN("signer: request left for redelivery", {"key", d.key()},
                     {"error", o.status()});
      return o.status();
    }
    Outcomes().Add({{"outcome", std::string(OutcomeName(*o))}}).Increment();
  }
  return !batch.empty();
}

absl::Time Signer::ChooseTimeout(const txqueue::ChainTx& tx, absl::Time now) {
  absl::Time want = now + options_.tx_ttl;
  if (tx.has_deadline()) {
    want = std::min(want, absl::FromUnixSeconds(tx.deadline().seconds()) +
                              absl::Nanoseconds(tx.deadline().nanos()));
  }
  // Whole microseconds from the clock, the key's hash in the last three digits (signers in other
  // processes sharing the key rarely collide), never reused within this process.
  int64_t ns = absl::ToUnixMicros(want) * 1000 +
               static_cast<int64_t>(std::hash<std::string>()(tx.idempotency_key()) % 1000);
  if (ns > absl::ToUnixNanos(want)) ns -= 1000;  // stay within the deadline
  return absl::FromUnixNanos(ReserveTimeout(ns, absl::ToUnixNanos(now)));
}

absl::StatusOr<cosmos::SignedTx> Signer::Build(const txqueue::ChainTx& tx, const TxParams& params,
                                               uint64_t gas_limit) {
  cosmos::TxBuilder builder;
  for (const auto& any : tx.messages()) builder.AddAny(any);
  if (!options_.exec_granter.empty()) builder.WrapInExec(key_->address());
  builder.SetMemo(tx.memo())
      .SetFee({options_.fee_amount, gas_limit, "", options_.fee_granter})
      .SetChainId(options_.chain_id)
      .SetAccountNumber(options_.account_number);
  if (params.sequenced) {
    builder.SetSequence(params.sequence)
        .SetTimeoutHeight(static_cast<uint64_t>(params.timeout_height));
  } else {
    builder.SetUnordered(params.timeout);
  }
  return builder.Sign(*key_);
}

std::string Signer::ChainNotLive(const chain::CometStatus& status) {
  if (status.catching_up) {
    return absl::StrCat("node ", comet_->url(), " is catching up at height ", status.latest_height,
                        ": sending paused");
  }
  if (options_.halt_after > absl::ZeroDuration() &&
      clock_->Now() - status.latest_time > options_.halt_after) {
    return absl::StrCat("chain halted or node behind: latest block ", status.latest_height,
                        " is from ", absl::FormatTime(status.latest_time), ", older than ",
                        absl::FormatDuration(options_.halt_after), ": sending paused");
  }
  return "";
}

absl::StatusOr<Outcome> Signer::Process(txqueue::Delivery& d) {
  InFlightGuard in_flight(1);
  return ProcessOne(d);
}

absl::StatusOr<Outcome> Signer::ProcessOne(txqueue::Delivery& d) {
  if (options_.mode == SignerMode::kSequenced) return ProcessSequenced(d);
  const std::string& key = d.key();
  ASSIGN_OR_RETURN(LedgerEntry e, ledger_->Claim(key, d.message().data()));
  if (absl::Status why; Refused(d, e, &why)) return Refuse(d, why);
  // Two rounds at most: a concurrent signer may record a tx between our read and our write.
  for (int round = 0; round < 2; ++round) {
    switch (e.state) {
      case TxState::kIncluded:
      case TxState::kFailed:
        RETURN_IF_ERROR(consumer_->Ack(d));
        return Outcome::kSkipped;
      case TxState::kQueued: {
        absl::StatusOr<chain::CometStatus> status = comet_->Status();
        if (!status.ok()) {
          return Retry(d, "chain_unavailable", status.status().ToString(), options_.retry_delay);
        }
        if (std::string why = ChainNotLive(*status); !why.empty()) {
          return Retry(d, "chain_halted", why, options_.retry_delay);
        }
        absl::StatusOr<Outcome> o = SignAndSend(d, clock_->Now());
        if (o.ok() || o.status().code() != absl::StatusCode::kFailedPrecondition) return o;
        break;
      }
      case TxState::kSigned:
      case TxState::kBroadcast: {
        // Chain time first, then the lookup: "not found" is final only if the block time had
        // already passed the timeout before we looked.
        absl::StatusOr<chain::CometStatus> status = comet_->Status();
        if (!status.ok()) {
          return Retry(d, "chain_unavailable", status.status().ToString(), options_.retry_delay);
        }
        if (std::string why = ChainNotLive(*status); !why.empty()) {
          return Retry(d, "chain_halted", why, options_.retry_delay);
        }
        absl::StatusOr<chain::TxInfo> info = comet_->Tx(absl::HexStringToBytes(e.tx_hash));
        if (info.ok()) return Included({&d}, e, *info);
        if (info.status().code() != absl::StatusCode::kNotFound) {
          return Retry(d, "chain_unavailable", info.status().ToString(), options_.retry_delay);
        }
        // A tx recorded in sequenced mode (the mode was switched): its same bytes only.
        if (e.sequenced() || status->latest_time <= e.timeout) return SendAndObserve({&d}, e);
        GONKA_LOG_INFO("signer: recorded tx expired unincluded, signing a new one", {"key", key},
                       {"tx_hash", e.tx_hash}, {"attempts", e.attempts});
        absl::StatusOr<Outcome> o = SignAndSend(d, status->latest_time);
        if (o.ok() || o.status().code() != absl::StatusCode::kFailedPrecondition) return o;
        break;
      }
    }
    ASSIGN_OR_RETURN(e, ledger_->Get(key));
  }
  return Retry(d, "concurrent_update", "ledger entry changed concurrently",
               options_.observe_interval);
}

absl::StatusOr<Outcome> Signer::SignAndSend(txqueue::Delivery& d, absl::Time chain_now) {
  const absl::Time timeout = ChooseTimeout(d.tx(), clock_->Now());
  if (timeout <= clock_->Now()) {
    // Nothing of this key is in flight (no tx recorded, or the recorded one can no longer land).
    const std::string detail =
        absl::StrCat("deadline ", absl::FormatTime(timeout), " passed before inclusion");
    RETURN_IF_ERROR(consumer_->DeadLetter(d, txqueue::kReasonExpired, detail));
    RETURN_IF_ERROR(
        ledger_->MarkFailed(d.key(), absl::StrCat(txqueue::kReasonExpired, ": ", detail)));
    return Outcome::kDeadLettered;
  }
  TxParams params;
  params.timeout = timeout;
  absl::StatusOr<uint64_t> gas_limit = EstimateGas(d.tx(), params);
  if (!gas_limit.ok()) {
    if (gas_limit.status().code() == absl::StatusCode::kUnavailable) {
      return Retry(d, "simulate", std::string(gas_limit.status().message()), options_.retry_delay);
    }
    return Fail(d, std::string(gas_limit.status().message()));
  }
  absl::StatusOr<cosmos::SignedTx> signed_tx = Build(d.tx(), params, *gas_limit);
  if (!signed_tx.ok()) return Fail(d, absl::StrCat("build: ", signed_tx.status().message()));
  // FailedPrecondition here = another signer recorded a tx meanwhile; the caller re-reads.
  RETURN_IF_ERROR(
      ledger_->RecordSigned(d.key(), signed_tx->tx_raw, signed_tx->hash, timeout, chain_now));
  Signed().Add({{"kind", "single"}}).Increment();
  ASSIGN_OR_RETURN(LedgerEntry e, ledger_->Get(d.key()));
  return SendAndObserve({&d}, e);
}

absl::StatusOr<uint64_t> Signer::EstimateGas(const txqueue::ChainTx& tx, const TxParams& params) {
  if (options_.gas_adjustment <= 0) return options_.gas_limit;
  // Simulate with the cap as the limit (simulation ignores signatures and gas limits), then
  // sign for gas_used × adjustment.
  absl::StatusOr<cosmos::SignedTx> draft = Build(tx, params, options_.gas_limit);
  if (!draft.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("build: ", draft.status().message()));
  }
  ::cosmos::tx::v1beta1::SimulateRequest request;
  request.set_tx_bytes(draft->tx_raw);
  absl::StatusOr<chain::AbciQueryResponse> q =
      comet_->AbciQuery("/cosmos.tx.v1beta1.Service/Simulate", request.SerializeAsString());
  if (!q.ok()) return absl::UnavailableError(absl::StrCat("simulate: ", q.status().message()));
  if (q->code != 0) {
    std::string why = absl::StrCat("simulate ", q->codespace, " code ", q->code, ": ", q->log);
    if (params.sequenced && q->code == 32 && (q->codespace == "sdk" || q->codespace.empty())) {
      return absl::AbortedError(why);
    }
    if (RetryableCode(q->codespace, q->code)) return absl::UnavailableError(why);
    return absl::FailedPreconditionError(why);
  }
  ::cosmos::tx::v1beta1::SimulateResponse response;
  if (!response.ParseFromString(q->value)) {
    return absl::UnavailableError("simulate: undecodable SimulateResponse");
  }
  return std::min<uint64_t>(
      options_.gas_limit,
      static_cast<uint64_t>(std::ceil(static_cast<double>(response.gas_info().gas_used()) *
                                      options_.gas_adjustment)));
}

absl::StatusOr<std::string> Signer::SignedBytes(const LedgerEntry& e) {
  if (!e.signed_tx.empty()) return e.signed_tx;
  return ledger_->SignedTx(e.key, e.tx_hash);
}

std::vector<std::string> Signer::Keys(const Group& g) {
  std::vector<std::string> keys;
  keys.reserve(g.size());
  for (const txqueue::Delivery* d : g) keys.push_back(d->key());
  return keys;
}

absl::StatusOr<Outcome> Signer::NoSignedBytes(const Group& g, const absl::Status& why) {
  if (why.code() == absl::StatusCode::kFailedPrecondition) {
    return RetryAll(g, "concurrent_update", why.ToString(), options_.observe_interval);
  }
  return why;
}

absl::StatusOr<Outcome> Signer::SendAndObserve(const Group& g, const LedgerEntry& e) {
  // The recorded bytes (read from the ledger only when re-broadcasting an earlier attempt's tx).
  absl::StatusOr<std::string> bytes = SignedBytes(e);
  if (!bytes.ok()) return NoSignedBytes(g, bytes.status());
  absl::StatusOr<chain::BroadcastResponse> r = comet_->BroadcastTxSync(*bytes);
  if (!r.ok()) {
    // The same bytes are already in the mempool or the tx index: observe them.
    if (!absl::StrContains(r.status().message(), "already exists in cache")) {
      return RetryAll(g, "broadcast_error", absl::StrCat("broadcast: ", r.status().message()),
                      options_.retry_delay);
    }
  } else if (r->code == 0) {
    RETURN_IF_ERROR(ledger_->MarkBroadcastBatch(Keys(g), e.tx_hash));
  } else if (r->code == 18 && absl::StrContains(r->log, "already used timeout")) {
    // A replay of our own bytes (already included), or a timeout another tx of this key took:
    // observe; if it never shows up the timeout passes and a new tx is built.
  } else if (r->code == 42) {
    // The timeout passed before it reached a block: build a new tx once chain time shows it.
    return RetryAll(g, "expired_unincluded", absl::StrCat("checktx code 42: ", r->log),
                    options_.observe_interval);
  } else if (e.sequenced() && (r->code == 30 || r->code == 32)) {
    // A sequenced tx re-broadcast by an unordered signer: it can no longer land as it is.
    return RetryAll(g, r->code == 30 ? "expired_unincluded" : "sequence_mismatch",
                    absl::StrCat("checktx code ", r->code, ": ", r->log),
                    options_.observe_interval);
  } else if (RetryableCode(r->codespace, r->code)) {
    return RetryAll(g, "checktx_retryable", absl::StrCat("checktx code ", r->code, ": ", r->log),
                    options_.retry_delay);
  } else {
    return FailRecorded(g, e,
                        absl::StrCat("checktx ", r->codespace, " code ", r->code, ": ", r->log));
  }
  return Observe(g, e);
}

absl::StatusOr<Outcome> Signer::Observe(const Group& g, const LedgerEntry& e) {
  const std::string raw_hash = absl::HexStringToBytes(e.tx_hash);
  const absl::Time give_up = clock_->Now() + options_.observe_budget;
  absl::Time next_progress = clock_->Now() + options_.observe_budget / 3;
  while (true) {
    absl::StatusOr<chain::CometStatus> status = comet_->Status();
    absl::StatusOr<chain::TxInfo> info = comet_->Tx(raw_hash);
    if (info.ok()) return Included(g, e, *info);
    // Status was read before the lookup: "not found" after the timeout is final.
    const bool expired =
        status.ok() &&
        (e.sequenced() ? e.timeout_height > 0 && status->latest_height > e.timeout_height
                       : status->latest_time > e.timeout);
    if (expired && info.status().code() == absl::StatusCode::kNotFound) {
      // Provably not included: the next delivery signs a new tx.
      return RetryAll(g, "expired_unincluded",
                      absl::StrCat("tx ", e.tx_hash, " expired unincluded"),
                      options_.observe_interval);
    }
    absl::Time now = clock_->Now();
    if (now >= give_up) {
      return RetryAll(g, "not_included_yet", absl::StrCat("tx ", e.tx_hash, " not included yet"),
                      options_.observe_interval);
    }
    if (now >= next_progress) {
      for (txqueue::Delivery* d : g) consumer_->InProgress(*d).IgnoreError();
      next_progress = now + options_.observe_budget / 3;
    }
    clock_->SleepFor(options_.observe_interval);
  }
}

absl::StatusOr<Outcome> Signer::Included(const Group& g, const LedgerEntry& e,
                                         const chain::TxInfo& info) {
  if (info.code != 0) {
    const std::string detail =
        absl::StrCat("deliver ", info.codespace, " code ", info.code, " in tx ", e.tx_hash,
                     " at height ", info.height, ": ", info.log);
    if ((info.codespace == "sdk" || info.codespace.empty()) &&
        (info.code == 42 || info.code == 30)) {
      // In a block, but refused by the ante handler because its timeout (timestamp 42, height
      // 30) passed before that block: none of it took effect, so it can never land and a new tx
      // for the same requests can. Not a permanent rejection.
      for (txqueue::Delivery* d : g) RETURN_IF_ERROR(ledger_->Requeue(d->key(), e.tx_hash, detail));
      return RetryAll(g, "expired_unincluded", detail, options_.observe_interval);
    }
    // In a block but failed (e.g. authz not granted): the chain will refuse it again.
    return FailRecorded(g, e, detail);
  }
  RETURN_IF_ERROR(ledger_->MarkIncludedBatch(Keys(g), e.tx_hash, info.height));
  // The ledger holds every key as included, so a lost ack only means a redelivery that the
  // ledger answers (ack and skip). All but the last ack are sent without waiting; the last waits
  // for the server, which handles one connection's messages in order, so once it answers every
  // earlier ack of the group was processed too.
  for (size_t i = 0; i + 1 < g.size(); ++i) {
    RETURN_IF_ERROR(Annotate(g[i]->message().Ack(), absl::StrCat("ack ", g[i]->key())));
  }
  if (!g.empty()) RETURN_IF_ERROR(consumer_->Ack(*g.back()));
  return Outcome::kIncluded;
}

absl::StatusOr<Outcome> Signer::FailRecorded(const Group& g, const LedgerEntry& e,
                                             const std::string& detail) {
  if (e.batch_size > 1) {
    // A batch failed as a whole (a Cosmos tx is atomic): the tx can never land, so each request
    // goes back to queued and, having attempts > 0, is sent alone next time. The bad message is
    // then dead-lettered by itself.
    for (txqueue::Delivery* d : g) {
      RETURN_IF_ERROR(
          ledger_->Requeue(d->key(), e.tx_hash, absl::StrCat("batch tx failed: ", detail)));
    }
    return RetryAll(g, "batch_split", absl::StrCat("batch tx failed, splitting: ", detail),
                    absl::ZeroDuration());
  }
  Outcome last = Outcome::kDeadLettered;
  for (txqueue::Delivery* d : g) {
    ASSIGN_OR_RETURN(last, Fail(*d, detail));
  }
  return last;
}

absl::StatusOr<Outcome> Signer::Fail(txqueue::Delivery& d, const std::string& detail) {
  // Dead letter first: if we crash before the ledger write, the request is still on
  // chain.tx.dead (never silently dropped).
  RETURN_IF_ERROR(consumer_->DeadLetter(d, txqueue::kReasonRejected, detail));
  RETURN_IF_ERROR(
      ledger_->MarkFailed(d.key(), absl::StrCat(txqueue::kReasonRejected, ": ", detail)));
  return Outcome::kDeadLettered;
}

bool Signer::Refused(const txqueue::Delivery& d, const LedgerEntry& e, absl::Status* why) const {
  if (e.state != TxState::kQueued) return false;  // settled, or a tx is recorded already
  *why = options_.policy.Check(d.tx());
  return !why->ok();
}

absl::StatusOr<Outcome> Signer::Refuse(txqueue::Delivery& d, const absl::Status& why) {
  const std::string detail(why.message());
  GONKA_LOG_WARN("signer: request refused by the message policy", {"key", d.key()},
                 {"reason", std::string(why.message())});
  // Dead letter first (as Fail): a crash before the ledger write leaves it on chain.tx.dead.
  RETURN_IF_ERROR(consumer_->DeadLetter(d, txqueue::kReasonTypeNotAllowed, detail));
  RETURN_IF_ERROR(
      ledger_->MarkFailed(d.key(), absl::StrCat(txqueue::kReasonTypeNotAllowed, ": ", detail)));
  return Outcome::kDeadLettered;
}

absl::StatusOr<Outcome> Signer::Retry(txqueue::Delivery& d, absl::string_view reason,
                                      const std::string& why, absl::Duration delay) {
  Retries().Add({{"reason", std::string(reason)}}).Increment();
  ledger_->RecordError(d.key(), why).IgnoreError();
  RETURN_IF_ERROR(consumer_->Retry(d, delay, why));
  return Outcome::kRetry;
}

absl::StatusOr<Outcome> Signer::RetryAll(const Group& g, absl::string_view reason,
                                         const std::string& why, absl::Duration delay) {
  for (txqueue::Delivery* d : g) RETURN_IF_ERROR(Retry(*d, reason, why, delay).status());
  return Outcome::kRetry;
}

absl::Status Signer::ProcessBatch(std::vector<txqueue::Delivery>& batch,
                                  std::vector<Outcome>* outcomes) {
  InFlightGuard in_flight(batch.size());
  if (options_.mode == SignerMode::kSequenced && options_.sequencer == nullptr) {
    return absl::FailedPreconditionError("signer: sequenced mode needs a sequencer");
  }
  return ProcessBatchImpl(batch, outcomes);
}

absl::Status Signer::ProcessBatchImpl(std::vector<txqueue::Delivery>& batch,
                                      std::vector<Outcome>* outcomes) {
  outcomes->assign(batch.size(), Outcome::kRetry);
  // Only fresh requests (queued, never signed) share a tx; anything with history goes alone.
  // Requests with a memo go alone (a tx has one memo). A key twice in one fetch (a copy
  // republished beyond the dedupe window) must not put its message twice into one tx: the second
  // copy is processed after the batch, when the ledger knows the first.
  // Every key is claimed in one ledger transaction.
  // The ledger keeps each request as delivered (Reconciler re-enqueues it if the queue loses it).
  std::vector<std::string> keys, requests;
  keys.reserve(batch.size());
  requests.reserve(batch.size());
  for (txqueue::Delivery& d : batch) {
    keys.push_back(d.key());
    requests.push_back(d.message().data());
  }
  ASSIGN_OR_RETURN(std::vector<LedgerEntry> claimed, ledger_->ClaimBatch(keys, requests));
  std::vector<size_t> fresh, later;
  std::set<std::string> fresh_keys;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (fresh_keys.count(batch[i].key()) != 0) {
      later.push_back(i);
      continue;
    }
    const LedgerEntry& e = claimed[i];
    if (absl::Status why; Refused(batch[i], e, &why)) {
      ASSIGN_OR_RETURN((*outcomes)[i], Refuse(batch[i], why));
      continue;
    }
    if (e.state == TxState::kQueued && e.attempts == 0 && batch[i].tx().memo().empty()) {
      fresh.push_back(i);
      fresh_keys.insert(batch[i].key());
    } else {
      ASSIGN_OR_RETURN((*outcomes)[i], ProcessOne(batch[i]));
    }
  }
  // Chunks within max_batch_messages / max_batch_bytes.
  size_t start = 0;
  while (start < fresh.size()) {
    size_t end = start;
    size_t messages = 0, bytes = 0;
    while (end < fresh.size()) {
      const txqueue::ChainTx& tx = batch[fresh[end]].tx();
      size_t tx_bytes = tx.ByteSizeLong();
      if (end > start && (messages + tx.messages_size() > options_.max_batch_messages ||
                          bytes + tx_bytes > options_.max_batch_bytes)) {
        break;
      }
      messages += tx.messages_size();
      bytes += tx_bytes;
      ++end;
    }
    Group g;
    for (size_t k = start; k < end; ++k) g.push_back(&batch[fresh[k]]);
    absl::StatusOr<Outcome> o = g.size() == 1                             ? ProcessOne(*g[0])
                                : options_.mode == SignerMode::kSequenced ? SendBatchSequenced(g)
                                                                          : SendBatch(g);
    if (!o.ok()) return o.status();
    for (size_t k = start; k < end; ++k) (*outcomes)[fresh[k]] = *o;
    start = end;
  }
  for (size_t i : later) {
    ASSIGN_OR_RETURN((*outcomes)[i], ProcessOne(batch[i]));
  }
  return absl::OkStatus();
}

txqueue::ChainTx Signer::Merge(const Group& g) {
  // One tx with every message, in order; the earliest deadline bounds its timeout.
  txqueue::ChainTx merged;
  for (txqueue::Delivery* d : g) {
    for (const auto& any : d->tx().messages()) *merged.add_messages() = any;
    if (d->tx().has_deadline() &&
        (!merged.has_deadline() ||
         google::protobuf::util::TimeUtil::TimestampToNanoseconds(d->tx().deadline()) <
             google::protobuf::util::TimeUtil::TimestampToNanoseconds(merged.deadline()))) {
      *merged.mutable_deadline() = d->tx().deadline();
    }
  }
  merged.set_idempotency_key(g.front()->key());
  return merged;
}

absl::StatusOr<Outcome> Signer::SendBatch(const Group& g) {
  absl::StatusOr<chain::CometStatus> status = comet_->Status();
  if (!status.ok()) {
    return RetryAll(g, "chain_unavailable", status.status().ToString(), options_.retry_delay);
  }
  if (std::string why = ChainNotLive(*status); !why.empty()) {
    return RetryAll(g, "chain_halted", why, options_.retry_delay);
  }
  txqueue::ChainTx merged = Merge(g);
  std::vector<std::string> keys;
  for (txqueue::Delivery* d : g) keys.push_back(d->key());
  TxParams params;
  params.timeout = ChooseTimeout(merged, clock_->Now());
  const absl::Time timeout = params.timeout;
  absl::StatusOr<uint64_t> gas_limit = timeout <= clock_->Now()
                                           ? absl::FailedPreconditionError("deadline")
                                           : EstimateGas(merged, params);
  absl::StatusOr<cosmos::SignedTx> signed_tx =
      gas_limit.ok() ? Build(merged, params, *gas_limit) : gas_limit.status();
  absl::Status recorded = signed_tx.ok()
                              ? ledger_->RecordSignedBatch(keys, signed_tx->tx_raw, signed_tx->hash,
                                                           timeout, clock_->Now())
                              : signed_tx.status();
  if (recorded.ok()) Signed().Add({{"kind", "batch"}}).Increment();
  if (!recorded.ok()) {
    if (recorded.code() == absl::StatusCode::kUnavailable && !gas_limit.ok()) {
      return RetryAll(g, "simulate", std::string(recorded.message()), options_.retry_delay);
    }
    // A deadline already past, a message that fails simulation or building, or a key recorded
    // elsewhere meanwhile: handle each request alone (that isolates the bad one).
    Outcome last = Outcome::kRetry;
    for (txqueue::Delivery* d : g) {
      ASSIGN_OR_RETURN(last, ProcessOne(*d));
    }
    return last;
  }
  ASSIGN_OR_RETURN(LedgerEntry e, ledger_->Get(keys.front()));
  return SendAndObserve(g, e);
}

// ---- Sequenced mode ----

absl::Status Signer::WaitForHeightAbove(int64_t height) {
  const absl::Time give_up = clock_->Now() + options_.observe_budget;
  while (true) {
    absl::StatusOr<chain::CometStatus> status = comet_->Status();
    if (status.ok() && status->latest_height > height) return absl::OkStatus();
    if (clock_->Now() >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("no block above height ", height, " within ",
                       absl::FormatDuration(options_.observe_budget)));
    }
    clock_->SleepFor(options_.observe_interval);
  }
}

namespace {

// Whether a failed Sequencer::Acquire means "not the owner" (lease gone or fenced out).
bool LeaseTrouble(const absl::Status& s, Sequencer& sequencer) {
  return s.code() == absl::StatusCode::kAborted || !sequencer.HoldsLease();
}

}  // namespace

absl::StatusOr<Outcome> Signer::ProcessSequenced(txqueue::Delivery& d) {
  Sequencer& sequencer = *options_.sequencer;
  const std::string& key = d.key();
  ASSIGN_OR_RETURN(LedgerEntry e, ledger_->Claim(key, d.message().data()));
  if (absl::Status why; Refused(d, e, &why)) return Refuse(d, why);
  for (int round = 0; round < 2; ++round) {
    if (e.state == TxState::kIncluded || e.state == TxState::kFailed) {
      RETURN_IF_ERROR(consumer_->Ack(d));
      return Outcome::kSkipped;
    }
    if (!sequencer.HoldsLease()) {
      return Retry(d, "lease_lost", absl::StrCat("not the sequence owner of ", sequencer.account()),
                   options_.retry_delay);
    }
    absl::StatusOr<chain::CometStatus> status = comet_->Status();
    if (!status.ok()) {
      return Retry(d, "chain_unavailable", status.status().ToString(), options_.retry_delay);
    }
    if (std::string why = ChainNotLive(*status); !why.empty()) {
      return Retry(d, "chain_halted", why, options_.retry_delay);
    }
    ChainObservation seen{status->latest_height, status->latest_time, 0};
    if (e.state != TxState::kQueued) {
      // Height (above) and account sequence first, then the lookup: "not found" proves the tx
      // can never land only if the proof was read before we looked.
      absl::StatusOr<uint64_t> sequence = sequencer.ChainSequence();
      if (!sequence.ok()) {
        return Retry(d, "chain_unavailable", sequence.status().ToString(), options_.retry_delay);
      }
      seen.account_sequence = *sequence;
      absl::StatusOr<chain::TxInfo> info = comet_->Tx(absl::HexStringToBytes(e.tx_hash));
      if (info.ok()) return Included({&d}, e, *info);
      if (info.status().code() != absl::StatusCode::kNotFound) {
        return Retry(d, "chain_unavailable", info.status().ToString(), options_.retry_delay);
      }
      // The timeout-height rule waits for one block past the timeout height, so the node's tx
      // index has caught up with the last block that could hold the tx (CometBFT indexes after
      // commit, asynchronously).
      const bool timed_out =
          e.sequenced() && e.timeout_height > 0 && seen.height > e.timeout_height;
      const bool consumed = e.sequenced() && e.account == sequencer.account() &&
                            seen.account_sequence > static_cast<uint64_t>(e.sequence);
      bool can_never_land = e.sequenced() ? timed_out || consumed : seen.time > e.timeout;
      if (consumed && !timed_out) {
        // The tx that consumed the sequence may be ours, committed a moment ago and not indexed
        // yet: look again once one more block than the one that showed the sequence is
        // committed.
        absl::StatusOr<chain::CometStatus> after = comet_->Status();
        if (!after.ok()) {
          return Retry(d, "chain_unavailable", after.status().ToString(), options_.retry_delay);
        }
        absl::Status next = WaitForHeightAbove(after->latest_height);
        if (!next.ok()) {
          return Retry(d, "not_included_yet", std::string(next.message()),
                       options_.observe_interval);
        }
        info = comet_->Tx(absl::HexStringToBytes(e.tx_hash));
        if (info.ok()) return Included({&d}, e, *info);
        if (info.status().code() != absl::StatusCode::kNotFound) {
          return Retry(d, "chain_unavailable", info.status().ToString(), options_.retry_delay);
        }
        can_never_land = true;
      }
      if (!can_never_land) return RebroadcastSequenced({&d}, e);
      GONKA_LOG_INFO("signer: recorded tx can no longer land, signing a new one", {"key", key},
                     {"tx_hash", e.tx_hash}, {"sequence", e.sequence},
                     {"timeout_height", e.timeout_height}, {"chain_height", seen.height},
                     {"chain_sequence", seen.account_sequence});
    }
    if (seen.time > DeadlineOf(d.tx())) {
      // Nothing of this key can land any more (no tx, or the recorded one never will).
      const std::string detail = absl::StrCat("deadline ", absl::FormatTime(DeadlineOf(d.tx())),
                                              " passed before inclusion");
      RETURN_IF_ERROR(consumer_->DeadLetter(d, txqueue::kReasonExpired, detail));
      RETURN_IF_ERROR(
          ledger_->MarkFailed(key, absl::StrCat(txqueue::kReasonExpired, ": ", detail)));
      return Outcome::kDeadLettered;
    }
    absl::StatusOr<Outcome> o = SignAndSendSequenced({&d}, d.tx(), *status, seen);
    if (o.ok() || o.status().code() != absl::StatusCode::kFailedPrecondition) return o;
    ASSIGN_OR_RETURN(e, ledger_->Get(key));
  }
  return Retry(d, "concurrent_update", "ledger entry changed concurrently",
               options_.observe_interval);
}

absl::StatusOr<Outcome> Signer::SendBatchSequenced(const Group& g) {
  Sequencer& sequencer = *options_.sequencer;
  if (!sequencer.HoldsLease()) {
    return RetryAll(g, "lease_lost",
                    absl::StrCat("not the sequence owner of ", sequencer.account()),
                    options_.retry_delay);
  }
  absl::StatusOr<chain::CometStatus> status = comet_->Status();
  if (!status.ok()) {
    return RetryAll(g, "chain_unavailable", status.status().ToString(), options_.retry_delay);
  }
  if (std::string why = ChainNotLive(*status); !why.empty()) {
    return RetryAll(g, "chain_halted", why, options_.retry_delay);
  }
  txqueue::ChainTx merged = Merge(g);
  absl::StatusOr<Outcome> o =
      status->latest_time > DeadlineOf(merged)
          ? absl::FailedPreconditionError("a deadline passed")
          : SignAndSendSequenced(g, merged, *status,
                                 {status->latest_height, status->latest_time, 0});
  if (o.ok() || o.status().code() != absl::StatusCode::kFailedPrecondition) return o;
  // A passed deadline, a message that fails simulation, or a key recorded elsewhere meanwhile:
  // each request alone (that isolates the bad one).
  Outcome last = Outcome::kRetry;
  for (txqueue::Delivery* d : g) {
    ASSIGN_OR_RETURN(last, ProcessSequenced(*d));
  }
  return last;
}

absl::StatusOr<Outcome> Signer::SignAndSendSequenced(const Group& g, const txqueue::ChainTx& tx,
                                                     const chain::CometStatus& status,
                                                     const ChainObservation& seen) {
  Sequencer& sequencer = *options_.sequencer;
  absl::StatusOr<std::unique_ptr<Sequencer::Slot>> slot = sequencer.Acquire();
  if (!slot.ok()) {
    return RetryAll(g, LeaseTrouble(slot.status(), sequencer) ? "lease_lost" : "chain_unavailable",
                    slot.status().ToString(), options_.retry_delay);
  }
  TxParams params;
  params.sequenced = true;
  params.sequence = (*slot)->sequence();
  params.timeout_height = status.latest_height + std::max<int64_t>(1, options_.timeout_blocks);
  absl::StatusOr<uint64_t> gas_limit = EstimateGas(tx, params);
  absl::StatusOr<cosmos::SignedTx> signed_tx =
      gas_limit.ok() ? Build(tx, params, *gas_limit) : gas_limit.status();
  if (!signed_tx.ok()) {
    const absl::Status& s = signed_tx.status();
    if (s.code() == absl::StatusCode::kAborted) {  // simulate: sdk 32
      (*slot)->Resync();
      return RetryAll(g, "sequence_mismatch", std::string(s.message()), options_.observe_interval);
    }
    if (s.code() == absl::StatusCode::kUnavailable) {
      return RetryAll(g, "simulate", std::string(s.message()), options_.retry_delay);
    }
    std::string detail =
        gas_limit.ok() ? absl::StrCat("build: ", s.message()) : std::string(s.message());
    if (g.size() > 1) return absl::FailedPreconditionError(detail);  // the caller splits
    return Fail(*g.front(), detail);
  }
  std::vector<std::string> keys;
  for (txqueue::Delivery* d : g) keys.push_back(d->key());
  Hook("before_record");
  SequencedTx record;
  record.signed_tx = signed_tx->tx_raw;
  record.tx_hash = signed_tx->hash;
  record.account = sequencer.account();
  record.sequence = params.sequence;
  record.timeout_height = params.timeout_height;
  record.fencing_token = (*slot)->token();
  absl::Status recorded = ledger_->RecordSignedSequenced(keys, record, seen);
  if (recorded.code() == absl::StatusCode::kAborted) {
    // Fenced out: a newer lease holder exists. This process is a zombie; it signs nothing more
    // until it wins a lease again.
    (*slot)->Resync();
    GONKA_LOG_WARN("signer: fenced out, not recording", {"account", sequencer.account()},
                   {"fencing_token", record.fencing_token}, {"error", recorded});
    return RetryAll(g, "lease_lost", recorded.ToString(), options_.retry_delay);
  }
  RETURN_IF_ERROR(recorded);  // FailedPrecondition: the caller re-reads the row
  Signed().Add({{"kind", g.size() > 1 ? "batch" : "single"}}).Increment();
  ASSIGN_OR_RETURN(LedgerEntry e, ledger_->Get(keys.front()));
  Hook("before_broadcast");
  return BroadcastSequenced(g, e, std::move(*slot));
}

absl::StatusOr<Outcome> Signer::RebroadcastSequenced(const Group& g, const LedgerEntry& e) {
  Sequencer& sequencer = *options_.sequencer;
  absl::StatusOr<std::unique_ptr<Sequencer::Slot>> slot = sequencer.Acquire();
  if (!slot.ok()) {
    return RetryAll(g, LeaseTrouble(slot.status(), sequencer) ? "lease_lost" : "chain_unavailable",
                    slot.status().ToString(), options_.retry_delay);
  }
  return BroadcastSequenced(g, e, std::move(*slot));
}

absl::StatusOr<Outcome> Signer::BroadcastSequenced(const Group& g, const LedgerEntry& e,
                                                   std::unique_ptr<Sequencer::Slot> slot) {
  // The lease re-checked right before the broadcast (local deadline included): a holder that was
  // paused past its lease stops here even if it recorded the tx before the pause.
  if (!slot->StillHolds()) {
    slot->Resync();
    GONKA_LOG_WARN("signer: lease lost before broadcast, not sending", {"tx_hash", e.tx_hash},
                   {"fencing_token", slot->token()});
    return RetryAll(g, "lease_lost", absl::StrCat("lease lost before broadcast of tx ", e.tx_hash),
                    options_.retry_delay);
  }
  absl::StatusOr<std::string> bytes = SignedBytes(e);
  if (!bytes.ok()) return NoSignedBytes(g, bytes.status());
  absl::StatusOr<chain::BroadcastResponse> r = comet_->BroadcastTxSync(*bytes);
  if (!r.ok()) {
    if (!absl::StrContains(r.status().message(), "already exists in cache")) {
      slot->Resync();  // the outcome is unknown: read the sequence again
      return RetryAll(g, "broadcast_error", absl::StrCat("broadcast: ", r.status().message()),
                      options_.retry_delay);
    }
    slot->Observed(static_cast<uint64_t>(e.sequence));
  } else if (r->code == 0) {
    slot->Observed(static_cast<uint64_t>(e.sequence));
    RETURN_IF_ERROR(ledger_->MarkBroadcastBatch(Keys(g), e.tx_hash));
  } else if (r->code == 32 && (r->codespace == "sdk" || r->codespace.empty())) {
    slot->Resync();
    return RetryAll(g, "sequence_mismatch", absl::StrCat("checktx code 32: ", r->log),
                    options_.observe_interval);
  } else if (r->code == 30) {
    // Timeout height reached before it got in: a new tx once the chain shows it.
    return RetryAll(g, "expired_unincluded", absl::StrCat("checktx code 30: ", r->log),
                    options_.observe_interval);
  } else if (RetryableCode(r->codespace, r->code)) {
    return RetryAll(g, "checktx_retryable", absl::StrCat("checktx code ", r->code, ": ", r->log),
                    options_.retry_delay);
  } else {
    return FailRecorded(g, e,
                        absl::StrCat("checktx ", r->codespace, " code ", r->code, ": ", r->log));
  }
  slot.reset();  // other Signers of the key may send while this one observes
  return Observe(g, e);
}

}  // namespace signer
}  // namespace gonka
