/* The crypto-test TA: runs the GP TEE Internal Core API 1.3.1 cryptographic functions for
 * tests/ta_crypto_test.cc. Symmetric commands compute what the client asks (the known answers
 * live in the test); asymmetric commands keep their keys inside the TA and check round trips. */
#include <crypto_test_ta.h>
#include <string.h>
#include <tee_internal_api.h>

#define FAILED (TA_CRYPTO_TEST_FAILED | (uint32_t)__LINE__)
#define CHECK(c)      \
  do {                \
    if (!(c)) {       \
      res = FAILED;   \
      goto out;       \
    }                 \
  } while (0)
#define CHECK_RES(expr, want)           \
  do {                                  \
    TEE_Result check_res_ = (expr);     \
    if (check_res_ != (want)) {         \
      res = FAILED;                     \
      goto out;                         \
    }                                   \
  } while (0)
#define CHECK_OK(expr) CHECK_RES(expr, TEE_SUCCESS)

#define PT(a, b, c, d) TEE_PARAM_TYPES(TEE_PARAM_TYPE_##a, TEE_PARAM_TYPE_##b, \
                                       TEE_PARAM_TYPE_##c, TEE_PARAM_TYPE_##d)

static const uint8_t kMessage[] = "The quick brown fox jumps over the lazy dog";

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }

void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t pt, TEE_Param params[4], void **sess) {
  (void)pt;
  (void)params;
  *sess = NULL;
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess) { (void)sess; }

/* --- helpers ---------------------------------------------------------------------------------- */

static uint32_t secret_type(uint32_t alg) {
  switch (alg) {
    case TEE_ALG_HMAC_MD5: return TEE_TYPE_HMAC_MD5;
    case TEE_ALG_HMAC_SHA1: return TEE_TYPE_HMAC_SHA1;
    case TEE_ALG_HMAC_SHA224: return TEE_TYPE_HMAC_SHA224;
    case TEE_ALG_HMAC_SHA256: return TEE_TYPE_HMAC_SHA256;
    case TEE_ALG_HMAC_SHA384: return TEE_TYPE_HMAC_SHA384;
    case TEE_ALG_HMAC_SHA512: return TEE_TYPE_HMAC_SHA512;
    case TEE_ALG_HMAC_SHA3_224: return TEE_TYPE_HMAC_SHA3_224;
    case TEE_ALG_HMAC_SHA3_256: return TEE_TYPE_HMAC_SHA3_256;
    case TEE_ALG_HMAC_SHA3_384: return TEE_TYPE_HMAC_SHA3_384;
    case TEE_ALG_HMAC_SHA3_512: return TEE_TYPE_HMAC_SHA3_512;
    case TEE_ALG_DES3_ECB_NOPAD:
    case TEE_ALG_DES3_CBC_NOPAD:
    case TEE_ALG_DES3_CBC_MAC_NOPAD:
    case TEE_ALG_DES3_CBC_MAC_PKCS5: return TEE_TYPE_DES3;
    default: return TEE_TYPE_AES;
  }
}

/* The largest size the type allows: any key up to it populates. */
static uint32_t secret_max_bits(uint32_t type) {
  switch (type) {
    case TEE_TYPE_HMAC_MD5:
    case TEE_TYPE_HMAC_SHA1:
    case TEE_TYPE_HMAC_SHA224: return 512;
    case TEE_TYPE_AES: return 256;
    case TEE_TYPE_DES3: return 168;
    default: return 1024;
  }
}

/* A transient secret-key object holding key[0, len). */
static TEE_Result make_secret(uint32_t type, uint32_t max_bits, const void *key, size_t len,
                              TEE_ObjectHandle *obj) {
  TEE_Attribute a;
  TEE_Result res = TEE_AllocateTransientObject(type, max_bits, obj);
  if (res != TEE_SUCCESS) return res;
  TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, key, len);
  res = TEE_PopulateTransientObject(*obj, &a, 1);
  if (res != TEE_SUCCESS) {
    TEE_FreeTransientObject(*obj);
    *obj = TEE_HANDLE_NULL;
  }
  return res;
}

static uint32_t hash_of(uint32_t alg) {
  switch (alg) {
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA1:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1:
    case TEE_ALG_ECDSA_SHA1: return TEE_ALG_SHA1;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA224:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA224:
    case TEE_ALG_ECDSA_SHA224: return TEE_ALG_SHA224;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA384:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA384:
    case TEE_ALG_ECDSA_SHA384: return TEE_ALG_SHA384;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA512:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA512:
    case TEE_ALG_ECDSA_SHA512: return TEE_ALG_SHA512;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_224:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_224:
    case TEE_ALG_ECDSA_SHA3_224: return TEE_ALG_SHA3_224;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_256:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_256:
    case TEE_ALG_ECDSA_SHA3_256: return TEE_ALG_SHA3_256;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_384:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_384:
    case TEE_ALG_ECDSA_SHA3_384: return TEE_ALG_SHA3_384;
    case TEE_ALG_RSASSA_PKCS1_V1_5_SHA3_512:
    case TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA3_512:
    case TEE_ALG_ECDSA_SHA3_512: return TEE_ALG_SHA3_512;
    default: return TEE_ALG_SHA256;
  }
}

static TEE_Result digest(uint32_t alg, const void *msg, size_t n, uint8_t *out, size_t *len) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_Result res = TEE_AllocateOperation(&op, alg, TEE_MODE_DIGEST, 0);
  if (res != TEE_SUCCESS) return res;
  res = TEE_DigestDoFinal(op, msg, n, out, len);
  TEE_FreeOperation(op);
  return res;
}

static uint32_t curve_bits(uint32_t curve) {
  switch (curve) {
    case TEE_ECC_CURVE_NIST_P192: return 192;
    case TEE_ECC_CURVE_NIST_P224: return 224;
    case TEE_ECC_CURVE_NIST_P256: return 256;
    case TEE_ECC_CURVE_NIST_P384: return 384;
    case TEE_ECC_CURVE_NIST_P521: return 521;
    default: return 0;
  }
}

/* Reads a buffer attribute whole, checking the short-buffer protocol on the way. */
static TEE_Result read_attr(TEE_ObjectHandle obj, uint32_t id, uint8_t *buf, size_t cap,
                            size_t *len) {
  size_t need = 0;
  TEE_Result res = TEE_GetObjectBufferAttribute(obj, id, NULL, &need);
  if (res != TEE_ERROR_SHORT_BUFFER && !(res == TEE_SUCCESS && need == 0))
    return res == TEE_SUCCESS ? TEE_ERROR_GENERIC : res;
  if (need > cap) return TEE_ERROR_OVERFLOW;
  *len = cap;
  res = TEE_GetObjectBufferAttribute(obj, id, buf, len);
  if (res == TEE_SUCCESS && *len != need) return TEE_ERROR_GENERIC;
  return res;
}

/* --- symmetric commands: the client supplies inputs and checks outputs -------------------------- */

static TEE_Result cmd_digest(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  const uint8_t *msg = p[1].memref.buffer;
  size_t n = p[1].memref.size, chunk = p[0].value.b, off = 0, len = p[2].memref.size;
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocateOperation(&op, p[0].value.a, TEE_MODE_DIGEST, 0);
  if (res != TEE_SUCCESS) return res;
  while (chunk != 0 && n - off > chunk) {
    TEE_DigestUpdate(op, msg + off, chunk);
    off += chunk;
  }
  res = TEE_DigestDoFinal(op, n > off ? msg + off : NULL, n - off, p[2].memref.buffer, &len);
  p[2].memref.size = len;
  TEE_FreeOperation(op);
  return res;
}

static TEE_Result cmd_mac(uint32_t pt, TEE_Param p[4], bool compare) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectHandle key = TEE_HANDLE_NULL;
  uint32_t alg = p[0].value.a, type = secret_type(alg);
  const uint8_t *msg = p[2].memref.buffer;
  size_t n = p[2].memref.size, chunk = p[0].value.b, off = 0, len = p[3].memref.size;
  TEE_Result res;
  if (pt != (compare ? PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_INPUT)
                     : PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_OUTPUT)))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocateOperation(&op, alg, TEE_MODE_MAC, secret_max_bits(type));
  if (res != TEE_SUCCESS) return res;
  res = make_secret(type, secret_max_bits(type), p[1].memref.buffer, p[1].memref.size, &key);
  if (res != TEE_SUCCESS) goto out;
  CHECK_OK(TEE_SetOperationKey(op, key));
  /* The operation holds its own copy of the key. */
  TEE_FreeTransientObject(key);
  key = TEE_HANDLE_NULL;
  TEE_MACInit(op, NULL, 0);
  while (chunk != 0 && n - off > chunk) {
    TEE_MACUpdate(op, msg + off, chunk);
    off += chunk;
  }
  if (compare) {
    res = TEE_MACCompareFinal(op, n > off ? msg + off : NULL, n - off, p[3].memref.buffer,
                              p[3].memref.size);
  } else {
    res = TEE_MACComputeFinal(op, n > off ? msg + off : NULL, n - off, p[3].memref.buffer, &len);
    p[3].memref.size = len;
  }
out:
  TEE_FreeTransientObject(key);
  TEE_FreeOperation(op);
  return res;
}

