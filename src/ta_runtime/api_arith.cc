// GP TEE Internal Core API 1.3.1 section 8, the TEE Arithmetical API (TEE_BigInt*), on OpenSSL's
// BIGNUM, with the GP 1.1 (__GP11_) variants OP-TEE's libutee has.
//
// A TEE_BigInt is an array of uint32_t the TA owns, laid out as OP-TEE lays it out so that TAs
// sized with TEE_BigIntSizeInU32 fit: a header {int32 sign, uint16 alloc_size, uint16 nblimbs}
// followed by alloc_size 32-bit limbs, least significant first, of which nblimbs are in use. Every
// call reads its operands into BIGNUMs, computes, and writes the results back, so operands and
// destinations may alias freely. A result that does not fit its destination panics the TA
// (GP 8.4-8.8) except where the function reports TEE_ERROR_OVERFLOW instead (conversions,
// SetBit, Assign, Abs). The fast modular multiplication (FMM) representation is the plain one, as
// in OP-TEE: a TEE_BigIntFMM is a TEE_BigInt holding a residue, and the context is unused.
#include <openssl/bn.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

#include "ta_runtime/crypto_api.h"
#include "ta_runtime/crypto_util.h"

namespace {

using teemu::ta_runtime::crypto::run_api;
using teemu::ta_runtime::crypto::Status;

struct BigIntHeader {
  int32_t sign;  // < 0: negative; the value 0 is always stored with sign 1
  uint16_t alloc_size;
  uint16_t nblimbs;
};
constexpr size_t kHeaderWords = sizeof(BigIntHeader) / sizeof(uint32_t);
static_assert(sizeof(BigIntHeader) == 2 * sizeof(uint32_t) && offsetof(BigIntHeader, nblimbs) == 6);
static_assert(TEE_BigIntSizeInU32(1) == kHeaderWords + 1 && TEE_BigIntSizeInU32(2048) == 66);
// The limbs are little-endian words, so the limb array is the value's little-endian byte string.
static_assert(std::endian::native == std::endian::little);

// OP-TEE's panic code for the arithmetical API.
constexpr uint32_t kPanicCode = 0xB16127;
// gpd.tee.arith.maxBigIntSize (api_properties.cc). As in OP-TEE, TEE_BigIntInit takes up to
// maxBigIntSize / 4 words, room for products and quotients of maxBigIntSize operands; the cap
// stops a TA from making the runtime compute with numbers of millions of bits.
constexpr size_t kMaxBigIntBits = 2048;
constexpr size_t kMaxLenWords = kMaxBigIntBits / 4;
// IsProbablePrime: one BN_check_prime call errs with probability below 2^-128; a TA asking for
// more confidence gets more calls, up to this many bits of it.
constexpr uint32_t kMaxConfidence = 4096;

// Thrown inside a step when GP says the call panics; arith_api turns it into TEE_Panic once every
// BIGNUM of the step has been freed (TEE_Panic leaves by longjmp).
struct Panic {};
[[noreturn]] void panic() { throw Panic{}; }
void check(int openssl_rc) {
  if (openssl_rc != 1) panic();
}

template <class F>
TEE_Result arith_api(F&& step) {
  return run_api([&]() -> Status {
    try {
      return step();
    } catch (const Panic&) {
      return Status::fatal(kPanicCode);
    }
  });
}

// The crypto API's owners: BIGNUMs are cleared before they are freed (values may be key
// material).
using Bn = teemu::ta_runtime::crypto::BnPtr;
using BnCtx = teemu::ta_runtime::crypto::BnCtxPtr;

Bn new_bn() {
  Bn b(BN_new());
  if (!b) throw std::bad_alloc();
  return b;
}

BnCtx new_ctx() {
  BnCtx c(BN_CTX_new());
  if (!c) throw std::bad_alloc();
  return c;
}

BigIntHeader header_of(const TEE_BigInt* b) {
  if (b == nullptr) panic();
  BigIntHeader h;
  std::memcpy(&h, b, sizeof(h));
  return h;
}

// The value of `b`. Panics for a null pointer or a header no TEE_BigIntInit wrote (more limbs in
// use than allocated), rather than reading past the TA's array.
Bn load(const TEE_BigInt* b) {
  BigIntHeader h = header_of(b);
  if (h.nblimbs > h.alloc_size) panic();
  Bn v = new_bn();
  const auto* limbs = reinterpret_cast<const unsigned char*>(b + kHeaderWords);
  if (BN_lebin2bn(limbs, static_cast<int>(h.nblimbs * sizeof(uint32_t)), v.get()) == nullptr)
    panic();
  BN_set_negative(v.get(), h.sign < 0 ? 1 : 0);
  return v;
}

Bn from_s32(int32_t x) {
  Bn v = new_bn();
  check(BN_set_word(v.get(), x < 0 ? 0 - static_cast<uint64_t>(static_cast<int64_t>(x))
                                   : static_cast<uint64_t>(x)));
  BN_set_negative(v.get(), x < 0 ? 1 : 0);
  return v;
}

// What a result too large for its destination does.
enum class OnOverflow { kPanic, kReport };

// Writes `v` into `dest`. Too large: a panic, or TEE_ERROR_OVERFLOW with `dest` unchanged.
Status store(const BIGNUM* v, TEE_BigInt* dest, OnOverflow on_overflow = OnOverflow::kPanic) {
  BigIntHeader h = header_of(dest);
  size_t words = (static_cast<size_t>(BN_num_bytes(v)) + sizeof(uint32_t) - 1) / sizeof(uint32_t);
  if (words > h.alloc_size) {
    if (on_overflow == OnOverflow::kPanic) panic();
    return Status::error(TEE_ERROR_OVERFLOW);
  }
  auto* limbs = reinterpret_cast<unsigned char*>(dest + kHeaderWords);
  if (BN_bn2lebinpad(v, limbs, static_cast<int>(words * sizeof(uint32_t))) < 0) panic();
  h.nblimbs = static_cast<uint16_t>(words);
  h.sign = BN_is_negative(v) && !BN_is_zero(v) ? -1 : 1;
  std::memcpy(dest, &h, sizeof(h));
  return Status::ok();
}

// The modulus of a modular operation: GP panics for n < 2.
Bn load_modulus(const TEE_BigInt* n) {
  Bn m = load(n);
  if (BN_is_negative(m.get()) || BN_num_bits(m.get()) < 2) panic();
  return m;
}

// dest = f(op1, op2) for the plain arithmetic operations.
template <class F>
void binary(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2, F f) {
  arith_api([&] {
    Bn a = load(op1), b = load(op2), r = new_bn();
    BnCtx ctx = new_ctx();
    check(f(r.get(), a.get(), b.get(), ctx.get()));
    return store(r.get(), dest);
  });
}

// dest = f(op1, op2) mod n, in [0, n), for the modular operations.
template <class F>
void binary_mod(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2,
                const TEE_BigInt* n, F f) {
  arith_api([&] {
    Bn m = load_modulus(n), a = load(op1), b = load(op2), r = new_bn();
    BnCtx ctx = new_ctx();
    check(f(r.get(), a.get(), b.get(), m.get(), ctx.get()));
    return store(r.get(), dest);
  });
}

Status to_octets(uint8_t* buffer, size_t* len, const TEE_BigInt* b) {
  if (len == nullptr) panic();
  Bn v = load(b);
  auto need = static_cast<size_t>(BN_num_bytes(v.get()));
  if (need > *len) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (need > 0 && buffer == nullptr) panic();
  if (need > 0) BN_bn2bin(v.get(), buffer);
  *len = need;
  return Status::ok();
}

// (gcd, u, v) with u * a + v * b = gcd for a, b >= 0: the extended Euclidean algorithm. The
// coefficients it ends with are bounded by b / gcd and a / gcd, so they fit the operands' sizes.
void extended_gcd(const BIGNUM* a, const BIGNUM* b, BN_CTX* ctx, Bn* gcd, Bn* u, Bn* v) {
  Bn r0 = new_bn(), r1 = new_bn(), s0 = new_bn(), s1 = new_bn(), t0 = new_bn(), t1 = new_bn();
  Bn q = new_bn(), tmp = new_bn();
  if (BN_copy(r0.get(), a) == nullptr || BN_copy(r1.get(), b) == nullptr) panic();
  check(BN_one(s0.get()));
  BN_zero(s1.get());
  BN_zero(t0.get());
  check(BN_one(t1.get()));
  while (!BN_is_zero(r1.get())) {
    check(BN_div(q.get(), tmp.get(), r0.get(), r1.get(), ctx));
    std::swap(r0, r1);
    std::swap(r1, tmp);  // r1 = r0 mod r1
    for (auto [x0, x1] : {std::pair{&s0, &s1}, std::pair{&t0, &t1}}) {
      check(BN_mul(tmp.get(), q.get(), x1->get(), ctx));
      check(BN_sub(tmp.get(), x0->get(), tmp.get()));
      std::swap(*x0, *x1);
      std::swap(*x1, tmp);  // x1 = x0 - q * x1
    }
  }
  *gcd = std::move(r0);
  *u = std::move(s0);
  *v = std::move(t0);
}

}  // namespace

