#include "gonka/drain/connection_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace {

absl::Status FlagError(absl::string_view flag, const absl::Status& s) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", s.message()));
}

}  // namespace

void ConnectionFlags::Register(Config* config, ConnectionUses uses) {
  if (uses.coordination) {
    uses.nats = uses.redis = true;
    config
        ->AddString("coordination", &coordination_, "redis",
                    "where the lease and fenced state live: redis, or nats (JetStream KV; no "
                    "Redis needed)")
        .OneOf({"redis", "nats"});
  }
  if (uses.nats) {
    config
        ->AddString("nats-url", &nats_url_, "nats://127.0.0.1:4222",
                    "NATS server URLs, comma-separated")
        .Check([](absl::string_view raw) -> std::string {
          for (absl::string_view url : absl::StrSplit(raw, ',', absl::SkipEmpty())) {
            if (!absl::StartsWith(url, "nats://") && !absl::StartsWith(url, "tls://")) {
              return absl::StrCat("\"", url, "\" is not a nats:// or tls:// URL");
            }
            if (absl::StrContains(url, "@")) return "credentials do not belong in a URL";
          }
          return raw.empty() ? "at least one URL is required" : "";
        });
  }
  if (uses.redis) {
    config
        ->AddString("redis-url", &redis_url_, "redis://127.0.0.1:6379",
                    "Redis: redis://host:port, or redis-sentinel://host:port,.../master")
        .Check([](absl::string_view raw) -> std::string {
          absl::StatusOr<redis::RedisOptions> o = redis::ParseRedisUrl(raw);
          return o.ok() ? "" : std::string(o.status().message());
        });
  }
  if (uses.pg) {
    config->AddString("pg-url", &pg_url_, "",
                      "PostgreSQL conninfo or URL (empty: libpq's PG* environment variables)");
  }
}

absl::StatusOr<nats::NatsOptions> ConnectionFlags::Nats(const std::string& client_name) const {
  nats::NatsOptions o;
  o.urls = absl::StrSplit(nats_url_, ',', absl::SkipEmpty());
  if (o.urls.empty()) return FlagError("nats-url", absl::InvalidArgumentError("empty"));
  o.name = client_name;
  return o;
}

absl::StatusOr<redis::RedisOptions> ConnectionFlags::Redis() const {
  absl::StatusOr<redis::RedisOptions> o = redis::ParseRedisUrl(redis_url_);
  if (!o.ok()) return FlagError("redis-url", o.status());
  return o;
}

pg::PgOptions ConnectionFlags::Pg() const {
  pg::PgOptions o;
  o.conninfo = pg_url_;
  return o;
}

absl::StatusOr<election::CoordinationOptions> ConnectionFlags::Coordination(
    const std::string& client_name) const {
  election::CoordinationOptions o;
  absl::StatusOr<election::CoordinationBackend> backend =
      election::ParseCoordinationBackend(coordination_);
  if (!backend.ok()) return FlagError("coordination", backend.status());
  o.backend = *backend;
  if (o.backend == election::CoordinationBackend::kRedis) {
    ASSIGN_OR_RETURN(o.redis, Redis());
  } else {
    ASSIGN_OR_RETURN(o.nats, Nats(client_name));
  }
  return o;
}

}  // namespace gonka
