// gonka/pg: PostgreSQL through libpq — connections from a URL, key=value conninfo or libpq's
// environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...), parameterised and prepared
// statements, transactions with retry on serialization failures, a small thread-safe pool that
// replaces broken connections, and versioned schema migrations applied at start.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<pg::Pool> pool, pg::Pool::Open({.conninfo = url}));
//   RETURN_IF_ERROR(pg::Migrate(*pool, "signer", kLedgerMigrations));
//   ASSIGN_OR_RETURN(pg::Result r, pool->Exec("SELECT state FROM ledger WHERE key = $1", {key}));
//   if (r.rows() == 1) state = r.Get(0, 0).value_or("");
//   RETURN_IF_ERROR(pool->Transaction([&](pg::Connection& tx) -> absl::Status {
//     ASSIGN_OR_RETURN(pg::Result r, tx.Exec("UPDATE ledger SET state=$2 WHERE key=$1", {key, s}));
//     return r.affected() == 1 ? absl::OkStatus() : absl::NotFoundError(key);
//   }));
//
// Errors carry the SQLSTATE and the server's message, with the code chosen by what a caller can
// do: connection trouble → Unavailable; serialization failure/deadlock (40001, 40P01) → Aborted
// (Transaction() retries these); unique violation (23505) → AlreadyExists; other integrity
// violations (23xxx) → FailedPrecondition; syntax/undefined objects (42xxx) and bad input
// (22xxx) → InvalidArgument; anything else → Internal. Passwords never appear in messages.
//
// A Connection is not thread-safe; a Pool is.
#ifndef GONKA_PG_PG_H_
#define GONKA_PG_PG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gonka {
namespace pg {

struct PgOptions {
  // "postgresql://user:pass@host:port/db", "host=... port=...", or "" for libpq's environment.
  std::string conninfo;
  absl::Duration connect_timeout = absl::Seconds(5);
  // Server-side statement_timeout for every statement (0 = none).
  absl::Duration statement_timeout = absl::Seconds(30);
  // Server-side idle_in_transaction_session_timeout (0 = none): a session that sits inside an open
  // transaction this long is ended by the server and its row locks are released. A process that
  // is paused (SIGSTOP, a VM freeze) in the middle of a transaction therefore cannot block the
  // rows it locked — e.g. a signer's fence row, which the next lease holder must raise — for
  // longer than this. Its own next statement then fails (the connection is gone) and the pool
  // reconnects.
  absl::Duration idle_in_transaction_timeout = absl::Seconds(5);
  // Pool size.
  int max_connections = 4;
  // Transaction(): attempts on serialization failure / deadlock.
  int max_attempts = 5;
  std::string application_name = "libgonka";
};

// A NULL is nullopt.
using Param = std::optional<std::string>;

class Result {
 public:
  Result() = default;
  int rows() const { return static_cast<int>(values_.size()); }
  int columns() const { return static_cast<int>(names_.size()); }
  const std::string& column_name(int column) const { return names_[column]; }
  // The column index by name, or -1.
  int column(absl::string_view name) const;
  // The value at (row, column); nullopt for NULL. Out-of-range indices are a programming error.
  const std::optional<std::string>& Get(int row, int column) const { return values_[row][column]; }
  std::optional<std::string> Get(int row, absl::string_view name) const;
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t affected() const { return affected_; }

 private:
  friend class ResultBuilder;
  std::vector<std::string> names_;
  std::vector<std::vector<std::optional<std::string>>> values_;
  int64_t affected_ = 0;
};

class Connection {
 public:
  // Connects (Unavailable naming host/port/database — never the password — on failure).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const PgOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` with $1.. parameters (text format).
  absl::StatusOr<Result> Exec(absl::string_view sql, const std::vector<Param>& params = {});
  // Prepares once per connection (a second call with the same name is a no-op) and executes.
  absl::StatusOr<Result> ExecPrepared(const std::string& name, absl::string_view sql,
                                      const std::vector<Param>& params);
  // Runs `body` inside BEGIN ... COMMIT (ROLLBACK when it fails), at `isolation`
  // ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"); retries Aborted errors.
  absl::Status Transaction(const std::function<absl::Status(Connection&)>& body,
                           absl::string_view isolation = "READ COMMITTED");
  // Runs `copy_sql` ("COPY t (a, b) FROM STDIN ...") and sends `data` (in the format that
  // statement names, e.g. PostgreSQL's binary COPY format) as its input; returns the rows copied.
  // Errors as Exec (a unique violation is AlreadyExists and nothing of `data` is stored).
  absl::StatusOr<int64_t> CopyIn(absl::string_view copy_sql, absl::string_view data);

  // True while the connection is usable (libpq's CONNECTION_OK).
  bool ok() const;
  // Describes the server as "host:port/database".
  const std::string& where() const { return where_; }

 private:
  explicit Connection(const PgOptions& options);
  absl::Status Connect();

  PgOptions options_;
  struct PgConn;
  std::unique_ptr<PgConn> conn_;
  std::string where_;
  std::vector<std::string> prepared_;
  bool in_transaction_ = false;
};

class Pool {
 public:
  // Opens one connection at once (so a bad URL or a down server fails at start), more on demand.
  static absl::StatusOr<std::unique_ptr<Pool>> Open(const PgOptions& options);
  ~Pool();

  // Borrows a connection for one statement. A connection found broken is replaced once.
  absl::StatusOr<Result> Exec(absl::string_view sql, const std::vector<Param>& params = {});
  absl::StatusOr<Result> ExecPrepared(const std::string& name, absl::string_view sql,
                                      const std::vector<Param>& params);
  absl::Status Transaction(const std::function<absl::Status(Connection&)>& body,
                           absl::string_view isolation = "READ COMMITTED");
  // Runs `fn` with a borrowed connection (waits while all are in use).
  absl::Status WithConnection(const std::function<absl::Status(Connection&)>& fn);

  const PgOptions& options() const { return options_; }

 private:
  explicit Pool(PgOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);

  PgOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

// One schema step. Versions are positive, strictly increasing, and never reused.
struct Migration {
  int version;
  std::string name;
  std::string sql;  // may hold several statements
};

// Applies the migrations of `component` that are not yet recorded in gonka_schema_migrations,
// each in its own transaction, under a Postgres advisory lock so replicas starting together
// apply each step once. Idempotent. FailedPrecondition when the database records a version of
// `component` that `migrations` does not know (a newer binary ran before: refuse to downgrade).
absl::Status Migrate(Pool& pool, absl::string_view component,
                     const std::vector<Migration>& migrations);

// True when `conninfo` (key=value or URL, parsed by libpq) carries a password: `password=...`,
// a URL's user:password@ or ?password=. InvalidArgument when libpq cannot parse it (the message
// does not quote the text, which may hold a secret).
absl::StatusOr<bool> ConninfoHasPassword(const std::string& conninfo);

}  // namespace pg
}  // namespace gonka

#endif  // GONKA_PG_PG_H_
