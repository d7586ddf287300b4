// Std-call entry: locating the message argument, copying it once, decoding parameters with
// OP-TEE's checks (entry_std.c, msg_param.c), executing the command and writing back only the
// output fields. Nothing here trusts a byte of normal-world memory twice.
#include <cstring>
#include <new>

#include "abi/optee_smc.h"
#include "base/assert.h"
#include "base/checked.h"
#include "base/read_once.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "tee/page_list.h"
#include "tee/secure_os.h"

namespace teemu::tee {

using abi::optee_msg_arg;
using abi::optee_msg_param;
using abi::SmcRegs;
using base::read_once;

struct SecureOs::CallArg {
  optee_msg_arg* shared = nullptr;  // the normal world's argument: write outputs only
  uint32_t num_params = 0;
  MobjRef arg_mobj;  // CALL_WITH_REGD_ARG: keeps the registered buffer alive for the call
  // Private copy, validated and used for every decision.
  alignas(8) std::byte priv_storage[abi::optee_msg_get_arg_size(abi::OPTEE_MSG_MAX_NUM_PARAMS)];
  optee_msg_arg* priv() { return reinterpret_cast<optee_msg_arg*>(priv_storage); }
};

namespace {

// Parameters of one call decoded for a TA, with the references they hold.
struct DecodedParams {
  TaParams ta;
  uint64_t saved_attr[abi::TEE_NUM_PARAMS] = {};
  uint32_t count = 0;
  MobjRef refs[abi::TEE_NUM_PARAMS];
  // Secure-side copies for memrefs whose pages are not contiguous in host memory.
  std::unique_ptr<std::byte[]> bounce[abi::TEE_NUM_PARAMS];
  Mobj* bounce_mobj[abi::TEE_NUM_PARAMS] = {};
  uint64_t bounce_offs[abi::TEE_NUM_PARAMS] = {};
};

Error tee_error(uint32_t code) { return Error{code, abi::TEE_ORIGIN_TEE}; }

// Copies between a paged mobj and a secure buffer, page by page through the frame table.
void copy_mobj(const hw::PhysMem& mem, const Mobj& m, uint64_t offs, std::byte* buf, uint64_t len,
               bool to_mobj) {
  uint64_t pos = offs + m.page_offset();
  uint64_t done = 0;
  while (done < len) {
    uint64_t page = pos >> base::kPageShift;
    uint64_t in_page = pos & base::kPageMask;
    uint64_t chunk = std::min(len - done, base::kPageSize - in_page);
    std::byte* host = mem.host_of(m.pages()[page]);
    if (host != nullptr) {
      if (to_mobj)
        std::memcpy(host + in_page, buf + done, chunk);
      else
        std::memcpy(buf + done, host + in_page, chunk);
    }
    done += chunk;
    pos += chunk;
  }
}

}  // namespace

uint32_t SecureOs::locate_arg(SecureThread& t, const SmcRegs& regs, CallArg& call) {
  const uint32_t fid = regs.w(0);
  const bool regd = fid == abi::OPTEE_SMC_CALL_WITH_REGD_ARG;
  // CALL_WITH_RPC_ARG and CALL_WITH_REGD_ARG carry an RPC argument right after the call's
  // argument (optee_os std_entry_with_regd_arg always asks get_msg_arg for one); it must fit too.
  const bool with_rpc_arg = fid == abi::OPTEE_SMC_CALL_WITH_RPC_ARG || regd;
  const uint64_t rpc_size = with_rpc_arg ? kRpcArgSize : 0;
  std::byte* host = nullptr;
  uint64_t room = 0;  // bytes available from `host` within the mapped object
  if (fid == abi::OPTEE_SMC_CALL_WITH_ARG || fid == abi::OPTEE_SMC_CALL_WITH_RPC_ARG) {
    const PhysAddr pa{abi::reg_pair_to_64(regs[1], regs[2])};
    if (mem_.in_static_shm(pa, sizeof(optee_msg_arg))) {
      if ((pa.value & 7) != 0) return abi::OPTEE_SMC_RETURN_EBADADDR;
      host = mem_.ns_range(pa, sizeof(optee_msg_arg));
      room = mem_.static_shm_size() - (pa.value - mem_.static_shm_base().value);
    } else if (config_.dynamic_shm) {
      // Dynamic SHM: one 4 KiB-aligned page of non-secure RAM.
      if (!base::page_aligned(pa.value)) return abi::OPTEE_SMC_RETURN_EBADADDR;
      Pfn pfn = pa_to_pfn(pa);
      if ((pa.value >> base::kPageShift) != pfn) return abi::OPTEE_SMC_RETURN_EBADADDR;
      auto f = mem_.frame(pfn);
      if (!hw::PhysMem::is_nonsecure_ram(f.bank)) return abi::OPTEE_SMC_RETURN_EBADADDR;
      host = f.host;
      room = base::kPageSize;
    } else {
      return abi::OPTEE_SMC_RETURN_EBADADDR;
    }
  } else if (regd) {
    // Without dynamic SHM nothing is ever registered: the cookie lookup fails (optee_os stubs
    // mobj_reg_shm_get_by_cookie to NULL), which is EBADADDR, not an unknown function.
    if (!config_.dynamic_shm) return abi::OPTEE_SMC_RETURN_EBADADDR;
    const uint64_t cookie = abi::reg_pair_to_64(regs[1], regs[2]);
    const uint64_t offs = regs.w(3);
    call.arg_mobj = t.partition->mobjs.lookup(cookie);
    if (!call.arg_mobj) return abi::OPTEE_SMC_RETURN_EBADADDR;
    if (call.arg_mobj->host_base() == nullptr) return abi::OPTEE_SMC_RETURN_ENOMEM;
    if (!base::range_within<uint64_t>(offs, sizeof(optee_msg_arg), call.arg_mobj->size()))
      return abi::OPTEE_SMC_RETURN_EBADADDR;
    // The argument's address must be aligned, and the object starts at its page offset.
    if (((call.arg_mobj->page_offset() + offs) & 7) != 0) return abi::OPTEE_SMC_RETURN_EBADADDR;
    host = call.arg_mobj->host_base() + offs;
    room = call.arg_mobj->size() - offs;
  } else {
    return abi::OPTEE_SMC_RETURN_EBADCMD;
  }

  auto* shared = reinterpret_cast<optee_msg_arg*>(host);
  const uint32_t n = read_once(&shared->num_params);
  if (n > abi::OPTEE_MSG_MAX_NUM_PARAMS) return abi::OPTEE_SMC_RETURN_EBADADDR;
  const uint64_t size = abi::optee_msg_get_arg_size(n);
  if (size + rpc_size > room) return abi::OPTEE_SMC_RETURN_EBADADDR;
  call.shared = shared;
  call.num_params = n;
  std::memcpy(call.priv_storage, host, size);
  call.priv()->num_params = n;  // the value we checked, whatever the copy saw
  t.rpc_arg_override = with_rpc_arg ? host + size : nullptr;
  return abi::OPTEE_SMC_RETURN_OK;
}

SmcRegs SecureOs::thread_body(SecureThread& t) {
  SmcRegs out;
  CallArg call;
  uint32_t rc = locate_arg(t, t.call_regs(), call);
  if (rc == abi::OPTEE_SMC_RETURN_OK) rc = execute_msg(t, call);
  t.rpc_arg_override = nullptr;
  release_keys(t, {call.arg_mobj.release()});
  // With the RPC argument cache off (before ENABLE_SHM_CACHE, after DISABLE_SHM_CACHE emptied
  // it) a call gives its RPC argument back before it returns (optee_os call_entry_std).
  if (!t.partition->prealloc_rpc_cache.load()) rpc_.free_cached_arg(t);
  out[0] = rc;
  return out;
}

void SecureOs::release_keys(SecureThread& t, std::initializer_list<uint32_t> keys) {
  for (uint32_t key : keys)
    if (key != 0) rpc_.wake(t, key);
}

uint32_t SecureOs::execute_msg(SecureThread& t, CallArg& call) {
  switch (call.priv()->cmd) {
    case abi::OPTEE_MSG_CMD_OPEN_SESSION: cmd_open_session(t, call); break;
    case abi::OPTEE_MSG_CMD_INVOKE_COMMAND: cmd_invoke(t, call); break;
    case abi::OPTEE_MSG_CMD_CLOSE_SESSION: cmd_close_session(t, call); break;
    case abi::OPTEE_MSG_CMD_CANCEL: cmd_cancel(t, call); break;
    case abi::OPTEE_MSG_CMD_REGISTER_SHM:
      if (!config_.dynamic_shm) return abi::OPTEE_SMC_RETURN_EBADCMD;
      cmd_register_shm(t, call);
      break;
    case abi::OPTEE_MSG_CMD_UNREGISTER_SHM:
      if (!config_.dynamic_shm) return abi::OPTEE_SMC_RETURN_EBADCMD;
      cmd_unregister_shm(t, call);
      break;
    default: return abi::OPTEE_SMC_RETURN_EBADCMD;
  }
  return abi::OPTEE_SMC_RETURN_OK;
}

namespace {

// What a registered object costs its partition: the page array and the object itself.
uint64_t registered_shm_charge(size_t pages) { return pages * sizeof(Pfn) + sizeof(Mobj); }

void set_result(optee_msg_arg* shared, const Error& e) {
  shared->ret = e.code;
  shared->ret_origin = e.origin;
}

}  // namespace

// Decodes `n` client parameters (copy_in_params). On failure every reference taken is released.
static Result<void> decode_params(SecureOs& os, hw::PhysMem& mem, Partition& p,
                                  const optee_msg_param* params, uint32_t n, DecodedParams& d,
                                  bool dynamic_shm) {
  if (n > abi::TEE_NUM_PARAMS) return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  (void)os;
  d.count = n;
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t attr = params[i].attr;  // already a private copy
    d.saved_attr[i] = attr;
    if (attr & abi::OPTEE_MSG_ATTR_META)
      return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
    const uint64_t type = attr & abi::OPTEE_MSG_ATTR_TYPE_MASK;
    auto& slot = d.ta.p[i];
    uint32_t ta_type = abi::TEE_PARAM_TYPE_NONE;
    switch (type) {
      case abi::OPTEE_MSG_ATTR_TYPE_NONE: break;
      case abi::OPTEE_MSG_ATTR_TYPE_VALUE_INPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_VALUE_INOUT:
        ta_type = static_cast<uint32_t>(type - abi::OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) +
                  abi::TEE_PARAM_TYPE_VALUE_INPUT;
        slot.a = static_cast<uint32_t>(params[i].u.value.a);
        slot.b = static_cast<uint32_t>(params[i].u.value.b);
        break;
      case abi::OPTEE_MSG_ATTR_TYPE_TMEM_INPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_TMEM_INOUT: {
        ta_type = static_cast<uint32_t>(type - abi::OPTEE_MSG_ATTR_TYPE_TMEM_INPUT) +
                  abi::TEE_PARAM_TYPE_MEMREF_INPUT;
        const uint64_t pa = params[i].u.tmem.buf_ptr;
        const uint64_t size = params[i].u.tmem.size;
        if (pa == 0) {  // NULL memref, whatever the size says
          slot.buffer = nullptr;
          slot.size = 0;
        } else if (attr & abi::OPTEE_MSG_ATTR_NONCONTIG) {
          if (!dynamic_shm) return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
          auto pages = extract_page_list(mem, pa, size);
          if (!pages) return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
          d.refs[i] = MobjRef(Mobj::create_paged(Mobj::Kind::kTemporary, std::move(pages->pages),
                                                 pages->page_offset, params[i].u.tmem.shm_ref,
                                                 pages->host_base)
                                  .release());
          slot.buffer = d.refs[i]->host_base();
          slot.size = size;
        } else if (mem.in_static_shm(PhysAddr{pa}, size)) {
          slot.buffer = mem.ns_range(PhysAddr{pa}, size);
          slot.size = size;
        } else {
          return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
        }
        break;
      }
      case abi::OPTEE_MSG_ATTR_TYPE_RMEM_INPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT:
      case abi::OPTEE_MSG_ATTR_TYPE_RMEM_INOUT: {
        if (!dynamic_shm) return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
        ta_type = static_cast<uint32_t>(type - abi::OPTEE_MSG_ATTR_TYPE_RMEM_INPUT) +
                  abi::TEE_PARAM_TYPE_MEMREF_INPUT;
        const uint64_t offs = params[i].u.rmem.offs;
        const uint64_t size = params[i].u.rmem.size;
        d.refs[i] = p.mobjs.lookup(params[i].u.rmem.shm_ref);
        if (!d.refs[i]) return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
        if (!base::range_within<uint64_t>(offs, size, d.refs[i]->size()))
          return tl::unexpected(tee_error(abi::TEE_ERROR_SECURITY));
        slot.buffer = d.refs[i]->host_base() == nullptr ? nullptr : d.refs[i]->host_base() + offs;
        slot.size = size;
        d.bounce_offs[i] = offs;
        break;
      }
      default: return tl::unexpected(tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
    }
    d.ta.types |= ta_type << (4 * i);
  }
  return {};
}

// Largest secure copy one call makes of memrefs whose pages are not contiguous in host memory
// (its share of the secure heap). optee_os maps such buffers into the TA instead; teemu must copy,
// and a looped page list can describe a 64 GiB object with a single list page: without this
// bound the normal world could make the secure OS allocate (and abort on) any amount.
constexpr uint64_t kMaxBounceBytes = 32ull << 20;

// Gives a TA pointer to memrefs whose pages are not contiguous in host memory: a secure copy,
// written back after the call. Not reachable from teemu's own normal world (client buffers are
// always host-contiguous), only from a hostile or hand-built page list.
// TEE_ERROR_OUT_OF_MEMORY if the copies would exceed kMaxBounceBytes or cannot be allocated;
// the TA must then not run.
static Result<void> bounce_in(hw::PhysMem& mem, hw::MachineStats& stats, DecodedParams& d) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < d.count; ++i) {
    Mobj* m = d.refs[i].get();
    if (m == nullptr || m->host_base() != nullptr || d.ta.p[i].size == 0) continue;
    const uint64_t len = d.ta.p[i].size;
    if (len > kMaxBounceBytes - total) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
    total += len;
    // Zeroed: an output buffer the TA leaves short must not carry old secure heap contents
    // back to the normal world.
    d.bounce[i].reset(new (std::nothrow) std::byte[len]());
    if (!d.bounce[i]) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
    d.bounce_mobj[i] = m;
    if (d.ta.type(i) != abi::TEE_PARAM_TYPE_MEMREF_OUTPUT) {
      copy_mobj(mem, *m, d.bounce_offs[i], d.bounce[i].get(), len, false);
      stats.payload_bytes_copied.add(static_cast<int64_t>(len));
    }
    d.ta.p[i].buffer = d.bounce[i].get();
  }
  return {};
}

