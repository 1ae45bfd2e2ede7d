// PgSmstArtifactStore against a real PostgreSQL: duplicates ignored (first wins), the commitment
// equal to an independent recomputation from the stored artifacts, proofs by leaf and by nonce
// that verify with Gonka's verifier at every committed count, three concurrent replicas with
// overlapping nonces racing a committer, and stage retention. Every wait is bounded by the pool's
// statement_timeout (10 s here) and the fixture's start timeout.
#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/crypto/hash.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace pocstore {
namespace {

std::string VectorFor(int32_t nonce, int sender) {
  std::string v(24, '\0');
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(nonce * 7 + sender * 31 + i);
  return v;
}

// The root by the definition, independently of smst.cc's builder: level by level over a map,
// from the artifacts as Scan() returns them (also checks leaf indices 0..n-1 in key order).
struct Recomputed {
  uint64_t count = 0;
  Digest root{};
  std::map<int32_t, Artifact> by_nonce;
  std::vector<int32_t> leaf_order;
};

Recomputed Recompute(ArtifactStore& store, uint64_t stage, const std::string& model) {
  Recomputed out;
  std::map<uint64_t, std::pair<Digest, uint32_t>> level;
  uint32_t max_key = 0;
  int64_t last_key = -1;
  absl::Status s = store.Scan(stage, model, 0, [&](uint64_t leaf, const Artifact& a) {
    EXPECT_EQ(leaf, out.leaf_order.size());
    uint32_t key = static_cast<uint32_t>(a.nonce);
    EXPECT_GT(int64_t{key}, last_key) << "leaf order is not key order";
    last_key = key;
    max_key = std::max(max_key, key);
    level[key] = {LeafHash(a.nonce, a.vector), 1};
    out.by_nonce[a.nonce] = a;
    out.leaf_order.push_back(a.nonce);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  out.count = level.size();
  int depth = std::max(24, max_key == 0 ? 1 : 32 - __builtin_clz(max_key));
  for (int h = 0; h < depth && !level.empty(); ++h) {
    std::map<uint64_t, std::pair<Digest, uint32_t>> up;
    for (const auto& entry : level) {
      uint64_t parent = entry.first >> 1;
      if (up.count(parent)) continue;
      auto l = level.find(parent * 2), r = level.find(parent * 2 + 1);
      uint32_t c =
          (l == level.end() ? 0 : l->second.second) + (r == level.end() ? 0 : r->second.second);
      up[parent] = {SmstNodeHash(l == level.end() ? SmstEmptyHash(h) : l->second.first,
                                 r == level.end() ? SmstEmptyHash(h) : r->second.first, c),
                    c};
    }
    level = std::move(up);
  }
  if (!level.empty()) out.root = level.begin()->second.first;
  return out;
}

Digest AsDigest(const std::string& raw) {
  Digest d{};
  EXPECT_EQ(raw.size(), 32u);
  std::copy(raw.begin(), raw.begin() + std::min<size_t>(32, raw.size()), d.begin());
  return d;
}

std::vector<SmstProofElement> Elements(const ArtifactProof& p) {
  EXPECT_EQ(p.siblings.size(), p.sibling_counts.size());
  std::vector<SmstProofElement> out;
  for (size_t i = 0; i < p.siblings.size(); ++i)
    out.push_back({p.siblings[i], p.sibling_counts[i]});
  return out;
}

class PgSmstStoreTest : public ::testing::Test {
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
  static std::unique_ptr<PgSmstArtifactStore> OpenStore(pg::Pool* pool) {
    PgSmstArtifactStore::Options o;
    o.bucket_leaves = 4;  // small buckets: proofs cross several persisted levels
    o.commit_page = 37;   // and Commit() reads across page boundaries
    o.scan_page = 29;
    auto store = PgSmstArtifactStore::Open(pool, o);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  static testing::PostgresServer* server_;
};
testing::PostgresServer* PgSmstStoreTest::server_ = nullptr;

void ExpectAllProofsVerify(ArtifactStore& store, uint64_t stage, const std::string& model,
                           const Commitment& c, const Recomputed& rec) {
  Digest root = AsDigest(c.root);
  for (uint64_t leaf = 0; leaf < c.count; ++leaf) {
    auto p = store.ProveLeaf(stage, model, leaf, c.count);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->leaf_index, leaf);
    EXPECT_EQ(p->nonce, rec.leaf_order[leaf]);
    EXPECT_EQ(p->siblings.size(), static_cast<size_t>(c.depth));
    ASSERT_TRUE(VerifySmstProof(root, c.count, leaf, p->nonce, p->vector, Elements(*p)))
        << "leaf " << leaf;
    auto q = store.ProveNonce(stage, model, p->nonce, c.count);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->leaf_index, leaf);
    EXPECT_EQ(q->vector, p->vector);
    EXPECT_EQ(q->siblings, p->siblings);
  }
}

TEST_F(PgSmstStoreTest, DuplicatesIgnoredRootEqualsRecomputationProofsVerify) {
  auto pool = OpenPool();
  auto store = OpenStore(pool.get());
  ASSERT_TRUE(store);
  const std::string model = "Qwen/QwQ-32B";
  // Batch 1: nonces 0..49, with a duplicate of 7 inside the batch (the first wins).
  std::vector<Artifact> a;
  for (int n = 0; n < 50; ++n) a.push_back({"node-a", n, VectorFor(n, 0)});
  a.push_back({"node-a", 7, VectorFor(7, 9)});
  auto stored = store->Append(100, model, a);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 50);
  auto empty = store->Committed(100, model);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->count, 0u);
  auto c1 = store->Commit(100, model);
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->count, 50u);
  EXPECT_EQ(c1->depth, 24);
  Recomputed r1 = Recompute(*store, 100, model);
  EXPECT_EQ(r1.count, 50u);
  EXPECT_EQ(crypto::HexEncode(r1.root), crypto::HexEncode(c1->root));
  EXPECT_EQ(r1.by_nonce[7].vector, VectorFor(7, 0));
  ExpectAllProofsVerify(*store, 100, model, *c1, r1);
  // Nothing new: the same commitment.
  auto again = store->Commit(100, model);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->count, c1->count);
  EXPECT_EQ(again->root, c1->root);

  // Batch 2 overlaps 25..49 (ignored: the COPY meets a duplicate and falls back), adds 50..79,
  // a negative nonce and one beyond 24 bits: the tree grows to 32 levels.
  std::vector<Artifact> b;
  for (int n = 25; n < 80; ++n) b.push_back({"node-b", n, VectorFor(n, 1)});
  b.push_back({"node-b", -5, VectorFor(-5, 1)});
  b.push_back({"node-b", 1 << 25, VectorFor(1 << 25, 1)});
  stored = store->Append(100, model, b);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 32);
  auto c2 = store->Commit(100, model);
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->count, 82u);
  EXPECT_EQ(c2->depth, 32);
  Recomputed r2 = Recompute(*store, 100, model);
  EXPECT_EQ(crypto::HexEncode(r2.root), crypto::HexEncode(c2->root));
  EXPECT_EQ(r2.by_nonce[30].vector, VectorFor(30, 0));
  EXPECT_EQ(r2.leaf_order.back(), -5);  // 0xfffffffb: the largest key
  ExpectAllProofsVerify(*store, 100, model, *c2, r2);
  // The first commitment stays provable after the store grew.
  ExpectAllProofsVerify(*store, 100, model, *c1, r1);

  auto counts = store->CountsByNode(100, model);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)["node-a"], 50);
  EXPECT_EQ((*counts)["node-b"], 32);

  EXPECT_EQ(store->ProveLeaf(100, model, 0, 51).status().code(),
            absl::StatusCode::kInvalidArgument);  // not a committed count
  EXPECT_EQ(store->ProveLeaf(100, model, 82, 82).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ProveNonce(100, model, 60, 50).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ProveNonce(100, model, 1000, 82).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Append(100, "", a).status().code(), absl::StatusCode::kInvalidArgument);
}

