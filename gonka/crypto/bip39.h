// BIP-39 mnemonics with the English wordlist (kept in the repo as data/bip39_english.txt and
// compiled in; its SHA-256 is checked by the tests).
//
// Contract: a mnemonic is 12, 15, 18, 21 or 24 words from the list, separated by any ASCII
// whitespace (normalised to single spaces before hashing, as CosmJS requires them), with a valid
// checksum. Errors are InvalidArgument and name the problem by position ("mnemonic word 5 of 24
// is not in the BIP-39 English wordlist", "mnemonic checksum mismatch") — never the words, which
// are the secret. Passphrases must be ASCII (for which BIP-39's NFKD normalisation is the
// identity).
//
//   ASSIGN_OR_RETURN(SecretBytes seed, MnemonicToSeed(mnemonic));   // 64 bytes, passphrase ""
//   ASSIGN_OR_RETURN(ExtendedKey k, DerivePath(seed.view(), kGonkaHdPath));
//
// Thread-safety: all functions are thread-safe.
#ifndef GONKA_CRYPTO_BIP39_H_
#define GONKA_CRYPTO_BIP39_H_

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/secret.h"

namespace gonka::crypto {

// The 2048 English words, in order (index = 11-bit value).
const std::array<absl::string_view, 2048>& Bip39EnglishWordlist();

// Checks word count, words and checksum. OK or InvalidArgument as above.
absl::Status ValidateMnemonic(absl::string_view mnemonic);

// PBKDF2-HMAC-SHA512(normalised mnemonic, "mnemonic" + passphrase, 2048) after validation.
absl::StatusOr<SecretBytes> MnemonicToSeed(absl::string_view mnemonic,
                                           absl::string_view passphrase = "");

// The mnemonic for 16, 20, 24, 28 or 32 bytes of entropy (words joined by single spaces).
absl::StatusOr<SecretBytes> EntropyToMnemonic(absl::string_view entropy);

// The entropy a valid mnemonic encodes.
absl::StatusOr<SecretBytes> MnemonicToEntropy(absl::string_view mnemonic);

// A fresh mnemonic of `words` words (12..24, multiple of 3) from the CSPRNG.
absl::StatusOr<SecretBytes> GenerateMnemonic(int words = 24);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_BIP39_H_
