// The process-wide libsecp256k1 context shared by gonka/crypto (created and randomized once).
#ifndef GONKA_CRYPTO_INTERNAL_SECP256K1_CONTEXT_H_
#define GONKA_CRYPTO_INTERNAL_SECP256K1_CONTEXT_H_

#include <secp256k1.h>

namespace gonka::crypto::internal {

// Never null, never destroyed. Only const operations (sign, verify, tweak) use it after
// creation, which libsecp256k1 documents as safe to run concurrently.
const secp256k1_context* Secp256k1Context();

}  // namespace gonka::crypto::internal

#endif  // GONKA_CRYPTO_INTERNAL_SECP256K1_CONTEXT_H_