static TEE_Result cmd_cipher(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectHandle k1 = TEE_HANDLE_NULL, k2 = TEE_HANDLE_NULL;
  uint32_t alg = p[0].value.a, mode = p[0].value.b & 0xff;
  size_t chunk = p[0].value.b >> 8;
  bool xts = alg == TEE_ALG_AES_XTS;
  uint32_t type = secret_type(alg);
  size_t key_len = xts ? p[1].memref.size / 2 : p[1].memref.size;
  /* Key sizes in bits: triple-DES sizes leave out the parity bit of every byte. */
  uint32_t key_bits = (uint32_t)key_len * (type == TEE_TYPE_DES3 ? 7 : 8);
  size_t iv_len = alg == TEE_ALG_AES_ECB_NOPAD || alg == TEE_ALG_DES3_ECB_NOPAD ? 0
                  : type == TEE_TYPE_DES3                                   ? 8
                                                                            : 16;
  const uint8_t *key = p[1].memref.buffer, *in = p[2].memref.buffer;
  uint8_t *out = p[3].memref.buffer;
  size_t n, off = 0, produced = 0, cap = p[3].memref.size, len;
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_OUTPUT) ||
      p[2].memref.size < iv_len)
    return TEE_ERROR_BAD_PARAMETERS;
  n = p[2].memref.size - iv_len;
  res = TEE_AllocateOperation(&op, alg, mode, key_bits * (xts ? 2 : 1));
  if (res != TEE_SUCCESS) return res;
  res = make_secret(type, key_bits, key, key_len, &k1);
  if (res != TEE_SUCCESS) goto out;
  if (xts) {
    res = make_secret(type, key_bits, key + key_len, key_len, &k2);
    if (res != TEE_SUCCESS) goto out;
    CHECK_OK(TEE_SetOperationKey2(op, k1, k2));
  } else {
    CHECK_OK(TEE_SetOperationKey(op, k1));
  }
  TEE_CipherInit(op, iv_len ? in : NULL, iv_len);
  in += iv_len;
  while (chunk != 0 && n - off > chunk) {
    len = cap - produced;
    res = TEE_CipherUpdate(op, in + off, chunk, out + produced, &len);
    if (res != TEE_SUCCESS) goto out;
    produced += len;
    off += chunk;
  }
  len = cap - produced;
  res = TEE_CipherDoFinal(op, n > off ? in + off : NULL, n - off, out ? out + produced : NULL, &len);
  /* On TEE_ERROR_SHORT_BUFFER len is what the final step needs: report the whole need. */
  produced += len;
  p[3].memref.size = produced;
out:
  TEE_FreeTransientObject(k1);
  TEE_FreeTransientObject(k2);
  TEE_FreeOperation(op);
  return res;
}

/* Reads the next (u32 length, bytes) blob of a request. */
static bool next_blob(const uint8_t **p, size_t *left, const uint8_t **blob, size_t *len) {
  uint32_t l;
  if (*left < 4) return false;
  memcpy(&l, *p, 4);
  if (*left - 4 < l) return false;
  *blob = *p + 4;
  *len = l;
  *p += 4 + l;
  *left -= 4 + l;
  return true;
}

static TEE_Result cmd_ae(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectHandle key = TEE_HANDLE_NULL;
  uint32_t alg = p[0].value.a, mode = p[0].value.b & 0xff, tag_bits = p[0].value.b >> 16;
  size_t chunk = (p[0].value.b >> 8) & 0xff;
  const uint8_t *req = p[1].memref.buffer, *k, *nonce, *aad, *msg, *tag;
  size_t left = p[1].memref.size, kl, nl, al, ml, tl, off, produced = 0, len;
  uint8_t *out = p[2].memref.buffer;
  size_t cap = p[2].memref.size;
  uint8_t tag_out[16];
  size_t tag_len = sizeof(tag_out);
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE) ||
      !next_blob(&req, &left, &k, &kl) || !next_blob(&req, &left, &nonce, &nl) ||
      !next_blob(&req, &left, &aad, &al) || !next_blob(&req, &left, &msg, &ml) ||
      !next_blob(&req, &left, &tag, &tl))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocateOperation(&op, alg, mode, (uint32_t)kl * 8);
  if (res != TEE_SUCCESS) return res;
  res = make_secret(TEE_TYPE_AES, (uint32_t)kl * 8, k, kl, &key);
  if (res != TEE_SUCCESS) goto out;
  CHECK_OK(TEE_SetOperationKey(op, key));
  res = TEE_AEInit(op, nonce, nl, tag_bits, al, ml);
  if (res != TEE_SUCCESS) goto out;
  for (off = 0; chunk != 0 && al - off > chunk; off += chunk) TEE_AEUpdateAAD(op, aad + off, chunk);
  TEE_AEUpdateAAD(op, al > off ? aad + off : NULL, al - off);
  for (off = 0; chunk != 0 && ml - off > chunk; off += chunk) {
    len = cap - produced;
    res = TEE_AEUpdate(op, msg + off, chunk, out + produced, &len);
    if (res != TEE_SUCCESS) goto out;
    produced += len;
  }
  len = cap - produced;
  if (mode == TEE_MODE_ENCRYPT) {
    res = TEE_AEEncryptFinal(op, ml > off ? msg + off : NULL, ml - off,
                             out ? out + produced : NULL, &len, tag_out, &tag_len);
    produced += len;
    if (res == TEE_SUCCESS) {
      if (cap - produced < tag_len) {
        res = TEE_ERROR_SHORT_BUFFER;
        produced += tag_len;
      } else {
        memcpy(out + produced, tag_out, tag_len);
        produced += tag_len;
      }
    }
  } else {
    res = TEE_AEDecryptFinal(op, ml > off ? msg + off : NULL, ml - off,
                             out ? out + produced : NULL, &len, (void *)tag, tl);
    produced += len;
  }
  p[2].memref.size = produced;
out:
  TEE_FreeTransientObject(key);
  TEE_FreeOperation(op);
  return res;
}

/* --- asymmetric commands: keys are made and kept inside the TA ---------------------------------- */

static bool is_rsa_signature(uint32_t alg) { return (alg >> 28) == TEE_OPERATION_ASYMMETRIC_SIGNATURE; }

static TEE_Result cmd_rsa(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle key = TEE_HANDLE_NULL, pub = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  uint32_t bits = p[0].value.a, alg = p[0].value.b;
  uint8_t n_buf[512], e_buf[8], e_be[3] = {0x01, 0x00, 0x01}, hash[64], sig[512], sig2[512];
  uint8_t ct[512], pt_buf[512];
  size_t n_len, e_len, hash_len = sizeof(hash), len;
  TEE_Attribute attrs[2];
  TEE_ObjectInfo info;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE) || bits > 4096) return TEE_ERROR_BAD_PARAMETERS;

  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, bits, &key));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_PUBLIC_EXPONENT, e_be, sizeof(e_be));
  CHECK_OK(TEE_GenerateKey(key, bits, attrs, 1));
  CHECK_OK(TEE_GetObjectInfo1(key, &info));
  CHECK(info.objectType == TEE_TYPE_RSA_KEYPAIR && info.objectSize == bits &&
        info.maxObjectSize == bits && (info.handleFlags & TEE_HANDLE_FLAG_INITIALIZED));

  /* The public part, through the attributes anyone may read, into a public-key object. */
  CHECK_OK(read_attr(key, TEE_ATTR_RSA_MODULUS, n_buf, sizeof(n_buf), &n_len));
  CHECK(n_len == bits / 8 && (n_buf[0] & 0x80));
  CHECK_OK(read_attr(key, TEE_ATTR_RSA_PUBLIC_EXPONENT, e_buf, sizeof(e_buf), &e_len));
  CHECK(e_len == 3 && !memcmp(e_buf, e_be, 3));
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_RSA_PUBLIC_KEY, bits, &pub));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_MODULUS, n_buf, n_len);
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_RSA_PUBLIC_EXPONENT, e_buf, e_len);
  CHECK_OK(TEE_PopulateTransientObject(pub, attrs, 2));

  if (is_rsa_signature(alg)) {
    CHECK_OK(digest(hash_of(alg), kMessage, sizeof(kMessage), hash, &hash_len));
    CHECK_OK(TEE_AllocateOperation(&op, alg, TEE_MODE_SIGN, bits));
    CHECK_OK(TEE_SetOperationKey(op, key));
    len = 1;
    CHECK_RES(TEE_AsymmetricSignDigest(op, NULL, 0, hash, hash_len, sig, &len),
              TEE_ERROR_SHORT_BUFFER);
    CHECK(len == bits / 8);
    CHECK_OK(TEE_AsymmetricSignDigest(op, NULL, 0, hash, hash_len, sig, &len));
    CHECK(len == bits / 8);
    CHECK_OK(TEE_AllocateOperation(&op2, alg, TEE_MODE_VERIFY, bits));
    CHECK_OK(TEE_SetOperationKey(op2, pub));
    CHECK_OK(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len));
    sig[len / 2] ^= 0x01;
    CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len),
              TEE_ERROR_SIGNATURE_INVALID);
    sig[len / 2] ^= 0x01;
    hash[0] ^= 0x80;
    CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len),
              TEE_ERROR_SIGNATURE_INVALID);
    hash[0] ^= 0x80;
    CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len - 1),
              TEE_ERROR_SIGNATURE_INVALID);
    /* A key pair verifies too: the operation takes its public part. */
    TEE_FreeOperation(op2);
    op2 = TEE_HANDLE_NULL;
    CHECK_OK(TEE_AllocateOperation(&op2, alg, TEE_MODE_VERIFY, bits));
    CHECK_OK(TEE_SetOperationKey(op2, key));
    CHECK_OK(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len));
    /* PKCS#1 v1.5 is deterministic; PSS with an explicit salt length still verifies. */
    len = sizeof(sig2);
    if (((alg >> 8) & 0xf) == 9) { /* PSS */
      TEE_InitValueAttribute(&attrs[0], TEE_ATTR_RSA_PSS_SALT_LENGTH, 8, 0);
      CHECK_OK(TEE_AsymmetricSignDigest(op, attrs, 1, hash, hash_len, sig2, &len));
      CHECK_OK(TEE_AsymmetricVerifyDigest(op2, attrs, 1, hash, hash_len, sig2, len));
    } else {
      CHECK_OK(TEE_AsymmetricSignDigest(op, NULL, 0, hash, hash_len, sig2, &len));
      CHECK(!memcmp(sig, sig2, len));
    }
  } else {
    static const uint8_t label[] = "teemu label";
    CHECK_OK(TEE_AllocateOperation(&op, alg, TEE_MODE_ENCRYPT, bits));
    CHECK_OK(TEE_SetOperationKey(op, pub));
    len = 4;
    CHECK_RES(TEE_AsymmetricEncrypt(op, NULL, 0, kMessage, 16, ct, &len), TEE_ERROR_SHORT_BUFFER);
    CHECK(len == bits / 8);
    CHECK_OK(TEE_AsymmetricEncrypt(op, NULL, 0, kMessage, 16, ct, &len));
    CHECK(len == bits / 8);
    CHECK_OK(TEE_AllocateOperation(&op2, alg, TEE_MODE_DECRYPT, bits));
    CHECK_OK(TEE_SetOperationKey(op2, key));
    len = 15;
    CHECK_RES(TEE_AsymmetricDecrypt(op2, NULL, 0, ct, bits / 8, pt_buf, &len),
              TEE_ERROR_SHORT_BUFFER);
    CHECK(len == 16);
    CHECK_OK(TEE_AsymmetricDecrypt(op2, NULL, 0, ct, bits / 8, pt_buf, &len));
    CHECK(len == 16 && !memcmp(pt_buf, kMessage, 16));
    if (alg != TEE_ALG_RSAES_PKCS1_V1_5) {
      /* OAEP binds the label; a changed ciphertext or label does not decrypt. */
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_OAEP_LABEL, label, sizeof(label));
      len = sizeof(ct);
      CHECK_OK(TEE_AsymmetricEncrypt(op, attrs, 1, kMessage, 20, ct, &len));
      len = sizeof(pt_buf);
      CHECK_OK(TEE_AsymmetricDecrypt(op2, attrs, 1, ct, bits / 8, pt_buf, &len));
      CHECK(len == 20 && !memcmp(pt_buf, kMessage, 20));
      len = sizeof(pt_buf);
      CHECK_RES(TEE_AsymmetricDecrypt(op2, NULL, 0, ct, bits / 8, pt_buf, &len),
                TEE_ERROR_CIPHERTEXT_INVALID);
      ct[bits / 16] ^= 0x10;
      len = sizeof(pt_buf);
      CHECK_RES(TEE_AsymmetricDecrypt(op2, attrs, 1, ct, bits / 8, pt_buf, &len),
                TEE_ERROR_CIPHERTEXT_INVALID);
    }
    /* A message too long for the modulus and padding is an error, not a panic. */
    len = sizeof(ct);
    CHECK_RES(TEE_AsymmetricEncrypt(op, NULL, 0, pt_buf, bits / 8, ct, &len),
              TEE_ERROR_BAD_PARAMETERS);
  }
