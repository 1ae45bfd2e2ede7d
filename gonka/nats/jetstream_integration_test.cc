// JetStream streams and publishes against a real nats-server -js: EnsureStream, dedupe by
// Nats-Msg-Id, expected-last-msg-id fencing (gap, second writer, retried publish), resume after a
// server crash, and SIGSTOP -> DeadlineExceeded -> recovery with the retry deduplicated.
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nats {
namespace {

using ::testing::HasSubstr;

class JetStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    NatsOptions o;
    o.urls = {server_.url()};
    o.timeout = absl::Seconds(2);
    auto js = JetStream::Connect(o);
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = std::move(*js);
  }

  // The block stream as the event hub uses it.
  StreamConfig Blocks() {
    StreamConfig c;
    c.name = "BLOCKS";
    c.subjects = {"blocks"};
    c.duplicate_window = absl::Minutes(5);
    return c;
  }

  PublishOptions Fenced(int h) {
    PublishOptions p;
    p.msg_id = absl::StrCat("chain-1/", h);
    if (h > 1) p.expected_last_msg_id = absl::StrCat("chain-1/", h - 1);
    return p;
  }

  gonka::testing::NatsServer server_;
  std::unique_ptr<JetStream> js_;
};

TEST(JetStreamConnectTest, UnreachableIsUnavailableNamingTheUrl) {
  NatsOptions o;
  o.urls = {absl::StrCat("nats://127.0.0.1:", gonka::testing::FreePort())};
  auto js = JetStream::Connect(o);
  ASSERT_FALSE(js.ok());
  EXPECT_EQ(js.status().code(), absl::StatusCode::kUnavailable) << js.status();
  EXPECT_THAT(std::string(js.status().message()), HasSubstr(o.urls[0]));
}

TEST_F(JetStreamTest, EnsureStreamIsIdempotentUpdatesAndRefusesConflicts) {
  StreamConfig c = Blocks();
  auto created = js_->EnsureStream(c);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->config.duplicate_window, absl::Minutes(5));
  EXPECT_FALSE(created->config.memory_storage);
  auto again = js_->EnsureStream(c);
  ASSERT_TRUE(again.ok()) << again.status();

  // Compatible changes are applied.
  c.max_age = absl::Hours(24);
  c.subjects = {"blocks", "blocks.extra"};
  auto updated = js_->EnsureStream(c);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->config.max_age, absl::Hours(24));
  EXPECT_EQ(updated->config.subjects.size(), 2u);

  // Conflicts name the field.
  StreamConfig memory = c;
  memory.memory_storage = true;
  auto conflict = js_->EnsureStream(memory);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument) << conflict.status();
  EXPECT_THAT(std::string(conflict.status().message()), HasSubstr("storage"));
  EXPECT_THAT(std::string(conflict.status().message()), HasSubstr(server_.url()));

  StreamConfig window = c;
  window.max_age = absl::Minutes(1);
  auto bad = js_->EnsureStream(window);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("duplicate_window"));

  // A change the server refuses (subjects overlapping another stream) names the field.
  StreamConfig other;
  other.name = "OTHER";
  other.subjects = {"other"};
  ASSERT_TRUE(js_->EnsureStream(other).ok());
  StreamConfig overlap = c;
  overlap.subjects = {"blocks", "other"};
  auto refused = js_->EnsureStream(overlap);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("update of subjects refused"));

  auto missing = js_->GetStreamInfo("NOPE");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST_F(JetStreamTest, DeduplicatesByMsgId) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  auto first = js_->Publish("blocks", "one", {.msg_id = "id-1"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  EXPECT_EQ(first->stream, "BLOCKS");
  auto second = js_->Publish("blocks", "one again", {.msg_id = "id-1"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->sequence, first->sequence);
  auto info = js_->GetStreamInfo("BLOCKS", "blocks");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->messages, 1u);
  EXPECT_EQ(info->subject_last_msg_id, "id-1");
  auto last = js_->LastMessage("BLOCKS", "blocks");
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status();
  EXPECT_EQ((*last)->data, "one");
}

TEST_F(JetStreamTest, ExpectedLastMsgIdRefusesGapAndSecondWriterAndDedupesRetry) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  for (int h = 1; h <= 3; ++h) {
    auto ack = js_->Publish("blocks", absl::StrCat("block ", h), Fenced(h));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->sequence, static_cast<uint64_t>(h));
  }
  // A gap: height 5 after 3.
  auto gap = js_->Publish("blocks", "block 5", Fenced(5));
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition) << gap.status();
  EXPECT_THAT(std::string(gap.status().message()), HasSubstr("expected last msg id \"chain-1/4\""));
  EXPECT_THAT(std::string(gap.status().message()), HasSubstr("\"chain-1/3\""));
  std::cout << "gap: " << gap.status() << std::endl;
  // A second (stale) writer that believes the stream ends at height 1 writes its own height 2.
  PublishOptions stale;
  stale.msg_id = "chain-1/2-other";
  stale.expected_last_msg_id = "chain-1/1";
  auto zombie = js_->Publish("blocks", "other block 2", stale);
  EXPECT_EQ(zombie.status().code(), absl::StatusCode::kFailedPrecondition) << zombie.status();
  // The old leader retries height 3 after a lost ack: deduplicated, not refused.
  auto retry = js_->Publish("blocks", "block 3", Fenced(3));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->sequence, 3u);
  // expected_last_sequence fences too.
  PublishOptions by_seq;
  by_seq.expected_last_sequence = 2;
  auto wrong_seq = js_->Publish("blocks", "x", by_seq);
  EXPECT_EQ(wrong_seq.status().code(), absl::StatusCode::kFailedPrecondition) << wrong_seq.status();
  // A new leader resumes from the stream.
  auto info = js_->GetStreamInfo("BLOCKS", "blocks");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->last_sequence, 3u);
  EXPECT_EQ(info->subject_last_msg_id, "chain-1/3");
  EXPECT_EQ(info->subject_last_sequence, 3u);
  auto next = js_->Publish("blocks", "block 4", Fenced(4));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->duplicate);
}

