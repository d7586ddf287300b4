/* Compiled into every TA with the TA's own user_ta_header_defines.h: emits the TA header that
 * the loader checks (UUID, flags, stack size) and the TA's property set (ta_props), which the
 * runtime reads for TEE_PROPSET_CURRENT_TA. */
#include <tee_internal_api.h>
#include <user_ta_header.h>
#include <user_ta_header_defines.h>

#ifndef TA_VERSION
#define TA_VERSION "Undefined version"
#endif
#ifndef TA_DESCRIPTION
#define TA_DESCRIPTION "Undefined description"
#endif

#define TA_EXPORTED __attribute__((visibility("default")))

TA_EXPORTED const struct ta_head ta_head = {
    .uuid = TA_UUID,
    .stack_size = TA_STACK_SIZE + TA_FRAMEWORK_STACK_SIZE,
    .flags = TA_FLAGS,
    .depr_entry = UINT64_MAX,
};

TA_EXPORTED const uint32_t ta_data_size = TA_DATA_SIZE;
TA_EXPORTED const char ta_version[] = TA_VERSION;
TA_EXPORTED const char ta_description[] = TA_DESCRIPTION;

static const bool ta_prop_single_instance = (TA_FLAGS & TA_FLAG_SINGLE_INSTANCE) != 0;
static const bool ta_prop_multi_session = (TA_FLAGS & TA_FLAG_MULTI_SESSION) != 0;
static const bool ta_prop_keep_alive = (TA_FLAGS & TA_FLAG_INSTANCE_KEEP_ALIVE) != 0;
static const bool ta_prop_keep_crashed = (TA_FLAGS & TA_FLAG_INSTANCE_KEEP_CRASHED) != 0;
static const bool ta_prop_no_close_on_corrupt =
    (TA_FLAGS & TA_FLAG_DONT_CLOSE_HANDLE_ON_CORRUPT_OBJECT) != 0;
static const uint32_t ta_prop_data_size = TA_DATA_SIZE;
static const uint32_t ta_prop_stack_size = TA_STACK_SIZE;
static const uint32_t ta_prop_endian = 0; /* little endian */

TA_EXPORTED const struct user_ta_property ta_props[] = {
    {TA_PROP_STR_SINGLE_INSTANCE, USER_TA_PROP_TYPE_BOOL, &ta_prop_single_instance},
    {TA_PROP_STR_MULTI_SESSION, USER_TA_PROP_TYPE_BOOL, &ta_prop_multi_session},
    {TA_PROP_STR_KEEP_ALIVE, USER_TA_PROP_TYPE_BOOL, &ta_prop_keep_alive},
    {TA_PROP_STR_KEEP_CRASHED, USER_TA_PROP_TYPE_BOOL, &ta_prop_keep_crashed},
    {TA_PROP_STR_DATA_SIZE, USER_TA_PROP_TYPE_U32, &ta_prop_data_size},
    {TA_PROP_STR_STACK_SIZE, USER_TA_PROP_TYPE_U32, &ta_prop_stack_size},
    {TA_PROP_STR_VERSION, USER_TA_PROP_TYPE_STRING, TA_VERSION},
    {TA_PROP_STR_DESCRIPTION, USER_TA_PROP_TYPE_STRING, TA_DESCRIPTION},
    {TA_PROP_STR_ENDIAN, USER_TA_PROP_TYPE_U32, &ta_prop_endian},
    {TA_PROP_STR_DOES_NOT_CLOSE_HANDLE_ON_CORRUPT_OBJECT, USER_TA_PROP_TYPE_BOOL,
     &ta_prop_no_close_on_corrupt},
#ifdef TA_CURRENT_TA_EXT_PROPERTIES
    TA_CURRENT_TA_EXT_PROPERTIES
#endif
};

TA_EXPORTED const size_t ta_num_props = sizeof(ta_props) / sizeof(ta_props[0]);
