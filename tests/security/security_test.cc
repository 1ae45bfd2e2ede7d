// The security suite: a node with every lock on — NATS with deploy/nats/gonka-node.conf (each
// service its own user and permissions), PostgreSQL with a password and TLS only (verify-full
// against a CA made at test time), Redis with a password, signerd with bearer tokens, a message
// type allowlist and a per-credential rate limit — and, beside a legitimate flow of requests
// (over HTTP with a token and through the queue as the `producer` NATS user), one test per way
// in that must be refused. Each attempt is recorded with how it was refused; the table is
// printed at the end. The last test checks that the legitimate flow lost nothing: every accepted
// key on chain exactly once, nothing of the refused attempts signed, and no token, password or
// key in signerd's log or metrics.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/pg/pg.h"
#include "gonka/redis/redis_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/test_ca.h"
#include "gonka/txqueue/txqueue.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWarm[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kChainId[] = "security-test";
constexpr char kTokenA[] = "producer-a-token-7f3c9e1b5d2a8f4e6c0b";
constexpr char kTokenB[] = "producer-b-token-2a9d4f7e1c8b3e6a5f0d";
constexpr char kRedisPassword[] = "redis-pw-Kq83nZ";
constexpr char kPgPassword[] = "pg-pw-Vx41mR";
constexpr char kRecordType[] = "/gonka.devchain.v1.MsgRecord";

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }
  chmod(path.c_str(), mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::map<std::string, std::string>& NatsPasswords() {
  static const auto* p =
      new std::map<std::string, std::string>{{"producer", "nats-producer-pw-4Hd"},
                                             {"signer", "nats-signer-pw-8Jw"},
                                             {"edge-api", "nats-edge-pw-2Ls"},
                                             {"consumer", "nats-consumer-pw-6Tb"},
                                             {"admin", "nats-admin-pw-0Qp"}};
  return *p;
}

// Everything the suite shares: started once.
struct Node {
  testing::TempDir dir{"security"};
  std::unique_ptr<testing::TestCa> ca, other_ca;
  std::unique_ptr<testing::NatsServer> nats;
  std::unique_ptr<testing::PostgresServer> pg;
  std::unique_ptr<testing::RedisServer> redis;
  std::unique_ptr<testing::DaemonProcess> devchain, signerd;
  testing::DaemonProcess::Options signerd_options;
  std::unique_ptr<nats::JetStream> producer, admin;
  std::unique_ptr<txqueue::TxQueue> producer_queue;
  std::string address;
  std::string tokens_file, key_hex;
  net::HttpClient http;
  std::set<std::string> accepted;  // keys the node accepted: each must land exactly once
  std::set<std::string> refused;   // keys of refused attempts: none may land

  nats::NatsOptions NatsAs(const std::string& user, const std::string& password = "") {
    nats::NatsOptions o;
    o.urls = {nats->url()};
    o.timeout = absl::Seconds(2);
    o.name = user;
    if (!user.empty()) {
      o.user = user;
      o.password_file = dir.Join(absl::StrCat("nats-", user, "-", files++, ".pw"));
      WriteFile(o.password_file, (password.empty() ? NatsPasswords().at(user) : password) + "\n");
      o.inbox_prefix = absl::StrCat("_INBOX_", user);
    }
    return o;
  }
  std::string PgConninfo(const std::string& ca_file) const {
    return absl::StrCat("host=localhost port=", pg->port(), " user=gonka password=", kPgPassword,
                        " dbname=gonka sslmode=verify-full sslrootcert=", ca_file,
                        " connect_timeout=5");
  }
  net::HttpCallOptions Bearer(const std::string& token) {
    net::HttpCallOptions call;
    call.headers.Set("Authorization", "Bearer " + token);
    return call;
  }
  txqueue::ChainTx RecordTx(const std::string& key) const {
    txqueue::ChainTx tx;
    tx.set_idempotency_key(key);
    devchain::v1::MsgRecord record;
    record.set_creator(address);
    record.set_key(key);
    *tx.add_messages() = cosmos::PackAny(record);
    return tx;
  }
  absl::StatusOr<net::HttpResponse> Enqueue(const txqueue::ChainTx& tx, const std::string& token) {
    net::HttpCallOptions call = Bearer(token);
    call.headers.Set("Content-Type", "application/x-protobuf");
    return http.Request("POST", signerd->url() + "/v1/txs", tx.SerializeAsString(), call);
  }
  int RecordCount(const std::string& key) {
    auto r = http.Get(devchain->url() + "/devchain/records?key=" + key);
    if (!r.ok() || r->status != 200) return -1;
    size_t p = r->body.find("\"count\":\"");
    return p == std::string::npos ? -1 : std::stoi(r->body.substr(p + 9));
  }
  std::string LedgerState(const std::string& key) {
    auto r = http.Request("GET", signerd->url() + "/v1/ledger?key=" + key, "", Bearer(kTokenA));
    if (!r.ok()) return "error";
    if (r->status == 404) return "none";
    return r->body;
  }
  int files = 0;
};

Node* node = nullptr;
std::vector<std::pair<std::string, std::string>>* attempts = nullptr;

void Refused(const std::string& attempt, const std::string& how) {
  attempts->push_back({attempt, how});
}

// The first line of a status message, at most 110 characters (for the table).
std::string Short(const absl::Status& s) {
  std::string m(s.message());
  m = m.substr(0, m.find('\n'));
  if (m.size() > 110) m = m.substr(0, 107) + "...";
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", m);
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    attempts = new std::vector<std::pair<std::string, std::string>>();
    node = new Node();
    Node& n = *node;
    auto ca = testing::TestCa::Create(n.dir.path(), "security-ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    n.ca = std::make_unique<testing::TestCa>(std::move(*ca));
    std::string other_dir = n.dir.Join("other-ca");
    ASSERT_EQ(mkdir(other_dir.c_str(), 0700), 0);
    auto other = testing::TestCa::Create(other_dir, "attacker-ca");
    ASSERT_TRUE(other.ok()) << other.status();
    n.other_ca = std::make_unique<testing::TestCa>(std::move(*other));

    // NATS: the node's permissions file as shipped, with this run's passwords.
    auto conf = testing::ResolveRunfile("deploy/nats/gonka-node.conf");
    ASSERT_TRUE(conf.ok()) << conf.status();
    testing::NatsServer::Options nats_options;
    nats_options.config_text = ReadFile(*conf);
    n.nats = std::make_unique<testing::NatsServer>(nats_options);
    std::string passwords;
    for (const auto& [user, password] : NatsPasswords()) {
      std::string var = absl::AsciiStrToUpper(absl::StrReplaceAll(user, {{"-", "_"}}));
      absl::StrAppend(&passwords, var, "_PASSWORD: \"", password, "\"\n");
    }
    WriteFile(n.nats->dir() + "/gonka-node-passwords.conf", passwords);
    absl::Status s = n.nats->Start();
    ASSERT_TRUE(s.ok()) << s << n.nats->LogTail();

    // PostgreSQL: password (scram) and TLS only.
    auto cert = n.ca->Issue("localhost");
    ASSERT_TRUE(cert.ok()) << cert.status();
    testing::PostgresServer::Options pg_options;
    pg_options.password = kPgPassword;
    pg_options.tcp_auth = "scram-sha-256";
    pg_options.tls_cert_file = cert->cert_path;
    pg_options.tls_key_file = cert->key_path;
    pg_options.require_tls = true;
    n.pg = std::make_unique<testing::PostgresServer>(pg_options);
    s = n.pg->Start();
    ASSERT_TRUE(s.ok()) << s << n.pg->LogTail();

    testing::RedisServer::Options redis_options;
    redis_options.password = kRedisPassword;
    n.redis = std::make_unique<testing::RedisServer>(redis_options);
    s = n.redis->Start();
    ASSERT_TRUE(s.ok()) << s;

    // The chain, with the warm key funded.
    n.address = crypto::KeyFromMnemonic(kWarm)->address();
    n.key_hex = crypto::HexEncode(crypto::KeyFromMnemonic(kWarm)->private_key().secret_bytes());
    std::string genesis = n.dir.Join("genesis.json");
    WriteFile(genesis, absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                    R"(","balances":{"ngonka":"1000000000"}}]})"));
    testing::DaemonProcess::Options chain;
    chain.binary = "daemons/devchain/devchain";
    chain.args = {
        "--bind=127.0.0.1",       "--port={{PORT}}",     absl::StrCat("--chain-id=", kChainId),
        "--block-interval=100ms", "--drain-announce=0s", "--grpc-address=",
        "--genesis=" + genesis,   "--log-level=warn"};
    n.devchain = std::make_unique<testing::DaemonProcess>(chain);
    s = n.devchain->Start();
    ASSERT_TRUE(s.ok()) << s;

    // signerd with every credential from a 0600 file.
    std::string key_file = n.dir.Join("warm.key");
    WriteFile(key_file, absl::StrCat(kWarm, "\n"));
    n.tokens_file = n.dir.Join("enqueue.tokens");
    WriteFile(n.tokens_file,
              absl::StrCat("# producers\nproducer-a ", kTokenA, "\nproducer-b ", kTokenB, "\n"));
    std::string pg_file = n.dir.Join("pg.conninfo");
    WriteFile(pg_file, n.PgConninfo(n.ca->cert_path()) + "\n");
    std::string nats_pw = n.dir.Join("nats-signer.pw");
    WriteFile(nats_pw, NatsPasswords().at("signer") + "\n");
    testing::DaemonProcess::Options signerd;
    signerd.binary = "daemons/signerd/signerd";
    signerd.args = {"--port={{PORT}}",
                    absl::StrCat("--chain-id=", kChainId),
                    "--key-file=" + key_file,
                    absl::StrCat("--chain-rpc-url=", n.devchain->url()),
                    absl::StrCat("--nats-url=", n.nats->url()),
                    "--nats-user=signer",
                    "--nats-password-file=" + nats_pw,
                    "--nats-inbox-prefix=_INBOX_signer",
                    "--pg-url-file=" + pg_file,
                    "--enqueue-token-file=" + n.tokens_file,
                    "--enqueue-rate=5",
                    "--enqueue-burst=10",
                    absl::StrCat("--allowed-msg-types=", kRecordType),
                    "--gas-limit=400000",
                    "--retry-delay=300ms",
                    "--drain-announce=0s",
                    "--log-level=debug"};
    n.signerd_options = signerd;
    n.signerd = std::make_unique<testing::DaemonProcess>(signerd);
    s = n.signerd->Start();
    ASSERT_TRUE(s.ok()) << s << n.signerd->LogTail();
    s = testing::WaitFor(
        [&] {
          auto r = n.http.Get(n.signerd->url() + "/ready");
          return r.ok() && r->status == 200;
        },
        absl::Seconds(30), absl::Milliseconds(100), "signerd /ready");
    ASSERT_TRUE(s.ok()) << s << n.signerd->LogTail();

    // The producer (its own NATS user) and the operator's admin connection (for inspection).
    auto producer = nats::JetStream::Connect(n.NatsAs("producer"));
    ASSERT_TRUE(producer.ok()) << producer.status();
    n.producer = std::move(*producer);
    auto admin = nats::JetStream::Connect(n.NatsAs("admin"));
    ASSERT_TRUE(admin.ok()) << admin.status();
    n.admin = std::move(*admin);
    n.producer_queue = std::make_unique<txqueue::TxQueue>(n.producer.get());

    // The legitimate flow starts before the attempts and runs beside them.
    for (int i = 0; i < 10; ++i) {
      const std::string key = absl::StrCat("legit-http-", i);
      auto r = n.Enqueue(n.RecordTx(key), kTokenA);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->status, 202) << r->body;
      n.accepted.insert(key);
      const std::string qkey = absl::StrCat("legit-queue-", i);
      auto q = n.producer_queue->Enqueue(n.RecordTx(qkey));
      ASSERT_TRUE(q.ok()) << q.status();
      n.accepted.insert(qkey);
    }
  }

  static void TearDownTestSuite() {
    std::cout << "\nsecurity attempts (" << attempts->size() << ", every one refused):\n";
    for (const auto& [attempt, how] : *attempts) {
      std::cout << "  " << attempt << "\n      -> " << how << "\n";
    }
    delete node;
    node = nullptr;
    delete attempts;
    attempts = nullptr;
  }

  void SetUp() override {
    if (node == nullptr || node->signerd == nullptr || node->producer == nullptr) {
      GTEST_FAIL() << "the suite's node did not start (see the first failure)";
    }
  }
};

