#include "gonka/drain/signals.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace gonka {
namespace {

sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  sigset_t set = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (pipe(wake_fd_) != 0) {
    wake_fd_[0] = wake_fd_[1] = -1;
  }
}

SignalWatcher::~SignalWatcher() {
  if (thread_.joinable()) {
    if (wake_fd_[1] >= 0) {
      char c = 0;
      (void)!write(wake_fd_[1], &c, 1);
    }
    thread_.join();
  }
  for (int fd : wake_fd_) {
    if (fd >= 0) close(fd);
  }
}

void SignalWatcher::Start(std::function<void(int)> on_signal) {
  thread_ = std::thread([this, on_signal = std::move(on_signal)] {
    sigset_t set = WatchedSignals();
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) return;
    while (true) {
      pollfd fds[2] = {{sfd, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
      int n = poll(fds, wake_fd_[0] >= 0 ? 2 : 1, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (wake_fd_[0] >= 0 && (fds[1].revents & POLLIN)) break;
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info;
        if (read(sfd, &info, sizeof(info)) != sizeof(info)) continue;
        int sig = static_cast<int>(info.ssi_signo);
        if (sig == SIGHUP) continue;
        on_signal(sig);
      }
    }
    close(sfd);
  });
}

}  // namespace gonka
