// ArtifactStore: the PoC artifacts of one participant (one Gonka node), shared by every replica
// that receives ML nodes' callbacks, with the per-(stage, model) MMR commitment that
// MsgPoCV2StoreCommit carries (docs/pocstore.md).
//
// Gonka's dapi keeps these artifacts in a local store per stage and model and appends each to an
// MMR as it arrives. Here any number of stateless replicas Append() concurrently; the order of
// the MMR is fixed later, once, by whoever calls Commit() — the node-manager leader: Commit()
// gives every artifact stored since the previous Commit() the next leaf indices (in storage
// order) and extends the MMR. Leaf indices, once given, never change, so every root a Commit()
// returned stays provable.
//
// Contract:
//   - Append(stage, model, batch): stores each artifact whose nonce is new for (stage, model);
//     duplicates (in the store or within the batch: the first wins) are ignored, as Gonka's store
//     ignores them. Returns how many were stored. A successful return means durable.
//     InvalidArgument for an empty model; Unavailable when PostgreSQL cannot be reached (nothing
//     of the batch is stored: one statement).
//   - Commit(stage, model): assigns leaf indices to the artifacts not yet in the MMR and returns
//     the new (count, root). Serialised per (stage, model) across processes, idempotent when
//     nothing new arrived; takes at most Options::commit_max_leaves new leaves per call (the
//     rest wait for the next call). count 0 has an empty root.
//   - Committed(stage, model): the last Commit()'s result, without changing anything.
//   - CountsByNode(stage, model): artifacts stored per node (committed or not), for
//     MsgMLNodeWeightDistribution.
//   - ProveNonce / ProveLeaf: the artifact and its inclusion proof against the commitment of
//     `count` leaves (a count some Commit() returned, e.g. the one on chain). NotFound for an
//     unknown nonce or one not yet committed at `count`; InvalidArgument when count exceeds the
//     committed count or leaf ≥ count. Check with VerifyProof(root, count, proof.leaf_index,
//     proof.nonce, proof.vector, proof.siblings) (mmr.h).
//   - Scan(stage, model, from_leaf, fn): the committed artifacts in leaf order, read page by page
//     (memory bounded by one page); stops early when fn returns false.
//   - DropStagesBefore(min_stage): deletes every stage < min_stage (retention); returns how many
//     artifacts went.
//
// Thread-safety: both implementations are thread-safe.
//
// Example (an edge-srv replica, then the node-manager leader, then a validator's request):
//   ASSIGN_OR_RETURN(auto store, PgArtifactStore::Open(pool.get()));
//   ASSIGN_OR_RETURN(int64_t stored, store->Append(stage, model, batch));
//   ASSIGN_OR_RETURN(Commitment c, store->Commit(stage, model));   // → MsgPoCV2StoreCommit
//   ASSIGN_OR_RETURN(ArtifactProof p, store->ProveNonce(stage, model, nonce, c.count));
#ifndef GONKA_POCSTORE_ARTIFACT_STORE_H_
#define GONKA_POCSTORE_ARTIFACT_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/mmr.h"
#include "gonka/pocstore/smst.h"