TEST_F(JetStreamTest, ConcurrentPublishersOnOneConnection) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  constexpr int kThreads = 4, kEach = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every id twice: the second is a duplicate whichever thread wins.
        std::string id = absl::StrCat("id-", t, "-", i);
        for (int copy = 0; copy < 2; ++copy) {
          if (!js_->Publish("blocks", "x", {.msg_id = id}).ok()) failures++;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto info = js_->GetStreamInfo("BLOCKS");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->messages, static_cast<uint64_t>(kThreads * kEach));
}

TEST_F(JetStreamTest, NoStreamOnSubjectIsUnavailable) {
  auto ack = js_->Publish("nobody.listens", "x", {.msg_id = "a"});
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kUnavailable) << ack.status();
  EXPECT_THAT(std::string(ack.status().message()), HasSubstr("nobody.listens"));
}

TEST_F(JetStreamTest, StreamAndFencingSurviveServerCrash) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  for (int h = 1; h <= 5; ++h) ASSERT_TRUE(js_->Publish("blocks", "b", Fenced(h)).ok());
  ASSERT_TRUE(server_.Kill().ok());
  // While down: a clear error, never a silent success.
  auto down = js_->Publish("blocks", "b",
                           {.msg_id = "chain-1/6",
                            .expected_last_msg_id = "chain-1/5",
                            .timeout = absl::Milliseconds(300)});
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(down.status()) || absl::IsUnavailable(down.status()))
      << down.status();
  ASSERT_TRUE(server_.Restart().ok());
  // The same JetStream object reconnects by itself.
  absl::StatusOr<StreamInfo> info;
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    info = js_->GetStreamInfo("BLOCKS", "blocks");
                    return info.ok();
                  },
                  absl::Seconds(15), absl::Milliseconds(50))
                  .ok())
      << info.status();
  // The publish buffered while down may have landed on reconnect; either way the stream
  // ends at height 5 or 6 with no gap and the fence still holds.
  ASSERT_GE(info->last_sequence, 5u);
  int next = static_cast<int>(info->last_sequence) + 1;
  EXPECT_EQ(info->subject_last_msg_id, absl::StrCat("chain-1/", next - 1));
  auto ack = js_->Publish("blocks", "b", Fenced(next));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->sequence, static_cast<uint64_t>(next));
  auto gap = js_->Publish("blocks", "b", Fenced(next + 2));
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition) << gap.status();
}

