/* A TA that misbehaves on request, to show that only its own instance dies. */
#include <tee_internal_api.h>

enum {
  CMD_NULL_DEREF = 0,
  CMD_STACK_OVERFLOW = 1,
  CMD_DIV_ZERO = 2,
  CMD_BAD_FREE = 3,
  CMD_HEAP_EXHAUST = 4,
  CMD_INC = 5,
  CMD_GLOBAL = 6, /* p0 value out: a = this instance's counter, incremented */
};

static uint32_t counter;

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}
TEE_Result TA_OpenSessionEntryPoint(uint32_t t, TEE_Param p[4], void **s) {
  (void)t;
  (void)p;
  (void)s;
  return TEE_SUCCESS;
}
void TA_CloseSessionEntryPoint(void *s) { (void)s; }

static volatile int zero;

static int recurse(volatile int depth);
/* Called through a volatile pointer: the compiler cannot see (or warn about) the recursion. */
static int (*volatile recurse_ptr)(volatile int) = recurse;
static int recurse(volatile int depth) {
  volatile char pad[512];
  pad[0] = (char)depth;
  return recurse_ptr(depth + 1) + pad[0];
}

TEE_Result TA_InvokeCommandEntryPoint(void *s, uint32_t cmd, uint32_t pt, TEE_Param p[4]) {
  (void)s;
  switch (cmd) {
    case CMD_NULL_DEREF: return *(volatile uint32_t *)(uintptr_t)zero;
    case CMD_STACK_OVERFLOW: return (TEE_Result)recurse(0);
    case CMD_DIV_ZERO: return (TEE_Result)(100 / zero);
    case CMD_BAD_FREE: {
      static char not_heap[16];
      TEE_Free(not_heap);
      return TEE_SUCCESS;
    }
    case CMD_HEAP_EXHAUST: {
      /* TA_DATA_SIZE is 32 KiB: the heap runs out, TEE_Malloc returns NULL. */
      void *keep[64];
      int n = 0;
      while (n < 64 && (keep[n] = TEE_Malloc(4096, 0)) != NULL) n++;
      for (int i = 0; i < n; i++) TEE_Free(keep[i]);
      return n < 64 ? TEE_ERROR_OUT_OF_MEMORY : TEE_SUCCESS;
    }
    case CMD_INC:
      if (TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_VALUE_INOUT) return TEE_ERROR_BAD_PARAMETERS;
      p[0].value.a++;
      return TEE_SUCCESS;
    case CMD_GLOBAL:
      if (TEE_PARAM_TYPE_GET(pt, 0) != TEE_PARAM_TYPE_VALUE_OUTPUT) return TEE_ERROR_BAD_PARAMETERS;
      p[0].value.a = ++counter;
      return TEE_SUCCESS;
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
