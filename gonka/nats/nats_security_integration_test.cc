// NATS locked down: nats-server 2.9 started with deploy/nats/gonka-node.conf (the very file a
// node ships, with test passwords) shows that an anonymous or wrong-password connection is
// refused and that each role (producer, signer, edge-api, consumer) can do what it needs and is
// denied what it must not do — asserted by the error and by the stream's message count. TLS:
// a server with a certificate from a CA made at test time (testing::TestCa) accepts a client
// that trusts that CA and refuses one with another CA, a wrong expected server name, or plain
// nats://; with `verify` it refuses a client without a certificate. Nkey seed and token files
// authenticate. (The flags side, a group/world-readable password file refused naming it, is
// gonka/drain:connection_flags_nats_test.)
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gonka/nats/internal/connection.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/test_ca.h"

namespace gonka {
namespace nats {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(2);

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Each role's password; the server gets them through gonka-node-passwords.conf (plaintext here,
// bcrypt in production: the file format is the same).
const std::map<std::string, std::string>& Passwords() {
  static const auto* passwords =
      new std::map<std::string, std::string>{{"producer", "producer-pw-7Qe"},
                                             {"signer", "signer-pw-1Zx"},
                                             {"edge-api", "edge-pw-9Lk"},
                                             {"consumer", "consumer-pw-3Mv"},
                                             {"admin", "admin-pw-5Rt"}};
  return *passwords;
}

class NatsPermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> conf_path = testing::ResolveRunfile("deploy/nats/gonka-node.conf");
    ASSERT_TRUE(conf_path.ok()) << conf_path.status();
    testing::NatsServer::Options options;
    options.config_text = ReadFile(*conf_path);
    ASSERT_THAT(options.config_text, HasSubstr("PRODUCER_PERMISSIONS"));
    server_ = std::make_unique<testing::NatsServer>(options);
    std::string passwords;
    for (const auto& [user, password] : Passwords()) {
      std::string var = absl::StrReplaceAll(user, {{"-", "_"}});
      for (char& c : var) c = static_cast<char>(toupper(c));
      absl::StrAppend(&passwords, var, "_PASSWORD: \"", password, "\"\n");
    }
    WriteFile(server_->dir() + "/gonka-node-passwords.conf", passwords);
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started << "\n" << server_->LogTail();
  }

  // Client options for `user` with its password file (mode 0600) and its own inbox prefix.
  NatsOptions As(const std::string& user, const std::string& password = "") {
    NatsOptions o;
    o.urls = {server_->url()};
    o.timeout = kTimeout;
    o.name = user;
    o.user = user;
    o.password_file = dir_.Join(absl::StrCat(user, ".password.", files_++));
    WriteFile(o.password_file, (password.empty() ? Passwords().at(user) : password) + "\n");
    o.inbox_prefix = absl::StrCat("_INBOX_", user);
    return o;
  }

  std::unique_ptr<JetStream> Connect(const std::string& user) {
    absl::StatusOr<std::unique_ptr<JetStream>> js = JetStream::Connect(As(user));
    EXPECT_TRUE(js.ok()) << user << ": " << js.status();
    return js.ok() ? std::move(*js) : nullptr;
  }

  uint64_t StreamMessages(JetStream* js, const std::string& stream) {
    absl::StatusOr<StreamInfo> info = js->GetStreamInfo(stream);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->messages : ~0ull;
  }

  testing::TempDir dir_{"nats_security"};
  std::unique_ptr<testing::NatsServer> server_;
  int files_ = 0;
};

TEST_F(NatsPermissionsTest, AnonymousConnectionIsRefused) {
  NatsOptions o;
  o.urls = {server_->url()};
  o.timeout = kTimeout;
  absl::StatusOr<std::unique_ptr<JetStream>> js = JetStream::Connect(o);
  ASSERT_FALSE(js.ok());
  EXPECT_EQ(js.status().code(), absl::StatusCode::kPermissionDenied) << js.status();
  EXPECT_THAT(js.status().message(), HasSubstr("authorization violation"));
  EXPECT_THAT(js.status().message(), HasSubstr("anonymous"));
}

