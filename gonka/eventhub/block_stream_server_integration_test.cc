// GET /v1/blocks/stream against a real JetStream block stream: from a height, resume with
// Last-Event-ID on another server (no gap, no duplicate), bad positions get 400 naming them, and a
// drain ends the stream cleanly (the response completes; the client resumes where it was).
#include "gonka/eventhub/block_stream_server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/net/sse.h"
#include "gonka/testing/block_stream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace eventhub {
namespace {

constexpr absl::Duration kWait = absl::Seconds(20);

// A server with the block stream route on a free port.
struct StreamServer {
  explicit StreamServer(nats::JetStream* js)
      : http({.name = "sse-test", .port = 0}), streams({.stream = "BLOCKS"}, js) {
    streams.AddRoutes(&http);
  }
  absl::Status Start() { return http.Start(); }
  std::string Url(absl::string_view query = "") const {
    return absl::StrCat("http://127.0.0.1:", http.port(), "/v1/blocks/stream", query);
  }
  net::HttpServer http;
  BlockStreamServer streams;
};

class BlockStreamServerTest : public testing::BlockStreamTest {
 protected:
  void Publish(int64_t from, int64_t to) {
    ASSERT_TRUE(testing::PublishBlocks(js_.get(), "sse", from, to).ok());
  }

  // Reads `url` until `count` block events arrived (or the stream ends); returns their ids.
  std::vector<int64_t> Read(const std::string& url, size_t count, net::HttpHeaders headers = {},
                            absl::Status* status = nullptr) {
    std::vector<int64_t> ids;
    net::SseReader reader([&](const net::SseMessage& m) {
      int64_t id = 0;
      EXPECT_EQ(m.event, "block");
      EXPECT_TRUE(absl::SimpleAtoi(m.id, &id)) << m.id;
      EXPECT_TRUE(absl::StrContains(m.data, absl::StrCat("\"height\":\"", id, "\""))) << m.data;
      ids.push_back(id);
      return ids.size() < count;
    });
    net::HttpCallOptions options;
    options.timeout = kWait;
    options.headers = std::move(headers);
    absl::StatusOr<net::HttpResponse> r = client_.Stream(
        url, [&](absl::string_view b) { return reader.Feed(b); }, options);
    if (status != nullptr) *status = r.status();
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) EXPECT_EQ(r->status, 200) << r->body;
    return ids;
  }

  net::HttpClient client_;
};

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t h = from; h <= to; ++h) out.push_back(h);
  return out;
}

TEST_F(BlockStreamServerTest, FromAHeightThenResumeWithLastEventIdOnAnotherServer) {
  Publish(1, 10);
  StreamServer a(js_.get()), b(js_.get());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_EQ(Read(a.Url("?from=3"), 4), Range(3, 6));
  // The client lost its connection after 6: it resumes on the other replica.
  net::HttpHeaders resume;
  resume.Set("Last-Event-ID", "6");
  std::vector<int64_t> rest;
  std::thread more([&] {
    absl::SleepFor(absl::Milliseconds(200));
    Publish(11, 12);  // live blocks arrive on the open stream too
  });
  rest = Read(b.Url("?from=1"), 6, resume);  // Last-Event-ID wins over ?from
  more.join();
  EXPECT_EQ(rest, Range(7, 12));
}

TEST_F(BlockStreamServerTest, BadPositionsAreRefusedNamingThem) {
  StreamServer a(js_.get());
  ASSERT_TRUE(a.Start().ok());
  absl::StatusOr<net::HttpResponse> r = client_.Get(a.Url("?from=ten"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "from \"ten\"")) << r->body;
  net::HttpCallOptions options;
  options.headers.Set("Last-Event-ID", "-4");
  r = client_.Get(a.Url(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "Last-Event-ID")) << r->body;
}

TEST_F(BlockStreamServerTest, DrainEndsTheStreamCleanlyAndTheClientResumes) {
  Publish(1, 5);
  StreamServer a(js_.get()), b(js_.get());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  absl::Mutex mu;
  std::vector<int64_t> ids;
  std::string last_id;
  absl::Status ended = absl::UnknownError("stream still open");
  bool done = false;
  std::thread reader([&] {
    net::SseReader sse([&](const net::SseMessage& m) {
      absl::MutexLock lock(&mu);
      int64_t id = 0;
      if (absl::SimpleAtoi(m.id, &id)) ids.push_back(id);
      last_id = m.id;
      return true;
    });
    net::HttpCallOptions options;
    options.timeout = kWait;
    absl::StatusOr<net::HttpResponse> r = client_.Stream(
        a.Url("?from=1"), [&](absl::string_view bytes) { return sse.Feed(bytes); }, options);
    absl::MutexLock lock(&mu);
    ended = r.status();
    done = true;
  });
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::MutexLock lock(&mu);
                    return ids.size() == 5;
                  },
                  kWait, absl::Milliseconds(20), "5 blocks on the stream")
                  .ok());
  EXPECT_EQ(a.streams.open_streams(), 1u);
  a.streams.CloseAll();  // the drain
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::MutexLock lock(&mu);
                    return done;
                  },
                  kWait, absl::Milliseconds(20), "the drained stream to end")
                  .ok());
  reader.join();
  EXPECT_TRUE(ended.ok()) << "a drained stream must end cleanly, got " << ended;
  ASSERT_TRUE(testing::WaitFor([&] { return a.streams.open_streams() == 0; }, kWait,
                               absl::Milliseconds(20), "no open stream after the drain")
                  .ok());
  // Blocks emitted meanwhile are not lost: resume on the other replica from the last id.
  Publish(6, 8);
  net::HttpHeaders resume;
  resume.Set("Last-Event-ID", last_id);
  EXPECT_EQ(Read(b.Url(), 3, resume), Range(6, 8));
  // After shutdown, new streams are refused with 503.
  a.streams.Shutdown();
  absl::StatusOr<net::HttpResponse> refused = client_.Get(a.Url("?from=1"));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 503);
}

}  // namespace
}  // namespace eventhub
}  // namespace gonka
