/* Client of the secure-storage TA: stores an object in the TEE's trusted storage, reads it back
 * (once with a buffer too small), deletes it and checks it is gone. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tee_client_api.h>

#include <secure_storage_ta.h>

#define OBJECT_SIZE 7000

struct ta {
  TEEC_Context ctx;
  TEEC_Session sess;
};

static TEEC_Result invoke(struct ta *ta, uint32_t cmd, const char *id, void *data, size_t *size,
                          uint32_t data_type) {
  TEEC_Operation op;
  uint32_t origin;
  TEEC_Result res;

  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, data_type, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = (void *)id;
  op.params[0].tmpref.size = strlen(id);
  if (data_type != TEEC_NONE) {
    op.params[1].tmpref.buffer = data;
    op.params[1].tmpref.size = *size;
  }
  res = TEEC_InvokeCommand(&ta->sess, cmd, &op, &origin);
  if (data_type != TEEC_NONE) *size = op.params[1].tmpref.size;
  return res;
}

static const char *result_name(TEEC_Result res) {
  switch (res) {
    case TEEC_SUCCESS: return "TEEC_SUCCESS";
    case TEEC_ERROR_SHORT_BUFFER: return "TEEC_ERROR_SHORT_BUFFER";
    case TEEC_ERROR_ITEM_NOT_FOUND: return "TEEC_ERROR_ITEM_NOT_FOUND";
    default: return "an error";
  }
}

int main(void) {
  struct ta ta;
  TEEC_UUID uuid = TA_SECURE_STORAGE_UUID;
  const char *id = "object#1";
  char *data = malloc(OBJECT_SIZE), *back = malloc(OBJECT_SIZE), small[10];
  uint32_t origin;
  size_t size;
  TEEC_Result res;

  if (!data || !back) errx(1, "out of memory");
  res = TEEC_InitializeContext(NULL, &ta.ctx);
  if (res != TEEC_SUCCESS) errx(1, "TEEC_InitializeContext failed with code 0x%x", res);
  printf("Prepare session with the TA\n");
  res = TEEC_OpenSession(&ta.ctx, &ta.sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_OpenSession failed with code 0x%x origin 0x%x", res, origin);

  printf("\nTest on object \"%s\"\n", id);
  for (size_t i = 0; i < OBJECT_SIZE; i++) data[i] = (char)('A' + i % 26);
  printf("- Create and load object in the TA secure storage\n");
  size = OBJECT_SIZE;
  res = invoke(&ta, TA_SECURE_STORAGE_CMD_WRITE_RAW, id, data, &size, TEEC_MEMREF_TEMP_INPUT);
  if (res != TEEC_SUCCESS) errx(1, "writing the object failed: 0x%x", res);

  printf("- Read back the object\n");
  size = OBJECT_SIZE;
  res = invoke(&ta, TA_SECURE_STORAGE_CMD_READ_RAW, id, back, &size, TEEC_MEMREF_TEMP_OUTPUT);
  if (res != TEEC_SUCCESS) errx(1, "reading the object failed: 0x%x", res);
  if (size != OBJECT_SIZE || memcmp(data, back, OBJECT_SIZE) != 0)
    errx(1, "unexpected content in the object");
  printf("- Content read-out correctly\n");

  size = sizeof(small);
  res = invoke(&ta, TA_SECURE_STORAGE_CMD_READ_RAW, id, small, &size, TEEC_MEMREF_TEMP_OUTPUT);
  printf("- Read into a %zu-byte buffer: %s, the object needs %zu bytes\n", sizeof(small),
         result_name(res), size);
  if (res != TEEC_ERROR_SHORT_BUFFER || size != OBJECT_SIZE) errx(1, "expected a short buffer");

  printf("- Delete the object\n");
  res = invoke(&ta, TA_SECURE_STORAGE_CMD_DELETE, id, NULL, NULL, TEEC_NONE);
  if (res != TEEC_SUCCESS) errx(1, "deleting the object failed: 0x%x", res);
  size = OBJECT_SIZE;
  res = invoke(&ta, TA_SECURE_STORAGE_CMD_READ_RAW, id, back, &size, TEEC_MEMREF_TEMP_OUTPUT);
  printf("- Reading it again: %s, the object is gone\n", result_name(res));
  if (res != TEEC_ERROR_ITEM_NOT_FOUND) errx(1, "the object is still there");

  printf("\nWe're done, close and release TEE resources\n");
  TEEC_CloseSession(&ta.sess);
  TEEC_FinalizeContext(&ta.ctx);
  free(data);
  free(back);
  return 0;
}
