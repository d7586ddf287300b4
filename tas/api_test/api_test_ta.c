/* API-test TA: properties, time, memory access rights, instance data and TA-to-TA sessions,
 * reporting what the GP functions returned so that the test can hold each result against the
 * spec. Built as a GP 1.3.1 TA and, with __OPTEE_CORE_API_COMPAT_1_1, as a GP 1.1 TA (lengths
 * are uint32_t there; len_t follows the build). */
#include <stdlib.h>
#include <string.h>

#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <api_test_ta.h>
#include <lifecycle_test_ta.h>

#if __OPTEE_CORE_API_COMPAT_1_1
typedef uint32_t len_t;
#else
typedef size_t len_t;
#endif

/* Memory of every kind for the access-rights checks. */
static const uint8_t rodata_bytes[64] = {1, 2, 3};
static uint8_t data_bytes[64] = {1, 2, 3};
static uint8_t bss_bytes[64];
/* A session kept across invokes (API_T2T_KEEP): it dies with this instance. */
static TEE_TASessionHandle kept_session = TEE_HANDLE_NULL;

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t types __unused,
                                    TEE_Param params[TEE_NUM_PARAMS] __unused,
                                    void **session_ctx __unused) {
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *session_ctx __unused) {}

static TEE_PropSetHandle propset(uint32_t which) {
  switch (which) {
    case API_SET_TA: return TEE_PROPSET_CURRENT_TA;
    case API_SET_CLIENT: return TEE_PROPSET_CURRENT_CLIENT;
    case API_SET_TEE: return TEE_PROPSET_TEE_IMPLEMENTATION;
    default: return (TEE_PropSetHandle)(uintptr_t)0x5a5a5a50;
  }
}

#define EXPECT_TYPES(t0, t1, t2, t3)                           \
  do {                                                         \
    if (types != TEE_PARAM_TYPES((t0), (t1), (t2), (t3)))      \
      return TEE_ERROR_BAD_PARAMETERS;                         \
  } while (0)

/* The name a command got in p1, NUL-terminated inside the memref. */
static const char *name_of(TEE_Param *p) {
  const char *s = p->memref.buffer;
  if (p->memref.size == 0 || s[p->memref.size - 1] != '\0') return NULL;
  return s;
}

static TEE_Result prop_string(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  len_t len;
  const char *name;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
               TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT);
  name = name_of(&params[1]);
  if (!name || params[0].value.b > params[2].memref.size) return TEE_ERROR_BAD_PARAMETERS;
  len = params[0].value.b;
  params[3].value.a = TEE_GetPropertyAsString(propset(params[0].value.a), name,
                                              params[2].memref.buffer, &len);
  params[3].value.b = len;
  params[2].memref.size = params[3].value.a == TEE_SUCCESS ? len : 0;
  return TEE_SUCCESS;
}

static TEE_Result prop_typed(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_PropSetHandle set;
  const char *name;
  uint8_t buf[64];
  len_t len = sizeof(buf);
  TEE_Result res;
  bool b = false;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
               TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT);
  name = name_of(&params[1]);
  if (!name) return TEE_ERROR_BAD_PARAMETERS;
  set = propset(params[0].value.a);
  memset(buf, 0, sizeof(buf));
  switch (params[0].value.b) {
    case API_KIND_BOOL:
      res = TEE_GetPropertyAsBool(set, name, &b);
      buf[0] = b;
      len = 1;
      break;
    case API_KIND_U32:
      res = TEE_GetPropertyAsU32(set, name, (uint32_t *)buf);
      len = sizeof(uint32_t);
      break;
    case API_KIND_U64:
      res = TEE_GetPropertyAsU64(set, name, (uint64_t *)buf);
      len = sizeof(uint64_t);
      break;
    case API_KIND_UUID:
      res = TEE_GetPropertyAsUUID(set, name, (TEE_UUID *)buf);
      len = sizeof(TEE_UUID);
      break;
    case API_KIND_IDENTITY:
      res = TEE_GetPropertyAsIdentity(set, name, (TEE_Identity *)buf);
      len = sizeof(TEE_Identity);
      break;
    case API_KIND_BINARY:
      /* The output memref's size is the buffer length the client asks to pass. */
      len = params[2].memref.size < sizeof(buf) ? params[2].memref.size : sizeof(buf);
      res = TEE_GetPropertyAsBinaryBlock(set, name, buf, &len);
      break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  params[3].value.a = res;
  params[3].value.b = len;
  if (res == TEE_SUCCESS && len <= params[2].memref.size) {
    TEE_MemMove(params[2].memref.buffer, buf, len);
    params[2].memref.size = len;
  } else {
    params[2].memref.size = 0;
  }
  return TEE_SUCCESS;
}

