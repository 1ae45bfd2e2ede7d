// PostgresServer through libpq: create table / insert / select as the non-superuser role the
// fixture creates; the server runs as `nobody` when the test runs as root; data survives a
// crash (SIGKILL) and a restart on the same port.
#include <postgresql/libpq-fe.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

struct PgFinish {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, PgFinish>;
using Result = std::unique_ptr<PGresult, PgClear>;

Result Exec(PGconn* conn, const std::string& sql) { return Result(PQexec(conn, sql.c_str())); }

// The first column of the first row, or the error.
std::string Scalar(PGconn* conn, const std::string& sql) {
  Result r = Exec(conn, sql);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) {
    return "error: " + std::string(PQerrorMessage(conn));
  }
  return PQgetvalue(r.get(), 0, 0);
}

TEST(PostgresServerTest, CreateInsertSelectAsApplicationUser) {
  PostgresServer pg;
  absl::Status started = pg.Start();
  ASSERT_TRUE(started.ok()) << started;

  if (RunningAsRoot()) {
    // Postgres refuses root: the server process and its data dir belong to `nobody`.
    struct stat st;
    ASSERT_EQ(stat(("/proc/" + std::to_string(pg.pid())).c_str(), &st), 0);
    EXPECT_NE(st.st_uid, 0u);
    ASSERT_EQ(stat(pg.data_dir().c_str(), &st), 0);
    EXPECT_NE(st.st_uid, 0u);
  }

  Conn conn(PQconnectdb(pg.conninfo().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(Scalar(conn.get(), "SELECT current_user"), "gonka");
  EXPECT_EQ(Scalar(conn.get(), "SELECT current_database()"), "gonka");
  EXPECT_EQ(Scalar(conn.get(), "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"),
            "false");

  Result create = Exec(conn.get(), "CREATE TABLE blocks (height BIGINT PRIMARY KEY, hash TEXT)");
  ASSERT_EQ(PQresultStatus(create.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());
  const char* params[] = {"120", "ABCDEF"};
  Result insert = Result(PQexecParams(conn.get(), "INSERT INTO blocks VALUES ($1, $2)", 2, nullptr,
                                      params, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(insert.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());
  Result select = Exec(conn.get(), "SELECT height, hash FROM blocks");
  ASSERT_EQ(PQresultStatus(select.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(PQntuples(select.get()), 1);
  EXPECT_STREQ(PQgetvalue(select.get(), 0, 0), "120");
  EXPECT_STREQ(PQgetvalue(select.get(), 0, 1), "ABCDEF");

  // The same table through the environment a daemon would get.
  std::map<std::string, std::string> env = pg.env();
  EXPECT_EQ(env["PGPORT"], std::to_string(pg.port()));
  EXPECT_EQ(env["PGUSER"], "gonka");
}

// Prints how long each step took (to stderr, kept in the test log) so a slow run explains itself.
class StepTimer {
 public:
  void Step(const char* what) {
    const absl::Time now = absl::Now();
    std::cerr << what << ": " << absl::FormatDuration(now - last_) << "\n";
    last_ = now;
  }

 private:
  absl::Time last_ = absl::Now();
};

TEST(PostgresServerTest, CommittedRowsSurviveKillAndRestartOnSamePort) {
  StepTimer timer;
  PostgresServer pg;
  ASSERT_TRUE(pg.Start().ok());
  timer.Step("initdb + start");
  const int port = pg.port();
  {
    Conn conn(PQconnectdb(pg.conninfo().c_str()));
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    Result r = Exec(conn.get(), "CREATE TABLE t (v INT); INSERT INTO t VALUES (1), (2)");
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());
    // The fixture turns fsync off; a checkpoint is not needed for a process crash (the WAL is in
    // the OS page cache), only for a machine crash.
  }
  ASSERT_TRUE(pg.Kill().ok());
  timer.Step("kill");
  EXPECT_FALSE(TcpPortOpen(pg.host(), port));
  absl::Status restarted = pg.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(pg.port(), port);
  timer.Step("restart after the crash");

  Conn conn(PQconnectdb(pg.conninfo().c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(Scalar(conn.get(), "SELECT sum(v)::text FROM t"), "3");

  // A paused server accepts TCP (kernel backlog) but answers nothing: connect_timeout fires.
  ASSERT_TRUE(pg.Pause().ok());
  const std::string slow = pg.conninfo() + " connect_timeout=1";
  Conn stalled(PQconnectdb(slow.c_str()));
  EXPECT_NE(PQstatus(stalled.get()), CONNECTION_OK);
  ASSERT_TRUE(pg.Resume().ok());
  timer.Step("pause + stalled connect + resume");
  EXPECT_EQ(Scalar(conn.get(), "SELECT 1"), "1");
  // Graceful stop (SIGINT, fast shutdown) and start again.
  ASSERT_TRUE(pg.Stop().ok());
  timer.Step("graceful stop");
  EXPECT_FALSE(pg.IsRunning());
  ASSERT_TRUE(pg.Start().ok());
  timer.Step("start");
}

}  // namespace
}  // namespace testing
}  // namespace gonka
