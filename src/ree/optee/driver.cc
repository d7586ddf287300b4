#include "ree/optee/driver.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>
#include <unordered_set>

#include "abi/gp.h"
#include "abi/tee_uapi.h"
#include "base/assert.h"
#include "base/checked.h"
#include "base/counter.h"
#include "base/fault_inject.h"
#include "base/log.h"
#include "base/read_once.h"
#include "hw/machine_stats.h"
#include "hw/phys_space.h"
#include "hw/smc.h"
#include "ree/tee_core.h"
#include "ree/user_pages.h"

namespace teemu::ree::optee {

using namespace teemu::abi;  // NOLINT: the ABI names are this file's vocabulary
using base::read_once;

// OPTEE_SHM_NUM_PRIV_PAGES: pages of the carve-out kept for the driver's private pool.
constexpr uint64_t kNumPrivPages = 1;
// Bound on distinct notification keys with pending wake-ups (a hostile secure world could
// otherwise make the kernel allocate without limit).
constexpr size_t kMaxNotifKeys = 4096;
// RPC FUNC_ALLOC returns one physically contiguous buffer for an optee_msg_arg, which
// OPTEE_MSG_MAX_NUM_PARAMS keeps within a page. Anything larger is refused before allocating:
// a hostile size (up to 4 GiB in a1) would otherwise make the kernel allocate and clear it.
constexpr uint64_t kMaxRpcArgAlloc = base::kPageSize;
// KERNEL-type RPC SHM_ALLOC: Linux serves it from alloc_pages, which stops at MAX_ORDER
// (4 MiB with 4 KiB pages). Same bound, same reason as above.
constexpr uint64_t kMaxKernelRpcShm = 4ull << 20;
// Secure-world delays (SUSPEND, NOTIFICATION timeouts) saturate here (~35 years), as
// msecs_to_jiffies saturates, instead of overflowing the clock arithmetic.
constexpr uint64_t kMaxRpcDelayMs = 1ull << 40;

std::chrono::steady_clock::time_point deadline_after_ms(uint64_t ms) {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min(ms, kMaxRpcDelayMs));
}

class ContextData : public DriverContextData {
 public:
  base::Mutex lock;
  std::unordered_set<uint32_t> sessions GUARDED_BY(lock);
};

namespace {

ContextData* ctx_data(TeeContext& ctx) { return static_cast<ContextData*>(ctx.data.get()); }

uint32_t msg_mem_attr(uint64_t ioctl_type, uint64_t msg_base) {
  return static_cast<uint32_t>(msg_base + (ioctl_type - TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT));
}

}  // namespace

Driver::Driver(hw::PhysSpace& mem, hw::SmcHandler& conduit, hw::MachineStats& stats)
    : mem_(mem), conduit_(conduit), stats_(stats) {}

