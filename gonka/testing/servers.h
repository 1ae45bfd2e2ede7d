// Real, throwaway servers for integration tests: Redis (+ Sentinel), NATS JetStream (single node
// or a loopback cluster), PostgreSQL, HAProxy, and the project's own daemons.
//
// Contract:
//   - Every server binds 127.0.0.1 only, on ports from FreePort() unless you pass one, and keeps
//     its data, config and log in its own TempDir (see process.h; GONKA_KEEP_TMP=1 keeps it).
//   - Start() returns only when the server is ready (probe below) or fails with the reason and the
//     tail of the server's log: DeadlineExceeded after `start_timeout`, Internal/Unavailable if the
//     process exited during startup, InvalidArgument for a bad config (HAProxy).
//   - Stop() is a graceful stop (server-specific signal, SIGKILL after 10 s); Kill() is SIGKILL of
//     the process group (a crash); Pause()/Resume() are SIGSTOP/SIGCONT (a hung server: its
//     sockets stay open but nothing answers). Restart() = Stop() if running, then Start(): same
//     port, same data dir, same arguments. To crash-restart, call Kill() then Restart().
//   - The destructor kills the server and removes its directory, so a failing test leaks nothing.
//   - Ports stay the same across Kill()/Restart(): FreePort() picks ports below the kernel's
//     ephemeral range, so no outgoing connection takes a port while its server is down.
//   - Readiness probes: Redis/Sentinel: PING via hiredis (Sentinel also knows its master);
//     NATS: nats.c connect, plus the JetStream account-info API when JetStream is on (which
//     needs a meta leader in a cluster); Postgres: PQping, then role/database created on the
//     first start; HAProxy: "show info" on the admin socket; DaemonProcess: pluggable, default =
//     its TCP port accepts connections.
//   - When the test runs as root (CI does), PostgreSQL runs as OS user `nobody` (options) with its
//     directory under /tmp and chowned to that user: postgres refuses to run as root, and nobody
//     cannot traverse $TEST_TMPDIR under /root.
//
// Thread-safety: fixtures are not thread-safe; drive each one from one thread (or lock around
// it). The free functions (RedisCommand, HttpGet, ResolveRunfile) are thread-safe.
//
// Example:
//   gonka::testing::RedisServer redis;
//   ASSERT_TRUE(redis.Start().ok());
//   redisContext* c = redisConnect(redis.host().c_str(), redis.port());
//   ...
//   ASSERT_TRUE(redis.Kill().ok());       // crash
//   ASSERT_TRUE(redis.Restart().ok());    // same port, ready again
//
// Inside `namespace gonka`, spell GoogleTest's namespace `::testing::` (this one is
// gonka::testing).
#ifndef GONKA_TESTING_SERVERS_H_
#define GONKA_TESTING_SERVERS_H_

#include <sys/types.h>

#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace testing {

struct HostPort {
  std::string host;
  int port = 0;
};

// Where a server runs: the address it binds and is reached on, and the network namespace its
// process joins (a test host from hosts.h). The default is loopback in the test's own namespace.
struct Placement {
  std::string ip = "127.0.0.1";
  std::string network_namespace;  // "" = the test process's
};

// Lifecycle shared by every single-process server fixture below.
class ServerFixture {
 public:
  virtual ~ServerFixture();
  ServerFixture(const ServerFixture&) = delete;
  ServerFixture& operator=(const ServerFixture&) = delete;

  // Spawn() + WaitReady(start_timeout). The first call also prepares the data dir and config.
  absl::Status Start();
  // Only spawns the process (preparing on first use); for clusters whose nodes become ready only
  // together. FailedPrecondition if already running.
  absl::Status Spawn();
  // Waits until the readiness probe passes. Fails early if the process exits.
  absl::Status WaitReady(absl::Duration timeout);

