/* Client of the AES TA: encrypts a buffer with AES-256-CTR under a key that exists only in the
 * TA, decrypts the result in the same session and checks it gets the clear text back. */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <tee_client_api.h>

#include <aes_ta.h>

#define AES_TEST_BUFFER_SIZE 4096
#define AES_BLOCK_SIZE 16

static TEEC_Session sess;

static void invoke(uint32_t cmd, TEEC_Operation *op, const char *what) {
  uint32_t origin;
  TEEC_Result res = TEEC_InvokeCommand(&sess, cmd, op, &origin);
  if (res != TEEC_SUCCESS) errx(1, "%s failed with code 0x%x origin 0x%x", what, res, origin);
}

static void prepare(int mode) {
  TEEC_Operation op;
  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_NONE);
  op.params[0].value.a = TA_AES_ALGO_CTR;
  op.params[1].value.a = TA_AES_SIZE_256BIT;
  op.params[2].value.a = mode;
  invoke(TA_AES_CMD_PREPARE, &op, "PREPARE");
}

static void set_iv(const uint8_t *iv) {
  TEEC_Operation op;
  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = (void *)iv;
  op.params[0].tmpref.size = AES_BLOCK_SIZE;
  invoke(TA_AES_CMD_SET_IV, &op, "SET_IV");
}

static void cipher(const uint8_t *in, uint8_t *out, size_t size) {
  TEEC_Operation op;
  memset(&op, 0, sizeof(op));
  op.paramTypes =
      TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = (void *)in;
  op.params[0].tmpref.size = size;
  op.params[1].tmpref.buffer = out;
  op.params[1].tmpref.size = size;
  invoke(TA_AES_CMD_CIPHER, &op, "CIPHER");
  if (op.params[1].tmpref.size != size) errx(1, "CIPHER returned %zu bytes", op.params[1].tmpref.size);
}

int main(void) {
  TEEC_Context ctx;
  TEEC_UUID uuid = TA_AES_UUID;
  static uint8_t clear[AES_TEST_BUFFER_SIZE], ciph[AES_TEST_BUFFER_SIZE], temp[AES_TEST_BUFFER_SIZE];
  uint8_t iv[AES_BLOCK_SIZE];
  uint32_t origin;
  TEEC_Result res;

  res = TEEC_InitializeContext(NULL, &ctx);
  if (res != TEEC_SUCCESS) errx(1, "TEEC_InitializeContext failed with code 0x%x", res);
  printf("Prepare session with the TA\n");
  res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_OpenSession failed with code 0x%x origin 0x%x", res, origin);

  for (size_t i = 0; i < sizeof(clear); i++) clear[i] = (uint8_t)(i * 31 + 7);
  memset(iv, 0xa5, sizeof(iv));

  printf("Prepare encode operation (AES-256-CTR, the key is generated in the TA)\n");
  prepare(TA_AES_MODE_ENCODE);
  printf("Load IV in TA\n");
  set_iv(iv);
  printf("Encode buffer from TA\n");
  cipher(clear, ciph, sizeof(clear));
  printf("Cipher text starts with ");
  for (int i = 0; i < 16; i++) printf("%02x", ciph[i]);
  printf("\n");
  if (memcmp(clear, ciph, sizeof(clear)) == 0) errx(1, "the cipher text is the clear text");

  printf("Prepare decode operation\n");
  prepare(TA_AES_MODE_DECODE);
  printf("Load IV in TA\n");
  set_iv(iv);
  printf("Decode buffer from TA\n");
  cipher(ciph, temp, sizeof(ciph));
  if (memcmp(clear, temp, sizeof(clear)) != 0) errx(1, "Clear text and decoded text differ => ERROR");
  printf("Clear text and decoded text match\n");

  TEEC_CloseSession(&sess);
  TEEC_FinalizeContext(&ctx);
  return 0;
}
