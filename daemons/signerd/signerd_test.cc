// signerd end to end: devchain (with the warm key funded), NATS, PostgreSQL and 2 signerd
// processes. 40 MsgRecord txs enqueued over HTTP (10 of them twice), one replica drained and the
// other crashed mid-way: every key lands on chain exactly once. A key file readable by others
// stops signerd at start naming the file and its mode.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/txqueue/chain_tx.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;

constexpr char kWarm[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";

TEST(SignerdTest, EveryKeyLandsOnceThroughDrainAndCrash) {
  testing::TempDir dir("signerd");
  std::string key_file = dir.Join("warm.key");
  std::ofstream(key_file) << kWarm << "\n";
  ASSERT_EQ(chmod(key_file.c_str(), 0600), 0);
  std::string address = crypto::KeyFromMnemonic(kWarm)->address();
  std::string genesis = dir.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                         R"(","balances":{"ngonka":"1000000000"}}]})");
  // Producers authenticate with a bearer token (the tokens file is 0600).
  const std::string token = "0123456789abcdef0123456789abcdef";
  std::string tokens_file = dir.Join("enqueue.tokens");
  std::ofstream(tokens_file) << "test-producer " << token << "\n";
  ASSERT_EQ(chmod(tokens_file.c_str(), 0600), 0);

  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start().ok());
  testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {
      "--bind=127.0.0.1",    "--port={{PORT}}", "--chain-id=signerd-test", "--block-interval=100ms",
      "--drain-announce=0s", "--grpc-address=", "--genesis=" + genesis,    "--log-level=warn"};
  testing::DaemonProcess devchain(chain_options);
  ASSERT_TRUE(devchain.Start().ok());

  auto signerd_options = [&](int i) {
    testing::DaemonProcess::Options o;
    o.binary = "daemons/signerd/signerd";
    o.name = absl::StrCat("signerd-", i);
    o.args = {"--bind=127.0.0.1", "--port={{PORT}}", "--chain-id=signerd-test",
              "--key-file=" + key_file, absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", nats.url()), absl::StrCat("--pg-url=", postgres.url()),
              "--gas-limit=400000", "--retry-delay=300ms", "--drain-announce=200ms",
              "--shutdown-grace=20s", "--enqueue-token-file=" + tokens_file,
              "--allowed-msg-types=/gonka.devchain.v1.MsgRecord,/cosmos.bank.v1beta1.MsgSend",
              // Everything the daemon can log, for S1's grep of its output below.
              "--log-level=debug"};
    return o;
  };
  testing::DaemonProcess a(signerd_options(0)), b(signerd_options(1));
  ASSERT_TRUE(a.Start().ok()) << a.LogTail();
  ASSERT_TRUE(b.Start().ok()) << b.LogTail();

  net::HttpClient http;
  auto authorized = [&] {
    net::HttpCallOptions call;
    call.headers.Set("Authorization", "Bearer " + token);
    return call;
  };
  auto post = [&](const std::string& url, const std::string& body) {
    return http.Request("POST", url, body, authorized());
  };
  auto enqueue = [&](testing::DaemonProcess& to, const std::string& key) {
    txqueue::v1::ChainTx tx;
    tx.set_idempotency_key(key);
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(address);
    record.set_key(key);
    *tx.add_messages() = cosmos::PackAny(record);
    net::HttpCallOptions call = authorized();
    call.headers.Set("Content-Type", "application/x-protobuf");
    return http.Request("POST", to.url() + "/v1/txs", tx.SerializeAsString(), call);
  };
  // Without the token nothing is accepted (the security suite tries every other way in).
  auto anonymous = http.Post(a.url() + "/v1/txs", R"({"idempotency_key":"anon","messages":[]})");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401) << anonymous->body;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back(absl::StrCat("req-", i));
  for (int i = 0; i < 40; ++i) {
    if (i == 20) ASSERT_TRUE(a.Start().ok());
    if (i == 30) ASSERT_TRUE(b.Start().ok());
    testing::DaemonProcess& to = (i % 2 && a.IsRunning()) || !b.IsRunning() ? a : b;
    auto r = enqueue(to, keys[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 202) << r->body;
    if (i == 15) ASSERT_TRUE(a.Stop().ok());  // drain one replica mid-way (SIGTERM)
    if (i == 25) ASSERT_TRUE(b.Kill().ok());  // crash the other (kill -9)
  }
  for (int i = 0; i < 10; ++i) {  // duplicates are absorbed
    auto r = enqueue(a, keys[i]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr("\"duplicate\":true"));
  }
  auto count = [&](const std::string& key) -> int {
    auto r = http.Get(devchain.url() + "/devchain/records?key=" + key);
    if (!r.ok() || r->status != 200) return -1;
    size_t p = r->body.find("\"count\":\"");
    return p == std::string::npos ? -1 : std::stoi(r->body.substr(p + 9));
  };
  absl::Status all = testing::WaitFor(
      [&] {
        for (const auto& k : keys) {
          if (count(k) < 1) return false;
        }
        return true;
      },
      absl::Seconds(90), absl::Milliseconds(200), "every key on chain");
  ASSERT_TRUE(all.ok()) << all << "\n" << a.LogTail() << "\n" << b.LogTail();
  for (const auto& k : keys) EXPECT_EQ(count(k), 1) << k;
  // JSON producers: Cosmos type URLs (a bank transfer to itself), and a malformed request names
  // the field. signerd links no development-chain type: devchain's MsgRecord is refused as JSON
  // (it is accepted serialized, above), naming the type.
  auto json =
      post(a.url() + "/v1/txs", absl::StrCat(R"({"idempotency_key":"json-1","messages":[{"@type":)",
                                             R"("/cosmos.bank.v1beta1.MsgSend","from_address":")",
                                             address, R"(","to_address":")", address,
                                             R"(","amount":[{"denom":"ngonka","amount":"1"}]}]})"));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->status, 202) << json->body;
  auto unknown =
      post(a.url() + "/v1/txs", absl::StrCat(R"({"idempotency_key":"json-2","messages":[{"@type":)",
                                             R"("/gonka.devchain.v1.MsgRecord","creator":")",
                                             address, R"(","key":"json-2"}]})"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);
  EXPECT_THAT(unknown->body, HasSubstr("gonka.devchain.v1.MsgRecord"));
  auto bad = post(a.url() + "/v1/txs", R"({"messages":[]})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("idempotency_key"));
  auto included = [&](const std::string& key) {
    auto r = http.Request("GET", a.url() + "/v1/ledger?key=" + key, "", authorized());
    return r.ok() && r->status == 200 && absl::StrContains(r->body, "\"state\":\"included\"");
  };
  absl::Status json_done = testing::WaitFor([&] { return included("json-1"); }, absl::Seconds(30),
                                            absl::Milliseconds(200), "the JSON transfer included");
  ASSERT_TRUE(json_done.ok()) << json_done;
  auto ledger = http.Request("GET", a.url() + "/v1/ledger?key=req-3", "", authorized());
  ASSERT_TRUE(ledger.ok());
  EXPECT_THAT(ledger->body, HasSubstr("\"state\":\"included\""));
  // S1: the key never appears in anything the daemons wrote or served.
  auto metrics = http.Get(a.url() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_txs_signed_total"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_requests_total"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_txqueue_stream_messages"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_in_flight"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_http_requests_total{credential=\"test-"
                                       "producer\",result=\"accepted\"}"));
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_retries_total{reason=\"lease_lost\"}"));
  std::string hex = crypto::HexEncode(crypto::KeyFromMnemonic(kWarm)->private_key().secret_bytes());
  for (const std::string* text : {&metrics->body}) {
    EXPECT_THAT(*text, ::testing::Not(HasSubstr(hex)));
    EXPECT_THAT(*text, ::testing::Not(HasSubstr(token)));
  }
  for (testing::DaemonProcess* d : {&a, &b}) {
    std::ifstream in(d->log_path());
    std::stringstream log;
    log << in.rdbuf();
    EXPECT_GT(log.str().size(), 0u);
    // Any three consecutive mnemonic words (a common single word could appear by chance).
    std::vector<std::string> words = absl::StrSplit(kWarm, ' ');
    for (size_t i = 0; i + 2 < words.size(); ++i) {
      std::string window = absl::StrCat(words[i], " ", words[i + 1], " ", words[i + 2]);
      EXPECT_THAT(log.str(), ::testing::Not(HasSubstr(window))) << d->log_path();
    }
    EXPECT_THAT(log.str(), ::testing::Not(HasSubstr(hex)));
    EXPECT_THAT(log.str(), ::testing::Not(HasSubstr(token)));
  }
}

