#include "gonka/crypto/bls12381.h"

#include <openssl/bn.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

// Field and curve arithmetic over libcrypto's BIGNUM. Every call below (BN_new, BN_CTX_new,
// BN_hex2bn, BN_bin2bn, BN_bn2binpad, BN_mod_add/sub/mul/sqr/exp, BN_mod_inverse, BN_cmp,
// BN_sub, BN_copy, BN_is_zero, BN_zero, BN_one, BN_set_word, BN_rshift, BN_add_word,
// BN_num_bits, BN_is_bit_set) exists with the same signature in OpenSSL 3 and BoringSSL.
//
// Facts this file relies on (BLS12-381 as specified by the ZCash serialization and IETF
// draft-irtf-cfrg-pairing-friendly-curves; the constants are the published ones):
//   - p (381 bits) is 3 mod 4, so an Fp square root of a square a is a^((p+1)/4), and -1 is not a
//     square in Fp (which is why Fp2 = Fp[i]/(i² + 1) is a field).
//   - Both curves have a = 0: G1 is y² = x³ + 4 over Fp, G2 (the twist) y² = x³ + 4(1 + i).
//   - r (255 bits) is the order of G1 and G2; the full curve groups are larger (cofactors), so a
//     point on the curve is in the subgroup iff r·P is the identity.

namespace gonka::crypto {
namespace {

constexpr char kModulusHex[] =
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaa"
    "ab";
constexpr char kOrderHex[] = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

constexpr size_t kFpBytes = 48;
constexpr size_t kLimbBytes = 64;  // Gonka's limb: 16 zero bytes, then the 48-byte element

constexpr uint8_t kFlagCompressed = 0x80;
constexpr uint8_t kFlagInfinity = 0x40;
constexpr uint8_t kFlagSign = 0x20;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// A failed allocation of a few dozen bytes is out-of-memory, which the rest of the process (every
// std::string) treats as fatal too; aborting here keeps the arithmetic free of null checks.
Bn NewBn() {
  BIGNUM* bn = BN_new();
  if (bn == nullptr) std::abort();
  return Bn(bn);
}

// Fp arithmetic. Every libcrypto call's result is folded into ok(); a false ok() means libcrypto
// failed (allocation), never bad input. Arguments may alias the result.
class Fp {
 public:
  using Elem = Bn;

  Fp() : ctx_(BN_CTX_new()), p_(NewBn()), zero_(NewBn()), t_(NewBn()) {
    if (ctx_ == nullptr) std::abort();
    BIGNUM* p = p_.get();
    ok_ = BN_hex2bn(&p, kModulusHex) > 0;
    BN_zero(zero_.get());
  }

  bool ok() const { return ok_; }
  const BIGNUM* modulus() const { return p_.get(); }
  BN_CTX* ctx() { return ctx_.get(); }

  Elem New() {
    Elem e = NewBn();
    BN_zero(e.get());
    return e;
  }
  void Set(Elem& r, const Elem& a) { Check(BN_copy(r.get(), a.get()) != nullptr); }
  void SetWord(Elem& r, unsigned word) { Check(BN_set_word(r.get(), word)); }
  void Add(Elem& r, const Elem& a, const Elem& b) {
    Check(BN_mod_add(r.get(), a.get(), b.get(), p_.get(), ctx()));
  }
  void Sub(Elem& r, const Elem& a, const Elem& b) {
    Check(BN_mod_sub(r.get(), a.get(), b.get(), p_.get(), ctx()));
  }
  void Neg(Elem& r, const Elem& a) {
    Check(BN_mod_sub(r.get(), zero_.get(), a.get(), p_.get(), ctx()));
  }
  void Mul(Elem& r, const Elem& a, const Elem& b) {
    Check(BN_mod_mul(r.get(), a.get(), b.get(), p_.get(), ctx()));
  }
  void Sqr(Elem& r, const Elem& a) { Check(BN_mod_sqr(r.get(), a.get(), p_.get(), ctx())); }
  void Inverse(Elem& r, const Elem& a) {
    Check(BN_mod_inverse(r.get(), a.get(), p_.get(), ctx()) != nullptr);
  }
  bool IsZero(const Elem& a) const { return BN_is_zero(a.get()); }
  bool Equal(const Elem& a, const Elem& b) const { return BN_cmp(a.get(), b.get()) == 0; }

  // True when `a` is the larger of a and p - a (the ZCash sign bit of an Fp element).
  bool IsLarger(const Elem& a) {
    Check(BN_sub(t_.get(), p_.get(), a.get()));
    return !IsZero(a) && BN_cmp(a.get(), t_.get()) > 0;
  }

