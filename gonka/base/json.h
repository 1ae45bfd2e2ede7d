// JSON string literals for hand-assembled JSON output (parsing is simdjson's job).
//
//   absl::StrCat("{\"reason\":", JsonQuote(status.message()), "}")
//
// Escapes per RFC 8259 §7: quote, backslash and control characters (as \n, \t, ... or \u00XX).
// Bytes >= 0x80 pass through unchanged (UTF-8 stays UTF-8). Thread-safe.
#ifndef GONKA_BASE_JSON_H_
#define GONKA_BASE_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

namespace gonka {

// `text` as a quoted JSON string, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace gonka

#endif  // GONKA_BASE_JSON_H_
