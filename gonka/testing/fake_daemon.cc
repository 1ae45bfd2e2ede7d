// A stand-in daemon for DaemonProcess tests: after --delay_ms it listens on 127.0.0.1:--port,
// answers every connection with "hello <GONKA_FAKE_GREETING>\n" and closes it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  int port = 0;
  int delay_ms = 0;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--port=", 7) == 0) port = atoi(argv[i] + 7);
    if (strncmp(argv[i], "--delay_ms=", 11) == 0) delay_ms = atoi(argv[i] + 11);
  }
  if (port <= 0) {
    fprintf(stderr, "fake_daemon: --port=N required\n");
    return 2;
  }
  usleep(static_cast<useconds_t>(delay_ms) * 1000);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    perror("fake_daemon: bind/listen");
    return 1;
  }
  const char* greeting = getenv("GONKA_FAKE_GREETING");
  const std::string reply = std::string("hello ") + (greeting ? greeting : "") + "\n";
  printf("fake_daemon listening on 127.0.0.1:%d\n", port);
  fflush(stdout);
  while (true) {
    int client = accept(fd, nullptr, nullptr);
    if (client < 0) continue;
    ssize_t ignored = write(client, reply.data(), reply.size());
    (void)ignored;
    close(client);
  }
}
