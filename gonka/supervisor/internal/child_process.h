// Process spawning for the supervisor: posix_spawn with an explicit argv and environment,
// signals, a non-blocking reap, and running a short command to capture its standard output.
// Children are put in their own process group so a terminal's Ctrl-C reaches only the
// supervisor, which then stops them in order. Thread-safe (no shared state). Internal.
#ifndef GONKA_SUPERVISOR_INTERNAL_CHILD_PROCESS_H_
#define GONKA_SUPERVISOR_INTERNAL_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {
namespace supervisor {
namespace internal {

using EnvOverrides = std::vector<std::pair<std::string, std::string>>;

// Starts `argv[0]` (a path) with `argv`, this process's environment plus `env` (which override
// variables of the same name). stdout/stderr are inherited. Unavailable naming the binary and
// errno when it cannot be spawned (missing, not executable).
//
// `die_with_parent`: the child gets PR_SET_PDEATHSIG = SIGKILL, so it dies when this process
// dies, even by SIGKILL. Linux sends that signal when the *thread* that forked the child exits,
// so such children are forked by one process-wide spawner thread that never exits; the call
// hands the work to it and waits.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const EnvOverrides& env,
                            bool die_with_parent = false);

// The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), which
// together with the pid names one process (pids are reused; start times are not, for one pid).
// nullopt when there is no such process.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// True when `pid` no longer runs: gone, or a zombie waiting for its (new) parent to reap it.
bool ProcessGone(pid_t pid);

// waitpid(pid, WNOHANG): the raw wait status once the child has exited (it is then reaped),
// nullopt while it runs. A pid that is not our child counts as exited with status -1.
std::optional<int> TryReap(pid_t pid);

// "exit 0", "signal 9 (Killed)", ... for logs and errors.
std::string DescribeWaitStatus(int status);

// Whether the TCP socket listening on 127.0.0.1/0.0.0.0 (or [::]) `port` is an open file of
// process `pid` (the socket's inode from /proc/net/tcp{,6} among the links in /proc/<pid>/fd).
// nullopt when it cannot be told: no listener on the port, or /proc unreadable.
std::optional<bool> ListenerOwnedBy(int port, pid_t pid);

// Whether this process may set a nice value back down after raising it (CAP_SYS_NICE, or
// RLIMIT_NICE), probed on a short-lived thread. Containers run without CAP_SYS_NICE by
// default, so this is often false there, even for root.
bool MayRestorePriority();

// Sets the nice value of every thread of every process in the process group `pgid` (a child
// from Spawn() leads its own group, pgid = its pid); threads created later inherit it. Linux's
// PRIO_PROCESS would reach only the one thread whose id is `pgid`. False (errno set) on failure.
bool SetGroupNice(pid_t pgid, int nice);

// Runs `argv` (environment as for Spawn) to completion and returns its trimmed standard output
// (with `merge_stderr`, standard error too, in one stream).
// DeadlineExceeded (the command is killed and reaped) after `timeout`; Unavailable when it cannot
// be spawned or exits non-zero (the message ends with what it printed, cut at 300 bytes).
absl::StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv,
                                          const EnvOverrides& env, absl::Duration timeout,
                                          bool merge_stderr = false);

}  // namespace internal
}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_INTERNAL_CHILD_PROCESS_H_
