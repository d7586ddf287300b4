/* A TA that signs with an ECDSA key it generates and keeps: the client gets the public key and
 * signatures over SHA-256 digests of its messages, and can ask the TA to verify a signature.
 * GP Internal Core API 1.3.1 (size_t lengths). */
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <ecdsa_ta.h>

#define KEY_BITS 256
#define DIGEST_SIZE 32

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types __unused,
                                    TEE_Param params[4] __unused, void **sess_ctx) {
  TEE_ObjectHandle key;
  TEE_Attribute curve;
  TEE_Result res;

  res = TEE_AllocateTransientObject(TEE_TYPE_ECDSA_KEYPAIR, KEY_BITS, &key);
  if (res != TEE_SUCCESS) return res;
  TEE_InitValueAttribute(&curve, TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P256, 0);
  res = TEE_GenerateKey(key, KEY_BITS, &curve, 1);
  if (res != TEE_SUCCESS) {
    TEE_FreeTransientObject(key);
    return res;
  }
  *sess_ctx = key;
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx) { TEE_FreeTransientObject(sess_ctx); }

static TEE_Result digest(const void *msg, size_t len, uint8_t out[DIGEST_SIZE]) {
  TEE_OperationHandle op;
  size_t out_len = DIGEST_SIZE;
  TEE_Result res = TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0);
  if (res != TEE_SUCCESS) return res;
  res = TEE_DigestDoFinal(op, msg, len, out, &out_len);
  TEE_FreeOperation(op);
  return res;
}

/* Signs or verifies: p0 is the message, p1 the signature. */
static TEE_Result sign_or_verify(TEE_ObjectHandle key, uint32_t mode, TEE_Param params[4]) {
  uint8_t hash[DIGEST_SIZE];
  TEE_OperationHandle op;
  TEE_Result res;

  res = digest(params[0].memref.buffer, params[0].memref.size, hash);
  if (res != TEE_SUCCESS) return res;
  res = TEE_AllocateOperation(&op, TEE_ALG_ECDSA_SHA256, mode, KEY_BITS);
  if (res != TEE_SUCCESS) return res;
  res = TEE_SetOperationKey(op, key);
  if (res == TEE_SUCCESS) {
    if (mode == TEE_MODE_SIGN)
      res = TEE_AsymmetricSignDigest(op, NULL, 0, hash, sizeof(hash), params[1].memref.buffer,
                                     &params[1].memref.size);
    else
      res = TEE_AsymmetricVerifyDigest(op, NULL, 0, hash, sizeof(hash), params[1].memref.buffer,
                                       params[1].memref.size);
  }
  TEE_FreeOperation(op);
  return res;
}

static TEE_Result public_key(TEE_ObjectHandle key, TEE_Param params[4]) {
  TEE_Result res = TEE_GetObjectBufferAttribute(key, TEE_ATTR_ECC_PUBLIC_VALUE_X,
                                                params[0].memref.buffer, &params[0].memref.size);
  if (res != TEE_SUCCESS) return res;
  return TEE_GetObjectBufferAttribute(key, TEE_ATTR_ECC_PUBLIC_VALUE_Y, params[1].memref.buffer,
                                      &params[1].memref.size);
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx, uint32_t cmd, uint32_t types,
                                      TEE_Param params[4]) {
  TEE_ObjectHandle key = sess_ctx;

  switch (cmd) {
    case TA_ECDSA_CMD_GET_PUBLIC_KEY:
      if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
                                   TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
        return TEE_ERROR_BAD_PARAMETERS;
      return public_key(key, params);
    case TA_ECDSA_CMD_SIGN:
      if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
                                   TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
        return TEE_ERROR_BAD_PARAMETERS;
      return sign_or_verify(key, TEE_MODE_SIGN, params);
    case TA_ECDSA_CMD_VERIFY:
      if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
                                   TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
        return TEE_ERROR_BAD_PARAMETERS;
      return sign_or_verify(key, TEE_MODE_VERIFY, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
