// gonka-evacuate (bazel build //tools/evacuate:gonka-evacuate): takes a versiond host out of the
// versiond router (HAProxy) and puts it back, through the router's runtime API socket. Flags and
// wiring only: the steps are gonka::router::EvacuateHost / ReturnHost (docs/router.md, "Evacuating
// a host behind the router").
//
//   gonka-evacuate --socket=/run/haproxy/admin.sock --server=h1 --pid=$(pidof versiond) out
//   gonka-evacuate --socket=/run/haproxy/admin.sock --server=h1 \
//                  --stop-command='ssh host1 systemctl stop versiond' out
//   gonka-evacuate --socket=/run/haproxy/admin.sock --server=h1 in
//   gonka-evacuate --socket=/run/haproxy/admin.sock --server=h1 status
//
// Exit status: 0 done; 1 the evacuation or return failed (the message says where it stopped: a
// host still busy at --drain-timeout is left drained and running); 2 bad flags.
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/drain/haproxy_runtime.h"
#include "gonka/router/host_evacuation.h"

extern char** environ;

namespace {

void Line(const std::string& text) {
  std::printf("gonka-evacuate: %s\n", text.c_str());
  std::fflush(stdout);
}

// Runs `command` with /bin/sh -c and waits for it; its exit status must be 0.
absl::Status RunStopCommand(const std::string& command, absl::Duration timeout) {
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  if (int err = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ);
      err != 0) {
    return absl::InternalError(absl::StrCat("--stop-command: spawn /bin/sh: ", strerror(err)));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
      return absl::FailedPreconditionError(
          absl::StrCat("--stop-command exited with ",
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
    }
    if (absl::Now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(
          absl::StrCat("--stop-command still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("gonka-evacuate");
  std::string socket, server, backends, stop_command;
  int64_t pid = 0;
  absl::Duration drain_timeout, stop_timeout, up_timeout, command_timeout;
  config.AddString("socket", &socket, "/run/haproxy/admin.sock", "router's runtime API socket");
  config.AddString("server", &server, "", "the host's server name in the router").Required();
  config.AddString("backends", &backends, "",
                   "comma-separated backends (default: every backend that lists the server)");
  config.AddInt("pid", &pid, 0, "out: the host's versiond process to SIGTERM (same machine)");
  config.AddString("stop-command", &stop_command, "",
                   "out: shell command that stops the host and returns once it has stopped");
  config
      .AddDuration("drain-timeout", &drain_timeout, absl::Minutes(25),
                   "out: how long the host's sessions may take to finish")
      .Positive();
  config
      .AddDuration("stop-timeout", &stop_timeout, absl::Minutes(26),
                   "out: how long the host may take to stop (versiond's own host budget)")
      .Positive();
  config
      .AddDuration("up-timeout", &up_timeout, absl::Minutes(2),
                   "in: how long HAProxy's checks may take to show the host UP")
      .Positive();
  config
      .AddDuration("command-timeout", &command_timeout, absl::Seconds(5), "one runtime API command")
      .Positive();
  if (absl::Status s = config.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "gonka-evacuate: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (config.help_requested()) {
    std::printf("gonka-evacuate [flags] out|in|status\n%s", config.Usage().c_str());
    return 0;
  }
  if (config.args().size() != 1) {
    std::fprintf(stderr, "gonka-evacuate: want one of out, in, status\n");
    return 2;
  }
  const std::string action = config.args()[0];
  std::vector<std::string> backend_list;
  if (!backends.empty()) backend_list = absl::StrSplit(backends, ',', absl::SkipEmpty());
  gonka::HaproxyRuntime haproxy(socket, command_timeout);

  if (action == "status") {
    absl::StatusOr<std::vector<std::string>> list =
        backend_list.empty() ? gonka::router::BackendsWithServer(haproxy, server)
                             : absl::StatusOr<std::vector<std::string>>(backend_list);
    if (!list.ok()) {
      std::fprintf(stderr, "gonka-evacuate: %s\n", list.status().ToString().c_str());
      return 1;
    }
    for (const std::string& backend : *list) {
      absl::StatusOr<gonka::HaproxyServerState> st = haproxy.ServerState(backend, server);
      absl::StatusOr<gonka::router::ServerLoad> load =
          gonka::router::ReadServerLoad(haproxy, server, {backend});
      if (!st.ok() || !load.ok()) {
        std::fprintf(stderr, "gonka-evacuate: %s\n",
                     (!st.ok() ? st.status() : load.status()).ToString().c_str());
        return 1;
      }
      Line(absl::StrCat(backend, "/", server, " ",
                        st->draining()         ? "drain"
                        : st->in_maintenance() ? "maint"
                                               : "ready",
                        " ", st->op_state == 2 ? "UP" : "DOWN", " sessions=", load->sessions,
                        " queued=", load->queued));
    }
    return 0;
  }
  if (action == "in") {
    Line(absl::StrCat(server, ": ready, waiting for the router's checks"));
    absl::Status s = gonka::router::ReturnHost(
        haproxy, {.server = server, .backends = backend_list, .up_timeout = up_timeout});
    if (!s.ok()) {
      std::fprintf(stderr, "gonka-evacuate: %s\n", s.ToString().c_str());
      return 1;
    }
    Line(absl::StrCat(server, ": UP, taking traffic"));
    return 0;
  }
  if (action != "out") {
    std::fprintf(stderr, "gonka-evacuate: unknown action %s (want out, in, status)\n",
                 action.c_str());
    return 2;
  }
  if ((pid > 0) == !stop_command.empty()) {
    std::fprintf(stderr, "gonka-evacuate: out needs exactly one of --pid and --stop-command\n");
    return 2;
  }
  gonka::router::EvacuationOptions options;
  options.server = server;
  options.backends = backend_list;
  options.drain_timeout = drain_timeout;
  options.stop_host = [&]() -> absl::Status {
    if (pid > 0) return gonka::router::StopProcess(static_cast<pid_t>(pid), stop_timeout);
    return RunStopCommand(stop_command, stop_timeout);
  };
  options.progress = [](const gonka::router::EvacuationProgress& p) {
    Line(absl::StrCat(p.server, ": ", p.phase, " sessions=", p.sessions, " queued=", p.queued,
                      " host_inflight=", p.host_inflight, " elapsed=",
                      absl::FormatDuration(absl::Trunc(p.elapsed, absl::Milliseconds(1)))));
  };
  absl::StatusOr<gonka::router::EvacuationResult> result =
      gonka::router::EvacuateHost(haproxy, options);
  if (!result.ok()) {
    std::fprintf(stderr, "gonka-evacuate: %s\n", result.status().ToString().c_str());
    return 1;
  }
  auto ms = [](absl::Duration d) {
    return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
  };
  Line(absl::StrCat(server, ": evacuated backends=", absl::StrJoin(result->backends, ","),
                    " sessions_at_drain=", result->sessions_at_drain,
                    " peak_sessions=", result->peak_sessions, " drain=", ms(result->drain_duration),
                    " stop=", ms(result->stop_duration), " total=", ms(result->total)));
  return 0;
}
