// devchild: a development child for versiond that follows Gonka's child contract
// (docs/versiond.md, "The development child").
//
//   devchild --port N --data-dir DIR        serve until SIGTERM
//   devchild --print-storage-mode           print `postgres` or `sqlite`, exit
//   devchild --print-binary-version         print `devchild-<label>`, exit
//   devchild --print-admin-api-version      print `1`, exit (mode no-admin-api: unknown flag)
//   devchild --make-variant OUT --label L [--mode M]
//                                           copy this binary to OUT with a trailer naming
//                                           label L (and mode M): a "different binary" for
//                                           the version oracle (another sha256)
//
// Identity: every response carries `X-Devchild-Version: <label>` and `X-Devchild-Sha256:
// <sha256 of the running executable>`, and every JSON body the same as "version"/"sha256"
// fields, so a test can prove which binary answered. The label comes from the trailer of the
// executable (`--make-variant`), else $DEVCHILD_VERSION, else "dev".
//
// Public port N: GET /healthz, GET /version[?delay_ms=M], POST
// /v1/escrows/<id>/requests[?delay_ms=M], GET /v1/escrows/<id>/stream?n=K&interval_ms=M (SSE: K
// events, then `event: end` and the stream closes), the same under /sessions/<id>/ (Gonka's session
// paths), GET /metrics. Admin (port N, or $DEVSHARD_ADMIN_ADDR = 127.0.0.1:<p>): GET /ready, POST
// /drain, GET /drain/status {"ready","draining","inflight"}.
//
// Modes (trailer, --mode or $DEVCHILD_MODE): `normal`, `never-ready` (/ready is always 503),
// `crash-at-start` (exits 3 before binding), `ready-late` (/ready says "still starting" for
// $DEVCHILD_READY_AFTER_MS, 3000), `always-starting` (says so forever), `recovers-late` (/ready 200
// with recovery_complete false for $DEVCHILD_RECOVERY_AFTER_MS, 3000), `never-recovers`,
// `no-admin-api` (an older child: it rejects --print-admin-api-version, so its admin endpoints are
// on port N). Storage mode: `postgres` when --pg-url-file / $DEVCHILD_PG_URL_FILE is set (every
// served request is then recorded in Postgres), else $DEVCHILD_STORAGE_MODE (`postgres` claims
// shared storage without a server, for tests), else `sqlite`.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemons/devchild/devchild.h"
#include "gonka/base/log.h"
#include "gonka/supervisor/child_contract.h"

using gonka::supervisor::EnvOr;

namespace {
absl::Duration EnvMs(const char* name, int fallback_ms) {
  int ms = fallback_ms;
  if (!absl::SimpleAtoi(EnvOr(name), &ms) || ms < 0) ms = fallback_ms;
  return absl::Milliseconds(ms);
}
}  // namespace

