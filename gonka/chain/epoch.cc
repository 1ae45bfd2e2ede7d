#include "gonka/chain/epoch.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gonka {
namespace chain {

absl::Status ValidateEpochParams(const EpochParams& e) {
  if (e.epoch_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch_length: ", e.epoch_length, " must be >= 0"));
  }
  if (e.epoch_length == 0) return absl::OkStatus();
  if (e.epoch_shift < 0 || e.epoch_shift >= e.epoch_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "epoch_shift: ", e.epoch_shift, " must be in [0, epoch_length ", e.epoch_length, ")"));
  }
  if (e.poc_stage_duration <= 0)
    return absl::InvalidArgumentError("poc_stage_duration: must be > 0");
  if (e.poc_validation_duration <= 0) {
    return absl::InvalidArgumentError("poc_validation_duration: must be > 0");
  }
  if (e.poc_exchange_duration < 0 || e.poc_validation_delay < 0 || e.set_new_validators_delay < 0) {
    return absl::InvalidArgumentError(
        "poc_exchange_duration, poc_validation_delay, set_new_validators_delay: must be >= 0");
  }
  int64_t claim = e.poc_stage_duration + e.poc_validation_delay + e.poc_validation_duration +
                  e.set_new_validators_delay + 1;
  if (claim >= e.epoch_length) {
    return absl::InvalidArgumentError(absl::StrCat("epoch_length: ", e.epoch_length,
                                                   " must exceed the PoC schedule (ClaimMoney at "
                                                   "offset ",
                                                   claim, ")"));
  }
  return absl::OkStatus();
}

int64_t PocStartHeight(const EpochParams& p, int64_t epoch) {
  if (p.epoch_length <= 0 || epoch <= 0) return 0;
  return epoch * p.epoch_length - p.epoch_shift;
}

int64_t LatestEpochAt(const EpochParams& p, int64_t height) {
  if (p.epoch_length <= 0 || height < p.epoch_length - p.epoch_shift) return 0;
  return (height + p.epoch_shift) / p.epoch_length;
}

EpochSchedule ScheduleAt(const EpochParams& p, int64_t height) {
  EpochSchedule s;
  int64_t k = LatestEpochAt(p, height);
  if (k == 0) return s;
  s.poc_start_height = PocStartHeight(p, k);
  int64_t o = height - s.poc_start_height;
  int64_t wind_down = p.poc_stage_duration * 8 / 10;
  int64_t end_gen = p.poc_stage_duration;
  int64_t exchange = end_gen + p.poc_exchange_duration;
  int64_t start_val = end_gen + p.poc_validation_delay;
  int64_t val_wind_down = start_val + p.poc_validation_duration * 8 / 10;
  int64_t end_val = start_val + p.poc_validation_duration;
  int64_t set_new = end_val + p.set_new_validators_delay;
  int64_t claim = set_new + 1;
  if (o < wind_down) {
    s.phase = "PoCGenerate";
  } else if (o < start_val) {
    s.phase = "PoCGenerateWindDown";
  } else if (o < val_wind_down) {
    s.phase = "PoCValidate";
  } else if (o < end_val) {
    s.phase = "PoCValidateWindDown";
  }
  // In the order the Gonka node tests them; the first match names the height.
  const std::pair<int64_t, const char*> stages[] = {
      {0, "StartOfPoC"},
      {wind_down, "PoCGenerationWindDown"},
      {end_gen, "EndOfPoCGeneration"},
      {exchange, "PoCExchangeDeadline"},
      {start_val, "StartOfPoCValidation"},
      {val_wind_down, "PoCValidationWindDown"},
      {end_val, "EndOfPoCValidation"},
      {set_new, "SetNewValidators"},
      {claim, "ClaimMoney"},
  };
  for (const auto& [offset, name] : stages) {
    if (o == offset) {
      s.stage = name;
      break;
    }
  }
  s.epoch_index = o >= set_new ? k : k - 1;
  return s;
}

}  // namespace chain
}  // namespace gonka
