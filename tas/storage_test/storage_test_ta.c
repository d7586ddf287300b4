/* The storage-test TA: runs the GP trusted storage functions for tests/ta_storage_test.cc (the
 * commands are described in storage_test_ta.h). Built as GP 1.3.1 and as GP 1.1: the names below
 * are the same in both, the compatibility header maps them to the __GP11_ functions. */
#include <storage_test_ta.h>
#include <string.h>
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#if __OPTEE_CORE_API_COMPAT_1_1
typedef uint32_t len_t; /* the 1.1 API's lengths */
#else
typedef size_t len_t;
#endif

#define FAILED (TA_STORAGE_TEST_FAILED | (uint32_t)__LINE__)
#define CHECK(c)    \
  do {              \
    if (!(c)) {     \
      res = FAILED; \
      goto out;     \
    }               \
  } while (0)
#define CHECK_RES(expr, want)       \
  do {                              \
    TEE_Result check_res_ = (expr); \
    if (check_res_ != (want)) {     \
      res = FAILED;                 \
      goto out;                     \
    }                               \
  } while (0)

#define PT(a, b, c, d) \
  TEE_PARAM_TYPES(TEE_PARAM_TYPE_##a, TEE_PARAM_TYPE_##b, TEE_PARAM_TYPE_##c, TEE_PARAM_TYPE_##d)

struct session {
  TEE_ObjectHandle slot[TA_STORAGE_SLOTS];
};

static const uint8_t kAesKey[] = TA_STORAGE_AES_KEY;

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }

void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t pt, TEE_Param params[4], void **sess) {
  (void)pt;
  (void)params;
  *sess = TEE_Malloc(sizeof(struct session), TEE_MALLOC_FILL_ZERO);
  return *sess ? TEE_SUCCESS : TEE_ERROR_OUT_OF_MEMORY;
}

/* Handles left in slots are freed with the instance (GP: a session's objects go with it). */
void TA_CloseSessionEntryPoint(void *sess) { TEE_Free(sess); }

/* --- helpers ---------------------------------------------------------------------------------- */

static TEE_ObjectHandle *slot_of(struct session *s, uint32_t i) {
  return i < TA_STORAGE_SLOTS ? &s->slot[i] : NULL;
}

static TEE_Result put_in_slot(struct session *s, TEE_ObjectHandle h, uint32_t *slot) {
  for (uint32_t i = 0; i < TA_STORAGE_SLOTS; ++i) {
    if (s->slot[i] == TEE_HANDLE_NULL) {
      s->slot[i] = h;
      *slot = i;
      return TEE_SUCCESS;
    }
  }
  TEE_CloseObject(h);
  return TEE_ERROR_OUT_OF_MEMORY;
}

static TEE_Result make_aes_key(TEE_ObjectHandle *key) {
  TEE_Attribute a;
  TEE_Result res = TEE_AllocateTransientObject(TEE_TYPE_AES, 128, key);
  if (res != TEE_SUCCESS) return res;
  TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, kAesKey, sizeof(kAesKey));
  res = TEE_PopulateTransientObject(*key, &a, 1);
  if (res != TEE_SUCCESS) {
    TEE_FreeTransientObject(*key);
    *key = TEE_HANDLE_NULL;
  }
  return res;
}

static TEE_Result make_data(const char *id, uint32_t flags, TEE_ObjectHandle *obj) {
  return TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, id, strlen(id),
                                    flags | TEE_DATA_FLAG_OVERWRITE, TEE_HANDLE_NULL, "x", 1, obj);
}

/* --- commands --------------------------------------------------------------------------------- */

