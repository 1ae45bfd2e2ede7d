// EnvInt: an integer knob of a test or experiment read from the environment, e.g. the seed that
// replays a chaos round (GONKA_CHAOS_SEED) or the number of faults a round injects.
//
//   options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
//
// Test-only.
#ifndef GONKA_TESTING_ENV_VAR_H_
#define GONKA_TESTING_ENV_VAR_H_

#include <cstdint>

namespace gonka {
namespace testing {

// The variable's value as an integer; `fallback` when it is unset, empty or not an integer.
int64_t EnvInt(const char* name, int64_t fallback);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_ENV_VAR_H_
