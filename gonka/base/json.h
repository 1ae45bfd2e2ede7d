// JSON output: string literals and a small streaming writer (parsing is simdjson's job).
//
//   absl::StrCat("{\"reason\":", JsonQuote(status.message()), "}")
//
//   JsonWriter w;
//   w.BeginObject().Key("height").String("12").Key("txs").BeginArray();
//   for (...) w.Int(code);
//   w.EndArray().EndObject();
//   std::string body = w.Take();      // {"height":"12","txs":[0,5]}
//
// Escapes per RFC 8259 §7: quote, backslash and control characters (as \n, \t, ... or \u00XX).
// Bytes >= 0x80 pass through unchanged (UTF-8 stays UTF-8). Thread-safe.
#ifndef GONKA_BASE_JSON_H_
#define GONKA_BASE_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gonka {

// `text` as a quoted JSON string, quotes included.
std::string JsonQuote(absl::string_view text);
void AppendJsonQuoted(std::string* out, absl::string_view text);

// Builds compact JSON; commas and key/value separators are placed automatically. Misuse (a value
// without a key inside an object, unbalanced End*) is a programming error and asserts in debug
// builds. Thread-compatible.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Already-encoded JSON (e.g. a cached sub-document) inserted as one value.
  JsonWriter& Raw(absl::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();

  std::string out_;
  // Per open container: whether it already holds an element. `after_key_` skips the comma.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace gonka

#endif  // GONKA_BASE_JSON_H_
