// GP TEE Internal Core API 1.3.1: asymmetric operations and key derivation (sections 6.6, 6.7)
// on OpenSSL 3: RSAES PKCS#1 v1.5 and OAEP, raw RSA (NOPAD), RSASSA PKCS#1 v1.5 and PSS (SHA-1
// to SHA-512 and SHA3), ECDSA on the NIST curves, Ed25519 (pure), ECDH, X25519 and finite-field
// DH. Signatures use the GP formats: RSA as the modulus-sized
// integer, ECDSA as r || s each padded to the curve size, Ed25519 as its 64 bytes.
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <climits>
#include <cstring>

#include "ta_runtime/crypto_api.h"

namespace teemu::ta_runtime::crypto {
namespace {

const AttrRef* param(const std::vector<AttrRef>& params, uint32_t id) {
  for (const AttrRef& p : params)
    if (p.id == id) return &p;
  return nullptr;
}

// The operation behind `h`, of class `cls` and mode `mode`, with a usable key; else a panic.
Status keyed_operation(TEE_OperationHandle h, uint32_t cls, uint32_t mode, Operation** out) {
  Operation* op = find_operation(h);
  if (op == nullptr || op->op_class != cls || op->mode != mode || !op->key_set())
    return Status::fatal();
  // DH keys are plain numbers and HKDF keys secrets; every other key must form an OpenSSL key.
  bool plain = op->alg->family == Family::kDh || op->alg->family == Family::kHkdf;
  if (!plain && op->key1->pkey() == nullptr) return Status::fatal();
  *out = op;
  return Status::ok();
}

PkeyCtxPtr context(EVP_PKEY* key) { return PkeyCtxPtr(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr)); }

// The digest a TEE_ALG_* digest identifier names (kNone for any other), from the algorithm table.
Hash hash_of_algorithm(uint32_t alg) {
  const AlgorithmInfo* a = find_algorithm(alg);
  return a != nullptr && a->family == Family::kDigest ? a->hash : Hash::kNone;
}

// RSAES padding: PKCS#1 v1.5, or OAEP with the algorithm's hash, an optional label
// (TEE_ATTR_RSA_OAEP_LABEL) and an optional MGF1 hash (TEE_ATTR_RSA_OAEP_MGF_HASH: a buffer
// holding the uint32_t TEE_ALG_SHA* identifier; by default the algorithm's hash).
Status rsaes_padding(EVP_PKEY_CTX* c, const AlgorithmInfo& a, const std::vector<AttrRef>& params) {
  if (a.family == Family::kRsaesPkcs1)
    return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 ? Status::ok()
                                                                   : Status::fatal(TEE_ERROR_GENERIC);
  Hash mgf = a.hash;
  if (const AttrRef* m = param(params, TEE_ATTR_RSA_OAEP_MGF_HASH)) {
    uint32_t id = 0;
    if (m->bytes.size() != sizeof(id)) return Status::error(TEE_ERROR_BAD_PARAMETERS);
    std::memcpy(&id, m->bytes.data(), sizeof(id));
    mgf = hash_of_algorithm(id);
    if (mgf == Hash::kNone) return Status::error(TEE_ERROR_BAD_PARAMETERS);
  }
  if (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(c, hash_md(a.hash)) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(c, hash_md(mgf)) != 1)
    return Status::fatal(TEE_ERROR_GENERIC);
  if (const AttrRef* l = param(params, TEE_ATTR_RSA_OAEP_LABEL); l != nullptr && !l->bytes.empty()) {
    if (l->bytes.size() > INT_MAX) return Status::error(TEE_ERROR_BAD_PARAMETERS);
    void* label = OPENSSL_memdup(l->bytes.data(), l->bytes.size());
    if (label == nullptr) return Status::fatal(TEE_ERROR_OUT_OF_MEMORY);
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, static_cast<int>(l->bytes.size())) != 1) {
      OPENSSL_free(label);
      return Status::fatal(TEE_ERROR_GENERIC);
    }
  }
  return Status::ok();
}