static void bounce_out(hw::PhysMem& mem, hw::MachineStats& stats, DecodedParams& d,
                       const uint64_t orig_size[]) {
  for (uint32_t i = 0; i < d.count; ++i) {
    if (!d.bounce[i] || d.ta.type(i) == abi::TEE_PARAM_TYPE_MEMREF_INPUT) continue;
    const uint64_t len = std::min<uint64_t>(orig_size[i], d.ta.p[i].size);
    copy_mobj(mem, *d.bounce_mobj[i], d.bounce_offs[i], d.bounce[i].get(), len, true);
    stats.payload_bytes_copied.add(static_cast<int64_t>(len));
  }
}

// copy_out_param: VALUE a/b and memref sizes of OUTPUT/INOUT params, as the saved attributes say.
static void write_back_params(optee_msg_param* shared, const DecodedParams& d) {
  for (uint32_t i = 0; i < d.count; ++i) {
    switch (d.ta.type(i)) {
      case abi::TEE_PARAM_TYPE_VALUE_OUTPUT:
      case abi::TEE_PARAM_TYPE_VALUE_INOUT:
        base::write_once<uint64_t>(&shared[i].u.value.a, d.ta.p[i].a);
        base::write_once<uint64_t>(&shared[i].u.value.b, d.ta.p[i].b);
        break;
      case abi::TEE_PARAM_TYPE_MEMREF_OUTPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_INOUT:
        // tmem.size and rmem.size share one offset.
        base::write_once<uint64_t>(&shared[i].u.tmem.size, d.ta.p[i].size);
        break;
      default: break;
    }
  }
}

