// The Redis and PostgreSQL credential flags of ConnectionFlags: secrets come from 0600 files
// only, --pg-url refuses an embedded password, and no error or config dump shows a secret.
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/base/config.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ConnectionFlagsCredentialsTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = dir_.Join(name);
    std::ofstream out(path, std::ios::trunc);
    out << content;
    out.close();
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  // Registers redis + pg flags on a fresh Config and parses `args` (no environment).
  absl::Status Parse(const std::vector<std::string>& args) {
    config_ = std::make_unique<Config>("test");
    flags_ = std::make_unique<ConnectionFlags>();
    flags_->Register(config_.get(), {.redis = true, .pg = true});
    std::vector<const char*> argv = {"test"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    return config_->Parse(static_cast<int>(argv.size()), argv.data(), MapEnv(&env_));
  }

  gonka::testing::TempDir dir_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<ConnectionFlags> flags_;
};

TEST_F(ConnectionFlagsCredentialsTest, PasswordInPgUrlIsRefusedNamingTheFlag) {
  for (const std::string& url :
       {std::string("postgresql://gonka:pg-secret-1@db:5432/gonka?sslmode=verify-full"),
        std::string("host=db user=gonka password=pg-secret-1 dbname=gonka"),
        std::string("postgresql://gonka@db/gonka?password=pg-secret-1")}) {
    absl::Status s = Parse({"--pg-url=" + url});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--pg-url"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("--pg-url-file"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("PGPASSFILE"));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("pg-secret-1")));
  }
  // Environment too.
  env_["GONKA_PG_URL"] = "postgresql://gonka:pg-secret-1@db/gonka";
  absl::Status s = Parse({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("pg-secret-1")));
}

TEST_F(ConnectionFlagsCredentialsTest, PgUrlWithoutPasswordAndTlsParametersIsKept) {
  const std::string url =
      "postgresql://gonka@db.internal:5432/gonka?sslmode=verify-full&sslrootcert=/etc/gonka/ca.pem";
  ASSERT_TRUE(Parse({"--pg-url=" + url}).ok());
  absl::StatusOr<pg::PgOptions> o = flags_->Pg();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->conninfo, url);
  ASSERT_TRUE(Parse({}).ok());  // empty: libpq's PG* variables
  EXPECT_EQ(flags_->Pg()->conninfo, "");
}

TEST_F(ConnectionFlagsCredentialsTest, PgUrlFileMayHoldThePassword) {
  const std::string conninfo = "host=db user=gonka password=pg-secret-2 dbname=gonka";
  const std::string path = WriteFile("pg-url", conninfo + "\n", 0600);
  ASSERT_TRUE(Parse({"--pg-url-file=" + path}).ok());
  absl::StatusOr<pg::PgOptions> o = flags_->Pg();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->conninfo, conninfo);
  EXPECT_THAT(config_->Describe(), Not(HasSubstr("pg-secret-2")));

  ASSERT_TRUE(Parse({"--pg-url-file=" + path, "--pg-url=host=db"}).ok());
  absl::StatusOr<pg::PgOptions> both = flags_->Pg();
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("either --pg-url or --pg-url-file"));
}

TEST_F(ConnectionFlagsCredentialsTest, GroupReadableSecretFilesAreRefusedNamingFileAndMode) {
  const std::string pg = WriteFile("pg-url", "host=db password=pg-secret-3", 0640);
  ASSERT_TRUE(Parse({"--pg-url-file=" + pg}).ok());
  absl::StatusOr<pg::PgOptions> o = flags_->Pg();
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("--pg-url-file " + pg));
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("mode 0640"));
  EXPECT_THAT(std::string(o.status().message()), Not(HasSubstr("pg-secret-3")));

  const std::string redis = WriteFile("redis-password", "redis-secret-1\n", 0644);
  ASSERT_TRUE(Parse({"--redis-password-file=" + redis}).ok());
  absl::StatusOr<redis::RedisOptions> r = flags_->Redis();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--redis-password-file " + redis));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("mode 0644"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("chmod 600"));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("redis-secret-1")));

  const std::string sentinel = WriteFile("sentinel-password", "s", 0604);
  ASSERT_TRUE(Parse({"--redis-sentinel-password-file=" + sentinel}).ok());
  EXPECT_THAT(std::string(flags_->Redis().status().message()),
              HasSubstr("--redis-sentinel-password-file " + sentinel));
}

TEST_F(ConnectionFlagsCredentialsTest, RedisCredentialsFromFiles) {
  const std::string password = WriteFile("redis-password", "redis-secret-2\n", 0600);
  const std::string sentinel = WriteFile("sentinel-password", "sentinel-secret\r\n", 0400);
  ASSERT_TRUE(Parse({"--redis-url=redis-sentinel://10.0.0.1:26379,10.0.0.2/gonka",
                     "--redis-user=gonka-node", "--redis-password-file=" + password,
                     "--redis-sentinel-password-file=" + sentinel})
                  .ok());
  absl::StatusOr<redis::RedisOptions> o = flags_->Redis();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user, "gonka-node");
  EXPECT_EQ(o->password, "redis-secret-2");
  EXPECT_EQ(o->sentinel_password, "sentinel-secret");
  EXPECT_EQ(o->sentinels.size(), 2u);
  EXPECT_THAT(config_->Describe(), Not(HasSubstr("redis-secret-2")));
  EXPECT_THAT(config_->Describe(), HasSubstr("redis-user=gonka-node"));

  // Missing and empty files, and a user without a password file.
  ASSERT_TRUE(Parse({"--redis-password-file=" + dir_.Join("missing")}).ok());
  EXPECT_THAT(std::string(flags_->Redis().status().message()), HasSubstr(dir_.Join("missing")));
  const std::string empty = WriteFile("empty", "\n", 0600);
  ASSERT_TRUE(Parse({"--redis-password-file=" + empty}).ok());
  EXPECT_THAT(std::string(flags_->Redis().status().message()), HasSubstr(empty + " is empty"));
  ASSERT_TRUE(Parse({"--redis-user=gonka-node"}).ok());
  EXPECT_THAT(std::string(flags_->Redis().status().message()),
              HasSubstr("--redis-user: needs --redis-password-file"));
  // No credentials at all: as before.
  ASSERT_TRUE(Parse({}).ok());
  absl::StatusOr<redis::RedisOptions> plain = flags_->Redis();
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->password.empty());
}

}  // namespace
}  // namespace gonka
