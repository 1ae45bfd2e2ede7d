#include "gonka/testing/process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

extern char** environ;

namespace gonka {
namespace testing {
namespace {

std::string ErrnoText(int err) { return absl::StrCat(strerror(err), " (errno ", err, ")"); }

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Resolves argv[0] the way execvp would, plus the sbin directories that a non-login root shell
// may lack (Debian installs nats-server and haproxy in /usr/sbin).
absl::StatusOr<std::string> ResolveProgram(const std::string& program) {
  if (program.empty()) return absl::InvalidArgumentError("Subprocess: empty argv[0]");
  if (program.find('/') != std::string::npos) {
    if (!IsExecutableFile(program)) {
      return absl::NotFoundError(absl::StrCat("program ", program, " is not an executable file"));
    }
    return program;
  }
  std::vector<std::string> dirs;
  if (const char* path = getenv("PATH")) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      dirs.emplace_back(dir);
    }
  }
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    dirs.emplace_back(dir);
  }
  for (const std::string& dir : dirs) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("program ", program, " not found in $PATH or sbin dirs"));
}

struct UserIds {
  uid_t uid;
  gid_t gid;
};

absl::StatusOr<UserIds> LookupUser(const std::string& user) {
  struct passwd pwd;
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  int rc = getpwnam_r(user.c_str(), &pwd, buf.data(), buf.size(), &result);
  if (rc != 0 || result == nullptr) {
    return absl::NotFoundError(absl::StrCat("user ", user, " not found",
                                            rc != 0 ? absl::StrCat(": ", ErrnoText(rc)) : ""));
  }
  return UserIds{pwd.pw_uid, pwd.pw_gid};
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// What the child reports through the exec-error pipe before _exit.
struct ChildFailure {
  int stage;  // index into kStageNames
  int err;
};
constexpr const char* kStageNames[] = {"setpgid", "open stdin", "dup2",  "chdir",  "setgroups",
                                       "setgid",  "setuid",     "prctl", "execve", "setns"};

// Fields of /proc/<pid>/stat after "(comm)": state, ppid, pgrp. False if unreadable.
bool ReadProcStat(const std::string& stat_path, char* state, pid_t* pgrp) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t paren = line.rfind(')');  // comm may contain spaces and parentheses
  if (paren == std::string::npos) return false;
  std::istringstream rest(line.substr(paren + 1));
  pid_t ppid = 0;
  return static_cast<bool>(rest >> *state >> ppid >> *pgrp);
}

// True while a process of group `pgid` is alive (zombies do not count: they hold nothing).
bool GroupAlive(pid_t pgid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    char state = 0;
    pid_t pgrp = 0;
    if (!ReadProcStat(entry.path().string() + "/stat", &state, &pgrp) || pgrp != pgid) continue;
    if (state != 'Z' && state != 'X') return true;
  }
  return false;
}

