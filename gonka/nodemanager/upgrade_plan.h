// The chain's upgrade plan for the admin API's GET /admin/v1/nodes/upgrade-status: read from
// Gonka's scheduled partial upgrades (inference.inference.Query/PartialUpgradeAll) and the upgrade
// module's plan (cosmos.upgrade.v1beta1.Query/CurrentPlan) by the rules Gonka's API applies on
// every block, and cached so the route does not query the chain per
// request (docs/node-manager.md, "The upgrade plan").
//
//   auto queries = std::make_shared<chain::InferenceQueryClient>(chain_flags.Queries(timeout));
//   admin_options.upgrade_plan = ChainUpgradePlan(queries);        // MlNodeAdminOptions
//   ...
//   absl::StatusOr<UpgradePlan> plan = admin_options.upgrade_plan();
//   // plan->node_version "": no ML-node upgrade planned
//
// The rule (PlanFromPartialUpgrades): start with no plan; for each partial upgrade in ascending
// height —
//   - `api_binaries_json` non-empty: parse it as {"api_binaries": {os/arch: url}, "node_version"};
//     skip the upgrade when it does not parse, has no binaries, or its `name` equals the plan's
//     so far; otherwise it becomes the plan {name, height, node_version of the JSON};
//   - else `node_version` non-empty: it becomes the plan {name, height, node_version};
//   - else: skipped.
// The last upgrade taken is the plan. Then the upgrade module's plan
// (cosmos.upgrade.v1beta1.Query/CurrentPlan, PlanWithUpgradeModule): when one is scheduled, its
// `name` differs from the plan's so far, its `info` is non-empty and parses as the same JSON
// (binaries not required), it becomes the plan {name, height, node_version of the JSON}.
//
// Contract:
//   - Every page is read (PageRequest.key = the previous next_key), each pinned to the height
//     the first page answered at, so the pages are one state. More than `max_pages` pages →
//     Internal.
//   - CurrentPlan is read at the height the partial upgrades were read at; its failure is the
//     plan's error ("/cosmos.upgrade.v1beta1.Query/CurrentPlan via ...").
//   - An answer, or an error, is kept for `ttl` (default 5 s, about one Gonka block): callers in
//     that window get it without a chain query, and concurrent callers after it expires share
//     one query. An error is the query client's (Unavailable when no transport answered), named
//     "PartialUpgradeAll via ...".
//
// Thread-safe: the returned function may be called from any thread.
#ifndef GONKA_NODEMANAGER_UPGRADE_PLAN_H_
#define GONKA_NODEMANAGER_UPGRADE_PLAN_H_

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/nodemanager/admin_api.h"
#include "gonka/proto/cosmos/upgrade/v1beta1/upgrade.pb.h"
#include "gonka/proto/inference/inference/partial_upgrade.pb.h"

namespace gonka {
namespace nodemanager {

struct UpgradePlanCacheOptions {
  absl::Duration ttl = absl::Seconds(5);
  int max_pages = 100;  // at the chain's default page size of 100, 10,000 upgrades
  Clock* clock = Clock::Real();
};

// Gonka's rule above over `upgrades` in the order given (the chain's: ascending height).
UpgradePlan PlanFromPartialUpgrades(
    const std::vector<::inference::inference::PartialUpgrade>& upgrades);

// Gonka's upgrade-module step above on top of `plan` (the partial upgrades' plan).
UpgradePlan PlanWithUpgradeModule(
    UpgradePlan plan, const ::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse& current);

// Every scheduled partial upgrade, all pages at one height.
absl::StatusOr<std::vector<::inference::inference::PartialUpgrade>> ReadPartialUpgrades(
    chain::InferenceQueryClient& queries, int max_pages = 100);
// The same, and the height they were read at (when `answered_height` is not null).
absl::StatusOr<std::vector<::inference::inference::PartialUpgrade>> ReadPartialUpgradesAt(
    chain::InferenceQueryClient& queries, int max_pages, int64_t* answered_height);

// `fetch` behind the cache described above (ttl, single flight).
UpgradePlanFn CachedUpgradePlan(UpgradePlanFn fetch, UpgradePlanCacheOptions options = {});

// The chain source: ReadPartialUpgrades → PlanFromPartialUpgrades → CurrentPlan →
// PlanWithUpgradeModule, cached.
UpgradePlanFn ChainUpgradePlan(std::shared_ptr<chain::InferenceQueryClient> queries,
                               UpgradePlanCacheOptions options = {});

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_UPGRADE_PLAN_H_
