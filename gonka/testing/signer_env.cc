#include "gonka/testing/signer_env.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/status_macros.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace signer {

absl::Status SignerTestEnv::Start(const std::vector<devchain::GenesisAccount>& accounts,
                                  const std::string& chain_id, const std::string& nats_url,
                                  const std::string& pg_url) {
  devchain::AppOptions app_options;
  app_options.accounts = accounts;
  ASSIGN_OR_RETURN(app, devchain::CosmosApp::Create(app_options));
  devchain::ChainOptions chain_options;
  chain_options.chain_id = chain_id;
  chain_options.block_interval = absl::Milliseconds(100);
  chain = std::make_unique<devchain::Chain>(chain_options, app.get());
  chain->ProduceBlock();
  rpc = std::make_unique<devchain::RpcService>(chain.get(), &http, devchain::RpcOptions());
  RETURN_IF_ERROR(http.Start());
  chain->Start();
  comet = std::make_unique<chain::CometClient>(
      chain::CometClientOptions{.rpc_url = RpcUrl(), .timeout = absl::Seconds(5)});

  nats::NatsOptions nats_options;
  nats_options.urls = {nats_url};
  nats_options.timeout = absl::Seconds(2);
  ASSIGN_OR_RETURN(js, nats::JetStream::Connect(nats_options));
  (void)js->DeleteStream(txqueue::kStream);  // a fresh queue per test
  queue = std::make_unique<txqueue::TxQueue>(js.get());
  RETURN_IF_ERROR(queue->EnsureStream().status());

  pg::PgOptions pg_options;
  pg_options.conninfo = pg_url;
  pg_options.max_connections = 8;
  ASSIGN_OR_RETURN(pool, pg::Pool::Open(pg_options));
  ASSIGN_OR_RETURN(ledger, Ledger::Open(pool.get()));
  return absl::OkStatus();
}

void SignerTestEnv::Stop() {
  if (chain != nullptr) chain->Stop();
  http.Stop(absl::Now());
}

std::string SignerTestEnv::RpcUrl() const { return absl::StrCat("http://127.0.0.1:", http.port()); }

absl::Status WaitForBlocksPast(const devchain::Chain& chain, int64_t height, int blocks,
                               absl::Duration timeout) {
  const int64_t target = height + blocks;
  return testing::WaitForValue(
      [&] { return chain.height(); }, [&](int64_t h) { return h >= target; }, timeout,
      absl::Milliseconds(20),
      absl::StrCat("devchain height ", target, " (", blocks, " blocks past ", height, ")"));
}

absl::Status SignerTestBase::WaitForNewBlocks(int blocks, absl::Duration timeout) {
  return WaitForBlocksPast(*chain_, chain_->height(), blocks, timeout);
}

txqueue::ChainTx RecordRequest(const std::string& creator, const std::string& key,
                               const std::string& producer) {
  gonka::devchain::v1::MsgRecord m;
  m.set_creator(creator);
  m.set_key(key);
  m.set_payload("p");
  txqueue::ChainTx tx;
  tx.set_idempotency_key(key);
  *tx.add_messages() = cosmos::PackAny(m);
  tx.set_producer(producer);
  return tx;
}

}  // namespace signer
}  // namespace gonka
