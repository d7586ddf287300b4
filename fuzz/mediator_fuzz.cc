// Fuzz target (c): a hostile guest -> the hypervisor's OP-TEE mediator (hyp::OpteeMediator).
//
// The input is a program of a guest that speaks the SMC and message ABI by hand in its own
// intermediate physical address space (hw::GuestMemory): raw fast calls, std calls whose message
// argument, params and page lists (IPA entries, bad ones, loops) it writes into its pages, RPC
// answers that are honest or lies (bad IPAs, duplicate cookies, contiguous SHM_ALLOC replies,
// wrong thread ids), calls parked in RPCs while others run, its own memory given up or rewritten
// while the secure world uses it, and being destroyed with calls in flight.
//
// Behind the mediator sits either a small fake secure world (it accepts VM_CREATED/VM_DESTROYED,
// GET_THREAD_COUNT, CALLS_UID and the rest of the probe, and answers every std call with a script
// from the input: RPC ALLOC / FREE / CMD SHM_ALLOC, SHM_FREE, NOTIFICATION, ... / a result), or
// the real secure OS built with virtualization (one partition per guest), chosen per input.
//
// Oracles besides the sanitizers: every page-list entry and RPC buffer the mediator gives the
// secure world is a machine frame of this guest's RAM (never an IPA, never another frame), every
// SMC reaches the secure world with a7 = the guest's id, and once the guest has finished its
// calls, unregistered its buffers and taken back the RPC cache (or once it was destroyed), the
// mediator holds no pin, buffer, RPC argument or call of it, and after the guest's memory is gone
// no machine page or aliased frame is left.
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "../tas/shm_test/include/shm_test_ta.h"
#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "common.h"
#include "hw/guest_memory.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hw/smc.h"
#include "hyp/optee_mediator.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace teemu::fuzz {
namespace {

using namespace teemu::abi;  // NOLINT: wire constants keep their spec names

constexpr uint64_t kPage = 4096;
constexpr uint16_t kGuest = 7;
constexpr int kMaxOps = 40;
constexpr int kMaxLyingSteps = 128;
constexpr int kMaxSteps = 4096;
constexpr Uuid kShmTa = {
    {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c, 0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};

std::vector<uint8_t> g_ta_image;

uint64_t uuid_word(const Uuid& u, int half) {
  uint64_t v;
  std::memcpy(&v, u.octets + 8 * half, 8);
  return v;
}

// Machine frames that were ever this guest's RAM (its pages keep their frames while pinned; a
// frame the guest gave up may be reused, so membership proves little, absence a lot).
std::set<Pfn> g_guest_frames;
bool is_guest_frame(uint64_t pa) {
  return (pa & (kPage - 1)) == 0 && (pa >> 12) <= UINT32_MAX &&
         g_guest_frames.count(static_cast<Pfn>(pa >> 12));
}

// --- the fake secure world ----------------------------------------------------------------------

class FakeSecureWorld : public hw::SmcHandler {
 public:
  FakeSecureWorld(hw::PhysMem& mem, Reader& r) : mem_(mem), r_(r) {}

  // SHM_ALLOC buffers it still holds (a secure world may keep them; the mediator keeps them
  // pinned meanwhile).
  size_t held_buffers() const { return shm_cookies_.size(); }
  // From now on every std call completes at once, successfully: the secure world of the
  // cleanup, which must leave the mediator nothing to hold (a scripted failure there would keep
  // a registration alive in the secure world, and its pins rightly with it).
  void be_honest() { honest_ = true; }

  SmcRegs smc(const SmcRegs& in) override {
    SmcRegs out;
    const uint32_t f = in.w(0);
    if (in.w(7) != kGuest && f != OPTEE_SMC_VM_CREATED && f != OPTEE_SMC_VM_DESTROYED &&
        f != OPTEE_SMC_CALLS_UID && f != OPTEE_SMC_GET_THREAD_COUNT)
      finding("SMC %#x reached the secure world with client id %u", f, in.w(7));
    switch (f) {
      case OPTEE_SMC_CALLS_UID:
        out[0] = OPTEE_MSG_UID_0;
        out[1] = OPTEE_MSG_UID_1;
        out[2] = OPTEE_MSG_UID_2;
        out[3] = OPTEE_MSG_UID_3;
        return out;
      case OPTEE_SMC_GET_THREAD_COUNT: out[0] = OPTEE_SMC_RETURN_OK; out[1] = kThreads; return out;
      case OPTEE_SMC_VM_CREATED: out[0] = OPTEE_SMC_RETURN_OK; return out;
      case OPTEE_SMC_VM_DESTROYED:
        calls_.clear();  // the guest's threads go with its partition
        bufs_.clear();
        shm_cookies_.clear();
        out[0] = OPTEE_SMC_RETURN_OK;
        return out;
      case OPTEE_SMC_EXCHANGE_CAPABILITIES:
        out[0] = OPTEE_SMC_RETURN_OK;
        out[1] = OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_MEMREF_NULL |
                 OPTEE_SMC_SEC_CAP_VIRTUALIZATION;
        return out;
      case OPTEE_SMC_ENABLE_SHM_CACHE: out[0] = OPTEE_SMC_RETURN_OK; return out;
      case OPTEE_SMC_DISABLE_SHM_CACHE:
        if (bufs_.empty() || !calls_.empty()) {
          out[0] = calls_.empty() ? OPTEE_SMC_RETURN_ENOTAVAIL : OPTEE_SMC_RETURN_EBUSY;
        } else {
          out[0] = OPTEE_SMC_RETURN_OK;
          reg_pair_from_64(bufs_.begin()->first, out[1], out[2]);
          bufs_.erase(bufs_.begin());
        }
        return out;
      case OPTEE_SMC_CALL_WITH_ARG: return start(in);
      case OPTEE_SMC_CALL_RETURN_FROM_RPC: return resume(in);
      default:
        out[0] = (f & OPTEE_SMC_FAST_CALL) ? OPTEE_SMC_RETURN_OK : OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
        return out;
    }
  }

 private:
  struct Call {
    optee_msg_arg* arg = nullptr;
    int steps = 0;
    uint32_t pending = ~0u;
    optee_msg_arg* cmd_arg = nullptr;
    uint32_t cmd = 0;
    uint64_t refused = 0;  // cookie of an RPC ALLOC answered without a buffer
    uint64_t cmd_cookie = 0;  // the RPC argument of its pending RPC CMD
  };

  // RPC arguments not held by another call's pending RPC CMD: an OP-TEE thread owns the RPC
  // argument it waits on, so no other thread writes or frees it meanwhile.
  std::vector<uint64_t> free_rpc_args(uint32_t self) const {
    std::vector<uint64_t> out;
    for (const auto& [cookie, host] : bufs_) {
      bool busy = false;
      for (const auto& [id, other] : calls_)
        if (id != self && other.pending == OPTEE_SMC_RPC_FUNC_CMD && other.cmd_cookie == cookie)
          busy = true;
      if (!busy) out.push_back(cookie);
    }
    return out;
  }

  // Page lists the mediator hands over must name this guest's machine frames only.
  void check_list(uint64_t buf_ptr, uint64_t size, const char* what) {
    const uint64_t pages = std::min<uint64_t>((size + (buf_ptr & 0xfff) + kPage - 1) / kPage, 1u << 18);
    uint64_t list = buf_ptr & ~(kPage - 1);
    for (uint64_t e = 0; e < pages; ++e) {
      auto* lp = reinterpret_cast<optee_page_list_page*>(mem_.ns_range(PhysAddr{list}, kPage));
      if (lp == nullptr) finding("%s: page list page %#llx is not RAM", what, static_cast<unsigned long long>(list));
      const uint64_t entry = lp->pages_list[e % kPageListEntriesPerPage];
      if (!is_guest_frame(entry))
        finding("%s: page list entry %llu is %#llx, not a machine frame of the guest", what,
                static_cast<unsigned long long>(e), static_cast<unsigned long long>(entry));
      if (e % kPageListEntriesPerPage == kPageListEntriesPerPage - 1) list = lp->next_page_data;
    }
  }

  SmcRegs start(const SmcRegs& in) {
    SmcRegs out;
    if (calls_.size() >= kThreads) {
      out[0] = OPTEE_SMC_RETURN_ETHREAD_LIMIT;
      return out;
    }
    const uint64_t pa = reg_pair_to_64(in[1], in[2]);
    auto* arg = reinterpret_cast<optee_msg_arg*>(mem_.ns_range(PhysAddr{pa}, kPage));
    if (arg == nullptr) finding("mediator forwarded an argument at %#llx, not RAM", static_cast<unsigned long long>(pa));
    const uint32_t n = std::min<uint32_t>(arg->num_params, OPTEE_MSG_MAX_NUM_PARAMS);
    for (uint32_t i = 0; i < n; ++i) {
      const optee_msg_param& p = arg->params[i];
      const uint64_t type = p.attr & OPTEE_MSG_ATTR_TYPE_MASK;
      if (type >= OPTEE_MSG_ATTR_TYPE_TMEM_INPUT && type <= OPTEE_MSG_ATTR_TYPE_TMEM_INOUT &&
          p.u.tmem.buf_ptr != 0) {
        if (!(p.attr & OPTEE_MSG_ATTR_NONCONTIG)) finding("mediator forwarded a contiguous TMEM");
        check_list(p.u.tmem.buf_ptr, p.u.tmem.size, "std call memref");
      }
    }
    const uint32_t id = next_id_++;
    calls_[id] = {arg};
    return next_step(id);
  }

  SmcRegs resume(const SmcRegs& in) {
    SmcRegs out;
    auto it = calls_.find(in.w(3));
    if (it == calls_.end()) {
      out[0] = OPTEE_SMC_RETURN_ERESUME;
      return out;
    }
    Call& c = it->second;
    if (c.pending == OPTEE_SMC_RPC_FUNC_ALLOC) {
      const uint64_t pa = reg_pair_to_64(in[1], in[2]);
      const uint64_t cookie = reg_pair_to_64(in[4], in[5]);
      if (pa != 0) {
        std::byte* host = mem_.ns_range(PhysAddr{pa}, kPage);
        if (host == nullptr) finding("RPC ALLOC answered with %#llx, not RAM", static_cast<unsigned long long>(pa));
        trace("  sw: RPC ALLOC got cookie %#llx", static_cast<unsigned long long>(cookie));
        bufs_[cookie] = host;
      } else {
        c.refused = cookie;  // OP-TEE frees a refused allocation by its cookie at once
      }
    } else if (c.pending == OPTEE_SMC_RPC_FUNC_CMD && c.cmd_arg != nullptr &&
               c.cmd == OPTEE_RPC_CMD_SHM_ALLOC && c.cmd_arg->ret == TEE_SUCCESS &&
               c.cmd_arg->num_params == 1) {
      const optee_msg_param& p = c.cmd_arg->params[0];
      if (p.attr == (OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG))
        check_list(p.u.tmem.buf_ptr, p.u.tmem.size, "SHM_ALLOC reply");
      else if (p.u.tmem.buf_ptr != 0)
        finding("mediator passed an SHM_ALLOC reply with attr %#llx", static_cast<unsigned long long>(p.attr));
      shm_cookies_.push_back(p.u.tmem.shm_ref);
    }
    c.pending = ~0u;
    return next_step(it->first);
  }

  SmcRegs next_step(uint32_t id) {
    Call& c = calls_[id];
    SmcRegs out;
    out[3] = id;
    if (c.refused != 0) {
      c.pending = OPTEE_SMC_RPC_FUNC_FREE;
      out[0] = OPTEE_SMC_RETURN_RPC_FREE;
      reg_pair_from_64(c.refused, out[1], out[2]);
      c.refused = 0;
      return out;
    }
    const uint32_t kind = honest_ || ++c.steps > 32 ? 0 : r_.u8() % 8;
    trace("  sw step %u", kind);
    switch (kind) {
      case 1:
        c.pending = OPTEE_SMC_RPC_FUNC_ALLOC;
        out[0] = OPTEE_SMC_RETURN_RPC_ALLOC;
        out[1] = kRpcArg;
        return out;
      case 2: {
        const std::vector<uint64_t> own = free_rpc_args(id);
        const uint64_t cookie = own.empty() || r_.u8() % 4 == 3
                                    ? r_.u64()
                                    : own[r_.below(static_cast<uint32_t>(own.size()))];
        if (std::find(own.begin(), own.end(), cookie) != own.end()) bufs_.erase(cookie);
        trace("  sw: RPC FREE %#llx", static_cast<unsigned long long>(cookie));
        c.pending = OPTEE_SMC_RPC_FUNC_FREE;
        out[0] = OPTEE_SMC_RETURN_RPC_FREE;
        reg_pair_from_64(cookie, out[1], out[2]);
        return out;
      }
      case 3:
      case 4: {
        c.pending = OPTEE_SMC_RPC_FUNC_CMD;
        c.cmd_arg = nullptr;
        const std::vector<uint64_t> own = free_rpc_args(id);
        const uint64_t cookie = own.empty() || r_.u8() % 8 == 7
                                    ? r_.u64()
                                    : own[r_.below(static_cast<uint32_t>(own.size()))];
        out[0] = OPTEE_SMC_RETURN_RPC_CMD;
        reg_pair_from_64(cookie, out[1], out[2]);
        c.cmd_cookie = cookie;
        auto b = bufs_.find(cookie);
        // A cookie another call waits on is named but not written (as if the secure world
        // named an RPC argument it does not hold).
        if (b == bufs_.end() || std::find(own.begin(), own.end(), cookie) == own.end()) return out;
        auto* a = reinterpret_cast<optee_msg_arg*>(b->second);
        std::memset(a, 0, kRpcArg);
        // As OP-TEE's thread_rpc_cmd does: an RPC nobody answers (the mediator drops one naming
        // an RPC argument it does not know) must read as a failure, not as a success.
        a->ret = TEE_ERROR_GENERIC;
        trace("  sw: RPC CMD in %#llx", static_cast<unsigned long long>(cookie));
        c.cmd = r_.pick_or<uint32_t>({OPTEE_RPC_CMD_SHM_ALLOC, OPTEE_RPC_CMD_SHM_FREE,
                                      OPTEE_RPC_CMD_NOTIFICATION, OPTEE_RPC_CMD_GET_TIME,
                                      OPTEE_RPC_CMD_LOAD_TA},
                                     [&] { return r_.u32(); });
        a->cmd = c.cmd;
        a->num_params = r_.u8() % 16 == 15 ? r_.u32() : 1 + r_.u8() % 2;
        a->params[0].attr = r_.u8() % 8 == 7 ? r_.u64() : OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
        uint64_t v1 = r_.u32();
        // (Only a request with a param frees anything: the mediator, like OP-TEE's normal world,
        // reads the cookie from params[0], and a SHM_FREE without one names no buffer.)
        if (c.cmd == OPTEE_RPC_CMD_SHM_FREE && a->num_params >= 1 && !shm_cookies_.empty() &&
            r_.u8() % 4 != 3) {
          v1 = shm_cookies_.back();
          shm_cookies_.pop_back();
        }
        a->params[0].u.value = {r_.pick<uint64_t>({OPTEE_RPC_SHM_TYPE_APPL, OPTEE_RPC_SHM_TYPE_KERNEL, 2}),
                                c.cmd == OPTEE_RPC_CMD_SHM_ALLOC ? v1 % (64 * kPage) : v1, r_.u8()};
        c.cmd_arg = a;
        return out;
      }
      case 5:
        c.pending = OPTEE_SMC_RPC_FUNC_FOREIGN_INTR;
        out[0] = OPTEE_SMC_RETURN_RPC_FOREIGN_INTR;
        return out;
      default: {
        optee_msg_arg* a = c.arg;
        if (honest_) {
          a->ret = TEE_SUCCESS;
          a->ret_origin = TEE_ORIGIN_TEE;
          calls_.erase(id);
          out = {};
          out[0] = OPTEE_SMC_RETURN_OK;
          return out;
        }
        a->ret = r_.pick<uint32_t>({TEE_SUCCESS, TEE_SUCCESS, TEE_ERROR_BAD_PARAMETERS});
        a->ret_origin = TEE_ORIGIN_TRUSTED_APP;
        if (a->cmd == OPTEE_MSG_CMD_OPEN_SESSION) a->session = next_session_++;
        const uint32_t n = std::min<uint32_t>(a->num_params, 4);
        for (uint32_t i = 0; i < n; ++i)
          if (r_.u8() % 4 == 3) a->params[i].u.value = {r_.u64(), r_.u64(), r_.u64()};
        calls_.erase(id);
        out = {};
        out[0] = r_.u8() % 16 == 15 ? OPTEE_SMC_RETURN_EBADADDR : OPTEE_SMC_RETURN_OK;
        return out;
      }
    }
  }

  static constexpr uint32_t kThreads = 3;
  static constexpr uint64_t kRpcArg = optee_msg_get_arg_size(6);
  bool honest_ = false;  // the cleanup's calls complete without scripted failures
  hw::PhysMem& mem_;
  Reader& r_;
  std::map<uint32_t, Call> calls_;
  uint32_t next_id_ = 1;
  uint32_t next_session_ = 1;
  std::map<uint64_t, std::byte*> bufs_;  // RPC arguments the secure world holds (by cookie)
  std::vector<uint64_t> shm_cookies_;
};

// --- the guest ----------------------------------------------------------------------------------

enum Op : uint8_t {
  kOpFast,
  kOpStd,
  kOpOpen,
  kOpInvoke,
  kOpRegister,
  kOpUnregister,
  kOpResume,
  kOpGiveUp,   // the guest gives a page up (frees or unaliases it) whoever uses it
  kOpRewrite,  // the guest rewrites a parked call's argument or page list
  kOpCount
};

struct GPage {
  Pfn ipa = 0;
  std::byte* host = nullptr;
  uint64_t ipa_addr() const { return uint64_t{ipa} << 12; }
};

struct ClientBuf {
  std::byte* host = nullptr;
  size_t pages = 0;
  std::vector<Pfn> ipas;
  bool given_up = false;
};

struct Call {
  SmcRegs out;
  GPage arg;
  uint32_t cmd = 0;
  int steps = 0;
  uint32_t scripted = 0;
  bool blocked = false;
  uint64_t wait_key = 0;
  std::vector<GPage> lists;
  bool done() const { return !optee_smc_return_is_rpc(out.w(0)); }
  uint32_t func() const { return optee_smc_return_get_rpc_func(out.w(0)); }
};

class GuestWorld {
 public:
  explicit GuestWorld(Reader& r) : r_(r) {
    const uint8_t c = r.u8();
    real_os_ = c & 1;
    kill_at_end_ = (c >> 1) % 4 == 3;
    hw::PhysMemConfig pm;
    pm.static_shm_size = 0;
    pm.ns_dram_size = 32ull << 20;
    machine_ = hw::PhysMem::create(pm);
    if (!machine_) finding("PhysMem::create failed");
    if (real_os_) {
      tee::SecureOsConfig oc;
      oc.virtualization = true;
      oc.num_threads = 2;
      oc.thread_stack_size = 256 * 1024;
      os_ = std::make_unique<tee::SecureOs>(*machine_, stats_, loader_, oc);
    } else {
      fake_ = std::make_unique<FakeSecureWorld>(*machine_, r);
    }
    hw::SmcHandler& sw = real_os_ ? static_cast<hw::SmcHandler&>(*os_) : *fake_;
    mediator_ = std::make_unique<hyp::OpteeMediator>(*machine_, sw);
    std::string err;
    if (!mediator_->probe(&err)) finding("mediator probe: %s", err.c_str());
    gm_ = hw::GuestMemory::create(*machine_, 4096);
    if (!gm_) finding("GuestMemory::create failed");
    hyp::MediatorLimits limits;
    limits.max_buffer_pages = 600;
    limits.max_buffers = 32;
    limits.max_pinned_pages = 2048;
    if (!mediator_->add_guest(kGuest, *gm_, limits)) finding("add_guest refused");
    g_guest_frames.clear();
    SmcRegs in;
    in[0] = OPTEE_SMC_ENABLE_SHM_CACHE;
    smc(in);
  }

  ~GuestWorld() {
    if (!kill_at_end_) {
      drain();
      cleanup();
    }
    mediator_->stop_guest(kGuest);
    mediator_->remove_guest(kGuest);
    if (gm_->pinned_pages() != 0 || gm_->zombie_pages() != 0)
      finding("after remove_guest: %lld guest pages pinned, %lld zombies",
              static_cast<long long>(gm_->pinned_pages()), static_cast<long long>(gm_->zombie_pages()));
    if (os_ && os_->audit().partitions != 0) finding("the guest's partition outlives VM_DESTROYED");
    for (auto& b : clients_) {
      if (!b->given_up) gm_->unalias_pages(b->ipas);
    }
    gm_.reset();
    for (auto& b : clients_) std::free(b->host);
    mediator_.reset();
    os_.reset();
    fake_.reset();
    if (machine_->ns_pages_in_use() != 0 || machine_->frames_aliased() != 0)
      finding("after the guest is gone: %lld machine pages, %lld aliased frames left",
              static_cast<long long>(machine_->ns_pages_in_use()),
              static_cast<long long>(machine_->frames_aliased()));
  }

  void op() {
    switch (r_.below(kOpCount)) {
      case kOpFast: op_fast(); break;
      case kOpStd: op_std(); break;
      case kOpOpen: op_open(); break;
      case kOpInvoke: op_invoke(); break;
      case kOpRegister: op_register(); break;
      case kOpUnregister: op_unregister(); break;
      case kOpResume: op_resume(); break;
      case kOpGiveUp: op_give_up(); break;
      case kOpRewrite: op_rewrite(); break;
      default: break;
    }
  }

 private:
  SmcRegs smc(const SmcRegs& in) { return mediator_->handle(kGuest, in); }

  // --- guest memory ---
  GPage page() {
    auto ipa = gm_->alloc_page();
    if (!ipa) return {};
    GPage p{*ipa, gm_->frame_host(*ipa)};
    if (auto m = gm_->translate(*ipa)) g_guest_frames.insert(*m);
    pages_.push_back(p);
    return p;
  }
  ClientBuf* client(Reader& r) {
    if (!clients_.empty() && (clients_.size() >= 6 || r.flag()))
      return clients_[r.below(static_cast<uint32_t>(clients_.size()))].get();
    auto b = std::make_unique<ClientBuf>();
    b->pages = r.pick<size_t>({1, 2, 3, 5});
    b->host = static_cast<std::byte*>(std::aligned_alloc(kPage, b->pages * kPage));
    std::memset(b->host, 0x33, b->pages * kPage);
    b->ipas.resize(b->pages);
    if (!gm_->alias_pages(reinterpret_cast<uintptr_t>(b->host), b->ipas)) {
      std::free(b->host);
      return nullptr;
    }
    for (Pfn ipa : b->ipas)
      if (auto m = gm_->translate(ipa)) g_guest_frames.insert(*m);
    clients_.push_back(std::move(b));
    return clients_.back().get();
  }
  uint64_t bad_ipa() {
    switch (r_.u8() % 6) {
      case 0: return 0;
      case 1: return pages_.empty() ? 1 : pages_[0].ipa_addr() + 8;       // unaligned
      case 2: return uint64_t{hw::GuestMemory::kFirstIpaPfn - 1} << 12;    // below guest RAM
      case 3: return (uint64_t{hw::GuestMemory::kFirstIpaPfn} + hw::GuestMemory::kIpaWindow) << 12;
      case 4: return machine_->secure_dram_base().value;                   // a machine address
      default: return r_.u64();
    }
  }
  // A NONCONTIG list of `ipas` in guest pages, maybe corrupted; buf_ptr in *ptr (IPA | offset).
  std::vector<GPage> page_list(Reader& r, const std::vector<uint64_t>& entries, uint32_t offset,
                               uint64_t* ptr) {
    const size_t count = std::max<size_t>(1, (entries.size() + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage);
    std::vector<GPage> lp;
    for (size_t i = 0; i < count; ++i) {
      GPage p = page();
      if (p.host == nullptr) return {};
      lp.push_back(p);
    }
    size_t idx = 0;
    for (size_t l = 0; l < count; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(lp[l].host);
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < entries.size(); ++e)
        pg->pages_list[e] = entries[idx++];
      if (l + 1 < count) pg->next_page_data = lp[l + 1].ipa_addr();
    }
    switch (r.u8() % 8) {
      case 6:
        reinterpret_cast<optee_page_list_page*>(lp[0].host)
            ->pages_list[r.below(static_cast<uint32_t>(std::min(entries.size(), kPageListEntriesPerPage)))] = bad_ipa();
        break;
      case 7:
        reinterpret_cast<optee_page_list_page*>(lp.back().host)->next_page_data =
            r.flag() ? lp.back().ipa_addr() : bad_ipa();
        break;
      default: break;
    }
    *ptr = lp[0].ipa_addr() | offset;
    return lp;
  }
  uint64_t size_for(uint64_t natural) {
    switch (r_.u8() % 10) {
      case 5: return 0;
      case 6: return natural + 1;
      case 7: return r_.u32();
      case 8: return r_.u64();
      default: return natural;
    }
  }
  uint64_t cookie_for() {
    switch (r_.u8() % 4) {
      case 1:
        if (!registered_.empty())
          return std::next(registered_.begin(), r_.below(static_cast<uint32_t>(registered_.size())))->first;
        return next_cookie_++;
      case 2: return r_.u64();
      default: return next_cookie_++;
    }
  }
  void fill_param(optee_msg_param& p, std::vector<GPage>& lists) {
    std::memset(&p, 0, sizeof(p));
    switch (r_.u8() % 7) {
      case 0: break;
      case 1:
        p.attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + r_.u8() % 3;
        p.u.value = {r_.u32(), r_.u32(), r_.u32()};
        break;
      case 2:
      case 3: {
        p.attr = (OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + r_.u8() % 3) | OPTEE_MSG_ATTR_NONCONTIG;
        ClientBuf* b = client(r_);
        if (b == nullptr) break;
        std::vector<uint64_t> e;
        for (Pfn ipa : b->ipas) e.push_back(uint64_t{ipa} << 12);
        const uint32_t off = r_.u8() % 4 == 3 ? r_.u16() & 0xfff : 0;
        uint64_t ptr = 0;
        auto lp = page_list(r_, e, off, &ptr);
        lists.insert(lists.end(), lp.begin(), lp.end());
        p.u.tmem = {ptr, size_for(b->pages * kPage - off), cookie_for()};
        break;
      }
      case 4:  // contiguous TMEM naming guest "physical" memory: the mediator must refuse it
        p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + r_.u8() % 3;
        p.u.tmem = {pages_.empty() ? bad_ipa() : pages_[0].ipa_addr(), r_.u16(), cookie_for()};
        break;
      case 5:
        p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT + r_.u8() % 3;
        p.u.rmem = {size_for(0), size_for(kPage), cookie_for()};
        break;
      default:
        p.attr = r_.u64();
        p.u.value = {r_.u64(), r_.u64(), r_.u64()};
        break;
    }
  }

  // --- calls ---
  void issue(optee_msg_arg hdr, std::vector<optee_msg_param> params, std::vector<GPage> lists) {
    // The shm-test TA's WAIT_CANCEL waits value.a ms, which the secure OS measures on its own
    // clock (answering its timed waits early only makes it wait again): a few ms at most, as in
    // the secure_entry target, or one input runs for minutes.
    if (hdr.cmd == OPTEE_MSG_CMD_INVOKE_COMMAND && hdr.func == TA_SHM_TEST_CMD_WAIT_CANCEL)
      for (auto& p : params) {
        const uint64_t type = p.attr & OPTEE_MSG_ATTR_TYPE_MASK;
        if (type >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && type <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT)
          p.u.value.a &= 3;
      }
    auto c = std::make_unique<Call>();
    c->arg = page();
    if (c->arg.host == nullptr) return;
    c->cmd = hdr.cmd;
    c->lists = std::move(lists);
    std::memcpy(c->arg.host, &hdr, sizeof(hdr));
    if (!params.empty())
      std::memcpy(c->arg.host + sizeof(hdr), params.data(),
                  std::min<size_t>(params.size(), 127) * sizeof(optee_msg_param));
    if (hdr.cmd == OPTEE_MSG_CMD_OPEN_SESSION) ++opens_;
    if (hdr.cmd == OPTEE_MSG_CMD_REGISTER_SHM)
      for (const auto& p : params) ++registered_[p.u.tmem.shm_ref];
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_WITH_ARG;
    const uint64_t where = r_.u8() % 16 == 15 ? bad_ipa() : c->arg.ipa_addr();
    reg_pair_from_64(where, in[1], in[2]);
    in[7] = r_.u8() % 16 == 15 ? r_.u32() : 0;  // the guest cannot choose its id
    c->scripted = r_.u8();
    trace("std call cmd=%u n=%u", hdr.cmd, hdr.num_params);
    c->out = smc(in);
    run(std::move(c), r_, true);
  }

  void run(std::unique_ptr<Call> c, Reader& r, bool may_park) {
    while (!c->done()) {
      if (++c->steps > kMaxSteps) finding("a std call still issues RPCs after %d answers", kMaxSteps);
      const bool lying = c->steps <= kMaxLyingSteps && c->scripted != 0 && !r.empty();
      if (lying) --c->scripted;
      if (may_park && lying && parked_.size() <= 3 && r.u8() % 8 == 7) {
        parked_.push_back(std::move(c));
        return;
      }
      if (!step(*c, r, lying)) {
        parked_.push_back(std::move(c));
        return;
      }
    }
    trace("  done a0=%#x", c->out.w(0));
    if (c->out.w(0) == OPTEE_SMC_RETURN_OK && c->cmd == OPTEE_MSG_CMD_OPEN_SESSION) {
      auto* a = reinterpret_cast<optee_msg_arg*>(c->arg.host);
      if (a->ret == TEE_SUCCESS) sessions_.insert(a->session);
    }
  }

  optee_msg_arg* rpc_arg(uint64_t cookie) {
    auto it = rpc_args_.find(cookie);
    return it == rpc_args_.end() ? nullptr : reinterpret_cast<optee_msg_arg*>(it->second.host);
  }

  bool step(Call& c, Reader& r, bool lying) {
    SmcRegs reply;
    reply[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
    reply[1] = c.out.w(1);
    reply[2] = c.out.w(2);
    reply[3] = c.out.w(3);
    const uint32_t lie = lying && r.u8() % 4 == 3 ? 1 + r.u8() % 6 : 0;
    switch (c.func()) {
      case OPTEE_SMC_RPC_FUNC_ALLOC: {
        const uint64_t cookie = lie == 2 && !rpc_args_.empty() ? rpc_args_.begin()->first : next_cookie_++;
        uint64_t ipa = 0;
        if (lie == 1) {
          ipa = bad_ipa();
        } else {
          GPage p = page();
          if (p.host != nullptr) {
            ipa = p.ipa_addr();
            if (lie != 2) rpc_args_[cookie] = p;
          }
        }
        reg_pair_from_64(ipa, reply[1], reply[2]);
        reg_pair_from_64(cookie, reply[4], reply[5]);
        break;
      }
      case OPTEE_SMC_RPC_FUNC_FREE: rpc_args_.erase(reg_pair_to_64(c.out[1], c.out[2])); break;
      case OPTEE_SMC_RPC_FUNC_CMD: {
        optee_msg_arg* a = rpc_arg(reg_pair_to_64(c.out[1], c.out[2]));
        if (a == nullptr) break;
        if (a->cmd == OPTEE_RPC_CMD_NOTIFICATION && a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_WAIT &&
            lie == 0) {
          const uint64_t key = a->params[0].u.value.b;
          if (pending_[key] > 0) {
            --pending_[key];
            a->ret = TEE_SUCCESS;
          } else if (a->params[0].u.value.c != 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(a->params[0].u.value.c, 4)));
            a->ret = TEE_ERROR_TIMEOUT;
          } else {
            c.blocked = true;
            c.wait_key = key;
            return false;
          }
        } else {
          serve_cmd(*a, lie);
        }
        break;
      }
      default: break;
    }
    if (lie == 6) {
      // Another thread's id, one no call of this guest waits on: resuming one of its own
      // parked threads is the guest's right (the mediator passes it on), and the harness would
      // lose track of both calls.
      const uint32_t other = c.out.w(3) + 1 + r.u8() % 3;
      bool parked_there = false;
      for (const auto& p : parked_) parked_there |= !p->done() && p->out.w(3) == other;
      if (!parked_there) reply[3] = other;
    }
    const uint32_t thread = c.out.w(3);
    c.out = smc(reply);
    if (lie == 6 && c.out.w(0) == OPTEE_SMC_RETURN_ERESUME) {
      reply[3] = thread;  // then the right one
      c.out = smc(reply);
    }
    return true;
  }

  void serve_cmd(optee_msg_arg& a, uint32_t lie) {
    switch (a.cmd) {
      case OPTEE_RPC_CMD_SHM_ALLOC: {
        const uint64_t size = a.params[0].u.value.b;
        const size_t pages = std::min<uint64_t>(64, std::max<uint64_t>(1, (size + kPage - 1) / kPage));
        std::vector<uint64_t> entries;
        std::vector<GPage> data;
        for (size_t i = 0; i < pages; ++i) {
          GPage p = page();
          if (p.host == nullptr) break;
          data.push_back(p);
          entries.push_back(p.ipa_addr());
        }
        if (entries.empty()) {
          a.ret = TEE_ERROR_OUT_OF_MEMORY;
          break;
        }
        Reader quiet(nullptr, 0);
        uint64_t ptr = 0;
        auto lists = page_list(lie == 1 ? r_ : quiet, entries, 0, &ptr);
        const uint64_t cookie = lie == 2 && !shm_.empty() ? shm_.begin()->first : next_cookie_++;
        a.params[0].attr = lie == 3 ? OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT
                                    : OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
        a.params[0].u.tmem = {lie == 3 ? data[0].ipa_addr() : ptr, lie == 4 ? size / 2 : size, cookie};
        a.num_params = lie == 5 ? 3 : 1;
        a.ret = TEE_SUCCESS;
        shm_[cookie] = data;
        break;
      }
      case OPTEE_RPC_CMD_SHM_FREE: shm_.erase(a.params[0].u.value.b); a.ret = TEE_SUCCESS; break;
      case OPTEE_RPC_CMD_NOTIFICATION:
        if (a.params[0].u.value.a == OPTEE_RPC_NOTIFICATION_SEND) ++pending_[a.params[0].u.value.b];
        a.ret = TEE_SUCCESS;
        break;
      case OPTEE_RPC_CMD_LOAD_TA: serve_load_ta(a); break;
      default: a.ret = TEE_ERROR_NOT_SUPPORTED; break;
    }
    if (lie == 4 && a.cmd != OPTEE_RPC_CMD_SHM_ALLOC) a.ret = r_.u32();
  }

  void serve_load_ta(optee_msg_arg& a) {
    Uuid u;
    std::memcpy(u.octets, &a.params[0].u.value.a, 8);
    std::memcpy(u.octets + 8, &a.params[0].u.value.b, 8);
    if (!(u == kShmTa)) {
      a.ret = TEE_ERROR_ITEM_NOT_FOUND;
      return;
    }
    const uint64_t type = a.params[1].attr & OPTEE_MSG_ATTR_TYPE_MASK;
    a.params[1].u.tmem.size = g_ta_image.size();
    if (type != OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT) {
      a.ret = TEE_SUCCESS;  // a size query
      return;
    }
    auto it = shm_.find(a.params[1].u.rmem.shm_ref);
    if (it == shm_.end() || it->second.size() * kPage < g_ta_image.size()) {
      a.ret = TEE_ERROR_SHORT_BUFFER;
      return;
    }
    for (size_t off = 0; off < g_ta_image.size(); off += kPage)
      std::memcpy(it->second[off / kPage].host, g_ta_image.data() + off,
                  std::min<size_t>(kPage, g_ta_image.size() - off));
    a.ret = TEE_SUCCESS;
  }

  void drain() {
    Reader none(nullptr, 0);
    while (!parked_.empty()) {
      auto it = std::find_if(parked_.begin(), parked_.end(), [&](const std::unique_ptr<Call>& c) {
        return !c->blocked || pending_[c->wait_key] > 0;
      });
      if (it == parked_.end()) {
        // Whatever waits here waits for a wake-up nobody will send: only destroying the guest
        // ends it (the known self-unregistration case of the secure OS target is one way).
        kill_at_end_ = true;
        return;
      }
      std::unique_ptr<Call> c = std::move(*it);
      parked_.erase(it);
      c->blocked = false;
      run(std::move(c), none, false);
    }
  }

  void simple(uint32_t cmd, uint32_t session, const optee_msg_param* p) {
    auto c = std::make_unique<Call>();
    c->arg = page();
    if (c->arg.host == nullptr) return;
    auto* a = reinterpret_cast<optee_msg_arg*>(c->arg.host);
    a->cmd = cmd;
    a->session = session;
    a->num_params = p != nullptr ? 1 : 0;
    if (p != nullptr) a->params[0] = *p;
    c->cmd = cmd;
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_WITH_ARG;
    reg_pair_from_64(c->arg.ipa_addr(), in[1], in[2]);
    c->out = smc(in);
    Reader none(nullptr, 0);
    run(std::move(c), none, false);
    drain();
  }

  void cleanup() {
    if (fake_) fake_->be_honest();
    for (uint32_t s = 1; s <= opens_ + 1 && !kill_at_end_; ++s) simple(OPTEE_MSG_CMD_CLOSE_SESSION, s, nullptr);
    for (auto [cookie, n] : registered_) {
      optee_msg_param p{};
      p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
      p.u.rmem = {0, 0, cookie};
      for (uint32_t i = 0; i < n && !kill_at_end_; ++i) simple(OPTEE_MSG_CMD_UNREGISTER_SHM, 0, &p);
    }
    if (kill_at_end_) return;
    // Every cached RPC argument comes back, one per DISABLE_SHM_CACHE (the fake secure world
    // may have allocated hundreds: 32 per call).
    for (int i = 0;; ++i) {
      if (i > 1 << 16) finding("DISABLE_SHM_CACHE never ends");
      SmcRegs in;
      in[0] = OPTEE_SMC_DISABLE_SHM_CACHE;
      SmcRegs out = smc(in);
      if (out.w(0) != OPTEE_SMC_RETURN_OK) break;
      rpc_args_.erase(reg_pair_to_64(out[1], out[2]));
    }
    auto a = mediator_->audit(kGuest);
    // The fake secure world may keep SHM_ALLOC buffers (pinned until it frees them); the secure
    // OS frees every one before its call ends.
    const size_t held = fake_ ? fake_->held_buffers() : 0;
    if ((held == 0 && a.pinned_pages != 0) || a.buffers != held || a.rpc_args != 0 || a.calls != 0)
      finding("mediator holds guest state after cleanup: pinned=%lld buffers=%zu rpc_args=%zu calls=%zu",
              static_cast<long long>(a.pinned_pages), a.buffers, a.rpc_args, a.calls);
  }

  // --- ops ---
  void op_fast() {
    SmcRegs in;
    in[0] = r_.pick_or<uint32_t>({OPTEE_SMC_CALLS_COUNT, OPTEE_SMC_CALLS_UID, OPTEE_SMC_CALLS_REVISION,
                                  OPTEE_SMC_CALL_GET_OS_UUID, OPTEE_SMC_GET_SHM_CONFIG,
                                  OPTEE_SMC_EXCHANGE_CAPABILITIES, OPTEE_SMC_DISABLE_SHM_CACHE,
                                  OPTEE_SMC_ENABLE_SHM_CACHE, OPTEE_SMC_VM_CREATED, OPTEE_SMC_VM_DESTROYED,
                                  OPTEE_SMC_GET_THREAD_COUNT, OPTEE_SMC_CALL_WITH_RPC_ARG,
                                  OPTEE_SMC_CALL_WITH_REGD_ARG, OPTEE_SMC_CALL_RETURN_FROM_RPC},
                                 [&] { return r_.u32(); });
    for (int i = 1; i < 8; ++i) in[i] = r_.u8() % 4 == 3 ? r_.u64() : r_.u8() % 4;
    SmcRegs out = smc(in);
    trace("fast %#x -> %#x", in.w(0), out.w(0));
    if (in.w(0) == OPTEE_SMC_DISABLE_SHM_CACHE && out.w(0) == OPTEE_SMC_RETURN_OK)
      rpc_args_.erase(reg_pair_to_64(out[1], out[2]));
    // A raw RETURN_FROM_RPC may move a parked call on.
    if (in.w(0) == OPTEE_SMC_CALL_RETURN_FROM_RPC &&
        (optee_smc_return_is_rpc(out.w(0)) || out.w(0) == OPTEE_SMC_RETURN_OK)) {
      for (auto it = parked_.begin(); it != parked_.end(); ++it)
        if ((*it)->out.w(3) == in.w(3)) {
          (*it)->out = out;
          (*it)->blocked = false;
          if ((*it)->done()) parked_.erase(it);
          break;
        }
    }
  }
  uint32_t some_session() {
    if (!sessions_.empty() && r_.u8() % 4 != 3)
      return *std::next(sessions_.begin(), r_.below(static_cast<uint32_t>(sessions_.size())));
    return r_.u8();
  }
  void op_std() {
    optee_msg_arg hdr{};
    hdr.cmd = r_.pick_or<uint32_t>({OPTEE_MSG_CMD_OPEN_SESSION, OPTEE_MSG_CMD_INVOKE_COMMAND,
                                    OPTEE_MSG_CMD_CLOSE_SESSION, OPTEE_MSG_CMD_CANCEL,
                                    OPTEE_MSG_CMD_REGISTER_SHM, OPTEE_MSG_CMD_UNREGISTER_SHM,
                                    OPTEE_MSG_CMD_DO_BOTTOM_HALF},
                                   [&] { return r_.u32(); });
    hdr.func = r_.u8() % 8;
    hdr.session = some_session();
    const uint32_t n = r_.u8() % 6;
    hdr.num_params = r_.u8() % 16 == 15 ? r_.pick<uint32_t>({127, 128, 0xffffffff}) : n;
    std::vector<optee_msg_param> params(n);
    std::vector<GPage> lists;
    for (auto& p : params) fill_param(p, lists);
    issue(hdr, params, std::move(lists));
  }
  void op_open() {
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_OPEN_SESSION;
    const uint32_t extra = r_.u8() % 3;
    hdr.num_params = 2 + extra;
    std::vector<optee_msg_param> params(hdr.num_params);
    params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
    params[0].u.value = {uuid_word(kShmTa, 0), uuid_word(kShmTa, 1), 0};
    params[1].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
    params[1].u.value = {0, 0, OPTEE_MSG_LOGIN_PUBLIC};
    std::vector<GPage> lists;
    for (uint32_t i = 2; i < hdr.num_params; ++i) fill_param(params[i], lists);
    issue(hdr, params, std::move(lists));
  }
  void op_invoke() {
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
    hdr.session = some_session();
    hdr.func = r_.pick<uint32_t>({TA_SHM_TEST_CMD_SUM, TA_SHM_TEST_CMD_FILL, TA_SHM_TEST_CMD_INC,
                                  TA_SHM_TEST_CMD_XOR, TA_SHM_TEST_CMD_PANIC});
    hdr.num_params = r_.u8() % 5;
    std::vector<optee_msg_param> params(hdr.num_params);
    std::vector<GPage> lists;
    for (auto& p : params) fill_param(p, lists);
    issue(hdr, params, std::move(lists));
  }
  void op_register() {
    ClientBuf* b = client(r_);
    if (b == nullptr) return;
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_REGISTER_SHM;
    hdr.num_params = 1;
    std::vector<optee_msg_param> params(1);
    std::vector<uint64_t> e;
    for (Pfn ipa : b->ipas) e.push_back(uint64_t{ipa} << 12);
    uint64_t ptr = 0;
    auto lists = page_list(r_, e, 0, &ptr);
    params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
    params[0].u.tmem = {ptr, size_for(b->pages * kPage), cookie_for()};
    issue(hdr, params, std::move(lists));
  }
  void op_unregister() {
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_UNREGISTER_SHM;
    hdr.num_params = 1;
    std::vector<optee_msg_param> params(1);
    params[0].attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    params[0].u.rmem = {0, 0, cookie_for()};
    issue(hdr, params, {});
  }
  void op_resume() {
    if (parked_.empty()) return;
    const uint32_t i = r_.below(static_cast<uint32_t>(parked_.size()));
    if (parked_[i]->blocked && pending_[parked_[i]->wait_key] == 0) return;
    std::unique_ptr<Call> c = std::move(parked_[i]);
    parked_.erase(parked_.begin() + i);
    c->blocked = false;
    c->scripted = r_.u8();
    run(std::move(c), r_, true);
  }
  void op_give_up() {
    if (!clients_.empty() && r_.flag()) {
      ClientBuf& b = *clients_[r_.below(static_cast<uint32_t>(clients_.size()))];
      if (!b.given_up) {
        gm_->unalias_pages(b.ipas);  // the process unmapped it; pins keep the frames
        b.given_up = true;
      }
      return;
    }
    if (pages_.empty()) return;
    const uint32_t i = r_.below(static_cast<uint32_t>(pages_.size()));
    gm_->free_page(pages_[i].ipa);
    // The host page may now be a zombie of a pin: the guest no longer writes it.
    pages_.erase(pages_.begin() + i);
  }
  void op_rewrite() {
    if (parked_.empty()) return;
    Call& c = *parked_[r_.below(static_cast<uint32_t>(parked_.size()))];
    GPage target = c.arg;
    if (!c.lists.empty() && r_.flag()) target = c.lists[r_.below(static_cast<uint32_t>(c.lists.size()))];
    // Only pages the guest still owns.
    if (std::none_of(pages_.begin(), pages_.end(), [&](const GPage& p) { return p.ipa == target.ipa; }))
      return;
    const uint64_t off = (r_.u16() % kPage) & ~uint64_t{7};
    const uint64_t v = r_.flag() ? r_.u64() : bad_ipa();
    std::memcpy(target.host + off, &v, 8);
  }

  Reader& r_;
  bool real_os_ = false;
  bool kill_at_end_ = false;
  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> machine_;
  ta_runtime::DlTaLoader loader_;
  std::unique_ptr<tee::SecureOs> os_;
  std::unique_ptr<FakeSecureWorld> fake_;
  std::unique_ptr<hyp::OpteeMediator> mediator_;
  std::unique_ptr<hw::GuestMemory> gm_;
  std::vector<GPage> pages_;
  std::vector<std::unique_ptr<ClientBuf>> clients_;
  std::map<uint64_t, GPage> rpc_args_;
  std::map<uint64_t, std::vector<GPage>> shm_;
  std::map<uint64_t, uint32_t> pending_;
  std::vector<std::unique_ptr<Call>> parked_;
  std::set<uint32_t> sessions_;
  std::map<uint64_t, uint32_t> registered_;
  uint32_t opens_ = 0;
  uint64_t next_cookie_ = 0x5000;
};

}  // namespace

