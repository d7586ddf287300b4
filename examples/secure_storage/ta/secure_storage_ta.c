/* A TA that keeps raw data objects in the TEE's private trusted storage: the client names an
 * object and gives its bytes; the TEE stores them encrypted and authenticated for this TA only.
 * Written against GP Internal Core API 1.1 (see the Makefile): lengths are uint32_t. */
#include <string.h>

#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <secure_storage_ta.h>

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types __unused,
                                    TEE_Param params[4] __unused, void **sess_ctx __unused) {
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx __unused) {}

/* The object id from the client, copied into TA memory first: the client's buffer is shared
 * and could change under us. */
static TEE_Result copy_id(TEE_Param *p, char **id, uint32_t *len) {
  *len = p->memref.size;
  *id = TEE_Malloc(*len ? *len : 1, 0);
  if (!*id) return TEE_ERROR_OUT_OF_MEMORY;
  TEE_MemMove(*id, p->memref.buffer, *len);
  return TEE_SUCCESS;
}

static TEE_Result write_raw(uint32_t types, TEE_Param params[4]) {
  const uint32_t flags = TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE |
                         TEE_DATA_FLAG_ACCESS_WRITE_META | TEE_DATA_FLAG_OVERWRITE;
  TEE_ObjectHandle obj;
  TEE_Result res;
  char *id, *data;
  uint32_t id_len, data_len;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  res = copy_id(&params[0], &id, &id_len);
  if (res != TEE_SUCCESS) return res;
  data_len = params[1].memref.size;
  data = TEE_Malloc(data_len ? data_len : 1, 0);
  if (!data) {
    TEE_Free(id);
    return TEE_ERROR_OUT_OF_MEMORY;
  }
  TEE_MemMove(data, params[1].memref.buffer, data_len);

  /* Create the object empty, then write its data stream. */
  res = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, id, id_len, flags, TEE_HANDLE_NULL, NULL,
                                   0, &obj);
  if (res != TEE_SUCCESS) {
    EMSG("TEE_CreatePersistentObject failed 0x%08x", res);
  } else {
    res = TEE_WriteObjectData(obj, data, data_len);
    if (res != TEE_SUCCESS) {
      EMSG("TEE_WriteObjectData failed 0x%08x", res);
      TEE_CloseAndDeletePersistentObject1(obj);
    } else {
      TEE_CloseObject(obj);
    }
  }
  TEE_Free(id);
  TEE_Free(data);
  return res;
}

static TEE_Result read_raw(uint32_t types, TEE_Param params[4]) {
  TEE_ObjectHandle obj;
  TEE_ObjectInfo info;
  TEE_Result res;
  uint32_t id_len, count = 0;
  char *id, *data = NULL;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  res = copy_id(&params[0], &id, &id_len);
  if (res != TEE_SUCCESS) return res;
  res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, id, id_len,
                                 TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_SHARE_READ, &obj);
  TEE_Free(id);
  if (res != TEE_SUCCESS) return res;

  res = TEE_GetObjectInfo1(obj, &info);
  if (res == TEE_SUCCESS && info.dataSize > params[1].memref.size) {
    /* Tell the client how much room the object needs. */
    params[1].memref.size = info.dataSize;
    res = TEE_ERROR_SHORT_BUFFER;
  }
  if (res == TEE_SUCCESS) {
    data = TEE_Malloc(info.dataSize ? info.dataSize : 1, 0);
    if (!data) res = TEE_ERROR_OUT_OF_MEMORY;
  }
  if (res == TEE_SUCCESS) res = TEE_ReadObjectData(obj, data, info.dataSize, &count);
  if (res == TEE_SUCCESS) {
    TEE_MemMove(params[1].memref.buffer, data, count);
    params[1].memref.size = count;
  }
  TEE_Free(data);
  TEE_CloseObject(obj);
  return res;
}

static TEE_Result delete_object(uint32_t types, TEE_Param params[4]) {
  TEE_ObjectHandle obj;
  TEE_Result res;
  uint32_t id_len;
  char *id;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_NONE,
                               TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  res = copy_id(&params[0], &id, &id_len);
  if (res != TEE_SUCCESS) return res;
  res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, id, id_len,
                                 TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE_META,
                                 &obj);
  TEE_Free(id);
  if (res != TEE_SUCCESS) return res;
  return TEE_CloseAndDeletePersistentObject1(obj);
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx __unused, uint32_t cmd, uint32_t types,
                                      TEE_Param params[4]) {
  switch (cmd) {
    case TA_SECURE_STORAGE_CMD_WRITE_RAW: return write_raw(types, params);
    case TA_SECURE_STORAGE_CMD_READ_RAW: return read_raw(types, params);
    case TA_SECURE_STORAGE_CMD_DELETE: return delete_object(types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