namespace gonka {
namespace pocstore {

struct Artifact {
  std::string node;    // the ML node that generated it (Gonka's node id)
  int32_t nonce = 0;   // Gonka's PoCArtifactV2.nonce (int32)
  std::string vector;  // the vector bytes, as decoded from vector_b64
};

struct Commitment {
  uint64_t count = 0;
  std::string root;  // 32 raw bytes; empty when count is 0
  int depth = 0;     // SMST only: the tree depth (smst.h); 0 for the MMR
};

struct ArtifactProof {
  uint64_t leaf_index = 0;
  int32_t nonce = 0;
  std::string node;
  std::string vector;
  std::vector<Digest> siblings;  // Gonka's proof layout (mmr.h; smst.h: root to leaf)
  // SMST only: each sibling's leaf count, parallel to `siblings` (empty for an MMR proof).
  // Check with VerifySmstProof (smst.h); Gonka's transport form is EncodeSmstProofElement.
  std::vector<uint32_t> sibling_counts;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  virtual absl::StatusOr<int64_t> Append(uint64_t stage, absl::string_view model,
                                         const std::vector<Artifact>& batch) = 0;
  virtual absl::StatusOr<Commitment> Commit(uint64_t stage, absl::string_view model) = 0;
  virtual absl::StatusOr<Commitment> Committed(uint64_t stage, absl::string_view model) = 0;
  virtual absl::StatusOr<std::map<std::string, int64_t>> CountsByNode(uint64_t stage,
                                                                      absl::string_view model) = 0;
  virtual absl::StatusOr<ArtifactProof> ProveNonce(uint64_t stage, absl::string_view model,
                                                   int32_t nonce, uint64_t count) = 0;
  virtual absl::StatusOr<ArtifactProof> ProveLeaf(uint64_t stage, absl::string_view model,
                                                  uint64_t leaf_index, uint64_t count) = 0;
  virtual absl::Status Scan(uint64_t stage, absl::string_view model, uint64_t from_leaf,
                            const std::function<bool(uint64_t leaf, const Artifact&)>& fn) = 0;
  virtual absl::StatusOr<int64_t> DropStagesBefore(uint64_t min_stage) = 0;
};

// PostgreSQL: tables pocstore_artifacts, pocstore_nodes (the MMR's node hashes by position) and
// pocstore_commitments, created by migration (component "pocstore") when opened.
class PgArtifactStore : public ArtifactStore {
 public:
  struct Options {
    int scan_page = 1000;     // rows per Scan() page
    int commit_page = 20000;  // rows read per step while Commit() extends the MMR
    // At most this many new leaves per Commit(), so a Commit() racing a steady stream of
    // appends ends (and its transaction with it); the rest goes to the next Commit().
    int64_t commit_max_leaves = int64_t{1} << 20;
  };
  // Applies the migrations; errors as pg::Migrate. `pool` must outlive the store.
  static absl::StatusOr<std::unique_ptr<PgArtifactStore>> Open(pg::Pool* pool);
  static absl::StatusOr<std::unique_ptr<PgArtifactStore>> Open(pg::Pool* pool, Options options);

