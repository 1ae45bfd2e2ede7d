// The onboarding report of GET /admin/v1/setup/report in libgonka's shape of a node: Gonka's
// report format (dapi admin setup_report.go) with the checks a stateless edge-srv replica can
// make — the participant it serves, the chain's block sync, and each configured daemon's /ready
// (libgonka's ML nodes, keys and grants live in the node-manager and signerd, which report
// readiness on /ready). docs/edge-srv.md, "GET setup/report", lists which of Gonka's checks are
// made and which are not.
//
//   SetupReportOptions o{.participant = "gonka1...", .chain_status = [&] { return comet.Status();
//   },
//                        .ready = {{"signerd", "http://127.0.0.1:8081"}},
//                        .get_status = [&](const std::string& url) { ... GET, return HTTP status
//                        }};
//   std::string json = SetupReportJson(o, absl::Now());
//
// Contract: SetupReportJson never fails; a check it cannot make is UNAVAILABLE with the reason.
// Each check's status is "PASS", "FAIL" or "UNAVAILABLE"; overall_status is FAIL when any check
// failed, else UNAVAILABLE when any was unavailable, else PASS (Gonka's rule).
// Thread-safety: a pure function of its options (the callbacks must be thread-safe).
#ifndef GONKA_EDGESRV_SETUP_REPORT_H_
#define GONKA_EDGESRV_SETUP_REPORT_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"

namespace gonka {
namespace edgesrv {

struct ReadyTarget {
  std::string name;  // e.g. "signerd"; the check id is "ready_<name>"
  std::string url;   // "http://host:port"; the check GETs url + "/ready"
};

// "name=url,name=url" (the --setup-report-ready flag). InvalidArgument naming the entry.
absl::StatusOr<std::vector<ReadyTarget>> ParseReadyTargets(absl::string_view list);

struct SetupReportOptions {
  std::string participant;
  // The chain node's CometBFT status; none: block_sync is UNAVAILABLE.
  std::function<absl::StatusOr<chain::CometStatus>()> chain_status;
  std::vector<ReadyTarget> ready;
  // GET `url`, the HTTP status (an error when nothing answered).
  std::function<absl::StatusOr<int>(const std::string& url)> get_status;
};

// Gonka's SetupReport as JSON: {experimental: true, generated_at, cached_until (+1 minute),
// overall_status, checks: [{id, status, message, details?}], summary: {total_checks,
// passed_checks, failed_checks, unavailable_checks, issues, recommendations}}.
std::string SetupReportJson(const SetupReportOptions& options, absl::Time now);

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_SETUP_REPORT_H_