// Three replicas (own pool and store each) append overlapping nonce ranges while a committer
// commits in a loop: every distinct nonce stored once, counts never go back, every commitment
// seen is provable against its own root, and the last equals the recomputation.
TEST_F(PgSmstStoreTest, ThreeReplicasAndACommitter) {
  const std::string model = "m";
  constexpr int kPerReplica = 600;
  std::atomic<bool> done{false};
  std::vector<Commitment> seen;
  auto committer_pool = OpenPool();
  auto committer = OpenStore(committer_pool.get());
  ASSERT_TRUE(committer);
  std::thread commit_loop([&] {
    while (!done.load()) {
      auto c = committer->Commit(7, model);
      ASSERT_TRUE(c.ok()) << c.status();
      if (c->count > 0 && (seen.empty() || seen.back().count != c->count)) seen.push_back(*c);
    }
  });
  std::vector<std::thread> replicas;
  std::atomic<int64_t> stored{0};
  for (int r = 0; r < 3; ++r) {
    replicas.emplace_back([&, r] {
      auto pool = OpenPool(1);
      auto store = OpenStore(pool.get());
      ASSERT_TRUE(store);
      // Replica r covers [r*300, r*300 + 600): half overlaps the next replica's range.
      for (int start = 0; start < kPerReplica; start += 50) {
        std::vector<Artifact> batch;
        for (int k = start; k < start + 50; ++k) {
          int32_t nonce = r * 300 + k;
          batch.push_back({absl::StrCat("node-", r), nonce, VectorFor(nonce, r)});
        }
        auto s = store->Append(7, model, batch);
        ASSERT_TRUE(s.ok()) << s.status();
        stored += *s;
      }
    });
  }
  for (auto& t : replicas) t.join();
  done = true;
  commit_loop.join();
  auto last = committer->Commit(7, model);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(stored.load(), 1200);
  EXPECT_EQ(last->count, 1200u);
  Recomputed rec = Recompute(*committer, 7, model);
  EXPECT_EQ(rec.count, 1200u);
  EXPECT_EQ(crypto::HexEncode(rec.root), crypto::HexEncode(last->root));
  std::printf("commitments observed while appending: %zu\n", seen.size());
  uint64_t previous = 0;
  std::mt19937 rng(7);
  for (const Commitment& c : seen) {
    EXPECT_GT(c.count, previous);
    previous = c.count;
    for (int i = 0; i < 5; ++i) {
      uint64_t leaf = rng() % c.count;
      auto p = committer->ProveLeaf(7, model, leaf, c.count);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_TRUE(
          VerifySmstProof(AsDigest(c.root), c.count, leaf, p->nonce, p->vector, Elements(*p)));
    }
  }
  auto counts = committer->CountsByNode(7, model);
  ASSERT_TRUE(counts.ok());
  int64_t sum = 0;
  for (const auto& [node, n] : *counts) sum += n;
  EXPECT_EQ(sum, 1200);
}

TEST_F(PgSmstStoreTest, RetentionDropsOlderStages) {
  auto pool = OpenPool();
  auto store = OpenStore(pool.get());
  ASSERT_TRUE(store);
  for (uint64_t stage : {1010, 1020, 1030}) {
    ASSERT_TRUE(store->Append(stage, "r", {{"n", 1, "x"}, {"n", 2, "y"}}).ok());
    ASSERT_TRUE(store->Commit(stage, "r").ok());
  }
  auto dropped = store->DropStagesBefore(1030);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_GE(*dropped, 4);  // and the other tests' (lower) stages
  auto gone = store->Committed(1020, "r");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->count, 0u);
  auto kept = store->Committed(1030, "r");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->count, 2u);
  auto p = store->ProveNonce(1030, "r", 2, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(VerifySmstProof(AsDigest(kept->root), 2, p->leaf_index, 2, "y", Elements(*p)));
}

TEST(AccumulatorTest, ParsesNames) {
  EXPECT_EQ(*ParseAccumulator("mmr"), Accumulator::kMmr);
  EXPECT_EQ(*ParseAccumulator("smst"), Accumulator::kSmst);
  EXPECT_EQ(ParseAccumulator("merkle").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pocstore
}  // namespace gonka
