#include "gonka/router/router_config.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace gonka {
namespace router {
namespace {

constexpr absl::string_view kMarker = "#### version backend\n";

bool AllOf(absl::string_view s, absl::string_view extra) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        extra.find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool HostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  return colon != absl::string_view::npos && colon > 0 &&
         absl::SimpleAtoi(address.substr(colon + 1), &port) && port > 0 && port < 65536 &&
         address.find_first_of(" \t\n") == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<std::string> RenderRouterConfig(absl::string_view template_text,
                                               const RouterConfig& config) {
  const size_t marker = template_text.find(kMarker);
  if (marker == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("router template: no \"", absl::StripAsciiWhitespace(kMarker), "\" line"));
  }
  if (config.versions.empty()) return absl::InvalidArgumentError("router config: versions empty");
  if (config.hosts.empty()) return absl::InvalidArgumentError("router config: hosts empty");
  if (config.stream_idle_seconds <= 0) {
    return absl::InvalidArgumentError("router config: stream_idle_seconds must be positive");
  }
  if (config.max_body_bytes <= 0) {
    return absl::InvalidArgumentError("router config: max_body_bytes must be positive");
  }
  std::string servers;
  std::set<std::string> names;
  std::set<int> ids;
  for (size_t i = 0; i < config.hosts.size(); ++i) {
    const RouterHost& host = config.hosts[i];
    const int id = host.id > 0 ? host.id : static_cast<int>(i) + 1;
    if (!AllOf(host.name, "_-")) {
      return absl::InvalidArgumentError(absl::StrCat("router config: hosts[", i, "].name \"",
                                                     host.name, "\" (want [A-Za-z0-9_-]+)"));
    }
    if (!HostPort(host.address)) {
      return absl::InvalidArgumentError(absl::StrCat("router config: hosts[", i, "].address \"",
                                                     host.address, "\" (want host:port)"));
    }
    if (!names.insert(host.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("router config: hosts[", i, "].name ", host.name, " twice"));
    }
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("router config: hosts[", i, "].id ", id, " twice"));
    }
    absl::StrAppend(&servers, "    server ", host.name, " ", host.address, " id ", id, "\n");
  }
  const std::string block(template_text.substr(marker + kMarker.size()));
  std::string backends;
  std::set<std::string> seen;
  for (size_t i = 0; i < config.versions.size(); ++i) {
    const std::string& version = config.versions[i];
    if (!AllOf(version, "._-")) {
      return absl::InvalidArgumentError(absl::StrCat("router config: versions[", i, "] \"", version,
                                                     "\" (want [A-Za-z0-9._-]+)"));
    }
    if (!seen.insert(version).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("router config: versions[", i, "] ", version, " twice"));
    }
    absl::StrAppend(
        &backends, absl::StrReplaceAll(block, {{"{{VERSION}}", version}, {"{{SERVERS}}", servers}}),
        "\n");
  }
  // Every placeholder of the template must be one this function fills (a template from a newer
  // release with a new placeholder must not render half-filled).
  static const std::set<std::string> kKnown = {"BACKENDS",     "BIND",        "ADMIN_BIND",
                                               "ADMIN_SOCKET", "STREAM_IDLE", "MAX_BODY_BYTES",
                                               "VERSION",      "SERVERS"};
  for (size_t open = template_text.find("{{"); open != absl::string_view::npos;
       open = template_text.find("{{", open + 2)) {
    const size_t close = template_text.find("}}", open);
    const std::string name(template_text.substr(
        open + 2, close == absl::string_view::npos ? absl::string_view::npos : close - open - 2));
    if (close == absl::string_view::npos || kKnown.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("router template: unknown placeholder {{", name.substr(0, 40), "}}"));
    }
  }
  std::string out =
      absl::StrReplaceAll(template_text.substr(0, marker),
                          {{"{{BACKENDS}}", backends},
                           {"{{BIND}}", config.bind},
                           {"{{ADMIN_BIND}}", config.admin_bind},
                           {"{{ADMIN_SOCKET}}", config.admin_socket},
                           {"{{STREAM_IDLE}}", absl::StrCat(config.stream_idle_seconds)},
                           {"{{MAX_BODY_BYTES}}", absl::StrCat(config.max_body_bytes)}});
  return out;
}

}  // namespace router
}  // namespace gonka
