// Config: typed settings from command-line flags and the environment, validated at start.
//
// Every setting has a flag (`--shutdown-grace=30s`) and an environment variable
// (`GONKA_SHUTDOWN_GRACE`, or a name of its own such as libpq's `PGHOST`). A flag beats the
// environment, which beats the default. Parse() checks every value and returns InvalidArgument
// whose message names the field, where it came from and the bad value, so a daemon stops at start:
//
//   config: --shutdown-grace (env GONKA_SHUTDOWN_GRACE) = "ten": not a duration (e.g. 500ms, 30s,
//   5m)
//
//   Config config("edge-api");
//   std::string rpc; absl::Duration grace; int port;
//   config.AddString("chain-rpc-url", &rpc, "http://127.0.0.1:26657", "CometBFT RPC URL");
//   config.AddDuration("shutdown-grace", &grace, absl::Seconds(30), "drain budget")
//       .Positive();
//   config.AddPort("port", &port, 18080, "public HTTP port");
//   RETURN_IF_ERROR(config.Parse(argc, argv));
//
// Thread-compatible: parse once in main().
#ifndef GONKA_BASE_CONFIG_H_
#define GONKA_BASE_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {

// Environment lookup, injectable for tests.
using EnvLookup = std::function<const char*(const char* name)>;
EnvLookup ProcessEnv();
EnvLookup MapEnv(const std::map<std::string, std::string>* env);

class Config {
 public:
  // One registered setting; the fluent methods add constraints checked by Parse().
  class Field {
   public:
    // Env var name other than GONKA_<NAME> (e.g. "PGHOST"). "" disables the environment.
    Field& Env(std::string env_name);
    // Parse() fails if neither flag nor env gave a value.
    Field& Required();
    // Integers: inclusive range. Durations: > 0.
    Field& Range(int64_t min, int64_t max);
    Field& Positive();
    Field& NonNegative();
    // Strings: one of the listed values.
    Field& OneOf(std::vector<std::string> values);
    // Any extra check; return a reason ("must be a ws:// URL") or "" when fine.
    Field& Check(std::function<std::string(absl::string_view raw)> check);

   private:
    friend class Config;
    std::string name;
    std::string env;
    std::string help;
    std::string default_text;
    bool required = false;
    bool is_bool = false;
    // Parses and stores raw; returns a reason on failure.
    std::function<std::string(absl::string_view raw)> apply;
    std::vector<std::function<std::string(absl::string_view raw)>> checks;
    std::string source;  // where the value came from, for errors and the config dump
    std::string raw;
    bool set = false;
  };

  explicit Config(std::string program);
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  Field& AddString(std::string name, std::string* out, std::string default_value, std::string help);
  Field& AddInt(std::string name, int64_t* out, int64_t default_value, std::string help);
  Field& AddInt(std::string name, int* out, int default_value, std::string help);
  // A TCP port 0..65535 (0 = pick a free one).
  Field& AddPort(std::string name, int* out, int default_value, std::string help);
  Field& AddDuration(std::string name, absl::Duration* out, absl::Duration default_value,
                     std::string help);
  Field& AddBool(std::string name, bool* out, bool default_value, std::string help);
  Field& AddDouble(std::string name, double* out, double default_value, std::string help);

  // Parses `--name=value`, `--name value` and `--flag` / `--noflag` (bools). Unknown flags and
  // bad values are InvalidArgument naming the field; `--help` sets help_requested() and returns OK.
  absl::Status Parse(int argc, const char* const* argv, EnvLookup env = ProcessEnv());

  bool help_requested() const { return help_requested_; }
  // One line per field: flag, env, default, help.
  std::string Usage() const;
  // `name=value (source)` for every field, for the start-up log. Fields named like secrets
  // (`*password*`, `*mnemonic*`, `*key*` values) print as "<redacted>".
  std::string Describe() const;
  // Positional arguments left after the flags.
  const std::vector<std::string>& args() const { return args_; }

 private:
  Field& Add(std::string name, std::string default_text, std::string help,
             std::function<std::string(absl::string_view)> apply);
  absl::Status Apply(Field& field, absl::string_view raw, std::string source);

  std::string program_;
  std::vector<std::unique_ptr<Field>> fields_;
  std::vector<std::string> args_;
  bool help_requested_ = false;
};

// Parses a duration such as "500ms", "30s", "5m", "1h30m" (absl syntax) or a bare number of
// seconds ("30"). Returns false on anything else.
bool ParseDurationFlag(absl::string_view text, absl::Duration* out);

}  // namespace gonka

#endif  // GONKA_BASE_CONFIG_H_
