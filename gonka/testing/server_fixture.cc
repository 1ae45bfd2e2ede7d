// ServerFixture (the lifecycle shared by every server), ResolveRunfile, HttpGet and DaemonProcess.
#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
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
  if (options.network_namespace.empty()) {
    options.network_namespace = placement_.network_namespace;
  }
  process_ = std::make_unique<Subprocess>(std::move(options));
  return Annotate(process_->Start(), absl::StrCat("starting ", name_, " on port ", port_));
}

absl::Status ServerFixture::WaitReady(absl::Duration timeout) {
  if (process_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(name_, ": WaitReady before Spawn"));
  }
  absl::Status last = absl::UnknownError("not probed yet");
  bool exited = false;
  absl::Status ready = WaitFor(
      [&] {
        if (!process_->IsRunning()) {
          exited = true;  // fail early: no probe can pass any more
          return true;
        }
        last = Probe();
        return last.ok();
      },
      timeout, absl::Milliseconds(50), absl::StrCat(name_, " on port ", port_, " to be ready"));
  if (exited) {
    absl::StatusOr<int> code = process_->Wait(absl::ZeroDuration());
    return absl::UnavailableError(absl::StrCat(
        name_, " on port ", port_, " exited with status ", code.ok() ? *code : -1,
        " while starting (last probe: ", last.ToString(), "); log ", log_path(), ":\n", LogTail()));
  }
  if (!ready.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(ready.message(), ": ", last.ToString(),
                                                    "; log ", log_path(), ":\n", LogTail()));
  }
  return Annotate(AfterReady(), absl::StrCat(name_, " on port ", port_));
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

std::string ServerFixture::address() const { return absl::StrCat(host(), ":", port_); }

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

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port, absl::string_view path,
                                     absl::Duration timeout) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = boost::beast::http;
  const std::string target = absl::StrCat("http://", host, ":", port, path);
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("HttpGet ", target, ": host is not an IP"));
  }
  // Asynchronous operations on one io_context run here: only they honour the stream's deadline
  // (a paused server accepts the connection in the kernel and never answers).
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
  http::request<http::empty_body> request{http::verb::get, std::string(path), 11};
  request.set(http::field::host, absl::StrCat(host, ":", port));
  request.keep_alive(false);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  const char* stage = "connect";
  beast::error_code result;
  stream.async_connect(asio::ip::tcp::endpoint(address, static_cast<uint16_t>(port)),
                       [&](beast::error_code e) {
                         if ((result = e)) return;
                         stage = "send";
                         http::async_write(stream, request, [&](beast::error_code e, size_t) {
                           if ((result = e)) return;
                           stage = "read";
                           http::async_read(stream, buffer, parser,
                                            [&](beast::error_code e, size_t) { result = e; });
                         });
                       });
  ioc.run();
  if (result == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("HttpGet ", target, ": no full response after ",
                                                    absl::FormatDuration(timeout), " (", stage,
                                                    " timed out)"));
  }
  if (result) {
    return absl::UnavailableError(
        absl::StrCat("HttpGet ", target, ": ", stage, ": ", result.message()));
  }
  const http::response<http::string_body>& answer = parser.get();
  HttpResponse response;
  response.status = static_cast<int>(answer.result_int());
  std::vector<std::string> headers;
  for (const auto& field : answer) {
    headers.push_back(
        absl::StrCat(absl::string_view(field.name_string().data(), field.name_string().size()),
                     ": ", absl::string_view(field.value().data(), field.value().size())));
  }
  response.headers = absl::StrJoin(headers, "\r\n");
  response.body = answer.body();
  return response;
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

std::string DaemonProcess::url() const { return absl::StrCat("http://", host(), ":", port()); }

absl::Status DaemonProcess::Prepare() {
  ASSIGN_OR_RETURN(binary_path_, ResolveRunfile(options_.binary));
  return absl::OkStatus();
}

SubprocessOptions DaemonProcess::ProcessOptions() {
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"{{PORT}}", std::to_string(port())}, {"{{DIR}}", dir()}, {"{{HOST}}", host()}};
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
