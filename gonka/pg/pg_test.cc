// gonka/pg against a real PostgreSQL (run as a non-root user when the test runs as root).
#include "gonka/pg/pg.h"

#include <stdlib.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PgTest : public ::testing::Test {
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
  PgOptions Options() {
    PgOptions o;
    o.conninfo = server_->url();
    return o;
  }
  static testing::PostgresServer* server_;
};
testing::PostgresServer* PgTest::server_ = nullptr;

TEST_F(PgTest, RoundTripWithParamsAndNulls) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(Options());
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)->Exec("CREATE TABLE t1 (k text PRIMARY KEY, v text, n bigint)").ok());
  absl::StatusOr<Result> ins = (*pool)->Exec("INSERT INTO t1 VALUES ($1, $2, $3), ($4, $5, $6)",
                                             {"a", "x y", "1", "b", std::nullopt, "2"});
  ASSERT_TRUE(ins.ok()) << ins.status();
  EXPECT_EQ(ins->affected(), 2);
  absl::StatusOr<Result> r =
      (*pool)->ExecPrepared("t1_by_n", "SELECT k, v, n FROM t1 WHERE n >= $1 ORDER BY k", {"1"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), 2);
  EXPECT_EQ(r->Get(0, "v"), std::optional<std::string>("x y"));
  EXPECT_EQ(r->Get(1, 1), std::nullopt);
  EXPECT_EQ(r->column("n"), 2);
  // Prepared again: reuses the statement.
  EXPECT_TRUE((*pool)->ExecPrepared("t1_by_n", "SELECT k, v, n FROM t1 WHERE n >= $1", {"2"}).ok());
  // The user is the non-root database user.
  absl::StatusOr<Result> who = (*pool)->Exec("SELECT current_user");
  EXPECT_EQ(who->Get(0, 0), std::optional<std::string>("gonka"));
}

TEST_F(PgTest, ErrorsCarryCodeAndSqlstate) {
  auto pool = *Pool::Open(Options());
  ASSERT_TRUE(pool->Exec("CREATE TABLE t2 (k text PRIMARY KEY)").ok());
  ASSERT_TRUE(pool->Exec("INSERT INTO t2 VALUES ('a')").ok());
  absl::Status dup = pool->Exec("INSERT INTO t2 VALUES ('a')").status();
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(dup.message()), HasSubstr("23505"));
  absl::Status syntax = pool->Exec("SELEC 1").status();
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(syntax.message()), HasSubstr("SELEC 1"));

  PgOptions bad = Options();
  int closed_port = testing::FreePort();  // nothing listens there
  bad.conninfo = absl::StrCat("postgresql://gonka:wrong-secret@127.0.0.1:", closed_port, "/gonka");
  absl::Status denied = Pool::Open(bad).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(denied.message()), Not(HasSubstr("wrong-secret")));
  EXPECT_THAT(std::string(denied.message()), HasSubstr(absl::StrCat(closed_port)));
  bad.conninfo = absl::StrCat("postgresql://gonka@127.0.0.1:", server_->port(), "/no_such_db");
  denied = Pool::Open(bad).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(denied.message()), HasSubstr("no_such_db"));
}

