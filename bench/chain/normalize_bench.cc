// bench/chain: NormalizeBlock (block + block_results of a 200-tx block → BlockEvents) against
// raw simdjson parsing of the same two documents, measured in the same run. The ratio
// normalize / raw-parse is the cost of building the record on top of parsing.
//
//   bazel run -c opt //bench/chain:normalize_bench
#include <benchmark/benchmark.h>
#include <simdjson.h>

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

void BM_RawDomParse(benchmark::State& state) {
  const Fixture& f = Data();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element a, b;
    benchmark::DoNotOptimize(parser.parse(f.block).get(a));
    benchmark::DoNotOptimize(parser.parse(f.results).get(b));
  }
  state.SetBytesProcessed(state.iterations() * (f.block.size() + f.results.size()));
}
BENCHMARK(BM_RawDomParse);

void BM_Normalize(benchmark::State& state) {
  const Fixture& f = Data();
  for (auto _ : state) {
    auto events = gonka::chain::NormalizeBlock(f.block, f.results, {});
    benchmark::DoNotOptimize(events);
  }
  state.SetBytesProcessed(state.iterations() * (f.block.size() + f.results.size()));
}
BENCHMARK(BM_Normalize);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("simdjson: on-demand implementation %s, DOM (runtime) implementation %s\n",
              simdjson::builtin_implementation()->name().c_str(),
              simdjson::get_active_implementation()->name().c_str());
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
