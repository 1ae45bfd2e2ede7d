#include "gonka/base/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace gonka {
namespace {

using ::testing::HasSubstr;

TEST(LogTest, StructuredKeyValueLine) {
  std::ostringstream out;
  log::SetTestOutput(&out);
  log::SetLevel(log::Level::kInfo);
  GONKA_LOG_INFO("leader elected", {"token", 7}, {"identity", "edge 1"}, {"ok", true});
  GONKA_LOG_DEBUG("hidden", {"x", 1});
  log::SetTestOutput(nullptr);
  std::string line = out.str();
  EXPECT_THAT(line,
              HasSubstr("level=info msg=\"leader elected\" token=7 identity=\"edge 1\" ok=true"));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("hidden")));
}

TEST(LogTest, LevelByName) {
  EXPECT_TRUE(log::SetLevelByName("debug").ok());
  EXPECT_TRUE(log::Enabled(log::Level::kDebug));
  EXPECT_EQ(log::SetLevelByName("loud").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(log::SetLevelByName("info").ok());
  EXPECT_FALSE(log::Enabled(log::Level::kDebug));
}

TEST(LogTest, QuotesAndEscapes) {
  EXPECT_EQ(log::FormatFields({{"a", "x=y"}, {"b", ""}, {"c", "q\""}}),
            " a=\"x=y\" b=\"\" c=\"q\\\"\"");
}

}  // namespace
}  // namespace gonka