TEST_F(SecurityTest, NatsWithoutCredentialsIsRefused) {
  auto js = nats::JetStream::Connect(node->NatsAs(""));
  ASSERT_FALSE(js.ok());
  EXPECT_THAT(std::string(js.status().message()), HasSubstr("authorization violation"));
  Refused("NATS connection without credentials", Short(js.status()));
}

TEST_F(SecurityTest, NatsWithAWrongPasswordIsRefused) {
  auto js = nats::JetStream::Connect(node->NatsAs("producer", "guessed-password"));
  ASSERT_FALSE(js.ok());
  EXPECT_THAT(std::string(js.status().message()), Not(HasSubstr("guessed-password")));
  Refused("NATS connection as producer with a wrong password", Short(js.status()));
}

TEST_F(SecurityTest, ProducerCannotConsumeTheQueue) {
  txqueue::ConsumerOptions o;
  auto consumer = txqueue::TxConsumer::Bind(node->producer.get(), o);
  if (consumer.ok()) {
    auto fetched = (*consumer)->Fetch(1, absl::Milliseconds(500));
    ASSERT_FALSE(fetched.ok() && !fetched->empty()) << "the producer received a queued request";
    Refused("producer credential consuming chain.tx",
            fetched.ok() ? "nothing delivered" : Short(fetched.status()));
    return;
  }
  Refused("producer credential consuming chain.tx", Short(consumer.status()));
}

