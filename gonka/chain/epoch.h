// Gonka's epoch and PoC phase schedule (docs/reference/gonka.md, "Epochs and PoC phases"),
// derived from a height the way the Gonka node derives it: offsets from each epoch's PoC start
// height.
//
//   EpochParams params;               // mainnet: epoch_length 17280, poc_stage_duration 60, ...
//   EpochSchedule s = ScheduleAt(params, height);
//   if (s.stage == "StartOfPoC") ...
//
// Epoch e >= 1 starts PoC at height e * epoch_length - epoch_shift (Gonka's chain: epoch 0's
// NextPoCStart is epoch_length - epoch_shift and each epoch's is its PoC start + epoch_length;
// mainnet's 17280 and 16980 put epoch 1 at height 300); heights before the first PoC are epoch
// 0, phase Inference (epoch 0 never runs PoC). The effective epoch index switches at
// SetNewValidators. Pure functions; thread-safe.
#ifndef GONKA_CHAIN_EPOCH_H_
#define GONKA_CHAIN_EPOCH_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace gonka {
namespace chain {

struct EpochParams {
  int64_t epoch_length = 0;  // 0 = no epochs
  // Moves every PoC start this many blocks earlier: 0 <= epoch_shift < epoch_length.
  int64_t epoch_shift = 0;
  int64_t poc_stage_duration = 60;
  int64_t poc_exchange_duration = 5;
  int64_t poc_validation_delay = 5;
  int64_t poc_validation_duration = 20;
  int64_t set_new_validators_delay = 120;
};

struct EpochSchedule {
  int64_t epoch_index = 0;
  int64_t poc_start_height = 0;
  std::string phase = "Inference";
  std::string stage;  // "" unless the height is a stage boundary
};

// InvalidArgument naming the field when the schedule does not fit in an epoch.
absl::Status ValidateEpochParams(const EpochParams& params);

EpochSchedule ScheduleAt(const EpochParams& params, int64_t height);

// The height at which epoch `epoch` (>= 1) starts PoC; 0 for epoch 0 or without epochs.
int64_t PocStartHeight(const EpochParams& params, int64_t epoch);

// The last epoch whose PoC has started at `height` (Gonka's EpochInfo latest_epoch; 0 before
// the first PoC). The effective epoch (ScheduleAt().epoch_index) lags it until SetNewValidators.
int64_t LatestEpochAt(const EpochParams& params, int64_t height);

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_EPOCH_H_