TEST(JetStreamReconnectTest, ReconnectsAfterALongOutageWithBoundedBackoff) {
  gonka::testing::NatsServer server;
  ASSERT_TRUE(server.Start().ok());
  NatsOptions o;
  o.urls = {server.url()};
  o.timeout = absl::Milliseconds(300);
  o.reconnect_initial = absl::Milliseconds(50);
  o.reconnect_max = absl::Milliseconds(400);
  auto js = JetStream::Connect(o);
  ASSERT_TRUE(js.ok()) << js.status();
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s"};
  ASSERT_TRUE((*js)->EnsureStream(c).ok());
  ASSERT_TRUE(server.Kill().ok());
  // Many failed reconnect passes: the delay grows to reconnect_max, never gives up.
  absl::Time outage_end = absl::Now() + absl::Seconds(3);
  absl::Status last;
  while (absl::Now() < outage_end) {
    last = (*js)->GetStreamInfo("S").status();
    EXPECT_FALSE(last.ok());
  }
  EXPECT_THAT(std::string(last.message()), HasSubstr("(disconnected)")) << last;
  EXPECT_THAT(std::string(last.message()), HasSubstr(server.url())) << last;
  absl::Time restarted = absl::Now();
  ASSERT_TRUE(server.Restart().ok());
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return (*js)->Publish("s", "x").ok(); },
                                      absl::Seconds(10), absl::Milliseconds(20))
                  .ok());
  absl::Duration back = absl::Now() - restarted;
  std::cout << "publishing again " << back << " after the restart began (reconnect_max 400ms)"
            << std::endl;
  EXPECT_LT(back, absl::Seconds(5));
}

TEST_F(JetStreamTest, PausedServerIsDeadlineExceededThenRetryIsDeduplicated) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  ASSERT_TRUE(js_->Publish("blocks", "b", Fenced(1)).ok());
  ASSERT_TRUE(server_.Pause().ok());
  PublishOptions p = Fenced(2);
  p.timeout = absl::Milliseconds(500);
  absl::Time t0 = absl::Now();
  auto hung = js_->Publish("blocks", "block 2", p);
  absl::Duration took = absl::Now() - t0;
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded) << hung.status();
  EXPECT_THAT(std::string(hung.status().message()), HasSubstr(server_.url()));
  EXPECT_LT(took, absl::Seconds(2));
  std::cout << "paused: " << hung.status() << std::endl;
  ASSERT_TRUE(server_.Resume().ok());
  // The request reached the server's socket before the pause ended, so it is stored now: the
  // ack was lost, and the retry must be deduplicated rather than stored twice or refused.
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    auto info = js_->GetStreamInfo("BLOCKS");
                    return info.ok() && info->last_sequence == 2;
                  },
                  absl::Seconds(10), absl::Milliseconds(20))
                  .ok());
  p.timeout = absl::Seconds(2);
  auto retry = js_->Publish("blocks", "block 2", p);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->sequence, 2u);
  auto next = js_->Publish("blocks", "block 3", Fenced(3));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence, 3u);
}

// Collects the acks of an AsyncPublisher in arrival order.
struct AckLog {
  absl::Mutex mu;
  std::vector<std::pair<int, absl::StatusOr<PubAck>>> acks ABSL_GUARDED_BY(mu);
  AsyncPublisher::Done For(int h) {
    return [this, h](const absl::StatusOr<PubAck>& ack) {
      absl::MutexLock lock(&mu);
      acks.emplace_back(h, ack);
    };
  }
};

