// EdgeSrvTestEnv: the node edge-srv's integration tests run against — devchain with its block
// stream (nats-server + edge-api), PostgreSQL, one signerd holding the warm key and executing for
// the cold account (which granted it the messages the test names), and N edge-srv replicas for
// the cold account with admin tokens. Test-only (testonly).
//
//   EdgeSrvTestEnv env;
//   ASSERT_TRUE(env.Start({.grants = {kMsgSubmitUnitOfComputePriceProposal},
//                          .replica_args = [](int i, std::vector<std::string>* args) {
//                            if (i == 0) args->push_back("--epoch-length=100");
//                          }}).ok()) << env.Logs();
//   absl::StatusOr<net::HttpResponse> r = env.Admin(0, "GET", "poc/timing");
//
// Start() returns the first failure naming the step (and, for a daemon, with its log tail); the
// destructor stops every process. Thread-safety: drive from one thread.
#ifndef GONKA_TESTING_EDGE_SRV_ENV_H_
#define GONKA_TESTING_EDGE_SRV_ENV_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/net/http_message.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace net {
class HttpClient;
}  // namespace net
namespace testing {

struct EdgeSrvTestEnvOptions {
  // Message type URLs the cold account grants the warm key (authz generic grants), so signerd
  // can execute them for it.
  std::vector<std::string> grants;
  int replicas = 2;
  // Flags added to replica i's (bind, port, NATS, PostgreSQL, --participant and
  // --admin-token-file are set).
  std::function<void(int replica, std::vector<std::string>* args)> replica_args;
  // Flags added to signerd's (chain, NATS, PostgreSQL, key and --exec-granter are set).
  std::vector<std::string> signerd_args;
};

class EdgeSrvTestEnv {
 public:
  // The accounts' mnemonics and the admin bearer token the replicas accept.
  static constexpr char kColdMnemonic[] =
      "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
  static constexpr char kWarmMnemonic[] =
      "oyster design unusual machine spread century engine gravity focus cave carry slot";
  static constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

  EdgeSrvTestEnv();
  ~EdgeSrvTestEnv();

  // devchain (100 ms blocks, 100-block epochs, a 40-block PoC stage, 20 validation blocks; the
  // cold account rich, the warm one with 1000 ngonka), the grant tx included, PostgreSQL,
  // signerd, the replicas.
  absl::Status Start(EdgeSrvTestEnvOptions options);

  const crypto::SigningKey& cold() const { return *cold_; }
  const crypto::SigningKey& warm() const { return *warm_; }
  TempDir& dir() { return dir_; }
  PostgresServer& pg() { return pg_; }
  ChainHub& hub() { return *hub_; }
  chain::CometClient& comet() { return *comet_; }
  DaemonProcess& signerd() { return *signerd_; }
  DaemonProcess& replica(int i) { return *replicas_[i]; }
  // The latest height devchain reports, 0 when it does not answer.
  int64_t Height();

  // `method` (GET or POST) /admin/v1/`path` on replica i, with the bearer token unless `token`
  // is false; `headers` added.
  absl::StatusOr<net::HttpResponse> Admin(int replica, const std::string& method,
                                          const std::string& path, const std::string& body = "",
                                          bool token = true, const net::HttpHeaders& headers = {});

  // The tails of the hub's, signerd's and each replica's logs.
  std::string Logs() const;

 private:
  TempDir dir_;
  std::unique_ptr<crypto::SigningKey> cold_, warm_;
  PostgresServer pg_;
  std::unique_ptr<ChainHub> hub_;
  std::unique_ptr<chain::CometClient> comet_;
  std::unique_ptr<DaemonProcess> signerd_;
  std::vector<std::unique_ptr<DaemonProcess>> replicas_;
  std::unique_ptr<net::HttpClient> http_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_EDGE_SRV_ENV_H_
