// A TEE_OperationHandle: one cryptographic operation of a TA (GP TEE Internal Core API 1.3.1,
// chapter 6) with its algorithm, mode, key(s) and the state of a multi-stage computation.
// Operations live in the instance's handle table like objects and die with the instance.
#pragma once

#include <cstdint>
#include <memory>

#include "ta_runtime/crypto_engines.h"
#include "ta_runtime/crypto_object.h"
#include "ta_runtime/instance_state.h"

namespace teemu::ta_runtime::crypto {

enum class Family {
  kDigest,
  kHmac,
  kCmac,
  kCbcMac,  // AES- or 3DES-CBC-MAC, without padding or with PKCS#5 padding
  kCipher,  // AES ECB/CBC/CTR/XTS/CTS, 3DES ECB/CBC
  kAe,      // AES GCM/CCM
  kRsaesPkcs1,
  kRsaesOaep,
  kRsaNopad,  // raw RSA (TEE_ALG_RSA_NOPAD)
  kRsassaPkcs1,
  kRsassaPss,
  kEcdsa,
  kEd25519,
  kEcdh,
  kX25519,
  kDh,    // finite-field Diffie-Hellman (TEE_ALG_DH_DERIVE_SHARED_SECRET)
  kHkdf,  // RFC 5869 HKDF (TEE_ALG_HKDF), hash chosen by a TEE_DeriveKey parameter
};

// What teemu knows about one supported algorithm identifier.
struct AlgorithmInfo {
  uint32_t id;
  Family family;
  Hash hash;              // digest, HMAC, RSA padding hash; kNone otherwise
  CipherMode cipher;      // kCipher
  AeMode ae;              // kAe
  uint32_t fixed_bits;    // the one maxKeySize the algorithm takes (curve-bound ids); 0: any
};

// The algorithm, or null if teemu does not implement it.
const AlgorithmInfo* find_algorithm(uint32_t id);

// GP operation states (tee_api_defines.h).
inline constexpr uint32_t kStateInitial = 0;
inline constexpr uint32_t kStateActive = 1;
inline constexpr uint32_t kStateExtracting = 2;

class Operation : public RuntimeObject {
 public:
  // TEE_AllocateOperation's checks: kErrorNotSupported for an unknown algorithm, a mode the
  // algorithm does not have, or a maxKeySize its key type does not allow.
  static Status create(uint32_t algorithm, uint32_t mode, uint32_t max_key_size,
                       std::unique_ptr<Operation>* out);

  // Restarts the multi-stage state (TEE_ResetOperation), keeping the key.
  void reset_state();
  // Makes this operation a copy of `src` (same algorithm and mode), key and state included.
  void copy_from(const Operation& src);

  const AlgorithmInfo* alg = nullptr;
  uint32_t algorithm = 0;
  uint32_t op_class = 0;
  uint32_t mode = 0;
  uint32_t max_key_size = 0;
  uint32_t digest_length = 0;
  uint32_t key_size = 0;
  uint32_t required_usage = 0;
  uint32_t handle_state = 0;
  uint32_t state = kStateInitial;

  // The key(s): private copies made by TEE_SetOperationKey(2); the TA never gets their handles.
  std::unique_ptr<CryptoObject> key1, key2;

  // The engine of the operation's class (at most one is set).
  std::unique_ptr<DigestEngine> digest;
  std::unique_ptr<MacEngine> mac;
  std::unique_ptr<CipherEngine> cipher;
  std::unique_ptr<AeEngine> ae;

  bool two_keys() const;
  bool key_set() const;
};

}  // namespace teemu::ta_runtime::crypto
