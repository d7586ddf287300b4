#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <arith_test_ta.h>

#if __OPTEE_CORE_API_COMPAT_1_1
#define TA_UUID TA_ARITH_TEST_GP11_UUID
#define TA_DESCRIPTION "teemu arithmetic test TA (GP 1.1)"
#else
#define TA_UUID TA_ARITH_TEST_UUID
#define TA_DESCRIPTION "teemu arithmetic test TA"
#endif
#define TA_FLAGS 0
#define TA_STACK_SIZE (8 * 1024)
#define TA_DATA_SIZE (64 * 1024)
#define TA_VERSION "1.0"

#endif
