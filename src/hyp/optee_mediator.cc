#include "hyp/optee_mediator.h"

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "base/assert.h"
#include "base/checked.h"
#include "base/log.h"
#include "base/read_once.h"
#include "hw/guest_memory.h"
#include "hw/phys_mem.h"

namespace teemu::hyp {

using namespace teemu::abi;  // NOLINT: the ABI names are this file's vocabulary
using base::read_once;

namespace {
constexpr size_t kPage = 4096;
enum BufKind : int { kTemporary = 0, kRegistered = 1, kRpcPayload = 2 };
}  // namespace

// A guest buffer the secure world may use: its pinned guest pages and the shadow page list of
// machine addresses (kept only as long as the secure world reads it).
struct OpteeMediator::Buffer {
  int kind = kTemporary;
  std::vector<Pfn> pinned;       // guest frames (IPA pfns), each pinned once
  std::vector<Pfn> shadow_list;  // machine pages holding the translated list
};

// A std call of a guest: the shadow of its argument and what it created. Calls live in the
// guest's call slots (Guest::slots) and are reused: begin() resets everything but the shadow page,
// which the next call of the slot overwrites whole before the secure world reads it.
struct OpteeMediator::Call {
  uint32_t slot = 0;              // index in Guest::slots
  Pfn shadow = 0;                 // machine page with the shadow argument
  std::byte* shadow_host = nullptr;
  uint64_t guest_arg = 0;         // guest IPA of the argument page
  int64_t thread = -1;            // OP-TEE thread id while suspended in an RPC
  uint32_t rpc_func = 0;          // the RPC the guest is serving
  uint64_t rpc_a1 = 0, rpc_a2 = 0;
  uint32_t rpc_cmd = 0;           // for RPC CMD: the command, and the guest's RPC-arg cookie
  uint64_t rpc_arg_cookie = 0;
  uint64_t rpc_shm_type = 0;      // for RPC SHM_ALLOC
  uint64_t rpc_shm_size = 0;      // for RPC SHM_ALLOC: the size the secure world asked for
  bool mediator_rpc = false;      // a mediator-issued SHM_FREE is being served by the guest
  // Buffers this call created, and only those, are unpinned when it ends (A.16 #1: Xen frees by
  // whatever cookie a TMEM param carries, so a NULL memref naming a registered buffer's cookie
  // unpinned it while the secure world still used its pages).
  std::vector<uint64_t> temporaries;  // cookies of temporary buffers
  std::optional<uint64_t> registered;  // REGISTER_SHM: the buffer of param 0
  // RPC payload whose shadow list the secure world reads on the next resume.
  std::optional<uint64_t> rpc_list;
  // An RPC_FUNC_ALLOC answer the mediator refused (PA 0 to the secure world): the RPC FREE that
  // hands it back must not free a live RPC argument the guest named with the same cookie.
  std::optional<uint64_t> refused_alloc;
  optee_msg_arg* arg() { return reinterpret_cast<optee_msg_arg*>(shadow_host); }
  // A new call in this slot: nothing of the previous one survives but the shadow page (and the
  // capacity of `temporaries`, so that a call with memrefs allocates nothing either).
  void begin(uint64_t arg_ipa) {
    guest_arg = arg_ipa;
    thread = -1;
    rpc_func = 0;
    rpc_a1 = rpc_a2 = 0;
    rpc_cmd = 0;
    rpc_arg_cookie = 0;
    rpc_shm_type = rpc_shm_size = 0;
    mediator_rpc = false;
    temporaries.clear();
    registered.reset();
    rpc_list.reset();
    refused_alloc.reset();
  }
};

struct OpteeMediator::Guest {
  uint16_t id = 0;
  hw::GuestMemory* mem = nullptr;
  MediatorLimits limits;
  MediatorGuestStats stats;
  std::atomic<uint32_t> calls{0};
  std::atomic<int> inside{0};
  std::atomic<bool> stopping{false};
  bool destroyed = false;
  // One slot per call the quota admits at once (limits.max_calls; `calls` counts the slots in
  // use). A slot's Call and shadow page are made on its first use and kept until the guest is
  // removed: a call allocates nothing and takes no lock to get its slot. A free slot is found by
  // a scan: a call that got past the `calls` quota always has one (a slot is freed before
  // `calls` goes down).
  struct Slot {
    std::atomic<bool> busy{false};
    std::unique_ptr<Call> call;  // written only by the slot's holder
  };
  std::unique_ptr<Slot[]> slots;
  uint32_t num_slots = 0;
  base::Mutex lock;
  std::map<int64_t, Call*> suspended GUARDED_BY(lock);  // by OP-TEE thread id; in `slots`
  std::unordered_map<uint64_t, Buffer> buffers GUARDED_BY(lock);        // by guest cookie
  uint64_t pinned GUARDED_BY(lock) = 0;
  struct RpcArg {
    Pfn guest_ipa;
    Pfn shadow;
  };
  std::unordered_map<uint64_t, RpcArg> rpc_args GUARDED_BY(lock);  // by guest cookie
};

OpteeMediator::OpteeMediator(hw::PhysMem& machine, hw::SmcHandler& secure)
    : machine_(machine), secure_(secure) {}

OpteeMediator::~OpteeMediator() {
  std::vector<uint16_t> ids;
  {
    base::ReadMostlyMutex::WriteLock lock(lock_);
    for (auto& [id, g] : guests_) ids.push_back(id);
  }
  for (uint16_t id : ids) {
    stop_guest(id);
    remove_guest(id);
  }
}

bool OpteeMediator::probe(std::string* error) {
  SmcRegs in, r;
  in[0] = OPTEE_SMC_CALLS_UID;
  r = secure_.smc(in);
  if (r.w(0) != OPTEE_MSG_UID_0 || r.w(1) != OPTEE_MSG_UID_1 || r.w(2) != OPTEE_MSG_UID_2 ||
      r.w(3) != OPTEE_MSG_UID_3) {
    *error = "the secure world is not OP-TEE";
    return false;
  }
  in = {};
  in[0] = OPTEE_SMC_GET_THREAD_COUNT;
  r = secure_.smc(in);
  if (r.w(0) != OPTEE_SMC_RETURN_OK || r.w(1) == 0) {
    *error = "the secure world does not report its thread count";
    return false;
  }
  threads_ = r.w(1);
  // OP-TEE without virtualization does not know VM_DESTROYED.
  in = {};
  in[0] = OPTEE_SMC_VM_DESTROYED;
  r = secure_.smc(in);
  if (r.w(0) == OPTEE_SMC_RETURN_UNKNOWN_FUNCTION) {
    *error = "the secure world was built without virtualization support";
    return false;
  }
  TEEMU_LOG_INFO("hyp", "OP-TEE supports {} simultaneous threads per guest", threads_);
  return true;
}

std::shared_ptr<OpteeMediator::Guest> OpteeMediator::find(uint16_t client_id) {
  base::ReadMostlyMutex::ReadLock lock(lock_);
  auto it = guests_.find(client_id);
  return it == guests_.end() ? nullptr : it->second;
}

Result<void> OpteeMediator::add_guest(uint16_t client_id, hw::GuestMemory& mem,
                                      const MediatorLimits& limits) {
  if (client_id == 0) return fail(TEE_ERROR_BAD_PARAMETERS);
  auto g = std::make_shared<Guest>();
  g->id = client_id;
  g->mem = &mem;
  g->limits = limits;
  if (g->limits.max_calls == 0) g->limits.max_calls = threads_;
  g->num_slots = g->limits.max_calls;
  g->slots = std::make_unique<Guest::Slot[]>(g->num_slots);
  {
    base::ReadMostlyMutex::WriteLock lock(lock_);
    if (guests_.count(client_id)) return fail(TEE_ERROR_BAD_PARAMETERS);
    guests_.emplace(client_id, g);
  }
  SmcRegs in;
  in[0] = OPTEE_SMC_VM_CREATED;
  in[1] = client_id;
  in[7] = 0;
  SmcRegs r = secure_.smc(in);
  if (r.w(0) != OPTEE_SMC_RETURN_OK) {
    TEEMU_LOG_WARN("hyp", "Unable to create OPTEE client {}", client_id);
    {
      base::ReadMostlyMutex::WriteLock lock(lock_);
      guests_.erase(client_id);
    }
    // A call of this client id that came in while the guest was listed may have taken a slot
    // (and with it a shadow page): wait for it to come out, then give the pages back.
    while (g->inside.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    release_slots(*g);
    return fail(TEE_ERROR_OUT_OF_MEMORY);
  }
  return {};
}

void OpteeMediator::release_slots(Guest& g) {
  for (uint32_t i = 0; i < g.num_slots; ++i) {
    if (auto& c = g.slots[i].call) machine_.free_ns_page(c->shadow);
    g.slots[i].call.reset();
  }
}

void OpteeMediator::stop_guest(uint16_t client_id) {
  if (auto g = find(client_id)) g->stopping = true;
}

void OpteeMediator::remove_guest(uint16_t client_id) {
  auto g = find(client_id);
  if (!g) return;
  g->stopping = true;
  // The guest's vCPUs are stopped: wait for any that was inside a call to come out.
  while (g->inside.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  // VM_DESTROYED first, everything else after (inv 37, 38): the secure world unwinds the calls
  // the guest left suspended in RPCs, and until it has done so their shadow arguments and the
  // guest pages it was given must stay where they are. Xen unpins before VM_DESTROYED and can,
  // because an unpinned page is freed only later (relinquish_memory); here the last unpin of a
  // page the guest gave up frees its frame at once, which the unwinding secure thread would then
  // write into (another guest may own it by then).
  SmcRegs in;
  in[0] = OPTEE_SMC_VM_DESTROYED;
  in[1] = client_id;
  in[7] = 0;
  secure_.smc(in);  // the secure world always answers OK
  std::vector<uint64_t> cookies, rpc_cookies;
  {
    base::MutexLock lock(g->lock);
    // Calls abandoned in an RPC: their buffers (temporaries and RPC payloads included) are
    // released with all the others below, their shadows with those of every call slot.
    g->suspended.clear();
    for (auto& [c, b] : g->buffers) cookies.push_back(c);
    for (auto& [c, r] : g->rpc_args) rpc_cookies.push_back(c);
  }
  for (uint64_t c : cookies) free_buffer(*g, c);
  for (uint64_t c : rpc_cookies) free_rpc_arg(*g, c);
  // No vCPU is inside and the secure world has unwound: no call slot is in use any more.
  release_slots(*g);
  {
    base::MutexLock lock(g->lock);
    TEEMU_ASSERT(g->pinned == 0 && g->buffers.empty() && g->rpc_args.empty());
  }
  base::ReadMostlyMutex::WriteLock lock(lock_);
  guests_.erase(client_id);
}

MediatorGuestStats* OpteeMediator::guest_stats(uint16_t client_id) {
  auto g = find(client_id);
  return g ? &g->stats : nullptr;
}

OpteeMediator::GuestAudit OpteeMediator::audit(uint16_t client_id) {
  GuestAudit a;
  auto g = find(client_id);
  if (!g) return a;
  base::MutexLock lock(g->lock);
  a.pinned_pages = static_cast<int64_t>(g->pinned);
  a.buffers = g->buffers.size();
  a.rpc_args = g->rpc_args.size();
  a.calls = g->calls.load();
  return a;
}

// ---------------------------------------------------------------------------------------------
// guest memory access

bool OpteeMediator::copy_from_guest(Guest& g, uint64_t ipa, void* dst, size_t len) {
  const uint64_t off = ipa & (kPage - 1);
  if (off + len > kPage) return false;
  const Pfn pfn = static_cast<Pfn>(ipa >> 12);
  if ((ipa >> 12) != pfn) return false;
  auto m = g.mem->pin(pfn);
  if (!m) return false;
  std::memcpy(dst, machine_.host_of(*m) + off, len);
  g.mem->unpin(pfn);
  return true;
}

bool OpteeMediator::copy_to_guest(Guest& g, uint64_t ipa, const void* src, size_t len) {
  const uint64_t off = ipa & (kPage - 1);
  if (off + len > kPage) return false;
  const Pfn pfn = static_cast<Pfn>(ipa >> 12);
  if ((ipa >> 12) != pfn) return false;
  auto m = g.mem->pin(pfn);
  if (!m) return false;
  std::memcpy(machine_.host_of(*m) + off, src, len);
  g.mem->unpin(pfn);
  return true;
}

// ---------------------------------------------------------------------------------------------
// entry

SmcRegs OpteeMediator::handle(uint16_t client_id, const SmcRegs& regs) {
  SmcRegs out;
  auto g = find(client_id);
  if (!g) {
    out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;  // a domain without a TEE
    return out;
  }
  g->stats.traps.add();
  g->inside.fetch_add(1);
  if (g->stopping.load()) {
    g->inside.fetch_sub(1);
    out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
    return out;
  }
  // Only the low 32 bits of a0 name the function.
  const uint32_t fid = regs.w(0);
  if (fid == OPTEE_SMC_CALL_WITH_ARG)
    out = std_call(*g, regs);
  else if (fid == OPTEE_SMC_CALL_RETURN_FROM_RPC)
    out = resume_call(*g, regs);
  else
    out = fast_call(*g, regs);
  g->inside.fetch_sub(1);
  return out;
}

SmcRegs OpteeMediator::forward(Guest& g, SmcRegs regs) {
  regs[7] = g.id;  // set by the hypervisor, never by the guest
  return secure_.smc(regs);
}

SmcRegs OpteeMediator::fast_call(Guest& g, const SmcRegs& regs) {
  SmcRegs out, in;
  in[0] = regs.w(0);
  switch (regs.w(0)) {
    case OPTEE_SMC_CALLS_COUNT: out[0] = kMediatorSmcCount; return out;
    case OPTEE_SMC_CALLS_UID:
    case OPTEE_SMC_CALLS_REVISION:
    case OPTEE_SMC_CALL_GET_OS_UUID:
    case OPTEE_SMC_CALL_GET_OS_REVISION: {
      SmcRegs r = forward(g, in);
      for (int i = 0; i < 4; ++i) out[i] = r.w(i);
      return out;
    }
    case OPTEE_SMC_ENABLE_SHM_CACHE: {
      SmcRegs r = forward(g, in);
      out[0] = r.w(0);
      return out;
    }
    case OPTEE_SMC_DISABLE_SHM_CACHE: {
      SmcRegs r = forward(g, in);
      out[0] = r.w(0);
      if (r.w(0) == OPTEE_SMC_RETURN_OK) {
        free_rpc_arg(g, reg_pair_to_64(r[1], r[2]));
        out[1] = r.w(1);
        out[2] = r.w(2);
      }
      return out;
    }
    case OPTEE_SMC_GET_SHM_CONFIG:
      // Guests never share a static carve-out.
      out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
      return out;
    case OPTEE_SMC_EXCHANGE_CAPABILITIES: {
      in[1] = regs.w(1) & OPTEE_SMC_NSEC_CAP_UNIPROCESSOR;
      SmcRegs r = forward(g, in);
      out = regs;  // a2/a3 are left as the guest had them
      if (r.w(0) != OPTEE_SMC_RETURN_OK) {
        out[0] = r.w(0);
        return out;
      }
      uint32_t caps = r.w(1) & (OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM |
                                OPTEE_SMC_SEC_CAP_UNREGISTERED_SHM |
                                OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_MEMREF_NULL);
      caps &= ~OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
      if (!(caps & OPTEE_SMC_SEC_CAP_DYNAMIC_SHM)) {
        out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;  // a guest cannot work without dynamic SHM
        return out;
      }
      out[0] = OPTEE_SMC_RETURN_OK;
      out[1] = caps;
      return out;
    }
    default:
      // VM_CREATED/VM_DESTROYED, GET_THREAD_COUNT, CALL_WITH_RPC_ARG/REGD_ARG and the rest are
      // not for guests.
      out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
      return out;
  }
}

// ---------------------------------------------------------------------------------------------
// buffers

KResult<uint64_t> OpteeMediator::translate_noncontig(Guest& g, uint64_t buf_ptr, uint64_t size,
                                                     uint64_t cookie, int kind, Call* call) {
  const uint64_t offset = buf_ptr & (kPage - 1);
  auto total = base::checked_add<uint64_t>(size, offset);
  if (!total || *total == 0) return fail_errno(EINVAL);
  const uint64_t pages = (*total - 1) / kPage + 1;
  if (pages > g.limits.max_buffer_pages) return fail_errno(ENOMEM);
  {
    base::MutexLock lock(g.lock);
    if (g.buffers.count(cookie)) {
      TEEMU_LOG_INFO("hyp", "guest {} tries to use the same SHM buffer cookie", g.id);
      return fail_errno(EINVAL);
    }
    if (g.buffers.size() >= g.limits.max_buffers) return fail_errno(ENOMEM);
    if (g.pinned + pages > g.limits.max_pinned_pages) return fail_errno(ENOMEM);
    // Reserve the slot and the quota before the walk.
    Buffer& b = g.buffers[cookie];
    b.kind = kind;
    g.pinned += pages;
  }
  Buffer nb;
  nb.kind = kind;
  nb.pinned.reserve(pages);
  const size_t lists = (pages + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage;
  bool ok = true;
  int err = EINVAL;
  for (size_t i = 0; i < lists && ok; ++i) {
    auto p = machine_.alloc_ns_page();
    if (!p) {
      ok = false;
      err = ENOMEM;
      break;
    }
    nb.shadow_list.push_back(*p);
  }
  // Walk the guest's list. Each guest list page is pinned while it is read.
  uint64_t list_ipa = buf_ptr & ~(kPage - 1);
  std::optional<Pfn> list_m;
  Pfn list_pfn = 0;
  auto pin_list = [&](uint64_t ipa) {
    if ((ipa & (kPage - 1)) != 0 || (ipa >> 12) > UINT32_MAX) return false;
    list_pfn = static_cast<Pfn>(ipa >> 12);
    list_m = g.mem->pin(list_pfn);
    return list_m.has_value();
  };
  if (ok) ok = pin_list(list_ipa);
  size_t slot = 0;
  for (uint64_t i = 0; ok && i < pages; ++i) {
    const auto* entries = reinterpret_cast<const uint64_t*>(machine_.host_of(*list_m));
    if (slot == kPageListEntriesPerPage) {
      const uint64_t next = read_once(&entries[slot]);
      g.mem->unpin(list_pfn);
      list_m.reset();
      if (!pin_list(next)) {
        ok = false;
        break;
      }
      entries = reinterpret_cast<const uint64_t*>(machine_.host_of(*list_m));
      slot = 0;
    }
    const uint64_t entry = read_once(&entries[slot]);
    if ((entry & (kPage - 1)) != 0 || (entry >> 12) > UINT32_MAX) {
      ok = false;
      break;
    }
    const Pfn ipa = static_cast<Pfn>(entry >> 12);
    auto m = g.mem->pin(ipa);
    if (!m) {
      ok = false;
      break;
    }
    nb.pinned.push_back(ipa);
    auto* shadow = reinterpret_cast<optee_page_list_page*>(
        machine_.host_of(nb.shadow_list[i / kPageListEntriesPerPage]));
    shadow->pages_list[i % kPageListEntriesPerPage] = pfn_to_pa(*m).value;
    ++slot;
  }
  if (list_m) g.mem->unpin(list_pfn);
  if (!ok) {
    for (Pfn ipa : nb.pinned) g.mem->unpin(ipa);
    for (Pfn p : nb.shadow_list) machine_.free_ns_page(p);
    base::MutexLock lock(g.lock);
    g.pinned -= pages;
    g.buffers.erase(cookie);
    return fail_errno(err);
  }
  for (size_t l = 0; l + 1 < nb.shadow_list.size(); ++l)
    reinterpret_cast<optee_page_list_page*>(machine_.host_of(nb.shadow_list[l]))->next_page_data =
        pfn_to_pa(nb.shadow_list[l + 1]).value;
  const uint64_t shadow_ptr = pfn_to_pa(nb.shadow_list[0]).value | offset;
  g.stats.pages_translated.add(static_cast<int64_t>(pages));
  g.stats.pages_pinned_now.add(static_cast<int64_t>(pages));
  {
    base::MutexLock lock(g.lock);
    g.buffers[cookie] = std::move(nb);
  }
  if (call != nullptr && kind == kTemporary) call->temporaries.push_back(cookie);
  if (call != nullptr && kind == kRegistered) call->registered = cookie;
  return shadow_ptr;
}

void OpteeMediator::free_buffer(Guest& g, uint64_t cookie, bool only_list) {
  Buffer b;
  {
    base::MutexLock lock(g.lock);
    auto it = g.buffers.find(cookie);
    if (it == g.buffers.end()) return;
    if (only_list) {
      b.shadow_list.swap(it->second.shadow_list);
    } else {
      b = std::move(it->second);
      g.buffers.erase(it);
      g.pinned -= b.pinned.size();
    }
  }
  for (Pfn p : b.shadow_list) machine_.free_ns_page(p);
  for (Pfn ipa : b.pinned) g.mem->unpin(ipa);
  g.stats.pages_pinned_now.sub(static_cast<int64_t>(b.pinned.size()));
}

void OpteeMediator::free_rpc_arg(Guest& g, uint64_t cookie) {
  Guest::RpcArg r;
  {
    base::MutexLock lock(g.lock);
    auto it = g.rpc_args.find(cookie);
    if (it == g.rpc_args.end()) return;
    r = it->second;
    g.rpc_args.erase(it);
    g.pinned -= 1;
  }
  machine_.free_ns_page(r.shadow);
  g.mem->unpin(r.guest_ipa);
  g.stats.pages_pinned_now.sub(1);
}

// ---------------------------------------------------------------------------------------------
// std calls

SmcRegs OpteeMediator::std_call(Guest& g, const SmcRegs& regs) {
  SmcRegs out;
  // A call slot per secure thread of the guest, counting calls suspended in RPC.
  uint32_t n = g.calls.load();
  do {
    if (n >= g.limits.max_calls) {
      out[0] = OPTEE_SMC_RETURN_ETHREAD_LIMIT;
      return out;
    }
  } while (!g.calls.compare_exchange_weak(n, n + 1));

  const uint64_t arg_ipa = reg_pair_to_64(regs[1], regs[2]);
  if ((arg_ipa & (kPage - 1)) != 0) {
    g.calls.fetch_sub(1);
    out[0] = OPTEE_SMC_RETURN_EBADADDR;
    return out;
  }
  Call* const call = take_slot(g);
  if (call == nullptr) {
    g.calls.fetch_sub(1);
    out[0] = OPTEE_SMC_RETURN_ENOMEM;
    return out;
  }
  auto release_slot = [&] { end_call(g, *call); };
  call->begin(arg_ipa);
  // The shadow: exactly one page, copied once, over whatever an earlier call of the slot left
  // there. The secure world reads only the shadow.
  if (!copy_from_guest(g, arg_ipa, call->shadow_host, kPage)) {
    release_slot();
    out[0] = OPTEE_SMC_RETURN_EBADADDR;
    return out;
  }
  g.stats.shadow_copies.add();
  optee_msg_arg* a = call->arg();
  const uint32_t num_params = read_once(&a->num_params);
  auto finish_locally = [&](uint32_t ret) {
    // A mediator-made result: only ret and ret_origin reach the guest.
    g.stats.refused.add();
    a->ret = ret;
    a->ret_origin = TEE_ORIGIN_COMMS;
    copy_to_guest(g, arg_ipa + offsetof(optee_msg_arg, ret), &a->ret, sizeof(uint32_t) * 2);
    // Everything this call translated before the refusal, the REGISTER_SHM buffer of param 0
    // included (A.16 #5: Xen leaves it pinned when a later param fails).
    for (uint64_t c : call->temporaries) free_buffer(g, c);
    if (call->registered) free_buffer(g, *call->registered);
    release_slot();
    SmcRegs r;
    r[0] = OPTEE_SMC_RETURN_OK;
    return r;
  };
  if (optee_msg_get_arg_size(num_params) > kPage) return finish_locally(TEE_ERROR_BAD_PARAMETERS);
  switch (read_once(&a->cmd)) {
    case OPTEE_MSG_CMD_OPEN_SESSION:
    case OPTEE_MSG_CMD_CLOSE_SESSION:
    case OPTEE_MSG_CMD_INVOKE_COMMAND:
    case OPTEE_MSG_CMD_CANCEL:
    case OPTEE_MSG_CMD_REGISTER_SHM:
    case OPTEE_MSG_CMD_UNREGISTER_SHM: break;
    default:
      release_slot();
      g.stats.refused.add();
      out[0] = OPTEE_SMC_RETURN_EBADCMD;
      return out;
  }
  const bool registering = a->cmd == OPTEE_MSG_CMD_REGISTER_SHM;
  for (uint32_t i = 0; i < num_params; ++i) {
    optee_msg_param& p = a->params[i];
    const uint64_t attr = p.attr;
    const uint64_t type = attr & OPTEE_MSG_ATTR_TYPE_MASK;
    if (type < OPTEE_MSG_ATTR_TYPE_TMEM_INPUT || type > OPTEE_MSG_ATTR_TYPE_TMEM_INOUT) continue;
    if (p.u.tmem.buf_ptr == 0) continue;  // NULL memref: nothing to translate or pin
    if (!(attr & OPTEE_MSG_ATTR_NONCONTIG)) {
      // A contiguous buffer would name guest "physical" memory directly.
      TEEMU_LOG_INFO("hyp", "guest {} tries to use old tmem arg", g.id);
      return finish_locally(TEE_ERROR_BAD_PARAMETERS);
    }
    auto t = translate_noncontig(g, p.u.tmem.buf_ptr, p.u.tmem.size, p.u.tmem.shm_ref,
                                 registering && i == 0 ? kRegistered : kTemporary, call);
    if (!t)
      return finish_locally(t.error().value == ENOMEM ? TEE_ERROR_OUT_OF_MEMORY
                                                      : TEE_ERROR_BAD_PARAMETERS);
    p.u.tmem.buf_ptr = *t;
  }
  SmcRegs fwd;
  fwd[0] = OPTEE_SMC_CALL_WITH_ARG;
  reg_pair_from_64(pfn_to_pa(call->shadow).value, fwd[1], fwd[2]);
  fwd[3] = OPTEE_SMC_SHM_CACHED;
  return run_call(g, call, fwd);
}

OpteeMediator::Call* OpteeMediator::take_slot(Guest& g) {
  // The caller holds one of `calls`: some slot is free at every moment, though a scan may miss
  // one freed behind it while another call takes one ahead of it; hence the outer loop.
  for (;;) {
    for (uint32_t i = 0; i < g.num_slots; ++i) {
      Guest::Slot& s = g.slots[i];
      if (s.busy.load(std::memory_order_relaxed) ||
          s.busy.exchange(true, std::memory_order_acquire))
        continue;
      if (!s.call) {
        // First use of the slot: its shadow page is kept for every later call of the slot.
        auto shadow = machine_.alloc_ns_page();
        if (!shadow) {
          s.busy.store(false, std::memory_order_release);
          return nullptr;
        }
        auto c = std::make_unique<Call>();
        c->slot = i;
        c->shadow = *shadow;
        c->shadow_host = machine_.host_of(*shadow);
        s.call = std::move(c);
      }
      return s.call.get();
    }
  }
}

void OpteeMediator::end_call(Guest& g, Call& call) {
  // The slot first, then the quota: a call admitted by `calls` must find a free slot.
  g.slots[call.slot].busy.store(false, std::memory_order_release);
  g.calls.fetch_sub(1);
}

SmcRegs OpteeMediator::run_call(Guest& g, Call* call, SmcRegs regs) {
  for (;;) {
    SmcRegs res = forward(g, regs);
    if (call->rpc_list) {
      // The secure world has read the translated SHM_ALLOC reply (it parses the list before it
      // returns): the shadow list goes, the pins stay until its SHM_FREE.
      free_buffer(g, *call->rpc_list, /*only_list=*/true);
      call->rpc_list.reset();
    }
    const std::optional<uint64_t> refused_alloc = call->refused_alloc;
    call->refused_alloc.reset();
    const uint32_t a0 = res.w(0);
    if (!optee_smc_return_is_rpc(a0)) return complete_call(g, call, res);
    // The secure world needs the guest: remember where it is and hand the RPC over.
    call->thread = res.w(3);
    call->rpc_func = optee_smc_return_get_rpc_func(a0);
    call->rpc_a1 = res.w(1);
    call->rpc_a2 = res.w(2);
    SmcRegs out;
    for (int i = 0; i < 4; ++i) out[i] = res.w(i);
    if (call->rpc_func == OPTEE_SMC_RPC_FUNC_FREE) {
      // The secure world no longer uses the buffer: forget it before the guest can reuse the
      // cookie. A buffer the mediator refused was never ours: its cookie may be a duplicate
      // naming another thread's live RPC argument, which must stay.
      const uint64_t cookie = reg_pair_to_64(res[1], res[2]);
      if (refused_alloc != cookie) free_rpc_arg(g, cookie);
    } else if (call->rpc_func == OPTEE_SMC_RPC_FUNC_CMD) {
      const uint64_t cookie = reg_pair_to_64(res[1], res[2]);
      Guest::RpcArg ra{};
      bool known;
      {
        base::MutexLock lock(g.lock);
        auto it = g.rpc_args.find(cookie);
        known = it != g.rpc_args.end();
        if (known) ra = it->second;
      }
      if (!known) {
        // Nothing the guest could serve: resume at once (the secure world put a default error).
        TEEMU_LOG_WARN("hyp", "guest {}: RPC CMD with an unknown cookie", g.id);
        regs = {};
        regs[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
        regs[3] = res.w(3);
        continue;
      }
      auto* shadow = reinterpret_cast<optee_msg_arg*>(machine_.host_of(ra.shadow));
      const uint32_t n = read_once(&shadow->num_params);
      const size_t size = optee_msg_get_arg_size(std::min<uint32_t>(n, OPTEE_MSG_MAX_NUM_PARAMS));
      call->rpc_cmd = read_once(&shadow->cmd);
      call->rpc_arg_cookie = cookie;
      if (call->rpc_cmd == OPTEE_RPC_CMD_SHM_ALLOC && n >= 1) {
        call->rpc_shm_type = shadow->params[0].u.value.a;
        call->rpc_shm_size = shadow->params[0].u.value.b;
      }
      if (call->rpc_cmd == OPTEE_RPC_CMD_SHM_FREE && n >= 1) {
        // Forget the payload before the guest sees the request (it may reuse the cookie).
        free_buffer(g, shadow->params[0].u.value.b);
      }
      if (!copy_to_guest(g, pfn_to_pa(ra.guest_ipa).value, shadow, size)) {
        shadow->ret = TEE_ERROR_GENERIC;
        regs = {};
        regs[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
        regs[3] = res.w(3);
        continue;
      }
      g.stats.shadow_copies.add();
    }
    base::MutexLock lock(g.lock);
    g.suspended[call->thread] = call;
    return out;
  }
}

SmcRegs OpteeMediator::complete_call(Guest& g, Call* call, const SmcRegs& res) {
  SmcRegs out;
  out[0] = res.w(0);
  optee_msg_arg* a = call->arg();
  const bool ok = res.w(0) == OPTEE_SMC_RETURN_OK;
  if (ok) {
    // Write only the output fields, straight into the guest's page (pinned meanwhile, as a copy
    // would); machine addresses, attributes and everything else of the guest's stay as they are.
    const Pfn pfn = static_cast<Pfn>(call->guest_arg >> 12);  // checked by std_call
    if (auto m = g.mem->pin(pfn)) {
      auto* ga = reinterpret_cast<optee_msg_arg*>(machine_.host_of(*m));
      ga->ret = a->ret;
      ga->ret_origin = a->ret_origin;
      ga->session = a->session;
      const uint32_t n = std::min<uint32_t>(a->num_params, OPTEE_MSG_MAX_NUM_PARAMS);
      for (uint32_t i = 0; i < n; ++i) {
        const uint64_t type = a->params[i].attr & OPTEE_MSG_ATTR_TYPE_MASK;
        switch (type) {
          case OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT:
          case OPTEE_MSG_ATTR_TYPE_TMEM_INOUT:
          case OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT:
          case OPTEE_MSG_ATTR_TYPE_RMEM_INOUT:
            ga->params[i].u.tmem.size = a->params[i].u.tmem.size;
            break;
          case OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT:
          case OPTEE_MSG_ATTR_TYPE_VALUE_INOUT: ga->params[i].u.value = a->params[i].u.value; break;
          default: break;
        }
      }
      g.mem->unpin(pfn);
    } else {
      out[0] = OPTEE_SMC_RETURN_EBADADDR;  // the guest gave its argument page away meanwhile
    }
  }
  // Bookkeeping by command, trusting arg->ret only if the secure world completed the call.
  const uint32_t cmd = a->cmd;
  if (call->registered) {
    // Only the buffer this call translated for param 0, never whatever cookie param 0 carries
    // (a NULL or non-memref param 0 names a cookie the call did not create).
    if (ok && a->ret == TEE_SUCCESS)
      free_buffer(g, *call->registered, /*only_list=*/true);  // keep the pins until UNREGISTER
    else
      free_buffer(g, *call->registered);
  }
  if (cmd == OPTEE_MSG_CMD_UNREGISTER_SHM && a->num_params >= 1 && ok && a->ret == TEE_SUCCESS) {
    const uint64_t c = a->params[0].u.rmem.shm_ref;
    bool registered;
    {
      base::MutexLock lock(g.lock);
      auto it = g.buffers.find(c);
      registered = it != g.buffers.end() && it->second.kind == kRegistered;
    }
    if (registered) free_buffer(g, c);
  }
  // Temporary buffers of this call, and only those.
  for (uint64_t c : call->temporaries) free_buffer(g, c);
  end_call(g, *call);
  return out;
}

SmcRegs OpteeMediator::resume_call(Guest& g, const SmcRegs& regs) {
  SmcRegs out;
  Call* call = nullptr;
  {
    base::MutexLock lock(g.lock);
    auto it = g.suspended.find(static_cast<int64_t>(regs.w(3)));
    if (it != g.suspended.end()) {
      call = it->second;
      g.suspended.erase(it);
    }
  }
  if (!call) {
    // No such call of this guest, or it is being resumed on another vCPU right now.
    out[0] = OPTEE_SMC_RETURN_ERESUME;
    return out;
  }
  const int64_t thread = call->thread;
  call->thread = -1;
  SmcRegs fwd;
  fwd[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
  fwd[3] = static_cast<uint64_t>(thread);
  switch (call->rpc_func) {
    case OPTEE_SMC_RPC_FUNC_ALLOC: {
      // The guest's page (IPA) becomes a shadow page the secure world uses as its RPC argument.
      const uint64_t ipa = reg_pair_to_64(regs[1], regs[2]);
      const uint64_t cookie = reg_pair_to_64(regs[4], regs[5]);
      uint64_t pa = 0;
      if (ipa != 0 && (ipa & (kPage - 1)) == 0 && (ipa >> 12) <= UINT32_MAX) {
        const Pfn pfn = static_cast<Pfn>(ipa >> 12);
        auto m = g.mem->pin(pfn);
        auto shadow = m ? machine_.alloc_ns_page() : KResult<Pfn>(fail_errno(EINVAL));
        bool taken = false;
        if (m && shadow) {
          // A duplicate cookie (two threads answered with the same one) or the pin quota: the
          // check and the insertion are one step, so two racing answers cannot both pass.
          base::MutexLock lock(g.lock);
          if (!g.rpc_args.count(cookie) && g.pinned < g.limits.max_pinned_pages) {
            g.rpc_args[cookie] = {pfn, *shadow};
            g.pinned += 1;
            g.stats.pages_pinned_now.add(1);
            pa = pfn_to_pa(*shadow).value;
            taken = true;
          }
        }
        if (!taken) {
          if (shadow) machine_.free_ns_page(*shadow);
          if (m) g.mem->unpin(pfn);
        }
      }
      if (pa == 0) call->refused_alloc = cookie;
      reg_pair_from_64(pa, fwd[1], fwd[2]);
      reg_pair_from_64(cookie, fwd[4], fwd[5]);
      break;
    }
    case OPTEE_SMC_RPC_FUNC_CMD: {
      Guest::RpcArg ra{};
      bool known;
      {
        base::MutexLock lock(g.lock);
        auto it = g.rpc_args.find(call->rpc_arg_cookie);
        known = it != g.rpc_args.end();
        if (known) ra = it->second;
      }
      if (!known) break;
      auto* shadow = reinterpret_cast<optee_msg_arg*>(machine_.host_of(ra.shadow));
      if (call->mediator_rpc) {
        // The guest served the mediator's own SHM_FREE: the allocation failed for the secure
        // world whatever the guest answered.
        call->mediator_rpc = false;
        shadow->ret = TEE_ERROR_GENERIC;
        shadow->num_params = 0;
        break;
      }
      alignas(8) std::byte page[kPage];
      if (!copy_from_guest(g, pfn_to_pa(ra.guest_ipa).value, page, kPage)) {
        shadow->ret = TEE_ERROR_GENERIC;
        break;
      }
      const uint32_t n = reinterpret_cast<optee_msg_arg*>(page)->num_params;
      if (optee_msg_get_arg_size(n) > kPage) {
        shadow->ret = TEE_ERROR_GENERIC;
        break;
      }
      std::memcpy(shadow, page, optee_msg_get_arg_size(n));
      g.stats.shadow_copies.add();
      if (call->rpc_cmd == OPTEE_RPC_CMD_SHM_ALLOC && shadow->ret == TEE_SUCCESS &&
          shadow->num_params == 0) {
        // "Allocated" with nothing to show for it: a failure for the secure world.
        shadow->ret = TEE_ERROR_GENERIC;
      } else if (call->rpc_cmd == OPTEE_RPC_CMD_SHM_ALLOC && shadow->ret == TEE_SUCCESS) {
        // Inv 31: the reply must be exactly one TMEM_OUTPUT|NONCONTIG param of at least the
        // requested size, and it is translated; anything else is an allocation failure for the
        // secure world and an SHM_FREE for the guest. A contiguous reply is refused, never passed
        // through (A.16 #2: Xen passes it on untranslated, and OP-TEE accepts a contiguous page of
        // non-secure RAM: the guest would name any machine page, another guest's included). The
        // size is checked here too so that a short reply pins nothing.
        optee_msg_param& p = shadow->params[0];
        const uint64_t cookie = p.u.tmem.shm_ref;
        KResult<uint64_t> t = fail_errno(EINVAL);
        if (shadow->num_params == 1 &&
            p.attr == (OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG) &&
            p.u.tmem.size >= call->rpc_shm_size)
          t = translate_noncontig(g, p.u.tmem.buf_ptr, p.u.tmem.size, cookie, kRpcPayload,
                                  nullptr);
        if (t) {
          p.u.tmem.buf_ptr = *t;
          call->rpc_list = cookie;
        } else {
          // Tell the guest to free what it allocated, then fail the allocation for the secure
          // world.
          optee_msg_arg req{};
          req.cmd = OPTEE_RPC_CMD_SHM_FREE;
          req.num_params = 1;
          alignas(8) std::byte buf[optee_msg_get_arg_size(1)] = {};
          std::memcpy(buf, &req, sizeof(req));
          auto* r = reinterpret_cast<optee_msg_arg*>(buf);
          r->params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
          r->params[0].u.value = {call->rpc_shm_type, cookie, 0};
          if (copy_to_guest(g, pfn_to_pa(ra.guest_ipa).value, buf, sizeof(buf))) {
            call->mediator_rpc = true;
            call->thread = thread;
            out[0] = OPTEE_SMC_RETURN_RPC_CMD;
            reg_pair_from_64(call->rpc_arg_cookie, out[1], out[2]);
            out[3] = static_cast<uint64_t>(thread);
            base::MutexLock lock(g.lock);
            g.suspended[thread] = call;
            return out;
          }
          shadow->ret = TEE_ERROR_GENERIC;
          shadow->num_params = 0;
        }
      }
      break;
    }
    default:
      // FOREIGN_INTR, FREE and anything else: resume with the saved values, never the guest's.
      fwd[1] = call->rpc_a1;
      fwd[2] = call->rpc_a2;
      break;
  }
  return run_call(g, call, fwd);
}

}  // namespace teemu::hyp
