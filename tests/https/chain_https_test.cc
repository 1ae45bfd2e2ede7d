// https:// chain upstreams end to end: devchain behind nginx terminating TLS with a certificate
// from a CA made at test time (TestCa). The HTTP and WebSocket clients trust exactly the CA they
// are given: the right CA works (with keep-alive pooling as for plain HTTP), another CA, a
// certificate for another name, or a plain-HTTP port are refused with the reason; plain http://
// is unchanged. Then CometClient over https, CometSubscriber over wss, and edge-api and signerd
// started with --chain-rpc-url=https://... --chain-ca-file=... reach /ready (and signerd with
// the wrong CA stops at start naming the verification error).
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/comet_subscriber.h"
#include "gonka/crypto/key.h"
#include "gonka/net/http_client.h"
#include "gonka/net/websocket_client.h"
#include "gonka/testing/nginx.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/test_ca.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;

constexpr char kChainId[] = "https-test";
constexpr char kWarm[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";

// One devchain, two CAs and two nginx fronts for the whole suite: `tls` presents a certificate
// for localhost / 127.0.0.1 from `ca`; `other_name` one from the same CA naming only
// other.example.
struct Env {
  testing::TempDir dir{"https"};
  std::string key_file;
  std::optional<testing::TestCa> ca;
  std::optional<testing::TestCa> other_ca;
  std::unique_ptr<testing::DaemonProcess> devchain;
  std::unique_ptr<testing::NginxServer> tls;
  std::unique_ptr<testing::NginxServer> other_name;

  absl::Status Start() {
    key_file = dir.Join("warm.key");
    std::ofstream(key_file) << kWarm << "\n";
    chmod(key_file.c_str(), 0600);
    std::string genesis = dir.Join("genesis.json");
    std::ofstream(genesis) << absl::StrCat(R"({"accounts":[{"mnemonic":")", kWarm,
                                           R"(","balances":{"ngonka":"1000000000"}}]})");
    testing::DaemonProcess::Options chain;
    chain.binary = "daemons/devchain/devchain";
    chain.args = {
        "--bind=127.0.0.1",       "--port={{PORT}}",     absl::StrCat("--chain-id=", kChainId),
        "--block-interval=200ms", "--drain-announce=0s", "--grpc-address=",
        "--genesis=" + genesis,   "--log-level=warn"};
    devchain = std::make_unique<testing::DaemonProcess>(chain);
    if (absl::Status s = devchain->Start(); !s.ok()) return s;

    mkdir(dir.Join("ca").c_str(), 0700);
    mkdir(dir.Join("other-ca").c_str(), 0700);
    absl::StatusOr<testing::TestCa> made = testing::TestCa::Create(dir.Join("ca"), "chain-ca");
    if (!made.ok()) return made.status();
    ca.emplace(*std::move(made));
    made = testing::TestCa::Create(dir.Join("other-ca"), "other-ca");
    if (!made.ok()) return made.status();
    other_ca.emplace(*std::move(made));
    absl::StatusOr<testing::TestCertificate> cert = ca->Issue("localhost");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<testing::TestCertificate> other_cert =
        ca->Issue("other.example", {"DNS:other.example"});
    if (!other_cert.ok()) return other_cert.status();

    tls = std::make_unique<testing::NginxServer>(testing::NginxServer::Options{
        .upstream = devchain->address(), .cert_file = cert->cert_path, .key_file = cert->key_path});
    if (absl::Status s = tls->Start(); !s.ok()) return s;
    other_name = std::make_unique<testing::NginxServer>(
        testing::NginxServer::Options{.upstream = devchain->address(),
                                      .cert_file = other_cert->cert_path,
                                      .key_file = other_cert->key_path,
                                      .name = "nginx-other"});
    return other_name->Start();
  }
};

class ChainHttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env;
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << (env_->tls ? env_->tls->LogTail() : std::string());
  }
  void SetUp() override {
    ASSERT_TRUE(env_ != nullptr && env_->other_name != nullptr && env_->other_name->IsRunning())
        << "the suite's servers did not start";
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  static net::HttpClientOptions Trusting(const std::string& ca_file) {
    net::HttpClientOptions options;
    options.tls.ca_file = ca_file;
    options.default_timeout = absl::Seconds(10);
    return options;
  }

  static Env* env_;
};

Env* ChainHttpsTest::env_ = nullptr;

