#include "gonka/base/json.h"

#include "gtest/gtest.h"

namespace gonka {
namespace {

TEST(JsonQuoteTest, EscapesWhatRfc8259Requires) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("l1\nl2\t\r"), "\"l1\\nl2\\t\\r\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonQuote("h\xc3\xa9"), "\"h\xc3\xa9\"");  // UTF-8 passes through
}

TEST(JsonWriterTest, PlacesSeparators) {
  JsonWriter w;
  w.BeginObject()
      .Key("height")
      .String("12")
      .Key("codes")
      .BeginArray()
      .Int(0)
      .Int(-5)
      .Uint(7)
      .EndArray()
      .Key("empty")
      .BeginObject()
      .EndObject()
      .Key("list")
      .BeginArray()
      .BeginObject()
      .Key("a")
      .Bool(true)
      .EndObject()
      .Null()
      .Raw("{\"x\":1}")
      .EndArray()
      .EndObject();
  EXPECT_EQ(w.Take(),
            "{\"height\":\"12\",\"codes\":[0,-5,7],\"empty\":{},"
            "\"list\":[{\"a\":true},null,{\"x\":1}]}");
}

}  // namespace
}  // namespace gonka
