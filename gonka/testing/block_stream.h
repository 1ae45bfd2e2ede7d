// Test helpers for the JetStream block stream (the event hub's BLOCKS stream): publish synthetic
// BlockEvents the way the emitter does (Nats-Msg-Id "<chain>/<h>", Expected-Last-Msg-Id
// "<chain>/<h-1>"), and read a stream back to check it is gap-free. Test-only.
//
//   ASSERT_TRUE(testing::PublishBlocks(js.get(), "sub", 1, 20).ok());
//   absl::StatusOr<std::vector<int64_t>> heights = testing::ReadBlockHeights(*js, "checker");
#ifndef GONKA_TESTING_BLOCK_STREAM_H_
#define GONKA_TESTING_BLOCK_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

// Publishes heights from..to of chain `chain_id` on subject "blocks"; `fill` may add txs and
// events to each record. Errors name the height.
absl::Status PublishBlocks(nats::JetStream* js, const std::string& chain_id, int64_t from,
                           int64_t to,
                           const std::function<void(chain::v1::BlockEvents&)>& fill = {});

// Reads subject "blocks" of stream "BLOCKS" from its start through a new durable consumer until
// nothing more arrives for 500 ms; returns the heights in stream order. DataLoss when a record
// is not a BlockEvents or its Nats-Msg-Id is not "<its chain>/<its height>".
absl::StatusOr<std::vector<int64_t>> ReadBlockHeights(nats::JetStream& js,
                                                      const std::string& durable);

// A gtest fixture base: a nats-server with JetStream and an empty stream "BLOCKS" (subject
// "blocks"), connected as js_.
class BlockStreamTest : public ::testing::Test {
 protected:
  void SetUp() override;
  NatsServer nats_;
  std::unique_ptr<nats::JetStream> js_;
};

// OK when `heights` is non-empty and consecutive (no gap, no duplicate, no reorder); otherwise
// the first offending position.
absl::Status ExpectConsecutive(const std::vector<int64_t>& heights);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_BLOCK_STREAM_H_
