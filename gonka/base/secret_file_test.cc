#include "gonka/base/secret_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string WriteFile(const std::string& name, const std::string& content, mode_t mode) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/" + name;
  unlink(path.c_str());
  std::ofstream(path) << content;
  chmod(path.c_str(), mode);
  return path;
}

TEST(SecretFileTest, ReadsAPrivateFileWithoutTheTrailingNewline) {
  std::string path = WriteFile("secret-ok", "s3cret-value\n", 0600);
  absl::StatusOr<std::string> s = ReadSecretFile(path, "--token-file");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "s3cret-value");
  path = WriteFile("secret-ro", "line1\nline2\r\n", 0400);
  EXPECT_EQ(*ReadSecretFile(path, "x"), "line1\nline2");
}

TEST(SecretFileTest, RefusesAFileOthersCanReadNamingItButNotTheSecret) {
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    std::string path = WriteFile("secret-wide", "s3cret-value", mode);
    absl::StatusOr<std::string> s = ReadSecretFile(path, "--redis-password-file");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()),
                AllOf(HasSubstr("--redis-password-file"), HasSubstr(path), HasSubstr("chmod 600"),
                      Not(HasSubstr("s3cret"))));
    EXPECT_FALSE(CheckSecretFileMode(path, "x").ok());
  }
}

TEST(SecretFileTest, MissingEmptyAndOversizedFiles) {
  EXPECT_EQ(ReadSecretFile("/nonexistent/secret", "x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadSecretFile("", "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ReadSecretFile(WriteFile("empty", "\n", 0600), "x").status().message()),
              HasSubstr("is empty"));
  EXPECT_THAT(std::string(ReadSecretFile(WriteFile("big", std::string(100, 'a'), 0600), "x", 10)
                              .status()
                              .message()),
              HasSubstr("at most 10"));
  EXPECT_FALSE(ReadSecretFile(::testing::TempDir(), "x").ok());  // a directory
}

TEST(SecretFileTest, StampChangesWhenTheFileChanges) {
  std::string path = WriteFile("stamped", "a", 0600);
  absl::StatusOr<FileStamp> a = StampFile(path);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *StampFile(path));
  std::ofstream(path) << "longer content";
  EXPECT_NE(*a, *StampFile(path));
}

}  // namespace
}  // namespace gonka
