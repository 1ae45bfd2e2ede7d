#include "gonka/testing/test_ca.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gonka/testing/process.h"

namespace gonka::testing {
namespace {

using ::testing::HasSubstr;

int FileMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

TEST(TestCaTest, IssuedCertificateVerifiesAgainstItsCaOnly) {
  TempDir dir("test_ca");
  absl::StatusOr<TestCa> ca = TestCa::Create(dir.path());
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(FileMode(ca->key_path()), 0600);

  absl::StatusOr<TestCertificate> server = ca->Issue("localhost");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(FileMode(server->key_path), 0600);

  absl::StatusOr<std::string> verified =
      RunCommand({"/usr/bin/openssl", "verify", "-CAfile", ca->cert_path(), "-purpose", "sslserver",
                  server->cert_path});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(*verified, HasSubstr(": OK"));

  // The certificate carries the SANs a TLS client checks.
  absl::StatusOr<std::string> text =
      RunCommand({"/usr/bin/openssl", "x509", "-in", server->cert_path, "-noout", "-text"});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("DNS:localhost"));
  EXPECT_THAT(*text, HasSubstr("IP Address:127.0.0.1"));
  EXPECT_THAT(*text, HasSubstr("TLS Web Server Authentication"));

  // A second CA with the same name is a different key: it rejects the first CA's leaf.
  TempDir other_dir("test_ca_other");
  absl::StatusOr<TestCa> other = TestCa::Create(other_dir.path());
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<std::string> rejected =
      RunCommand({"/usr/bin/openssl", "verify", "-CAfile", other->cert_path(), server->cert_path});
  EXPECT_FALSE(rejected.ok());
}

TEST(TestCaTest, ClientCertificatesAndNamesDoNotCollide) {
  TempDir dir("test_ca");
  absl::StatusOr<TestCa> ca = TestCa::Create(dir.path(), "node ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<TestCertificate> first = ca->Issue("producer", {"DNS:producer"}, true);
  absl::StatusOr<TestCertificate> second = ca->Issue("producer", {"DNS:producer"}, true);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(first->cert_path, second->cert_path);
  absl::StatusOr<std::string> verified =
      RunCommand({"/usr/bin/openssl", "verify", "-CAfile", ca->cert_path(), "-purpose", "sslclient",
                  second->cert_path});
  ASSERT_TRUE(verified.ok()) << verified.status();
  absl::StatusOr<std::string> text =
      RunCommand({"/usr/bin/openssl", "x509", "-in", first->cert_path, "-noout", "-text"});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("TLS Web Client Authentication"));
}

TEST(TestCaTest, MissingDirectoryIsInvalidArgument) {
  absl::StatusOr<TestCa> ca = TestCa::Create("/nonexistent/gonka-test-ca-dir");
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka::testing