  // r = a square root of a, or false when a is not a square. p ≡ 3 (mod 4): a^((p+1)/4) squares
  // to a exactly when a is a square (Euler's criterion), so the candidate is checked by squaring.
  bool Sqrt(Elem& r, const Elem& a) {
    if (exponent_ == nullptr) {
      exponent_ = NewBn();
      Check(BN_copy(exponent_.get(), p_.get()) != nullptr);
      Check(BN_add_word(exponent_.get(), 1));
      Check(BN_rshift(exponent_.get(), exponent_.get(), 2));
    }
    Elem candidate = NewBn();
    Check(BN_mod_exp(candidate.get(), a.get(), exponent_.get(), p_.get(), ctx()));
    Sqr(t_, candidate);
    if (!ok_ || BN_cmp(t_.get(), a.get()) != 0) return false;
    Set(r, candidate);
    return true;
  }

  // Reads a 48-byte big-endian element; false when it is not below p.
  bool FromBytes(Elem& r, const uint8_t* bytes) {
    Check(BN_bin2bn(bytes, kFpBytes, r.get()) != nullptr);
    return BN_cmp(r.get(), p_.get()) < 0;
  }
  // Writes `a` right-aligned into a 64-byte limb.
  void ToLimb(const Elem& a, std::string* out) {
    uint8_t limb[kLimbBytes] = {};
    Check(BN_bn2binpad(a.get(), limb + kLimbBytes - kFpBytes, kFpBytes) == kFpBytes);
    out->append(reinterpret_cast<const char*>(limb), kLimbBytes);
  }

  void Check(int result) { ok_ = ok_ && result != 0; }

 private:
  std::unique_ptr<BN_CTX, BnCtxFree> ctx_;
  Bn p_;
  Bn zero_;
  Bn t_;
  Bn exponent_;
  bool ok_ = true;
};

// Fp2 = Fp[i]/(i² + 1), elements c0 + c1·i.
class Fp2 {
 public:
  struct Elem {
    Bn c0;
    Bn c1;
  };

  explicit Fp2(Fp* fp)
      : fp_(*fp), t0_(fp->New()), t1_(fp->New()), t2_(fp->New()), t3_(fp->New()), t4_(fp->New()) {}

  bool ok() const { return fp_.ok(); }

  Elem New() { return Elem{fp_.New(), fp_.New()}; }
  void Set(Elem& r, const Elem& a) {
    fp_.Set(r.c0, a.c0);
    fp_.Set(r.c1, a.c1);
  }
  void SetWord(Elem& r, unsigned word) {
    fp_.SetWord(r.c0, word);
    fp_.SetWord(r.c1, 0);
  }
  void Add(Elem& r, const Elem& a, const Elem& b) {
    fp_.Add(r.c0, a.c0, b.c0);
    fp_.Add(r.c1, a.c1, b.c1);
  }
  void Sub(Elem& r, const Elem& a, const Elem& b) {
    fp_.Sub(r.c0, a.c0, b.c0);
    fp_.Sub(r.c1, a.c1, b.c1);
  }
  void Neg(Elem& r, const Elem& a) {
    fp_.Neg(r.c0, a.c0);
    fp_.Neg(r.c1, a.c1);
  }
  // (a0 + a1 i)(b0 + b1 i) = (a0 b0 - a1 b1) + (a0 b1 + a1 b0) i. All reads precede the writes.
  void Mul(Elem& r, const Elem& a, const Elem& b) {
    fp_.Mul(t0_, a.c0, b.c0);
    fp_.Mul(t1_, a.c1, b.c1);
    fp_.Mul(t2_, a.c0, b.c1);
    fp_.Mul(t3_, a.c1, b.c0);
    fp_.Sub(r.c0, t0_, t1_);
    fp_.Add(r.c1, t2_, t3_);
  }
  // (a0 + a1 i)² = (a0 + a1)(a0 - a1) + 2 a0 a1 i.
  void Sqr(Elem& r, const Elem& a) {
    fp_.Add(t0_, a.c0, a.c1);
    fp_.Sub(t1_, a.c0, a.c1);
    fp_.Mul(t2_, a.c0, a.c1);
    fp_.Mul(r.c0, t0_, t1_);
    fp_.Add(r.c1, t2_, t2_);
  }
  bool IsZero(const Elem& a) const { return fp_.IsZero(a.c0) && fp_.IsZero(a.c1); }
  bool Equal(const Elem& a, const Elem& b) const {
    return fp_.Equal(a.c0, b.c0) && fp_.Equal(a.c1, b.c1);
  }
  // ZCash's lexicographic order on Fp2 looks at c1 first, and at c0 only when c1 is zero.
  bool IsLarger(const Elem& a) {
    return fp_.IsZero(a.c1) ? fp_.IsLarger(a.c0) : fp_.IsLarger(a.c1);
  }

