#include "gonka/nodemanager/queue_chain_sink.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/crypto/bech32.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace nodemanager {

QueueChainSink::QueueChainSink(MessageContext context, SeedSource* seed_source, SeedStore* seeds,
                               signer::Ledger* ledger, txqueue::TxQueue* queue, WeightsFn weights,
                               CommitFn commits)
    : context_(std::move(context)),
      seed_source_(seed_source),
      seeds_(seeds),
      ledger_(ledger),
      queue_(queue),
      weights_(std::move(weights)),
      commits_(std::move(commits)) {}

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
          EnsureSeed(*seeds_, *seed_source_, context_.creator, static_cast<uint64_t>(action.epoch));
      if (!seed.ok()) {
        Count(action, "seed_error");
        GONKA_LOG_WARN("node-manager: no seed for the epoch yet; the block is retried",
                       {"epoch", action.epoch}, {"source", seed_source_->Describe()},
                       {"error", seed.status().ToString()});
        return seed.status();
      }
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
    case ActionKind::kStoreCommit: {
      if (!commits_) {
        Count(action, "no_artifacts");
        return absl::OkStatus();
      }
      absl::StatusOr<std::vector<StoreCommitEntry>> entries = commits_(action.poc_start);
      if (!entries.ok()) return entries.status();
      if (entries->empty()) {
        Count(action, "no_artifacts");
        return absl::OkStatus();
      }
      return Enqueue(action, StoreCommitTx(context_, action.poc_start, *entries));
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
  if (options.key_file.empty() == options.seed_signer.url.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("give exactly one seed source: key-file or ", options.seed_signer.url_what));
  }
  if (!options.key_file.empty()) {
    absl::StatusOr<crypto::SigningKey> key =
        crypto::LoadKeyFile(options.key_file, crypto::KeyOptions{.prefix = options.prefix});
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("key-file: ", key.status().message()));
    }
    m->key_ = std::make_unique<crypto::SigningKey>(*std::move(key));
    m->seed_source_ = std::make_unique<LocalSeedSource>(m->key_.get());
  } else {
    absl::StatusOr<std::unique_ptr<RemoteSeedSource>> remote =
        RemoteSeedSource::Open(options.seed_signer);
    if (!remote.ok()) return remote.status();
    m->seed_source_ = *std::move(remote);
  }
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
  WeightsFn weights;
  CommitFn commits;
  if (options.nodes) {
    absl::StatusOr<std::unique_ptr<pocstore::ArtifactStore>> artifacts =
        pocstore::OpenPgArtifactStore(m->pool_.get(), options.accumulator);
    if (!artifacts.ok()) return artifacts.status();
    m->artifacts_ = *std::move(artifacts);
    pocstore::ArtifactStore* store = m->artifacts_.get();
    NodesFn nodes = options.nodes;
    auto models = [nodes] {
      std::vector<std::string> out;
      for (const MlNodeConfig& n : nodes()) {
        if (std::find(out.begin(), out.end(), n.model) == out.end()) out.push_back(n.model);
      }
      return out;
    };
    // Each ML node's weight is its artifact count in the stage (the store's node is the
    // node number it was sent, Nodes()' order).
    weights = [store, nodes,
               models](int64_t poc_start) -> absl::StatusOr<std::vector<ModelWeights>> {
      std::vector<ModelWeights> out;
      const std::vector<MlNodeConfig> configs = nodes();
      for (const std::string& model : models()) {
        absl::StatusOr<std::map<std::string, int64_t>> counts =
            store->CountsByNode(static_cast<uint64_t>(poc_start), model);
        if (!counts.ok()) return counts.status();
        ModelWeights entry{.model_id = model};
        for (size_t i = 0; i < configs.size(); ++i) {
          auto it = counts->find(absl::StrCat(i));
          if (configs[i].model != model || it == counts->end() || it->second <= 0) continue;
          entry.weights.push_back({configs[i].id, static_cast<uint32_t>(it->second)});
        }
        if (!entry.weights.empty()) out.push_back(std::move(entry));
      }
      return out;
    };
    commits = [store, models](int64_t poc_start) -> absl::StatusOr<std::vector<StoreCommitEntry>> {
      std::vector<StoreCommitEntry> out;
      for (const std::string& model : models()) {
        absl::StatusOr<pocstore::Commitment> c =
            store->Commit(static_cast<uint64_t>(poc_start), model);
        if (!c.ok()) return c.status();
        if (c->count == 0) continue;
        out.push_back({model, static_cast<uint32_t>(c->count), c->root});
      }
      return out;
    };
  }
  m->sink_ = std::make_unique<QueueChainSink>(
      MessageContext{.creator = options.participant, .prefix = options.prefix},
      m->seed_source_.get(), m->seeds_.get(), m->ledger_.get(), m->queue_.get(), std::move(weights),
      std::move(commits));
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
