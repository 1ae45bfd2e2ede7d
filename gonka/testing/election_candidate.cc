// election_candidate: one election candidate process, for integration tests and the failover
// benchmark. It campaigns, and while leader makes a fenced write (a counter increment) every
// --write-interval. Every event is one line on stdout:
//
//   EVENT <unix micros> <identity> READY
//   EVENT <unix micros> <identity> ELECTED token=<t>
//   EVENT <unix micros> <identity> REVOKED token=<t> reason="<why>"
//   EVENT <unix micros> <identity> WRITE token=<t> applied=<0|1> newest=<n> value=<v>
//   EVENT <unix micros> <identity> ZOMBIE token=<t> applied=<0|1> newest=<n>
//   EVENT <unix micros> <identity> ZOMBIE_SUMMARY token=<t> attempted=<n> rejected=<m>
//   EVENT <unix micros> <identity> STOPPED
//
// After SIGCONT (a test resumed it from SIGSTOP) it makes --zombie-writes fenced writes with the
// last token it held, whatever IsLeader() says: a paused leader that wakes up and acts on stale
// state. The fence must reject every one. SIGTERM/SIGINT: Stop() (releases the lease), exit 0.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/config.h"
#include "gonka/base/log.h"
#include "gonka/election/leader_elector.h"
#include "gonka/testing/election_backends.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_resumed{false};

void OnSignal(int signo) {
  if (signo == SIGCONT) {
    g_resumed.store(true);
  } else {
    g_stop.store(true);
  }
}

absl::Mutex g_out_mu;
std::string g_identity;

void Emit(const std::string& what) {
  absl::MutexLock lock(&g_out_mu);
  std::string line =
      absl::StrCat("EVENT ", absl::ToUnixMicros(absl::Now()), " ", g_identity, " ", what, "\n");
  fwrite(line.data(), 1, line.size(), stdout);
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  using gonka::election::FencingToken;
  gonka::Config config("election_candidate");
  std::string backend, redis_addr, sentinels, master, nats_url, election, counter;
  absl::Duration ttl, renew_interval, renew_deadline, retry, drift, write_interval;
  int zombie_writes = 0;
  config.AddString("backend", &backend, "redis", "redis | nats").OneOf({"redis", "nats"});
  config.AddString("redis", &redis_addr, "127.0.0.1:6379", "Redis host:port (no Sentinel)");
  config.AddString("sentinels", &sentinels, "", "comma-separated Sentinel host:port list");
  config.AddString("master", &master, "gonka", "Sentinel master name");
  config.AddString("nats", &nats_url, "nats://127.0.0.1:4222", "NATS URL(s), comma-separated");
  config.AddString("election", &election, "test", "election name");
  config.AddString("identity", &g_identity, "", "candidate identity").Required();
  config.AddString("counter", &counter, "fenced-counter", "key of the fenced counter");
  gonka::election::LeaderElectorOptions defaults;
  config.AddDuration("ttl", &ttl, defaults.lease_ttl, "lease TTL").Positive();
  config.AddDuration("renew-interval", &renew_interval, defaults.renew_interval, "").Positive();
  config.AddDuration("renew-deadline", &renew_deadline, defaults.renew_deadline, "").Positive();
  config.AddDuration("retry", &retry, defaults.retry_interval, "").Positive();
  config.AddDuration("drift", &drift, defaults.drift_margin, "");
  config.AddDuration("write-interval", &write_interval, absl::Milliseconds(20),
                     "fenced write period while leader (0 = no writes)");
  config.AddInt("zombie-writes", &zombie_writes, 0, "fenced writes with the old token on SIGCONT");
  absl::Status parsed = config.Parse(argc, argv);
  if (!parsed.ok()) {
    fprintf(stderr, "%s\n", std::string(parsed.message()).c_str());
    return 2;
  }

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGCONT, &sa, nullptr);

  absl::Mutex mu;
  FencingToken last_token = 0;  // guarded by mu
  gonka::election::LeaderElectorOptions options;
  options.identity = g_identity;
  options.lease_ttl = ttl;
  options.renew_interval = renew_interval;
  options.renew_deadline = renew_deadline;
  options.retry_interval = retry;
  options.drift_margin = drift;
  options.on_elected = [&](FencingToken t) {
    {
      absl::MutexLock lock(&mu);
      last_token = t;
    }
    Emit(absl::StrCat("ELECTED token=", t));
  };
  options.on_revoked = [&](absl::string_view why) {
    FencingToken t;
    {
      absl::MutexLock lock(&mu);
      t = last_token;
    }
    Emit(absl::StrCat("REVOKED token=", t, " reason=\"", why, "\""));
  };

  gonka::election::CandidateBackendOptions bo;
  bo.backend = backend;
  std::pair<std::string, std::string> host_port =
      absl::StrSplit(redis_addr, absl::MaxSplits(':', 1));
  bo.redis.host = host_port.first;
  if (!absl::SimpleAtoi(host_port.second, &bo.redis.port)) {
    fprintf(stderr, "--redis: not host:port: %s\n", redis_addr.c_str());
    return 2;
  }
  if (!sentinels.empty()) {
    bo.redis.sentinels = absl::StrSplit(sentinels, ',');
    bo.redis.master_name = master;
  }
  bo.nats_urls = absl::StrSplit(nats_url, ',');
  bo.election = election;
  auto env = gonka::election::MakeCandidateBackend(bo, options);
  if (!env.ok()) {
    fprintf(stderr, "%s\n", env.status().ToString().c_str());
    return 2;
  }
  gonka::election::LeaderElector& elector = *(*env)->elector;
  absl::Status started = elector.Start();
  if (!started.ok()) {
    fprintf(stderr, "%s\n", started.ToString().c_str());
    return 1;
  }
  Emit("READY");

  auto fenced_write = [&](FencingToken token, const char* kind) -> bool {
    absl::StatusOr<gonka::election::FenceResult> r = (*env)->FencedIncrement(token, counter);
    if (!r.ok()) {
      Emit(absl::StrCat(kind, " token=", token, " error=\"", r.status().message(), "\""));
      return false;
    }
    Emit(absl::StrCat(kind, " token=", token, " applied=", r->applied ? 1 : 0,
                      " newest=", r->newest_token, " value=", r->value));
    return r->applied;
  };

  while (!g_stop.load()) {
    if (g_resumed.exchange(false) && zombie_writes > 0) {
      FencingToken token;
      {
        absl::MutexLock lock(&mu);
        token = last_token;
      }
      if (token > 0) {
        int rejected = 0;
        for (int i = 0; i < zombie_writes; ++i) {
          if (!fenced_write(token, "ZOMBIE")) ++rejected;
        }
        Emit(absl::StrCat("ZOMBIE_SUMMARY token=", token, " attempted=", zombie_writes,
                          " rejected=", rejected));
      }
    }
    if (write_interval > absl::ZeroDuration()) {
      FencingToken token = elector.Token();
      if (token > 0) fenced_write(token, "WRITE");
      absl::SleepFor(write_interval);
    } else {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  elector.Stop();
  Emit("STOPPED");
  return 0;
}
