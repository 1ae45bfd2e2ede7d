#include "gonka/base/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gonka {
namespace {

TEST(MetricsTest, CounterAppearsInTextExposition) {
  auto& family = prometheus::BuildCounter()
                     .Name("gonka_test_events_total")
                     .Help("Test events")
                     .Register(metrics::Registry());
  family.Add({{"kind", "a"}}).Increment(3);
  std::string text = metrics::ExposeText();
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE gonka_test_events_total counter"));
  EXPECT_THAT(text, ::testing::HasSubstr("gonka_test_events_total{kind=\"a\"} 3"));
}

}  // namespace
}  // namespace gonka
