// The secure OS's RPC client: requests to the normal world made from a secure thread, which
// suspends until RETURN_FROM_RPC (optee_os thread_rpc_cmd / thread_rpc_alloc). Everything the
// normal world answers is untrusted: read once, checked, and only the fields the request expects
// are taken (its own expected attributes decide, never the reply's).
#pragma once

#include <cstdint>
#include <span>

#include "abi/optee_msg.h"
#include "base/result.h"
#include "tee/mobj.h"

namespace teemu::hw {
class PhysMem;
struct MachineStats;
}  // namespace teemu::hw

namespace teemu::tee {

class SecureThread;

// THREAD_RPC_MAX_NUM_PARAMS: the RPC argument holds at most 4 parameters.
constexpr uint32_t kRpcMaxParams = 4;
constexpr size_t kRpcArgSize = abi::optee_msg_get_arg_size(kRpcMaxParams);

// One RPC parameter. For memrefs, `mobj` (not owned) with offs/size; a null mobj is a NULL
// memref. Outputs are written back into a/b/c (values) or size (memrefs).
struct RpcParam {
  enum class Kind { kNone, kValueIn, kValueOut, kValueInOut, kMemIn, kMemOut, kMemInOut };
  Kind kind = Kind::kNone;
  uint64_t a = 0, b = 0, c = 0;
  Mobj* mobj = nullptr;
  uint64_t offs = 0;
  uint64_t size = 0;

  static RpcParam value_in(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
    return {Kind::kValueIn, a, b, c, nullptr, 0, 0};
  }
  static RpcParam value_out() { return {Kind::kValueOut, 0, 0, 0, nullptr, 0, 0}; }
  static RpcParam mem(Kind k, Mobj* m, uint64_t offs, uint64_t size) {
    return {k, 0, 0, 0, m, offs, size};
  }
};

class RpcClient {
 public:
  RpcClient(const hw::PhysMem& mem, bool dynamic_shm) : mem_(mem), dynamic_shm_(dynamic_shm) {}

  // OPTEE_SMC_RPC_FUNC_CMD with `cmd` and params; returns the normal world's arg->ret
  // (TEE_ERROR_GENERIC if it left it untouched). TEE_ERROR_OUT_OF_MEMORY if no RPC argument
  // could be obtained. `used`, if given, receives the RPC argument the request went out in (null
  // if none), so the caller can read further reply fields from it once.
  uint32_t cmd(SecureThread& t, uint32_t cmd, std::span<RpcParam> params,
               const abi::optee_msg_arg** used = nullptr);

  // RPC SHM_ALLOC of `size` bytes of `type` (OPTEE_RPC_SHM_TYPE_*): a temporary mobj over the
  // normal world's buffer; its cookie is needed for shm_free. Checks the reply as OP-TEE does
  // (one TMEM_OUTPUT param, size >= requested, contiguous buffers only in the carve-out or one
  // non-secure page, page lists parsed with all checks); a bad reply is freed again.
  Result<MobjRef> shm_alloc(SecureThread& t, uint32_t type, uint64_t size);
  // RPC SHM_FREE; releases `m` first (OP-TEE frees its mobj before telling the normal world).
  void shm_free(SecureThread& t, uint32_t type, MobjRef m);

  // NOTIFICATION WAIT on `key` for at most timeout_ms (0 = no timeout): TEE_SUCCESS when woken,
  // TEE_ERROR_TIMEOUT on expiry. May return early; callers re-check their condition.
  uint32_t wait(SecureThread& t, uint32_t key, uint32_t timeout_ms);
  // NOTIFICATION SEND to `key`.
  void wake(SecureThread& t, uint32_t key);

  // Gives the thread's cached RPC argument back to the normal world (RPC_FUNC_FREE).
  void free_cached_arg(SecureThread& t);

 private:
  bool ensure_arg(SecureThread& t);
  // The RPC argument for the thread's next request and the cookie naming it in a1/a2: the one
  // supplied with the call (cookie 0), else the thread's cached one, allocated on first use.
  abi::optee_msg_arg* arg_for(SecureThread& t, uint64_t* cookie);
  void rpc_free_cookie(SecureThread& t, uint64_t cookie);
  // Encodes a memref param into the shared RPC arg.
  void encode_mem(abi::optee_msg_param& p, const RpcParam& rp, uint64_t dir_offset);

  const hw::PhysMem& mem_;
  bool dynamic_shm_;
};

}  // namespace teemu::tee