static TEE_Result prop_enum(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_PropSetHandle e = TEE_HANDLE_NULL;
  char name[128], value[256], first[128];
  char *out = params[1].memref.buffer;
  size_t room = params[1].memref.size, used = 0;
  uint32_t count = 0, checks = 0;
  len_t len;
  TEE_Result res;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
               TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE);
  res = TEE_AllocatePropertyEnumerator(&e);
  if (res != TEE_SUCCESS) return res;
  len = sizeof(name);
  if (TEE_GetPropertyName(e, name, &len) == TEE_ERROR_ITEM_NOT_FOUND)
    checks |= API_ENUM_NOT_STARTED_NAME;
  if (TEE_GetNextProperty(e) == TEE_ERROR_ITEM_NOT_FOUND) checks |= API_ENUM_NOT_STARTED_NEXT;

  TEE_StartPropertyEnumerator(e, propset(params[0].value.a));
  len = 1;
  if (TEE_GetPropertyName(e, name, &len) == TEE_ERROR_SHORT_BUFFER && len > 1)
    checks |= API_ENUM_SHORT_NAME;
  first[0] = '\0';
  for (;;) {
    size_t n, v;
    len = sizeof(name);
    res = TEE_GetPropertyName(e, name, &len);
    if (res != TEE_SUCCESS) break;
    if (count == 0) memcpy(first, name, len);
    len = sizeof(value);
    /* Through the enumerator: the name argument is ignored. */
    res = TEE_GetPropertyAsString(e, "ignored", value, &len);
    if (res != TEE_SUCCESS) return res;
    n = strlen(name);
    v = strlen(value);
    if (used + n + v + 2 <= room) {
      memcpy(out + used, name, n);
      out[used + n] = '=';
      memcpy(out + used + n + 1, value, v);
      out[used + n + 1 + v] = '\n';
      used += n + v + 2;
    }
    count++;
    if (TEE_GetNextProperty(e) != TEE_SUCCESS) {
      checks |= API_ENUM_END;
      break;
    }
  }
  len = sizeof(name);
  if (TEE_GetPropertyName(e, name, &len) == TEE_ERROR_ITEM_NOT_FOUND)
    checks |= API_ENUM_PAST_END_NAME;
  TEE_StartPropertyEnumerator(e, propset(params[0].value.a));
  len = sizeof(name);
  if (TEE_GetPropertyName(e, name, &len) == TEE_SUCCESS && strcmp(name, first) == 0)
    checks |= API_ENUM_RESTART;
  TEE_ResetPropertyEnumerator(e);
  len = sizeof(name);
  if (TEE_GetPropertyName(e, name, &len) == TEE_ERROR_ITEM_NOT_FOUND) checks |= API_ENUM_RESET;
  TEE_FreePropertyEnumerator(e);
  params[1].memref.size = used;
  params[2].value.a = count;
  params[2].value.b = checks;
  return TEE_SUCCESS;
}

