// Per-process figures from /proc for benchmarks: peak and current memory, CPU time. Linux only.
//
//   int64_t peak_kb = gonka::testing::ProcStatusKb(pid, "VmHWM");
//   double cpu = gonka::testing::ProcCpuSeconds(pid);   // user + system, seconds
#ifndef GONKA_TESTING_PROC_STATS_H_
#define GONKA_TESTING_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gonka {
namespace testing {

// A /proc/<pid>/status field in kB ("VmHWM", "VmRSS"); -1 if absent (e.g. the process is gone).
// pid 0 = this process.
int64_t ProcStatusKb(pid_t pid, absl::string_view field);

// User + system CPU seconds the process has used so far (all its threads); -1 if unreadable.
// pid 0 = this process.
double ProcCpuSeconds(pid_t pid);

// The same summed over every live process in process group `pgid` or whose parent is `pgid`
// (a server and its helpers, e.g. PostgreSQL's backends, which call setsid()).
double ProcGroupCpuSeconds(pid_t pgid);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_PROC_STATS_H_