TEST(SignerdTest, KeyFileReadableByOthersIsRefused) {
  testing::TempDir dir("signerd-key");
  std::string key_file = dir.Join("warm.key");
  std::ofstream(key_file) << kWarm << "\n";
  ASSERT_EQ(chmod(key_file.c_str(), 0644), 0);
  absl::StatusOr<std::string> binary = testing::ResolveRunfile("daemons/signerd/signerd");
  ASSERT_TRUE(binary.ok());
  testing::SubprocessOptions o;
  o.argv = {*binary, "--chain-id=x", "--key-file=" + key_file};
  o.log_path = dir.Join("out.log");
  testing::Subprocess p(o);
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int> code = p.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(p.LogTail(), HasSubstr(key_file));
  EXPECT_THAT(p.LogTail(), HasSubstr("0644"));
  EXPECT_THAT(p.LogTail(), ::testing::Not(HasSubstr("patrol")));  // never the key
}

TEST(SignerdTest, ConfigErrorsNameTheField) {
  absl::StatusOr<std::string> binary = testing::ResolveRunfile("daemons/signerd/signerd");
  ASSERT_TRUE(binary.ok());
  testing::TempDir dir("signerd-config");
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  std::vector<Case> cases = {
      {{"--mode=sequenced", "--redis-url=redis-without-scheme"}, "--redis-url"},
      {{"--mode=sequenced", "--coordination=etcd"}, "coordination"},
      {{"--nats-url=http://nats:4222"}, "--nats-url"},
      {{"--mode=ordered"}, "mode"},
      {{"--timeout-blocks=0"}, "timeout-blocks"},
      {{"--reenqueue-after=10s"}, "--reenqueue-after"},
      {{"--reenqueue-after=-1m"}, "reenqueue-after"},
  };
  int i = 0;
  for (const Case& c : cases) {
    testing::SubprocessOptions o;
    o.argv = {*binary, "--chain-id=x", "--key-file=/nonexistent"};
    o.argv.insert(o.argv.end(), c.args.begin(), c.args.end());
    o.log_path = dir.Join(absl::StrCat("out-", i++, ".log"));
    testing::Subprocess p(o);
    ASSERT_TRUE(p.Start().ok());
    absl::StatusOr<int> code = p.Wait(absl::Seconds(10));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 2) << c.args.back();
    EXPECT_THAT(p.LogTail(), HasSubstr(c.names)) << c.args.back();
  }
}

