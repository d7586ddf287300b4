// Shared plumbing of the exported GP object and crypto functions (crypto_*_api.cc): handle
// lookup, the panic discipline, attribute arrays, and the implementations that the GP 1.3.1
// exports and their GP 1.1 (__GP11_) twins both call. Internal to the TA runtime; includes the
// TA dev kit headers, so it must not be mixed with abi/gp.h in one translation unit.
#pragma once

#include <openssl/err.h>

#include <cstdint>
#include <exception>
#include <new>
#include <vector>

#include "ta_runtime/crypto_object.h"
#include "ta_runtime/crypto_operation.h"
#include "ta_runtime/instance_state.h"

// Last: the dev kit's GP constants are macros.
#include <tee_internal_api.h>

// GP functions TAs link against: C linkage, visible from libteemu.so.
#define TA_API extern "C" __attribute__((visibility("default")))

namespace teemu::ta_runtime::crypto {

static_assert(kErrorShortBuffer == TEE_ERROR_SHORT_BUFFER && kErrorMacInvalid == TEE_ERROR_MAC_INVALID);
static_assert(kErrorSignatureInvalid == TEE_ERROR_SIGNATURE_INVALID);
static_assert(kErrorCiphertextInvalid == TEE_ERROR_CIPHERTEXT_INVALID);

// Runs one API step and turns its Status into the function's result. A panic happens here, after
// the step and every C++ object it made are gone: TEE_Panic leaves by longjmp. Running out of
// host memory inside a step panics the TA too (GP allows no other outcome for most functions);
// no C++ exception may unwind into the TA's C frames.
template <class F>
TEE_Result run_api(F&& step) {
  Status s;
  try {
    s = step();
  } catch (const std::bad_alloc&) {
    s = Status::fatal(TEE_ERROR_OUT_OF_MEMORY);
  } catch (const std::exception&) {  // e.g. std::length_error for an absurd TA length
    s = Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  }
  ERR_clear_error();  // OpenSSL's error queue is per host thread: leave nothing for the next TA
  if (s.panic) TEE_Panic(s.code);
  return s.code;
}

// The running instance's state; panics outside of a TA entry point.
InstanceState& instance();

// The objects behind handles of the running instance; null if the handle is not one of them.
CryptoObject* find_object(TEE_ObjectHandle h);
Operation* find_operation(TEE_OperationHandle h);

// A TA's attribute array (TEE_Attribute or __GP11_TEE_Attribute) read in place. Fatal for a null
// array with entries, a null buffer with a length, or more than kMaxAttributes entries (no
// algorithm takes that many; the cap stops a TA from making the runtime allocate without bound).
inline constexpr uint32_t kMaxAttributes = 64;
template <class A>
Status read_attrs(const A* attrs, uint32_t count, std::vector<AttrRef>* out) {
  if (count == 0) return Status::ok();
  if (attrs == nullptr || count > kMaxAttributes) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  out->reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    AttrRef r;
    r.id = attrs[i].attributeID;
    if (r.is_value()) {
      r.a = attrs[i].content.value.a;
      r.b = attrs[i].content.value.b;
    } else {
      size_t len = attrs[i].content.ref.length;
      const void* buf = attrs[i].content.ref.buffer;
      if (buf == nullptr && len != 0) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
      r.bytes = std::span<const uint8_t>(static_cast<const uint8_t*>(buf), len);
    }
    out->push_back(r);
  }
  return Status::ok();
}

// Input that may overlap the output is read from a private copy: the engines write output while
// they still read input.
class InputView {
 public:
  InputView(const void* in, size_t n, const void* out, size_t out_n);
  const uint8_t* data() const { return p_; }

 private:
  SecretBytes copy_;
  const uint8_t* p_;
};

// The secret value of an operation's key object (AES and HMAC keys).
std::span<const uint8_t> secret_of(const CryptoObject& key);

// --- implementations shared by the GP 1.3.1 functions and their __GP11_ twins ---------------
namespace api {

Status allocate_transient(uint32_t type, uint32_t max_size, TEE_ObjectHandle* object);
Status populate(TEE_ObjectHandle object, const std::vector<AttrRef>& attrs);
Status generate_key(TEE_ObjectHandle object, uint32_t key_size, const std::vector<AttrRef>& params);
Status get_buffer_attribute(TEE_ObjectHandle object, uint32_t id, void* buffer, size_t* size);

Status free_operation(TEE_OperationHandle op);
Status operation_info_multiple(TEE_OperationHandle op, TEE_OperationInfoMultiple* info, size_t* size);
Status set_key(TEE_OperationHandle op, TEE_ObjectHandle key, bool gp11);
Status set_key2(TEE_OperationHandle op, TEE_ObjectHandle key1, TEE_ObjectHandle key2, bool gp11);

Status digest_update(TEE_OperationHandle op, const void* chunk, size_t n);
Status digest_final(TEE_OperationHandle op, const void* chunk, size_t n, void* hash, size_t* len);
Status cipher_init(TEE_OperationHandle op, const void* iv, size_t iv_len);
Status cipher_update(TEE_OperationHandle op, const void* src, size_t n, void* dst, size_t* len);
Status cipher_final(TEE_OperationHandle op, const void* src, size_t n, void* dst, size_t* len);
Status mac_init(TEE_OperationHandle op);
Status mac_update(TEE_OperationHandle op, const void* chunk, size_t n);
Status mac_compute(TEE_OperationHandle op, const void* msg, size_t n, void* mac, size_t* len);
Status mac_compare(TEE_OperationHandle op, const void* msg, size_t n, const void* mac, size_t len);
Status ae_init(TEE_OperationHandle op, const void* nonce, size_t nonce_len, uint32_t tag_bits,
               uint64_t aad_len, uint64_t payload_len);
Status ae_update_aad(TEE_OperationHandle op, const void* aad, size_t n);
Status ae_update(TEE_OperationHandle op, const void* src, size_t n, void* dst, size_t* len);
Status ae_encrypt_final(TEE_OperationHandle op, const void* src, size_t n, void* dst, size_t* len,
                        void* tag, size_t* tag_len);
Status ae_decrypt_final(TEE_OperationHandle op, const void* src, size_t n, void* dst, size_t* len,
                        const void* tag, size_t tag_len);

Status asymmetric_encrypt(TEE_OperationHandle op, const std::vector<AttrRef>& params,
                          const void* src, size_t n, void* dst, size_t* len);
Status asymmetric_decrypt(TEE_OperationHandle op, const std::vector<AttrRef>& params,
                          const void* src, size_t n, void* dst, size_t* len);
Status sign_digest(TEE_OperationHandle op, const std::vector<AttrRef>& params, const void* digest,
                   size_t n, void* sig, size_t* len);
Status verify_digest(TEE_OperationHandle op, const std::vector<AttrRef>& params,
                     const void* digest, size_t n, const void* sig, size_t sig_len);
Status derive_key(TEE_OperationHandle op, const std::vector<AttrRef>& params,
                  TEE_ObjectHandle derived);

}  // namespace api
}  // namespace teemu::ta_runtime::crypto