// Raw RSA (TEE_ALG_RSA_NOPAD) in either direction. The input is a big-endian integer of at most
// the modulus size and below the modulus (else kErrorBadParameters, as OP-TEE); the output is the
// result without leading zero bytes, one zero byte for a zero result (OP-TEE's form), and the
// short-buffer size is that length.
Status rsa_nopad(EVP_PKEY* key, bool encrypt, const void* src, size_t n, void* dst, size_t* len) {
  const auto* in = static_cast<const uint8_t*>(src);
  while (n > 0 && in[0] == 0) {
    ++in;
    --n;
  }
  size_t k = static_cast<size_t>(EVP_PKEY_get_size(key));
  if (n > k) return Status::error(TEE_ERROR_BAD_PARAMETERS);
  // OpenSSL takes exactly k bytes: the integer right-aligned in a private block (which also
  // keeps the input apart from an overlapping output).
  SecretBytes block(k, 0);
  if (n != 0) std::memcpy(block.data() + (k - n), in, n);
  PkeyCtxPtr c = context(key);
  if (!c || (encrypt ? EVP_PKEY_encrypt_init(c.get()) : EVP_PKEY_decrypt_init(c.get())) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(c.get(), RSA_NO_PADDING) != 1)
    return Status::fatal(TEE_ERROR_GENERIC);
  SecretBytes result(k);
  size_t outl = k;
  int ok = encrypt ? EVP_PKEY_encrypt(c.get(), result.data(), &outl, block.data(), k)
                   : EVP_PKEY_decrypt(c.get(), result.data(), &outl, block.data(), k);
  if (ok != 1 || outl != k) return Status::error(TEE_ERROR_BAD_PARAMETERS);  // input >= modulus
  size_t off = 0;
  while (off + 1 < outl && result[off] == 0) ++off;
  size_t need = outl - off;
  if (*len < need) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr) return Status::fatal();
  std::memcpy(dst, result.data() + off, need);
  *len = need;
  return Status::ok();
}

