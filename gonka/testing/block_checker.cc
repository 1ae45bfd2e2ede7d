#include "gonka/testing/block_checker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gonka {
namespace testing {
namespace {

eventhub::SubscriberOptions CheckerOptions(const BlockChecker::Options& options) {
  eventhub::SubscriberOptions o;
  o.stream = options.stream;
  o.durable = options.durable;
  o.start_height = 1;
  return o;
}

}  // namespace

BlockChecker::BlockChecker(Options options, nats::JetStream* js)
    : comet_({.rpc_url = options.rpc_url}), subscriber_(CheckerOptions(options), js) {
  subscriber_.OnBlock([this](const chain::v1::BlockEvents& b) {
    absl::StatusOr<chain::v1::BlockEvents> truth = comet_.FetchBlockEvents(b.height(), {});
    absl::MutexLock lock(&mu_);
    heights_.push_back(b.height());
    arrivals_.push_back(absl::Now());
    if (mismatch_.empty() && truth.ok() &&
        (truth->hash() != b.hash() || truth->txs_size() != b.txs_size())) {
      mismatch_ = absl::StrCat("height ", b.height(), " differs from the chain's");
    }
    return absl::OkStatus();
  });
}

BlockChecker::~BlockChecker() { Stop(); }

absl::Status BlockChecker::Start() { return subscriber_.Start(); }

void BlockChecker::Stop() { subscriber_.Stop(); }

absl::Duration BlockChecker::LongestPauseSince(absl::Time since) const {
  absl::MutexLock lock(&mu_);
  absl::Duration longest;
  auto first = std::upper_bound(arrivals_.begin(), arrivals_.end(), since);
  for (auto it = first; it != arrivals_.end(); ++it) {
    if (it != arrivals_.begin()) longest = std::max(longest, *it - *(it - 1));
  }
  return longest;
}

BlockChecker::Summary BlockChecker::Summarize() const {
  absl::MutexLock lock(&mu_);
  Summary s;
  s.heights = static_cast<int64_t>(heights_.size());
  if (!heights_.empty()) s.first_height = heights_.front();
  for (size_t i = 1; i < heights_.size(); ++i) {
    if (heights_[i] == heights_[i - 1]) ++s.duplicates;
    if (heights_[i] > heights_[i - 1] + 1) ++s.gaps;
    if (heights_[i] < heights_[i - 1]) ++s.reorders;
    s.max_pause = std::max(s.max_pause, arrivals_[i] - arrivals_[i - 1]);
  }
  s.mismatch = mismatch_;
  return s;
}

}  // namespace testing
}  // namespace gonka
