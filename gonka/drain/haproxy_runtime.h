// HaproxyRuntime: a small client for HAProxy's runtime API (the `stats socket ... level admin`
// unix socket of deploy/haproxy/haproxy.cfg.template), for the operations a rollout or a host
// evacuation drives from code: read a server's state, wait until HAProxy has marked it UP or
// DOWN, put it into drain/maint/ready, and read the traffic counters.
//
//   HaproxyRuntime haproxy("/run/haproxy/admin.sock");
//   RETURN_IF_ERROR(daemon.Terminate());                                  // SIGTERM, drain
//   ... restart it, wait for its /ready ...
//   RETURN_IF_ERROR(haproxy.WaitForServer("replicas", "r1", HaproxyRuntime::kUp,
//                                         absl::Seconds(30)));            // before the next one
//   ASSIGN_OR_RETURN(HaproxyStatRow be, haproxy.StatRow("replicas", "BACKEND"));
//   int64_t retries = be.Int("wretr");
//
// Why wait for UP: /ready answering 200 only means the replica could take traffic. HAProxy sends
// it traffic once its health check has passed `rise` times in a row; draining the next replica
// before that leaves a backend with no server UP (HAProxy answers 503). See
// docs/operations.md, "Rolling restarts behind HAProxy".
//
// Protocol: one connection per command (HAProxy's non-interactive mode): connect to the unix
// socket, send "<command>\n", read the answer until HAProxy closes the connection. Commands are
// HAProxy's own ("show servers state <backend>", "show stat", "set server <be>/<srv> state
// drain", ...); see the HAProxy 2.6 management guide, section 9.3.
//
// Errors (every message names the command and the socket):
//   InvalidArgument    a command containing a newline, a socket path too long for sockaddr_un;
//   Unavailable        the socket cannot be reached (HAProxy not running, wrong path, no
//                      permission) or the connection failed;
//   DeadlineExceeded   no complete answer within the timeout (default 2 s);
//   NotFound           an unknown backend or server;
//   FailedPrecondition HAProxy refused a `set` command (its answer is in the message).
//
// Thread-safety: all methods are const and thread-safe (each call uses its own connection and
// I/O context). No Boost type appears in this header.
#ifndef GONKA_DRAIN_HAPROXY_RUNTIME_H_
#define GONKA_DRAIN_HAPROXY_RUNTIME_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {

// One row of "show servers state <backend>".
struct HaproxyServerState {
  std::string backend;
  std::string server;
  std::string address;
  int port = 0;
  // srv_op_state: 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping.
  int op_state = -1;
  // srv_admin_state bits: 0x01 forced maint, 0x02 inherited maint, 0x04 maint via resolution,
  // 0x08 forced drain, 0x10 inherited drain, 0x20 config maint (`disabled`), 0x40 resolution.
  int admin_state = -1;
  std::map<std::string, std::string> fields;  // every column, by its header name

  // HAProxy sends this server new requests (running, and not in maintenance or drain).
  bool up() const { return op_state == 2 && !in_maintenance() && !draining(); }
  bool in_maintenance() const { return admin_state >= 0 && (admin_state & 0x67) != 0; }
  bool draining() const { return admin_state >= 0 && (admin_state & 0x18) != 0; }
};

// One row of "show stat" (CSV): a frontend ("FRONTEND"), a backend ("BACKEND") or a server.
struct HaproxyStatRow {
  std::string proxy;                          // pxname
  std::string name;                           // svname
  std::map<std::string, std::string> fields;  // every column, by its header name

  // The column as an integer; 0 when it is empty or missing (HAProxy leaves columns that do
  // not apply to the row empty).
  int64_t Int(absl::string_view column) const;
  // The column's text, "" when missing.
  std::string Get(absl::string_view column) const;
};

class HaproxyRuntime {
 public:
  enum ServerWanted { kUp, kDown };
  // An admin state for SetServerState: "ready", "drain" or "maint".
  enum class AdminState { kReady, kDrain, kMaint };

  // `socket_path`: the `stats socket` path (it must fit in sockaddr_un: < 108 bytes).
  // `timeout`: per command, from connect to the end of the answer.
  explicit HaproxyRuntime(std::string socket_path, absl::Duration timeout = absl::Seconds(2));

  const std::string& socket_path() const { return socket_path_; }

  // Sends one command and returns HAProxy's whole answer (possibly empty: `set` commands answer
  // nothing on success).
  absl::StatusOr<std::string> Command(absl::string_view command) const;

  // "show servers state <backend>": every server of the backend. NotFound for an unknown
  // backend.
  absl::StatusOr<std::vector<HaproxyServerState>> ServersState(absl::string_view backend) const;
  // One server's row. NotFound if the backend or the server is unknown.
  absl::StatusOr<HaproxyServerState> ServerState(absl::string_view backend,
                                                 absl::string_view server) const;

  // Polls ServerState every `poll` until up() is `wanted == kUp` (or false for kDown).
  // DeadlineExceeded after `timeout`, naming the server and the last state seen; NotFound as
  // ServerState. A transient socket error is retried until the deadline.
  absl::Status WaitForServer(absl::string_view backend, absl::string_view server,
                             ServerWanted wanted, absl::Duration timeout,
                             absl::Duration poll = absl::Milliseconds(50)) const;

  // "set server <backend>/<server> state ready|drain|maint". Drain: HAProxy sends the server no
  // new requests but lets established sessions finish (host evacuation); maint also stops
  // health checks. FailedPrecondition with HAProxy's answer when it refuses.
  absl::Status SetServerState(absl::string_view backend, absl::string_view server,
                              AdminState state) const;

  // "show stat": every frontend, backend and server row.
  absl::StatusOr<std::vector<HaproxyStatRow>> Stat() const;
  // One row of "show stat": `name` is "FRONTEND", "BACKEND" or a server name. NotFound if absent.
  absl::StatusOr<HaproxyStatRow> StatRow(absl::string_view proxy, absl::string_view name) const;

 private:
  std::string socket_path_;
  absl::Duration timeout_;
};

}  // namespace gonka

#endif  // GONKA_DRAIN_HAPROXY_RUNTIME_H_
