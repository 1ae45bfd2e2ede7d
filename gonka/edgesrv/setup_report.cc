#include "gonka/edgesrv/setup_report.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"

namespace gonka {
namespace edgesrv {
namespace {

struct Check {
  std::string id;
  std::string status;  // PASS, FAIL, UNAVAILABLE
  std::string message;
  std::string details;         // a JSON object, or "" for none
  std::string recommendation;  // added to the summary when the check failed
};

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

Check BlockSync(const SetupReportOptions& o, absl::Time now) {
  Check c{.id = "block_sync", .recommendation = "Check chain node is running and syncing properly"};
  if (!o.chain_status) {
    c.status = "UNAVAILABLE";
    c.message = "Failed to connect to chain node: no chain RPC URL configured";
    return c;
  }
  absl::StatusOr<chain::CometStatus> st = o.chain_status();
  if (!st.ok()) {
    c.status = "UNAVAILABLE";
    c.message = absl::StrCat("Failed to get node status: ", st.status().message());
    return c;
  }
  // Gonka: synced when the latest block is less than 60 s old.
  const absl::Duration age = now - st->latest_time;
  const int64_t seconds = absl::ToInt64Seconds(age);
  const bool healthy = age < absl::Seconds(60);
  c.status = healthy ? "PASS" : "FAIL";
  c.message = healthy ? absl::StrFormat("Chain is synced. Latest block: %d, age: %ds",
                                        st->latest_height, seconds)
                      : absl::StrFormat("Chain appears stalled. Latest block: %d, age: %ds (> 60s)",
                                        st->latest_height, seconds);
  JsonWriter w;
  w.BeginObject()
      .Key("latest_height")
      .Int(st->latest_height)
      .Key("latest_block_time")
      .String(Rfc3339(st->latest_time))
      .Key("seconds_since_block")
      .Int(seconds)
      .EndObject();
  c.details = w.Take();
  return c;
}

Check Ready(const SetupReportOptions& o, const ReadyTarget& t) {
  Check c{.id = absl::StrCat("ready_", t.name),
          .recommendation =
              absl::StrCat("Check ", t.name, " is running and ready at ", t.url, "/ready")};
  absl::StatusOr<int> status = o.get_status ? o.get_status(absl::StrCat(t.url, "/ready"))
                                            : absl::UnavailableError("no HTTP client");
  if (status.ok() && *status == 200) {
    c.status = "PASS";
    c.message = absl::StrCat(t.name, " is ready");
  } else {
    c.status = "FAIL";
    c.message = absl::StrCat(
        t.name, " is not ready: ",
        status.ok() ? absl::StrCat("HTTP ", *status) : std::string(status.status().message()));
  }
  JsonWriter w;
  w.BeginObject().Key("name").String(t.name).Key("url").String(t.url).EndObject();
  c.details = w.Take();
  return c;
}

}  // namespace

absl::StatusOr<std::vector<ReadyTarget>> ParseReadyTargets(absl::string_view list) {
  std::vector<ReadyTarget> targets;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(entry, absl::MaxSplits('=', 1));
    std::string url(absl::StripSuffix(kv.second, "/"));
    if (kv.first.empty() ||
        !(absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", entry, "\": want name=http://host:port"));
    }
    targets.push_back({std::string(kv.first), std::move(url)});
  }
  return targets;
}

std::string SetupReportJson(const SetupReportOptions& o, absl::Time now) {
  std::vector<Check> checks;
  {
    Check c{.id = "cold_key_configured",
            .recommendation = "Start edge-srv with --participant (the account address)"};
    c.status = o.participant.empty() ? "FAIL" : "PASS";
    c.message = o.participant.empty() ? "Cold key is not configured" : "Cold key is configured";
    if (!o.participant.empty()) {
      JsonWriter w;
      w.BeginObject().Key("address").String(o.participant).EndObject();
      c.details = w.Take();
    }
    checks.push_back(std::move(c));
  }
  for (const ReadyTarget& t : o.ready) checks.push_back(Ready(o, t));
  checks.push_back(BlockSync(o, now));

  int passed = 0, failed = 0, unavailable = 0;
  std::vector<std::string> issues, recommendations;
  for (const Check& c : checks) {
    if (c.status == "PASS") {
      ++passed;
    } else if (c.status == "FAIL") {
      ++failed;
      issues.push_back(c.message);
      recommendations.push_back(c.recommendation);
    } else {
      ++unavailable;
      issues.push_back(absl::StrCat("Check unavailable: ", c.message));
    }
  }
  const char* overall = failed > 0 ? "FAIL" : unavailable > 0 ? "UNAVAILABLE" : "PASS";
  JsonWriter w;
  w.BeginObject()
      .Key("experimental")
      .Bool(true)
      .Key("generated_at")
      .String(Rfc3339(now))
      .Key("cached_until")
      .String(Rfc3339(now + absl::Minutes(1)))
      .Key("overall_status")
      .String(overall)
      .Key("checks")
      .BeginArray();
  for (const Check& c : checks) {
    w.BeginObject().Key("id").String(c.id).Key("status").String(c.status).Key("message").String(
        c.message);
    if (!c.details.empty()) w.Key("details").Raw(c.details);
    w.EndObject();
  }
  w.EndArray()
      .Key("summary")
      .BeginObject()
      .Key("total_checks")
      .Int(static_cast<int64_t>(checks.size()))
      .Key("passed_checks")
      .Int(passed)
      .Key("failed_checks")
      .Int(failed)
      .Key("unavailable_checks")
      .Int(unavailable)
      .Key("issues")
      .BeginArray();
  for (const std::string& i : issues) w.String(i);
  w.EndArray().Key("recommendations").BeginArray();
  for (const std::string& r : recommendations) w.String(r);
  w.EndArray().EndObject().EndObject();
  return w.Take();
}

}  // namespace edgesrv
}  // namespace gonka