  absl::StatusOr<int64_t> Append(uint64_t stage, absl::string_view model,
                                 const std::vector<Artifact>& batch) override;
  absl::StatusOr<Commitment> Commit(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<Commitment> Committed(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<std::map<std::string, int64_t>> CountsByNode(uint64_t stage,
                                                              absl::string_view model) override;
  absl::StatusOr<ArtifactProof> ProveNonce(uint64_t stage, absl::string_view model, int32_t nonce,
                                           uint64_t count) override;
  absl::StatusOr<ArtifactProof> ProveLeaf(uint64_t stage, absl::string_view model,
                                          uint64_t leaf_index, uint64_t count) override;
  absl::Status Scan(uint64_t stage, absl::string_view model, uint64_t from_leaf,
                    const std::function<bool(uint64_t leaf, const Artifact&)>& fn) override;
  absl::StatusOr<int64_t> DropStagesBefore(uint64_t min_stage) override;

 private:
  PgArtifactStore(pg::Pool* pool, Options options) : pool_(pool), options_(options) {}
  absl::StatusOr<ArtifactProof> Prove(uint64_t stage, absl::string_view model,
                                      const std::string& where_sql, const std::string& key,
                                      uint64_t count);
  pg::Pool* pool_;
  Options options_;
};

// PostgreSQL with Gonka's newest commitment, the sparse Merkle sum tree (smst.h): tables
// pocstore_smst_artifacts, pocstore_smst_commitments and pocstore_smst_nodes (migration
// component "pocstore_smst"). The root does not depend on arrival order, so Append() is a plain
// COPY and Commit() fixes no order: it takes every artifact whose writing transaction had ended
// when it started (a PostgreSQL transaction-id bound kept with the commitment, so the set behind
// every committed count stays fixed), computes the root in one pass over the leaf hashes the
// writers stored, and persists the upper tree (nodes with ≥ Options::bucket_leaves leaves and
// their children) so a proof is one statement of index lookups. Leaf indices are Gonka's dense
// indices: a leaf's rank by nonce (as uint32) within the commitment, so they are only meaningful
// together with the count. ProveLeaf/ProveNonce accept only a count some Commit() returned
// (InvalidArgument otherwise, as Gonka refuses an unknown snapshot count); Scan() walks the last
// commitment in leaf order. Same thread-safety and errors as PgArtifactStore.
class PgSmstArtifactStore : public ArtifactStore {
 public:
  struct Options {
    int scan_page = 1000;         // rows per Scan() page
    int commit_page = 100000;     // leaf hashes read per step while Commit() builds the tree
    uint32_t bucket_leaves = 64;  // persisted tree nodes hold at least this many leaves
  };
  static absl::StatusOr<std::unique_ptr<PgSmstArtifactStore>> Open(pg::Pool* pool);
  static absl::StatusOr<std::unique_ptr<PgSmstArtifactStore>> Open(pg::Pool* pool, Options options);

  absl::StatusOr<int64_t> Append(uint64_t stage, absl::string_view model,
                                 const std::vector<Artifact>& batch) override;
  absl::StatusOr<Commitment> Commit(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<Commitment> Committed(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<std::map<std::string, int64_t>> CountsByNode(uint64_t stage,
                                                              absl::string_view model) override;
  absl::StatusOr<ArtifactProof> ProveNonce(uint64_t stage, absl::string_view model, int32_t nonce,
                                           uint64_t count) override;
  absl::StatusOr<ArtifactProof> ProveLeaf(uint64_t stage, absl::string_view model,
                                          uint64_t leaf_index, uint64_t count) override;
  absl::Status Scan(uint64_t stage, absl::string_view model, uint64_t from_leaf,
                    const std::function<bool(uint64_t leaf, const Artifact&)>& fn) override;
  absl::StatusOr<int64_t> DropStagesBefore(uint64_t min_stage) override;

 private:
  PgSmstArtifactStore(pg::Pool* pool, Options options) : pool_(pool), options_(options) {}
  absl::StatusOr<ArtifactProof> Prove(uint64_t stage, absl::string_view model, bool by_nonce,
                                      uint64_t leaf_or_key, uint64_t count);
  pg::Pool* pool_;
  Options options_;
};

// Which commitment a PostgreSQL store keeps: Gonka's older MMR (PgArtifactStore) or its newest
// SMST (PgSmstArtifactStore). Each has its own tables; they do not share artifacts.
enum class Accumulator { kMmr, kSmst };
// "mmr" / "smst"; InvalidArgument naming the value otherwise.
absl::StatusOr<Accumulator> ParseAccumulator(absl::string_view name);
absl::StatusOr<std::unique_ptr<ArtifactStore>> OpenPgArtifactStore(pg::Pool* pool,
                                                                   Accumulator accumulator);

// Process memory with the same semantics; the order of the MMR is the order of Append() calls
// (as in Gonka's local store). The benchmark's baseline and the tests' reference.
class InMemoryArtifactStore : public ArtifactStore {
 public:
  absl::StatusOr<int64_t> Append(uint64_t stage, absl::string_view model,
                                 const std::vector<Artifact>& batch) override;
  absl::StatusOr<Commitment> Commit(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<Commitment> Committed(uint64_t stage, absl::string_view model) override;
  absl::StatusOr<std::map<std::string, int64_t>> CountsByNode(uint64_t stage,
                                                              absl::string_view model) override;
  absl::StatusOr<ArtifactProof> ProveNonce(uint64_t stage, absl::string_view model, int32_t nonce,
                                           uint64_t count) override;
  absl::StatusOr<ArtifactProof> ProveLeaf(uint64_t stage, absl::string_view model,
                                          uint64_t leaf_index, uint64_t count) override;
  absl::Status Scan(uint64_t stage, absl::string_view model, uint64_t from_leaf,
                    const std::function<bool(uint64_t leaf, const Artifact&)>& fn) override;
  absl::StatusOr<int64_t> DropStagesBefore(uint64_t min_stage) override;

 private:
  struct Stage {
    std::vector<Artifact> artifacts;      // leaf order
    std::map<int32_t, uint64_t> leaf_of;  // nonce → leaf
    Mmr mmr;
    uint64_t committed = 0;
  };
  using Key = std::pair<uint64_t, std::string>;
  absl::Mutex mu_;
  std::map<Key, Stage> stages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pocstore
}  // namespace gonka

#endif  // GONKA_POCSTORE_ARTIFACT_STORE_H_
