// Secret files: how every libgonka credential (tokens, passwords, connection strings with a
// password) is read. Secrets come from files, never from flag values or URLs, and a file that
// others could read is refused, so a misconfigured deployment fails at start instead of running
// with a leaked secret.
//
// ReadSecretFile(path, what): the file must be a regular file whose mode grants nothing to group
// or others (0600, 0400 — as ssh and libpq demand of their key files), at most `max_bytes` long
// and not empty. One trailing newline (\n or \r\n) is dropped. Errors name `what`, the path and
// the mode — never the content:
//   InvalidArgument "--enqueue-token-file /etc/gonka/tokens has mode 0644: a secret file must not
//   be accessible by group or others (chmod 600 /etc/gonka/tokens)"
//   NotFound / PermissionDenied / InvalidArgument for a missing, unreadable, empty or oversized
//   file.
//
// Example:
//   ASSIGN_OR_RETURN(std::string password, ReadSecretFile(flags.redis_password_file,
//                                                         "--redis-password-file"));
//
// Thread-safety: thread-safe.
#ifndef GONKA_BASE_SECRET_FILE_H_
#define GONKA_BASE_SECRET_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {

// OK when `path` is a regular file with no group/other permission bits; otherwise the error
// described above.
absl::Status CheckSecretFileMode(const std::string& path, absl::string_view what);

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what,
                                           size_t max_bytes = 64 << 10);

// Identifies one version of a file (for reloading when it changes): device, inode, size and
// modification time. Equal stamps mean "not changed" as far as stat can tell.
struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  absl::Time modified = absl::InfinitePast();
  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size && modified == o.modified;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};
// The stamp of `path`, or NotFound/Unavailable.
absl::StatusOr<FileStamp> StampFile(const std::string& path);

}  // namespace gonka

#endif  // GONKA_BASE_SECRET_FILE_H_
