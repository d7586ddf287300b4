/* A TA that ciphers with AES under a key it generates itself and never hands out: a session gets
 * its key on the first PREPARE and keeps it, so the client can encrypt and later decrypt with a
 * key it never sees. GP Internal Core API 1.3.1 (size_t lengths). */
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <aes_ta.h>

struct aes_session {
  TEE_ObjectHandle key;      /* generated once per session */
  uint32_t key_size;         /* bytes */
  TEE_OperationHandle op;    /* the prepared operation */
};

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types __unused,
                                    TEE_Param params[4] __unused, void **sess_ctx) {
  struct aes_session *s = TEE_Malloc(sizeof(*s), TEE_MALLOC_FILL_ZERO);
  if (!s) return TEE_ERROR_OUT_OF_MEMORY;
  s->key = TEE_HANDLE_NULL;
  s->op = TEE_HANDLE_NULL;
  *sess_ctx = s;
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx) {
  struct aes_session *s = sess_ctx;
  if (s->op != TEE_HANDLE_NULL) TEE_FreeOperation(s->op);
  if (s->key != TEE_HANDLE_NULL) TEE_FreeTransientObject(s->key);
  TEE_Free(s);
}

static TEE_Result ensure_key(struct aes_session *s, uint32_t key_size) {
  TEE_Result res;

  if (s->key != TEE_HANDLE_NULL) return key_size == s->key_size ? TEE_SUCCESS : TEE_ERROR_BAD_STATE;
  if (key_size != TA_AES_SIZE_128BIT && key_size != TA_AES_SIZE_256BIT)
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocateTransientObject(TEE_TYPE_AES, key_size * 8, &s->key);
  if (res != TEE_SUCCESS) return res;
  res = TEE_GenerateKey(s->key, key_size * 8, NULL, 0);
  if (res != TEE_SUCCESS) {
    TEE_FreeTransientObject(s->key);
    s->key = TEE_HANDLE_NULL;
    return res;
  }
  s->key_size = key_size;
  DMSG("Generated a %u-bit AES key in the TA", key_size * 8);
  return TEE_SUCCESS;
}

static TEE_Result prepare(struct aes_session *s, uint32_t types, TEE_Param params[4]) {
  uint32_t algo, mode;
  TEE_Result res;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_VALUE_INPUT,
                               TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  switch (params[0].value.a) {
    case TA_AES_ALGO_ECB: algo = TEE_ALG_AES_ECB_NOPAD; break;
    case TA_AES_ALGO_CBC: algo = TEE_ALG_AES_CBC_NOPAD; break;
    case TA_AES_ALGO_CTR: algo = TEE_ALG_AES_CTR; break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  switch (params[2].value.a) {
    case TA_AES_MODE_ENCODE: mode = TEE_MODE_ENCRYPT; break;
    case TA_AES_MODE_DECODE: mode = TEE_MODE_DECRYPT; break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  res = ensure_key(s, params[1].value.a);
  if (res != TEE_SUCCESS) return res;
  if (s->op != TEE_HANDLE_NULL) TEE_FreeOperation(s->op);
  s->op = TEE_HANDLE_NULL;
  res = TEE_AllocateOperation(&s->op, algo, mode, s->key_size * 8);
  if (res != TEE_SUCCESS) return res;
  return TEE_SetOperationKey(s->op, s->key);
}

static TEE_Result set_iv(struct aes_session *s, uint32_t types, TEE_Param params[4]) {
  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_NONE,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  if (s->op == TEE_HANDLE_NULL) return TEE_ERROR_BAD_STATE;
  TEE_CipherInit(s->op, params[0].memref.buffer, params[0].memref.size);
  return TEE_SUCCESS;
}

static TEE_Result cipher(struct aes_session *s, uint32_t types, TEE_Param params[4]) {
  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  if (s->op == TEE_HANDLE_NULL) return TEE_ERROR_BAD_STATE;
  if (params[1].memref.size < params[0].memref.size) return TEE_ERROR_BAD_PARAMETERS;
  return TEE_CipherUpdate(s->op, params[0].memref.buffer, params[0].memref.size,
                          params[1].memref.buffer, &params[1].memref.size);
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx, uint32_t cmd, uint32_t types,
                                      TEE_Param params[4]) {
  struct aes_session *s = sess_ctx;

  switch (cmd) {
    case TA_AES_CMD_PREPARE: return prepare(s, types, params);
    case TA_AES_CMD_SET_IV: return set_iv(s, types, params);
    case TA_AES_CMD_CIPHER: return cipher(s, types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
