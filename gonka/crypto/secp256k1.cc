#include "gonka/crypto/secp256k1.h"

#include <secp256k1.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "gonka/crypto/internal/secp256k1_context.h"

namespace gonka::crypto {
namespace internal {

const secp256k1_context* Secp256k1Context() {
  static const secp256k1_context* const context = [] {
    secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    // Blinding for side-channel resistance of signing; it does not change any result. If the
    // CSPRNG fails the context still works, only without the extra protection.
    std::array<uint8_t, 32> seed;
    if (RandomBytes(absl::MakeSpan(seed)).ok()) {
      if (secp256k1_context_randomize(ctx, seed.data()) != 1) {
        // Still correct without blinding; nothing to report.
      }
    }
    SecureWipe(seed.data(), seed.size());
    return ctx;
  }();
  return context;
}

}  // namespace internal

namespace {

const uint8_t* Bytes(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

absl::StatusOr<PublicKey> PublicKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key: want 33 bytes (compressed secp256k1), got ", bytes.size()));
  }
  if (bytes[0] != 0x02 && bytes[0] != 0x03) {
    return absl::InvalidArgumentError("public key: not a compressed key (first byte not 02/03)");
  }
  secp256k1_pubkey parsed;
  if (!secp256k1_ec_pubkey_parse(internal::Secp256k1Context(), &parsed, Bytes(bytes),
                                 bytes.size())) {
    return absl::InvalidArgumentError("public key: not a point on secp256k1");
  }
  PublicKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kSize);
  return key;
}

absl::StatusOr<PrivateKey> PrivateKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key: want 32 bytes, got ", bytes.size()));
  }
  const secp256k1_context* ctx = internal::Secp256k1Context();
  PrivateKey key;
  std::memcpy(key.secret_.data(), bytes.data(), kSize);
  if (!secp256k1_ec_seckey_verify(ctx, key.secret_.data())) {
    return absl::InvalidArgumentError("private key: value is zero or not below the group order");
  }
  secp256k1_pubkey pub;
  if (!secp256k1_ec_pubkey_create(ctx, &pub, key.secret_.data())) {
    return absl::InternalError("private key: libsecp256k1 could not compute the public key");
  }
  size_t len = PublicKey::kSize;
  secp256k1_ec_pubkey_serialize(ctx, key.public_key_.bytes_.data(), &len, &pub,
                                SECP256K1_EC_COMPRESSED);
  return key;
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept
    : secret_(other.secret_), public_key_(other.public_key_) {
  SecureWipe(other.secret_.data(), other.secret_.size());
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    public_key_ = other.public_key_;
    SecureWipe(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

PrivateKey::~PrivateKey() { SecureWipe(secret_.data(), secret_.size()); }

PrivateKey PrivateKey::Clone() const {
  PrivateKey copy;
  copy.secret_ = secret_;
  copy.public_key_ = public_key_;
  return copy;
}

Signature PrivateKey::Sign(const Sha256Digest& digest) const {
  const secp256k1_context* ctx = internal::Secp256k1Context();
  secp256k1_ecdsa_signature sig;
  // A null nonce function selects RFC 6979; the result is always in lower-S form. It cannot fail
  // for a valid key (checked at construction).
  secp256k1_ecdsa_sign(ctx, &sig, digest.data(), secret_.data(), nullptr, nullptr);
  Signature out;
  secp256k1_ecdsa_signature_serialize_compact(ctx, out.data(), &sig);
  return out;
}

absl::Status VerifySignature(absl::string_view public_key, absl::string_view digest,
                             absl::string_view signature) {
  if (digest.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature check: digest must be 32 bytes, got ", digest.size()));
  }
  if (signature.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature check: signature must be 64 bytes (r||s), got ", signature.size()));
  }
  if (public_key.size() != PublicKey::kSize || (public_key[0] != 0x02 && public_key[0] != 0x03)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature check: public key must be 33 bytes compressed, got ", public_key.size()));
  }
  const secp256k1_context* ctx = internal::Secp256k1Context();
  secp256k1_pubkey pub;
  if (!secp256k1_ec_pubkey_parse(ctx, &pub, Bytes(public_key), public_key.size())) {
    return absl::InvalidArgumentError("signature check: public key is not a point on secp256k1");
  }
  secp256k1_ecdsa_signature sig;
  if (!secp256k1_ecdsa_signature_parse_compact(ctx, &sig, Bytes(signature))) {
    return absl::InvalidArgumentError("signature check: r or s is not below the group order");
  }
  // normalize() reports whether s was in the upper half; the SDK rejects those (malleability).
  if (secp256k1_ecdsa_signature_normalize(ctx, nullptr, &sig)) {
    return absl::InvalidArgumentError("signature check: signature is not in lower-S form");
  }
  if (!secp256k1_ecdsa_verify(ctx, &sig, Bytes(digest), &pub)) {
    return absl::UnauthenticatedError(
        "signature check: signature does not verify for this public key and digest");
  }
  return absl::OkStatus();
}

}  // namespace gonka::crypto