// --- 8.3 sizes and initialization -----------------------------------------------------------

TA_API size_t TEE_BigIntFMMSizeInU32(size_t modulusSizeInBits) {
  return TEE_BigIntSizeInU32(modulusSizeInBits);
}

TA_API uint32_t __GP11_TEE_BigIntFMMSizeInU32(uint32_t modulusSizeInBits) {
  return static_cast<uint32_t>(TEE_BigIntFMMSizeInU32(modulusSizeInBits));
}

// The context is not used; one word keeps a TA's TEE_Malloc of it from asking for 0 bytes.
TA_API size_t TEE_BigIntFMMContextSizeInU32(size_t modulusSizeInBits) {
  (void)modulusSizeInBits;
  return 1;
}

TA_API uint32_t __GP11_TEE_BigIntFMMContextSizeInU32(uint32_t modulusSizeInBits) {
  return static_cast<uint32_t>(TEE_BigIntFMMContextSizeInU32(modulusSizeInBits));
}

// Panics when `len` words cannot hold the header or exceed kMaxLenWords.
TA_API void TEE_BigIntInit(TEE_BigInt* bigInt, size_t len) {
  if (bigInt == nullptr || len < kHeaderWords || len > kMaxLenWords) TEE_Panic(kPanicCode);
  std::memset(bigInt, 0, len * sizeof(uint32_t));
  BigIntHeader h{1, static_cast<uint16_t>(len - kHeaderWords), 0};
  std::memcpy(bigInt, &h, sizeof(h));
}

