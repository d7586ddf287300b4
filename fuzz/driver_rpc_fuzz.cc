// Fuzz target (d): a hostile secure world -> the OP-TEE driver's RPC handling (ree::Kernel with
// its optee::Driver, and tee-supplicant behind it).
//
// The kernel boots over a fake secure world (like tests/driver_rpc_test.cc's, but a synchronous
// state machine, so one input is one deterministic program): it answers the probe like OP-TEE,
// and every std call the driver makes runs a script read from the input, step by step: RPC
// ALLOC / FREE / FOREIGN_INTR / unknown functions, RPC CMD requests (GET_TIME, NOTIFICATION,
// SUSPEND, SHM_ALLOC, SHM_FREE and everything tee-supplicant serves: LOAD_TA, FS, ...) with
// argument buffers, params, cookies and counts chosen by the input, then a result with any
// output fields. The client side is a process making ioctls (sessions, invokes with values and
// memrefs, shared memory) so that the driver has calls to run the scripts in.
//
// Oracles besides the sanitizers: the driver writes the result of every RPC command (a request
// it leaves untouched is a finding); page lists it sends name only non-secure RAM; once the
// client closed everything the kernel holds no client file, mapping, shm or session; and once
// the kernel is gone, no normal-world page or aliased frame is left (everything the secure world
// still held was given back).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "abi/tee_uapi.h"
#include "common.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hw/smc.h"
#include "ree/kernel.h"
#include "supplicant/supplicant.h"

namespace teemu::fuzz {
namespace {

using namespace teemu::abi;  // NOLINT: the ABI names are this file's vocabulary

constexpr uint64_t kPage = 4096;
constexpr int kMaxOps = 24;
constexpr int kMaxSteps = 48;  // RPCs per std call before the script must end it
constexpr uint32_t kPoison = 0x5a5a5a5a;
constexpr uint8_t kShmTa[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};
constexpr uint32_t kArenaPages = 8;

uint8_t* g_arena = nullptr;
std::string g_ta_dir;
std::string g_storage_dir;

// --- the fake secure world --------------------------------------------------------------------

struct RpcBuf {
  uint64_t pa = 0;
  std::byte* host = nullptr;
  uint64_t size = 0;
};

class FakeSecureWorld : public hw::SmcHandler {
 public:
  FakeSecureWorld(hw::PhysMem& mem, Reader& r, uint32_t caps) : mem_(mem), r_(r), caps_(caps) {}

  SmcRegs smc(const SmcRegs& in) override {
    const uint32_t f = in.w(0);
    if (f & OPTEE_SMC_FAST_CALL) return fast_call(in);
    if (f == OPTEE_SMC_CALL_WITH_ARG) return start(in);
    if (f == OPTEE_SMC_CALL_RETURN_FROM_RPC) return resume(in);
    SmcRegs out;
    out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
    return out;
  }

  bool in_call() const { return call_.active; }

 private:
  SmcRegs fast_call(const SmcRegs& in) {
    SmcRegs out;
    switch (in.w(0)) {
      case OPTEE_SMC_CALLS_UID:
        out[0] = OPTEE_MSG_UID_0;
        out[1] = OPTEE_MSG_UID_1;
        out[2] = OPTEE_MSG_UID_2;
        out[3] = OPTEE_MSG_UID_3;
        break;
      case OPTEE_SMC_CALL_GET_OS_REVISION: out[0] = 3; out[1] = 22; break;
      case OPTEE_SMC_CALLS_REVISION: out[0] = OPTEE_MSG_REVISION_MAJOR; break;
      case OPTEE_SMC_EXCHANGE_CAPABILITIES: out[0] = OPTEE_SMC_RETURN_OK; out[1] = caps_; break;
      case OPTEE_SMC_GET_SHM_CONFIG:
        if (mem_.static_shm_size() == 0) {
          out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
        } else {
          out[0] = OPTEE_SMC_RETURN_OK;
          out[1] = mem_.static_shm_base().value;
          out[2] = mem_.static_shm_size();
          out[3] = OPTEE_SMC_SHM_CACHED;
        }
        break;
      case OPTEE_SMC_ENABLE_SHM_CACHE: out[0] = OPTEE_SMC_RETURN_OK; break;
      case OPTEE_SMC_DISABLE_SHM_CACHE:
        // Everything the secure world still holds from RPC ALLOC goes back, as its cache does.
        if (bufs_.empty()) {
          out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
        } else {
          out[0] = OPTEE_SMC_RETURN_OK;
          reg_pair_from_64(bufs_.begin()->first, out[1], out[2]);
          bufs_.erase(bufs_.begin());
        }
        break;
      default: out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION; break;
    }
    return out;
  }

