/* TA header and flags (OP-TEE's user_ta_header.h). */
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

#endif /* USER_TA_HEADER_H */
