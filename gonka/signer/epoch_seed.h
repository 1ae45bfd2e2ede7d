// Gonka's epoch seed: the one signature a node makes with its warm key that is not a transaction.
//
// Gonka (decentralized-api internal/seed, CreateNewSeed and CreateSeedForEpoch) derives each
// epoch's random seed from the warm key K, so it is unpredictable to others and provable later:
//   seed      = big-endian uint64 of the first 8 bytes of Sign_K(SHA-256(BE64(epoch))),
//               top bit cleared (a non-negative int64), 1 if that is 0;
//   signature = lowercase hex of Sign_K(SHA-256(BE64(seed))),
// Sign = secp256k1 compact r||s, RFC 6979 nonce, low-S (the Cosmos SDK keyring's Sign hashes the
// bytes with SHA-256). MsgSubmitSeed carries the signature; MsgClaimRewards later carries the
// seed, which the chain checks against that signature with the public keys of the participant
// and its grantees. See docs/signing.md, "The epoch seed".
//
// Why this cannot be turned into a transaction signature: both signed messages are SHA-256 of an
// 8-byte big-endian integer computed here (the epoch, or the seed derived from it) — never bytes
// a caller supplies. A Cosmos transaction signature is over SHA-256 of a SignDoc (a protobuf with
// body bytes, auth-info bytes, chain id and account number), which is far longer than 8 bytes; a
// preimage of 8 bytes is never a SignDoc, and finding another preimage with the same SHA-256 is
// infeasible. signerd therefore serves SignEpochSeed (POST /v1/seed) to its token holders.
//
// Contract:
//   - GenerateSeed is deterministic: the same key and epoch always give the same seed and
//     signature (so every replica of node-manager and every signerd replica agree).
//   - VerifySeed: OK if `seed.signature_hex` is a signature of BE64(seed.seed) by `public_key`
//     (33-byte compressed); InvalidArgument for malformed hex or key, Unauthenticated for a
//     signature by another key. It checks what the chain checks at claim time, not that the seed
//     is the one derived for seed.epoch (that needs the private key).
//
// Thread-safety: free functions, thread-safe.
//
// Example:
//   SeedInfo seed = GenerateSeed(warm_key, 42);
//   RETURN_IF_ERROR(VerifySeed(seed, warm_key.public_key().view()));
#ifndef GONKA_SIGNER_EPOCH_SEED_H_
#define GONKA_SIGNER_EPOCH_SEED_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/key.h"

namespace gonka {
namespace signer {

// One epoch's seed as Gonka's dapi keeps it (apiconfig.SeedInfo).
struct SeedInfo {
  int64_t seed = 0;           // > 0
  uint64_t epoch = 0;         // the epoch it was generated for
  std::string signature_hex;  // 128 lowercase hex characters
};

// Gonka's seed of `epoch` for the warm key `key` (see above).
SeedInfo GenerateSeed(const crypto::SigningKey& key, uint64_t epoch);

// See the contract above.
absl::Status VerifySeed(const SeedInfo& seed, absl::string_view public_key);

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_EPOCH_SEED_H_
