// Process-level building blocks for integration tests: a child process you can kill, pause and
// restart; free loopback ports; self-deleting temp dirs; and waiting on a condition with a
// deadline instead of sleeping.
//
// Contract:
//   - A `Subprocess` never outlives its object: the destructor SIGKILLs the child's whole process
//     group and reaps it, so a failing ASSERT cannot leak servers. Each child is the leader of its
//     own process group (signals reach its helpers too: postgres backends, redis fork children),
//     and gets PR_SET_PDEATHSIG=SIGKILL, so it also dies if the test process dies.
//     Caveat (Linux semantics): the death signal fires when the *thread* that called Start() exits,
//     so start children from a thread that lives as long as they should (the test's main thread).
//   - stdout and stderr of the child are appended to `log_path` (kept across restarts).
//   - `run_as_user` makes the child setgid/setuid to that user after fork when the test runs as
//     root (CI does); when not root it is ignored and the child runs as the current user.
//
// Thread-safety: a Subprocess is not thread-safe; use one from one thread at a time (chaos tests
// that kill from another thread must synchronize themselves). FreePort(), WaitFor() and TempDir
// construction are thread-safe.
//
// Example:
//   gonka::testing::TempDir dir;
//   gonka::testing::SubprocessOptions options;
//   options.argv = {"sleep", "60"};
//   options.log_path = dir.Join("sleep.log");
//   gonka::testing::Subprocess p(options);
//   ASSERT_TRUE(p.Start().ok());
//   ASSERT_TRUE(p.Pause().ok());                       // SIGSTOP to the process group
//   ASSERT_TRUE(p.Resume().ok());                      // SIGCONT
//   ASSERT_TRUE(gonka::testing::WaitFor([&] { return p.IsRunning(); }, absl::Seconds(5)).ok());
//   p.Kill();                                          // SIGKILL + reap
//
// Note for tests written inside `namespace gonka`: this namespace is `gonka::testing`, so spell
// GoogleTest's namespace `::testing::` there.
#ifndef GONKA_TESTING_PROCESS_H_
#define GONKA_TESTING_PROCESS_H_

#include <sys/types.h>

#include <csignal>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {
namespace testing {

struct SubprocessOptions {
  // argv[0] is the program: an absolute/relative path, or a name looked up in $PATH and then in
  // /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin (nats-server and haproxy live in
  // /usr/sbin on Debian).
  std::vector<std::string> argv;
  // Added to (or overriding) the test process's environment.
  std::map<std::string, std::string> env;
  // Working directory of the child; empty = the test's current directory.
  std::string working_dir;
  // stdout+stderr are appended here (created if missing). Empty = /dev/null.
  std::string log_path;
  // When the test runs as root: the user to run the child as (e.g. "nobody"). Ignored otherwise.
  std::string run_as_user;
  // A named network namespace (/run/netns/<name>, as `ip netns add` makes; hosts.h builds them):
  // the child joins it (setns) before exec, so it binds and connects on that test host. Root
  // only. Empty = the test process's own network namespace.
  std::string network_namespace;
};

class Subprocess {
 public:
  explicit Subprocess(SubprocessOptions options);
  ~Subprocess();  // Kill(): SIGKILL to the process group + reap.

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Forks and execs. Fails (with the program name and errno text) if the program cannot be found
  // or exec fails, or FailedPrecondition if it is already running.
  absl::Status Start();

  // pid of the child (also its process group id), or -1 before the first Start().
  pid_t pid() const { return pid_; }

  // True while the child has not exited (a paused child is running). Reaps it if it exited.
  bool IsRunning();

  // Sends `signo` to the child process only (not the group). FailedPrecondition if not running.
  absl::Status Signal(int signo);

  // SIGKILL to the whole process group, reap, and wait until no process of the group is left
  // (so a restarted server finds its port, locks and shared memory free). OK if it was not
  // running; DeadlineExceeded if a group member survives 10 s.
  absl::Status Kill();

  // SIGSTOP / SIGCONT to the whole process group. FailedPrecondition if not running. Pause()
  // returns once every thread in the group is stopped (DeadlineExceeded after 5 s), so a request
  // sent after it is answered only after Resume().
  absl::Status Pause();
  absl::Status Resume();