TEST_F(JetStreamTest, AsyncPublisherChainsFencedPublishesInOrder) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  auto pub = js_->NewAsyncPublisher(64);
  ASSERT_TRUE(pub.ok()) << pub.status();
  AckLog log;
  constexpr int kHeights = 500;
  for (int h = 1; h <= kHeights; ++h) {
    ASSERT_TRUE((*pub)->Publish("blocks", absl::StrCat("block ", h), Fenced(h), log.For(h)).ok());
  }
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  EXPECT_EQ((*pub)->pending(), 0);
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.acks.size(), static_cast<size_t>(kHeights));
  for (int i = 0; i < kHeights; ++i) {
    EXPECT_EQ(log.acks[i].first, i + 1);  // acks arrive in publish order
    ASSERT_TRUE(log.acks[i].second.ok()) << log.acks[i].second.status();
    EXPECT_EQ(log.acks[i].second->sequence, static_cast<uint64_t>(i + 1));
    EXPECT_FALSE(log.acks[i].second->duplicate);
  }
  auto info = js_->GetStreamInfo("BLOCKS", "blocks");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_last_msg_id, absl::StrCat("chain-1/", kHeights));
}

TEST_F(JetStreamTest, AsyncPublisherThatNeverPublishedClosesCleanly) {
  auto pub = js_->NewAsyncPublisher();
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ((*pub)->pending(), 0);
  EXPECT_TRUE((*pub)->Flush(absl::Milliseconds(10)).ok());
  pub->reset();
}

TEST_F(JetStreamTest, AsyncPublisherRefusedLinkRefusesTheRestAndRetriesDedupe) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  ASSERT_TRUE(js_->Publish("blocks", "b1", Fenced(1)).ok());
  ASSERT_TRUE(js_->Publish("blocks", "b2", Fenced(2)).ok());
  auto pub = js_->NewAsyncPublisher();
  ASSERT_TRUE(pub.ok()) << pub.status();
  AckLog log;
  // 2 again (a duplicate), then a gap: 4 expects 3, which is not there; 5 expects 4.
  ASSERT_TRUE((*pub)->Publish("blocks", "b2", Fenced(2), log.For(2)).ok());
  ASSERT_TRUE((*pub)->Publish("blocks", "b4", Fenced(4), log.For(4)).ok());
  ASSERT_TRUE((*pub)->Publish("blocks", "b5", Fenced(5), log.For(5)).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(5)).ok());
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.acks.size(), 3u);
  ASSERT_TRUE(log.acks[0].second.ok());
  EXPECT_TRUE(log.acks[0].second->duplicate);
  EXPECT_EQ(log.acks[0].second->sequence, 2u);
  EXPECT_EQ(log.acks[1].second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(log.acks[1].second.status().message()), HasSubstr("chain-1/2"));
  EXPECT_EQ(log.acks[2].second.status().code(), absl::StatusCode::kFailedPrecondition);
  auto info = js_->GetStreamInfo("BLOCKS");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_sequence, 2u);
}

TEST_F(JetStreamTest, AsyncPublisherTimesOutOnAPausedServerAndCancelsOnClose) {
  ASSERT_TRUE(js_->EnsureStream(Blocks()).ok());
  auto pub = js_->NewAsyncPublisher();
  ASSERT_TRUE(pub.ok()) << pub.status();
  AckLog log;
  ASSERT_TRUE(server_.Pause().ok());
  PublishOptions p = Fenced(1);
  p.timeout = absl::Milliseconds(300);
  ASSERT_TRUE((*pub)->Publish("blocks", "b1", p, log.For(1)).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(5)).ok());
  {
    absl::MutexLock lock(&log.mu);
    ASSERT_EQ(log.acks.size(), 1u);
    EXPECT_EQ(log.acks[0].second.status().code(), absl::StatusCode::kDeadlineExceeded)
        << log.acks[0].second.status();
  }
  // Still paused: this one is cancelled when the publisher closes.
  p = Fenced(2);
  p.timeout = absl::Seconds(30);
  ASSERT_TRUE((*pub)->Publish("blocks", "b2", p, log.For(2)).ok());
  pub->reset();
  ASSERT_TRUE(server_.Resume().ok());
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.acks.size(), 2u);
  EXPECT_EQ(log.acks[1].second.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace nats
}  // namespace gonka