  SmcRegs start(const SmcRegs& in) {
    if (call_.active) finding("driver started a std call while another is inside the fake");
    const uint64_t pa = reg_pair_to_64(in[1], in[2]);
    auto* arg = reinterpret_cast<optee_msg_arg*>(mem_.ns_range(PhysAddr{pa}, kPage));
    if (arg == nullptr) arg = reinterpret_cast<optee_msg_arg*>(mem_.ns_range(PhysAddr{pa}, 32));
    if (arg == nullptr) finding("driver passed a message argument at %#llx, not in normal-world RAM",
                                static_cast<unsigned long long>(pa));
    call_ = {};
    call_.active = true;
    call_.arg = arg;
    check_message(*arg);
    return next_step();
  }

  // The driver's own messages must be well formed: page lists name only non-secure RAM.
  void check_message(const optee_msg_arg& a) {
    const uint32_t n = std::min<uint32_t>(a.num_params, 6);
    for (uint32_t i = 0; i < n; ++i) {
      const optee_msg_param& p = a.params[i];
      const uint64_t type = p.attr & OPTEE_MSG_ATTR_TYPE_MASK;
      if (type < OPTEE_MSG_ATTR_TYPE_TMEM_INPUT || type > OPTEE_MSG_ATTR_TYPE_TMEM_INOUT) continue;
      if (!(p.attr & OPTEE_MSG_ATTR_NONCONTIG) || p.u.tmem.buf_ptr == 0) continue;
      const uint64_t pages = (p.u.tmem.size + (p.u.tmem.buf_ptr & 0xfff) + kPage - 1) / kPage;
      uint64_t list = p.u.tmem.buf_ptr & ~(kPage - 1);
      for (uint64_t e = 0; e < pages; ++e) {
        if (e % kPageListEntriesPerPage == 0 && e != 0)
          list = reinterpret_cast<optee_page_list_page*>(mem_.ns_range(PhysAddr{list}, kPage))
                     ->next_page_data;
        auto* lp = reinterpret_cast<optee_page_list_page*>(mem_.ns_range(PhysAddr{list}, kPage));
        if (lp == nullptr) finding("driver's page list page %#llx is not normal-world RAM",
                                   static_cast<unsigned long long>(list));
        const uint64_t entry = lp->pages_list[e % kPageListEntriesPerPage];
        if ((entry & (kPage - 1)) != 0 || (entry >> 12) > UINT32_MAX ||
            !mem_.is_nonsecure_ram(pa_to_pfn(PhysAddr{entry})))
          finding("driver's page list entry %#llx is not normal-world RAM",
                  static_cast<unsigned long long>(entry));
      }
    }
  }

  SmcRegs resume(const SmcRegs& in) {
    SmcRegs out;
    if (!call_.active || in.w(3) != kThreadId) {
      out[0] = OPTEE_SMC_RETURN_ERESUME;
      return out;
    }
    // What the last RPC got back.
    switch (call_.pending) {
      case OPTEE_SMC_RPC_FUNC_ALLOC: {
        const uint64_t pa = reg_pair_to_64(in[1], in[2]);
        const uint64_t cookie = reg_pair_to_64(in[4], in[5]);
        if (pa != 0) {
          std::byte* host = mem_.ns_range(PhysAddr{pa}, call_.alloc_size);
          if (host == nullptr)
            finding("RPC ALLOC answered with %#llx, not normal-world RAM",
                    static_cast<unsigned long long>(pa));
          if (bufs_.count(cookie)) finding("RPC ALLOC answered with a cookie already in use");
          bufs_[cookie] = {pa, host, call_.alloc_size};
        }
        break;
      }
      case OPTEE_SMC_RPC_FUNC_CMD:
        if (call_.cmd_arg != nullptr) {
          const uint32_t ret = call_.cmd_arg->ret;
          trace("  rpc cmd %u -> ret %#x", call_.cmd, ret);
          if (ret == kPoison) finding("driver left RPC command %u unanswered", call_.cmd);
          // Remember buffers the normal world gave us with SHM_ALLOC.
          if (call_.cmd == OPTEE_RPC_CMD_SHM_ALLOC && ret == TEE_SUCCESS)
            shm_cookies_.push_back({call_.shm_type, call_.cmd_arg->params[0].u.tmem.shm_ref,
                                    call_.cmd_arg->params[0].u.tmem.size});
        }
        break;
      default: break;
    }
    call_.pending = ~0u;
    return next_step();
  }

