// VersiondEnv: a real versiond process for tests and benchmarks, with a version oracle served
// by an in-process HttpServer and devchild variants as the binaries it lists.
//
//   VersiondEnv env("swap");
//   Variant v1 = env.MakeVariant("v1");                    // devchild copy, own sha256
//   env.SetOracle({{"app", v1}});
//   ASSERT_OK(env.StartVersiond());                        // waits for /readyz 200
//   http.Post(env.Url("/app/v1/escrows/e1/requests"), ...) // answered by v1
//   env.SetOracle({{"app", env.MakeVariant("v2")}});       // next poll swaps to v2
//
// Binaries are downloaded by versiond from the oracle server (`/bin/<file>`), as from
// Gonka's oracle. Children claim shared storage (DEVCHILD_STORAGE_MODE=postgres) unless the
// caller overrides it, so swaps overlap blue/green. testonly; not thread-safe except SetOracle.
#ifndef DAEMONS_VERSIOND_VERSIOND_ENV_H_
#define DAEMONS_VERSIOND_VERSIOND_ENV_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace versiond_testing {

// A runfile path (Bazel test or a binary run from bazel-bin with its runfiles).
std::string Runfile(absl::string_view path);

struct Variant {
  std::string file;    // name under the oracle server's /bin/
  std::string path;    // on disk
  std::string sha256;  // of the file
};

struct OracleEntry {
  std::string name;
  Variant binary;
  std::string sha256_override;  // non-empty: the oracle lists this hash instead (a mismatch)
};

class VersiondEnv {
 public:
  explicit VersiondEnv(absl::string_view name);
  ~VersiondEnv();

  // A copy of devchild whose trailer says `label` and `mode` (normal, never-ready,
  // crash-at-start): another binary with another sha256.
  Variant MakeVariant(absl::string_view label, absl::string_view mode = "normal");
  void SetOracle(const std::vector<OracleEntry>& versions);

  // Starts versiond with short test timings plus `extra_flags`, and waits (if `wait_ready`)
  // for /readyz 200.
  absl::Status StartVersiond(std::vector<std::string> extra_flags = {},
                             std::map<std::string, std::string> env = {}, bool wait_ready = true);
  testing::Subprocess& versiond() { return *versiond_; }
  int port() const { return port_; }
  std::string Url(absl::string_view path) const;
  std::string OracleUrl() const;
  const testing::TempDir& dir() const { return dir_; }
  // Requests versiond's /metrics and returns the value of the first sample whose line starts
  // with `prefix` (e.g. `versiond_swaps_total`), or -1.
  double Metric(absl::string_view prefix);
  // versiond's whole log so far (its stdout and stderr).
  std::string Log() const;

 private:
  testing::TempDir dir_;
  net::HttpServer oracle_;
  absl::Mutex mu_;
  std::string oracle_body_ ABSL_GUARDED_BY(mu_) = "{\"versions\":[]}";
  int variants_ = 0;
  int port_ = 0;
  int first_child_port_ = 0;
  std::unique_ptr<testing::Subprocess> versiond_;
};

}  // namespace versiond_testing
}  // namespace gonka

#endif  // DAEMONS_VERSIOND_VERSIOND_ENV_H_
