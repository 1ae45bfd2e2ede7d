// SignalWatcher: turns SIGTERM/SIGINT into calls on a dedicated thread, so shutdown logic runs in
// normal code (no async-signal-safety limits) and every other thread keeps the signals blocked.
//
//   int main(int argc, char** argv) {
//     SignalWatcher signals;                 // first thing in main: blocks the signals
//     process-wide
//     ... start threads ...
//     signals.Start([&](int sig) { drain.BeginDrain(); });   // 1st: drain, 2nd: force
//   }
//
// Construct it before starting any thread (threads inherit the blocked mask). Thread-safe.
#ifndef GONKA_DRAIN_SIGNALS_H_
#define GONKA_DRAIN_SIGNALS_H_

#include <functional>
#include <thread>

namespace gonka {

class SignalWatcher {
 public:
  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in threads created later).
  SignalWatcher();
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Calls `on_signal(signo)` for each SIGTERM/SIGINT received (SIGHUP is ignored), on the
  // watcher's thread.
  void Start(std::function<void(int)> on_signal);

 private:
  std::thread thread_;
  int wake_fd_[2] = {-1, -1};
};

}  // namespace gonka

#endif  // GONKA_DRAIN_SIGNALS_H_
