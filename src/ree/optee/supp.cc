#include "ree/optee/supp.h"

#include <cerrno>

#include "abi/gp.h"
#include "abi/tee_uapi.h"
#include "base/assert.h"
#include "base/spin.h"
#include "ree/tee_core.h"

namespace teemu::ree::optee {

using namespace teemu::abi;  // NOLINT

// Handoffs between a caller and tee-supplicant. Each TA load is four requests in a row (LOAD_TA
// for the size, SHM_ALLOC, LOAD_TA, SHM_FREE), each a few microseconds of work on the other
// thread. Sleeping on every handoff costs two wake-ups per request, and a wake-up that must
// bring a halted virtual CPU back costs tens of microseconds on a VM, far more than the work.
// So while the two threads run on different CPUs, each polls for a while before it sleeps: the
// caller for its answer, the supplicant for the next request. On the same CPU neither polls
// (the other could not run meanwhile); a thread that is asleep is woken as before.
namespace {
// How long a thread polls before it sleeps: several requests' worth of work, and about what one
// wake-up of a halted virtual CPU costs.
constexpr uint64_t kPollNs = 50'000;
}  // namespace

uint32_t Supplicant::request(uint32_t func, std::vector<TeeParam>& params) {
  auto req = std::make_shared<Request>();
  req->func = func;
  req->params = &params;
  const int cpu = base::current_cpu();
  req->caller_cpu = cpu;
  bool wake = false;
  {
    base::MutexLock lock(lock_);
    if (ctx_ == nullptr || interrupted_) return TEE_ERROR_COMMUNICATION;
    queue_.push_back(req);
    queued_.store(queue_.size(), std::memory_order_release);
    wake = recv_sleepers_ > 0;
  }
  // Notified after the unlock (a supplicant thread woken while we still held lock_ would only
  // block on it again), and only one: a request is for one supplicant thread. A supplicant
  // thread that is awake finds it without a notification.
  if (wake) reqs_cv_.notify_one();
  const int supp_cpu = supp_cpu_.load(std::memory_order_relaxed);
  const bool poll = !wake && supp_cpu >= 0 && supp_cpu != cpu;
  if (!poll ||
      !base::spin_until([&] { return req->done.load(std::memory_order_acquire); }, kPollNs)) {
    base::MutexLock lock(lock_);
    while (!req->done.load(std::memory_order_relaxed)) {
      req->sleeping = true;
      req->cv.wait(lock_);
    }
  }
  return req->ret;
}

void Supplicant::complete_locked(Request& r, uint32_t ret) {
  r.ret = ret;
  r.done.store(true, std::memory_order_release);
}

KResult<void> Supplicant::attach(TeeContext* ctx) {
  base::MutexLock lock(lock_);
  if (ctx_ != nullptr) return fail_errno(EBUSY);
  ctx_ = ctx;
  interrupted_ = false;
  stop_polling_.store(false, std::memory_order_relaxed);
  sync_req_id_ = -1;
  return {};
}

void Supplicant::detach(TeeContext* ctx) {
  std::vector<RequestRef> failed;
  {
    base::MutexLock lock(lock_);
    if (ctx_ != ctx) return;
    for (auto& [id, r] : idr_) failed.push_back(r);
    idr_.clear();
    failed.insert(failed.end(), queue_.begin(), queue_.end());
    queue_.clear();
    for (auto& r : failed) complete_locked(*r, TEE_ERROR_COMMUNICATION);
    queued_.store(0, std::memory_order_relaxed);
    stop_polling_.store(true, std::memory_order_relaxed);
    ctx_ = nullptr;
    sync_req_id_ = -1;
  }
  for (auto& r : failed) r->cv.notify_one();
  reqs_cv_.notify_all();
}

bool Supplicant::attached() const {
  base::MutexLock lock(lock_);
  return ctx_ != nullptr;
}

void Supplicant::interrupt() {
  base::MutexLock lock(lock_);
  interrupted_ = true;
  stop_polling_.store(true, std::memory_order_relaxed);
  reqs_cv_.notify_all();
}

size_t Supplicant::pending() const {
  base::MutexLock lock(lock_);
  return queue_.size() + idr_.size();
}

TeeShm* Supplicant::shm_get(TeeDevice& dev, int id) {
  base::MutexLock lock(lock_);
  if (ctx_ == nullptr) return nullptr;
  auto r = dev.shm_get_from_id(*ctx_, id);
  return r ? *r : nullptr;
}

KResult<void> Supplicant::recv(TeeContext& ctx, uint32_t& func, uint32_t& num_params,
                               std::vector<TeeParam>& params) {
  // The supplicant's buffer: at least one param, each NONE or exactly META.
  if (params.empty()) return fail_errno(EINVAL);
  size_t num_meta = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const uint64_t attr = params[i].attr;
    if (attr != TEE_IOCTL_PARAM_ATTR_TYPE_NONE && attr != TEE_IOCTL_PARAM_ATTR_META)
      return fail_errno(EINVAL);
    if (params[i].shm != nullptr) return fail_errno(EINVAL);
  }
  if (params[0].attr == TEE_IOCTL_PARAM_ATTR_META) num_meta = 1;