void SecureOs::cmd_open_session(SecureThread& t, CallArg& call) {
  optee_msg_arg* a = call.priv();
  optee_msg_arg* shared = call.shared;
  Partition& p = *t.partition;
  shared->session = 0;
  constexpr uint64_t kMetaValueIn = abi::OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | abi::OPTEE_MSG_ATTR_META;
  if (call.num_params < 2 || a->params[0].attr != kMetaValueIn ||
      a->params[1].attr != kMetaValueIn)
    return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  abi::Uuid uuid;
  std::memcpy(uuid.octets, &a->params[0].u.value.a, 8);
  std::memcpy(uuid.octets + 8, &a->params[0].u.value.b, 8);
  abi::Uuid client{};
  const uint32_t login = static_cast<uint32_t>(a->params[1].u.value.c);
  switch (login) {
    case abi::OPTEE_MSG_LOGIN_PUBLIC:
    case abi::OPTEE_MSG_LOGIN_REE_KERNEL: break;
    case abi::OPTEE_MSG_LOGIN_USER:
    case abi::OPTEE_MSG_LOGIN_GROUP:
    case abi::OPTEE_MSG_LOGIN_APPLICATION:
    case abi::OPTEE_MSG_LOGIN_APPLICATION_USER:
    case abi::OPTEE_MSG_LOGIN_APPLICATION_GROUP:
      std::memcpy(client.octets, &a->params[1].u.value.a, 8);
      std::memcpy(client.octets + 8, &a->params[1].u.value.b, 8);
      break;
    default: return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  }

  DecodedParams d;
  auto decoded = decode_params(*this, mem_, p, a->params + 2, call.num_params - 2, d,
                               config_.dynamic_shm);
  Error result{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TRUSTED_APP};
  std::shared_ptr<Session> session;
  if (!decoded) {
    result = decoded.error();
  } else {
    auto inst = get_instance(t, uuid);
    if (!inst) {
      result = inst.error();
    } else {
      auto ctx = *inst;
      uint64_t orig_size[abi::TEE_NUM_PARAMS];
      for (uint32_t i = 0; i < d.count; ++i) orig_size[i] = d.ta.p[i].size;
      uint32_t id;
      {
        base::MutexLock lock(p.lock);
        id = p.next_session_id++;
        if (id == 0) id = p.next_session_id++;  // 0 means "no session"
      }
      session = std::make_shared<Session>(id, ctx);
      session->client_uuid = client;
      session->login = login;
      if (auto bounced = bounce_in(mem_, stats_, d); !bounced) {
        result = bounced.error();
      } else {
        TaOutcome o{abi::TEE_ERROR_TARGET_DEAD, true};
        if (enter(t, *ctx)) {
          t.session = session.get();
          o = ctx->impl().open_session(d.ta, &session->ta_session_ctx);
          t.session = nullptr;
          leave(t, *ctx);
        }
        bounce_out(mem_, stats_, d, orig_size);
        if (o.panicked) {
          ctx->dead = true;
          result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
        } else if (o.result != abi::TEE_SUCCESS) {
          result = Error{o.result, abi::TEE_ORIGIN_TRUSTED_APP};
        }
      }
      if (result.code != abi::TEE_SUCCESS) {
        session.reset();
        release_instance(t, ctx, true);
      }
    }
  }
  if (session) {
    p.sessions.insert(session);
    shared->session = session->id();
    stats_.sessions_opened.add();
  }
  if (decoded) write_back_params(shared->params + 2, d);
  set_result(shared, result);
  uint32_t keys[abi::TEE_NUM_PARAMS];
  for (uint32_t i = 0; i < abi::TEE_NUM_PARAMS; ++i) keys[i] = d.refs[i].release();
  for (uint32_t key : keys) release_keys(t, {key});
}

