// NatsServer and NatsCluster; readiness probes through nats.c.
#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/base/status_macros.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

std::string NatsError(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return absl::StrCat(natsStatus_GetText(s), last != nullptr && *last != '\0' ? ": " : "",
                      last != nullptr ? last : "");
}

// The server_name in the INFO line a NATS server sends first on a client connection (before any
// TLS or authentication), or "" when nothing answers on `host`:`port` within a second.
std::string InfoServerName(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return "";
  }
  std::string info;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    char buf[4096];
    while (info.find('\n') == std::string::npos && info.size() < 64 * 1024) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      info.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const std::string key = "\"server_name\":\"";
  size_t at = info.find(key);
  if (at == std::string::npos) return "";
  size_t end = info.find('"', at + key.size());
  return end == std::string::npos ? "" : info.substr(at + key.size(), end - at - key.size());
}

// A short-lived connection for probes: no reconnects, short timeouts.
class ProbeConnection {
 public:
  ~ProbeConnection() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
    if (opts_ != nullptr) natsOptions_Destroy(opts_);
  }

  absl::Status Connect(const std::vector<std::string>& urls) {
    std::vector<const char*> servers;
    for (const std::string& url : urls) servers.push_back(url.c_str());
    natsStatus s = natsOptions_Create(&opts_);
    if (s == NATS_OK)
      s = natsOptions_SetServers(opts_, servers.data(), static_cast<int>(servers.size()));
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts_, 1000);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts_, false);
    if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts_);
    if (s != NATS_OK) {
      return absl::UnavailableError(
          absl::StrCat("nats connect ", absl::StrJoin(urls, ","), ": ", NatsError(s)));
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 2000;
    s = natsConnection_JetStream(&js_, nc_, &js_options);
    if (s != NATS_OK) return absl::InternalError(absl::StrCat("JetStream context: ", NatsError(s)));
    return absl::OkStatus();
  }

  jsCtx* js() { return js_; }

 private:
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace

NatsServer::NatsServer() : NatsServer(Options()) {}

NatsServer::NatsServer(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout),
      options_(std::move(options)) {
  options_.port = port();
  if (options_.monitor_port == 0) options_.monitor_port = FreePort();
  if (options_.server_name.empty()) options_.server_name = absl::StrCat("nats-", port());
}

std::string NatsServer::url() const { return absl::StrCat("nats://", host(), ":", port()); }

std::string NatsServer::monitor_url() const {
  return absl::StrCat("http://", host(), ":", options_.monitor_port);
}

std::string NatsServer::store_dir() const { return dir() + "/store"; }

std::string NatsServer::tls_url() const { return absl::StrCat("tls://", host(), ":", port()); }

std::string NatsServer::config_path() const { return dir() + "/nats.conf"; }

absl::Status NatsServer::Prepare() {
  if (options_.config_text.empty()) return absl::OkStatus();
  std::ofstream out(config_path(), std::ios::trunc);
  out << options_.config_text << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("nats: cannot write ", config_path()));
  return absl::OkStatus();
}

