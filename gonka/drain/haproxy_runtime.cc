#include "gonka/drain/haproxy_runtime.h"

#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;

std::string Quote(absl::string_view command) { return absl::StrCat("'", command, "'"); }

// HAProxy answers an unknown backend/server with a one-line message instead of data.
bool IsNotFoundAnswer(absl::string_view answer) {
  return absl::StartsWith(answer, "Can't find") || absl::StartsWith(answer, "No such");
}

}  // namespace

int64_t HaproxyStatRow::Int(absl::string_view column) const {
  auto it = fields.find(std::string(column));
  int64_t value = 0;
  if (it == fields.end() || !absl::SimpleAtoi(it->second, &value)) return 0;
  return value;
}

std::string HaproxyStatRow::Get(absl::string_view column) const {
  auto it = fields.find(std::string(column));
  return it == fields.end() ? "" : it->second;
}

HaproxyRuntime::HaproxyRuntime(std::string socket_path, absl::Duration timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

absl::StatusOr<std::string> HaproxyRuntime::Command(absl::string_view command) const {
  const std::string where =
      absl::StrCat("haproxy runtime API ", socket_path_, ": ", Quote(command));
  if (absl::StrContains(command, '\n')) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": a command must be one line"));
  }
  if (socket_path_.empty() || socket_path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": socket path must be 1..",
                                                   sizeof(sockaddr_un::sun_path) - 1, " bytes, is ",
                                                   socket_path_.size()));
  }

  // Asio's asynchronous operations give one deadline for the whole exchange: run the I/O
  // context for at most `timeout_`, then close the socket if the exchange has not finished.
  asio::io_context ioc;
  local_stream::socket socket(ioc);
  const std::string request = absl::StrCat(command, "\n");
  std::string answer;
  bool done = false;
  absl::Status result;
  auto fail = [&](absl::string_view step, const boost::system::error_code& ec) {
    done = true;
    result = absl::UnavailableError(absl::StrCat(where, ": ", step, ": ", ec.message()));
  };
  socket.async_connect(local_stream::endpoint(socket_path_), [&](boost::system::error_code ec) {
    if (ec) return fail("connect", ec);
    asio::async_write(socket, asio::buffer(request), [&](boost::system::error_code ec, size_t) {
      if (ec) return fail("send", ec);
      // Non-interactive mode: HAProxy closes the connection after the answer.
      asio::async_read(socket, asio::dynamic_buffer(answer),
                       [&](boost::system::error_code ec, size_t) {
                         if (ec && ec != asio::error::eof) return fail("read", ec);
                         done = true;
                       });
    });
  });
  ioc.run_for(absl::ToChronoNanoseconds(timeout_));
  if (!done) {
    boost::system::error_code ignored;
    socket.close(ignored);
    ioc.restart();
    ioc.run();  // lets the cancelled handlers run before they go out of scope
    return absl::DeadlineExceededError(
        absl::StrCat(where, ": no complete answer within ", absl::FormatDuration(timeout_)));
  }
  RETURN_IF_ERROR(result);
  return answer;
}

absl::StatusOr<std::vector<HaproxyServerState>> HaproxyRuntime::ServersState(
    absl::string_view backend) const {
  const std::string command = absl::StrCat("show servers state ", backend);
  ASSIGN_OR_RETURN(std::string answer, Command(command));
  if (IsNotFoundAnswer(answer)) {
    return absl::NotFoundError(absl::StrCat("haproxy runtime API ", socket_path_, ": ",
                                            Quote(command), ": ",
                                            absl::StripAsciiWhitespace(answer)));
  }
  // "1" (format version), "# be_id be_name srv_id srv_name ..." (header), then one row per
  // server, space-separated in header order.
  std::vector<std::string> header;
  std::vector<HaproxyServerState> servers;
  for (absl::string_view line : absl::StrSplit(answer, '\n', absl::SkipWhitespace())) {
    if (absl::ConsumePrefix(&line, "#")) {
      header = absl::StrSplit(line, ' ', absl::SkipWhitespace());
      continue;
    }
    std::vector<std::string> values = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (header.empty() || values.size() < header.size()) continue;  // the version line
    HaproxyServerState state;
    for (size_t i = 0; i < header.size(); ++i) state.fields[header[i]] = values[i];
    state.backend = state.fields["be_name"];
    state.server = state.fields["srv_name"];
    state.address = state.fields["srv_addr"];
    if (!absl::SimpleAtoi(state.fields["srv_port"], &state.port)) state.port = 0;
    if (!absl::SimpleAtoi(state.fields["srv_op_state"], &state.op_state)) state.op_state = -1;
    if (!absl::SimpleAtoi(state.fields["srv_admin_state"], &state.admin_state)) {
      state.admin_state = -1;
    }
    if (state.backend != backend) continue;
    servers.push_back(std::move(state));
  }
  if (header.empty()) {
    return absl::UnavailableError(absl::StrCat("haproxy runtime API ", socket_path_, ": ",
                                               Quote(command), ": unexpected answer: ", answer));
  }
  return servers;
}

