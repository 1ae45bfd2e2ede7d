// TxQueue / TxConsumer against a real nats-server -js: validation names the field, duplicate
// enqueues are stored once, a shared durable gives each request to exactly one signer, and every
// unsendable request lands on chain.tx.dead with its reason.
#include "gonka/txqueue/txqueue.h"

#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace txqueue {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

ChainTx Request(const std::string& key,
                const std::string& type_url = "/gonka.devchain.v1.MsgRecord") {
  ChainTx tx;
  tx.set_idempotency_key(key);
  auto* any = tx.add_messages();
  any->set_type_url(type_url);
  any->set_value("payload-" + key);
  tx.set_producer("test");
  return tx;
}

TEST(ValidateTest, NamesTheField) {
  ChainTx tx = Request("k1");
  EXPECT_TRUE(Validate(tx).ok());

  ChainTx no_key = tx;
  no_key.clear_idempotency_key();
  EXPECT_EQ(Validate(no_key).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Validate(no_key).message()), HasSubstr("idempotency_key"));

  ChainTx long_key = tx;
  long_key.set_idempotency_key(std::string(kMaxKeyLength + 1, 'x'));
  EXPECT_THAT(std::string(Validate(long_key).message()), HasSubstr("idempotency_key"));
  long_key.set_idempotency_key(std::string(kMaxKeyLength, 'x'));
  EXPECT_TRUE(Validate(long_key).ok());

  ChainTx no_msgs = tx;
  no_msgs.clear_messages();
  EXPECT_EQ(Validate(no_msgs).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Validate(no_msgs).message()), HasSubstr("messages"));

  ChainTx no_type = tx;
  no_type.add_messages();
  EXPECT_THAT(std::string(Validate(no_type).message()), HasSubstr("messages[1].type_url"));
}

class TxQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    js_ = Connect();
    ASSERT_NE(js_, nullptr);
    queue_ = std::make_unique<TxQueue>(js_.get());
    auto info = queue_->EnsureStream();
    ASSERT_TRUE(info.ok()) << info.status();
  }

  std::unique_ptr<nats::JetStream> Connect() {
    nats::NatsOptions o;
    o.urls = {server_.url()};
    o.timeout = absl::Seconds(2);
    auto js = nats::JetStream::Connect(o);
    EXPECT_TRUE(js.ok()) << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  std::unique_ptr<TxConsumer> Bind(nats::JetStream* js, ConsumerOptions o = {}) {
    o.ack_wait = absl::Seconds(10);
    auto c = TxConsumer::Bind(js, o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // The last dead letter, or nullopt.
  std::optional<nats::StoredMessage> LastDead() {
    auto m = js_->LastMessage(kStream, kDeadSubject);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::nullopt;
  }

  // Reasons of every dead letter so far, in order (through a durable of its own).
  std::vector<std::string> DeadReasons(size_t want) {
    nats::ConsumerConfig c;
    c.stream = kStream;
    c.durable = absl::StrCat("dead-reader-", ++readers_);
    c.filter_subject = kDeadSubject;
    auto consumer = js_->Consumer(c);
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    std::vector<std::string> out;
    if (!consumer.ok()) return out;
    absl::Status fetch_error;
    absl::Status waited = gonka::testing::WaitFor(
        [&] {
          auto batch = (*consumer)->Fetch(10, absl::Milliseconds(200));
          if (!batch.ok()) {
            fetch_error = batch.status();
            return true;
          }
          for (auto& m : *batch) {
            auto it = m.headers().find(nats::kDeadReasonHeader);
            out.push_back(it == m.headers().end() ? "" : it->second);
            m.Ack().IgnoreError();
          }
          return out.size() >= want;
        },
        absl::Seconds(5), absl::ZeroDuration(), absl::StrCat(want, " dead letters"));
    EXPECT_TRUE(fetch_error.ok()) << fetch_error;
    if (!waited.ok()) std::cout << "DeadReasons: " << waited << " (got " << out.size() << ")\n";
    return out;
  }

  // Fetches until `want` deliveries arrived; fewer after `timeout` (logged: the callers check the
  // count, and some expect none).
  std::vector<Delivery> FetchAtLeast(TxConsumer& c, size_t want, absl::Duration timeout) {
    std::vector<Delivery> out;
    absl::Status fetch_error;
    absl::Status waited = gonka::testing::WaitFor(
        [&] {
          auto batch = c.Fetch(static_cast<int>(want - out.size()), absl::Milliseconds(200));
          if (!batch.ok()) {
            fetch_error = batch.status();
            return true;
          }
          for (auto& d : *batch) out.push_back(std::move(d));
          return out.size() >= want;
        },
        timeout, absl::ZeroDuration(), absl::StrCat(want, " deliveries"));
    EXPECT_TRUE(fetch_error.ok()) << fetch_error;
    if (!waited.ok()) std::cout << "FetchAtLeast: " << waited << " (got " << out.size() << ")\n";
    return out;
  }

  gonka::testing::NatsServer server_;
  std::unique_ptr<nats::JetStream> js_;
  std::unique_ptr<TxQueue> queue_;
  int readers_ = 0;
};

TEST_F(TxQueueTest, InvalidEnqueueIsRefusedBeforePublishing) {
  ChainTx tx = Request("");
  auto r = queue_->Enqueue(tx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("idempotency_key"));
  auto n = queue_->StreamMessages();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST_F(TxQueueTest, DuplicateEnqueueIsStoredOnceAndReportedAsDuplicate) {
  auto first = queue_->Enqueue(Request("inf-1/finish"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  auto second = queue_->Enqueue(Request("inf-1/finish"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->sequence, first->sequence);
  auto other = queue_->Enqueue(Request("inf-2/finish"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(other->duplicate);
  auto n = queue_->StreamMessages();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);

  auto consumer = Bind(js_.get());
  ASSERT_NE(consumer, nullptr);
  auto got = FetchAtLeast(*consumer, 2, absl::Seconds(5));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key(), "inf-1/finish");
  EXPECT_EQ(got[0].tx().producer(), "test");
  EXPECT_TRUE(got[0].tx().has_enqueued_at());
  for (auto& d : got) EXPECT_TRUE(consumer->Ack(d).ok());
  // Nothing more arrives.
  auto more = consumer->Fetch(5, absl::Milliseconds(300));
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

TEST_F(TxQueueTest, SharedDurableGivesEachRequestToExactlyOneSigner) {
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(queue_->Enqueue(Request(absl::StrCat("k", i))).ok());
  }
  auto js2 = Connect();
  ASSERT_NE(js2, nullptr);
  auto a = Bind(js_.get());
  auto b = Bind(js2.get());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  std::mutex mu;
  std::map<std::string, int> seen;
  std::map<int, int> per_signer;
  auto run = [&](TxConsumer* c, int id) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> l(mu);
        int total = 0;
        for (auto& [k, n] : seen) total += n;
        if (total >= kRequests) return;
      }
      auto batch = c->Fetch(7, absl::Milliseconds(200));
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (auto& d : *batch) {
        {
          std::lock_guard<std::mutex> l(mu);
          seen[d.key()]++;
          per_signer[id]++;
        }
        ASSERT_TRUE(c->Ack(d).ok());
      }
    }
  };
  std::thread ta(run, a.get(), 0), tb(run, b.get(), 1);
  ta.join();
  tb.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kRequests));
  for (auto& [k, n] : seen) EXPECT_EQ(n, 1) << k;
  EXPECT_GT(per_signer[0], 0);
  EXPECT_GT(per_signer[1], 0);
}

TEST_F(TxQueueTest, MalformedPayloadIsDeadLetteredWithReason) {
  auto ack =
      js_->Publish(kSubject, std::string("\xff\xff\xff not a proto"), {.msg_id = "garbage-1"});
  ASSERT_TRUE(ack.ok()) << ack.status();
  ASSERT_TRUE(queue_->Enqueue(Request("good")).ok());
  auto consumer = Bind(js_.get());
  ASSERT_NE(consumer, nullptr);
  auto got = FetchAtLeast(*consumer, 1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key(), "good");
  EXPECT_TRUE(consumer->Ack(got[0]).ok());

  auto dead = LastDead();
  ASSERT_TRUE(dead.has_value());
  EXPECT_THAT(dead->headers[nats::kDeadReasonHeader], StartsWith("undecodable: "));
  EXPECT_THAT(dead->headers[nats::kDeadReasonHeader], HasSubstr("garbage-1"));
  EXPECT_EQ(dead->headers[nats::kDeadSubjectHeader], kSubject);
  EXPECT_EQ(dead->data, std::string("\xff\xff\xff not a proto"));
  // Termed: it does not come back.
  auto more = consumer->Fetch(5, absl::Milliseconds(300));
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

TEST_F(TxQueueTest, ExpiredDeadlineIsDeadLettered) {
  ChainTx tx = Request("late");
  tx.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Minutes(1)));
  ASSERT_TRUE(queue_->Enqueue(tx).ok());
  ChainTx ok = Request("in-time");
  ok.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  ASSERT_TRUE(queue_->Enqueue(ok).ok());

  auto consumer = Bind(js_.get());
  ASSERT_NE(consumer, nullptr);
  auto got = FetchAtLeast(*consumer, 1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key(), "in-time");
  auto dead = LastDead();
  ASSERT_TRUE(dead.has_value());
  EXPECT_THAT(dead->headers[nats::kDeadReasonHeader], StartsWith("expired: chain tx late"));
  ChainTx back;
  ASSERT_TRUE(back.ParseFromString(dead->data));
  EXPECT_EQ(back.idempotency_key(), "late");
}

