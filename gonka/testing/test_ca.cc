#include "gonka/testing/test_ca.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/testing/process.h"

namespace gonka::testing {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// File-name-safe version of a common name ("node a/1" -> "node_a_1").
std::string SafeName(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out[0] == '.') out.insert(out.begin(), '_');
  return out;
}

// An EC P-256 private key at `path`, mode 0600. openssl writes keys with the umask's mode, so the
// file is created empty with 0600 first and the key written into it.
absl::Status GenerateKey(const std::string& path) {
  { std::ofstream create(path, std::ios::trunc); }
  if (chmod(path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("chmod 0600 ", path, ": ", std::strerror(errno)));
  }
  absl::StatusOr<std::string> out = RunCommand({kOpenssl, "genpkey", "-algorithm", "EC", "-pkeyopt",
                                                "ec_paramgen_curve:P-256", "-out", path});
  if (!out.ok()) return out.status();
  // Again, in case openssl replaced the file rather than writing into it.
  if (chmod(path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("chmod 0600 ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// A random positive serial number (hex), so two leaves of one CA never share a serial.
std::string RandomSerial() {
  std::random_device rd;
  std::string hex = "0x";
  static constexpr char kDigits[] = "0123456789abcdef";
  hex.push_back(kDigits[1 + rd() % 7]);  // non-zero, top bit clear: positive
  for (int i = 0; i < 31; ++i) hex.push_back(kDigits[rd() % 16]);
  return hex;
}

}  // namespace

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string log_template =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/gonka-run-XXXXXX");
  int fd = mkstemp(log_template.data());
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("RunCommand: mkstemp ", log_template, ": ", std::strerror(errno)));
  }
  close(fd);
  const std::string log_path = log_template;

  SubprocessOptions options;
  options.argv = argv;
  options.log_path = log_path;
  Subprocess process(options);
  absl::Status started = process.Start();
  absl::StatusOr<int> exit_code =
      started.ok() ? process.Wait(timeout) : absl::StatusOr<int>(started);
  std::string output;
  {
    std::ifstream in(log_path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    output = buffer.str();
  }
  unlink(log_path.c_str());
  const std::string command = absl::StrJoin(argv, " ");
  if (!exit_code.ok()) {
    process.Kill().IgnoreError();
    return absl::Status(exit_code.status().code(),
                        absl::StrCat(command, ": ", exit_code.status().message()));
  }
  if (*exit_code != 0) {
    std::string tail = output.size() > 2000 ? output.substr(output.size() - 2000) : output;
    return absl::InternalError(
        absl::StrCat(command, ": exit code ", *exit_code, "; output: ", tail));
  }
  return output;
}

absl::StatusOr<TestCa> TestCa::Create(const std::string& dir, const std::string& name) {
  if (!IsDirectory(dir)) {
    return absl::InvalidArgumentError(absl::StrCat("TestCa: ", dir, " is not a directory"));
  }
  TestCertificate ca;
  const std::string base = absl::StrCat(dir, "/", SafeName(name));
  ca.cert_path = base + ".crt";
  ca.key_path = base + ".key";
  absl::Status key = GenerateKey(ca.key_path);
  if (!key.ok()) return key;
  absl::StatusOr<std::string> out =
      RunCommand({kOpenssl, "req", "-x509", "-new", "-key", ca.key_path, "-sha256", "-days", "3650",
                  "-subj", absl::StrCat("/CN=", name), "-set_serial", RandomSerial(), "-addext",
                  "basicConstraints=critical,CA:TRUE", "-addext",
                  "keyUsage=critical,keyCertSign,cRLSign", "-out", ca.cert_path});
  if (!out.ok()) return out.status();
  return TestCa(dir, std::move(ca));
}

absl::StatusOr<TestCertificate> TestCa::Issue(const std::string& common_name,
                                              std::vector<std::string> sans, bool client) const {
  if (common_name.empty()) return absl::InvalidArgumentError("TestCa::Issue: empty common name");
  const std::string stem = absl::StrCat(SafeName(common_name), client ? "-client" : "");
  std::string base = absl::StrCat(dir_, "/", stem);
  for (int n = 2; Exists(base + ".crt") || Exists(base + ".key"); ++n) {
    base = absl::StrCat(dir_, "/", stem, "-", n);
  }
  TestCertificate leaf;
  leaf.cert_path = base + ".crt";
  leaf.key_path = base + ".key";
  const std::string csr_path = base + ".csr";
  const std::string ext_path = base + ".ext";

  absl::Status key = GenerateKey(leaf.key_path);
  if (!key.ok()) return key;
  absl::StatusOr<std::string> out =
      RunCommand({kOpenssl, "req", "-new", "-key", leaf.key_path, "-subj",
                  absl::StrCat("/CN=", common_name), "-out", csr_path});
  if (!out.ok()) return out.status();

  std::string extensions =
      absl::StrCat("basicConstraints=critical,CA:FALSE\n",
                   "keyUsage=critical,digitalSignature,keyEncipherment\n",
                   "extendedKeyUsage=", client ? "clientAuth" : "serverAuth", "\n",
                   "subjectKeyIdentifier=hash\n", "authorityKeyIdentifier=keyid,issuer\n");
  if (!sans.empty())
    absl::StrAppend(&extensions, "subjectAltName=", absl::StrJoin(sans, ","), "\n");
  absl::Status written = WriteFile(ext_path, extensions);
  if (!written.ok()) return written;

  out = RunCommand({kOpenssl, "x509", "-req", "-in", csr_path, "-CA", ca_.cert_path, "-CAkey",
                    ca_.key_path, "-set_serial", RandomSerial(), "-days", "365", "-sha256",
                    "-extfile", ext_path, "-out", leaf.cert_path});
  unlink(csr_path.c_str());
  unlink(ext_path.c_str());
  if (!out.ok()) return out.status();
  return leaf;
}

}  // namespace gonka::testing
