// OP-TEE SMC ABI (optee_smc.h): function ids, return codes, capability bits and RPC codes.
// Values: reference/linux-optee-abi.md section 4. Registers are 32-bit (SMC32); a 64-bit value is
// split upper half first (reg_pair_from_64).
#pragma once

#include <array>
#include <cstdint>

namespace teemu::abi {

constexpr uint32_t OPTEE_SMC_FAST_CALL = 0x80000000u;
constexpr uint32_t OPTEE_SMC_OWNER_TRUSTED_OS = 50;
constexpr uint32_t OPTEE_SMC_OWNER_TRUSTED_OS_API = 63;

constexpr uint32_t optee_smc_fid(bool fast, uint32_t owner, uint32_t func) {
  return (fast ? OPTEE_SMC_FAST_CALL : 0u) | ((owner & 0x3f) << 24) | (func & 0xffff);
}
constexpr uint32_t optee_fast(uint32_t func) {
  return optee_smc_fid(true, OPTEE_SMC_OWNER_TRUSTED_OS, func);
}
constexpr uint32_t optee_std(uint32_t func) {
  return optee_smc_fid(false, OPTEE_SMC_OWNER_TRUSTED_OS, func);
}

constexpr uint32_t OPTEE_SMC_CALLS_COUNT = optee_smc_fid(true, OPTEE_SMC_OWNER_TRUSTED_OS_API, 0xFF00);
constexpr uint32_t OPTEE_SMC_CALLS_UID = optee_smc_fid(true, OPTEE_SMC_OWNER_TRUSTED_OS_API, 0xFF01);
constexpr uint32_t OPTEE_SMC_CALLS_REVISION =
    optee_smc_fid(true, OPTEE_SMC_OWNER_TRUSTED_OS_API, 0xFF03);
constexpr uint32_t OPTEE_SMC_CALL_GET_OS_UUID = optee_fast(0);
constexpr uint32_t OPTEE_SMC_CALL_GET_OS_REVISION = optee_fast(1);
constexpr uint32_t OPTEE_SMC_CALL_RETURN_FROM_RPC = optee_std(3);
constexpr uint32_t OPTEE_SMC_CALL_WITH_ARG = optee_std(4);
constexpr uint32_t OPTEE_SMC_GET_SHM_CONFIG = optee_fast(7);
constexpr uint32_t OPTEE_SMC_L2CC_MUTEX = optee_fast(8);
constexpr uint32_t OPTEE_SMC_EXCHANGE_CAPABILITIES = optee_fast(9);
constexpr uint32_t OPTEE_SMC_DISABLE_SHM_CACHE = optee_fast(10);
constexpr uint32_t OPTEE_SMC_ENABLE_SHM_CACHE = optee_fast(11);
constexpr uint32_t OPTEE_SMC_BOOT_SECONDARY = optee_fast(12);
constexpr uint32_t OPTEE_SMC_VM_CREATED = optee_fast(13);
constexpr uint32_t OPTEE_SMC_VM_DESTROYED = optee_fast(14);
constexpr uint32_t OPTEE_SMC_GET_THREAD_COUNT = optee_fast(15);
constexpr uint32_t OPTEE_SMC_ENABLE_ASYNC_NOTIF = optee_fast(16);
constexpr uint32_t OPTEE_SMC_GET_ASYNC_NOTIF_VALUE = optee_fast(17);
constexpr uint32_t OPTEE_SMC_CALL_WITH_RPC_ARG = optee_std(18);
constexpr uint32_t OPTEE_SMC_CALL_WITH_REGD_ARG = optee_std(19);

constexpr uint32_t OPTEE_SMC_SHM_CACHED = 1;

// Return codes in a0.
constexpr uint32_t OPTEE_SMC_RETURN_OK = 0x0;
constexpr uint32_t OPTEE_SMC_RETURN_ETHREAD_LIMIT = 0x1;
constexpr uint32_t OPTEE_SMC_RETURN_EBUSY = 0x2;
constexpr uint32_t OPTEE_SMC_RETURN_ERESUME = 0x3;
constexpr uint32_t OPTEE_SMC_RETURN_EBADADDR = 0x4;
constexpr uint32_t OPTEE_SMC_RETURN_EBADCMD = 0x5;
constexpr uint32_t OPTEE_SMC_RETURN_ENOMEM = 0x6;
constexpr uint32_t OPTEE_SMC_RETURN_ENOTAVAIL = 0x7;
constexpr uint32_t OPTEE_SMC_RETURN_UNKNOWN_FUNCTION = 0xFFFFFFFF;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_PREFIX_MASK = 0xFFFF0000;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_PREFIX = 0xFFFF0000;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_FUNC_MASK = 0x0000FFFF;

constexpr bool optee_smc_return_is_rpc(uint32_t a0) {
  return a0 != OPTEE_SMC_RETURN_UNKNOWN_FUNCTION &&
         (a0 & OPTEE_SMC_RETURN_RPC_PREFIX_MASK) == OPTEE_SMC_RETURN_RPC_PREFIX;
}
constexpr uint32_t optee_smc_return_get_rpc_func(uint32_t a0) {
  return a0 & OPTEE_SMC_RETURN_RPC_FUNC_MASK;
}

constexpr uint32_t OPTEE_SMC_RPC_FUNC_ALLOC = 0;
constexpr uint32_t OPTEE_SMC_RPC_FUNC_FREE = 2;
constexpr uint32_t OPTEE_SMC_RPC_FUNC_FOREIGN_INTR = 4;
constexpr uint32_t OPTEE_SMC_RPC_FUNC_CMD = 5;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_ALLOC = OPTEE_SMC_RETURN_RPC_PREFIX | OPTEE_SMC_RPC_FUNC_ALLOC;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_FREE = OPTEE_SMC_RETURN_RPC_PREFIX | OPTEE_SMC_RPC_FUNC_FREE;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_FOREIGN_INTR =
    OPTEE_SMC_RETURN_RPC_PREFIX | OPTEE_SMC_RPC_FUNC_FOREIGN_INTR;
constexpr uint32_t OPTEE_SMC_RETURN_RPC_CMD = OPTEE_SMC_RETURN_RPC_PREFIX | OPTEE_SMC_RPC_FUNC_CMD;

// Capabilities: NSEC (normal world -> secure) and SEC (secure -> normal world).
constexpr uint32_t OPTEE_SMC_NSEC_CAP_UNIPROCESSOR = 1u << 0;
constexpr uint32_t OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM = 1u << 0;
constexpr uint32_t OPTEE_SMC_SEC_CAP_UNREGISTERED_SHM = 1u << 1;
constexpr uint32_t OPTEE_SMC_SEC_CAP_DYNAMIC_SHM = 1u << 2;
constexpr uint32_t OPTEE_SMC_SEC_CAP_VIRTUALIZATION = 1u << 3;
constexpr uint32_t OPTEE_SMC_SEC_CAP_MEMREF_NULL = 1u << 4;
constexpr uint32_t OPTEE_SMC_SEC_CAP_ASYNC_NOTIF = 1u << 5;
constexpr uint32_t OPTEE_SMC_SEC_CAP_RPC_ARG = 1u << 6;
constexpr uint32_t OPTEE_SMC_SEC_CAP_RPMB_PROBE = 1u << 7;

// OP-TEE API and OS identity (CALLS_UID, CALLS_REVISION, GET_OS_UUID).
constexpr uint32_t OPTEE_MSG_UID_0 = 0x384fb3e0;
constexpr uint32_t OPTEE_MSG_UID_1 = 0xe7f811e3;
constexpr uint32_t OPTEE_MSG_UID_2 = 0xaf630002;
constexpr uint32_t OPTEE_MSG_UID_3 = 0xa5d5c51b;
constexpr uint32_t OPTEE_MSG_OS_OPTEE_UUID_0 = 0x486178e0;
constexpr uint32_t OPTEE_MSG_OS_OPTEE_UUID_1 = 0xe7f811e3;
constexpr uint32_t OPTEE_MSG_OS_OPTEE_UUID_2 = 0xbc5e0002;
constexpr uint32_t OPTEE_MSG_OS_OPTEE_UUID_3 = 0xa5d5c51b;
constexpr uint32_t OPTEE_MSG_REVISION_MAJOR = 2;
constexpr uint32_t OPTEE_MSG_REVISION_MINOR = 0;

// The eight argument/result registers of one SMC. Stored as 64-bit like arm_smccc_res, but the
// OP-TEE ABI only defines the low 32 bits; receivers use w().
struct SmcRegs {
  std::array<uint64_t, 8> a{};

