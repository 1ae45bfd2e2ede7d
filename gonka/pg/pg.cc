#include "gonka/pg/pg.h"

#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace pg {

struct Connection::PgConn {
  PGconn* conn = nullptr;
  ~PgConn() {
    if (conn) PQfinish(conn);
  }
};

namespace {

// The status code for a server error, by SQLSTATE class (see pg.h).
absl::StatusCode CodeFor(absl::string_view sqlstate) {
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::StatusCode::kAborted;
  if (sqlstate == "23505") return absl::StatusCode::kAlreadyExists;
  if (absl::StartsWith(sqlstate, "23")) return absl::StatusCode::kFailedPrecondition;
  if (absl::StartsWith(sqlstate, "42") || absl::StartsWith(sqlstate, "22")) {
    return absl::StatusCode::kInvalidArgument;
  }
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P")) {
    return absl::StatusCode::kUnavailable;  // connection exception, admin shutdown
  }
  if (sqlstate == "57014") return absl::StatusCode::kDeadlineExceeded;  // statement timeout
  return absl::StatusCode::kInternal;
}

// The first line of a statement, for error messages.
std::string Brief(absl::string_view sql) {
  sql = sql.substr(0, sql.find('\n'));
  if (sql.size() > 80) return absl::StrCat(sql.substr(0, 77), "...");
  return std::string(sql);
}

