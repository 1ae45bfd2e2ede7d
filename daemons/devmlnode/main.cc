// devmlnode: the development ML node — Gonka's ML-node management API (state machine, PoC v2
// stand-in artifacts POSTed to the callback URL, fencing-token checks, command log, fault knobs)
// on the public port and the inference server's /health and /v1/models on --inference-port. See
// docs/devmlnode.md.
//
//   devmlnode --port=8080 --inference-port=5000 --require-fencing --nonces-per-stage=64
#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/log.h"
#include "gonka/base/secret_file.h"
#include "gonka/devmlnode/dev_ml_node.h"
#include "gonka/drain/daemon.h"
#include "gonka/net/http_server.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "devmlnode", .default_port = 8080, .default_bind = "127.0.0.1"});
  gonka::devmlnode::DevMlNodeOptions o;
  gonka::Config& config = daemon.config();
  std::string inference_bind;
  int inference_port = 0;
  config.AddString("inference-bind", &inference_bind, "127.0.0.1",
                   "address of the inference listener (/health, /v1/models)");
  config.AddPort("inference-port", &inference_port, 5000,
                 "inference listener port (0 = any free port, logged)");
  config
      .AddInt("nonces-per-stage", &o.nonces_per_stage, 64,
              "stand-in artifacts one pow/init/generate delivers")
      .Range(0, 100000);
  config.AddInt("batch-size", &o.batch_size, 16, "artifacts per callback POST").Range(1, 10000);
  config.AddDuration("batch-interval", &o.batch_interval, absl::Milliseconds(20),
                     "pause between callback batches");
  config.AddInt("k-dim", &o.k_dim, 12, "fp16 values per artifact vector").Range(1, 4096);
  config.AddBool("require-fencing", &o.require_fencing, false,
                 "refuse mutating commands without X-Gonka-Fencing-Token (409)");
  std::string versions;
  config.AddString("versions", &versions, "",
                   "comma-separated ML-node versions also answered at GET "
                   "/<version>/api/v1/state (Gonka's versioned URLs)");
  std::string auth_token_file;
  config.AddString("auth-token-file", &auth_token_file, "",
                   "file (0600) with the bearer token every ML-node request must carry; "
                   "empty = no auth");
  config.AddInt("callback-attempts", &o.callback_attempts, 5, "tries per callback POST")
      .Range(1, 100);
  config
      .AddDuration("callback-timeout", &o.callback_timeout, absl::Seconds(5),
                   "deadline of one callback POST")
      .Positive();
  config.AddDuration("fault-slow", &o.faults.slow, absl::ZeroDuration(),
                     "fault: delay every ML-node API answer by this much");
  config
      .AddInt("fault-refuse", &o.faults.refuse_status, 0,
              "fault: answer every ML-node API request with this 5xx status (0 = off)")
      .Check([](absl::string_view raw) -> std::string {
        return raw == "0" || (raw.size() == 3 && raw[0] == '5') ? "" : "must be 0 or a 5xx code";
      });
  config.AddBool("fault-garbage", &o.faults.garbage, false,
                 "fault: answer every ML-node API request with 200 and a non-JSON body");
  config
      .AddInt("fault-crash-after", &o.faults.crash_after, 0,
              "fault: exit (code 86) on the Nth ML-node API request, unanswered (0 = off)")
      .NonNegative();
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (!auth_token_file.empty()) {
    absl::StatusOr<std::string> token = gonka::ReadSecretFile(auth_token_file, "--auth-token-file");
    if (!token.ok()) return daemon.ConfigError(token.status().message());
    o.auth_token = *token;
  }
  if (!versions.empty()) o.versions = absl::StrSplit(versions, ',');
  if (absl::Status s = gonka::devmlnode::DevMlNode::Validate(o); !s.ok()) {
    return daemon.ConfigError(s.message());
  }

  gonka::devmlnode::DevMlNode node(o);
  node.RegisterApi(daemon.server());
  gonka::net::HttpServer inference(
      {.name = "devmlnode-inference", .bind_address = inference_bind, .port = inference_port});
  node.RegisterInference(inference);
  if (absl::Status s = inference.Start(); !s.ok()) return daemon.Fail(s);
  GONKA_LOG_INFO("devmlnode inference listening", {"port", inference.port()});
  daemon.drain().AddShutdownHook("devmlnode", [&] {
    node.Shutdown();
    inference.Stop(absl::Now() + absl::Seconds(1));
  });
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
