#include "gonka/testing/nginx.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace testing {
namespace {

// {{DIR}}, {{PORT}}, {{UPSTREAM}}, {{CERT}}, {{KEY}} are substituted.
constexpr char kConfig[] = R"(daemon off;
master_process off;
worker_processes 1;
pid {{DIR}}/nginx.pid;
error_log stderr notice;

events {
  worker_connections 512;
}

http {
  access_log off;
  client_body_temp_path {{DIR}}/client_body;
  proxy_temp_path {{DIR}}/proxy;
  fastcgi_temp_path {{DIR}}/fastcgi;
  uwsgi_temp_path {{DIR}}/uwsgi;
  scgi_temp_path {{DIR}}/scgi;

  # WebSocket upgrades pass through; other requests reuse upstream keep-alive connections.
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' '';
  }
  upstream backend {
    server {{UPSTREAM}};
    keepalive 16;
  }
  server {
    listen 127.0.0.1:{{PORT}} ssl;
    ssl_certificate {{CERT}};
    ssl_certificate_key {{KEY}};
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    client_max_body_size 64m;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
)";

}  // namespace

NginxServer::NginxServer(Options options)
    : ServerFixture(options.name, options.port, options.start_timeout),
      options_(std::move(options)) {
  options_.port = port();
}

std::string NginxServer::url() const { return absl::StrCat("https://127.0.0.1:", port()); }

std::string NginxServer::localhost_url() const {
  return absl::StrCat("https://localhost:", port());
}

std::string NginxServer::config_path() const { return dir() + "/nginx.conf"; }

absl::Status NginxServer::Prepare() {
  if (options_.upstream.empty() || options_.cert_file.empty() || options_.key_file.empty()) {
    return absl::InvalidArgumentError("NginxServer: upstream, cert_file and key_file are required");
  }
  const std::string config = absl::StrReplaceAll(kConfig, {{"{{DIR}}", dir()},
                                                           {"{{PORT}}", std::to_string(port())},
                                                           {"{{UPSTREAM}}", options_.upstream},
                                                           {"{{CERT}}", options_.cert_file},
                                                           {"{{KEY}}", options_.key_file}});
  {
    std::ofstream out(config_path());
    out << config;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", config_path()));
  }
  SubprocessOptions check;
  check.argv = {"nginx", "-t", "-q", "-e", "stderr", "-p", dir(), "-c", config_path()};
  check.log_path = dir() + "/nginx-check.log";
  check.working_dir = dir();
  Subprocess process(check);
  RETURN_IF_ERROR(process.Start());
  ASSIGN_OR_RETURN(int code, process.Wait(absl::Seconds(30)));
  if (code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("nginx -t -c ", config_path(),
                                                   " rejected the config (exit ", code, "):\n",
                                                   process.LogTail(), "\nconfig:\n", config));
  }
  return absl::OkStatus();
}

SubprocessOptions NginxServer::ProcessOptions() {
  SubprocessOptions options;
  // -e: the error log before the config is read (the default path is /var/log/nginx).
  options.argv = {"nginx", "-e", "stderr", "-p", dir(), "-c", config_path()};
  options.working_dir = dir();
  return options;
}

absl::Status NginxServer::Probe() {
  if (!TcpPortOpen(host(), port())) {
    return absl::UnavailableError(absl::StrCat("nginx: ", address(), " not accepting yet"));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace gonka