std::string TrimMessage(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

int Result::column(absl::string_view name) const {
  for (int i = 0; i < columns(); ++i) {
    if (names_[i] == name) return i;
  }
  return -1;
}

std::optional<std::string> Result::Get(int row, absl::string_view name) const {
  int c = column(name);
  if (c < 0) return std::nullopt;
  return values_[row][c];
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const PgOptions& options) {
  std::unique_ptr<Connection> c(new Connection(options));
  RETURN_IF_ERROR(c->Connect());
  return c;
}

Connection::Connection(const PgOptions& options) : options_(options) {}

Connection::~Connection() = default;

absl::Status Connection::Connect() {
  prepared_.clear();
  in_transaction_ = false;
  // libpq merges: explicit keywords, then the conninfo/URL ("dbname" expands it), then PG* env.
  std::string timeout =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(options_.connect_timeout)));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options_.conninfo.empty() ? nullptr : options_.conninfo.c_str(),
                          timeout.c_str(), options_.application_name.c_str(), nullptr};
  conn_ = std::make_unique<PgConn>();
  conn_->conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn_->conn == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  const char* host = PQhost(conn_->conn);
  const char* port = PQport(conn_->conn);
  const char* db = PQdb(conn_->conn);
  where_ = absl::StrCat(host ? host : "?", ":", port ? port : "?", "/", db ? db : "?");
  if (PQstatus(conn_->conn) != CONNECTION_OK) {
    std::string message = TrimMessage(PQerrorMessage(conn_->conn));
    conn_.reset();
    return absl::UnavailableError(absl::StrCat("postgres ", where_, ": cannot connect: ", message));
  }
  if (options_.statement_timeout > absl::ZeroDuration()) {
    absl::StatusOr<Result> r = Exec(absl::StrCat(
        "SET statement_timeout = ", absl::ToInt64Milliseconds(options_.statement_timeout)));
    if (!r.ok()) return r.status();
  }
  if (options_.idle_in_transaction_timeout > absl::ZeroDuration()) {
    absl::StatusOr<Result> r =
        Exec(absl::StrCat("SET idle_in_transaction_session_timeout = ",
                          absl::ToInt64Milliseconds(options_.idle_in_transaction_timeout)));
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

bool Connection::ok() const { return conn_ && PQstatus(conn_->conn) == CONNECTION_OK; }

namespace {}  // namespace

// Fills Results from libpq (a friend of Result).
class ResultBuilder {
 public:
  static absl::StatusOr<Result> Collect(PGconn* conn, PGresult* res, absl::string_view sql,
                                        const std::string& where);
};

absl::StatusOr<Result> ResultBuilder::Collect(PGconn* conn, PGresult* res, absl::string_view sql,
                                              const std::string& where) {
  struct Free {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Free> holder(res);
  if (res == nullptr) {
    return absl::UnavailableError(absl::StrCat("postgres ", where, ": ", Brief(sql), ": ",
                                               TrimMessage(PQerrorMessage(conn))));
  }
  ExecStatusType status = PQresultStatus(res);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    Result out;
    int n = PQnfields(res);
    for (int c = 0; c < n; ++c) out.names_.emplace_back(PQfname(res, c));
    int rows = PQntuples(res);
    out.values_.resize(rows);
    for (int r = 0; r < rows; ++r) {
      out.values_[r].reserve(n);
      for (int c = 0; c < n; ++c) {
        if (PQgetisnull(res, r, c)) {
          out.values_[r].emplace_back(std::nullopt);
        } else {
          out.values_[r].emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
        }
      }
    }
    const char* affected = PQcmdTuples(res);
    if (affected && *affected) out.affected_ = std::strtoll(affected, nullptr, 10);
    return out;
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string sqlstate = state ? state : "";
  std::string message = TrimMessage(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  if (message.empty()) message = TrimMessage(PQerrorMessage(conn));
  absl::StatusCode code =
      PQstatus(conn) != CONNECTION_OK ? absl::StatusCode::kUnavailable : CodeFor(sqlstate);
  return absl::Status(
      code, absl::StrCat("postgres ", where, ": ", Brief(sql), ": ", message,
                         sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")")));
}

namespace {

absl::StatusOr<Result> Collect(PGconn* conn, PGresult* res, absl::string_view sql,
                               const std::string& where) {
  return ResultBuilder::Collect(conn, res, sql, where);
}

// Parameter arrays for libpq.
struct ParamArrays {
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const auto& p : params) {
      values.push_back(p ? p->data() : nullptr);
      lengths.push_back(p ? static_cast<int>(p->size()) : 0);
      formats.push_back(0);
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

}  // namespace

absl::StatusOr<Result> Connection::Exec(absl::string_view sql, const std::vector<Param>& params) {
  if (!ok()) {
    return absl::UnavailableError(absl::StrCat("postgres ", where_, ": connection is broken"));
  }
  std::string text(sql);
  PGresult* res;
  if (params.empty()) {
    res = PQexec(conn_->conn, text.c_str());
  } else {
    ParamArrays a(params);
    res = PQexecParams(conn_->conn, text.c_str(), static_cast<int>(params.size()), nullptr,
                       a.values.data(), a.lengths.data(), a.formats.data(), 0);
  }
  return Collect(conn_->conn, res, sql, where_);
}

absl::StatusOr<Result> Connection::ExecPrepared(const std::string& name, absl::string_view sql,
                                                const std::vector<Param>& params) {
  if (!ok()) {
    return absl::UnavailableError(absl::StrCat("postgres ", where_, ": connection is broken"));
  }
  if (std::find(prepared_.begin(), prepared_.end(), name) == prepared_.end()) {
    std::string text(sql);
    ASSIGN_OR_RETURN(Result prepared, Collect(conn_->conn,
                                              PQprepare(conn_->conn, name.c_str(), text.c_str(),
                                                        static_cast<int>(params.size()), nullptr),
                                              sql, where_));
    (void)prepared;
    prepared_.push_back(name);
  }
  ParamArrays a(params);
  return Collect(conn_->conn,
                 PQexecPrepared(conn_->conn, name.c_str(), static_cast<int>(params.size()),
                                a.values.data(), a.lengths.data(), a.formats.data(), 0),
                 sql, where_);
}

absl::StatusOr<int64_t> Connection::CopyIn(absl::string_view copy_sql, absl::string_view data) {
  if (!ok()) {
    return absl::UnavailableError(absl::StrCat("postgres ", where_, ": connection is broken"));
  }
  std::string text(copy_sql);
  PGresult* start = PQexec(conn_->conn, text.c_str());
  if (start != nullptr && PQresultStatus(start) == PGRES_COPY_IN) {
    PQclear(start);
    // Blocking connection: PQputCopyData returns 1 or -1, never 0. Sent in 1 MiB pieces.
    const char* error = nullptr;
    for (size_t at = 0; at < data.size() && error == nullptr; at += size_t{1} << 20) {
      size_t n = std::min(data.size() - at, size_t{1} << 20);
      if (PQputCopyData(conn_->conn, data.data() + at, static_cast<int>(n)) != 1) {
        error = "sending COPY data failed";
      }
    }
    if (PQputCopyEnd(conn_->conn, error) != 1) error = "ending COPY failed";
    PGresult* last = nullptr;
    while (PGresult* r = PQgetResult(conn_->conn)) {
      if (last) PQclear(last);
      last = r;
    }
    ASSIGN_OR_RETURN(Result result, Collect(conn_->conn, last, copy_sql, where_));
    return result.affected();
  }
  ASSIGN_OR_RETURN(Result result, Collect(conn_->conn, start, copy_sql, where_));
  (void)result;
  return absl::InternalError(
      absl::StrCat("postgres ", where_, ": ", Brief(copy_sql), ": not a COPY FROM STDIN"));
}

absl::Status Connection::Transaction(const std::function<absl::Status(Connection&)>& body,
                                     absl::string_view isolation) {
  if (in_transaction_) return body(*this);  // nested: join the outer transaction
  absl::Status last;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    absl::StatusOr<Result> begin = Exec(absl::StrCat("BEGIN ISOLATION LEVEL ", isolation));
    if (!begin.ok()) return begin.status();
    in_transaction_ = true;
    last = body(*this);
    if (last.ok()) {
      absl::StatusOr<Result> commit = Exec("COMMIT");
      last = commit.status();
    }
    if (!last.ok() && ok()) Exec("ROLLBACK").status().IgnoreError();
    in_transaction_ = false;
    if (last.ok() || last.code() != absl::StatusCode::kAborted) return last;
    GONKA_LOG_DEBUG("postgres transaction retried", {"attempt", attempt},
                    {"error", std::string(last.message())});
  }
  return last;
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Open(const PgOptions& options) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_connections: ", options.max_connections, " must be >= 1"));
  }
  std::unique_ptr<Pool> pool(new Pool(options));
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> first, Connection::Open(options));
  GONKA_LOG_INFO("postgres connected", {"server", first->where()});
  absl::MutexLock lock(&pool->mu_);
  pool->open_ = 1;
  pool->idle_.push_back(std::move(first));
  return pool;
}