  uint64_t some_cookie() {
    if (!bufs_.empty() && r_.u8() % 8 != 7)
      return std::next(bufs_.begin(), r_.below(static_cast<uint32_t>(bufs_.size())))->first;
    if (!shm_cookies_.empty() && r_.flag())
      return shm_cookies_[r_.below(static_cast<uint32_t>(shm_cookies_.size()))].cookie;
    return r_.flag() ? r_.u8() : r_.u64();
  }
  uint64_t size_for(uint64_t natural) {
    switch (r_.u8() % 10) {
      case 5: return 0;
      case 6: return 1;
      case 7: return natural + 1;
      case 8: return r_.u32();
      case 9: return r_.u64();
      default: return natural;
    }
  }

  SmcRegs next_step() {
    SmcRegs out;
    const uint32_t kind = ++call_.steps > kMaxSteps ? 0 : r_.u8() % 8;
    trace("  step %u", kind);
    switch (kind) {
      case 1: {  // RPC ALLOC
        call_.alloc_size = r_.pick_or<uint64_t>({kRpcArg, kPage, 96, 0, kPage + 1},
                                                [&] { return r_.u32(); });
        call_.pending = OPTEE_SMC_RPC_FUNC_ALLOC;
        out[0] = OPTEE_SMC_RETURN_RPC_ALLOC;
        out[1] = call_.alloc_size;
        break;
      }
      case 2: {  // RPC FREE
        const uint64_t cookie = some_cookie();
        bufs_.erase(cookie);
        call_.pending = OPTEE_SMC_RPC_FUNC_FREE;
        out[0] = OPTEE_SMC_RETURN_RPC_FREE;
        reg_pair_from_64(cookie, out[1], out[2]);
        break;
      }
      case 3:
      case 4:
        out = rpc_cmd();
        break;
      case 5:
        call_.pending = OPTEE_SMC_RPC_FUNC_FOREIGN_INTR;
        out[0] = OPTEE_SMC_RETURN_RPC_FOREIGN_INTR;
        break;
      case 6:  // an RPC function nobody knows
        call_.pending = 0xffff;
        out[0] = OPTEE_SMC_RETURN_RPC_PREFIX | (0x10 + r_.u8());
        out[1] = r_.u32();
        out[2] = r_.u32();
        break;
      default:
        return finish();
    }
    out[3] = kThreadId;
    return out;
  }

  // An RPC CMD in one of the buffers the secure world holds (or under a cookie the normal world
  // never gave).
  SmcRegs rpc_cmd() {
    SmcRegs out;
    const uint64_t cookie = some_cookie();
    call_.pending = OPTEE_SMC_RPC_FUNC_CMD;
    call_.cmd_arg = nullptr;
    out[0] = OPTEE_SMC_RETURN_RPC_CMD;
    reg_pair_from_64(cookie, out[1], out[2]);
    auto it = bufs_.find(cookie);
    if (it == bufs_.end() || it->second.size < sizeof(optee_msg_arg)) return out;
    auto* a = reinterpret_cast<optee_msg_arg*>(it->second.host);
    const uint64_t room = std::min<uint64_t>(it->second.size, kPage);
    std::memset(a, 0, room);
    call_.cmd = r_.pick_or<uint32_t>({OPTEE_RPC_CMD_GET_TIME, OPTEE_RPC_CMD_NOTIFICATION,
                                      OPTEE_RPC_CMD_SUSPEND, OPTEE_RPC_CMD_SHM_ALLOC,
                                      OPTEE_RPC_CMD_SHM_FREE, OPTEE_RPC_CMD_LOAD_TA, OPTEE_RPC_CMD_FS,
                                      OPTEE_RPC_CMD_RPMB, OPTEE_RPC_CMD_SOCKET},
                                     [&] { return r_.u32(); });
    a->cmd = call_.cmd;
    const uint32_t max_params = static_cast<uint32_t>((room - sizeof(optee_msg_arg)) / sizeof(optee_msg_param));
    uint32_t n = r_.u8() % 5;
    a->num_params = r_.u8() % 16 == 15 ? r_.pick_or<uint32_t>({max_params + 1, 127, 0xffffffff}, [&] { return r_.u32(); })
                                       : n;
    n = std::min(n, max_params);
    for (uint32_t i = 0; i < n; ++i) fill_param(a->params[i], i);
    a->ret = kPoison;
    call_.cmd_arg = a;
    trace("  rpc cmd %u n=%u", call_.cmd, a->num_params);
    return out;
  }

