#include "gonka/drain/connection_flags.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/secret_file.h"
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
    config->AddString("nats-user", &nats_user_, "",
                      "NATS user name for --nats-password-file (without it, that file holds "
                      "user:password)");
    config->AddString("nats-password-file", &nats_password_file_, "",
                      "file (mode 0600) holding the NATS password, or user:password");
    config->AddString("nats-token-file", &nats_token_file_, "",
                      "file (mode 0600) holding a NATS authorization token");
    config->AddString("nats-nkey-seed-file", &nats_nkey_seed_file_, "",
                      "file (mode 0600) holding a NATS user nkey seed (SU...)");
    config->AddString("nats-creds-file", &nats_creds_file_, "",
                      "NATS .creds file (user JWT + nkey seed, mode 0600)");
    config->AddString("nats-ca-file", &nats_ca_file_, "",
                      "PEM CA bundle that verifies the NATS server's certificate (turns TLS on)");
    config->AddString("nats-cert-file", &nats_cert_file_, "",
                      "PEM client certificate for NATS TLS (with --nats-key-file)");
    config->AddString("nats-key-file", &nats_key_file_, "",
                      "PEM private key of --nats-cert-file (mode 0600)");
    config->AddString("nats-tls-server-name", &nats_tls_server_name_, "",
                      "name expected in the NATS server certificate (default: the URLs' host "
                      "when they share one DNS name)");
    config->AddString("nats-inbox-prefix", &nats_inbox_prefix_, "",
                      "subject prefix of NATS reply inboxes (default _INBOX); one per role, e.g. "
                      "_INBOX_signer, as deploy/nats/gonka-node.conf expects");
  }
  if (uses.redis) {
    config
        ->AddString("redis-url", &redis_url_, "redis://127.0.0.1:6379",
                    "Redis: redis://host:port, or redis-sentinel://host:port,.../master")
        .Check([](absl::string_view raw) -> std::string {
          absl::StatusOr<redis::RedisOptions> o = redis::ParseRedisUrl(raw);
          return o.ok() ? "" : std::string(o.status().message());
        });
    config->AddString("redis-user", &redis_user_, "",
                      "Redis 7 ACL user for AUTH (empty: the default user)");
    config->AddString("redis-password-file", &redis_password_file_, "",
                      "file (mode 0600) holding the Redis AUTH password (empty: no AUTH)");
    config->AddString("redis-sentinel-user", &redis_sentinel_user_, "",
                      "ACL user for the Sentinels themselves, when they have one");
    config->AddString("redis-sentinel-password-file", &redis_sentinel_password_file_, "",
                      "file (mode 0600) holding the Sentinels' own password (empty: none)");
  }
  if (uses.pg) {
    config
        ->AddString("pg-url", &pg_url_, "",
                    "PostgreSQL conninfo or URL without a password (empty: libpq's PG* "
                    "environment variables; the password from PGPASSFILE or --pg-url-file)")
        .Check([](absl::string_view raw) -> std::string {
          absl::StatusOr<bool> has_password = pg::ConninfoHasPassword(std::string(raw));
          if (!has_password.ok()) return std::string(has_password.status().message());
          if (*has_password) {
            return "a password does not belong in --pg-url (it would show in ps, logs and shell "
                   "history): put it in a 0600 file named by --pg-url-file or in libpq's "
                   "PGPASSFILE";
          }
          return "";
        });
    config->AddString("pg-url-file", &pg_url_file_, "",
                      "file (mode 0600) holding the PostgreSQL conninfo or URL, which may include "
                      "the password (instead of --pg-url)");
  }
}

absl::StatusOr<nats::NatsOptions> ConnectionFlags::Nats(const std::string& client_name) const {
  nats::NatsOptions o;
  o.urls = absl::StrSplit(nats_url_, ',', absl::SkipEmpty());
  if (o.urls.empty()) return FlagError("nats-url", absl::InvalidArgumentError("empty"));
  o.name = client_name;
  // At most one authentication method; the error names both flags.
  std::vector<std::string> auth_flags;
  if (!nats_password_file_.empty()) auth_flags.push_back("--nats-password-file");
  if (!nats_token_file_.empty()) auth_flags.push_back("--nats-token-file");
  if (!nats_nkey_seed_file_.empty()) auth_flags.push_back("--nats-nkey-seed-file");
  if (!nats_creds_file_.empty()) auth_flags.push_back("--nats-creds-file");
  if (auth_flags.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        auth_flags[0], " and ", auth_flags[1], ": give at most one NATS authentication method"));
  }
  if (!nats_user_.empty() && nats_password_file_.empty()) {
    return absl::InvalidArgumentError("--nats-user needs --nats-password-file");
  }
  if (nats_cert_file_.empty() != nats_key_file_.empty()) {
    return absl::InvalidArgumentError("--nats-cert-file and --nats-key-file go together");
  }
  o.user = nats_user_;
  o.password_file = nats_password_file_;
  o.token_file = nats_token_file_;
  o.nkey_seed_file = nats_nkey_seed_file_;
  o.creds_file = nats_creds_file_;
  o.tls_ca_file = nats_ca_file_;
  o.tls_cert_file = nats_cert_file_;
  o.tls_key_file = nats_key_file_;
  o.tls_server_name = nats_tls_server_name_;
  o.inbox_prefix = nats_inbox_prefix_;
  return o;
}

absl::StatusOr<redis::RedisOptions> ConnectionFlags::Redis() const {
  absl::StatusOr<redis::RedisOptions> o = redis::ParseRedisUrl(redis_url_);
  if (!o.ok()) return FlagError("redis-url", o.status());
  o->user = redis_user_;
  if (!redis_password_file_.empty()) {
    ASSIGN_OR_RETURN(o->password, ReadSecretFile(redis_password_file_, "--redis-password-file"));
  } else if (!redis_user_.empty()) {
    return absl::InvalidArgumentError(
        "--redis-user: needs --redis-password-file (an ACL user authenticates with a password)");
  }
  o->sentinel_user = redis_sentinel_user_;
  if (!redis_sentinel_password_file_.empty()) {
    ASSIGN_OR_RETURN(o->sentinel_password, ReadSecretFile(redis_sentinel_password_file_,
                                                          "--redis-sentinel-password-file"));
  } else if (!redis_sentinel_user_.empty()) {
    return absl::InvalidArgumentError(
        "--redis-sentinel-user: needs --redis-sentinel-password-file");
  }
  return o;
}

absl::StatusOr<pg::PgOptions> ConnectionFlags::Pg() const {
  pg::PgOptions o;
  o.conninfo = pg_url_;
  if (!pg_url_file_.empty()) {
    if (!pg_url_.empty()) {
      return absl::InvalidArgumentError("--pg-url-file: give either --pg-url or --pg-url-file");
    }
    ASSIGN_OR_RETURN(o.conninfo, ReadSecretFile(pg_url_file_, "--pg-url-file"));
    absl::StatusOr<bool> parses = pg::ConninfoHasPassword(o.conninfo);
    if (!parses.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pg-url-file: ", pg_url_file_, ": ", parses.status().message()));
    }
  }
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
