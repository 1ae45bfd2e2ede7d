// deploy/nats/gonka-node.conf's service users against a real nats-server started with that very
// file: each daemon's user does what the chart runs the daemon for, through the library code the
// daemon uses, and nothing more.
//   edge-srv      consumes the block stream through a temporary durable of its own (as
//                 edgesrv::StreamStageGate) and enqueues (txqueue::TxQueue::Enqueue: /validated's
//                 MsgSubmitPocValidationsV2, the price proposal); cannot publish blocks or
//                 dead letters, create, delete or purge streams, bind the signers' or edge-api's
//                 consumers, or touch KV.
//   node-manager  consumes through its durable "node-manager", enqueues its chain messages and
//                 leads through JetStream KV (--coordination=nats, its lease and fence); cannot
//                 publish blocks, create/update/delete/purge the node's streams, or read chain.tx.
//   signer        in sequenced mode with --coordination=nats holds its per-key lease in KV, and
//                 still cannot publish blocks or delete/purge/redefine the node's streams.
//   consumer      (dashboards) still cannot enqueue: the reason the two users above exist.
// An older passwords file (no EDGE_SRV_/NODE_MANAGER_PASSWORD) still loads, and those users are
// refused until it sets them.
#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/election/coordination.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/txqueue.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using nats::JetStream;
using nats::NatsOptions;

const absl::Duration kTimeout = absl::Seconds(2);

const std::map<std::string, std::string>& Passwords() {
  static const auto* passwords = new std::map<std::string, std::string>{
      {"producer", "producer-pw-1"}, {"signer", "signer-pw-2"},
      {"edge-api", "edge-api-pw-3"}, {"consumer", "consumer-pw-4"},
      {"edge-srv", "edge-srv-pw-5"}, {"node-manager", "node-manager-pw-6"},
      {"admin", "admin-pw-7"}};
  return *passwords;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  chmod(path.c_str(), 0600);
}

class NatsUsersTest : public ::testing::Test {
 protected:
  // `users`: whose passwords go into gonka-node-passwords.conf.
  void StartServer(const std::vector<std::string>& users) {
    absl::StatusOr<std::string> conf = testing::ResolveRunfile("deploy/nats/gonka-node.conf");
    ASSERT_TRUE(conf.ok()) << conf.status();
    testing::NatsServer::Options options;
    options.config_text = ReadFile(*conf);
    server_ = std::make_unique<testing::NatsServer>(options);
    std::string passwords;
    for (const std::string& user : users) {
      std::string var = absl::StrReplaceAll(user, {{"-", "_"}});
      for (char& c : var) c = static_cast<char>(toupper(c));
      absl::StrAppend(&passwords, var, "_PASSWORD: \"", Passwords().at(user), "\"\n");
    }
    WriteFile(server_->dir() + "/gonka-node-passwords.conf", passwords);
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started << "\n" << server_->LogTail();
  }

  NatsOptions As(const std::string& user) {
    NatsOptions o;
    o.urls = {server_->url()};
    o.timeout = kTimeout;
    o.name = user;
    o.user = user;
    o.password_file = dir_.Join(absl::StrCat(user, ".password"));
    WriteFile(o.password_file, Passwords().at(user) + "\n");
    o.inbox_prefix = absl::StrCat("_INBOX_", user);
    return o;
  }

