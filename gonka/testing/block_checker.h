// BlockChecker: the independent reader every event-hub experiment asserts on. It reads the block
// stream from height 1 through its own durable consumer, fetches each height's block from the
// chain's RPC and compares hash and transaction count, and keeps the heights in arrival order with
// their arrival times. Summarize() turns them into the experiment's verdict: duplicates, gaps and
// reorders (each must be 0: every height exactly once, in order) and the first content mismatch.
//
//   BlockChecker checker({.durable = "chaos-checker", .rpc_url = devchain.url()}, js.get());
//   RETURN_IF_ERROR(checker.Start());
//   ... faults; WaitForValue([&] { return checker.last_height(); }, ...) ...
//   checker.Stop();
//   BlockChecker::Summary s = checker.Summarize();   // s.gaps == 0 && s.duplicates == 0 ...
//
// Thread-safety: Start/Stop from one thread; the rest is thread-safe. Test-only.
#ifndef GONKA_TESTING_BLOCK_CHECKER_H_
#define GONKA_TESTING_BLOCK_CHECKER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"

namespace gonka {
namespace testing {

class BlockChecker {
 public:
  struct Options {
    std::string durable;            // the checker's own durable consumer
    std::string stream = "BLOCKS";  // the event hub's stream
    std::string rpc_url;            // the chain's CometBFT RPC, the truth compared with
  };
  struct Summary {
    int64_t heights = 0;  // records read
    int64_t first_height = 0;
    int gaps = 0;
    int duplicates = 0;
    int reorders = 0;
    // Longest time between two consecutive records reaching the checker.
    absl::Duration max_pause;
    std::string mismatch;  // "" when every block equals the chain's
  };

  // `js` must outlive the checker.
  BlockChecker(Options options, nats::JetStream* js);
  ~BlockChecker();

  absl::Status Start();
  void Stop();

  int64_t last_height() const { return subscriber_.last_height(); }
  // Longest gap between consecutive arrivals whose later arrival is after `since`.
  absl::Duration LongestPauseSince(absl::Time since) const;
  // The verdict so far (call after Stop() for the final one).
  Summary Summarize() const;

 private:
  chain::CometClient comet_;
  eventhub::Subscriber subscriber_;
  mutable absl::Mutex mu_;
  std::vector<int64_t> heights_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> arrivals_ ABSL_GUARDED_BY(mu_);
  std::string mismatch_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_BLOCK_CHECKER_H_
