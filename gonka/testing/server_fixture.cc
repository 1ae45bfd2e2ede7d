// ServerFixture (the lifecycle shared by every server), ResolveRunfile and DaemonProcess.
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

ServerFixture::ServerFixture(std::string name, int port, absl::Duration start_timeout,
                             std::string dir_parent)
    : name_(std::move(name)),
      port_(port != 0 ? port : FreePort()),
      start_timeout_(start_timeout),
      dir_(std::make_unique<TempDir>(name_, dir_parent)) {}

ServerFixture::~ServerFixture() {
  if (process_ != nullptr) process_->Kill().IgnoreError();
}

absl::Status ServerFixture::EnsurePrepared() {
  if (prepared_) return absl::OkStatus();
  RETURN_IF_ERROR(Annotate(Prepare(), absl::StrCat(name_, " in ", dir())));
  prepared_ = true;
  return absl::OkStatus();
}

absl::Status ServerFixture::Spawn() {
  if (process_ != nullptr && process_->IsRunning()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " on port ", port_, " is already running as pid ", process_->pid()));
  }
  RETURN_IF_ERROR(EnsurePrepared());
  SubprocessOptions options = ProcessOptions();
  if (options.log_path.empty()) options.log_path = log_path();
  process_ = std::make_unique<Subprocess>(std::move(options));
  return Annotate(process_->Start(), absl::StrCat("starting ", name_, " on port ", port_));
}

absl::Status ServerFixture::WaitReady(absl::Duration timeout) {
  if (process_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(name_, ": WaitReady before Spawn"));
  }
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  absl::Status last = absl::UnknownError("not probed yet");
  while (true) {
    if (!process_->IsRunning()) {
      absl::StatusOr<int> code = process_->Wait(absl::ZeroDuration());
      return absl::UnavailableError(absl::StrCat(name_, " on port ", port_, " exited with status ",
                                                 code.ok() ? *code : -1,
                                                 " while starting (last probe: ", last.ToString(),
                                                 "); log ", log_path(), ":\n", LogTail()));
    }
    last = Probe();
    if (last.ok()) return Annotate(AfterReady(), absl::StrCat(name_, " on port ", port_));
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          name_, " on port ", port_, " not ready after ", absl::FormatDuration(absl::Now() - start),
          ": ", last.ToString(), "; log ", log_path(), ":\n", LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

absl::Status ServerFixture::Start() {
  RETURN_IF_ERROR(Spawn());
  absl::Status ready = WaitReady(start_timeout_);
  if (!ready.ok()) process_->Kill().IgnoreError();
  return ready;
}

absl::Status ServerFixture::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  return process_->Terminate(absl::Seconds(10), StopSignal()).status();
}

absl::Status ServerFixture::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  return process_->Kill();
}

absl::Status ServerFixture::Pause() {
  if (process_ == nullptr) return absl::FailedPreconditionError(name_ + " never started");
  return process_->Pause();
}

absl::Status ServerFixture::Resume() {
  if (process_ == nullptr) return absl::FailedPreconditionError(name_ + " never started");
  return process_->Resume();
}

absl::Status ServerFixture::Restart() {
  if (IsRunning()) RETURN_IF_ERROR(Stop());
  return Start();
}

bool ServerFixture::IsRunning() { return process_ != nullptr && process_->IsRunning(); }

std::string ServerFixture::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string ServerFixture::log_path() const { return dir_->Join(name_ + ".log"); }

std::string ServerFixture::LogTail(size_t max_bytes) const {
  if (process_ == nullptr) return "";
  return process_->LogTail(max_bytes);
}

pid_t ServerFixture::pid() const { return process_ == nullptr ? -1 : process_->pid(); }

// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::string> ResolveRunfile(absl::string_view path) {
  std::string rel(path);
  if (!rel.empty() && rel[0] == '/') {
    if (access(rel.c_str(), F_OK) == 0) return rel;
    return absl::NotFoundError(absl::StrCat("runfile ", rel, " does not exist"));
  }
  const char* ws_env = getenv("TEST_WORKSPACE");
  const std::string workspace = ws_env != nullptr && *ws_env != '\0' ? ws_env : "libgonka";
  std::vector<std::string> candidates;
  if (const char* srcdir = getenv("TEST_SRCDIR"); srcdir != nullptr && *srcdir != '\0') {
    candidates.push_back(absl::StrCat(srcdir, "/", workspace, "/", rel));
  }
  if (const char* runfiles = getenv("RUNFILES_DIR"); runfiles != nullptr && *runfiles != '\0') {
    candidates.push_back(absl::StrCat(runfiles, "/", workspace, "/", rel));
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    candidates.push_back(absl::StrCat(exe, ".runfiles/", workspace, "/", rel));
  }
  candidates.push_back(rel);
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), F_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "runfile ", rel,
      " not found (add it to the test's data); tried: ", absl::StrJoin(candidates, ", ")));
}

