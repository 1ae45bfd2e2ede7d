#include "gonka/testing/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gonka {
namespace testing {
namespace {

std::string ProcPath(pid_t pid, const char* file) {
  return pid == 0 ? absl::StrCat("/proc/self/", file) : absl::StrCat("/proc/", pid, "/", file);
}

struct Stat {
  int64_t ppid = 0, pgrp = 0, utime = 0, stime = 0;  // times in clock ticks
};

// /proc/<pid>/stat: after "pid (comm) " come state (field 3), ppid (4), pgrp (5), ...,
// utime (14), stime (15). The command name may hold spaces and parentheses: split after the
// last ')'.
bool ReadStat(const std::string& path, Stat* out) {
  std::ifstream in(path);
  std::string stat;
  if (!std::getline(in, stat)) return false;
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return false;
  std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  return f.size() >= 13 && absl::SimpleAtoi(f[1], &out->ppid) &&
         absl::SimpleAtoi(f[2], &out->pgrp) && absl::SimpleAtoi(f[11], &out->utime) &&
         absl::SimpleAtoi(f[12], &out->stime);
}

double TicksToSeconds(int64_t ticks) {
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(ticks) / kTicks;
}

}  // namespace

int64_t ProcStatusKb(pid_t pid, absl::string_view field) {
  std::ifstream in(ProcPath(pid, "status"));
  std::string line;
  const std::string prefix = absl::StrCat(field, ":");
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, prefix)) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    int64_t kb = 0;
    return absl::SimpleAtoi(rest, &kb) ? kb : -1;
  }
  return -1;
}

double ProcCpuSeconds(pid_t pid) {
  Stat s;
  if (!ReadStat(ProcPath(pid, "stat"), &s)) return -1;
  return TicksToSeconds(s.utime + s.stime);
}

double ProcGroupCpuSeconds(pid_t pgid) {
  int64_t ticks = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    Stat s;
    if (!ReadStat(absl::StrCat("/proc/", pid, "/stat"), &s)) continue;
    if (s.pgrp == pgid || s.ppid == pgid) ticks += s.utime + s.stime;
  }
  closedir(proc);
  return TicksToSeconds(ticks);
}

}  // namespace testing
}  // namespace gonka
