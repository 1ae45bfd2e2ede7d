// The upgrade plan from partial upgrades by Gonka's rule (docs/node-manager.md, "The upgrade
// plan"), the upgrade module's plan over it, and the cache in front of the chain: an answer (or an
// error) kept for its TTL, one fetch for concurrent callers after it expires.
#include "gonka/nodemanager/upgrade_plan.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "gonka/base/clock.h"

namespace gonka {
namespace nodemanager {
namespace {

using ::inference::inference::PartialUpgrade;

PartialUpgrade Upgrade(uint64_t height, const std::string& node_version,
                       const std::string& binaries_json = "", const std::string& name = "") {
  PartialUpgrade u;
  u.set_height(height);
  u.set_node_version(node_version);
  u.set_api_binaries_json(binaries_json);
  u.set_name(name.empty() ? "up-" + std::to_string(height) : name);
  return u;
}

void ExpectPlan(const UpgradePlan& plan, const std::string& name, int64_t height,
                const std::string& node_version) {
  EXPECT_EQ(plan.name, name);
  EXPECT_EQ(plan.height, height);
  EXPECT_EQ(plan.node_version, node_version);
}

TEST(PlanFromPartialUpgradesTest, NoneOrNothingUsableIsNoPlan) {
  ExpectPlan(PlanFromPartialUpgrades({}), "", 0, "");
  // Neither a node version nor binaries.
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "")}), "", 0, "");
}

TEST(PlanFromPartialUpgradesTest, NodeVersionOnlyUpgradesTheLastOneWins) {
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "v2")}), "up-10", 10, "v2");
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "v2"), Upgrade(20, "v3"), Upgrade(30, "")}),
             "up-20", 20, "v3");
}

TEST(PlanFromPartialUpgradesTest, BinariesTakeTheJsonsNodeVersion) {
  const std::string json =
      R"({"api_binaries":{"linux/amd64":"https://example/dapi.zip"},"node_version":"v4"})";
  // The JSON's node_version, not the upgrade's own.
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "ignored", json)}), "up-10", 10, "v4");
  // Binaries without a node version: a plan with no ML-node version (upgrade-status: none).
  ExpectPlan(PlanFromPartialUpgrades(
                 {Upgrade(10, "v2"), Upgrade(20, "", R"({"api_binaries":{"a":"b"}})")}),
             "up-20", 20, "");
}

TEST(PlanFromPartialUpgradesTest, UnusableBinariesJsonSkipsTheUpgradeEntirely) {
  for (const std::string json : {"not json", R"({"api_binaries":{}})", R"({"node_version":"v9"})",
                                 R"({"api_binaries":{"a":1},"node_version":"v9"})",
                                 R"({"api_binaries":{"a":"b"},"node_version":9})", "[1]",
                                 R"({"api_binaries":null,"node_version":"v9"})"}) {
    // The upgrade's own node_version is not used either (Gonka skips the upgrade).
    ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "v2"), Upgrade(20, "v9", json)}), "up-10", 10,
               "v2");
  }
}

TEST(PlanFromPartialUpgradesTest, BinariesWithThePlansNameAreSkipped) {
  const std::string a = R"({"api_binaries":{"a":"b"},"node_version":"v5"})";
  const std::string b = R"({"api_binaries":{"a":"c"},"node_version":"v6"})";
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "", a, "same"), Upgrade(20, "", b, "same")}),
             "same", 10, "v5");
  // As in Gonka, an unnamed upgrade with binaries equals the empty plan's name.
  PartialUpgrade unnamed = Upgrade(10, "", a);
  unnamed.clear_name();
  ExpectPlan(PlanFromPartialUpgrades({unnamed}), "", 0, "");
  // A node-version-only upgrade replaces whatever came before, same name or not.
  ExpectPlan(PlanFromPartialUpgrades({Upgrade(10, "", a, "same"), Upgrade(20, "v7", "", "same")}),
             "same", 20, "v7");
}