static TEE_Result cmd_create(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle attrs = TEE_HANDLE_NULL, obj = TEE_HANDLE_NULL;
  TEE_Result res;
  const void *data = NULL;
  len_t data_len = 0;
  bool own_attrs = true;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, VALUE_INOUT) &&
      pt != PT(VALUE_INPUT, MEMREF_INPUT, NONE, VALUE_INOUT))
    return TEE_ERROR_BAD_PARAMETERS;
  if (TEE_PARAM_TYPE_GET(pt, 2) == TEE_PARAM_TYPE_MEMREF_INPUT) {
    data = p[2].memref.buffer;
    data_len = p[2].memref.size;
  }
  switch (p[3].value.a) {
    case TA_STORAGE_ATTR_NONE: break;
    case TA_STORAGE_ATTR_AES:
      res = make_aes_key(&attrs);
      if (res != TEE_SUCCESS) return res;
      break;
    case TA_STORAGE_ATTR_RSA:
      res = TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, 1024, &attrs);
      if (res != TEE_SUCCESS) return res;
      res = TEE_GenerateKey(attrs, 1024, NULL, 0);
      if (res != TEE_SUCCESS) goto out;
      break;
    case TA_STORAGE_ATTR_SLOT: {
      TEE_ObjectHandle *h = slot_of(s, (p[3].value.b >> 8) & 0xff);
      if (h == NULL || *h == TEE_HANDLE_NULL) return TEE_ERROR_BAD_PARAMETERS;
      attrs = *h;
      own_attrs = false;
      break;
    }
    case TA_STORAGE_ATTR_RAW:
      res = TEE_AllocateTransientObject(TEE_TYPE_AES, 128, &attrs);
      if (res != TEE_SUCCESS) return res;
      break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  if (p[3].value.b & TA_STORAGE_CREATE_NULL_HANDLE) {
    res = TEE_CreatePersistentObject(p[0].value.a, p[1].memref.buffer, p[1].memref.size,
                                     p[0].value.b, attrs, data, data_len, NULL);
  } else {
    res = TEE_CreatePersistentObject(p[0].value.a, p[1].memref.buffer, p[1].memref.size,
                                     p[0].value.b, attrs, data, data_len, &obj);
    if (res == TEE_SUCCESS) {
      /* GP: the transient source is independent of the new object. */
      if (own_attrs && attrs != TEE_HANDLE_NULL) TEE_FreeTransientObject(attrs);
      attrs = TEE_HANDLE_NULL;
      res = put_in_slot(s, obj, &p[3].value.a);
    } else if (obj != TEE_HANDLE_NULL) {
      res = FAILED; /* GP: on failure *object is TEE_HANDLE_NULL */
    }
  }
out:
  if (own_attrs && attrs != TEE_HANDLE_NULL) TEE_FreeTransientObject(attrs);
  return res;
}

static TEE_Result cmd_open(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle obj = (TEE_ObjectHandle)(uintptr_t)1; /* must become NULL on failure */
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, VALUE_OUTPUT, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_OpenPersistentObject(p[0].value.a, p[1].memref.buffer, p[1].memref.size,
                                 p[0].value.b, &obj);
  if (res != TEE_SUCCESS) return obj == TEE_HANDLE_NULL ? res : FAILED;
  return put_in_slot(s, obj, &p[2].value.a);
}

static TEE_Result slot_handle(struct session *s, uint32_t i, TEE_ObjectHandle **h) {
  *h = slot_of(s, i);
  return *h != NULL ? TEE_SUCCESS : TEE_ERROR_BAD_PARAMETERS;
}

static TEE_Result cmd_close(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  TEE_CloseObject(*h);
  *h = TEE_HANDLE_NULL;
  return TEE_SUCCESS;
}

static TEE_Result cmd_read(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  len_t count = 12345;
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_OUTPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_ReadObjectData(*h, p[1].memref.buffer, p[1].memref.size, &count);
  if (res == TEE_SUCCESS) p[1].memref.size = count;
  return res;
}

static TEE_Result cmd_write(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  return TEE_WriteObjectData(*h, p[1].memref.buffer, p[1].memref.size);
}

