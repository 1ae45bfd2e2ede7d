#include "gonka/base/secret_file.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gonka {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, const std::string& path,
                         absl::string_view op) {
  const std::string msg = absl::StrCat(what, " ", path, ": ", op, std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

absl::Status CheckStat(const struct stat& st, const std::string& path, absl::string_view what) {
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s %s has mode %04o: a secret file must not be accessible by group or others "
        "(chmod 600 %s)",
        what, path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSecretFileMode(const std::string& path, absl::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, what, path, "");
  return CheckStat(st, path, what);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what,
                                           size_t max_bytes) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no file given"));
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ErrnoStatus(errno, what, path, "");
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, what, path, "fstat: ");
  if (absl::Status s = CheckStat(st, path, what); !s.ok()) return s;
  if (st.st_size <= 0)
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is empty"));
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is ", st.st_size, " bytes; at most ", max_bytes));
  }
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = read(fd, &content[got], content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      explicit_bzero(content.data(), content.size());
      return ErrnoStatus(err, what, path, "read: ");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  content.resize(got);
  if (!content.empty() && content.back() == '\n') content.pop_back();
  if (!content.empty() && content.back() == '\r') content.pop_back();
  if (content.empty())
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is empty"));
  return content;
}

absl::StatusOr<FileStamp> StampFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "file", path, "");
  FileStamp s;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = st.st_size;
  s.modified = absl::TimeFromTimespec(st.st_mtim);
  return s;
}

}  // namespace gonka
