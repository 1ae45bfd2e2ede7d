// bench/chain, block normalisation speed (figure P2): NormalizeBlock of a 200-tx block's /block +
// /block_results into BlockEvents against a raw simdjson walk over every attribute of the same
// bytes, measured in the same run. Target: normalise rate >= 0.5x the raw walk.
//
//   bazel run -c opt //bench/chain:normalize_bench
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdio>

#include "absl/time/clock.h"
#include "gonka/chain/normalize.h"
#include "gonka/devchain/chain.h"

namespace {

struct Fixture {
  Fixture() {
    gonka::devchain::ChainOptions options;
    options.synthetic_txs_per_block = 200;
    gonka::devchain::Chain chain(options, nullptr);
    chain.ProduceBlock();
    block = (*chain.GetBlock(1))->block_json;
    results = (*chain.GetBlock(1))->block_results_json;
  }
  std::string block, results;
};

const Fixture& Data() {
  static const Fixture* f = new Fixture();
  return *f;
}

// The baseline: parse both documents and touch every tx, every event type and every attribute
// key and value (what any consumer must at least do).
// The block's txs are walked before the results are parsed, so one reused parser serves both
// (as in the normaliser).
size_t RawWalk(simdjson::dom::parser& parser, const Fixture& f) {
  size_t touched = 0;
  simdjson::dom::element block, results;
  if (parser.parse(f.block).get(block)) return 0;
  for (auto tx : block["block"]["data"]["txs"].get_array())
    touched += tx.get_string().value().size();
  if (parser.parse(f.results).get(results)) return 0;
  for (auto r : results["txs_results"].get_array()) {
    for (auto e : r["events"].get_array()) {
      touched += e["type"].get_string().value().size();
      for (auto a : e["attributes"].get_array()) {
        touched += a["key"].get_string().value().size() + a["value"].get_string().value().size();
      }
    }
  }
  return touched;
}

void BM_RawWalk(benchmark::State& state) {
  const Fixture& f = Data();
  simdjson::dom::parser parser;
  for (auto _ : state) benchmark::DoNotOptimize(RawWalk(parser, f));
  state.SetBytesProcessed(state.iterations() * (f.block.size() + f.results.size()));
}
BENCHMARK(BM_RawWalk);

void BM_Normalize(benchmark::State& state) {
  const Fixture& f = Data();
  for (auto _ : state) {
    auto events = gonka::chain::NormalizeBlock(f.block, f.results, {});
    benchmark::DoNotOptimize(events);
  }
  state.SetBytesProcessed(state.iterations() * (f.block.size() + f.results.size()));
}
BENCHMARK(BM_Normalize);

void BM_NormalizeInto(benchmark::State& state) {
  const Fixture& f = Data();
  gonka::chain::v1::BlockEvents out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(gonka::chain::NormalizeBlockInto(f.block, f.results, {}, &out));
  }
  state.SetBytesProcessed(state.iterations() * (f.block.size() + f.results.size()));
}
BENCHMARK(BM_NormalizeInto);

// Blocks per second of `fn` over about one second.
template <typename Fn>
double Rate(Fn fn) {
  int n = 0;
  absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Seconds(1)) {
    fn();
    ++n;
  }
  return n / absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("simdjson: on-demand implementation %s, DOM (runtime) implementation %s\n",
              simdjson::builtin_implementation()->name().c_str(),
              simdjson::get_active_implementation()->name().c_str());
  benchmark::RunSpecifiedBenchmarks();
  const Fixture& f = Data();
  simdjson::dom::parser parser;
  gonka::chain::v1::BlockEvents out;
  double raw = Rate([&] { benchmark::DoNotOptimize(RawWalk(parser, f)); });
  double ours = Rate([&] {
    benchmark::DoNotOptimize(gonka::chain::NormalizeBlockInto(f.block, f.results, {}, &out));
  });
  std::printf(
      "P2: %zu bytes per 200-tx block; raw walk %.0f blocks/s, normalise %.0f blocks/s, "
      "ratio %.2f (limit >= 0.50)\n",
      f.block.size() + f.results.size(), raw, ours, ours / raw);
  return 0;
}
