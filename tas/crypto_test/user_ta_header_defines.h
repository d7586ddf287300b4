#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <crypto_test_ta.h>

#define TA_UUID TA_CRYPTO_TEST_UUID
#define TA_FLAGS 0 /* a new instance per session */
#define TA_STACK_SIZE (32 * 1024)
#define TA_DATA_SIZE (1024 * 1024)
#define TA_DESCRIPTION "teemu GP crypto API test TA"
#define TA_VERSION "1.0"

#endif