  // Graceful stop (SIGKILL after 10 s). OK if not running.
  absl::Status Stop();
  // SIGKILL to the process group + reap. OK if not running.
  absl::Status Kill();
  // SIGSTOP / SIGCONT to the process group. FailedPrecondition if not running.
  absl::Status Pause();
  absl::Status Resume();
  // Stop() if running, then Start() on the same port and data dir.
  absl::Status Restart();
  bool IsRunning();

  // Runs the server on `placement` (Redis, Sentinel, NATS and DaemonProcess bind its ip). Takes
  // effect at the next spawn; call it before Start().
  void Place(Placement placement) { placement_ = std::move(placement); }
  const Placement& placement() const { return placement_; }
  std::string host() const { return placement_.ip; }
  int port() const { return port_; }
  std::string address() const;  // "<host()>:<port>"
  virtual std::string url() const = 0;

  // The fixture's own directory (data, config, logs).
  const std::string& dir() const { return dir_->path(); }
  // The server's stdout+stderr.
  std::string log_path() const;
  std::string LogTail(size_t max_bytes = 4000) const;
  // pid of the server process, -1 before the first Start().
  pid_t pid() const;
  // The underlying process (nullptr before the first Start()).
  Subprocess* process() { return process_.get(); }

 protected:
  // `name` names the temp dir and log. `port` 0 = FreePort(). `dir_parent` "" = TempDir default.
  ServerFixture(std::string name, int port, absl::Duration start_timeout,
                std::string dir_parent = "");

  // Runs once, before the first spawn (write config, initdb, ...).
  virtual absl::Status Prepare() { return absl::OkStatus(); }
  // The command line; called before each spawn.
  virtual SubprocessOptions ProcessOptions() = 0;
  // OK when the server answers.
  virtual absl::Status Probe() = 0;
  // Runs after each successful WaitReady (Postgres creates its role on the first one).
  virtual absl::Status AfterReady() { return absl::OkStatus(); }
  // The graceful-stop signal.
  virtual int StopSignal() const { return SIGTERM; }

  const std::string& name() const { return name_; }
  absl::Duration start_timeout() const { return start_timeout_; }

 private:
  absl::Status EnsurePrepared();

  std::string name_;
  int port_;
  absl::Duration start_timeout_;
  std::unique_ptr<TempDir> dir_;
  bool prepared_ = false;
  Placement placement_;
  std::unique_ptr<Subprocess> process_;  // declared after dir_: destroyed (killed) first
};

// Credentials for RedisCommand: AUTH [user] password first when password is not empty.
struct RedisAuth {
  std::string user;  // "" = the default user (requirepass)
  std::string password;
};

// Runs one Redis command (hiredis, `timeout` for connect and reply) and returns the reply as
// The least-privilege Redis 7 ACL rule docs/security-redis-pg.md recommends for a node's daemons,
// for user `user` with `password`: the election, fence and event-hub cursor keys (gonka:*,
// eventhub:*), the release channels (gonka:*), and only the commands libgonka sends (including
// those its Lua scripts call). For RedisServer::Options::acl_users.
std::string NodeRedisAclRule(const std::string& user, const std::string& password);

// text: strings and status replies as-is, integers in decimal, arrays as their elements joined by
// '\n'. NotFound for a nil reply, FailedPrecondition("<redis error>") for an error reply (also a
// refused AUTH), Unavailable if it cannot connect.
absl::StatusOr<std::string> RedisCommand(const std::string& host, int port,
                                         const std::vector<std::string>& args,
                                         absl::Duration timeout = absl::Seconds(2),
                                         const RedisAuth& auth = {});

