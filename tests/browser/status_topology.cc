#include "tests/browser/status_topology.h"

#include <sys/stat.h>

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/key.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/signer_env.h"
#include "gonka/txqueue/txqueue.h"
#include "simdjson.h"

namespace gonka {
namespace testing {
namespace {

// A well-known test mnemonic (never for real funds), funded in devchain's genesis: signerd's key.
constexpr char kWarm[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kChainId[] = "gonka-devnet";

// GET `url` as JSON; false when it does not answer 200 with JSON.
bool GetJson(net::HttpClient& http, const std::string& url, simdjson::dom::parser& parser,
             simdjson::dom::element* doc) {
  absl::StatusOr<net::HttpResponse> r = http.Get(url, {.timeout = absl::Milliseconds(800)});
  return r.ok() && r->status == 200 && parser.parse(r->body).get(*doc) == simdjson::SUCCESS;
}

}  // namespace

StatusTopology::StatusTopology() : dir_("status-topology") {}
StatusTopology::~StatusTopology() = default;

absl::Status StatusTopology::Start() {
  const std::string genesis = dir_.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                         R"(","balances":{"ngonka":"1000000000000"}}]})");
  const std::string key_file = dir_.Join("warm.key");
  std::ofstream(key_file) << kWarm << "\n";
  chmod(key_file.c_str(), 0600);

  if (absl::Status s = pg_.Start(); !s.ok()) return s;
  if (absl::Status s = nats_.Start(); !s.ok()) return s;
  DaemonProcess::Options d;
  d.binary = "daemons/devchain/devchain";
  d.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            absl::StrCat("--chain-id=", kChainId),
            "--block-interval=200ms",
            "--epoch-length=30",
            "--poc-stage-duration=6",
            "--poc-validation-duration=6",
            "--set-new-validators-delay=3",
            "--genesis=" + genesis,
            "--log-level=warn"};
  devchain_ = std::make_unique<DaemonProcess>(d);
  if (absl::Status s = devchain_->Start(); !s.ok()) return s;
  ml_ = std::make_unique<DevMlNode>(DevMlNode::Options{.require_fencing = true});
  if (absl::Status s = ml_->Start(); !s.ok()) return s;

  // Ports chosen first, so the services file can list every daemon before any starts.
  const int edge_ports[2] = {FreePort(), FreePort()};
  const int signer_port = FreePort();
  const int manager_port = FreePort();
  auto url = [](int port) { return absl::StrCat("http://127.0.0.1:", port); };
  services_file_ = dir_.Join("status-services.json");
  std::ofstream(services_file_) << absl::StrCat(
      R"({"services":[)", R"({"name":"edge-api-0","kind":"edge-api","url":")", url(edge_ports[0]),
      R"("},{"name":"edge-api-1","kind":"edge-api","url":")", url(edge_ports[1]),
      R"("},{"name":"signerd-0","kind":"signerd","url":")", url(signer_port),
      R"("},{"name":"node-manager-0","kind":"node-manager","url":")", url(manager_port),
      R"("},{"name":"devmlnode-0","kind":"devmlnode","url":")", ml_->api_url(),
      R"("},{"name":"devchain","kind":"devchain","url":")", devchain_->url(), R"("}]})");

  for (int i = 0; i < 2; ++i) {
    DaemonProcess::Options e;
    e.binary = "daemons/edge-api/edge-api";
    e.port = edge_ports[i];
    e.name = absl::StrCat("edge-api-", i);
    e.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--drain-announce=0s",
              absl::StrCat("--chain-id=", kChainId),
              absl::StrCat("--chain-rpc-url=", devchain_->url()),
              absl::StrCat("--nats-url=", nats_.url()),
              "--coordination=nats",
              absl::StrCat("--identity=edge-api-", i),
              "--start-height=1",
              "--status-services-file=" + services_file_,
              "--status-poll-interval=500ms",
              "--log-level=warn"};
    edge_apis_.push_back(std::make_unique<DaemonProcess>(e));
    if (absl::Status s = edge_apis_.back()->Start(); !s.ok()) return s;
  }

  DaemonProcess::Options s;
  s.binary = "daemons/signerd/signerd";
  s.port = signer_port;
  s.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            absl::StrCat("--chain-id=", kChainId),
            "--key-file=" + key_file,
            absl::StrCat("--chain-rpc-url=", devchain_->url()),
            absl::StrCat("--nats-url=", nats_.url()),
            absl::StrCat("--pg-url=", pg_.url()),
            "--retry-delay=500ms",
            "--allowed-msg-types=gonka,/gonka.devchain.v1.MsgRecord",
            "--log-level=warn"};
  signerd_ = std::make_unique<DaemonProcess>(s);
  if (absl::Status st = signerd_->Start(); !st.ok()) return st;

  const std::string nodes_file = dir_.Join("ml-nodes.json");
  std::ofstream(nodes_file) << absl::StrCat(R"([{"id":"ml-0","api_url":")", ml_->api_url(),
                                            R"(","inference_url":")", ml_->inference_url(),
                                            R"(","model":"Qwen/Qwen3-8B"}])");
  DaemonProcess::Options m;
  m.binary = "daemons/node-manager/node-manager";
  m.port = manager_port;
  m.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            "--participant=gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du",
            "--public-key=AtestKey",
            "--ml-nodes-file=" + nodes_file,
            absl::StrCat("--chain-rpc-url=", devchain_->url()),
            absl::StrCat("--nats-url=", nats_.url()),
            "--coordination=nats",
            "--command-timeout=2s",
            "--identity=node-manager-0",
            "--log-level=warn"};
  node_manager_ = std::make_unique<DaemonProcess>(m);
  if (absl::Status st = node_manager_->Start(); !st.ok()) return st;

  // Both leaders in place (the event hub emits, the node-manager follows the stream).
  net::HttpClient http;
  simdjson::dom::parser parser;
  absl::Status leaders = WaitFor(
      [&] {
        if (EventHubLeader() < 0) return false;
        simdjson::dom::element doc;
        bool leader = false;
        return GetJson(http, node_manager_->url() + "/v1/node-manager/status", parser, &doc) &&
               doc["leader"].get_bool().get(leader) == simdjson::SUCCESS && leader;
      },
      absl::Seconds(30));
  if (!leaders.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("no event hub or node-manager leader within 30 s: ", leaders.message()));
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> StatusTopology::Services() {
  return {{"edge-api-0", edge_apis_[0]->url()},   {"edge-api-1", edge_apis_[1]->url()},
          {"signerd-0", signerd_->url()},         {"node-manager-0", node_manager_->url()},
          {"devmlnode-0", ml_->api_url()},        {"devchain", devchain_->url()}};
}

