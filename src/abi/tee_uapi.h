// Linux TEE subsystem user ABI (include/uapi/linux/tee.h), as the dynamic-SHM series left it plus
// the later additions teemu models (MEMREF_NULL, META). Names and values are the real ones; see
// reference/linux-optee-abi.md section 1. Layouts are pinned below with static_asserts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace teemu::abi {

// ioctl number encoding of asm-generic: dir<<30 | size<<16 | type<<8 | nr.
constexpr uint32_t ioc(uint32_t dir, uint32_t type, uint32_t nr, uint32_t size) {
  return (dir << 30) | (size << 16) | (type << 8) | nr;
}
constexpr uint32_t kIocWrite = 1;
constexpr uint32_t kIocRead = 2;

constexpr uint32_t TEE_IOC_MAGIC = 0xa4;
constexpr uint32_t TEE_IOC_BASE = 0;
constexpr size_t TEE_MAX_ARG_SIZE = 1024;

constexpr uint32_t TEE_GEN_CAP_GP = 1u << 0;
constexpr uint32_t TEE_GEN_CAP_PRIVILEGED = 1u << 1;
constexpr uint32_t TEE_GEN_CAP_REG_MEM = 1u << 2;
constexpr uint32_t TEE_GEN_CAP_MEMREF_NULL = 1u << 3;

constexpr uint64_t TEE_MEMREF_NULL = ~uint64_t{0};

constexpr uint32_t TEE_IMPL_ID_OPTEE = 1;
constexpr uint32_t TEE_OPTEE_CAP_TZ = 1u << 0;
constexpr size_t TEE_IOCTL_UUID_LEN = 16;

constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_NONE = 0;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT = 1;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT = 2;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT = 3;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT = 5;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT = 6;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT = 7;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_TYPE_MASK = 0xff;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_META = 0x100;
constexpr uint64_t TEE_IOCTL_PARAM_ATTR_MASK =
    TEE_IOCTL_PARAM_ATTR_TYPE_MASK | TEE_IOCTL_PARAM_ATTR_META;

constexpr uint32_t TEE_IOCTL_LOGIN_PUBLIC = 0;
constexpr uint32_t TEE_IOCTL_LOGIN_USER = 1;
constexpr uint32_t TEE_IOCTL_LOGIN_GROUP = 2;
constexpr uint32_t TEE_IOCTL_LOGIN_APPLICATION = 4;
constexpr uint32_t TEE_IOCTL_LOGIN_USER_APPLICATION = 5;
constexpr uint32_t TEE_IOCTL_LOGIN_GROUP_APPLICATION = 6;
constexpr uint32_t TEE_IOCTL_LOGIN_REE_KERNEL_MIN = 0x80000000;
constexpr uint32_t TEE_IOCTL_LOGIN_REE_KERNEL_MAX = 0xBFFFFFFF;
constexpr uint32_t TEE_IOCTL_LOGIN_REE_KERNEL = 0x80000000;

struct tee_ioctl_version_data {
  uint32_t impl_id;
  uint32_t impl_caps;
  uint32_t gen_caps;
};

struct tee_ioctl_shm_alloc_data {
  uint64_t size;
  uint32_t flags;
  int32_t id;
};

struct tee_ioctl_buf_data {
  uint64_t buf_ptr;
  uint64_t buf_len;
};

// VALUE: a, b, c opaque. MEMREF: a = offset into the shm, b = size, c = shm id or TEE_MEMREF_NULL.
struct tee_ioctl_param {
  uint64_t attr;
  uint64_t a;
  uint64_t b;
  uint64_t c;
};

struct tee_ioctl_open_session_arg {
  uint8_t uuid[TEE_IOCTL_UUID_LEN];
  uint8_t clnt_uuid[TEE_IOCTL_UUID_LEN];
  uint32_t clnt_login;
  uint32_t cancel_id;
  uint32_t session;
  uint32_t ret;
  uint32_t ret_origin;
  uint32_t num_params;
  // followed by tee_ioctl_param params[num_params]
};

struct tee_ioctl_invoke_arg {
  uint32_t func;
  uint32_t session;
  uint32_t cancel_id;
  uint32_t ret;
  uint32_t ret_origin;
  uint32_t num_params;
  // followed by tee_ioctl_param params[num_params]
};

struct tee_ioctl_cancel_arg {
  uint32_t cancel_id;
  uint32_t session;
};

struct tee_ioctl_close_session_arg {
  uint32_t session;
};

struct tee_iocl_supp_recv_arg {
  uint32_t func;
  uint32_t num_params;
  // followed by tee_ioctl_param params[num_params]
};

struct tee_iocl_supp_send_arg {
  uint32_t ret;
  uint32_t num_params;
  // followed by tee_ioctl_param params[num_params]
};

struct tee_ioctl_shm_register_data {
  uint64_t addr;
  uint64_t length;
  uint32_t flags;
  int32_t id;
};

constexpr uint32_t TEE_IOC_VERSION =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 0, sizeof(tee_ioctl_version_data));
constexpr uint32_t TEE_IOC_SHM_ALLOC = ioc(kIocRead | kIocWrite, TEE_IOC_MAGIC, TEE_IOC_BASE + 1,
                                           sizeof(tee_ioctl_shm_alloc_data));