void init() {
  g_ta_image = read_file(ta_dir() + "/f9b9acc0-806d-415c-bade-7aecc600e80f.ta");
  if (g_ta_image.empty()) finding("no shm-test TA in %s (TEEMU_FUZZ_TA_DIR)", ta_dir().c_str());
}

// Seeds: a guest's happy paths, against the fake secure world and against the secure OS.
Seeds seeds() {
  Seeds s;
  for (uint8_t os : {0, 1}) {
    const std::string tag = os ? "-secure-os" : "-fake";
    {  // OPEN_SESSION (the secure OS loads the TA through RPCs), INC, then cleanup
      Writer w;
      w.u8(os);
      w.u8(kOpOpen).u8(0).u8(0).u8(0).u8(0);
      w.u8(kOpInvoke).u8(0).u8(0).u8(2).u8(1).u8(1).u8(2).u32(5).u32(6).u32(7).u8(0).u8(0).u8(0);
      s.push_back({"open-invoke" + tag, w.data()});
    }
    {  // REGISTER a 2-page buffer, SUM over it by reference, UNREGISTER
      Writer w;
      w.u8(os);
      w.u8(kOpRegister).u8(2).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0);
      w.u8(kOpOpen).u8(0).u8(0).u8(0).u8(0);
      w.u8(kOpInvoke).u8(0).u8(0).u8(0).u8(2).u8(5).u8(0).u8(0).u8(0).u8(1).u8(0);
      w.u8(1).u8(1).u32(0).u32(0).u32(0).u8(0).u8(0).u8(0);
      w.u8(kOpUnregister).u8(1).u8(0).u8(0).u8(0).u8(0);
      s.push_back({"register-sum" + tag, w.data()});
    }
    {  // a temporary NONCONTIG memref, and the guest destroyed at the end
      Writer w;
      w.u8(static_cast<uint8_t>(os | 6));
      w.u8(kOpOpen).u8(1).u8(2).u8(3).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0);
      s.push_back({"noncontig-kill" + tag, w.data()});
    }
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  Reader r(data, size);
  GuestWorld g(r);
  for (int i = 0; i < kMaxOps && !r.empty(); ++i) g.op();
  return 0;
}
