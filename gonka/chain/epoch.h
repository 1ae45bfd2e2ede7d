// Gonka's epoch and PoC phase schedule (docs/reference/gonka.md, "Epochs and PoC phases"),
// derived from a height the way the Gonka node derives it: offsets from each epoch's PoC start
// height.
//
//   EpochParams params;               // mainnet: epoch_length 17280, poc_stage_duration 60, ...
//   EpochSchedule s = ScheduleAt(params, height);
//   if (s.stage == "StartOfPoC") ...
//
// Epoch e >= 1 starts PoC at height e * epoch_length; heights before the first PoC are epoch 0,
// phase Inference (epoch 0 never runs PoC). The effective epoch index switches at
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

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_EPOCH_H_