TA_API void __GP11_TEE_BigIntInit(TEE_BigInt* bigInt, uint32_t len) { TEE_BigIntInit(bigInt, len); }

TA_API void TEE_BigIntInitFMMContext(TEE_BigIntFMMContext* context, size_t len,
                                     const TEE_BigInt* modulus) {
  (void)TEE_BigIntInitFMMContext1(context, len, modulus);
}

TA_API void __GP11_TEE_BigIntInitFMMContext(TEE_BigIntFMMContext* context, uint32_t len,
                                            const TEE_BigInt* modulus) {
  TEE_BigIntInitFMMContext(context, len, modulus);
}

// Every modulus is supported: the context holds nothing.
TA_API TEE_Result TEE_BigIntInitFMMContext1(TEE_BigIntFMMContext* context, size_t len,
                                            const TEE_BigInt* modulus) {
  (void)context;
  (void)len;
  (void)modulus;
  return TEE_SUCCESS;
}

TA_API void TEE_BigIntInitFMM(TEE_BigIntFMM* bigIntFMM, size_t len) {
  TEE_BigIntInit(bigIntFMM, len);
}

TA_API void __GP11_TEE_BigIntInitFMM(TEE_BigIntFMM* bigIntFMM, uint32_t len) {
  TEE_BigIntInit(bigIntFMM, len);
}

