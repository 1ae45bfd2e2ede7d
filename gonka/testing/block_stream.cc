#include "gonka/testing/block_stream.h"

#include "absl/strings/str_cat.h"

namespace gonka {
namespace testing {

absl::Status PublishBlocks(nats::JetStream* js, const std::string& chain_id, int64_t from,
                           int64_t to, const std::function<void(chain::v1::BlockEvents&)>& fill) {
  for (int64_t h = from; h <= to; ++h) {
    chain::v1::BlockEvents b;
    b.set_chain_id(chain_id);
    b.set_height(h);
    if (fill) fill(b);
    nats::PublishOptions o;
    o.msg_id = absl::StrCat(chain_id, "/", h);
    if (h > 1) o.expected_last_msg_id = absl::StrCat(chain_id, "/", h - 1);
    absl::StatusOr<nats::PubAck> ack = js->Publish("blocks", b.SerializeAsString(), o);
    if (!ack.ok()) {
      return absl::Status(ack.status().code(),
                          absl::StrCat("publish height ", h, ": ", ack.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ReadBlockHeights(nats::JetStream& js,
                                                      const std::string& durable) {
  absl::StatusOr<std::unique_ptr<nats::PullConsumer>> consumer =
      js.Consumer({.stream = "BLOCKS", .durable = durable, .filter_subject = "blocks"});
  if (!consumer.ok()) return consumer.status();
  std::vector<int64_t> heights;
  while (true) {
    absl::StatusOr<std::vector<nats::JsMessage>> batch =
        (*consumer)->Fetch(100, absl::Milliseconds(500));
    if (!batch.ok() || batch->empty()) break;
    for (nats::JsMessage& m : *batch) {
      chain::v1::BlockEvents b;
      if (!b.ParseFromString(m.data())) {
        return absl::DataLossError(absl::StrCat("record ", m.msg_id(), " is not a BlockEvents"));
      }
      if (m.msg_id() != absl::StrCat(b.chain_id(), "/", b.height())) {
        return absl::DataLossError(
            absl::StrCat("record of height ", b.height(), " has msg id \"", m.msg_id(), "\""));
      }
      heights.push_back(b.height());
      if (absl::Status s = m.Ack(); !s.ok()) return s;
    }
  }
  return heights;
}

void BlockStreamTest::SetUp() {
  ASSERT_TRUE(nats_.Start().ok());
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = {nats_.url()}});
  ASSERT_TRUE(js.ok()) << js.status();
  js_ = std::move(*js);
  ASSERT_TRUE(js_->EnsureStream({.name = "BLOCKS", .subjects = {"blocks"}}).ok());
}

absl::Status ExpectConsecutive(const std::vector<int64_t>& heights) {
  if (heights.empty()) return absl::NotFoundError("no heights");
  for (size_t i = 1; i < heights.size(); ++i) {
    if (heights[i] != heights[i - 1] + 1) {
      return absl::DataLossError(absl::StrCat("height ", heights[i], " follows ", heights[i - 1],
                                              " at position ", i, " (gap, duplicate or reorder)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace gonka
