// GP TEE Internal Core API 1.3.1: generic operation functions, message digests, symmetric
// ciphers, MACs and authenticated encryption (sections 6.2 to 6.5). The state machine (handle
// state flags, operation state) and the panic rules follow the spec and OP-TEE's libutee; every
// check happens before an engine is touched, so a rejected call leaves the operation unchanged.
#include <cstring>

#include "ta_runtime/crypto_api.h"

namespace teemu::ta_runtime::crypto {
namespace {

constexpr uint32_t kInitialized = TEE_HANDLE_FLAG_INITIALIZED;

// The operation behind `h` if it is of class `cls`; otherwise a panic.
Status operation_of(TEE_OperationHandle h, uint32_t cls, Operation** out) {
  Operation* op = find_operation(h);
  if (op == nullptr || op->op_class != cls) return Status::fatal();
  *out = op;
  return Status::ok();
}

// The operation of class `cls` started by its Init function and in the given state.
Status started(TEE_OperationHandle h, uint32_t cls, uint32_t state, Operation** out) {
  if (Status s = operation_of(h, cls, out); !s.is_ok()) return s;
  if (((*out)->handle_state & kInitialized) == 0 || (*out)->state != state) return Status::fatal();
  return Status::ok();
}

// Ends a multi-stage computation: the operation goes back to its initial state.
void finished(Operation* op) {
  op->handle_state &= ~kInitialized;
  op->state = kStateInitial;
}

// Copies `key` into the operation's key object `slot`, checking what GP requires of it.
Status take_key(Operation* op, CryptoObject* slot, TEE_ObjectHandle key) {
  CryptoObject* k = find_object(key);
  if (k == nullptr || !k->initialized()) return Status::fatal();
  if ((k->usage() & op->required_usage) != op->required_usage) return Status::fatal();
  slot->reset();
  return slot->copy_from(*k);  // fatal for a key type the algorithm cannot use, or too big
}

}  // namespace

namespace api {

Status free_operation(TEE_OperationHandle h) {
  if (h == TEE_HANDLE_NULL) return Status::ok();
  Operation* op = find_operation(h);
  if (op == nullptr) return Status::fatal();
  instance().remove(op);
  return Status::ok();
}

Status operation_info_multiple(TEE_OperationHandle h, TEE_OperationInfoMultiple* info,
                               size_t* size) {
  Operation* op = find_operation(h);
  if (op == nullptr || size == nullptr || info == nullptr ||
      *size < sizeof(TEE_OperationInfoMultiple))
    return Status::fatal();
  size_t keys = op->op_class == TEE_OPERATION_DIGEST ? 0 : op->two_keys() ? 2 : 1;
  size_t need = sizeof(TEE_OperationInfoMultiple) + keys * sizeof(TEE_OperationInfoKey);
  if (*size < need) {
    *size = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  std::memset(info, 0, need);
  info->algorithm = op->algorithm;
  info->operationClass = op->op_class;
  info->mode = op->mode;
  info->digestLength = op->digest_length;
  info->maxKeySize = op->max_key_size;
  info->handleState = op->handle_state;
  info->operationState = op->state;
  info->numberOfKeys = static_cast<uint32_t>(keys);
  const CryptoObject* k[2] = {op->key1.get(), op->key2.get()};
  for (size_t i = 0; i < keys; ++i) {
    info->keyInformation[i].keySize = k[i] != nullptr ? k[i]->object_size() : 0;
    info->keyInformation[i].requiredKeyUsage = op->required_usage;
  }
  return Status::ok();
}

Status set_key(TEE_OperationHandle h, TEE_ObjectHandle key, bool gp11) {
  Operation* op = find_operation(h);
  if (op == nullptr) return Status::fatal();
  // GP 1.3.1: only before the operation is initialized; GP 1.1: only in the initial state.
  if (gp11 ? op->state != kStateInitial : (op->handle_state & kInitialized) != 0)
    return Status::fatal();
  if (op->op_class == TEE_OPERATION_DIGEST) return Status::fatal();
  if (key == TEE_HANDLE_NULL) {
    op->key1->reset();
    op->handle_state &= ~TEE_HANDLE_FLAG_KEY_SET;
    op->key_size = 0;
    if (op->state != kStateInitial) op->reset_state();
    return Status::ok();
  }
  if (op->two_keys()) return Status::fatal();
  op->handle_state &= ~TEE_HANDLE_FLAG_KEY_SET;
  if (Status s = take_key(op, op->key1.get(), key); !s.is_ok()) return s;
  op->handle_state |= TEE_HANDLE_FLAG_KEY_SET;
  op->key_size = op->key1->object_size();
  if (op->state != kStateInitial) op->reset_state();
  return Status::ok();
}

Status set_key2(TEE_OperationHandle h, TEE_ObjectHandle key1, TEE_ObjectHandle key2, bool gp11) {
  // GP 1.3.1: the same key twice defeats XTS (OP-TEE's check).
  if (!gp11 && h != TEE_HANDLE_NULL && key1 != TEE_HANDLE_NULL && key1 == key2)
    return Status::error(TEE_ERROR_SECURITY);
  Operation* op = find_operation(h);
  if (op == nullptr || op->state != kStateInitial) return Status::fatal();
  if (key1 == TEE_HANDLE_NULL && key2 == TEE_HANDLE_NULL) {
    if (op->key1) op->key1->reset();
    if (op->key2) op->key2->reset();
    op->handle_state &= ~TEE_HANDLE_FLAG_KEY_SET;
    op->key_size = 0;
    return Status::ok();
  }
  if (key1 == TEE_HANDLE_NULL || key2 == TEE_HANDLE_NULL || !op->two_keys()) return Status::fatal();
  CryptoObject* k1 = find_object(key1);
  CryptoObject* k2 = find_object(key2);
  if (k1 == nullptr || k2 == nullptr || k1->object_size() != k2->object_size())
    return Status::fatal();
  op->handle_state &= ~TEE_HANDLE_FLAG_KEY_SET;
  if (Status s = take_key(op, op->key1.get(), key1); !s.is_ok()) return s;
  if (Status s = take_key(op, op->key2.get(), key2); !s.is_ok()) return s;
  op->handle_state |= TEE_HANDLE_FLAG_KEY_SET;
  op->key_size = op->key1->object_size();
  return Status::ok();
}

// --- digests ---

Status digest_update(TEE_OperationHandle h, const void* chunk, size_t n) {
  Operation* op = nullptr;
  if (Status s = operation_of(h, TEE_OPERATION_DIGEST, &op); !s.is_ok()) return s;
  if ((chunk == nullptr && n != 0) || op->state == kStateExtracting) return Status::fatal();
  op->state = kStateActive;
  op->digest->update(chunk, n);
  return Status::ok();
}

Status digest_final(TEE_OperationHandle h, const void* chunk, size_t n, void* hash, size_t* len) {
  Operation* op = nullptr;
  if (Status s = operation_of(h, TEE_OPERATION_DIGEST, &op); !s.is_ok()) return s;
  if ((chunk == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (op->state == kStateExtracting) {
    // What TEE_DigestExtract has not handed out yet (OP-TEE); no more input is allowed.
    if (n != 0 || (hash == nullptr && *len != 0)) return Status::fatal();
    *len = op->digest->extract(static_cast<uint8_t*>(hash), *len);
    op->reset_state();
    return Status::ok();
  }
  size_t need = op->digest->size();
  if (*len < need) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (hash == nullptr) return Status::fatal();
  op->digest->update(chunk, n);
  op->digest->finish(static_cast<uint8_t*>(hash));
  *len = need;
  op->state = kStateInitial;
  return Status::ok();
}

// --- symmetric ciphers ---

Status cipher_init(TEE_OperationHandle h, const void* iv, size_t iv_len) {
  Operation* op = nullptr;
  if (Status s = operation_of(h, TEE_OPERATION_CIPHER, &op); !s.is_ok()) return s;
  if (!op->key_set()) return Status::fatal();
  if (op->state != kStateInitial) op->reset_state();
  std::span<const uint8_t> k2 = op->key2 ? secret_of(*op->key2) : std::span<const uint8_t>();
  if (Status s = op->cipher->start(secret_of(*op->key1), k2, static_cast<const uint8_t*>(iv), iv_len);
      !s.is_ok())
    return s;
  op->state = kStateActive;
  op->handle_state |= kInitialized;
  return Status::ok();
}

Status cipher_update(TEE_OperationHandle h, const void* src, size_t n, void* dst, size_t* len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = started(h, TEE_OPERATION_CIPHER, kStateActive, &op); !s.is_ok()) return s;
  size_t need = op->cipher->update_size(n);
  if (*len < need) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr && need != 0) return Status::fatal();
  InputView in(src, n, dst, *len);
  op->cipher->update(in.data(), n, static_cast<uint8_t*>(dst));
  *len = need;
  return Status::ok();
}

Status cipher_final(TEE_OperationHandle h, const void* src, size_t n, void* dst, size_t* len) {
  Operation* op = nullptr;
  if (src == nullptr && n != 0) return Status::fatal();
  if (Status s = started(h, TEE_OPERATION_CIPHER, kStateActive, &op); !s.is_ok()) return s;
  // The message must end on what the mode can finish (whole blocks without padding): a panic.
  if (!op->cipher->can_finish(n)) return Status::fatal();
  size_t need = op->cipher->finish_size(n);
  size_t avail = len != nullptr ? *len : 0;
  if (avail < need) {
    if (len != nullptr) *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr && need != 0) return Status::fatal();
  InputView in(src, n, dst, avail);
  op->cipher->finish(in.data(), n, static_cast<uint8_t*>(dst));
  if (len != nullptr) *len = need;
  finished(op);
  return Status::ok();
}

// --- MACs ---

Status mac_init(TEE_OperationHandle h) {
  Operation* op = nullptr;
  if (Status s = operation_of(h, TEE_OPERATION_MAC, &op); !s.is_ok()) return s;
  if (!op->key_set()) return Status::fatal();
  if (op->state != kStateInitial) op->reset_state();
  // The IV of TEE_MACInit is for CBC-MAC modes; HMAC and CMAC ignore it.
  if (!op->mac->start(secret_of(*op->key1))) return Status::fatal();
  op->state = kStateActive;
  op->handle_state |= kInitialized;
  return Status::ok();
}

Status mac_update(TEE_OperationHandle h, const void* chunk, size_t n) {
  Operation* op = nullptr;
  if (chunk == nullptr && n != 0) return Status::fatal();
  if (Status s = started(h, TEE_OPERATION_MAC, kStateActive, &op); !s.is_ok()) return s;
  op->mac->update(chunk, n);
  return Status::ok();
}

Status mac_compute(TEE_OperationHandle h, const void* msg, size_t n, void* mac, size_t* len) {
  Operation* op = nullptr;
  if ((msg == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = started(h, TEE_OPERATION_MAC, kStateActive, &op); !s.is_ok()) return s;
  size_t need = op->mac->size();
  // CBC-MAC without padding over a partial block cannot end: OP-TEE's final call fails, a panic.
  if (!op->mac->can_finish(n)) return Status::fatal();
  if (*len < need) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (mac == nullptr) return Status::fatal();
  op->mac->update(msg, n);
  op->mac->finish(static_cast<uint8_t*>(mac));
  *len = need;
  finished(op);
  return Status::ok();
}

Status mac_compare(TEE_OperationHandle h, const void* msg, size_t n, const void* mac, size_t len) {
  Operation* op = nullptr;
  if ((msg == nullptr && n != 0) || (mac == nullptr && len != 0)) return Status::fatal();
  if (Status s = started(h, TEE_OPERATION_MAC, kStateActive, &op); !s.is_ok()) return s;
  uint8_t computed[64];
  size_t size = op->mac->size();
  if (!op->mac->can_finish(n)) return Status::fatal();
  op->mac->update(msg, n);
  op->mac->finish(computed);
  finished(op);
  bool match = len == size && equal_ct(computed, static_cast<const uint8_t*>(mac), size);
  OPENSSL_cleanse(computed, sizeof(computed));
  return match ? Status::ok() : Status::error(TEE_ERROR_MAC_INVALID);
}

// --- authenticated encryption ---

Status ae_init(TEE_OperationHandle h, const void* nonce, size_t nonce_len, uint32_t tag_bits,
               uint64_t aad_len, uint64_t payload_len) {
  Operation* op = nullptr;
  if (nonce == nullptr) return Status::fatal();
  if (Status s = operation_of(h, TEE_OPERATION_AE, &op); !s.is_ok()) return s;
  if (op->state != kStateInitial || !op->key_set()) return Status::fatal();
  if (Status s = op->ae->start(secret_of(*op->key1), static_cast<const uint8_t*>(nonce), nonce_len,
                               tag_bits, aad_len, payload_len);
      !s.is_ok())
    return s;
  op->digest_length = static_cast<uint32_t>(op->ae->tag_size());
  op->handle_state |= kInitialized;
  return Status::ok();
}

Status ae_update_aad(TEE_OperationHandle h, const void* aad, size_t n) {
  Operation* op = nullptr;
  if (aad == nullptr && n != 0) return Status::fatal();
  // AAD only before the payload: the operation must still be in its initial state.
  if (Status s = started(h, TEE_OPERATION_AE, kStateInitial, &op); !s.is_ok()) return s;
  return op->ae->update_aad(static_cast<const uint8_t*>(aad), n);
}

Status ae_update(TEE_OperationHandle h, const void* src, size_t n, void* dst, size_t* len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = operation_of(h, TEE_OPERATION_AE, &op); !s.is_ok()) return s;
  if ((op->handle_state & kInitialized) == 0) return Status::fatal();
  if (*len < n) {
    *len = n;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr && n != 0) return Status::fatal();
  InputView in(src, n, dst, *len);
  if (Status s = op->ae->update(in.data(), n, static_cast<uint8_t*>(dst)); !s.is_ok()) return s;
  *len = n;
  if (n != 0) op->state = kStateActive;
  return Status::ok();
}

Status ae_encrypt_final(TEE_OperationHandle h, const void* src, size_t n, void* dst, size_t* len,
                        void* tag, size_t* tag_len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr || tag_len == nullptr) return Status::fatal();
  if (Status s = operation_of(h, TEE_OPERATION_AE, &op); !s.is_ok()) return s;
  if ((op->handle_state & kInitialized) == 0 || op->mode != TEE_MODE_ENCRYPT) return Status::fatal();
  size_t tsize = op->ae->tag_size();
  bool short_buffer = false;
  if (*len < n) {
    *len = n;
    short_buffer = true;
  }
  if (*tag_len < tsize) {
    *tag_len = tsize;
    short_buffer = true;
  }
  if (short_buffer) return Status::error(TEE_ERROR_SHORT_BUFFER);
  if ((dst == nullptr && n != 0) || tag == nullptr) return Status::fatal();
  InputView in(src, n, dst, *len);
  if (Status s = op->ae->finish_encrypt(in.data(), n, static_cast<uint8_t*>(dst),
                                        static_cast<uint8_t*>(tag));
      !s.is_ok())
    return s;
  *len = n;
  *tag_len = tsize;
  finished(op);
  return Status::ok();
}

Status ae_decrypt_final(TEE_OperationHandle h, const void* src, size_t n, void* dst, size_t* len,
                        const void* tag, size_t tag_len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr || (tag == nullptr && tag_len != 0))
    return Status::fatal();
  if (Status s = operation_of(h, TEE_OPERATION_AE, &op); !s.is_ok()) return s;
  if ((op->handle_state & kInitialized) == 0 || op->mode != TEE_MODE_DECRYPT) return Status::fatal();
  if (*len < n) {
    *len = n;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr && n != 0) return Status::fatal();
  InputView in(src, n, dst, *len);
  Status s = op->ae->finish_decrypt(in.data(), n, static_cast<uint8_t*>(dst),
                                    static_cast<const uint8_t*>(tag), tag_len);
  if (s.panic) return s;
  *len = s.is_ok() ? n : 0;
  finished(op);
  return s;
}

}  // namespace api
}  // namespace teemu::ta_runtime::crypto