// --- 8.4 conversions ---------------------------------------------------------------------------

// `buffer` is the big-endian magnitude; the value is negative when sign < 0. TEE_ERROR_OVERFLOW,
// `dest` unchanged, when it does not fit.
TA_API TEE_Result TEE_BigIntConvertFromOctetString(TEE_BigInt* dest, const uint8_t* buffer,
                                                   size_t bufferLen, int32_t sign) {
  return arith_api([&] {
    if (buffer == nullptr && bufferLen != 0) panic();
    if (bufferLen > kMaxLenWords * sizeof(uint32_t)) {
      // Longer than any TEE_BigInt: fits only if the excess is leading zeros.
      size_t excess = bufferLen - kMaxLenWords * sizeof(uint32_t);
      if (std::any_of(buffer, buffer + excess, [](uint8_t c) { return c != 0; }))
        return Status::error(TEE_ERROR_OVERFLOW);
      buffer += excess;
      bufferLen -= excess;
    }
    Bn v = new_bn();
    if (BN_bin2bn(buffer, static_cast<int>(bufferLen), v.get()) == nullptr) panic();
    BN_set_negative(v.get(), sign < 0 ? 1 : 0);
    return store(v.get(), dest, OnOverflow::kReport);
  });
}

TA_API TEE_Result __GP11_TEE_BigIntConvertFromOctetString(TEE_BigInt* dest, const uint8_t* buffer,
                                                          uint32_t bufferLen, int32_t sign) {
  return TEE_BigIntConvertFromOctetString(dest, buffer, bufferLen, sign);
}

// The big-endian magnitude in as few bytes as it takes (none for 0); the sign is not encoded.
// TEE_ERROR_SHORT_BUFFER with the size needed in *bufferLen.
TA_API TEE_Result TEE_BigIntConvertToOctetString(uint8_t* buffer, size_t* bufferLen,
                                                 const TEE_BigInt* bigInt) {
  return arith_api([&] { return to_octets(buffer, bufferLen, bigInt); });
}

TA_API TEE_Result __GP11_TEE_BigIntConvertToOctetString(uint8_t* buffer, uint32_t* bufferLen,
                                                        const TEE_BigInt* bigInt) {
  return arith_api([&] {
    if (bufferLen == nullptr) panic();
    size_t len = *bufferLen;
    Status s = to_octets(buffer, &len, bigInt);
    *bufferLen = static_cast<uint32_t>(std::min<size_t>(len, UINT32_MAX));
    return s;
  });
}

TA_API void TEE_BigIntConvertFromS32(TEE_BigInt* dest, int32_t shortVal) {
  arith_api([&] { return store(from_s32(shortVal).get(), dest); });
}

// TEE_ERROR_OVERFLOW when the value is outside [INT32_MIN, INT32_MAX].
TA_API TEE_Result TEE_BigIntConvertToS32(int32_t* dest, const TEE_BigInt* src) {
  return arith_api([&] {
    if (dest == nullptr) panic();
    Bn v = load(src);
    if (BN_num_bits(v.get()) > 32) return Status::error(TEE_ERROR_OVERFLOW);
    auto magnitude = static_cast<int64_t>(BN_get_word(v.get()));
    int64_t x = BN_is_negative(v.get()) ? -magnitude : magnitude;
    if (x < INT32_MIN || x > INT32_MAX) return Status::error(TEE_ERROR_OVERFLOW);
    *dest = static_cast<int32_t>(x);
    return Status::ok();
  });
}

// --- 8.5 logical operations ------------------------------------------------------------------

TA_API int32_t TEE_BigIntCmp(const TEE_BigInt* op1, const TEE_BigInt* op2) {
  int32_t r = 0;
  arith_api([&] {
    r = BN_cmp(load(op1).get(), load(op2).get());
    return Status::ok();
  });
  return r;
}