TEST_F(TxQueueTest, UnknownTypeAndEmptyMessagesAreDeadLettered) {
  ASSERT_TRUE(queue_->Enqueue(Request("strange", "/x.y.MsgUnknown")).ok());
  ChainTx empty;  // bypasses Enqueue's validation, as a non-C++ producer might
  empty.set_idempotency_key("empty");
  ASSERT_TRUE(js_->Publish(kSubject, empty.SerializeAsString(), {.msg_id = "empty"}).ok());

  ConsumerOptions o;
  o.known_type_urls = {"/gonka.devchain.v1.MsgRecord"};
  auto consumer = Bind(js_.get(), o);
  ASSERT_NE(consumer, nullptr);
  auto got = FetchAtLeast(*consumer, 1, absl::Seconds(2));
  EXPECT_TRUE(got.empty());
  std::vector<std::string> reasons = DeadReasons(2);
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0],
            "unknown_type: chain tx strange: message type /x.y.MsgUnknown is not known to this "
            "signer");
  EXPECT_EQ(reasons[1], "invalid: chain tx empty: messages is empty");
}

TEST_F(TxQueueTest, RetryRedeliversAndDeadLettersWhenExhausted) {
  ASSERT_TRUE(queue_->Enqueue(Request("flaky")).ok());
  ConsumerOptions o;
  o.max_deliver = 2;
  auto consumer = Bind(js_.get(), o);
  ASSERT_NE(consumer, nullptr);
  auto got = FetchAtLeast(*consumer, 1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].num_delivered(), 1u);
  ASSERT_TRUE(consumer->Retry(got[0], absl::Milliseconds(100), "node unavailable").ok());
  got = FetchAtLeast(*consumer, 1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].num_delivered(), 2u);
  ASSERT_TRUE(consumer->Retry(got[0], absl::Milliseconds(100), "node unavailable").ok());
  auto dead = LastDead();
  ASSERT_TRUE(dead.has_value());
  EXPECT_THAT(dead->headers[nats::kDeadReasonHeader],
              StartsWith("retries_exhausted: chain tx flaky"));
  EXPECT_THAT(dead->headers[nats::kDeadReasonHeader], HasSubstr("node unavailable"));

  // And a permanent chain rejection.
  ASSERT_TRUE(queue_->Enqueue(Request("bad-sig")).ok());
  got = FetchAtLeast(*consumer, 1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(consumer->DeadLetter(got[0], kReasonRejected, "code 4 unauthorized").ok());
  dead = LastDead();
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->headers[nats::kDeadReasonHeader],
            "rejected: chain tx bad-sig: code 4 unauthorized");
}

}  // namespace
}  // namespace txqueue
}  // namespace gonka
