// QueueChainSink: the node-manager's chain sink — the PhaseEngine's chain actions sent as Gonka
// messages through the tx queue, recorded in the signer ledger first (EnqueueRecorded), so each
// idempotency key has exactly one chain effect however often a leader, or its successor after a
// failover, sends it (docs/node-manager.md, "Chain messages").
//
// Contract:
//   - kEnsureSeed: the epoch's seed, from the SeedSource (a local warm key, or signerd's
//     POST /v1/seed verified against the warm key's public key: seed_source.h), is made durable
//     in the SeedStore first (EnsureSeed: an earlier leader's seed wins), then MsgSubmitSeed with
//     its signature is enqueued under "seed/<epoch>/<participant>".
//   - kClaimRewards: MsgClaimRewards for the claimed epoch with the seed stored for it. No stored
//     seed (this node did not take part in that epoch's PoC): nothing is sent, counted as
//     "no_seed" and logged — there is nothing to claim with.
//   - kDistributeWeights: the weights a WeightsFn gives (each ML node's artifact count in the
//     stage's store, which edge-srv fills); none (no function, no artifacts): "no_weights".
//   - kStoreCommit: MsgPoCV2StoreCommit with the count and root per model a CommitFn gives
//     (pocstore's Commit(), computed once here by the leader); its key holds the content, so a
//     commit whose count grew is a new message and the same one again is not; none: "no_artifacts".
//   - Any other action kind is not a chain action: OK, nothing sent.
//   - Errors (store or queue unreachable) are returned: the service leaves the block unacked and
//     the same action comes again with the same key.
//
// Thread-safety: Send() may be called from one thread at a time (the leader's block thread).
//
// Example (daemons/node-manager):
//   LocalSeedSource source(&key);
//   QueueChainSink sink({.creator = key.address()}, &source, seeds.get(), ledger.get(), &queue);
//   options.chain_sink = [&](const Action& a, FencingToken t) { return sink.Send(a, t); };
#ifndef GONKA_NODEMANAGER_QUEUE_CHAIN_SINK_H_
#define GONKA_NODEMANAGER_QUEUE_CHAIN_SINK_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gonka/crypto/key.h"
#include "gonka/election/leader_elector.h"
#include "gonka/nodemanager/chain_messages.h"
#include "gonka/nodemanager/node_manager_service.h"
#include "gonka/nodemanager/phase_engine.h"
#include "gonka/nodemanager/seed_source.h"
#include "gonka/nodemanager/seed_store.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"

namespace gonka {
namespace nats {
class JetStream;
}  // namespace nats
namespace signer {
class Ledger;
}  // namespace signer
namespace txqueue {
class TxQueue;
}  // namespace txqueue

namespace nodemanager {

// The weights to distribute for the PoC stage starting at `poc_start`.
using WeightsFn = std::function<absl::StatusOr<std::vector<ModelWeights>>(int64_t poc_start)>;
// The stage's artifact store commitment per model (count and root), committed now.
using CommitFn = std::function<absl::StatusOr<std::vector<StoreCommitEntry>>(int64_t poc_start)>;

class QueueChainSink {
 public:
  // No pointer is owned; all must outlive the sink.
  QueueChainSink(MessageContext context, SeedSource* seed_source, SeedStore* seeds,
                 signer::Ledger* ledger, txqueue::TxQueue* queue, WeightsFn weights = nullptr,
                 CommitFn commits = nullptr);

  absl::Status Send(const Action& action, election::FencingToken token);

  // "<kind>/<result>" → count: sent, duplicate (the ledger had settled the key), no_seed,
  // no_weights.
  std::map<std::string, int64_t> counts() const;

 private:
  absl::Status Enqueue(const Action& action, absl::StatusOr<txqueue::ChainTx> tx);
  void Count(const Action& action, const char* result);

  const MessageContext context_;
  SeedSource* const seed_source_;
  SeedStore* const seeds_;
  signer::Ledger* const ledger_;
  txqueue::TxQueue* const queue_;
  const WeightsFn weights_;
  const CommitFn commits_;
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// What a node-manager daemon needs to send its chain messages, opened in one call: the seed
// source (the warm key from a 0600 key file, or signerd's POST /v1/seed — then node-manager holds
// no key at all; weights, commits and claims are signed by signerd either way), a PostgreSQL pool
// with the signer ledger and the seed store, the tx queue on the daemon's JetStream connection, and
// the QueueChainSink over them. The participant's ML nodes in node-number order
// (NodeManagerService::Nodes).
using NodesFn = std::function<std::vector<MlNodeConfig>()>;

struct ChainMessagingOptions {
  // Exactly one of: the warm key (crypto::LoadKeyFile), or signerd as the seed source
  // (seed_signer.url set; its answers verified with seed_signer.public_key).
  std::string key_file;
  RemoteSeedSourceOptions seed_signer;
  std::string participant;  // the account the messages are for (creator); required
  std::string prefix = "gonka";
  pg::PgOptions pg;
  nats::JetStream* js = nullptr;  // not owned; required
  // With it, weights and store commits come from the PoC artifact store in the same database
  // (the one edge-srv writes).
  NodesFn nodes;
  // The artifact store's commitment; must be edge-srv's (each accumulator has its own tables).
  pocstore::Accumulator accumulator = pocstore::Accumulator::kMmr;
};

class ChainMessaging {
 public:
  // InvalidArgument naming the option (none or both of key_file and seed_signer.url, key file
  // unreadable or too open, a bad seed_signer option as RemoteSeedSource::Open, participant not
  // an address of `prefix`); the pool's, the ledger's or the seed store's error otherwise.
  static absl::StatusOr<std::unique_ptr<ChainMessaging>> Open(ChainMessagingOptions options);
  ~ChainMessaging();

  // The sink for NodeManagerOptions::chain_sink (valid while this object lives).
  ChainSink sink();
  const QueueChainSink& queue_sink() const { return *sink_; }

 private:
  ChainMessaging() = default;
  std::unique_ptr<crypto::SigningKey> key_;  // local seed source only
  std::unique_ptr<SeedSource> seed_source_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<signer::Ledger> ledger_;
  std::unique_ptr<PgSeedStore> seeds_;
  std::unique_ptr<pocstore::ArtifactStore> artifacts_;
  std::unique_ptr<txqueue::TxQueue> queue_;
  std::unique_ptr<QueueChainSink> sink_;
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_QUEUE_CHAIN_SINK_H_
