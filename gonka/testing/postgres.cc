// PostgresServer: initdb + postgres, as a non-root OS user when the test runs as root.
#include <postgresql/libpq-fe.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

// Postgres refuses to run as root, and `nobody` cannot traverse $TEST_TMPDIR (under /root), so
// as root the data dir lives under /tmp. Its unix socket path must also stay under 108 bytes,
// which a Bazel $TEST_TMPDIR path can exceed: /tmp in every case.
constexpr char kDirParent[] = "/tmp";

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

std::string TlsCertPath(const std::string& dir) { return dir + "/server.crt"; }
std::string TlsKeyPath(const std::string& dir) { return dir + "/server.key"; }

absl::StatusOr<PgResult> Exec(PGconn* conn, const std::string& sql) {
  PgResult result(PQexec(conn, sql.c_str()));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(absl::StrCat("postgres: ", sql, ": ", PQerrorMessage(conn)));
  }
  return result;
}

std::string Quote(PGconn* conn, const std::string& value, bool identifier) {
  char* quoted = identifier ? PQescapeIdentifier(conn, value.c_str(), value.size())
                            : PQescapeLiteral(conn, value.c_str(), value.size());
  std::string out = quoted != nullptr ? quoted : "";
  PQfreemem(quoted);
  return out;
}

}  // namespace

PostgresServer::PostgresServer() : PostgresServer(Options()) {}

PostgresServer::PostgresServer(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout, kDirParent),
      options_(std::move(options)) {
  options_.port = port();
}

std::string PostgresServer::url() const {
  // With trust authentication no password is needed, and daemons refuse one in --pg-url.
  const std::string password =
      options_.tcp_auth == "trust" ? "" : absl::StrCat(":", options_.password);
  return absl::StrCat("postgresql://", options_.user, password, "@", host(), ":", port(), "/",
                      options_.database);
}

std::string PostgresServer::conninfo() const {
  return absl::StrCat("host=", host(), " port=", port(), " user=", options_.user,
                      " password=", options_.password, " dbname=", options_.database);
}

std::string PostgresServer::superuser_conninfo() const {
  if (own_hba()) {
    // TCP wants a password (or TLS); the superuser has none: its unix socket is `trust`.
    return absl::StrCat("host=", socket_dir(), " port=", port(), " user=postgres dbname=postgres");
  }
  return absl::StrCat("host=", host(), " port=", port(), " user=postgres dbname=postgres");
}

std::map<std::string, std::string> PostgresServer::env() const {
  return {{"PGHOST", host()},
          {"PGPORT", std::to_string(port())},
          {"PGUSER", options_.user},
          {"PGPASSWORD", options_.password},
          {"PGDATABASE", options_.database}};
}

std::string PostgresServer::data_dir() const { return dir() + "/data"; }

