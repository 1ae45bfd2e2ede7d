// Fuzz target: what a signer does with one raw chain.tx payload, up to the network. Any producer
// allowed to publish chain.tx can put any bytes there; the signer must dead-letter them with a
// reason or sign them, never crash:
//   1. txqueue::DecodeMessage, exactly as TxConsumer::Fetch runs it (decode, Validate, deadline,
//      known types; the reason strings are built too);
//   2. for a request that would be delivered, the tx Signer::Build makes of it (every Any added
//      as is, optionally wrapped in MsgExec, memo, fee, unordered timeout from the deadline) and
//      signed with a fixed key. The ledger, the simulation and the broadcast are network calls
//      and are not reached.
// Input: the payload. Seeds: testdata/fuzz/queue_message_fuzz (serialized ChainTx).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/txqueue/txqueue.h"

namespace {

struct Env {
  gonka::FakeClock clock{absl::FromUnixSeconds(1'700'000'000)};
  gonka::txqueue::ConsumerOptions options;
  gonka::crypto::SigningKey key;
};

Env* MakeEnv() {
  // A fixed test key (never a real account's).
  auto key =
      gonka::crypto::KeyFromHex("0101010101010101010101010101010101010101010101010101010101010101");
  if (!key.ok()) {
    std::fprintf(stderr, "queue_message_fuzz: %s\n", key.status().ToString().c_str());
    std::abort();
  }
  Env* env = new Env{.key = *std::move(key)};
  env->options.dead_letter_expired = true;  // reach the deadline checks too
  env->options.known_type_urls = {"/cosmos.bank.v1beta1.MsgSend", "/cosmos.authz.v1beta1.MsgExec",
                                  "/gonka.devchain.v1.MsgRecord"};
  env->options.clock = &env->clock;
  return env;
}

}  // namespace

// Protobuf logs every invalid UTF-8 string it parses; a fuzzer makes millions.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* const env = MakeEnv();
  absl::string_view payload(reinterpret_cast<const char*>(data), size);
  gonka::txqueue::DecodedMessage m =
      gonka::txqueue::DecodeMessage(payload, "fuzz-msg-id", env->options, &env->clock);
  if (!m.kind.empty()) return 0;  // dead-lettered with m.reason
  const gonka::txqueue::ChainTx& tx = m.tx;
  // Signer::ChooseTimeout: now + ttl, or the deadline if earlier.
  absl::Time timeout = env->clock.Now() + absl::Minutes(1);
  if (tx.has_deadline()) {
    timeout = std::min(timeout, absl::FromUnixSeconds(tx.deadline().seconds()) +
                                    absl::Nanoseconds(tx.deadline().nanos()));
  }
  gonka::cosmos::TxBuilder builder;
  for (const auto& any : tx.messages()) builder.AddAny(any);
  if (tx.idempotency_key().size() % 2 == 1) builder.WrapInExec(env->key.address());
  builder.SetMemo(tx.memo())
      .SetFee({{{"ngonka", "100"}}, 200000, "", ""})
      .SetChainId("gonka-devnet")
      .SetAccountNumber(7)
      .SetUnordered(timeout);
  (void)builder.Sign(env->key);  // an error is a dead letter ("build: ..."), not a crash
  return 0;
}