TEST_F(NatsPermissionsTest, WrongPasswordIsRefusedWithoutShowingIt) {
  absl::StatusOr<std::unique_ptr<JetStream>> js =
      JetStream::Connect(As("producer", "not-the-password"));
  ASSERT_FALSE(js.ok());
  EXPECT_EQ(js.status().code(), absl::StatusCode::kPermissionDenied) << js.status();
  EXPECT_THAT(js.status().message(), HasSubstr("authorization violation connecting to"));
  EXPECT_THAT(js.status().message(), HasSubstr("user \"producer\""));
  EXPECT_THAT(js.status().message(), Not(HasSubstr("not-the-password")));
  // A user:password file works as well as user + password file.
  NatsOptions o = As("producer");
  o.user.clear();
  WriteFile(o.password_file, absl::StrCat("producer:", Passwords().at("producer")));
  EXPECT_TRUE(JetStream::Connect(o).ok());
}

// The subjects, streams and durable are gonka/txqueue's (CHAIN_TX, chain.tx, chain.tx.dead,
// signers) and gonka/eventhub's (BLOCKS, blocks, event-views); this package sits below them, so
// the calls are the JetStream ones TxQueue::Enqueue and TxConsumer::Bind/Fetch make (layer_check
// keeps gonka/nats tests off gonka/txqueue).
ConsumerConfig SignersConsumer(const std::string& durable = "signers") {
  ConsumerConfig c;
  c.stream = "CHAIN_TX";
  c.durable = durable;
  c.filter_subject = "chain.tx";
  return c;
}

