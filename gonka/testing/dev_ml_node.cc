#include "gonka/testing/dev_ml_node.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/net/http_client.h"

namespace gonka {
namespace testing {

DevMlNode::DevMlNode(Options options) : inference_port_(FreePort()) {
  DaemonProcess::Options d;
  d.binary = "daemons/devmlnode/devmlnode";
  d.name = "devmlnode";
  d.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--inference-bind=127.0.0.1",
            absl::StrCat("--inference-port=", inference_port_),
            "--drain-announce=0s",
            "--shutdown-grace=2s",
            "--log-level=warn",
            absl::StrCat("--nonces-per-stage=", options.nonces_per_stage),
            absl::StrCat("--batch-size=", options.batch_size),
            absl::StrCat("--batch-interval=", options.batch_interval)};
  if (options.require_fencing) d.args.push_back("--require-fencing");
  if (!options.auth_token_file.empty()) {
    d.args.push_back(absl::StrCat("--auth-token-file=", options.auth_token_file));
  }
  for (std::string& a : options.extra_args) d.args.push_back(std::move(a));
  const int inference_port = inference_port_;
  d.ready = [inference_port](DaemonProcess& p) -> absl::Status {
    // The inference listener starts before the API one, so both answer once /healthz does.
    absl::StatusOr<HttpResponse> res = HttpGet(p.host(), p.port(), "/healthz", absl::Seconds(1));
    if (!res.ok()) return res.status();
    if (res->status != 200) return absl::UnavailableError(absl::StrCat("/healthz ", res->status));
    if (!TcpPortOpen("127.0.0.1", inference_port)) {
      return absl::UnavailableError("inference port not open");
    }
    return absl::OkStatus();
  };
  process_ = std::make_unique<DaemonProcess>(std::move(d));
}

absl::Status DevMlNode::Start() { return process_->Start(); }

std::string DevMlNode::inference_url() const {
  return absl::StrCat("http://127.0.0.1:", inference_port_);
}

absl::StatusOr<std::string> DevMlNode::CommandsJson() {
  absl::StatusOr<HttpResponse> res =
      HttpGet("127.0.0.1", process_->port(), "/debug/commands", absl::Seconds(5));
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return absl::InternalError(absl::StrCat("/debug/commands answered ", res->status));
  }
  return res->body;
}

absl::Status DevMlNode::SetFaults(absl::string_view json) {
  net::HttpClient http;
  absl::StatusOr<net::HttpResponse> res =
      http.Post(absl::StrCat(api_url(), "/debug/faults"), std::string(json), "application/json",
                net::HttpCallOptions::Timeout(absl::Seconds(5)));
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return absl::InternalError(
        absl::StrCat("/debug/faults answered ", res->status, ": ", res->body));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace gonka