Driver::~Driver() {
  remove();
  if (reserve_arg_) {
    msg_args_out_.add();
    free_msg_arg(*reserve_arg_);
    reserve_arg_.reset();
  }
  for (auto& shard : arg_cache_) {
    base::MutexLock lock(shard.lock);
    for (Pfn p : shard.pages) mem_.free_page(p);
    shard.pages.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// probe / remove

KResult<void> Driver::probe() {
  SmcRegs r;
  SmcRegs in;
  in[0] = OPTEE_SMC_CALLS_UID;
  r = conduit_.smc(in);
  if (r.w(0) != OPTEE_MSG_UID_0 || r.w(1) != OPTEE_MSG_UID_1 || r.w(2) != OPTEE_MSG_UID_2 ||
      r.w(3) != OPTEE_MSG_UID_3) {
    TEEMU_LOG_ERROR("optee", "api uid mismatch");
    return fail_errno(EINVAL);
  }
  in = {};
  in[0] = OPTEE_SMC_CALL_GET_OS_REVISION;
  r = conduit_.smc(in);
  TEEMU_LOG_INFO("optee", "revision {}.{}", r.w(0), r.w(1));
  in = {};
  in[0] = OPTEE_SMC_CALLS_REVISION;
  r = conduit_.smc(in);
  if (r.w(0) != OPTEE_MSG_REVISION_MAJOR) {
    TEEMU_LOG_ERROR("optee", "api revision mismatch");
    return fail_errno(EINVAL);
  }
  in = {};
  in[0] = OPTEE_SMC_EXCHANGE_CAPABILITIES;
  in[1] = std::thread::hardware_concurrency() == 1 ? OPTEE_SMC_NSEC_CAP_UNIPROCESSOR : 0;
  r = conduit_.smc(in);
  if (r.w(0) != OPTEE_SMC_RETURN_OK) {
    TEEMU_LOG_ERROR("optee", "capabilities mismatch");
    return fail_errno(EINVAL);
  }
  sec_caps_ = r.w(1);

  if (sec_caps_ & OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM) {
    in = {};
    in[0] = OPTEE_SMC_GET_SHM_CONFIG;
    r = conduit_.smc(in);
    if (r.w(0) != OPTEE_SMC_RETURN_OK) {
      TEEMU_LOG_ERROR("optee", "static shm service not available");
      return fail_errno(ENOENT);
    }
    if (r.w(3) != OPTEE_SMC_SHM_CACHED) {
      TEEMU_LOG_ERROR("optee", "only normal cached shared memory supported");
      return fail_errno(EINVAL);
    }
    uint64_t begin = base::page_round_up(r[1]);
    uint64_t end = base::page_round_down(r[1] + r[2]);
    if (end <= begin || end - begin < 2 * kNumPrivPages * base::kPageSize ||
        begin != mem_.carveout_base().value || end - begin > mem_.carveout_size()) {
      TEEMU_LOG_ERROR("optee", "too small or unusable static shared memory area");
      return fail_errno(EINVAL);
    }
    const uint64_t size = end - begin;
    if (dynamic_shm()) {
      // v4.16: with dynamic SHM the whole carve-out serves user SHM_ALLOC; private buffers come
      // from the page pool.
      static_dmabuf_base_ = 0;
      static_dmabuf_pool_ = std::make_unique<RangeAllocator>(size, base::kPageSize);
    } else {
      static_priv_pool_ = std::make_unique<RangeAllocator>(kNumPrivPages * base::kPageSize, 8);
      static_dmabuf_base_ = kNumPrivPages * base::kPageSize;
      static_dmabuf_pool_ =
          std::make_unique<RangeAllocator>(size - static_dmabuf_base_, base::kPageSize);
    }
  } else if (!dynamic_shm()) {
    TEEMU_LOG_ERROR("optee", "secure world has neither static nor dynamic shared memory");
    return fail_errno(EINVAL);
  }

  // Enable the secure world's RPC argument cache.
  for (;;) {
    in = {};
    in[0] = OPTEE_SMC_ENABLE_SHM_CACHE;
    r = conduit_.smc(in);
    if (r.w(0) == OPTEE_SMC_RETURN_OK) break;
    std::this_thread::yield();
  }
  // The reserved teardown message buffer.
  if (auto r = get_msg_arg(1); r) {  // teardown messages carry at most one param
    reserve_arg_ = *r;
    msg_args_out_.sub();  // the driver's own, not a call's
  }
  probed_ = true;
  return {};
}

void Driver::remove() {
  if (probed_.exchange(false)) {
    stop();
  }
  // Whatever the secure world still held (RPC buffers it never freed: it is gone, or the guest
  // was destroyed mid-call) is released now. Calls still using one hold references of their own.
  // This part runs on every remove(): an RPC still being served when the first one ran (a guest
  // destroyed mid-call) can hand the secure world a buffer after it; the kernel's shutdown, when
  // no call is left, releases that one.
  std::unordered_map<uint64_t, TeeShm*> held;
  {
    base::MutexLock lock(cookie_lock_);
    held.swap(cookies_);
  }
  for (auto& [cookie, shm] : held) put_cookie_ref(shm);
}

void Driver::stop() {
  // Take back every RPC argument buffer the secure world cached.
  for (int attempts = 0; attempts < 1000;) {
    SmcRegs in;
    in[0] = OPTEE_SMC_DISABLE_SHM_CACHE;
    SmcRegs r = conduit_.smc(in);
    if (r.w(0) == OPTEE_SMC_RETURN_ENOTAVAIL) break;
    if (r.w(0) == OPTEE_SMC_RETURN_OK) {
      TeeShm* shm = nullptr;
      {
        base::MutexLock lock(cookie_lock_);
        auto it = cookies_.find(reg_pair_to_64(r[1], r[2]));
        if (it != cookies_.end()) {
          shm = it->second;
          cookies_.erase(it);
        }
      }
      if (shm != nullptr) free_private(shm);
      continue;
    }
    ++attempts;  // EBUSY: a thread is still running
    std::this_thread::yield();
  }
  {
    base::MutexLock lock(notif_lock_);
    stopping_ = true;
    for (auto& [key, n] : notifs_) n->cv.notify_all();
    suspend_cv_.notify_all();
  }
  supp_.interrupt();
  {
    // Under the lock: a caller between its stopping_ check and its wait must not miss this.
    base::MutexLock lock(cq_lock_);
    cq_cv_.notify_all();
  }
}

size_t Driver::live_private_buffers() const {
  return static_cast<size_t>(private_live_.load() + msg_args_out_.get());
}

size_t Driver::live_sessions() const { return sessions_.load(); }

// ---------------------------------------------------------------------------------------------
// context and version

TeeVersion Driver::get_version(const TeeDevice&) {
  TeeVersion v;
  v.impl_id = TEE_IMPL_ID_OPTEE;
  v.impl_caps = TEE_OPTEE_CAP_TZ;
  v.gen_caps = TEE_GEN_CAP_GP;
  if (dynamic_shm()) v.gen_caps |= TEE_GEN_CAP_REG_MEM;
  if (sec_caps_ & OPTEE_SMC_SEC_CAP_MEMREF_NULL) v.gen_caps |= TEE_GEN_CAP_MEMREF_NULL;
  return v;
}

KResult<void> Driver::open(TeeContext& ctx) {
  if (ctx.dev().privileged()) TRY_VOID(supp_.attach(&ctx));
  ctx.data = std::make_unique<ContextData>();
  ctx.cap_memref_null = sec_caps_ & OPTEE_SMC_SEC_CAP_MEMREF_NULL;
  return {};
}

void Driver::close_context(TeeContext& ctx) {
  // The supplicant is gone when its file is: fail its requests now. Waiting for the last
  // reference would wait for the secure world to free the supplicant's memory, which it may only
  // do after the very request that is waiting (optee_supp_release runs from release() in Linux;
  // a request then hangs until a secure thread gives up memory it cannot give up).
  if (ctx.dev().privileged()) supp_.detach(&ctx);
}

void Driver::release(TeeContext& ctx) {
  if (ctx.dev().privileged()) {
    supp_.detach(&ctx);  // no-op after close_context
    return;
  }
  ContextData* d = ctx_data(ctx);
  if (d == nullptr) return;
  std::vector<uint32_t> ids;
  {
    base::MutexLock lock(d->lock);
    ids.assign(d->sessions.begin(), d->sessions.end());
    d->sessions.clear();
  }
  for (uint32_t id : ids) {
    sessions_.fetch_sub(1);
    close_session_in_tee(id);
  }
}

// ---------------------------------------------------------------------------------------------
// message arguments

KResult<Driver::MsgArg> Driver::get_msg_arg(uint32_t num_params) {
  const uint64_t size = optee_msg_get_arg_size(num_params);
  if (size > base::kPageSize) return fail_errno(EINVAL);
  MsgArg arg;
  if (dynamic_shm()) {
    auto& shard = arg_cache_[base::counter_shard_index() % kArgShards];
    Pfn pfn = 0;
    bool cached = false;
    {
      base::MutexLock lock(shard.lock);
      if (!shard.pages.empty()) {
        pfn = shard.pages.back();
        shard.pages.pop_back();
        cached = true;
      }
    }
    if (!cached) pfn = TRY(mem_.alloc_page());
    arg.page = pfn;
    arg.pa = pfn_to_pa(pfn);
    arg.host = reinterpret_cast<optee_msg_arg*>(mem_.frame_host(pfn));
  } else {
    uint64_t rounded = 0;
    auto off = static_priv_pool_->alloc(size, &rounded);
    if (!off) return fail_errno(ENOMEM);
    arg.pool_off = *off;
    arg.pool_size = rounded;
    arg.pa = PhysAddr{mem_.carveout_base().value + *off};
    arg.host = reinterpret_cast<optee_msg_arg*>(mem_.carveout_host() + *off);
  }
  std::memset(arg.host, 0, size);
  arg.host->num_params = num_params;
  msg_args_out_.add();
  return arg;
}

void Driver::free_msg_arg(const MsgArg& arg) {
  msg_args_out_.sub();
  if (arg.pool_size != 0) {
    static_priv_pool_->free(arg.pool_off, arg.pool_size);
    return;
  }
  auto& shard = arg_cache_[base::counter_shard_index() % kArgShards];
  base::MutexLock lock(shard.lock);
  shard.pages.push_back(arg.page);
}

// ---------------------------------------------------------------------------------------------
// call loop

uint32_t Driver::do_call_with_arg(const MsgArg& arg) {
  SmcRegs regs;
  regs[0] = OPTEE_SMC_CALL_WITH_ARG;
  reg_pair_from_64(arg.pa.value, regs[1], regs[2]);
  CallCtx call;
  uint32_t ret;
  bool holds_thread = false;  // the secure world took the call (it runs or waits in an RPC)
  bool waiting = false;       // registered in cq_waiters_ after an ETHREAD_LIMIT
  uint64_t gen = 0;           // cq_gen_ when registered, or when last woken
  for (;;) {
    // Counted as holding a thread while the SMC runs (the secure world may be executing it),
    // and uncounted again if it was refused.
    if (!holds_thread) calls_holding_thread_.add();
    holds_thread = true;
    SmcRegs res = conduit_.smc(regs);
    const uint32_t a0 = res.w(0);
    if (a0 == OPTEE_SMC_RETURN_ETHREAD_LIMIT) {
      calls_holding_thread_.sub();
      holds_thread = false;
      base::MutexLock lock(cq_lock_);
      if (!waiting) {
        // No free secure thread. Register for completions, then retry once: a call that
        // completed before the registration has freed its thread for the retry, and one that
        // completes after it sees the registration and wakes us (the fences pair with
        // cq_completed()'s).
        waiting = true;
        cq_waiters_.fetch_add(1);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        gen = cq_gen_;
        continue;
      }
      // Refused again: sleep until some call completes, then retry the same SMC. When no call
      // of this driver holds a secure thread, no completion will come (the threads are another
      // guest's, or the answer was wrong): then retry after a short sleep instead, so such an
      // ETHREAD_LIMIT delays the calls rather than blocking them for ever. (Calls that are
      // themselves waiting here hold no thread and complete nothing.)
      stats_.eth_thread_limit_waits.add();
      while (cq_gen_ == gen) {
        {
          base::MutexLock nl(notif_lock_);
          if (stopping_) break;
        }
        if (calls_holding_thread_.get() > 0) {
          // A completion will wake us; the timeout only re-checks, in case the call counted
          // was one refused in the meantime.
          cq_cv_.wait_until(cq_lock_, std::chrono::steady_clock::now() + kThreadLimitRecheck);
        } else if (cq_cv_.wait_until(cq_lock_, std::chrono::steady_clock::now() +
                                                   kLoneThreadLimitRetry) ==
                   std::cv_status::timeout) {
          break;
        }
      }
      gen = cq_gen_;
      continue;
    }
    if (waiting) {
      waiting = false;
      cq_waiters_.fetch_sub(1);
    }
    if (optee_smc_return_is_rpc(a0)) {
      stats_.rpcs.add();
      SmcRegs next;
      for (int i = 0; i < 4; ++i) next[i] = res[i];
      handle_rpc(next, call);
      regs = next;
      continue;
    }
    ret = a0;
    break;
  }
  free_page_list(call.list_pages);
  if (holds_thread) calls_holding_thread_.sub();
  cq_completed();
  return ret;
}

// The secure thread of the call that ends is free again. Only a call refused with ETHREAD_LIMIT
// needs to hear of it, so the common case costs a fence and a read of a line nobody writes.
void Driver::cq_completed() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (cq_waiters_.load(std::memory_order_relaxed) > 0) {
    base::MutexLock lock(cq_lock_);
    ++cq_gen_;
    cq_cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------
// page lists

KResult<uint64_t> Driver::build_page_list(const std::vector<Pfn>& pages, uint32_t offset,
                                          std::vector<Pfn>& list_pages) {
  TEEMU_ASSERT(!pages.empty() && offset < base::kPageSize);
  const size_t n = pages.size();
  const size_t num_lists = (n + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage;
  list_pages.reserve(num_lists);
  for (size_t i = 0; i < num_lists; ++i) {
    auto p = mem_.alloc_page();
    if (!p) {
      free_page_list(list_pages);
      return tl::unexpected(p.error());
    }
    list_pages.push_back(*p);
  }
  size_t idx = 0;
  for (size_t l = 0; l < num_lists; ++l) {
    auto* lp = reinterpret_cast<optee_page_list_page*>(mem_.frame_host(list_pages[l]));
    size_t count = std::min(n - idx, kPageListEntriesPerPage);
    for (size_t e = 0; e < count; ++e) lp->pages_list[e] = pfn_to_pa(pages[idx++]).value;
    if (l + 1 < num_lists) lp->next_page_data = pfn_to_pa(list_pages[l + 1]).value;
  }
  stats_.page_list_pages.add(static_cast<int64_t>(num_lists));
  return pfn_to_pa(list_pages[0]).value | offset;
}

void Driver::free_page_list(std::vector<Pfn>& list_pages) {
  for (Pfn p : list_pages) mem_.free_page(p);
  list_pages.clear();
}

// ---------------------------------------------------------------------------------------------
// parameter conversion

KResult<void> Driver::to_msg_params(optee_msg_param* out, const std::vector<TeeParam>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const TeeParam& p = params[i];
    optee_msg_param& m = out[i];
    std::memset(&m, 0, sizeof(m));
    switch (p.attr) {  // the full attribute: a META bit on a client param is refused
      case TEE_IOCTL_PARAM_ATTR_TYPE_NONE: break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        m.attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + (p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
        m.u.value = {p.a, p.b, p.c};
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
        if (p.shm != nullptr && p.shm->registered()) {
          m.attr = msg_mem_attr(p.attr, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT);
          m.u.rmem = {p.offs, p.size, cookie_of(*p.shm)};
        } else if (p.shm != nullptr) {
          if (p.offs >= p.shm->size) return fail_errno(EINVAL);
          m.attr = msg_mem_attr(p.attr, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT) |
                   (OPTEE_MSG_ATTR_CACHE_PREDEFINED << OPTEE_MSG_ATTR_CACHE_SHIFT);
          m.u.tmem = {p.shm->paddr.value + p.offs, p.size, cookie_of(*p.shm)};
        } else {
          m.attr = msg_mem_attr(p.attr, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT);
          m.u.tmem = {0, p.size, 0};
        }
        break;
      default: return fail_errno(EINVAL);
    }
  }
  return {};
}

// Results of a call: output values and output memref sizes, per the types we sent. The secure
// world answering with another kind of parameter in a slot is a protocol error.
KResult<void> Driver::from_msg_params(std::vector<TeeParam>& params, const optee_msg_param* in) {
  for (size_t i = 0; i < params.size(); ++i) {
    TeeParam& p = params[i];
    const uint64_t msg_type = read_once(&in[i].attr) & OPTEE_MSG_ATTR_TYPE_MASK;
    switch (p.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        if (msg_type < OPTEE_MSG_ATTR_TYPE_VALUE_INPUT ||
            msg_type > OPTEE_MSG_ATTR_TYPE_VALUE_INOUT)
          return fail_errno(EINVAL);
        p.a = read_once(&in[i].u.value.a);
        p.b = read_once(&in[i].u.value.b);
        p.c = read_once(&in[i].u.value.c);
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
        if (msg_type < OPTEE_MSG_ATTR_TYPE_RMEM_INPUT || msg_type > OPTEE_MSG_ATTR_TYPE_TMEM_INOUT ||
            msg_type == 0x8)
          return fail_errno(EINVAL);
        p.size = read_once(&in[i].u.tmem.size);
        break;
      default: break;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// client operations

KResult<void> Driver::open_session(TeeContext& ctx, OpenSessionArg& arg,
                                   std::vector<TeeParam>& params) {
  auto msg = TRY(get_msg_arg(static_cast<uint32_t>(params.size() + 2)));
  optee_msg_arg* a = msg.host;
  a->cmd = OPTEE_MSG_CMD_OPEN_SESSION;
  a->cancel_id = arg.cancel_id;
  a->params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
  a->params[1].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
  std::memcpy(&a->params[0].u.value, arg.uuid, 16);
  std::memcpy(&a->params[1].u.value, arg.clnt_uuid, 16);
  a->params[1].u.value.c = arg.clnt_login;
  if (auto r = to_msg_params(a->params + 2, params); !r) {
    free_msg_arg(msg);
    return r;
  }
  uint32_t ret, origin, session;
  if (do_call_with_arg(msg) != OPTEE_SMC_RETURN_OK) {
    ret = TEE_ERROR_COMMUNICATION;
    origin = TEE_ORIGIN_COMMS;
    session = 0;
  } else {
    ret = read_once(&a->ret);
    origin = read_once(&a->ret_origin);
    session = read_once(&a->session);
  }
  if (ret == TEE_SUCCESS) {
    if (!from_msg_params(params, a->params + 2)) {
      // The session is open but its results are unusable: close it again.
      close_session_in_tee(session);
      ret = TEE_ERROR_COMMUNICATION;
      origin = TEE_ORIGIN_COMMS;
    } else {
      ContextData* d = ctx_data(ctx);
      base::MutexLock lock(d->lock);
      // A secure world answering with an id this context already holds names the same session
      // again: count it once, or the audit never returns to zero.
      if (d->sessions.insert(session).second) sessions_.fetch_add(1);
    }
  } else {
    (void)from_msg_params(params, a->params + 2);  // short-buffer sizes still flow back
  }
  free_msg_arg(msg);
  arg.session = ret == TEE_SUCCESS ? session : 0;
  arg.ret = ret;
  arg.ret_origin = origin;
  return {};
}

KResult<void> Driver::close_session(TeeContext& ctx, uint32_t session) {
  ContextData* d = ctx_data(ctx);
  {
    base::MutexLock lock(d->lock);
    if (d->sessions.erase(session) == 0) return fail_errno(EINVAL);
  }
  sessions_.fetch_sub(1);
  close_session_in_tee(session);
  return {};
}

void Driver::close_session_in_tee(uint32_t session) {
  (void)call_teardown(0, [session](optee_msg_arg* a) {
    a->cmd = OPTEE_MSG_CMD_CLOSE_SESSION;
    a->session = session;
  });
}

std::pair<uint32_t, uint32_t> Driver::call_teardown(
    uint32_t num_params, const std::function<void(optee_msg_arg*)>& fill) {
  // Retries of a call the secure side refused for lack of memory, 1 ms apart.
  constexpr int kTeardownRetries = 200;
  for (int attempt = 0;; ++attempt) {
    auto msg = get_msg_arg(num_params);
    std::unique_lock<std::mutex> reserved;
    MsgArg arg;
    if (msg) {
      arg = *msg;
    } else {
      if (!reserve_arg_) return {OPTEE_SMC_RETURN_ENOMEM, TEE_ERROR_OUT_OF_MEMORY};
      reserved = std::unique_lock<std::mutex>(reserve_lock_);
      arg = *reserve_arg_;
      std::memset(arg.host, 0, optee_msg_get_arg_size(num_params));
      arg.host->num_params = num_params;
    }
    fill(arg.host);
    const uint32_t rc = do_call_with_arg(arg);
    const uint32_t ret = read_once(&arg.host->ret);
    if (msg) free_msg_arg(*msg);
    reserved = {};
    if (rc != OPTEE_SMC_RETURN_ENOMEM || attempt >= kTeardownRetries || !probed_) return {rc, ret};
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

KResult<void> Driver::invoke(TeeContext& ctx, InvokeArg& arg, std::vector<TeeParam>& params) {
  ContextData* d = ctx_data(ctx);
  {
    base::MutexLock lock(d->lock);
    if (d->sessions.count(arg.session) == 0) return fail_errno(EINVAL);
  }
  auto msg = TRY(get_msg_arg(static_cast<uint32_t>(params.size())));
  optee_msg_arg* a = msg.host;
  a->cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
  a->func = arg.func;
  a->session = arg.session;
  a->cancel_id = arg.cancel_id;
  if (auto r = to_msg_params(a->params, params); !r) {
    free_msg_arg(msg);
    return r;
  }
  if (do_call_with_arg(msg) != OPTEE_SMC_RETURN_OK) {
    arg.ret = TEE_ERROR_COMMUNICATION;
    arg.ret_origin = TEE_ORIGIN_COMMS;
  } else {
    arg.ret = read_once(&a->ret);
    arg.ret_origin = read_once(&a->ret_origin);
    if (!from_msg_params(params, a->params)) {
      arg.ret = TEE_ERROR_COMMUNICATION;
      arg.ret_origin = TEE_ORIGIN_COMMS;
    }
  }
  free_msg_arg(msg);
  return {};
}

KResult<void> Driver::cancel(TeeContext& ctx, uint32_t cancel_id, uint32_t session) {
  ContextData* d = ctx_data(ctx);
  {
    base::MutexLock lock(d->lock);
    if (d->sessions.count(session) == 0) return fail_errno(EINVAL);
  }
  auto msg = TRY(get_msg_arg(0));
  msg.host->cmd = OPTEE_MSG_CMD_CANCEL;
  msg.host->session = session;
  msg.host->cancel_id = cancel_id;
  (void)do_call_with_arg(msg);
  free_msg_arg(msg);
  return {};
}

KResult<void> Driver::supp_recv(TeeContext& ctx, uint32_t& func, uint32_t& num_params,
                                std::vector<TeeParam>& params) {
  return supp_.recv(ctx, func, num_params, params);
}

KResult<void> Driver::supp_send(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params) {
  return supp_.send(ctx, ret, params);
}

// ---------------------------------------------------------------------------------------------
// shared memory

KResult<void> Driver::shm_register(TeeContext& ctx, TeeShm& shm) {
  // Supplicant memory is described to the secure world inside RPC replies instead.
  if (ctx.dev().privileged()) return {};
  if (shm.pages.empty()) return fail_errno(EINVAL);
  std::vector<Pfn> list;
  auto buf_ptr = TRY(build_page_list(shm.pages, shm.offset, list));
  auto msg = get_msg_arg(1);
  if (!msg) {
    free_page_list(list);
    return tl::unexpected(msg.error());
  }
  optee_msg_arg* a = msg->host;
  a->cmd = OPTEE_MSG_CMD_REGISTER_SHM;
  a->params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
  a->params[0].u.tmem = {buf_ptr, shm.size, cookie_of(shm)};
  uint32_t rc = do_call_with_arg(*msg);
  uint32_t ret = read_once(&a->ret);
  free_msg_arg(*msg);
  free_page_list(list);
  if (rc != OPTEE_SMC_RETURN_OK || ret != TEE_SUCCESS) return fail_errno(EINVAL);
  return {};
}

void Driver::shm_unregister(TeeContext& ctx, TeeShm& shm) {
  if (ctx.dev().privileged()) return;
  // After remove() (the secure world or this guest is gone) there is nobody to tell.
  if (!probed_) return;
  const uint64_t cookie = cookie_of(shm);
  auto [rc, ret] = call_teardown(1, [cookie](optee_msg_arg* a) {
    a->cmd = OPTEE_MSG_CMD_UNREGISTER_SHM;
    a->params[0].attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    a->params[0].u.rmem = {0, 0, cookie};
  });
  if (rc != OPTEE_SMC_RETURN_OK || ret != TEE_SUCCESS)
    TEEMU_LOG_WARN("optee", "secure world refused to unregister shm");
}

KResult<void> Driver::pool_alloc(TeeShm& shm, uint64_t size, bool dma_buf) {
  if (!dma_buf) return fail_errno(EINVAL);
  if (static_dmabuf_pool_) {
    uint64_t rounded = 0;
    auto off = static_dmabuf_pool_->alloc(size, &rounded);
    if (!off) return fail_errno(ENOMEM);
    const uint64_t carve_off = static_dmabuf_base_ + *off;
    shm.pool = TeeShm::PoolKind::kStaticDmaBuf;
    shm.pool_alloc_size = rounded;
    shm.size = rounded;
    shm.paddr = PhysAddr{mem_.carveout_base().value + carve_off};
    shm.kaddr = mem_.carveout_host() + carve_off;
    std::memset(shm.kaddr, 0, rounded);
    return {};
  }
  // Dynamic page pool: kernel pages, registered with the secure world by the caller.
  // Linux allocates these zeroed and physically contiguous (alloc_pages / alloc_pages_exact), so
  // one buffer is at most 2^(MAX_ORDER-1) pages: 4 MiB with the default MAX_ORDER of 11. A larger
  // request is ENOMEM there too; a client wanting more registers its own memory.
  constexpr uint64_t kMaxPoolPages = 1u << 10;
  auto pages = base::pages_spanned(0, size);
  if (!pages || *pages > kMaxPoolPages) return fail_errno(ENOMEM);
  const uint64_t bytes = *pages * base::kPageSize;
  void* host = std::aligned_alloc(base::kPageSize, bytes);
  if (host == nullptr) return fail_errno(ENOMEM);
  std::memset(host, 0, bytes);
  shm.pages.resize(*pages);
  if (!mem_.alias_pages(reinterpret_cast<uintptr_t>(host), shm.pages)) {
    std::free(host);
    shm.pages.clear();
    return fail_errno(ENOMEM);
  }
  shm.pool = TeeShm::PoolKind::kPages;
  shm.host_alloc = host;
  shm.kaddr = static_cast<std::byte*>(host);
  shm.size = bytes;
  shm.flags |= TeeShm::kRegister;
  return {};
}

void Driver::pool_free(TeeShm& shm) {
  switch (shm.pool) {
    case TeeShm::PoolKind::kStaticDmaBuf:
      static_dmabuf_pool_->free(shm.paddr.value - mem_.carveout_base().value -
                                    static_dmabuf_base_,
                                shm.pool_alloc_size);
      break;
    case TeeShm::PoolKind::kStaticPriv:
      static_priv_pool_->free(shm.paddr.value - mem_.carveout_base().value,
                              shm.pool_alloc_size);
      break;
    case TeeShm::PoolKind::kPage: mem_.free_page(shm.pages.at(0)); break;
    case TeeShm::PoolKind::kPages:
      mem_.unalias_pages(shm.pages);
      std::free(shm.host_alloc);
      break;
    case TeeShm::PoolKind::kNone: break;
  }
  shm.pool = TeeShm::PoolKind::kNone;
}

KResult<TeeShm*> Driver::alloc_private(uint64_t size) {
  if (size == 0) return fail_errno(EINVAL);
  auto shm = std::make_unique<TeeShm>();
  shm->teedev = client_dev_;
  shm->flags = TeeShm::kMapped | TeeShm::kPool;
  shm->driver_private = true;
  if (!dynamic_shm()) {
    uint64_t rounded = 0;
    auto off = static_priv_pool_->alloc(size, &rounded);
    if (!off) return fail_errno(ENOMEM);
    shm->pool = TeeShm::PoolKind::kStaticPriv;
    shm->pool_alloc_size = rounded;
    shm->size = rounded;
    shm->paddr = PhysAddr{mem_.carveout_base().value + *off};
    shm->kaddr = mem_.carveout_host() + *off;
    std::memset(shm->kaddr, 0, rounded);
  } else if (size <= base::kPageSize) {
    Pfn pfn = TRY(mem_.alloc_page());
    shm->pool = TeeShm::PoolKind::kPage;
    shm->pages = {pfn};
    shm->size = base::kPageSize;
    shm->paddr = pfn_to_pa(pfn);
    shm->kaddr = mem_.frame_host(pfn);
  } else {
    // Larger kernel buffers: the carve-out if there is one, else pages sent as a page list.
    TRY_VOID(pool_alloc(*shm, size, true));
    shm->flags &= ~TeeShm::kRegister;
  }
  private_live_.fetch_add(1);
  return shm.release();
}

void Driver::free_private(TeeShm* shm) {
  TEEMU_ASSERT(shm->driver_private);
  if (shm->refcount.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  pool_free(*shm);
  delete shm;
  private_live_.fetch_sub(1);
}

// ---------------------------------------------------------------------------------------------
// cookies

uint64_t Driver::cookie_of(TeeShm& shm) {
  uint64_t c = shm.sw_cookie.load(std::memory_order_acquire);
  if (c != 0) return c;
  const uint64_t fresh = next_cookie_.fetch_add(1, std::memory_order_relaxed);
  // Two threads describing the same shm at once agree on the first cookie set.
  if (shm.sw_cookie.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) return fresh;
  return c;
}

bool Driver::cookie_insert(TeeShm* shm) {
  const uint64_t c = cookie_of(*shm);
  base::MutexLock lock(cookie_lock_);
  return cookies_.emplace(c, shm).second;
}

void Driver::cookie_erase(TeeShm* shm) {
  const uint64_t c = cookie_of(*shm);
  base::MutexLock lock(cookie_lock_);
  cookies_.erase(c);
}

TeeShm* Driver::cookie_get(uint64_t cookie) {
  base::MutexLock lock(cookie_lock_);
  auto it = cookies_.find(cookie);
  if (it == cookies_.end()) return nullptr;
  // The table holds a reference of its own, so the count is at least one here.
  it->second->refcount.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

void Driver::put_cookie_ref(TeeShm* shm) {
  if (shm->driver_private)
    free_private(shm);
  else
    supp_dev_->shm_put(shm);
}

// ---------------------------------------------------------------------------------------------
// RPC

void Driver::handle_rpc(SmcRegs& regs, CallCtx& call) {
  const uint32_t func = optee_smc_return_get_rpc_func(regs.w(0));
  switch (func) {
    case OPTEE_SMC_RPC_FUNC_ALLOC: {
      const uint64_t size = regs.w(1);
      auto shm = size <= kMaxRpcArgAlloc ? alloc_private(size) : fail_errno(ENOMEM);
      if (shm && (*shm)->pages.size() <= 1) {
        reg_pair_from_64((*shm)->paddr.value, regs[1], regs[2]);
        reg_pair_from_64(cookie_of(**shm), regs[4], regs[5]);
        TEEMU_ASSERT(cookie_insert(*shm));  // a fresh object: its cookie is new
      } else {
        if (shm) free_private(*shm);
        regs[1] = regs[2] = regs[4] = regs[5] = 0;
      }
      break;
    }
    case OPTEE_SMC_RPC_FUNC_FREE: {
      const uint64_t cookie = reg_pair_to_64(regs[1], regs[2]);
      TeeShm* shm = nullptr;
      {
        base::MutexLock lock(cookie_lock_);
        auto it = cookies_.find(cookie);
        if (it != cookies_.end() && it->second->driver_private) {
          shm = it->second;
          cookies_.erase(it);
        }
      }
      if (shm != nullptr)
        free_private(shm);
      else
        TEEMU_LOG_WARN("optee", "RPC FREE of unknown cookie {:#x}", cookie);
      break;
    }
    case OPTEE_SMC_RPC_FUNC_FOREIGN_INTR: break;  // the "interrupt" was taken; just resume
    case OPTEE_SMC_RPC_FUNC_CMD: {
      TeeShm* shm = cookie_get(reg_pair_to_64(regs[1], regs[2]));
      if (shm == nullptr || shm->kaddr == nullptr || shm->size < sizeof(optee_msg_arg)) {
        TEEMU_LOG_WARN("optee", "RPC CMD with an unusable cookie");
      } else {
        handle_rpc_cmd(reinterpret_cast<optee_msg_arg*>(shm->kaddr), shm->size, call);
      }
      if (shm != nullptr) put_cookie_ref(shm);
      break;
    }
    default: TEEMU_LOG_WARN("optee", "unknown RPC func {:#x}", func); break;
  }
  regs[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
}

void Driver::handle_rpc_cmd(optee_msg_arg* arg, size_t room, CallCtx& call) {
  const uint32_t n = read_once(&arg->num_params);
  if (optee_msg_get_arg_size(n) > room) {
    base::write_once(&arg->ret, TEE_ERROR_BAD_PARAMETERS);
    return;
  }
  const uint32_t cmd = read_once(&arg->cmd);
  // Injected failure of a request the normal world serves. Releases (SHM_FREE) and wake-ups
  // are not failed: a normal world that drops those leaks or hangs by definition.
  const bool release = cmd == OPTEE_RPC_CMD_SHM_FREE ||
                       (cmd == OPTEE_RPC_CMD_NOTIFICATION && n >= 1 &&
                        read_once(&arg->params[0].u.value.a) == OPTEE_RPC_NOTIFICATION_SEND);
  if (!release && base::FaultInjector::should_fail(base::FaultSite::kRpc)) {
    base::write_once(&arg->ret, TEE_ERROR_GENERIC);
    return;
  }
  auto attr0 = [&] { return n >= 1 ? read_once(&arg->params[0].attr) : 0; };
  switch (cmd) {
    case OPTEE_RPC_CMD_GET_TIME: {
      if (n != 1 || (attr0() & OPTEE_MSG_ATTR_TYPE_MASK) != OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT) {
        arg->ret = TEE_ERROR_BAD_PARAMETERS;
        break;
      }
      timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      arg->params[0].u.value.a = static_cast<uint64_t>(ts.tv_sec);
      arg->params[0].u.value.b = static_cast<uint64_t>(ts.tv_nsec);
      arg->ret = TEE_SUCCESS;
      break;
    }
    case OPTEE_RPC_CMD_NOTIFICATION: rpc_notification(arg, n); break;
    case OPTEE_RPC_CMD_SUSPEND: {
      if (n != 1 || (attr0() & OPTEE_MSG_ATTR_TYPE_MASK) != OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
        arg->ret = TEE_ERROR_BAD_PARAMETERS;
        break;
      }
      // msleep_interruptible: the driver going away is this model's signal.
      const auto deadline = deadline_after_ms(read_once(&arg->params[0].u.value.a));
      {
        base::MutexLock lock(notif_lock_);
        while (!stopping_ && suspend_cv_.wait_until(notif_lock_, deadline) != std::cv_status::timeout) {
        }
      }
      arg->ret = TEE_SUCCESS;
      break;
    }
    case OPTEE_RPC_CMD_SHM_ALLOC: rpc_shm_alloc(arg, n, call); break;
    case OPTEE_RPC_CMD_SHM_FREE: rpc_shm_free(arg, n); break;
    default: rpc_supp_cmd(arg, n); break;
  }
}

void Driver::rpc_notification(optee_msg_arg* arg, uint32_t n) {
  if (n != 1 ||
      (read_once(&arg->params[0].attr) & OPTEE_MSG_ATTR_TYPE_MASK) !=
          OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    return;
  }
  const uint64_t op = read_once(&arg->params[0].u.value.a);
  const uint64_t key = read_once(&arg->params[0].u.value.b);
  const uint64_t timeout_ms = read_once(&arg->params[0].u.value.c);
  base::MutexLock lock(notif_lock_);
  auto it = notifs_.find(key);
  if (it == notifs_.end()) {
    if (notifs_.size() >= kMaxNotifKeys) {
      arg->ret = TEE_ERROR_OUT_OF_MEMORY;
      return;
    }
    it = notifs_.emplace(key, std::make_unique<Notif>()).first;
  }
  Notif& e = *it->second;
  if (op == OPTEE_RPC_NOTIFICATION_SEND) {
    ++e.pending;
    e.cv.notify_one();
    arg->ret = TEE_SUCCESS;
    return;
  }
  if (op != OPTEE_RPC_NOTIFICATION_WAIT) {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    if (e.pending == 0 && e.sleepers == 0) notifs_.erase(it);
    return;
  }
  ++e.sleepers;
  const auto deadline = deadline_after_ms(timeout_ms);
  while (e.pending == 0 && !stopping_) {
    if (timeout_ms == 0) {
      e.cv.wait(notif_lock_);
    } else if (e.cv.wait_until(notif_lock_, deadline) == std::cv_status::timeout) {
      break;
    }
  }
  if (e.pending > 0) {
    --e.pending;
    arg->ret = TEE_SUCCESS;
  } else {
    arg->ret = stopping_ ? TEE_ERROR_COMMUNICATION : TEE_ERROR_TIMEOUT;
  }
  --e.sleepers;
  if (e.pending == 0 && e.sleepers == 0) notifs_.erase(key);
}

void Driver::rpc_shm_alloc(optee_msg_arg* arg, uint32_t n, CallCtx& call) {
  arg->ret_origin = TEE_ORIGIN_COMMS;
  if (n < 1 || read_once(&arg->params[0].attr) != OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    return;
  }
  for (uint32_t i = 1; i < n; ++i)
    if (read_once(&arg->params[i].attr) != OPTEE_MSG_ATTR_TYPE_NONE) {
      arg->ret = TEE_ERROR_BAD_PARAMETERS;
      return;
    }
  const uint64_t type = read_once(&arg->params[0].u.value.a);
  const uint64_t size = read_once(&arg->params[0].u.value.b);
  TeeShm* shm = nullptr;
  // The supplicant's allocation, when this request made one: if the reply cannot be completed,
  // the supplicant is told to free it again (else it would hold it until it exits).
  int supp_id = -1;
  auto give_back = [&] {
    if (supp_id < 0) return;
    std::vector<TeeParam> f(1);
    f[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    f[0].a = OPTEE_RPC_SHM_TYPE_APPL;
    f[0].b = static_cast<uint64_t>(supp_id);
    (void)supplicant_request(OPTEE_RPC_CMD_SHM_FREE, f);
  };
  if (type == OPTEE_RPC_SHM_TYPE_APPL) {
    std::vector<TeeParam> p(1);
    p[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    p[0].a = OPTEE_RPC_SHM_TYPE_APPL;
    p[0].b = size;
    uint32_t ret = supplicant_request(OPTEE_RPC_CMD_SHM_ALLOC, p);
    if (ret == TEE_SUCCESS && p[0].c <= static_cast<uint64_t>(INT32_MAX)) {
      supp_id = static_cast<int>(p[0].c);
      // This reference is the one the secure world holds until SHM_FREE.
      shm = supp_.shm_get(*supp_dev_, supp_id);
      if (shm != nullptr && shm->size < size) {
        supp_dev_->shm_put(shm);
        shm = nullptr;
      }
    }
  } else if (type == OPTEE_RPC_SHM_TYPE_KERNEL) {
    auto r = size <= kMaxKernelRpcShm ? alloc_private(size) : fail_errno(ENOMEM);
    if (r) shm = *r;
  } else {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    return;
  }
  if (shm == nullptr) {
    give_back();
    arg->ret = TEE_ERROR_OUT_OF_MEMORY;
    return;
  }
  // The reply is composed while the reference is still ours alone; once the cookie is in the
  // table another secure thread may free the buffer, so nothing touches `shm` after that.
  optee_msg_param out{};
  if (!shm->pages.empty() && shm->pool != TeeShm::PoolKind::kPage) {
    // Only one reply page list is kept per call; a new one replaces it.
    free_page_list(call.list_pages);
    auto buf_ptr = build_page_list(shm->pages, shm->offset, call.list_pages);
    if (!buf_ptr) {
      put_cookie_ref(shm);
      give_back();
      arg->ret = TEE_ERROR_OUT_OF_MEMORY;
      return;
    }
    out.attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
    out.u.tmem = {*buf_ptr, shm->size, cookie_of(*shm)};
  } else {
    out.attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    out.u.tmem = {shm->paddr.value, shm->size, cookie_of(*shm)};
  }
  // The table holds the secure world's one reference per buffer. A supplicant answering a
  // second request with a buffer the secure world already holds gets it refused: accepted, the
  // new reference would have no entry of its own and never be dropped.
  if (!cookie_insert(shm)) {
    free_page_list(call.list_pages);
    put_cookie_ref(shm);
    arg->ret = TEE_ERROR_OUT_OF_MEMORY;
    return;
  }
  arg->params[0] = out;
  arg->ret = TEE_SUCCESS;
}

void Driver::rpc_shm_free(optee_msg_arg* arg, uint32_t n) {
  arg->ret_origin = TEE_ORIGIN_COMMS;
  if (n != 1 || read_once(&arg->params[0].attr) != OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    return;
  }
  const uint64_t type = read_once(&arg->params[0].u.value.a);
  const uint64_t cookie = read_once(&arg->params[0].u.value.b);
  if (type != OPTEE_RPC_SHM_TYPE_APPL && type != OPTEE_RPC_SHM_TYPE_KERNEL) {
    arg->ret = TEE_SUCCESS;  // the SMC ABI's quirk: an unknown type is "freed" successfully
    return;
  }
  TeeShm* shm = nullptr;
  {
    base::MutexLock lock(cookie_lock_);
    auto it = cookies_.find(cookie);
    if (it != cookies_.end() && it->second->driver_private == (type == OPTEE_RPC_SHM_TYPE_KERNEL)) {
      shm = it->second;
      cookies_.erase(it);
    }
  }
  if (shm == nullptr) {
    arg->ret = TEE_ERROR_BAD_PARAMETERS;
    return;
  }
  if (type == OPTEE_RPC_SHM_TYPE_APPL) {
    const int id = shm->id;
    supp_dev_->shm_put(shm);  // the secure world's reference goes first
    std::vector<TeeParam> p(1);
    p[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    p[0].a = OPTEE_RPC_SHM_TYPE_APPL;
    p[0].b = static_cast<uint64_t>(static_cast<int64_t>(id));
    (void)supplicant_request(OPTEE_RPC_CMD_SHM_FREE, p);
  } else {
    free_private(shm);
  }
  arg->ret = TEE_SUCCESS;
}

uint32_t Driver::supplicant_request(uint32_t func, std::vector<TeeParam>& params) {
  stats_.supplicant_requests.add();
  return supp_.request(func, params);
}

void Driver::rpc_supp_cmd(optee_msg_arg* arg, uint32_t n) {
  arg->ret_origin = TEE_ORIGIN_COMMS;
  const uint32_t cmd = read_once(&arg->cmd);
  std::vector<TeeParam> params(n);
  bool ok = true;
  // from_msg_param: memrefs name buffers by cookie; each must be one we handed out and the
  // range must lie inside it.
  for (uint32_t i = 0; i < n && ok; ++i) {
    const optee_msg_param& m = arg->params[i];
    const uint64_t attr = read_once(&m.attr);
    const uint64_t type = attr & OPTEE_MSG_ATTR_TYPE_MASK;
    TeeParam& p = params[i];
    if (type == OPTEE_MSG_ATTR_TYPE_NONE) continue;
    if (type >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && type <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + (type - OPTEE_MSG_ATTR_TYPE_VALUE_INPUT);
      p.a = read_once(&m.u.value.a);
      p.b = read_once(&m.u.value.b);
      p.c = read_once(&m.u.value.c);
      continue;
    }
    const bool tmem = type >= OPTEE_MSG_ATTR_TYPE_TMEM_INPUT && type <= OPTEE_MSG_ATTR_TYPE_TMEM_INOUT;
    const bool rmem = type >= OPTEE_MSG_ATTR_TYPE_RMEM_INPUT && type <= OPTEE_MSG_ATTR_TYPE_RMEM_INOUT;
    if (!tmem && !rmem) {
      ok = false;
      break;
    }
    p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT +
             (type - (tmem ? OPTEE_MSG_ATTR_TYPE_TMEM_INPUT : OPTEE_MSG_ATTR_TYPE_RMEM_INPUT));
    const uint64_t size = read_once(&m.u.tmem.size);
    const uint64_t ref = read_once(&m.u.tmem.shm_ref);
    p.size = size;
    if (tmem && read_once(&m.u.tmem.buf_ptr) == 0) continue;  // NULL memref
    TeeShm* shm = cookie_get(ref);
    if (shm == nullptr) {
      ok = false;
      break;
    }
    p.shm = shm;
    uint64_t offs;
    if (tmem) {
      const uint64_t pa = read_once(&m.u.tmem.buf_ptr);
      if (shm->pages.empty() || shm->pool == TeeShm::PoolKind::kPage) {
        offs = pa - shm->paddr.value;
        ok = pa >= shm->paddr.value;
      } else {
        ok = false;  // a paged buffer is named by RMEM, not by address
        offs = 0;
      }
    } else {
      offs = read_once(&m.u.rmem.offs);
    }
    p.offs = offs;
    ok = ok && base::range_within<uint64_t>(offs, size, shm->size);
  }
  uint32_t ret = TEE_ERROR_BAD_PARAMETERS;
  if (ok) {
    ret = supplicant_request(cmd, params);
    for (uint32_t i = 0; i < n; ++i) {
      const TeeParam& p = params[i];
      optee_msg_param& m = arg->params[i];
      switch (p.attr) {
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT: m.u.value = {p.a, p.b, p.c}; break;
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT: m.u.tmem.size = p.size; break;
        default: break;
      }
    }
  }
  for (auto& p : params)
    if (p.shm != nullptr) put_cookie_ref(p.shm);
  arg->ret = ret;
}

}  // namespace teemu::ree::optee
