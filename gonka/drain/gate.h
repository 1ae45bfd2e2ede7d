// Gate: counts in-flight work so a drain can wait for it (the model is Seastar's `gate`).
//
//   Gate gate;
//   if (auto guard = gate.TryEnter()) {   // nullopt once Close() was called
//     Serve(request);                     // the guard leaves on scope exit, on every path
//   }
//   gate.Close();                         // refuse new entries
//   bool idle = gate.WaitIdle(deadline);  // true once every guard is gone
//
// Each entry records its start time so /drain/status can show the oldest in-flight age.
// Thread-safe. A Guard may outlive the scope that created it (move it into a stream's state),
// but not the Gate.
#ifndef GONKA_DRAIN_GATE_H_
#define GONKA_DRAIN_GATE_H_

#include <cstdint>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"

namespace gonka {

class Gate {
 public:
  // RAII membership of the gate. Move-only; an empty (moved-from) guard does nothing.
  class Guard {
   public:
    Guard(Guard&& other) noexcept : gate_(other.gate_), id_(other.id_) { other.gate_ = nullptr; }
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { Release(); }
    // Leaves the gate now (idempotent).
    void Release();

   private:
    friend class Gate;
    Guard(Gate* gate, uint64_t id) : gate_(gate), id_(id) {}
    Gate* gate_;
    uint64_t id_;
  };

  explicit Gate(Clock* clock = Clock::Real()) : clock_(clock) {}
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  // Every guard must be gone by now (checked).
  ~Gate();

  // A guard, or nullopt once the gate is closed.
  std::optional<Guard> TryEnter();
  // Refuses entries from now on. Existing guards are unaffected. Idempotent.
  void Close();
  bool closed() const;

  // Blocks until no guard is held or `deadline` (on the gate's clock) passes. Returns true when
  // idle. Does not close the gate.
  bool WaitIdle(absl::Time deadline);

  int64_t in_flight() const;
  // Age of the oldest guard still held, zero when none.
  absl::Duration OldestInFlightAge() const;
  // Entries admitted since construction.
  uint64_t total_entered() const;

 private:
  void Leave(uint64_t id);

  Clock* const clock_;
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // id -> start time; ids increase, so begin() is the oldest.
  std::map<uint64_t, absl::Time> in_flight_ ABSL_GUARDED_BY(mu_);
  bool idle_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace gonka

#endif  // GONKA_DRAIN_GATE_H_
