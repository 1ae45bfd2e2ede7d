// Structured logging: one line per event, `key=value` fields, through spdlog.
//
//   GONKA_LOG_INFO("leader elected", {"token", token}, {"identity", id});
//   // 2026-11-24T10:00:00.123Z level=info msg="leader elected" token=7 identity=edge-1
//
// Values are quoted when they contain spaces, quotes or '='. Never pass key material: nothing here
// redacts. Thread-safe. Level from GONKA_LOG_LEVEL (debug|info|warn|error) or SetLevel().
#ifndef GONKA_BASE_LOG_H_
#define GONKA_BASE_LOG_H_

#include <initializer_list>
#include <ostream>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace gonka {
namespace log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One `key=value` pair. Any type absl::StrCat accepts can be a value; absl::Status and
// absl::Duration also work.
struct Field {
  Field(absl::string_view k, const absl::AlphaNum& v) : key(k), value(v.data(), v.size()) {}
  Field(absl::string_view k, const absl::Status& s) : key(k), value(s.ToString()) {}
  Field(absl::string_view k, absl::Duration d);
  // Only a real bool binds here (an int must not narrow to bool).
  template <typename B, std::enable_if_t<std::is_same_v<B, bool>, int> = 0>
  Field(absl::string_view k, B b) : key(k), value(b ? "true" : "false") {}
  absl::string_view key;
  std::string value;
};

void SetLevel(Level level);
Level GetLevel();
// Parses "debug", "info", "warn", "error". InvalidArgument naming the bad value otherwise.
absl::Status SetLevelByName(absl::string_view name);
// Process-level context fields written on every line (e.g. service=edge-api replica=2).
void SetStaticFields(std::initializer_list<Field> fields);
// Tests: send lines to `out` as well (nullptr restores stderr only).
void SetTestOutput(std::ostream* out);

bool Enabled(Level level);
void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields);

// Formats fields as ` k=v k2="v 2"` (leading space). Exposed for tests and for error context.
std::string FormatFields(std::initializer_list<Field> fields);

}  // namespace log
}  // namespace gonka

#define GONKA_LOG_AT_(level, msg, ...)                \
  do {                                                \
    if (::gonka::log::Enabled(level)) {               \
      ::gonka::log::Write(level, msg, {__VA_ARGS__}); \
    }                                                 \
  } while (0)

#define GONKA_LOG_DEBUG(msg, ...) GONKA_LOG_AT_(::gonka::log::Level::kDebug, msg, ##__VA_ARGS__)
#define GONKA_LOG_INFO(msg, ...) GONKA_LOG_AT_(::gonka::log::Level::kInfo, msg, ##__VA_ARGS__)
#define GONKA_LOG_WARN(msg, ...) GONKA_LOG_AT_(::gonka::log::Level::kWarn, msg, ##__VA_ARGS__)
#define GONKA_LOG_ERROR(msg, ...) GONKA_LOG_AT_(::gonka::log::Level::kError, msg, ##__VA_ARGS__)

#endif  // GONKA_BASE_LOG_H_
