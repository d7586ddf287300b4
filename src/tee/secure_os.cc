#include "tee/secure_os.h"

#include <chrono>
#include <cstring>

#include "abi/optee_smc.h"
#include "base/assert.h"
#include "base/counter.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"

namespace teemu::tee {

using abi::SmcRegs;

// Revision this secure OS reports (GET_OS_REVISION).
constexpr uint32_t kOsRevisionMajor = 4;
constexpr uint32_t kOsRevisionMinor = 0;
// CALLS_COUNT as OP-TEE reports it; virtualization adds VM_CREATED and VM_DESTROYED.
constexpr uint32_t kCallsCount = 12;
constexpr uint32_t kVirtCallsCount = 2;

size_t UuidHash::operator()(const abi::Uuid& u) const {
  uint64_t a, b;
  std::memcpy(&a, u.octets, 8);
  std::memcpy(&b, u.octets + 8, 8);
  return std::hash<uint64_t>()(a * 0x9E3779B97F4A7C15ull ^ b);
}

Partition::Partition(uint16_t guest_id, SecureOs& os) : guest_id_(guest_id), os_(os) {
  for (uint32_t i = 0; i < os.config().num_threads; ++i) {
    auto t = std::make_unique<SecureThread>(i, os.config().thread_stack_size,
                                            [&os](SecureThread& th) { return os.thread_body(th); });
    t->set_wait_key(os.next_wait_key_.fetch_add(1));
    t->partition = this;
    threads.push_back(std::move(t));
  }
}

Partition::~Partition() {
  // Calls left suspended in RPCs hold sessions, instances and memory objects: unwind them first
  // (no TA code runs and nothing reaches the normal world any more).
  for (auto& t : threads) t->abort_suspended_call();
  std::vector<std::shared_ptr<Session>> sessions_left = sessions.take_all();
  std::unordered_map<abi::Uuid, std::shared_ptr<TaContext>, UuidHash> instances_left;
  {
    base::MutexLock l(lock);
    instances_left.swap(shared_instances);
  }
  // TA instances go without TA_DestroyEntryPoint, as OP-TEE frees a partition's memory.
  sessions_left.clear();
  instances_left.clear();
  threads.clear();
}

bool Partition::charge(uint64_t bytes) {
  const uint64_t limit = os_.config().partition_memory;
  uint64_t cur = charged_.load();
  do {
    if (limit != 0 && (bytes > limit || cur > limit - bytes)) return false;
  } while (!charged_.compare_exchange_weak(cur, cur + bytes));
  return true;
}

void Partition::uncharge(uint64_t bytes) { charged_.fetch_sub(bytes); }

SecureOs::SecureOs(hw::PhysMem& mem, hw::MachineStats& stats, TaLoader& loader,
                   const SecureOsConfig& config)
    : mem_(mem), stats_(stats), loader_(loader), config_(config), rpc_(mem, config.dynamic_shm) {
  TEEMU_ASSERT(config_.num_threads > 0);
  if (!config_.virtualization) default_partition_ = std::make_shared<Partition>(0, *this);
}

SecureOs::~SecureOs() {
  std::unordered_map<uint16_t, std::shared_ptr<Partition>> left;
  {
    base::ReadMostlyMutex::WriteLock lock(partitions_lock_);
    left.swap(partitions_);
  }
  left.clear();
  default_partition_.reset();
}

uint32_t SecureOs::sec_caps() const {
  uint32_t caps = abi::OPTEE_SMC_SEC_CAP_MEMREF_NULL | abi::OPTEE_SMC_SEC_CAP_RPC_ARG;
  if (mem_.static_shm_size() != 0) caps |= abi::OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
  if (config_.dynamic_shm) caps |= abi::OPTEE_SMC_SEC_CAP_DYNAMIC_SHM;
  if (config_.virtualization) caps |= abi::OPTEE_SMC_SEC_CAP_VIRTUALIZATION;
  return caps;
}

std::shared_ptr<Partition> SecureOs::partition_for(uint32_t a7) {
  // Without virtualization every caller is the one normal world (a7 = 0).
  if (!config_.virtualization) return a7 == 0 ? default_partition_ : nullptr;
  // OP-TEE keeps client ids as uint16_t; 0 is the hypervisor, which has no partition.
  const auto id = static_cast<uint16_t>(a7);
  if (id == 0) return nullptr;
  base::ReadMostlyMutex::ReadLock lock(partitions_lock_);
  auto it = partitions_.find(id);
  return it == partitions_.end() ? nullptr : it->second;
}

SmcRegs SecureOs::vm_created(const SmcRegs& in) {
  SmcRegs out;
  out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
  const auto id = static_cast<uint16_t>(in.w(1));
  if (id == 0) return out;  // reserved for the hypervisor (optee_os >= 4.5 refuses it too)
  base::ReadMostlyMutex::WriteLock lock(partitions_lock_);
  // OP-TEE would silently create a second partition for a live id; teemu refuses it, so a
  // truncated id can never alias a live guest.
  if (partitions_.count(id) || partitions_.size() >= config_.max_guests) return out;
  partitions_.emplace(id, std::make_shared<Partition>(id, *this));
  out[0] = abi::OPTEE_SMC_RETURN_OK;
  return out;
}

SmcRegs SecureOs::vm_destroyed(const SmcRegs& in) {
  SmcRegs out;
  out[0] = abi::OPTEE_SMC_RETURN_OK;  // always, even for an unknown id, as OP-TEE answers
  const auto id = static_cast<uint16_t>(in.w(1));
  std::shared_ptr<Partition> victim;
  {
    base::ReadMostlyMutex::WriteLock lock(partitions_lock_);
    auto it = partitions_.find(id);
    if (it == partitions_.end()) return out;
    victim = std::move(it->second);
    partitions_.erase(it);
  }
  // Freed here, or when the last call still inside the partition (a contract violation by the
  // hypervisor) returns.
  victim.reset();
  return out;
}

SmcRegs SecureOs::smc(const SmcRegs& in) {
  stats_.smc_calls.add();
  stats_.world_switches.add(2);
  if (in.w(0) & abi::OPTEE_SMC_FAST_CALL) return fast_call(in);
  return std_call(in);
}

SmcRegs SecureOs::fast_call(const SmcRegs& in) {
  SmcRegs out;
  const uint32_t fid = in.w(0);
  if (fid == abi::OPTEE_SMC_VM_CREATED || fid == abi::OPTEE_SMC_VM_DESTROYED) {
    if (!config_.virtualization) {
      out[0] = abi::OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
      return out;
    }
    // Only the hypervisor (a7 = 0) creates and destroys guests.
    if (in.w(7) != 0) {
      out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
      return out;
    }
    return fid == abi::OPTEE_SMC_VM_CREATED ? vm_created(in) : vm_destroyed(in);
  }
  // A caller's partition; with virtualization the hypervisor (a7 = 0) has none and may only use
  // the calls that change no partition state.
  std::shared_ptr<Partition> p;
  if (in.w(7) != 0 || !config_.virtualization) {
    p = partition_for(in.w(7));
    if (!p) {
      out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
      return out;
    }
  }
  if (!p && (fid == abi::OPTEE_SMC_DISABLE_SHM_CACHE || fid == abi::OPTEE_SMC_ENABLE_SHM_CACHE)) {
    out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
    return out;
  }
  switch (fid) {
    case abi::OPTEE_SMC_CALLS_UID:
      out[0] = abi::OPTEE_MSG_UID_0;
      out[1] = abi::OPTEE_MSG_UID_1;
      out[2] = abi::OPTEE_MSG_UID_2;
      out[3] = abi::OPTEE_MSG_UID_3;
      break;
    case abi::OPTEE_SMC_CALLS_REVISION:
      out[0] = abi::OPTEE_MSG_REVISION_MAJOR;
      out[1] = abi::OPTEE_MSG_REVISION_MINOR;
      break;
    case abi::OPTEE_SMC_CALLS_COUNT:
      out[0] = kCallsCount + (config_.virtualization ? kVirtCallsCount : 0);
      break;
    case abi::OPTEE_SMC_CALL_GET_OS_UUID:
      out[0] = abi::OPTEE_MSG_OS_OPTEE_UUID_0;
      out[1] = abi::OPTEE_MSG_OS_OPTEE_UUID_1;
      out[2] = abi::OPTEE_MSG_OS_OPTEE_UUID_2;
      out[3] = abi::OPTEE_MSG_OS_OPTEE_UUID_3;
      break;
    case abi::OPTEE_SMC_CALL_GET_OS_REVISION:
      out[0] = kOsRevisionMajor;
      out[1] = kOsRevisionMinor;
      out[2] = 0;
      break;
    case abi::OPTEE_SMC_GET_SHM_CONFIG:
      if (mem_.static_shm_size() == 0) {
        out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
      } else {
        out[0] = abi::OPTEE_SMC_RETURN_OK;
        out[1] = mem_.static_shm_base().value;
        out[2] = mem_.static_shm_size();
        out[3] = abi::OPTEE_SMC_SHM_CACHED;
      }
      break;
    case abi::OPTEE_SMC_EXCHANGE_CAPABILITIES:
      // Any normal-world capability other than UNIPROCESSOR is refused; a1 still carries ours.
      out[0] = (in.w(1) & ~abi::OPTEE_SMC_NSEC_CAP_UNIPROCESSOR) != 0
                   ? abi::OPTEE_SMC_RETURN_ENOTAVAIL
                   : abi::OPTEE_SMC_RETURN_OK;
      out[1] = sec_caps();
      out[2] = 0;
      out[3] = kRpcMaxParams;
      break;
    case abi::OPTEE_SMC_DISABLE_SHM_CACHE: {
      // Hands back one cached RPC argument per call; EBUSY unless every thread is free. Once
      // none is left the cache is off (ENOTAVAIL) and calls stop caching their RPC argument.
      out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
      for (auto& t : p->threads)
        if (t->state() != ThreadState::kFree) {
          out[0] = abi::OPTEE_SMC_RETURN_EBUSY;
          return out;
        }
      bool found = false;
      for (auto& t : p->threads) {
        if (!t->try_claim()) {
          out[0] = abi::OPTEE_SMC_RETURN_EBUSY;
          return out;
        }
        auto& ra = t->rpc_arg();
        found = ra.valid;
        if (found) {
          out[0] = abi::OPTEE_SMC_RETURN_OK;
          abi::reg_pair_from_64(ra.cookie, out[1], out[2]);
          ra = {};
        }
        t->release_claim();
        if (found) break;
      }
      if (!found) p->prealloc_rpc_cache.store(false);
      break;
    }
    case abi::OPTEE_SMC_ENABLE_SHM_CACHE: {
      out[0] = abi::OPTEE_SMC_RETURN_OK;
      for (auto& t : p->threads)
        if (t->state() != ThreadState::kFree) out[0] = abi::OPTEE_SMC_RETURN_EBUSY;
      if (out[0] == abi::OPTEE_SMC_RETURN_OK) p->prealloc_rpc_cache.store(true);
      break;
    }
    case abi::OPTEE_SMC_GET_THREAD_COUNT:
      out[0] = abi::OPTEE_SMC_RETURN_OK;
      out[1] = config_.num_threads;
      break;
    case abi::OPTEE_SMC_L2CC_MUTEX: out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL; break;
    case abi::OPTEE_SMC_BOOT_SECONDARY: out[0] = abi::OPTEE_SMC_RETURN_EBADCMD; break;
    default: out[0] = abi::OPTEE_SMC_RETURN_UNKNOWN_FUNCTION; break;
  }
  return out;
}

SmcRegs SecureOs::std_call(const SmcRegs& in) {
  SmcRegs out;
  // A guest's partition: the reference keeps it alive for this SMC (a suspended call holds
  // none). The default partition lives as long as the secure OS: no reference to take (that
  // would be a shared counter every call of every thread writes).
  std::shared_ptr<Partition> held;
  Partition* p = nullptr;
  if (!config_.virtualization) {
    if (in.w(7) == 0) p = default_partition_.get();
  } else {
    held = partition_for(in.w(7));
    p = held.get();
  }
  if (p == nullptr) {
    out[0] = abi::OPTEE_SMC_RETURN_ENOTAVAIL;
    return out;
  }
  if (in.w(0) == abi::OPTEE_SMC_CALL_RETURN_FROM_RPC) {
    uint32_t id = in.w(3);
    if (id >= p->threads.size() || !p->threads[id]->try_resume_claim()) {
      out[0] = abi::OPTEE_SMC_RETURN_ERESUME;
      return out;
    }
    return p->threads[id]->run(in);
  }
  // Any free thread will do (OP-TEE takes the first). The search starts at a slot of the calling
  // host thread's own, so that concurrent callers do not all race for the first thread's state,
  // and looks before it writes.
  const size_t n = p->threads.size();
  const size_t start = n == 0 ? 0 : base::counter_shard_index() % n;
  for (size_t i = 0; i < n; ++i) {
    SecureThread& t = *p->threads[(start + i) % n];
    if (t.state() == ThreadState::kFree && t.try_claim()) return t.run(in);
  }
  out[0] = abi::OPTEE_SMC_RETURN_ETHREAD_LIMIT;
  return out;
}

void SecureOs::audit_partition(const Partition& pc, Audit& a) {
  auto& p = const_cast<Partition&>(pc);
  ++a.partitions;
  a.sessions += p.sessions.size();
  for (uint32_t id : p.sessions.ids()) a.session_ids.push_back(id);
  {
    base::MutexLock lock(p.lock);
    a.instances += p.live_instances;
  }
  a.registered_shm += p.mobjs.count();
  a.registered_pages += p.mobjs.pages();
  a.registered_frames_kept += p.mobjs.frames_kept();
  for (uint64_t cookie : p.mobjs.cookies()) a.registered_cookies.push_back(cookie);
  a.charged_bytes += p.charged();
  for (auto& t : p.threads) {
    if (t->state() != ThreadState::kFree) ++a.busy_threads;
    if (t->rpc_arg().valid) ++a.cached_rpc_args;
  }
}

SecureOs::Audit SecureOs::audit() const {
  Audit a;
  if (default_partition_) audit_partition(*default_partition_, a);
  base::ReadMostlyMutex::WriteLock lock(partitions_lock_);
  for (auto& [id, p] : partitions_) audit_partition(*p, a);
  return a;
}

SecureOs::Audit SecureOs::audit(uint16_t guest_id) const {
  Audit a;
  if (!config_.virtualization) {
    if (guest_id == 0) audit_partition(*default_partition_, a);
    return a;
  }
  base::ReadMostlyMutex::WriteLock lock(partitions_lock_);  // not short: no read section
  auto it = partitions_.find(guest_id);
  if (it != partitions_.end()) audit_partition(*it->second, a);
  return a;
}

// --- TA services ---

uint32_t SecureOs::ta_wait(uint32_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  SecureThread* t = current_thread();
  TEEMU_ASSERT(t != nullptr);
  Session* s = t->session;
  constexpr uint32_t kInfinite = 0xFFFFFFFF;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    // The partition is being torn down: there is nobody left to sleep for.
    if (t->aborting()) return abi::TEE_ERROR_COMMUNICATION;
    if (s != nullptr && s->cancelled.load() && !s->cancel_mask) return abi::TEE_ERROR_CANCEL;
    uint32_t wait_ms = 0;  // 0: no timeout
    if (timeout_ms != kInfinite) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return abi::TEE_SUCCESS;
      wait_ms = static_cast<uint32_t>(left);
    }
    if (s != nullptr) {
      base::MutexLock lock(s->wait_lock);
      s->waiting_key = t->wait_key();
    }
    // Re-check after publishing the key: a cancel that raced with it either sees the key (and
    // wakes us) or set the flag before we look here.
    bool cancel_now = s != nullptr && s->cancelled.load() && !s->cancel_mask;
    uint32_t r = abi::TEE_SUCCESS;
    if (!cancel_now) r = rpc_.wait(*t, t->wait_key(), wait_ms);
    if (s != nullptr) {
      base::MutexLock lock(s->wait_lock);
      s->waiting_key = 0;
    }
    if (r != abi::TEE_SUCCESS && r != abi::TEE_ERROR_TIMEOUT) {
      // The normal world could not sleep for us: fall back to polling the deadline.
      if (timeout_ms == kInfinite) return r;
    }
  }
}

bool SecureOs::ta_cancellation_flag() {
  SecureThread* t = current_thread();
  Session* s = t != nullptr ? t->session : nullptr;
  return s != nullptr && s->cancelled.load() && !s->cancel_mask;
}

bool SecureOs::ta_set_cancel_mask(bool masked) {
  SecureThread* t = current_thread();
  Session* s = t != nullptr ? t->session : nullptr;
  if (s == nullptr) return true;
  bool old = s->cancel_mask;
  s->cancel_mask = masked;
  return old;
}

}  // namespace teemu::tee
