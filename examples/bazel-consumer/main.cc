// bazel-consumer: a program in its own Bazel workspace that links the installed libgonka SDK
// (WORKSPACE: new_local_repository "gonka" over the SDK prefix, gonka.BUILD). It needs no server:
// it derives the Gonka address of a well-known test mnemonic and drains a gate, then prints
//   bazel-consumer: libgonka 0.1.0, address gonka1..., gate drained (2 entered, 0 in flight)
#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/version.h"
#include "gonka/crypto/key.h"
#include "gonka/drain/gate.h"

int main() {
  // The demo's warm key: a public test mnemonic, never for real funds.
  auto key = gonka::crypto::KeyFromMnemonic(
      "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling");
  if (!key.ok()) {
    std::fprintf(stderr, "bazel-consumer: %s\n", key.status().ToString().c_str());
    return 1;
  }
  gonka::Gate gate;
  {
    auto first = gate.TryEnter();
    auto second = gate.TryEnter();
    if (!first || !second) return 1;
    gate.Close();
    if (gate.TryEnter()) return 1;  // refused after Close()
  }
  if (!gate.WaitIdle(absl::Now() + absl::Seconds(5))) return 1;
  std::printf(
      "bazel-consumer: libgonka %s, address %s, gate drained (%llu entered, %lld in flight)\n",
      gonka::kVersion, key->address().c_str(),
      static_cast<unsigned long long>(gate.total_entered()),
      static_cast<long long>(gate.in_flight()));
  return 0;
}
