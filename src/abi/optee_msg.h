// OP-TEE message protocol (optee_msg.h, optee_rpc_cmd.h): the argument structure passed by
// physical address with CALL_WITH_ARG, its parameters, commands, RPC commands and the
// non-contiguous page-list format. Values: reference/linux-optee-abi.md section 5.
#pragma once

#include <cstddef>
#include <cstdint>

namespace teemu::abi {

constexpr uint64_t OPTEE_MSG_ATTR_TYPE_NONE = 0x0;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_VALUE_INPUT = 0x1;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT = 0x2;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_VALUE_INOUT = 0x3;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_RMEM_INPUT = 0x5;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT = 0x6;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_RMEM_INOUT = 0x7;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_TMEM_INPUT = 0x9;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT = 0xa;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_TMEM_INOUT = 0xb;
constexpr uint64_t OPTEE_MSG_ATTR_TYPE_MASK = 0xff;
constexpr uint64_t OPTEE_MSG_ATTR_META = 1u << 8;
constexpr uint64_t OPTEE_MSG_ATTR_NONCONTIG = 1u << 9;
constexpr uint64_t OPTEE_MSG_ATTR_CACHE_SHIFT = 16;
constexpr uint64_t OPTEE_MSG_ATTR_CACHE_MASK = 0x7;
constexpr uint64_t OPTEE_MSG_ATTR_CACHE_PREDEFINED = 0;

constexpr uint32_t OPTEE_MSG_LOGIN_PUBLIC = 0;
constexpr uint32_t OPTEE_MSG_LOGIN_USER = 1;
constexpr uint32_t OPTEE_MSG_LOGIN_GROUP = 2;
constexpr uint32_t OPTEE_MSG_LOGIN_APPLICATION = 4;
constexpr uint32_t OPTEE_MSG_LOGIN_APPLICATION_USER = 5;
constexpr uint32_t OPTEE_MSG_LOGIN_APPLICATION_GROUP = 6;
constexpr uint32_t OPTEE_MSG_LOGIN_REE_KERNEL = 0x80000000;

constexpr size_t OPTEE_MSG_NONCONTIG_PAGE_SIZE = 4096;

struct optee_msg_param_tmem {
  uint64_t buf_ptr;
  uint64_t size;
  uint64_t shm_ref;
};

struct optee_msg_param_rmem {
  uint64_t offs;
  uint64_t size;
  uint64_t shm_ref;
};

struct optee_msg_param_value {
  uint64_t a;
  uint64_t b;
  uint64_t c;
};

struct optee_msg_param {
  uint64_t attr;
  union {
    optee_msg_param_tmem tmem;
    optee_msg_param_rmem rmem;
    optee_msg_param_value value;
    uint8_t octets[24];
  } u;
};

struct optee_msg_arg {
  uint32_t cmd;
  uint32_t func;
  uint32_t session;
  uint32_t cancel_id;
  uint32_t pad;
  uint32_t ret;
  uint32_t ret_origin;
  uint32_t num_params;
  optee_msg_param params[];  // NOLINT: flexible array member, as in optee_msg.h
};

constexpr size_t optee_msg_get_arg_size(size_t num_params) {
  return sizeof(optee_msg_arg) + sizeof(optee_msg_param) * num_params;
}

// The argument must fit one 4 KiB page: (4096 - 32) / 32.
constexpr uint32_t OPTEE_MSG_MAX_NUM_PARAMS = 127;

// Commands (optee_msg_arg.cmd of CALL_WITH_ARG).
constexpr uint32_t OPTEE_MSG_CMD_OPEN_SESSION = 0;
constexpr uint32_t OPTEE_MSG_CMD_INVOKE_COMMAND = 1;
constexpr uint32_t OPTEE_MSG_CMD_CLOSE_SESSION = 2;
constexpr uint32_t OPTEE_MSG_CMD_CANCEL = 3;
constexpr uint32_t OPTEE_MSG_CMD_REGISTER_SHM = 4;
constexpr uint32_t OPTEE_MSG_CMD_UNREGISTER_SHM = 5;
constexpr uint32_t OPTEE_MSG_CMD_DO_BOTTOM_HALF = 6;
constexpr uint32_t OPTEE_MSG_CMD_STOP_ASYNC_NOTIF = 7;

// RPC commands (optee_msg_arg.cmd of an OPTEE_SMC_RPC_FUNC_CMD request).
constexpr uint32_t OPTEE_RPC_CMD_LOAD_TA = 0;
constexpr uint32_t OPTEE_RPC_CMD_RPMB = 1;
constexpr uint32_t OPTEE_RPC_CMD_FS = 2;
constexpr uint32_t OPTEE_RPC_CMD_GET_TIME = 3;
constexpr uint32_t OPTEE_RPC_CMD_NOTIFICATION = 4;  // formerly WAIT_QUEUE
constexpr uint32_t OPTEE_RPC_CMD_SUSPEND = 5;
constexpr uint32_t OPTEE_RPC_CMD_SHM_ALLOC = 6;
constexpr uint32_t OPTEE_RPC_CMD_SHM_FREE = 7;
constexpr uint32_t OPTEE_RPC_CMD_GPROF = 9;
constexpr uint32_t OPTEE_RPC_CMD_SOCKET = 10;
constexpr uint32_t OPTEE_RPC_CMD_FTRACE = 11;
constexpr uint32_t OPTEE_RPC_CMD_SUPP_PLUGIN = 12;

constexpr uint32_t OPTEE_RPC_SHM_TYPE_APPL = 0;
constexpr uint32_t OPTEE_RPC_SHM_TYPE_KERNEL = 1;
constexpr uint32_t OPTEE_RPC_SHM_TYPE_GLOBAL = 2;

constexpr uint32_t OPTEE_RPC_NOTIFICATION_WAIT = 0;
constexpr uint32_t OPTEE_RPC_NOTIFICATION_SEND = 1;

constexpr uint32_t OPTEE_RPC_FS_OPEN = 0;
constexpr uint32_t OPTEE_RPC_FS_CREATE = 1;
constexpr uint32_t OPTEE_RPC_FS_CLOSE = 2;
constexpr uint32_t OPTEE_RPC_FS_READ = 3;
constexpr uint32_t OPTEE_RPC_FS_WRITE = 4;
constexpr uint32_t OPTEE_RPC_FS_TRUNCATE = 5;
constexpr uint32_t OPTEE_RPC_FS_REMOVE = 6;
constexpr uint32_t OPTEE_RPC_FS_RENAME = 7;
constexpr uint32_t OPTEE_RPC_FS_OPENDIR = 8;
constexpr uint32_t OPTEE_RPC_FS_CLOSEDIR = 9;
constexpr uint32_t OPTEE_RPC_FS_READDIR = 10;

// Non-contiguous page lists (section 5.4): a 4 KiB list page holds 511 page addresses and, in its
// last slot, the physical address of the next list page.
constexpr size_t kPageListEntriesPerPage = OPTEE_MSG_NONCONTIG_PAGE_SIZE / sizeof(uint64_t) - 1;
static_assert(kPageListEntriesPerPage == 511);

struct optee_page_list_page {
  uint64_t pages_list[kPageListEntriesPerPage];
  uint64_t next_page_data;
};

// Layouts: reference section 5.2.
static_assert(sizeof(optee_msg_param_tmem) == 24);
static_assert(sizeof(optee_msg_param_rmem) == 24);
static_assert(sizeof(optee_msg_param_value) == 24);
static_assert(sizeof(optee_msg_param) == 32);
static_assert(offsetof(optee_msg_param, u) == 8);
static_assert(sizeof(optee_msg_arg) == 32);
static_assert(offsetof(optee_msg_arg, func) == 4);
static_assert(offsetof(optee_msg_arg, session) == 8);
static_assert(offsetof(optee_msg_arg, cancel_id) == 12);
static_assert(offsetof(optee_msg_arg, pad) == 16);
static_assert(offsetof(optee_msg_arg, ret) == 20);
static_assert(offsetof(optee_msg_arg, ret_origin) == 24);
static_assert(offsetof(optee_msg_arg, num_params) == 28);
static_assert(offsetof(optee_msg_arg, params) == 32);
static_assert(optee_msg_get_arg_size(OPTEE_MSG_MAX_NUM_PARAMS) <= 4096);
static_assert(optee_msg_get_arg_size(OPTEE_MSG_MAX_NUM_PARAMS + 1) > 4096);
static_assert(sizeof(optee_page_list_page) == OPTEE_MSG_NONCONTIG_PAGE_SIZE);

}  // namespace teemu::abi