SubprocessOptions NatsServer::ProcessOptions() {
  SubprocessOptions options;
  options.argv = {"nats-server",
                  "-a",
                  host(),
                  "-p",
                  std::to_string(port()),
                  "-m",
                  std::to_string(options_.monitor_port),
                  "-n",
                  options_.server_name};
  if (!options_.config_text.empty()) {
    options.argv.insert(options.argv.begin() + 1, {"-c", config_path()});
  }
  if (options_.jetstream) options.argv.insert(options.argv.end(), {"-js", "-sd", store_dir()});
  if (options_.cluster_port != 0) {
    options.argv.insert(
        options.argv.end(),
        {"--cluster_name", options_.cluster_name.empty() ? "gonka" : options_.cluster_name,
         "-cluster", absl::StrCat("nats://", host(), ":", options_.cluster_port)});
    if (!options_.routes.empty()) {
      options.argv.insert(options.argv.end(), {"-routes", absl::StrJoin(options_.routes, ",")});
    }
  }
  options.argv.insert(options.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  options.working_dir = dir();
  return options;
}

absl::Status NatsServer::Probe() {
  // The client port must be answered by this server, not by another test's that took the port
  // between FreePort() and our bind (ours then exits, but a probe could pass in between).
  const std::string name = InfoServerName(host(), port());
  if (name != options_.server_name) {
    return absl::UnavailableError(absl::StrCat("nats port ", port(), " is answered by server \"",
                                               name, "\", not \"", options_.server_name, "\""));
  }
  if (!options_.config_text.empty()) {
    // The config may require credentials or TLS; /healthz needs neither and, with JetStream
    // on, answers 200 only once JetStream is up.
    return MonitorGet("/healthz").status();
  }
  ProbeConnection connection;
  RETURN_IF_ERROR(connection.Connect({url()}));
  if (!options_.jetstream) return absl::OkStatus();
  // Answered by the JetStream meta leader in a cluster, so a node is ready only once it is routed
  // to a cluster that has one.
  jsAccountInfo* info = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetAccountInfo(&info, connection.js(), nullptr, &error_code);
  if (info != nullptr) jsAccountInfo_Destroy(info);
  if (s != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("JetStream account info via ", url(), ": ",
                                               NatsError(s), " (js error ",
                                               static_cast<int>(error_code), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NatsServer::MonitorGet(absl::string_view path) {
  ASSIGN_OR_RETURN(HttpResponse response,
                   HttpGet(host(), options_.monitor_port, path, absl::Seconds(2)));
  if (response.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("nats monitor ", monitor_url(), path, ": HTTP ", response.status));
  }
  return response.body;
}

absl::StatusOr<std::string> NatsServer::MetaLeader() {
  ASSIGN_OR_RETURN(std::string jsz, MonitorGet("/jsz"));
  // /jsz is small, flat JSON: "meta_cluster": {"name": .., "leader": "n1", ...}. A JSON parser
  // would be overkill for one field of a test server's status page.
  size_t meta = jsz.find("\"meta_cluster\"");
  size_t leader = meta == std::string::npos ? meta : jsz.find("\"leader\"", meta);
  size_t close = meta == std::string::npos ? meta : jsz.find('}', meta);
  if (leader == std::string::npos || leader > close) {
    return absl::NotFoundError(absl::StrCat("nats ", server_name(), ": no meta leader in /jsz"));
  }
  size_t open_quote = jsz.find('"', jsz.find(':', leader) + 1);
  size_t close_quote = open_quote == std::string::npos ? open_quote : jsz.find('"', open_quote + 1);
  if (close_quote == std::string::npos || close_quote == open_quote + 1) {
    return absl::NotFoundError(absl::StrCat("nats ", server_name(), ": empty meta leader"));
  }
  return jsz.substr(open_quote + 1, close_quote - open_quote - 1);
}

// ---------------------------------------------------------------------------------------------

NatsCluster::NatsCluster() : NatsCluster(Options()) {}

NatsCluster::NatsCluster(Options options) : options_(std::move(options)) {
  std::vector<int> cluster_ports;
  for (int i = 0; i < options_.nodes; ++i) cluster_ports.push_back(FreePort());
  std::vector<std::string> routes;
  auto node_ip = [&](int i) -> std::string {
    return i < static_cast<int>(options_.placements.size()) ? options_.placements[i].ip
                                                            : "127.0.0.1";
  };
  for (int i = 0; i < options_.nodes; ++i) {
    routes.push_back(absl::StrCat("nats://", node_ip(i), ":", cluster_ports[i]));
  }
  for (int i = 0; i < options_.nodes; ++i) {
    NatsServer::Options node;
    node.jetstream = true;
    node.server_name = absl::StrCat("n", i);
    node.cluster_name = options_.cluster_name;
    node.cluster_port = cluster_ports[i];
    node.routes = routes;
    node.extra_args = options_.extra_args;
    node.start_timeout = options_.start_timeout;
    node.name = absl::StrCat("nats-n", i);
    nodes_.push_back(std::make_unique<NatsServer>(std::move(node)));
    if (i < static_cast<int>(options_.placements.size())) {
      nodes_.back()->Place(options_.placements[i]);
    }
  }
}

NatsCluster::~NatsCluster() { KillAll().IgnoreError(); }

absl::Status NatsCluster::Start() {
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  // All nodes first: none becomes ready alone (JetStream needs a quorum for its meta leader).
  for (auto& node : nodes_) {
    if (!node->IsRunning()) RETURN_IF_ERROR(node->Spawn());
  }
  for (auto& node : nodes_) {
    RETURN_IF_ERROR(node->WaitReady(std::max(deadline - absl::Now(), absl::Seconds(1))));
  }
  return WaitForJetStream(std::max(deadline - absl::Now(), absl::Seconds(1)));
}

absl::Status NatsCluster::Stop() {
  for (auto& node : nodes_) RETURN_IF_ERROR(node->Stop());
  return absl::OkStatus();
}

absl::Status NatsCluster::KillAll() {
  for (auto& node : nodes_) RETURN_IF_ERROR(node->Kill());
  return absl::OkStatus();
}

absl::Status NatsCluster::RestartAll() {
  RETURN_IF_ERROR(Stop());
  return Start();
}

absl::Status NatsCluster::WaitForJetStream(absl::Duration timeout, int replicas) {
  if (replicas <= 0) replicas = size();
  std::vector<std::string> urls;
  for (auto& node : nodes_) {
    if (node->IsRunning()) urls.push_back(node->url());
  }
  if (urls.empty()) return absl::FailedPreconditionError("NatsCluster: no node is running");
  std::mt19937 rng(std::random_device{}());
  return WaitForOk(
      [&]() -> absl::Status {
        ProbeConnection connection;
        RETURN_IF_ERROR(connection.Connect(urls));
        const std::string suffix = std::to_string(rng());
        const std::string stream = "GONKA_READY_" + suffix;
        const std::string subject = "_gonka.ready." + suffix;
        const char* subjects[] = {subject.c_str()};
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = stream.c_str();
        config.Subjects = subjects;
        config.SubjectsLen = 1;
        config.Storage = js_MemoryStorage;
        config.Replicas = replicas;
        jsStreamInfo* info = nullptr;
        jsErrCode error_code = static_cast<jsErrCode>(0);
        natsStatus s = js_AddStream(&info, connection.js(), &config, nullptr, &error_code);
        if (info != nullptr) jsStreamInfo_Destroy(info);
        if (s != NATS_OK) {
          return absl::UnavailableError(absl::StrCat("creating an R", replicas,
                                                     " stream: ", NatsError(s), " (js error ",
                                                     static_cast<int>(error_code), ")"));
        }
        js_DeleteStream(connection.js(), stream.c_str(), nullptr, &error_code);
        return absl::OkStatus();
      },
      timeout, absl::Milliseconds(200), absl::StrCat("an R", replicas, " JetStream stream"));
}

absl::StatusOr<int> NatsCluster::MetaLeaderIndex() {
  std::string leader;
  for (auto& node : nodes_) {
    if (!node->IsRunning()) continue;
    absl::StatusOr<std::string> seen = node->MetaLeader();
    if (!seen.ok()) continue;  // this node has not heard of a leader yet
    if (leader.empty()) {
      leader = *seen;
    } else if (leader != *seen) {
      return absl::NotFoundError(
          absl::StrCat("nodes disagree on the meta leader: ", leader, " vs ", *seen));
    }
  }
  if (leader.empty()) return absl::NotFoundError("no running node reports a meta leader");
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i]->server_name() == leader) {
      if (!nodes_[i]->IsRunning()) {
        return absl::NotFoundError(absl::StrCat("meta leader ", leader, " is not running"));
      }
      return i;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("meta leader ", leader, " is not a node of this cluster"));
}

absl::StatusOr<int> NatsCluster::WaitForMetaLeader(absl::Duration timeout, int not_index) {
  int index = -1;
  RETURN_IF_ERROR(WaitForOk(
      [&]() -> absl::Status {
        ASSIGN_OR_RETURN(index, MetaLeaderIndex());
        if (index == not_index) {
          return absl::NotFoundError(absl::StrCat("meta leader is still node ", index));
        }
        return absl::OkStatus();
      },
      timeout, absl::Milliseconds(100), "a JetStream meta leader"));
  return index;
}

std::vector<std::string> NatsCluster::url_list() const {
  std::vector<std::string> urls;
  for (const auto& node : nodes_) urls.push_back(node->url());
  return urls;
}

std::string NatsCluster::urls() const { return absl::StrJoin(url_list(), ","); }

}  // namespace testing
}  // namespace gonka