out:
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  TEE_FreeTransientObject(key);
  TEE_FreeTransientObject(pub);
  return res;
}

static TEE_Result cmd_ecdsa(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle key = TEE_HANDLE_NULL, pub = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  uint32_t curve = p[0].value.a, alg = p[0].value.b, bits = curve_bits(curve), a = 0, b = 1;
  size_t bytes = (bits + 7) / 8, x_len, y_len, hash_len = 64, len;
  uint8_t x[66], y[66], hash[64], sig[132];
  TEE_Attribute attrs[3];
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE) || bits == 0) return TEE_ERROR_BAD_PARAMETERS;

  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ECDSA_KEYPAIR, bits, &key));
  TEE_InitValueAttribute(&attrs[0], TEE_ATTR_ECC_CURVE, curve, 0);
  CHECK_OK(TEE_GenerateKey(key, bits, attrs, 1));
  CHECK_OK(TEE_GetObjectValueAttribute(key, TEE_ATTR_ECC_CURVE, &a, &b));
  CHECK(a == curve && b == 0);
  CHECK_OK(read_attr(key, TEE_ATTR_ECC_PUBLIC_VALUE_X, x, sizeof(x), &x_len));
  CHECK_OK(read_attr(key, TEE_ATTR_ECC_PUBLIC_VALUE_Y, y, sizeof(y), &y_len));
  CHECK(x_len <= bytes && y_len <= bytes);
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ECDSA_PUBLIC_KEY, bits, &pub));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_ECC_PUBLIC_VALUE_X, x, x_len);
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_ECC_PUBLIC_VALUE_Y, y, y_len);
  TEE_InitValueAttribute(&attrs[2], TEE_ATTR_ECC_CURVE, curve, 0x5a5a);
  CHECK_OK(TEE_PopulateTransientObject(pub, attrs, 3));
  CHECK_OK(TEE_GetObjectValueAttribute(pub, TEE_ATTR_ECC_CURVE, &a, &b));
  CHECK(a == curve && b == 0);

  CHECK_OK(digest(hash_of(alg), kMessage, sizeof(kMessage), hash, &hash_len));
  CHECK_OK(TEE_AllocateOperation(&op, alg, TEE_MODE_SIGN, bits));
  CHECK_OK(TEE_SetOperationKey(op, key));
  len = 2 * bytes - 1;
  CHECK_RES(TEE_AsymmetricSignDigest(op, NULL, 0, hash, hash_len, sig, &len),
            TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 2 * bytes);
  CHECK_OK(TEE_AsymmetricSignDigest(op, NULL, 0, hash, hash_len, sig, &len));
  CHECK(len == 2 * bytes);
  CHECK_OK(TEE_AllocateOperation(&op2, alg, TEE_MODE_VERIFY, bits));
  CHECK_OK(TEE_SetOperationKey(op2, pub));
  CHECK_OK(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len));
  sig[len - 1] ^= 0x01;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len),
            TEE_ERROR_SIGNATURE_INVALID);
  sig[len - 1] ^= 0x01;
  hash[1] ^= 0x01;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len),
            TEE_ERROR_SIGNATURE_INVALID);
  hash[1] ^= 0x01;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len - 2),
            TEE_ERROR_SIGNATURE_INVALID);
  CHECK_OK(TEE_AsymmetricVerifyDigest(op2, NULL, 0, hash, hash_len, sig, len));
out:
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  TEE_FreeTransientObject(key);
  TEE_FreeTransientObject(pub);
  return res;
}

/* One party of a key agreement: a fresh key pair and its public value(s). */
struct party {
  TEE_ObjectHandle key, secret;
  TEE_OperationHandle op;
  uint8_t x[66], y[66];
  size_t x_len, y_len;
};

static TEE_Result cmd_ecdh(uint32_t pt, TEE_Param p[4]) {
  struct party s[2];
  uint32_t curve = p[0].value.a, bits = curve ? curve_bits(curve) : 256;
  uint32_t type = curve ? TEE_TYPE_ECDH_KEYPAIR : TEE_TYPE_X25519_KEYPAIR;
  uint32_t alg = curve ? TEE_ALG_ECDH_DERIVE_SHARED_SECRET : TEE_ALG_X25519;
  uint8_t z[2][66];
  size_t z_len[2];
  TEE_Attribute attrs[2];
  TEE_ObjectInfo info;
  TEE_Result res = TEE_SUCCESS;
  int i;
  if (pt != PT(VALUE_INPUT, VALUE_OUTPUT, NONE, NONE) || bits == 0) return TEE_ERROR_BAD_PARAMETERS;
  memset(s, 0, sizeof(s));
  for (i = 0; i < 2; i++) {
    CHECK_OK(TEE_AllocateTransientObject(type, bits, &s[i].key));
    TEE_InitValueAttribute(&attrs[0], TEE_ATTR_ECC_CURVE, curve, 0);
    CHECK_OK(TEE_GenerateKey(s[i].key, bits, attrs, curve ? 1 : 0));
    if (curve) {
      CHECK_OK(read_attr(s[i].key, TEE_ATTR_ECC_PUBLIC_VALUE_X, s[i].x, sizeof(s[i].x), &s[i].x_len));
      CHECK_OK(read_attr(s[i].key, TEE_ATTR_ECC_PUBLIC_VALUE_Y, s[i].y, sizeof(s[i].y), &s[i].y_len));
    } else {
      CHECK_OK(read_attr(s[i].key, TEE_ATTR_X25519_PUBLIC_VALUE, s[i].x, sizeof(s[i].x), &s[i].x_len));
      CHECK(s[i].x_len == 32);
    }
    CHECK_OK(TEE_AllocateOperation(&s[i].op, alg, TEE_MODE_DERIVE, bits));
    CHECK_OK(TEE_SetOperationKey(s[i].op, s[i].key));
    CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, 1024, &s[i].secret));
  }
  for (i = 0; i < 2; i++) {
    struct party *peer = &s[1 - i];
    if (curve) {
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_ECC_PUBLIC_VALUE_X, peer->x, peer->x_len);
      TEE_InitRefAttribute(&attrs[1], TEE_ATTR_ECC_PUBLIC_VALUE_Y, peer->y, peer->y_len);
      TEE_DeriveKey(s[i].op, attrs, 2, s[i].secret);
    } else {
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_X25519_PUBLIC_VALUE, peer->x, peer->x_len);
      TEE_DeriveKey(s[i].op, attrs, 1, s[i].secret);
    }
    CHECK_OK(TEE_GetObjectInfo1(s[i].secret, &info));
    CHECK((info.handleFlags & TEE_HANDLE_FLAG_INITIALIZED) && info.objectSize == (bits + 7) / 8 * 8);
    CHECK_OK(read_attr(s[i].secret, TEE_ATTR_SECRET_VALUE, z[i], sizeof(z[i]), &z_len[i]));
  }
  CHECK(z_len[0] == z_len[1] && z_len[0] == (bits + 7) / 8 && !memcmp(z[0], z[1], z_len[0]));
  p[1].value.a = (uint32_t)z_len[0];
out:
  for (i = 0; i < 2; i++) {
    TEE_FreeOperation(s[i].op);
    TEE_FreeTransientObject(s[i].key);
    TEE_FreeTransientObject(s[i].secret);
  }
  return res;
}

static TEE_Result cmd_ed25519(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle key = TEE_HANDLE_NULL, pub = TEE_HANDLE_NULL, bad = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  const uint8_t *in = p[0].memref.buffer, *msg = in + 64;
  size_t msg_len = p[0].memref.size - 64, len;
  uint8_t *sig = p[1].memref.buffer, wrong_pub[32];
  TEE_Attribute attrs[2];
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(MEMREF_INPUT, MEMREF_OUTPUT, NONE, NONE) || p[0].memref.size < 64 ||
      p[1].memref.size < 64)
    return TEE_ERROR_BAD_PARAMETERS;
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ED25519_KEYPAIR, 256, &key));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_ED25519_PRIVATE_VALUE, in, 32);
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_ED25519_PUBLIC_VALUE, in + 32, 32);
  CHECK_OK(TEE_PopulateTransientObject(key, attrs, 2));
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_ED25519, TEE_MODE_SIGN, 256));
  CHECK_OK(TEE_SetOperationKey(op, key));
  len = 63;
  CHECK_RES(TEE_AsymmetricSignDigest(op, NULL, 0, msg, msg_len, sig, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 64);
  CHECK_OK(TEE_AsymmetricSignDigest(op, NULL, 0, msg, msg_len, sig, &len));
  CHECK(len == 64);
  p[1].memref.size = len;

  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ED25519_PUBLIC_KEY, 256, &pub));
  CHECK_OK(TEE_PopulateTransientObject(pub, &attrs[1], 1));
  CHECK_OK(TEE_AllocateOperation(&op2, TEE_ALG_ED25519, TEE_MODE_VERIFY, 256));
  CHECK_OK(TEE_SetOperationKey(op2, pub));
  CHECK_OK(TEE_AsymmetricVerifyDigest(op2, NULL, 0, msg, msg_len, sig, len));
  sig[10] ^= 0x04;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, msg, msg_len, sig, len),
            TEE_ERROR_SIGNATURE_INVALID);
  sig[10] ^= 0x04;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, NULL, 0, kMessage, 3, sig, len),
            TEE_ERROR_SIGNATURE_INVALID);

  /* A key pair whose public value is not its private value's: an error, not a panic. */
  memcpy(wrong_pub, in + 32, 32);
  wrong_pub[0] ^= 0x01;
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ED25519_KEYPAIR, 256, &bad));
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_ED25519_PUBLIC_VALUE, wrong_pub, 32);
  CHECK_RES(TEE_PopulateTransientObject(bad, attrs, 2), TEE_ERROR_BAD_PARAMETERS);