// redis-server --bind 127.0.0.1 --port <port> --dir <dir> --save '' --appendonly no|yes
class RedisServer : public ServerFixture {
 public:
  struct Options {
    int port = 0;             // 0 = FreePort()
    bool appendonly = false;  // true: --appendonly yes --appendfsync always
    std::string replica_of_host = "127.0.0.1";
    int replica_of_port = 0;              // non-zero: start as a replica (--replicaof host port)
    std::vector<std::string> extra_args;  // appended, e.g. {"--maxmemory", "10mb"}
    // requirepass (the `default` user's password; also --masterauth for a replica). The
    // fixture's own Command() and readiness probe AUTH with it.
    std::string password;
    // ACL users, one rule string each as for ACL SETUSER / a `user` config line (space-separated
    // words, no quoting), e.g. "signer on >pw ~gonka:* +get +set".
    std::vector<std::string> acl_users;
    absl::Duration start_timeout = absl::Seconds(15);
    std::string name = "redis";
  };
  RedisServer();
  explicit RedisServer(Options options);

  std::string url() const override;  // "redis://127.0.0.1:<port>"
  const Options& options() const { return options_; }

  // RedisCommand against this server (as the default user, with Options.password).
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args);
  // For a replica: waits until INFO replication shows master_link_status:up.
  absl::Status WaitForReplicaSync(absl::Duration timeout);

 private:
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;

  Options options_;
};

// redis-sentinel monitoring one master, with a config written to its own dir (Sentinel rewrites
// it; Restart() keeps it, so known replicas and the epoch survive). Defaults are tuned for fast
// failover tests: quorum 1, down-after 1 s, failover-timeout 5 s.
//
// Failover test recipe: RedisServer master; RedisServer replica({.replica_of_port =
// master.port()}); replica.WaitForReplicaSync(); RedisSentinel sentinel({.master_port =
// master.port()}); sentinel.WaitForKnownReplicas(1); master.Kill(); then
// WaitFor(GetMasterAddr()->port == replica.port()).
class RedisSentinel : public ServerFixture {
 public:
  struct Options {
    std::string master_name = "gonka";
    std::string master_host = "127.0.0.1";
    int master_port = 0;  // required
    int quorum = 1;
    absl::Duration down_after = absl::Milliseconds(1000);
    absl::Duration failover_timeout = absl::Seconds(5);
    int port = 0;                                 // 0 = FreePort()
    std::vector<std::string> extra_config_lines;  // appended to sentinel.conf
    // The master's credentials (sentinel auth-user / auth-pass), when it has any.
    std::string master_user;
    std::string master_password;
    // The Sentinel's own requirepass (its Command() and probe AUTH with it).
    std::string password;
    absl::Duration start_timeout = absl::Seconds(15);
    std::string name = "sentinel";
  };
  explicit RedisSentinel(Options options);

  std::string url() const override;  // "redis://127.0.0.1:<port>" (the Sentinel itself)
  const std::string& master_name() const { return options_.master_name; }

  // SENTINEL get-master-addr-by-name <master_name>.
  absl::StatusOr<HostPort> GetMasterAddr();
  // Number of replicas this sentinel knows for the master (SENTINEL replicas <name>).
  absl::StatusOr<int> KnownReplicas();
  // Waits until KnownReplicas() >= n (Sentinel discovers replicas through the master's INFO).
  absl::Status WaitForKnownReplicas(int n, absl::Duration timeout);
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args);

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;

  Options options_;
};

// nats-server -a 127.0.0.1 -p <port> -m <monitor port> [-js -sd <dir>/store] [-n name
// --cluster_name C -cluster nats://127.0.0.1:<cluster port> -routes ...]
class NatsServer : public ServerFixture {
 public:
  struct Options {
    int port = 0;          // 0 = FreePort()
    int monitor_port = 0;  // 0 = FreePort()
    bool jetstream = true;
    std::string server_name;  // "" = "nats-<port>"
    // Cluster membership (NatsCluster fills these): cluster_port 0 = not clustered.
    std::string cluster_name;
    int cluster_port = 0;
    std::vector<std::string> routes;  // e.g. "nats://127.0.0.1:6222"
    std::vector<std::string> extra_args;
    absl::Duration start_timeout = absl::Seconds(20);
    std::string name = "nats";
    // nats-server config text (authorization/accounts, tls blocks, `include`s resolved against
    // dir()). Non-empty: written to <dir>/nats.conf and passed with -c (the flags above still
    // apply and win), and readiness is the monitor port's /healthz (clients may need credentials
    // or TLS to connect). Put files the config includes into dir() before Start().
    std::string config_text;
  };
  NatsServer();
  explicit NatsServer(Options options);