static TEE_Result prop_panic(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  char buf[16];
  len_t len = sizeof(buf);
  TEE_PropSetHandle bogus = (TEE_PropSetHandle)(uintptr_t)0x5a5a5a50;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  switch (params[0].value.a) {
    case API_PANIC_BOGUS_HANDLE: TEE_GetPropertyAsString(bogus, "gpd.ta.version", buf, &len); break;
    case API_PANIC_NULL_VALUE:
      TEE_GetPropertyAsU32(TEE_PROPSET_CURRENT_TA, "gpd.ta.dataSize", NULL);
      break;
    case API_PANIC_NULL_LENGTH:
      TEE_GetPropertyAsString(TEE_PROPSET_CURRENT_TA, "gpd.ta.version", buf, NULL);
      break;
    case API_PANIC_FREE_BOGUS: TEE_FreePropertyEnumerator(bogus); break;
    case API_PANIC_START_BOGUS: {
      TEE_PropSetHandle e;
      if (TEE_AllocatePropertyEnumerator(&e) != TEE_SUCCESS) return TEE_ERROR_OUT_OF_MEMORY;
      TEE_StartPropertyEnumerator(e, bogus);
      break;
    }
    case API_PANIC_NEXT_BOGUS: TEE_GetNextProperty(bogus); break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  return TEE_SUCCESS; /* not reached if the call panicked */
}

static TEE_Result time_system(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_Time t0, t1;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_VALUE_OUTPUT,
               TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT);
  TEE_GetSystemTime(&t0);
  params[3].value.a = TEE_Wait(params[0].value.a);
  TEE_GetSystemTime(&t1);
  params[1].value.a = t0.seconds;
  params[1].value.b = t0.millis;
  params[2].value.a = t1.seconds;
  params[2].value.b = t1.millis;
  return TEE_SUCCESS;
}

static TEE_Result time_ree(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_Time t;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  TEE_GetREETime(&t);
  params[0].value.a = t.seconds;
  params[0].value.b = t.millis;
  return TEE_SUCCESS;
}

static TEE_Result time_get(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_Time t = {0xdead, 0xbeef};

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  params[1].value.a = TEE_GetTAPersistentTime(&t);
  params[0].value.a = t.seconds;
  params[0].value.b = t.millis;
  return TEE_SUCCESS;
}

static TEE_Result time_set(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_Time t;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  t.seconds = params[0].value.a;
  t.millis = params[0].value.b;
  params[1].value.a = TEE_SetTAPersistentTime(&t);
  return TEE_SUCCESS;
}

