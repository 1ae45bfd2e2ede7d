// Loading a signing key: from a BIP-39 mnemonic (derived along an HD path, Gonka's
// m/44'/1200'/0'/0/0 by default), from a hex private key, or from a key file holding either.
//
// Contract:
// - A key file must be a regular file whose mode grants nothing beyond owner read/write (0600,
//   0400, ...); anything wider is refused with PermissionDenied naming the file and its mode,
//   before a byte is read. Its content is either 64 hex characters (an optional 0x prefix,
//   surrounding whitespace ignored) or a mnemonic of 12..24 words.
// - Key material never appears in logs or error messages: errors name the file, the word
//   position or the problem, not the content. Every intermediate copy (file buffer, seed,
//   chain codes) is wiped; the SigningKey wipes its secret when destroyed.
//
//   KeyOptions options;                       // prefix "gonka", path m/44'/1200'/0'/0/0
//   ASSIGN_OR_RETURN(SigningKey key, LoadKeyFile("/run/secrets/warm.key", options));
//   GONKA_LOG_INFO("signer ready", {"address", key.address()});
//   Signature sig = key.Sign(Sha256(sign_bytes));
//
// Thread-safety: a SigningKey is immutable after loading; all const methods may run concurrently.
#ifndef GONKA_CRYPTO_KEY_H_
#define GONKA_CRYPTO_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/bip32.h"
#include "gonka/crypto/secp256k1.h"

namespace gonka::crypto {

inline constexpr absl::string_view kGonkaBech32Prefix = "gonka";

struct KeyOptions {
  // bech32 account prefix for address().
  std::string prefix = std::string(kGonkaBech32Prefix);
  // HD path used when the key comes from a mnemonic.
  std::string hd_path = std::string(kGonkaHdPath);
  // BIP-39 passphrase (ASCII) used with a mnemonic.
  std::string bip39_passphrase;
};

// A private key with its public key and bech32 address.
class SigningKey {
 public:
  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;

  // From a private key and an address prefix. InvalidArgument if the prefix is not valid bech32.
  static absl::StatusOr<SigningKey> Create(PrivateKey key, absl::string_view prefix);

  const PrivateKey& private_key() const { return key_; }
  const PublicKey& public_key() const { return key_.public_key(); }
  // bech32(prefix, RIPEMD-160(SHA-256(compressed public key))).
  const std::string& address() const { return address_; }

  // Signs a 32-byte digest: RFC 6979, low-S, 64-byte r||s.
  Signature Sign(const Sha256Digest& digest) const { return key_.Sign(digest); }

 private:
  SigningKey(PrivateKey key, std::string address)
      : key_(std::move(key)), address_(std::move(address)) {}
  PrivateKey key_;
  std::string address_;
};

// Derives the key of `options.hd_path` from `mnemonic`. InvalidArgument for a bad word (by
// position), a bad checksum, a bad path or passphrase.
absl::StatusOr<SigningKey> KeyFromMnemonic(absl::string_view mnemonic,
                                           const KeyOptions& options = {});

// From 64 hex characters (optional 0x, surrounding whitespace ignored). InvalidArgument naming
// only the problem (length, non-hex position, out of range).
absl::StatusOr<SigningKey> KeyFromHex(absl::string_view hex, const KeyOptions& options = {});

// Reads a key file as described above. NotFound / PermissionDenied / InvalidArgument, each
// naming `path`.
absl::StatusOr<SigningKey> LoadKeyFile(const std::string& path, const KeyOptions& options = {});

// The bech32 address of a public key.
absl::StatusOr<std::string> AddressFromPublicKey(const PublicKey& key, absl::string_view prefix);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_KEY_H_
