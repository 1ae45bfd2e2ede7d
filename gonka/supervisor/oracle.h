// The version oracle and binary installation for versiond: what should run (a JSON document
// `{"versions":[{"name":..,"binary":..,"sha256":..}]}` served at VERSIOND_ORACLE_URL), and
// putting each binary in place only when its bytes hash to the sha256 the oracle names.
//
//   ASSIGN_OR_RETURN(std::vector<OracleVersion> want, ParseOracle(body));
//   BinaryInstaller installer({.bin_dir = "/opt/versiond/bin", .binary_name = "devshard"});
//   ASSIGN_OR_RETURN(std::string path, installer.Install(want[0]));
//   // path = /opt/versiond/bin/<name>/<sha256>/devshard, mode 0755, verified
//
// Contract:
// - ParseOracle: InvalidArgument naming the entry and field for anything it cannot use: a
//   missing or empty name/binary/sha256, a name that is not a safe path and URL segment
//   ([A-Za-z0-9._-], not starting with a dot), a sha256 that is not 64 hex digits, or a name listed
//   twice. One bad entry fails the whole document (the previous desired set stays in force).
// - Install: the binary source is an `http://` or `https://` URL (fetched with the project's
//   HTTP client), a `file://` URL or an absolute path (a libgonka extension for hosts that
//   stage binaries themselves). The bytes are written to a temporary file next to the target,
//   hashed, and renamed into `<bin_dir>/<name>/<sha256>/<binary_name>` only when the hash
//   matches; an `install.json` marker (name, sha256, source) is written after it, and an
//   existing marker with a file that still hashes right makes Install a no-op. A mismatch is
//   FailedPrecondition "sha256 mismatch" naming the version, the expected and the actual hash —
//   the bytes are deleted (never made executable, never run). Unavailable for a download or file
//   error (naming the source, never credentials in a URL's user-info), Internal for a local write
//   error. The bytes are hashed as they are written (1 MiB pieces), so memory does not grow with
//   the binary's size; `max_binary_bytes` bounds the download.
//
// Thread-safety: ParseOracle is pure; a BinaryInstaller is thread-compatible (versiond's
// reconcile loop is its only caller).
#ifndef GONKA_SUPERVISOR_ORACLE_H_
#define GONKA_SUPERVISOR_ORACLE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {
namespace net {
class HttpClient;
}  // namespace net

namespace supervisor {

struct OracleVersion {
  std::string name;    // route name, e.g. "v0.2.11"
  std::string binary;  // where to get it
  std::string sha256;  // lowercase hex
};

absl::StatusOr<std::vector<OracleVersion>> ParseOracle(absl::string_view json);

struct InstallerOptions {
  std::string bin_dir = "/opt/versiond/bin";
  std::string binary_name = "devshard";
  absl::Duration download_timeout = absl::Minutes(5);
  size_t max_binary_bytes = 512u << 20;
};

class BinaryInstaller {
 public:
  explicit BinaryInstaller(InstallerOptions options);
  ~BinaryInstaller();
  BinaryInstaller(const BinaryInstaller&) = delete;
  BinaryInstaller& operator=(const BinaryInstaller&) = delete;

  // The installed, verified path of `version`'s binary. Errors: see the header comment.
  absl::StatusOr<std::string> Install(const OracleVersion& version);
  // Where Install puts it (whether or not it is there).
  std::string PathFor(const OracleVersion& version) const;

 private:
  // Copies `source` to `out_path`, returning the sha256 (hex) of the bytes.
  absl::StatusOr<std::string> FetchTo(const std::string& source, const std::string& out_path);
  const InstallerOptions options_;
  std::unique_ptr<net::HttpClient> http_;
};

// "http://user:pw@host/x" → "http://host/x": for logs and errors.
std::string RedactUrl(absl::string_view url);

// SHA-256 (lowercase hex) of a file, read in 1 MiB pieces. Unavailable when it cannot be read.
absl::StatusOr<std::string> HashFile(const std::string& path);

// The operator's pins, Gonka's VERSIOND_OVERRIDE_<version> and VERSIOND_FORCE: an override runs
// a local binary for a version instead of the oracle's (no download, no oracle sha256); a forced
// version runs even when the oracle does not list it (it needs an override: there is nothing
// else to run).
//
// Also Gonka's HA routing declaration (versioned/internal/process/binary_version.go): GONKA_HA
// says several hosts may serve one escrow, so every version not listed in
// VERSIOND_NON_HA_VERSIONS (pinned by the router to one legacy host) must run on shared
// Postgres.
struct VersionPins {
  std::map<std::string, std::string> overrides;  // version name → absolute path of the binary
  std::vector<std::string> force;                // version names
  bool ha = false;                               // GONKA_HA
  std::vector<std::string> non_ha_versions;      // VERSIOND_NON_HA_VERSIONS
};

// Reads the pins from `environment` ("NAME=VALUE" entries, e.g. the process's): every
// VERSIOND_OVERRIDE_<suffix>=<path> overrides the version named <suffix> with each '_' read as
// '.' (VERSIOND_OVERRIDE_v0_2_11 → v0.2.11), as Gonka; an empty value is ignored, as Gonka.
// VERSIOND_FORCE is a comma-separated list of version names (blanks trimmed, empty items
// skipped). InvalidArgument naming the variable: a version name that is not safe (as in the
// oracle), a path that is not absolute or not an executable regular file, two variables for
// one version, a forced version without an override (Gonka logs and skips it; versiond refuses
// to start). GONKA_HA is a boolean as Gonka reads it: empty, 0, f, false, no, off → false; 1, t,
// true, yes, on → true (case and blanks ignored); anything else is InvalidArgument naming
// GONKA_HA (Gonka fails each child's preflight with it). VERSIOND_NON_HA_VERSIONS is a list of
// version names separated by commas, semicolons or blanks; a name that is not safe is
// InvalidArgument naming the variable.
absl::StatusOr<VersionPins> ParseVersionPins(const std::vector<std::string>& environment);

}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_ORACLE_H_
