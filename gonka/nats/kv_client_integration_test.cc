#include <atomic>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/nats/kv_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace nats {
namespace {

using ::testing::HasSubstr;

TEST(NatsKvTest, UnreachableIsUnavailableNamingTheUrl) {
  NatsOptions o;
  o.urls = {absl::StrCat("nats://127.0.0.1:", gonka::testing::FreePort())};
  auto c = NatsClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(o.urls[0]));
}

TEST(NatsKvTest, CreateUpdateCasAndExpiry) {
  gonka::testing::NatsServer server;
  ASSERT_TRUE(server.Start().ok());
  NatsOptions o;
  o.urls = {server.url()};
  auto c = NatsClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto kv = (*c)->Bucket({.name = "t", .max_age = absl::Milliseconds(800)});
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto r1 = (*kv)->Create("k", "a");
  ASSERT_TRUE(r1.ok()) << r1.status();
  auto again = (*kv)->Create("k", "b");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  auto r2 = (*kv)->Update("k", "c", *r1);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_GT(*r2, *r1);
  auto stale = (*kv)->Update("k", "d", *r1);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  auto e = (*kv)->Get("k");
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->value, "c");
  EXPECT_EQ((*e)->revision, *r2);
  // Expires by max_age; revisions keep increasing afterwards.
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(gonka::testing::WaitFor(
                  [&] {
                    auto g = (*kv)->Get("k");
                    return g.ok() && !g->has_value();
                  },
                  absl::Seconds(5), absl::Milliseconds(5))
                  .ok());
  std::cout << "expired " << (absl::Now() - t0) << " after the last write (max_age 800ms)"
            << std::endl;
  auto r3 = (*kv)->Create("k", "e");
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_GT(*r3, *r2);
  // A bucket with another max_age is refused, naming the field.
  auto other = (*c)->Bucket({.name = "t", .max_age = absl::Seconds(5)});
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("max_age"));
}

TEST(NatsKvTest, PublishSubscribe) {
  gonka::testing::NatsServer server;
  ASSERT_TRUE(server.Start().ok());
  NatsOptions o;
  o.urls = {server.url()};
  auto c = NatsClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  std::atomic<int> got{0};
  auto sub = (*c)->Subscribe("x.y", [&](const std::string& d) {
    if (d == "hi") got++;
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE((*c)->Publish("x.y", "hi").ok());
  ASSERT_TRUE(gonka::testing::WaitFor([&] { return got.load() == 1; }, absl::Seconds(5)).ok());
  sub->reset();
}

}  // namespace
}  // namespace nats
}  // namespace gonka
