// For hosts_test: builds a 2-host network with the prefix in argv[1] and waits to be killed (the
// test checks what is left after kill -9 and after SIGTERM).
#include <unistd.h>

#include <cstdio>

#include "gonka/testing/hosts.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto hosts =
      gonka::testing::Hosts::Create({.hosts = 2, .prefix = argv[1], .enter_test_host = false});
  if (!hosts.ok()) {
    std::fprintf(stderr, "%s\n", hosts.status().ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (int i = 0; i < 600; ++i) sleep(1);
  return 0;
}