static TEE_Result cmd_seek(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  int64_t off;
  if (pt != PT(VALUE_INPUT, VALUE_INPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  off = (int64_t)(((uint64_t)p[1].value.b << 32) | p[1].value.a);
#if __OPTEE_CORE_API_COMPAT_1_1
  /* GP 1.1 offsets are 32-bit: the client stays within them. */
  return TEE_SeekObjectData(*h, (int32_t)off, (TEE_Whence)p[0].value.b);
#else
  return TEE_SeekObjectData(*h, off, (TEE_Whence)p[0].value.b);
#endif
}

static TEE_Result cmd_truncate(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  return TEE_TruncateObjectData(*h, p[0].value.b);
}

static TEE_Result cmd_rename(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  return TEE_RenamePersistentObject(*h, p[1].memref.buffer, p[1].memref.size);
}

static TEE_Result cmd_delete(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  if (p[0].value.b == 1)
    TEE_CloseAndDeletePersistentObject(*h);
  else
    res = TEE_CloseAndDeletePersistentObject1(*h);
  *h = TEE_HANDLE_NULL; /* closed either way */
  return res;
}

static TEE_Result cmd_info(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  TEE_ObjectInfo info;
  struct ta_storage_info out;
  if (pt != PT(VALUE_INPUT, MEMREF_OUTPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h) ||
      p[1].memref.size < sizeof(out))
    return TEE_ERROR_BAD_PARAMETERS;
  memset(&info, 0, sizeof(info));
  out.result = TEE_GetObjectInfo1(*h, &info);
  out.type = info.objectType;
  out.object_size = info.objectSize;
  out.max_object_size = info.maxObjectSize;
  out.usage = info.objectUsage;
  out.handle_flags = info.handleFlags;
  out.data_size = info.dataSize;
  out.data_position = info.dataPosition;
  memcpy(p[1].memref.buffer, &out, sizeof(out));
  p[1].memref.size = sizeof(out);
  return TEE_SUCCESS;
}

static TEE_Result cmd_get_attr(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  len_t size = 0;
  void *buf = NULL;
  TEE_Result res;
  if ((pt != PT(VALUE_INPUT, MEMREF_OUTPUT, NONE, NONE) &&
       pt != PT(VALUE_INPUT, NONE, NONE, NONE)) ||
      slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  if (TEE_PARAM_TYPE_GET(pt, 1) == TEE_PARAM_TYPE_MEMREF_OUTPUT) {
    buf = p[1].memref.buffer;
    size = p[1].memref.size;
  }
  res = TEE_GetObjectBufferAttribute(*h, p[0].value.b, buf, &size);
  if (buf != NULL && (res == TEE_SUCCESS || res == TEE_ERROR_SHORT_BUFFER))
    p[1].memref.size = size;
  return res;
}

static TEE_Result cmd_enum(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectEnumHandle e = TEE_HANDLE_NULL;
  TEE_ObjectInfo info;
  uint8_t id[TEE_OBJECT_ID_MAX_LEN];
  len_t id_len;
  uint8_t *out = p[1].memref.buffer;
  size_t used = 0;
  uint32_t count = 0;
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_OUTPUT, VALUE_OUTPUT, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocatePersistentObjectEnumerator(&e);
  if (res != TEE_SUCCESS) return res;
  res = TEE_StartPersistentObjectEnumerator(e, p[0].value.a);
  while (res == TEE_SUCCESS) {
    id_len = 0;
    res = TEE_GetNextPersistentObject(e, &info, id, &id_len);
    if (res == TEE_ERROR_ITEM_NOT_FOUND) {
      res = TEE_SUCCESS;
      break;
    }
    if (res != TEE_SUCCESS) break;
    CHECK(id_len <= TEE_OBJECT_ID_MAX_LEN);
    CHECK(info.handleFlags & TEE_HANDLE_FLAG_PERSISTENT);
    CHECK(info.dataPosition == 0);
    CHECK(used + 1 + id_len <= p[1].memref.size);
    out[used] = (uint8_t)id_len;
    memcpy(out + used + 1, id, id_len);
    used += 1 + id_len;
    ++count;
  }
  p[1].memref.size = used;
  p[2].value.a = count;
out:
  TEE_FreePersistentObjectEnumerator(e);
  return res;
}

static TEE_Result cmd_enum_checks(uint32_t pt) {
  TEE_ObjectEnumHandle e = TEE_HANDLE_NULL;
  uint8_t id[TEE_OBJECT_ID_MAX_LEN];
  len_t id_len = 0;
  TEE_Result res = TEE_SUCCESS;
  if (pt != PT(NONE, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  /* Freeing or resetting TEE_HANDLE_NULL does nothing. */
  TEE_FreePersistentObjectEnumerator(TEE_HANDLE_NULL);
  TEE_ResetPersistentObjectEnumerator(TEE_HANDLE_NULL);
  CHECK_RES(TEE_AllocatePersistentObjectEnumerator(&e), TEE_SUCCESS);
  CHECK(e != TEE_HANDLE_NULL);
  /* Not started: nothing to return. */
  CHECK_RES(TEE_GetNextPersistentObject(e, NULL, id, &id_len), TEE_ERROR_ITEM_NOT_FOUND);
  /* An unknown storage and OP-TEE's RPMB storage (absent here) have no objects. */
  CHECK_RES(TEE_StartPersistentObjectEnumerator(e, 0x12345678), TEE_ERROR_ITEM_NOT_FOUND);
  CHECK_RES(TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE_RPMB),
            TEE_ERROR_ITEM_NOT_FOUND);
  CHECK_RES(TEE_GetNextPersistentObject(e, NULL, id, &id_len), TEE_ERROR_ITEM_NOT_FOUND);
  /* Started: objects come with a NULL info too; a reset forgets the enumeration. */
  CHECK_RES(TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE), TEE_SUCCESS);
  CHECK_RES(TEE_GetNextPersistentObject(e, NULL, id, &id_len), TEE_SUCCESS);
  CHECK(id_len <= TEE_OBJECT_ID_MAX_LEN);
  TEE_ResetPersistentObjectEnumerator(e);
  CHECK_RES(TEE_GetNextPersistentObject(e, NULL, id, &id_len), TEE_ERROR_ITEM_NOT_FOUND);
  /* Started again: from the first object; TEE_STORAGE_PRIVATE_REE is the same storage. */
  CHECK_RES(TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE_REE), TEE_SUCCESS);
  CHECK_RES(TEE_GetNextPersistentObject(e, NULL, id, &id_len), TEE_SUCCESS);
out:
  TEE_FreePersistentObjectEnumerator(e);
  return res;
}

static TEE_Result cmd_panic(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle obj = TEE_HANDLE_NULL, key = TEE_HANDLE_NULL;
  uint8_t buf[80];
  len_t n = 0;
  int on_stack = 0;
  TEE_ObjectHandle bogus = (TEE_ObjectHandle)&on_stack;
  TEE_Attribute attr;
  if (pt != PT(VALUE_INPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  memset(buf, 'i', sizeof(buf));
  switch (p[0].value.a) {
    case TA_STORAGE_PANIC_READ_BAD_HANDLE: TEE_ReadObjectData(bogus, buf, 1, &n); break;
    case TA_STORAGE_PANIC_CLOSE_BAD_HANDLE: TEE_CloseObject(bogus); break;
    case TA_STORAGE_PANIC_READ_TRANSIENT:
      if (make_aes_key(&key) != TEE_SUCCESS) return FAILED;
      TEE_ReadObjectData(key, buf, 1, &n);
      break;
    case TA_STORAGE_PANIC_READ_NO_ACCESS:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_WRITE, &obj) != TEE_SUCCESS) return FAILED;
      TEE_ReadObjectData(obj, buf, 1, &n);
      break;
    case TA_STORAGE_PANIC_WRITE_NO_ACCESS:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_WriteObjectData(obj, buf, 1);
      break;
    case TA_STORAGE_PANIC_DELETE_NO_META:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_CloseAndDeletePersistentObject1(obj);
      break;
    case TA_STORAGE_PANIC_RENAME_NO_META:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_WRITE, &obj) != TEE_SUCCESS) return FAILED;
      TEE_RenamePersistentObject(obj, "panic2", 6);
      break;
    case TA_STORAGE_PANIC_ID_TOO_LONG:
      TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, buf, TEE_OBJECT_ID_MAX_LEN + 1,
                               TEE_DATA_FLAG_ACCESS_READ, &obj);
      break;
    case TA_STORAGE_PANIC_BAD_FLAGS:
      TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, "panic", 5, 0x8000, TEE_HANDLE_NULL, NULL,
                                 0, &obj);
      break;
    case TA_STORAGE_PANIC_SEEK_BAD_WHENCE:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_SeekObjectData(obj, 0, (TEE_Whence)7);
      break;
    case TA_STORAGE_PANIC_ENUM_BAD_HANDLE:
      n = sizeof(buf);
      TEE_GetNextPersistentObject((TEE_ObjectEnumHandle)&on_stack, NULL, buf, &n);
      break;
    case TA_STORAGE_PANIC_ENUM_NULL_ID: {
      TEE_ObjectEnumHandle e = TEE_HANDLE_NULL;
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      if (TEE_AllocatePersistentObjectEnumerator(&e) != TEE_SUCCESS) return FAILED;
      if (TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE) != TEE_SUCCESS) return FAILED;
      TEE_GetNextPersistentObject(e, NULL, NULL, &n);
      break;
    }
    case TA_STORAGE_PANIC_FREE_PERSISTENT:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_FreeTransientObject(obj);
      break;
    case TA_STORAGE_PANIC_USE_AFTER_CLOSE:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_CloseObject(obj);
      TEE_ReadObjectData(obj, buf, 1, &n);
      break;
    case TA_STORAGE_PANIC_TRUNCATE_NO_ACCESS:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_TruncateObjectData(obj, 0);
      break;
    case TA_STORAGE_PANIC_RENAME_NULL: TEE_RenamePersistentObject(TEE_HANDLE_NULL, "x", 1); break;
    case TA_STORAGE_PANIC_POPULATE_PERSISTENT:
      if (make_data("panic", TEE_DATA_FLAG_ACCESS_READ, &obj) != TEE_SUCCESS) return FAILED;
      TEE_InitRefAttribute(&attr, TEE_ATTR_SECRET_VALUE, kAesKey, sizeof(kAesKey));
      TEE_PopulateTransientObject(obj, &attr, 1);
      break;
    case TA_STORAGE_PANIC_DELETE_TRANSIENT:
      if (make_aes_key(&key) != TEE_SUCCESS) return FAILED;
      TEE_CloseAndDeletePersistentObject1(key);
      break;
    case TA_STORAGE_PANIC_CREATE_UNINITIALIZED:
      if (TEE_AllocateTransientObject(TEE_TYPE_AES, 128, &key) != TEE_SUCCESS) return FAILED;
      TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, "panic", 5, TEE_DATA_FLAG_OVERWRITE, key,
                                 NULL, 0, &obj);
      break;
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
  return FAILED; /* still alive: the rule was not enforced */
}

