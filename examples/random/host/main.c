/* Client of the random TA: asks for 16 random bytes and prints them. */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <tee_client_api.h>

#include <random_ta.h>

int main(void) {
  TEEC_Context ctx;
  TEEC_Session sess;
  TEEC_Operation op;
  TEEC_UUID uuid = TA_RANDOM_UUID;
  uint8_t random[16] = {0};
  uint32_t origin;

  TEEC_Result res = TEEC_InitializeContext(NULL, &ctx);
  if (res != TEEC_SUCCESS) errx(1, "TEEC_InitializeContext failed with code 0x%x", res);
  res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_OpenSession failed with code 0x%x origin 0x%x", res, origin);

  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = random;
  op.params[0].tmpref.size = sizeof(random);
  printf("Invoking TA to generate random UUID...\n");
  res = TEEC_InvokeCommand(&sess, TA_RANDOM_CMD_GENERATE, &op, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_InvokeCommand failed with code 0x%x origin 0x%x", res, origin);
  printf("TA generated UUID value = 0x");
  for (size_t i = 0; i < sizeof(random); i++) printf("%02x", random[i]);
  printf("\n");

  TEEC_CloseSession(&sess);
  TEEC_FinalizeContext(&ctx);
  return 0;
}
