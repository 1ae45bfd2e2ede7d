// Test-only: the chain, queue and ledger the signer integration tests run against — a devchain
// (real signatures, unordered-tx replay rules, 100 ms blocks) served over HTTP, a fresh CHAIN_TX
// stream on a running nats-server, and a ledger on a running PostgreSQL.
//
//   SignerTestEnv env;
//   ASSERT_TRUE(env.Start({{"", kMnemonic, {{"ngonka", "1000"}}}}, "signer-test", nats.url(),
//                         pg.url()).ok());
//   env.queue->Enqueue(RecordRequest(address, "key/1", "my_test"));
//   ... env.app->RecordCount("key/1") ...;  env.Stop();
//   absl::Status more = WaitForBlocksPast(*env.chain, height, 3);  // DeadlineExceeded, no hang
#ifndef GONKA_TESTING_SIGNER_ENV_H_
#define GONKA_TESTING_SIGNER_ENV_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/rpc.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_server.h"
#include "gonka/pg/pg.h"
#include "gonka/signer/ledger.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

struct SignerTestEnv {
  ~SignerTestEnv() { Stop(); }

  // Starts the devchain with `accounts` (one block produced, then a block every 100 ms), its
  // RPC, a CometClient on it, the CHAIN_TX stream (deleted first) and the ledger (migrations
  // applied). Errors name the part that failed.
  absl::Status Start(const std::vector<devchain::GenesisAccount>& accounts,
                     const std::string& chain_id, const std::string& nats_url,
                     const std::string& pg_url);
  // Stops block production and the RPC server (idempotent).
  void Stop();

  std::string RpcUrl() const;

  std::unique_ptr<devchain::CosmosApp> app;
  std::unique_ptr<devchain::Chain> chain;
  net::HttpServer http;
  std::unique_ptr<devchain::RpcService> rpc;
  std::unique_ptr<chain::CometClient> comet;
  std::unique_ptr<nats::JetStream> js;
  std::unique_ptr<txqueue::TxQueue> queue;
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<Ledger> ledger;
};

// A gtest fixture base holding a SignerTestEnv (started by the derived fixture's SetUp), with its
// parts under short member names.
class SignerTestBase : public ::testing::Test {
 protected:
  SignerTestEnv env_;
  std::unique_ptr<devchain::CosmosApp>& app_ = env_.app;
  std::unique_ptr<devchain::Chain>& chain_ = env_.chain;
  std::unique_ptr<chain::CometClient>& comet_ = env_.comet;
  std::unique_ptr<nats::JetStream>& js_ = env_.js;
  std::unique_ptr<txqueue::TxQueue>& queue_ = env_.queue;
  std::unique_ptr<pg::Pool>& pool_ = env_.pool;
  std::unique_ptr<Ledger>& ledger_ = env_.ledger;

  // True when the ledger has every key of `keys` included.
  bool LedgerIncluded(const std::vector<std::string>& keys) {
    for (const std::string& key : keys) {
      absl::StatusOr<LedgerEntry> e = ledger_->Get(key);
      if (!e.ok() || e->state != TxState::kIncluded) return false;
    }
    return true;
  }
  // LedgerIncluded(keys) as a condition to wait for.
  std::function<bool()> WhenIncluded(std::vector<std::string> keys) {
    return [this, keys = std::move(keys)] { return LedgerIncluded(keys); };
  }
  // WaitForBlocksPast(*chain_, <the height now>, blocks, timeout): a few more blocks (e.g. before
  // checking that nothing lands twice later).
  absl::Status WaitForNewBlocks(int blocks, absl::Duration timeout = absl::Seconds(10));
};

// Waits until `chain` is `blocks` blocks past `height` (its committed height >= height + blocks).
// DeadlineExceeded after `timeout`, naming the height waited for and the last height seen (a
// stopped or stalled chain fails the wait instead of hanging the test).
absl::Status WaitForBlocksPast(const devchain::Chain& chain, int64_t height, int blocks,
                               absl::Duration timeout = absl::Seconds(10));

// A request holding one devchain MsgRecord {creator, key, payload "p"} under idempotency key
// `key`.
txqueue::ChainTx RecordRequest(const std::string& creator, const std::string& key,
                               const std::string& producer);

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_TESTING_SIGNER_ENV_H_
