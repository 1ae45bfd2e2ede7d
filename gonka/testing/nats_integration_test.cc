// NatsServer through nats.c JetStream: stream creation, de-duplication by Nats-Msg-Id, a pull
// consumer that fetches and acks, and a crash + restart that keeps the file-stored stream.
#include <nats/nats.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {
namespace {

constexpr char kStream[] = "ORDERS";
constexpr char kSubject[] = "orders.created";
constexpr char kDurable[] = "worker";

std::string Text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last != nullptr ? std::string(": ") + last : "");
}

// One connection + JetStream context, destroyed in the right order.
class JetStreamClient {
 public:
  ~JetStreamClient() {
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
  }

  natsStatus Connect(const std::string& url) {
    natsStatus s = natsConnection_ConnectTo(&nc_, url.c_str());
    if (s == NATS_OK) s = natsConnection_JetStream(&js_, nc_, nullptr);
    return s;
  }

  jsCtx* js() { return js_; }
  natsSubscription*& sub() { return sub_; }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

natsStatus AddFileStream(jsCtx* js, jsErrCode* error_code) {
  const char* subjects[] = {kSubject};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = kStream;
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Duplicates = 60LL * 1000 * 1000 * 1000;  // de-duplication window: 60 s, in ns
  jsStreamInfo* info = nullptr;
  natsStatus s = js_AddStream(&info, js, &config, nullptr, error_code);
  if (info != nullptr) jsStreamInfo_Destroy(info);
  return s;
}

// Publishes `data` with the Nats-Msg-Id header; returns the ack's Duplicate flag.
absl::StatusOr<bool> PublishWithId(jsCtx* js, const std::string& msg_id, const std::string& data) {
  natsMsg* msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, kSubject, nullptr, data.data(), static_cast<int>(data.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id.c_str());
  jsPubAck* ack = nullptr;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, js, msg, nullptr, &error_code);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) {
    return absl::UnavailableError("js_PublishMsg " + msg_id + ": " + Text(s) + " (js error " +
                                  std::to_string(static_cast<int>(error_code)) + ")");
  }
  const bool duplicate = ack->Duplicate;
  EXPECT_STREQ(ack->Stream, kStream);
  jsPubAck_Destroy(ack);
  return duplicate;
}

absl::StatusOr<uint64_t> StoredMessages(jsCtx* js) {
  jsStreamInfo* info = nullptr;
  natsStatus s = js_GetStreamInfo(&info, js, kStream, nullptr, nullptr);
  if (s != NATS_OK) return absl::UnavailableError("js_GetStreamInfo: " + Text(s));
  const uint64_t msgs = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return msgs;
}

TEST(NatsServerTest, JetStreamDeduplicatesAndPullConsumerAcks) {
  NatsServer nats;
  absl::Status started = nats.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(nats.url(), "nats://127.0.0.1:" + std::to_string(nats.port()));

  JetStreamClient client;
  natsStatus s = client.Connect(nats.url());
  ASSERT_EQ(s, NATS_OK) << Text(s);
  jsErrCode error_code = static_cast<jsErrCode>(0);
  s = AddFileStream(client.js(), &error_code);
  ASSERT_EQ(s, NATS_OK) << Text(s) << " js error " << error_code;

  absl::StatusOr<bool> first = PublishWithId(client.js(), "order-1", "payload-1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first);
  absl::StatusOr<bool> again = PublishWithId(client.js(), "order-1", "payload-1 again");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again) << "JetStream must report the second publish of order-1 as a duplicate";
  absl::StatusOr<uint64_t> stored = StoredMessages(client.js());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1u);

  s = js_PullSubscribe(&client.sub(), client.js(), kSubject, kDurable, nullptr, nullptr,
                       &error_code);
  ASSERT_EQ(s, NATS_OK) << Text(s) << " js error " << error_code;
  natsMsgList list{};
  s = natsSubscription_Fetch(&list, client.sub(), 10, 5000, &error_code);
  ASSERT_EQ(s, NATS_OK) << Text(s) << " js error " << error_code;
  ASSERT_EQ(list.Count, 1);
  natsMsg* msg = list.Msgs[0];
  EXPECT_EQ(std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)), "payload-1");
  const char* id = nullptr;
  ASSERT_EQ(natsMsgHeader_Get(msg, "Nats-Msg-Id", &id), NATS_OK);
  EXPECT_STREQ(id, "order-1");
  s = natsMsg_Ack(msg, nullptr);
  natsMsgList_Destroy(&list);
  ASSERT_EQ(s, NATS_OK) << Text(s);

  // The ack is fire-and-forget: wait until the server has recorded it.
  absl::Status acked = WaitForOk(
      [&]() -> absl::Status {
        jsConsumerInfo* info = nullptr;
        natsStatus st = js_GetConsumerInfo(&info, client.js(), kStream, kDurable, nullptr, nullptr);
        if (st != NATS_OK) return absl::UnavailableError("js_GetConsumerInfo: " + Text(st));
        const bool done = info->NumAckPending == 0 && info->AckFloor.Stream == 1;
        jsConsumerInfo_Destroy(info);
        return done ? absl::OkStatus() : absl::UnavailableError("ack not recorded yet");
      },
      absl::Seconds(10), absl::Milliseconds(20), "the consumer's ack floor to reach 1");
  EXPECT_TRUE(acked.ok()) << acked;

  // Nothing left to fetch: the duplicate was never stored and the first one is acked.
  natsMsgList empty{};
  s = natsSubscription_Fetch(&empty, client.sub(), 1, 300, &error_code);
  EXPECT_EQ(s, NATS_TIMEOUT) << Text(s);
  natsMsgList_Destroy(&empty);
}

TEST(NatsServerTest, FileStreamSurvivesKillAndRestartOnSamePort) {
  NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  const int port = nats.port();
  {
    JetStreamClient client;
    ASSERT_EQ(client.Connect(nats.url()), NATS_OK);
    jsErrCode error_code = static_cast<jsErrCode>(0);
    ASSERT_EQ(AddFileStream(client.js(), &error_code), NATS_OK);
    absl::StatusOr<bool> dup = PublishWithId(client.js(), "a", "A");
    ASSERT_TRUE(dup.ok()) << dup.status();
  }
  ASSERT_TRUE(nats.Kill().ok());
  EXPECT_FALSE(TcpPortOpen(nats.host(), port));
  absl::Status restarted = nats.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(nats.port(), port);

  JetStreamClient client;
  ASSERT_EQ(client.Connect(nats.url()), NATS_OK);
  absl::StatusOr<uint64_t> stored = StoredMessages(client.js());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1u);
  // The de-duplication window is rebuilt from the store after a restart.
  absl::StatusOr<bool> dup = PublishWithId(client.js(), "a", "A");
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_TRUE(*dup);

  // A paused server keeps its socket but answers nothing; resumed, it serves again.
  ASSERT_TRUE(nats.Pause().ok());
  absl::StatusOr<std::string> varz = nats.MonitorGet("/varz");
  EXPECT_FALSE(varz.ok());
  ASSERT_TRUE(nats.Resume().ok());
  EXPECT_TRUE(nats.MonitorGet("/varz").ok());
}

}  // namespace
}  // namespace testing
}  // namespace gonka