  // r = a square root of a, or false when a is not a square in Fp2. The norm method, with Fp
  // square roots only: if a = (x0 + x1 i)², then N(a) = a0² + a1² = (x0² + x1²)² is a square in
  // Fp with root n = x0² + x1² (up to sign), and a0 = x0² - x1², so x0² = (a0 ± n)/2 for one of
  // the two signs; then x1 = a1 / (2 x0). x0 is not zero when a1 is not (a1 = 2 x0 x1). When a1
  // is zero, a = a0 is in Fp: its root is √a0, or √(-a0)·i when a0 is not a square (-1 is not a
  // square in Fp, so then -a0 is). The candidate is squared and compared in every case.
  bool Sqrt(Elem& r, const Elem& a) {
    Elem candidate = New();
    if (fp_.IsZero(a.c1)) {
      if (fp_.Sqrt(candidate.c0, a.c0)) {
        fp_.SetWord(candidate.c1, 0);
      } else {
        fp_.Neg(t4_, a.c0);
        if (!fp_.Sqrt(candidate.c1, t4_)) return false;
        fp_.SetWord(candidate.c0, 0);
      }
    } else {
      fp_.Sqr(t0_, a.c0);
      fp_.Sqr(t1_, a.c1);
      fp_.Add(t0_, t0_, t1_);  // the norm
      Fp::Elem norm_root = fp_.New();
      if (!fp_.Sqrt(norm_root, t0_)) return false;
      Fp::Elem half = fp_.New();
      fp_.SetWord(half, 2);
      fp_.Inverse(half, half);
      fp_.Add(t4_, a.c0, norm_root);
      fp_.Mul(t4_, t4_, half);  // (a0 + n)/2
      if (!fp_.Sqrt(candidate.c0, t4_)) {
        fp_.Sub(t4_, a.c0, norm_root);
        fp_.Mul(t4_, t4_, half);  // (a0 - n)/2
        if (!fp_.Sqrt(candidate.c0, t4_)) return false;
      }
      fp_.Add(t4_, candidate.c0, candidate.c0);
      if (fp_.IsZero(t4_)) return false;
      fp_.Inverse(t4_, t4_);
      fp_.Mul(candidate.c1, a.c1, t4_);
    }
    Elem check = New();
    Sqr(check, candidate);
    if (!ok() || !Equal(check, a)) return false;
    Set(r, candidate);
    return true;
  }

 private:
  Fp& fp_;
  Fp::Elem t0_, t1_, t2_, t3_, t4_;
};

// A point in Jacobian coordinates (x = X/Z², y = Y/Z³); Z = 0 is the identity.
template <typename F>
struct Jacobian {
  typename F::Elem x, y, z;
};

// r·(x, y) == identity for an affine point on the curve y² = x³ + b (a = 0): left-to-right
// double-and-add over the bits of r, with the affine point added in mixed coordinates. Formulas
// (for a = 0): doubling dbl-2009-l, addition madd-2007-bl from the Explicit-Formulas Database; the
// exceptional cases of the addition (equal or opposite points, identity accumulator) are handled
// explicitly.
template <typename F>
class OrderCheck {
 public:
  explicit OrderCheck(F* field) : f_(*field) {
    for (auto* e : {&a_, &b_, &c_, &d_, &e_, &g_, &h_, &i_, &j_, &k_, &l_, &m_}) *e = f_.New();
  }

  bool TimesOrderIsIdentity(const typename F::Elem& x, const typename F::Elem& y,
                            const BIGNUM* order) {
    Jacobian<F> acc{f_.New(), f_.New(), f_.New()};
    f_.Set(acc.x, x);
    f_.Set(acc.y, y);
    f_.SetWord(acc.z, 1);
    for (int bit = BN_num_bits(order) - 2; bit >= 0; --bit) {
      Double(acc);
      if (BN_is_bit_set(order, bit)) AddAffine(acc, x, y);
    }
    return f_.IsZero(acc.z);
  }