out:
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  TEE_FreeTransientObject(key);
  TEE_FreeTransientObject(pub);
  TEE_FreeTransientObject(bad);
  return res;
}

/* --- rules that end in an error --------------------------------------------------------------- */

static const uint8_t kSha256Abc[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const uint8_t kSha256Empty[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
static const uint8_t kKey128[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};

static TEE_Result check_objects(void) {
  TEE_ObjectHandle obj = TEE_HANDLE_NULL, copy = TEE_HANDLE_NULL;
  TEE_Attribute a;
  TEE_ObjectInfo info;
  uint8_t buf[64];
  size_t len;
  uint32_t va = 0, vb = 0;
  TEE_Result res = TEE_SUCCESS;

  /* Types and sizes that do not exist. */
  obj = (TEE_ObjectHandle)1;
  CHECK_RES(TEE_AllocateTransientObject(TEE_TYPE_AES, 100, &obj), TEE_ERROR_NOT_SUPPORTED);
  CHECK(obj == TEE_HANDLE_NULL);
  CHECK_RES(TEE_AllocateTransientObject(TEE_TYPE_AES, 512, &obj), TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateTransientObject(TEE_TYPE_DATA, 0, &obj), TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateTransientObject(TEE_TYPE_DES, 64, &obj), TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateTransientObject(0xA0001234, 128, &obj), TEE_ERROR_NOT_SUPPORTED);

  /* A fresh object: uninitialized, every usage allowed. */
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_AES, 256, &obj));
  CHECK_OK(TEE_GetObjectInfo1(obj, &info));
  CHECK(info.objectType == TEE_TYPE_AES && info.objectSize == 0 && info.maxObjectSize == 256 &&
        info.objectUsage == 0xFFFFFFFF && info.handleFlags == 0 && info.dataSize == 0);
  /* A key length AES does not have: an error, and the object stays empty. */
  TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, kKey128, 10);
  CHECK_RES(TEE_PopulateTransientObject(obj, &a, 1), TEE_ERROR_BAD_PARAMETERS);
  CHECK_OK(TEE_GetObjectInfo1(obj, &info));
  CHECK(info.handleFlags == 0);
  TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, kKey128, 16);
  CHECK_OK(TEE_PopulateTransientObject(obj, &a, 1));
  CHECK_OK(TEE_GetObjectInfo1(obj, &info));
  CHECK(info.objectSize == 128 && info.handleFlags == TEE_HANDLE_FLAG_INITIALIZED);

  /* Attribute reads: short buffer with the needed size, absent attributes. */
  len = 4;
  CHECK_RES(TEE_GetObjectBufferAttribute(obj, TEE_ATTR_SECRET_VALUE, buf, &len),
            TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_OK(TEE_GetObjectBufferAttribute(obj, TEE_ATTR_SECRET_VALUE, buf, &len));
  CHECK(len == 16 && !memcmp(buf, kKey128, 16));
  len = sizeof(buf);
  CHECK_RES(TEE_GetObjectBufferAttribute(obj, TEE_ATTR_RSA_MODULUS, buf, &len),
            TEE_ERROR_ITEM_NOT_FOUND);
  CHECK_RES(TEE_GetObjectValueAttribute(obj, TEE_ATTR_ECC_CURVE, &va, &vb), TEE_ERROR_ITEM_NOT_FOUND);

  /* Copy, then usage restriction travels with the copy. */
  CHECK_OK(TEE_RestrictObjectUsage1(obj, TEE_USAGE_ENCRYPT | TEE_USAGE_EXTRACTABLE));
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_AES, 128, &copy));
  CHECK_OK(TEE_CopyObjectAttributes1(copy, obj));
  CHECK_OK(TEE_GetObjectInfo1(copy, &info));
  CHECK(info.objectSize == 128 && info.objectUsage == (TEE_USAGE_ENCRYPT | TEE_USAGE_EXTRACTABLE));
  len = sizeof(buf);
  CHECK_OK(TEE_GetObjectBufferAttribute(copy, TEE_ATTR_SECRET_VALUE, buf, &len));
  CHECK(len == 16 && !memcmp(buf, kKey128, 16));

  /* Reset: empty again, usage back to all. */
  TEE_ResetTransientObject(copy);
  CHECK_OK(TEE_GetObjectInfo1(copy, &info));
  CHECK(info.objectSize == 0 && info.handleFlags == 0 && info.objectUsage == 0xFFFFFFFF);
  TEE_FreeTransientObject(TEE_HANDLE_NULL);
  TEE_ResetTransientObject(TEE_HANDLE_NULL);
out:
  TEE_FreeTransientObject(obj);
  TEE_FreeTransientObject(copy);
  return res;
}

static TEE_Result check_operations(void) {
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  TEE_ObjectHandle key = TEE_HANDLE_NULL, key2 = TEE_HANDLE_NULL;
  TEE_OperationInfo info;
  /* Room for the info and two keys. */
  uint64_t multi_buf[(sizeof(TEE_OperationInfoMultiple) + 2 * sizeof(TEE_OperationInfoKey) + 7) / 8];
  TEE_OperationInfoMultiple *multi = (TEE_OperationInfoMultiple *)multi_buf;
  uint8_t out[64], tag[16], pt_buf[32] = {0};
  size_t len, len2, tag_len;
  TEE_Result res = TEE_SUCCESS;

  /* Algorithms, modes and key sizes that do not exist. */
  op = (TEE_OperationHandle)1;
  CHECK_RES(TEE_AllocateOperation(&op, 0x10000999, TEE_MODE_ENCRYPT, 128), TEE_ERROR_NOT_SUPPORTED);
  CHECK(op == TEE_HANDLE_NULL);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_NOPAD, TEE_MODE_SIGN, 128),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_AES_ECB_NOPAD, TEE_MODE_ENCRYPT, 100),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_ECDSA_SHA256, TEE_MODE_SIGN, 384),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_ENCRYPT, 0), TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_SM4_CBC_NOPAD, TEE_MODE_ENCRYPT, 128),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_DES3_CBC_NOPAD, TEE_MODE_ENCRYPT, 192),
            TEE_ERROR_NOT_SUPPORTED);

  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_SHA256, TEE_CRYPTO_ELEMENT_NONE));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_AES_GCM, TEE_CRYPTO_ELEMENT_NONE));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_ECDSA_SHA256, TEE_ECC_CURVE_NIST_P256));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_ECDH_DERIVE_SHARED_SECRET, TEE_ECC_CURVE_NIST_P521));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_ED25519, TEE_ECC_CURVE_25519));
  CHECK_RES(TEE_IsAlgorithmSupported(TEE_ALG_ECDSA_SHA256, TEE_ECC_CURVE_NIST_P384),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_IsAlgorithmSupported(TEE_ALG_SHA256, TEE_ECC_CURVE_NIST_P256),
            TEE_ERROR_NOT_SUPPORTED);
  CHECK_RES(TEE_IsAlgorithmSupported(TEE_ALG_SM4_CBC_NOPAD, TEE_CRYPTO_ELEMENT_NONE),
            TEE_ERROR_NOT_SUPPORTED);

  /* Digest: copy mid-stream, extract in pieces, reset. */
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.operationClass == TEE_OPERATION_DIGEST && info.digestLength == 32 &&
        info.handleState == (TEE_HANDLE_FLAG_KEY_SET | TEE_HANDLE_FLAG_INITIALIZED));
  CHECK_OK(TEE_AllocateOperation(&op2, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0));
  TEE_DigestUpdate(op, "ab", 2);
  TEE_CopyOperation(op2, op);
  len = 31;
  CHECK_RES(TEE_DigestDoFinal(op, "c", 1, out, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 32);
  CHECK_OK(TEE_DigestDoFinal(op, "c", 1, out, &len));
  CHECK(len == 32 && !memcmp(out, kSha256Abc, 32));
  TEE_DigestUpdate(op2, "c", 1);
  len = 10;
  CHECK_OK(TEE_DigestExtract(op2, out, &len));
  CHECK(len == 10);
  len2 = 40;
  CHECK_OK(TEE_DigestExtract(op2, out + 10, &len2));
  CHECK(len2 == 22 && !memcmp(out, kSha256Abc, 32));
  TEE_ResetOperation(op2);
  len = sizeof(out);
  CHECK_OK(TEE_DigestDoFinal(op2, NULL, 0, out, &len));
  CHECK(len == 32 && !memcmp(out, kSha256Empty, 32));
  TEE_DigestUpdate(op, "junk", 4);
  TEE_ResetOperation(op);
  len = sizeof(out);
  CHECK_OK(TEE_DigestDoFinal(op, "abc", 3, out, &len));
  CHECK(!memcmp(out, kSha256Abc, 32));
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  op = op2 = TEE_HANDLE_NULL;

  /* Cipher: the handle state through key, init and final; info multiple. */
  CHECK_OK(make_secret(TEE_TYPE_AES, 128, kKey128, 16, &key));
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_NOPAD, TEE_MODE_ENCRYPT, 256));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.handleState == 0 && info.keySize == 0 && info.maxKeySize == 256 &&
        info.requiredKeyUsage == TEE_USAGE_ENCRYPT);
  CHECK_OK(TEE_SetOperationKey(op, key));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.handleState == TEE_HANDLE_FLAG_KEY_SET && info.keySize == 128);
  len = sizeof(TEE_OperationInfoMultiple);
  CHECK_RES(TEE_GetOperationInfoMultiple(op, multi, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == sizeof(TEE_OperationInfoMultiple) + sizeof(TEE_OperationInfoKey));
  len = sizeof(multi_buf);
  CHECK_OK(TEE_GetOperationInfoMultiple(op, multi, &len));
  CHECK(multi->numberOfKeys == 1 && multi->keyInformation[0].keySize == 128 &&
        multi->keyInformation[0].requiredKeyUsage == TEE_USAGE_ENCRYPT &&
        multi->operationState == TEE_OPERATION_STATE_INITIAL);
  TEE_CipherInit(op, kKey128, 16);
  TEE_GetOperationInfo(op, &info);
  CHECK(info.handleState == (TEE_HANDLE_FLAG_KEY_SET | TEE_HANDLE_FLAG_INITIALIZED));
  /* Short buffer: the needed size and nothing consumed. */
  len = 15;
  CHECK_RES(TEE_CipherUpdate(op, pt_buf, 20, out, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_OK(TEE_CipherUpdate(op, pt_buf, 20, out, &len));
  CHECK(len == 16);
  len = 0;
  CHECK_RES(TEE_CipherDoFinal(op, pt_buf, 12, out + 16, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_OK(TEE_CipherDoFinal(op, pt_buf, 12, out + 16, &len));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.handleState == TEE_HANDLE_FLAG_KEY_SET);
  /* Clearing the key. */
  CHECK_OK(TEE_SetOperationKey(op, TEE_HANDLE_NULL));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.handleState == 0 && info.keySize == 0);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;

  /* XTS: two keys, GP 1.3.1 refuses the same one twice. */
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_XTS, TEE_MODE_ENCRYPT, 256));
  CHECK_RES(TEE_SetOperationKey2(op, key, key), TEE_ERROR_SECURITY);
  CHECK_OK(make_secret(TEE_TYPE_AES, 128, kSha256Abc, 16, &key2));
  CHECK_OK(TEE_SetOperationKey2(op, key, key2));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.keySize == 0 && info.requiredKeyUsage == 0 &&
        (info.handleState & TEE_HANDLE_FLAG_EXPECT_TWO_KEYS));
  len = sizeof(multi_buf);
  CHECK_OK(TEE_GetOperationInfoMultiple(op, multi, &len));
  CHECK(multi->numberOfKeys == 2 && multi->keyInformation[1].keySize == 128);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;

  /* AE: tag lengths the modes do not define; short tag buffer. */
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_GCM, TEE_MODE_ENCRYPT, 128));
  CHECK_OK(TEE_SetOperationKey(op, key));
  CHECK_RES(TEE_AEInit(op, kKey128, 12, 64, 0, 0), TEE_ERROR_NOT_SUPPORTED);
  CHECK_OK(TEE_AEInit(op, kKey128, 12, 128, 0, 0));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.digestLength == 16);
  len = sizeof(out);
  tag_len = 15;
  CHECK_RES(TEE_AEEncryptFinal(op, pt_buf, 8, out, &len, tag, &tag_len), TEE_ERROR_SHORT_BUFFER);
  CHECK(tag_len == 16);
  CHECK_OK(TEE_AEEncryptFinal(op, pt_buf, 8, out, &len, tag, &tag_len));
  CHECK(len == 8 && tag_len == 16);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_CCM, TEE_MODE_ENCRYPT, 128));
  CHECK_OK(TEE_SetOperationKey(op, key));
  CHECK_RES(TEE_AEInit(op, kKey128, 12, 40, 0, 0), TEE_ERROR_NOT_SUPPORTED);

  /* MAC: copy mid-stream gives the same MAC. */
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_CMAC, TEE_MODE_MAC, 128));
  CHECK_OK(TEE_AllocateOperation(&op2, TEE_ALG_AES_CMAC, TEE_MODE_MAC, 128));
  CHECK_RES(TEE_SetOperationKey(op, key), TEE_SUCCESS);
  TEE_MACInit(op, NULL, 0);
  TEE_MACUpdate(op, kMessage, 20);
  TEE_CopyOperation(op2, op);
  len = sizeof(out);
  CHECK_OK(TEE_MACComputeFinal(op, kMessage + 20, 10, out, &len));
  CHECK(len == 16);
  len2 = sizeof(out) - 16;
  CHECK_OK(TEE_MACComputeFinal(op2, kMessage + 20, 10, out + 16, &len2));
  CHECK(len2 == 16 && !memcmp(out, out + 16, 16));
