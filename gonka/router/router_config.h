// RenderRouterConfig: deploy/haproxy/versiond-router.cfg.template filled in for a set of versiond
// hosts and version names — one `version_<name>` backend per version, every host in each with
// the same server name and ring id.
//
//   RouterConfig config;
//   config.bind = "0.0.0.0:8080";
//   config.admin_socket = "/run/haproxy/admin.sock";
//   config.versions = {"v0.2.11"};
//   config.hosts = {{.name = "h0", .address = "10.0.0.5:8080"},
//                   {.name = "h1", .address = "10.0.0.6:8080"}};
//   ASSIGN_OR_RETURN(std::string cfg, RenderRouterConfig(template_text, config));
//
// A host's ring id is its position in `hosts` plus 1 unless given: keep a host's slot (name and
// id) when replacing it, so it takes back the same escrows (HAProxy 2.6 places a server on the
// consistent-hash ring by its id).
//
// Errors: InvalidArgument naming the field — a version name that is not a plain path segment
// ([A-Za-z0-9._-]), a host name that is not [A-Za-z0-9_-], a duplicate name or id, an address
// without host:port, no version or no host, a template without the "#### version backend" marker
// or with a placeholder this function does not know. Thread-safety: a pure function.
#ifndef GONKA_ROUTER_ROUTER_CONFIG_H_
#define GONKA_ROUTER_ROUTER_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gonka {
namespace router {

struct RouterHost {
  std::string name;     // server name in every backend, e.g. "h0"
  std::string address;  // "ip:port" (or "dns-name:port") of the host's versiond
  int id = 0;           // ring id; 0 = position in RouterConfig::hosts + 1
};

struct RouterConfig {
  std::string bind = "0.0.0.0:8080";
  std::string admin_bind = "127.0.0.1:8405";
  std::string admin_socket = "/run/haproxy/admin.sock";
  int stream_idle_seconds = 3600;
  int64_t max_body_bytes = 8 << 20;
  std::vector<std::string> versions;
  std::vector<RouterHost> hosts;
};

absl::StatusOr<std::string> RenderRouterConfig(absl::string_view template_text,
                                               const RouterConfig& config);

}  // namespace router
}  // namespace gonka

#endif  // GONKA_ROUTER_ROUTER_CONFIG_H_
