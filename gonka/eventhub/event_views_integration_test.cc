// EventViews against real JetStream: every event of every block lands once on events.<type>,
// in block order; a restart resumes without republishing.
#include "gonka/eventhub/event_views.h"

#include "absl/strings/str_cat.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace eventhub {
namespace {

TEST(EventSubjectTest, MapsTypesToValidSubjects) {
  EXPECT_EQ(EventSubject("events", "inference_finished"), "events.inference_finished");
  EXPECT_EQ(EventSubject("events", "inference.bls.EventKeyGenerationInitiated"),
            "events.inference.bls.EventKeyGenerationInitiated");
  EXPECT_EQ(EventSubject("events", "a b*c>"), "events.a_b_c_");
  EXPECT_EQ(EventSubject("events", "a..b."), "events.a._.b._");
}

TEST(EventViewsTest, EveryEventOnceOnItsSubject) {
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  auto js = nats::JetStream::Connect({.urls = {nats.url()}});
  ASSERT_TRUE(js.ok());
  ASSERT_TRUE((*js)->EnsureStream({.name = "BLOCKS", .subjects = {"blocks"}}).ok());
  auto publish_blocks = [&](int64_t from, int64_t to) {
    for (int64_t h = from; h <= to; ++h) {
      chain::v1::BlockEvents b;
      b.set_height(h);
      auto* tx = b.add_txs();
      tx->set_hash(absl::StrCat("H", h));
      tx->add_events()->set_type("inference_finished");
      tx->add_events()->set_type("message");
      b.add_finalize_block_events()->set_type("epoch_stage");
      nats::PublishOptions o;
      o.msg_id = absl::StrCat("v/", h);
      ASSERT_TRUE((*js)->Publish("blocks", b.SerializeAsString(), o).ok());
    }
  };
  publish_blocks(1, 10);
  {
    EventViews views({.chain_id = "v"}, js->get());
    ASSERT_TRUE(views.Start().ok());
    ASSERT_TRUE(
        testing::WaitFor([&] { return views.last_height() == 10; }, absl::Seconds(10)).ok());
  }
  publish_blocks(11, 12);
  EventViews again({.chain_id = "v"}, js->get());
  ASSERT_TRUE(again.Start().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return again.last_height() == 12; }, absl::Seconds(10)).ok());
  again.Stop();

  auto consumer = (*js)->Consumer(
      {.stream = "EVENTS", .durable = "reader", .filter_subject = "events.inference_finished"});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  std::vector<std::string> heights;
  while (true) {
    auto batch = (*consumer)->Fetch(50, absl::Milliseconds(300));
    if (!batch.ok() || batch->empty()) break;
    for (auto& m : *batch) {
      heights.push_back(m.headers().at("Gonka-Height"));
      ASSERT_TRUE(m.Ack().ok());
    }
  }
  ASSERT_EQ(heights.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(heights[i], absl::StrCat(i + 1));
  auto info = (*js)->GetStreamInfo("EVENTS");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->messages, 36u);  // 3 events × 12 blocks, none twice
}

}  // namespace
}  // namespace eventhub
}  // namespace gonka
