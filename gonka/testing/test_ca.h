// A throwaway certificate authority for TLS tests: a CA and leaf certificates generated at test
// time with the `openssl` CLI (no TLS or crypto code of our own), so no key material is checked
// in and every test run gets fresh keys.
//
// Contract:
//   - Create() makes an EC P-256 key and a self-signed CA certificate (basicConstraints CA:TRUE,
//     keyUsage keyCertSign+cRLSign, valid 10 years) in `dir`, which must exist. Two CAs created
//     with the same name in different dirs are unrelated: one does not verify the other's leaves.
//   - Issue() makes a fresh EC P-256 key and a certificate for it signed by this CA, with the
//     given subjectAltNames and extendedKeyUsage serverAuth (or clientAuth when `client`), valid
//     1 year. Files land in the CA's dir as <cn>[-client][-N].crt / .key (never overwritten).
//   - Every private key file is mode 0600 (owned by the test's user: a server that runs as another
//     user, e.g. PostgreSQL as `nobody`, needs a chown — see ChownTree in process.h).
//   - Failures are Internal with the openssl command and the tail of its output.
//
// Thread-safety: Issue() on one TestCa from several threads at once is not supported (file names
// are picked by probing the directory); distinct TestCa objects are independent.
//
// Example:
//   gonka::testing::TempDir dir;
//   ASSERT_OK_AND_ASSIGN(auto ca, gonka::testing::TestCa::Create(dir.path()));
//   ASSERT_OK_AND_ASSIGN(auto server, ca.Issue("localhost"));            // serverAuth
//   ASSERT_OK_AND_ASSIGN(auto client, ca.Issue("producer", {"DNS:producer"}, /*client=*/true));
//   // server.cert_path / server.key_path into the server's TLS config; ca.cert_path() to clients.
#ifndef GONKA_TESTING_TEST_CA_H_
#define GONKA_TESTING_TEST_CA_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka::testing {

struct TestCertificate {
  std::string cert_path;  // PEM certificate
  std::string key_path;   // PEM private key, mode 0600
};

class TestCa {
 public:
  // Creates a fresh CA (EC P-256 key + self-signed cert, subject CN=`name`) in `dir`, which must
  // exist. Files: <dir>/<name>.crt and <dir>/<name>.key (an existing pair is overwritten).
  // InvalidArgument if `dir` is not a directory; Internal if openssl fails.
  static absl::StatusOr<TestCa> Create(const std::string& dir,
                                       const std::string& name = "gonka-test-ca");

  // PEM CA certificate (give it to whoever verifies: CA file of a client or server).
  const std::string& cert_path() const { return ca_.cert_path; }
  // The CA's private key (mode 0600); rarely needed outside this class.
  const std::string& key_path() const { return ca_.key_path; }
  const std::string& dir() const { return dir_; }

  // A leaf certificate signed by this CA. SANs are openssl subjectAltName entries ("DNS:localhost",
  // "IP:127.0.0.1"); empty = none. client=true sets extendedKeyUsage clientAuth, otherwise
  // serverAuth. InvalidArgument for an empty common name; Internal if openssl fails.
  absl::StatusOr<TestCertificate> Issue(const std::string& common_name,
                                        std::vector<std::string> sans = {"DNS:localhost",
                                                                         "IP:127.0.0.1"},
                                        bool client = false) const;

 private:
  TestCa(std::string dir, TestCertificate ca) : dir_(std::move(dir)), ca_(std::move(ca)) {}

  std::string dir_;
  TestCertificate ca_;
};

// Runs `argv` (argv[0] looked up like Subprocess does) to completion within `timeout` and returns
// its combined stdout+stderr. Internal with the command, exit code and output tail if it exits
// non-zero; DeadlineExceeded if it is still running at the timeout (it is then killed).
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout = absl::Seconds(30));

}  // namespace gonka::testing

#endif  // GONKA_TESTING_TEST_CA_H_