  std::string url() const override;  // "nats://127.0.0.1:<port>"
  std::string tls_url() const;       // "tls://127.0.0.1:<port>" (for a config with a tls block)
  std::string config_path() const;   // <dir>/nats.conf (written when config_text is set)
  int monitor_port() const { return options_.monitor_port; }
  std::string monitor_url() const;  // "http://127.0.0.1:<monitor port>"
  std::string store_dir() const;    // JetStream store dir (-sd)
  const std::string& server_name() const { return options_.server_name; }
  const Options& options() const { return options_; }

  // GET on the monitoring port (e.g. "/jsz", "/varz"); the body on HTTP 200, else Unavailable.
  absl::StatusOr<std::string> MonitorGet(absl::string_view path);
  // The JetStream meta leader's server name as this node sees it (/jsz meta_cluster.leader).
  // NotFound while there is none (no quorum yet, or an election in progress).
  absl::StatusOr<std::string> MetaLeader();

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;

  Options options_;
};

// N JetStream nodes routed on loopback. Start() returns when a stream with N replicas can be
// created (JetStream meta leader elected and every node a member).
class NatsCluster {
 public:
  struct Options {
    int nodes = 3;
    std::string cluster_name = "gonka";
    std::vector<std::string> extra_args;  // for every node
    absl::Duration start_timeout = absl::Seconds(40);
    // Node i runs on placements[i] (hosts.h) when given; else every node on loopback.
    std::vector<Placement> placements;
  };
  NatsCluster();
  explicit NatsCluster(Options options);
  ~NatsCluster();

  absl::Status Start();
  absl::Status Stop();     // graceful stop of every node
  absl::Status KillAll();  // SIGKILL every node
  // Stop() then start every node on the same ports/dirs, and wait as Start() does.
  absl::Status RestartAll();
  // Waits until a stream with `replicas` replicas (default: all nodes) can be created and
  // deleted through any running node. With a node down, an R<size()> stream cannot be placed:
  // pass a smaller `replicas` (e.g. 2) to check that the survivors still work.
  absl::Status WaitForJetStream(absl::Duration timeout, int replicas = 0);

  int size() const { return static_cast<int>(nodes_.size()); }
  // Per-node control: node(i).Kill(), .Restart(), .Pause(), .url(), ...
  NatsServer& node(int i) { return *nodes_.at(i); }
  // Index of the node that is the JetStream meta leader, as the running nodes agree (every
  // running node that reports a leader reports the same one). NotFound while none is known or the
  // nodes disagree (mid-election). Node i's server name is "n<i>".
  absl::StatusOr<int> MetaLeaderIndex();
  // Waits until MetaLeaderIndex() succeeds and (if given) is not `not_index` (a killed leader).
  absl::StatusOr<int> WaitForMetaLeader(absl::Duration timeout, int not_index = -1);

  // "nats://<host>:p1,nats://<host>:p2,..." for natsConnection_ConnectTo.
  std::string urls() const;
  std::vector<std::string> url_list() const;

