#include "gonka/testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gonka {
namespace testing {
namespace {

using ::testing::HasSubstr;

// Process state letter from /proc/<pid>/stat ('S' sleeping, 'T' stopped, 'Z' zombie), or '?'
// if the process does not exist.
char ProcState(pid_t pid) {
  // Plain read(2): the process may vanish while the file is read (ESRCH), which iostreams turn
  // into an exception.
  int fd = open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY);
  if (fd < 0) return '?';
  char buffer[1024];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  close(fd);
  if (n <= 0) return '?';
  std::string content(buffer, static_cast<size_t>(n));
  size_t paren = content.rfind(')');
  if (paren == std::string::npos || paren + 2 >= content.size()) return '?';
  return content[paren + 2];
}

bool Gone(pid_t pid) {
  char state = ProcState(pid);
  return state == '?' || state == 'Z';
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SubprocessOptions Sleep(const TempDir& dir) {
  SubprocessOptions options;
  options.argv = {"sleep", "60"};
  options.log_path = dir.Join("sleep.log");
  return options;
}

TEST(SubprocessTest, StartKillReaps) {
  TempDir dir;
  Subprocess p(Sleep(dir));
  EXPECT_EQ(p.pid(), -1);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_GT(p.pid(), 0);
  EXPECT_TRUE(p.IsRunning());
  EXPECT_EQ(getpgid(p.pid()), p.pid());  // its own process group
  const pid_t pid = p.pid();
  ASSERT_TRUE(p.Kill().ok());
  EXPECT_FALSE(p.IsRunning());
  EXPECT_EQ(ProcState(pid), '?');  // reaped, not a zombie
  absl::StatusOr<int> code = p.Wait(absl::Seconds(1));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGKILL);
  EXPECT_TRUE(p.Kill().ok());  // idempotent
}

TEST(SubprocessTest, PauseAndResume) {
  TempDir dir;
  Subprocess p(Sleep(dir));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Pause().ok());
  EXPECT_EQ(ProcState(p.pid()), 'T');  // Pause() returns once the stop took effect
  EXPECT_TRUE(p.IsRunning());          // paused is still running
  ASSERT_TRUE(p.Resume().ok());
  EXPECT_TRUE(WaitFor([&] { return ProcState(p.pid()) == 'S'; }, absl::Seconds(5)).ok());
  // A paused process is still killable.
  ASSERT_TRUE(p.Pause().ok());
  ASSERT_TRUE(p.Kill().ok());
  EXPECT_FALSE(p.IsRunning());
  EXPECT_EQ(p.Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Resume().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SubprocessTest, CatExitsOnEofOfDevNullStdin) {
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"cat"};
  Subprocess p(options);
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int> code = p.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST(SubprocessTest, TerminateIsGracefulEvenWhenPaused) {
  TempDir dir;
  Subprocess p(Sleep(dir));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Pause().ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<int> code = p.Terminate(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGTERM);  // died of the SIGTERM, not of the SIGKILL fallback
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(SubprocessTest, TerminateFallsBackToKill) {
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"sh", "-c", "trap '' TERM; echo trapped; sleep 60 & wait"};
  options.log_path = dir.Join("trap.log");
  Subprocess p(options);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(options.log_path).find("trapped") != std::string::npos; },
              absl::Seconds(5))
          .ok());
  absl::StatusOr<int> code = p.Terminate(absl::Milliseconds(300));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGKILL);
}

TEST(SubprocessTest, ExitCodeEnvWorkingDirAndLog) {
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo \"foo=$GONKA_TEST_FOO\"; pwd; echo err >&2; exit 3"};
  options.env["GONKA_TEST_FOO"] = "bar";
  options.working_dir = dir.path();
  options.log_path = dir.Join("out.log");
  Subprocess p(options);
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int> code = p.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 3);
  const std::string log = ReadFile(options.log_path);
  EXPECT_THAT(log, HasSubstr("foo=bar\n"));
  EXPECT_THAT(log, HasSubstr(dir.path() + "\n"));
  EXPECT_THAT(log, HasSubstr("err\n"));
  EXPECT_THAT(p.LogTail(4), HasSubstr("err"));
}

TEST(SubprocessTest, RestartSameArgvNewPidAppendsLog) {
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo started; exec sleep 60"};
  options.log_path = dir.Join("restart.log");
  Subprocess p(options);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(options.log_path) == "started\n"; }, absl::Seconds(5)).ok());
  const pid_t first = p.pid();
  EXPECT_EQ(p.Start().code(), absl::StatusCode::kFailedPrecondition);  // already running
  ASSERT_TRUE(p.Restart().ok());
  EXPECT_NE(p.pid(), first);
  EXPECT_TRUE(p.IsRunning());
  EXPECT_EQ(ProcState(first), '?');
  ASSERT_TRUE(WaitFor(
                  [&] {
                    const std::string log = ReadFile(options.log_path);
                    return log == "started\nstarted\n";
                  },
                  absl::Seconds(5))
                  .ok())
      << ReadFile(options.log_path);
}

