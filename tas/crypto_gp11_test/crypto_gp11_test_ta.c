/* A TA written against GP TEE Internal Core API 1.1 (built with __OPTEE_CORE_API_COMPAT_1_1): its
 * lengths are uint32_t and its attributes the 1.1 layout, so every call here goes to a __GP11_
 * function of the runtime. */
#include <string.h>
#include <tee_internal_api.h>
#include <user_ta_header_defines.h>

#define FAILED (TA_CRYPTO_GP11_FAILED | (uint32_t)__LINE__)
#define CHECK(c)    \
  do {              \
    if (!(c)) {     \
      res = FAILED; \
      goto out;     \
    }               \
  } while (0)
#define CHECK_RES(expr, want) CHECK((expr) == (want))

/* The compat header renames the 1.3.1 names to their 1.1 twins for this TA. */
_Static_assert(sizeof(((TEE_Param *)0)->memref.size) == 4, "GP 1.1 TEE_Param");
_Static_assert(sizeof(((TEE_Attribute *)0)->content.ref.length) == 4, "GP 1.1 TEE_Attribute");

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}
TEE_Result TA_OpenSessionEntryPoint(uint32_t pt, TEE_Param params[4], void **sess) {
  (void)pt;
  (void)params;
  *sess = NULL;
  return TEE_SUCCESS;
}
void TA_CloseSessionEntryPoint(void *sess) { (void)sess; }

static const uint8_t kKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t kIv[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
/* SP 800-38A F.2.1: the first block of CBC-AES128. */
static const uint8_t kPlain[16] = {0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
                                   0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a};
static const uint8_t kCbc[16] = {0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46,
                                 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9, 0x19, 0x7d};
/* RFC 4231 test case 2, HMAC-SHA-256. */
static const uint8_t kHmac[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                  0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                  0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};

static TEE_Result secret(uint32_t type, uint32_t bits, const void *k, uint32_t len,
                         TEE_ObjectHandle *obj) {
  TEE_Attribute a;
  TEE_Result res = TEE_AllocateTransientObject(type, bits, obj);
  if (res != TEE_SUCCESS) return res;
  TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, k, len);
  return TEE_PopulateTransientObject(*obj, &a, 1);
}

