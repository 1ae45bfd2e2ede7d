// PullConsumer against a real nats-server -js: a durable shared by two fetchers gives each message
// to exactly one, nak with delay, ack-wait expiry and backoff redeliver, term stops redelivery,
// dead-letter carries the reason, and consumer state survives a server crash (file storage).
#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nats {
namespace {

class PullConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    js_ = Connect();
    ASSERT_NE(js_, nullptr);
    StreamConfig c;
    c.name = "TX";
    c.subjects = {"chain.tx", "chain.tx.dead"};
    auto info = js_->EnsureStream(c);
    ASSERT_TRUE(info.ok()) << info.status();
  }

  std::unique_ptr<JetStream> Connect() {
    NatsOptions o;
    o.urls = {server_.url()};
    o.timeout = absl::Seconds(2);
    auto js = JetStream::Connect(o);
    EXPECT_TRUE(js.ok()) << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  ConsumerConfig Signers() {
    ConsumerConfig c;
    c.stream = "TX";
    c.durable = "signers";
    c.filter_subject = "chain.tx";
    return c;
  }

  void Enqueue(int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      auto ack = js_->Publish("chain.tx", absl::StrCat("tx ", i), {.msg_id = absl::StrCat("k", i)});
      ASSERT_TRUE(ack.ok()) << ack.status();
    }
  }

  // Fetches until one message arrives or `timeout` passes (nullopt: none; some callers expect
  // that).
  std::optional<JsMessage> FetchOne(PullConsumer& c, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::optional<JsMessage> got;
    gonka::testing::WaitFor(
        [&] {
          auto batch = c.Fetch(1, std::clamp(deadline - absl::Now(), absl::Milliseconds(1),
                                             absl::Milliseconds(200)));
          EXPECT_TRUE(batch.ok()) << batch.status();
          if (!batch.ok()) return true;
          if (!batch->empty()) got = std::move(batch->front());
          return got.has_value();
        },
        deadline, absl::ZeroDuration(), "a message")
        .IgnoreError();  // the callers check got
    return got;
  }

  gonka::testing::NatsServer server_;
  std::unique_ptr<JetStream> js_;
};

TEST_F(PullConsumerTest, SharedDurableGivesEachMessageToExactlyOneFetcher) {
  constexpr int kMessages = 300;
  Enqueue(kMessages);
  auto other_js = Connect();
  ASSERT_NE(other_js, nullptr);
  auto a = js_->Consumer(Signers());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = other_js->Consumer(Signers());  // binds to the same durable
  ASSERT_TRUE(b.ok()) << b.status();

  std::mutex mu;
  std::map<uint64_t, int> seen;  // stream sequence -> deliveries
  std::map<int, int> per_fetcher;
  auto run = [&](PullConsumer* consumer, int id) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (static_cast<int>(seen.size()) == kMessages) return;
      }
      auto batch = consumer->Fetch(7, absl::Milliseconds(200));
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (JsMessage& m : *batch) {
        EXPECT_EQ(m.num_delivered(), 1u);
        EXPECT_EQ(m.data(), absl::StrCat("tx ", m.msg_id().substr(1)));
        ASSERT_TRUE(m.AckSync().ok());
        std::lock_guard<std::mutex> lock(mu);
        seen[m.stream_sequence()]++;
        per_fetcher[id]++;
      }
    }
  };
  std::thread ta(run, a->get(), 0);
  std::thread tb(run, b->get(), 1);
  ta.join();
  tb.join();
  ASSERT_EQ(static_cast<int>(seen.size()), kMessages);
  for (const auto& [seq, n] : seen) EXPECT_EQ(n, 1) << "stream sequence " << seq;
  std::cout << "fetcher 0 got " << per_fetcher[0] << ", fetcher 1 got " << per_fetcher[1]
            << std::endl;
  // Nothing is left for anyone.
  auto rest = (*a)->Fetch(10, absl::Milliseconds(300));
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->empty());
}

TEST_F(PullConsumerTest, NakWithDelayRedeliversAfterTheDelay) {
  Enqueue(1);
  auto c = js_->Consumer(Signers());
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(m.has_value());
  absl::Time naked = absl::Now();
  ASSERT_TRUE(m->Nak(absl::Milliseconds(700)).ok());
  EXPECT_EQ(m->Ack().code(), absl::StatusCode::kFailedPrecondition);  // already naked
  auto again = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(again.has_value());
  absl::Duration waited = absl::Now() - naked;
  EXPECT_GE(waited, absl::Milliseconds(600)) << waited;
  EXPECT_EQ(again->stream_sequence(), m->stream_sequence());
  EXPECT_EQ(again->num_delivered(), 2u);
  ASSERT_TRUE(again->AckSync().ok());
  std::cout << "nak(700ms) redelivered after " << waited << std::endl;
}

