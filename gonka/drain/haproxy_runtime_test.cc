// HaproxyRuntime against a fake runtime socket that answers like HAProxy 2.6 (the answers below
// were captured from haproxy 2.6.12 with deploy/haproxy/haproxy.cfg.template). The real HAProxy
// is exercised by //gonka/testing:rollout_test.
#include "gonka/drain/haproxy_runtime.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
using ::testing::HasSubstr;

constexpr char kServersState[] =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 replicas 1 r0 127.0.0.1 2 0 1 1 12 6 3 3 6 0 0 0 - 18080 - 0 0 - - 0\n"
    "3 replicas 2 r1 127.0.0.1 0 0 1 1 1 8 2 0 6 0 0 0 - 18081 - 0 0 - - 0\n"
    "3 replicas 3 r2 127.0.0.1 2 8 1 1 40 6 3 3 6 0 0 0 - 18082 - 0 0 - - 0\n"
    "\n";

constexpr char kStat[] =
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
    "wredis,status,\n"
    "fe,FRONTEND,,,3,9,262121,1500,1,2,0,0,0,,,,,OPEN,\n"
    "replicas,r0,0,0,1,4,,700,1,2,,0,,0,0,0,0,UP,\n"
    "replicas,BACKEND,0,0,3,9,26213,1500,1,2,0,0,,0,1,2,1,UP,\n"
    "\n";

// A unix-socket server that answers each connection's one command with `answer(command)` and
// closes, like HAProxy's non-interactive mode. With `hang`, it reads the command and never answers.
class FakeRuntime {
 public:
  explicit FakeRuntime(std::function<std::string(const std::string&)> answer, bool hang = false)
      : answer_(std::move(answer)), hang_(hang) {
    // Under /tmp: a unix socket path must fit sockaddr_un (108 bytes), which TEST_TMPDIR may not.
    path_ = dir_.Join("admin.sock");
    acceptor_.emplace(ioc_, local_stream::endpoint(path_));
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeRuntime() {
    stop_ = true;
    // Unblocks accept().
    local_stream::socket poke(ioc_);
    boost::system::error_code ignored;
    poke.connect(local_stream::endpoint(path_), ignored);
    thread_.join();
  }

  const std::string& path() const { return path_; }
  std::vector<std::string> commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }

 private:
  void Serve() {
    std::vector<local_stream::socket> hung;
    while (!stop_) {
      local_stream::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_->accept(socket, ec);
      if (ec || stop_) break;
      asio::streambuf buf;
      asio::read_until(socket, buf, '\n', ec);
      if (ec) continue;
      std::string line(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
      line.pop_back();
      {
        std::lock_guard<std::mutex> lock(mu_);
        commands_.push_back(line);
      }
      if (hang_) {
        hung.push_back(std::move(socket));
        continue;
      }
      asio::write(socket, asio::buffer(answer_(line)), ec);
    }
  }

  std::function<std::string(const std::string&)> answer_;
  bool hang_;
  testing::TempDir dir_{"haproxy-runtime", "/tmp"};
  std::string path_;
  asio::io_context ioc_;
  std::optional<local_stream::acceptor> acceptor_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

std::string Answer(const std::string& command) {
  if (command == "show servers state replicas") return kServersState;
  if (command == "show stat") return kStat;
  if (command == "show servers state nope") return "Can't find backend.\n";
  if (command == "set server replicas/r0 state drain") return "";
  if (command == "set server replicas/zz state drain") return "No such server.\n";
  if (command == "set server replicas/r1 state maint") return "Permission denied\n";
  return "Unknown command.\n";
}

TEST(HaproxyRuntimeTest, ServersStateParsesEveryRow) {
  FakeRuntime fake(Answer);
  HaproxyRuntime runtime(fake.path());
  absl::StatusOr<std::vector<HaproxyServerState>> servers = runtime.ServersState("replicas");
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_EQ(servers->size(), 3u);
  const HaproxyServerState& r0 = (*servers)[0];
  EXPECT_EQ(r0.backend, "replicas");
  EXPECT_EQ(r0.server, "r0");
  EXPECT_EQ(r0.address, "127.0.0.1");
  EXPECT_EQ(r0.port, 18080);
  EXPECT_EQ(r0.op_state, 2);
  EXPECT_TRUE(r0.up());
  EXPECT_EQ(r0.fields.at("srv_check_health"), "3");
  EXPECT_FALSE((*servers)[1].up());  // op_state 0: DOWN
  // Running but in drain (admin bit 0x08): HAProxy sends it no new requests.
  EXPECT_TRUE((*servers)[2].draining());
  EXPECT_FALSE((*servers)[2].up());
  EXPECT_EQ(fake.commands(), std::vector<std::string>{"show servers state replicas"});
}

TEST(HaproxyRuntimeTest, UnknownBackendOrServerIsNotFound) {
  FakeRuntime fake(Answer);
  HaproxyRuntime runtime(fake.path());
  absl::StatusOr<HaproxyServerState> state = runtime.ServerState("nope", "r0");
  EXPECT_TRUE(absl::IsNotFound(state.status())) << state.status();
  EXPECT_THAT(state.status().message(), HasSubstr("show servers state nope"));
  state = runtime.ServerState("replicas", "r9");
  EXPECT_TRUE(absl::IsNotFound(state.status())) << state.status();
  EXPECT_THAT(state.status().message(), HasSubstr("r9"));
}

TEST(HaproxyRuntimeTest, StatRowsAndCounters) {
  FakeRuntime fake(Answer);
  HaproxyRuntime runtime(fake.path());
  absl::StatusOr<HaproxyStatRow> backend = runtime.StatRow("replicas", "BACKEND");
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ(backend->Int("wretr"), 2);
  EXPECT_EQ(backend->Int("wredis"), 1);
  EXPECT_EQ(backend->Int("eresp"), 1);
  EXPECT_EQ(backend->Get("status"), "UP");
  absl::StatusOr<HaproxyStatRow> frontend = runtime.StatRow("fe", "FRONTEND");
  ASSERT_TRUE(frontend.ok());
  EXPECT_EQ(frontend->Int("wretr"), 0);  // empty column
  EXPECT_EQ(frontend->Int("stot"), 1500);
  EXPECT_TRUE(absl::IsNotFound(runtime.StatRow("replicas", "r7").status()));
}

TEST(HaproxyRuntimeTest, SetServerStateReportsRefusals) {
  FakeRuntime fake(Answer);
  HaproxyRuntime runtime(fake.path());
  EXPECT_TRUE(runtime.SetServerState("replicas", "r0", HaproxyRuntime::AdminState::kDrain).ok());
  absl::Status status =
      runtime.SetServerState("replicas", "zz", HaproxyRuntime::AdminState::kDrain);
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  status = runtime.SetServerState("replicas", "r1", HaproxyRuntime::AdminState::kMaint);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("set server replicas/r1 state maint"));
  EXPECT_THAT(status.message(), HasSubstr("Permission denied"));
}

TEST(HaproxyRuntimeTest, WaitForServerPollsUntilTheStateChanges) {
  std::atomic<int> calls{0};
  FakeRuntime fake([&](const std::string& command) -> std::string {
    // r1 comes UP on the fourth look.
    std::string answer = kServersState;
    if (++calls >= 4) {
      size_t row = answer.find("3 replicas 2 r1 127.0.0.1 0");
      answer[row + std::string("3 replicas 2 r1 127.0.0.1 ").size()] = '2';
    }
    return answer;
  });
  HaproxyRuntime runtime(fake.path());
  absl::Status status = runtime.WaitForServer("replicas", "r1", HaproxyRuntime::kUp,
                                              absl::Seconds(5), absl::Milliseconds(5));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls.load(), 4);

  status = runtime.WaitForServer("replicas", "r0", HaproxyRuntime::kDown, absl::Milliseconds(100),
                                 absl::Milliseconds(5));
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("replicas/r0 not DOWN"));
  EXPECT_THAT(status.message(), HasSubstr("srv_op_state=2"));
}

TEST(HaproxyRuntimeTest, ErrorsNameTheCommandAndTheSocket) {
  HaproxyRuntime missing("/tmp/no-such-dir-for-haproxy-runtime-test/admin.sock");
  absl::StatusOr<std::string> answer = missing.Command("show info");
  EXPECT_TRUE(absl::IsUnavailable(answer.status())) << answer.status();
  EXPECT_THAT(answer.status().message(), HasSubstr("/tmp/no-such-dir-for-haproxy-runtime-test"));
  EXPECT_THAT(answer.status().message(), HasSubstr("'show info'"));
  EXPECT_THAT(answer.status().message(), HasSubstr("connect"));

  EXPECT_TRUE(absl::IsInvalidArgument(missing.Command("show info\nshow stat").status()));
  HaproxyRuntime too_long(std::string(200, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(too_long.Command("show info").status()));
}

TEST(HaproxyRuntimeTest, NoAnswerIsDeadlineExceeded) {
  FakeRuntime fake(Answer, /*hang=*/true);
  HaproxyRuntime runtime(fake.path(), absl::Milliseconds(200));
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> answer = runtime.Command("show stat");
  EXPECT_TRUE(absl::IsDeadlineExceeded(answer.status())) << answer.status();
  EXPECT_THAT(answer.status().message(), HasSubstr("'show stat'"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace gonka