absl::StatusOr<HaproxyServerState> HaproxyRuntime::ServerState(absl::string_view backend,
                                                               absl::string_view server) const {
  ASSIGN_OR_RETURN(std::vector<HaproxyServerState> servers, ServersState(backend));
  for (HaproxyServerState& state : servers) {
    if (state.server == server) return std::move(state);
  }
  return absl::NotFoundError(absl::StrCat("haproxy runtime API ", socket_path_,
                                          ": 'show servers state ", backend, "': no server ",
                                          server));
}

absl::Status HaproxyRuntime::WaitForServer(absl::string_view backend, absl::string_view server,
                                           ServerWanted wanted, absl::Duration timeout,
                                           absl::Duration poll) const {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  std::string last = "no answer yet";
  while (true) {
    absl::StatusOr<HaproxyServerState> state = ServerState(backend, server);
    if (state.ok()) {
      if (state->up() == (wanted == kUp)) return absl::OkStatus();
      last =
          absl::StrCat("srv_op_state=", state->op_state, " srv_admin_state=", state->admin_state);
    } else if (absl::IsNotFound(state.status())) {
      return state.status();
    } else {
      last = state.status().ToString();
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("haproxy runtime API ", socket_path_, ": ", backend, "/", server, " not ",
                       wanted == kUp ? "UP" : "DOWN", " after ",
                       absl::FormatDuration(absl::Now() - start), " (last: ", last, ")"));
    }
    absl::SleepFor(std::min(poll, deadline - absl::Now()));
  }
}

absl::Status HaproxyRuntime::SetServerState(absl::string_view backend, absl::string_view server,
                                            AdminState state) const {
  const char* name = state == AdminState::kReady   ? "ready"
                     : state == AdminState::kDrain ? "drain"
                                                   : "maint";
  const std::string command = absl::StrCat("set server ", backend, "/", server, " state ", name);
  ASSIGN_OR_RETURN(std::string answer, Command(command));
  absl::string_view text = absl::StripAsciiWhitespace(answer);
  if (text.empty()) return absl::OkStatus();
  std::string message =
      absl::StrCat("haproxy runtime API ", socket_path_, ": ", Quote(command), ": ", text);
  if (IsNotFoundAnswer(text)) return absl::NotFoundError(message);
  return absl::FailedPreconditionError(message);
}

absl::StatusOr<std::vector<HaproxyStatRow>> HaproxyRuntime::Stat() const {
  ASSIGN_OR_RETURN(std::string answer, Command("show stat"));
  // CSV: "# pxname,svname,qcur,..." then one row per proxy/server. Values contain no commas.
  std::vector<std::string> header;
  std::vector<HaproxyStatRow> rows;
  for (absl::string_view line : absl::StrSplit(answer, '\n', absl::SkipWhitespace())) {
    if (absl::ConsumePrefix(&line, "# ")) {
      header = absl::StrSplit(line, ',');
      continue;
    }
    if (header.empty()) continue;
    std::vector<std::string> values = absl::StrSplit(line, ',');
    HaproxyStatRow row;
    for (size_t i = 0; i < header.size() && i < values.size(); ++i) {
      if (!header[i].empty()) row.fields[header[i]] = values[i];
    }
    row.proxy = row.Get("pxname");
    row.name = row.Get("svname");
    rows.push_back(std::move(row));
  }
  if (header.empty()) {
    return absl::UnavailableError(absl::StrCat("haproxy runtime API ", socket_path_,
                                               ": 'show stat': unexpected answer: ", answer));
  }
  return rows;
}

absl::StatusOr<HaproxyStatRow> HaproxyRuntime::StatRow(absl::string_view proxy,
                                                       absl::string_view name) const {
  ASSIGN_OR_RETURN(std::vector<HaproxyStatRow> rows, Stat());
  for (HaproxyStatRow& row : rows) {
    if (row.proxy == proxy && row.name == name) return std::move(row);
  }
  return absl::NotFoundError(absl::StrCat("haproxy runtime API ", socket_path_,
                                          ": 'show stat': no row ", proxy, "/", name));
}

}  // namespace gonka