std::shared_ptr<Session> SecureOs::find_session(Partition& p, uint32_t id) {
  return p.sessions.find(id);
}

void SecureOs::cmd_invoke(SecureThread& t, CallArg& call) {
  optee_msg_arg* a = call.priv();
  optee_msg_arg* shared = call.shared;
  Partition& p = *t.partition;
  DecodedParams d;
  auto decoded = decode_params(*this, mem_, p, a->params, call.num_params, d, config_.dynamic_shm);
  Error result{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TRUSTED_APP};
  std::shared_ptr<Session> s;
  if (!decoded) {
    result = decoded.error();
  } else if (!(s = find_session(p, a->session))) {
    result = tee_error(abi::TEE_ERROR_BAD_PARAMETERS);
  } else if (s->ctx().dead) {
    result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
  } else {
    stats_.invokes.add();
    uint64_t orig_size[abi::TEE_NUM_PARAMS];
    for (uint32_t i = 0; i < d.count; ++i) orig_size[i] = d.ta.p[i].size;
    if (auto bounced = bounce_in(mem_, stats_, d); !bounced) {
      result = bounced.error();
    } else {
      TaContext& ctx = s->ctx();
      const bool entered = enter(t, ctx);
      if (!entered || ctx.dead) {
        result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
      } else {
        // The cancellation flag belongs to one operation: a new invoke starts uncancelled.
        s->cancelled.store(false);
        t.session = s.get();
        TaOutcome o = ctx.impl().invoke(s->ta_session_ctx, a->func, d.ta);
        t.session = nullptr;
        if (o.panicked) {
          ctx.dead = true;
          result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
        } else {
          result.code = o.result;
        }
      }
      if (entered) leave(t, ctx);
      bounce_out(mem_, stats_, d, orig_size);
    }
  }
  if (decoded) write_back_params(shared->params, d);
  set_result(shared, result);
  uint32_t keys[abi::TEE_NUM_PARAMS];
  for (uint32_t i = 0; i < abi::TEE_NUM_PARAMS; ++i) keys[i] = d.refs[i].release();
  for (uint32_t key : keys) release_keys(t, {key});
}