TEST_F(SecurityTest, ProducerCannotPublishBlocks) {
  nats::StreamConfig blocks;
  blocks.name = "BLOCKS";
  blocks.subjects = {"blocks"};
  ASSERT_TRUE(node->admin->EnsureStream(blocks).ok());
  auto ack = node->producer->Publish("blocks", "forged block");
  ASSERT_FALSE(ack.ok());
  auto info = node->admin->GetStreamInfo("BLOCKS");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->messages, 0u);
  Refused("producer credential publishing to the block stream", Short(ack.status()));
}

TEST_F(SecurityTest, EnqueueWithoutATokenIsRefused) {
  auto r = node->http.Request("POST", node->signerd->url() + "/v1/txs",
                              node->RecordTx("attack-no-token").SerializeAsString(),
                              net::HttpCallOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->headers.Get("WWW-Authenticate"), "Bearer");
  node->refused.insert("attack-no-token");
  Refused("HTTP enqueue without a token", absl::StrCat(r->status, " ", r->body));
}

TEST_F(SecurityTest, EnqueueWithAWrongTokenIsRefused) {
  auto r = node->Enqueue(node->RecordTx("attack-wrong-token"), "not-a-token-0123456789abcdef");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, Not(HasSubstr("not-a-token")));
  node->refused.insert("attack-wrong-token");
  Refused("HTTP enqueue with a wrong token", absl::StrCat(r->status, " ", r->body));
}

