/* Client of the ECDSA TA: fetches the public key of a P-256 key pair that lives in the TA, has a
 * message signed, has the signature verified, and shows that a changed message fails. */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <tee_client_api.h>

#include <ecdsa_ta.h>

static TEEC_Session sess;

static TEEC_Result call(uint32_t cmd, uint32_t t0, void *b0, size_t *s0, uint32_t t1, void *b1,
                        size_t *s1) {
  TEEC_Operation op;
  uint32_t origin;
  TEEC_Result res;

  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(t0, t1, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = b0;
  op.params[0].tmpref.size = *s0;
  op.params[1].tmpref.buffer = b1;
  op.params[1].tmpref.size = *s1;
  res = TEEC_InvokeCommand(&sess, cmd, &op, &origin);
  *s0 = op.params[0].tmpref.size;
  *s1 = op.params[1].tmpref.size;
  return res;
}

static void hex(const char *label, const uint8_t *p, size_t n) {
  printf("%s", label);
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\n");
}

int main(void) {
  TEEC_Context ctx;
  TEEC_UUID uuid = TA_ECDSA_UUID;
  char message[] = "teemu: a TrustZone TEE in software";
  uint8_t x[32], y[32], sig[TA_ECDSA_SIGNATURE_SIZE], small[8];
  size_t xs = sizeof(x), ys = sizeof(y), ms, ss;
  uint32_t origin;
  TEEC_Result res;

  res = TEEC_InitializeContext(NULL, &ctx);
  if (res != TEEC_SUCCESS) errx(1, "TEEC_InitializeContext failed with code 0x%x", res);
  printf("Open a session: the TA generates an ECDSA P-256 key pair for it\n");
  res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_OpenSession failed with code 0x%x origin 0x%x", res, origin);

  res = call(TA_ECDSA_CMD_GET_PUBLIC_KEY, TEEC_MEMREF_TEMP_OUTPUT, x, &xs, TEEC_MEMREF_TEMP_OUTPUT,
             y, &ys);
  if (res != TEEC_SUCCESS || xs != 32 || ys != 32) errx(1, "GET_PUBLIC_KEY failed: 0x%x", res);
  hex("Public key X: ", x, xs);
  hex("Public key Y: ", y, ys);

  printf("Sign \"%s\"\n", message);
  ms = strlen(message);
  ss = sizeof(small);
  res = call(TA_ECDSA_CMD_SIGN, TEEC_MEMREF_TEMP_INPUT, message, &ms, TEEC_MEMREF_TEMP_OUTPUT,
             small, &ss);
  if (res != TEEC_ERROR_SHORT_BUFFER) errx(1, "an 8-byte signature buffer gave 0x%x", res);
  printf("An %zu-byte buffer is too short: the signature needs %zu bytes\n", sizeof(small), ss);
  ss = sizeof(sig);
  res = call(TA_ECDSA_CMD_SIGN, TEEC_MEMREF_TEMP_INPUT, message, &ms, TEEC_MEMREF_TEMP_OUTPUT,
             sig, &ss);
  if (res != TEEC_SUCCESS || ss != sizeof(sig)) errx(1, "SIGN failed: 0x%x", res);
  hex("Signature (r || s): ", sig, ss);

  res = call(TA_ECDSA_CMD_VERIFY, TEEC_MEMREF_TEMP_INPUT, message, &ms, TEEC_MEMREF_TEMP_INPUT,
             sig, &ss);
  if (res != TEEC_SUCCESS) errx(1, "the signature does not verify: 0x%x", res);
  printf("Signature verified by the TA\n");

  message[0] ^= 0x20; /* "Teemu: ..." */
  res = call(TA_ECDSA_CMD_VERIFY, TEEC_MEMREF_TEMP_INPUT, message, &ms, TEEC_MEMREF_TEMP_INPUT,
             sig, &ss);
  if (res != 0xFFFF3072) errx(1, "a changed message gave 0x%x", res);
  printf("Changed message \"%s\" rejected: signature invalid (0x%x)\n", message, res);

  TEEC_CloseSession(&sess);
  TEEC_FinalizeContext(&ctx);
  return 0;
}