static TEE_Result cmd_cipher(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  TEE_OperationHandle op = TEE_HANDLE_NULL;
  TEE_ObjectInfo info;
  len_t out_len;
  TEE_Result res;
  if (pt != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE) ||
      slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_GetObjectInfo1(*h, &info);
  if (res != TEE_SUCCESS) return res;
  res = TEE_AllocateOperation(&op, TEE_ALG_AES_ECB_NOPAD, TEE_MODE_ENCRYPT, info.objectSize);
  if (res != TEE_SUCCESS) return res;
  res = TEE_SetOperationKey(op, *h);
  if (res == TEE_SUCCESS) {
    TEE_CipherInit(op, NULL, 0);
    out_len = p[2].memref.size;
    res = TEE_CipherDoFinal(op, p[1].memref.buffer, p[1].memref.size, p[2].memref.buffer,
                            &out_len);
    if (res == TEE_SUCCESS) p[2].memref.size = out_len;
  }
  TEE_FreeOperation(op);
  return res;
}

static TEE_Result cmd_wipe(uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectEnumHandle e = TEE_HANDLE_NULL;
  TEE_ObjectHandle obj;
  uint8_t id[TEE_OBJECT_ID_MAX_LEN];
  len_t id_len;
  uint32_t n = 0;
  TEE_Result res;
  if (pt != PT(VALUE_OUTPUT, NONE, NONE, NONE)) return TEE_ERROR_BAD_PARAMETERS;
  res = TEE_AllocatePersistentObjectEnumerator(&e);
  if (res != TEE_SUCCESS) return res;
  for (;;) {
    /* Deleting while enumerating is undefined in GP: start over after each deletion. */
    res = TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE);
    if (res == TEE_SUCCESS) res = TEE_GetNextPersistentObject(e, NULL, id, &id_len);
    if (res == TEE_ERROR_ITEM_NOT_FOUND) {
      res = TEE_SUCCESS;
      break;
    }
    if (res != TEE_SUCCESS) break;
    res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, id, id_len,
                                   TEE_DATA_FLAG_ACCESS_WRITE_META, &obj);
    if (res == TEE_SUCCESS) res = TEE_CloseAndDeletePersistentObject1(obj);
    if (res != TEE_SUCCESS && res != TEE_ERROR_CORRUPT_OBJECT) break;
    ++n;
  }
  TEE_FreePersistentObjectEnumerator(e);
  p[0].value.a = n;
  return res;
}

