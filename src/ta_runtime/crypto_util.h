// Internal helpers of the TA crypto runtime: the outcome of an API step (a result for the TA or a
// reason to panic it), owners for OpenSSL objects, and memory for key material that is wiped
// before it is freed. Nothing here includes the TA dev kit headers, so any layer can use it.
#pragma once

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <vector>

namespace teemu::ta_runtime::crypto {

// GP result codes used by the runtime (values verbatim from the GP spec / OP-TEE).
inline constexpr uint32_t kSuccess = 0x00000000;
inline constexpr uint32_t kErrorGeneric = 0xFFFF0000;
inline constexpr uint32_t kErrorBadParameters = 0xFFFF0006;
inline constexpr uint32_t kErrorBadState = 0xFFFF0007;
inline constexpr uint32_t kErrorItemNotFound = 0xFFFF0008;
inline constexpr uint32_t kErrorNotSupported = 0xFFFF000A;
inline constexpr uint32_t kErrorOutOfMemory = 0xFFFF000C;
inline constexpr uint32_t kErrorSecurity = 0xFFFF000F;
inline constexpr uint32_t kErrorShortBuffer = 0xFFFF0010;
inline constexpr uint32_t kErrorMacInvalid = 0xFFFF3071;
inline constexpr uint32_t kErrorSignatureInvalid = 0xFFFF3072;
inline constexpr uint32_t kErrorCiphertextInvalid = 0xF0100006;

// What an API step decided: a GP result to hand back to the TA, or (panic) that the TA broke a
// rule for which the GP spec requires TEE_Panic. The exported function panics only after every
// C++ object of the step has been destroyed (TEE_Panic leaves by longjmp and runs no destructors).
struct [[nodiscard]] Status {
  uint32_t code = kSuccess;
  bool panic = false;

  static Status ok() { return {}; }
  static Status error(uint32_t code) { return {code, false}; }
  static Status fatal(uint32_t code = kErrorBadParameters) { return {code, true}; }
  bool is_ok() const { return !panic && code == kSuccess; }
};

// Allocator for key material: the memory is overwritten before it goes back to the heap, so no
// freed block keeps a key.
template <class T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <class U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, size_t n) {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  friend bool operator==(const WipingAllocator&, const WipingAllocator&) { return true; }
};
using SecretBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

inline SecretBytes secret_copy(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return n == 0 ? SecretBytes{} : SecretBytes(b, b + n);
}

// Owners for OpenSSL objects.
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpCipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpMacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxFree>;
// BIGNUMs hold key material here: cleared before they are freed.
struct BnClearFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
struct BnCtxFree {
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnClearFree>;
using BnCtxPtr = std::unique_ptr<BN_CTX, BnCtxFree>;

// Constant-time equality of two equally long byte strings.
inline bool equal_ct(const uint8_t* a, const uint8_t* b, size_t n) {
  return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}

}  // namespace teemu::ta_runtime::crypto