static TEE_Result mem_rights(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  const uint32_t r = TEE_MEMORY_ACCESS_READ, w = TEE_MEMORY_ACCESS_WRITE,
                 any = TEE_MEMORY_ACCESS_ANY_OWNER;
  uint32_t results[API_RIGHTS_COUNT];
  uint8_t stack_bytes[64];
  void *shared = params[0].memref.buffer;
  len_t shared_size = params[0].memref.size;
  uint8_t *heap;
  void *host;

  EXPECT_TYPES(TEE_PARAM_TYPE_MEMREF_INOUT, TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  if (params[1].memref.size < sizeof(results)) return TEE_ERROR_SHORT_BUFFER;
  heap = TEE_Malloc(64, 0);
  host = malloc(64); /* the C library's heap: memory GP never gave this TA */
  if (!heap || !host) return TEE_ERROR_OUT_OF_MEMORY;
  memset(stack_bytes, 0, sizeof(stack_bytes));
  results[API_RIGHTS_SHARED_READ_ANY] = TEE_CheckMemoryAccessRights(r | any, shared, shared_size);
  results[API_RIGHTS_SHARED_READ] = TEE_CheckMemoryAccessRights(r, shared, shared_size);
  results[API_RIGHTS_SHARED_RW_ANY] = TEE_CheckMemoryAccessRights(r | w | any, shared, shared_size);
  results[API_RIGHTS_SHARED_PAST_END] =
      TEE_CheckMemoryAccessRights(r | any, shared, shared_size + 1);
  results[API_RIGHTS_RODATA_READ] =
      TEE_CheckMemoryAccessRights(r, (void *)rodata_bytes, sizeof(rodata_bytes));
  results[API_RIGHTS_RODATA_WRITE] =
      TEE_CheckMemoryAccessRights(w, (void *)rodata_bytes, sizeof(rodata_bytes));
  results[API_RIGHTS_DATA_RW] = TEE_CheckMemoryAccessRights(r | w, data_bytes, sizeof(data_bytes));
  results[API_RIGHTS_BSS_RW] = TEE_CheckMemoryAccessRights(r | w, bss_bytes, sizeof(bss_bytes));
  results[API_RIGHTS_STACK_RW] =
      TEE_CheckMemoryAccessRights(r | w, stack_bytes, sizeof(stack_bytes));
  results[API_RIGHTS_HEAP_RW] = TEE_CheckMemoryAccessRights(r | w, heap, 64);
  results[API_RIGHTS_HEAP_RW_ANY] = TEE_CheckMemoryAccessRights(r | w | any, heap, 64);
  results[API_RIGHTS_NULL] = TEE_CheckMemoryAccessRights(r, NULL, 1);
  results[API_RIGHTS_LOW_ADDRESS] = TEE_CheckMemoryAccessRights(r, (void *)(256 * 1024), 1);
  results[API_RIGHTS_SIZE_ZERO] = TEE_CheckMemoryAccessRights(r, NULL, 0);
  results[API_RIGHTS_WRAP] =
      TEE_CheckMemoryAccessRights(r | any, (void *)(uintptr_t)(UINTPTR_MAX - 15), 32);
  results[API_RIGHTS_TEXT_WRITE] = TEE_CheckMemoryAccessRights(w, (void *)&mem_rights, 16);
  results[API_RIGHTS_HOST_HEAP] = TEE_CheckMemoryAccessRights(r | any, host, 64);
  free(host);
  TEE_Free(heap);
  TEE_MemMove(params[1].memref.buffer, results, sizeof(results));
  params[1].memref.size = sizeof(results);
  return TEE_SUCCESS;
}

static TEE_Result instance_data(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  uint32_t *word;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INOUT, TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
               TEE_PARAM_TYPE_NONE);
  if (params[0].value.a == 1) {
    word = (uint32_t *)TEE_GetInstanceData();
    if (!word) word = TEE_Malloc(sizeof(*word), 0);
    if (!word) return TEE_ERROR_OUT_OF_MEMORY;
    *word = params[0].value.b;
    TEE_SetInstanceData(word);
    return TEE_SUCCESS;
  }
  word = (uint32_t *)TEE_GetInstanceData();
  params[0].value.a = word != NULL;
  params[0].value.b = word ? *word : 0;
  return TEE_SUCCESS;
}

/* --- TA-to-TA -------------------------------------------------------------------------------- */

static const TEE_UUID multi_uuid = TA_LIFECYCLE_MULTI_UUID;
static const TEE_UUID shared_uuid = TA_LIFECYCLE_SHARED_UUID;
static const TEE_UUID missing_uuid = TA_LIFECYCLE_MISSING_UUID;

static TEE_Result open_multi(TEE_TASessionHandle *s, TEE_Param out[TEE_NUM_PARAMS]) {
  uint32_t origin = 0;
  TEE_Result res = TEE_OpenTASession(&multi_uuid, TEE_TIMEOUT_INFINITE, 0, NULL, s, &origin);
  out[2].value.a = res;
  out[2].value.b = origin;
  return res;
}