using namespace teemu::ta_runtime::crypto;

// --- generic operation functions ---

TA_API TEE_Result TEE_AllocateOperation(TEE_OperationHandle* operation, uint32_t algorithm,
                                        uint32_t mode, uint32_t maxKeySize) {
  return run_api([&] {
    if (operation == nullptr) return Status::fatal();
    *operation = TEE_HANDLE_NULL;
    std::unique_ptr<Operation> op;
    try {
      if (Status s = Operation::create(algorithm, mode, maxKeySize, &op); !s.is_ok()) return s;
    } catch (const std::bad_alloc&) {
      return Status::error(TEE_ERROR_OUT_OF_MEMORY);
    }
    *operation = reinterpret_cast<TEE_OperationHandle>(instance().add(std::move(op)));
    return Status::ok();
  });
}

TA_API void TEE_FreeOperation(TEE_OperationHandle operation) {
  run_api([&] { return api::free_operation(operation); });
}

TA_API void TEE_GetOperationInfo(TEE_OperationHandle operation, TEE_OperationInfo* info) {
  run_api([&] {
    Operation* op = find_operation(operation);
    if (op == nullptr || info == nullptr) return Status::fatal();
    info->algorithm = op->algorithm;
    info->operationClass = op->op_class;
    info->mode = op->mode;
    info->digestLength = op->digest_length;
    info->maxKeySize = op->max_key_size;
    info->keySize = op->key_size;
    info->requiredKeyUsage = op->required_usage;
    info->handleState = op->handle_state;
    if (op->two_keys()) {  // one key size cannot describe two keys (OP-TEE reports none)
      info->keySize = 0;
      info->requiredKeyUsage = 0;
    }
    return Status::ok();
  });
}

