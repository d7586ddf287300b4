#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <api_test_ta.h>

#if __OPTEE_CORE_API_COMPAT_1_1
#define TA_UUID TA_API_TEST_GP11_UUID
#define TA_DESCRIPTION "teemu API test TA (GP 1.1)"
#else
#define TA_UUID TA_API_TEST_UUID
#define TA_DESCRIPTION "teemu API test TA"
#endif
#define TA_FLAGS 0
#define TA_STACK_SIZE (8 * 1024)
#define TA_DATA_SIZE (64 * 1024)
#define TA_VERSION "2.5"

#define TA_CURRENT_TA_EXT_PROPERTIES                                                         \
  {API_EXT_STRING, USER_TA_PROP_TYPE_STRING, API_EXT_STRING_VALUE},                          \
      {API_EXT_U32, USER_TA_PROP_TYPE_U32, &(const uint32_t){API_EXT_U32_VALUE}},            \
      {API_EXT_U64, USER_TA_PROP_TYPE_U64, &(const uint64_t){API_EXT_U64_VALUE}},            \
      {API_EXT_BOOL, USER_TA_PROP_TYPE_BOOL, &(const bool){true}},                           \
      {API_EXT_BINARY, USER_TA_PROP_TYPE_BINARY_BLOCK, API_EXT_BINARY_BASE64},               \
      {API_EXT_UUID, USER_TA_PROP_TYPE_UUID,                                                 \
       &(const TEE_UUID){0x01020304, 0x0506, 0x0708, {9, 10, 11, 12, 13, 14, 15, 16}}},      \
      {API_EXT_IDENTITY, USER_TA_PROP_TYPE_IDENTITY,                                         \
       &(const TEE_Identity){TEE_LOGIN_TRUSTED_APP,                                          \
                             {0xa1a2a3a4, 0xb1b2, 0xc1c2, {0xd1, 0xd2, 0, 0, 0, 0, 0, 0xff}}}},

#endif
