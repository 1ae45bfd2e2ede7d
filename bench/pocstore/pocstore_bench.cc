// bench/pocstore: the shared PostgreSQL artifact store against baselines measured in the same
// run on the same machine and disk (issue 19, "Performance"): ingest from --replicas concurrent
// writers, the time Commit() takes to compute the commitment over all of them, and proof latency.
//
// Rows: --artifacts artifacts of one (stage, model), --vector-bytes each (24 = 12 fp16 values,
// the dapi's default k-dimension), nonces 0..n-1 (node k%4), --batch artifacts per Append(), each
// batch going to the next free writer of --replicas (each its own pool, connection and store
// object, as separate edge-srv processes would be).
//
// Run, in order:
//   1. local file: Gonka's local-store shape from one thread — the nonce set, the leaf hash, and
//      an append-only data file per (stage, model) in its layout ([LE32 len][LE32 nonce][vector])
//      through a buffered writer, closed at the end (no fsync: the PostgreSQL fixture runs with
//      fsync=off too); its root (sort + SmstBuild, or the MMR) timed separately;
//   2. raw COPY, same table: the same rows (leaf hashes precomputed, binary COPY buffers built
//      before the clock starts) copied by --replicas connections into the store's own table,
//      with its primary key — PostgreSQL's cost for these bytes in this schema; then TRUNCATE;
//      run again after step 4 into a fresh table of the same definition, the faster run counts;
//   3. raw COPY, bare table: the same into a table without any index;
//   4. the store's Append() from --replicas writers (dedupe, leaf hash, encoding, COPY);
//   5. Commit() of everything from scratch (the root over all artifacts), against the block
//      interval (--block-seconds, 5: CometBFT's default timeout_commit);
//   6. --proofs ProveLeaf() and ProveNonce() calls at random leaves (one thread, after 10
//      untimed warm-up calls per connection), p50/p99; every proof verified (outside the clock).
// Between phases the bench waits (≤ 120 s) until no autovacuum worker runs.
// Ratios printed: store / raw COPY (same table), store / raw COPY (bare), store / local file.
// The exit code is 1 when the store's count or root differs from the local store's over the
// same artifacts (the SMST root does not depend on order, so they must agree; the MMR's only
// with --replicas=1).
//
//   bazel build -c opt //bench/pocstore:pocstore_bench &&
//     bazel-out/k8-opt/bin/bench/pocstore/pocstore_bench [--artifacts=1000000 --replicas=3
//     --batch=1000 --vector-bytes=24 --proofs=1000 --accumulator=smst|mmr]
//
// The figures of one run are in docs/pocstore.md ("Performance"). No limit is enforced.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/crypto/hash.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/servers.h"

namespace {

using gonka::pocstore::Artifact;
using gonka::pocstore::Digest;

struct Flags {
  int artifacts = 1000000;
  int replicas = 3;
  int batch = 1000;
  int vector_bytes = 24;
  int proofs = 1000;
  int block_seconds = 5;
  std::string accumulator = "smst";
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto take = [&](const char* name, int* out) {
      std::string prefix = absl::StrCat("--", name, "=");
      if (a.rfind(prefix, 0) != 0) return false;
      if (!absl::SimpleAtoi(a.substr(prefix.size()), out) || *out <= 0) {
        std::fprintf(stderr, "bad %s\n", a.c_str());
        std::exit(2);
      }
      return true;
    };
    if (a.rfind("--accumulator=", 0) == 0) {
      f.accumulator = a.substr(14);
      continue;
    }
    if (!take("artifacts", &f.artifacts) && !take("replicas", &f.replicas) &&
        !take("batch", &f.batch) && !take("vector-bytes", &f.vector_bytes) &&
        !take("proofs", &f.proofs) && !take("block-seconds", &f.block_seconds)) {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      std::exit(2);
    }
  }
  return f;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pocstore_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<std::vector<Artifact>> MakeBatches(const Flags& f) {
  std::mt19937 rng(19);
  std::vector<std::vector<Artifact>> batches;
  for (int n = 0; n < f.artifacts; n += f.batch) {
    std::vector<Artifact> b;
    for (int k = n; k < std::min(f.artifacts, n + f.batch); ++k) {
      std::string v(f.vector_bytes, '\0');
      for (char& c : v) c = static_cast<char>(rng());
      b.push_back({absl::StrCat("node-", k % 4), k, std::move(v)});
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

double Rate(int64_t n, absl::Duration d) { return n / absl::ToDoubleSeconds(d); }

template <typename Fn>
absl::Duration RunWriters(int writers, int batches, const Fn& write) {
  std::atomic<int> next{0};
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = next++; i < batches; i = next++) write(w, i);
    });
  }
  for (auto& t : threads) t.join();
  return absl::Now() - start;
}