TA_API TEE_Result TEE_GetOperationInfoMultiple(TEE_OperationHandle operation,
                                               TEE_OperationInfoMultiple* info, size_t* size) {
  return run_api([&] { return api::operation_info_multiple(operation, info, size); });
}

TA_API void TEE_ResetOperation(TEE_OperationHandle operation) {
  run_api([&] {
    Operation* op = find_operation(operation);
    if (op == nullptr || !op->key_set()) return Status::fatal();
    op->reset_state();
    return Status::ok();
  });
}

TA_API TEE_Result TEE_SetOperationKey(TEE_OperationHandle operation, TEE_ObjectHandle key) {
  return run_api([&] { return api::set_key(operation, key, false); });
}

TA_API TEE_Result TEE_SetOperationKey2(TEE_OperationHandle operation, TEE_ObjectHandle key1,
                                       TEE_ObjectHandle key2) {
  return run_api([&] { return api::set_key2(operation, key1, key2, false); });
}

TA_API void TEE_CopyOperation(TEE_OperationHandle dstOperation, TEE_OperationHandle srcOperation) {
  run_api([&] {
    Operation* dst = find_operation(dstOperation);
    Operation* src = find_operation(srcOperation);
    if (dst == nullptr || src == nullptr || dst->algorithm != src->algorithm ||
        dst->mode != src->mode)
      return Status::fatal();
    if (dst == src) return Status::ok();
    // The source key must fit the destination's maximum key size.
    if (src->key_set() && dst->key1 && src->key1->object_size() > dst->key1->max_object_size())
      return Status::fatal();
    dst->copy_from(*src);
    return Status::ok();
  });
}