  void fill_param(optee_msg_param& p, uint32_t index) {
    const uint32_t kind = r_.u8() % 8;
    switch (kind) {
      case 0:
      case 1: {  // the value the command expects in param 0, or any value
        p.attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + (kind == 1 ? r_.u8() % 3 : 0);
        uint64_t a = r_.u32(), b = r_.u32(), c = r_.u32();
        if (index == 0) {
          switch (call_.cmd) {
            case OPTEE_RPC_CMD_NOTIFICATION:
              a = r_.flag() ? OPTEE_RPC_NOTIFICATION_SEND : OPTEE_RPC_NOTIFICATION_WAIT;
              b &= 7;
              // A WAIT nobody will SEND for must time out soon (the driver sleeps on it).
              if (a == OPTEE_RPC_NOTIFICATION_WAIT && sends_[b] == 0) c = 1 + c % 2;
              if (a == OPTEE_RPC_NOTIFICATION_WAIT && sends_[b] > 0) --sends_[b];
              if (a == OPTEE_RPC_NOTIFICATION_SEND) ++sends_[b];
              break;
            case OPTEE_RPC_CMD_SUSPEND: a %= 3; break;
            case OPTEE_RPC_CMD_SHM_ALLOC:
              a = r_.pick<uint64_t>({OPTEE_RPC_SHM_TYPE_APPL, OPTEE_RPC_SHM_TYPE_KERNEL,
                                     OPTEE_RPC_SHM_TYPE_GLOBAL, 7});
              b = size_for(r_.pick<uint64_t>({16, kPage, 3 * kPage + 8, 8 << 20}));
              call_.shm_type = a;
              break;
            case OPTEE_RPC_CMD_SHM_FREE:
              if (!shm_cookies_.empty() && r_.u8() % 4 != 3) {
                const size_t i = r_.below(static_cast<uint32_t>(shm_cookies_.size()));
                a = shm_cookies_[i].type;
                b = shm_cookies_[i].cookie;
                shm_cookies_.erase(shm_cookies_.begin() + static_cast<long>(i));
              }
              break;
            case OPTEE_RPC_CMD_LOAD_TA:
              std::memcpy(&a, kShmTa, 8);
              std::memcpy(&b, kShmTa + 8, 8);
              break;
            default: break;
          }
        }
        // A wait only ever blocks this long: the driver's clock is real.
        if (call_.cmd == OPTEE_RPC_CMD_NOTIFICATION && index != 0) c %= 3;
        p.u.value = {a, b, c};
        // The same for values that are not in slot 0 but still reach a sleeping command.
        break;
      }
      case 2:
      case 3: {  // a memref into a buffer the normal world gave us (RMEM by cookie, TMEM by PA)
        const uint64_t dir = r_.u8() % 3;
        if (!shm_cookies_.empty() && r_.u8() % 4 != 3) {
          const auto& s = shm_cookies_[r_.below(static_cast<uint32_t>(shm_cookies_.size()))];
          p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT + dir;
          p.u.rmem = {size_for(0), size_for(s.size), s.cookie};
        } else if (!bufs_.empty()) {
          const auto& b = std::next(bufs_.begin(), r_.below(static_cast<uint32_t>(bufs_.size())));
          p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + dir;
          p.u.tmem = {b->second.pa + size_for(0), size_for(b->second.size), b->first};
        } else {
          p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + dir;
          p.u.tmem = {r_.u64(), r_.u32(), r_.u64()};
        }
        break;
      }
      case 4:  // NULL memref (a size query)
        p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
        p.u.tmem = {0, r_.u16(), 0};
        break;
      case 5:
        p.attr = OPTEE_MSG_ATTR_TYPE_NONE;
        break;
      default:  // raw words
        p.attr = r_.u64();
        p.u.value = {r_.u64(), r_.u64(), r_.u64()};
        break;
    }
    // NOTIFICATION timeouts are in value c and SUSPEND delays in value a: whatever the slot,
    // they are kept short (the driver sleeps for real).
    if (call_.cmd == OPTEE_RPC_CMD_SUSPEND && index == 0) p.u.value.a %= 3;
    if (call_.cmd == OPTEE_RPC_CMD_NOTIFICATION && index == 0 &&
        p.u.value.a == OPTEE_RPC_NOTIFICATION_WAIT && sends_[p.u.value.b] == 0)
      p.u.value.c = 1 + p.u.value.c % 2;
  }

