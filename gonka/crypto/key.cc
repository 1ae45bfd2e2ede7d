#include "gonka/crypto/key.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/bip39.h"
#include "gonka/crypto/secret.h"

namespace gonka::crypto {
namespace {

// Key files are a line of hex or a mnemonic; anything larger is not a key file.
constexpr size_t kMaxKeyFileSize = 4096;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

absl::string_view Trim(absl::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<SigningKey> SigningKey::Create(PrivateKey key, absl::string_view prefix) {
  absl::StatusOr<std::string> address = AddressFromPublicKey(key.public_key(), prefix);
  if (!address.ok()) return address.status();
  return SigningKey(std::move(key), *std::move(address));
}

absl::StatusOr<std::string> AddressFromPublicKey(const PublicKey& key, absl::string_view prefix) {
  return EncodeAddress(prefix, key.AddressBytes());
}

absl::StatusOr<SigningKey> KeyFromMnemonic(absl::string_view mnemonic, const KeyOptions& options) {
  absl::StatusOr<SecretBytes> seed = MnemonicToSeed(mnemonic, options.bip39_passphrase);
  if (!seed.ok()) return seed.status();
  absl::StatusOr<ExtendedKey> derived = DerivePath(seed->view(), options.hd_path);
  if (!derived.ok()) return derived.status();
  return SigningKey::Create(std::move(derived->private_key), options.prefix);
}

absl::StatusOr<SigningKey> KeyFromHex(absl::string_view hex, const KeyOptions& options) {
  hex = Trim(hex);
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex private key: want 64 hex characters, got ", hex.size()));
  }
  std::string raw;
  absl::Status st = HexDecode(hex, "hex private key", &raw);
  if (!st.ok()) return st;
  absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(raw);
  SecureWipe(raw.data(), raw.size());
  if (!key.ok()) return key.status();
  return SigningKey::Create(*std::move(key), options.prefix);
}

absl::StatusOr<SigningKey> LoadKeyFile(const std::string& path, const KeyOptions& options) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("key file ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("key file ", path, ": fstat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path, " is not a regular file"));
  }
  const unsigned mode = st.st_mode & 07777;
  if ((mode & ~0600u) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "key file %s has mode %04o, wider than 0600; run: chmod 600 %s", path, mode, path));
  }
  if (st.st_size <= 0 || static_cast<size_t>(st.st_size) > kMaxKeyFileSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path, " is ", st.st_size, " bytes; want 1..", kMaxKeyFileSize));
  }
  SecretBytes content(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = read(fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat("key file ", path, ": read: ", std::strerror(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  const absl::string_view text = Trim(content.view().substr(0, got));
  const bool one_token = std::find_if(text.begin(), text.end(), IsSpace) == text.end();
  absl::StatusOr<SigningKey> key =
      one_token ? KeyFromHex(text, options) : KeyFromMnemonic(text, options);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("key file ", path, ": ", key.status().message()));
  }
  return key;
}

}  // namespace gonka::crypto
