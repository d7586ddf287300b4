/* Compiled into every TA with the TA's own user_ta_header_defines.h: emits the TA header that
 * the loader checks (UUID, flags, stack size). */
#include <tee_internal_api.h>
#include <user_ta_header.h>
#include <user_ta_header_defines.h>

#ifndef TA_VERSION
#define TA_VERSION "Undefined version"
#endif
#ifndef TA_DESCRIPTION
#define TA_DESCRIPTION "Undefined description"
#endif

__attribute__((visibility("default"))) const struct ta_head ta_head = {
    .uuid = TA_UUID,
    .stack_size = TA_STACK_SIZE + TA_FRAMEWORK_STACK_SIZE,
    .flags = TA_FLAGS,
    .depr_entry = UINT64_MAX,
};

__attribute__((visibility("default"))) const uint32_t ta_data_size = TA_DATA_SIZE;
__attribute__((visibility("default"))) const char ta_version[] = TA_VERSION;
__attribute__((visibility("default"))) const char ta_description[] = TA_DESCRIPTION;