Pool::~Pool() = default;

absl::StatusOr<std::unique_ptr<Connection>> Pool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.max_connections;
    };
    mu_.Await(absl::Condition(&available));
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->ok()) return c;
      --open_;  // broken: replaced below
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<Connection>> c = Connection::Open(options_);
  if (!c.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
  }
  return c;
}

void Pool::Release(std::unique_ptr<Connection> connection) {
  absl::MutexLock lock(&mu_);
  if (connection->ok()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

absl::Status Pool::WithConnection(const std::function<absl::Status(Connection&)>& fn) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire());
  absl::Status status = fn(*c);
  Release(std::move(c));
  return status;
}

absl::StatusOr<Result> Pool::Exec(absl::string_view sql, const std::vector<Param>& params) {
  return ExecPrepared("", sql, params);
}

absl::StatusOr<Result> Pool::ExecPrepared(const std::string& name, absl::string_view sql,
                                          const std::vector<Param>& params) {
  // A pooled connection may have died while idle (server restart): one retry on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<Result> result;
    bool broken = false;
    absl::Status status = WithConnection([&](Connection& c) {
      result = name.empty() ? c.Exec(sql, params) : c.ExecPrepared(name, sql, params);
      broken = !c.ok();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    if (!(broken && result.status().code() == absl::StatusCode::kUnavailable)) return result;
  }
  return absl::UnavailableError(absl::StrCat("postgres: ", Brief(sql), ": connection lost twice"));
}

absl::Status Pool::Transaction(const std::function<absl::Status(Connection&)>& body,
                               absl::string_view isolation) {
  return WithConnection([&](Connection& c) { return c.Transaction(body, isolation); });
}

absl::Status Migrate(Pool& pool, absl::string_view component,
                     const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version <= 0 ||
        (i > 0 && migrations[i].version <= migrations[i - 1].version)) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations of ", component, ": versions must be positive and increasing (",
                       migrations[i].name, " has version ", migrations[i].version, ")"));
    }
  }
  return pool.WithConnection([&](Connection& c) -> absl::Status {
    // One migrator at a time across every replica (session-level advisory lock).
    ASSIGN_OR_RETURN(Result lock, c.Exec("SELECT pg_advisory_lock(hashtext($1))",
                                         {absl::StrCat("gonka_migrate/", component)}));
    (void)lock;
    absl::Status status = [&]() -> absl::Status {
      RETURN_IF_ERROR(c.Exec("CREATE TABLE IF NOT EXISTS gonka_schema_migrations ("
                             " component text NOT NULL,"
                             " version integer NOT NULL,"
                             " name text NOT NULL,"
                             " applied_at timestamptz NOT NULL DEFAULT now(),"
                             " PRIMARY KEY (component, version))")
                          .status());
      ASSIGN_OR_RETURN(Result applied,
                       c.Exec("SELECT version FROM gonka_schema_migrations WHERE component = $1 "
                              "ORDER BY version",
                              {std::string(component)}));
      std::vector<int> done;
      for (int r = 0; r < applied.rows(); ++r) done.push_back(std::stoi(*applied.Get(r, 0)));
      for (int v : done) {
        bool known = std::any_of(migrations.begin(), migrations.end(),
                                 [v](const Migration& m) { return m.version == v; });
        if (!known) {
          return absl::FailedPreconditionError(absl::StrCat(
              "schema of ", component, " is at version ", v,
              ", which this binary does not know: a newer version ran against this database"));
        }
      }
      for (const Migration& m : migrations) {
        if (std::find(done.begin(), done.end(), m.version) != done.end()) continue;
        RETURN_IF_ERROR(c.Transaction([&](Connection& tx) -> absl::Status {
          RETURN_IF_ERROR(tx.Exec(m.sql).status());
          return tx
              .Exec(
                  "INSERT INTO gonka_schema_migrations (component, version, name) "
                  "VALUES ($1, $2, $3)",
                  {std::string(component), absl::StrCat(m.version), m.name})
              .status();
        }));
        GONKA_LOG_INFO("schema migration applied", {"component", std::string(component)},
                       {"version", m.version}, {"name", m.name});
      }
      return absl::OkStatus();
    }();
    c.Exec("SELECT pg_advisory_unlock(hashtext($1))", {absl::StrCat("gonka_migrate/", component)})
        .status()
        .IgnoreError();
    return status;
  });
}

absl::StatusOr<bool> ConninfoHasPassword(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);  // may quote the text; not repeated
  if (options == nullptr) {
    return absl::InvalidArgumentError("not a libpq conninfo (key=value ...) or postgresql:// URL");
  }
  bool has_password = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val != nullptr && o->val[0] != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(options);
  return has_password;
}

}  // namespace pg
}  // namespace gonka
