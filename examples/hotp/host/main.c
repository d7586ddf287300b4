/* Client of the HOTP TA: registers the RFC 4226 test key, asks for the first ten one-time
 * passwords and checks them against the RFC's table (appendix D). */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <tee_client_api.h>

#include <hotp_ta.h>

/* RFC 4226 appendix D: the secret "12345678901234567890" and HOTP values for counters 0..9. */
static const char rfc_key[] = "12345678901234567890";
static const uint32_t rfc_values[10] = {755224, 287082, 359152, 969429, 338314,
                                        254676, 287922, 162583, 399871, 520489};

int main(void) {
  TEEC_Context ctx;
  TEEC_Session sess;
  TEEC_Operation op;
  TEEC_UUID uuid = TA_HOTP_UUID;
  uint32_t origin;
  TEEC_Result res;
  int matches = 0;

  res = TEEC_InitializeContext(NULL, &ctx);
  if (res != TEEC_SUCCESS) errx(1, "TEEC_InitializeContext failed with code 0x%x", res);
  res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
  if (res != TEEC_SUCCESS)
    errx(1, "TEEC_OpenSession failed with code 0x%x origin 0x%x", res, origin);

  memset(&op, 0, sizeof(op));
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = (void *)rfc_key;
  op.params[0].tmpref.size = strlen(rfc_key);
  res = TEEC_InvokeCommand(&sess, TA_HOTP_CMD_REGISTER_SHARED_KEY, &op, &origin);
  if (res != TEEC_SUCCESS) errx(1, "registering the key failed with code 0x%x", res);
  printf("Registered the shared key \"%s\" in the TA\n", rfc_key);

  for (int i = 0; i < 10; i++) {
    memset(&op, 0, sizeof(op));
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    res = TEEC_InvokeCommand(&sess, TA_HOTP_CMD_GET_HOTP, &op, &origin);
    if (res != TEEC_SUCCESS) errx(1, "GET_HOTP failed with code 0x%x", res);
    const int ok = op.params[0].value.a == rfc_values[i];
    matches += ok;
    printf("HOTP counter %d: %06u %s\n", i, op.params[0].value.a, ok ? "(RFC 4226: ok)" : "(RFC 4226: WRONG)");
  }
  printf("%d of 10 values match RFC 4226 appendix D\n", matches);

  TEEC_CloseSession(&sess);
  TEEC_FinalizeContext(&ctx);
  return matches == 10 ? 0 : 1;
}