TEST_F(SecurityTest, ARevokedTokenIsRefusedWithoutARestart) {
  // producer-b works, then its line is removed from the token file.
  auto before = node->Enqueue(node->RecordTx("revoke-before"), kTokenB);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->status, 202) << before->body;
  node->accepted.insert("revoke-before");
  WriteFile(node->tokens_file + ".new", absl::StrCat("producer-a ", kTokenA, "\n"));
  ASSERT_EQ(rename((node->tokens_file + ".new").c_str(), node->tokens_file.c_str()), 0);
  int status = 0;
  std::string body;
  absl::Status revoked = testing::WaitFor(
      [&] {
        auto r = node->Enqueue(node->RecordTx("attack-revoked"), kTokenB);
        if (!r.ok()) return false;
        status = r->status;
        body = r->body;
        if (status == 202) node->accepted.insert("attack-revoked");  // accepted before reload
        return status == 401;
      },
      absl::Seconds(5), absl::Milliseconds(200), "producer-b's token refused after revocation");
  ASSERT_TRUE(revoked.ok()) << revoked;
  if (node->accepted.count("attack-revoked") == 0) node->refused.insert("attack-revoked");
  auto a = node->Enqueue(node->RecordTx("after-revoke-a"), kTokenA);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 202) << a->body;
  node->accepted.insert("after-revoke-a");
  Refused("HTTP enqueue with a revoked token", absl::StrCat(status, " ", body));
}