TEST_F(NatsPermissionsTest, EachRoleDoesWhatItNeedsAndNothingElse) {
  std::unique_ptr<JetStream> signer = Connect("signer");
  std::unique_ptr<JetStream> producer = Connect("producer");
  std::unique_ptr<JetStream> edge = Connect("edge-api");
  std::unique_ptr<JetStream> consumer = Connect("consumer");
  ASSERT_TRUE(signer && producer && edge && consumer);

  // Streams are created by their owners at start: signerd CHAIN_TX, edge-api BLOCKS.
  absl::StatusOr<StreamInfo> chain_tx =
      signer->EnsureStream({.name = "CHAIN_TX", .subjects = {"chain.tx", "chain.tx.dead"}});
  ASSERT_TRUE(chain_tx.ok()) << chain_tx.status();
  absl::StatusOr<StreamInfo> blocks =
      edge->EnsureStream({.name = "BLOCKS", .subjects = {"blocks"}});
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  // ... and not by anyone else.
  StreamConfig rogue;
  rogue.name = "ROGUE";
  rogue.subjects = {"rogue"};
  EXPECT_FALSE(producer->EnsureStream(rogue).ok());
  EXPECT_FALSE(consumer->EnsureStream(rogue).ok());

  // producer: enqueues (a JetStream publish to chain.tx with a msg id, as TxQueue::Enqueue).
  absl::StatusOr<PubAck> enqueued = producer->Publish("chain.tx", "tx-1", {.msg_id = "tx-1"});
  ASSERT_TRUE(enqueued.ok()) << enqueued.status();
  EXPECT_EQ(StreamMessages(signer.get(), "CHAIN_TX"), 1u);

  // edge-api: publishes a block.
  absl::StatusOr<PubAck> block = edge->Publish("blocks", "block-1", {.msg_id = "chain/1"});
  ASSERT_TRUE(block.ok()) << block.status();
  EXPECT_EQ(StreamMessages(edge.get(), "BLOCKS"), 1u);

  // signer: pulls through the durable consumer, acks, dead-letters.
  absl::StatusOr<std::unique_ptr<PullConsumer>> signers = signer->Consumer(SignersConsumer());
  ASSERT_TRUE(signers.ok()) << signers.status();
  absl::StatusOr<std::vector<JsMessage>> deliveries = (*signers)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  ASSERT_EQ(deliveries->size(), 1u);
  EXPECT_EQ((*deliveries)[0].data(), "tx-1");
  EXPECT_TRUE((*deliveries)[0].AckSync().ok());
  absl::StatusOr<PubAck> dead = signer->Publish("chain.tx.dead", "dead", {.msg_id = "d-1"});
  EXPECT_TRUE(dead.ok()) << dead.status();
  EXPECT_EQ(StreamMessages(signer.get(), "CHAIN_TX"), 2u);

  // consumer: reads the block stream through its own durable and acks.
  ConsumerConfig read;
  read.stream = "BLOCKS";
  read.durable = "dashboard";
  read.filter_subject = "blocks";
  absl::StatusOr<std::unique_ptr<PullConsumer>> reader = consumer->Consumer(read);
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<std::vector<JsMessage>> read_blocks = (*reader)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(read_blocks.ok()) << read_blocks.status();
  ASSERT_EQ(read_blocks->size(), 1u);
  EXPECT_EQ((*read_blocks)[0].data(), "block-1");
  EXPECT_TRUE((*read_blocks)[0].AckSync().ok());

  // --- Denied. Each attempt fails and nothing lands in the stream. ---
  // producer consuming chain.tx (binding the signers' durable or a consumer of its own).
  EXPECT_FALSE(producer->Consumer(SignersConsumer()).ok());
  EXPECT_FALSE(producer->Consumer(SignersConsumer("producer-reader")).ok());
  // producer publishing a block.
  absl::StatusOr<PubAck> producer_block =
      producer->Publish("blocks", "forged", {.msg_id = "chain/2", .timeout = absl::Seconds(1)});
  EXPECT_FALSE(producer_block.ok());
  EXPECT_THAT(producer_block.status().message(), HasSubstr("Permissions Violation"));
  // consumer publishing chain.tx or a block.
  absl::StatusOr<PubAck> consumer_tx =
      consumer->Publish("chain.tx", "tx-evil", {.msg_id = "tx-evil", .timeout = absl::Seconds(1)});
  EXPECT_FALSE(consumer_tx.ok());
  EXPECT_THAT(consumer_tx.status().message(), HasSubstr("Permissions Violation"));
  EXPECT_FALSE(
      consumer->Publish("blocks", "forged", {.msg_id = "chain/3", .timeout = absl::Seconds(1)})
          .ok());
  // consumer reading the transaction queue.
  EXPECT_FALSE(consumer->Consumer(SignersConsumer()).ok());
  // consumer taking over edge-api's views durable.
  ConsumerConfig views = read;
  views.durable = "event-views";
  EXPECT_FALSE(consumer->Consumer(views).ok());
  // signer publishing a block.
  EXPECT_FALSE(
      signer->Publish("blocks", "forged", {.msg_id = "chain/4", .timeout = absl::Seconds(1)}).ok());
  // edge-api enqueueing a transaction or touching CHAIN_TX.
  EXPECT_FALSE(
      edge->Publish("chain.tx", "tx-edge", {.msg_id = "tx-edge", .timeout = absl::Seconds(1)})
          .ok());
  EXPECT_FALSE(edge->DeleteStream("CHAIN_TX").ok());
  // producer deleting the queue.
  EXPECT_FALSE(producer->DeleteStream("CHAIN_TX").ok());

  EXPECT_EQ(StreamMessages(signer.get(), "CHAIN_TX"), 2u);  // tx-1 + the dead letter
  EXPECT_EQ(StreamMessages(edge.get(), "BLOCKS"), 1u);      // block-1 only
  EXPECT_TRUE(server_->IsRunning());
}

// --- TLS ---

class NatsTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCa> ca = testing::TestCa::Create(dir_.path(), "nats-ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::make_unique<testing::TestCa>(*ca);
    absl::StatusOr<testing::TestCertificate> cert = ca_->Issue("localhost");
    ASSERT_TRUE(cert.ok()) << cert.status();
    server_cert_ = *cert;
    testing::TempDir* other_dir = &other_dir_;
    absl::StatusOr<testing::TestCa> other = testing::TestCa::Create(other_dir->path(), "other-ca");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ca_ = std::make_unique<testing::TestCa>(*other);
  }

  std::unique_ptr<testing::NatsServer> StartServer(bool verify_clients) {
    testing::NatsServer::Options options;
    options.config_text =
        absl::StrCat("tls {\n  cert_file: \"", server_cert_.cert_path, "\"\n  key_file: \"",
                     server_cert_.key_path, "\"\n  ca_file: \"", ca_->cert_path(),
                     "\"\n  verify: ", verify_clients ? "true" : "false", "\n  timeout: 2\n}\n");
    auto server = std::make_unique<testing::NatsServer>(options);
    absl::Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started << "\n" << server->LogTail();
    return server;
  }

  NatsOptions Client(const testing::NatsServer& server, const std::string& ca_file) {
    NatsOptions o;
    o.urls = {server.tls_url()};
    o.timeout = kTimeout;
    o.tls_ca_file = ca_file;
    o.tls_server_name = "localhost";
    return o;
  }

  testing::TempDir dir_{"nats_tls"};
  testing::TempDir other_dir_{"nats_tls_other"};
  std::unique_ptr<testing::TestCa> ca_;
  std::unique_ptr<testing::TestCa> other_ca_;
  testing::TestCertificate server_cert_;
};

TEST_F(NatsTlsTest, ServerCertificateIsVerified) {
  std::unique_ptr<testing::NatsServer> server = StartServer(/*verify_clients=*/false);
  ASSERT_TRUE(server->IsRunning());

  // The right CA and name: connected, and JetStream works over it.
  absl::StatusOr<std::unique_ptr<JetStream>> good =
      JetStream::Connect(Client(*server, ca_->cert_path()));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE((*good)->EnsureStream({.name = "TLS", .subjects = {"tls.test"}}).ok());
  // The IP literal URL without a server name: the chain is still verified.
  NatsOptions by_ip = Client(*server, ca_->cert_path());
  by_ip.tls_server_name.clear();
  EXPECT_TRUE(JetStream::Connect(by_ip).ok());

  // Another CA: refused.
  absl::StatusOr<std::unique_ptr<JetStream>> wrong_ca =
      JetStream::Connect(Client(*server, other_ca_->cert_path()));
  ASSERT_FALSE(wrong_ca.ok());
  EXPECT_THAT(wrong_ca.status().message(), HasSubstr("TLS"));

  // The right CA but a name the certificate does not carry: refused.
  NatsOptions wrong_name = Client(*server, ca_->cert_path());
  wrong_name.tls_server_name = "nats.example.com";
  absl::StatusOr<std::unique_ptr<JetStream>> misnamed = JetStream::Connect(wrong_name);
  ASSERT_FALSE(misnamed.ok());
  EXPECT_THAT(misnamed.status().message(), HasSubstr("nats.example.com"));

  // Plain nats:// without a CA file to a server that requires TLS: nats.c upgrades to TLS as
  // the server demands, and the server's certificate is not trusted: refused.
  NatsOptions plain;
  plain.urls = {server->url()};
  plain.timeout = kTimeout;
  absl::StatusOr<std::unique_ptr<JetStream>> cleartext = JetStream::Connect(plain);
  ASSERT_FALSE(cleartext.ok());
  EXPECT_THAT(cleartext.status().message(), HasSubstr("TLS"));
}