TA_API int32_t TEE_BigIntCmpS32(const TEE_BigInt* op, int32_t shortVal) {
  int32_t r = 0;
  arith_api([&] {
    r = BN_cmp(load(op).get(), from_s32(shortVal).get());
    return Status::ok();
  });
  return r;
}

// The magnitude is shifted and the sign kept (-5 >> 1 is -2), as in OP-TEE.
TA_API void TEE_BigIntShiftRight(TEE_BigInt* dest, const TEE_BigInt* op, size_t bits) {
  arith_api([&] {
    Bn v = load(op), r = new_bn();
    if (bits >= static_cast<size_t>(BN_num_bits(v.get()))) {
      BN_zero(r.get());
    } else {
      check(BN_rshift(r.get(), v.get(), static_cast<int>(bits)));
      BN_set_negative(r.get(), BN_is_negative(v.get()));
    }
    return store(r.get(), dest);
  });
}

TA_API void __GP11_TEE_BigIntShiftRight(TEE_BigInt* dest, const TEE_BigInt* op, uint32_t bits) {
  TEE_BigIntShiftRight(dest, op, bits);
}

// Bits of the magnitude.
TA_API bool TEE_BigIntGetBit(const TEE_BigInt* src, uint32_t bitIndex) {
  bool r = false;
  arith_api([&] {
    Bn v = load(src);
    r = bitIndex <= INT_MAX && BN_is_bit_set(v.get(), static_cast<int>(bitIndex)) == 1;
    return Status::ok();
  });
  return r;
}

TA_API uint32_t TEE_BigIntGetBitCount(const TEE_BigInt* src) {
  uint32_t r = 0;
  arith_api([&] {
    r = static_cast<uint32_t>(BN_num_bits(load(src).get()));
    return Status::ok();
  });
  return r;
}

// TEE_ERROR_OVERFLOW, `op` unchanged, when a bit set to 1 lies beyond `op`'s limbs.
TA_API TEE_Result TEE_BigIntSetBit(TEE_BigInt* op, uint32_t bitIndex, bool value) {
  return arith_api([&] {
    Bn v = load(op);
    if (value) {
      if (bitIndex / 32 >= header_of(op).alloc_size) return Status::error(TEE_ERROR_OVERFLOW);
      check(BN_set_bit(v.get(), static_cast<int>(bitIndex)));
    } else if (bitIndex < static_cast<uint32_t>(BN_num_bits(v.get()))) {
      check(BN_clear_bit(v.get(), static_cast<int>(bitIndex)));
    }
    return store(v.get(), op, OnOverflow::kReport);
  });
}

TA_API TEE_Result TEE_BigIntAssign(TEE_BigInt* dest, const TEE_BigInt* src) {
  return arith_api([&] { return store(load(src).get(), dest, OnOverflow::kReport); });
}

TA_API TEE_Result TEE_BigIntAbs(TEE_BigInt* dest, const TEE_BigInt* src) {
  return arith_api([&] {
    Bn v = load(src);
    BN_set_negative(v.get(), 0);
    return store(v.get(), dest, OnOverflow::kReport);
  });
}

// --- 8.6 basic arithmetic --------------------------------------------------------------------

TA_API void TEE_BigIntAdd(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2) {
  binary(dest, op1, op2, [](BIGNUM* r, const BIGNUM* a, const BIGNUM* b, BN_CTX*) {
    return BN_add(r, a, b);
  });
}

TA_API void TEE_BigIntSub(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2) {
  binary(dest, op1, op2, [](BIGNUM* r, const BIGNUM* a, const BIGNUM* b, BN_CTX*) {
    return BN_sub(r, a, b);
  });
}

TA_API void TEE_BigIntNeg(TEE_BigInt* dest, const TEE_BigInt* op) {
  arith_api([&] {
    Bn v = load(op);
    BN_set_negative(v.get(), !BN_is_negative(v.get()));
    return store(v.get(), dest);
  });
}

TA_API void TEE_BigIntMul(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2) {
  binary(dest, op1, op2, BN_mul);
}

