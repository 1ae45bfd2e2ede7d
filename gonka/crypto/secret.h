// SecretBytes: a heap buffer for key material (seeds, mnemonics, file contents) that is wiped
// when it is destroyed or assigned over. Moves transfer the buffer without copying its bytes, so
// no stray copy is left behind; there is no copy constructor.
//
//   SecretBytes seed(64);
//   RETURN_IF_ERROR(Pbkdf2HmacSha512(mnemonic, salt, 2048, seed.span()));
//   Use(seed.view());          // wiped when `seed` goes out of scope
//
// Thread-safety: like std::string (const methods may be called concurrently).
#ifndef GONKA_CRYPTO_SECRET_H_
#define GONKA_CRYPTO_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gonka/crypto/hash.h"

namespace gonka::crypto {

class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size) : data_(new uint8_t[size]()), size_(size) {}
  // A copy of `data` (the caller remains responsible for wiping its own copy).
  explicit SecretBytes(absl::string_view data) : SecretBytes(data.size()) {
    if (size_ > 0) std::memcpy(data_.get(), data.data(), size_);
  }
  ~SecretBytes() { Wipe(); }

  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
    other.size_ = 0;
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      data_ = std::move(other.data_);
      size_ = other.size_;
      other.size_ = 0;
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  absl::Span<uint8_t> span() { return absl::Span<uint8_t>(data_.get(), size_); }
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(data_.get()), size_);
  }

 private:
  void Wipe() {
    if (data_ != nullptr) SecureWipe(data_.get(), size_);
  }

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace gonka::crypto

#endif  // GONKA_CRYPTO_SECRET_H_
