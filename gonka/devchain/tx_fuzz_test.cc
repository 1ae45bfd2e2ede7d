// Fuzzing the transaction decoder and rules: valid signed txs are mutated at random (bit flips,
// truncation, splices, random bytes) and fed to CheckTx and DeliverTx. devchain must never crash,
// must reject every mutation that breaks the signature or the encoding with a Cosmos code, and
// must keep its state consistent. Deterministic: the seed is printed and can be replayed with
// GONKA_FUZZ_SEED. For coverage-guided fuzzing with clang's libFuzzer see tx_fuzzer.cc.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";

struct Harness {
  Harness() {
    AppOptions options;
    options.accounts = {{"", kMnemonic, {{"ngonka", "1000000000"}}}};
    app = std::move(*CosmosApp::Create(options));
    ChainOptions chain_options;
    chain_options.chain_id = "fuzz";
    chain = std::make_unique<Chain>(chain_options, app.get());
    chain->ProduceBlock();
  }
  std::unique_ptr<CosmosApp> app;
  std::unique_ptr<Chain> chain;
};

std::string ValidTx(Harness& h, const std::string& key, bool unordered) {
  crypto::SigningKey signer = *crypto::KeyFromMnemonic(kMnemonic);
  auto account = *h.app->Account(signer.address());
  gonka::devchain::v1::MsgRecord record;
  record.set_creator(signer.address());
  record.set_key(key);
  cosmos::TxBuilder tx;
  tx.AddMessage(record)
      .SetChainId("fuzz")
      .SetAccountNumber(account.first)
      .SetMemo("fuzz")
      .SetFee({{{"ngonka", "10"}}, 200000, "", ""});
  if (unordered) {
    tx.SetUnordered(absl::Now() + absl::Seconds(60));
  } else {
    tx.SetSequence(account.second);
  }
  return tx.Sign(signer)->tx_raw;
}

std::string Mutate(std::string tx, std::mt19937_64& rng) {
  if (tx.empty()) return std::string(1, static_cast<char>(rng()));
  switch (rng() % 5) {
    case 0:  // flip bits
      for (int i = 0, n = 1 + rng() % 4; i < n; ++i) tx[rng() % tx.size()] ^= 1 << (rng() % 8);
      return tx;
    case 1:  // truncate
      return tx.substr(0, rng() % tx.size());
    case 2:  // splice random bytes in
      tx.insert(rng() % tx.size(), std::string(1 + rng() % 16, static_cast<char>(rng())));
      return tx;
    case 3:  // overwrite a byte (often a length or tag)
      tx[rng() % tx.size()] = static_cast<char>(rng());
      return tx;
    default: {  // pure noise
      std::string noise(rng() % 300, '\0');
      for (char& c : noise) c = static_cast<char>(rng());
      return noise;
    }
  }
}

TEST(TxFuzzTest, MutatedTxsNeverCrashAndNeverLand) {
  uint64_t seed = std::random_device()();
  if (const char* s = std::getenv("GONKA_FUZZ_SEED")) {
    ASSERT_TRUE(absl::SimpleAtoi(s, &seed));
  }
  std::printf("tx fuzz seed %llu (GONKA_FUZZ_SEED to replay)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Harness h;
  int accepted_mutants = 0;
  for (int round = 0; round < 20; ++round) {
    std::string valid = ValidTx(h, "k" + std::to_string(round), round % 2 == 0);
    for (int i = 0; i < 200; ++i) {
      std::string mutant = Mutate(valid, rng);
      if (mutant == valid) continue;
      BroadcastResult r = h.chain->Broadcast(mutant);
      if (r.rpc_error.empty() && r.result.code == 0) ++accepted_mutants;
    }
    // The genuine tx still lands, once.
    ASSERT_EQ(h.chain->Broadcast(valid).result.code, 0u) << "round " << round;
    BlockPtr block = h.chain->ProduceBlock();
    (void)block;
    ASSERT_EQ(h.app->RecordCount("k" + std::to_string(round)), 1u) << "round " << round;
  }
  // A mutation that still decodes and verifies would be a signature bypass: none may pass.
  EXPECT_EQ(accepted_mutants, 0);
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
