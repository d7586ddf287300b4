/* The shm-test TA: works directly on the client's memory (zero copy) and reports what it saw. */
#include <shm_test_sum.h>
#include <shm_test_ta.h>
#include <tee_internal_api.h>

static uint32_t instance_opens; /* per instance: a new instance starts at zero */

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }

void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param params[4], void **sess) {
  (void)param_types;
  (void)params;
  instance_opens++;
  *sess = NULL;
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess) { (void)sess; }

static int is_memref(uint32_t t) {
  return t == TEE_PARAM_TYPE_MEMREF_INPUT || t == TEE_PARAM_TYPE_MEMREF_OUTPUT ||
         t == TEE_PARAM_TYPE_MEMREF_INOUT;
}

static TEE_Result cmd_sum(uint32_t pt, TEE_Param p[4]) {
  if (!is_memref(TEE_PARAM_TYPE_GET(pt, 0)) ||
      TEE_PARAM_TYPE_GET(pt, 1) != TEE_PARAM_TYPE_VALUE_OUTPUT)
    return TEE_ERROR_BAD_PARAMETERS;
  uint64_t sum;
  if (TEE_PARAM_TYPE_GET(pt, 2) == TEE_PARAM_TYPE_VALUE_INPUT) {
    /* The loop's accumulators live on the stack, and its speed depends on where they sit
     * relative to the buffer (4K aliasing): the caller may move them by p2.a bytes. */
    volatile char *pad = __builtin_alloca(p[2].value.a % 4096 + 1);
    pad[0] = 0;
    sum = shm_test_sum_bytes(p[0].memref.buffer, p[0].memref.size);
  } else {
    sum = shm_test_sum_bytes(p[0].memref.buffer, p[0].memref.size);
  }
  p[1].value.a = (uint32_t)sum;
  p[1].value.b = (uint32_t)(sum >> 32);
  return TEE_SUCCESS;
}

static TEE_Result cmd_fill(uint32_t pt, TEE_Param p[4]) {
  if ((TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_MEMREF_OUTPUT &&
       TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_MEMREF_INOUT) ||
      TEE_PARAM_TYPE_GET(pt, 1) != TEE_PARAM_TYPE_VALUE_INPUT)
    return TEE_ERROR_BAD_PARAMETERS;
  uint8_t *b = p[0].memref.buffer;
  uint32_t seed = p[1].value.a;
  for (size_t i = 0; i < p[0].memref.size; i++) b[i] = (uint8_t)(seed + i);
  return TEE_SUCCESS;
}

static TEE_Result cmd_inc(uint32_t pt, TEE_Param p[4]) {
  if (TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_VALUE_INOUT) return TEE_ERROR_BAD_PARAMETERS;
  p[0].value.a += 1;
  p[0].value.b += 2;
  return TEE_SUCCESS;
}

static TEE_Result cmd_need(uint32_t pt, TEE_Param p[4]) {
  if ((TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_MEMREF_OUTPUT &&
       TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_MEMREF_INOUT) ||
      TEE_PARAM_TYPE_GET(pt, 1) != TEE_PARAM_TYPE_VALUE_INPUT)
    return TEE_ERROR_BAD_PARAMETERS;
  size_t need = p[1].value.a;
  if (p[0].memref.size < need) {
    p[0].memref.size = need;
    return TEE_ERROR_SHORT_BUFFER;
  }
  TEE_MemFill(p[0].memref.buffer, 0xAB, need);
  p[0].memref.size = need;
  return TEE_SUCCESS;
}

static TEE_Result cmd_wait_cancel(uint32_t pt, TEE_Param p[4]) {
  if (TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_VALUE_INPUT) return TEE_ERROR_BAD_PARAMETERS;
  TEE_UnmaskCancellation();
  TEE_Result res = TEE_Wait(p[0].value.a);
  TEE_MaskCancellation();
  return res;
}

static TEE_Result cmd_xor(uint32_t pt, TEE_Param p[4]) {
  if (TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_MEMREF_INOUT ||
      TEE_PARAM_TYPE_GET(pt, 1) != TEE_PARAM_TYPE_VALUE_INPUT)
    return TEE_ERROR_BAD_PARAMETERS;
  uint8_t *b = p[0].memref.buffer;
  uint8_t key = (uint8_t)p[1].value.a;
  for (size_t i = 0; i < p[0].memref.size; i++) b[i] ^= key;
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess, uint32_t cmd, uint32_t pt, TEE_Param p[4]) {
  (void)sess;
  switch (cmd) {
    case TA_SHM_TEST_CMD_SUM: return cmd_sum(pt, p);
    case TA_SHM_TEST_CMD_FILL: return cmd_fill(pt, p);
    case TA_SHM_TEST_CMD_INC: return cmd_inc(pt, p);
    case TA_SHM_TEST_CMD_NEED: return cmd_need(pt, p);
    case TA_SHM_TEST_CMD_PANIC: TEE_Panic(0xdead);
    case TA_SHM_TEST_CMD_WAIT_CANCEL: return cmd_wait_cancel(pt, p);
    case TA_SHM_TEST_CMD_XOR: return cmd_xor(pt, p);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
