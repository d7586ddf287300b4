#include "tee/rpc.h"

#include <cstring>

#include "abi/optee_smc.h"
#include "base/assert.h"
#include "base/checked.h"
#include "base/read_once.h"
#include "hw/phys_mem.h"
#include "tee/page_list.h"
#include "tee/thread.h"

namespace teemu::tee {

namespace {

using abi::optee_msg_arg;
using abi::optee_msg_param;

using base::read_once;

uint64_t mem_attr_base(RpcParam::Kind k) {
  switch (k) {
    case RpcParam::Kind::kMemIn: return 0;
    case RpcParam::Kind::kMemOut: return 1;
    default: return 2;
  }
}

}  // namespace

bool RpcClient::ensure_arg(SecureThread& t) {
  auto& ra = t.rpc_arg();
  if (t.aborting()) return false;
  if (ra.valid) return true;
  abi::SmcRegs req;
  req[0] = abi::OPTEE_SMC_RETURN_RPC_ALLOC;
  req[1] = kRpcArgSize;
  abi::SmcRegs r = t.rpc(req);
  if (t.aborting()) return false;
  uint64_t pa = abi::reg_pair_to_64(r[1], r[2]);
  uint64_t cookie = abi::reg_pair_to_64(r[4], r[5]);
  // thread_rpc_alloc_arg: 8-byte aligned, and either inside the carve-out or one page-aligned
  // page of non-secure RAM (rpc_shm_mobj_alloc). PA 0 (allocation failure) fails these too.
  std::byte* host = nullptr;
  if ((pa & 7) == 0) {
    if (mem_.in_static_shm(PhysAddr{pa}, kRpcArgSize)) {
      host = mem_.ns_range(PhysAddr{pa}, kRpcArgSize);
    } else if (dynamic_shm_ && base::page_aligned(pa)) {
      auto f = mem_.frame(pa_to_pfn(PhysAddr{pa}));
      if ((pa >> base::kPageShift) == pa_to_pfn(PhysAddr{pa}) &&
          hw::PhysMem::is_nonsecure_ram(f.bank))
        host = f.host;
    }
  }
  if (host == nullptr) {
    // A buffer we refuse goes back to the normal world if it named one (thread_rpc_free_arg
    // skips cookie 0); otherwise the normal world's allocation would leak.
    if (cookie != 0) rpc_free_cookie(t, cookie);
    return false;
  }
  ra = {cookie, PhysAddr{pa}, host, true};
  return true;
}

optee_msg_arg* RpcClient::arg_for(SecureThread& t, uint64_t* cookie) {
  if (t.rpc_arg_override != nullptr) {
    *cookie = 0;
    return reinterpret_cast<optee_msg_arg*>(t.rpc_arg_override);
  }
  if (!ensure_arg(t)) return nullptr;
  *cookie = t.rpc_arg().cookie;
  return reinterpret_cast<optee_msg_arg*>(t.rpc_arg().host);
}

void RpcClient::rpc_free_cookie(SecureThread& t, uint64_t cookie) {
  abi::SmcRegs req;
  req[0] = abi::OPTEE_SMC_RETURN_RPC_FREE;
  abi::reg_pair_from_64(cookie, req[1], req[2]);
  t.rpc(req);
}

void RpcClient::free_cached_arg(SecureThread& t) {
  auto& ra = t.rpc_arg();
  if (!ra.valid) return;
  uint64_t cookie = ra.cookie;
  ra = {};
  rpc_free_cookie(t, cookie);
}

void RpcClient::encode_mem(optee_msg_param& p, const RpcParam& rp, uint64_t dir) {
  if (rp.mobj == nullptr) {
    p.attr = abi::OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + dir;
    p.u.tmem = {0, rp.size, 0};
  } else if (rp.mobj->kind() == Mobj::Kind::kStatic) {
    p.attr = abi::OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + dir;
    p.u.tmem = {rp.mobj->static_pa().value + rp.offs, rp.size, rp.mobj->cookie()};
  } else {
    p.attr = abi::OPTEE_MSG_ATTR_TYPE_RMEM_INPUT + dir;
    p.u.rmem = {rp.offs, rp.size, rp.mobj->cookie()};
  }
}

uint32_t RpcClient::cmd(SecureThread& t, uint32_t command, std::span<RpcParam> params,
                        const optee_msg_arg** used) {
  TEEMU_ASSERT(params.size() <= kRpcMaxParams);
  uint64_t cookie = 0;
  if (used != nullptr) *used = nullptr;
  // A thread being unwound must not touch normal-world memory again: the buffers may be gone.
  if (t.aborting()) return abi::TEE_ERROR_COMMUNICATION;
  optee_msg_arg* arg = arg_for(t, &cookie);
  if (used != nullptr) *used = arg;
  if (arg == nullptr) return abi::TEE_ERROR_OUT_OF_MEMORY;
  std::memset(arg, 0, kRpcArgSize);
  arg->cmd = command;
  arg->num_params = static_cast<uint32_t>(params.size());
  // What we read back if the normal world does not answer (get_rpc_arg does the same): an
  // untouched argument must not look like a successful reply.
  arg->ret = abi::TEE_ERROR_GENERIC;
  for (size_t i = 0; i < params.size(); ++i) {
    const RpcParam& rp = params[i];
    optee_msg_param& p = arg->params[i];
    switch (rp.kind) {
      case RpcParam::Kind::kNone: break;
      case RpcParam::Kind::kValueIn:
      case RpcParam::Kind::kValueOut:
      case RpcParam::Kind::kValueInOut:
        p.attr = abi::OPTEE_MSG_ATTR_TYPE_VALUE_INPUT +
                 (static_cast<int>(rp.kind) - static_cast<int>(RpcParam::Kind::kValueIn));
        p.u.value = {rp.a, rp.b, rp.c};
        break;
      default: encode_mem(p, rp, mem_attr_base(rp.kind)); break;
    }
  }
  abi::SmcRegs req;
  req[0] = abi::OPTEE_SMC_RETURN_RPC_CMD;
  abi::reg_pair_from_64(cookie, req[1], req[2]);
  t.rpc(req);
  if (t.aborting()) {
    if (used != nullptr) *used = nullptr;
    return abi::TEE_ERROR_COMMUNICATION;
  }
  // The arg may have been rewritten by the normal world at any time: read each field once, and
  // only the output fields our own request expects.
  uint32_t ret = read_once(&arg->ret);
  for (size_t i = 0; i < params.size(); ++i) {
    RpcParam& rp = params[i];
    const optee_msg_param& p = arg->params[i];
    switch (rp.kind) {
      case RpcParam::Kind::kValueOut:
      case RpcParam::Kind::kValueInOut:
        rp.a = read_once(&p.u.value.a);
        rp.b = read_once(&p.u.value.b);
        rp.c = read_once(&p.u.value.c);
        break;
      case RpcParam::Kind::kMemOut:
      case RpcParam::Kind::kMemInOut: rp.size = read_once(&p.u.tmem.size); break;
      default: break;
    }
  }
  return ret;
}

Result<MobjRef> RpcClient::shm_alloc(SecureThread& t, uint32_t type, uint64_t size) {
  RpcParam p = RpcParam::value_in(type, size, 8);
  const optee_msg_arg* arg = nullptr;
  uint32_t ret = cmd(t, abi::OPTEE_RPC_CMD_SHM_ALLOC, std::span<RpcParam>(&p, 1), &arg);
  if (arg == nullptr) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);  // no RPC could be made
  uint32_t num_params = read_once(&arg->num_params);
  uint64_t attr = read_once(&arg->params[0].attr);
  uint64_t buf_ptr = read_once(&arg->params[0].u.tmem.buf_ptr);
  uint64_t got_size = read_once(&arg->params[0].u.tmem.size);
  uint64_t cookie = read_once(&arg->params[0].u.tmem.shm_ref);
  // get_rpc_alloc_res: a failed reply allocated nothing; nothing to free.
  if (ret != abi::TEE_SUCCESS || num_params != 1) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);

  MobjRef result;
  if (got_size >= size && buf_ptr != 0) {
    if (attr == abi::OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT) {
      if (mem_.in_static_shm(PhysAddr{buf_ptr}, got_size)) {
        result = MobjRef(Mobj::create_static(PhysAddr{buf_ptr}, got_size,
                                             mem_.ns_range(PhysAddr{buf_ptr}, got_size), cookie)
                             .release());
      } else if (dynamic_shm_ && base::page_aligned(buf_ptr) && got_size <= base::kPageSize) {
        Pfn pfn = pa_to_pfn(PhysAddr{buf_ptr});
        auto f = mem_.frame(pfn);
        if ((buf_ptr >> base::kPageShift) == pfn && hw::PhysMem::is_nonsecure_ram(f.bank))
          result = MobjRef(
              Mobj::create_paged(Mobj::Kind::kTemporary, {pfn}, 0, cookie, f.host).release());
      }
    } else if (attr == (abi::OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | abi::OPTEE_MSG_ATTR_NONCONTIG) &&
               dynamic_shm_) {
      auto pages = extract_page_list(mem_, buf_ptr, got_size);
      if (pages)
        result = MobjRef(Mobj::create_paged(Mobj::Kind::kTemporary, std::move(pages->pages),
                                            pages->page_offset, cookie, pages->host_base)
                             .release());
    }
  }
  if (!result) {
    RpcParam f = RpcParam::value_in(type, cookie, 0);
    cmd(t, abi::OPTEE_RPC_CMD_SHM_FREE, std::span<RpcParam>(&f, 1));
    return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
  }
  return result;
}

void RpcClient::shm_free(SecureThread& t, uint32_t type, MobjRef m) {
  uint64_t cookie = m->cookie();
  (void)m.release();
  RpcParam f = RpcParam::value_in(type, cookie, 0);
  cmd(t, abi::OPTEE_RPC_CMD_SHM_FREE, std::span<RpcParam>(&f, 1));
}

uint32_t RpcClient::wait(SecureThread& t, uint32_t key, uint32_t timeout_ms) {
  RpcParam p = RpcParam::value_in(abi::OPTEE_RPC_NOTIFICATION_WAIT, key, timeout_ms);
  return cmd(t, abi::OPTEE_RPC_CMD_NOTIFICATION, std::span<RpcParam>(&p, 1));
}

void RpcClient::wake(SecureThread& t, uint32_t key) {
  RpcParam p = RpcParam::value_in(abi::OPTEE_RPC_NOTIFICATION_SEND, key, 0);
  cmd(t, abi::OPTEE_RPC_CMD_NOTIFICATION, std::span<RpcParam>(&p, 1));
}

}  // namespace teemu::tee