// True when every thread of every process in process group `pgid` is stopped ('T'/'t') or gone.
bool GroupStopped(pid_t pgid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    char state = 0;
    pid_t pgrp = 0;
    if (!ReadProcStat(entry.path().string() + "/stat", &state, &pgrp) || pgrp != pgid) continue;
    std::error_code task_ec;
    for (const auto& task :
         std::filesystem::directory_iterator(entry.path().string() + "/task", task_ec)) {
      char task_state = 0;
      pid_t task_pgrp = 0;
      if (!ReadProcStat(task.path().string() + "/stat", &task_state, &task_pgrp)) continue;
      if (task_state != 'T' && task_state != 't' && task_state != 'Z' && task_state != 'X') {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

Subprocess::Subprocess(SubprocessOptions options) : options_(std::move(options)) {}

Subprocess::~Subprocess() { Kill().IgnoreError(); }

absl::Status Subprocess::Start() {
  if (IsRunning()) {
    return absl::FailedPreconditionError(absl::StrCat("Subprocess ",
                                                      options_.argv.empty() ? "" : options_.argv[0],
                                                      " already running as pid ", pid_));
  }
  if (options_.argv.empty()) return absl::InvalidArgumentError("Subprocess: empty argv");
  absl::StatusOr<std::string> program = ResolveProgram(options_.argv[0]);
  if (!program.ok()) return program.status();

  // Everything the child needs is prepared here: between fork and exec only async-signal-safe
  // calls are allowed (the test process has other threads: nats.c, absl, gtest).
  std::vector<char*> argv;
  for (const std::string& arg : options_.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env_map[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [key, value] : options_.env) env_map[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env_map) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  bool drop_privileges = false;
  UserIds ids{0, 0};
  if (!options_.run_as_user.empty() && RunningAsRoot()) {
    absl::StatusOr<UserIds> looked_up = LookupUser(options_.run_as_user);
    if (!looked_up.ok()) return looked_up.status();
    ids = *looked_up;
    drop_privileges = true;
  }

  const std::string log = options_.log_path.empty() ? "/dev/null" : options_.log_path;
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("Subprocess: cannot open log ", log, ": ", ErrnoText(errno)));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int err = errno;
    close(log_fd);
    return absl::InternalError(absl::StrCat("Subprocess: pipe2: ", ErrnoText(err)));
  }
  int netns_fd = -1;
  if (!options_.network_namespace.empty()) {
    const std::string netns_path = "/run/netns/" + options_.network_namespace;
    netns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      int err = errno;
      close(log_fd);
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      return absl::NotFoundError(
          absl::StrCat("Subprocess: network namespace ", netns_path, ": ", ErrnoText(err)));
    }
  }
  const pid_t parent_pid = getpid();
  const char* working_dir = options_.working_dir.empty() ? nullptr : options_.working_dir.c_str();

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (netns_fd >= 0) close(netns_fd);
    return absl::InternalError(absl::StrCat("Subprocess: fork: ", ErrnoText(err)));
  }
  if (pid == 0) {
    // Child. Report the failing stage through the pipe, then _exit.
    auto fail = [&](int stage) {
      ChildFailure failure{stage, errno};
      ssize_t ignored = write(pipe_fds[1], &failure, sizeof(failure));
      (void)ignored;
      _exit(127);
    };
    if (setpgid(0, 0) != 0) fail(0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2}) {
      signal(sig, SIG_DFL);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0) fail(1);
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) fail(2);
    if (working_dir != nullptr && chdir(working_dir) != 0) fail(3);
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) fail(9);  // before dropping root
    if (drop_privileges) {
      if (setgroups(1, &ids.gid) != 0) fail(4);
      if (setgid(ids.gid) != 0) fail(5);
      if (setuid(ids.uid) != 0) fail(6);
    }
    // After the credential change: changing credentials clears the parent-death signal.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(7);
    if (getppid() != parent_pid) _exit(126);  // the parent died before prctl
    execve(program->c_str(), argv.data(), envp.data());
    fail(8);
  }

  // Parent.
  if (netns_fd >= 0) close(netns_fd);
  setpgid(pid, pid);  // also in the parent, so Kill() right after Start() hits the group
  close(log_fd);
  close(pipe_fds[1]);
  ChildFailure failure;
  ssize_t n;
  do {
    n = read(pipe_fds[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  pid_ = pid;
  running_ = true;
  if (n == static_cast<ssize_t>(sizeof(failure))) {
    int status = 0;
    waitpid(pid, &status, 0);
    running_ = false;
    exit_status_ = DecodeWaitStatus(status);
    int stage = failure.stage >= 0 && failure.stage < 10 ? failure.stage : 8;
    return absl::InternalError(absl::StrCat("Subprocess ", *program, ": ", kStageNames[stage],
                                            " failed in the child: ", ErrnoText(failure.err)));
  }
  return absl::OkStatus();
}

bool Subprocess::IsRunning() {
  if (!running_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  running_ = false;
  exit_status_ = r == pid_ ? DecodeWaitStatus(status) : -1;
  return false;
}

absl::Status Subprocess::Signal(int signo) {
  if (!IsRunning()) {
    return absl::FailedPreconditionError(absl::StrCat("Subprocess pid ", pid_, " not running"));
  }
  if (kill(pid_, signo) != 0) {
    return absl::InternalError(absl::StrCat("kill(", pid_, ", ", signo, "): ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status Subprocess::Kill() {
  if (pid_ <= 0) return absl::OkStatus();
  if (running_) {
    if (kill(-pid_, SIGKILL) != 0) kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    running_ = false;
    exit_status_ = r == pid_ ? DecodeWaitStatus(status) : -1;
    // Sweep what is left of the group (children the main process had not reaped yet), and wait
    // until they are gone: a surviving postgres backend still holds the shared memory segment
    // and a restarted postmaster would refuse to start.
    kill(-pid_, SIGKILL);
    return WaitFor([&] { return !GroupAlive(pid_); }, absl::Seconds(10), absl::Milliseconds(2),
                   absl::StrCat("process group ", pid_, " to exit after SIGKILL"));
  }
  return absl::OkStatus();
}

absl::Status Subprocess::Pause() {
  if (!IsRunning()) {
    return absl::FailedPreconditionError(absl::StrCat("Pause: pid ", pid_, " not running"));
  }
  if (kill(-pid_, SIGSTOP) != 0 && kill(pid_, SIGSTOP) != 0) {
    return absl::InternalError(absl::StrCat("SIGSTOP pid ", pid_, ": ", ErrnoText(errno)));
  }
  // kill() returns before the stop takes effect: a thread that is running right now can still
  // answer a request. Return only once every thread of the group is stopped, so "paused" means
  // "answers nothing" to the caller.
  return WaitFor([&] { return GroupStopped(pid_); }, absl::Seconds(5), absl::Milliseconds(1),
                 absl::StrCat("process group ", pid_, " to stop after SIGSTOP"));
}

absl::Status Subprocess::Resume() {
  if (!IsRunning()) {
    return absl::FailedPreconditionError(absl::StrCat("Resume: pid ", pid_, " not running"));
  }
  if (kill(-pid_, SIGCONT) != 0 && kill(pid_, SIGCONT) != 0) {
    return absl::InternalError(absl::StrCat("SIGCONT pid ", pid_, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Terminate(absl::Duration grace, int signo) {
  if (!IsRunning()) return exit_status_;
  kill(pid_, signo);
  kill(-pid_, SIGCONT);  // a stopped process would keep the signal pending forever
  absl::StatusOr<int> code = Wait(grace);
  if (!code.ok()) {
    Kill().IgnoreError();
    return exit_status_;
  }
  kill(-pid_, SIGKILL);  // sweep leftovers of the group
  WaitFor([&] { return !GroupAlive(pid_); }, absl::Seconds(10), absl::Milliseconds(2),
          "the rest of the process group to exit")
      .IgnoreError();
  return code;
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("Subprocess never started");
  absl::Status exited = WaitFor([&] { return !IsRunning(); }, timeout, absl::Milliseconds(5),
                                absl::StrCat("pid ", pid_, " (", options_.argv[0], ") to exit"));
  if (!exited.ok()) return exited;
  return exit_status_;
}

absl::Status Subprocess::Restart() {
  Kill().IgnoreError();
  return Start();
}

std::string Subprocess::LogTail(size_t max_bytes) const {
  if (options_.log_path.empty()) return "";
  std::ifstream in(options_.log_path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), out.size());
  return out;
}

namespace {

bool CanBindLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

int BindPortZero() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = -1;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Claims `port` against every other process on this machine that uses FreePort(): an exclusive
// flock on /tmp/gonka-test-ports/<port>, held (the descriptor stays open) until this process
// exits. Two test processes running at once could otherwise both see a port free and hand it to
// their servers; the loser's server then fails to bind while a readiness probe may already pass
// against the winner's. False when another process holds the claim. Where the directory cannot
// be written (e.g. a read-only /tmp) the claim is skipped and only the in-process registry and
// the bind check remain.
bool ClaimAcrossProcesses(int port) {
  static constexpr const char* kDir = "/tmp/gonka-test-ports";
  static constexpr int kMaxClaims = 512;  // keeps the open descriptors bounded
  static int claims = 0;                  // under PortRegistry::mu (FreePort's only caller)
  if (claims >= kMaxClaims) return true;
  if (mkdir(kDir, 01777) == 0) chmod(kDir, 01777);  // umask-proof: every user may claim
  const std::string path = absl::StrCat(kDir, "/", port);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return true;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return false;
  }
  ++claims;
  return true;  // fd stays open: the claim lasts as long as this process
}

int EphemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  if (in) in >> low >> high;
  return low;
}

}  // namespace

namespace {

// Ports handed out by FreePort() in this process, so two fixtures never get the same one.
struct PortRegistry {
  absl::Mutex mu;
  std::set<int> handed_out ABSL_GUARDED_BY(mu);
  std::mt19937 rng ABSL_GUARDED_BY(mu){std::random_device{}()};
};

PortRegistry& Ports() {
  static PortRegistry* registry = new PortRegistry();
  return *registry;
}

}  // namespace

int FreePort() {
  PortRegistry& ports = Ports();
  absl::MutexLock lock(&ports.mu);
  std::set<int>* handed_out = &ports.handed_out;
  std::mt19937* rng = &ports.rng;
  const int high = EphemeralLow();  // exclusive
  const int low = 10000;
  if (high - low >= 1000) {
    std::uniform_int_distribution<int> dist(low, high - 1);
    for (int attempt = 0; attempt < 500; ++attempt) {
      int port = dist(*rng);
      if (handed_out->count(port)) continue;
      if (!CanBindLoopback(port)) continue;
      if (!ClaimAcrossProcesses(port)) continue;
      handed_out->insert(port);
      return port;
    }
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = BindPortZero();
    if (port > 0 && !handed_out->count(port) && ClaimAcrossProcesses(port)) {
      handed_out->insert(port);
      return port;
    }
  }
  fprintf(stderr, "gonka::testing::FreePort: cannot bind any port on 127.0.0.1\n");
  abort();
}

TempDir::TempDir(absl::string_view prefix, absl::string_view parent) {
  std::string base(parent);
  if (base.empty()) {
    const char* test_tmp = getenv("TEST_TMPDIR");
    base = test_tmp != nullptr && *test_tmp != '\0' ? test_tmp : "/tmp";
  }
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  // mkdtemp replaces the template's six trailing 'X's with a unique suffix.
  std::string tmpl = absl::StrCat(base, "/", prefix, ".", std::string(6, 'X'));
  if (mkdtemp(tmpl.data()) == nullptr) {
    fprintf(stderr, "gonka::testing::TempDir: mkdtemp(%s): %s\n", tmpl.c_str(), strerror(errno));
    abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  const char* keep = getenv("GONKA_KEEP_TMP");
  if (keep != nullptr && std::string(keep) == "1") {
    fprintf(stderr, "gonka::testing::TempDir: keeping %s (GONKA_KEEP_TMP=1)\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Join(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

absl::Status WaitFor(const std::function<bool()>& condition, absl::Time deadline,
                     absl::Duration poll_interval, absl::string_view what) {
  const absl::Time start = absl::Now();
  while (true) {
    if (condition()) return absl::OkStatus();
    absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "timed out after ", absl::FormatDuration(now - start), " waiting for ", what));
    }
    absl::SleepFor(std::min(poll_interval, deadline - now));
  }
}

absl::Status WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
                     absl::Duration poll_interval, absl::string_view what) {
  return WaitFor(condition, absl::Now() + timeout, poll_interval, what);
}

absl::Status WaitForOk(const std::function<absl::Status()>& probe, absl::Duration timeout,
                       absl::Duration poll_interval, absl::string_view what) {
  absl::Status last = absl::UnknownError("not probed");
  absl::Status waited = WaitFor(
      [&] {
        last = probe();
        return last.ok();
      },
      timeout, poll_interval, what);
  if (waited.ok()) return waited;
  return absl::DeadlineExceededError(
      absl::StrCat(waited.message(), "; last error: ", last.ToString()));
}

bool RunningAsRoot() { return geteuid() == 0; }

absl::Status ChownTree(const std::string& path, const std::string& user) {
  absl::StatusOr<UserIds> ids = LookupUser(user);
  if (!ids.ok()) return ids.status();
  auto chown_one = [&](const std::string& p) -> absl::Status {
    if (lchown(p.c_str(), ids->uid, ids->gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", p, " to ", user, ": ", ErrnoText(errno)));
    }
    return absl::OkStatus();
  };
  absl::Status st = chown_one(path);
  if (!st.ok()) return st;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    st = chown_one(it->path().string());
    if (!st.ok()) return st;
  }
  if (ec) return absl::InternalError(absl::StrCat("walking ", path, ": ", ec.message()));
  return absl::OkStatus();
}

bool TcpPortOpen(const std::string& host, int port, absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return false;
  }
  bool open_now = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    open_now = true;
  } else if (errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      open_now = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  close(fd);
  return open_now;
}

}  // namespace testing
}  // namespace gonka
