// ConnectionFlags: the connection settings every libgonka daemon shares, defined once so each
// daemon spells them the same way (flag / environment / default):
//   --redis-url     GONKA_REDIS_URL     redis://127.0.0.1:6379   Redis, or
//                                                                redis-sentinel://h:p,h:p/master
//   --nats-url      GONKA_NATS_URL      nats://127.0.0.1:4222    NATS URLs, comma-separated
//   --pg-url        GONKA_PG_URL        ""                       PostgreSQL conninfo or URL
//                                                                ("" = libpq's PG* variables)
//   --coordination  GONKA_COORDINATION  redis                    where leases and fenced state
//                                                                live: redis or nats
// With `nats`, also the NATS credential and TLS flags (every secret is a file, mode 0600, read at
// connect; see gonka/nats/options.h and docs/security-nats.md):
//   --nats-user             GONKA_NATS_USER             ""  user for --nats-password-file
//   --nats-password-file    GONKA_NATS_PASSWORD_FILE    ""  the password; without --nats-user the
//                                                           file holds "user:password"
//   --nats-token-file       GONKA_NATS_TOKEN_FILE       ""  an authorization token
//   --nats-nkey-seed-file   GONKA_NATS_NKEY_SEED_FILE   ""  a user nkey seed (SU...)
//   --nats-creds-file       GONKA_NATS_CREDS_FILE       ""  a .creds file (JWT + seed)
//   --nats-ca-file          GONKA_NATS_CA_FILE          ""  CA bundle verifying the server (TLS)
//   --nats-cert-file        GONKA_NATS_CERT_FILE        ""  client certificate (TLS)
//   --nats-key-file         GONKA_NATS_KEY_FILE         ""  its key (a secret file)
//   --nats-tls-server-name  GONKA_NATS_TLS_SERVER_NAME  ""  name expected in the server cert
//   --nats-inbox-prefix     GONKA_NATS_INBOX_PREFIX     ""  reply subject prefix (_INBOX_<role>)
// At most one of the four authentication files; TLS is on with tls:// URLs or --nats-ca-file.
// Credentials come from files only, never from a flag value or a URL (docs/security-redis-pg.md):
//   --redis-user                    GONKA_REDIS_USER                     ""  Redis 7 ACL user
//   --redis-password-file           GONKA_REDIS_PASSWORD_FILE            ""  AUTH password
//   --redis-sentinel-user           GONKA_REDIS_SENTINEL_USER            ""  the Sentinels' own
//   --redis-sentinel-password-file  GONKA_REDIS_SENTINEL_PASSWORD_FILE   ""  credentials
//   --pg-url-file                   GONKA_PG_URL_FILE                    ""  conninfo/URL that may
//                                                                            hold a password
// A secret file must be a regular file not readable by group or others (chmod 600); one trailing
// newline is dropped. --pg-url refuses a password (user:pass@ or password=): put it in
// --pg-url-file or libpq's PGPASSFILE instead; libpq's PGSSLMODE, PGSSLROOTCERT, and
// sslmode=verify-full&sslrootcert=... in the URL work as libpq documents.
// A daemon registers only the ones it uses. A URL with user:password@ is refused for Redis and
// NATS too. Bad values stop the daemon at start with an error naming the flag (and the file,
// never its content).
//
// Example:
//   ConnectionFlags conn;
//   conn.Register(&daemon.config(), {.nats = true, .redis = true, .coordination = true});
//   if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
//   ASSIGN_OR_RETURN(nats::NatsOptions nats, conn.Nats("edge-api"));
//   ASSIGN_OR_RETURN(election::CoordinationOptions c, conn.Coordination("edge-api"));
#ifndef GONKA_DRAIN_CONNECTION_FLAGS_H_
#define GONKA_DRAIN_CONNECTION_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "gonka/base/config.h"
#include "gonka/election/coordination.h"
#include "gonka/nats/options.h"
#include "gonka/pg/pg.h"
#include "gonka/redis/redis_client.h"

namespace gonka {

struct ConnectionUses {
  bool nats = false;
  bool redis = false;
  bool pg = false;
  bool coordination = false;  // --coordination (implies nats and redis)
};

class ConnectionFlags {
 public:
  // Adds the flags `uses` asks for to `config` (before Daemon::Init).
  void Register(Config* config, ConnectionUses uses);

  // After Init. InvalidArgument naming the flag and value when it does not parse.
  // Nats(): also InvalidArgument naming both flags when two authentication methods are given.
  absl::StatusOr<nats::NatsOptions> Nats(const std::string& client_name) const;
  // Reads the password files now: InvalidArgument naming the flag and the file (path, mode)
  // when one is missing, empty, or readable by group or others.
  absl::StatusOr<redis::RedisOptions> Redis() const;
  // Reads --pg-url-file now (same checks). InvalidArgument when both --pg-url and --pg-url-file
  // are given.
  absl::StatusOr<pg::PgOptions> Pg() const;
  absl::StatusOr<election::CoordinationOptions> Coordination(const std::string& client_name) const;

  const std::string& nats_url() const { return nats_url_; }
  const std::string& redis_url() const { return redis_url_; }
  const std::string& coordination() const { return coordination_; }

 private:
  std::string nats_url_ = "nats://127.0.0.1:4222";
  // NATS credentials and TLS (file paths and names; no secret is held here).
  std::string nats_user_;
  std::string nats_password_file_;
  std::string nats_token_file_;
  std::string nats_nkey_seed_file_;
  std::string nats_creds_file_;
  std::string nats_ca_file_;
  std::string nats_cert_file_;
  std::string nats_key_file_;
  std::string nats_tls_server_name_;
  std::string nats_inbox_prefix_;
  std::string redis_url_ = "redis://127.0.0.1:6379";
  std::string redis_user_;
  std::string redis_password_file_;
  std::string redis_sentinel_user_;
  std::string redis_sentinel_password_file_;
  std::string pg_url_;
  std::string pg_url_file_;
  std::string coordination_ = "redis";
};

}  // namespace gonka

#endif  // GONKA_DRAIN_CONNECTION_FLAGS_H_
