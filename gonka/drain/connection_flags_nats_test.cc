// The NATS connection flags: secrets only from files, and only from files nobody else may read;
// at most one authentication method. No server needed: the file check comes before the network.
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gonka/base/config.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace {

using nats::JetStream;
using nats::NatsOptions;
using ::testing::HasSubstr;
using ::testing::Not;

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

class NatsFlagsTest : public ::testing::Test {
 protected:
  absl::Status Parse(const std::vector<std::string>& args) {
    config_ = std::make_unique<Config>("test");
    flags_ = std::make_unique<ConnectionFlags>();
    flags_->Register(config_.get(), {.nats = true});
    std::vector<const char*> argv = {"test"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    return config_->Parse(static_cast<int>(argv.size()), argv.data(), MapEnv(&env_));
  }

  testing::TempDir dir_{"nats_flags"};
  std::map<std::string, std::string> env_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<ConnectionFlags> flags_;
};

TEST_F(NatsFlagsTest, WorldReadablePasswordFileIsRefusedNamingTheFile) {
  const std::string path = dir_.Join("producer.password");
  WriteFile(path, "hunter2-secret\n", 0644);
  ASSERT_TRUE(Parse({"--nats-user=producer", "--nats-password-file=" + path}).ok());
  absl::StatusOr<NatsOptions> options = flags_->Nats("test");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->password_file, path);
  // Refused at connect, before any network traffic (no server listens on this port).
  options->urls = {absl::StrCat("nats://127.0.0.1:", testing::FreePort())};
  absl::StatusOr<std::unique_ptr<JetStream>> js = JetStream::Connect(*options);
  ASSERT_FALSE(js.ok());
  EXPECT_EQ(js.status().code(), absl::StatusCode::kInvalidArgument) << js.status();
  EXPECT_THAT(js.status().message(), HasSubstr(path));
  EXPECT_THAT(js.status().message(), HasSubstr("0644"));
  EXPECT_THAT(js.status().message(), Not(HasSubstr("hunter2")));
  // The same through the environment (GONKA_NATS_PASSWORD_FILE), and group-readable too.
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  env_["GONKA_NATS_PASSWORD_FILE"] = path;
  env_["GONKA_NATS_USER"] = "producer";
  ASSERT_TRUE(Parse({}).ok());
  options = flags_->Nats("test");
  ASSERT_TRUE(options.ok()) << options.status();
  options->urls = {absl::StrCat("nats://127.0.0.1:", testing::FreePort())};
  js = JetStream::Connect(*options);
  ASSERT_FALSE(js.ok());
  EXPECT_THAT(js.status().message(), HasSubstr("0640"));
}

TEST_F(NatsFlagsTest, AtMostOneAuthenticationMethod) {
  const std::string password = dir_.Join("pw");
  const std::string token = dir_.Join("token");
  WriteFile(password, "a:b");
  WriteFile(token, "t");
  ASSERT_TRUE(Parse({"--nats-password-file=" + password, "--nats-token-file=" + token}).ok());
  absl::StatusOr<NatsOptions> options = flags_->Nats("test");
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(options.status().message(), HasSubstr("--nats-password-file"));
  EXPECT_THAT(options.status().message(), HasSubstr("--nats-token-file"));
  // A password in the URL is refused by the URL check.
  EXPECT_FALSE(Parse({"--nats-url=nats://u:p@127.0.0.1:4222"}).ok());
}

TEST_F(NatsFlagsTest, EveryFlagReachesNatsOptions) {
  const std::string password = dir_.Join("pw");
  WriteFile(password, "pw");
  ASSERT_TRUE(Parse({"--nats-url=tls://a:4222,tls://b:4222", "--nats-user=signer",
                     "--nats-password-file=" + password, "--nats-ca-file=/ca.crt",
                     "--nats-cert-file=/c.crt", "--nats-key-file=/c.key",
                     "--nats-tls-server-name=nats.node", "--nats-inbox-prefix=_INBOX_signer"})
                  .ok());
  absl::StatusOr<NatsOptions> o = flags_->Nats("signerd");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->urls, (std::vector<std::string>{"tls://a:4222", "tls://b:4222"}));
  EXPECT_EQ(o->user, "signer");
  EXPECT_EQ(o->password_file, password);
  EXPECT_EQ(o->tls_ca_file, "/ca.crt");
  EXPECT_EQ(o->tls_cert_file, "/c.crt");
  EXPECT_EQ(o->tls_key_file, "/c.key");
  EXPECT_EQ(o->tls_server_name, "nats.node");
  EXPECT_EQ(o->inbox_prefix, "_INBOX_signer");
  ASSERT_TRUE(Parse({"--nats-cert-file=/c.crt"}).ok());
  EXPECT_FALSE(flags_->Nats("x").ok());  // a certificate without its key
}

}  // namespace
}  // namespace gonka
