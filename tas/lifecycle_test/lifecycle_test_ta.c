/* Lifecycle-test TA: a global counter shows which instance a session reached, a panic shows
 * what dies with it, and the same code serves as the callee of TA-to-TA sessions (the client's
 * identity, memrefs it receives). The variants differ only in their header (see
 * user_ta_header_defines.h). */
#include <string.h>

#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <lifecycle_test_ta.h>

static uint32_t counter;
static uint32_t open_sessions;
/* Set by LIFECYCLE_CMD_PANIC_AT_CLOSE / _AT_DESTROY. */
static int panic_at_close;
static int panic_at_destroy;
/* State a reused image must not carry over: an initialised global, a heap block. */
static uint32_t data_marker = LIFECYCLE_DATA_MARKER;
static void *heap_block;
static uint32_t ctor_runs;

#if LIFECYCLE_VARIANT == 10 /* a constructor of its own */
__attribute__((constructor)) static void count_constructor(void) { ctor_runs++; }
#endif

TEE_Result TA_CreateEntryPoint(void) {
#if LIFECYCLE_VARIANT == 5 /* the create_fail variant */
  return TEE_ERROR_GENERIC;
#elif LIFECYCLE_VARIANT == 8 /* the create_panic variant */
  TEE_Panic(LIFECYCLE_PANIC_CODE);
#else
  return TEE_SUCCESS;
#endif
}

void TA_DestroyEntryPoint(void) {
  if (panic_at_destroy) TEE_Panic(LIFECYCLE_PANIC_CODE);
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param params[TEE_NUM_PARAMS],
                                    void **session_ctx __unused) {
  if (param_types == TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_NONE,
                                     TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE) &&
      params[0].value.a == LIFECYCLE_OPEN_PANIC)
    TEE_Panic(LIFECYCLE_PANIC_CODE);
  open_sessions++;
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *session_ctx __unused) {
  if (panic_at_close) TEE_Panic(LIFECYCLE_PANIC_CODE);
  open_sessions--;
}

static TEE_Result client(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_Identity id;
  TEE_Result res;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE) ||
      params[1].memref.size < sizeof(TEE_UUID))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_GetPropertyAsIdentity(TEE_PROPSET_CURRENT_CLIENT, "gpd.client.identity", &id);
  if (res != TEE_SUCCESS) return res;
  params[0].value.a = id.login;
  TEE_MemMove(params[1].memref.buffer, &id.uuid, sizeof(id.uuid));
  params[1].memref.size = sizeof(TEE_UUID);
  return TEE_SUCCESS;
}

static TEE_Result xor_memref(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  uint8_t *p = params[0].memref.buffer;
  size_t size = params[0].memref.size;
  size_t i;
  uint32_t rights = 0;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INOUT, TEE_PARAM_TYPE_VALUE_INOUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  if (TEE_CheckMemoryAccessRights(TEE_MEMORY_ACCESS_READ | TEE_MEMORY_ACCESS_ANY_OWNER, p,
                                  size) == TEE_SUCCESS)
    rights |= 1;
  if (TEE_CheckMemoryAccessRights(TEE_MEMORY_ACCESS_READ, p, size) == TEE_ERROR_ACCESS_DENIED)
    rights |= 2;
  params[1].value.b = rights;
  for (i = 0; i < size; i++) p[i] ^= 0xff;
  if (params[1].value.a != 0) {
    params[0].memref.size = params[1].value.a;
    if (params[1].value.a > size) return TEE_ERROR_SHORT_BUFFER;
  }
  return TEE_SUCCESS;
}

static TEE_Result self_open(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_UUID self;
  TEE_TASessionHandle sess = TEE_HANDLE_NULL;
  uint32_t origin = 0;
  TEE_Result res;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_GetPropertyAsUUID(TEE_PROPSET_CURRENT_TA, "gpd.ta.appID", &self);
  if (res != TEE_SUCCESS) return res;
  res = TEE_OpenTASession(&self, TEE_TIMEOUT_INFINITE, 0, NULL, &sess, &origin);
  params[0].value.a = res;
  params[0].value.b = origin;
  if (res == TEE_SUCCESS) TEE_CloseTASession(sess);
  else if (sess != TEE_HANDLE_NULL) return TEE_ERROR_BAD_STATE; /* must be NULL on failure */
  return TEE_SUCCESS;
}

static TEE_Result dirty(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  uint32_t fresh = 0;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  if (counter == 0) fresh |= LIFECYCLE_FRESH_COUNTER;
  if (heap_block == NULL) fresh |= LIFECYCLE_FRESH_HEAP_POINTER;
  if (TEE_GetInstanceData() == NULL) fresh |= LIFECYCLE_FRESH_INSTANCE_DATA;
  params[0].value.a = data_marker;
  params[0].value.b = fresh;
  params[1].value.a = ctor_runs;
  data_marker = LIFECYCLE_DATA_DIRTY;
  counter += 100;
  heap_block = TEE_Malloc(64, TEE_MALLOC_FILL_ZERO);
  if (heap_block == NULL) return TEE_ERROR_OUT_OF_MEMORY;
  TEE_SetInstanceData(heap_block);
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *session_ctx __unused, uint32_t cmd, uint32_t types,
                                      TEE_Param params[TEE_NUM_PARAMS]) {
  switch (cmd) {
    case LIFECYCLE_CMD_COUNTER:
      if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
                                   TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
        return TEE_ERROR_BAD_PARAMETERS;
      params[0].value.a = ++counter;
      params[0].value.b = open_sessions;
      return TEE_SUCCESS;
    case LIFECYCLE_CMD_PANIC: TEE_Panic(LIFECYCLE_PANIC_CODE);
    case LIFECYCLE_CMD_CLIENT: return client(types, params);
    case LIFECYCLE_CMD_XOR: return xor_memref(types, params);
    case LIFECYCLE_CMD_SELF_OPEN: return self_open(types, params);
    case LIFECYCLE_CMD_PANIC_AT_CLOSE: panic_at_close = 1; return TEE_SUCCESS;
    case LIFECYCLE_CMD_PANIC_AT_DESTROY: panic_at_destroy = 1; return TEE_SUCCESS;
    case LIFECYCLE_CMD_DIRTY: return dirty(types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
