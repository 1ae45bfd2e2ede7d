#include "gonka/crypto/bech32.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gonka::crypto {
namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

// BIP-173 generator of the BCH checksum.
uint32_t Polymod(const std::vector<uint8_t>& values) {
  constexpr uint32_t kGenerator[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    const uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= kGenerator[i];
    }
  }
  return chk;
}

// hrp expanded for the checksum: high bits of each char, a zero, then low bits.
std::vector<uint8_t> HrpExpand(absl::string_view hrp) {
  std::vector<uint8_t> out;
  out.reserve(hrp.size() * 2 + 1);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

int CharsetIndex(char c) {
  static const auto* const table = [] {
    auto* t = new std::array<int8_t, 128>;
    t->fill(-1);
    for (int i = 0; i < 32; ++i) (*t)[static_cast<uint8_t>(kCharset[i])] = static_cast<int8_t>(i);
    return t;
  }();
  const auto u = static_cast<uint8_t>(c);
  return u < 128 ? (*table)[u] : -1;
}

}  // namespace

absl::StatusOr<std::string> Bech32Encode(absl::string_view hrp, const std::vector<uint8_t>& words,
                                         size_t max_length) {
  if (hrp.empty()) return absl::InvalidArgumentError("bech32 encode: empty human-readable part");
  for (size_t i = 0; i < hrp.size(); ++i) {
    const auto c = static_cast<uint8_t>(hrp[i]);
    if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) {
      return absl::InvalidArgumentError(
          absl::StrCat("bech32 encode: prefix \"", hrp, "\" has an invalid character at ", i));
    }
  }
  const size_t length = hrp.size() + 1 + words.size() + 6;
  if (length > max_length) {
    return absl::InvalidArgumentError(absl::StrCat("bech32 encode: prefix \"", hrp, "\" with ",
                                                   words.size(), " words is ", length,
                                                   " characters, over the limit ", max_length));
  }
  std::vector<uint8_t> values = HrpExpand(hrp);
  for (uint8_t w : words) {
    if (w >= 32) return absl::InvalidArgumentError("bech32 encode: a data word is not 5-bit");
    values.push_back(w);
  }
  values.insert(values.end(), 6, 0);
  const uint32_t mod = Polymod(values) ^ 1;

  std::string out;
  out.reserve(length);
  out.append(hrp.data(), hrp.size());
  out.push_back('1');
  for (uint8_t w : words) out.push_back(kCharset[w]);
  for (int i = 0; i < 6; ++i) out.push_back(kCharset[(mod >> (5 * (5 - i))) & 31]);
  return out;
}

absl::StatusOr<Bech32Decoded> Bech32Decode(absl::string_view input, size_t max_length) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("bech32 \"", absl::CHexEscape(input), "\": ", what));
  };
  if (input.size() > max_length) {
    return error(absl::StrCat("length ", input.size(), " exceeds ", max_length));
  }
  bool has_lower = false, has_upper = false;
  for (size_t i = 0; i < input.size(); ++i) {
    const auto c = static_cast<uint8_t>(input[i]);
    if (c < 33 || c > 126) return error(absl::StrCat("character out of range at position ", i));
    has_lower |= (c >= 'a' && c <= 'z');
    has_upper |= (c >= 'A' && c <= 'Z');
  }
  if (has_lower && has_upper) return error("mixed upper and lower case");
  const size_t sep = input.rfind('1');
  if (sep == absl::string_view::npos) return error("no separator '1'");
  if (sep == 0) return error("empty human-readable part");
  if (input.size() - sep - 1 < 6) return error("data part shorter than the 6-character checksum");

  Bech32Decoded out;
  out.hrp.reserve(sep);
  for (size_t i = 0; i < sep; ++i) {
    const char c = input[i];
    out.hrp.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  std::vector<uint8_t> values = HrpExpand(out.hrp);
  const size_t data_start = values.size();
  for (size_t i = sep + 1; i < input.size(); ++i) {
    char c = input[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const int v = CharsetIndex(c);
    if (v < 0) return error(absl::StrCat("invalid data character at position ", i));
    values.push_back(static_cast<uint8_t>(v));
  }
  if (Polymod(values) != 1) return error("invalid checksum");
  out.words.assign(values.begin() + data_start, values.end() - 6);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> ConvertBits(const std::vector<uint8_t>& in, int from_bits,
                                                 int to_bits, bool pad) {
  uint32_t acc = 0;
  int bits = 0;
  const uint32_t max_value = (1u << to_bits) - 1;
  std::vector<uint8_t> out;
  out.reserve(in.size() * from_bits / to_bits + 1);
  for (uint8_t v : in) {
    if ((v >> from_bits) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bit regrouping: value ", v, " wider than ", from_bits, " bits"));
    }
    acc = (acc << from_bits) | v;
    bits += from_bits;
    while (bits >= to_bits) {
      bits -= to_bits;
      out.push_back(static_cast<uint8_t>((acc >> bits) & max_value));
    }
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (to_bits - bits)) & max_value));
  } else if (bits >= from_bits || ((acc << (to_bits - bits)) & max_value) != 0) {
    return absl::InvalidArgumentError("bit regrouping: non-zero or over-long padding");
  }
  return out;
}

absl::StatusOr<std::string> EncodeAddress(absl::string_view prefix, absl::string_view data) {
  std::vector<uint8_t> bytes(data.begin(), data.end());
  absl::StatusOr<std::vector<uint8_t>> words = ConvertBits(bytes, 8, 5, true);
  if (!words.ok()) return words.status();
  return Bech32Encode(prefix, *words);
}

absl::StatusOr<std::string> DecodeAddress(absl::string_view address,
                                          absl::string_view expected_prefix) {
  absl::StatusOr<Bech32Decoded> decoded = Bech32Decode(address);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("address: ", decoded.status().message()));
  }
  if (!expected_prefix.empty() && decoded->hrp != expected_prefix) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", absl::CHexEscape(address),
                                                   "\" has prefix \"", decoded->hrp, "\", want \"",
                                                   expected_prefix, "\""));
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = ConvertBits(decoded->words, 5, 8, false);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", absl::CHexEscape(address), "\": ", bytes.status().message()));
  }
  if (bytes->size() != 20 && bytes->size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", absl::CHexEscape(address),
                                                   "\" holds ", bytes->size(),
                                                   " bytes, want 20 or 32"));
  }
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace gonka::crypto