TA_API TEE_Result TEE_IsAlgorithmSupported(uint32_t algId, uint32_t element) {
  const AlgorithmInfo* a = find_algorithm(algId);
  if (a == nullptr) return TEE_ERROR_NOT_SUPPORTED;
  switch (a->family) {
    case Family::kEcdsa:
    case Family::kEcdh: {
      uint32_t bits = ecc_curve_bits(element);
      if (bits == 0 || (a->fixed_bits != 0 && bits != a->fixed_bits)) return TEE_ERROR_NOT_SUPPORTED;
      return TEE_SUCCESS;
    }
    case Family::kEd25519:
    case Family::kX25519:
      return element == TEE_ECC_CURVE_25519 ? TEE_SUCCESS : TEE_ERROR_NOT_SUPPORTED;
    default: return element == TEE_CRYPTO_ELEMENT_NONE ? TEE_SUCCESS : TEE_ERROR_NOT_SUPPORTED;
  }
}

// --- message digests ---

TA_API void TEE_DigestUpdate(TEE_OperationHandle operation, const void* chunk, size_t chunkSize) {
  run_api([&] { return api::digest_update(operation, chunk, chunkSize); });
}

TA_API TEE_Result TEE_DigestDoFinal(TEE_OperationHandle operation, const void* chunk,
                                    size_t chunkLen, void* hash, size_t* hashLen) {
  return run_api([&] { return api::digest_final(operation, chunk, chunkLen, hash, hashLen); });
}

