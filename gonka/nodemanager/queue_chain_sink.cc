#include "gonka/nodemanager/queue_chain_sink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/crypto/bech32.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace nodemanager {

QueueChainSink::QueueChainSink(MessageContext context, const crypto::SigningKey* warm_key,
                               SeedStore* seeds, signer::Ledger* ledger, txqueue::TxQueue* queue,
                               WeightsFn weights)
    : context_(std::move(context)),
      key_(warm_key),
      seeds_(seeds),
      ledger_(ledger),
      queue_(queue),
      weights_(std::move(weights)) {}

void QueueChainSink::Count(const Action& action, const char* result) {
  absl::MutexLock lock(&mu_);
  ++counts_[absl::StrCat(ActionKindName(action.kind), "/", result)];
}

std::map<std::string, int64_t> QueueChainSink::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

absl::Status QueueChainSink::Enqueue(const Action& action, absl::StatusOr<txqueue::ChainTx> tx) {
  if (!tx.ok()) return tx.status();
  absl::StatusOr<txqueue::EnqueueResult> r =
      signer::EnqueueRecorded(ledger_, queue_, *std::move(tx));
  if (!r.ok()) return r.status();
  Count(action, r->duplicate ? "duplicate" : "sent");
  GONKA_LOG_INFO("node-manager chain message enqueued", {"key", action.idempotency_key},
                 {"duplicate", r->duplicate});
  return absl::OkStatus();
}

absl::Status QueueChainSink::Send(const Action& action, election::FencingToken /*token*/) {
  switch (action.kind) {
    case ActionKind::kEnsureSeed: {
      absl::StatusOr<SeedInfo> seed =
          EnsureSeed(*seeds_, *key_, context_.creator, static_cast<uint64_t>(action.epoch));
      if (!seed.ok()) return seed.status();
      return Enqueue(action, SubmitSeedTx(context_, action, *seed));
    }
    case ActionKind::kClaimRewards: {
      absl::StatusOr<SeedInfo> seed =
          seeds_->Get(context_.creator, static_cast<uint64_t>(action.epoch));
      if (absl::IsNotFound(seed.status())) {
        GONKA_LOG_WARN("node-manager: no seed stored for the claimed epoch, nothing to claim",
                       {"epoch", action.epoch}, {"key", action.idempotency_key});
        Count(action, "no_seed");
        return absl::OkStatus();
      }
      if (!seed.ok()) return seed.status();
      return Enqueue(action, ClaimRewardsTx(context_, action, *seed));
    }
    case ActionKind::kDistributeWeights: {
      if (!weights_) {
        Count(action, "no_weights");
        return absl::OkStatus();
      }
      absl::StatusOr<std::vector<ModelWeights>> weights = weights_(action.poc_start);
      if (!weights.ok()) return weights.status();
      if (weights->empty()) {
        Count(action, "no_weights");
        return absl::OkStatus();
      }
      return Enqueue(action, WeightDistributionTx(context_, action, *weights));
    }
    default:
      return absl::OkStatus();
  }
}

absl::StatusOr<std::unique_ptr<ChainMessaging>> ChainMessaging::Open(
    ChainMessagingOptions options) {
  if (options.js == nullptr) return absl::InvalidArgumentError("chain messaging: no JetStream");
  if (!crypto::DecodeAddress(options.participant, options.prefix).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("participant: \"", options.participant,
                                                   "\" is not a ", options.prefix, " address"));
  }
  std::unique_ptr<ChainMessaging> m(new ChainMessaging());
  absl::StatusOr<crypto::SigningKey> key =
      crypto::LoadKeyFile(options.key_file, crypto::KeyOptions{.prefix = options.prefix});
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("key-file: ", key.status().message()));
  }
  m->key_ = std::make_unique<crypto::SigningKey>(*std::move(key));
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open(options.pg);
  if (!pool.ok()) return pool.status();
  m->pool_ = *std::move(pool);
  absl::StatusOr<std::unique_ptr<signer::Ledger>> ledger = signer::Ledger::Open(m->pool_.get());
  if (!ledger.ok()) return ledger.status();
  m->ledger_ = *std::move(ledger);
  absl::StatusOr<std::unique_ptr<PgSeedStore>> seeds = PgSeedStore::Open(m->pool_.get());
  if (!seeds.ok()) return seeds.status();
  m->seeds_ = *std::move(seeds);
  m->queue_ = std::make_unique<txqueue::TxQueue>(options.js);
  m->sink_ = std::make_unique<QueueChainSink>(
      MessageContext{.creator = options.participant, .prefix = options.prefix}, m->key_.get(),
      m->seeds_.get(), m->ledger_.get(), m->queue_.get());
  return m;
}

ChainMessaging::~ChainMessaging() = default;

ChainSink ChainMessaging::sink() {
  QueueChainSink* sink = sink_.get();
  return [sink](const Action& action, election::FencingToken token) {
    return sink->Send(action, token);
  };
}

}  // namespace nodemanager
}  // namespace gonka
