#include "gonka/crypto/bip39.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"

namespace gonka::crypto {
namespace {

// Generated from data/bip39_english.txt by the BUILD rule `bip39_wordlist`.
constexpr const char* kEnglish[2048] = {
#include "gonka/crypto/bip39_english.inc"
};

constexpr uint32_t kPbkdf2Iterations = 2048;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Splits on runs of whitespace without copying.
std::vector<absl::string_view> Words(absl::string_view text) {
  std::vector<absl::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

int WordIndex(absl::string_view word) {
  const auto& list = Bip39EnglishWordlist();
  auto it = std::lower_bound(list.begin(), list.end(), word);
  if (it == list.end() || *it != word) return -1;
  return static_cast<int>(it - list.begin());
}

// Word indices -> entropy, with the checksum verified. The word list must already be valid
// words; `indices` and the bit buffer are wiped by the caller's SecretBytes.
absl::StatusOr<SecretBytes> DecodeMnemonic(absl::string_view mnemonic) {
  const std::vector<absl::string_view> words = Words(mnemonic);
  const size_t n = words.size();
  if (n < 12 || n > 24 || n % 3 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("mnemonic has ", n, " words; want 12, 15, 18, 21 or 24"));
  }
  const size_t total_bits = n * 11;
  const size_t checksum_bits = total_bits / 33;
  const size_t entropy_bytes = (total_bits - checksum_bits) / 8;
  // All n*11 bits, big-endian, in a buffer that is wiped on every path.
  SecretBytes bits((total_bits + 7) / 8);
  for (size_t w = 0; w < n; ++w) {
    const int index = WordIndex(words[w]);
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("mnemonic word ", w + 1, " of ", n,
                                                     " is not in the BIP-39 English wordlist"));
    }
    for (int b = 0; b < 11; ++b) {
      if ((index >> (10 - b)) & 1) {
        const size_t pos = w * 11 + b;
        bits.data()[pos / 8] |= static_cast<uint8_t>(0x80 >> (pos % 8));
      }
    }
  }
  SecretBytes entropy(absl::string_view(reinterpret_cast<const char*>(bits.data()), entropy_bytes));
  const Sha256Digest hash = Sha256(entropy.view());
  // The checksum is the first `checksum_bits` bits of SHA-256(entropy); it follows the entropy.
  const uint8_t got = bits.data()[entropy_bytes] >> (8 - checksum_bits);
  const uint8_t want = hash[0] >> (8 - checksum_bits);
  if (got != want) {
    return absl::InvalidArgumentError(absl::StrCat("mnemonic checksum mismatch (", n,
                                                   " words): a word is wrong or out of order"));
  }
  return entropy;
}

// Words joined by single spaces (BIP-39 hashes exactly that string).
SecretBytes NormalizedMnemonic(absl::string_view mnemonic) {
  const std::vector<absl::string_view> words = Words(mnemonic);
  size_t size = 0;
  for (absl::string_view w : words) size += w.size() + 1;
  SecretBytes out(size == 0 ? 0 : size - 1);
  size_t pos = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out.data()[pos++] = ' ';
    std::memcpy(out.data() + pos, words[i].data(), words[i].size());
    pos += words[i].size();
  }
  return out;
}

}  // namespace

const std::array<absl::string_view, 2048>& Bip39EnglishWordlist() {
  static const auto* const list = [] {
    auto* l = new std::array<absl::string_view, 2048>;
    for (int i = 0; i < 2048; ++i) (*l)[i] = kEnglish[i];
    return l;
  }();
  return *list;
}

absl::Status ValidateMnemonic(absl::string_view mnemonic) {
  return DecodeMnemonic(mnemonic).status();
}

absl::StatusOr<SecretBytes> MnemonicToEntropy(absl::string_view mnemonic) {
  return DecodeMnemonic(mnemonic);
}

absl::StatusOr<SecretBytes> MnemonicToSeed(absl::string_view mnemonic,
                                           absl::string_view passphrase) {
  absl::Status valid = ValidateMnemonic(mnemonic);
  if (!valid.ok()) return valid;
  for (char c : passphrase) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return absl::InvalidArgumentError(
          "BIP-39 passphrase: only ASCII passphrases are supported (no NFKD normalisation)");
    }
  }
  const SecretBytes normalized = NormalizedMnemonic(mnemonic);
  SecretBytes salt(8 + passphrase.size());
  std::memcpy(salt.data(), "mnemonic", 8);
  if (!passphrase.empty()) std::memcpy(salt.data() + 8, passphrase.data(), passphrase.size());
  SecretBytes seed(64);
  absl::Status st =
      Pbkdf2HmacSha512(normalized.view(), salt.view(), kPbkdf2Iterations, seed.span());
  if (!st.ok()) return st;
  return seed;
}

absl::StatusOr<SecretBytes> EntropyToMnemonic(absl::string_view entropy) {
  const size_t n = entropy.size();
  if (n < 16 || n > 32 || n % 4 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("BIP-39 entropy is ", n, " bytes; want 16, 20, 24, 28 or 32"));
  }
  const size_t checksum_bits = n * 8 / 32;
  const size_t words = (n * 8 + checksum_bits) / 11;
  SecretBytes bits(n + 1);
  std::memcpy(bits.data(), entropy.data(), n);
  bits.data()[n] = Sha256(entropy)[0];
  const auto& list = Bip39EnglishWordlist();
  size_t size = 0;
  std::vector<int> indices(words);
  for (size_t w = 0; w < words; ++w) {
    int index = 0;
    for (int b = 0; b < 11; ++b) {
      const size_t pos = w * 11 + b;
      index = (index << 1) | ((bits.data()[pos / 8] >> (7 - pos % 8)) & 1);
    }
    indices[w] = index;
    size += list[index].size() + 1;
  }
  SecretBytes out(size - 1);
  size_t pos = 0;
  for (size_t w = 0; w < words; ++w) {
    if (w > 0) out.data()[pos++] = ' ';
    const absl::string_view word = list[indices[w]];
    std::memcpy(out.data() + pos, word.data(), word.size());
    pos += word.size();
  }
  SecureWipe(indices.data(), indices.size() * sizeof(int));
  return out;
}

absl::StatusOr<SecretBytes> GenerateMnemonic(int words) {
  if (words < 12 || words > 24 || words % 3 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("mnemonic length ", words, ": want 12, 15, 18, 21 or 24 words"));
  }
  SecretBytes entropy(static_cast<size_t>(words) * 4 / 3);
  absl::Status st = RandomBytes(entropy.span());
  if (!st.ok()) return st;
  return EntropyToMnemonic(entropy.view());
}

}  // namespace gonka::crypto