absl::Status PostgresServer::Prepare() {
  if (tls()) {
    // Copies the server may own: postgres refuses a key file readable by group or others, or
    // owned by another user than the server's (root-owned 0640 aside).
    for (const auto& [from, to] : {std::make_pair(options_.tls_cert_file, TlsCertPath(dir())),
                                   std::make_pair(options_.tls_key_file, TlsKeyPath(dir()))}) {
      std::error_code ec;
      std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec)
        return absl::InternalError(absl::StrCat("copy ", from, " to ", to, ": ", ec.message()));
      if (chmod(to.c_str(), 0600) != 0) {
        return absl::InternalError(absl::StrCat("chmod 0600 ", to));
      }
    }
  }
  if (RunningAsRoot()) RETURN_IF_ERROR(ChownTree(dir(), options_.run_as_user));
  SubprocessOptions initdb;
  initdb.argv = {options_.bin_dir + "/initdb",
                 "-D",
                 data_dir(),
                 "-U",
                 "postgres",
                 "-A",
                 "trust",
                 "--no-sync",
                 "-E",
                 "UTF8",
                 "--locale=C"};
  initdb.env["LC_ALL"] = "C";
  initdb.working_dir = dir();
  initdb.log_path = dir() + "/initdb.log";
  initdb.run_as_user = options_.run_as_user;
  Subprocess process(initdb);
  RETURN_IF_ERROR(process.Start());
  absl::StatusOr<int> code = process.Wait(absl::Seconds(60));
  if (!code.ok()) return Annotate(code.status(), "initdb");
  if (*code != 0) {
    return absl::InternalError(
        absl::StrCat("initdb -D ", data_dir(), " exited with ", *code, ":\n", process.LogTail()));
  }
  if (own_hba()) {
    // First match wins: the unix socket stays trust (the fixture's superuser); TCP takes TLS
    // and/or a password as configured.
    const std::string method = options_.tcp_auth;
    std::string hba = "local all all trust\n";
    if (tls()) absl::StrAppend(&hba, "hostssl all all 127.0.0.1/32 ", method, "\n");
    if (options_.require_tls) {
      absl::StrAppend(&hba, "hostnossl all all 127.0.0.1/32 reject\n");
    } else {
      absl::StrAppend(&hba, "host all all 127.0.0.1/32 ", method, "\n");
    }
    const std::string path = data_dir() + "/pg_hba.conf";
    std::ofstream out(path, std::ios::trunc);
    out << hba;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
    if (RunningAsRoot()) RETURN_IF_ERROR(ChownTree(data_dir(), options_.run_as_user));
  } else if (host() != "127.0.0.1") {
    // On a test host (hosts.h) clients come from the other hosts of the test's private network.
    std::ofstream out(data_dir() + "/pg_hba.conf", std::ios::app);
    out << "host all all 0.0.0.0/0 trust\n";
    out.close();
    if (!out)
      return absl::InternalError(absl::StrCat("cannot append to ", data_dir(), "/pg_hba.conf"));
  }
  return absl::OkStatus();
}

SubprocessOptions PostgresServer::ProcessOptions() {
  SubprocessOptions options;
  // fsync off: only a machine crash could lose data, and tests crash processes, not machines.
  // synchronous_commit stays on, so a commit acknowledged before a kill -9 survives it.
  options.argv = {options_.bin_dir + "/postgres", "-D", data_dir(),  "-p",
                  std::to_string(port()),         "-k", dir(),       "-c",
                  "listen_addresses=" + host(),   "-c", "fsync=off", "-c",
                  "full_page_writes=off"};
  if (tls()) {
    options.argv.insert(options.argv.end(),
                        {"-c", "ssl=on", "-c", "ssl_cert_file=" + TlsCertPath(dir()), "-c",
                         "ssl_key_file=" + TlsKeyPath(dir())});
  }
  for (const std::string& setting : options_.settings) {
    options.argv.insert(options.argv.end(), {"-c", setting});
  }
  options.env["LC_ALL"] = "C";
  options.working_dir = dir();
  options.run_as_user = options_.run_as_user;
  return options;
}

absl::Status PostgresServer::Probe() {
  const std::string conninfo = superuser_conninfo() + " connect_timeout=2";
  PGPing ping = PQping(conninfo.c_str());
  if (ping == PQPING_OK) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("PQping ", address(), " = ", static_cast<int>(ping)));
}

absl::Status PostgresServer::AfterReady() {
  if (database_created_) return absl::OkStatus();
  PgConn conn(PQconnectdb(superuser_conninfo().c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("connect as postgres to ", address(), ": ", PQerrorMessage(conn.get())));
  }
  const std::string role = Quote(conn.get(), options_.user, true);
  ASSIGN_OR_RETURN(PgResult roles,
                   Exec(conn.get(), absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = ",
                                                 Quote(conn.get(), options_.user, false))));
  if (PQntuples(roles.get()) == 0) {
    RETURN_IF_ERROR(Exec(conn.get(), absl::StrCat("CREATE ROLE ", role, " LOGIN CREATEDB PASSWORD ",
                                                  Quote(conn.get(), options_.password, false)))
                        .status());
  }
  ASSIGN_OR_RETURN(PgResult databases,
                   Exec(conn.get(), absl::StrCat("SELECT 1 FROM pg_database WHERE datname = ",
                                                 Quote(conn.get(), options_.database, false))));
  if (PQntuples(databases.get()) == 0) {
    RETURN_IF_ERROR(
        Exec(conn.get(), absl::StrCat("CREATE DATABASE ",
                                      Quote(conn.get(), options_.database, true), " OWNER ", role))
            .status());
  }
  database_created_ = true;
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace gonka