TEST(CachedUpgradePlanTest, KeepsAnswersAndErrorsForTheTtl) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  int fetches = 0;
  absl::StatusOr<UpgradePlan> next = UpgradePlan{"a", 10, "v2"};
  UpgradePlanFn plan = CachedUpgradePlan(
      [&] {
        ++fetches;
        return next;
      },
      {.ttl = absl::Seconds(5), .clock = &clock});
  ASSERT_TRUE(plan().ok());
  EXPECT_EQ(plan()->node_version, "v2");
  EXPECT_EQ(fetches, 1);
  next = absl::UnavailableError("chain down");
  clock.Advance(absl::Seconds(4));
  EXPECT_TRUE(plan().ok());  // still cached
  EXPECT_EQ(fetches, 1);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(plan().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(plan().status().code(), absl::StatusCode::kUnavailable);  // the error is cached too
  EXPECT_EQ(fetches, 2);
  next = UpgradePlan{};
  clock.Advance(absl::Seconds(5));
  ASSERT_TRUE(plan().ok());
  EXPECT_EQ(plan()->node_version, "");
  EXPECT_EQ(fetches, 3);
}

TEST(CachedUpgradePlanTest, ConcurrentCallersShareOneFetch) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  std::atomic<int> fetches{0};
  absl::Notification release;
  UpgradePlanFn plan = CachedUpgradePlan(
      [&]() -> absl::StatusOr<UpgradePlan> {
        ++fetches;
        release.WaitForNotificationWithTimeout(absl::Seconds(10));
        return UpgradePlan{"a", 10, "v2"};
      },
      {.ttl = absl::Seconds(5), .clock = &clock});
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      if (plan().ok()) ++ok;
    });
  }
  absl::SleepFor(absl::Milliseconds(200));  // let them all block on the one fetch
  release.Notify();
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(fetches.load(), 1);
}

::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse Current(const std::string& name,
                                                             int64_t height,
                                                             const std::string& info) {
  ::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse r;
  r.mutable_plan()->set_name(name);
  r.mutable_plan()->set_height(height);
  r.mutable_plan()->set_info(info);
  return r;
}

TEST(PlanWithUpgradeModuleTest, TheModulesPlanOverridesThePartialOne) {
  const UpgradePlan partial{"up-500", 500, "v2"};
  // No plan scheduled: the partial upgrades' plan stays.
  ExpectPlan(PlanWithUpgradeModule(partial, {}), "up-500", 500, "v2");
  // A plan with Gonka's info JSON replaces it (binaries not required here).
  ExpectPlan(PlanWithUpgradeModule(partial, Current("v0.3.0", 900, R"({"node_version":"v3"})")),
             "v0.3.0", 900, "v3");
  ExpectPlan(PlanWithUpgradeModule(
                 partial, Current("v0.3.0", 900,
                                  R"({"api_binaries":{"linux/amd64":"u"},"node_version":"v4"})")),
             "v0.3.0", 900, "v4");
  // Binaries but no node version: a plan without an ML-node version (upgrade-status: none).
  ExpectPlan(PlanWithUpgradeModule(
                 partial, Current("v0.3.0", 900, R"({"api_binaries":{"linux/amd64":"u"}})")),
             "v0.3.0", 900, "");
  // From no partial plan too.
  ExpectPlan(PlanWithUpgradeModule({}, Current("v0.3.0", 900, R"({"node_version":"v3"})")),
             "v0.3.0", 900, "v3");
}

TEST(PlanWithUpgradeModuleTest, SkippedWhenSameNameNoInfoOrInfoNotJson) {
  const UpgradePlan partial{"up-500", 500, "v2"};
  ExpectPlan(PlanWithUpgradeModule(partial, Current("up-500", 900, R"({"node_version":"v3"})")),
             "up-500", 500, "v2");
  ExpectPlan(PlanWithUpgradeModule(partial, Current("v0.3.0", 900, "")), "up-500", 500, "v2");
  for (const char* info :
       {"not json", "[1]", R"({"node_version":3})", R"({"api_binaries":{"linux/amd64":1}})"}) {
    ExpectPlan(PlanWithUpgradeModule(partial, Current("v0.3.0", 900, info)), "up-500", 500, "v2");
  }
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
