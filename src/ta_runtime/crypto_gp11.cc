// The GP TEE Internal Core API 1.1 variants (__GP11_*) of the object and crypto functions, for
// TAs built with __OPTEE_CORE_API_COMPAT_1_1 (tee_api_compat.h maps the names). They differ from
// the 1.3.1 functions in their uint32_t lengths and attribute layout, plus the few GP 1.1 rules
// OP-TEE keeps for them (noted where they apply); everything else is the 1.3.1 implementation.
#include "ta_runtime/crypto_api.h"

using namespace teemu::ta_runtime::crypto;

namespace {

// Runs `step` with a size_t copy of a 32-bit in/out length and writes the result back (unless
// the step panics). A null length is passed on as null for the step to judge.
template <class F>
Status with_len(uint32_t* len32, F&& step) {
  if (len32 == nullptr) return step(static_cast<size_t*>(nullptr));
  size_t len = *len32;
  Status s = step(&len);
  if (!s.panic) *len32 = static_cast<uint32_t>(len);
  return s;
}

template <class F>
TEE_Result with_params(const __GP11_TEE_Attribute* params, uint32_t count, F&& step) {
  return run_api([&] {
    std::vector<AttrRef> refs;
    if (Status s = read_attrs(params, count, &refs); !s.is_ok()) return s;
    return step(refs);
  });
}

}  // namespace

// --- objects ---

TA_API TEE_Result __GP11_TEE_AllocateTransientObject(TEE_ObjectType objectType, uint32_t maxKeySize,
                                                     TEE_ObjectHandle* object) {
  return run_api([&] { return api::allocate_transient(objectType, maxKeySize, object); });
}

TA_API TEE_Result __GP11_TEE_PopulateTransientObject(TEE_ObjectHandle object,
                                                     const __GP11_TEE_Attribute* attrs,
                                                     uint32_t attrCount) {
  return with_params(attrs, attrCount,
                     [&](const std::vector<AttrRef>& p) { return api::populate(object, p); });
}

TA_API void __GP11_TEE_InitRefAttribute(__GP11_TEE_Attribute* attr, uint32_t attributeID,
                                        const void* buffer, uint32_t length) {
  if (attr == nullptr || (attributeID & TEE_ATTR_FLAG_VALUE) != 0) TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
  attr->attributeID = attributeID;
  attr->content.ref.buffer = const_cast<void*>(buffer);
  attr->content.ref.length = length;
}

TA_API void __GP11_TEE_InitValueAttribute(__GP11_TEE_Attribute* attr, uint32_t attributeID,
                                          uint32_t a, uint32_t b) {
  if (attr == nullptr || (attributeID & TEE_ATTR_FLAG_VALUE) == 0) TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
  attr->attributeID = attributeID;
  attr->content.value.a = a;
  attr->content.value.b = b;
}

TA_API TEE_Result __GP11_TEE_GenerateKey(TEE_ObjectHandle object, uint32_t keySize,
                                         const __GP11_TEE_Attribute* params, uint32_t paramCount) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::generate_key(object, keySize, p);
  });
}

TA_API TEE_Result __GP11_TEE_GetObjectBufferAttribute(TEE_ObjectHandle object, uint32_t attributeID,
                                                      void* buffer, uint32_t* size) {
  return run_api([&] {
    return with_len(size, [&](size_t* l) { return api::get_buffer_attribute(object, attributeID, buffer, l); });
  });
}

// --- generic operation functions ---

// GP 1.1: freeing TEE_HANDLE_NULL is a panic.
TA_API void __GP11_TEE_FreeOperation(TEE_OperationHandle operation) {
  run_api([&] {
    if (operation == TEE_HANDLE_NULL) return Status::fatal();
    return api::free_operation(operation);
  });
}

TA_API TEE_Result __GP11_TEE_GetOperationInfoMultiple(TEE_OperationHandle operation,
                                                      TEE_OperationInfoMultiple* info,
                                                      uint32_t* operationSize) {
  return run_api([&] {
    return with_len(operationSize,
                    [&](size_t* l) { return api::operation_info_multiple(operation, info, l); });
  });
}