// --enqueue-insecure-loopback is for a developer's machine: a peer on another host is refused
// even then. The other host is a network namespace of this test joined by a veth pair.
TEST_F(SecurityTest, InsecureLoopbackModeRefusesOtherHosts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace (CI runs as root)";
  const int id = static_cast<int>(getpid() % 200) + 20;
  const std::string ns = absl::StrCat("gsec", getpid());
  const std::string here = absl::StrCat("gsa", getpid()), there = absl::StrCat("gsb", getpid());
  const std::string ip_here = absl::StrCat("10.231.", id, ".1"),
                    ip_there = absl::StrCat("10.231.", id, ".2");
  auto run = [](std::vector<std::string> argv) {
    auto r = testing::RunCommand(argv, absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << absl::StrJoin(argv, " ") << ": " << r.status();
    return r.ok();
  };
  testing::RunCommand({"ip", "netns", "del", ns}, absl::Seconds(5)).IgnoreError();
  struct Cleanup {
    std::string ns;
    ~Cleanup() { testing::RunCommand({"ip", "netns", "del", ns}, absl::Seconds(5)).IgnoreError(); }
  } cleanup{ns};
  ASSERT_TRUE(run({"ip", "netns", "add", ns}));
  ASSERT_TRUE(run({"ip", "link", "add", here, "type", "veth", "peer", "name", there}));
  ASSERT_TRUE(run({"ip", "link", "set", there, "netns", ns}));
  ASSERT_TRUE(run({"ip", "addr", "add", ip_here + "/30", "dev", here}));
  ASSERT_TRUE(run({"ip", "link", "set", here, "up"}));
  ASSERT_TRUE(run({"ip", "-n", ns, "addr", "add", ip_there + "/30", "dev", there}));
  ASSERT_TRUE(run({"ip", "-n", ns, "link", "set", there, "up"}));

  // A second signerd replica in development mode, listening on the veth address.
  testing::DaemonProcess::Options o = node->signerd_options;
  o.name = "signerd-insecure";
  for (std::string& a : o.args) {
    if (absl::StartsWith(a, "--enqueue-token-file=")) a = "--enqueue-insecure-loopback";
  }
  o.args.push_back("--bind=" + ip_here);
  o.ready = [&](testing::DaemonProcess& d) -> absl::Status {
    auto r = node->http.Get(absl::StrCat("http://", ip_here, ":", d.port(), "/healthz"));
    if (!r.ok()) return r.status();
    return r->status == 200 ? absl::OkStatus() : absl::UnavailableError("not healthy");
  };
  testing::DaemonProcess insecure(o);
  absl::Status started = insecure.Start();
  ASSERT_TRUE(started.ok()) << started << insecure.LogTail();
  // From the other host, with a body the signer would accept from loopback.
  const std::string url = absl::StrCat("http://", ip_here, ":", insecure.port(), "/v1/txs");
  auto out = testing::RunCommand(
      {"ip", "netns", "exec", ns, "python3", "-c",
       "import sys, urllib.request, urllib.error\n"
       "req = urllib.request.Request(sys.argv[1], data=b'{}', method='POST')\n"
       "try:\n"
       "  r = urllib.request.urlopen(req, timeout=5); print(r.status, r.read().decode())\n"
       "except urllib.error.HTTPError as e:\n"
       "  print(e.code, e.read().decode())\n",
       url},
      absl::Seconds(20));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(absl::StartsWith(*out, "403")) << *out;
  EXPECT_THAT(*out, HasSubstr("loopback only"));
  Refused("HTTP enqueue from another host to a signerd in --enqueue-insecure-loopback mode",
          std::string(absl::StripAsciiWhitespace(*out)));
  ASSERT_TRUE(insecure.Stop().ok());
}

TEST_F(SecurityTest, ADisallowedMessageTypeOverHttpIsRefused) {
  txqueue::ChainTx tx;
  tx.set_idempotency_key("attack-msgsend-http");
  *tx.add_messages() = cosmos::PackAny(cosmos::MakeMsgSend(
      node->address, "gonka1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", {{"ngonka", "500000000"}}));
  auto r = node->Enqueue(tx, kTokenA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("type_not_allowed"));
  EXPECT_EQ(node->LedgerState("attack-msgsend-http"), "none");  // nothing recorded
  node->refused.insert("attack-msgsend-http");
  Refused("HTTP enqueue of /cosmos.bank.v1beta1.MsgSend (not allowed)",
          absl::StrCat(r->status, " ", r->body));
}

TEST_F(SecurityTest, ADisallowedMessageTypeThroughTheQueueIsDeadLettered) {
  txqueue::ChainTx tx;
  tx.set_idempotency_key("attack-msgsend-queue");
  *tx.add_messages() = cosmos::PackAny(cosmos::MakeMsgSend(
      node->address, "gonka1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", {{"ngonka", "500000000"}}));
  auto q = node->producer_queue->Enqueue(tx);
  ASSERT_TRUE(q.ok()) << q.status();
  node->refused.insert("attack-msgsend-queue");
  std::string reason;
  absl::Status dead = testing::WaitFor(
      [&] {
        auto m = node->admin->LastMessage(txqueue::kStream, txqueue::kDeadSubject);
        if (!m.ok() || !m->has_value()) return false;
        auto it = (*m)->headers.find(nats::kDeadReasonHeader);
        if (it == (*m)->headers.end()) return false;
        reason = it->second;
        return absl::StrContains(reason, "attack-msgsend-queue");
      },
      absl::Seconds(20), absl::Milliseconds(100), "the MsgSend request on chain.tx.dead");
  ASSERT_TRUE(dead.ok()) << dead << "\n" << node->signerd->LogTail();
  EXPECT_TRUE(absl::StartsWith(reason, "type_not_allowed")) << reason;
  // The signer dead-letters first and records the ledger row right after: wait for the row.
  std::string ledger;
  absl::Status recorded = testing::WaitFor(
      [&] {
        ledger = node->LedgerState("attack-msgsend-queue");
        return absl::StrContains(ledger, "\"state\":\"failed\"");
      },
      absl::Seconds(10), absl::Milliseconds(50), "the ledger row failed");
  EXPECT_TRUE(recorded.ok()) << recorded << "\n" << ledger;
  EXPECT_THAT(ledger, HasSubstr("\"state\":\"failed\""));
  EXPECT_THAT(ledger, HasSubstr("\"tx_hash\":\"\""));  // never signed
  Refused("queue enqueue of /cosmos.bank.v1beta1.MsgSend (not allowed)",
          "dead letter: " + reason.substr(0, 100));
}

TEST_F(SecurityTest, OneCredentialCannotFloodTheSigner) {
  int accepted = 0, limited = 0;
  std::string retry_after, body;
  for (int i = 0; i < 30; ++i) {
    const std::string key = absl::StrCat("burst-", i);
    auto r = node->Enqueue(node->RecordTx(key), kTokenA);
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->status == 202) {
      ++accepted;
      node->accepted.insert(key);
    } else {
      ASSERT_EQ(r->status, 429) << r->body;
      ++limited;
      retry_after = r->headers.Get("Retry-After");
      body = r->body;
      node->refused.insert(key);
    }
  }
  EXPECT_GT(limited, 0);
  EXPECT_GT(accepted, 0);
  EXPECT_FALSE(retry_after.empty());
  EXPECT_THAT(body, HasSubstr("producer-a"));
  Refused(absl::StrCat("30 HTTP requests at once from one credential (rate 5/s, burst 10): ",
                       limited, " refused, ", accepted, " accepted"),
          absl::StrCat("429 Retry-After: ", retry_after, " ", body));
}