TEST_F(PullConsumerTest, AckWaitExpiryAndBackoffRedeliver) {
  Enqueue(1);
  ConsumerConfig cc = Signers();
  cc.ack_wait = absl::Milliseconds(400);
  cc.max_deliver = 3;
  cc.backoff = {absl::Milliseconds(400), absl::Milliseconds(900)};
  auto c = js_->Consumer(cc);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Time last = absl::Now();
  std::vector<absl::Duration> gaps;
  for (uint64_t delivery = 1; delivery <= 3; ++delivery) {
    auto m = FetchOne(**c, absl::Seconds(5));
    ASSERT_TRUE(m.has_value()) << "delivery " << delivery;
    EXPECT_EQ(m->num_delivered(), delivery);
    if (delivery > 1) gaps.push_back(absl::Now() - last);
    last = absl::Now();
    // Not acked: dropped here, redelivered after the backoff.
  }
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_GE(gaps[0], absl::Milliseconds(300)) << gaps[0];
  EXPECT_GE(gaps[1], absl::Milliseconds(800)) << gaps[1];
  std::cout << "redelivery gaps " << gaps[0] << ", " << gaps[1] << " (backoff 400ms, 900ms)"
            << std::endl;
  // max_deliver reached: no fourth delivery.
  EXPECT_FALSE(FetchOne(**c, absl::Milliseconds(1500)).has_value());
}

TEST_F(PullConsumerTest, InProgressExtendsAckWait) {
  Enqueue(1);
  ConsumerConfig cc = Signers();
  cc.ack_wait = absl::Milliseconds(1500);
  auto c = js_->Consumer(cc);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(m.has_value());
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(500));  // part of the work being simulated
    ASSERT_TRUE(m->InProgress().ok());
  }
  // 2 s of work with a 1.5 s ack wait: not redelivered meanwhile.
  auto none = (*c)->Fetch(1, absl::Milliseconds(300));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(m->AckSync().ok());
}

TEST_F(PullConsumerTest, TermStopsRedelivery) {
  Enqueue(2);
  ConsumerConfig cc = Signers();
  cc.ack_wait = absl::Milliseconds(300);
  auto c = js_->Consumer(cc);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->Term().ok());
  auto second = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->stream_sequence(), m->stream_sequence());
  ASSERT_TRUE(second->AckSync().ok());
  // Three ack waits later, the termed message has not come back.
  EXPECT_FALSE(FetchOne(**c, absl::Milliseconds(1000)).has_value());
}

TEST_F(PullConsumerTest, DeadLetterCarriesMessageAndReason) {
  PublishOptions p;
  p.msg_id = "inference-7/MsgRecord";
  p.headers["Producer"] = "node-manager";
  ASSERT_TRUE(js_->Publish("chain.tx", "undecodable bytes", p).ok());
  ConsumerConfig cc = Signers();
  cc.ack_wait = absl::Milliseconds(300);
  auto c = js_->Consumer(cc);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE((*c)->DeadLetter(*m, "chain.tx.dead", "undecodable message: bad Any").ok());
  auto dead = js_->LastMessage("TX", "chain.tx.dead");
  ASSERT_TRUE(dead.ok() && dead->has_value()) << dead.status();
  EXPECT_EQ((*dead)->data, "undecodable bytes");
  EXPECT_EQ((*dead)->headers.at(kDeadReasonHeader), "undecodable message: bad Any");
  EXPECT_EQ((*dead)->headers.at(kDeadSubjectHeader), "chain.tx");
  EXPECT_EQ((*dead)->headers.at(kDeadSequenceHeader), absl::StrCat(m->stream_sequence()));
  EXPECT_EQ((*dead)->headers.at("Producer"), "node-manager");
  EXPECT_EQ((*dead)->headers.at("Gonka-Dead-Msg-Id"), "inference-7/MsgRecord");
  // Termed: not redelivered to the signers; the dead-letter subject is outside their filter.
  EXPECT_FALSE(FetchOne(**c, absl::Milliseconds(1000)).has_value());
}

