#include "daemons/versiond/versiond_env.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/net/http_client.h"

namespace gonka {
namespace versiond_testing {

std::string Runfile(absl::string_view path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir != nullptr) {
    return absl::StrCat(srcdir, "/", workspace ? workspace : "", "/", path);
  }
  // A binary run from bazel-bin: its runfiles tree, else the workspace's bazel-bin.
  std::string self(4096, '\0');
  ssize_t n = readlink("/proc/self/exe", self.data(), self.size());
  self.resize(n > 0 ? static_cast<size_t>(n) : 0);
  std::string runfiles = self + ".runfiles/" + (workspace ? workspace : "libgonka");
  std::ifstream probe(absl::StrCat(runfiles, "/", path));
  if (probe) return absl::StrCat(runfiles, "/", path);
  return absl::StrCat("bazel-bin/", path);
}

VersiondEnv::VersiondEnv(absl::string_view name)
    : dir_(absl::StrCat("versiond-", name)),
      oracle_({.name = "oracle", .port = 0, .threads = 1, .handler_threads = 4}) {
  oracle_.Handle("GET", "/oracle.json", [this](const net::HttpRequest&) {
    absl::MutexLock lock(&mu_);
    return net::HttpResponse::Json(200, oracle_body_);
  });
  oracle_.Handle("GET", "/bin/*", [this](const net::HttpRequest& r) {
    std::string file = r.target.substr(5);
    if (absl::StrContains(file, "/") || absl::StrContains(file, "..")) {
      return net::HttpResponse::Text(400, "bad file");
    }
    std::ifstream in(dir_.Join(absl::StrCat("variants/", file)), std::ios::binary);
    if (!in) return net::HttpResponse::Text(404, "no such binary");
    std::stringstream ss;
    ss << in.rdbuf();
    net::HttpResponse res;
    res.status = 200;
    res.headers.Set("Content-Type", "application/octet-stream");
    res.body = ss.str();
    return res;
  });
  oracle_.Start().IgnoreError();
}

VersiondEnv::~VersiondEnv() {
  if (versiond_ != nullptr) versiond_->Kill().IgnoreError();
  oracle_.Stop(absl::Now());
}

Variant VersiondEnv::MakeVariant(absl::string_view label, absl::string_view mode) {
  mkdir(dir_.Join("variants").c_str(), 0755);
  Variant v;
  v.file = absl::StrCat("devchild-", label, "-", mode, "-", variants_++);
  v.path = dir_.Join(absl::StrCat("variants/", v.file));
  std::string cmd = absl::StrCat(Runfile("daemons/devchild/devchild"), " --make-variant ", v.path,
                                 " --label ", label, " --mode ", mode);
  FILE* p = popen(cmd.c_str(), "r");
  if (p != nullptr) {
    char buf[128] = {0};
    if (fgets(buf, sizeof(buf), p) != nullptr) {
      v.sha256 = std::string(absl::StripAsciiWhitespace(buf));
    }
    pclose(p);
  }
  return v;
}

void VersiondEnv::SetOracle(const std::vector<OracleEntry>& versions) {
  JsonWriter w;
  w.BeginObject().Key("versions").BeginArray();
  for (const OracleEntry& e : versions) {
    w.BeginObject()
        .Key("name")
        .String(e.name)
        .Key("binary")
        .String(absl::StrCat("http://127.0.0.1:", oracle_.port(), "/bin/", e.binary.file))
        .Key("sha256")
        .String(e.sha256_override.empty() ? e.binary.sha256 : e.sha256_override)
        .EndObject();
  }
  w.EndArray().EndObject();
  absl::MutexLock lock(&mu_);
  oracle_body_ = w.Take();
}

std::string VersiondEnv::OracleUrl() const {
  return absl::StrCat("http://127.0.0.1:", oracle_.port(), "/oracle.json");
}

std::string VersiondEnv::Url(absl::string_view path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

absl::Status VersiondEnv::StartVersiond(std::vector<std::string> extra_flags,
                                        std::map<std::string, std::string> env, bool wait_ready) {
  if (port_ == 0) port_ = testing::FreePort();
  if (first_child_port_ == 0) first_child_port_ = testing::FreePort();
  testing::SubprocessOptions o;
  o.argv = {Runfile("daemons/versiond/versiond"), absl::StrCat("--port=", port_),
            absl::StrCat("--oracle-url=", OracleUrl()),
            absl::StrCat("--bin-dir=", dir_.Join("bin")),
            absl::StrCat("--data-dir=", dir_.Join("data")),
            // Away from 5000, where other tests' versiond children may be running.
            absl::StrCat("--first-child-port=", first_child_port_), "--poll-interval=200ms",
            "--ready-timeout=5s", "--drain-announce=0s", "--drain-timeout=20s",
            "--drain-poll-interval=50ms", "--drain-kill-grace=5s", "--child-shutdown-grace=5s",
            "--host-shutdown-budget=30s",
            // Children start at full priority: several tests give them 1-2 s to get ready, which
            // a niced start on a loaded test machine can miss (a flag given later wins).
            "--starting-nice=0"};
  o.argv.insert(o.argv.end(), extra_flags.begin(), extra_flags.end());
  o.env = {{"DEVCHILD_STORAGE_MODE", "postgres"}};
  for (auto& [k, v] : env) o.env[k] = v;
  o.log_path = dir_.Join("versiond.log");
  versiond_ = std::make_unique<testing::Subprocess>(o);
  if (absl::Status s = versiond_->Start(); !s.ok()) return s;
  if (!wait_ready) return absl::OkStatus();
  net::HttpClient http;
  return testing::WaitFor(
      [&] {
        auto r = http.Get(Url("/readyz"), net::HttpCallOptions::Timeout(absl::Seconds(2)));
        return r.ok() && r->status == 200;
      },
      absl::Seconds(30), absl::Milliseconds(50), "versiond /readyz 200");
}

std::string VersiondEnv::Log() const {
  std::ifstream in(dir_.Join("versiond.log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double VersiondEnv::Metric(absl::string_view prefix) {
  net::HttpClient http;
  auto r = http.Get(Url("/metrics"), net::HttpCallOptions::Timeout(absl::Seconds(5)));
  if (!r.ok() || r->status != 200) return -1;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (!absl::StartsWith(line, prefix)) continue;
    size_t space = line.rfind(' ');
    double v = 0;
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &v)) return v;
  }
  return -1;
}

}  // namespace versiond_testing
}  // namespace gonka