static TEE_Result self_test(void) {
  TEE_ObjectHandle aes = TEE_HANDLE_NULL, hkey = TEE_HANDLE_NULL, rsa = TEE_HANDLE_NULL;
  TEE_OperationHandle op = TEE_HANDLE_NULL, op2 = TEE_HANDLE_NULL;
  TEE_ObjectInfo info;
  TEE_Attribute a;
  uint8_t buf[256], sig[128], hash[32];
  uint32_t len, len2, tag_len;
  uint64_t multi_buf[8];
  TEE_OperationInfoMultiple *multi = (TEE_OperationInfoMultiple *)(void *)multi_buf;
  TEE_Result res = TEE_SUCCESS;

  /* Objects: 1.1 info layout, 32-bit attribute length. */
  CHECK_RES(secret(TEE_TYPE_AES, 128, kKey, 16, &aes), TEE_SUCCESS);
  CHECK_RES(TEE_GetObjectInfo1(aes, &info), TEE_SUCCESS);
  CHECK(info.keySize == 128 && info.maxKeySize == 128 && info.dataSize == 0 &&
        info.handleFlags == TEE_HANDLE_FLAG_INITIALIZED);
  len = 3;
  CHECK_RES(TEE_GetObjectBufferAttribute(aes, TEE_ATTR_SECRET_VALUE, buf, &len),
            TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_RES(TEE_GetObjectBufferAttribute(aes, TEE_ATTR_SECRET_VALUE, buf, &len), TEE_SUCCESS);
  CHECK(len == 16 && !memcmp(buf, kKey, 16));

  /* Cipher with 32-bit lengths. */
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_AES_CBC_NOPAD, TEE_MODE_ENCRYPT, 128), TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op, aes), TEE_SUCCESS);
  TEE_CipherInit(op, kIv, sizeof(kIv));
  len = 8;
  CHECK_RES(TEE_CipherUpdate(op, kPlain, 16, buf, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 16);
  CHECK_RES(TEE_CipherUpdate(op, kPlain, 16, buf, &len), TEE_SUCCESS);
  len2 = sizeof(buf) - 16;
  CHECK_RES(TEE_CipherDoFinal(op, NULL, 0, buf + 16, &len2), TEE_SUCCESS);
  CHECK(len == 16 && len2 == 0 && !memcmp(buf, kCbc, 16));
  len = sizeof(multi_buf);
  CHECK_RES(TEE_GetOperationInfoMultiple(op, multi, &len), TEE_SUCCESS);
  CHECK(multi->numberOfKeys == 1);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;

  /* GP 1.1 lets XTS take the same key twice. */
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_AES_XTS, TEE_MODE_ENCRYPT, 256), TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey2(op, aes, aes), TEE_SUCCESS);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;

  /* MAC. */
  CHECK_RES(secret(TEE_TYPE_HMAC_SHA256, 256, "Jefe", 4, &hkey), TEE_SUCCESS);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA256, TEE_MODE_MAC, 256), TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op, hkey), TEE_SUCCESS);
  TEE_MACInit(op, NULL, 0);
  TEE_MACUpdate(op, "what do ya want ", 16);
  len = 31;
  CHECK_RES(TEE_MACComputeFinal(op, "for nothing?", 12, buf, &len), TEE_ERROR_SHORT_BUFFER);
  CHECK(len == 32);
  CHECK_RES(TEE_MACComputeFinal(op, "for nothing?", 12, buf, &len), TEE_SUCCESS);
  CHECK(len == 32 && !memcmp(buf, kHmac, 32));
  TEE_MACInit(op, NULL, 0);
  CHECK_RES(TEE_MACCompareFinal(op, "what do ya want for nothing?", 28, kHmac, 32), TEE_SUCCESS);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;

  /* Authenticated encryption, then decryption of the result. */
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_AES_GCM, TEE_MODE_ENCRYPT, 128), TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op, aes), TEE_SUCCESS);
  CHECK_RES(TEE_AEInit(op, kIv, 12, 128, 4, 16), TEE_SUCCESS);
  TEE_AEUpdateAAD(op, "aad!", 4);
  len = 16;
  CHECK_RES(TEE_AEUpdate(op, kPlain, 8, buf, &len), TEE_SUCCESS);
  CHECK(len == 8);
  len = sizeof(buf) - 8;
  tag_len = 16;
  CHECK_RES(TEE_AEEncryptFinal(op, kPlain + 8, 8, buf + 8, &len, sig, &tag_len), TEE_SUCCESS);
  CHECK(len == 8 && tag_len == 16);
  CHECK_RES(TEE_AllocateOperation(&op2, TEE_ALG_AES_GCM, TEE_MODE_DECRYPT, 128), TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op2, aes), TEE_SUCCESS);
  CHECK_RES(TEE_AEInit(op2, kIv, 12, 128, 4, 16), TEE_SUCCESS);
  TEE_AEUpdateAAD(op2, "aad!", 4);
  len = 16;
  CHECK_RES(TEE_AEDecryptFinal(op2, buf, 16, buf + 32, &len, sig, 16), TEE_SUCCESS);
  CHECK(len == 16 && !memcmp(buf + 32, kPlain, 16));
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  op = op2 = TEE_HANDLE_NULL;

  /* RSA-PSS with a 1.1 value attribute; a bad OAEP ciphertext is TEE_ERROR_BAD_PARAMETERS. */
  CHECK_RES(TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, 1024, &rsa), TEE_SUCCESS);
  CHECK_RES(TEE_GenerateKey(rsa, 1024, NULL, 0), TEE_SUCCESS);
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0), TEE_SUCCESS);
  len = sizeof(hash);
  CHECK_RES(TEE_DigestDoFinal(op, "message", 7, hash, &len), TEE_SUCCESS);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256, TEE_MODE_SIGN, 1024),
            TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op, rsa), TEE_SUCCESS);
  TEE_InitValueAttribute(&a, TEE_ATTR_RSA_PSS_SALT_LENGTH, 20, 0);
  len = sizeof(sig);
  CHECK_RES(TEE_AsymmetricSignDigest(op, &a, 1, hash, 32, sig, &len), TEE_SUCCESS);
  CHECK(len == 128);
  CHECK_RES(TEE_AllocateOperation(&op2, TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256, TEE_MODE_VERIFY, 1024),
            TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op2, rsa), TEE_SUCCESS);
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, &a, 1, hash, 32, sig, len), TEE_SUCCESS);
  sig[3] ^= 1;
  CHECK_RES(TEE_AsymmetricVerifyDigest(op2, &a, 1, hash, 32, sig, len), TEE_ERROR_SIGNATURE_INVALID);
  TEE_FreeOperation(op);
  op = TEE_HANDLE_NULL;
  CHECK_RES(TEE_AllocateOperation(&op, TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA1, TEE_MODE_DECRYPT, 1024),
            TEE_SUCCESS);
  CHECK_RES(TEE_SetOperationKey(op, rsa), TEE_SUCCESS);
  memset(buf, 0x5a, 128);
  len = sizeof(buf);
  CHECK_RES(TEE_AsymmetricDecrypt(op, NULL, 0, buf, 128, buf + 128, &len), TEE_ERROR_BAD_PARAMETERS);

  /* Random with a 32-bit length. */
  memset(buf, 0, 64);
  TEE_GenerateRandom(buf, 64);
  for (len = 0; len < 64 && buf[len] == 0; len++) {
  }
  CHECK(len < 64);
out:
  TEE_FreeOperation(op);
  TEE_FreeOperation(op2);
  TEE_FreeTransientObject(aes);
  TEE_FreeTransientObject(hkey);
  TEE_FreeTransientObject(rsa);
  return res;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess, uint32_t cmd, uint32_t pt, TEE_Param p[4]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_Result res;
  uint32_t len;
  (void)sess;
  switch (cmd) {
    case TA_CRYPTO_GP11_CMD_DIGEST:
      if (pt != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
                                TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_NONE))
        return TEE_ERROR_BAD_PARAMETERS;
      res = TEE_AllocateOperation(&op, p[0].value.a, TEE_MODE_DIGEST, 0);
      if (res != TEE_SUCCESS) return res;
      len = p[2].memref.size;
      res = TEE_DigestDoFinal(op, p[1].memref.buffer, p[1].memref.size, p[2].memref.buffer, &len);
      p[2].memref.size = len;
      TEE_FreeOperation(op);
      return res;
    case TA_CRYPTO_GP11_CMD_SELF_TEST: return self_test();
    case TA_CRYPTO_GP11_CMD_PANIC:
      TEE_FreeOperation(TEE_HANDLE_NULL);
      return TEE_ERROR_GENERIC;
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
