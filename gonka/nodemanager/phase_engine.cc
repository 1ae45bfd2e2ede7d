#include "gonka/nodemanager/phase_engine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"

namespace gonka {
namespace nodemanager {

absl::string_view ActionKindName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kEnsureSeed:
      return "ensure_seed";
    case ActionKind::kInitValidate:
      return "init_validate";
    case ActionKind::kStoreCommit:
      return "store_commit";
    case ActionKind::kValidateAll:
      return "validate_all";
    case ActionKind::kDistributeWeights:
      return "distribute_weights";
    case ActionKind::kInferenceUpAll:
      return "inference_up_all";
    case ActionKind::kChangeCurrentSeed:
      return "change_current_seed";
    case ActionKind::kClaimRewards:
      return "claim_rewards";
  }
  return "unknown";
}

IntendedState IntendedStateFor(absl::string_view phase) {
  if (phase == "PoCGenerate" || phase == "PoCGenerateWindDown") {
    return IntendedState::kPocGenerating;
  }
  if (phase == "PoCValidate" || phase == "PoCValidateWindDown") {
    return IntendedState::kPocValidating;
  }
  return IntendedState::kInference;
}

absl::string_view IntendedStateName(IntendedState state) {
  switch (state) {
    case IntendedState::kInference:
      return "INFERENCE";
    case IntendedState::kPocGenerating:
      return "POC_GENERATING";
    case IntendedState::kPocValidating:
      return "POC_VALIDATING";
  }
  return "UNKNOWN";
}

int64_t ClaimDelay(absl::string_view participant, int64_t claim_height, int64_t next_poc_start) {
  if (claim_height <= 500 || next_poc_start - claim_height < 1000) return 0;
  crypto::Sha256Digest digest = crypto::Sha256(participant);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return static_cast<int64_t>(v % 500) + 1;
}

PhaseEngine::PhaseEngine(PhaseEngineOptions options) : options_(std::move(options)) {}

std::vector<Action> PhaseEngine::Advance(int64_t height) {
  std::vector<Action> out;
  if (options_.params.epoch_length <= 0) {
    if (height > last_height_) last_height_ = height;
    return out;
  }
  for (int64_t h = last_height_ + 1; h <= height; ++h) {
    size_t before = out.size();
    ActionsAt(h, &out);
    if (h != height) missed_by_exact_height_ += static_cast<int64_t>(out.size() - before);
  }
  if (height > last_height_) last_height_ = height;
  return out;
}

void PhaseEngine::ActionsAt(int64_t h, std::vector<Action>* out) const {
  const chain::EpochParams& p = options_.params;
  const std::string& who = options_.participant;
  auto add = [&](ActionKind kind, int64_t epoch, int64_t poc_start, std::string key) {
    out->push_back(Action{kind, h, epoch, poc_start, std::move(key)});
  };
  // The stage of h within the epoch whose PoC started last (at or before h).
  chain::EpochSchedule at = chain::ScheduleAt(p, h);
  const int64_t latest = chain::LatestEpochAt(p, h);
  const int64_t poc_start = at.poc_start_height;
  if (latest >= 1) {
    const std::string& stage = at.stage;
    const int64_t o = h - poc_start;
    const int64_t end_gen = p.poc_stage_duration;
    const int64_t start_val = end_gen + p.poc_validation_delay;
    const int64_t end_val = start_val + p.poc_validation_duration;
    if (o == 0) {
      add(ActionKind::kEnsureSeed, latest, poc_start, absl::StrCat("seed/", latest, "/", who));
    }
    if (o == end_gen) {
      add(ActionKind::kInitValidate, latest, poc_start, absl::StrCat("init_validate/", poc_start));
    }
    // One block after generation ended, so the batches ML nodes had in flight have landed; the
    // chain takes commits until the PoC exchange deadline (poc_exchange_duration blocks later).
    if (o == end_gen + 1) {
      add(ActionKind::kStoreCommit, latest, poc_start,
          absl::StrCat("store_commit/", poc_start, "/", who));
    }
    if (o == start_val) {
      add(ActionKind::kValidateAll, latest, poc_start, absl::StrCat("validate_all/", poc_start));
      add(ActionKind::kDistributeWeights, latest, poc_start,
          absl::StrCat("weights/", latest, "/", who));
    }
    if (o == end_val) {
      add(ActionKind::kInferenceUpAll, latest, poc_start, absl::StrCat("inference_up/", poc_start));
    }
    if (stage == "SetNewValidators") {
      add(ActionKind::kChangeCurrentSeed, latest, poc_start, absl::StrCat("change_seed/", latest));
    }
  }
  // Claims: ClaimMoney of the epoch whose PoC started at or before h - d, for this participant's
  // delay d (the delay depends on that epoch's claim height, so test each candidate epoch).
  for (int64_t epoch = latest; epoch >= 1 && epoch >= latest - 1; --epoch) {
    const int64_t start = chain::PocStartHeight(p, epoch);
    const int64_t claim = start + p.poc_stage_duration + p.poc_validation_delay +
                          p.poc_validation_duration + p.set_new_validators_delay + 1;
    const int64_t next = start + p.epoch_length;
    if (h == claim + ClaimDelay(who, claim, next)) {
      // Gonka claims the previous epoch's rewards at this epoch's ClaimMoney.
      if (epoch - 1 >= 1) {
        add(ActionKind::kClaimRewards, epoch - 1, start,
            absl::StrCat("claim/", epoch - 1, "/", who));
      }
    }
  }
}

}  // namespace nodemanager
}  // namespace gonka