 private:
  void Double(Jacobian<F>& p) {
    if (f_.IsZero(p.z)) return;
    f_.Sqr(a_, p.x);      // A = X²
    f_.Sqr(b_, p.y);      // B = Y²
    f_.Sqr(c_, b_);       // C = B²
    f_.Add(d_, p.x, b_);  // D = 2((X + B)² - A - C)
    f_.Sqr(d_, d_);
    f_.Sub(d_, d_, a_);
    f_.Sub(d_, d_, c_);
    f_.Add(d_, d_, d_);
    f_.Add(e_, a_, a_);  // E = 3A
    f_.Add(e_, e_, a_);
    f_.Sqr(g_, e_);         // F = E²
    f_.Mul(p.z, p.y, p.z);  // Z3 = 2 Y Z (before Y changes)
    f_.Add(p.z, p.z, p.z);
    f_.Sub(p.x, g_, d_);  // X3 = F - 2D
    f_.Sub(p.x, p.x, d_);
    f_.Sub(h_, d_, p.x);  // Y3 = E (D - X3) - 8C
    f_.Mul(h_, e_, h_);
    f_.Add(c_, c_, c_);
    f_.Add(c_, c_, c_);
    f_.Add(c_, c_, c_);
    f_.Sub(p.y, h_, c_);
  }

  void AddAffine(Jacobian<F>& p, const typename F::Elem& x2, const typename F::Elem& y2) {
    if (f_.IsZero(p.z)) {
      f_.Set(p.x, x2);
      f_.Set(p.y, y2);
      f_.SetWord(p.z, 1);
      return;
    }
    f_.Sqr(a_, p.z);      // Z1Z1 = Z1²
    f_.Mul(b_, x2, a_);   // U2 = X2 Z1Z1
    f_.Mul(c_, y2, p.z);  // S2 = Y2 Z1 Z1Z1
    f_.Mul(c_, c_, a_);
    f_.Sub(d_, b_, p.x);  // H = U2 - X1
    f_.Sub(e_, c_, p.y);  // S2 - Y1
    if (f_.IsZero(d_)) {
      if (f_.IsZero(e_)) {
        Double(p);  // the same point
      } else {
        f_.SetWord(p.z, 0);  // opposite points
      }
      return;
    }
    f_.Add(e_, e_, e_);  // r = 2 (S2 - Y1)
    f_.Sqr(g_, d_);      // HH = H²
    f_.Add(h_, g_, g_);  // I = 4 HH
    f_.Add(h_, h_, h_);
    f_.Mul(i_, d_, h_);   // J = H I
    f_.Mul(j_, p.x, h_);  // V = X1 I
    f_.Sqr(k_, e_);       // X3 = r² - J - 2V
    f_.Sub(k_, k_, i_);
    f_.Sub(k_, k_, j_);
    f_.Sub(k_, k_, j_);
    f_.Sub(l_, j_, k_);  // Y3 = r (V - X3) - 2 Y1 J
    f_.Mul(l_, e_, l_);
    f_.Mul(m_, p.y, i_);
    f_.Add(m_, m_, m_);
    f_.Sub(l_, l_, m_);
    f_.Add(p.z, p.z, d_);  // Z3 = (Z1 + H)² - Z1Z1 - HH
    f_.Sqr(p.z, p.z);
    f_.Sub(p.z, p.z, a_);
    f_.Sub(p.z, p.z, g_);
    f_.Set(p.x, k_);
    f_.Set(p.y, l_);
  }