int StatusTopology::EventHubLeader() {
  net::HttpClient http;
  simdjson::dom::parser parser;
  for (int i = 0; i < static_cast<int>(edge_apis_.size()); ++i) {
    if (!edge_apis_[i]->IsRunning()) continue;
    simdjson::dom::element doc;
    bool leader = false;
    if (GetJson(http, edge_apis_[i]->url() + "/v1/status", parser, &doc) &&
        doc["leader"].get_bool().get(leader) == simdjson::SUCCESS && leader) {
      return i;
    }
  }
  return -1;
}

absl::Status StatusTopology::EnqueueDisallowedTx(const std::string& idempotency_key) {
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = {nats_.url()}});
  if (!js.ok()) return js.status();
  txqueue::TxQueue queue(js->get());
  txqueue::ChainTx tx;
  tx.set_idempotency_key(idempotency_key);
  google::protobuf::Any* msg = tx.add_messages();
  msg->set_type_url("/cosmos.bank.v1beta1.MsgMultiSend");
  msg->set_value("");
  absl::StatusOr<txqueue::EnqueueResult> r = queue.Enqueue(tx);
  return r.status();
}

absl::Status StatusTopology::EnqueueRecordTx(const std::string& idempotency_key) {
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(kWarm, crypto::KeyOptions());
  if (!key.ok()) return key.status();
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = {nats_.url()}});
  if (!js.ok()) return js.status();
  txqueue::TxQueue queue(js->get());
  return queue.Enqueue(signer::RecordRequest(key->address(), idempotency_key, "status-test"))
      .status();
}

std::string StatusTopology::Logs() {
  std::string out;
  auto add = [&](const std::string& name, const std::string& tail) {
    absl::StrAppend(&out, "--- ", name, ":\n", tail, "\n");
  };
  if (devchain_) add("devchain", devchain_->LogTail(1500));
  for (size_t i = 0; i < edge_apis_.size(); ++i) {
    add(absl::StrCat("edge-api-", i), edge_apis_[i]->LogTail(1500));
  }
  if (signerd_) add("signerd", signerd_->LogTail(1500));
  if (node_manager_) add("node-manager", node_manager_->LogTail(1500));
  if (ml_) add("devmlnode", ml_->LogTail());
  return out;
}

}  // namespace testing
}  // namespace gonka