out:
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  TEE_FreeTransientObject(key);
  TEE_FreeTransientObject(key2);
  return res;
}

static TEE_Result cmd_errors(uint32_t pt) {
  TEE_Result res;
  if (pt != PT(NONE, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = check_objects();
  if (res == TEE_SUCCESS) res = check_operations();
  return res;
}

/* --- raw RSA and finite-field DH: the client supplies keys and checks results ------------------- */

static TEE_Result cmd_rsa_nopad(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle key = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  const uint8_t *blobs = p[1].memref.buffer, *n, *e, *d;
  size_t left = p[1].memref.size, n_len, e_len, d_len, len = p[3].memref.size;
  uint32_t mode = p[0].value.a, bits;
  TEE_Attribute attrs[3];
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_OUTPUT) ||
      (mode != TEE_MODE_ENCRYPT && mode != TEE_MODE_DECRYPT) ||
      !next_blob(&blobs, &left, &n, &n_len) || !next_blob(&blobs, &left, &e, &e_len) ||
      !next_blob(&blobs, &left, &d, &d_len) || n_len == 0 || n_len > 512)
    return TEE_ERROR_BAD_PARAMETERS;
  bits = (uint32_t)n_len * 8;
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_MODULUS, n, n_len);
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_RSA_PUBLIC_EXPONENT, e, e_len);
  TEE_InitRefAttribute(&attrs[2], TEE_ATTR_RSA_PRIVATE_EXPONENT, d, d_len);
  if (mode == TEE_MODE_ENCRYPT) {
    CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_RSA_PUBLIC_KEY, bits, &key));
    CHECK_OK(TEE_PopulateTransientObject(key, attrs, 2));
  } else {
    CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, bits, &key));
    CHECK_OK(TEE_PopulateTransientObject(key, attrs, 3));
  }
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_RSA_NOPAD, mode, bits));
  CHECK_OK(TEE_SetOperationKey(op, key));
  if (mode == TEE_MODE_ENCRYPT)
    res = TEE_AsymmetricEncrypt(op, NULL, 0, p[2].memref.buffer, p[2].memref.size,
                                p[3].memref.buffer, &len);
  else
    res = TEE_AsymmetricDecrypt(op, NULL, 0, p[2].memref.buffer, p[2].memref.size,
                                p[3].memref.buffer, &len);
  if (res == TEE_SUCCESS || res == TEE_ERROR_SHORT_BUFFER) p[3].memref.size = len;
out:
  TEE_FreeOperation(op);
  TEE_FreeTransientObject(key);
  return res;
}

static TEE_Result cmd_dh(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle key = TEE_HANDLE_NULL, secret = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  const uint8_t *blobs = p[1].memref.buffer, *b[6];
  size_t left = p[1].memref.size, b_len[6], len, x_len;
  uint32_t x_bits = p[0].value.a, bits, count = 0, a = 0, bv = 0;
  uint8_t x[256];
  TEE_Attribute attrs[5];
  TEE_ObjectInfo info;
  TEE_Result res = TEE_SUCCESS;
  int i;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, MEMREF_OUTPUT))
    return TEE_ERROR_BAD_PARAMETERS;
  for (i = 0; i < 6; i++)
    if (!next_blob(&blobs, &left, &b[i], &b_len[i])) return TEE_ERROR_BAD_PARAMETERS;
  if (b_len[0] == 0 || b_len[0] > 256) return TEE_ERROR_BAD_PARAMETERS;
  bits = (uint32_t)b_len[0] * 8;

  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_DH_KEYPAIR, bits, &key));
  TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_DH_PRIME, b[0], b_len[0]);
  TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_DH_BASE, b[1], b_len[1]);
  if (b_len[2] != 0) TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_DH_SUBPRIME, b[2], b_len[2]);
  if (b_len[3] == 0) {
    if (x_bits != 0) TEE_InitValueAttribute(&attrs[count++], TEE_ATTR_DH_X_BITS, x_bits, 0);
    CHECK_OK(TEE_GenerateKey(key, bits, attrs, count));
  } else {
    TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_DH_PRIVATE_VALUE, b[3], b_len[3]);
    TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_DH_PUBLIC_VALUE, b[4], b_len[4]);
    CHECK_OK(TEE_PopulateTransientObject(key, attrs, count));
  }
  CHECK_OK(TEE_GetObjectInfo1(key, &info));
  CHECK(info.objectType == TEE_TYPE_DH_KEYPAIR && info.objectSize == bits &&
        (info.handleFlags & TEE_HANDLE_FLAG_INITIALIZED));
  /* The private value: x_bits long when asked for, below the subprime when there is one. */
  CHECK_OK(read_attr(key, TEE_ATTR_DH_PRIVATE_VALUE, x, sizeof(x), &x_len));
  CHECK(x_len != 0);
  if (b_len[3] == 0 && x_bits != 0) {
    CHECK(x_len == (x_bits + 7) / 8 && (x[0] >> ((x_bits - 1) % 8)) == 1);
    CHECK_OK(TEE_GetObjectValueAttribute(key, TEE_ATTR_DH_X_BITS, &a, &bv));
    CHECK(a == x_bits && bv == 0);
  } else if (b_len[3] == 0 && b_len[2] != 0) {
    CHECK(x_len < b_len[2] || (x_len == b_len[2] && memcmp(x, b[2], x_len) < 0));
  }
  len = p[2].memref.size;
  CHECK_OK(read_attr(key, TEE_ATTR_DH_PUBLIC_VALUE, p[2].memref.buffer, len, &len));
  p[2].memref.size = len;

  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_DH_DERIVE_SHARED_SECRET, TEE_MODE_DERIVE, bits));
  CHECK_OK(TEE_SetOperationKey(op, key));
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, bits, &secret));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_DH_PUBLIC_VALUE, b[5], b_len[5]);
  TEE_DeriveKey(op, attrs, 1, secret);
  CHECK_OK(TEE_GetObjectInfo1(secret, &info));
  CHECK(info.handleFlags & TEE_HANDLE_FLAG_INITIALIZED);
  len = p[3].memref.size;
  CHECK_OK(read_attr(secret, TEE_ATTR_SECRET_VALUE, p[3].memref.buffer, len, &len));
  CHECK(info.objectSize == len * 8);
  p[3].memref.size = len;
