// ConnectionFlags: the connection settings every libgonka daemon shares, defined once so each
// daemon spells them the same way (flag / environment / default):
//   --redis-url     GONKA_REDIS_URL     redis://127.0.0.1:6379   Redis, or
//                                                                redis-sentinel://h:p,h:p/master
//   --nats-url      GONKA_NATS_URL      nats://127.0.0.1:4222    NATS URLs, comma-separated
//   --pg-url        GONKA_PG_URL        ""                       PostgreSQL conninfo or URL
//                                                                ("" = libpq's PG* variables)
//   --coordination  GONKA_COORDINATION  redis                    where leases and fenced state
//                                                                live: redis or nats
// A daemon registers only the ones it uses. Credentials never come from these URLs (a URL with
// user:password@ is refused for Redis; for NATS and PostgreSQL use their credential files).
// Bad values stop the daemon at start with an error naming the flag.
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
  absl::StatusOr<nats::NatsOptions> Nats(const std::string& client_name) const;
  absl::StatusOr<redis::RedisOptions> Redis() const;
  pg::PgOptions Pg() const;
  absl::StatusOr<election::CoordinationOptions> Coordination(const std::string& client_name) const;

  const std::string& nats_url() const { return nats_url_; }
  const std::string& redis_url() const { return redis_url_; }
  const std::string& coordination() const { return coordination_; }

 private:
  std::string nats_url_ = "nats://127.0.0.1:4222";
  std::string redis_url_ = "redis://127.0.0.1:6379";
  std::string pg_url_;
  std::string coordination_ = "redis";
};

}  // namespace gonka

#endif  // GONKA_DRAIN_CONNECTION_FLAGS_H_