// RSASSA padding over a digest of the algorithm's hash; PSS salt from TEE_ATTR_RSA_PSS_SALT_LENGTH,
// by default the digest length (OP-TEE).
Status rsassa_padding(EVP_PKEY_CTX* c, const AlgorithmInfo& a, const std::vector<AttrRef>& params) {
  const EVP_MD* md = hash_md(a.hash);
  bool pss = a.family == Family::kRsassaPss;
  if (EVP_PKEY_CTX_set_rsa_padding(c, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(c, md) != 1)
    return Status::fatal(TEE_ERROR_GENERIC);
  if (pss) {
    uint32_t salt = static_cast<uint32_t>(hash_size(a.hash));
    if (const AttrRef* s = param(params, TEE_ATTR_RSA_PSS_SALT_LENGTH)) salt = s->a;
    if (salt > INT_MAX || EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(c, static_cast<int>(salt)) != 1)
      return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  }
  return Status::ok();
}

// The size in bytes of each ECDSA signature half: the curve's size.
size_t ecc_half(const Operation& op) { return (op.key1->object_size() + 7) / 8; }

bool edwards_params_ok(const std::vector<AttrRef>& params) {
  // Ed25519ctx and Ed25519ph need OpenSSL 3.2; pure Ed25519 takes neither attribute.
  const AttrRef* ctx = param(params, TEE_ATTR_EDDSA_CTX);
  const AttrRef* ph = param(params, TEE_ATTR_EDDSA_PREHASH);
  return (ctx == nullptr || ctx->bytes.empty()) && (ph == nullptr || ph->a == 0);
}

// ECDH or X25519: the peer's public key from the parameters, exactly its coordinates (ECDH) or
// value (X25519), and the shared secret with the operation's key.
Status ec_shared_secret(const Operation& op, const std::vector<AttrRef>& params, SecretBytes* out) {
  PkeyPtr peer;
  if (op.alg->family == Family::kEcdh) {
    const AttrRef* x = param(params, TEE_ATTR_ECC_PUBLIC_VALUE_X);
    const AttrRef* y = param(params, TEE_ATTR_ECC_PUBLIC_VALUE_Y);
    const Attribute* curve = op.key1->find(TEE_ATTR_ECC_CURVE);
    if (params.size() != 2 || x == nullptr || y == nullptr || curve == nullptr)
      return Status::fatal();
    peer = make_ecc_public_key(curve->a, x->bytes, y->bytes);
  } else {
    const AttrRef* pub = param(params, TEE_ATTR_X25519_PUBLIC_VALUE);
    if (params.size() != 1 || pub == nullptr) return Status::fatal();
    peer = make_x25519_public_key(pub->bytes);
  }
  // A point off the curve (or a malformed value) cannot give a secret: a panic, as in OP-TEE.
  if (!peer) return Status::fatal();

  PkeyCtxPtr c = context(op.key1->pkey());
  size_t n = 0;
  if (!c || EVP_PKEY_derive_init(c.get()) != 1 || EVP_PKEY_derive_set_peer(c.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(c.get(), nullptr, &n) != 1)
    return Status::fatal();
  SecretBytes secret(n);
  if (EVP_PKEY_derive(c.get(), secret.data(), &n) != 1) return Status::fatal();
  secret.resize(n);
  *out = std::move(secret);
  return Status::ok();
}

}  // namespace

namespace api {

Status asymmetric_encrypt(TEE_OperationHandle h, const std::vector<AttrRef>& params,
                          const void* src, size_t n, void* dst, size_t* len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = keyed_operation(h, TEE_OPERATION_ASYMMETRIC_CIPHER, TEE_MODE_ENCRYPT, &op);
      !s.is_ok())
    return s;
  EVP_PKEY* key = op->key1->pkey();
  if (op->alg->family == Family::kRsaNopad) return rsa_nopad(key, true, src, n, dst, len);
  size_t need = static_cast<size_t>(EVP_PKEY_get_size(key));
  if (*len < need) {
    *len = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr) return Status::fatal();
  PkeyCtxPtr c = context(key);
  if (!c || EVP_PKEY_encrypt_init(c.get()) != 1) return Status::fatal(TEE_ERROR_GENERIC);
  if (Status s = rsaes_padding(c.get(), *op->alg, params); !s.is_ok()) return s;
  size_t out = *len;
  // Too long a message for the key and padding.
  if (EVP_PKEY_encrypt(c.get(), static_cast<uint8_t*>(dst), &out, static_cast<const uint8_t*>(src),
                       n) != 1)
    return Status::error(TEE_ERROR_BAD_PARAMETERS);
  *len = out;
  return Status::ok();
}

Status asymmetric_decrypt(TEE_OperationHandle h, const std::vector<AttrRef>& params,
                          const void* src, size_t n, void* dst, size_t* len) {
  Operation* op = nullptr;
  if ((src == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = keyed_operation(h, TEE_OPERATION_ASYMMETRIC_CIPHER, TEE_MODE_DECRYPT, &op);
      !s.is_ok())
    return s;
  EVP_PKEY* key = op->key1->pkey();
  if (op->alg->family == Family::kRsaNopad) return rsa_nopad(key, false, src, n, dst, len);
  PkeyCtxPtr c = context(key);
  if (!c || EVP_PKEY_decrypt_init(c.get()) != 1) return Status::fatal(TEE_ERROR_GENERIC);
  if (Status s = rsaes_padding(c.get(), *op->alg, params); !s.is_ok()) return s;
  // Into private memory first: the plaintext length is known only afterwards.
  SecretBytes plain(static_cast<size_t>(EVP_PKEY_get_size(key)));
  size_t out = plain.size();
  if (EVP_PKEY_decrypt(c.get(), plain.data(), &out, static_cast<const uint8_t*>(src), n) != 1)
    return Status::error(TEE_ERROR_CIPHERTEXT_INVALID);
  if (*len < out) {
    *len = out;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (dst == nullptr && out != 0) return Status::fatal();
  if (out != 0) std::memcpy(dst, plain.data(), out);
  *len = out;
  return Status::ok();
}

Status sign_digest(TEE_OperationHandle h, const std::vector<AttrRef>& params, const void* digest,
                   size_t n, void* sig, size_t* len) {
  Operation* op = nullptr;
  if ((digest == nullptr && n != 0) || len == nullptr) return Status::fatal();
  if (Status s = keyed_operation(h, TEE_OPERATION_ASYMMETRIC_SIGNATURE, TEE_MODE_SIGN, &op);
      !s.is_ok())
    return s;
  EVP_PKEY* key = op->key1->pkey();
  const auto* in = static_cast<const uint8_t*>(digest);
  auto* out = static_cast<uint8_t*>(sig);
  switch (op->alg->family) {
    case Family::kRsassaPkcs1:
    case Family::kRsassaPss: {
      // The digest must be of the algorithm's hash (OP-TEE rejects other lengths: a panic).
      if (n != hash_size(op->alg->hash)) return Status::fatal();
      size_t need = static_cast<size_t>(EVP_PKEY_get_size(key));
      if (*len < need) {
        *len = need;
        return Status::error(TEE_ERROR_SHORT_BUFFER);
      }
      if (out == nullptr) return Status::fatal();
      PkeyCtxPtr c = context(key);
      if (!c || EVP_PKEY_sign_init(c.get()) != 1) return Status::fatal(TEE_ERROR_GENERIC);
      if (Status s = rsassa_padding(c.get(), *op->alg, params); !s.is_ok()) return s;
      size_t outl = *len;
      // A salt too long for the modulus: a panic, as in OP-TEE.
      if (EVP_PKEY_sign(c.get(), out, &outl, in, n) != 1) return Status::fatal();
      *len = outl;
      return Status::ok();
    }
    case Family::kEcdsa: {
      size_t half = ecc_half(*op);
      if (*len < 2 * half) {
        *len = 2 * half;
        return Status::error(TEE_ERROR_SHORT_BUFFER);
      }
      if (out == nullptr) return Status::fatal();
      PkeyCtxPtr c = context(key);
      size_t der_len = 0;
      if (!c || EVP_PKEY_sign_init(c.get()) != 1 ||
          EVP_PKEY_sign(c.get(), nullptr, &der_len, in, n) != 1)
        return Status::fatal(TEE_ERROR_GENERIC);
      std::vector<uint8_t> der(der_len);
      if (EVP_PKEY_sign(c.get(), der.data(), &der_len, in, n) != 1)
        return Status::fatal(TEE_ERROR_GENERIC);
      const uint8_t* p = der.data();
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
      if (es == nullptr) return Status::fatal(TEE_ERROR_GENERIC);
      const BIGNUM* r = ECDSA_SIG_get0_r(es);
      const BIGNUM* s = ECDSA_SIG_get0_s(es);
      bool ok = BN_bn2binpad(r, out, static_cast<int>(half)) == static_cast<int>(half) &&
                BN_bn2binpad(s, out + half, static_cast<int>(half)) == static_cast<int>(half);
      ECDSA_SIG_free(es);
      if (!ok) return Status::fatal(TEE_ERROR_GENERIC);
      *len = 2 * half;
      return Status::ok();
    }
    case Family::kEd25519: {
      // The "digest" of Ed25519 is the message itself (GP 1.3.1, OP-TEE).
      if (!edwards_params_ok(params)) return Status::fatal(TEE_ERROR_NOT_SUPPORTED);
      constexpr size_t kSig = 64;
      if (*len < kSig) {
        *len = kSig;
        return Status::error(TEE_ERROR_SHORT_BUFFER);
      }
      if (out == nullptr) return Status::fatal();
      MdCtxPtr c(EVP_MD_CTX_new());
      size_t outl = kSig;
      if (!c || EVP_DigestSignInit_ex(c.get(), nullptr, nullptr, nullptr, nullptr, key, nullptr) != 1 ||
          EVP_DigestSign(c.get(), out, &outl, in, n) != 1 || outl != kSig)
        return Status::fatal(TEE_ERROR_GENERIC);
      *len = kSig;
      return Status::ok();
    }
    default: return Status::fatal();
  }
}

Status verify_digest(TEE_OperationHandle h, const std::vector<AttrRef>& params,
                     const void* digest, size_t n, const void* sig, size_t sig_len) {
  Operation* op = nullptr;
  if ((digest == nullptr && n != 0) || (sig == nullptr && sig_len != 0)) return Status::fatal();
  if (Status s = keyed_operation(h, TEE_OPERATION_ASYMMETRIC_SIGNATURE, TEE_MODE_VERIFY, &op);
      !s.is_ok())
    return s;
  EVP_PKEY* key = op->key1->pkey();
  const auto* in = static_cast<const uint8_t*>(digest);
  const auto* s_in = static_cast<const uint8_t*>(sig);
  const Status invalid = Status::error(TEE_ERROR_SIGNATURE_INVALID);
  switch (op->alg->family) {
    case Family::kRsassaPkcs1:
    case Family::kRsassaPss: {
      if (n != hash_size(op->alg->hash)) return Status::fatal();
      PkeyCtxPtr c = context(key);
      if (!c || EVP_PKEY_verify_init(c.get()) != 1) return Status::fatal(TEE_ERROR_GENERIC);
      if (Status s = rsassa_padding(c.get(), *op->alg, params); !s.is_ok()) return s;
      return EVP_PKEY_verify(c.get(), s_in, sig_len, in, n) == 1 ? Status::ok() : invalid;
    }
    case Family::kEcdsa: {
      size_t half = ecc_half(*op);
      if (sig_len != 2 * half) return invalid;
      ECDSA_SIG* es = ECDSA_SIG_new();
      BIGNUM* r = BN_bin2bn(s_in, static_cast<int>(half), nullptr);
      BIGNUM* s = BN_bin2bn(s_in + half, static_cast<int>(half), nullptr);
      if (es == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return Status::fatal(TEE_ERROR_OUT_OF_MEMORY);
      }
      uint8_t* der = nullptr;
      int der_len = i2d_ECDSA_SIG(es, &der);
      ECDSA_SIG_free(es);
      if (der_len <= 0) return Status::fatal(TEE_ERROR_GENERIC);
      PkeyCtxPtr c = context(key);
      bool ok = c && EVP_PKEY_verify_init(c.get()) == 1 &&
                EVP_PKEY_verify(c.get(), der, static_cast<size_t>(der_len), in, n) == 1;
      OPENSSL_free(der);
      return ok ? Status::ok() : invalid;
    }
    case Family::kEd25519: {
      if (!edwards_params_ok(params)) return Status::fatal(TEE_ERROR_NOT_SUPPORTED);
      if (sig_len != 64) return invalid;
      MdCtxPtr c(EVP_MD_CTX_new());
      if (!c || EVP_DigestVerifyInit_ex(c.get(), nullptr, nullptr, nullptr, nullptr, key, nullptr) != 1)
        return Status::fatal(TEE_ERROR_GENERIC);
      return EVP_DigestVerify(c.get(), s_in, sig_len, in, n) == 1 ? Status::ok() : invalid;
    }
    default: return Status::fatal();
  }
}

// TEE_ALG_HKDF (GP 1.3.1): optional salt and info, optional hash (a TEE_ALG_* digest in value
// a, SHA-256 when absent) and the output size in bytes (TEE_ATTR_KDF_KEY_SIZE, required). A
// parameter of another id, a repeated one, an unknown hash or a size HKDF cannot produce is a
// panic, as every TEE_DeriveKey failure is.
Status hkdf_secret(const Operation& op, const std::vector<AttrRef>& params, size_t max_bytes,
                   SecretBytes* out) {
  const AttrRef *salt = nullptr, *info = nullptr, *hash = nullptr, *size = nullptr;
  for (const AttrRef& p : params) {
    const AttrRef** slot = p.id == TEE_ATTR_HKDF_SALT             ? &salt
                           : p.id == TEE_ATTR_HKDF_INFO           ? &info
                           : p.id == TEE_ATTR_HKDF_HASH_ALGORITHM ? &hash
                           : p.id == TEE_ATTR_KDF_KEY_SIZE        ? &size
                                                                  : nullptr;
    if (slot == nullptr || *slot != nullptr) return Status::fatal();
    *slot = &p;
  }
  Hash md = hash != nullptr ? hash_of_algorithm(hash->a) : Hash::kSha256;
  if (md == Hash::kNone || size == nullptr) return Status::fatal();
  size_t len = size->a;
  // RFC 5869: at most 255 hash blocks; the result must fit the output object.
  if (len == 0 || len > 255 * hash_size(md) || len > max_bytes) return Status::fatal();
  std::span<const uint8_t> none;
  if (!hkdf(md, secret_of(*op.key1), salt ? salt->bytes : none, info ? info->bytes : none, len,
            out))
    return Status::fatal(TEE_ERROR_GENERIC);
  return Status::ok();
}

Status derive_key(TEE_OperationHandle h, const std::vector<AttrRef>& params,
                  TEE_ObjectHandle derived) {
  Operation* op = nullptr;
  if (Status s = keyed_operation(h, TEE_OPERATION_KEY_DERIVATION, TEE_MODE_DERIVE, &op); !s.is_ok())
    return s;
  CryptoObject* out = find_object(derived);
  if (out == nullptr || out->type() != TEE_TYPE_GENERIC_SECRET || out->initialized() ||
      out->persistent())
    return Status::fatal();

  SecretBytes secret;
  if (op->alg->family == Family::kDh) {
    // Exactly the peer's public value (OP-TEE's rule); the secret is peer^x mod p.
    const AttrRef* pub = param(params, TEE_ATTR_DH_PUBLIC_VALUE);
    if (params.size() != 1 || pub == nullptr) return Status::fatal();
    if (!dh_shared_secret(*op->key1, pub->bytes, &secret)) return Status::fatal();
  } else if (op->alg->family == Family::kHkdf) {
    if (Status s = hkdf_secret(*op, params, out->max_object_size() / 8, &secret); !s.is_ok())
      return s;
  } else if (Status s = ec_shared_secret(*op, params, &secret); !s.is_ok()) {
    return s;
  }
  size_t n = secret.size();
  // GP: a derived secret larger than the object may hold is a panic.
  if (n * 8 > out->max_object_size()) return Status::fatal();
  out->set_secret(std::move(secret));
  return Status::ok();
}

}  // namespace api
}  // namespace teemu::ta_runtime::crypto

using namespace teemu::ta_runtime::crypto;

namespace {
template <class F>
TEE_Result with_params(const TEE_Attribute* params, uint32_t count, F&& step) {
  return run_api([&] {
    std::vector<AttrRef> refs;
    if (Status s = read_attrs(params, count, &refs); !s.is_ok()) return s;
    return step(refs);
  });
}
}  // namespace

TA_API TEE_Result TEE_AsymmetricEncrypt(TEE_OperationHandle operation, const TEE_Attribute* params,
                                        uint32_t paramCount, const void* srcData, size_t srcLen,
                                        void* destData, size_t* destLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::asymmetric_encrypt(operation, p, srcData, srcLen, destData, destLen);
  });
}

