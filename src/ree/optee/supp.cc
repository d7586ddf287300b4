#include "ree/optee/supp.h"

#include <cerrno>

#include "abi/gp.h"
#include "abi/tee_uapi.h"
#include "base/assert.h"
#include "ree/tee_core.h"

namespace teemu::ree::optee {

using namespace teemu::abi;  // NOLINT

uint32_t Supplicant::request(uint32_t func, std::vector<TeeParam>& params) {
  Request req;
  req.func = func;
  req.params = &params;
  base::MutexLock lock(lock_);
  if (ctx_ == nullptr || interrupted_) return TEE_ERROR_COMMUNICATION;
  queue_.push_back(&req);
  reqs_cv_.notify_all();
  while (!req.done) req.cv.wait(lock_);
  return req.ret;
}

void Supplicant::complete_locked(Request* r, uint32_t ret) {
  r->ret = ret;
  r->done = true;
  r->cv.notify_all();
}

KResult<void> Supplicant::attach(TeeContext* ctx) {
  base::MutexLock lock(lock_);
  if (ctx_ != nullptr) return fail_errno(EBUSY);
  ctx_ = ctx;
  interrupted_ = false;
  sync_req_id_ = -1;
  return {};
}

void Supplicant::detach(TeeContext* ctx) {
  base::MutexLock lock(lock_);
  if (ctx_ != ctx) return;
  for (auto& [id, r] : idr_) complete_locked(r, TEE_ERROR_COMMUNICATION);
  idr_.clear();
  for (Request* r : queue_) complete_locked(r, TEE_ERROR_COMMUNICATION);
  queue_.clear();
  ctx_ = nullptr;
  sync_req_id_ = -1;
  reqs_cv_.notify_all();
}

bool Supplicant::attached() const {
  base::MutexLock lock(lock_);
  return ctx_ != nullptr;
}

void Supplicant::interrupt() {
  base::MutexLock lock(lock_);
  interrupted_ = true;
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

  base::MutexLock lock(lock_);
  if (ctx_ != &ctx) return fail_errno(EINVAL);
  // A synchronous request must be answered before anything else is received, synchronously or
  // not (supp_pop_entry: the supplicant must not mix the two protocols).
  if (sync_req_id_ >= 0) return fail_errno(EINVAL);
  while (queue_.empty()) {
    if (interrupted_ || ctx_ != &ctx) return fail_errno(EINTR);
    reqs_cv_.wait(lock_);
  }
  Request* r = queue_.front();
  if (params.size() - num_meta < r->params->size()) {
    // Too small for the request: -EINVAL, and the request fails (as the v4.12 synchronous
    // design did) instead of staying at the head of the queue. Left queued, it would block every
    // request behind it and wait forever for a supplicant whose buffer never grows.
    queue_.pop_front();
    complete_locked(r, TEE_ERROR_COMMUNICATION);
    return fail_errno(EINVAL);
  }
  queue_.pop_front();
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
  Request* r = it->second;
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
  complete_locked(r, ret);
  return {};
}

}  // namespace teemu::ree::optee
