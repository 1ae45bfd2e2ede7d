// Every metric the Grafana dashboard (deploy/grafana/gonka-node.json) queries exists on a real
// daemon: the whole node is started (StatusTopology: devchain, two edge-api, signerd,
// node-manager, devmlnode), made to do some work (blocks, cache reads, a dead-lettered tx, ML-node
// commands), every daemon's /metrics is scraped, and each gonka_* name in each panel's `expr` must
// be a sample name there (a histogram's _bucket/_sum/_count included) or a family the daemon
// declares with # TYPE. Prints the names found, so a dashboard author sees what exists
// (GONKA_DUMP_METRICS=1 also prints every /metrics body).
#include <cstdlib>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gonka/net/http_client.h"
#include "gonka/nodestatus/internal/prometheus_text.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/browser/status_topology.h"

namespace gonka {
namespace {

// Every `expr` string anywhere in the dashboard (panels, rows' nested panels, templating).
void CollectExprs(simdjson::dom::element e, std::vector<std::string>* out) {
  simdjson::dom::object obj;
  simdjson::dom::array arr;
  if (e.get_object().get(obj) == simdjson::SUCCESS) {
    for (simdjson::dom::key_value_pair kv : obj) {
      std::string_view s;
      if ((kv.key == "expr" || kv.key == "query") &&
          kv.value.get_string().get(s) == simdjson::SUCCESS) {
        out->emplace_back(s);
      } else {
        CollectExprs(kv.value, out);
      }
    }
  } else if (e.get_array().get(arr) == simdjson::SUCCESS) {
    for (simdjson::dom::element child : arr) CollectExprs(child, out);
  }
}

// Names a /metrics body exposes: sample names plus every # TYPE family (with the histogram and
// summary series names).
void CollectNames(const std::string& body, std::set<std::string>* names) {
  for (const nodestatus::internal::Sample& s :
       nodestatus::internal::ParsePrometheusText(body).samples) {
    names->insert(s.name);
  }
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() == 4 && parts[0] == "#" && parts[1] == "TYPE") {
      names->insert(parts[2]);
      if (parts[3] == "histogram" || parts[3] == "summary") {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) names->insert(parts[2] + suffix);
      }
    }
  }
}

TEST(DashboardMetricsTest, EveryDashboardMetricExistsOnADaemon) {
  absl::StatusOr<std::string> dashboard_path =
      testing::ResolveRunfile("deploy/grafana/gonka-node.json");
  ASSERT_TRUE(dashboard_path.ok()) << dashboard_path.status();
  simdjson::dom::parser parser;
  simdjson::dom::element dashboard;
  ASSERT_EQ(parser.load(*dashboard_path).get(dashboard), simdjson::SUCCESS) << *dashboard_path;
  std::vector<std::string> exprs;
  CollectExprs(dashboard, &exprs);
  ASSERT_GT(exprs.size(), 10u) << "the dashboard has too few queries to be checked";
  std::set<std::string> wanted;
  const std::regex metric("gonka_[A-Za-z0-9_:]+");
  for (const std::string& expr : exprs) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
      wanted.insert(it->str());
    }
  }
  ASSERT_GT(wanted.size(), 10u);

  testing::StatusTopology node;
  absl::Status started = node.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << node.Logs();
  // Some work so labelled series exist: cache reads on both edge-apis, a dead letter, blocks.
  net::HttpClient http;
  for (int i = 0; i < 2; ++i) {
    for (const char* path : {"/v1/models", "/v1/models", "/v1/participants", "/v1/node/status"}) {
      http.Get(node.edge_api(i).url() + path, {.timeout = absl::Seconds(3)}).status().IgnoreError();
    }
  }
  ASSERT_TRUE(node.EnqueueDisallowedTx("dashboard-test/1").ok());
  ASSERT_TRUE(node.EnqueueRecordTx("dashboard-test/2").ok());
  // Until signerd has dead-lettered one and signed the other, and node-manager commanded its ML
  // node (those series exist only once something happened).
  auto has = [&](const std::string& url, const std::string& series) {
    absl::StatusOr<net::HttpResponse> r = http.Get(url + "/metrics");
    return r.ok() && r->body.find(series) != std::string::npos;
  };
  absl::Status active = testing::WaitFor(
      [&] {
        return has(node.signerd().url(), "gonka_txqueue_dead_lettered_total{") &&
               has(node.signerd().url(), "gonka_signer_txs_signed_total{") &&
               has(node.node_manager().url(), "gonka_nodemanager_commands_total{");
      },
      absl::Seconds(30));
  ASSERT_TRUE(active.ok()) << "no dead letter, signed tx or ML-node command within 30 s\n"
                           << node.Logs();

  std::set<std::string> found;
  for (const auto& [name, url] : node.Services()) {
    absl::StatusOr<net::HttpResponse> r = http.Get(url + "/metrics", {.timeout = absl::Seconds(3)});
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    ASSERT_EQ(r->status, 200) << name;
    CollectNames(r->body, &found);
    if (std::getenv("GONKA_DUMP_METRICS") != nullptr) {
      std::printf("== %s\n%s\n", name.c_str(), r->body.c_str());
    }
  }
  std::vector<std::string> gonka_names;
  for (const std::string& n : found) {
    if (absl::StartsWith(n, "gonka_")) gonka_names.push_back(n);
  }
  std::printf("metric names on the daemons (%zu):\n  %s\n", gonka_names.size(),
              absl::StrJoin(gonka_names, "\n  ").c_str());
  std::vector<std::string> missing;
  for (const std::string& n : wanted) {
    if (!found.count(n)) missing.push_back(n);
  }
  std::printf("dashboard: %zu queries, %zu metric names, %zu missing\n", exprs.size(),
              wanted.size(), missing.size());
  EXPECT_TRUE(missing.empty()) << "in deploy/grafana/gonka-node.json but on no daemon's /metrics: "
                               << absl::StrJoin(missing, ", ");
}

}  // namespace
}  // namespace gonka
