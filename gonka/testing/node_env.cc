#include "gonka/testing/node_env.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/net/http_client.h"
#include "simdjson.h"

namespace gonka {
namespace testing {

ChainHub::ChainHub(ChainHubOptions options) : options_(std::move(options)), dir_("chain-hub") {}

absl::Status ChainHub::Start() {
  DaemonProcess::Options d;
  d.binary = "daemons/devchain/devchain";
  d.args = {"--bind=127.0.0.1", "--port={{PORT}}", "--drain-announce=0s",
            "--chain-id=" + options_.chain_id};
  std::string grpc_address;
  if (options_.grpc) {
    grpc_address = absl::StrCat("127.0.0.1:", FreePort());
    d.args.push_back("--grpc-address=" + grpc_address);
  }
  if (!options_.genesis_json.empty()) {
    std::string genesis = dir_.Join("genesis.json");
    std::ofstream(genesis) << options_.genesis_json;
    d.args.push_back("--genesis=" + genesis);
  }
  d.args.insert(d.args.end(), options_.devchain_args.begin(), options_.devchain_args.end());
  devchain_ = std::make_unique<DaemonProcess>(d);
  if (absl::Status s = devchain_->Start(); !s.ok()) return s;
  if (absl::Status s = nats_.Start(); !s.ok()) return s;
  DaemonProcess::Options e;
  e.binary = "daemons/edge-api/edge-api";
  e.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            "--chain-id=" + options_.chain_id,
            absl::StrCat("--chain-rpc-url=", devchain_->url()),
            absl::StrCat("--nats-url=", nats_.url()),
            "--coordination=nats",
            "--identity=hub",
            "--log-level=warn"};
  if (!grpc_address.empty()) e.args.push_back("--chain-grpc-address=" + grpc_address);
  e.args.insert(e.args.end(), options_.edge_api_args.begin(), options_.edge_api_args.end());
  edge_api_ = std::make_unique<DaemonProcess>(e);
  return edge_api_->Start();
}

std::string ChainHub::url(const std::string& path) const { return edge_api_->url() + path; }

std::string ChainHub::Logs() const {
  return absl::StrCat("devchain:\n", devchain_ ? devchain_->LogTail() : "", "\nedge-api:\n",
                      edge_api_ ? edge_api_->LogTail() : "");
}

std::string WriteMlNodesFile(const std::string& path, const std::vector<DevMlNode*>& nodes,
                             int ids_per_node, const std::string& model) {
  std::string json = "[";
  int id = 0;
  for (int copy = 0; copy < ids_per_node; ++copy) {
    for (DevMlNode* node : nodes) {
      absl::StrAppend(&json, id ? "," : "", "{\"id\":\"ml-", id, "\",\"api_url\":\"",
                      node->api_url(), "\",\"inference_url\":\"", node->inference_url(),
                      "\",\"model\":\"", model, "\"}");
      ++id;
    }
  }
  json += "]";
  std::ofstream(path) << json;
  return path;
}

DaemonProcess::Options NodeManagerOptions(ChainHub& hub, const std::string& identity,
                                          const std::string& nodes_file,
                                          const std::string& participant) {
  DaemonProcess::Options m;
  m.binary = "daemons/node-manager/node-manager";
  m.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            "--drain-announce=0s",
            "--participant=" + participant,
            "--public-key=AtestKey",
            absl::StrCat("--chain-rpc-url=", hub.devchain().url()),
            absl::StrCat("--nats-url=", hub.nats().url()),
            "--command-timeout=2s",
            "--identity=" + identity,
            "--log-level=warn"};
  if (!nodes_file.empty()) m.args.push_back("--ml-nodes-file=" + nodes_file);
  return m;
}

NodeManagerStatus ReadNodeManagerStatus(DaemonProcess& replica) {
  NodeManagerStatus s;
  if (!replica.IsRunning()) return s;
  net::HttpClient http;
  absl::StatusOr<net::HttpResponse> r = http.Get(
      absl::StrCat(replica.url(), "/v1/node-manager/status"), {.timeout = absl::Milliseconds(500)});
  if (!r.ok() || r->status != 200) return s;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return s;
  s.ok = true;
  // Absent fields keep their defaults.
  if (doc["leader"].get_bool().get(s.leader) != simdjson::SUCCESS) s.leader = false;
  if (doc["token"].get_int64().get(s.token) != simdjson::SUCCESS) s.token = 0;
  if (doc["height"].get_int64().get(s.height) != simdjson::SUCCESS) s.height = 0;
  if (doc["rescued_transitions"].get_int64().get(s.rescued_transitions) != simdjson::SUCCESS) {
    s.rescued_transitions = 0;
  }
  std::string_view v;
  if (doc["phase"].get_string().get(v) == simdjson::SUCCESS) s.phase = v;
  simdjson::dom::array nodes;
  if (doc["nodes"].get_array().get(nodes) == simdjson::SUCCESS) {
    for (simdjson::dom::element n : nodes) {
      NodeManagerStatus::Node node;
      if (n["id"].get_string().get(v) == simdjson::SUCCESS) node.id = v;
      if (n["intended"].get_string().get(v) == simdjson::SUCCESS) node.intended = v;
      if (n["actual"].get_string().get(v) == simdjson::SUCCESS) node.actual = v;
      s.nodes.push_back(std::move(node));
    }
  }
  return s;
}

}  // namespace testing
}  // namespace gonka
