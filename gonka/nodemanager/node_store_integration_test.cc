// NodeStore against a real PostgreSQL: create/get/list/update/delete, a duplicate id refused
// without a version bump, every change bumping the version by one, enable/disable, a second
// replica (its own pool) seeing the same nodes, the admin shape's parsing (every error names its
// field) and its mapping to MlNodeConfig (Gonka's URLs, the first model key), and the watcher
// delivering the enabled nodes when they change and only then.
#include "gonka/nodemanager/node_store.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr char kNodeJson[] = R"({
  "id": "node-1", "host": "10.0.0.7",
  "inference_segment": "/v1", "inference_port": 5000,
  "poc_segment": "", "poc_port": 8080,
  "models": {"Qwen/Qwen3-8B": {"args": ["--tp", "2"]}, "Qwen/Qwen2.5-7B": {"args": []}},
  "max_concurrent": 500,
  "hardware": [{"type": "H100", "count": 8}],
  "version": "v3.0.8", "seq_len": 1024,
  "unknown_field": {"ignored": true}
})";

AdminNode Node(const std::string& id, int port = 8080) {
  AdminNode node;
  node.id = id;
  node.host = "127.0.0.1";
  node.inference_port = port + 1;
  node.poc_port = port;
  node.models = {{"model-a", {}}};
  return node;
}

class NodeStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::PostgresServer();
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::unique_ptr<pg::Pool> OpenPool() {
    pg::PgOptions o;
    o.conninfo = server_->url();
    auto pool = pg::Pool::Open(o);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }
  void SetUp() override {
    pool_ = OpenPool();
    ASSERT_TRUE(pool_);
    auto store = NodeStore::Open(pool_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(pool_->Exec("DELETE FROM nodemanager_ml_nodes").ok());
  }
  int64_t Version() {
    auto v = store_->Version();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(-1);
  }

  static testing::PostgresServer* server_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<NodeStore> store_;
};
testing::PostgresServer* NodeStoreTest::server_ = nullptr;

TEST_F(NodeStoreTest, CreateGetListAndDuplicateRefused) {
  const int64_t v0 = Version();
  auto parsed = ParseAdminNode(kNodeJson);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto created = store_->Create(*parsed);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->enabled);
  EXPECT_GT(created->node_num, 0);
  EXPECT_EQ(Version(), v0 + 1);

  auto got = store_->Get("node-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->host, "10.0.0.7");
  EXPECT_EQ(got->inference_segment, "/v1");
  EXPECT_EQ(got->inference_port, 5000);
  EXPECT_EQ(got->poc_port, 8080);
  ASSERT_EQ(got->models.size(), 2u);
  EXPECT_EQ(got->models[0].name, "Qwen/Qwen3-8B");  // order as given, not sorted
  EXPECT_EQ(got->models[0].args, (std::vector<std::string>{"--tp", "2"}));
  EXPECT_EQ(got->models[1].name, "Qwen/Qwen2.5-7B");
  EXPECT_EQ(got->max_concurrent, 500);
  ASSERT_EQ(got->hardware.size(), 1u);
  EXPECT_EQ(got->hardware[0].type, "H100");
  EXPECT_EQ(got->hardware[0].count, 8u);
  EXPECT_EQ(got->version, "v3.0.8");
  EXPECT_EQ(got->seq_len, 1024);

  auto duplicate = store_->Create(Node("node-1"));
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAlreadyExists) << duplicate.status();
  EXPECT_TRUE(absl::StrContains(duplicate.status().message(), "node-1"));
  EXPECT_EQ(Version(), v0 + 1);  // nothing changed
  EXPECT_EQ(store_->Get("node-1")->host, "10.0.0.7");

  ASSERT_TRUE(store_->Create(Node("node-2")).ok());
  auto list = store_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "node-1");  // creation order
  EXPECT_EQ((*list)[1].id, "node-2");
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NodeStoreTest, UpdateDeleteEnableDisableEachBumpTheVersion) {
  ASSERT_TRUE(store_->Create(Node("n1", 9000)).ok());
  ASSERT_TRUE(store_->Create(Node("n2", 9100)).ok());
  int64_t v = Version();

  auto disabled = store_->SetEnabled("n1", false);
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  EXPECT_FALSE(disabled->enabled);
  EXPECT_EQ(Version(), ++v);

  AdminNode changed = Node("n1", 9200);
  changed.models = {{"model-b", {"--x"}}};
  auto updated = store_->Update(changed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->enabled);                    // an update keeps the admin state ...
  EXPECT_EQ(updated->node_num, disabled->node_num);  // ... and the number
  EXPECT_EQ(updated->poc_port, 9200);
  EXPECT_EQ(updated->models[0].name, "model-b");
  EXPECT_EQ(Version(), ++v);

  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->version, v);
  std::vector<MlNodeConfig> enabled = EnabledMlNodes(*snapshot);
  ASSERT_EQ(enabled.size(), 1u);
  EXPECT_EQ(enabled[0].id, "n2");

  ASSERT_TRUE(store_->SetEnabled("n1", true).ok());
  EXPECT_EQ(Version(), ++v);
  EXPECT_EQ(EnabledMlNodes(*store_->Snapshot()).size(), 2u);

  ASSERT_TRUE(store_->Delete("n2").ok());
  EXPECT_EQ(Version(), ++v);
  EXPECT_EQ(store_->Get("n2").status().code(), absl::StatusCode::kNotFound);

  // Unknown ids: NotFound naming the id, no bump.
  EXPECT_EQ(store_->Update(Node("ghost")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("ghost").code(), absl::StatusCode::kNotFound);
  absl::Status s = store_->SetEnabled("ghost", true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "ghost")) << s;
  EXPECT_EQ(Version(), v);
}

