#include "gonka/supervisor/internal/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace gonka {
namespace supervisor {
namespace internal {
namespace {

// The merged environment as owned strings (built before spawning; posix_spawn copies it).
std::vector<std::string> MergeEnvironment(const EnvOverrides& env) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    merged[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [name, value] : env) merged[name] = value;
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [name, value] : merged) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

absl::StatusOr<pid_t> SpawnWith(const std::vector<std::string>& argv_in, const EnvOverrides& env,
                                int stdout_fd) {
  if (argv_in.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> envp = MergeEnvironment(env);
  std::vector<char*> argv_ptrs = Pointers(argv);
  std::vector<char*> envp_ptrs = Pointers(envp);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&attr] { posix_spawnattr_destroy(&attr); };
  // Own process group; default signal dispositions and an empty mask (a supervisor thread may
  // block SIGTERM for sigwait, and a blocked mask is inherited across exec).
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&actions] { posix_spawn_file_actions_destroy(&actions); };
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, argv_ptrs.data(), envp_ptrs.data());
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("spawn ", argv[0], ": ", strerror(rc)));
  }
  return pid;
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const EnvOverrides& env) {
  return SpawnWith(argv, env, -1);
}

std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  if (r < 0) return -1;  // ECHILD: not ours (or already reaped)
  return status;
}

std::string DescribeWaitStatus(int status) {
  if (status == -1) return "unknown (not a child)";
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return absl::StrCat("signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("status ", status);
}

absl::StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv,
                                          const EnvOverrides& env, absl::Duration timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe for ", argv[0], ": ", strerror(errno)));
  }
  absl::StatusOr<pid_t> pid = SpawnWith(argv, env, fds[1]);
  close(fds[1]);
  absl::Cleanup close_read = [&fds] { close(fds[0]); };
  if (!pid.ok()) return pid.status();

  const std::string what = absl::StrJoin(argv, " ");
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  bool eof = false;
  while (!eof) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(fds[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = true;
    } else if (out.size() < 64 * 1024) {
      out.append(buf, static_cast<size_t>(got));
    }
  }
  std::optional<int> status;
  while (absl::Now() < deadline && !(status = TryReap(*pid))) absl::SleepFor(absl::Milliseconds(5));
  if (!status) {
    kill(*pid, SIGKILL);
    int raw = 0;
    while (waitpid(*pid, &raw, 0) < 0 && errno == EINTR) {
    }
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no exit within ", absl::FormatDuration(timeout), " (killed)"));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::UnavailableError(absl::StrCat(what, ": ", DescribeWaitStatus(*status)));
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

}  // namespace internal
}  // namespace supervisor
}  // namespace gonka
