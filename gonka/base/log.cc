#include "gonka/base/log.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"

namespace gonka {
namespace log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

struct State {
  absl::Mutex mu;
  std::shared_ptr<spdlog::logger> logger ABSL_GUARDED_BY(mu);
  std::string static_fields ABSL_GUARDED_BY(mu);
};

State& GetState() {
  static State* state = [] {
    auto* s = new State;
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("gonka", sink);
    // UTC ISO-8601 timestamps; `level=` then the formatted payload.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);
    {
      absl::MutexLock lock(&s->mu);  // not yet shared; keeps the analysis exact
      s->logger = std::move(logger);
    }
    if (const char* env = std::getenv("GONKA_LOG_LEVEL"); env != nullptr && *env != '\0') {
      (void)SetLevelByName(env);
    }
    return s;
  }();
  return *state;
}

bool NeedsQuoting(absl::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t' || c == '\\') return true;
  }
  return false;
}

void AppendValue(std::string* out, absl::string_view v) {
  if (!NeedsQuoting(v)) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  out->append(
      absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}, {"\t", "\\t"}}));
  out->push_back('"');
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

Field::Field(absl::string_view k, absl::Duration d) : key(k), value(absl::FormatDuration(d)) {}

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

absl::Status SetLevelByName(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  if (n == "debug") {
    SetLevel(Level::kDebug);
  } else if (n == "info") {
    SetLevel(Level::kInfo);
  } else if (n == "warn" || n == "warning") {
    SetLevel(Level::kWarn);
  } else if (n == "error") {
    SetLevel(Level::kError);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("log level \"", name, "\": want debug, info, warn or error"));
  }
  return absl::OkStatus();
}

void SetStaticFields(std::initializer_list<Field> fields) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  s.static_fields = FormatFields(fields);
}

void SetTestOutput(std::ostream* out) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_sink_mt>()};
  if (out != nullptr) sinks.push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(*out));
  auto logger = std::make_shared<spdlog::logger>("gonka", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  s.logger = logger;
}

bool Enabled(Level level) {
  GetState();  // applies GONKA_LOG_LEVEL on first use
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string FormatFields(std::initializer_list<Field> fields) {
  std::string out;
  for (const Field& f : fields) {
    out.push_back(' ');
    out.append(f.key.data(), f.key.size());
    out.push_back('=');
    AppendValue(&out, f.value);
  }
  return out;
}

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  std::string line = "msg=";
  AppendValue(&line, msg);
  line += FormatFields(fields);
  State& s = GetState();
  std::shared_ptr<spdlog::logger> logger;
  {
    absl::MutexLock lock(&s.mu);
    line += s.static_fields;
    logger = s.logger;
  }
  logger->log(ToSpd(level), "{}", line);
}

}  // namespace log
}  // namespace gonka