TEST_F(SecurityTest, RedisWithoutThePasswordIsRefused) {
  redis::RedisOptions o;
  o.host = "127.0.0.1";
  o.port = node->redis->port();
  redis::RedisClient client(o);
  auto r = client.Command({"SET", "gonka:election:edge-api", "attacker"});
  ASSERT_FALSE(r.ok());
  auto value =
      testing::RedisCommand("127.0.0.1", node->redis->port(), {"GET", "gonka:election:edge-api"},
                            absl::Seconds(2), testing::RedisAuth{.password = kRedisPassword});
  // Nothing written: the key does not exist.
  EXPECT_TRUE(value.status().code() == absl::StatusCode::kNotFound ||
              (value.ok() && value->empty()))
      << (value.ok() ? *value : value.status().ToString());
  Refused("Redis without the password", Short(r.status()));
}

TEST_F(SecurityTest, PostgresWithTheWrongCaIsRefused) {
  pg::PgOptions o;
  o.conninfo = node->PgConninfo(node->other_ca->cert_path());
  auto pool = pg::Pool::Open(o);
  ASSERT_FALSE(pool.ok());
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("certificate verify failed"));
  EXPECT_THAT(std::string(pool.status().message()), Not(HasSubstr(kPgPassword)));
  Refused("PostgreSQL with sslmode=verify-full and another CA", Short(pool.status()));
}