TEST_F(NatsTlsTest, ClientCertificateRequiredWhenServerVerifies) {
  std::unique_ptr<testing::NatsServer> server = StartServer(/*verify_clients=*/true);
  ASSERT_TRUE(server->IsRunning());
  absl::StatusOr<testing::TestCertificate> client = ca_->Issue("signer", {"DNS:signer"}, true);
  ASSERT_TRUE(client.ok()) << client.status();

  NatsOptions with_cert = Client(*server, ca_->cert_path());
  with_cert.tls_cert_file = client->cert_path;
  with_cert.tls_key_file = client->key_path;
  absl::StatusOr<std::unique_ptr<JetStream>> ok = JetStream::Connect(with_cert);
  EXPECT_TRUE(ok.ok()) << ok.status();

  EXPECT_FALSE(JetStream::Connect(Client(*server, ca_->cert_path())).ok());

  // A client certificate from another CA: refused.
  absl::StatusOr<testing::TestCertificate> stranger =
      other_ca_->Issue("stranger", {"DNS:stranger"}, true);
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  NatsOptions foreign = Client(*server, ca_->cert_path());
  foreign.tls_cert_file = stranger->cert_path;
  foreign.tls_key_file = stranger->key_path;
  EXPECT_FALSE(JetStream::Connect(foreign).ok());
}

// docs.nats.io "NKeys" example (nk -gen user -pubout).
constexpr char kDocsSeed[] = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";
constexpr char kDocsPublic[] = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

TEST(NkeyTest, PublicKeyFromSeedMatchesTheNatsDocsExample) {
  absl::StatusOr<std::string> pub = internal::NkeyUserPublicKeyFromSeed(kDocsSeed);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, kDocsPublic);
  EXPECT_FALSE(internal::NkeyUserPublicKeyFromSeed(kDocsPublic).ok());  // not a seed
  std::string corrupt = kDocsSeed;
  corrupt[10] = corrupt[10] == 'A' ? 'B' : 'A';
  absl::StatusOr<std::string> bad = internal::NkeyUserPublicKeyFromSeed(corrupt);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), Not(HasSubstr(corrupt)));
}

TEST(NkeyTest, SeedFileAndTokenFileAuthenticate) {
  testing::TempDir dir("nats_nkey");
  testing::NatsServer::Options options;
  options.jetstream = false;
  options.config_text = absl::StrCat("authorization { users = [ {nkey: ", kDocsPublic, "} ] }");
  testing::NatsServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.LogTail();
  NatsOptions o;
  o.urls = {server.url()};
  o.timeout = kTimeout;
  o.nkey_seed_file = dir.Join("user.nk");
  WriteFile(o.nkey_seed_file, absl::StrCat(kDocsSeed, "\n"));
  absl::StatusOr<std::unique_ptr<JetStream>> js = JetStream::Connect(o);
  EXPECT_TRUE(js.ok()) << js.status();
  NatsOptions anonymous;
  anonymous.urls = o.urls;
  anonymous.timeout = kTimeout;
  EXPECT_EQ(JetStream::Connect(anonymous).status().code(), absl::StatusCode::kPermissionDenied);

  testing::NatsServer::Options token_options;
  token_options.jetstream = false;
  token_options.config_text = "authorization { token: \"s3cr3t-token\" }";
  testing::NatsServer token_server(token_options);
  ASSERT_TRUE(token_server.Start().ok()) << token_server.LogTail();
  NatsOptions t;
  t.urls = {token_server.url()};
  t.timeout = kTimeout;
  t.token_file = dir.Join("token");
  WriteFile(t.token_file, "s3cr3t-token\n");
  EXPECT_TRUE(JetStream::Connect(t).ok());
  WriteFile(t.token_file, "wrong-token\n");
  absl::StatusOr<std::unique_ptr<JetStream>> refused = JetStream::Connect(t);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("token from " + t.token_file));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("wrong-token")));
}

}  // namespace
}  // namespace nats
}  // namespace gonka
