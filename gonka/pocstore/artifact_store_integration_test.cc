// PgArtifactStore against a real PostgreSQL: duplicates ignored, the commitment equal to an
// in-memory MMR over the stored artifacts in leaf order, proofs that verify, concurrent
// appenders (4 replicas with overlapping nonces) and committers, and stage retention. Every wait
// is bounded by the pool's statement_timeout (10 s here) and the fixture's start timeout.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace pocstore {
namespace {

// A vector that depends on who sent it, so "first stored wins" is visible in the data.
std::string VectorFor(int32_t nonce, int sender) {
  std::string v(24, '\0');
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(nonce * 7 + sender * 31 + i);
  return v;
}

struct Recomputed {
  Mmr mmr;
  std::vector<Artifact> artifacts;
};

// The MMR over what Scan() returns; also checks the leaf indices are 0..n-1 without gaps.
Recomputed Recompute(ArtifactStore& store, uint64_t stage, const std::string& model) {
  Recomputed out;
  absl::Status s = store.Scan(stage, model, 0, [&](uint64_t leaf, const Artifact& a) {
    EXPECT_EQ(leaf, out.artifacts.size());
    out.mmr.Append(LeafHash(a.nonce, a.vector));
    out.artifacts.push_back(a);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

class PgArtifactStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::PostgresServer();
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::unique_ptr<pg::Pool> OpenPool(int connections = 2) {
    pg::PgOptions o;
    o.conninfo = server_->url();
    o.max_connections = connections;
    o.statement_timeout = absl::Seconds(10);
    auto pool = pg::Pool::Open(o);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }
  static std::unique_ptr<PgArtifactStore> OpenStore(pg::Pool* pool,
                                                    PgArtifactStore::Options o = {}) {
    auto store = PgArtifactStore::Open(pool, o);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  static testing::PostgresServer* server_;
};
testing::PostgresServer* PgArtifactStoreTest::server_ = nullptr;

TEST_F(PgArtifactStoreTest, AppendIgnoresDuplicatesCommitMatchesRecomputedAndProves) {
  auto pool = OpenPool();
  ASSERT_TRUE(pool);
  // Small pages so Commit() and Scan() cross page boundaries.
  auto store = OpenStore(pool.get(), {.scan_page = 7, .commit_page = 5});
  ASSERT_TRUE(store);
  const uint64_t stage = 1000;
  const std::string model = "Qwen/Qwen3-32B-FP8";

  auto c0 = store->Commit(stage, model);
  ASSERT_TRUE(c0.ok()) << c0.status();
  EXPECT_EQ(c0->count, 0u);
  EXPECT_TRUE(c0->root.empty());

  std::vector<Artifact> batch;
  for (int32_t n : {5, -3, 9, 5, 12}) batch.push_back({"node-a", n, VectorFor(n, 0)});
  auto stored = store->Append(stage, model, batch);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 4);  // the second 5 in the batch is ignored
  auto again = store->Append(stage, model,
                             {{"node-b", 9, VectorFor(9, 1)}, {"node-b", 40, VectorFor(40, 1)}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 1);  // 9 was stored before

  auto counts = store->CountsByNode(stage, model);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"node-a", 4}, {"node-b", 1}}));

  // Not committed yet: nothing to prove against.
  EXPECT_EQ(store->ProveNonce(stage, model, 5, 1).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto c1 = store->Commit(stage, model);
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->count, 5u);
  Recomputed r = Recompute(*store, stage, model);
  ASSERT_EQ(r.artifacts.size(), 5u);
  // Storage order within one append is batch order, across appends call order.
  std::vector<int32_t> order;
  for (const Artifact& a : r.artifacts) order.push_back(a.nonce);
  EXPECT_EQ(order, (std::vector<int32_t>{5, -3, 9, 12, 40}));
  EXPECT_EQ(r.artifacts[2].vector, VectorFor(9, 0));  // first stored wins
  EXPECT_EQ(c1->root, std::string(crypto::AsStringView(*r.mmr.Root())));

  // Idempotent when nothing new arrived; Committed() reads the same.
  auto c1b = store->Commit(stage, model);
  ASSERT_TRUE(c1b.ok());
  EXPECT_EQ(c1b->count, c1->count);
  EXPECT_EQ(c1b->root, c1->root);
  auto read = store->Committed(stage, model);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->root, c1->root);

  // More artifacts, a second commit; the first commitment stays provable.
  std::vector<Artifact> more;
  for (int32_t n = 100; n < 117; ++n) more.push_back({"node-c", n, VectorFor(n, 2)});
  ASSERT_TRUE(store->Append(stage, model, more).ok());
  auto c2 = store->Commit(stage, model);
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->count, 22u);
  Recomputed r2 = Recompute(*store, stage, model);
  EXPECT_EQ(c2->root, std::string(crypto::AsStringView(*r2.mmr.Root())));

  for (const Commitment& c : {*c1, *c2}) {
    Digest root;
    std::copy(c.root.begin(), c.root.end(), root.begin());
    for (uint64_t leaf = 0; leaf < c.count; ++leaf) {
      auto p = store->ProveLeaf(stage, model, leaf, c.count);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_EQ(p->nonce, r2.artifacts[leaf].nonce);
      EXPECT_TRUE(VerifyProof(root, c.count, p->leaf_index, p->nonce, p->vector, p->siblings))
          << "leaf " << leaf << " count " << c.count;
      auto by_nonce = store->ProveNonce(stage, model, p->nonce, c.count);
      ASSERT_TRUE(by_nonce.ok()) << by_nonce.status();
      EXPECT_EQ(by_nonce->leaf_index, leaf);
      EXPECT_EQ(by_nonce->siblings, p->siblings);
    }
  }
  // A nonce committed only after count 5 is not in the first commitment; unknown nonces neither.
  EXPECT_EQ(store->ProveNonce(stage, model, 100, c1->count).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ProveNonce(stage, model, 7777, c2->count).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ProveLeaf(stage, model, 22, 22).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ProveLeaf(stage, model, 0, 23).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append(stage, "", batch).status().code(), absl::StatusCode::kInvalidArgument);

  // Another model of the same stage is a separate MMR.
  auto other = store->Committed(stage, "other-model");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->count, 0u);
}