TEST_F(NodeStoreTest, AnotherReplicaSeesTheSameNodesAndVersion) {
  auto other_pool = OpenPool();
  ASSERT_TRUE(other_pool);
  auto other = NodeStore::Open(other_pool.get());  // migrations are idempotent
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(store_->Create(Node("shared")).ok());
  EXPECT_EQ((*other)->Version().value_or(-1), Version());
  auto got = (*other)->Get("shared");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->poc_port, 8080);
}

TEST(AdminNodeMapping, GonkaUrlsAndFirstModel) {
  auto node = ParseAdminNode(kNodeJson);
  ASSERT_TRUE(node.ok()) << node.status();
  MlNodeConfig config = ToMlNodeConfig(*node);
  EXPECT_EQ(config.id, "node-1");
  EXPECT_EQ(config.api_url, "http://10.0.0.7:8080");  // http://host:poc_port + poc_segment
  EXPECT_EQ(config.inference_url, "http://10.0.0.7:5000/v1");
  EXPECT_EQ(config.model, "Qwen/Qwen3-8B");
  EXPECT_EQ(config.seq_len, 1024);
  EXPECT_EQ(config.auth_token_file, "");

  AdminNode defaults = Node("d");
  defaults.poc_segment = "/api";
  EXPECT_EQ(ToMlNodeConfig(defaults).api_url, "http://127.0.0.1:8080/api");
  EXPECT_EQ(ToMlNodeConfig(defaults).seq_len, 256);

  // The JSON written for a node parses back to the same node.
  auto again = ParseAdminNode(AdminNodeJson(*node));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(AdminNodeJson(*again), AdminNodeJson(*node));
}

TEST(AdminNodeParse, EveryErrorNamesItsField) {
  const std::string ok =
      R"("host":"h","inference_port":5000,"poc_port":8080,"models":{"m":{"args":[]}})";
  struct Case {
    std::string body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"not json", "body"},
      {"[1]", "body"},
      {"{" + ok + "}", "id:"},
      {R"({"id":"a b",)" + ok + "}", "id:"},
      {R"({"id":7,)" + ok + "}", "id:"},
      {R"({"id":"x","inference_port":5000,"poc_port":8080,"models":{"m":{}}})", "host:"},
      {R"({"id":"x","host":"h/x","inference_port":5000,"poc_port":8080,"models":{"m":{}}})",
       "host:"},
      {R"({"id":"x","host":"h","poc_port":8080,"models":{"m":{}}})", "inference_port:"},
      {R"({"id":"x","host":"h","inference_port":"5000","poc_port":8080,"models":{"m":{}}})",
       "inference_port:"},
      {R"({"id":"x","host":"h","inference_port":70000,"poc_port":8080,"models":{"m":{}}})",
       "inference_port:"},
      {R"({"id":"x","host":"h","inference_port":5000,"models":{"m":{}}})", "poc_port:"},
      {R"({"id":"x",)" + ok + R"(,"poc_segment":"api"})", "poc_segment:"},
      {R"({"id":"x",)" + ok + R"(,"inference_segment":"/v1?x"})", "inference_segment:"},
      {R"({"id":"x","host":"h","inference_port":5000,"poc_port":8080})", "models:"},
      {R"({"id":"x","host":"h","inference_port":5000,"poc_port":8080,"models":{}})", "models:"},
      {R"({"id":"x","host":"h","inference_port":5000,"poc_port":8080,"models":["m"]})", "models:"},
      {R"({"id":"x","host":"h","inference_port":5000,"poc_port":8080,"models":{"m":{"args":[1]}}})",
       "models.m.args[0]:"},
      {R"({"id":"x",)" + ok + R"(,"max_concurrent":-1})", "max_concurrent:"},
      {R"({"id":"x",)" + ok + R"(,"hardware":{}})", "hardware:"},
      {R"({"id":"x",)" + ok + R"(,"hardware":[{"type":"H100","count":-1}]})", "hardware[0].count:"},
      {R"({"id":"x",)" + ok + R"(,"hardware":[{"count":1}]})", "hardware[0].type:"},
      {R"({"id":"x",)" + ok + R"(,"version":1})", "version:"},
      {R"({"id":"x",)" + ok + R"(,"seq_len":0})", "seq_len:"},
      {R"({"id":"x",)" + ok + R"(,"auth_token_file":false})", "auth_token_file:"},
  };
  for (const Case& c : cases) {
    auto node = ParseAdminNode(c.body);
    EXPECT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_TRUE(absl::StartsWith(node.status().message(), c.field))
        << c.body << " → " << node.status();
  }
  // A path id fills an absent body id and must equal a present one.
  auto put = ParseAdminNode("{" + ok + "}", "from-path");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->id, "from-path");
  EXPECT_TRUE(absl::StartsWith(
      ParseAdminNode(R"({"id":"other",)" + ok + "}", "from-path").status().message(), "id:"));
  // Batches name the element.
  auto batch = ParseAdminNodes(R"([{"id":"a",)" + ok + R"(}, {"id":"b","host":""}])");
  EXPECT_TRUE(absl::StartsWith(batch.status().message(), "[1].host:")) << batch.status();
}