TA_API TEE_Result TEE_DigestExtract(TEE_OperationHandle operation, void* hash, size_t* hashLen) {
  return run_api([&] {
    Operation* op = find_operation(operation);
    if (op == nullptr || op->op_class != TEE_OPERATION_DIGEST || hashLen == nullptr ||
        (hash == nullptr && *hashLen != 0))
      return Status::fatal();
    *hashLen = op->digest->extract(static_cast<uint8_t*>(hash), *hashLen);
    op->state = kStateExtracting;
    op->handle_state |= TEE_HANDLE_FLAG_EXTRACTING;
    return Status::ok();
  });
}

// --- symmetric ciphers ---

TA_API void TEE_CipherInit(TEE_OperationHandle operation, const void* IV, size_t IVLen) {
  run_api([&] { return api::cipher_init(operation, IV, IVLen); });
}

TA_API TEE_Result TEE_CipherUpdate(TEE_OperationHandle operation, const void* srcData,
                                   size_t srcLen, void* destData, size_t* destLen) {
  return run_api([&] { return api::cipher_update(operation, srcData, srcLen, destData, destLen); });
}

TA_API TEE_Result TEE_CipherDoFinal(TEE_OperationHandle operation, const void* srcData,
                                    size_t srcLen, void* destData, size_t* destLen) {
  return run_api([&] { return api::cipher_final(operation, srcData, srcLen, destData, destLen); });
}