static TEE_Result cmd_probe(struct session *s, uint32_t pt, TEE_Param p[4]) {
  TEE_ObjectHandle *h;
  TEE_ObjectInfo info;
  if (pt != PT(VALUE_INPUT, VALUE_OUTPUT, NONE, NONE) || slot_handle(s, p[0].value.a, &h))
    return TEE_ERROR_BAD_PARAMETERS;
  p[1].value.a = TEE_GetObjectInfo1(*h, &info);
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess, uint32_t cmd, uint32_t pt, TEE_Param p[4]) {
  struct session *s = sess;
  switch (cmd) {
    case TA_STORAGE_CMD_CREATE: return cmd_create(s, pt, p);
    case TA_STORAGE_CMD_OPEN: return cmd_open(s, pt, p);
    case TA_STORAGE_CMD_CLOSE: return cmd_close(s, pt, p);
    case TA_STORAGE_CMD_READ: return cmd_read(s, pt, p);
    case TA_STORAGE_CMD_WRITE: return cmd_write(s, pt, p);
    case TA_STORAGE_CMD_SEEK: return cmd_seek(s, pt, p);
    case TA_STORAGE_CMD_TRUNCATE: return cmd_truncate(s, pt, p);
    case TA_STORAGE_CMD_RENAME: return cmd_rename(s, pt, p);
    case TA_STORAGE_CMD_DELETE: return cmd_delete(s, pt, p);
    case TA_STORAGE_CMD_INFO: return cmd_info(s, pt, p);
    case TA_STORAGE_CMD_GET_ATTR: return cmd_get_attr(s, pt, p);
    case TA_STORAGE_CMD_ENUM: return cmd_enum(pt, p);
    case TA_STORAGE_CMD_ENUM_CHECKS: return cmd_enum_checks(pt);
    case TA_STORAGE_CMD_PANIC: return cmd_panic(pt, p);
    case TA_STORAGE_CMD_CIPHER: return cmd_cipher(s, pt, p);
    case TA_STORAGE_CMD_WIPE: return cmd_wipe(pt, p);
    case TA_STORAGE_CMD_PROBE: return cmd_probe(s, pt, p);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
