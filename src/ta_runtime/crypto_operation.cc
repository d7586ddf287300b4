#include "ta_runtime/crypto_operation.h"

#include <iterator>

#include "base/assert.h"

// Last: the dev kit's GP constants are macros.
#include <tee_api_defines.h>

namespace teemu::ta_runtime::crypto {

static_assert(kStateInitial == TEE_OPERATION_STATE_INITIAL);
static_assert(kStateActive == TEE_OPERATION_STATE_ACTIVE);
static_assert(kStateExtracting == TEE_OPERATION_STATE_EXTRACTING);

namespace {

using enum Family;
using CM = CipherMode;

constexpr AlgorithmInfo kAlgorithms[] = {
    {TEE_ALG_MD5, kDigest, Hash::kMd5, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA1, kDigest, Hash::kSha1, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA224, kDigest, Hash::kSha224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA256, kDigest, Hash::kSha256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA384, kDigest, Hash::kSha384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA512, kDigest, Hash::kSha512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA3_224, kDigest, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA3_256, kDigest, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA3_384, kDigest, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_SHA3_512, kDigest, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_MD5, kHmac, Hash::kMd5, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA1, kHmac, Hash::kSha1, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA224, kHmac, Hash::kSha224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA256, kHmac, Hash::kSha256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA384, kHmac, Hash::kSha384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA512, kHmac, Hash::kSha512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA3_224, kHmac, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA3_256, kHmac, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA3_384, kHmac, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HMAC_SHA3_512, kHmac, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_AES_CMAC, kCmac, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_AES_CBC_MAC_NOPAD, kCbcMac, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_AES_CBC_MAC_PKCS5, kCbcMac, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_DES3_CBC_MAC_NOPAD, kCbcMac, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_DES3_CBC_MAC_PKCS5, kCbcMac, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_AES_ECB_NOPAD, kCipher, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_AES_CBC_NOPAD, kCipher, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_AES_CTR, kCipher, Hash::kNone, CM::kCtr, AeMode::kGcm, 0},
    {TEE_ALG_AES_XTS, kCipher, Hash::kNone, CM::kXts, AeMode::kGcm, 0},
    {TEE_ALG_AES_CTS, kCipher, Hash::kNone, CM::kCts, AeMode::kGcm, 0},
    {TEE_ALG_DES3_ECB_NOPAD, kCipher, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_DES3_CBC_NOPAD, kCipher, Hash::kNone, CM::kCbc, AeMode::kGcm, 0},
    {TEE_ALG_AES_GCM, kAe, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_AES_CCM, kAe, Hash::kNone, CM::kEcb, AeMode::kCcm, 0},
    {TEE_ALG_RSAES_PKCS1_V1_5, kRsaesPkcs1, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA1, kRsaesOaep, Hash::kSha1, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA224, kRsaesOaep, Hash::kSha224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256, kRsaesOaep, Hash::kSha256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA384, kRsaesOaep, Hash::kSha384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA512, kRsaesOaep, Hash::kSha512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA3_224, kRsaesOaep, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA3_256, kRsaesOaep, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA3_384, kRsaesOaep, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA3_512, kRsaesOaep, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSA_NOPAD, kRsaNopad, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_MD5, kRsassaPkcs1, Hash::kMd5, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA1, kRsassaPkcs1, Hash::kSha1, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA224, kRsassaPkcs1, Hash::kSha224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA256, kRsassaPkcs1, Hash::kSha256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA384, kRsassaPkcs1, Hash::kSha384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA512, kRsassaPkcs1, Hash::kSha512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_224, kRsassaPkcs1, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_256, kRsassaPkcs1, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_384, kRsassaPkcs1, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_512, kRsassaPkcs1, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1, kRsassaPss, Hash::kSha1, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA224, kRsassaPss, Hash::kSha224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256, kRsassaPss, Hash::kSha256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA384, kRsassaPss, Hash::kSha384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA512, kRsassaPss, Hash::kSha512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_224, kRsassaPss, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_256, kRsassaPss, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_384, kRsassaPss, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_512, kRsassaPss, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    // The ECDSA identifiers were once per curve; OP-TEE still binds them to one key size.
    {TEE_ALG_ECDSA_SHA1, kEcdsa, Hash::kSha1, CM::kEcb, AeMode::kGcm, 192},
    {TEE_ALG_ECDSA_SHA224, kEcdsa, Hash::kSha224, CM::kEcb, AeMode::kGcm, 224},
    {TEE_ALG_ECDSA_SHA256, kEcdsa, Hash::kSha256, CM::kEcb, AeMode::kGcm, 256},
    {TEE_ALG_ECDSA_SHA384, kEcdsa, Hash::kSha384, CM::kEcb, AeMode::kGcm, 384},
    {TEE_ALG_ECDSA_SHA512, kEcdsa, Hash::kSha512, CM::kEcb, AeMode::kGcm, 521},
    {__OPTEE_ALG_ECDSA_P192, kEcdsa, Hash::kNone, CM::kEcb, AeMode::kGcm, 192},
    {__OPTEE_ALG_ECDSA_P224, kEcdsa, Hash::kNone, CM::kEcb, AeMode::kGcm, 224},
    {__OPTEE_ALG_ECDSA_P256, kEcdsa, Hash::kNone, CM::kEcb, AeMode::kGcm, 256},
    {__OPTEE_ALG_ECDSA_P384, kEcdsa, Hash::kNone, CM::kEcb, AeMode::kGcm, 384},
    {__OPTEE_ALG_ECDSA_P521, kEcdsa, Hash::kNone, CM::kEcb, AeMode::kGcm, 521},
    // The SHA3 identifiers are GP 1.3.1's own and take any curve.
    {TEE_ALG_ECDSA_SHA3_224, kEcdsa, Hash::kSha3_224, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_ECDSA_SHA3_256, kEcdsa, Hash::kSha3_256, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_ECDSA_SHA3_384, kEcdsa, Hash::kSha3_384, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_ECDSA_SHA3_512, kEcdsa, Hash::kSha3_512, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_ECDH_DERIVE_SHARED_SECRET, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {__OPTEE_ALG_ECDH_P192, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 192},
    {__OPTEE_ALG_ECDH_P224, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 224},
    {__OPTEE_ALG_ECDH_P256, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 256},
    {__OPTEE_ALG_ECDH_P384, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 384},
    {__OPTEE_ALG_ECDH_P521, kEcdh, Hash::kNone, CM::kEcb, AeMode::kGcm, 521},
    {TEE_ALG_ED25519, kEd25519, Hash::kNone, CM::kEcb, AeMode::kGcm, 256},
    {TEE_ALG_X25519, kX25519, Hash::kNone, CM::kEcb, AeMode::kGcm, 256},
    {TEE_ALG_DH_DERIVE_SHARED_SECRET, kDh, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
    {TEE_ALG_HKDF, kHkdf, Hash::kNone, CM::kEcb, AeMode::kGcm, 0},
};

bool mode_allowed(Family f, uint32_t mode) {
  switch (f) {
    case kDigest: return mode == TEE_MODE_DIGEST;
    case kHmac:
    case kCmac:
    case kCbcMac: return mode == TEE_MODE_MAC;
    case kCipher:
    case kAe:
    case kRsaesPkcs1:
    case kRsaesOaep:
    case kRsaNopad: return mode == TEE_MODE_ENCRYPT || mode == TEE_MODE_DECRYPT;
    case kRsassaPkcs1:
    case kRsassaPss:
    case kEcdsa:
    case kEd25519: return mode == TEE_MODE_SIGN || mode == TEE_MODE_VERIFY;
    case kEcdh:
    case kX25519:
    case kDh:
    case kHkdf: return mode == TEE_MODE_DERIVE;
  }
  return false;
}

// The block cipher of a cipher or CBC-MAC identifier: its main algorithm byte (GP 1.3.1 table
// 6-9) is 0x13 for triple DES.
BlockCipher block_cipher_of(uint32_t id) {
  return (id & 0xFF) == 0x13 ? BlockCipher::kDes3 : BlockCipher::kAes;
}

// The type of the operation's key object: private keys to decrypt, sign and derive.
uint32_t key_type(const AlgorithmInfo& a, uint32_t mode) {
  bool priv = mode == TEE_MODE_DECRYPT || mode == TEE_MODE_SIGN || mode == TEE_MODE_DERIVE;
  switch (a.family) {
    case kDigest: return 0;
    case kHmac:
      switch (a.hash) {
        case Hash::kMd5: return TEE_TYPE_HMAC_MD5;
        case Hash::kSha1: return TEE_TYPE_HMAC_SHA1;
        case Hash::kSha224: return TEE_TYPE_HMAC_SHA224;
        case Hash::kSha256: return TEE_TYPE_HMAC_SHA256;
        case Hash::kSha384: return TEE_TYPE_HMAC_SHA384;
        case Hash::kSha512: return TEE_TYPE_HMAC_SHA512;
        case Hash::kSha3_224: return TEE_TYPE_HMAC_SHA3_224;
        case Hash::kSha3_256: return TEE_TYPE_HMAC_SHA3_256;
        case Hash::kSha3_384: return TEE_TYPE_HMAC_SHA3_384;
        case Hash::kSha3_512: return TEE_TYPE_HMAC_SHA3_512;
        case Hash::kNone: return 0;
      }
      return 0;
    case kCbcMac:
    case kCipher:
      if (block_cipher_of(a.id) == BlockCipher::kDes3) return TEE_TYPE_DES3;
      return TEE_TYPE_AES;
    case kCmac:
    case kAe: return TEE_TYPE_AES;
    case kRsaesPkcs1:
    case kRsaesOaep:
    case kRsaNopad:
    case kRsassaPkcs1:
    case kRsassaPss: return priv ? TEE_TYPE_RSA_KEYPAIR : TEE_TYPE_RSA_PUBLIC_KEY;
    case kEcdsa: return priv ? TEE_TYPE_ECDSA_KEYPAIR : TEE_TYPE_ECDSA_PUBLIC_KEY;
    case kEd25519: return priv ? TEE_TYPE_ED25519_KEYPAIR : TEE_TYPE_ED25519_PUBLIC_KEY;
    case kEcdh: return TEE_TYPE_ECDH_KEYPAIR;
    case kX25519: return TEE_TYPE_X25519_KEYPAIR;
    case kDh: return TEE_TYPE_DH_KEYPAIR;
    case kHkdf: return TEE_TYPE_HKDF;
  }
  return 0;
}

// The key usage an operation requires, as OP-TEE's TEE_AllocateOperation assigns it.
uint32_t usage_for(uint32_t mode) {
  switch (mode) {
    case TEE_MODE_ENCRYPT: return TEE_USAGE_ENCRYPT;
    case TEE_MODE_DECRYPT: return TEE_USAGE_DECRYPT;
    case TEE_MODE_SIGN: return TEE_USAGE_SIGN;
    case TEE_MODE_VERIFY: return TEE_USAGE_VERIFY;
    case TEE_MODE_MAC: return TEE_USAGE_MAC;
    case TEE_MODE_DERIVE: return TEE_USAGE_DERIVE;
    default: return 0;
  }
}

}  // namespace

const AlgorithmInfo* find_algorithm(uint32_t id) {
  for (const AlgorithmInfo& a : kAlgorithms)
    if (a.id == id) return &a;
  return nullptr;
}

Status Operation::create(uint32_t algorithm, uint32_t mode, uint32_t max_key_size,
                         std::unique_ptr<Operation>* out) {
  const AlgorithmInfo* a = find_algorithm(algorithm);
  if (a == nullptr || !mode_allowed(a->family, mode)) return Status::error(kErrorNotSupported);
  if (a->fixed_bits != 0 && max_key_size != a->fixed_bits) return Status::error(kErrorNotSupported);

  std::unique_ptr<Operation> op(new Operation());
  op->alg = a;
  op->algorithm = algorithm;
  op->op_class = algorithm >> 28;
  op->mode = mode;
  op->max_key_size = max_key_size;
  op->required_usage = usage_for(mode);
  bool two = a->family == kCipher && a->cipher == CipherMode::kXts;
  if (two) op->handle_state |= TEE_HANDLE_FLAG_EXPECT_TWO_KEYS;

  if (uint32_t kt = key_type(*a, mode); kt != 0) {
    // With two keys the maximum size covers both (OP-TEE).
    uint32_t per_key = two ? max_key_size / 2 : max_key_size;
    if (!CryptoObject::check_allocation(kt, per_key).is_ok()) return Status::error(kErrorNotSupported);
    op->key1 = std::make_unique<CryptoObject>(kt, per_key);
    if (two) op->key2 = std::make_unique<CryptoObject>(kt, per_key);
  }

  bool encrypt = mode == TEE_MODE_ENCRYPT;
  switch (a->family) {
    case kDigest:
      op->digest = DigestEngine::create(a->hash);
      if (!op->digest) return Status::error(kErrorNotSupported);
      op->digest_length = static_cast<uint32_t>(op->digest->size());
      // A digest needs no key and is ready at once (GP 1.1 behaviour OP-TEE keeps).
      op->handle_state |= TEE_HANDLE_FLAG_KEY_SET | TEE_HANDLE_FLAG_INITIALIZED;
      break;
    case kHmac:
    case kCmac:
      op->mac = MacEngine::create(a->family == kHmac ? a->hash : Hash::kNone);
      if (!op->mac) return Status::error(kErrorNotSupported);
      op->digest_length = static_cast<uint32_t>(op->mac->size());
      break;
    case kCbcMac:
      // Chain mode 5 (bits 11:8) is CBC-MAC with PKCS#5 padding (GP 1.3.1 table 6-9).
      op->mac = MacEngine::create_cbc_mac(
          block_cipher_of(algorithm),
          ((algorithm >> 8) & 0xF) == 5 ? CbcMacPad::kPkcs5 : CbcMacPad::kNone);
      if (!op->mac) return Status::error(kErrorOutOfMemory);
      op->digest_length = static_cast<uint32_t>(op->mac->size());
      break;
    case kCipher:
      op->cipher = CipherEngine::create(a->cipher, encrypt, block_cipher_of(algorithm));
      if (!op->cipher) return Status::error(kErrorOutOfMemory);
      break;
    case kAe:
      op->ae = AeEngine::create(a->ae, encrypt);
      if (!op->ae) return Status::error(kErrorOutOfMemory);
      break;
    default: break;
  }
  *out = std::move(op);
  return Status::ok();
}

bool Operation::two_keys() const { return (handle_state & TEE_HANDLE_FLAG_EXPECT_TWO_KEYS) != 0; }

bool Operation::key_set() const { return (handle_state & TEE_HANDLE_FLAG_KEY_SET) != 0; }

void Operation::reset_state() {
  state = kStateInitial;
  handle_state &= ~TEE_HANDLE_FLAG_EXTRACTING;
  if (digest) {
    digest->restart();
    handle_state |= TEE_HANDLE_FLAG_INITIALIZED;
  } else {
    handle_state &= ~TEE_HANDLE_FLAG_INITIALIZED;
  }
}

void Operation::copy_from(const Operation& src) {
  TEEMU_ASSERT(src.algorithm == algorithm && src.mode == mode);
  if (key1) {
    key1->reset();
    if (src.key_set()) TEEMU_ASSERT(key1->copy_from(*src.key1).is_ok());
  }
  if (key2) {
    key2->reset();
    if (src.key_set()) TEEMU_ASSERT(key2->copy_from(*src.key2).is_ok());
  }
  handle_state = src.handle_state;
  key_size = src.key_size;
  digest_length = src.digest_length;
  state = src.state;
  if (src.digest) digest = src.digest->clone();
  if (src.mac) mac = src.mac->clone();
  if (src.cipher) cipher = src.cipher->clone();
  if (src.ae) ae = src.ae->clone();
}

}  // namespace teemu::ta_runtime::crypto
