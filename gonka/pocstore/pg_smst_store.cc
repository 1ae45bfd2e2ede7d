// PgSmstArtifactStore (artifact_store.h): the shared artifact store with Gonka's sparse Merkle
// sum tree. docs/pocstore.md, "The SMST store", explains the design.
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/base/status_macros.h"
#include "gonka/crypto/hash.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/pocstore/smst.h"

namespace gonka {
namespace pocstore {
namespace {

const std::vector<pg::Migration>& Migrations() {
  // Only the primary key is maintained on the write path: it is what ignores duplicate nonces
  // across replicas. `xid` is the writing transaction (64-bit, never wraps): Commit() takes the
  // rows whose transaction had ended before it, a set that can no longer change.
  static const auto* m = new std::vector<pg::Migration>{
      {1, "create pocstore_smst tables", R"sql(
CREATE TABLE pocstore_smst_artifacts (
  stage     bigint  NOT NULL,
  model     text    NOT NULL,
  nonce     integer NOT NULL,
  node      text    NOT NULL,
  vector    bytea   NOT NULL,
  leaf_hash bytea   NOT NULL,
  xid       xid8    NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (stage, model, nonce)
);
CREATE TABLE pocstore_smst_commitments (
  stage      bigint  NOT NULL,
  model      text    NOT NULL,
  count      bigint  NOT NULL,
  root       bytea   NOT NULL,
  depth      integer NOT NULL,
  xid_bound  xid8    NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stage, model, count)
);
CREATE TABLE pocstore_smst_nodes (
  stage      bigint  NOT NULL,
  model      text    NOT NULL,
  count      bigint  NOT NULL,
  height     integer NOT NULL,
  prefix     bigint  NOT NULL,
  hash       bytea   NOT NULL,
  cnt        bigint  NOT NULL,
  rank_start bigint  NOT NULL,
  bucket     boolean NOT NULL,
  lo         bigint  NOT NULL,
  PRIMARY KEY (stage, model, count, height, prefix)
);
CREATE INDEX pocstore_smst_nodes_rank ON pocstore_smst_nodes (stage, model, count, rank_start)
  WHERE bucket;
CREATE INDEX pocstore_smst_nodes_lo ON pocstore_smst_nodes (stage, model, count, lo)
  WHERE bucket;
)sql"},
  };
  return *m;
}

constexpr char kArtifactColumns[] = "stage, model, nonce, node, vector, leaf_hash";

// PostgreSQL's binary COPY format: a header, then per row a field count and per field a
// big-endian length and the value's binary form, then a -1 trailer.
class CopyWriter {
 public:
  CopyWriter() {
    out_.append("PGCOPY\n\377\r\n", 11);
    Be(0, 4);  // flags
    Be(0, 4);  // header extension length
  }
  void Reserve(size_t bytes) { out_.reserve(bytes); }
  void Row(int16_t fields) { Be(static_cast<uint16_t>(fields), 2); }
  void Int64Field(int64_t v) {
    Be(8, 4);
    Be(static_cast<uint64_t>(v), 8);
  }
  void Int32Field(int32_t v) {
    Be(4, 4);
    Be(static_cast<uint32_t>(v), 4);
  }
  void BoolField(bool v) {
    Be(1, 4);
    out_.push_back(v ? 1 : 0);
  }
  void BytesField(absl::string_view v) {
    Be(v.size(), 4);
    out_.append(v.data(), v.size());
  }
  std::string Finish() {
    Be(0xffff, 2);  // -1
    return std::move(out_);
  }