void SecureOs::cmd_close_session(SecureThread& t, CallArg& call) {
  optee_msg_arg* shared = call.shared;
  Partition& p = *t.partition;
  if (call.num_params != 0) return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  std::shared_ptr<Session> s = p.sessions.take(call.priv()->session);
  if (!s) return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  auto ctx = s->ctx_ptr();
  if (enter(t, *ctx)) {
    if (!ctx->dead) {
      t.session = s.get();
      TaOutcome o = ctx->impl().close_session(s->ta_session_ctx);
      t.session = nullptr;
      if (o.panicked) ctx->dead = true;
    }
    leave(t, *ctx);
  }
  s.reset();
  release_instance(t, ctx, true);
  set_result(shared, Error{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TEE});
}

void SecureOs::cmd_cancel(SecureThread& t, CallArg& call) {
  optee_msg_arg* shared = call.shared;
  if (call.num_params != 0) return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  auto s = find_session(*t.partition, call.priv()->session);
  if (!s) return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  s->cancelled.store(true);
  uint32_t key;
  {
    base::MutexLock lock(s->wait_lock);
    key = s->waiting_key;
  }
  if (key != 0) rpc_.wake(t, key);
  set_result(shared, Error{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TEE});
}

void SecureOs::cmd_register_shm(SecureThread& t, CallArg& call) {
  optee_msg_arg* a = call.priv();
  optee_msg_arg* shared = call.shared;
  constexpr uint64_t kAttr = abi::OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | abi::OPTEE_MSG_ATTR_NONCONTIG;
  if (call.num_params != 1 || a->params[0].attr != kAttr)
    return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  const auto& tmem = a->params[0].u.tmem;
  auto pages = extract_page_list(mem_, tmem.buf_ptr, tmem.size);
  if (!pages) return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  // The object's metadata comes out of the partition's share of secure memory.
  if (!t.partition->charge(registered_shm_charge(pages->pages.size())))
    return set_result(shared, tee_error(abi::TEE_ERROR_OUT_OF_MEMORY));
  t.partition->mobjs.insert(Mobj::create_paged(Mobj::Kind::kRegistered, std::move(pages->pages),
                                               pages->page_offset, tmem.shm_ref,
                                               pages->host_base));
  set_result(shared, Error{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TEE});
}

