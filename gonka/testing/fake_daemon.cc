// A stand-in daemon for DaemonProcess and HAProxy fixture tests: a tiny single-threaded HTTP/1.0
// server on 127.0.0.1.
//
// Flags:
//   --port=N            required; listens on 127.0.0.1:N
//   --delay_ms=N        waits N ms before listening (a slow start)
//   --exit_code=N       exit code after SIGTERM/SIGINT (default 0)
//   --unready_file=P    while file P exists, GET /ready answers 503 (else 200 "ready")
//   --fail_at_start     exits with code 3 at once (a daemon that cannot start)
//
// Every other path answers 200 "hello <GONKA_FAKE_GREETING> from <port>\n" and prints one line
// "served <path>" to stdout, so a test can count the requests that reached this process.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

bool FileExists(const std::string& path) {
  return !path.empty() && access(path.c_str(), F_OK) == 0;
}

// Reads the request head (up to the blank line) with a 2 s budget; returns the request path or
// "" on a malformed/slow request.
std::string ReadRequestPath(int client) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
    pollfd pfd{client, POLLIN, 0};
    if (poll(&pfd, 1, 2000) != 1) return "";
    ssize_t n = read(client, buf, sizeof(buf));
    if (n <= 0) return "";
    head.append(buf, static_cast<size_t>(n));
  }
  // "GET /path HTTP/1.1"
  size_t first_space = head.find(' ');
  if (first_space == std::string::npos) return "";
  size_t second_space = head.find(' ', first_space + 1);
  if (second_space == std::string::npos) return "";
  return head.substr(first_space + 1, second_space - first_space - 1);
}

void WriteAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = write(fd, data.data() + sent, data.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string Response(int code, const std::string& body) {
  const char* reason = code == 200 ? "OK" : code == 503 ? "Service Unavailable" : "Bad Request";
  return "HTTP/1.1 " + std::to_string(code) + " " + reason +
         "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int delay_ms = 0;
  int exit_code = 0;
  std::string unready_file;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--port=", 7) == 0) port = atoi(argv[i] + 7);
    if (strncmp(argv[i], "--delay_ms=", 11) == 0) delay_ms = atoi(argv[i] + 11);
    if (strncmp(argv[i], "--exit_code=", 12) == 0) exit_code = atoi(argv[i] + 12);
    if (strncmp(argv[i], "--unready_file=", 15) == 0) unready_file = argv[i] + 15;
    if (strcmp(argv[i], "--fail_at_start") == 0) {
      fprintf(stderr, "fake_daemon: failing at start as asked\n");
      return 3;
    }
  }
  if (port <= 0) {
    fprintf(stderr, "fake_daemon: --port=N required\n");
    return 2;
  }
  // No SA_RESTART: the signal interrupts poll() so the loop sees g_stop.
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  usleep(static_cast<useconds_t>(delay_ms) * 1000);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    perror("fake_daemon: bind/listen");
    return 1;
  }
  const char* greeting = getenv("GONKA_FAKE_GREETING");
  const std::string hello =
      std::string("hello ") + (greeting ? greeting : "") + " from " + std::to_string(port) + "\n";
  printf("fake_daemon listening on 127.0.0.1:%d\n", port);
  fflush(stdout);
  while (!g_stop) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 200);
    if (ready != 1) continue;  // timeout or EINTR: re-check g_stop
    int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const std::string path = ReadRequestPath(client);
    if (path.empty()) {
      WriteAll(client, Response(400, "bad request\n"));
    } else if (path == "/ready") {
      WriteAll(client,
               FileExists(unready_file) ? Response(503, "not ready\n") : Response(200, "ready\n"));
    } else {
      printf("served %s\n", path.c_str());
      fflush(stdout);
      WriteAll(client, Response(200, hello));
    }
    close(client);
  }
  printf("fake_daemon stopping with exit code %d\n", exit_code);
  fflush(stdout);
  close(fd);
  return exit_code;
}
