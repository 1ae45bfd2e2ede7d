#include <cstdlib>
#include <string>
#include <gtest/gtest.h>
TEST(Probe, Child) {
  const char* mode = getenv("PROBE_MODE");
  std::string cmd = std::string("tools/sanitizers/probe_tmp/bad ") + (mode ? mode : "ok") + " >/dev/null 2>&1";
  int rc = system(cmd.c_str());
  (void)rc;  // the test ignores the child's exit status on purpose
  printf("LSAN_OPTIONS=%s\nASAN_OPTIONS=%s\n", getenv("LSAN_OPTIONS"), getenv("ASAN_OPTIONS"));
  SUCCEED();
}
