// bench/pocstore: appends/s of the shared PostgreSQL artifact store against baselines measured
// in the same run on the same machine, the time Commit() takes to compute the MMR over all of
// them, and proof-serving latency.
//
// Rows: --artifacts artifacts of one (stage, model), --vector-bytes each, nonces 0..n-1 split
// over --replicas writer threads (each its own pool and store object, as separate edge-srv
// processes would be), --batch artifacts per Append().
//
// Run, in order:
//   1. in-memory: InMemoryArtifactStore (Gonka's in-process shape: nonce map + MMR) from one
//      thread — the upper bound a local store reaches before any disk;
//   2. local file: an append-only file per (stage, model) written as Gonka's local store lays
//      out its data file ([LE32 length][LE32 nonce][vector]), plus the in-memory MMR, flushed
//      once at the end (no fsync) — Gonka's local-store shape on the same disk;
//   3. raw insert: the same rows into a bare table (no key, no leaf hash), the same multi-row
//      INSERT ... SELECT FROM unnest(...) statement shape, from --replicas threads — PostgreSQL's
//      own cost for these bytes;
//   4. PgArtifactStore::Append from --replicas threads, then one Commit() over everything;
//   5. --proofs ProveLeaf() calls at random leaves (from one thread), p50/p99.
// Ratios printed: store / raw insert, store / local file, store / in-memory.
//
//   bazel build -c opt //bench/pocstore:pocstore_bench &&
//     bazel-out/k8-opt/bin/bench/pocstore/pocstore_bench [--artifacts=200000 --replicas=3
//     --batch=500 --vector-bytes=64 --proofs=1000]
//
// The figures of one run are in docs/pocstore.md ("Performance"). No limit is enforced: the
// exit code is 0 when the store's count equals the in-memory store's (and the root too with
// --replicas=1). POCSTORE_BENCH_EXPLAIN=1 prints the plans of the two proof lookups.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/testing/servers.h"

