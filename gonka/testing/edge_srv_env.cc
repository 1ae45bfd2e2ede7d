#include "gonka/testing/edge_srv_env.h"

#include <sys/stat.h>

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/net/http_client.h"
#include "gonka/signer/sequencer.h"

namespace gonka {
namespace testing {

EdgeSrvTestEnv::EdgeSrvTestEnv() = default;
EdgeSrvTestEnv::~EdgeSrvTestEnv() = default;

absl::Status EdgeSrvTestEnv::Start(EdgeSrvTestEnvOptions options) {
  absl::StatusOr<crypto::SigningKey> cold = crypto::KeyFromMnemonic(kColdMnemonic, {});
  absl::StatusOr<crypto::SigningKey> warm = crypto::KeyFromMnemonic(kWarmMnemonic, {});
  if (!cold.ok()) return cold.status();
  if (!warm.ok()) return warm.status();
  cold_ = std::make_unique<crypto::SigningKey>(*std::move(cold));
  warm_ = std::make_unique<crypto::SigningKey>(*std::move(warm));
  const std::string genesis = dir_.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kColdMnemonic,
                                         R"(","balances":{"ngonka":"1000000000000"}},)",
                                         R"({"mnemonic":")", kWarmMnemonic,
                                         R"(","balances":{"ngonka":"1000"}}]})");
  const std::string warm_key_file = dir_.Join("warm.key");
  std::ofstream(warm_key_file) << kWarmMnemonic << "\n";
  chmod(warm_key_file.c_str(), 0600);

  if (absl::Status s = pg_.Start(); !s.ok()) return s;
  hub_ = std::make_unique<ChainHub>(
      ChainHubOptions{.devchain_args = {"--block-interval=100ms", "--epoch-length=100",
                                        "--poc-stage-duration=40", "--poc-validation-duration=20",
                                        "--set-new-validators-delay=3", "--genesis=" + genesis}});
  if (absl::Status s = hub_->Start(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("chain hub: ", s.message(), "\n", hub_->Logs()));
  }
  comet_ = std::make_unique<chain::CometClient>(
      chain::CometClientOptions{.rpc_url = hub_->devchain().url(), .timeout = absl::Seconds(5)});

  if (!options.grants.empty()) {
    absl::StatusOr<signer::AccountInfo> account = signer::QueryAccount(*comet_, cold_->address());
    if (!account.ok()) return account.status();
    cosmos::TxBuilder grant;
    for (const std::string& type : options.grants) {
      grant.AddMessage(cosmos::MakeGenericGrant(cold_->address(), warm_->address(), type));
    }
    grant.SetChainId("gonka-devnet")
        .SetAccountNumber(account->account_number)
        .SetSequence(account->sequence)
        .SetFee({{}, 400000, "", ""});
    absl::StatusOr<cosmos::SignedTx> signed_grant = grant.Sign(*cold_);
    if (!signed_grant.ok()) return signed_grant.status();
    absl::StatusOr<chain::BroadcastResponse> sent = comet_->BroadcastTxSync(signed_grant->tx_raw);
    if (!sent.ok()) return sent.status();
    if (sent->code != 0) {
      return absl::InternalError(absl::StrCat("grant tx: code ", sent->code, ": ", sent->log));
    }
  }

  DaemonProcess::Options s;
  s.binary = "daemons/signerd/signerd";
  s.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            "--chain-id=gonka-devnet",
            "--key-file=" + warm_key_file,
            "--exec-granter=" + cold_->address(),
            absl::StrCat("--chain-rpc-url=", hub_->devchain().url()),
            absl::StrCat("--nats-url=", hub_->nats().url()),
            absl::StrCat("--pg-url=", pg_.url()),
            "--retry-delay=500ms",
            "--log-level=warn"};
  s.args.insert(s.args.end(), options.signerd_args.begin(), options.signerd_args.end());
  signerd_ = std::make_unique<DaemonProcess>(s);
  if (absl::Status st = signerd_->Start(); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("signerd: ", st.message()));
  }

  const std::string admin_tokens = dir_.Join("admin.tokens");
  std::ofstream(admin_tokens) << "operator " << kToken << "\n";
  chmod(admin_tokens.c_str(), 0600);
  for (int i = 0; i < options.replicas; ++i) {
    DaemonProcess::Options e;
    e.binary = "daemons/edge-srv/edge-srv";
    e.name = absl::StrCat("edge-srv-", i);
    e.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=0s",
              absl::StrCat("--nats-url=", hub_->nats().url()),
              absl::StrCat("--pg-url=", pg_.url()),
              "--participant=" + cold_->address(),
              "--admin-token-file=" + admin_tokens};
    if (options.replica_args) options.replica_args(i, &e.args);
    replicas_.push_back(std::make_unique<DaemonProcess>(e));
    if (absl::Status st = replicas_.back()->Start(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(e.name, ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

int64_t EdgeSrvTestEnv::Height() {
  absl::StatusOr<chain::CometStatus> st = comet_->Status();
  return st.ok() ? st->latest_height : int64_t{0};
}

absl::StatusOr<net::HttpResponse> EdgeSrvTestEnv::Admin(int replica, const std::string& method,
                                                        const std::string& path,
                                                        const std::string& body, bool token,
                                                        const net::HttpHeaders& headers) {
  if (!http_) http_ = std::make_unique<net::HttpClient>();
  net::HttpCallOptions options = net::HttpCallOptions::Timeout(absl::Seconds(5));
  options.headers = headers;
  if (token) options.headers.Set("Authorization", absl::StrCat("Bearer ", kToken));
  const std::string url = absl::StrCat(replicas_[replica]->url(), "/admin/v1/", path);
  return method == "GET" ? http_->Get(url, options)
                         : http_->Post(url, body, "application/json", options);
}

std::string EdgeSrvTestEnv::Logs() const {
  std::string logs = hub_ ? hub_->Logs() : "";
  if (signerd_) absl::StrAppend(&logs, "\n--- signerd\n", signerd_->LogTail());
  for (const auto& r : replicas_) absl::StrAppend(&logs, "\n--- edge-srv\n", r->LogTail());
  return logs;
}

}  // namespace testing
}  // namespace gonka