namespace {

// Waits until `fd` is ready for `events` or the deadline passes. False on timeout/error.
bool PollUntil(int fd, short events, absl::Time deadline) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd pfd{fd, events, 0};
    int r = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Parses what was read so far. True when the response is complete: the head is there and
// Content-Length bytes of body (or `closed` when there is no Content-Length).
bool ParseHttpResponse(const std::string& raw, bool closed, HttpResponse* out) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  size_t line_end = raw.find("\r\n");
  std::vector<absl::string_view> status_line =
      absl::StrSplit(absl::string_view(raw).substr(0, line_end), absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &out->status)) return false;
  out->headers = raw.substr(line_end + 2, head_end - line_end - 2);
  out->body = raw.substr(head_end + 4);
  for (absl::string_view line : absl::StrSplit(out->headers, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)),
                                "content-length")) {
      continue;
    }
    size_t length = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length) &&
        out->body.size() >= length) {
      out->body.resize(length);
      return true;
    }
    return closed;
  }
  return closed;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port, absl::string_view path,
                                     absl::Duration timeout) {
  const std::string target = absl::StrCat("http://", host, ":", port, path);
  const absl::Time deadline = absl::Now() + timeout;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("HttpGet ", target, ": host is not IPv4"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("HttpGet: socket: ", strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};

  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(
          absl::StrCat("HttpGet ", target, ": connect: ", strerror(errno)));
    }
    if (!PollUntil(fd, POLLOUT, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("HttpGet ", target, ": connect timed out"));
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return absl::UnavailableError(absl::StrCat("HttpGet ", target, ": connect: ", strerror(err)));
    }
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host, ":", port,
                                           "\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!PollUntil(fd, POLLOUT, deadline)) {
        return absl::DeadlineExceededError(absl::StrCat("HttpGet ", target, ": send timed out"));
      }
      continue;
    }
    return absl::UnavailableError(absl::StrCat("HttpGet ", target, ": send: ", strerror(errno)));
  }
  std::string raw;
  HttpResponse response;
  char buf[8192];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      if (ParseHttpResponse(raw, false, &response)) return response;
      continue;
    }
    if (n == 0) {
      if (ParseHttpResponse(raw, true, &response)) return response;
      return absl::UnavailableError(absl::StrCat("HttpGet ", target,
                                                 ": connection closed before a full response (",
                                                 raw.size(), " bytes read)"));
    }
    if (errno == EAGAIN || errno == EINTR) {
      if (!PollUntil(fd, POLLIN, deadline)) {
        return absl::DeadlineExceededError(absl::StrCat(
            "HttpGet ", target, ": no full response after ", absl::FormatDuration(timeout)));
      }
      continue;
    }
    return absl::UnavailableError(absl::StrCat("HttpGet ", target, ": recv: ", strerror(errno)));
  }
}

namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

DaemonProcess::DaemonProcess(Options options)
    : ServerFixture(options.name.empty() ? BaseName(options.binary) : options.name, options.port,
                    options.start_timeout),
      options_(std::move(options)) {
  options_.port = port();
}

std::string DaemonProcess::url() const { return absl::StrCat("http://127.0.0.1:", port()); }

absl::Status DaemonProcess::Prepare() {
  ASSIGN_OR_RETURN(binary_path_, ResolveRunfile(options_.binary));
  return absl::OkStatus();
}

SubprocessOptions DaemonProcess::ProcessOptions() {
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"{{PORT}}", std::to_string(port())}, {"{{DIR}}", dir()}};
  SubprocessOptions options;
  options.argv.push_back(binary_path_);
  for (const std::string& arg : options_.args) {
    options.argv.push_back(absl::StrReplaceAll(arg, vars));
  }
  for (const auto& [key, value] : options_.env) {
    options.env[key] = absl::StrReplaceAll(value, vars);
  }
  options.working_dir = dir();
  options.run_as_user = options_.run_as_user;
  return options;
}

absl::Status DaemonProcess::Probe() {
  if (options_.ready) return options_.ready(*this);
  if (TcpPortOpen(host(), port())) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("nothing accepts connections on ", address()));
}

}  // namespace testing
}  // namespace gonka
