/* TA header, flags and properties (the names and values of OP-TEE's user_ta_header.h). */
#ifndef USER_TA_HEADER_H
#define USER_TA_HEADER_H

#include <tee_api_types.h>

#define TA_FLAG_USER_MODE 0
#define TA_FLAG_EXEC_DDR 0
#define TA_FLAG_SINGLE_INSTANCE (1u << 2)
#define TA_FLAG_MULTI_SESSION (1u << 3)
#define TA_FLAG_INSTANCE_KEEP_ALIVE (1u << 4)
#define TA_FLAG_SECURE_DATA_PATH (1u << 5)
#define TA_FLAG_REMAP_SUPPORT 0
#define TA_FLAG_CACHE_MAINTENANCE (1u << 7)
#define TA_FLAG_CONCURRENT (1u << 8)
#define TA_FLAG_DEVICE_ENUM (1u << 9)
#define TA_FLAG_DEVICE_ENUM_SUPP (1u << 10)
#define TA_FLAG_DONT_CLOSE_HANDLE_ON_CORRUPT_OBJECT (1u << 11)
#define TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE (1u << 12)
#define TA_FLAG_INSTANCE_KEEP_CRASHED (1u << 13)
#define TA_FLAGS_MASK 0x3fffu

struct ta_head {
  TEE_UUID uuid;
  uint32_t stack_size;
  uint32_t flags;
  uint64_t depr_entry;
};

#define TA_FRAMEWORK_STACK_SIZE 2048

/* Names of the properties every TA has (GP TEE Internal Core API 1.3.1, 4.6; OP-TEE adds the
 * optee.* one). user_ta_header.c lists them in ta_props[] with the values from the TA's
 * user_ta_header_defines.h, followed by TA_CURRENT_TA_EXT_PROPERTIES if the TA defines it. */
#define TA_PROP_STR_SINGLE_INSTANCE "gpd.ta.singleInstance"
#define TA_PROP_STR_MULTI_SESSION "gpd.ta.multiSession"
#define TA_PROP_STR_KEEP_ALIVE "gpd.ta.instanceKeepAlive"
#define TA_PROP_STR_KEEP_CRASHED "optee.ta.instanceKeepCrashed"
#define TA_PROP_STR_DATA_SIZE "gpd.ta.dataSize"
#define TA_PROP_STR_STACK_SIZE "gpd.ta.stackSize"
#define TA_PROP_STR_VERSION "gpd.ta.version"
#define TA_PROP_STR_DESCRIPTION "gpd.ta.description"
#define TA_PROP_STR_ENDIAN "gpd.ta.endian"
#define TA_PROP_STR_DOES_NOT_CLOSE_HANDLE_ON_CORRUPT_OBJECT "gpd.ta.doesNotCloseHandleOnCorruptObject"

/* How a property's value is stored: `value` points at a bool, a uint32_t, a uint64_t, a TEE_UUID,
 * a TEE_Identity, a NUL-terminated string, or (BINARY_BLOCK) a NUL-terminated base64 string. */
enum user_ta_prop_type {
  USER_TA_PROP_TYPE_BOOL,
  USER_TA_PROP_TYPE_U32,
  USER_TA_PROP_TYPE_UUID,
  USER_TA_PROP_TYPE_IDENTITY,
  USER_TA_PROP_TYPE_STRING,
  USER_TA_PROP_TYPE_BINARY_BLOCK,
  USER_TA_PROP_TYPE_U64,
  USER_TA_PROP_TYPE_INVALID,
};

struct user_ta_property {
  const char *name;
  enum user_ta_prop_type type;
  const void *value;
};

extern const struct user_ta_property ta_props[];
extern const size_t ta_num_props;

#endif /* USER_TA_HEADER_H */