TEST_F(ChainHttpsTest, TheRightCaWorksAndConnectionsArePooledAsForPlainHttp) {
  net::HttpClient http(Trusting(env_->ca->cert_path()));
  for (const std::string& base : {env_->tls->url(), env_->tls->localhost_url()}) {
    absl::StatusOr<net::HttpResponse> r = http.Get(base + "/status");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr(kChainId));
  }
  http.CloseIdleConnections();
  net::HttpClientStats before = http.stats();
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<net::HttpResponse> r =
        i % 2 == 0 ? http.Get(env_->tls->url() + "/status")
                   : http.Post(env_->tls->url(),
                               R"({"jsonrpc":"2.0","id":1,"method":"status","params":{}})");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200) << r->body;
  }
  net::HttpClientStats after = http.stats();
  EXPECT_EQ(after.connections_opened - before.connections_opened, 1u);
  EXPECT_EQ(after.connections_reused - before.connections_reused, 9u);
  EXPECT_EQ(after.idle_connections, 1u);
}

TEST_F(ChainHttpsTest, AnotherCaIsRefusedWithTheVerificationError) {
  const std::string url = env_->tls->url() + "/status";
  for (const std::string& ca_file : {env_->other_ca->cert_path(), std::string()}) {
    // The other CA, and the system's CAs (which do not include the test CA).
    net::HttpClient http(Trusting(ca_file));
    absl::StatusOr<net::HttpResponse> r = http.Get(url);
    ASSERT_FALSE(r.ok()) << "ca_file=" << ca_file;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(),
              absl::StrCat("GET ", url,
                           ": TLS handshake failed: certificate verify failed (unable to get "
                           "local issuer certificate)"));
  }
}

TEST_F(ChainHttpsTest, ACertificateForAnotherNameIsRefused) {
  net::HttpClient http(Trusting(env_->ca->cert_path()));
  absl::StatusOr<net::HttpResponse> by_ip = http.Get(env_->other_name->url() + "/status");
  ASSERT_FALSE(by_ip.ok());
  EXPECT_EQ(by_ip.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(by_ip.status().message(),
              HasSubstr("TLS handshake failed: certificate verify failed (IP address mismatch)"));
  absl::StatusOr<net::HttpResponse> by_name =
      http.Get(env_->other_name->localhost_url() + "/status");
  ASSERT_FALSE(by_name.ok());
  EXPECT_THAT(by_name.status().message(),
              HasSubstr("TLS handshake failed: certificate verify failed (hostname mismatch)"));

  // The name the certificate carries, given explicitly (SNI and check), is accepted.
  net::HttpClientOptions named = Trusting(env_->ca->cert_path());
  named.tls.server_name = "other.example";
  net::HttpClient named_http(named);
  absl::StatusOr<net::HttpResponse> ok = named_http.Get(env_->other_name->url() + "/status");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ChainHttpsTest, PlainHttpIsUnchangedAndMistakesAreNamed) {
  net::HttpClient http(Trusting(env_->ca->cert_path()));
  absl::StatusOr<net::HttpResponse> plain = http.Get(env_->devchain->url() + "/status");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->status, 200);

  // https:// to a plain-HTTP port: the handshake fails, it does not hang or crash.
  const std::string wrong = absl::StrCat("https://", env_->devchain->address(), "/status");
  absl::StatusOr<net::HttpResponse> r = http.Get(wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(),
              HasSubstr(absl::StrCat("GET ", wrong, ": TLS handshake failed")));

  net::HttpClient missing(Trusting(env_->dir.Join("no-such-ca.pem")));
  absl::StatusOr<net::HttpResponse> m = missing.Get(env_->tls->url() + "/status");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("no-such-ca.pem"));
}

TEST_F(ChainHttpsTest, CometClientOverHttpsAndSubscriberOverWss) {
  chain::CometClient comet(
      {.rpc_url = env_->tls->localhost_url(), .tls = {.ca_file = env_->ca->cert_path()}});
  absl::StatusOr<chain::CometStatus> status = comet.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->chain_id, kChainId);

  const std::string ws_url = absl::StrCat("wss://127.0.0.1:", env_->tls->port(), "/websocket");
  std::atomic<int64_t> pushed{0};
  chain::CometSubscriber subscriber({.ws_url = ws_url, .tls = {.ca_file = env_->ca->cert_path()}},
                                    [&](int64_t height) { pushed = height; });
  ASSERT_TRUE(subscriber.Start().ok());
  absl::Status got =
      testing::WaitFor([&] { return pushed.load() > status->latest_height; }, absl::Seconds(20),
                       absl::Milliseconds(20), "a NewBlock pushed over wss");
  EXPECT_TRUE(got.ok()) << got;
  subscriber.Stop();

  // wss with another CA: no connection, and the reason is kept.
  net::WebSocketClientOptions options;
  options.url = ws_url;
  options.tls.ca_file = env_->other_ca->cert_path();
  net::WebSocketClient refused(options);
  ASSERT_TRUE(refused.Start().ok());
  absl::Status failed = testing::WaitFor(
      [&] {
        return absl::StrContains(refused.last_error().message(), "certificate verify failed");
      },
      absl::Seconds(10), absl::Milliseconds(20), "the wss verification error");
  EXPECT_TRUE(failed.ok()) << failed << " last_error=" << refused.last_error();
  EXPECT_EQ(refused.last_error().message(),
            absl::StrCat("WebSocket ", ws_url,
                         ": TLS handshake failed: certificate verify failed (unable to get local "
                         "issuer certificate)"));
  EXPECT_EQ(refused.connect_count(), 0);
  refused.Close();
}