 private:
  Options options_;
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

// initdb (first start) + postgres from `bin_dir`, TCP on 127.0.0.1 only, unix socket in its dir,
// fsync off (commits are still written to the WAL before they are acknowledged, so a kill -9
// loses nothing committed; only a machine crash could). Creates role `user` (LOGIN, CREATEDB,
// password `password`) and database `database` owned by it. Authentication is `trust` by
// default, so the password is accepted but not required; `tcp_auth = "scram-sha-256"` requires
// it over TCP, and `tls_cert_file`/`tls_key_file` turn on TLS (`require_tls`: TLS only). With
// either, the fixture's own superuser connections use its unix socket (always `trust`).
//
//   PostgresServer::Options o;
//   o.tcp_auth = "scram-sha-256";
//   o.tls_cert_file = cert.cert_path; o.tls_key_file = cert.key_path;  // e.g. from TestCa
//   o.require_tls = true;
class PostgresServer : public ServerFixture {
 public:
  struct Options {
    int port = 0;  // 0 = FreePort()
    std::string bin_dir = "/usr/lib/postgresql/15/bin";
    std::string run_as_user = "nobody";  // used only when the test runs as root
    std::string user = "gonka";
    std::string password = "gonka";
    std::string database = "gonka";
    // pg_hba method for TCP connections: "trust" or "scram-sha-256" (password required).
    std::string tcp_auth = "trust";
    // TLS (ssl=on) when both are set: PEM certificate and key, copied into the fixture's dir
    // (the key 0600 and owned by the server's OS user, as postgres demands).
    std::string tls_cert_file;
    std::string tls_key_file;
    bool require_tls = false;           // hostssl only: plain TCP connections are rejected
    std::vector<std::string> settings;  // extra "name=value" passed as -c
    absl::Duration start_timeout = absl::Seconds(30);
    std::string name = "postgres";
  };
  PostgresServer();
  explicit PostgresServer(Options options);

  // "postgresql://gonka@127.0.0.1:<port>/gonka" (with ":gonka" after the user unless tcp_auth
  // is "trust": daemons refuse a password in --pg-url, give them a --pg-url-file then).
  std::string url() const override;
  // "host=127.0.0.1 port=<port> user=gonka password=gonka dbname=gonka" for PQconnectdb.
  std::string conninfo() const;
  // The same as superuser `postgres` on database `postgres` (through the unix socket when
  // tcp_auth or TLS is set).
  std::string superuser_conninfo() const;
  // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (for a daemon's environment).
  std::map<std::string, std::string> env() const;
  std::string data_dir() const;
  std::string socket_dir() const { return dir(); }
  const Options& options() const { return options_; }

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;
  absl::Status AfterReady() override;
  int StopSignal() const override { return SIGINT; }  // "fast" shutdown
  bool tls() const { return !options_.tls_cert_file.empty() && !options_.tls_key_file.empty(); }
  bool own_hba() const { return tls() || options_.tcp_auth != "trust"; }

  Options options_;
  bool database_created_ = false;
};

// The fields of one row of "show servers state <backend>".
struct HaproxyServerState {
  std::string backend;
  std::string server;
  std::string addr;
  int port = 0;
  int op_state = -1;     // 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping
  int admin_state = -1;  // bit field: 0x01 forced maint, 0x02 inherited maint, 0x08 drain, ...
  std::map<std::string, std::string> fields;  // every column by its header name

  bool running() const { return op_state == 2; }
  // Any maintenance bit (set by "disable server", config "disabled", resolution failure, ...).
  bool in_maintenance() const { return admin_state >= 0 && (admin_state & 0x67) != 0; }
  bool draining() const { return admin_state >= 0 && (admin_state & 0x18) != 0; }
};

// haproxy -db -f <dir>/haproxy.cfg, after `haproxy -c -f` accepted the file.
//
// The config text may use placeholders, substituted before writing: {{ADMIN_SOCKET}} (the admin
// unix socket path), {{DIR}} (the fixture dir), {{PORT}} (port(), from FreePort() unless given)
// and {{KEY}} for each entry of `vars`. If the text has no `global` section, one is prepended:
//   global
//       stats socket {{ADMIN_SOCKET}} mode 600 level admin
// (with your own `global`, include that stats socket line yourself).
//
//   HaproxyServer::Options o;
//   o.config = "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n"
//              "  timeout server 30s\nfrontend fe\n  bind 127.0.0.1:{{PORT}}\n"
//              "  default_backend be\nbackend be\n  server r1 127.0.0.1:{{REDIS}} check\n";
//   o.vars["REDIS"] = std::to_string(redis.port());
class HaproxyServer : public ServerFixture {
 public:
  struct Options {
    std::string config;
    std::map<std::string, std::string> vars;
    int port = 0;  // {{PORT}}; 0 = FreePort()
    absl::Duration start_timeout = absl::Seconds(15);
    std::string name = "haproxy";
  };
  explicit HaproxyServer(Options options);