  // Graceful stop: sends `signo` (and SIGCONT, in case it is paused) to the child, waits up to
  // `grace`, then SIGKILLs the group. Returns the exit code as Wait() does; OK-with-(-1) is never
  // returned: if it was not running, returns the last known exit code (or -1 if never started).
  absl::StatusOr<int> Terminate(absl::Duration grace = absl::Seconds(10), int signo = SIGTERM);

  // Waits up to `timeout` for the child to exit and reaps it. Returns its exit status: the exit
  // code, or 128 + signal number if a signal killed it (shell convention). DeadlineExceeded if it
  // is still running at the deadline; FailedPrecondition if it was never started.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Kill() if running, then Start() with the same argv/env/working dir/user. The log is appended.
  absl::Status Restart();

  const SubprocessOptions& options() const { return options_; }
  const std::string& log_path() const { return options_.log_path; }

  // The last `max_bytes` of the log (for error messages); empty if there is no log.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  SubprocessOptions options_;
  pid_t pid_ = -1;
  bool running_ = false;
  int exit_status_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago. Ports are picked at random BELOW the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), so an outgoing connection cannot take
// the port while a server is down between Kill() and Restart(); a port is never returned twice
// by one test process, nor to two test processes running at once (each claims its ports with a
// flock under /tmp/gonka-test-ports, held until it exits). Falls back to binding port 0. Aborts the
// test process only if no port at all can be bound (a broken environment).
int FreePort();

// A fresh directory (mkdtemp) under $TEST_TMPDIR, else /tmp, or under `parent` if given.
// Removed recursively by the destructor unless env GONKA_KEEP_TMP=1 (then its path is printed to
// stderr so you can inspect server logs after a failed test).
class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "gonka", absl::string_view parent = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Join(absl::string_view name) const;

 private:
  std::string path_;
};

// Polls `condition` every `poll_interval` until it returns true (OK) or the deadline passes
// (DeadlineExceeded "timed out after <d> waiting for <what>"). The condition is always evaluated
// at least once, and once more at the deadline.
absl::Status WaitFor(const std::function<bool()>& condition, absl::Time deadline,
                     absl::Duration poll_interval = absl::Milliseconds(20),
                     absl::string_view what = "condition");
absl::Status WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
                     absl::Duration poll_interval = absl::Milliseconds(20),
                     absl::string_view what = "condition");

// Like WaitFor, for probes that explain why they are not ready yet: succeeds when `probe` returns
// OK; on timeout the DeadlineExceeded message ends with the probe's last error.
absl::Status WaitForOk(const std::function<absl::Status()>& probe, absl::Duration timeout,
                       absl::Duration poll_interval = absl::Milliseconds(20),
                       absl::string_view what = "condition");

// Like WaitFor, for a value that should get somewhere: polls `observe()` until `done(value)`
// holds. On timeout the DeadlineExceeded message ends with "; last seen: <value>" (formatted by
// absl::StrCat: numbers and strings), so a failure says how far it got:
//   WaitForValue([&] { return chain.height(); }, [&](int64_t h) { return h >= target; },
//                absl::Seconds(10), absl::Milliseconds(20), absl::StrCat("height ", target));
//   -> "timed out after 10s waiting for height 57; last seen: 41"
template <typename Observe, typename Done>
absl::Status WaitForValue(Observe observe, Done done, absl::Duration timeout,
                          absl::Duration poll_interval = absl::Milliseconds(20),
                          absl::string_view what = "value") {
  std::optional<std::decay_t<decltype(observe())>> last;
  absl::Status waited = WaitFor(
      [&] {
        last = observe();
        return static_cast<bool>(done(*last));
      },
      timeout, poll_interval, what);
  if (waited.ok() || !last.has_value()) return waited;
  return absl::DeadlineExceededError(absl::StrCat(waited.message(), "; last seen: ", *last));
}

// True if the test process runs with effective uid 0.
bool RunningAsRoot();

// chown -R `path` to `user` (and its primary group). NotFound if the user does not exist.
absl::Status ChownTree(const std::string& path, const std::string& user);

// True if something accepts TCP connections on host:port right now (connect with a short
// timeout, then close).
bool TcpPortOpen(const std::string& host, int port,
                 absl::Duration timeout = absl::Milliseconds(500));

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_PROCESS_H_