  std::unique_ptr<JetStream> Connect(const std::string& user) {
    absl::StatusOr<std::unique_ptr<JetStream>> js = JetStream::Connect(As(user));
    EXPECT_TRUE(js.ok()) << user << ": " << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  // The node's streams, created by their owners as at start: CHAIN_TX by signerd, BLOCKS by
  // edge-api.
  void CreateStreams() {
    signer_ = Connect("signer");
    edge_api_ = Connect("edge-api");
    ASSERT_TRUE(signer_ && edge_api_);
    txqueue::TxQueue queue(signer_.get());
    absl::StatusOr<nats::StreamInfo> chain_tx = queue.EnsureStream();
    ASSERT_TRUE(chain_tx.ok()) << chain_tx.status();
    absl::StatusOr<nats::StreamInfo> blocks =
        edge_api_->EnsureStream({.name = "BLOCKS", .subjects = {"blocks"}});
    ASSERT_TRUE(blocks.ok()) << blocks.status();
  }

  void PublishBlock(int64_t height) {
    chain::v1::BlockEvents block;
    block.set_height(height);
    absl::StatusOr<nats::PubAck> ack = edge_api_->Publish(
        "blocks", block.SerializeAsString(), {.msg_id = absl::StrCat("chain/", height)});
    ASSERT_TRUE(ack.ok()) << ack.status();
  }

  uint64_t QueueMessages() {
    absl::StatusOr<nats::StreamInfo> info = signer_->GetStreamInfo(txqueue::kStream);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->messages : ~0ull;
  }

  // Reads blocks as `user` through a Subscriber with `durable`; true once `height` arrived.
  bool ConsumesBlocks(JetStream* js, const std::string& durable, absl::Duration inactive) {
    eventhub::SubscriberOptions so;
    so.durable = durable;
    so.inactive_threshold = inactive;
    so.retry_initial = absl::Milliseconds(50);
    so.retry_max = absl::Milliseconds(500);
    eventhub::Subscriber subscriber(so, js);
    std::atomic<int64_t> seen{0};
    subscriber.OnBlock([&](const chain::v1::BlockEvents& b) {
      seen = b.height();
      return absl::OkStatus();
    });
    absl::Status started = subscriber.Start();
    EXPECT_TRUE(started.ok()) << durable << ": " << started;
    if (!started.ok()) return false;
    const int64_t height = ++height_;
    PublishBlock(height);
    absl::Status got =
        testing::WaitFor([&] { return seen.load() >= height; }, absl::Now() + absl::Seconds(15),
                         absl::Milliseconds(20), "block " + durable);
    subscriber.Stop();
    return got.ok();
  }

  // Every operation the service users must NOT be able to do, as `who`.
  void ExpectRefusedOutsideItsRole(JetStream* js, const std::string& who) {
    SCOPED_TRACE(who);
    const nats::PublishOptions quick{.msg_id = who + "-forged", .timeout = absl::Seconds(1)};
    const uint64_t queued = QueueMessages();
    EXPECT_FALSE(js->Publish("blocks", "forged", quick).ok());
    EXPECT_FALSE(js->Publish("chain.tx.dead", "dead", quick).ok());
    EXPECT_EQ(QueueMessages(), queued);
    EXPECT_FALSE(js->DeleteStream("BLOCKS").ok());
    EXPECT_FALSE(js->DeleteStream("CHAIN_TX").ok());
    EXPECT_FALSE(js->EnsureStream({.name = "BLOCKS", .subjects = {"blocks", "evil"}}).ok());
    EXPECT_FALSE(
        js->EnsureStream({.name = "CHAIN_TX", .subjects = {"chain.tx", "chain.tx.dead", "x"}})
            .ok());
    // The signers' queue consumer: reading chain.tx is the signer's alone.
    nats::ConsumerConfig signers;
    signers.stream = txqueue::kStream;
    signers.durable = "signers";
    EXPECT_FALSE(js->Consumer(signers).ok());
    // edge-api's views durable.
    nats::ConsumerConfig views;
    views.stream = "BLOCKS";
    views.durable = "event-views";
    views.filter_subject = "blocks";
    EXPECT_FALSE(js->Consumer(views).ok());
    // Streams are intact.
    EXPECT_TRUE(edge_api_->GetStreamInfo("BLOCKS").ok());
    EXPECT_TRUE(signer_->GetStreamInfo(txqueue::kStream).ok());
  }

  txqueue::ChainTx Tx(const std::string& key) {
    txqueue::ChainTx tx;
    tx.set_idempotency_key(key);
    tx.add_messages()->set_type_url("/inference.inference.MsgSubmitPocValidationsV2");
    return tx;
  }

  testing::TempDir dir_{"nats_users"};
  std::unique_ptr<testing::NatsServer> server_;
  std::unique_ptr<JetStream> signer_, edge_api_;
  int64_t height_ = 0;
};

TEST_F(NatsUsersTest, EdgeSrvConsumesBlocksAndEnqueuesOnly) {
  StartServer({"producer", "signer", "edge-api", "consumer", "edge-srv", "node-manager", "admin"});
  CreateStreams();
  std::unique_ptr<JetStream> edge_srv = Connect("edge-srv");
  ASSERT_TRUE(edge_srv);
  // The phase gate's temporary durable (stage_gate.cc: "edge-srv-<pid>-<random>", 1 min).
  EXPECT_TRUE(ConsumesBlocks(edge_srv.get(), "edge-srv-4242-00000000deadbeef", absl::Minutes(1)));
  // Its readiness probe: the block stream's info.
  EXPECT_TRUE(edge_srv->GetStreamInfo("BLOCKS").ok());
  // /validated and the price proposal: TxQueue::Enqueue.
  txqueue::TxQueue queue(edge_srv.get());
  const uint64_t before = QueueMessages();
  absl::StatusOr<txqueue::EnqueueResult> r = queue.Enqueue(Tx("validations/20/p/abc"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(QueueMessages(), before + 1);
  ExpectRefusedOutsideItsRole(edge_srv.get(), "edge-srv");
  // No KV: edge-srv has no --coordination.
  EXPECT_FALSE(
      edge_srv
          ->EnsureStream({.name = "KV_gonka_election_x", .subjects = {"$KV.gonka_election_x.>"}})
          .ok());
}

TEST_F(NatsUsersTest, NodeManagerConsumesEnqueuesAndLeadsThroughKv) {
  StartServer({"producer", "signer", "edge-api", "consumer", "edge-srv", "node-manager", "admin"});
  CreateStreams();
  std::unique_ptr<JetStream> node_manager = Connect("node-manager");
  ASSERT_TRUE(node_manager);
  EXPECT_TRUE(ConsumesBlocks(node_manager.get(), "node-manager", absl::ZeroDuration()));
  EXPECT_TRUE(node_manager->GetStreamInfo("BLOCKS").ok());
  txqueue::TxQueue queue(node_manager.get());
  const uint64_t before = QueueMessages();
  absl::StatusOr<txqueue::EnqueueResult> r = queue.Enqueue(Tx("seed/1/p"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(QueueMessages(), before + 1);

  // --coordination=nats: the lease and the fence in JetStream KV, as daemons/node-manager.
  election::LeaderElectorOptions elector_options;
  elector_options.identity = "nm-0";
  absl::StatusOr<std::unique_ptr<election::Coordination>> coordination =
      election::Coordination::Open(
          {.backend = election::CoordinationBackend::kNats, .nats = As("node-manager")},
          "node-manager/gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du", elector_options);
  ASSERT_TRUE(coordination.ok()) << coordination.status();
  ASSERT_TRUE((*coordination)->elector()->Start().ok());
  absl::Status led =
      testing::WaitFor([&] { return (*coordination)->elector()->IsLeader(); },
                       absl::Now() + absl::Seconds(15), absl::Milliseconds(20), "leadership");
  EXPECT_TRUE(led.ok()) << led;
  const election::FencingToken token = (*coordination)->elector()->Token();
  absl::StatusOr<election::FenceResult> fenced =
      (*coordination)->store()->Set(token, "position", "7");
  ASSERT_TRUE(fenced.ok()) << fenced.status();
  EXPECT_TRUE(fenced->applied);
  (*coordination)->elector()->Stop();

  ExpectRefusedOutsideItsRole(node_manager.get(), "node-manager");
  EXPECT_FALSE(node_manager->DeleteStream("KV_gonka_election_node-manager_x").ok());
}

// signerd --mode=sequenced --coordination=nats (the chart's signerd.mode: sequenced with
// coordination: nats): the per-key sequence lease in JetStream KV, as signerd opens it.
TEST_F(NatsUsersTest, SequencedSignerLeadsThroughKvAndStaysOffTheBlockStream) {
  StartServer({"producer", "signer", "edge-api", "consumer", "edge-srv", "node-manager", "admin"});
  CreateStreams();
  election::LeaderElectorOptions elector_options;
  elector_options.identity = "signerd@host/1";
  absl::StatusOr<std::unique_ptr<election::Coordination>> lease = election::Coordination::Open(
      {.backend = election::CoordinationBackend::kNats, .nats = As("signer")},
      "signer:gonka1rfdsrtgx38ka7za6mlnrffm23mfad2t3y76jlu", elector_options);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE((*lease)->elector()->Start().ok());
  absl::Status led =
      testing::WaitFor([&] { return (*lease)->elector()->IsLeader(); },
                       absl::Now() + absl::Seconds(15), absl::Milliseconds(20), "sequence lease");
  EXPECT_TRUE(led.ok()) << led;
  (*lease)->elector()->Stop();
  const nats::PublishOptions quick{.msg_id = "signer-forged", .timeout = absl::Seconds(1)};
  EXPECT_FALSE(signer_->Publish("blocks", "forged", quick).ok());
  EXPECT_FALSE(signer_->DeleteStream("BLOCKS").ok());
  EXPECT_FALSE(signer_->DeleteStream("CHAIN_TX").ok());
  EXPECT_FALSE(signer_->EnsureStream({.name = "BLOCKS", .subjects = {"blocks", "evil"}}).ok());
  EXPECT_TRUE(edge_api_->GetStreamInfo("BLOCKS").ok());
}

TEST_F(NatsUsersTest, ConsumerStillCannotEnqueue) {
  StartServer({"producer", "signer", "edge-api", "consumer", "edge-srv", "node-manager", "admin"});
  CreateStreams();
  std::unique_ptr<JetStream> consumer = Connect("consumer");
  ASSERT_TRUE(consumer);
  txqueue::TxQueue queue(consumer.get());
  const uint64_t before = QueueMessages();
  EXPECT_FALSE(queue.Enqueue(Tx("seed/1/p")).ok());
  EXPECT_EQ(QueueMessages(), before);
}

TEST_F(NatsUsersTest, OlderPasswordsFileLoadsAndNewUsersStayLockedOut) {
  StartServer({"producer", "signer", "edge-api", "consumer", "admin"});
  EXPECT_FALSE(JetStream::Connect(As("edge-srv")).ok());
  EXPECT_FALSE(JetStream::Connect(As("node-manager")).ok());
  EXPECT_TRUE(JetStream::Connect(As("consumer")).ok());
}

}  // namespace
}  // namespace gonka