// PostgreSQL's binary COPY format (as the store writes it), for the raw baselines.
class CopyBuffer {
 public:
  CopyBuffer() {
    out_.append("PGCOPY\n\377\r\n", 11);
    Be(0, 4);
    Be(0, 4);
  }
  void Row(const std::string& stage, const std::string& model, const Artifact& a) {
    Be(6, 2);
    Be(8, 4);
    int64_t s = 0;
    absl::SimpleAtoi(stage, &s);
    Be(static_cast<uint64_t>(s), 8);
    Bytes(model);
    Be(4, 4);
    Be(static_cast<uint32_t>(a.nonce), 4);
    Bytes(a.node);
    Bytes(a.vector);
    Digest h = gonka::pocstore::LeafHash(a.nonce, a.vector);
    Bytes(std::string(reinterpret_cast<const char*>(h.data()), 32));
  }
  std::string Finish() {
    Be(0xffff, 2);
    return out_;
  }

 private:
  void Be(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Bytes(const std::string& v) {
    Be(v.size(), 4);
    out_ += v;
  }
  std::string out_;
};

std::pair<double, double> P50P99(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  auto accumulator = gonka::pocstore::ParseAccumulator(f.accumulator);
  if (!accumulator.ok()) Die(accumulator.status().ToString());
  const bool smst = *accumulator == gonka::pocstore::Accumulator::kSmst;
  const std::string table = smst ? "pocstore_smst_artifacts" : "pocstore_artifacts";
  const uint64_t stage = 1000;
  const std::string model = "bench/model";
  std::vector<std::vector<Artifact>> batches = MakeBatches(f);
  const int nb = static_cast<int>(batches.size());
  std::printf("accumulator %s, artifacts %d, vector %d bytes, batch %d, replicas %d\n",
              f.accumulator.c_str(), f.artifacts, f.vector_bytes, f.batch, f.replicas);

  // 1. Local append-only file + nonce set + leaf hashes (Gonka's local-store shape).
  char dir_template[] = "/tmp/pocstore_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) Die("mkdtemp");
  std::string file_path = absl::StrCat(dir_template, "/artifacts.data");
  FILE* file = std::fopen(file_path.c_str(), "wb");
  if (file == nullptr) Die("open local file");
  std::unordered_set<int32_t> local_nonces;
  std::vector<gonka::pocstore::SmstLeaf> local_leaves;
  gonka::pocstore::Mmr local_mmr;
  absl::Duration file_d = RunWriters(1, nb, [&](int, int i) {
    for (const Artifact& a : batches[i]) {
      if (!local_nonces.insert(a.nonce).second) continue;
      uint32_t len = static_cast<uint32_t>(4 + a.vector.size());
      std::fwrite(&len, 4, 1, file);  // little-endian on this machine (x86-64)
      std::fwrite(&a.nonce, 4, 1, file);
      std::fwrite(a.vector.data(), 1, a.vector.size(), file);
      Digest h = gonka::pocstore::LeafHash(a.nonce, a.vector);
      if (smst) {
        local_leaves.push_back({static_cast<uint32_t>(a.nonce), h});
      } else {
        local_mmr.Append(h);
      }
    }
  });
  absl::Time flush_start = absl::Now();
  std::fclose(file);
  file_d += absl::Now() - flush_start;
  std::remove(file_path.c_str());
  rmdir(dir_template);
  absl::Time local_root_start = absl::Now();
  std::string local_root;
  if (smst) {
    std::sort(local_leaves.begin(), local_leaves.end(),
              [](const auto& a, const auto& b) { return a.key < b.key; });
    auto r = gonka::pocstore::SmstBuild(local_leaves, 64, nullptr);
    if (!r.ok()) Die(r.status().ToString());
    local_root.assign(reinterpret_cast<const char*>(r->root.data()), 32);
  } else if (auto r = local_mmr.Root()) {
    local_root.assign(reinterpret_cast<const char*>(r->data()), 32);
  }
  absl::Duration local_root_d = absl::Now() - local_root_start;
  double file_rate = Rate(f.artifacts, file_d);
  std::printf("local file:                 %10.0f appends/s (1 thread); its root in %.2f s\n",
              file_rate, absl::ToDoubleSeconds(local_root_d));

  // PostgreSQL: one pool (one connection) and one store object per writer.
  gonka::testing::PostgresServer server;
  if (absl::Status s = server.Start(); !s.ok()) Die(absl::StrCat("postgres: ", s.ToString()));
  std::vector<std::unique_ptr<gonka::pg::Pool>> pools;
  std::vector<std::unique_ptr<gonka::pocstore::ArtifactStore>> stores;
  for (int r = 0; r < f.replicas; ++r) {
    gonka::pg::PgOptions o;
    o.conninfo = server.url();
    o.max_connections = 1;
    o.statement_timeout = absl::Seconds(300);
    auto pool = gonka::pg::Pool::Open(o);
    if (!pool.ok()) Die(pool.status().ToString());
    auto store = gonka::pocstore::OpenPgArtifactStore(pool->get(), *accumulator);
    if (!store.ok()) Die(store.status().ToString());
    pools.push_back(std::move(*pool));
    stores.push_back(std::move(*store));
  }
  auto exec = [&](const std::string& sql) {
    auto r = pools[0]->Exec(sql);
    if (!r.ok()) Die(r.status().ToString());
  };
  // Between phases: until no autovacuum worker runs (one started by the previous phase's rows
  // would otherwise take a core from the next), at most 120 s.
  auto quiet = [&] {
    absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (absl::Now() < deadline) {
      auto r = pools[0]->Exec(
          "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'");
      if (!r.ok()) Die(r.status().ToString());
      if (r->Get(0, 0).value_or("1") == "0") return;
      absl::SleepFor(absl::Milliseconds(200));
    }
    std::printf("(autovacuum still running after 120 s)\n");
  };

  // 2, 3. Raw COPY of the same rows (buffers built before the clock).
  std::vector<std::string> copy_buffers(nb);
  for (int i = 0; i < nb; ++i) {
    CopyBuffer b;
    for (const Artifact& a : batches[i]) b.Row(std::to_string(stage), model, a);
    copy_buffers[i] = b.Finish();
  }
  auto raw_copy = [&](const std::string& into) {
    return RunWriters(f.replicas, nb, [&](int w, int i) {
      absl::Status s = pools[w]->WithConnection([&](gonka::pg::Connection& c) {
        return c
            .CopyIn(absl::StrCat("COPY ", into,
                                 " (stage, model, nonce, node, vector, leaf_hash) FROM STDIN "
                                 "(FORMAT binary)"),
                    copy_buffers[i])
            .status();
      });
      if (!s.ok()) Die(s.ToString());
    });
  };
  // The raw COPY into the store's table runs twice, before and after the store's run, and the
  // better of the two is the reference: the order of phases alone moved figures by ~1.5x.
  absl::Duration raw_same_d = raw_copy(table);
  exec(absl::StrCat("TRUNCATE ", table));
  exec(absl::StrCat("CREATE TABLE raw_artifacts AS SELECT * FROM ", table, " WITH NO DATA"));
  quiet();
  absl::Duration raw_bare_d = raw_copy("raw_artifacts");
  exec("DROP TABLE raw_artifacts");
  quiet();
  double raw_bare = Rate(f.artifacts, raw_bare_d);

  // 4. The store.
  absl::Duration pg_d = RunWriters(f.replicas, nb, [&](int w, int i) {
    auto r = stores[w]->Append(stage, model, batches[i]);
    if (!r.ok()) Die(r.status().ToString());
  });
  double pg_rate = Rate(f.artifacts, pg_d);
  quiet();
  {
    exec(absl::StrCat("CREATE TABLE raw_again (LIKE ", table, " INCLUDING ALL)"));
    absl::Duration again = raw_copy("raw_again");
    std::printf("raw COPY, same table:       %10.0f rows/s before the store, %.0f after\n",
                Rate(f.artifacts, raw_same_d), Rate(f.artifacts, again));
    raw_same_d = std::min(raw_same_d, again);
    exec("DROP TABLE raw_again");
    quiet();
  }
  copy_buffers.clear();
  copy_buffers.shrink_to_fit();
  double raw_same = Rate(f.artifacts, raw_same_d);
  std::printf("raw COPY, bare table:       %10.0f rows/s (%d connections)\n", raw_bare, f.replicas);
  std::printf("store Append:               %10.0f appends/s (%d replicas)\n", pg_rate, f.replicas);

  // 5. The commitment over everything, from scratch.
  absl::Time commit_start = absl::Now();
  auto pg_c = stores[0]->Commit(stage, model);
  absl::Duration commit_d = absl::Now() - commit_start;
  if (!pg_c.ok()) Die(pg_c.status().ToString());
  std::printf("Commit() of %llu artifacts from scratch: %.2f s = %.2fx the %d s block interval\n",
              static_cast<unsigned long long>(pg_c->count), absl::ToDoubleSeconds(commit_d),
              absl::ToDoubleSeconds(commit_d) / f.block_seconds, f.block_seconds);

  // 6. Proofs.
  std::mt19937 rng(7);
  std::vector<double> by_leaf, by_nonce;
  int verified = 0;
  Digest root{};
  std::copy(pg_c->root.begin(), pg_c->root.end(), root.begin());
  // Warm-up, not timed: each connection prepares its statements on first use.
  for (int i = 0; i < 10 * f.replicas; ++i) {
    if (!stores[i % f.replicas]->ProveLeaf(stage, model, rng() % pg_c->count, pg_c->count).ok()) {
      Die("warm-up proof");
    }
  }
  for (int i = 0; i < f.proofs; ++i) {
    uint64_t leaf = rng() % pg_c->count;
    absl::Time t = absl::Now();
    auto p = stores[i % f.replicas]->ProveLeaf(stage, model, leaf, pg_c->count);
    by_leaf.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    if (!p.ok()) Die(p.status().ToString());
    t = absl::Now();
    auto q = stores[i % f.replicas]->ProveNonce(stage, model, p->nonce, pg_c->count);
    by_nonce.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    if (!q.ok()) Die(q.status().ToString());
    bool ok;
    if (smst) {
      std::vector<gonka::pocstore::SmstProofElement> e;
      for (size_t k = 0; k < p->siblings.size(); ++k) {
        e.push_back({p->siblings[k], p->sibling_counts[k]});
      }
      ok = gonka::pocstore::VerifySmstProof(root, pg_c->count, leaf, p->nonce, p->vector, e);
    } else {
      ok = gonka::pocstore::VerifyProof(root, pg_c->count, leaf, p->nonce, p->vector, p->siblings);
    }
    ok = ok && q->leaf_index == leaf && q->siblings == p->siblings;
    verified += ok ? 1 : 0;
  }
  // POCSTORE_BENCH_EXPLAIN=1: the plans of the two proof statements, as prepared by the store on
  // the first writer's connection.
  if (getenv("POCSTORE_BENCH_EXPLAIN") != nullptr && smst) {
    for (const char* name : {"pocstore_smst_prove_rank", "pocstore_smst_prove_key"}) {
      auto r =
          pools[0]->Exec(absl::StrCat("EXPLAIN ANALYZE EXECUTE ", name, "('", stage, "', '", model,
                                      "', '", pg_c->count, "', '", pg_c->count / 3, "')"));
      if (!r.ok()) Die(r.status().ToString());
      for (int i = 0; i < r->rows(); ++i) std::printf("  %s\n", r->Get(i, 0)->c_str());
    }
  }
  auto [leaf50, leaf99] = P50P99(by_leaf);
  auto [nonce50, nonce99] = P50P99(by_nonce);
  std::printf(
      "ProveLeaf:  p50 %.2f ms, p99 %.2f ms; ProveNonce: p50 %.2f ms, p99 %.2f ms "
      "(%d each, %d verified)\n",
      leaf50, leaf99, nonce50, nonce99, f.proofs, verified);

  std::printf(
      "ratios: store/raw COPY same table %.2fx, store/raw COPY bare table %.2fx, "
      "store/local file %.2fx; Commit %.2fx block; proof p99 %.2f ms = %.2fx the 5 ms goal\n",
      pg_rate / raw_same, pg_rate / raw_bare, pg_rate / file_rate,
      absl::ToDoubleSeconds(commit_d) / f.block_seconds, leaf99, leaf99 / 5.0);
  size_t local_count = smst ? local_leaves.size() : local_mmr.count();
  if (pg_c->count != local_count) Die("count differs from the local store's");
  bool same_root = pg_c->root == local_root;
  if (verified != f.proofs) Die("a proof did not verify");
  if (!same_root && (smst || f.replicas == 1)) Die("root differs from the local store's");
  std::printf("count %llu equal to the local store's, root %s\n",
              static_cast<unsigned long long>(pg_c->count),
              same_root ? "equal too" : "differs (MMR: concurrent storage order)");
  return 0;
}
