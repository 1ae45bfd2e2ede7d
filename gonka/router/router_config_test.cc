// RenderRouterConfig on the real template: what it fills in and what it refuses (the config
// HAProxy accepts is checked by router_integration_test, which starts HAProxy on it).
#include "gonka/router/router_config.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace router {
namespace {

using ::testing::HasSubstr;

std::string Template() {
  absl::StatusOr<std::string> path =
      testing::ResolveRunfile("deploy/haproxy/versiond-router.cfg.template");
  EXPECT_TRUE(path.ok()) << path.status();
  std::ifstream in(*path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RouterConfig TwoHosts() {
  RouterConfig config;
  config.bind = "127.0.0.1:18080";
  config.admin_bind = "127.0.0.1:18405";
  config.admin_socket = "/tmp/admin.sock";
  config.versions = {"v0.2.11", "v0.2.12"};
  config.hosts = {{.name = "h0", .address = "10.0.0.5:8080"},
                  {.name = "h1", .address = "10.0.0.6:8080", .id = 7}};
  return config;
}

TEST(RouterConfigTest, OneBackendPerVersionWithEveryHost) {
  absl::StatusOr<std::string> cfg = RenderRouterConfig(Template(), TwoHosts());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_THAT(*cfg, HasSubstr("backend version_v0.2.11\n"));
  EXPECT_THAT(*cfg, HasSubstr("backend version_v0.2.12\n"));
  EXPECT_THAT(*cfg, HasSubstr("uri /readyz?version=v0.2.12\n"));
  EXPECT_THAT(*cfg,
              HasSubstr("    server h0 10.0.0.5:8080 id 1\n    server h1 10.0.0.6:8080 id 7\n"));
  EXPECT_THAT(*cfg, HasSubstr("stats socket /tmp/admin.sock "));
  EXPECT_THAT(*cfg, HasSubstr("bind 127.0.0.1:18080\n"));
  EXPECT_FALSE(absl::StrContains(*cfg, "{{"));
  EXPECT_FALSE(absl::StrContains(*cfg, "\n#### version backend\n"));
}

TEST(RouterConfigTest, RefusesNamingTheField) {
  RouterConfig c = TwoHosts();
  c.versions = {"v1/../x"};
  EXPECT_THAT(RenderRouterConfig(Template(), c).status().message(), HasSubstr("versions[0]"));
  c = TwoHosts();
  c.hosts[1].name = "h0";
  EXPECT_THAT(RenderRouterConfig(Template(), c).status().message(), HasSubstr("hosts[1].name"));
  c = TwoHosts();
  c.hosts[0].address = "10.0.0.5";
  EXPECT_THAT(RenderRouterConfig(Template(), c).status().message(), HasSubstr("hosts[0].address"));
  c = TwoHosts();
  c.hosts[1].id = 1;
  EXPECT_THAT(RenderRouterConfig(Template(), c).status().message(), HasSubstr("hosts[1].id"));
  c = TwoHosts();
  c.versions.clear();
  EXPECT_EQ(RenderRouterConfig(Template(), c).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(RenderRouterConfig("global\n", TwoHosts()).status().message(),
              HasSubstr("#### version backend"));
  EXPECT_THAT(
      RenderRouterConfig("x {{NEW_THING}}\n#### version backend\n", TwoHosts()).status().message(),
      HasSubstr("{{NEW_THING}}"));
}

}  // namespace
}  // namespace router
}  // namespace gonka