out:
  TEE_FreeOperation(op);
  TEE_FreeTransientObject(key);
  TEE_FreeTransientObject(secret);
  return res;
}

/* A key type with a size it allows and one it refuses. */
struct size_rule {
  uint32_t type, ok_bits, bad_bits;
};

/* An operation TEE_AllocateOperation refuses (mode or key size). */
struct bad_op {
  uint32_t alg, mode, bits;
};

/* Allocation follows each size rule; the refusals are TEE_ERROR_NOT_SUPPORTED with a null
 * handle, not panics. */
static TEE_Result check_size_rules(const struct size_rule *sizes, size_t n_sizes,
                                   const struct bad_op *ops, size_t n_ops) {
  TEE_ObjectHandle obj = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_Result res = TEE_SUCCESS;
  size_t i;
  for (i = 0; i < n_sizes; i++) {
    CHECK_OK(TEE_AllocateTransientObject(sizes[i].type, sizes[i].ok_bits, &obj));
    TEE_FreeTransientObject(obj);
    obj = TEE_HANDLE_NULL;
    CHECK_RES(TEE_AllocateTransientObject(sizes[i].type, sizes[i].bad_bits, &obj),
              TEE_ERROR_NOT_SUPPORTED);
    CHECK(obj == TEE_HANDLE_NULL);
  }
  for (i = 0; i < n_ops; i++) {
    CHECK_RES(TEE_AllocateOperation(&op, ops[i].alg, ops[i].mode, ops[i].bits),
              TEE_ERROR_NOT_SUPPORTED);
    CHECK(op == TEE_HANDLE_NULL);
  }
out:
  TEE_FreeTransientObject(obj);
  TEE_FreeOperation(op);
  return res;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Size rules of the added key types and operations: errors, not panics. */
static TEE_Result cmd_new_alg_errors(uint32_t pt) {
  static const struct size_rule sizes[] = {
      {TEE_TYPE_HMAC_SHA3_224, 192, 184}, {TEE_TYPE_HMAC_SHA3_224, 1024, 1032},
      {TEE_TYPE_HMAC_SHA3_256, 256, 248}, {TEE_TYPE_HMAC_SHA3_384, 256, 260},
      {TEE_TYPE_HMAC_SHA3_512, 1024, 1040}, {TEE_TYPE_DH_KEYPAIR, 256, 2056},
      {TEE_TYPE_DH_KEYPAIR, 2048, 248},
  };
  /* Operations: the key size rules of their key types, and only their own modes. */
  static const struct bad_op bad_ops[] = {
      {TEE_ALG_HMAC_SHA3_256, TEE_MODE_MAC, 248},
      {TEE_ALG_SHA3_256, TEE_MODE_MAC, 0},
      {TEE_ALG_DH_DERIVE_SHARED_SECRET, TEE_MODE_DERIVE, 4096},
      {TEE_ALG_DH_DERIVE_SHARED_SECRET, TEE_MODE_ENCRYPT, 2048},
      {TEE_ALG_RSA_NOPAD, TEE_MODE_SIGN, 2048},
  };
  TEE_ObjectHandle obj = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_Attribute attrs[3];
  uint8_t prime[32], two = 2;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(NONE, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  CHECK_OK(check_size_rules(sizes, COUNT(sizes), bad_ops, COUNT(bad_ops)));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_SHA3_512, TEE_CRYPTO_ELEMENT_NONE));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_RSA_NOPAD, TEE_CRYPTO_ELEMENT_NONE));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_DH_DERIVE_SHARED_SECRET, TEE_CRYPTO_ELEMENT_NONE));
  CHECK_OK(TEE_IsAlgorithmSupported(TEE_ALG_ECDSA_SHA3_256, TEE_ECC_CURVE_NIST_P384));

  /* DH generation: the prime must be exactly the key size (rounded to bytes); x_bits must leave
   * room below the prime; prime and base are required (a missing one is a panic, not tested). */
  memset(prime, 0xff, sizeof(prime)); /* odd, 256 bits: a stand-in group is enough here */
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_DH_KEYPAIR, 512, &obj));
  TEE_InitRefAttribute(&attrs[0], TEE_ATTR_DH_PRIME, prime, sizeof(prime));
  TEE_InitRefAttribute(&attrs[1], TEE_ATTR_DH_BASE, &two, 1);
  CHECK_RES(TEE_GenerateKey(obj, 512, attrs, 2), TEE_ERROR_BAD_PARAMETERS);
  CHECK_OK(TEE_GenerateKey(obj, 256, attrs, 2));
  TEE_FreeTransientObject(obj);
  obj = TEE_HANDLE_NULL;
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_DH_KEYPAIR, 256, &obj));
  TEE_InitValueAttribute(&attrs[2], TEE_ATTR_DH_X_BITS, 256, 0);
  CHECK_RES(TEE_GenerateKey(obj, 256, attrs, 3), TEE_ERROR_BAD_PARAMETERS);
  TEE_InitValueAttribute(&attrs[2], TEE_ATTR_DH_X_BITS, 255, 0);
  CHECK_OK(TEE_GenerateKey(obj, 256, attrs, 3));
out:
  TEE_FreeTransientObject(obj);
  TEE_FreeOperation(op);
  return res;
}

/* --- HKDF, CBC-MAC, CTS ------------------------------------------------------------------------ */

static TEE_Result cmd_hkdf(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle ikm = TEE_HANDLE_NULL, okm = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  const uint8_t *blobs = p[1].memref.buffer, *b[3];
  size_t left = p[1].memref.size, b_len[3], len;
  uint32_t hash = p[0].value.a, out_len = p[0].value.b, count = 0, bits;
  TEE_Attribute attrs[4];
  TEE_ObjectInfo info;
  TEE_Result res = TEE_SUCCESS;
  int i;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  for (i = 0; i < 3; i++)
    if (!next_blob(&blobs, &left, &b[i], &b_len[i])) return TEE_ERROR_BAD_PARAMETERS;
  if (b_len[0] == 0 || b_len[0] > 512 || out_len == 0 || out_len > 512)
    return TEE_ERROR_BAD_PARAMETERS;
  bits = (uint32_t)b_len[0] * 8;
  CHECK_OK(make_secret(TEE_TYPE_HKDF, bits, b[0], b_len[0], &ikm));
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_HKDF, TEE_MODE_DERIVE, bits));
  CHECK_OK(TEE_SetOperationKey(op, ikm));
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, out_len * 8, &okm));
  if (b_len[1] != 0) TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_HKDF_SALT, b[1], b_len[1]);
  TEE_InitRefAttribute(&attrs[count++], TEE_ATTR_HKDF_INFO, b[2], b_len[2]);
  if (hash != 0) TEE_InitValueAttribute(&attrs[count++], TEE_ATTR_HKDF_HASH_ALGORITHM, hash, 0);
  TEE_InitValueAttribute(&attrs[count++], TEE_ATTR_KDF_KEY_SIZE, out_len, 0);
  TEE_DeriveKey(op, attrs, count, okm);
  CHECK_OK(TEE_GetObjectInfo1(okm, &info));
  CHECK(info.objectType == TEE_TYPE_GENERIC_SECRET && info.objectSize == out_len * 8 &&
        (info.handleFlags & TEE_HANDLE_FLAG_INITIALIZED));
  len = p[2].memref.size;
  CHECK_OK(read_attr(okm, TEE_ATTR_SECRET_VALUE, p[2].memref.buffer, len, &len));
  CHECK(len == out_len);
  p[2].memref.size = len;
out:
  TEE_FreeOperation(op);
  TEE_FreeTransientObject(ikm);
  TEE_FreeTransientObject(okm);
  return res;
}