  // The script ends the call: an SMC result and the output fields.
  SmcRegs finish() {
    SmcRegs out;
    optee_msg_arg* a = call_.arg;
    out[0] = r_.u8() % 16 == 15 ? r_.pick_or<uint32_t>({OPTEE_SMC_RETURN_EBADADDR, OPTEE_SMC_RETURN_EBADCMD,
                                                        OPTEE_SMC_RETURN_ENOMEM},
                                                       [&] { return r_.u32(); })
                                : OPTEE_SMC_RETURN_OK;
    if (out[0] == OPTEE_SMC_RETURN_ETHREAD_LIMIT) {
      // A call refused for want of a thread never ran: the secure world touched nothing of its
      // message, and the driver sends the same message again. (Writing outputs and then refusing
      // made the retried message carry the fake's garbage, which check_message then blamed on
      // the driver: fuzz/regressions/driver_rpc/refused-call-with-outputs.)
      call_ = {};
      return out;
    }
    a->ret = r_.pick_or<uint32_t>({TEE_SUCCESS, TEE_SUCCESS, TEE_ERROR_SHORT_BUFFER,
                                   TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_BAD_PARAMETERS},
                                  [&] { return r_.u32(); });
    a->ret_origin = TEE_ORIGIN_TRUSTED_APP;
    switch (a->cmd) {
      case OPTEE_MSG_CMD_OPEN_SESSION:
        a->session = r_.u8() % 8 == 7 ? r_.u32() : next_session_++;
        break;
      case OPTEE_MSG_CMD_REGISTER_SHM: break;
      default: break;
    }
    // Output fields of the params the driver sent (and maybe their types).
    const uint32_t n = std::min<uint32_t>(a->num_params, 6);
    for (uint32_t i = 0; i < n; ++i) {
      if (r_.u8() % 4 != 3) continue;
      optee_msg_param& p = a->params[i];
      if (r_.u8() % 4 == 3) p.attr = r_.u8();
      p.u.value.a = r_.u64();
      p.u.value.b = r_.u64();
      p.u.value.c = r_.u64();
    }
    call_ = {};
    return out;
  }

  static constexpr uint32_t kThreadId = 3;
  static constexpr uint64_t kRpcArg = optee_msg_get_arg_size(6);

  struct CallState {
    bool active = false;
    optee_msg_arg* arg = nullptr;
    int steps = 0;
    uint32_t pending = ~0u;
    uint64_t alloc_size = 0;
    optee_msg_arg* cmd_arg = nullptr;
    uint32_t cmd = 0;
    uint64_t shm_type = 0;
  };
  struct ShmCookie {
    uint64_t type, cookie, size;
  };