 private:
  void Be(uint64_t v, int bytes) {
    char b[8];
    for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
    out_.append(b, bytes);
  }
  std::string out_;
};

absl::string_view DigestView(const Digest& d) {
  return absl::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string Where(uint64_t stage, absl::string_view model) {
  return absl::StrCat("stage ", stage, " model \"", model, "\"");
}

template <typename Int>
absl::StatusOr<Int> ParseInt(const std::optional<std::string>& v, absl::string_view what) {
  Int out = 0;
  if (!v || !absl::SimpleAtoi(*v, &out)) {
    return absl::InternalError(absl::StrCat("pocstore: bad ", what, " from PostgreSQL"));
  }
  return out;
}

// bytea in PostgreSQL's text output ("\x" then hex).
absl::Status ParseBytea(const std::optional<std::string>& v, absl::string_view what,
                        std::string* out) {
  if (!v || v->size() < 2 || (*v)[0] != '\\' || (*v)[1] != 'x') {
    return absl::InternalError(absl::StrCat("pocstore: bad ", what, " from PostgreSQL"));
  }
  return crypto::HexDecode(absl::string_view(*v).substr(2), what, out);
}

absl::StatusOr<Digest> ParseDigest(const std::optional<std::string>& v, absl::string_view what) {
  std::string raw;
  RETURN_IF_ERROR(ParseBytea(v, what, &raw));
  if (raw.size() != 32) {
    return absl::InternalError(absl::StrCat("pocstore: ", what, " is not 32 bytes"));
  }
  Digest d;
  std::memcpy(d.data(), raw.data(), 32);
  return d;
}

absl::Status CheckModel(absl::string_view model) {
  if (model.empty()) return absl::InvalidArgumentError("pocstore: empty model id");
  return absl::OkStatus();
}

struct CommitmentRow {
  Commitment c;
  std::string xid_bound;  // decimal
};

absl::StatusOr<std::optional<CommitmentRow>> LastCommitment(pg::Connection& c,
                                                            const std::string& stage,
                                                            const std::string& model) {
  ASSIGN_OR_RETURN(pg::Result r,
                   c.ExecPrepared("pocstore_smst_last",
                                  "SELECT count, root, depth, xid_bound::text "
                                  "FROM pocstore_smst_commitments WHERE stage = $1 AND model = $2 "
                                  "ORDER BY count DESC LIMIT 1",
                                  {stage, model}));
  if (r.rows() == 0) return std::nullopt;
  CommitmentRow row;
  ASSIGN_OR_RETURN(row.c.count, ParseInt<uint64_t>(r.Get(0, 0), "count"));
  RETURN_IF_ERROR(ParseBytea(r.Get(0, 1), "pocstore root", &row.c.root));
  ASSIGN_OR_RETURN(row.c.depth, ParseInt<int>(r.Get(0, 2), "depth"));
  row.xid_bound = r.Get(0, 3).value_or("");
  return row;
}

struct StoredLeaf {
  SmstLeaf leaf;
  std::string node;
  std::string vector;
};

// Streams the committed artifacts' (key, leaf hash) — with node and vector when `full` — in key
// order, `page` rows per statement (keyset on the primary key), from key `from_key`.
absl::Status StreamCommitted(pg::Connection& c, const std::string& stage, const std::string& model,
                             const std::string& xid_bound, int page, bool full,
                             const std::function<bool(StoredLeaf&)>& fn) {
  // uint32 key order: the non-negative nonces ascending, then the negative ones ascending.
  const std::pair<int64_t, int64_t> halves[] = {{-1, INT32_MAX}, {int64_t{INT32_MIN} - 1, -1}};
  for (const auto& [after_start, last] : halves) {
    int64_t after = after_start;
    while (true) {
      ASSIGN_OR_RETURN(
          pg::Result r,
          c.ExecPrepared(
              full ? "pocstore_smst_stream_full" : "pocstore_smst_stream",
              absl::StrCat("SELECT nonce, leaf_hash", full ? ", node, vector" : "",
                           " FROM pocstore_smst_artifacts WHERE stage = $1 AND "
                           "model = $2 AND nonce > $3::bigint AND nonce <= $4::bigint AND "
                           "xid < $5::xid8 ORDER BY nonce LIMIT $6"),
              {stage, model, std::to_string(after), std::to_string(last), xid_bound,
               std::to_string(page)}));
      for (int i = 0; i < r.rows(); ++i) {
        StoredLeaf s;
        ASSIGN_OR_RETURN(int32_t nonce, ParseInt<int32_t>(r.Get(i, 0), "nonce"));
        s.leaf.key = static_cast<uint32_t>(nonce);
        ASSIGN_OR_RETURN(s.leaf.hash, ParseDigest(r.Get(i, 1), "pocstore leaf hash"));
        if (full) {
          s.node = r.Get(i, 2).value_or("");
          RETURN_IF_ERROR(ParseBytea(r.Get(i, 3), "pocstore vector", &s.vector));
        }
        after = nonce;
        if (!fn(s)) return absl::OkStatus();
      }
      if (r.rows() < page) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgSmstArtifactStore>> PgSmstArtifactStore::Open(pg::Pool* pool) {
  return Open(pool, Options());
}

absl::StatusOr<std::unique_ptr<PgSmstArtifactStore>> PgSmstArtifactStore::Open(pg::Pool* pool,
                                                                               Options options) {
  if (options.scan_page <= 0 || options.commit_page <= 0 || options.bucket_leaves < 2) {
    return absl::InvalidArgumentError(
        "pocstore: scan_page and commit_page must be positive, bucket_leaves at least 2");
  }
  RETURN_IF_ERROR(pg::Migrate(*pool, "pocstore_smst", Migrations()));
  return std::unique_ptr<PgSmstArtifactStore>(new PgSmstArtifactStore(pool, options));
}

absl::StatusOr<int64_t> PgSmstArtifactStore::Append(uint64_t stage, absl::string_view model,
                                                    const std::vector<Artifact>& batch) {
  RETURN_IF_ERROR(CheckModel(model));
  // Within the batch the first of a nonce wins; the leaf hash is computed here, by the replica,
  // so Commit() only reads 32 bytes per artifact.
  // Rows go in nonce order, so two replicas copying overlapping batches take the key's locks in
  // the same order (no deadlock between them).
  std::vector<const Artifact*> order;
  order.reserve(batch.size());
  size_t bytes = 64;
  for (const Artifact& a : batch) {
    order.push_back(&a);
    bytes += 82 + model.size() + a.node.size() + a.vector.size();
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Artifact* x, const Artifact* y) { return x->nonce < y->nonce; });
  CopyWriter w;
  w.Reserve(bytes);
  int64_t rows = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && order[i]->nonce == order[i - 1]->nonce) continue;  // the first one stays
    const Artifact& a = *order[i];
    w.Row(6);
    w.Int64Field(static_cast<int64_t>(stage));
    w.BytesField(model);
    w.Int32Field(a.nonce);
    w.BytesField(a.node);
    w.BytesField(a.vector);
    w.BytesField(DigestView(LeafHash(a.nonce, a.vector)));
    ++rows;
  }
  if (rows == 0) return 0;
  std::string data = w.Finish();
  int64_t stored = 0;
  RETURN_IF_ERROR(pool_->WithConnection([&](pg::Connection& c) -> absl::Status {
    // Fast path: one COPY straight into the table. Duplicates are rare (a retried batch), and
    // a COPY that meets one stores nothing (unique violation) — then the batch goes through a
    // session-local staging table and one INSERT ... ON CONFLICT DO NOTHING.
    absl::StatusOr<int64_t> copied =
        c.CopyIn(absl::StrCat("COPY pocstore_smst_artifacts (", kArtifactColumns,
                              ") FROM STDIN (FORMAT binary)"),
                 data);
    if (copied.ok()) {
      stored = *copied;
      return absl::OkStatus();
    }
    if (copied.status().code() != absl::StatusCode::kAlreadyExists &&
        copied.status().code() != absl::StatusCode::kAborted) {
      return copied.status();
    }
    return c.Transaction([&](pg::Connection& tx) -> absl::Status {
      // Session-local, created once per connection (asked first: IF NOT EXISTS would log a
      // notice on every fallback).
      ASSIGN_OR_RETURN(pg::Result exists,
                       tx.Exec("SELECT to_regclass('pg_temp.pocstore_smst_staging') IS NULL"));
      if (exists.Get(0, 0).value_or("t") == "t") {
        RETURN_IF_ERROR(
            tx.Exec("CREATE TEMP TABLE pocstore_smst_staging (stage bigint, model text, nonce "
                    "integer, node text, vector bytea, leaf_hash bytea) ON COMMIT DELETE ROWS")
                .status());
      }
      RETURN_IF_ERROR(tx.CopyIn(absl::StrCat("COPY pocstore_smst_staging (", kArtifactColumns,
                                             ") FROM STDIN (FORMAT binary)"),
                                data)
                          .status());
      ASSIGN_OR_RETURN(pg::Result r,
                       tx.Exec(absl::StrCat("INSERT INTO pocstore_smst_artifacts (",
                                            kArtifactColumns, ") SELECT ", kArtifactColumns,
                                            " FROM pocstore_smst_staging "
                                            "ON CONFLICT DO NOTHING")));
      stored = r.affected();
      return absl::OkStatus();
    });
  }));
  return stored;
}

absl::StatusOr<Commitment> PgSmstArtifactStore::Commit(uint64_t stage, absl::string_view model) {
  RETURN_IF_ERROR(CheckModel(model));
  const std::string stage_s = std::to_string(stage);
  const std::string model_s(model);
  Commitment result;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& c) -> absl::Status {
    // One committer per (stage, model) at a time, across processes.
    RETURN_IF_ERROR(c.ExecPrepared("pocstore_smst_lock",
                                   "SELECT pg_advisory_xact_lock(hashtext('pocstore_smst/' || "
                                   "$1 || '/' || $2))",
                                   {stage_s, model_s})
                        .status());
    // Every transaction with an id below the oldest one still running has ended, and every
    // later one gets a larger id: the rows with xid < bound are final from here on.
    ASSIGN_OR_RETURN(pg::Result snap,
                     c.Exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"));
    std::string bound = snap.Get(0, 0).value_or("");
    ASSIGN_OR_RETURN(std::optional<CommitmentRow> last, LastCommitment(c, stage_s, model_s));
    std::vector<SmstLeaf> leaves;
    if (last) leaves.reserve(last->c.count + options_.commit_page);
    RETURN_IF_ERROR(StreamCommitted(c, stage_s, model_s, bound, options_.commit_page, false,
                                    [&](StoredLeaf& s) {
                                      leaves.push_back(s.leaf);
                                      return true;
                                    }));
    if (leaves.empty() || (last && leaves.size() <= last->c.count)) {
      // Nothing new (rows that ended since were rolled back): the last commitment stands.
      if (last) result = last->c;
      return absl::OkStatus();
    }
    CopyWriter nodes;
    int64_t node_rows = 0;
    ASSIGN_OR_RETURN(SmstResult built,
                     SmstBuild(leaves, options_.bucket_leaves, [&](const SmstNode& n) {
                       nodes.Row(10);
                       nodes.Int64Field(static_cast<int64_t>(stage));
                       nodes.BytesField(model_s);
                       nodes.Int64Field(static_cast<int64_t>(leaves.size()));
                       nodes.Int32Field(n.height);
                       nodes.Int64Field(static_cast<int64_t>(n.prefix));
                       nodes.BytesField(DigestView(n.hash));
                       nodes.Int64Field(n.count);
                       nodes.Int64Field(static_cast<int64_t>(n.rank_start));
                       nodes.BoolField(n.bucket);
                       nodes.Int64Field(static_cast<int64_t>(n.prefix << n.height));
                       ++node_rows;
                     }));
    result.count = built.count;
    result.depth = built.depth;
    result.root.assign(reinterpret_cast<const char*>(built.root.data()), 32);
    ASSIGN_OR_RETURN(
        pg::Result inserted,
        c.ExecPrepared("pocstore_smst_commit",
                       "INSERT INTO pocstore_smst_commitments "
                       "(stage, model, count, root, depth, xid_bound) "
                       "VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6::xid8)",
                       {stage_s, model_s, std::to_string(result.count),
                        crypto::HexEncode(result.root), std::to_string(result.depth), bound}));
    (void)inserted;
    ASSIGN_OR_RETURN(int64_t copied,
                     c.CopyIn("COPY pocstore_smst_nodes (stage, model, count, height, prefix, "
                              "hash, cnt, rank_start, bucket, lo) FROM STDIN (FORMAT binary)",
                              nodes.Finish()));
    if (copied != node_rows) {
      return absl::InternalError(absl::StrCat("pocstore ", Where(stage, model), ": stored ", copied,
                                              " of ", node_rows, " tree nodes"));
    }
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<Commitment> PgSmstArtifactStore::Committed(uint64_t stage, absl::string_view model) {
  RETURN_IF_ERROR(CheckModel(model));
  Commitment out;
  RETURN_IF_ERROR(pool_->WithConnection([&](pg::Connection& c) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<CommitmentRow> last,
                     LastCommitment(c, std::to_string(stage), std::string(model)));
    if (last) out = last->c;
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> PgSmstArtifactStore::CountsByNode(
    uint64_t stage, absl::string_view model) {
  RETURN_IF_ERROR(CheckModel(model));
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("pocstore_smst_counts",
                                       "SELECT node, count(*) FROM pocstore_smst_artifacts "
                                       "WHERE stage = $1 AND model = $2 GROUP BY node",
                                       {std::to_string(stage), std::string(model)}));
  std::map<std::string, int64_t> out;
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(out[r.Get(i, 0).value_or("")], ParseInt<int64_t>(r.Get(i, 1), "count"));
  }
  return out;
}

absl::StatusOr<ArtifactProof> PgSmstArtifactStore::ProveNonce(uint64_t stage,
                                                              absl::string_view model,
                                                              int32_t nonce, uint64_t count) {
  return Prove(stage, model, true, static_cast<uint32_t>(nonce), count);
}

absl::StatusOr<ArtifactProof> PgSmstArtifactStore::ProveLeaf(uint64_t stage,
                                                             absl::string_view model,
                                                             uint64_t leaf_index, uint64_t count) {
  if (leaf_index >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("pocstore ", Where(stage, model), ": leaf ", leaf_index, " ≥ count ", count));
  }
  return Prove(stage, model, false, leaf_index, count);
}

// One statement, one round trip: the commitment and the bucket holding the leaf (by rank or by
// key range; partial indexes on the bucket rows), the bucket's leaves (a primary-key range, split
// at the sign bit when the bucket spans it, restricted to the commitment's xid bound), and the
// persisted siblings above the bucket (one primary-key lookup per level: a sibling at height h
// ≥ the bucket's is the other child of the path, prefix (bucket prefix >> (h - bucket height))
// xor 1). Rows: kind 0 = header, 1 = leaf, 2 = sibling. The LATERAL ... OFFSET 0 / LIMIT 1
// subqueries keep PostgreSQL from flattening them: each must run as an index lookup driven by
// the one bucket row (flattened, the planner scanned the whole stage and joined afterwards).
constexpr char kProveSql[] = R"sql(
WITH c AS (
  SELECT depth, xid_bound FROM pocstore_smst_commitments
  WHERE stage = $1 AND model = $2 AND count = $3),
b AS (
  SELECT height, prefix, rank_start, prefix << height AS first_key,
         ((prefix + 1) << height) - 1 AS last_key
  FROM pocstore_smst_nodes
  WHERE stage = $1 AND model = $2 AND count = $3 AND bucket AND %s <= $4
  ORDER BY %s DESC LIMIT 1)
SELECT 0 AS kind, c.depth::bigint AS a, b.height::bigint AS b, b.prefix AS p, b.rank_start AS r,
       NULL::bytea AS hash, NULL::text AS node, NULL::bytea AS vector
  FROM c LEFT JOIN b ON true
UNION ALL
SELECT 1, x.nonce, NULL, NULL, NULL, x.leaf_hash, x.node, x.vector
  FROM c, b CROSS JOIN LATERAL (
    SELECT nonce, leaf_hash, node, vector FROM pocstore_smst_artifacts
    WHERE b.first_key <= 2147483647 AND stage = $1 AND model = $2
      AND nonce BETWEEN b.first_key AND LEAST(b.last_key, 2147483647) AND xid < c.xid_bound
    OFFSET 0) x
UNION ALL
SELECT 1, x.nonce, NULL, NULL, NULL, x.leaf_hash, x.node, x.vector
  FROM c, b CROSS JOIN LATERAL (
    SELECT nonce, leaf_hash, node, vector FROM pocstore_smst_artifacts
    WHERE b.last_key >= 2147483648 AND stage = $1 AND model = $2
      AND nonce BETWEEN GREATEST(b.first_key, 2147483648) - 4294967296
                    AND b.last_key - 4294967296
      AND xid < c.xid_bound
    OFFSET 0) x
UNION ALL
SELECT 2, n.height, NULL, n.prefix, n.cnt, n.hash, NULL, NULL
  FROM c, b, generate_series(b.height, c.depth - 1) AS h
  CROSS JOIN LATERAL (
    SELECT height, prefix, cnt, hash FROM pocstore_smst_nodes
    WHERE stage = $1 AND model = $2 AND count = $3 AND height = h
      AND prefix = (b.prefix >> (h - b.height)) # 1
    LIMIT 1) n
)sql";

absl::StatusOr<ArtifactProof> PgSmstArtifactStore::Prove(uint64_t stage, absl::string_view model,
                                                         bool by_nonce, uint64_t leaf_or_key,
                                                         uint64_t count) {
  RETURN_IF_ERROR(CheckModel(model));
  static const std::string* by_rank_sql =
      new std::string(absl::StrFormat(kProveSql, "rank_start", "rank_start"));
  static const std::string* by_key_sql = new std::string(absl::StrFormat(kProveSql, "lo", "lo"));
  ASSIGN_OR_RETURN(
      pg::Result r,
      pool_->ExecPrepared(by_nonce ? "pocstore_smst_prove_key" : "pocstore_smst_prove_rank",
                          by_nonce ? *by_key_sql : *by_rank_sql,
                          {std::to_string(stage), std::string(model), std::to_string(count),
                           std::to_string(leaf_or_key)}));
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat(
        "pocstore ", Where(stage, model), ": ", by_nonce ? "nonce " : "leaf ",
        by_nonce ? std::to_string(static_cast<int32_t>(static_cast<uint32_t>(leaf_or_key)))
                 : std::to_string(leaf_or_key),
        " not committed at count ", count));
  };
  int header = -1;
  std::vector<StoredLeaf> in_bucket;
  std::map<std::pair<int, uint64_t>, SmstNode> above;
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(int kind, ParseInt<int>(r.Get(i, 0), "kind"));
    if (kind == 0) {
      header = i;
    } else if (kind == 1) {
      StoredLeaf s;
      ASSIGN_OR_RETURN(int32_t nonce, ParseInt<int32_t>(r.Get(i, 1), "nonce"));
      s.leaf.key = static_cast<uint32_t>(nonce);
      ASSIGN_OR_RETURN(s.leaf.hash, ParseDigest(r.Get(i, 5), "pocstore leaf hash"));
      s.node = r.Get(i, 6).value_or("");
      RETURN_IF_ERROR(ParseBytea(r.Get(i, 7), "pocstore vector", &s.vector));
      in_bucket.push_back(std::move(s));
    } else {
      SmstNode n;
      ASSIGN_OR_RETURN(n.height, ParseInt<int>(r.Get(i, 1), "height"));
      ASSIGN_OR_RETURN(n.prefix, ParseInt<uint64_t>(r.Get(i, 3), "prefix"));
      ASSIGN_OR_RETURN(n.count, ParseInt<uint32_t>(r.Get(i, 4), "cnt"));
      ASSIGN_OR_RETURN(n.hash, ParseDigest(r.Get(i, 5), "pocstore node hash"));
      above[{n.height, n.prefix}] = n;
    }
  }
  if (header < 0) {
    return absl::InvalidArgumentError(absl::StrCat("pocstore ", Where(stage, model), ": count ",
                                                   count, " is not a committed count"));
  }
  ASSIGN_OR_RETURN(int depth, ParseInt<int>(r.Get(header, 1), "depth"));
  if (!r.Get(header, 2)) return not_found();  // no bucket at or below it
  ASSIGN_OR_RETURN(int bucket_height, ParseInt<int>(r.Get(header, 2), "height"));
  ASSIGN_OR_RETURN(uint64_t prefix, ParseInt<uint64_t>(r.Get(header, 3), "prefix"));
  ASSIGN_OR_RETURN(uint64_t rank_start, ParseInt<uint64_t>(r.Get(header, 4), "rank_start"));
  std::sort(in_bucket.begin(), in_bucket.end(),
            [](const StoredLeaf& a, const StoredLeaf& b) { return a.leaf.key < b.leaf.key; });
  size_t at = 0;
  if (by_nonce) {
    if ((leaf_or_key >> bucket_height) != prefix) return not_found();
    while (at < in_bucket.size() && in_bucket[at].leaf.key != leaf_or_key) ++at;
    if (at >= in_bucket.size()) return not_found();
  } else {
    at = leaf_or_key - rank_start;
    if (at >= in_bucket.size()) {
      return absl::DataLossError(absl::StrCat("pocstore ", Where(stage, model), ": leaf ",
                                              leaf_or_key, " missing from its bucket"));
    }
  }
  std::vector<SmstLeaf> leaves;
  leaves.reserve(in_bucket.size());
  for (const StoredLeaf& s : in_bucket) leaves.push_back(s.leaf);
  uint32_t key = in_bucket[at].leaf.key;
  std::vector<SmstProofElement> elements =
      SmstProve(depth, key, bucket_height, leaves, [&](int height, uint64_t p) {
        auto it = above.find({height, p});
        return it == above.end() ? SmstNode{} : it->second;
      });
  ArtifactProof proof;
  proof.leaf_index = rank_start + at;
  proof.nonce = static_cast<int32_t>(key);
  proof.node = in_bucket[at].node;
  proof.vector = in_bucket[at].vector;
  for (const SmstProofElement& e : elements) {
    proof.siblings.push_back(e.sibling);
    proof.sibling_counts.push_back(e.sibling_count);
  }
  return proof;
}