TEST_F(SecurityTest, PostgresWithoutTlsIsRefused) {
  pg::PgOptions o;
  o.conninfo = absl::StrCat("host=127.0.0.1 port=", node->pg->port(),
                            " user=gonka dbname=gonka sslmode=disable password=", kPgPassword);
  auto pool = pg::Pool::Open(o);
  ASSERT_FALSE(pool.ok());
  EXPECT_THAT(std::string(pool.status().message()), Not(HasSubstr(kPgPassword)));
  Refused("PostgreSQL over plain TCP with the right password", Short(pool.status()));
}

TEST_F(SecurityTest, AKeyFileReadableByTheGroupStopsSignerd) {
  std::string key_file = node->dir.Join("group-readable.key");
  WriteFile(key_file, absl::StrCat(kWarm, "\n"), 0640);
  auto binary = testing::ResolveRunfile("daemons/signerd/signerd");
  ASSERT_TRUE(binary.ok());
  testing::SubprocessOptions o;
  o.argv = {*binary, "--chain-id=x", "--key-file=" + key_file};
  o.log_path = node->dir.Join("group-readable.log");
  testing::Subprocess p(o);
  ASSERT_TRUE(p.Start().ok());
  auto code = p.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(p.LogTail(), HasSubstr("0640"));
  EXPECT_THAT(p.LogTail(), Not(HasSubstr("patrol")));
  std::string error_line;
  for (absl::string_view line : absl::StrSplit(p.LogTail(), '\n')) {
    if (absl::StrContains(line, "--key-file")) error_line = std::string(line);
  }
  Refused("signerd with a key file readable by its group", "exit 2: " + error_line);
}

// Last (GoogleTest runs a suite's tests in order): the legitimate flow lost nothing.
TEST_F(SecurityTest, ZLegitimateFlowLandedExactlyOnceAndNoSecretLeaked) {
  for (int i = 10; i < 20; ++i) {  // more legitimate traffic after the attempts
    const std::string key = absl::StrCat("legit-queue-", i);
    ASSERT_TRUE(node->producer_queue->Enqueue(node->RecordTx(key)).ok());
    node->accepted.insert(key);
  }
  absl::Status all = testing::WaitFor(
      [&] {
        for (const std::string& k : node->accepted) {
          if (node->RecordCount(k) < 1) return false;
        }
        return true;
      },
      absl::Seconds(90), absl::Milliseconds(250), "every accepted key on chain");
  ASSERT_TRUE(all.ok()) << all << node->signerd->LogTail();
  absl::SleepFor(absl::Milliseconds(500));  // a few more blocks: a duplicate would show now
  for (const std::string& k : node->accepted) EXPECT_EQ(node->RecordCount(k), 1) << k;
  for (const std::string& k : node->refused) {
    EXPECT_LE(node->RecordCount(k), 0) << k;  // -1/0: unknown to the chain
  }
  auto metrics = node->http.Get(node->signerd->url() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  const std::string log = ReadFile(node->signerd->log_path());
  std::vector<std::string> secrets = {kTokenA,        kTokenB,       kPgPassword,
                                      kRedisPassword, node->key_hex, "salute grocery chicken"};
  for (const auto& [user, password] : NatsPasswords()) secrets.push_back(password);
  for (const std::string& secret : secrets) {
    EXPECT_THAT(log, Not(HasSubstr(secret)));
    EXPECT_THAT(metrics->body, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(metrics->body, HasSubstr("result=\"rate_limited\""));
  EXPECT_THAT(metrics->body, HasSubstr("result=\"unauthenticated\""));
  EXPECT_THAT(metrics->body, HasSubstr("reason=\"type_not_allowed\""));
  std::cout << "legitimate flow: " << node->accepted.size()
            << " accepted keys on chain exactly once; " << node->refused.size()
            << " refused keys, none on chain; no secret in signerd's log (" << log.size()
            << " bytes, debug level) or metrics" << std::endl;
}

}  // namespace
}  // namespace gonka
