#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <storage_test_ta.h>

/* One source, three TAs: STORAGE_TEST_VARIANT 2 is the second GP 1.3.1 TA (isolation between
 * TAs), 3 the GP 1.1 build. */
#if defined(STORAGE_TEST_VARIANT) && STORAGE_TEST_VARIANT == 2
#define TA_UUID TA_STORAGE_TEST2_UUID
#elif defined(STORAGE_TEST_VARIANT) && STORAGE_TEST_VARIANT == 3
#define TA_UUID TA_STORAGE_GP11_UUID
#else
#define TA_UUID TA_STORAGE_TEST_UUID
#endif
#define TA_FLAGS 0 /* a new instance per session: two sessions share objects across instances */
#define TA_STACK_SIZE (16 * 1024)
#define TA_DATA_SIZE (256 * 1024)
#define TA_DESCRIPTION "teemu GP trusted storage test TA"
#define TA_VERSION "1.0"

#endif
