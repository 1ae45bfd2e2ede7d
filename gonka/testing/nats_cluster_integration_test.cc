// NatsCluster: three JetStream nodes elect a meta leader, an R3 stream takes writes, and the
// cluster keeps taking them after the meta leader is killed; the node rejoins after a restart.
#include <nats/nats.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

std::string Text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last != nullptr ? std::string(": ") + last : "");
}

class ClusterClient {
 public:
  ~ClusterClient() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
    if (opts_ != nullptr) natsOptions_Destroy(opts_);
  }

  // Connects to any of `urls`, reconnecting to the others when the current node dies.
  natsStatus Connect(const std::vector<std::string>& urls) {
    std::vector<const char*> servers;
    for (const std::string& url : urls) servers.push_back(url.c_str());
    natsStatus s = natsOptions_Create(&opts_);
    if (s == NATS_OK) {
      s = natsOptions_SetServers(opts_, servers.data(), static_cast<int>(servers.size()));
    }
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts_, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts_, 100);
    if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts_);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 2000;
    if (s == NATS_OK) s = natsConnection_JetStream(&js_, nc_, &js_options);
    return s;
  }

  jsCtx* js() { return js_; }

 private:
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

absl::Status Publish(jsCtx* js, const std::string& subject, const std::string& data) {
  jsPubAck* ack = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, js, subject.c_str(), data.data(), static_cast<int>(data.size()),
                            nullptr, &error_code);
  if (ack != nullptr) jsPubAck_Destroy(ack);
  if (s != NATS_OK) {
    return absl::UnavailableError("publish " + data + ": " + Text(s) + " (js error " +
                                  std::to_string(static_cast<int>(error_code)) + ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StoredMessages(jsCtx* js, const char* stream) {
  jsStreamInfo* info = nullptr;
  natsStatus s = js_GetStreamInfo(&info, js, stream, nullptr, nullptr);
  if (s != NATS_OK) return absl::UnavailableError("js_GetStreamInfo: " + Text(s));
  const uint64_t msgs = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return msgs;
}

TEST(NatsClusterTest, ElectsMetaLeaderAndSurvivesKillingIt) {
  NatsCluster cluster;
  const absl::Time start = absl::Now();
  absl::Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started << "\nn0 log:\n" << cluster.node(0).LogTail();
  std::cerr << "3-node cluster ready in " << absl::FormatDuration(absl::Now() - start) << "\n";
  ASSERT_EQ(cluster.size(), 3);
  absl::StatusOr<int> leader = cluster.WaitForMetaLeader(absl::Seconds(20));
  ASSERT_TRUE(leader.ok()) << leader.status();

  ClusterClient client;
  natsStatus s = client.Connect(cluster.url_list());
  ASSERT_EQ(s, NATS_OK) << Text(s);
  const char* subjects[] = {"events.>"};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = "EVENTS";
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = 3;
  jsStreamInfo* info = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  s = js_AddStream(&info, client.js(), &config, nullptr, &error_code);
  ASSERT_EQ(s, NATS_OK) << Text(s) << " js error " << error_code;
  jsStreamInfo_Destroy(info);
  ASSERT_TRUE(Publish(client.js(), "events.a", "before").ok());

  // Kill the meta leader: the other two keep a quorum, elect a new leader and take writes.
  const int killed = *leader;
  const absl::Time killed_at = absl::Now();
  ASSERT_TRUE(cluster.node(killed).Kill().ok());
  absl::StatusOr<int> new_leader = cluster.WaitForMetaLeader(absl::Seconds(30), killed);
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  EXPECT_NE(*new_leader, killed);
  absl::Status published =
      WaitForOk([&] { return Publish(client.js(), "events.a", "after"); }, absl::Seconds(30),
                absl::Milliseconds(100), "a publish to the R3 stream with one node down");
  ASSERT_TRUE(published.ok()) << published;
  std::cerr << "writes resumed " << absl::FormatDuration(absl::Now() - killed_at)
            << " after killing meta leader n" << killed << "\n";
  absl::StatusOr<uint64_t> stored = StoredMessages(client.js(), "EVENTS");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_GE(*stored, 2u);  // >=: a publish whose ack was lost in the kill may have been retried

  // The killed node restarts on the same ports and rejoins: R3 streams can be created again.
  absl::Status restarted = cluster.node(killed).Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  absl::Status full = cluster.WaitForJetStream(absl::Seconds(30));
  EXPECT_TRUE(full.ok()) << full;
}

}  // namespace
}  // namespace testing
}  // namespace gonka
