#include "gonka/base/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;

struct Settings {
  std::string rpc;
  int port = 0;
  absl::Duration grace;
  bool verbose = false;
  std::string pghost;
  int64_t batch = 0;
};

void Register(Config& c, Settings& s) {
  c.AddString("chain-rpc-url", &s.rpc, "http://127.0.0.1:26657", "CometBFT RPC URL");
  c.AddPort("port", &s.port, 18080, "HTTP port");
  c.AddDuration("shutdown-grace", &s.grace, absl::Seconds(30), "drain budget").Positive();
  c.AddBool("verbose", &s.verbose, false, "more logs");
  c.AddString("pg-host", &s.pghost, "", "Postgres host").Env("PGHOST");
  c.AddInt("batch", &s.batch, 10, "batch size").Range(1, 100);
}

TEST(ConfigTest, DefaultsEnvAndFlagsInPrecedenceOrder) {
  std::map<std::string, std::string> env = {
      {"GONKA_PORT", "9000"}, {"GONKA_SHUTDOWN_GRACE", "5m"}, {"PGHOST", "db.local"}};
  Config c("test");
  Settings s;
  Register(c, s);
  const char* argv[] = {"prog", "--port=9100", "--verbose", "--batch", "20", "extra"};
  ASSERT_TRUE(c.Parse(6, argv, MapEnv(&env)).ok());
  EXPECT_EQ(s.rpc, "http://127.0.0.1:26657");
  EXPECT_EQ(s.port, 9100);  // flag beats env
  EXPECT_EQ(s.grace, absl::Minutes(5));
  EXPECT_TRUE(s.verbose);
  EXPECT_EQ(s.pghost, "db.local");
  EXPECT_EQ(s.batch, 20);
  EXPECT_THAT(c.args(), ::testing::ElementsAre("extra"));
  EXPECT_THAT(c.Describe(), HasSubstr("port=9100 (flag --port)"));
  EXPECT_THAT(c.Usage(), HasSubstr("GONKA_SHUTDOWN_GRACE"));
}

TEST(ConfigTest, BadDurationNamesFieldEnvAndValue) {
  std::map<std::string, std::string> env = {{"GONKA_SHUTDOWN_GRACE", "ten"}};
  Config c("edge-api");
  Settings s;
  Register(c, s);
  const char* argv[] = {"prog"};
  absl::Status st = c.Parse(1, argv, MapEnv(&env));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("--shutdown-grace"));
  EXPECT_THAT(st.message(), HasSubstr("GONKA_SHUTDOWN_GRACE"));
  EXPECT_THAT(st.message(), HasSubstr("\"ten\""));
  EXPECT_THAT(st.message(), HasSubstr("not a duration"));
}

TEST(ConfigTest, RangeAndPositiveAndPortChecks) {
  std::map<std::string, std::string> env;
  {
    Config c("t");
    Settings s;
    Register(c, s);
    const char* argv[] = {"prog", "--port=70000"};
    absl::Status st = c.Parse(2, argv, MapEnv(&env));
    EXPECT_THAT(st.message(), HasSubstr("--port"));
    EXPECT_THAT(st.message(), HasSubstr("[0, 65535]"));
  }
  {
    Config c("t");
    Settings s;
    Register(c, s);
    const char* argv[] = {"prog", "--shutdown-grace=0s"};
    EXPECT_THAT(c.Parse(2, argv, MapEnv(&env)).message(), HasSubstr("must be > 0"));
  }
  {
    Config c("t");
    Settings s;
    Register(c, s);
    const char* argv[] = {"prog", "--batch=abc"};
    EXPECT_THAT(c.Parse(2, argv, MapEnv(&env)).message(), HasSubstr("not an integer"));
  }
}

