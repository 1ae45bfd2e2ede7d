// The setup report's checks and summary (Gonka's rules: synced when the latest block is under 60 s
// old; FAIL wins over UNAVAILABLE), and the --setup-report-ready list.
#include "gonka/edgesrv/setup_report.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

SetupReportOptions Options(absl::Duration block_age, int ready_status) {
  SetupReportOptions o;
  o.participant = "gonka1participant";
  o.chain_status = [block_age]() -> absl::StatusOr<chain::CometStatus> {
    chain::CometStatus st;
    st.latest_height = 120;
    st.latest_time = kNow - block_age;
    return st;
  };
  o.ready = {{"signerd", "http://127.0.0.1:8081"}};
  o.get_status = [ready_status](const std::string& url) -> absl::StatusOr<int> {
    EXPECT_EQ(url, "http://127.0.0.1:8081/ready");
    return ready_status;
  };
  return o;
}

TEST(SetupReport, AllPassWhenSyncedAndReady) {
  const std::string json = SetupReportJson(Options(absl::Seconds(5), 200), kNow);
  EXPECT_TRUE(absl::StrContains(json, R"("experimental":true)")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("generated_at":"2027-01-15T08:00:00Z")")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("cached_until":"2027-01-15T08:01:00Z")")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("overall_status":"PASS")")) << json;
  EXPECT_TRUE(absl::StrContains(
      json, R"({"id":"cold_key_configured","status":"PASS","message":"Cold key is configured",)"
            R"("details":{"address":"gonka1participant"}})"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, R"({"id":"ready_signerd","status":"PASS")")) << json;
  EXPECT_TRUE(absl::StrContains(
      json, R"({"id":"block_sync","status":"PASS","message":"Chain is synced. Latest block: 120, )"
            R"(age: 5s","details":{"latest_height":120,)"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, R"("total_checks":3,"passed_checks":3,"failed_checks":0,)"
                                      R"("unavailable_checks":0,"issues":[],"recommendations":[])"))
      << json;
}

TEST(SetupReport, StalledChainAndUnreadyDaemonFail) {
  const std::string json = SetupReportJson(Options(absl::Seconds(61), 503), kNow);
  EXPECT_TRUE(absl::StrContains(json, R"("overall_status":"FAIL")")) << json;
  EXPECT_TRUE(absl::StrContains(json, "Chain appears stalled. Latest block: 120, age: 61s (> 60s)"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "signerd is not ready: HTTP 503")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("failed_checks":2)")) << json;
  EXPECT_TRUE(absl::StrContains(json, "Check chain node is running and syncing properly")) << json;
  EXPECT_TRUE(
      absl::StrContains(json, "Check signerd is running and ready at http://127.0.0.1:8081/ready"))
      << json;
}

TEST(SetupReport, NoChainAnswerIsUnavailable) {
  SetupReportOptions o = Options(absl::Seconds(1), 200);
  o.chain_status = [] {
    return absl::StatusOr<chain::CometStatus>(absl::UnavailableError("down"));
  };
  const std::string json = SetupReportJson(o, kNow);
  EXPECT_TRUE(absl::StrContains(json, R"("overall_status":"UNAVAILABLE")")) << json;
  EXPECT_TRUE(absl::StrContains(json, "Check unavailable: Failed to get node status: down"))
      << json;
}

TEST(ParseReadyTargets, NamesAndUrls) {
  absl::StatusOr<std::vector<ReadyTarget>> t =
      ParseReadyTargets("signerd=http://127.0.0.1:8081/, node-manager=https://nm:9200");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].name, "signerd");
  EXPECT_EQ((*t)[0].url, "http://127.0.0.1:8081");
  EXPECT_EQ((*t)[1].name, "node-manager");
  EXPECT_TRUE(ParseReadyTargets("")->empty());
  absl::StatusOr<std::vector<ReadyTarget>> bad = ParseReadyTargets("signerd=127.0.0.1:8081");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "signerd=127.0.0.1:8081"));
  EXPECT_FALSE(ParseReadyTargets("=http://x").ok());
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