TEST_F(PullConsumerTest, ConsumerStateSurvivesServerRestartAndCrash) {
  for (bool crash : {false, true}) {
    SCOPED_TRACE(crash ? "kill -9" : "graceful stop");
    ConsumerConfig cc = Signers();
    cc.durable = crash ? "after-crash" : "after-stop";
    std::set<uint64_t> acked;
    {
      auto c = js_->Consumer(cc);
      ASSERT_TRUE(c.ok()) << c.status();
      if (!crash) Enqueue(5);
      while (acked.size() < 2) {
        auto m = FetchOne(**c, absl::Seconds(5));
        ASSERT_TRUE(m.has_value());
        ASSERT_TRUE(m->AckSync().ok());
        acked.insert(m->stream_sequence());
      }
    }
    ASSERT_TRUE((crash ? server_.Kill() : server_.Stop()).ok());
    ASSERT_TRUE(server_.Restart().ok());
    js_ = Connect();  // a restarted process: new connection, same durable
    ASSERT_NE(js_, nullptr);
    absl::StatusOr<std::unique_ptr<PullConsumer>> again;
    ASSERT_TRUE(gonka::testing::WaitFor(
                    [&] {
                      again = js_->Consumer(cc);
                      return again.ok();
                    },
                    absl::Seconds(15), absl::Milliseconds(50))
                    .ok())
        << again.status();
    std::multiset<uint64_t> delivered;
    while (true) {
      auto b = (*again)->Fetch(5, absl::Seconds(1));
      ASSERT_TRUE(b.ok()) << b.status();
      if (b->empty()) break;
      for (JsMessage& m : *b) {
        delivered.insert(m.stream_sequence());
        ASSERT_TRUE(m.AckSync().ok());
      }
    }
    // Nothing unacked is lost, nothing is delivered twice after the restart.
    for (uint64_t seq : {3, 4, 5}) EXPECT_EQ(delivered.count(seq), 1u) << "sequence " << seq;
    for (uint64_t seq : delivered) EXPECT_EQ(delivered.count(seq), 1u) << "sequence " << seq;
    if (!crash) {
      EXPECT_EQ(delivered.size(), 3u);  // a graceful stop keeps every ack
    } else {
      // nats-server 2.9 writes consumer state (acks and delivery counts) to disk asynchronously:
      // a kill -9 right after an AckSync may forget it, and the message comes back looking new
      // (num_delivered 1). At-least-once: consumers must be idempotent (the tx queue's ledger
      // check, the event hub subscriber's height check).
      std::cout << "after kill -9: " << delivered.size() - 3 << " acked message(s) redelivered"
                << std::endl;
    }
  }
}

TEST_F(PullConsumerTest, PausedServerAckSyncIsDeadlineExceededThenRetrySucceeds) {
  Enqueue(2);
  ConsumerConfig cc = Signers();
  cc.ack_wait = absl::Seconds(3);
  auto c = js_->Consumer(cc);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(server_.Pause().ok());
  absl::Status hung = m->AckSync();
  EXPECT_EQ(hung.code(), absl::StatusCode::kDeadlineExceeded) << hung;
  EXPECT_THAT(std::string(hung.message()), ::testing::HasSubstr(server_.url()));
  auto none = (*c)->Fetch(1, absl::Milliseconds(300));  // a hung server: empty, not an error
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(server_.Resume().ok());
  absl::Status retried = m->AckSync();  // the same ack again: accepted
  EXPECT_TRUE(retried.ok()) << retried;
  auto second = FetchOne(**c, absl::Seconds(5));
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->stream_sequence(), m->stream_sequence());
  ASSERT_TRUE(second->AckSync().ok());
  // The first message was acked once the server resumed: no redelivery after ack_wait.
  EXPECT_FALSE(FetchOne(**c, absl::Seconds(4)).has_value());
}

TEST_F(PullConsumerTest, BadConfigsNameTheField) {
  ConsumerConfig cc = Signers();
  cc.max_deliver = 2;
  cc.backoff = {absl::Seconds(1), absl::Seconds(2)};
  auto bad = js_->Consumer(cc);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("max_deliver"));
  ASSERT_TRUE(js_->Consumer(Signers()).ok());
  ConsumerConfig other = Signers();
  other.filter_subject = "chain.tx.dead";
  auto conflict = js_->Consumer(other);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument) << conflict.status();
  EXPECT_THAT(std::string(conflict.status().message()), ::testing::HasSubstr("filter_subject"));
  // No filter: every subject of the stream.
  Enqueue(1);
  ASSERT_TRUE(js_->Publish("chain.tx.dead", "d").ok());
  ConsumerConfig all = Signers();
  all.durable = "all";
  all.filter_subject = "";
  auto every = js_->Consumer(all);
  ASSERT_TRUE(every.ok()) << every.status();
  std::set<std::string> subjects;
  for (int i = 0; i < 2; ++i) {
    auto m = FetchOne(**every, absl::Seconds(5));
    ASSERT_TRUE(m.has_value());
    subjects.insert(m->subject());
    ASSERT_TRUE(m->Ack().ok());
  }
  EXPECT_EQ(subjects, (std::set<std::string>{"chain.tx", "chain.tx.dead"}));
  ConsumerConfig missing = Signers();
  missing.stream = "NOPE";
  EXPECT_EQ(js_->Consumer(missing).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nats
}  // namespace gonka
