// BLS12-381 point decompression: a compressed G1 point (48 bytes) or G2 point (96 bytes) in the
// ZCash serialization that Gonka's `x/bls` module stores (group public keys are G2, signatures G1)
// becomes the uncompressed layout Gonka's edge-api answers in its /v1/bls/* routes.
//
//   ASSIGN_OR_RETURN(std::string key256, DecompressBls12381G2(epoch_data.group_public_key()));
//   ASSIGN_OR_RETURN(std::string sig128, DecompressBls12381G1(signing_request.final_signature()));
//   // key256: X.c0 | X.c1 | Y.c0 | Y.c1, sig128: X | Y; each a 64-byte big-endian limb (16 zero
//   // bytes, then the 48-byte field element).
//
// Contract:
//   - Input: the ZCash encoding. The three top bits of the first byte are flags: 0x80 compressed
//     (required), 0x40 point at infinity, 0x20 sign (y is the lexicographically larger of ±y: for
//     Fp y > p - y; for Fp2 compare c1, and c0 when c1 is zero). The rest is x, big-endian; a G2 x
//     is x.c1 then x.c0.
//   - A point is accepted only when it is on the curve (G1: y² = x³ + 4 over Fp; G2: y² = x³ +
//     4(1 + i) over Fp2 = Fp[i]/(i² + 1)) AND in the prime-order subgroup (r·P is the identity),
//     as Gonka's edge-api checks with blst's SigValidate/KeyValidate.
//   - The point at infinity is refused (InvalidArgument naming it): the uncompressed layout has no
//     way to say "infinity" (gnark-crypto would print (0, 0), which is not a curve point), and
//     Gonka's edge-api refuses it too (SigValidate(true) and KeyValidate reject the identity), so
//     its answer is null there, as ours.
//   - Arithmetic runs on libcrypto's BIGNUM (both OpenSSL 3 and BoringSSL), not in constant time:
//     the inputs are public chain data, never secrets.
//
// Thread-safety: thread-safe (no shared state).
#ifndef GONKA_CRYPTO_BLS12381_H_
#define GONKA_CRYPTO_BLS12381_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gonka::crypto {

inline constexpr size_t kBls12381G1CompressedSize = 48;
inline constexpr size_t kBls12381G2CompressedSize = 96;
inline constexpr size_t kBls12381G1UncompressedSize = 128;  // X | Y
inline constexpr size_t kBls12381G2UncompressedSize = 256;  // X.c0 | X.c1 | Y.c0 | Y.c1

// The 128-byte uncompressed form of a compressed G1 point. InvalidArgument (the message names the
// reason) when `compressed` is not 48 bytes, lacks the compression flag, encodes infinity (well
// formed or not), has x >= p, has an x with no curve point, or the point is outside the
// prime-order subgroup; Internal if libcrypto fails (out of memory).
absl::StatusOr<std::string> DecompressBls12381G1(absl::string_view compressed);

// The 256-byte uncompressed form of a compressed G2 point; failures as DecompressBls12381G1 (96
// bytes; x.c1 >= p or x.c0 >= p is refused).
absl::StatusOr<std::string> DecompressBls12381G2(absl::string_view compressed);

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_BLS12381_H_
