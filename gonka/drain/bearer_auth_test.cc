#include "gonka/drain/bearer_auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTokenA[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr char kTokenB[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

std::string Write(const std::string& path, const std::string& content, mode_t mode = 0600) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << content;
  chmod(tmp.c_str(), mode);
  rename(tmp.c_str(), path.c_str());  // a new inode: the stamp changes even within one mtime tick
  return path;
}

class BearerAuthTest : public ::testing::Test {
 protected:
  std::string path_ = ::testing::TempDir() + "/tokens";
  FakeClock clock_;
  absl::StatusOr<std::unique_ptr<BearerAuth>> Open() {
    return BearerAuth::Open(
        {.token_file = path_, .what = "--enqueue-token-file", .clock = &clock_});
  }
};

TEST_F(BearerAuthTest, NamesTheCredentialOfAValidToken) {
  Write(path_, absl::StrCat("# producers\nnode-manager ", kTokenA, "\n\n", kTokenB, "\n"));
  auto auth = Open();
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->size(), 2u);
  EXPECT_EQ(*(*auth)->Authenticate(absl::StrCat("Bearer ", kTokenA)), "node-manager");
  EXPECT_EQ(*(*auth)->Authenticate(absl::StrCat("Bearer ", kTokenB)), "token-4");
}

TEST_F(BearerAuthTest, RefusesMissingMalformedAndWrongTokensWithoutEchoingThem) {
  Write(path_, absl::StrCat("p ", kTokenA, "\n"));
  auto auth = *Open();
  for (const std::string header :
       {std::string(""), std::string("Basic dXNlcjpwYXNz"), std::string(kTokenA),
        absl::StrCat("Bearer ", kTokenB), absl::StrCat("Bearer ", kTokenA, "x"),
        absl::StrCat("Bearer ", std::string(kTokenA).substr(0, 20))}) {
    absl::StatusOr<std::string> who = auth->Authenticate(header);
    ASSERT_FALSE(who.ok()) << header;
    EXPECT_EQ(who.status().code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_THAT(std::string(who.status().message()), Not(HasSubstr("aaaa"))) << header;
    EXPECT_THAT(std::string(who.status().message()), Not(HasSubstr("bbbb"))) << header;
  }
}

TEST_F(BearerAuthTest, RotationAndRevocationWithoutRestart) {
  Write(path_, absl::StrCat("old ", kTokenA, "\n"));
  auto auth = *Open();
  ASSERT_TRUE(auth->Authenticate(absl::StrCat("Bearer ", kTokenA)).ok());
  // Add the new token: both work after the next check.
  Write(path_, absl::StrCat("old ", kTokenA, "\nnew ", kTokenB, "\n"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*auth->Authenticate(absl::StrCat("Bearer ", kTokenB)), "new");
  EXPECT_EQ(*auth->Authenticate(absl::StrCat("Bearer ", kTokenA)), "old");
  // Revoke the old one.
  Write(path_, absl::StrCat("new ", kTokenB, "\n"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(auth->Authenticate(absl::StrCat("Bearer ", kTokenA)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth->Authenticate(absl::StrCat("Bearer ", kTokenB)).ok());
}

TEST_F(BearerAuthTest, ABrokenFileFailsClosedUntilFixed) {
  Write(path_, absl::StrCat("p ", kTokenA, "\n"));
  auto auth = *Open();
  Write(path_, absl::StrCat("p ", kTokenA, "\n"), 0644);  // now readable by others
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(auth->Authenticate(absl::StrCat("Bearer ", kTokenA)).status().code(),
            absl::StatusCode::kUnavailable);
  Write(path_, absl::StrCat("p ", kTokenA, "\n"), 0600);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(auth->Authenticate(absl::StrCat("Bearer ", kTokenA)).ok());
}

TEST_F(BearerAuthTest, BadFilesAreRefusedAtOpenNamingTheLine) {
  auto message = [&](const std::string& content, mode_t mode = 0600) {
    Write(path_, content, mode);
    auto a = Open();
    EXPECT_FALSE(a.ok());
    return a.ok() ? std::string() : std::string(a.status().message());
  };
  EXPECT_THAT(message(absl::StrCat("p ", kTokenA), 0640), HasSubstr("mode 0640"));
  EXPECT_THAT(message("p short\n"), HasSubstr("line 1"));
  EXPECT_THAT(message("p short\n"), Not(HasSubstr("short")));
  EXPECT_THAT(message(absl::StrCat("p ", kTokenA, "\np ", kTokenB)), HasSubstr("appears twice"));
  EXPECT_THAT(message(absl::StrCat("a b ", kTokenA)), HasSubstr("line 1"));
  EXPECT_THAT(message("# nothing\n"), HasSubstr("no tokens"));
}

TEST_F(BearerAuthTest, AuthenticatorModes) {
  net::HttpRequest local, remote;
  local.remote_address = "127.0.0.1:4000";
  remote.remote_address = "10.1.2.3:4000";
  // Off: nobody, not even loopback.
  HttpAuthenticator off =
      MakeHttpAuthenticator(nullptr, false, "HTTP enqueue", "--enqueue-token-file");
  EXPECT_EQ(off(local).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(off(local).status().message()), HasSubstr("--enqueue-token-file"));
  // Insecure development mode: loopback only.
  HttpAuthenticator dev = MakeHttpAuthenticator(nullptr, true, "HTTP enqueue", "x");
  EXPECT_EQ(*dev(local), "insecure-loopback");
  EXPECT_EQ(dev(remote).status().code(), absl::StatusCode::kPermissionDenied);
  // Tokens: required from every peer, loopback included.
  Write(path_, absl::StrCat("p ", kTokenA, "\n"));
  std::shared_ptr<BearerAuth> auth = *Open();
  HttpAuthenticator tokens = MakeHttpAuthenticator(auth, false, "HTTP enqueue", "x");
  EXPECT_EQ(tokens(local).status().code(), absl::StatusCode::kUnauthenticated);
  remote.headers.Set("Authorization", absl::StrCat("Bearer ", kTokenA));
  EXPECT_EQ(*tokens(remote), "p");
}

TEST(IsLoopbackPeerTest, Addresses) {
  EXPECT_TRUE(IsLoopbackPeer("127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackPeer("127.1.2.3:1"));
  EXPECT_TRUE(IsLoopbackPeer("[::1]:5000"));
  EXPECT_TRUE(IsLoopbackPeer("[::ffff:127.0.0.1]:5000"));
  EXPECT_FALSE(IsLoopbackPeer("10.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackPeer("[::2]:5000"));
  EXPECT_FALSE(IsLoopbackPeer("128.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackPeer(""));
}

}  // namespace
}  // namespace gonka