TEST(ConfigTest, UnknownFlagRequiredFieldAndHelp) {
  std::map<std::string, std::string> env;
  {
    Config c("t");
    Settings s;
    Register(c, s);
    const char* argv[] = {"prog", "--nope=1"};
    EXPECT_THAT(c.Parse(2, argv, MapEnv(&env)).message(), HasSubstr("unknown flag --nope"));
  }
  {
    Config c("signerd");
    std::string key;
    c.AddString("key-file", &key, "", "warm key file").Required();
    const char* argv[] = {"prog"};
    absl::Status st = c.Parse(1, argv, MapEnv(&env));
    EXPECT_THAT(st.message(), HasSubstr("--key-file (env GONKA_KEY_FILE) is required"));
    const char* help[] = {"prog", "--help"};
    Config c2("signerd");
    c2.AddString("key-file", &key, "", "warm key file").Required();
    EXPECT_TRUE(c2.Parse(2, help, MapEnv(&env)).ok());
    EXPECT_TRUE(c2.help_requested());
  }
  {
    Config c("t");
    bool b = true;
    c.AddBool("ws", &b, true, "use websocket");
    const char* argv[] = {"prog", "--nows"};
    ASSERT_TRUE(c.Parse(2, argv, MapEnv(&env)).ok());
    EXPECT_FALSE(b);
  }
}

TEST(ConfigTest, SecretsAreRedacted) {
  std::map<std::string, std::string> env = {{"GONKA_DB_PASSWORD", "hunter2"}};
  Config c("t");
  std::string pw;
  c.AddString("db-password", &pw, "", "password").Check([](absl::string_view v) {
    return v.size() < 10 ? "too short" : "";
  });
  const char* argv[] = {"prog"};
  absl::Status st = c.Parse(1, argv, MapEnv(&env));
  EXPECT_THAT(st.message(), HasSubstr("<redacted>"));
  EXPECT_THAT(st.message(), ::testing::Not(HasSubstr("hunter2")));
}

TEST(ConfigTest, UrlCredentialsAreRedactedInErrorsAndDescribe) {
  std::map<std::string, std::string> env;
  Config c("t");
  std::string url, conninfo;
  c.AddString("db-url", &url, "", "url").Check([](absl::string_view v) {
    return absl::StrContains(v, "@") ? "credentials do not belong in a URL" : "";
  });
  c.AddString("db-conninfo", &conninfo, "", "conninfo");
  const char* bad[] = {"prog", "--db-url=postgresql://u:hunter2@db:5432/x?sslmode=verify-full"};
  absl::Status st = c.Parse(2, bad, MapEnv(&env));
  EXPECT_THAT(st.message(), HasSubstr("postgresql://u:<redacted>@db:5432/x?sslmode=verify-full"));
  EXPECT_THAT(st.message(), ::testing::Not(HasSubstr("hunter2")));
  const char* ok[] = {"prog", "--db-conninfo=host=db password='a b' user=u",
                      "--db-url=postgresql://db/x?password=hunter3&sslmode=require"};
  ASSERT_TRUE(c.Parse(3, ok, MapEnv(&env)).ok());
  EXPECT_THAT(c.Describe(), HasSubstr("db-conninfo=host=db password=<redacted> user=u"));
  EXPECT_THAT(c.Describe(), HasSubstr("db-url=postgresql://db/x?password=<redacted>&sslmode="));
  EXPECT_THAT(c.Describe(), ::testing::Not(HasSubstr("hunter3")));
}

TEST(ConfigTest, ParseDurationForms) {
  absl::Duration d;
  EXPECT_TRUE(ParseDurationFlag("30", &d));
  EXPECT_EQ(d, absl::Seconds(30));
  EXPECT_TRUE(ParseDurationFlag("1h30m", &d));
  EXPECT_EQ(d, absl::Minutes(90));
  EXPECT_TRUE(ParseDurationFlag("250ms", &d));
  EXPECT_FALSE(ParseDurationFlag("inf", &d));
  EXPECT_FALSE(ParseDurationFlag("-5", &d));
  EXPECT_FALSE(ParseDurationFlag("", &d));
}

}  // namespace
}  // namespace gonka