static TEE_Result cmd_kdf_mac_errors(uint32_t pt) {
  static const struct size_rule sizes[] = {
      {TEE_TYPE_HKDF, 8, 0},     {TEE_TYPE_HKDF, 4096, 4104}, {TEE_TYPE_HKDF, 256, 252},
      {TEE_TYPE_DES3, 112, 128}, {TEE_TYPE_DES3, 168, 192},   {TEE_TYPE_DES3, 168, 56},
  };
  static const struct bad_op bad_ops[] = {
      {TEE_ALG_HKDF, TEE_MODE_MAC, 256},
      {TEE_ALG_HKDF, TEE_MODE_DERIVE, 4112},
      {TEE_ALG_AES_CBC_MAC_NOPAD, TEE_MODE_ENCRYPT, 128},
      {TEE_ALG_AES_CBC_MAC_PKCS5, TEE_MODE_MAC, 136},
      {TEE_ALG_AES_CTS, TEE_MODE_MAC, 128},
      {TEE_ALG_AES_CTS, TEE_MODE_ENCRYPT, 100},
      {TEE_ALG_DES3_CBC_NOPAD, TEE_MODE_ENCRYPT, 192},
      {TEE_ALG_DES3_ECB_NOPAD, TEE_MODE_DECRYPT, 128},
      {TEE_ALG_DES3_CBC_MAC_PKCS5, TEE_MODE_ENCRYPT, 168},
  };
  static const uint32_t supported[] = {
      TEE_ALG_HKDF,           TEE_ALG_AES_CBC_MAC_NOPAD,  TEE_ALG_AES_CBC_MAC_PKCS5,
      TEE_ALG_AES_CTS,        TEE_ALG_DES3_ECB_NOPAD,     TEE_ALG_DES3_CBC_NOPAD,
      TEE_ALG_DES3_CBC_MAC_NOPAD, TEE_ALG_DES3_CBC_MAC_PKCS5};
  static const uint8_t des3_key[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                       13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
  TEE_ObjectInfo oinfo;
  uint8_t got[32];
  TEE_ObjectHandle obj = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_OperationInfo info;
  uint8_t buf[32] = {0}, mac[16];
  size_t i, len;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(NONE, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  CHECK_OK(check_size_rules(sizes, COUNT(sizes), bad_ops, COUNT(bad_ops)));
  for (i = 0; i < COUNT(supported); i++)
    CHECK_OK(TEE_IsAlgorithmSupported(supported[i], TEE_CRYPTO_ELEMENT_NONE));
  /* CBC-MAC: the operation class and MAC size, and SHORT_BUFFER with the needed size. */
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_MAC_PKCS5, TEE_MODE_MAC, 128));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.operationClass == TEE_OPERATION_MAC && info.digestLength == 16 &&
        info.requiredKeyUsage == TEE_USAGE_MAC);
  CHECK_OK(make_secret(TEE_TYPE_AES, 128, kKey128, 16, &obj));
  CHECK_OK(TEE_SetOperationKey(op, obj));
  TEE_MACInit(op, NULL, 0);
  len = 15;
  CHECK_RES(TEE_MACComputeFinal(op, buf, 5, mac, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_OK(TEE_MACComputeFinal(op, buf, 5, mac, &len));
  CHECK(len == 16);
  /* The same MAC again after TEE_MACInit, now through TEE_MACCompareFinal in two pieces. */
  TEE_MACInit(op, NULL, 0);
  TEE_MACUpdate(op, buf, 2);
  CHECK_OK(TEE_MACCompareFinal(op, buf + 2, 3, mac, 16));
  mac[0] ^= 1;
  TEE_MACInit(op, NULL, 0);
  CHECK_RES(TEE_MACCompareFinal(op, buf, 5, mac, 16), TEE_ERROR_MAC_INVALID);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;
  TEE_FreeTransientObject(obj);
  obj = TEE_HANDLE_NULL;

  /* Triple DES: sizes without parity bits (16 bytes are 112 bits, 24 bytes 168), other key
   * lengths refused, generated keys of 16 and 24 bytes, an 8-byte MAC. */
  CHECK_OK(make_secret(TEE_TYPE_DES3, 168, des3_key, 24, &obj));
  CHECK_OK(TEE_GetObjectInfo1(obj, &oinfo));
  CHECK(oinfo.objectSize == 168 && oinfo.maxObjectSize == 168);
  TEE_FreeTransientObject(obj);
  obj = TEE_HANDLE_NULL;
  CHECK_OK(make_secret(TEE_TYPE_DES3, 168, des3_key, 16, &obj));
  CHECK_OK(TEE_GetObjectInfo1(obj, &oinfo));
  CHECK(oinfo.objectSize == 112);
  TEE_FreeTransientObject(obj);
  obj = TEE_HANDLE_NULL;
  CHECK_RES(make_secret(TEE_TYPE_DES3, 168, des3_key, 8, &obj), TEE_ERROR_BAD_PARAMETERS);
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_DES3, 168, &obj));
  CHECK_OK(TEE_GenerateKey(obj, 112, NULL, 0));
  CHECK_OK(TEE_GetObjectInfo1(obj, &oinfo));
  CHECK(oinfo.objectSize == 112);
  CHECK_OK(read_attr(obj, TEE_ATTR_SECRET_VALUE, got, sizeof(got), &len));
  CHECK(len == 16);
  TEE_ResetTransientObject(obj);
  CHECK_OK(TEE_GenerateKey(obj, 168, NULL, 0));
  CHECK_OK(read_attr(obj, TEE_ATTR_SECRET_VALUE, got, sizeof(got), &len));
  CHECK(len == 24);
  CHECK_OK(TEE_AllocateOperation(&op, TEE_ALG_DES3_CBC_MAC_NOPAD, TEE_MODE_MAC, 168));
  TEE_GetOperationInfo(op, &info);
  CHECK(info.digestLength == 8 && info.maxKeySize == 168);
  CHECK_OK(TEE_SetOperationKey(op, obj));
  TEE_MACInit(op, NULL, 0);
  len = sizeof(mac);
  CHECK_OK(TEE_MACComputeFinal(op, buf, 16, mac, &len));
  CHECK(len == 8);
out:
  TEE_FreeTransientObject(obj);
  TEE_FreeOperation(op);
  return res;
}

/* --- key generation ----------------------------------------------------------------------------- */

static TEE_Result generate_one(uint32_t type, uint32_t bits, const TEE_Attribute *params,
                               uint32_t count, uint32_t probe_attr, size_t probe_len) {
  TEE_ObjectHandle obj = TEE_HANDLE_NULL;
  TEE_ObjectInfo info;
  uint8_t buf[600];
  size_t len = sizeof(buf);
  TEE_Result res = TEE_SUCCESS;
  CHECK_OK(TEE_AllocateTransientObject(type, bits, &obj));
  CHECK_OK(TEE_GenerateKey(obj, bits, params, count));
  CHECK_OK(TEE_GetObjectInfo1(obj, &info));
  CHECK(info.objectType == type && info.objectSize == bits &&
        info.handleFlags == TEE_HANDLE_FLAG_INITIALIZED);
  CHECK_OK(TEE_GetObjectBufferAttribute(obj, probe_attr, buf, &len));
  CHECK(probe_len == 0 || len == probe_len);
out:
  TEE_FreeTransientObject(obj);
  return res;
}

static TEE_Result cmd_generate(uint32_t pt) {
  TEE_ObjectHandle obj = TEE_HANDLE_NULL, pub = TEE_HANDLE_NULL;
  TEE_Attribute a;
  TEE_ObjectInfo info;
  uint8_t three = 3;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(NONE, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  CHECK_OK(generate_one(TEE_TYPE_AES, 128, NULL, 0, TEE_ATTR_SECRET_VALUE, 16));
  CHECK_OK(generate_one(TEE_TYPE_AES, 192, NULL, 0, TEE_ATTR_SECRET_VALUE, 24));
  CHECK_OK(generate_one(TEE_TYPE_AES, 256, NULL, 0, TEE_ATTR_SECRET_VALUE, 32));
  CHECK_OK(generate_one(TEE_TYPE_HMAC_SHA256, 256, NULL, 0, TEE_ATTR_SECRET_VALUE, 32));
  CHECK_OK(generate_one(TEE_TYPE_GENERIC_SECRET, 136, NULL, 0, TEE_ATTR_SECRET_VALUE, 17));
  CHECK_OK(generate_one(TEE_TYPE_RSA_KEYPAIR, 1024, NULL, 0, TEE_ATTR_RSA_PRIME1, 64));
  TEE_InitValueAttribute(&a, TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P384, 0);
  CHECK_OK(generate_one(TEE_TYPE_ECDH_KEYPAIR, 384, &a, 1, TEE_ATTR_ECC_PRIVATE_VALUE, 0));
  CHECK_OK(generate_one(TEE_TYPE_ED25519_KEYPAIR, 256, NULL, 0, TEE_ATTR_ED25519_PUBLIC_VALUE, 32));
  CHECK_OK(generate_one(TEE_TYPE_X25519_KEYPAIR, 256, NULL, 0, TEE_ATTR_X25519_PRIVATE_VALUE, 32));

  /* Generation parameters the key cannot have: errors. */
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, 1024, &obj));
  TEE_InitRefAttribute(&a, TEE_ATTR_RSA_PUBLIC_EXPONENT, &three, 1);
  CHECK_RES(TEE_GenerateKey(obj, 1024, &a, 1), TEE_ERROR_BAD_PARAMETERS);
  TEE_FreeTransientObject(obj);
  obj = TEE_HANDLE_NULL;
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ECDSA_KEYPAIR, 521, &obj));
  TEE_InitValueAttribute(&a, TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P256, 0);
  CHECK_RES(TEE_GenerateKey(obj, 521, &a, 1), TEE_ERROR_BAD_PARAMETERS);
  TEE_InitValueAttribute(&a, TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P521, 0);
  CHECK_OK(TEE_GenerateKey(obj, 521, &a, 1));

  /* The public half of a key pair copies into a public-key object. */
  CHECK_OK(TEE_AllocateTransientObject(TEE_TYPE_ECDSA_PUBLIC_KEY, 521, &pub));
  CHECK_OK(TEE_CopyObjectAttributes1(pub, obj));
  CHECK_OK(TEE_GetObjectInfo1(pub, &info));
  CHECK(info.objectSize == 521 && info.handleFlags == TEE_HANDLE_FLAG_INITIALIZED);
out:
  TEE_FreeTransientObject(obj);
  TEE_FreeTransientObject(pub);
  return res;
}

/* --- panics: each case breaks one rule for which GP requires TEE_Panic ------------------------- */

/* An operation of 128-bit keys with kKey128 in an object of `type` set as its key; failures are
 * left for the rule under test to trip over. */
static void keyed_op(uint32_t alg, uint32_t mode, uint32_t type, TEE_OperationHandle *op,
                     TEE_ObjectHandle *key) {
  TEE_AllocateOperation(op, alg, mode, 128);
  make_secret(type, 128, kKey128, 16, key);
  TEE_SetOperationKey(*op, *key);
}

