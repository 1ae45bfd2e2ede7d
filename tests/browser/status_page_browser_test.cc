// The status page end to end in a real browser: a whole node on loopback (StatusTopology: devchain,
// NATS, PostgreSQL, two edge-api, signerd, node-manager, devmlnode), edge-api's /status opened in
// headless Debian chromium driven by npm playwright-core (status_page_check.mjs). The page must
// load with no console error, name the event hub leader, show a height that advances and blocks
// arriving live, show the leader change after the leading edge-api is killed (SIGKILL), and show
// a dead letter after a message signerd may not sign is enqueued. The screenshot is written to
// $TEST_UNDECLARED_OUTPUTS_DIR/status-page.png (Bazel zips it into bazel-testlogs/tests/browser/
// status_page_browser_test/test.outputs/outputs.zip).
//
// Needs /usr/bin/chromium (Debian `chromium`; tools/setup installs it) and npm: playwright-core is
// installed into tests/browser/node_modules (ignored by git) on first run. Either missing fails
// the test, saying which.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "tests/browser/status_topology.h"

namespace gonka {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Dirname(const std::string& path) { return path.substr(0, path.rfind('/')); }

// tests/browser in the source tree (the script's runfile is a symlink to it), where
// node_modules lives; npm-installs playwright-core there if missing.
absl::StatusOr<std::string> EnsurePlaywright(const std::string& script) {
  char real[PATH_MAX];
  if (realpath(script.c_str(), real) == nullptr) {
    return absl::NotFoundError(absl::StrCat("realpath ", script));
  }
  const std::string dir = Dirname(real);
  if (Exists(dir + "/node_modules/playwright-core/package.json")) return dir;
  testing::TempDir tmp("npm");
  testing::SubprocessOptions npm;
  npm.argv = {"npm", "install", "--no-audit", "--no-fund", "--loglevel=error"};
  npm.working_dir = dir;
  npm.log_path = tmp.Join("npm.log");
  testing::Subprocess install(npm);
  if (absl::Status s = install.Start(); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("npm not runnable (apt-get install npm): ", s.message()));
  }
  absl::StatusOr<int> code = install.Wait(absl::Seconds(120));
  if (!code.ok() || *code != 0 || !Exists(dir + "/node_modules/playwright-core/package.json")) {
    return absl::FailedPreconditionError(
        absl::StrCat("npm install playwright-core in ", dir,
                     " failed (the npm registry must be reachable on the "
                     "first run): ",
                     code.ok() ? absl::StrCat("exit ", *code) : code.status().ToString(), "\n",
                     install.LogTail()));
  }
  return dir;
}

TEST(StatusPageBrowserTest, LeaderHeightLeaderChangeAndDeadLetterInChromium) {
  const std::string chromium = "/usr/bin/chromium";
  ASSERT_TRUE(access(chromium.c_str(), X_OK) == 0)
      << chromium << " not found: this test needs Debian's chromium (apt-get install chromium; "
      << "tools/setup installs it)";
  absl::StatusOr<std::string> script =
      testing::ResolveRunfile("tests/browser/status_page_check.mjs");
  ASSERT_TRUE(script.ok()) << script.status();
  absl::StatusOr<std::string> dir = EnsurePlaywright(*script);
  ASSERT_TRUE(dir.ok()) << dir.status();

  testing::StatusTopology node;
  absl::Status started = node.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << node.Logs();
  const int leader = node.EventHubLeader();
  ASSERT_GE(leader, 0);
  const int follower = 1 - leader;
  // The browser talks to the replica that survives.
  const std::string page = node.edge_api(follower).url() + "/status";
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  testing::TempDir control("status-browser");
  const std::string screenshot =
      absl::StrCat(outputs != nullptr ? outputs : control.path(), "/status-page.png");
  std::printf("status page %s (leader edge-api-%d), screenshot %s\n", page.c_str(), leader,
              screenshot.c_str());

  testing::SubprocessOptions o;
  o.argv = {"node",
            *script,
            page,
            absl::StrCat("edge-api-", leader),
            absl::StrCat("edge-api-", follower),
            control.path(),
            screenshot,
            "20000"};
  o.log_path = control.Join("browser.log");
  testing::Subprocess browser(o);
  ASSERT_TRUE(browser.Start().ok());
  bool killed = false, enqueued = false;
  absl::StatusOr<int> code = absl::DeadlineExceededError("browser still running after 75 s");
  const absl::Time deadline = absl::Now() + absl::Seconds(75);
  while (absl::Now() < deadline) {
    if (!killed && Exists(control.Join("kill-leader"))) {
      ASSERT_TRUE(node.edge_api(leader).Kill().ok());
      killed = true;
      std::printf("killed edge-api-%d (SIGKILL)\n", leader);
    }
    if (!enqueued && Exists(control.Join("enqueue-bad"))) {
      absl::Status s = node.EnqueueDisallowedTx("status-page-test/bad-1");
      ASSERT_TRUE(s.ok()) << s;
      enqueued = true;
      std::printf("enqueued a /cosmos.bank.v1beta1.MsgMultiSend request signerd does not sign\n");
    }
    if (!browser.IsRunning()) {
      code = browser.Wait(absl::Seconds(5));
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::printf("browser log:\n%s\n", browser.LogTail(8000).c_str());
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << node.Logs();
  EXPECT_EQ(*code, 0) << "the page check failed (browser log above)\n" << node.Logs();
  EXPECT_TRUE(killed);
  EXPECT_TRUE(enqueued);
  EXPECT_TRUE(Exists(screenshot)) << screenshot;
}

}  // namespace
}  // namespace gonka
