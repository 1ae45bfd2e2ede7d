#include "gonka/testing/election_env.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace election {
namespace testenv {

RedisEnv::RedisEnv()
    : ServerEnv([] {
        gonka::testing::RedisServer::Options o;
        o.appendonly = true;
        return o;
      }()) {}

CandidateBackendOptions RedisEnv::Options(const std::string& election) const {
  CandidateBackendOptions o;
  o.backend = "redis";
  o.redis.host = "127.0.0.1";
  o.redis.port = server_.port();
  o.election = election;
  return o;
}

std::vector<std::string> RedisEnv::CandidateArgs() const {
  return {"--backend=redis", absl::StrCat("--redis=127.0.0.1:", server_.port())};
}

CandidateBackendOptions NatsEnv::Options(const std::string& election) const {
  CandidateBackendOptions o;
  o.backend = "nats";
  o.nats_urls = {server_.url()};
  o.election = election;
  return o;
}

std::vector<std::string> NatsEnv::CandidateArgs() const {
  return {"--backend=nats", "--nats=" + server_.url()};
}

int64_t Event::Int(const std::string& key) const {
  auto it = fields.find(key);
  int64_t v = 0;
  if (it == fields.end() || !absl::SimpleAtoi(it->second, &v)) return -1;
  return v;
}

std::vector<Event> ParseEvents(const std::string& text) {
  std::vector<Event> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "EVENT ")) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() < 4) continue;
    Event e;
    if (!absl::SimpleAtoi(parts[1], &e.unix_micros)) continue;
    e.identity = parts[2];
    e.kind = parts[3];
    for (size_t i = 4; i < parts.size(); ++i) {
      std::pair<std::string, std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
      if (absl::StartsWith(kv.second, "\"")) {  // a quoted value with spaces: reason="a b"
        while (!(kv.second.size() > 1 && absl::EndsWith(kv.second, "\"")) && i + 1 < parts.size()) {
          kv.second += " " + parts[++i];
        }
        kv.second = kv.second.substr(1, kv.second.size() >= 2 ? kv.second.size() - 2 : 0);
      }
      if (!kv.second.empty()) e.fields[kv.first] = kv.second;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Candidate::Candidate(std::string identity, std::vector<std::string> args,
                     const std::string& log_dir)
    : identity_(std::move(identity)) {
  gonka::testing::SubprocessOptions o;
  auto bin = gonka::testing::ResolveRunfile("gonka/testing/election_candidate");
  o.argv = {bin.ok() ? *bin : "election_candidate", "--identity=" + identity_};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.log_path = absl::StrCat(log_dir, "/", identity_, ".log");
  process_ = std::make_unique<gonka::testing::Subprocess>(o);
}

absl::Status Candidate::Start() { return process_->Start(); }

std::vector<Event> Candidate::Events() const {
  std::ifstream in(process_->log_path());
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseEvents(ss.str());
}

std::vector<Event> Candidate::Events(const std::string& kind) const {
  std::vector<Event> out;
  for (Event& e : Events()) {
    if (e.kind == kind) out.push_back(std::move(e));
  }
  return out;
}

bool Candidate::BelievesLeader() const {
  int64_t elected = -1, revoked = -1;
  for (const Event& e : Events()) {
    if (e.kind == "READY") elected = revoked = -1;  // a restart: earlier lines are history
    if (e.kind == "ELECTED") elected = e.unix_micros;
    if (e.kind == "REVOKED" || e.kind == "STOPPED") revoked = e.unix_micros;
  }
  return elected >= 0 && elected >= revoked;
}

absl::StatusOr<int> CheckFencedCounter(const std::vector<Candidate*>& candidates) {
  std::map<int64_t, std::pair<int64_t, std::string>> by_value;  // value -> token, identity
  for (Candidate* c : candidates) {
    for (const Event& e : c->Events()) {
      if ((e.kind != "WRITE" && e.kind != "ZOMBIE") || e.Int("applied") != 1) continue;
      int64_t value = e.Int("value");
      if (!by_value.emplace(value, std::make_pair(e.Int("token"), c->identity())).second) {
        return absl::InternalError(absl::StrCat("counter value ", value, " applied twice"));
      }
    }
  }
  int64_t last_token = 0;
  std::string last_writer;
  for (const auto& [value, tw] : by_value) {
    if (tw.first < last_token) {
      return absl::InternalError(absl::StrCat("value ", value, " written by ", tw.second,
                                              " with token ", tw.first, " after ", last_writer,
                                              " wrote with token ", last_token));
    }
    last_token = tw.first;
    last_writer = tw.second;
  }
  return static_cast<int>(by_value.size());
}

}  // namespace testenv
}  // namespace election
}  // namespace gonka