void SecureOs::cmd_unregister_shm(SecureThread& t, CallArg& call) {
  optee_msg_arg* a = call.priv();
  optee_msg_arg* shared = call.shared;
  if (call.num_params != 1 || a->params[0].attr != abi::OPTEE_MSG_ATTR_TYPE_RMEM_INPUT)
    return set_result(shared, tee_error(abi::TEE_ERROR_BAD_PARAMETERS));
  MobjRegistry& reg = t.partition->mobjs;
  const uint64_t cookie = a->params[0].u.rmem.shm_ref;
  // UNREGISTER_SHM carried by CALL_WITH_REGD_ARG in the very buffer it names: the call holds that
  // buffer until it returns, so waiting for its users would wait for itself for ever (OP-TEE
  // sleeps there with the thread). Refused as busy; the buffer stays registered.
  if (call.arg_mobj) {
    MobjRef named = reg.lookup(cookie);
    const bool own_argument = named && named.get() == call.arg_mobj.get();
    release_keys(t, {named.release()});
    if (own_argument) return set_result(shared, tee_error(abi::TEE_ERROR_BUSY));
  }
  auto m = reg.begin_release(cookie, t.wait_key());
  if (!m) return set_result(shared, m.error());
  const uint64_t charge = registered_shm_charge((*m)->num_pages());
  // A buffer still used by a call: sleep in the normal world until its last user wakes us.
  // (A partition being torn down stops waiting: its registry goes with it.)
  while (!reg.try_finish_release(*m)) {
    if (t.aborting()) return;
    rpc_.wait(t, t.wait_key(), 0);
  }
  t.partition->uncharge(charge);
  set_result(shared, Error{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TEE});
}

}  // namespace teemu::tee