TEST(SubprocessTest, KillReachesTheWholeProcessGroup) {
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"sh", "-c", "sleep 60 & echo $! > child.pid; wait"};
  options.working_dir = dir.path();
  Subprocess p(options);
  ASSERT_TRUE(p.Start().ok());
  pid_t grandchild = 0;
  ASSERT_TRUE(WaitFor(
                  [&] {
                    grandchild = atoi(ReadFile(dir.Join("child.pid")).c_str());
                    return grandchild > 0;
                  },
                  absl::Seconds(5))
                  .ok());
  EXPECT_EQ(getpgid(grandchild), p.pid());
  ASSERT_TRUE(p.Pause().ok());
  EXPECT_EQ(ProcState(grandchild), 'T');  // the whole group is stopped
  ASSERT_TRUE(p.Kill().ok());
  EXPECT_TRUE(Gone(grandchild));  // Kill() returns once the whole group is gone
}

TEST(SubprocessTest, DestructorKills) {
  TempDir dir;
  pid_t pid;
  {
    Subprocess p(Sleep(dir));
    ASSERT_TRUE(p.Start().ok());
    pid = p.pid();
  }
  EXPECT_EQ(ProcState(pid), '?');
}

TEST(SubprocessTest, ChildDiesWithTheTestProcess) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    // Plays the test process: starts a child, reports its pid, and dies without cleanup.
    close(fds[0]);
    SubprocessOptions options;
    options.argv = {"sleep", "60"};
    auto* p = new Subprocess(options);
    pid_t pid = p->Start().ok() ? p->pid() : -1;
    ssize_t ignored = write(fds[1], &pid, sizeof(pid));
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  pid_t child = -1;
  ASSERT_EQ(read(fds[0], &child, sizeof(child)), static_cast<ssize_t>(sizeof(child)));
  close(fds[0]);
  ASSERT_GT(child, 0);
  int status;
  waitpid(middle, &status, 0);
  EXPECT_TRUE(WaitFor([&] { return Gone(child); }, absl::Seconds(5)).ok())
      << "state " << ProcState(child);
  kill(child, SIGKILL);  // in case the test failed
}

TEST(SubprocessTest, MissingProgramIsAnError) {
  SubprocessOptions options;
  options.argv = {"gonka-no-such-program"};
  Subprocess p(options);
  absl::Status st = p.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(st.message()), HasSubstr("gonka-no-such-program"));
  EXPECT_FALSE(p.IsRunning());
}

TEST(SubprocessTest, BadWorkingDirIsReportedFromTheChild) {
  SubprocessOptions options;
  options.argv = {"sleep", "1"};
  options.working_dir = "/nonexistent/gonka";
  Subprocess p(options);
  absl::Status st = p.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("chdir"));
  EXPECT_FALSE(p.IsRunning());
}

TEST(SubprocessTest, RunAsUserWhenRoot) {
  if (!RunningAsRoot()) GTEST_SKIP() << "needs root";
  TempDir dir;
  SubprocessOptions options;
  options.argv = {"id", "-u"};
  options.log_path = dir.Join("id.log");
  options.run_as_user = "nobody";
  Subprocess p(options);
  absl::Status started = p.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(p.Wait(absl::Seconds(10)).ok());
  EXPECT_EQ(ReadFile(options.log_path), "65534\n");

  options.run_as_user = "gonka-no-such-user";
  Subprocess bad(options);
  EXPECT_EQ(bad.Start().code(), absl::StatusCode::kNotFound);
}

TEST(FreePortTest, DistinctBindablePortsBelowEphemeralRange) {
  std::set<int> ports;
  for (int i = 0; i < 50; ++i) {
    int port = FreePort();
    EXPECT_GT(port, 0);
    EXPECT_TRUE(ports.insert(port).second) << "duplicate port " << port;
  }
  EXPECT_FALSE(TcpPortOpen("127.0.0.1", *ports.begin()));
}

TEST(TempDirTest, CreatedAndRemoved) {
  std::string path;
  {
    TempDir dir("probe");
    path = dir.path();
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    std::ofstream(dir.Join("file")) << "x";
    const char* test_tmp = getenv("TEST_TMPDIR");
    if (test_tmp != nullptr) {
      EXPECT_EQ(path.rfind(test_tmp, 0), 0u);
    }
  }
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST(WaitForTest, SucceedsAndTimesOut) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, absl::Seconds(5), absl::Milliseconds(1)).ok());
  EXPECT_EQ(calls, 3);
  absl::Status st = WaitFor([] { return false; }, absl::Milliseconds(50), absl::Milliseconds(10),
                            "the impossible");
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(st.message()), HasSubstr("the impossible"));
  absl::Status ok_st = WaitForOk([] { return absl::UnavailableError("still booting"); },
                                 absl::Milliseconds(50), absl::Milliseconds(10), "server");
  EXPECT_EQ(ok_st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(ok_st.message()), HasSubstr("still booting"));
}

TEST(WaitForTest, WaitForValueNamesTheLastValueSeen) {
  int n = 0;
  EXPECT_TRUE(WaitForValue([&] { return ++n; }, [](int v) { return v >= 3; }, absl::Seconds(5),
                           absl::Milliseconds(1), "n >= 3")
                  .ok());
  absl::Status st = WaitForValue([] { return 41; }, [](int v) { return v >= 57; },
                                 absl::Milliseconds(50), absl::Milliseconds(10), "height 57");
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(st.message()), HasSubstr("waiting for height 57; last seen: 41"));
}

TEST(TcpPortOpenTest, SeesAListener) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = FreePort();
  addr.sin_port = htons(port);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  EXPECT_TRUE(TcpPortOpen("127.0.0.1", port));
  close(fd);
  EXPECT_FALSE(TcpPortOpen("127.0.0.1", port));
}

}  // namespace
}  // namespace testing
}  // namespace gonka
