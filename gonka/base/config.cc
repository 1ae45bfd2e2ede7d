#include "gonka/base/config.h"

#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace gonka {
namespace {

std::string EnvNameFor(absl::string_view flag) {
  return absl::StrCat("GONKA_", absl::AsciiStrToUpper(absl::StrReplaceAll(flag, {{"-", "_"}})));
}

bool LooksSecret(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  return absl::StrContains(n, "password") || absl::StrContains(n, "mnemonic") ||
         absl::StrContains(n, "secret") || absl::StrContains(n, "private");
}

std::string Quote(absl::string_view raw) { return absl::StrCat("\"", raw, "\""); }

// A value as it may be shown (errors, the start-up config dump): the password of a URL's
// user:password@ and the value of any password=... (libpq conninfo or URL query) replaced, so a
// URL flag that wrongly carries a secret does not print it while being refused for it.
std::string RedactCredentials(absl::string_view raw) {
  std::string out(raw);
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?#", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at > start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "<redacted>");
    }
  }
  std::string lower = absl::AsciiStrToLower(out);
  for (size_t pos = lower.find("password="); pos != std::string::npos;
       pos = lower.find("password=", pos + 1)) {
    size_t start = pos + 9;
    size_t end = start;
    if (end < out.size() && out[end] == '\'') {
      end = out.find('\'', end + 1);
      end = end == std::string::npos ? out.size() : end + 1;
    } else {
      end = out.find_first_of(" \t&", start);
      if (end == std::string::npos) end = out.size();
    }
    out.replace(start, end - start, "<redacted>");
    lower = absl::AsciiStrToLower(out);
  }
  return out;
}

bool ParseBool(absl::string_view raw, bool* out) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
  if (v == "1" || v == "true" || v == "yes" || v == "on") {
    *out = true;
    return true;
  }
  if (v == "0" || v == "false" || v == "no" || v == "off") {
    *out = false;
    return true;
  }
  return false;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

EnvLookup MapEnv(const std::map<std::string, std::string>* env) {
  return [env](const char* name) -> const char* {
    auto it = env->find(name);
    return it == env->end() ? nullptr : it->second.c_str();
  };
}

bool ParseDurationFlag(absl::string_view text, absl::Duration* out) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (t.empty()) return false;
  double seconds;
  if (absl::SimpleAtod(t, &seconds)) {
    if (!(seconds >= 0) || seconds > 1e9) return false;
    *out = absl::Seconds(seconds);
    return true;
  }
  absl::Duration d;
  if (!absl::ParseDuration(t, &d)) return false;
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) return false;
  *out = d;
  return true;
}

Config::Field& Config::Field::Env(std::string env_name) {
  env = std::move(env_name);
  return *this;
}

Config::Field& Config::Field::Required() {
  required = true;
  return *this;
}

Config::Field& Config::Field::Range(int64_t min, int64_t max) {
  checks.push_back([min, max](absl::string_view raw) -> std::string {
    int64_t v;
    if (!absl::SimpleAtoi(raw, &v)) return "";  // the parser reports it
    if (v < min || v > max) return absl::StrCat("must be in [", min, ", ", max, "]");
    return "";
  });
  return *this;
}

Config::Field& Config::Field::Positive() {
  checks.push_back([](absl::string_view raw) -> std::string {
    absl::Duration d;
    if (ParseDurationFlag(raw, &d)) return d > absl::ZeroDuration() ? "" : "must be > 0";
    double v;
    if (absl::SimpleAtod(raw, &v)) return v > 0 ? "" : "must be > 0";
    return "";
  });
  return *this;
}

Config::Field& Config::Field::NonNegative() {
  checks.push_back([](absl::string_view raw) -> std::string {
    double v;
    if (absl::SimpleAtod(raw, &v)) return v >= 0 ? "" : "must be >= 0";
    absl::Duration d;
    if (ParseDurationFlag(raw, &d)) return d >= absl::ZeroDuration() ? "" : "must be >= 0";
    return "";
  });
  return *this;
}

Config::Field& Config::Field::OneOf(std::vector<std::string> values) {
  checks.push_back([values](absl::string_view raw) -> std::string {
    for (const auto& v : values) {
      if (v == raw) return "";
    }
    return absl::StrCat("must be one of: ", absl::StrJoin(values, ", "));
  });
  return *this;
}

Config::Field& Config::Field::Check(std::function<std::string(absl::string_view)> check) {
  checks.push_back(std::move(check));
  return *this;
}

Config::Config(std::string program) : program_(std::move(program)) {}

Config::Field& Config::Add(std::string name, std::string default_text, std::string help,
                           std::function<std::string(absl::string_view)> apply) {
  auto field = std::make_unique<Field>();
  field->env = EnvNameFor(name);
  field->name = std::move(name);
  field->default_text = std::move(default_text);
  field->help = std::move(help);
  field->apply = std::move(apply);
  field->source = "default";
  field->raw = field->default_text;
  fields_.push_back(std::move(field));
  return *fields_.back();
}

Config::Field& Config::AddString(std::string name, std::string* out, std::string default_value,
                                 std::string help) {
  *out = default_value;
  return Add(std::move(name), default_value, std::move(help),
             [out](absl::string_view raw) -> std::string {
               *out = std::string(raw);
               return "";
             });
}

Config::Field& Config::AddInt(std::string name, int64_t* out, int64_t default_value,
                              std::string help) {
  *out = default_value;
  return Add(std::move(name), absl::StrCat(default_value), std::move(help),
             [out](absl::string_view raw) -> std::string {
               int64_t v;
               if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(raw), &v)) {
                 return "not an integer";
               }
               *out = v;
               return "";
             });
}

