// JetStream on a 3-node loopback cluster with an R3 stream, as the event hub and the tx queue run
// in production: kill -9 the stream leader in the middle of a fenced publish sequence; the
// publisher (connected with every URL) retries each height with the same msg id until it is
// acknowledged, and the stream ends with every height exactly once, in order.
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nats {
namespace {

PublishOptions Fenced(int h) {
  PublishOptions p;
  p.msg_id = absl::StrCat("chain-1/", h);
  if (h > 1) p.expected_last_msg_id = absl::StrCat("chain-1/", h - 1);
  p.timeout = absl::Milliseconds(500);
  return p;
}

TEST(JetStreamClusterTest, R3StreamKeepsFencedSequenceAcrossLeaderKill) {
  gonka::testing::NatsCluster cluster;
  ASSERT_TRUE(cluster.Start().ok());
  NatsOptions o;
  o.urls = cluster.url_list();
  o.timeout = absl::Seconds(2);
  auto js = JetStream::Connect(o);
  ASSERT_TRUE(js.ok()) << js.status();
  StreamConfig c;
  c.name = "BLOCKS";
  c.subjects = {"blocks"};
  c.replicas = 3;
  auto created = (*js)->EnsureStream(c);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->config.replicas, 3);

  int retries = 0, duplicates = 0;
  std::map<absl::StatusCode, std::string> seen_errors;  // one example per code
  absl::Duration longest_pause;
  // Publishes height `h`, retrying transport errors for up to 30 s; its stream sequence, or 0.
  auto publish = [&](int h) {
    const absl::Time start = absl::Now();
    uint64_t sequence = 0;
    absl::Status last;
    absl::Status acked = gonka::testing::WaitFor(
        [&] {
          auto ack = (*js)->Publish("blocks", absl::StrCat("block ", h), Fenced(h));
          if (ack.ok()) {
            if (ack->duplicate) duplicates++;
            longest_pause = std::max(longest_pause, absl::Now() - start);
            sequence = ack->sequence;
            return true;
          }
          last = ack.status();
          // Only transport errors are retried; a fencing error would be a gap or a double write.
          if (!absl::IsDeadlineExceeded(last) && !absl::IsUnavailable(last)) return true;
          retries++;
          seen_errors.emplace(last.code(), std::string(last.message()));
          return false;
        },
        absl::Seconds(30), absl::Milliseconds(50), absl::StrCat("height ", h, " acknowledged"));
    EXPECT_TRUE(acked.ok()) << acked << "; last error: " << last;
    EXPECT_TRUE(sequence != 0 || absl::IsDeadlineExceeded(last) || absl::IsUnavailable(last))
        << "height " << h << ": not a transport error: " << last;
    return sequence;
  };

  for (int h = 1; h <= 20; ++h) ASSERT_EQ(publish(h), static_cast<uint64_t>(h));
  auto info = (*js)->GetStreamInfo("BLOCKS");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_FALSE(info->leader.empty());
  int leader = -1;
  ASSERT_TRUE(absl::SimpleAtoi(info->leader.substr(1), &leader)) << info->leader;
  std::cout << "killing stream leader " << info->leader << std::endl;
  ASSERT_TRUE(cluster.node(leader).Kill().ok());

  for (int h = 21; h <= 40; ++h) ASSERT_EQ(publish(h), static_cast<uint64_t>(h));
  absl::StatusOr<StreamInfo> after;
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    after = (*js)->GetStreamInfo("BLOCKS", "blocks");
                    return after.ok();
                  },
                  absl::Seconds(10), absl::Milliseconds(50))
                  .ok())
      << after.status();
  EXPECT_EQ(after->messages, 40u);
  EXPECT_EQ(after->last_sequence, 40u);
  EXPECT_EQ(after->subject_last_msg_id, "chain-1/40");
  EXPECT_NE(after->leader, info->leader);
  std::cout << "new leader " << after->leader << ", retries " << retries << ", duplicates "
            << duplicates << ", longest publish pause " << longest_pause << std::endl;
  for (const auto& [code, message] : seen_errors) {
    std::cout << "  during failover: " << absl::StatusCodeToString(code) << ": " << message
              << std::endl;
  }
  // A second writer still cannot fork the chain after the failover.
  auto fork = (*js)->Publish("blocks", "x", Fenced(40 - 1));
  ASSERT_TRUE(fork.ok()) << fork.status();  // chain-1/39 is within the window: a duplicate
  EXPECT_TRUE(fork->duplicate);
  PublishOptions stale;
  stale.msg_id = "chain-1/39-other";
  stale.expected_last_msg_id = "chain-1/38";
  EXPECT_EQ((*js)->Publish("blocks", "x", stale).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace nats
}  // namespace gonka