/* LIFECYCLE_CMD_XOR on `buf`; returns the invoke's result, rights in *rights. */
static TEE_Result xor_through(TEE_TASessionHandle s, void *buf, len_t size, uint32_t new_size,
                              len_t *size_back, uint32_t *rights, uint32_t *origin) {
  TEE_Param p[TEE_NUM_PARAMS];
  TEE_Result res;

  memset(p, 0, sizeof(p));
  p[0].memref.buffer = buf;
  p[0].memref.size = size;
  p[1].value.a = new_size;
  res = TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, LIFECYCLE_CMD_XOR,
                            TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INOUT,
                                            TEE_PARAM_TYPE_VALUE_INOUT, TEE_PARAM_TYPE_NONE,
                                            TEE_PARAM_TYPE_NONE),
                            p, origin);
  *rights = p[1].value.b;
  if (size_back) *size_back = p[0].memref.size;
  return res;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v) {
  size_t i;
  for (i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

static TEE_Result t2t(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  TEE_TASessionHandle s = TEE_HANDLE_NULL;
  TEE_Param p[TEE_NUM_PARAMS];
  uint32_t origin = 0, rights = 0;
  TEE_Result res;
  uint8_t stack_buf[16];
  uint8_t *heap;
  len_t size_back = 0;

  EXPECT_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_INOUT,
               TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_VALUE_OUTPUT);
  memset(p, 0, sizeof(p));
  params[3].value.a = 0;
  params[3].value.b = 0;
  switch (params[0].value.a) {
    case API_T2T_COUNTER:
      if (open_multi(&s, params) != TEE_SUCCESS) return TEE_SUCCESS;
      for (int i = 0; i < 2; i++) {
        res = TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, LIFECYCLE_CMD_COUNTER,
                                  TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
                                                  TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE),
                                  p, &origin);
        params[2].value.a = res;
        params[2].value.b = origin;
      }
      params[3].value.a = p[0].value.a;
      TEE_CloseTASession(s);
      return TEE_SUCCESS;
    case API_T2T_HEAP_XOR:
    case API_T2T_STACK_XOR:
      heap = TEE_Malloc(16, 0);
      if (!heap) return TEE_ERROR_OUT_OF_MEMORY;
      if (open_multi(&s, params) == TEE_SUCCESS) {
        uint8_t *buf = params[0].value.a == API_T2T_HEAP_XOR ? heap : stack_buf;
        memset(buf, 0x5a, 16);
        res = xor_through(s, buf, 16, 0, NULL, &rights, &origin);
        params[2].value.a = res;
        params[2].value.b = origin;
        params[3].value.a = all_bytes(buf, 16, 0xa5);
        params[3].value.b = rights;
        TEE_CloseTASession(s);
      }
      TEE_Free(heap);
      return TEE_SUCCESS;
    case API_T2T_CLIENT_XOR:
      if (open_multi(&s, params) != TEE_SUCCESS) return TEE_SUCCESS;
      res = xor_through(s, params[1].memref.buffer, params[1].memref.size, 0, NULL, &rights,
                        &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      params[3].value.b = rights;
      TEE_CloseTASession(s);
      return TEE_SUCCESS;
    case API_T2T_RODATA_OUT:
    case API_T2T_NULL_SIZED:
      if (params[0].value.a == API_T2T_RODATA_OUT) {
        p[0].memref.buffer = (void *)rodata_bytes;
        p[0].memref.size = sizeof(rodata_bytes);
        types = TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_NONE,
                                TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE);
      } else {
        p[0].memref.buffer = NULL;
        p[0].memref.size = 4;
        types = TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_NONE,
                                TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE);
      }
      s = (TEE_TASessionHandle)(uintptr_t)1; /* must come back as TEE_HANDLE_NULL */
      res = TEE_OpenTASession(&multi_uuid, TEE_TIMEOUT_INFINITE, types, p, &s, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      params[3].value.a = s == TEE_HANDLE_NULL;
      if (res == TEE_SUCCESS) TEE_CloseTASession(s);
      return TEE_SUCCESS;
    case API_T2T_MISSING:
      res = TEE_OpenTASession(&missing_uuid, TEE_TIMEOUT_INFINITE, 0, NULL, &s, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      params[3].value.a = s == TEE_HANDLE_NULL;
      return TEE_SUCCESS;
    case API_T2T_PANIC:
      if (open_multi(&s, params) != TEE_SUCCESS) return TEE_SUCCESS;
      res = TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, LIFECYCLE_CMD_PANIC, 0, NULL, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      params[3].value.a =
          TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, LIFECYCLE_CMD_COUNTER,
                              TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
                                              TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE),
                              p, &origin);
      params[3].value.b = origin;
      TEE_CloseTASession(s);
      return TEE_SUCCESS;
    case API_T2T_IDENTITY: {
      TEE_UUID self, seen;
      if (open_multi(&s, params) != TEE_SUCCESS) return TEE_SUCCESS;
      p[1].memref.buffer = &seen;
      p[1].memref.size = sizeof(seen);
      res = TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, LIFECYCLE_CMD_CLIENT,
                                TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT,
                                                TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_NONE,
                                                TEE_PARAM_TYPE_NONE),
                                p, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      if (TEE_GetPropertyAsUUID(TEE_PROPSET_CURRENT_TA, "gpd.ta.appID", &self) != TEE_SUCCESS)
        return TEE_ERROR_GENERIC;
      params[3].value.a = p[0].value.a;
      params[3].value.b = memcmp(&self, &seen, sizeof(self)) == 0;
      TEE_CloseTASession(s);
      return TEE_SUCCESS;
    }
    case API_T2T_CALLEE_ERROR:
      if (open_multi(&s, params) != TEE_SUCCESS) return TEE_SUCCESS;
      res = TEE_InvokeTACommand(s, TEE_TIMEOUT_INFINITE, 0x7777, 0, NULL, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      TEE_CloseTASession(s);
      return TEE_SUCCESS;
    case API_T2T_SHORT:
      heap = TEE_Malloc(16, 0);
      if (!heap) return TEE_ERROR_OUT_OF_MEMORY;
      if (open_multi(&s, params) == TEE_SUCCESS) {
        memset(heap, 0x11, 16);
        res = xor_through(s, heap, 16, params[0].value.b, &size_back, &rights, &origin);
        params[2].value.a = res;
        params[2].value.b = origin;
        params[3].value.a = size_back;
        params[3].value.b = all_bytes(heap, 16, 0x11);
        TEE_CloseTASession(s);
      }
      TEE_Free(heap);
      return TEE_SUCCESS;
    case API_T2T_KEEP:
      res = TEE_OpenTASession(&shared_uuid, TEE_TIMEOUT_INFINITE, 0, NULL, &kept_session,
                              &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      return TEE_SUCCESS;
    case API_T2T_BAD_HANDLE:
      TEE_InvokeTACommand((TEE_TASessionHandle)(uintptr_t)0x5a5a5a50, TEE_TIMEOUT_INFINITE, 0, 0,
                          NULL, &origin);
      return TEE_SUCCESS;
    case API_T2T_CLOSE_BOGUS:
      TEE_CloseTASession((TEE_TASessionHandle)(uintptr_t)0x5a5a5a50);
      return TEE_SUCCESS;
    case API_T2T_CLOSE_NULL:
      TEE_CloseTASession(TEE_HANDLE_NULL);
      return TEE_SUCCESS;
    case API_T2T_OPEN_SELF: {
      TEE_UUID self;
      if (TEE_GetPropertyAsUUID(TEE_PROPSET_CURRENT_TA, "gpd.ta.appID", &self) != TEE_SUCCESS)
        return TEE_ERROR_GENERIC;
      res = TEE_OpenTASession(&self, TEE_TIMEOUT_INFINITE, 0, NULL, &s, &origin);
      params[2].value.a = res;
      params[2].value.b = origin;
      if (res == TEE_SUCCESS) TEE_CloseTASession(s);
      return TEE_SUCCESS;
    }
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
}

TEE_Result TA_InvokeCommandEntryPoint(void *session_ctx __unused, uint32_t cmd, uint32_t types,
                                      TEE_Param params[TEE_NUM_PARAMS]) {
  switch (cmd) {
    case API_CMD_PROP_STRING: return prop_string(types, params);
    case API_CMD_PROP_TYPED: return prop_typed(types, params);
    case API_CMD_PROP_ENUM: return prop_enum(types, params);
    case API_CMD_PROP_PANIC: return prop_panic(types, params);
    case API_CMD_TIME_SYSTEM: return time_system(types, params);
    case API_CMD_TIME_REE: return time_ree(types, params);
    case API_CMD_TIME_GET: return time_get(types, params);
    case API_CMD_TIME_SET: return time_set(types, params);
    case API_CMD_MEM_RIGHTS: return mem_rights(types, params);
    case API_CMD_INSTANCE_DATA: return instance_data(types, params);
    case API_CMD_T2T: return t2t(types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