  hw::PhysMem& mem_;
  Reader& r_;
  uint32_t caps_;
  CallState call_;
  std::map<uint64_t, RpcBuf> bufs_;  // RPC ALLOC buffers the secure world holds
  std::vector<ShmCookie> shm_cookies_;
  std::map<uint64_t, uint32_t> sends_;  // notification key -> SENDs not yet consumed by a WAIT
  uint32_t next_session_ = 1;
};

// --- the client and the machine -----------------------------------------------------------------

enum Op : uint8_t {
  kOpOpenSession,
  kOpInvoke,
  kOpCloseSession,
  kOpCancel,
  kOpShmAlloc,
  kOpShmRegister,
  kOpClose,
  kOpMmap,
  kOpCount
};

class World {
 public:
  explicit World(Reader& r) : r_(r) {
    const uint8_t c = r.u8();
    hw::PhysMemConfig pm;
    pm.static_shm_size = (c & 1) ? (1ull << 20) : 0;
    pm.ns_dram_size = 16ull << 20;
    mem_ = hw::PhysMem::create(pm);
    if (!mem_) finding("PhysMem::create failed");
    uint32_t caps = OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_MEMREF_NULL;
    if (c & 1) caps |= OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
    if ((c & 3) == 3) caps &= ~OPTEE_SMC_SEC_CAP_DYNAMIC_SHM;
    sw_ = std::make_unique<FakeSecureWorld>(*mem_, r, caps);
    kernel_ = ree::Kernel::boot(*mem_, *sw_, stats_);
    if (!kernel_) finding("the kernel does not boot over the fake secure world");
    if (!(c & 4)) {
      supp_ = std::make_unique<supplicant::Supplicant>(
          *kernel_, supplicant::SupplicantConfig{{g_ta_dir}, g_storage_dir});
      if (!supp_->start()) finding("tee-supplicant does not start");
    }
    fd_ = kernel_->sys_open("/dev/tee0");
    if (fd_ < 0) finding("cannot open /dev/tee0");
    std::memset(g_arena, 0, kArenaPages * kPage);
  }

  ~World() {
    for (auto& [addr, len] : maps_) kernel_->sys_munmap(reinterpret_cast<void*>(addr), len);
    for (int fd : shm_fds_) kernel_->sys_close(fd);
    kernel_->sys_close(fd_);
    if (sw_->in_call()) finding("a std call never ended");
    auto a = kernel_->audit();
    // (open_files counts tee-supplicant's too: its device and the buffers the secure world still
    // holds; so do mappings, for the buffers it mapped because the kernel has no REG_MEM.)
    const size_t supplicant_mappings = supp_ ? supp_->mapped_buffers() : 0;
    if (a.mappings != supplicant_mappings || a.client_shm || a.sessions || a.supplicant_pending)
      finding("kernel not quiescent after the client closed everything: mappings=%zu "
              "client_shm=%zu sessions=%zu supplicant_pending=%zu",
              a.mappings, a.client_shm, a.sessions, a.supplicant_pending);
    if (supp_) {
      kernel_->shutdown_clients();
      supp_->stop();
      supp_.reset();
    }
    kernel_.reset();
    if (mem_->ns_pages_in_use() != 0 || mem_->frames_aliased() != 0)
      finding("after the kernel is gone: %lld normal-world pages, %lld aliased frames left",
              static_cast<long long>(mem_->ns_pages_in_use()),
              static_cast<long long>(mem_->frames_aliased()));
    sw_.reset();
    clear_dir(g_storage_dir);
  }

  void op() {
    switch (r_.below(kOpCount)) {
      case kOpOpenSession: open_session(); break;
      case kOpInvoke: invoke(); break;
      case kOpCloseSession: close_session(); break;
      case kOpCancel: cancel(); break;
      case kOpShmAlloc: shm_alloc(); break;
      case kOpShmRegister: shm_register(); break;
      case kOpClose: close_shm(); break;
      case kOpMmap: mmap_shm(); break;
      default: break;
    }
  }