// GP 1.1: the key may change whenever the operation is in its initial state.
TA_API TEE_Result __GP11_TEE_SetOperationKey(TEE_OperationHandle operation, TEE_ObjectHandle key) {
  return run_api([&] { return api::set_key(operation, key, true); });
}

// GP 1.1: no TEE_ERROR_SECURITY for the same key twice.
TA_API TEE_Result __GP11_TEE_SetOperationKey2(TEE_OperationHandle operation, TEE_ObjectHandle key1,
                                              TEE_ObjectHandle key2) {
  return run_api([&] { return api::set_key2(operation, key1, key2, true); });
}

// --- digests ---

TA_API void __GP11_TEE_DigestUpdate(TEE_OperationHandle operation, const void* chunk,
                                    uint32_t chunkSize) {
  run_api([&] { return api::digest_update(operation, chunk, chunkSize); });
}

TA_API TEE_Result __GP11_TEE_DigestDoFinal(TEE_OperationHandle operation, const void* chunk,
                                           uint32_t chunkLen, void* hash, uint32_t* hashLen) {
  return run_api([&] {
    return with_len(hashLen, [&](size_t* l) { return api::digest_final(operation, chunk, chunkLen, hash, l); });
  });
}

// --- symmetric ciphers ---

TA_API void __GP11_TEE_CipherInit(TEE_OperationHandle operation, const void* IV, uint32_t IVLen) {
  run_api([&] { return api::cipher_init(operation, IV, IVLen); });
}

TA_API TEE_Result __GP11_TEE_CipherUpdate(TEE_OperationHandle operation, const void* srcData,
                                          uint32_t srcLen, void* destData, uint32_t* destLen) {
  return run_api([&] {
    return with_len(destLen, [&](size_t* l) { return api::cipher_update(operation, srcData, srcLen, destData, l); });
  });
}

TA_API TEE_Result __GP11_TEE_CipherDoFinal(TEE_OperationHandle operation, const void* srcData,
                                           uint32_t srcLen, void* destData, uint32_t* destLen) {
  return run_api([&] {
    return with_len(destLen, [&](size_t* l) { return api::cipher_final(operation, srcData, srcLen, destData, l); });
  });
}

// --- MACs ---

TA_API void __GP11_TEE_MACInit(TEE_OperationHandle operation, const void* IV, uint32_t IVLen) {
  (void)IV;
  (void)IVLen;
  run_api([&] { return api::mac_init(operation); });
}

TA_API void __GP11_TEE_MACUpdate(TEE_OperationHandle operation, const void* chunk,
                                 uint32_t chunkSize) {
  run_api([&] { return api::mac_update(operation, chunk, chunkSize); });
}

TA_API TEE_Result __GP11_TEE_MACComputeFinal(TEE_OperationHandle operation, const void* message,
                                             uint32_t messageLen, void* mac, uint32_t* macLen) {
  return run_api([&] {
    return with_len(macLen, [&](size_t* l) { return api::mac_compute(operation, message, messageLen, mac, l); });
  });
}

TA_API TEE_Result __GP11_TEE_MACCompareFinal(TEE_OperationHandle operation, const void* message,
                                             uint32_t messageLen, const void* mac, uint32_t macLen) {
  return run_api([&] { return api::mac_compare(operation, message, messageLen, mac, macLen); });
}

// --- authenticated encryption ---

TA_API TEE_Result __GP11_TEE_AEInit(TEE_OperationHandle operation, const void* nonce,
                                    uint32_t nonceLen, uint32_t tagLen, uint32_t AADLen,
                                    uint32_t payloadLen) {
  return run_api(
      [&] { return api::ae_init(operation, nonce, nonceLen, tagLen, AADLen, payloadLen); });
}

TA_API void __GP11_TEE_AEUpdateAAD(TEE_OperationHandle operation, const void* AADdata,
                                   uint32_t AADdataLen) {
  run_api([&] { return api::ae_update_aad(operation, AADdata, AADdataLen); });
}