  F& f_;
  typename F::Elem a_, b_, c_, d_, e_, g_, h_, i_, j_, k_, l_, m_;
};

// The decompression shared by G1 and G2 once x has been read: y from y² = x³ + b with the sign
// the flag asks for, then the subgroup check. `what` names the group in messages.
template <typename F>
absl::Status Recover(F& f, Fp& fp, const typename F::Elem& x, const typename F::Elem& b, bool sign,
                     absl::string_view what, typename F::Elem& y) {
  typename F::Elem rhs = f.New();
  f.Sqr(rhs, x);
  f.Mul(rhs, rhs, x);
  f.Add(rhs, rhs, b);
  if (!f.Sqrt(y, rhs)) {
    if (!fp.ok()) return absl::InternalError(absl::StrCat(what, ": libcrypto failed"));
    return absl::InvalidArgumentError(absl::StrCat(what, ": x is not the x of a curve point"));
  }
  if (f.IsLarger(y) != sign) f.Neg(y, y);
  Bn order = NewBn();
  BIGNUM* order_ptr = order.get();
  fp.Check(BN_hex2bn(&order_ptr, kOrderHex));
  OrderCheck<F> check(&f);
  const bool in_subgroup = check.TimesOrderIsIdentity(x, y, order.get());
  if (!fp.ok()) return absl::InternalError(absl::StrCat(what, ": libcrypto failed"));
  if (!in_subgroup) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the point is on the curve but not in the prime-order subgroup"));
  }
  return absl::OkStatus();
}

// The flag checks shared by G1 and G2; fills `x_bytes` (the input with the flags cleared).
absl::Status CheckFlags(absl::string_view compressed, size_t size, absl::string_view what,
                        std::string* x_bytes, bool* sign) {
  if (compressed.size() != size) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", compressed.size(), " bytes, want ", size));
  }
  const uint8_t flags = static_cast<uint8_t>(compressed[0]);
  if ((flags & kFlagCompressed) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the compression flag (0x80) is not set"));
  }
  x_bytes->assign(compressed.data(), compressed.size());
  (*x_bytes)[0] = static_cast<char>(flags & 0x1f);
  if ((flags & kFlagInfinity) != 0) {
    // Well formed only with the sign flag clear and every other bit zero.
    const bool well_formed =
        (flags & kFlagSign) == 0 && x_bytes->find_first_not_of('\0') == std::string::npos;
    return absl::InvalidArgumentError(
        well_formed ? absl::StrCat(what, ": the point at infinity has no affine coordinates")
                    : absl::StrCat(what, ": malformed infinity encoding (bits besides 0xc0 set)"));
  }
  *sign = (flags & kFlagSign) != 0;
  return absl::OkStatus();
}

const uint8_t* Bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

absl::StatusOr<std::string> DecompressBls12381G1(absl::string_view compressed) {
  constexpr absl::string_view kWhat = "BLS12-381 G1 point";
  std::string x_bytes;
  bool sign = false;
  absl::Status flags = CheckFlags(compressed, kBls12381G1CompressedSize, kWhat, &x_bytes, &sign);
  if (!flags.ok()) return flags;
  Fp fp;
  Fp::Elem x = fp.New();
  if (!fp.FromBytes(x, Bytes(x_bytes))) {
    if (!fp.ok()) return absl::InternalError(absl::StrCat(kWhat, ": libcrypto failed"));
    return absl::InvalidArgumentError(absl::StrCat(kWhat, ": x is not below the field modulus"));
  }
  Fp::Elem b = fp.New();
  fp.SetWord(b, 4);
  Fp::Elem y = fp.New();
  absl::Status recovered = Recover(fp, fp, x, b, sign, kWhat, y);
  if (!recovered.ok()) return recovered;
  std::string out;
  out.reserve(kBls12381G1UncompressedSize);
  fp.ToLimb(x, &out);
  fp.ToLimb(y, &out);
  if (!fp.ok()) return absl::InternalError(absl::StrCat(kWhat, ": libcrypto failed"));
  return out;
}

absl::StatusOr<std::string> DecompressBls12381G2(absl::string_view compressed) {
  constexpr absl::string_view kWhat = "BLS12-381 G2 point";
  std::string x_bytes;
  bool sign = false;
  absl::Status flags = CheckFlags(compressed, kBls12381G2CompressedSize, kWhat, &x_bytes, &sign);
  if (!flags.ok()) return flags;
  Fp fp;
  Fp2 fp2(&fp);
  Fp2::Elem x = fp2.New();
  // The wire order is x.c1 then x.c0.
  if (!fp.FromBytes(x.c1, Bytes(x_bytes)) || !fp.FromBytes(x.c0, Bytes(x_bytes) + kFpBytes)) {
    if (!fp.ok()) return absl::InternalError(absl::StrCat(kWhat, ": libcrypto failed"));
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, ": x.c0 or x.c1 is not below the field modulus"));
  }
  Fp2::Elem b = fp2.New();  // 4 + 4i
  fp.SetWord(b.c0, 4);
  fp.SetWord(b.c1, 4);
  Fp2::Elem y = fp2.New();
  absl::Status recovered = Recover(fp2, fp, x, b, sign, kWhat, y);
  if (!recovered.ok()) return recovered;
  std::string out;
  out.reserve(kBls12381G2UncompressedSize);
  fp.ToLimb(x.c0, &out);
  fp.ToLimb(x.c1, &out);
  fp.ToLimb(y.c0, &out);
  fp.ToLimb(y.c1, &out);
  if (!fp.ok()) return absl::InternalError(absl::StrCat(kWhat, ": libcrypto failed"));
  return out;
}

}  // namespace gonka::crypto
