// The oracle document, sha256-verified installs from files, the streaming hasher they use, and
// the start-up sweep of children a killed supervisor left.
#include "gonka/supervisor/oracle.h"

#include <signal.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"
#include "gonka/supervisor/internal/child_process.h"
#include "gonka/supervisor/supervisor.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace supervisor {
namespace {

const std::string kSha(64, 'a');

TEST(ParseOracleTest, ReadsVersionsAndLowercasesTheHash) {
  auto v = ParseOracle(absl::StrCat(
      R"({"versions":[{"name":"v0.2.11","binary":"http://x/b","sha256":")", std::string(64, 'A'),
      R"("},{"name":"v0_3","binary":"/opt/b","sha256":")", kSha, R"(","extra":1}]})"));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].name, "v0.2.11");
  EXPECT_EQ((*v)[0].binary, "http://x/b");
  EXPECT_EQ((*v)[0].sha256, kSha);
  EXPECT_EQ((*v)[1].name, "v0_3");
  EXPECT_TRUE(ParseOracle(R"({"versions":[]})")->empty());
}

TEST(ParseOracleTest, RefusesWhatItCannotUseNamingTheEntry) {
  struct Case {
    std::string json, expect;
  };
  const std::string ok_entry = absl::StrCat(R"("binary":"/b","sha256":")", kSha, R"(")");
  for (const Case& c : std::vector<Case>{
           {"nope", "not JSON"},
           {R"({"v":[]})", "no \"versions\""},
           {absl::StrCat(R"({"versions":[{)", ok_entry, "}]}"), "versions[0]: missing \"name\""},
           {absl::StrCat(R"({"versions":[{"name":"../x",)", ok_entry, "}]}"), "is not"},
           {absl::StrCat(R"({"versions":[{"name":".hidden",)", ok_entry, "}]}"), "is not"},
           {R"({"versions":[{"name":"a","sha256":"00"}]})", "missing \"binary\""},
           {R"({"versions":[{"name":"a","binary":"/b","sha256":"00"}]})", "64 hex"},
           {absl::StrCat(R"({"versions":[{"name":"a",)", ok_entry, R"(},{"name":"a",)", ok_entry,
                         "}]}"),
            "versions[1]: name a listed twice"},
       }) {
    auto v = ParseOracle(c.json);
    ASSERT_FALSE(v.ok()) << c.json;
    EXPECT_TRUE(absl::IsInvalidArgument(v.status()));
    EXPECT_TRUE(absl::StrContains(v.status().message(), c.expect)) << v.status();
  }
}

TEST(Sha256HasherTest, PiecesHashLikeTheWhole) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 7);
  crypto::Sha256Hasher hasher;
  for (size_t at = 0; at < data.size(); at += 4099) hasher.Update(data.substr(at, 4099));
  EXPECT_EQ(crypto::HexEncode(hasher.Finish()), crypto::HexEncode(crypto::Sha256(data)));
}

TEST(BinaryInstallerTest, InstallsVerifiedBytesAndRefusesAMismatch) {
  testing::TempDir dir("installer");
  const std::string source = dir.Join("child");
  const std::string bytes = "#!/bin/sh\necho hi\n";
  std::ofstream(source) << bytes;
  const std::string sha = crypto::HexEncode(crypto::Sha256(bytes));
  BinaryInstaller installer({.bin_dir = dir.Join("bin"), .binary_name = "devshard"});

  auto path = installer.Install({.name = "v1", .binary = source, .sha256 = sha});
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir.Join(absl::StrCat("bin/v1/", sha, "/devshard")));
  EXPECT_EQ(access(path->c_str(), X_OK), 0);
  EXPECT_TRUE(std::ifstream(dir.Join(absl::StrCat("bin/v1/", sha, "/install.json"))));
  // Installed already: a no-op even when the source is gone.
  std::remove(source.c_str());
  EXPECT_TRUE(installer.Install({.name = "v1", .binary = "file://" + source, .sha256 = sha}).ok());

  std::ofstream(source) << bytes << "tampered";
  auto bad = installer.Install({.name = "v2", .binary = "file://" + source, .sha256 = sha});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(bad.status())) << bad.status();
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "sha256 mismatch")) << bad.status();
  EXPECT_FALSE(std::ifstream(dir.Join(absl::StrCat("bin/v2/", sha, "/devshard"))));
  EXPECT_FALSE(std::ifstream(dir.Join(absl::StrCat("bin/v2/", sha, "/devshard.partial"))));

  auto missing = installer.Install({.name = "v3", .binary = "/nonexistent/x", .sha256 = sha});
  EXPECT_TRUE(absl::IsUnavailable(missing.status())) << missing.status();
  auto relative = installer.Install({.name = "v3", .binary = "x", .sha256 = sha});
  EXPECT_TRUE(absl::IsInvalidArgument(relative.status())) << relative.status();
  EXPECT_EQ(RedactUrl("http://user:pw@host:1/x@y"), "http://host:1/x@y");
}