TA_API TEE_Result __GP11_TEE_AEUpdate(TEE_OperationHandle operation, const void* srcData,
                                      uint32_t srcLen, void* destData, uint32_t* destLen) {
  return run_api([&] {
    return with_len(destLen, [&](size_t* l) { return api::ae_update(operation, srcData, srcLen, destData, l); });
  });
}

TA_API TEE_Result __GP11_TEE_AEEncryptFinal(TEE_OperationHandle operation, const void* srcData,
                                            uint32_t srcLen, void* destData, uint32_t* destLen,
                                            void* tag, uint32_t* tagLen) {
  return run_api([&] {
    return with_len(destLen, [&](size_t* dl) {
      return with_len(tagLen, [&](size_t* tl) {
        return api::ae_encrypt_final(operation, srcData, srcLen, destData, dl, tag, tl);
      });
    });
  });
}

TA_API TEE_Result __GP11_TEE_AEDecryptFinal(TEE_OperationHandle operation, const void* srcData,
                                            uint32_t srcLen, void* destData, uint32_t* destLen,
                                            void* tag, uint32_t tagLen) {
  return run_api([&] {
    return with_len(destLen, [&](size_t* l) {
      return api::ae_decrypt_final(operation, srcData, srcLen, destData, l, tag, tagLen);
    });
  });
}

// --- asymmetric operations and derivation ---

// GP 1.1 has no TEE_ERROR_CIPHERTEXT_INVALID: an undecryptable input is TEE_ERROR_BAD_PARAMETERS.
static Status gp11_result(Status s) {
  if (!s.panic && s.code == TEE_ERROR_CIPHERTEXT_INVALID) s.code = TEE_ERROR_BAD_PARAMETERS;
  return s;
}

TA_API TEE_Result __GP11_TEE_AsymmetricEncrypt(TEE_OperationHandle operation,
                                               const __GP11_TEE_Attribute* params,
                                               uint32_t paramCount, const void* srcData,
                                               uint32_t srcLen, void* destData, uint32_t* destLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return with_len(destLen, [&](size_t* l) {
      return api::asymmetric_encrypt(operation, p, srcData, srcLen, destData, l);
    });
  });
}

TA_API TEE_Result __GP11_TEE_AsymmetricDecrypt(TEE_OperationHandle operation,
                                               const __GP11_TEE_Attribute* params,
                                               uint32_t paramCount, const void* srcData,
                                               uint32_t srcLen, void* destData, uint32_t* destLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return gp11_result(with_len(destLen, [&](size_t* l) {
      return api::asymmetric_decrypt(operation, p, srcData, srcLen, destData, l);
    }));
  });
}

TA_API TEE_Result __GP11_TEE_AsymmetricSignDigest(TEE_OperationHandle operation,
                                                  const __GP11_TEE_Attribute* params,
                                                  uint32_t paramCount, const void* digest,
                                                  uint32_t digestLen, void* signature,
                                                  uint32_t* signatureLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return with_len(signatureLen, [&](size_t* l) {
      return api::sign_digest(operation, p, digest, digestLen, signature, l);
    });
  });
}

TA_API TEE_Result __GP11_TEE_AsymmetricVerifyDigest(TEE_OperationHandle operation,
                                                    const __GP11_TEE_Attribute* params,
                                                    uint32_t paramCount, const void* digest,
                                                    uint32_t digestLen, const void* signature,
                                                    uint32_t signatureLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::verify_digest(operation, p, digest, digestLen, signature, signatureLen);
  });
}

TA_API void __GP11_TEE_DeriveKey(TEE_OperationHandle operation, const __GP11_TEE_Attribute* params,
                                 uint32_t paramCount, TEE_ObjectHandle derivedKey) {
  with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::derive_key(operation, p, derivedKey);
  });
}

// --- random ---

TA_API void __GP11_TEE_GenerateRandom(void* randomBuffer, uint32_t randomBufferLen) {
  TEE_GenerateRandom(randomBuffer, randomBufferLen);
}