  uint32_t w(int i) const { return static_cast<uint32_t>(a[static_cast<size_t>(i)]); }
  uint64_t& operator[](int i) { return a[static_cast<size_t>(i)]; }
  uint64_t operator[](int i) const { return a[static_cast<size_t>(i)]; }
};

// reg_pair_to_64 / reg_pair_from_64: the first register holds the upper half.
constexpr uint64_t reg_pair_to_64(uint64_t hi, uint64_t lo) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(hi)) << 32) | static_cast<uint32_t>(lo);
}
constexpr void reg_pair_from_64(uint64_t v, uint64_t& hi, uint64_t& lo) {
  hi = v >> 32;
  lo = static_cast<uint32_t>(v);
}

static_assert(OPTEE_SMC_CALLS_COUNT == 0xBF00FF00);
static_assert(OPTEE_SMC_CALLS_UID == 0xBF00FF01);
static_assert(OPTEE_SMC_CALLS_REVISION == 0xBF00FF03);
static_assert(OPTEE_SMC_CALL_GET_OS_UUID == 0xB2000000);
static_assert(OPTEE_SMC_CALL_GET_OS_REVISION == 0xB2000001);
static_assert(OPTEE_SMC_CALL_RETURN_FROM_RPC == 0x32000003);
static_assert(OPTEE_SMC_CALL_WITH_ARG == 0x32000004);
static_assert(OPTEE_SMC_GET_SHM_CONFIG == 0xB2000007);
static_assert(OPTEE_SMC_EXCHANGE_CAPABILITIES == 0xB2000009);
static_assert(OPTEE_SMC_DISABLE_SHM_CACHE == 0xB200000A);
static_assert(OPTEE_SMC_ENABLE_SHM_CACHE == 0xB200000B);
static_assert(OPTEE_SMC_VM_CREATED == 0xB200000D);
static_assert(OPTEE_SMC_VM_DESTROYED == 0xB200000E);
static_assert(OPTEE_SMC_GET_THREAD_COUNT == 0xB200000F);
static_assert(OPTEE_SMC_CALL_WITH_RPC_ARG == 0x32000012);
static_assert(OPTEE_SMC_CALL_WITH_REGD_ARG == 0x32000013);
static_assert(OPTEE_SMC_RETURN_RPC_CMD == 0xFFFF0005);
static_assert(optee_smc_return_is_rpc(OPTEE_SMC_RETURN_RPC_ALLOC));
static_assert(!optee_smc_return_is_rpc(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION));

}  // namespace teemu::abi