TEST(ParseVersionPinsTest, ReadsOverridesAndForcedVersionsAndRefusesBadOnes) {
  testing::TempDir dir("pins");
  const std::string bin = dir.Join("devshard");
  std::ofstream(bin) << "#!/bin/sh\n";
  chmod(bin.c_str(), 0755);
  const std::string data = dir.Join("data.txt");
  std::ofstream(data) << "not executable";

  auto pins = ParseVersionPins({"PATH=/bin", absl::StrCat("VERSIOND_OVERRIDE_v0_2_11=", bin),
                                absl::StrCat("VERSIOND_OVERRIDE_app=", bin),
                                "VERSIOND_OVERRIDE_empty=", "VERSIOND_FORCE= v0.2.11 ,,app"});
  ASSERT_TRUE(pins.ok()) << pins.status();
  EXPECT_EQ(pins->overrides.size(), 2u);
  EXPECT_EQ(pins->overrides["v0.2.11"], bin);
  EXPECT_EQ(pins->overrides["app"], bin);
  EXPECT_EQ(pins->force, (std::vector<std::string>{"v0.2.11", "app"}));
  EXPECT_TRUE(ParseVersionPins({})->overrides.empty());

  struct Bad {
    std::vector<std::string> env;
    std::string names;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{"VERSIOND_FORCE=v9"}, "VERSIOND_OVERRIDE_v9"},
           {{"VERSIOND_OVERRIDE_app=relative/devshard"}, "VERSIOND_OVERRIDE_app"},
           {{absl::StrCat("VERSIOND_OVERRIDE_app=", data)}, "VERSIOND_OVERRIDE_app"},
           {{absl::StrCat("VERSIOND_OVERRIDE_app=", dir.path())}, "VERSIOND_OVERRIDE_app"},
           {{absl::StrCat("VERSIOND_OVERRIDE_=", bin)}, "VERSIOND_OVERRIDE_"},
           {{absl::StrCat("VERSIOND_OVERRIDE_.hidden=", bin)}, "VERSIOND_OVERRIDE_.hidden"},
       }) {
    auto refused = ParseVersionPins(bad.env);
    ASSERT_FALSE(refused.ok()) << bad.names;
    EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
    EXPECT_TRUE(absl::StrContains(refused.status().message(), bad.names)) << refused.status();
  }
}

TEST(KillRecordedChildrenTest, KillsTheRecordedProcessAndLeavesAReusedPidAlone) {
  testing::TempDir dir("sweep");
  const std::string pids = dir.Join("pids");
  mkdir(pids.c_str(), 0755);
  testing::SubprocessOptions o;
  o.argv = {"sleep", "60"};
  o.log_path = dir.Join("sleep.log");
  testing::Subprocess orphan(o), stranger(o);
  ASSERT_TRUE(orphan.Start().ok());
  ASSERT_TRUE(stranger.Start().ok());
  auto start = internal::ProcessStartTime(orphan.pid());
  ASSERT_TRUE(start.has_value());
  std::ofstream(absl::StrCat(pids, "/", orphan.pid())) << *start << " /bin/sleep\n";
  // A record whose start time does not match: the pid now belongs to someone else.
  std::ofstream(absl::StrCat(pids, "/", stranger.pid())) << (*start + 999999) << " /bin/sleep\n";

  auto killed = KillRecordedChildren(pids, absl::Seconds(10));
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 1);
  auto exit = orphan.Wait(absl::Seconds(5));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(WIFSIGNALED(*exit) && WTERMSIG(*exit) == SIGKILL);
  EXPECT_TRUE(stranger.IsRunning());
  EXPECT_TRUE(std::filesystem::is_empty(pids));
  EXPECT_EQ(*KillRecordedChildren(dir.Join("missing")), 0);
}

TEST(ParseVersionPinsTest, ReadsGonkaHaAndTheNonHaVersions) {
  for (const char* on : {"1", "t", "TRUE", " yes ", "On"}) {
    auto pins = ParseVersionPins({absl::StrCat("GONKA_HA=", on)});
    ASSERT_TRUE(pins.ok()) << on;
    EXPECT_TRUE(pins->ha) << on;
  }
  for (const char* off : {"", "0", "f", "False", "no", " OFF"}) {
    auto pins = ParseVersionPins({absl::StrCat("GONKA_HA=", off)});
    ASSERT_TRUE(pins.ok()) << off;
    EXPECT_FALSE(pins->ha) << off;
  }
  EXPECT_FALSE(ParseVersionPins({})->ha);  // Gonka's default: not HA
  auto bad = ParseVersionPins({"GONKA_HA=enabled"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "GONKA_HA")) << bad.status();
  auto list = ParseVersionPins({"VERSIOND_NON_HA_VERSIONS= v4, v5;v0.2.11\tv6 ,"});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->non_ha_versions, (std::vector<std::string>{"v4", "v5", "v0.2.11", "v6"}));
  auto unsafe = ParseVersionPins({"VERSIOND_NON_HA_VERSIONS=v4,a/b"});
  EXPECT_EQ(unsafe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unsafe.status().message(), "VERSIOND_NON_HA_VERSIONS"));
}

}  // namespace
}  // namespace supervisor
}  // namespace gonka
