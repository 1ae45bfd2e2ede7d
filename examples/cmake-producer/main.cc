// cmake-producer: enqueues one Cosmos message through libgonka's tx queue and waits until the
// chain includes it. Built outside the libgonka tree against the installed SDK
// (find_package(gonka), the static archive).
//
//   cmake-producer --nats-url=nats://127.0.0.1:4222 --pg-url="host=127.0.0.1 port=5432 ..." \
//     --chain-rpc-url=http://127.0.0.1:26657 --from=gonka1... --timeout=60
//
// The message is a bank transfer of 1 ngonka from --from to itself (--from must be the address
// of signerd's key). The request goes into the CHAIN_TX stream with an idempotency key; a
// signerd replica signs and broadcasts it and records each step in its PostgreSQL ledger, which
// this program reads (gonka::signer::Ledger) until the entry is "included"; it then asks the
// chain for the tx by hash. Exits 0 once the chain has it, 1 on an error or after --timeout
// seconds.
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/hash.h"
#include "gonka/nats/jetstream.h"
#include "gonka/pg/pg.h"
#include "gonka/proto/cosmos/bank/v1beta1/tx.pb.h"
#include "gonka/signer/ledger.h"
#include "gonka/txqueue/txqueue.h"

namespace {

struct Flags {
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string pg_url;
  std::string chain_rpc_url = "http://127.0.0.1:26657";
  std::string from;
  std::string key;
  int64_t timeout_seconds = 60;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      std::string prefix = absl::StrCat("--", name, "=");
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("nats-url")) {
      flags->nats_url = v;
    } else if (const char* v = value("pg-url")) {
      flags->pg_url = v;
    } else if (const char* v = value("chain-rpc-url")) {
      flags->chain_rpc_url = v;
    } else if (const char* v = value("from")) {
      flags->from = v;
    } else if (const char* v = value("key")) {
      flags->key = v;
    } else if (const char* v = value("timeout")) {
      flags->timeout_seconds = std::atoll(v);
    } else {
      std::fprintf(stderr,
                   "usage: %s --from=ADDRESS --pg-url=CONNINFO [--nats-url=URL] "
                   "[--chain-rpc-url=URL] [--key=IDEMPOTENCY_KEY] [--timeout=SECONDS]\n"
                   "unknown argument: %s\n",
                   argv[0], argv[i]);
      return false;
    }
  }
  if (flags->from.empty()) {
    std::fprintf(stderr, "--from (the signer's address) is required\n");
    return false;
  }
  if (flags->key.empty()) {
    flags->key = absl::StrCat("cmake-producer-", getpid(), "-", absl::ToUnixMillis(absl::Now()));
  }
  return true;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "cmake-producer: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  const absl::Time deadline = absl::Now() + absl::Seconds(flags.timeout_seconds);

  gonka::nats::NatsOptions nats_options;
  nats_options.urls = {flags.nats_url};
  auto js = gonka::nats::JetStream::Connect(nats_options);
  if (!js.ok()) return Fail(js.status());
  gonka::txqueue::TxQueue queue(js->get());
  if (auto stream = queue.EnsureStream(); !stream.ok()) return Fail(stream.status());

  // One bank transfer, packed as Cosmos packs messages: type_url "/" + the message's full name.
  cosmos::bank::v1beta1::MsgSend send;
  send.set_from_address(flags.from);
  send.set_to_address(flags.from);
  auto* coin = send.add_amount();
  coin->set_denom("ngonka");
  coin->set_amount("1");
  gonka::txqueue::ChainTx tx;
  tx.set_idempotency_key(flags.key);
  tx.set_producer("cmake-producer");
  tx.add_messages()->PackFrom(send, "/");

  auto enqueued = queue.Enqueue(tx);
  if (!enqueued.ok()) return Fail(enqueued.status());
  std::printf("enqueued key=%s stream_sequence=%llu duplicate=%s\n", flags.key.c_str(),
              static_cast<unsigned long long>(enqueued->sequence),
              enqueued->duplicate ? "true" : "false");
  std::fflush(stdout);

  // The signer's ledger says when the chain included it.
  gonka::pg::PgOptions pg_options;
  pg_options.conninfo = flags.pg_url;
  auto pool = gonka::pg::Pool::Open(pg_options);
  if (!pool.ok()) return Fail(pool.status());
  auto ledger = gonka::signer::Ledger::Open(pool->get());
  if (!ledger.ok()) return Fail(ledger.status());
  gonka::signer::LedgerEntry entry;
  std::string last_state;
  for (;;) {
    auto got = (*ledger)->Get(flags.key);
    if (got.ok()) {
      entry = *got;
      std::string state(gonka::signer::TxStateName(entry.state));
      if (state != last_state) {
        std::printf("ledger key=%s state=%s\n", flags.key.c_str(), state.c_str());
        std::fflush(stdout);
        last_state = state;
      }
      if (entry.state == gonka::signer::TxState::kIncluded) break;
      if (entry.state == gonka::signer::TxState::kFailed) {
        return Fail(absl::AbortedError(absl::StrCat("the signer gave up: ", entry.last_error)));
      }
    } else if (!absl::IsNotFound(got.status())) {  // NotFound: no signer claimed it yet
      return Fail(got.status());
    }
    if (absl::Now() > deadline) {
      return Fail(absl::DeadlineExceededError(absl::StrCat(
          "not included after ", flags.timeout_seconds, "s (last state: ", last_state, ")")));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }

  // And the chain itself: CometBFT's /tx by hash.
  std::string hash_bytes;
  if (auto s = gonka::crypto::HexDecode(entry.tx_hash, "tx_hash", &hash_bytes); !s.ok()) {
    return Fail(s);
  }
  gonka::chain::CometClientOptions comet_options;
  comet_options.rpc_url = flags.chain_rpc_url;
  gonka::chain::CometClient comet(comet_options);
  auto on_chain = comet.Tx(hash_bytes);
  if (!on_chain.ok()) return Fail(on_chain.status());
  std::printf("included key=%s tx=%s height=%lld code=%u gas_used=%lld\n", flags.key.c_str(),
              on_chain->hash.c_str(), static_cast<long long>(on_chain->height), on_chain->code,
              static_cast<long long>(on_chain->gas_used));
  return on_chain->code == 0 ? 0 : 1;
}