TA_API void TEE_BigIntSquare(TEE_BigInt* dest, const TEE_BigInt* op) {
  TEE_BigIntMul(dest, op, op);
}

// GP 8.6.6: the quotient is rounded towards zero and the remainder has the sign of op1
// (op1 = q * op2 + r, |r| < |op2|); either destination may be NULL. op2 = 0 panics.
TA_API void TEE_BigIntDiv(TEE_BigInt* dest_q, TEE_BigInt* dest_r, const TEE_BigInt* op1,
                          const TEE_BigInt* op2) {
  arith_api([&] {
    Bn a = load(op1), d = load(op2), q = new_bn(), r = new_bn();
    if (BN_is_zero(d.get())) panic();
    BnCtx ctx = new_ctx();
    check(BN_div(q.get(), r.get(), a.get(), d.get(), ctx.get()));
    if (dest_q != nullptr) (void)store(q.get(), dest_q);
    if (dest_r != nullptr) (void)store(r.get(), dest_r);
    return Status::ok();
  });
}

// --- 8.7 modular arithmetic (every n < 2 panics; results are in [0, n)) ------------------------

TA_API void TEE_BigIntMod(TEE_BigInt* dest, const TEE_BigInt* op, const TEE_BigInt* n) {
  arith_api([&] {
    Bn m = load_modulus(n), a = load(op), r = new_bn();
    BnCtx ctx = new_ctx();
    check(BN_nnmod(r.get(), a.get(), m.get(), ctx.get()));
    return store(r.get(), dest);
  });
}

TA_API void TEE_BigIntAddMod(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2,
                             const TEE_BigInt* n) {
  binary_mod(dest, op1, op2, n, BN_mod_add);
}

TA_API void TEE_BigIntSubMod(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2,
                             const TEE_BigInt* n) {
  binary_mod(dest, op1, op2, n, BN_mod_sub);
}

TA_API void TEE_BigIntMulMod(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2,
                             const TEE_BigInt* n) {
  binary_mod(dest, op1, op2, n, BN_mod_mul);
}

TA_API void TEE_BigIntSquareMod(TEE_BigInt* dest, const TEE_BigInt* op, const TEE_BigInt* n) {
  TEE_BigIntMulMod(dest, op, op, n);
}

// Panics for op = 0 and for an op that has no inverse modulo n (as OP-TEE does).
TA_API void TEE_BigIntInvMod(TEE_BigInt* dest, const TEE_BigInt* op, const TEE_BigInt* n) {
  arith_api([&] {
    Bn m = load_modulus(n), a = load(op), reduced = new_bn(), r = new_bn();
    if (BN_is_zero(a.get())) panic();
    BnCtx ctx = new_ctx();
    check(BN_nnmod(reduced.get(), a.get(), m.get(), ctx.get()));
    if (BN_mod_inverse(r.get(), reduced.get(), m.get(), ctx.get()) == nullptr) panic();
    return store(r.get(), dest);
  });
}

// dest = op1^op2 mod n for any n >= 2 (odd or even: TEE_ERROR_NOT_SUPPORTED is never returned).
// A negative exponent panics. With an odd n the exponent is used in constant time, as it may be
// a private key.
TA_API TEE_Result TEE_BigIntExpMod(TEE_BigInt* dest, const TEE_BigInt* op1, const TEE_BigInt* op2,
                                   const TEE_BigInt* n, const TEE_BigIntFMMContext* context) {
  (void)context;
  return arith_api([&] {
    Bn m = load_modulus(n), a = load(op1), e = load(op2), base = new_bn(), r = new_bn();
    if (BN_is_negative(e.get())) panic();
    BnCtx ctx = new_ctx();
    check(BN_nnmod(base.get(), a.get(), m.get(), ctx.get()));
    if (BN_is_odd(m.get())) BN_set_flags(e.get(), BN_FLG_CONSTTIME);
    check(BN_mod_exp(r.get(), base.get(), e.get(), m.get(), ctx.get()));
    return store(r.get(), dest);
  });
}

