#include "gonka/testing/env_var.h"

#include <cstdlib>

#include "absl/strings/numbers.h"

namespace gonka {
namespace testing {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* s = std::getenv(name);
  int64_t v = 0;
  return s != nullptr && absl::SimpleAtoi(s, &v) ? v : fallback;
}

}  // namespace testing
}  // namespace gonka