int main(int argc, char** argv) {
  int port = -1;
  std::string data_dir, pg_url_file = EnvOr("DEVCHILD_PG_URL_FILE");
  std::string variant_out, variant_label, mode_flag;
  bool print_storage = false;
  std::string probe;  // --print-binary-version, --print-admin-api-version, --print-protocol-version
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "devchild: a development child for versiond (Gonka's child contract)\n"
          "usage: devchild --port N --data-dir DIR [--pg-url-file F] [--mode M]\n"
          "       devchild --print-storage-mode\n"
          "       devchild --make-variant OUT --label L [--mode M]\n"
          "  --port N              public port (/healthz, escrow routes)\n"
          "  --data-dir DIR        the child's data directory\n"
          "  --pg-url-file F       record served requests in PostgreSQL (storage mode postgres)\n"
          "  --mode M              normal | never-ready | crash-at-start | ready-late |\n"
          "                        always-starting | recovers-late | never-recovers |\n"
          "                        no-admin-api (also DEVCHILD_MODE)\n"
          "  --print-storage-mode  print postgres or sqlite (DEVCHILD_STORAGE_MODE) and exit\n"
          "  --make-variant OUT    write a copy of this binary with another label and sha256\n"
          "  --label L             the variant's label\n"
          "Admin /ready, POST /drain and /drain/status on DEVSHARD_ADMIN_ADDR when set.\n");
      return 0;
    }
    if (arg == "--print-storage-mode") {
      print_storage = true;
    } else if (arg == "--print-binary-version" || arg == "--print-admin-api-version" ||
               arg == "--print-protocol-version") {
      probe = std::string(arg);
    } else if (arg == "--port" && value(&v)) {
      if (!absl::SimpleAtoi(v, &port)) port = -1;
    } else if (arg == "--data-dir" && value(&data_dir)) {
    } else if (arg == "--pg-url-file" && value(&pg_url_file)) {
    } else if (arg == "--mode" && value(&mode_flag)) {
    } else if (arg == "--make-variant" && value(&variant_out)) {
    } else if (arg == "--label" && value(&variant_label)) {
    } else {
      // "unknown flag": the words versiond looks for to tell an older child from a broken one.
      std::fprintf(stderr, "devchild: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  const std::string storage =
      !pg_url_file.empty() ? "postgres" : EnvOr("DEVCHILD_STORAGE_MODE", "sqlite");
  if (print_storage) {  // before reading our own image: the probe should be cheap
    std::printf("%s\n", storage.c_str());
    return 0;
  }
  // The version probes need only the label and mode (not the sha256 of the whole image).
  absl::StatusOr<gonka::devchild::Identity> id = gonka::devchild::SelfIdentity(probe.empty());
  if (!id.ok()) {
    std::fprintf(stderr, "devchild: %s\n", id.status().ToString().c_str());
    return 1;
  }
  if (!variant_out.empty()) {
    if (variant_label.empty()) {
      std::fprintf(stderr, "devchild: --make-variant needs --label\n");
      return 2;
    }
    absl::StatusOr<std::string> sha = gonka::devchild::MakeVariant(
        "/proc/self/exe", variant_out, variant_label, mode_flag.empty() ? "normal" : mode_flag);
    if (!sha.ok()) {
      std::fprintf(stderr, "devchild: %s\n", sha.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", sha->c_str());
    return 0;
  }
  if (!mode_flag.empty()) id->mode = mode_flag;
  if (std::string m = EnvOr("DEVCHILD_MODE"); !m.empty()) id->mode = m;
  if (!probe.empty()) return gonka::devchild::AnswerProbe(probe, *id);
  if (!gonka::devchild::ValidMode(id->mode)) {
    std::fprintf(stderr, "devchild: bad mode %s (see --help)\n", id->mode.c_str());
    return 2;
  }
  if (port < 0 || data_dir.empty()) {
    std::fprintf(stderr, "usage: devchild --port N --data-dir DIR\n");
    return 2;
  }
  if (id->mode == "crash-at-start" || gonka::devchild::UnreadyFileSays("crash")) {
    std::fprintf(stderr, "devchild %s: crash-at-start\n", id->label.c_str());
    std::fflush(stderr);
    std::_Exit(3);  // as a crash: no exit handlers (under ASan, no leak scan delaying the exit)
  }

  const sigset_t signals = gonka::supervisor::ChildContract::BlockTermSignals();
  gonka::devchild::RouteOptions routes{.id = *id, .storage = storage};
  std::unique_ptr<gonka::pg::Pool> record;
  if (!pg_url_file.empty()) {
    absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> opened =
        gonka::devchild::OpenRecord(pg_url_file);
    if (!opened.ok()) {
      std::fprintf(stderr, "devchild: %s\n", opened.status().ToString().c_str());
      return absl::IsInvalidArgument(opened.status()) ? 2 : 1;
    }
    record = std::move(*opened);
    routes.record = record.get();
  }
  auto contract = gonka::supervisor::ChildContract::Create(
      {.name = "devchild",
       .port = port,
       .never_ready = id->mode == "never-ready",
       .ready_after = id->mode == "ready-late"        ? EnvMs("DEVCHILD_READY_AFTER_MS", 3000)
                      : id->mode == "always-starting" ? absl::InfiniteDuration()
                                                      : absl::ZeroDuration(),
       .recovery_after = id->mode == "recovers-late"    ? EnvMs("DEVCHILD_RECOVERY_AFTER_MS", 3000)
                         : id->mode == "never-recovers" ? absl::InfiniteDuration()
                                                        : absl::ZeroDuration(),
       .unready_file = EnvOr("DEVCHILD_UNREADY_FILE"),
       .version = id->label,
       .stamp = [&routes](gonka::net::HttpResponse r) {
         return gonka::devchild::Stamp(routes.id, std::move(r));
       }});
  if (!contract.ok()) {
    std::fprintf(stderr, "devchild: %s\n", contract.status().ToString().c_str());
    return 2;
  }
  gonka::devchild::AddRoutes(&(*contract)->pub(), &routes);
  if (absl::Status s = (*contract)->Start(); !s.ok()) {
    std::fprintf(stderr, "devchild: %s\n", s.ToString().c_str());
    return 1;
  }
  GONKA_LOG_INFO("devchild serving", {"version", id->label}, {"mode", id->mode},
                 {"storage", storage}, {"port", (*contract)->pub().port()},
                 {"admin", (*contract)->admin_address()});
  (*contract)->WaitForSignalAndStop(signals, absl::Seconds(60));
  return 0;
}