 private:
  int ioctl(uint32_t cmd, void* arg) { return kernel_->sys_ioctl(fd_, cmd, arg); }
  uint32_t some_session() {
    if (!sessions_.empty() && r_.u8() % 8 != 7)
      return *std::next(sessions_.begin(), r_.below(static_cast<uint32_t>(sessions_.size())));
    return r_.u8();
  }
  tee_ioctl_param param() {
    tee_ioctl_param p{};
    switch (r_.u8() % 4) {
      case 0: p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_NONE; break;
      case 1:
        p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + r_.u8() % 3;
        p.a = r_.u32();
        break;
      default:
        p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + r_.u8() % 3;
        if (!shms_.empty() && r_.u8() % 8 != 7) {
          const auto& s = shms_[r_.below(static_cast<uint32_t>(shms_.size()))];
          p.c = static_cast<uint64_t>(s.first);
          p.a = r_.u8() % 4 == 3 ? r_.u16() : 0;
          p.b = std::min<uint64_t>(s.second, r_.u16() + 1);
        } else {
          p.c = TEE_MEMREF_NULL;
          p.b = r_.u16();
        }
        break;
    }
    return p;
  }
  template <class H>
  int buf_ioctl(uint32_t cmd, H& h, uint32_t n, std::vector<tee_ioctl_param>* params) {
    std::vector<uint8_t> buf(sizeof(H) + n * sizeof(tee_ioctl_param));
    std::memcpy(buf.data(), &h, sizeof(H));
    for (uint32_t i = 0; i < n; ++i)
      std::memcpy(buf.data() + sizeof(H) + i * sizeof(tee_ioctl_param), &(*params)[i], sizeof(tee_ioctl_param));
    tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(buf.data()), buf.size()};
    const int rc = ioctl(cmd, &d);
    std::memcpy(&h, buf.data(), sizeof(H));
    return rc;
  }
  void open_session() {
    tee_ioctl_open_session_arg h{};
    std::memcpy(h.uuid, kShmTa, 16);
    h.clnt_login = TEE_IOCTL_LOGIN_PUBLIC;
    const uint32_t n = r_.u8() % 4;
    h.num_params = n;
    std::vector<tee_ioctl_param> p(n);
    for (auto& x : p) x = param();
    const int rc = buf_ioctl(TEE_IOC_OPEN_SESSION, h, n, &p);
    trace("open_session -> %d ret=%#x session=%u", rc, h.ret, h.session);
    if (rc == 0 && h.ret == TEE_SUCCESS) sessions_.insert(h.session);
  }
  void invoke() {
    tee_ioctl_invoke_arg h{};
    h.session = some_session();
    h.func = r_.u8();
    const uint32_t n = r_.u8() % 5;
    h.num_params = n;
    std::vector<tee_ioctl_param> p(n);
    for (auto& x : p) x = param();
    const int rc = buf_ioctl(TEE_IOC_INVOKE, h, n, &p);
    trace("invoke -> %d ret=%#x", rc, h.ret);
  }
  void close_session() {
    tee_ioctl_close_session_arg c{some_session()};
    const int rc = ioctl(TEE_IOC_CLOSE_SESSION, &c);
    if (rc == 0) sessions_.erase(c.session);
  }
  void cancel() {
    tee_ioctl_cancel_arg c{r_.u8(), some_session()};
    ioctl(TEE_IOC_CANCEL, &c);
  }
  void shm_alloc() {
    tee_ioctl_shm_alloc_data d{r_.pick<uint64_t>({1, kPage, 3 * kPage + 1, 600 * kPage}), 0, -1};
    const int rc = ioctl(TEE_IOC_SHM_ALLOC, &d);
    trace("shm_alloc -> %d", rc);
    if (rc >= 0) {
      shm_fds_.push_back(rc);
      shms_.push_back({d.id, d.size});
    }
  }
  void shm_register() {
    const uint64_t pages = 1 + r_.u8() % (kArenaPages - 1);
    tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(g_arena) + (r_.u8() % 4 == 3 ? 100 : 0),
                                  pages * kPage - 200, 0, -1};
    const int rc = ioctl(TEE_IOC_SHM_REGISTER, &d);
    trace("shm_register -> %d", rc);
    if (rc >= 0) {
      shm_fds_.push_back(rc);
      shms_.push_back({d.id, d.length});
    }
  }
  void close_shm() {
    if (shm_fds_.empty()) return;
    const uint32_t i = r_.below(static_cast<uint32_t>(shm_fds_.size()));
    kernel_->sys_close(shm_fds_[i]);
    shm_fds_.erase(shm_fds_.begin() + i);
    shms_.erase(shms_.begin() + i);
  }
  void mmap_shm() {
    if (shm_fds_.empty()) return;
    const uint32_t i = r_.below(static_cast<uint32_t>(shm_fds_.size()));
    int err = 0;
    void* p = kernel_->sys_mmap(kPage, shm_fds_[i], 0, &err);
    if (p != nullptr) maps_.push_back({reinterpret_cast<uintptr_t>(p), kPage});
  }

  Reader& r_;
  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  std::unique_ptr<FakeSecureWorld> sw_;
  std::unique_ptr<ree::Kernel> kernel_;
  std::unique_ptr<supplicant::Supplicant> supp_;
  int fd_ = -1;
  std::set<uint32_t> sessions_;
  std::vector<int> shm_fds_;
  std::vector<std::pair<int32_t, uint64_t>> shms_;  // id, size (same order as shm_fds_)
  std::vector<std::pair<uintptr_t, size_t>> maps_;
};

}  // namespace

