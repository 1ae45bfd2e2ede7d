// HaproxyServer: config check, foreground run, runtime API over the admin unix socket.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

// A unix socket path must fit in sockaddr_un (108 bytes); a Bazel $TEST_TMPDIR can be longer.
constexpr char kDirParent[] = "/tmp";

bool HasGlobalSection(const std::string& config) {
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped == "global" || absl::StartsWith(stripped, "global ") ||
        absl::StartsWith(stripped, "global\t")) {
      return true;
    }
  }
  return false;
}

}  // namespace

HaproxyServer::HaproxyServer(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout, kDirParent),
      options_(std::move(options)) {
  options_.port = port();
}

std::string HaproxyServer::url() const { return absl::StrCat("http://127.0.0.1:", port()); }

std::string HaproxyServer::admin_socket() const { return dir() + "/admin.sock"; }

std::string HaproxyServer::config_path() const { return dir() + "/haproxy.cfg"; }

absl::Status HaproxyServer::Prepare() {
  std::string text = options_.config;
  if (!HasGlobalSection(text)) {
    text = absl::StrCat("global\n    stats socket {{ADMIN_SOCKET}} mode 600 level admin\n\n", text);
  }
  std::vector<std::pair<std::string, std::string>> vars = {{"{{ADMIN_SOCKET}}", admin_socket()},
                                                           {"{{DIR}}", dir()},
                                                           {"{{PORT}}", std::to_string(port())}};
  for (const auto& [key, value] : options_.vars) vars.emplace_back("{{" + key + "}}", value);
  config_ = absl::StrReplaceAll(text, vars);
  if (!absl::EndsWith(config_, "\n")) config_ += "\n";
  {
    std::ofstream out(config_path());
    out << config_;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", config_path()));
  }
  SubprocessOptions check;
  check.argv = {"haproxy", "-c", "-f", config_path()};
  check.log_path = dir() + "/haproxy-check.log";
  check.working_dir = dir();
  Subprocess process(check);
  RETURN_IF_ERROR(process.Start());
  ASSIGN_OR_RETURN(int code, process.Wait(absl::Seconds(30)));
  if (code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("haproxy -c -f ", config_path(),
                                                   " rejected the config (exit ", code, "):\n",
                                                   process.LogTail(), "\nconfig:\n", config_));
  }
  return absl::OkStatus();
}

SubprocessOptions HaproxyServer::ProcessOptions() {
  SubprocessOptions options;
  options.argv = {"haproxy", "-db", "-f", config_path()};
  options.working_dir = dir();
  return options;
}

absl::Status HaproxyServer::Probe() {
  ASSIGN_OR_RETURN(std::string info, RuntimeCommand("show info"));
  if (!absl::StrContains(info, "Pid:")) {
    return absl::UnavailableError(absl::StrCat("unexpected 'show info' answer: ", info));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> HaproxyServer::RuntimeCommand(absl::string_view command) {
  const std::string path = admin_socket();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket(AF_UNIX): ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("admin socket path too long: ", path));
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", path, ": ", strerror(err)));
  }
  // Non-interactive mode: one command line, the answer, then HAProxy closes the connection.
  std::string line = absl::StrCat(command, "\n");
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = write(fd, line.data() + sent, line.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("write to ", path, ": ", strerror(err)));
    }
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("reading the answer to '", command, "' from ", path, ": ", strerror(err)));
    }
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

absl::Status HaproxyServer::WaitForServerState(absl::string_view backend, absl::string_view server,
                                               bool up, absl::Duration timeout) {
  return WaitForOk(
      [&]() -> absl::Status {
        absl::StatusOr<HaproxyServerState> state = ServerState(backend, server);
        if (!state.ok()) return state.status();
        if (state->running() != up) {
          return absl::UnavailableError(absl::StrCat(server, " srv_op_state=", state->op_state));
        }
        return absl::OkStatus();
      },
      timeout, absl::Milliseconds(50),
      absl::StrCat("haproxy to mark ", backend, "/", server, up ? " UP" : " DOWN"));
}

absl::StatusOr<HaproxyServerState> HaproxyServer::ServerState(absl::string_view backend,
                                                              absl::string_view server) {
  ASSIGN_OR_RETURN(std::string answer,
                   RuntimeCommand(absl::StrCat("show servers state ", backend)));
  std::vector<std::string> header;
  for (absl::string_view line : absl::StrSplit(answer, '\n', absl::SkipWhitespace())) {
    if (absl::StartsWith(line, "#")) {
      header = absl::StrSplit(line.substr(1), ' ', absl::SkipWhitespace());
      continue;
    }
    std::vector<std::string> values = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (header.empty() || values.size() < header.size()) continue;
    HaproxyServerState state;
    for (size_t i = 0; i < header.size(); ++i) state.fields[header[i]] = values[i];
    if (state.fields["be_name"] != backend || state.fields["srv_name"] != server) continue;
    state.backend = std::string(backend);
    state.server = std::string(server);
    state.addr = state.fields["srv_addr"];
    if (!absl::SimpleAtoi(state.fields["srv_port"], &state.port)) state.port = 0;
    if (!absl::SimpleAtoi(state.fields["srv_op_state"], &state.op_state)) state.op_state = -1;
    if (!absl::SimpleAtoi(state.fields["srv_admin_state"], &state.admin_state)) {
      state.admin_state = -1;
    }
    return state;
  }
  return absl::NotFoundError(absl::StrCat("haproxy: no server ", backend, "/", server,
                                          " in 'show servers state ", backend, "': ", answer));
}

}  // namespace testing
}  // namespace gonka