class Delivered {
 public:
  absl::Status Set(const std::vector<MlNodeConfig>& nodes) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    ids_.clear();
    for (const MlNodeConfig& n : nodes) ids_.push_back(n.id);
    return absl::OkStatus();
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }

 private:
  absl::Mutex mu_;
  int calls_ = 0;
  std::vector<std::string> ids_;
};

TEST_F(NodeStoreTest, WatcherDeliversEnabledNodesWhenTheyChange) {
  ASSERT_TRUE(store_->Create(Node("w1", 9000)).ok());
  Delivered delivered;
  NodeStoreWatcher watcher(
      store_.get(), [&](const std::vector<MlNodeConfig>& nodes) { return delivered.Set(nodes); },
      {.poll_interval = absl::Milliseconds(50)});
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_EQ(delivered.calls(), 1);  // the first set, before Start returned
  EXPECT_EQ(delivered.ids(), std::vector<std::string>{"w1"});

  // A change made through another replica's store reaches this watcher.
  auto other_pool = OpenPool();
  ASSERT_TRUE(other_pool);
  auto other = NodeStore::Open(other_pool.get());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Create(Node("w2", 9100)).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return delivered.calls() == 2; }, absl::Seconds(10)).ok());
  EXPECT_EQ(delivered.ids(), (std::vector<std::string>{"w1", "w2"}));

  ASSERT_TRUE((*other)->SetEnabled("w1", false).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return delivered.calls() == 3; }, absl::Seconds(10)).ok());
  EXPECT_EQ(delivered.ids(), std::vector<std::string>{"w2"});

  // A change that leaves the enabled set as it was (updating the disabled node, enabling an
  // enabled one) bumps the version but calls nobody; the next real change does.
  const int64_t before = Version();
  ASSERT_TRUE((*other)->Update(Node("w1", 9300)).ok());
  ASSERT_TRUE((*other)->SetEnabled("w2", true).ok());
  ASSERT_TRUE((*other)->Delete("w2").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return delivered.calls() == 4; }, absl::Seconds(10)).ok());
  EXPECT_EQ(Version(), before + 3);
  EXPECT_TRUE(delivered.ids().empty());
  watcher.Stop();
  EXPECT_EQ(delivered.calls(), 4);
}

// SetNodes' transient refusal ("a reconciliation is in flight; retry") is retried at the next
// poll with the same set; an InvalidArgument waits for the next change.
TEST_F(NodeStoreTest, WatcherRetriesTransientCallbackErrorsOnly) {
  ASSERT_TRUE(store_->Create(Node("r1", 9000)).ok());
  absl::Mutex mu;
  int calls = 0;
  absl::Status next = absl::FailedPreconditionError("ml nodes: a reconciliation is in flight");
  int refusals_left = 2;
  NodeStoreWatcher watcher(store_.get(),
                           [&](const std::vector<MlNodeConfig>&) -> absl::Status {
                             absl::MutexLock lock(&mu);
                             ++calls;
                             if (refusals_left > 0) {
                               --refusals_left;
                               return next;
                             }
                             return absl::OkStatus();
                           },
                           {.poll_interval = absl::Milliseconds(50)});
  EXPECT_EQ(watcher.Start().code(), absl::StatusCode::kFailedPrecondition);
  auto calls_now = [&] {
    absl::MutexLock lock(&mu);
    return calls;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return calls_now() == 3; }, absl::Seconds(10)).ok());
  absl::SleepFor(absl::Milliseconds(300));  // several polls: applied, so nothing more
  EXPECT_EQ(calls_now(), 3);

  {
    absl::MutexLock lock(&mu);
    next = absl::InvalidArgumentError("ml node \"r2\": bad");
    refusals_left = 1;
  }
  ASSERT_TRUE(store_->Create(Node("r2", 9100)).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return calls_now() == 4; }, absl::Seconds(10)).ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(calls_now(), 4);  // not retried: the same set would be refused again
  ASSERT_TRUE(store_->SetEnabled("r2", false).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return calls_now() == 5; }, absl::Seconds(10)).ok());
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