constexpr uint32_t TEE_IOC_OPEN_SESSION =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 2, sizeof(tee_ioctl_buf_data));
constexpr uint32_t TEE_IOC_INVOKE =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 3, sizeof(tee_ioctl_buf_data));
constexpr uint32_t TEE_IOC_CANCEL =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 4, sizeof(tee_ioctl_cancel_arg));
constexpr uint32_t TEE_IOC_CLOSE_SESSION =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 5, sizeof(tee_ioctl_close_session_arg));
constexpr uint32_t TEE_IOC_SUPPL_RECV =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 6, sizeof(tee_ioctl_buf_data));
constexpr uint32_t TEE_IOC_SUPPL_SEND =
    ioc(kIocRead, TEE_IOC_MAGIC, TEE_IOC_BASE + 7, sizeof(tee_ioctl_buf_data));
constexpr uint32_t TEE_IOC_SHM_REGISTER = ioc(kIocRead | kIocWrite, TEE_IOC_MAGIC,
                                              TEE_IOC_BASE + 9, sizeof(tee_ioctl_shm_register_data));

// Fixed header sizes of the buf-style ioctls (the part before params[]).
constexpr size_t kOpenSessionHeaderSize = sizeof(tee_ioctl_open_session_arg);
constexpr size_t kInvokeHeaderSize = sizeof(tee_ioctl_invoke_arg);
constexpr size_t kSuppRecvHeaderSize = sizeof(tee_iocl_supp_recv_arg);
constexpr size_t kSuppSendHeaderSize = sizeof(tee_iocl_supp_send_arg);

// Layouts: reference section 1.3.
static_assert(sizeof(tee_ioctl_version_data) == 12);
static_assert(offsetof(tee_ioctl_version_data, gen_caps) == 8);
static_assert(sizeof(tee_ioctl_shm_alloc_data) == 16);
static_assert(offsetof(tee_ioctl_shm_alloc_data, flags) == 8);
static_assert(offsetof(tee_ioctl_shm_alloc_data, id) == 12);
static_assert(sizeof(tee_ioctl_buf_data) == 16);
static_assert(sizeof(tee_ioctl_param) == 32);
static_assert(offsetof(tee_ioctl_param, c) == 24);
static_assert(sizeof(tee_ioctl_open_session_arg) == 56);
static_assert(offsetof(tee_ioctl_open_session_arg, clnt_uuid) == 16);
static_assert(offsetof(tee_ioctl_open_session_arg, clnt_login) == 32);
static_assert(offsetof(tee_ioctl_open_session_arg, cancel_id) == 36);
static_assert(offsetof(tee_ioctl_open_session_arg, session) == 40);
static_assert(offsetof(tee_ioctl_open_session_arg, ret) == 44);
static_assert(offsetof(tee_ioctl_open_session_arg, ret_origin) == 48);
static_assert(offsetof(tee_ioctl_open_session_arg, num_params) == 52);
static_assert(sizeof(tee_ioctl_invoke_arg) == 24);
static_assert(offsetof(tee_ioctl_invoke_arg, session) == 4);
static_assert(offsetof(tee_ioctl_invoke_arg, cancel_id) == 8);
static_assert(offsetof(tee_ioctl_invoke_arg, ret) == 12);
static_assert(offsetof(tee_ioctl_invoke_arg, ret_origin) == 16);
static_assert(offsetof(tee_ioctl_invoke_arg, num_params) == 20);
static_assert(sizeof(tee_ioctl_cancel_arg) == 8);
static_assert(sizeof(tee_ioctl_close_session_arg) == 4);
static_assert(sizeof(tee_iocl_supp_recv_arg) == 8);
static_assert(sizeof(tee_iocl_supp_send_arg) == 8);
static_assert(sizeof(tee_ioctl_shm_register_data) == 24);
static_assert(offsetof(tee_ioctl_shm_register_data, length) == 8);
static_assert(offsetof(tee_ioctl_shm_register_data, flags) == 16);
static_assert(offsetof(tee_ioctl_shm_register_data, id) == 20);

// Encodings: reference section 1.2.
static_assert(TEE_IOC_VERSION == 0x800CA400);
static_assert(TEE_IOC_SHM_ALLOC == 0xC010A401);
static_assert(TEE_IOC_OPEN_SESSION == 0x8010A402);
static_assert(TEE_IOC_INVOKE == 0x8010A403);
static_assert(TEE_IOC_CANCEL == 0x8008A404);
static_assert(TEE_IOC_CLOSE_SESSION == 0x8004A405);
static_assert(TEE_IOC_SUPPL_RECV == 0x8010A406);
static_assert(TEE_IOC_SUPPL_SEND == 0x8010A407);
static_assert(TEE_IOC_SHM_REGISTER == 0xC018A409);

// tee_shm flag bits as the v4.16 kernel reports them back from SHM_ALLOC / SHM_REGISTER
// (reference section 2.1): teemu models the v4.16 numbering.
constexpr uint32_t TEE_SHM_MAPPED = 1u << 0;
constexpr uint32_t TEE_SHM_DMA_BUF = 1u << 1;
constexpr uint32_t TEE_SHM_REGISTER = 1u << 3;
constexpr uint32_t TEE_SHM_USER_MAPPED = 1u << 4;
constexpr uint32_t TEE_SHM_POOL = 1u << 5;

}  // namespace teemu::abi
