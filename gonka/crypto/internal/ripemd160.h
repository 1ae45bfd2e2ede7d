// RIPEMD-160 (Dobbertin, Bosselaers, Preneel 1996), written from the published specification.
// libgonka carries its own because Debian's BoringSSL does not export RIPEMD160(); the facade
// (gonka/crypto/hash.h) uses this one under both libcrypto builds so the two behave identically.
#ifndef GONKA_CRYPTO_INTERNAL_RIPEMD160_H_
#define GONKA_CRYPTO_INTERNAL_RIPEMD160_H_

#include <cstddef>
#include <cstdint>

namespace gonka::crypto::internal {

// Writes the 20-byte RIPEMD-160 digest of data[0, size) to out.
void Ripemd160(const uint8_t* data, size_t size, uint8_t out[20]);

}  // namespace gonka::crypto::internal

#endif  // GONKA_CRYPTO_INTERNAL_RIPEMD160_H_