// --- MACs ---

TA_API void TEE_MACInit(TEE_OperationHandle operation, const void* IV, size_t IVLen) {
  (void)IV;
  (void)IVLen;
  run_api([&] { return api::mac_init(operation); });
}

TA_API void TEE_MACUpdate(TEE_OperationHandle operation, const void* chunk, size_t chunkSize) {
  run_api([&] { return api::mac_update(operation, chunk, chunkSize); });
}

TA_API TEE_Result TEE_MACComputeFinal(TEE_OperationHandle operation, const void* message,
                                      size_t messageLen, void* mac, size_t* macLen) {
  return run_api([&] { return api::mac_compute(operation, message, messageLen, mac, macLen); });
}

TA_API TEE_Result TEE_MACCompareFinal(TEE_OperationHandle operation, const void* message,
                                      size_t messageLen, const void* mac, size_t macLen) {
  return run_api([&] { return api::mac_compare(operation, message, messageLen, mac, macLen); });
}

// --- authenticated encryption ---

TA_API TEE_Result TEE_AEInit(TEE_OperationHandle operation, const void* nonce, size_t nonceLen,
                             uint32_t tagLen, size_t AADLen, size_t payloadLen) {
  return run_api(
      [&] { return api::ae_init(operation, nonce, nonceLen, tagLen, AADLen, payloadLen); });
}

TA_API void TEE_AEUpdateAAD(TEE_OperationHandle operation, const void* AADdata, size_t AADdataLen) {
  run_api([&] { return api::ae_update_aad(operation, AADdata, AADdataLen); });
}

TA_API TEE_Result TEE_AEUpdate(TEE_OperationHandle operation, const void* srcData, size_t srcLen,
                               void* destData, size_t* destLen) {
  return run_api([&] { return api::ae_update(operation, srcData, srcLen, destData, destLen); });
}

TA_API TEE_Result TEE_AEEncryptFinal(TEE_OperationHandle operation, const void* srcData,
                                     size_t srcLen, void* destData, size_t* destLen, void* tag,
                                     size_t* tagLen) {
  return run_api([&] {
    return api::ae_encrypt_final(operation, srcData, srcLen, destData, destLen, tag, tagLen);
  });
}

TA_API TEE_Result TEE_AEDecryptFinal(TEE_OperationHandle operation, const void* srcData,
                                     size_t srcLen, void* destData, size_t* destLen, void* tag,
                                     size_t tagLen) {
  return run_api([&] {
    return api::ae_decrypt_final(operation, srcData, srcLen, destData, destLen, tag, tagLen);
  });
}