void init() {
  void* a = mmap(nullptr, kArenaPages * kPage, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) finding("cannot map the arena");
  g_arena = static_cast<uint8_t*>(a);
  g_ta_dir = scratch_dir("ta");
  const std::string name = "f9b9acc0-806d-415c-bade-7aecc600e80f.ta";
  if (symlink((ta_dir() + "/" + name).c_str(), (g_ta_dir + "/" + name).c_str()) != 0)
    finding("cannot link the shm-test TA into %s", g_ta_dir.c_str());
  g_storage_dir = scratch_dir("storage");
}

// Seeds: the RPC sequences of tests/driver_rpc_test.cc (the bytes follow the reads above).
Seeds seeds() {
  Seeds s;
  // Client: OPEN_SESSION without params; the secure world's script follows.
  const auto open = [](Writer& w) { w.u8(kOpOpenSession).u8(0); };
  const auto invoke = [](Writer& w) { w.u8(kOpInvoke).u8(0).u8(0).u8(1).u8(0); };
  // Script steps.
  const auto finish_ok = [](Writer& w) { w.u8(0).u8(0).u8(0); };
  const auto alloc = [](Writer& w) { w.u8(1).u8(0); };
  // RPC CMD `cmd_index` in the first buffer held, with one param of `kind` (plus `extra`).
  const auto cmd = [](Writer& w, uint8_t cmd_index, const std::vector<uint8_t>& param) {
    w.u8(3).u8(0).u8(0).u8(cmd_index).u8(1).u8(0).raw(param);
  };
  const auto value0 = [](uint32_t a, uint32_t b, uint32_t c) {
    Writer v;
    v.u8(0).u32(a).u32(b).u32(c);
    return v.data();
  };
  {  // OPEN; RPC ALLOC, GET_TIME, FREE; done. Then INVOKE: NOTIFICATION SEND then WAIT.
    Writer w;
    w.u8(0);
    open(w);
    alloc(w);
    cmd(w, 0, value0(0, 0, 0));
    w.u8(2).u8(0).u8(0);
    finish_ok(w);
    invoke(w);
    alloc(w);
    Writer send;
    send.u8(0).u32(0).u32(1).u32(0).u8(1);
    cmd(w, 1, send.data());
    Writer wait;
    wait.u8(0).u32(0).u32(1).u32(0).u8(0);
    cmd(w, 1, wait.data());
    finish_ok(w);
    s.push_back({"time-notification", w.data()});
  }
  {  // SHM_ALLOC of each type (tee-supplicant serves APPL), then SHM_FREE
    Writer w;
    w.u8(0);
    open(w);
    alloc(w);
    Writer appl;
    appl.u8(0).u32(0).u32(0).u32(0).u8(0).u8(1).u8(0);
    cmd(w, 3, appl.data());
    Writer kern;
    kern.u8(0).u32(0).u32(0).u32(0).u8(1).u8(2).u8(0);
    cmd(w, 3, kern.data());
    Writer freeing;
    freeing.u8(0).u32(0).u32(0).u32(0).u8(0).u8(0);
    cmd(w, 4, freeing.data());
    finish_ok(w);
    s.push_back({"shm-alloc-free", w.data()});
  }
  {  // LOAD_TA size query through tee-supplicant
    Writer w;
    w.u8(0);
    open(w);
    alloc(w);
    w.u8(3).u8(0).u8(0).u8(5).u8(2).u8(0);
    w.u8(0).u32(0).u32(0).u32(0);
    w.u8(4).u16(0);
    finish_ok(w);
    s.push_back({"load-ta-query", w.data()});
  }
  {  // a registered buffer in an invoke
    Writer w;
    w.u8(0);
    w.u8(kOpShmRegister).u8(2).u8(0);
    finish_ok(w);
    open(w);
    finish_ok(w);
    w.u8(kOpInvoke).u8(0).u8(0).u8(5).u8(1).u8(2).u8(0).u8(0).u8(0).u16(100);
    finish_ok(w);
    s.push_back({"register-invoke", w.data()});
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  Reader r(data, size);
  World w(r);
  for (int i = 0; i < kMaxOps && !r.empty(); ++i) w.op();
  return 0;
}