absl::Status PgSmstArtifactStore::Scan(
    uint64_t stage, absl::string_view model, uint64_t from_leaf,
    const std::function<bool(uint64_t leaf, const Artifact&)>& fn) {
  RETURN_IF_ERROR(CheckModel(model));
  const std::string stage_s = std::to_string(stage);
  const std::string model_s(model);
  return pool_->WithConnection([&](pg::Connection& c) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<CommitmentRow> last, LastCommitment(c, stage_s, model_s));
    if (!last) return absl::OkStatus();
    uint64_t leaf = 0;
    return StreamCommitted(
        c, stage_s, model_s, last->xid_bound, options_.scan_page, true, [&](StoredLeaf& s) {
          if (leaf >= last->c.count) return false;
          uint64_t this_leaf = leaf++;
          if (this_leaf < from_leaf) return true;
          Artifact a{std::move(s.node), static_cast<int32_t>(s.leaf.key), std::move(s.vector)};
          return fn(this_leaf, a);
        });
  });
}

absl::StatusOr<int64_t> PgSmstArtifactStore::DropStagesBefore(uint64_t min_stage) {
  int64_t dropped = 0;
  const std::string s = std::to_string(min_stage);
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& c) -> absl::Status {
    ASSIGN_OR_RETURN(pg::Result a,
                     c.Exec("DELETE FROM pocstore_smst_artifacts WHERE stage < $1", {s}));
    dropped = a.affected();
    RETURN_IF_ERROR(c.Exec("DELETE FROM pocstore_smst_nodes WHERE stage < $1", {s}).status());
    return c.Exec("DELETE FROM pocstore_smst_commitments WHERE stage < $1", {s}).status();
  }));
  return dropped;
}

absl::StatusOr<Accumulator> ParseAccumulator(absl::string_view name) {
  if (name == "mmr") return Accumulator::kMmr;
  if (name == "smst") return Accumulator::kSmst;
  return absl::InvalidArgumentError(
      absl::StrCat("pocstore accumulator \"", name, "\": expected mmr or smst"));
}

absl::StatusOr<std::unique_ptr<ArtifactStore>> OpenPgArtifactStore(pg::Pool* pool,
                                                                   Accumulator accumulator) {
  if (accumulator == Accumulator::kSmst) {
    ASSIGN_OR_RETURN(std::unique_ptr<PgSmstArtifactStore> s, PgSmstArtifactStore::Open(pool));
    return std::unique_ptr<ArtifactStore>(std::move(s));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PgArtifactStore> s, PgArtifactStore::Open(pool));
  return std::unique_ptr<ArtifactStore>(std::move(s));
}

}  // namespace pocstore
}  // namespace gonka