  // Poll for the next request while its callers run on another CPU (see the top of this file).
  const int cpu = base::current_cpu();
  supp_cpu_.store(cpu, std::memory_order_relaxed);
  const int caller_cpu = last_caller_cpu_.load(std::memory_order_relaxed);
  if (caller_cpu >= 0 && caller_cpu != cpu)
    base::spin_until(
        [&] {
          return queued_.load(std::memory_order_acquire) != 0 ||
                 stop_polling_.load(std::memory_order_relaxed);
        },
        kPollNs);

  base::MutexLock lock(lock_);
  if (ctx_ != &ctx) return fail_errno(EINVAL);
  // A synchronous request must be answered before anything else is received, synchronously or
  // not (supp_pop_entry: the supplicant must not mix the two protocols).
  if (sync_req_id_ >= 0) return fail_errno(EINVAL);
  while (queue_.empty()) {
    if (interrupted_ || ctx_ != &ctx) return fail_errno(EINTR);
    ++recv_sleepers_;
    supp_cpu_.store(-1, std::memory_order_relaxed);
    reqs_cv_.wait(lock_);
    --recv_sleepers_;
    supp_cpu_.store(base::current_cpu(), std::memory_order_relaxed);
  }
  RequestRef r = queue_.front();
  if (params.size() - num_meta < r->params->size()) {
    // Too small for the request: -EINVAL, and the request fails (as the v4.12 synchronous
    // design did) instead of staying at the head of the queue. Left queued, it would block every
    // request behind it and wait forever for a supplicant whose buffer never grows.
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_relaxed);
    complete_locked(*r, TEE_ERROR_COMMUNICATION);
    r->cv.notify_one();  // under lock_: not a fast path
    return fail_errno(EINVAL);
  }
  queue_.pop_front();
  queued_.store(queue_.size(), std::memory_order_relaxed);
  last_caller_cpu_.store(r->caller_cpu, std::memory_order_relaxed);
  int id = 1;
  while (idr_.count(id)) ++id;
  idr_.emplace(id, r);
  if (num_meta == 0) sync_req_id_ = id;

  func = r->func;
  num_params = static_cast<uint32_t>(r->params->size() + num_meta);
  for (auto& p : params) p = TeeParam{};
  if (num_meta != 0) {
    params[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | TEE_IOCTL_PARAM_ATTR_META;
    params[0].a = static_cast<uint64_t>(id);
  }
  // params_to_supp, done here under the lock while the request is alive: values as a/b/c,
  // memrefs as offset/size/shm id (id -1 and offset 0 when there is no shm). No shm pointer
  // leaves this function.
  for (size_t i = 0; i < r->params->size(); ++i) {
    const TeeParam& src = (*r->params)[i];
    TeeParam& dst = params[num_meta + i];
    dst.attr = src.attr;
    switch (src.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        dst.a = src.a;
        dst.b = src.b;
        dst.c = src.c;
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
        dst.b = src.size;
        if (src.shm != nullptr) {
          dst.a = src.offs;
          dst.c = static_cast<uint64_t>(static_cast<int64_t>(src.shm->id));
        } else {
          dst.a = 0;
          dst.c = TEE_MEMREF_NULL;
        }
        break;
      default: break;
    }
  }
  return {};
}

KResult<void> Supplicant::send(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params) {
  auto answered = send_locked(ctx, ret, params);
  if (!answered) return tl::unexpected(answered.error());
  // Notified once lock_ is free, so the caller runs on without blocking on it; a caller polling
  // for its answer needs no notification.
  if (*answered != nullptr) (*answered)->cv.notify_one();
  return {};
}

KResult<Supplicant::RequestRef> Supplicant::send_locked(TeeContext& ctx, uint32_t ret,
                                                        std::vector<TeeParam>& params) {
  base::MutexLock lock(lock_);
  if (ctx_ != &ctx) return fail_errno(EINVAL);
  // supp_pop_req: a pending synchronous request takes the answer as it is; otherwise the first
  // param must be exactly the request-id META value.
  if (params.empty()) return fail_errno(EINVAL);
  size_t num_meta = 0;
  int id;
  if (sync_req_id_ >= 0) {
    id = sync_req_id_;
  } else {
    if (params[0].attr != (TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | TEE_IOCTL_PARAM_ATTR_META))
      return fail_errno(EINVAL);
    num_meta = 1;
    if (params[0].a > static_cast<uint64_t>(INT32_MAX)) return fail_errno(ENOENT);
    id = static_cast<int>(params[0].a);
  }
  auto it = idr_.find(id);
  if (it == idr_.end()) return fail_errno(ENOENT);
  RequestRef r = it->second;
  if (params.size() - num_meta != r->params->size()) return fail_errno(EINVAL);
  idr_.erase(it);
  if (num_meta == 0) sync_req_id_ = -1;
  // Only output values and output memref sizes flow back.
  for (size_t i = 0; i < r->params->size(); ++i) {
    TeeParam& dst = (*r->params)[i];
    const TeeParam& src = params[num_meta + i];
    switch (dst.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        dst.a = src.a;
        dst.b = src.b;
        dst.c = src.c;
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT: dst.size = src.size; break;
      default: break;
    }
  }
  complete_locked(*r, ret);
  if (!r->sleeping) r = nullptr;
  return r;
}

}  // namespace teemu::ree::optee
