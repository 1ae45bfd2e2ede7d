// A fuzz target for devchain's transaction decoder and ante handler:
//   clang++ -fsanitize=fuzzer,address -DGONKA_LIBFUZZER ... tx_fuzzer.cc  → a libFuzzer binary
// Built by Bazel without -DGONKA_LIBFUZZER it is a corpus runner: it feeds every file named on
// the command line (or stdin) through the same entry point, so a crashing input found by
// libFuzzer can be replayed with the normal toolchain. The randomized mutation test that runs in
// tools/test is tx_fuzz_test.cc.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"

namespace {

gonka::devchain::Chain& FuzzChain() {
  static gonka::devchain::CosmosApp* app = [] {
    gonka::devchain::AppOptions options;
    options.accounts = {{"",
                         "special sign fit simple patrol salute grocery chicken wheat radar "
                         "tonight ceiling",
                         {{"ngonka", "1000000000"}}}};
    return gonka::devchain::CosmosApp::Create(options)->release();
  }();
  static gonka::devchain::Chain* chain = [] {
    gonka::devchain::ChainOptions options;
    options.chain_id = "fuzz";
    auto* c = new gonka::devchain::Chain(options, app);
    c->ProduceBlock();
    return c;
  }();
  return *chain;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gonka::devchain::Chain& chain = FuzzChain();
  chain.Broadcast(std::string(reinterpret_cast<const char*>(data), size));
  if (chain.mempool_size() > 100) chain.ProduceBlock();  // Deliver runs too
  return 0;
}

#ifndef GONKA_LIBFUZZER
int main(int argc, char** argv) {
  auto run = [](const std::string& input) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  };
  if (argc == 1) {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    run(input);
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    run(ss.str());
    std::printf("ran %s\n", argv[i]);
  }
  return 0;
}
#endif