absl::Status Ready(testing::DaemonProcess& daemon) {
  absl::StatusOr<testing::HttpResponse> r =
      testing::HttpGet(daemon.host(), daemon.port(), "/ready");
  if (!r.ok()) return r.status();
  if (r->status != 200) return absl::UnavailableError(absl::StrCat(r->status, " ", r->body));
  return absl::OkStatus();
}

TEST_F(ChainHttpsTest, EdgeApiFollowsTheChainOverHttpsAndWss) {
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  testing::DaemonProcess::Options o;
  o.binary = "daemons/edge-api/edge-api";
  o.args = {"--bind=127.0.0.1",
            "--port={{PORT}}",
            absl::StrCat("--chain-id=", kChainId),
            absl::StrCat("--chain-rpc-url=", env_->tls->localhost_url()),
            "--chain-ca-file=" + env_->ca->cert_path(),
            absl::StrCat("--nats-url=", nats.url()),
            "--coordination=nats",
            "--start-height=1",
            "--drain-announce=0s",
            "--log-level=warn"};
  testing::DaemonProcess edge(o);
  ASSERT_TRUE(edge.Start().ok()) << edge.LogTail();
  absl::Status ready = testing::WaitForOk([&] { return Ready(edge); }, absl::Seconds(30),
                                          absl::Milliseconds(100), "edge-api /ready over https");
  ASSERT_TRUE(ready.ok()) << ready << "\n" << edge.LogTail();
  // The wake-up WebSocket (derived wss:// URL) is connected too.
  absl::Status wss = testing::WaitForOk(
      [&]() -> absl::Status {
        absl::StatusOr<testing::HttpResponse> m =
            testing::HttpGet(edge.host(), edge.port(), "/metrics");
        if (!m.ok()) return m.status();
        if (!absl::StrContains(m->body, "gonka_websocket_client_connected{client=\"comet\"} 1")) {
          return absl::UnavailableError("comet websocket not connected");
        }
        return absl::OkStatus();
      },
      absl::Seconds(20), absl::Milliseconds(100), "edge-api's wss connection");
  EXPECT_TRUE(wss.ok()) << wss << "\n" << edge.LogTail();
  EXPECT_FALSE(absl::StrContains(edge.LogTail(100000), "certificate verify failed"));
}

TEST_F(ChainHttpsTest, SignerdReachesReadyOverHttpsAndStopsOnTheWrongCa) {
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start().ok());
  auto signerd = [&](const std::string& name, const std::string& ca_file) {
    testing::DaemonProcess::Options o;
    o.binary = "daemons/signerd/signerd";
    o.name = name;
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              absl::StrCat("--chain-id=", kChainId),
              "--key-file=" + env_->key_file,
              absl::StrCat("--chain-rpc-url=", env_->tls->url()),
              "--chain-ca-file=" + ca_file,
              absl::StrCat("--nats-url=", nats.url()),
              "--drain-announce=0s",
              "--log-level=warn"};
    o.env = postgres.env();  // libpq's PG* variables (no password on the command line)
    o.start_timeout = absl::Seconds(20);
    return std::make_unique<testing::DaemonProcess>(o);
  };
  std::unique_ptr<testing::DaemonProcess> good = signerd("signerd-good", env_->ca->cert_path());
  ASSERT_TRUE(good->Start().ok()) << good->LogTail();
  absl::Status ready = testing::WaitForOk([&] { return Ready(*good); }, absl::Seconds(30),
                                          absl::Milliseconds(100), "signerd /ready over https");
  EXPECT_TRUE(ready.ok()) << ready << "\n" << good->LogTail();

  std::unique_ptr<testing::DaemonProcess> bad = signerd("signerd-bad", env_->other_ca->cert_path());
  absl::Status started = bad->Start();
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(bad->LogTail(),
              HasSubstr("TLS handshake failed: certificate verify failed (unable to get local "
                        "issuer certificate)"));
}

}  // namespace
}  // namespace gonka