static TEE_Result cmd_panic(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectHandle key = TEE_HANDLE_NULL;
  TEE_Attribute attrs[2];
  uint8_t buf[64] = {0};
  size_t len = sizeof(buf), len2 = sizeof(buf);
  uint32_t on_stack = 0;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  switch (p[0].value.a) {
    case TA_CRYPTO_PANIC_UPDATE_WITHOUT_KEY:
      TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_NOPAD, TEE_MODE_ENCRYPT, 128);
      TEE_CipherUpdate(op, buf, 16, buf, &len);
      break;
    case TA_CRYPTO_PANIC_BOGUS_HANDLE:
      TEE_FreeOperation((TEE_OperationHandle)&on_stack);
      break;
    case TA_CRYPTO_PANIC_FREED_OBJECT:
      TEE_AllocateTransientObject(TEE_TYPE_AES, 128, &key);
      TEE_FreeTransientObject(key);
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_SECRET_VALUE, kKey128, 16);
      TEE_PopulateTransientObject(key, attrs, 1);
      break;
    case TA_CRYPTO_PANIC_WRONG_CLASS:
      TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0);
      TEE_MACCompareFinal(op, NULL, 0, buf, 32);
      break;
    case TA_CRYPTO_PANIC_AAD_AFTER_PAYLOAD:
      keyed_op(TEE_ALG_AES_GCM, TEE_MODE_ENCRYPT, TEE_TYPE_AES, &op, &key);
      TEE_AEInit(op, kKey128, 12, 128, 0, 0);
      TEE_AEUpdate(op, buf, 16, buf + 16, &len);
      TEE_AEUpdateAAD(op, buf, 4);
      break;
    case TA_CRYPTO_PANIC_WRONG_KEY_TYPE:
      TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA256, TEE_MODE_MAC, 256);
      make_secret(TEE_TYPE_AES, 128, kKey128, 16, &key);
      TEE_SetOperationKey(op, key);
      break;
    case TA_CRYPTO_PANIC_PARTIAL_BLOCK:
      keyed_op(TEE_ALG_AES_ECB_NOPAD, TEE_MODE_ENCRYPT, TEE_TYPE_AES, &op, &key);
      TEE_CipherInit(op, NULL, 0);
      TEE_CipherDoFinal(op, buf, 8, buf + 16, &len);
      break;
    case TA_CRYPTO_PANIC_NOT_EXTRACTABLE:
      make_secret(TEE_TYPE_AES, 128, kKey128, 16, &key);
      TEE_RestrictObjectUsage1(key, ~(uint32_t)TEE_USAGE_EXTRACTABLE);
      TEE_GetObjectBufferAttribute(key, TEE_ATTR_SECRET_VALUE, buf, &len);
      break;
    case TA_CRYPTO_PANIC_KEY_TOO_BIG:
      TEE_AllocateOperation(&op, TEE_ALG_AES_CTR, TEE_MODE_ENCRYPT, 128);
      make_secret(TEE_TYPE_AES, 256, kSha256Abc, 32, &key);
      TEE_SetOperationKey(op, key);
      break;
    case TA_CRYPTO_PANIC_MISSING_ATTRIBUTE:
      TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, 512, &key);
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_MODULUS, buf, 64);
      TEE_InitRefAttribute(&attrs[1], TEE_ATTR_RSA_PUBLIC_EXPONENT, buf, 3);
      TEE_PopulateTransientObject(key, attrs, 2);
      break;
    case TA_CRYPTO_PANIC_WRONG_MODE:
      TEE_AllocateOperation(&op, TEE_ALG_RSASSA_PKCS1_V1_5_SHA256, TEE_MODE_VERIFY, 1024);
      TEE_AsymmetricSignDigest(op, NULL, 0, kSha256Abc, 32, buf, &len2);
      break;
    case TA_CRYPTO_PANIC_KEY_USAGE:
      make_secret(TEE_TYPE_AES, 128, kKey128, 16, &key);
      TEE_RestrictObjectUsage1(key, TEE_USAGE_DECRYPT);
      TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_NOPAD, TEE_MODE_ENCRYPT, 128);
      TEE_SetOperationKey(op, key);
      break;
    case TA_CRYPTO_PANIC_DH_WRONG_PARAM: {
      uint8_t prime[32], two = 2;
      memset(prime, 0xff, sizeof(prime));
      TEE_AllocateTransientObject(TEE_TYPE_DH_KEYPAIR, 256, &key);
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_DH_PRIME, prime, sizeof(prime));
      TEE_InitRefAttribute(&attrs[1], TEE_ATTR_DH_BASE, &two, 1);
      if (TEE_GenerateKey(key, 256, attrs, 2) != TEE_SUCCESS) break;
      TEE_AllocateOperation(&op, TEE_ALG_DH_DERIVE_SHARED_SECRET, TEE_MODE_DERIVE, 256);
      TEE_SetOperationKey(op, key);
      TEE_FreeTransientObject(key);
      TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, 256, &key);
      TEE_InitRefAttribute(&attrs[0], TEE_ATTR_ECC_PUBLIC_VALUE_X, prime, 8);
      TEE_DeriveKey(op, attrs, 1, key);
      break;
    }
    case TA_CRYPTO_PANIC_NOPAD_WRONG_MODE:
      TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, 1024, &key);
      if (TEE_GenerateKey(key, 1024, NULL, 0) != TEE_SUCCESS) break;
      TEE_AllocateOperation(&op, TEE_ALG_RSA_NOPAD, TEE_MODE_ENCRYPT, 1024);
      TEE_SetOperationKey(op, key);
      TEE_AsymmetricDecrypt(op, NULL, 0, buf, 16, buf, &len2);
      break;
    case TA_CRYPTO_PANIC_HKDF_NO_SIZE:
    case TA_CRYPTO_PANIC_HKDF_TOO_BIG: {
      TEE_ObjectHandle okm = TEE_HANDLE_NULL;
      keyed_op(TEE_ALG_HKDF, TEE_MODE_DERIVE, TEE_TYPE_HKDF, &op, &key);
      TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, 256, &okm);
      /* 33 bytes do not fit a 256-bit object; 32 would. */
      TEE_InitValueAttribute(&attrs[0], p[0].value.a == TA_CRYPTO_PANIC_HKDF_NO_SIZE
                                            ? TEE_ATTR_HKDF_HASH_ALGORITHM
                                            : TEE_ATTR_KDF_KEY_SIZE,
                             p[0].value.a == TA_CRYPTO_PANIC_HKDF_NO_SIZE ? TEE_ALG_SHA256 : 33,
                             0);
      TEE_DeriveKey(op, attrs, 1, okm);
      break;
    }
    case TA_CRYPTO_PANIC_HKDF_WRONG_KEY:
      keyed_op(TEE_ALG_HKDF, TEE_MODE_DERIVE, TEE_TYPE_GENERIC_SECRET, &op, &key);
      break;
    case TA_CRYPTO_PANIC_CBC_MAC_PARTIAL:
      keyed_op(TEE_ALG_AES_CBC_MAC_NOPAD, TEE_MODE_MAC, TEE_TYPE_AES, &op, &key);
      TEE_MACInit(op, NULL, 0);
      TEE_MACUpdate(op, buf, 16);
      TEE_MACComputeFinal(op, buf, 15, buf + 32, &len);
      break;
    case TA_CRYPTO_PANIC_CBC_MAC_EMPTY:
      keyed_op(TEE_ALG_AES_CBC_MAC_NOPAD, TEE_MODE_MAC, TEE_TYPE_AES, &op, &key);
      TEE_MACInit(op, NULL, 0);
      TEE_MACCompareFinal(op, NULL, 0, buf, 16);
      break;
    case TA_CRYPTO_PANIC_CTS_SHORT:
      keyed_op(TEE_ALG_AES_CTS, TEE_MODE_ENCRYPT, TEE_TYPE_AES, &op, &key);
      TEE_CipherInit(op, buf, 16);
      TEE_CipherDoFinal(op, buf, 16, buf + 16, &len);
      break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  /* Still alive: the rule was not enforced. */
  return TEE_ERROR_GENERIC;
}

/* Objects and operations a TA forgets: the runtime frees them with the instance. */
static TEE_Result cmd_leak(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  TEE_ObjectHandle key = TEE_HANDLE_NULL, obj = TEE_HANDLE_NULL;
  TEE_Attribute a;
  if (pt != PT(VALUE_OUTPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  if (make_secret(TEE_TYPE_AES, 128, kKey128, 16, &key) != TEE_SUCCESS ||
      TEE_AllocateOperation(&op, TEE_ALG_AES_GCM, TEE_MODE_DECRYPT, 128) != TEE_SUCCESS ||
      TEE_SetOperationKey(op, key) != TEE_SUCCESS ||
      TEE_AEInit(op, kKey128, 12, 128, 0, 0) != TEE_SUCCESS ||
      TEE_AllocateOperation(&op2, TEE_ALG_SHA512, TEE_MODE_DIGEST, 0) != TEE_SUCCESS ||
      TEE_AllocateTransientObject(TEE_TYPE_ECDSA_KEYPAIR, 256, &obj) != TEE_SUCCESS)
    return TEE_ERROR_GENERIC;
  TEE_InitValueAttribute(&a, TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P256, 0);
  if (TEE_GenerateKey(obj, 256, &a, 1) != TEE_SUCCESS) return TEE_ERROR_GENERIC;
  TEE_DigestUpdate(op2, kMessage, sizeof(kMessage));
  p[0].value.a = 4;
  return TEE_SUCCESS;
}

static TEE_Result cmd_make_handle(uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_Result res;
  if (pt != PT(VALUE_OUTPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocateOperation(&op, TEE_ALG_SHA1, TEE_MODE_DIGEST, 0);
  p[0].value.a = (uint32_t)(uintptr_t)op;
  p[0].value.b = (uint32_t)((uint64_t)(uintptr_t)op >> 32);
  return res;
}

static TEE_Result cmd_free_handle(uint32_t pt, TEE_Param p[4]) {
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  TEE_FreeOperation((TEE_OperationHandle)(uintptr_t)((uint64_t)p[0].value.b << 32 | p[0].value.a));
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess, uint32_t cmd, uint32_t pt, TEE_Param p[4]) {
  (void)sess;
  switch (cmd) {
    case TA_CRYPTO_CMD_DIGEST: return cmd_digest(pt, p);
    case TA_CRYPTO_CMD_MAC: return cmd_mac(pt, p, false);
    case TA_CRYPTO_CMD_MAC_COMPARE: return cmd_mac(pt, p, true);
    case TA_CRYPTO_CMD_CIPHER: return cmd_cipher(pt, p);
    case TA_CRYPTO_CMD_AE: return cmd_ae(pt, p);
    case TA_CRYPTO_CMD_RSA: return cmd_rsa(pt, p);
    case TA_CRYPTO_CMD_ECDSA: return cmd_ecdsa(pt, p);
    case TA_CRYPTO_CMD_ECDH: return cmd_ecdh(pt, p);
    case TA_CRYPTO_CMD_ED25519: return cmd_ed25519(pt, p);
    case TA_CRYPTO_CMD_ERRORS: return cmd_errors(pt);
    case TA_CRYPTO_CMD_PANIC: return cmd_panic(pt, p);
    case TA_CRYPTO_CMD_LEAK: return cmd_leak(pt, p);
    case TA_CRYPTO_CMD_GENERATE: return cmd_generate(pt);
    case TA_CRYPTO_CMD_MAKE_HANDLE: return cmd_make_handle(pt, p);
    case TA_CRYPTO_CMD_FREE_HANDLE: return cmd_free_handle(pt, p);
    case TA_CRYPTO_CMD_RSA_NOPAD: return cmd_rsa_nopad(pt, p);
    case TA_CRYPTO_CMD_DH: return cmd_dh(pt, p);
    case TA_CRYPTO_CMD_NEW_ALG_ERRORS: return cmd_new_alg_errors(pt);
    case TA_CRYPTO_CMD_HKDF: return cmd_hkdf(pt, p);
    case TA_CRYPTO_CMD_KDF_MAC_ERRORS: return cmd_kdf_mac_errors(pt);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
