#include "gonka/supervisor/internal/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

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
                                int stdout_fd, bool merge_stderr = false) {
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
  if (stdout_fd >= 0 && merge_stderr) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDERR_FILENO);
  }
  // Only stdin/stdout/stderr go to the child: not the supervisor's listening socket (a child
  // holding it would keep the port accepting after the supervisor closed it) nor its
  // connections. Asio and others do not open every descriptor close-on-exec.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, argv_ptrs.data(), envp_ptrs.data());
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("spawn ", argv[0], ": ", strerror(rc)));
  }
  return pid;
}

// fork + exec with PR_SET_PDEATHSIG. Between fork and exec the child only makes
// async-signal-safe calls (the parent is multi-threaded). An exec failure is reported through a
// close-on-exec pipe, so a missing binary fails the call as posix_spawn would.
absl::StatusOr<pid_t> ForkWithDeathSignal(const std::vector<std::string>& argv_in,
                                          const EnvOverrides& env) {
  if (argv_in.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> envp = MergeEnvironment(env);
  std::vector<char*> argv_ptrs = Pointers(argv);
  std::vector<char*> envp_ptrs = Pointers(envp);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("spawn ", argv[0], ": pipe: ", strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return absl::UnavailableError(absl::StrCat("spawn ", argv[0], ": fork: ", strerror(err)));
  }
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    // Only stdin/stdout/stderr and the exec-error pipe go on (see SpawnWith); the pipe is
    // close-on-exec.
    if (fds[1] > 3) close_range(3, static_cast<unsigned>(fds[1]) - 1, 0);
    close_range(static_cast<unsigned>(std::max(3, fds[1] + 1)), ~0U, 0);
    execve(argv_ptrs[0], argv_ptrs.data(), envp_ptrs.data());
    int err = errno;
    ssize_t ignored = write(fds[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }
  close(fds[1]);
  int child_errno = 0;
  ssize_t got;
  do {
    got = read(fds[0], &child_errno, sizeof(child_errno));
  } while (got < 0 && errno == EINTR);
  close(fds[0]);
  if (got == static_cast<ssize_t>(sizeof(child_errno))) {
    int raw = 0;
    while (waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
    }
    return absl::UnavailableError(absl::StrCat("spawn ", argv[0], ": ", strerror(child_errno)));
  }
  return pid;
}

// The process-wide thread that forks children with a death signal. It is never joined (leaked
// on purpose): its exit would kill every child it forked.
class SpawnerThread {
 public:
  static SpawnerThread& Get() {
    static SpawnerThread* const spawner = new SpawnerThread();
    return *spawner;
  }

  absl::StatusOr<pid_t> Run(const std::vector<std::string>& argv, const EnvOverrides& env) {
    Job job{&argv, &env};
    absl::MutexLock lock(&mu_);
    queue_.push_back(&job);
    mu_.Await(absl::Condition(&job.done));
    return job.result;
  }

 private:
  struct Job {
    const std::vector<std::string>* argv;
    const EnvOverrides* env;
    bool done = false;
    absl::StatusOr<pid_t> result = absl::UnknownError("not run");
  };

  SpawnerThread() {
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    while (true) {
      Job* job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::vector<Job*>* q) { return !q->empty(); }, &queue_));
        job = queue_.front();
        queue_.erase(queue_.begin());
      }
      absl::StatusOr<pid_t> result = ForkWithDeathSignal(*job->argv, *job->env);
      absl::MutexLock lock(&mu_);
      job->result = std::move(result);
      job->done = true;
    }
  }

  absl::Mutex mu_;
  std::vector<Job*> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const EnvOverrides& env,
                            bool die_with_parent) {
  if (die_with_parent) return SpawnerThread::Get().Run(argv, env);
  return SpawnWith(argv, env, -1);
}

namespace {

// Fields of /proc/<pid>/stat after the command (which may contain spaces and parentheses).
std::optional<std::vector<std::string>> StatFields(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string stat = ss.str();
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  // After ") ": field 3 (state), 4, ... so index i holds field i + 3.
  return std::vector<std::string>(absl::StrSplit(stat.substr(close_paren + 2), ' '));
}

}  // namespace

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  std::optional<std::vector<std::string>> fields = StatFields(pid);
  uint64_t start = 0;
  if (!fields || fields->size() < 20 || !absl::SimpleAtoi((*fields)[19], &start)) {
    return std::nullopt;
  }
  return start;
}

bool ProcessGone(pid_t pid) {
  std::optional<std::vector<std::string>> fields = StatFields(pid);
  return !fields || fields->empty() || (*fields)[0] == "Z" || (*fields)[0] == "X";
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

bool MayRestorePriority() {
  // Tried, not inferred: CapEff can list CAP_SYS_NICE inside a user namespace where the kernel
  // still refuses (it checks the initial namespace). A thread of its own is raised by one and
  // set back; if that fails only the probe thread, which ends here, stays raised.
  bool ok = false;
  std::thread([&ok] {
    const id_t tid = static_cast<id_t>(gettid());
    errno = 0;
    const int base = getpriority(PRIO_PROCESS, tid);
    if (errno != 0 || base >= 19) return;
    ok = setpriority(PRIO_PROCESS, tid, base + 1) == 0 && setpriority(PRIO_PROCESS, tid, base) == 0;
  }).join();
  return ok;
}

bool SetGroupNice(pid_t pgid, int nice) {
  return setpriority(PRIO_PGRP, static_cast<id_t>(pgid), nice) == 0;
}

absl::StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv,
                                          const EnvOverrides& env, absl::Duration timeout,
                                          bool merge_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe for ", argv[0], ": ", strerror(errno)));
  }
  absl::StatusOr<pid_t> pid = SpawnWith(argv, env, fds[1], merge_stderr);
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
    std::string said(absl::StripAsciiWhitespace(out));
    if (said.size() > 300) said = absl::StrCat(said.substr(0, 300), "...");
    return absl::UnavailableError(
        absl::StrCat(what, ": ", DescribeWaitStatus(*status), said.empty() ? "" : ": ", said));
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

std::optional<bool> ListenerOwnedBy(int port, pid_t pid) {
  // /proc/net/tcp lines: "sl local_address rem_address st ... uid timeout inode"; local_address
  // is HEXIP:HEXPORT, st 0A is LISTEN.
  std::vector<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 10 || f[3] != "0A") continue;
      size_t colon = f[1].rfind(':');
      if (colon == std::string::npos) continue;
      int local_port = 0;
      if (!absl::SimpleHexAtoi(f[1].substr(colon + 1), &local_port) || local_port != port) {
        continue;
      }
      inodes.push_back(f[9]);
    }
  }
  if (inodes.empty()) return std::nullopt;
  std::error_code ec;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return std::nullopt;
  for (const auto& entry : it) {
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec) continue;
    for (const std::string& inode : inodes) {
      if (target == absl::StrCat("socket:[", inode, "]")) return true;
    }
  }
  return false;
}

}  // namespace internal
}  // namespace supervisor
}  // namespace gonka