TEST_F(PgArtifactStoreTest, FourReplicasWithOverlappingNoncesAndTwoCommitters) {
  const uint64_t stage = 2000;
  const std::string model = "m/1";
  constexpr int kReplicas = 4, kPerReplica = 1200, kStride = 600, kBatch = 100;
  const int distinct = (kReplicas - 1) * kStride + kPerReplica;  // 3000

  // Each replica has its own pool and store object, as separate edge-srv processes would.
  std::vector<std::unique_ptr<pg::Pool>> pools;
  std::vector<std::unique_ptr<PgArtifactStore>> stores;
  for (int i = 0; i < kReplicas + 2; ++i) {
    pools.push_back(OpenPool(1));
    ASSERT_TRUE(pools.back());
    stores.push_back(OpenStore(pools.back().get(), {.scan_page = 500, .commit_page = 256}));
    ASSERT_TRUE(stores.back());
  }

  std::atomic<int64_t> stored_total{0};
  std::atomic<bool> appending{true};
  absl::Mutex mu;
  std::vector<Commitment> commitments;  // every result a committer saw
  std::vector<std::thread> threads;
  for (int rep = 0; rep < kReplicas; ++rep) {
    threads.emplace_back([&, rep] {
      // Replica rep sends nonces [rep*600, rep*600+1200): each overlaps the next replica's.
      for (int off = 0; off < kPerReplica; off += kBatch) {
        std::vector<Artifact> batch;
        for (int k = 0; k < kBatch; ++k) {
          int32_t n = rep * kStride + off + k;
          batch.push_back({absl::StrCat("node-", rep), n, VectorFor(n, rep)});
        }
        auto s = stores[rep]->Append(stage, model, batch);
        ASSERT_TRUE(s.ok()) << s.status();
        stored_total += *s;
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      // Two committers (a leader and a stale one) racing each other and the appenders.
      while (true) {
        bool last = !appending.load();
        auto r = stores[kReplicas + c]->Commit(stage, model);
        ASSERT_TRUE(r.ok()) << r.status();
        {
          absl::MutexLock lock(&mu);
          commitments.push_back(*r);
        }
        if (last) break;
      }
    });
  }
  for (int rep = 0; rep < kReplicas; ++rep) threads[rep].join();
  appending = false;
  for (size_t i = kReplicas; i < threads.size(); ++i) threads[i].join();

  EXPECT_EQ(stored_total.load(), distinct);
  auto final_c = stores[0]->Commit(stage, model);
  ASSERT_TRUE(final_c.ok()) << final_c.status();
  EXPECT_EQ(final_c->count, static_cast<uint64_t>(distinct));

  Recomputed r = Recompute(*stores[1], stage, model);
  ASSERT_EQ(r.artifacts.size(), static_cast<size_t>(distinct));
  std::set<int32_t> nonces;
  for (const Artifact& a : r.artifacts) nonces.insert(a.nonce);
  EXPECT_EQ(nonces.size(), static_cast<size_t>(distinct));  // each nonce once
  EXPECT_EQ(*nonces.begin(), 0);
  EXPECT_EQ(*nonces.rbegin(), distinct - 1);
  EXPECT_EQ(final_c->root, std::string(crypto::AsStringView(*r.mmr.Root())));

  // Append-only: every commitment any committer returned is the recomputed MMR's root at its
  // count (later commits only extended it), and proofs against it verify.
  ASSERT_FALSE(commitments.empty());
  int checked = 0;
  for (const Commitment& c : commitments) {
    if (c.count == 0) continue;
    auto at = r.mmr.RootAt(c.count);
    ASSERT_TRUE(at.has_value());
    EXPECT_EQ(c.root, std::string(crypto::AsStringView(*at))) << "count " << c.count;
    for (uint64_t leaf : {uint64_t{0}, c.count / 2, c.count - 1}) {
      auto p = stores[2]->ProveLeaf(stage, model, leaf, c.count);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_TRUE(VerifyProof(*at, c.count, p->leaf_index, p->nonce, p->vector, p->siblings));
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
  std::cout << "commitments observed: " << commitments.size() << ", final count " << final_c->count
            << "\n";

  // Per-node counts add up to the count (what MsgMLNodeWeightDistribution is built from).
  auto counts = stores[3]->CountsByNode(stage, model);
  ASSERT_TRUE(counts.ok()) << counts.status();
  int64_t sum = 0;
  for (const auto& [node, n] : *counts) sum += n;
  EXPECT_EQ(sum, distinct);
  // Replicas 0 and 3 have nonces nobody else sends; the others may lose every race.
  EXPECT_EQ(counts->count("node-0"), 1u);
  EXPECT_EQ(counts->count("node-3"), 1u);
}

TEST_F(PgArtifactStoreTest, CommitTakesAtMostMaxLeavesAndTheNextOneContinues) {
  auto pool = OpenPool();
  ASSERT_TRUE(pool);
  auto store = OpenStore(pool.get(), {.commit_page = 4, .commit_max_leaves = 10});
  ASSERT_TRUE(store);
  const uint64_t stage = 2500;
  const std::string model = "capped";
  std::vector<Artifact> batch;
  for (int32_t n = 0; n < 25; ++n) batch.push_back({"n", n, VectorFor(n, 0)});
  ASSERT_TRUE(store->Append(stage, model, batch).ok());
  std::vector<uint64_t> counts;
  for (int i = 0; i < 4; ++i) {
    auto c = store->Commit(stage, model);
    ASSERT_TRUE(c.ok()) << c.status();
    counts.push_back(c->count);
  }
  EXPECT_EQ(counts, (std::vector<uint64_t>{10, 20, 25, 25}));
  Mmr mmr;
  for (const Artifact& a : batch) mmr.Append(LeafHash(a.nonce, a.vector));
  auto c = store->Committed(stage, model);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->root, std::string(crypto::AsStringView(*mmr.Root())));  // one writer: batch order
}

TEST_F(PgArtifactStoreTest, RetentionDropsOlderStagesOnly) {
  auto pool = OpenPool();
  ASSERT_TRUE(pool);
  auto store = OpenStore(pool.get());
  ASSERT_TRUE(store);
  const std::string model = "retention";
  for (uint64_t stage : {3100u, 3200u, 3300u}) {
    std::vector<Artifact> batch;
    for (int32_t n = 0; n < 10; ++n) batch.push_back({"n", n, VectorFor(n, 0)});
    ASSERT_TRUE(store->Append(stage, model, batch).ok());
    ASSERT_TRUE(store->Commit(stage, model).ok());
  }
  auto kept_before = store->Committed(3200, model);
  ASSERT_TRUE(kept_before.ok());

  // Stages below 3000 belong to other tests of this suite; keep them out of the count.
  auto dropped = store->DropStagesBefore(3200);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_GE(*dropped, 10);
  auto gone = store->Committed(3100, model);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->count, 0u);
  auto counts = store->CountsByNode(3100, model);
  ASSERT_TRUE(counts.ok());
  EXPECT_TRUE(counts->empty());
  EXPECT_EQ(store->ProveLeaf(3100, model, 0, 10).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto kept = store->Committed(3200, model);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->count, 10u);
  EXPECT_EQ(kept->root, kept_before->root);
  auto p = store->ProveLeaf(3200, model, 3, 10);
  ASSERT_TRUE(p.ok()) << p.status();
  Digest root;
  std::copy(kept->root.begin(), kept->root.end(), root.begin());
  EXPECT_TRUE(VerifyProof(root, 10, 3, p->nonce, p->vector, p->siblings));
  // A stage dropped and reused starts empty (a new MMR).
  ASSERT_TRUE(store->Append(3100, model, {{"n", 1, "x"}}).ok());
  auto fresh = store->Commit(3100, model);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->count, 1u);
  EXPECT_EQ(fresh->root, std::string(crypto::AsStringView(LeafHash(1, "x"))));
}

TEST(InMemoryArtifactStoreTest, SameSemanticsAsPostgres) {
  InMemoryArtifactStore store;
  auto s = store.Append(7, "m", {{"a", 5, "v5"}, {"a", 5, "other"}, {"b", 6, "v6"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 2);
  auto c = store.Commit(7, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->count, 2u);
  ASSERT_TRUE(store.Append(7, "m", {{"b", 8, "v8"}}).ok());
  auto committed = store.Committed(7, "m");
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(committed->count, 2u);  // not until the next Commit()
  EXPECT_EQ(committed->root, c->root);
  auto p = store.ProveNonce(7, "m", 6, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  Digest root;
  std::copy(c->root.begin(), c->root.end(), root.begin());
  EXPECT_TRUE(VerifyProof(root, 2, p->leaf_index, p->nonce, p->vector, p->siblings));
  EXPECT_EQ(store.ProveNonce(7, "m", 8, 2).status().code(), absl::StatusCode::kNotFound);
  auto counts = store.CountsByNode(7, "m");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"a", 1}, {"b", 2}}));
  auto dropped = store.DropStagesBefore(8);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 3);
}

}  // namespace
}  // namespace pocstore
}  // namespace gonka
