// PostgreSQL with TLS and a password, as docs/security-redis-pg.md tells operators to run it:
// pg::Pool connects with sslmode=verify-full, the right CA and the password from a 0600 passfile
// (conninfo `passfile=` or PGPASSFILE); a wrong CA, a host name the certificate does not name,
// no password, a wrong password and plain TCP are each refused, and no error carries the
// password.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gonka/pg/pg.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/test_ca.h"

namespace gonka {
namespace pg {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "pg-pw-6e1f0b93";
constexpr char kWrongPassword[] = "pg-wrong-2c7d41";

class PgTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new gonka::testing::TempDir("pg-tls");
    absl::StatusOr<gonka::testing::TestCa> ca = gonka::testing::TestCa::Create(dir_->path());
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new gonka::testing::TestCa(*ca);
    absl::StatusOr<gonka::testing::TestCertificate> cert = ca_->Issue("localhost");
    ASSERT_TRUE(cert.ok()) << cert.status();
    const std::string other_dir = dir_->Join("other");
    ASSERT_EQ(mkdir(other_dir.c_str(), 0700), 0);
    absl::StatusOr<gonka::testing::TestCa> other = gonka::testing::TestCa::Create(other_dir);
    ASSERT_TRUE(other.ok()) << other.status();
    other_ca_ = new gonka::testing::TestCa(*other);

    gonka::testing::PostgresServer::Options o;
    o.password = kPassword;
    o.tcp_auth = "scram-sha-256";
    o.tls_cert_file = cert->cert_path;
    o.tls_key_file = cert->key_path;
    o.require_tls = true;
    server_ = new gonka::testing::PostgresServer(o);
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started << "\n" << server_->LogTail();

    passfile_ = new std::string(WritePassfile("pgpass", kPassword));
    wrong_passfile_ = new std::string(WritePassfile("pgpass-wrong", kWrongPassword));
  }

  static void TearDownTestSuite() {
    delete server_;
    delete ca_;
    delete other_ca_;
    delete passfile_;
    delete wrong_passfile_;
    delete dir_;
  }

  // hostname:port:database:username:password, mode 0600 (libpq ignores a more open file).
  static std::string WritePassfile(const std::string& name, const std::string& password) {
    const std::string path = dir_->Join(name);
    std::ofstream out(path);
    out << "*:" << server_->port() << ":gonka:gonka:" << password << "\n";
    out.close();
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    return path;
  }

  // The conninfo an operator writes: no password in it.
  static std::string Conninfo(const std::string& host, const std::string& ca,
                              const std::string& passfile, const std::string& extra = "") {
    return absl::StrCat("host=", host, " port=", server_->port(),
                        " dbname=gonka user=gonka sslmode=verify-full sslrootcert=", ca,
                        " passfile=", passfile, " ", extra);
  }

  static absl::Status Open(const std::string& conninfo) {
    PgOptions o;
    o.conninfo = conninfo;
    o.connect_timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(o);
    if (!pool.ok()) return pool.status();
    // Over TLS, as the server sees it.
    absl::StatusOr<Result> ssl =
        (*pool)->Exec("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    if (!ssl.ok()) return ssl.status();
    if (ssl->rows() != 1 || ssl->Get(0, 0).value_or("") != "true") {
      return absl::InternalError("connected without TLS");
    }
    return absl::OkStatus();
  }

  static void ExpectRefusedWithoutSecret(const absl::Status& s, absl::string_view why) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(why)) << s;
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kPassword)));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kWrongPassword)));
  }

  static gonka::testing::TempDir* dir_;
  static gonka::testing::TestCa* ca_;
  static gonka::testing::TestCa* other_ca_;
  static gonka::testing::PostgresServer* server_;
  static std::string* passfile_;
  static std::string* wrong_passfile_;
};

gonka::testing::TempDir* PgTlsTest::dir_ = nullptr;
gonka::testing::TestCa* PgTlsTest::ca_ = nullptr;
gonka::testing::TestCa* PgTlsTest::other_ca_ = nullptr;
gonka::testing::PostgresServer* PgTlsTest::server_ = nullptr;
std::string* PgTlsTest::passfile_ = nullptr;
std::string* PgTlsTest::wrong_passfile_ = nullptr;

TEST_F(PgTlsTest, VerifyFullWithTheRightCaAndPassfileConnects) {
  absl::Status s = Open(Conninfo("localhost", ca_->cert_path(), *passfile_));
  EXPECT_TRUE(s.ok()) << s;
  // The certificate names IP:127.0.0.1 too (libpq 14+ checks IP SANs).
  s = Open(Conninfo("127.0.0.1", ca_->cert_path(), *passfile_));
  EXPECT_TRUE(s.ok()) << s;
  // The URL form (what --pg-url-file may hold).
  s = Open(absl::StrCat("postgresql://gonka@localhost:", server_->port(),
                        "/gonka?sslmode=verify-full&sslrootcert=", ca_->cert_path(),
                        "&passfile=", *passfile_));
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(PgTlsTest, PgpassfileAndSslEnvironmentWork) {
  // libpq's own variables, as a daemon started with PGPASSFILE/PGSSLMODE/PGSSLROOTCERT sees them.
  setenv("PGPASSFILE", passfile_->c_str(), 1);
  setenv("PGSSLMODE", "verify-full", 1);
  setenv("PGSSLROOTCERT", ca_->cert_path().c_str(), 1);
  absl::Status s =
      Open(absl::StrCat("host=localhost port=", server_->port(), " dbname=gonka user=gonka"));
  unsetenv("PGPASSFILE");
  unsetenv("PGSSLMODE");
  unsetenv("PGSSLROOTCERT");
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(PgTlsTest, WrongCaIsRefused) {
  ExpectRefusedWithoutSecret(Open(Conninfo("localhost", other_ca_->cert_path(), *passfile_)),
                             "certificate verify failed");
}

TEST_F(PgTlsTest, HostNameMismatchIsRefusedUnderVerifyFull) {
  // Connect to the same server by address, but expect a name its certificate does not carry.
  ExpectRefusedWithoutSecret(
      Open(Conninfo("db.wrong.example", ca_->cert_path(), *passfile_, "hostaddr=127.0.0.1")),
      "does not match host name");
}

TEST_F(PgTlsTest, NoPasswordIsRefused) {
  ExpectRefusedWithoutSecret(
      Open(Conninfo("localhost", ca_->cert_path(), dir_->Join("no-such-passfile"))),
      "no password supplied");
}

TEST_F(PgTlsTest, WrongPasswordIsRefused) {
  ExpectRefusedWithoutSecret(Open(Conninfo("localhost", ca_->cert_path(), *wrong_passfile_)),
                             "password authentication failed for user \"gonka\"");
}

TEST_F(PgTlsTest, PlainTcpIsRefused) {
  absl::Status s =
      Open(absl::StrCat("host=localhost port=", server_->port(),
                        " dbname=gonka user=gonka sslmode=disable passfile=", *passfile_));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()),
              AnyOf(HasSubstr("no encryption"), HasSubstr("rejects connection")))
      << s;
}

}  // namespace
}  // namespace pg
}  // namespace gonka
