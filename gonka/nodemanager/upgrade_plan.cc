#include "gonka/nodemanager/upgrade_plan.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/proto/cosmos/base/query/v1beta1/pagination.pb.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

namespace ipb = ::inference::inference;

// Gonka's UpgradeInfoInput {api_binaries: map[string]string, node_version: string}, as Go's
// json.Unmarshal accepts it: an object (or null); a field of the wrong type fails the whole
// parse. Returns false when it does not parse.
bool ParseBinariesJson(const std::string& text, size_t* binaries, std::string* node_version) {
  *binaries = 0;
  node_version->clear();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS) return false;
  if (doc.is_null()) return true;
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return false;
  simdjson::dom::element field;
  if (object["api_binaries"].get(field) == simdjson::SUCCESS && !field.is_null()) {
    simdjson::dom::object map;
    if (field.get_object().get(map) != simdjson::SUCCESS) return false;
    for (simdjson::dom::key_value_pair entry : map) {
      if (!entry.value.is_string()) return false;
      ++*binaries;
    }
  }
  if (object["node_version"].get(field) == simdjson::SUCCESS && !field.is_null()) {
    std::string_view version;
    if (field.get_string().get(version) != simdjson::SUCCESS) return false;
    node_version->assign(version.data(), version.size());
  }
  return true;
}

class Cache {
 public:
  Cache(UpgradePlanFn fetch, UpgradePlanCacheOptions options)
      : fetch_(std::move(fetch)), options_(options) {}

  absl::StatusOr<UpgradePlan> Get() {
    if (auto cached = Fresh()) return *cached;
    absl::MutexLock flight(&fetch_mu_);  // one chain query at a time
    if (auto cached = Fresh()) return *cached;
    absl::StatusOr<UpgradePlan> plan = fetch_();
    absl::MutexLock lock(&mu_);
    cached_ = plan;
    expires_ = options_.clock->Now() + options_.ttl;
    return plan;
  }

 private:
  std::optional<absl::StatusOr<UpgradePlan>> Fresh() {
    absl::MutexLock lock(&mu_);
    if (options_.clock->Now() < expires_) return cached_;
    return std::nullopt;
  }

  const UpgradePlanFn fetch_;
  const UpgradePlanCacheOptions options_;
  absl::Mutex fetch_mu_;
  absl::Mutex mu_;
  absl::StatusOr<UpgradePlan> cached_ ABSL_GUARDED_BY(mu_) = UpgradePlan{};
  absl::Time expires_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace

UpgradePlan PlanFromPartialUpgrades(const std::vector<ipb::PartialUpgrade>& upgrades) {
  UpgradePlan plan;
  for (const ipb::PartialUpgrade& upgrade : upgrades) {
    if (!upgrade.api_binaries_json().empty()) {
      size_t binaries = 0;
      std::string node_version;
      if (!ParseBinariesJson(upgrade.api_binaries_json(), &binaries, &node_version)) continue;
      if (binaries == 0 || upgrade.name() == plan.name) continue;
      plan = {upgrade.name(), static_cast<int64_t>(upgrade.height()), node_version};
      continue;
    }
    if (!upgrade.node_version().empty()) {
      plan = {upgrade.name(), static_cast<int64_t>(upgrade.height()), upgrade.node_version()};
    }
  }
  return plan;
}

UpgradePlan PlanWithUpgradeModule(
    UpgradePlan plan, const ::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse& current) {
  if (!current.has_plan()) return plan;
  const ::cosmos::upgrade::v1beta1::Plan& full = current.plan();
  if (full.name() == plan.name || full.info().empty()) return plan;
  size_t binaries = 0;  // not required here, unlike a partial upgrade's
  std::string node_version;
  if (!ParseBinariesJson(full.info(), &binaries, &node_version)) return plan;
  return {full.name(), full.height(), node_version};
}

absl::StatusOr<std::vector<ipb::PartialUpgrade>> ReadPartialUpgrades(
    chain::InferenceQueryClient& queries, int max_pages) {
  return ReadPartialUpgradesAt(queries, max_pages, nullptr);
}

absl::StatusOr<std::vector<ipb::PartialUpgrade>> ReadPartialUpgradesAt(
    chain::InferenceQueryClient& queries, int max_pages, int64_t* answered_height) {
  std::vector<ipb::PartialUpgrade> all;
  ::cosmos::base::query::v1beta1::PageRequest page;
  int64_t height = 0;  // the first page's, then every page at it
  for (int pages = 0; pages < max_pages; ++pages) {
    chain::QueryMeta meta;
    absl::StatusOr<ipb::QueryAllPartialUpgradeResponse> answer =
        queries.PartialUpgradeAll(page, height, &meta);
    if (!answer.ok()) return answer.status();
    if (height == 0) height = meta.height;
    for (const ipb::PartialUpgrade& upgrade : answer->partialupgrade()) all.push_back(upgrade);
    if (answer->pagination().next_key().empty()) {
      if (answered_height != nullptr) *answered_height = height;
      return all;
    }
    page.set_key(answer->pagination().next_key());
  }
  return absl::InternalError(
      absl::StrCat("PartialUpgradeAll: more than ", max_pages, " pages of partial upgrades"));
}

UpgradePlanFn CachedUpgradePlan(UpgradePlanFn fetch, UpgradePlanCacheOptions options) {
  auto cache = std::make_shared<Cache>(std::move(fetch), options);
  return [cache] { return cache->Get(); };
}

UpgradePlanFn ChainUpgradePlan(std::shared_ptr<chain::InferenceQueryClient> queries,
                               UpgradePlanCacheOptions options) {
  const int max_pages = options.max_pages;
  return CachedUpgradePlan(
      [queries, max_pages]() -> absl::StatusOr<UpgradePlan> {
        int64_t height = 0;
        absl::StatusOr<std::vector<ipb::PartialUpgrade>> upgrades =
            ReadPartialUpgradesAt(*queries, max_pages, &height);
        if (!upgrades.ok()) return upgrades.status();
        // Gonka checks the partial upgrades first, then the upgrade module's plan; both here
        // from the same state.
        absl::StatusOr<::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse> current =
            queries->CurrentPlan(height);
        if (!current.ok()) return current.status();
        return PlanWithUpgradeModule(PlanFromPartialUpgrades(*upgrades), *current);
      },
      options);
}

}  // namespace nodemanager
}  // namespace gonka
