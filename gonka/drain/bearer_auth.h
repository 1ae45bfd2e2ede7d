// BearerAuth: HTTP bearer-token authentication for a daemon's write endpoints (signerd's
// POST /v1/txs), with tokens from a file that can be rotated without a restart.
//
// The token file (mode 0600 or stricter, see gonka/base/secret_file.h) has one credential per
// line, "<name> <token>" or just "<token>" (named "token-<line>"); blank lines and lines starting
// with '#' are ignored. Names ([A-Za-z0-9._-], unique) identify producers in logs, metrics and
// rate limits; tokens are never logged. A token has at least 16 characters (generate one with
// `openssl rand -hex 32`).
//
// Rotation and revocation: edit the file (add the new token, move producers over, delete the old
// line). The file is checked for changes at most once per `reload_interval` and re-read when its
// stamp (inode, size, mtime) changed, so a revoked token stops working within about a second. A
// file that became invalid (wrong mode, malformed line) fails closed: every request is refused
// with Unavailable until it is fixed, and the error is logged once.
//
// Tokens are compared as SHA-256 digests with crypto::ConstantTimeEquals against every
// credential (no early exit), so timing reveals neither a token's prefix nor its length.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<BearerAuth> auth,
//                    BearerAuth::Open({.token_file = path, .what = "--enqueue-token-file"}));
//   absl::StatusOr<std::string> who = auth->Authenticate(request.headers.Get("Authorization"));
//   if (!who.ok()) return 401 (Unauthenticated) or 503 (Unavailable);
//
// Thread-safety: thread-safe.
#ifndef GONKA_DRAIN_BEARER_AUTH_H_
#define GONKA_DRAIN_BEARER_AUTH_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/base/config.h"
#include "gonka/base/rate_limiter.h"
#include "gonka/base/secret_file.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_message.h"

namespace gonka {

struct BearerAuthOptions {
  std::string token_file;
  std::string what = "token file";  // how errors name the file, e.g. "--enqueue-token-file"
  absl::Duration reload_interval = absl::Seconds(1);
  Clock* clock = nullptr;  // nullptr = Clock::Real()
};

class BearerAuth {
 public:
  // Reads and checks the file: InvalidArgument naming the file and line for a bad file.
  static absl::StatusOr<std::unique_ptr<BearerAuth>> Open(BearerAuthOptions options);

  // `authorization` is the request's Authorization header. The credential's name, or
  //   Unauthenticated "missing bearer token" / "malformed Authorization header (want: Bearer
  //   <token>)" / "unknown or revoked token";
  //   Unavailable when the token file cannot be (re)loaded (fail closed).
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization);

  // Number of credentials currently loaded.
  size_t size() const;

 private:
  struct Credential {
    std::string name;
    crypto::Sha256Digest digest;
  };
  explicit BearerAuth(BearerAuthOptions options);
  // Parses the file; on error the credentials are left unchanged.
  absl::StatusOr<std::vector<Credential>> Load() const;
  void MaybeReload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BearerAuthOptions options_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  std::vector<Credential> credentials_ ABSL_GUARDED_BY(mu_);
  absl::Status load_error_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The admission a daemon's write routes use (signerd's --enqueue-token-file and
// --enqueue-insecure-loopback), as a callable for SignerServiceOptions::authenticate and the like:
//   `auth` set: the request's bearer token must be valid (its name), else Unauthenticated, or
//     Unavailable while the token file is broken;
//   else `insecure_loopback`: any loopback peer is admitted as "insecure-loopback"; any other peer
//     gets PermissionDenied (the development mode never opens the routes to the network);
//   else: PermissionDenied "<what> is off: ..." naming `token_flag`.
using HttpAuthenticator = std::function<absl::StatusOr<std::string>(const net::HttpRequest&)>;
HttpAuthenticator MakeHttpAuthenticator(std::shared_ptr<BearerAuth> auth, bool insecure_loopback,
                                        absl::string_view what, absl::string_view token_flag);

// The flags of MakeHttpAuthenticator, registered under a prefix so every daemon spells them the
// same (prefix "enqueue" for signerd):
//   --<prefix>-token-file          GONKA_<PREFIX>_TOKEN_FILE   bearer tokens (0600 file), or
//   --<prefix>-insecure-loopback   ...                         no token, loopback peers only
//                                                              (development; exclusive with it)
//   --<prefix>-rate                requests/s per credential (0 = unlimited)
//   --<prefix>-burst               bucket size per credential
// Example:
//   HttpAuthFlags enqueue_auth("enqueue", "HTTP enqueue");
//   enqueue_auth.Register(&daemon.config());
//   ... daemon.Init ...
//   ASSIGN_OR_RETURN(options.authenticate, enqueue_auth.Build());
//   options.rate_limit = enqueue_auth.rate_limit();
class HttpAuthFlags {
 public:
  HttpAuthFlags(std::string prefix, std::string what);
  void Register(Config* config);
  // After Init: the authenticator; InvalidArgument naming the flag for a bad token file or for
  // both modes at once.
  absl::StatusOr<HttpAuthenticator> Build() const;
  RateLimiterOptions rate_limit() const;
  // Which mode Build chose, for the start-up log: "tokens", "insecure-loopback" or "off".
  std::string mode() const;

 private:
  std::string prefix_;
  std::string what_;
  std::string token_file_;
  bool insecure_loopback_ = false;
  double rate_ = 50;
  int64_t burst_ = 100;
};

// Whether an HttpRequest::remote_address ("127.0.0.1:5555", "[::1]:5555") is a loopback peer.
bool IsLoopbackPeer(absl::string_view remote_address);

}  // namespace gonka

#endif  // GONKA_DRAIN_BEARER_AUTH_H_