TEST_F(PgTest, TransactionRollsBackOnError) {
  auto pool = *Pool::Open(Options());
  ASSERT_TRUE(pool->Exec("CREATE TABLE t3 (k text PRIMARY KEY)").ok());
  absl::Status s = pool->Transaction([](Connection& tx) -> absl::Status {
    if (!tx.Exec("INSERT INTO t3 VALUES ('in-tx')").ok()) return absl::InternalError("insert");
    return absl::NotFoundError("caller decided to abort");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pool->Exec("SELECT count(*) FROM t3")->Get(0, 0), std::optional<std::string>("0"));
  EXPECT_TRUE(pool->Transaction([](Connection& tx) {
                    return tx.Exec("INSERT INTO t3 VALUES ('committed')").status();
                  })
                  .ok());
  EXPECT_EQ(pool->Exec("SELECT count(*) FROM t3")->Get(0, 0), std::optional<std::string>("1"));
}

// A process paused inside a transaction (SIGSTOP between two statements) must not hold its row
// locks forever: the server ends the idle transaction after idle_in_transaction_timeout, the
// waiter gets the row, and the paused side's next statement fails and the pool recovers.
TEST_F(PgTest, AStalledTransactionReleasesItsLocks) {
  PgOptions o = Options();
  o.idle_in_transaction_timeout = absl::Milliseconds(500);
  auto pool = *Pool::Open(o);
  ASSERT_TRUE(pool->Exec("CREATE TABLE t_stall (k text PRIMARY KEY, v bigint)").ok());
  ASSERT_TRUE(pool->Exec("INSERT INTO t_stall VALUES ('fence', 1)").ok());
  absl::Notification locked, waiter_done;
  absl::Status stalled;
  std::thread holder([&] {
    stalled = pool->Transaction([&](Connection& tx) -> absl::Status {
      absl::Status s = tx.Exec("SELECT v FROM t_stall WHERE k = 'fence' FOR UPDATE").status();
      if (!s.ok()) return s;
      locked.Notify();
      // Paused between two statements for longer than the timeout.
      waiter_done.WaitForNotificationWithTimeout(absl::Seconds(10));
      return tx.Exec("UPDATE t_stall SET v = 100 WHERE k = 'fence'").status();
    });
  });
  ASSERT_TRUE(locked.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  absl::StatusOr<Result> raised = pool->Exec("UPDATE t_stall SET v = 2 WHERE k = 'fence'");
  const absl::Duration waited = absl::Now() - start;
  waiter_done.Notify();
  holder.join();
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_LT(waited, absl::Seconds(5)) << "the waiter should get the row soon after 500ms";
  EXPECT_FALSE(stalled.ok()) << "the stalled transaction must not commit";
  EXPECT_EQ(pool->Exec("SELECT v FROM t_stall WHERE k = 'fence'")->Get(0, 0),
            std::optional<std::string>("2"));
}

TEST_F(PgTest, MigrationsApplyOnceAcrossConcurrentReplicas) {
  std::vector<Migration> migrations = {
      {1, "ledger", "CREATE TABLE ledger (key text PRIMARY KEY, state text NOT NULL)"},
      {2, "ledger attempts", "ALTER TABLE ledger ADD COLUMN attempts integer NOT NULL DEFAULT 0"},
  };
  std::vector<std::thread> replicas;
  std::vector<absl::Status> results(3);
  for (int i = 0; i < 3; ++i) {
    replicas.emplace_back([&, i] {
      auto pool = Pool::Open(Options());
      results[i] = pool.ok() ? Migrate(**pool, "signer", migrations) : pool.status();
    });
  }
  for (auto& t : replicas) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
  auto pool = *Pool::Open(Options());
  EXPECT_EQ(pool->Exec("SELECT count(*) FROM gonka_schema_migrations WHERE component='signer'")
                ->Get(0, 0),
            std::optional<std::string>("2"));
  EXPECT_TRUE(pool->Exec("INSERT INTO ledger (key, state) VALUES ('k', 'queued')").ok());
  EXPECT_TRUE(Migrate(*pool, "signer", migrations).ok());  // idempotent
  // An older binary that knows only version 1 refuses to run.
  absl::Status older = Migrate(*pool, "signer", {migrations[0]});
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(older.message()), HasSubstr("version 2"));
  EXPECT_EQ(Migrate(*pool, "x", {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PgTest, ConnectsFromLibpqEnvironment) {
  for (const auto& [k, v] : server_->env()) setenv(k.c_str(), v.c_str(), 1);
  PgOptions o;  // no conninfo: PGHOST, PGPORT, ... as libpq reads them
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_TRUE((*pool)->Exec("SELECT 1").ok());
}

TEST_F(PgTest, PoolSurvivesServerRestart) {
  auto pool = *Pool::Open(Options());
  ASSERT_TRUE(pool->Exec("SELECT 1").ok());
  ASSERT_TRUE(server_->Restart().ok());
  absl::StatusOr<Result> r = pool->Exec("SELECT 2");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), std::optional<std::string>("2"));
}

}  // namespace
}  // namespace pg
}  // namespace gonka
