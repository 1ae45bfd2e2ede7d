// Fuzz target: NormalizeBlockInto on arbitrary `/block` and `/block_results` bodies. A chain
// node is not trusted input: whatever it answers must become a BlockEvents record or an error,
// never a crash, and an accepted record must survive the trip through the wire format that
// every event hub subscriber takes (proto3 strings must be valid UTF-8 to parse back).
//
// Input: the /block body, the separator "\n@@@@\n", the /block_results body (no separator: the
// whole input is the /block body and /block_results is empty). Seeds: testdata/fuzz/normalize_fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "gonka/chain/normalize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gonka::chain::NormalizeOptions* const options = [] {
    auto* o = new gonka::chain::NormalizeOptions();
    o->chain_id = "gonka-devnet";  // the seeds' chain (devchain's default)
    o->epochs.epoch_length = 12;
    o->epochs.poc_stage_duration = 1;
    o->epochs.poc_validation_duration = 1;
    o->epochs.poc_exchange_duration = 1;
    o->epochs.poc_validation_delay = 1;
    o->epochs.set_new_validators_delay = 1;
    return o;
  }();
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view block = input;
  absl::string_view results;
  size_t sep = input.find("\n@@@@\n");
  if (sep != absl::string_view::npos) {
    block = input.substr(0, sep);
    results = input.substr(sep + 6);
  }
  // One message reused across inputs, as the catch-up path reuses it.
  static gonka::chain::v1::BlockEvents* const events = new gonka::chain::v1::BlockEvents();
  if (!gonka::chain::NormalizeBlockInto(block, results, *options, events).ok()) return 0;
  std::string wire;
  gonka::chain::v1::BlockEvents parsed;
  if (!events->SerializeToString(&wire) || !parsed.ParseFromString(wire)) {
    std::fprintf(stderr, "normalize_fuzz: accepted a record that does not parse back\n");
    std::abort();
  }
  return 0;
}
