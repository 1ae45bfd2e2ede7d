// Test support shared by the election integration tests and the failover benchmark: a server
// environment per backend (typed-test parameter) and candidate processes whose event lines are
// parsed from their logs.
#ifndef GONKA_TESTING_ELECTION_ENV_H_
#define GONKA_TESTING_ELECTION_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/testing/election_backends.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace election {
namespace testenv {

// A plain Redis with appendonly (so the epoch survives a restart).
// The server part shared by the backend environments: start, crash, restart.
template <typename Server>
class ServerEnv {
 public:
  ServerEnv() = default;
  explicit ServerEnv(typename Server::Options options) : server_(std::move(options)) {}
  absl::Status Start() { return server_.Start(); }
  absl::Status Kill() { return server_.Kill(); }
  absl::Status Restart() { return server_.Restart(); }
  gonka::testing::ServerFixture& server() { return server_; }

 protected:
  Server server_;
};

class RedisEnv : public ServerEnv<gonka::testing::RedisServer> {
 public:
  static constexpr const char* kName = "redis";
  RedisEnv();
  CandidateBackendOptions Options(const std::string& election) const;
  std::vector<std::string> CandidateArgs() const;
};

// A single JetStream NATS server (file storage, so revisions survive a restart).
class NatsEnv : public ServerEnv<gonka::testing::NatsServer> {
 public:
  static constexpr const char* kName = "nats";
  CandidateBackendOptions Options(const std::string& election) const;
  std::vector<std::string> CandidateArgs() const;
};

// One event line of election_candidate.
struct Event {
  int64_t unix_micros = 0;
  std::string identity;
  std::string kind;  // READY, ELECTED, REVOKED, WRITE, ZOMBIE, ZOMBIE_SUMMARY, STOPPED
  std::map<std::string, std::string> fields;
  int64_t Int(const std::string& key) const;
  absl::Time time() const { return absl::FromUnixMicros(unix_micros); }
};

std::vector<Event> ParseEvents(const std::string& log_text);

// One election_candidate process.
class Candidate {
 public:
  Candidate(std::string identity, std::vector<std::string> args, const std::string& log_dir);
  absl::Status Start();
  gonka::testing::Subprocess& process() { return *process_; }
  const std::string& identity() const { return identity_; }
  std::vector<Event> Events() const;
  // Events of one kind.
  std::vector<Event> Events(const std::string& kind) const;
  // True if, since its last READY (start), its last ELECTED is after its last REVOKED/STOPPED.
  bool BelievesLeader() const;

 private:
  std::string identity_;
  std::unique_ptr<gonka::testing::Subprocess> process_;
};

// Checks the fenced counter across every candidate's applied writes: no value applied twice, and
// in value order the tokens never decrease (no older leader wrote after a newer one). A value may
// be missing from the logs when a candidate was killed between the write and its log line.
// Returns the number of applied writes.
absl::StatusOr<int> CheckFencedCounter(const std::vector<Candidate*>& candidates);

}  // namespace testenv
}  // namespace election
}  // namespace gonka

#endif  // GONKA_TESTING_ELECTION_ENV_H_