Config::Field& Config::AddInt(std::string name, int* out, int default_value, std::string help) {
  *out = default_value;
  return Add(std::move(name), absl::StrCat(default_value), std::move(help),
             [out](absl::string_view raw) -> std::string {
               int v;
               if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(raw), &v)) {
                 return "not an integer";
               }
               *out = v;
               return "";
             });
}

Config::Field& Config::AddPort(std::string name, int* out, int default_value, std::string help) {
  return AddInt(std::move(name), out, default_value, std::move(help)).Range(0, 65535);
}

Config::Field& Config::AddDuration(std::string name, absl::Duration* out,
                                   absl::Duration default_value, std::string help) {
  *out = default_value;
  return Add(std::move(name), absl::FormatDuration(default_value), std::move(help),
             [out](absl::string_view raw) -> std::string {
               absl::Duration d;
               if (!ParseDurationFlag(raw, &d)) return "not a duration (e.g. 500ms, 30s, 5m)";
               *out = d;
               return "";
             });
}

Config::Field& Config::AddBool(std::string name, bool* out, bool default_value, std::string help) {
  *out = default_value;
  Field& f = Add(std::move(name), default_value ? "true" : "false", std::move(help),
                 [out](absl::string_view raw) -> std::string {
                   bool v;
                   if (!ParseBool(raw, &v)) return "not a boolean (true/false)";
                   *out = v;
                   return "";
                 });
  f.is_bool = true;
  return f;
}

Config::Field& Config::AddDouble(std::string name, double* out, double default_value,
                                 std::string help) {
  *out = default_value;
  return Add(std::move(name), absl::StrCat(default_value), std::move(help),
             [out](absl::string_view raw) -> std::string {
               double v;
               if (!absl::SimpleAtod(absl::StripAsciiWhitespace(raw), &v)) return "not a number";
               *out = v;
               return "";
             });
}

absl::Status Config::Apply(Field& field, absl::string_view raw, std::string source) {
  auto fail = [&](absl::string_view reason) {
    std::string where = absl::StrCat("--", field.name);
    if (!field.env.empty()) absl::StrAppend(&where, " (env ", field.env, ")");
    std::string shown = LooksSecret(field.name) ? "<redacted>" : Quote(RedactCredentials(raw));
    return absl::InvalidArgumentError(
        absl::StrCat(program_, " config: ", where, " = ", shown, " from ", source, ": ", reason));
  };
  std::string reason = field.apply(raw);
  if (!reason.empty()) return fail(reason);
  for (const auto& check : field.checks) {
    reason = check(raw);
    if (!reason.empty()) return fail(reason);
  }
  field.raw = std::string(raw);
  field.source = std::move(source);
  field.set = true;
  return absl::OkStatus();
}

absl::Status Config::Parse(int argc, const char* const* argv, EnvLookup env) {
  std::map<std::string, Field*> by_name;
  for (auto& f : fields_) {
    by_name[f->name] = f.get();
    by_name[absl::StrReplaceAll(f->name, {{"-", "_"}})] = f.get();
  }
  // Environment.
  for (auto& f : fields_) {
    if (f->env.empty()) continue;
    const char* value = env(f->env.c_str());
    if (value == nullptr) continue;
    if (absl::Status s = Apply(*f, value, absl::StrCat("env ", f->env)); !s.ok()) return s;
  }
  // Flags.
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) args_.emplace_back(argv[i]);
      break;
    }
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      args_.emplace_back(arg);
      continue;
    }
    if (arg == "help" || arg == "h") {
      help_requested_ = true;
      continue;
    }
    std::string name;
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    } else {
      name = std::string(arg);
    }
    auto it = by_name.find(name);
    if (it == by_name.end() && !has_value && absl::StartsWith(name, "no")) {
      auto neg = by_name.find(name.substr(2));
      if (neg != by_name.end() && neg->second->is_bool) {
        if (absl::Status s = Apply(*neg->second, "false", absl::StrCat("flag --", name)); !s.ok()) {
          return s;
        }
        continue;
      }
    }
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(program_, " config: unknown flag --", name, " (see --help)"));
    }
    Field* f = it->second;
    if (!has_value) {
      if (f->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(program_, " config: --", f->name, " needs a value"));
      }
    }
    if (absl::Status s = Apply(*f, value, absl::StrCat("flag --", f->name)); !s.ok()) return s;
  }
  for (auto& f : fields_) {
    if (f->required && !f->set && !help_requested_) {
      std::string where = absl::StrCat("--", f->name);
      if (!f->env.empty()) absl::StrAppend(&where, " (env ", f->env, ")");
      return absl::InvalidArgumentError(
          absl::StrCat(program_, " config: ", where, " is required: ", f->help));
    }
  }
  return absl::OkStatus();
}

std::string Config::Usage() const {
  std::string out = absl::StrCat("usage: ", program_, " [flags]\n");
  for (const auto& f : fields_) {
    absl::StrAppend(&out, "  --", f->name, f->is_bool ? "" : "=VALUE");
    if (!f->env.empty()) absl::StrAppend(&out, "  (env ", f->env, ")");
    absl::StrAppend(&out, "\n      ", f->help);
    if (f->required) {
      absl::StrAppend(&out, " [required]");
    } else {
      absl::StrAppend(&out, " [default: ", f->default_text.empty() ? "\"\"" : f->default_text, "]");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string Config::Describe() const {
  std::vector<std::string> parts;
  for (const auto& f : fields_) {
    std::string shown = LooksSecret(f->name) ? "<redacted>" : RedactCredentials(f->raw);
    parts.push_back(absl::StrCat(f->name, "=", shown, " (", f->source, ")"));
  }
  return absl::StrJoin(parts, "\n");
}

}  // namespace gonka
