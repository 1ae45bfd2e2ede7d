// NginxServer: a throwaway nginx that terminates TLS in front of an HTTP server on loopback — the
// "chain node behind an https:// endpoint" of the TLS tests (a real TLS stack that is not ours).
//
// Contract (as every ServerFixture in servers.h):
//   - `https://127.0.0.1:<port>` (port from FreePort() unless given) is proxied to
//     `http://<upstream>` with HTTP/1.1, keep-alive to the upstream, WebSocket upgrades passed
//     through and no response buffering (streams flow at once). The certificate and key are the
//     PEM files given (e.g. from TestCa::Issue); they are read at each start.
//   - nginx runs in the foreground as one process (`daemon off; master_process off`), with its
//     config, pid, temp paths and error log (stderr, in log_path()) in its own TempDir.
//   - Start() returns when the TLS port accepts TCP connections; a config nginx rejects fails
//     with InvalidArgument and `nginx -t`'s output.
//
//   TestCa ca = *TestCa::Create(dir.path());
//   TestCertificate cert = *ca.Issue("localhost");
//   NginxServer tls({.upstream = devchain.address(), .cert_file = cert.cert_path,
//                    .key_file = cert.key_path});
//   ASSERT_TRUE(tls.Start().ok());
//   // tls.url() == "https://127.0.0.1:<port>"; trust ca.cert_path()
//
// Thread-safety: as the other fixtures (one thread).
#ifndef GONKA_TESTING_NGINX_H_
#define GONKA_TESTING_NGINX_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

class NginxServer : public ServerFixture {
 public:
  struct Options {
    std::string upstream;   // "127.0.0.1:26657": the plain HTTP server behind
    std::string cert_file;  // PEM server certificate (chain)
    std::string key_file;   // its PEM private key
    int port = 0;           // 0 = FreePort()
    absl::Duration start_timeout = absl::Seconds(15);
    std::string name = "nginx";
  };
  explicit NginxServer(Options options);

  std::string url() const override;  // "https://127.0.0.1:<port>"
  std::string config_path() const;
  // The https:// URL with "localhost" as host (for certificates naming only DNS:localhost).
  std::string localhost_url() const;

 private:
  absl::Status Prepare() override;
  SubprocessOptions ProcessOptions() override;
  absl::Status Probe() override;
  int StopSignal() const override { return SIGQUIT; }  // graceful: finish open requests

  Options options_;
};

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_NGINX_H_
