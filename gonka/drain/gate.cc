#include "gonka/drain/gate.h"

#include <cassert>
#include <cstdlib>

namespace gonka {

Gate::Guard& Gate::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    Release();
    gate_ = other.gate_;
    id_ = other.id_;
    other.gate_ = nullptr;
  }
  return *this;
}

void Gate::Guard::Release() {
  if (gate_ != nullptr) {
    gate_->Leave(id_);
    gate_ = nullptr;
  }
}

Gate::~Gate() {
  absl::MutexLock lock(&mu_);
  if (!in_flight_.empty()) {
    // A guard outliving its gate would write freed memory: a bug in the owner.
    std::abort();
  }
}

std::optional<Gate::Guard> Gate::TryEnter() {
  absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (closed_) return std::nullopt;
  uint64_t id = next_id_++;
  in_flight_.emplace(id, now);
  idle_ = false;
  return Guard(this, id);
}

void Gate::Leave(uint64_t id) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(id);
  idle_ = in_flight_.empty();
}

void Gate::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool Gate::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

bool Gate::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (idle_) return true;
  clock_->WaitUntil(&mu_, &idle_, deadline);
  return idle_;
}

int64_t Gate::in_flight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(in_flight_.size());
}

absl::Duration Gate::OldestInFlightAge() const {
  absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (in_flight_.empty()) return absl::ZeroDuration();
  return now - in_flight_.begin()->second;
}

uint64_t Gate::total_entered() const {
  absl::MutexLock lock(&mu_);
  return next_id_ - 1;
}

}  // namespace gonka