namespace {

using gonka::pocstore::Artifact;

struct Flags {
  int artifacts = 200000;
  int replicas = 3;
  int batch = 500;
  int vector_bytes = 64;
  int proofs = 1000;
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
    if (!take("artifacts", &f.artifacts) && !take("replicas", &f.replicas) &&
        !take("batch", &f.batch) && !take("vector-bytes", &f.vector_bytes) &&
        !take("proofs", &f.proofs)) {
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

// Batches of (node, nonce, vector), nonces 0..n-1; batch i goes to writer i % replicas.
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

double Rate(int n, absl::Duration d) { return n / absl::ToDoubleSeconds(d); }

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

std::string IntArray(const std::vector<Artifact>& b) {
  std::string out = "{";
  for (size_t i = 0; i < b.size(); ++i) absl::StrAppend(&out, i ? "," : "", b[i].nonce);
  return out + "}";
}

std::string HexArray(const std::vector<Artifact>& b, bool node) {
  std::string out = "{";
  for (size_t i = 0; i < b.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", "\"",
                    node ? b[i].node : gonka::crypto::HexEncode(b[i].vector), "\"");
  }
  return out + "}";
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  const uint64_t stage = 1000;
  const std::string model = "bench/model";
  std::vector<std::vector<Artifact>> batches = MakeBatches(f);
  const int nb = static_cast<int>(batches.size());
  std::printf("artifacts %d, vector %d bytes, batch %d, replicas %d\n", f.artifacts, f.vector_bytes,
              f.batch, f.replicas);

  // 1. In memory.
  gonka::pocstore::InMemoryArtifactStore memory;
  absl::Duration mem_d = RunWriters(1, nb, [&](int, int i) {
    if (!memory.Append(stage, model, batches[i]).ok()) Die("in-memory append");
  });
  auto mem_c = memory.Commit(stage, model);
  std::printf("in-memory store:      %10.0f appends/s\n", Rate(f.artifacts, mem_d));

  // 2. Local append-only file + MMR (Gonka's local-store shape).
  char dir_template[] = "/tmp/pocstore_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) Die("mkdtemp");
  std::string file_path = absl::StrCat(dir_template, "/artifacts.data");
  FILE* file = std::fopen(file_path.c_str(), "wb");
  if (file == nullptr) Die("open local file");
  gonka::pocstore::Mmr file_mmr;
  absl::Duration file_d = RunWriters(1, nb, [&](int, int i) {
    for (const Artifact& a : batches[i]) {
      uint32_t len = static_cast<uint32_t>(4 + a.vector.size());
      std::fwrite(&len, 4, 1, file);  // little-endian on this machine (x86-64)
      std::fwrite(&a.nonce, 4, 1, file);
      std::fwrite(a.vector.data(), 1, a.vector.size(), file);
      file_mmr.Append(gonka::pocstore::LeafHash(a.nonce, a.vector));
    }
  });
  absl::Time flush_start = absl::Now();
  std::fclose(file);
  file_d += absl::Now() - flush_start;
  std::remove(file_path.c_str());
  rmdir(dir_template);
  std::printf("local file + MMR:     %10.0f appends/s\n", Rate(f.artifacts, file_d));

  // PostgreSQL for 3-5.
  gonka::testing::PostgresServer server;
  if (absl::Status s = server.Start(); !s.ok()) Die(absl::StrCat("postgres: ", s.ToString()));
  std::vector<std::unique_ptr<gonka::pg::Pool>> pools;
  std::vector<std::unique_ptr<gonka::pocstore::PgArtifactStore>> stores;
  for (int r = 0; r < f.replicas; ++r) {
    gonka::pg::PgOptions o;
    o.conninfo = server.url();
    o.max_connections = 1;
    o.statement_timeout = absl::Seconds(120);
    auto pool = gonka::pg::Pool::Open(o);
    if (!pool.ok()) Die(pool.status().ToString());
    auto store = gonka::pocstore::PgArtifactStore::Open(pool->get());
    if (!store.ok()) Die(store.status().ToString());
    pools.push_back(std::move(*pool));
    stores.push_back(std::move(*store));
  }

  // 3. Raw insert into a bare table.
  if (!pools[0]
           ->Exec("CREATE TABLE raw_artifacts (stage bigint, model text, nonce integer, "
                  "node text, vector bytea)")
           .ok()) {
    Die("create raw table");
  }
  absl::Duration raw_d = RunWriters(f.replicas, nb, [&](int w, int i) {
    auto r = pools[w]->ExecPrepared(
        "raw_insert",
        "INSERT INTO raw_artifacts SELECT $1, $2, t.n, t.d, decode(t.v, 'hex') "
        "FROM unnest($3::integer[], $4::text[], $5::text[]) AS t(n, d, v)",
        {absl::StrCat(stage), model, IntArray(batches[i]), HexArray(batches[i], true),
         HexArray(batches[i], false)});
    if (!r.ok()) Die(r.status().ToString());
  });
  std::printf("raw multi-row insert: %10.0f rows/s\n", Rate(f.artifacts, raw_d));

  // 4. The store.
  absl::Duration pg_d = RunWriters(f.replicas, nb, [&](int w, int i) {
    auto r = stores[w]->Append(stage, model, batches[i]);
    if (!r.ok()) Die(r.status().ToString());
  });
  absl::Time commit_start = absl::Now();
  auto pg_c = stores[0]->Commit(stage, model);
  absl::Duration commit_d = absl::Now() - commit_start;
  if (!pg_c.ok()) Die(pg_c.status().ToString());
  double pg_rate = Rate(f.artifacts, pg_d);
  std::printf("PgArtifactStore:      %10.0f appends/s (%d replicas)\n", pg_rate, f.replicas);
  std::printf("Commit() of %llu leaves from scratch: %.2f s (%.0f leaves/s)\n",
              static_cast<unsigned long long>(pg_c->count), absl::ToDoubleSeconds(commit_d),
              Rate(static_cast<int>(pg_c->count), commit_d));

  // 5. Proofs.
  std::mt19937 rng(7);
  std::vector<double> ms;
  for (int i = 0; i < f.proofs; ++i) {
    uint64_t leaf = rng() % pg_c->count;
    absl::Time t = absl::Now();
    auto p = stores[i % f.replicas]->ProveLeaf(stage, model, leaf, pg_c->count);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    if (!p.ok()) Die(p.status().ToString());
  }
  std::sort(ms.begin(), ms.end());
  if (getenv("POCSTORE_BENCH_EXPLAIN") != nullptr) {
    for (const char* q :
         {"EXPLAIN ANALYZE SELECT leaf_index, nonce, node, encode(vector, 'hex') FROM "
          "pocstore_artifacts WHERE stage = 1000 AND model = 'bench/model' AND leaf_index = 77",
          "EXPLAIN ANALYZE SELECT pos FROM pocstore_nodes WHERE stage = 1000 AND "
          "model = 'bench/model' AND pos = ANY('{1,5,7,100,2000}'::bigint[])"}) {
      auto r = pools[0]->Exec(q);
      if (!r.ok()) Die(r.status().ToString());
      for (int i = 0; i < r->rows(); ++i) std::printf("  %s\n", r->Get(i, 0)->c_str());
    }
  }
  std::printf("ProveLeaf: p50 %.2f ms, p99 %.2f ms (%d proofs)\n", ms[ms.size() / 2],
              ms[ms.size() * 99 / 100], f.proofs);

  std::printf("ratios: store/raw insert %.2fx, store/local file %.2fx, store/in-memory %.3fx\n",
              pg_rate / Rate(f.artifacts, raw_d), pg_rate / Rate(f.artifacts, file_d),
              pg_rate / Rate(f.artifacts, mem_d));
  bool same = mem_c.ok() && mem_c->count == pg_c->count && mem_c->root == pg_c->root &&
              file_mmr.count() == pg_c->count;
  // Order differs between the in-memory run (batch order) and the concurrent one (storage
  // order), so the roots agree only when writers=1; the count must always agree.
  if (f.replicas == 1 && !same) Die("root differs from the in-memory store");
  if (mem_c->count != pg_c->count) Die("count differs from the in-memory store");
  std::printf("count %llu equal to the in-memory store's%s\n",
              static_cast<unsigned long long>(pg_c->count),
              same ? ", root equal too" : " (root differs: concurrent storage order)");
  return 0;
}
