#include "gonka/nodestatus/internal/prometheus_text.h"

#include <cmath>

#include "gtest/gtest.h"

namespace gonka {
namespace nodestatus {
namespace internal {
namespace {

TEST(PrometheusTextTest, ReadsSamplesLabelsAndValues) {
  ParsedMetrics m = ParsePrometheusText(
      "# HELP gonka_txqueue_dead_lettered_total Requests moved to chain.tx.dead\n"
      "# TYPE gonka_txqueue_dead_lettered_total counter\n"
      "gonka_txqueue_dead_lettered_total{reason=\"undecodable\"} 2\n"
      "gonka_txqueue_dead_lettered_total{reason=\"expired\"} 1.5e1\n"
      "gonka_txqueue_backlog 7\n"
      "gonka_x{a=\"q\\\"uo,te\",b=\"x\"} +Inf\n"
      "gonka_y{a=\"1\",} 3 1700000000000\n"
      "  \n");
  EXPECT_EQ(m.skipped, 0);
  ASSERT_EQ(m.samples.size(), 5u);
  EXPECT_EQ(m.Sum("gonka_txqueue_dead_lettered_total"), 17);
  EXPECT_EQ(m.Sum("gonka_txqueue_dead_lettered_total", {{"reason", "undecodable"}}), 2);
  std::map<std::string, double> by = m.SumBy("gonka_txqueue_dead_lettered_total", "reason");
  EXPECT_EQ(by["expired"], 15);
  EXPECT_EQ(m.samples[3].labels.at("a"), "q\"uo,te");
  EXPECT_TRUE(std::isinf(m.samples[3].value));
  EXPECT_EQ(m.Sum("gonka_y"), 3);
  EXPECT_TRUE(m.Has("gonka_txqueue_backlog"));
  EXPECT_FALSE(m.Has("gonka_nothing"));
}

TEST(PrometheusTextTest, SkipsBrokenLinesWithoutFailing) {
  ParsedMetrics m = ParsePrometheusText("{oops} 1\nname{a=\"unterminated 1\nname abc\ngood 1\n");
  EXPECT_EQ(m.skipped, 3);
  ASSERT_EQ(m.samples.size(), 1u);
  EXPECT_EQ(m.samples[0].name, "good");
}

}  // namespace
}  // namespace internal
}  // namespace nodestatus
}  // namespace gonka
