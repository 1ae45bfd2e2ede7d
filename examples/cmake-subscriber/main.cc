// cmake-subscriber: follows the event hub's block stream from a height and prints each block and
// its events. Built outside the libgonka tree against the installed SDK (find_package(gonka)).
//
//   cmake-subscriber --nats-url=nats://127.0.0.1:4222 --from=1 --blocks=5 --timeout=60
//
// It reads the BLOCKS stream that edge-api's leader writes (one record per height, in order)
// through gonka::eventhub::Subscriber, with a temporary durable consumer that the server forgets
// a minute after the program stops. Exits 0 after --blocks blocks (0 = run until killed), 1 on an
// error or when --timeout seconds pass first.
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/version.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"

namespace {

struct Flags {
  std::string nats_url = "nats://127.0.0.1:4222";
  int64_t from = 1;
  int64_t blocks = 0;
  int64_t timeout_seconds = 60;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      std::string prefix = absl::StrCat("--", name, "=");
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("nats-url")) {
      flags->nats_url = v;
    } else if (const char* v = value("from")) {
      flags->from = std::atoll(v);
    } else if (const char* v = value("blocks")) {
      flags->blocks = std::atoll(v);
    } else if (const char* v = value("timeout")) {
      flags->timeout_seconds = std::atoll(v);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--nats-url=URL] [--from=HEIGHT] [--blocks=N] [--timeout=SECONDS]\n"
                   "unknown argument: %s\n",
                   argv[0], argv[i]);
      return false;
    }
  }
  if (flags->from < 1) {
    std::fprintf(stderr, "--from must be >= 1, got %lld\n", static_cast<long long>(flags->from));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  std::printf("cmake-subscriber: libgonka %s, %s, from height %lld\n", gonka::kVersion,
              flags.nats_url.c_str(), static_cast<long long>(flags.from));
  std::fflush(stdout);

  gonka::nats::NatsOptions nats_options;
  nats_options.urls = {flags.nats_url};
  auto js = gonka::nats::JetStream::Connect(nats_options);
  if (!js.ok()) {
    std::fprintf(stderr, "cmake-subscriber: %s\n", js.status().ToString().c_str());
    return 1;
  }

  gonka::eventhub::SubscriberOptions options;
  options.durable = absl::StrCat("cmake-subscriber-", getpid());
  options.start_height = flags.from;
  options.inactive_threshold = absl::Minutes(1);  // a temporary consumer
  gonka::eventhub::Subscriber subscriber(options, js->get());

  absl::Mutex mu;
  int64_t seen = 0;           // guarded by mu
  int64_t next = flags.from;  // guarded by mu: the height the stream owes us next
  bool out_of_order = false;  // guarded by mu
  subscriber.OnBlock([&](const gonka::chain::v1::BlockEvents& block) {
    int events = block.finalize_block_events_size();
    for (const auto& tx : block.txs()) events += tx.events_size();
    std::printf("block height=%lld time=%s hash=%.12s txs=%d events=%d\n",
                static_cast<long long>(block.height()), block.time().c_str(), block.hash().c_str(),
                block.txs_size(), events);
    for (const auto& tx : block.txs()) {
      for (const auto& event : tx.events()) {
        std::printf("  event height=%lld tx=%.12s code=%u type=%s attributes=%d\n",
                    static_cast<long long>(block.height()), tx.hash().c_str(), tx.code(),
                    event.type().c_str(), event.attributes_size());
      }
    }
    std::fflush(stdout);
    absl::MutexLock lock(&mu);
    if (block.height() != next) {
      std::fprintf(stderr, "cmake-subscriber: got height %lld, want %lld\n",
                   static_cast<long long>(block.height()), static_cast<long long>(next));
      out_of_order = true;
    }
    next = block.height() + 1;
    ++seen;
    return absl::OkStatus();
  });
  // A typed callback for one event type: each bank transfer with its fields.
  subscriber.OnEvent("transfer", [](const gonka::chain::v1::BlockEvents& block,
                                    const gonka::chain::v1::Event& event) {
    std::string fields;
    for (const auto& a : event.attributes()) absl::StrAppend(&fields, " ", a.key(), "=", a.value());
    std::printf("  transfer height=%lld%s\n", static_cast<long long>(block.height()),
                fields.c_str());
    return absl::OkStatus();
  });

  // edge-api's leader creates the stream: until then Start() answers NotFound.
  const absl::Time deadline = absl::Now() + absl::Seconds(flags.timeout_seconds);
  absl::Status started;
  while (!(started = subscriber.Start()).ok()) {
    if (!absl::IsNotFound(started) || absl::Now() > deadline) {
      std::fprintf(stderr, "cmake-subscriber: %s\n", started.ToString().c_str());
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }

  bool done = false;
  {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
      return out_of_order || (flags.blocks > 0 && seen >= flags.blocks);
    };
    done = mu.AwaitWithDeadline(absl::Condition(&enough), deadline) && !out_of_order;
  }
  subscriber.Stop();
  if (!done) {
    absl::MutexLock lock(&mu);
    if (out_of_order) return 1;
    std::fprintf(stderr, "cmake-subscriber: %lld of %lld blocks before the %llds timeout\n",
                 static_cast<long long>(seen), static_cast<long long>(flags.blocks),
                 static_cast<long long>(flags.timeout_seconds));
    return 1;
  }
  // The last height our callback saw (last_height() counts a block only once every callback
  // returned, which may be after we woke up).
  int64_t last = 0;
  {
    absl::MutexLock lock(&mu);
    last = next - 1;
  }
  std::printf("cmake-subscriber: %lld blocks, heights %lld..%lld in order\n",
              static_cast<long long>(flags.blocks), static_cast<long long>(flags.from),
              static_cast<long long>(last));
  return 0;
}
