// The development child's logic (daemons/devchild; docs/versiond.md, "The development child"):
// its identity (label, mode, sha256 of its own executable), variants ("different binaries" for
// the version oracle), the Postgres request record, and its public routes. main.cc is flags and
// wiring; the contract's part (health, admin, drain) is gonka::supervisor::ChildContract.
//
//   ASSIGN_OR_RETURN(devchild::Identity id, devchild::SelfIdentity());
//   devchild::AddRoutes(&contract->pub(), {.id = id, .storage = "postgres", .record = pool.get()});
//
// Testonly.
#ifndef DAEMONS_DEVCHILD_DEVCHILD_H_
#define DAEMONS_DEVCHILD_DEVCHILD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/net/http_server.h"
#include "gonka/pg/pg.h"

namespace gonka {
namespace devchild {

struct Identity {
  std::string label = "dev";
  // normal | never-ready | crash-at-start | ready-late | always-starting | recovers-late |
  // never-recovers | no-admin-api (docs/versiond.md, "The development child")
  std::string mode = "normal";
  std::string sha256;  // of the running executable
};

// Label and mode from the trailer of `image` ("#devchild-variant label=v2 mode=never-ready"),
// else $DEVCHILD_VERSION, else "dev"; sha256 of the whole image (when `hash`).
Identity ReadIdentity(const std::string& image, bool hash = true);
// ReadIdentity of /proc/self/exe (without `hash`: only its last 512 bytes are read, sha256 is
// empty — for the quick --print-* probes). Internal when it cannot be read.
absl::StatusOr<Identity> SelfIdentity(bool hash = true);
bool ValidMode(const std::string& mode);

// Whether the file named by $DEVCHILD_UNREADY_FILE exists and its first word is `word` (tests
// make a restarted child crash at start with `crash`).
bool UnreadyFileSays(const std::string& word);

// The version probes versiond runs before a start: prints the answer to `flag` and returns 0,
// or refuses it as an unknown flag (exit status 2), as a binary from before it would.
// --print-binary-version: "devchild-<label>"; --print-admin-api-version: "1" (refused in mode
// no-admin-api); --print-protocol-version: $DEVCHILD_PROTOCOL_VERSION (refused when unset).
int AnswerProbe(const std::string& flag, const Identity& id);

// Copies the executable `self` to `out` with a trailer naming `label` and `mode` (replacing a
// trailer already there), executable, atomically; returns the copy's sha256 (hex).
absl::StatusOr<std::string> MakeVariant(const std::string& self, const std::string& out,
                                        const std::string& label, const std::string& mode);

// Opens the Postgres record (the URL read from the 0600 file) and creates its table
// devchild_requests (version, sha256, escrow, seq, served_at).
absl::StatusOr<std::unique_ptr<pg::Pool>> OpenRecord(const std::string& url_file);

struct RouteOptions {
  Identity id;
  std::string storage;         // "postgres" or "sqlite", reported by /version
  pg::Pool* record = nullptr;  // every served escrow request is inserted when set
};

// The identity headers (X-Devchild-Version, -Sha256, -Pid) on `res`.
net::HttpResponse Stamp(const Identity& id, net::HttpResponse res);

// GET /version[?delay_ms=M], GET /metrics, POST /v1/escrows/<id>/requests[?delay_ms=M],
// GET /v1/escrows/<id>/stream?n=K&interval_ms=M (SSE: K events, then `event: end`), the same
// under /sessions/<id>/. The options must outlive the server.
void AddRoutes(net::HttpServer* pub, const RouteOptions* options);

}  // namespace devchild
}  // namespace gonka

#endif  // DAEMONS_DEVCHILD_DEVCHILD_H_