  std::string url() const override;  // "http://127.0.0.1:<port>"
  std::string admin_socket() const;
  std::string config_path() const;
  // The config after substitution (valid after the first Start()).
  const std::string& config() const { return config_; }

  // Sends one runtime API command ("show info", "disable server be/r1", ...) over the admin
  // socket and returns the full answer. Unavailable if the socket does not answer.
  absl::StatusOr<std::string> RuntimeCommand(absl::string_view command);
  // Parses "show servers state <backend>". NotFound if the backend/server is not listed.
  absl::StatusOr<HaproxyServerState> ServerState(absl::string_view backend,
                                                 absl::string_view server);
  // Waits until HAProxy reports backend/server running (`up`) or not; DeadlineExceeded with the
  // last state seen otherwise.
  absl::Status WaitForServerState(absl::string_view backend, absl::string_view server, bool up,
                                  absl::Duration timeout = absl::Seconds(15));

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;

  Options options_;
  std::string config_;
};

// The absolute path of a file in the test's runfiles, from a workspace-relative path such as
// "daemons/devchain/devchain" (add the target to the test's `data`). Tries, in order: an absolute
// path as-is, $TEST_SRCDIR/$TEST_WORKSPACE/<path>, $RUNFILES_DIR/<workspace>/<path>,
// <this binary>.runfiles/<workspace>/<path>, ./<path>. NotFound lists what was tried.
absl::StatusOr<std::string> ResolveRunfile(absl::string_view path);

// The answer to HttpGet.
struct HttpResponse {
  int status = 0;       // e.g. 200
  std::string headers;  // the raw header block (status line excluded)
  std::string body;
};

// One HTTP/1.1 GET (Connection: close) to host:port (an IP address), on Boost.Beast like the
// test client (http_test_client.h), with one deadline for connect, send and read: the whole
// response (Content-Length, chunked, or up to the server's close). Unavailable if it cannot
// connect or the connection ends before a full response; DeadlineExceeded after `timeout` (e.g. a
// paused server); InvalidArgument if host is not an IP address. For probes and assertions in
// tests (no TLS, bodies up to 64 MB).
absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port, absl::string_view path,
                                     absl::Duration timeout = absl::Seconds(5));

// One of the project's own binaries.
//
// {{PORT}} (port()), {{DIR}} (dir()) and {{HOST}} (host(): 127.0.0.1 unless Place()d on a test
// host) in `args` and in `env` values are substituted.
//
//   DaemonProcess::Options o;
//   o.binary = "daemons/devchain/devchain";
//   o.args = {"--listen=127.0.0.1:{{PORT}}", "--data={{DIR}}"};
//   DaemonProcess devchain(o);
//   ASSERT_TRUE(devchain.Start().ok());   // waits until 127.0.0.1:port accepts connections
class DaemonProcess : public ServerFixture {
 public:
  struct Options {
    std::string binary;  // workspace-relative (runfiles) or absolute path
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    int port = 0;  // {{PORT}}; 0 = FreePort()
    // Readiness; default: TcpPortOpen(host(), port()). Return OK when ready, else why not.
    std::function<absl::Status(DaemonProcess&)> ready;
    int stop_signal = SIGTERM;
    std::string run_as_user;  // as in SubprocessOptions (only when root)
    absl::Duration start_timeout = absl::Seconds(30);
    std::string name;  // "" = basename of binary
  };
  explicit DaemonProcess(Options options);

  std::string url() const override;  // "http://<host()>:<port>"
  // The resolved binary path (valid after the first Start()).
  const std::string& binary_path() const { return binary_path_; }

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;
  int StopSignal() const override { return options_.stop_signal; }

  Options options_;
  std::string binary_path_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_SERVERS_H_
