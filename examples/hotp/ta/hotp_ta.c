/* A TA computing HMAC-based one-time passwords (RFC 4226): the client registers the shared key
 * once; each GET_HOTP is HMAC-SHA-1 over the 8-byte big-endian counter, dynamically truncated to
 * 6 decimal digits, and advances the counter. The key stays in the TA.
 * Written against GP Internal Core API 1.1 (see the Makefile): lengths are uint32_t. */
#include <string.h>

#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <hotp_ta.h>

#define MAX_KEY_SIZE 64
#define SHA1_SIZE 20
#define DIGITS 6

static uint8_t key[MAX_KEY_SIZE];
static uint32_t key_len;
static uint64_t counter;

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types __unused,
                                    TEE_Param params[4] __unused, void **sess_ctx __unused) {
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx __unused) {}

static TEE_Result hmac_sha1(const uint8_t *msg, uint32_t msg_len, uint8_t mac[SHA1_SIZE]) {
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectHandle k = TEE_HANDLE_NULL;
  TEE_Attribute attr;
  uint32_t mac_len = SHA1_SIZE;
  TEE_Result res;

  res = TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA1, TEE_MODE_MAC, key_len * 8);
  if (res == TEE_SUCCESS) res = TEE_AllocateTransientObject(TEE_TYPE_HMAC_SHA1, key_len * 8, &k);
  if (res == TEE_SUCCESS) {
    TEE_InitRefAttribute(&attr, TEE_ATTR_SECRET_VALUE, key, key_len);
    res = TEE_PopulateTransientObject(k, &attr, 1);
  }
  if (res == TEE_SUCCESS) res = TEE_SetOperationKey(op, k);
  if (res == TEE_SUCCESS) {
    TEE_MACInit(op, NULL, 0);
    res = TEE_MACComputeFinal(op, msg, msg_len, mac, &mac_len);
  }
  if (k != TEE_HANDLE_NULL) TEE_FreeTransientObject(k);
  if (op != TEE_HANDLE_NULL) TEE_FreeOperation(op);
  return res;
}

static TEE_Result register_key(uint32_t types, TEE_Param params[4]) {
  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_NONE,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  /* HMAC-SHA-1 keys are 80 to 512 bits in GP; RFC 4226 wants at least 128. */
  if (params[0].memref.size < 16 || params[0].memref.size > MAX_KEY_SIZE)
    return TEE_ERROR_BAD_PARAMETERS;
  key_len = params[0].memref.size;
  TEE_MemMove(key, params[0].memref.buffer, key_len);
  counter = 0;
  return TEE_SUCCESS;
}

static TEE_Result get_hotp(uint32_t types, TEE_Param params[4]) {
  uint8_t msg[8], mac[SHA1_SIZE];
  uint32_t offset, bin;
  TEE_Result res;
  int i;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  if (key_len == 0) return TEE_ERROR_BAD_STATE;
  for (i = 0; i < 8; i++) msg[i] = (uint8_t)(counter >> (56 - 8 * i));
  res = hmac_sha1(msg, sizeof(msg), mac);
  if (res != TEE_SUCCESS) return res;
  /* Dynamic truncation (RFC 4226 5.3): 31 bits at the offset the last nibble names. */
  offset = mac[SHA1_SIZE - 1] & 0xf;
  bin = ((uint32_t)(mac[offset] & 0x7f) << 24) | ((uint32_t)mac[offset + 1] << 16) |
        ((uint32_t)mac[offset + 2] << 8) | mac[offset + 3];
  params[0].value.a = bin % 1000000; /* 10^DIGITS */
  counter++;
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx __unused, uint32_t cmd, uint32_t types,
                                      TEE_Param params[4]) {
  switch (cmd) {
    case TA_HOTP_CMD_REGISTER_SHARED_KEY: return register_key(types, params);
    case TA_HOTP_CMD_GET_HOTP: return get_hotp(types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