// --- 8.8 other arithmetic --------------------------------------------------------------------

TA_API bool TEE_BigIntRelativePrime(const TEE_BigInt* op1, const TEE_BigInt* op2) {
  bool r = false;
  arith_api([&] {
    Bn a = load(op1), b = load(op2), g = new_bn();
    BnCtx ctx = new_ctx();
    check(BN_gcd(g.get(), a.get(), b.get(), ctx.get()));
    r = BN_is_one(g.get());
    return Status::ok();
  });
  return r;
}

// gcd = gcd(|op1|, |op2|) >= 0 and, when u and v are not NULL, u * op1 + v * op2 = gcd.
TA_API void TEE_BigIntComputeExtendedGcd(TEE_BigInt* gcd, TEE_BigInt* u, TEE_BigInt* v,
                                         const TEE_BigInt* op1, const TEE_BigInt* op2) {
  arith_api([&] {
    Bn a = load(op1), b = load(op2), g, x, y;
    bool neg_a = BN_is_negative(a.get()), neg_b = BN_is_negative(b.get());
    BN_set_negative(a.get(), 0);
    BN_set_negative(b.get(), 0);
    BnCtx ctx = new_ctx();
    extended_gcd(a.get(), b.get(), ctx.get(), &g, &x, &y);
    // u * |op1| + v * |op2| = gcd, so a negative operand flips its coefficient.
    if (neg_a) BN_set_negative(x.get(), !BN_is_negative(x.get()));
    if (neg_b) BN_set_negative(y.get(), !BN_is_negative(y.get()));
    (void)store(g.get(), gcd);
    if (u != nullptr) (void)store(x.get(), u);
    if (v != nullptr) (void)store(y.get(), v);
    return Status::ok();
  });
}

// 0: |op| is composite (or 0, 1); 1: |op| is prime with an error probability at most
// 2^-max(confidenceLevel, 80) (confidence capped at kMaxConfidence). Never -1 ("guaranteed").
TA_API int32_t TEE_BigIntIsProbablePrime(const TEE_BigInt* op, uint32_t confidenceLevel) {
  int32_t r = 0;
  arith_api([&] {
    Bn v = load(op);
    BN_set_negative(v.get(), 0);
    BnCtx ctx = new_ctx();
    uint32_t bits = std::clamp<uint32_t>(confidenceLevel, 80, kMaxConfidence);
    r = 1;
    for (uint32_t done = 0; r == 1 && done < bits; done += 128) {
      int rc = BN_check_prime(v.get(), ctx.get(), nullptr);
      if (rc < 0) panic();
      r = rc;
    }
    return Status::ok();
  });
  return r;
}

// --- 8.9 fast modular multiplication (plain residues) ---------------------------------------

TA_API void TEE_BigIntConvertToFMM(TEE_BigIntFMM* dest, const TEE_BigInt* src, const TEE_BigInt* n,
                                   const TEE_BigIntFMMContext* context) {
  (void)context;
  TEE_BigIntMod(dest, src, n);
}

TA_API void TEE_BigIntConvertFromFMM(TEE_BigInt* dest, const TEE_BigIntFMM* src,
                                     const TEE_BigInt* n, const TEE_BigIntFMMContext* context) {
  (void)n;
  (void)context;
  arith_api([&] { return store(load(src).get(), dest); });
}

TA_API void TEE_BigIntFMMConvertToBigInt(TEE_BigInt* dest, const TEE_BigIntFMM* src,
                                         const TEE_BigInt* n, const TEE_BigIntFMMContext* context) {
  TEE_BigIntConvertFromFMM(dest, src, n, context);
}

TA_API void TEE_BigIntComputeFMM(TEE_BigIntFMM* dest, const TEE_BigIntFMM* op1,
                                 const TEE_BigIntFMM* op2, const TEE_BigInt* n,
                                 const TEE_BigIntFMMContext* context) {
  (void)context;
  TEE_BigIntMulMod(dest, op1, op2, n);
}