TA_API TEE_Result TEE_AsymmetricDecrypt(TEE_OperationHandle operation, const TEE_Attribute* params,
                                        uint32_t paramCount, const void* srcData, size_t srcLen,
                                        void* destData, size_t* destLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::asymmetric_decrypt(operation, p, srcData, srcLen, destData, destLen);
  });
}

TA_API TEE_Result TEE_AsymmetricSignDigest(TEE_OperationHandle operation,
                                           const TEE_Attribute* params, uint32_t paramCount,
                                           const void* digest, size_t digestLen, void* signature,
                                           size_t* signatureLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::sign_digest(operation, p, digest, digestLen, signature, signatureLen);
  });
}

TA_API TEE_Result TEE_AsymmetricVerifyDigest(TEE_OperationHandle operation,
                                             const TEE_Attribute* params, uint32_t paramCount,
                                             const void* digest, size_t digestLen,
                                             const void* signature, size_t signatureLen) {
  return with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::verify_digest(operation, p, digest, digestLen, signature, signatureLen);
  });
}

TA_API void TEE_DeriveKey(TEE_OperationHandle operation, const TEE_Attribute* params,
                          uint32_t paramCount, TEE_ObjectHandle derivedKey) {
  with_params(params, paramCount, [&](const std::vector<AttrRef>& p) {
    return api::derive_key(operation, p, derivedKey);
  });
}
