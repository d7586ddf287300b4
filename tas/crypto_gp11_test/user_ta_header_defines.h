#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

/* The crypto GP 1.1 test TA, built with __OPTEE_CORE_API_COMPAT_1_1. */
#define TA_UUID                                      \
  {                                                  \
    0x6a4e9d13, 0x2c7b, 0x4f05, {                    \
      0x9e, 0x81, 0xb3, 0xc5, 0xd7, 0xa1, 0xf0, 0x46 \
    }                                                \
  }
#define TA_FLAGS 0
#define TA_STACK_SIZE (16 * 1024)
#define TA_DATA_SIZE (64 * 1024)
#define TA_DESCRIPTION "teemu GP 1.1 crypto API test TA"
#define TA_VERSION "1.0"

/* p0 value in: a = algorithm; p1 memref in: message; p2 memref out: digest. */
#define TA_CRYPTO_GP11_CMD_DIGEST 0
/* The GP 1.1 functions with 32-bit lengths and 1.1 attributes; TA_CRYPTO_GP11_FAILED | line on a
 * failed check. */
#define TA_CRYPTO_GP11_CMD_SELF_TEST 1
/* GP 1.1 TEE_FreeOperation(TEE_HANDLE_NULL): a panic. */
#define TA_CRYPTO_GP11_CMD_PANIC 2
#define TA_CRYPTO_GP11_FAILED 0x7E570000u

#endif
