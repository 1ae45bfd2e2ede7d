// SeedSource: where node-manager gets Gonka's epoch seed (gonka/signer/epoch_seed.h) — derived
// with a local warm key, or asked of signerd (POST /v1/seed), so a deployment can keep the warm
// key in signerd alone and still send MsgSubmitSeed and MsgClaimRewards.
//
// Contract:
//   - Seed(epoch) returns the seed of `epoch` or an error; it stores nothing (EnsureSeed in
//     seed_store.h stores it). Callers retry with the next delivery of the block.
//   - LocalSeedSource: GenerateSeed with the key; never fails.
//   - RemoteSeedSource: POST <url>/v1/seed {"epoch": "<N>"} with "Authorization: Bearer <token>"
//     (the token file is re-read on each call, so a rotated token is used at once). Every answer
//     is VERIFIED before it is returned: its epoch must be the one asked for, the seed positive,
//     the signature 128 hex characters and a valid signature of BE64(seed) by `public_key` (the
//     warm key's — the key the chain checks a claim against, as the participant's grantee).
//     A signer that answers with another key, or garbage, cannot inject a seed.
//     Errors: Unauthenticated (signerd refused the token: 401/403, or the seed does not verify,
//     naming `public_key_what`), InvalidArgument (signerd said 400), ResourceExhausted (429),
//     Unavailable (unreachable, 5xx, malformed answer), DeadlineExceeded. The token is never
//     put in an error or a log.
//   - RemoteSeedSource::Open: InvalidArgument naming the option for an empty or non-http(s) url,
//     an unreadable or too-open token file (gonka/base/secret_file.h) or an empty token, a
//     public key that is neither 66 hex characters nor base64 of 33 bytes of a valid point.
//
// Thread-safety: both implementations are thread-safe.
//
// Example:
//   ASSIGN_OR_RETURN(auto source, RemoteSeedSource::Open({.url = "http://signerd:8081",
//                                                         .token_file = "/run/secrets/seed-token",
//                                                         .public_key = warm_public_key_hex}));
//   ASSIGN_OR_RETURN(SeedInfo seed, EnsureSeed(*store, *source, participant, epoch));
#ifndef GONKA_NODEMANAGER_SEED_SOURCE_H_
#define GONKA_NODEMANAGER_SEED_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/crypto/key.h"
#include "gonka/net/tls.h"
#include "gonka/net/tls_flags.h"
#include "gonka/signer/epoch_seed.h"

namespace gonka {
namespace net {
class HttpClient;
}  // namespace net

namespace nodemanager {

class SeedSource {
 public:
  virtual ~SeedSource() = default;
  virtual absl::StatusOr<signer::SeedInfo> Seed(uint64_t epoch) = 0;
  // "local key" or "signerd <url>", for logs.
  virtual std::string Describe() const = 0;
};

class LocalSeedSource : public SeedSource {
 public:
  explicit LocalSeedSource(const crypto::SigningKey* key) : key_(key) {}  // not owned
  absl::StatusOr<signer::SeedInfo> Seed(uint64_t epoch) override;
  std::string Describe() const override { return "local key"; }

 private:
  const crypto::SigningKey* const key_;
};

struct RemoteSeedSourceOptions {
  std::string url;         // signerd's base URL, e.g. http://signerd:8081
  std::string token_file;  // the bearer token alone (one line), mode 0600
  std::string public_key;  // the warm key's public key: 66 hex characters or base64 (33 bytes)
  absl::Duration timeout = absl::Seconds(5);
  net::TlsClientOptions tls;  // for an https:// url
  // How errors name the options (a daemon passes its flag names).
  std::string url_what = "seed signer url";
  std::string token_file_what = "seed signer token file";
  std::string public_key_what = "seed signer public key";
};

class RemoteSeedSource : public SeedSource {
 public:
  static absl::StatusOr<std::unique_ptr<RemoteSeedSource>> Open(RemoteSeedSourceOptions options);
  ~RemoteSeedSource() override;

  absl::StatusOr<signer::SeedInfo> Seed(uint64_t epoch) override;
  std::string Describe() const override;

 private:
  RemoteSeedSource(RemoteSeedSourceOptions options, std::string public_key);
  const RemoteSeedSourceOptions options_;
  const std::string public_key_;  // 33 bytes
  std::unique_ptr<net::HttpClient> http_;
};

// SeedSourceFlags: node-manager's choice of seed source as flags, registered and checked together
// (so a daemon's main stays flags + wiring):
//   --key-file                 the warm key (0600): a LocalSeedSource
//   --seed-signer-url          signerd's base URL: a RemoteSeedSource, with
//   --seed-signer-token-file, --seed-signer-public-key, --seed-signer-timeout,
//   --seed-signer-ca-file, --seed-signer-tls-server-name
// Neither: no seed source (enabled() is false).
//
//   SeedSourceFlags seeds;
//   seeds.Register(&daemon.config());
//   if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
//   if (absl::Status s = seeds.Validate(); !s.ok()) return daemon.ConfigError(...);
class SeedSourceFlags {
 public:
  // Before Daemon::Init.
  void Register(Config* config);
  // After Init. InvalidArgument naming the flag: --key-file together with --seed-signer-url,
  // a --seed-signer-* option without --seed-signer-url, and whatever RemoteSeedSource::Open
  // refuses (an unreadable or too-open token file, a bad public key or URL) — so a bad one stops
  // the daemon at start, not at the first epoch.
  absl::Status Validate();

  bool enabled() const { return !key_file_.empty() || !remote_.url.empty(); }
  const std::string& key_file() const { return key_file_; }
  // url empty: no seed signer.
  const RemoteSeedSourceOptions& remote() const { return remote_; }
  // "local key", "signerd <url>" or "none", for the start-up log.
  std::string Describe() const;

 private:
  std::string key_file_;
  RemoteSeedSourceOptions remote_{.url_what = "--seed-signer-url",
                                  .token_file_what = "--seed-signer-token-file",
                                  .public_key_what = "--seed-signer-public-key"};
  net::TlsClientFlags tls_;
};

// The 33 bytes of a compressed secp256k1 public key given as 66 hex characters or base64
// (Gonka's ACCOUNT_PUBKEY form); InvalidArgument naming `what` otherwise.
absl::StatusOr<std::string> ParsePublicKey(absl::string_view text, absl::string_view what);

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_SEED_SOURCE_H_