// Two replicas in sequenced mode share one key through the Redis lease: only the holder signs;
// kill -9 it mid-way and the other takes over (new token, sequence read from the chain).
TEST(SignerdTest, SequencedReplicasHandOverTheKeyOnCrash) {
  testing::TempDir dir("signerd-seq");
  std::string key_file = dir.Join("warm.key");
  std::ofstream(key_file) << kWarm << "\n";
  ASSERT_EQ(chmod(key_file.c_str(), 0600), 0);
  std::string address = crypto::KeyFromMnemonic(kWarm)->address();
  std::string genesis = dir.Join("genesis.json");
  std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                         R"(","balances":{"ngonka":"1000000000"}}]})");
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start().ok());
  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {
      "--bind=127.0.0.1",    "--port={{PORT}}", "--chain-id=signerd-seq", "--block-interval=100ms",
      "--drain-announce=0s", "--grpc-address=", "--genesis=" + genesis,   "--log-level=warn"};
  testing::DaemonProcess devchain(chain_options);
  ASSERT_TRUE(devchain.Start().ok());
  auto signerd_options = [&](int i) {
    testing::DaemonProcess::Options o;
    o.binary = "daemons/signerd/signerd";
    o.name = absl::StrCat("signerd-seq-", i);
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--chain-id=signerd-seq",
              "--key-file=" + key_file,
              absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", nats.url()),
              absl::StrCat("--pg-url=", postgres.url()),
              "--mode=sequenced",
              absl::StrCat("--redis-url=redis://", redis.address()),
              "--timeout-blocks=20",
              "--enqueue-insecure-loopback",
              "--allowed-msg-types=/gonka.devchain.v1.*",
              "--gas-limit=400000",
              "--retry-delay=300ms",
              "--drain-announce=0s",
              "--log-level=warn"};
    return o;
  };
  testing::DaemonProcess a(signerd_options(0)), b(signerd_options(1));
  ASSERT_TRUE(a.Start().ok()) << a.LogTail();
  ASSERT_TRUE(b.Start().ok()) << b.LogTail();
  net::HttpClient http;
  auto enqueue = [&](const std::string& key) {
    txqueue::v1::ChainTx tx;
    tx.set_idempotency_key(key);
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(address);
    record.set_key(key);
    *tx.add_messages() = cosmos::PackAny(record);
    net::HttpCallOptions call;
    call.headers.Set("Content-Type", "application/x-protobuf");
    return http.Request("POST", b.url() + "/v1/txs", tx.SerializeAsString(), call);
  };
  auto count = [&](const std::string& key) -> int {
    auto r = http.Get(devchain.url() + "/devchain/records?key=" + key);
    if (!r.ok() || r->status != 200) return -1;
    size_t p = r->body.find("\"count\":\"");
    return p == std::string::npos ? -1 : std::stoi(r->body.substr(p + 9));
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back(absl::StrCat("seq-", i));
  for (int i = 0; i < 10; ++i) {
    auto r = enqueue(keys[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 202) << r->body;
  }
  ASSERT_TRUE(testing::WaitFor([&] { return count(keys[0]) == 1; }, absl::Seconds(30)).ok())
      << a.LogTail() << b.LogTail();
  ASSERT_TRUE(a.Kill().ok());  // a started first: it held the lease (or b did: either way)
  for (int i = 10; i < 20; ++i) {
    auto r = enqueue(keys[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 202) << r->body;
  }
  ASSERT_TRUE(a.Start().ok());
  absl::Status all = testing::WaitFor(
      [&] {
        for (const auto& k : keys) {
          if (count(k) < 1) return false;
        }
        return true;
      },
      absl::Seconds(60), absl::Milliseconds(200), "every key on chain");
  ASSERT_TRUE(all.ok()) << all << "\n" << a.LogTail() << "\n" << b.LogTail();
  for (const auto& k : keys) EXPECT_EQ(count(k), 1) << k;
  auto metrics = http.Get(b.url() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(metrics->body, HasSubstr("gonka_signer_retries_total{reason=\"sequence_mismatch\"}"));
}

}  // namespace
}  // namespace gonka
