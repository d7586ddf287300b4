#include "ree/tee_core.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "abi/gp.h"
#include "abi/tee_uapi.h"
#include "base/assert.h"
#include "base/checked.h"
#include "hw/machine_stats.h"
#include "hw/phys_space.h"
#include "ree/user_pages.h"

namespace teemu::ree {

using namespace teemu::abi;  // NOLINT: uapi names are the vocabulary here

// The kernel-internal ENOTSUPP (not ENOTSUP): what SHM_REGISTER returns without driver support.
constexpr int kENOTSUPP = 524;

TeeContext::~TeeContext() { dev_.driver().release(*this); }

TeeDevice::TeeDevice(std::string name, bool privileged, TeeDriver& driver, hw::PhysSpace& mem,
                     hw::MachineStats& stats)
    : name_(std::move(name)), privileged_(privileged), driver_(driver), mem_(mem), stats_(stats) {}

TeeDevice::~TeeDevice() {
  base::MutexLock lock(shm_lock_);
  TEEMU_ASSERT(live_ == 0 && "tee device destroyed with live shared memory");
}

KResult<std::shared_ptr<TeeContext>> TeeDevice::open_context() {
  auto ctx = std::make_shared<TeeContext>(*this);
  auto r = driver_.open(*ctx);
  if (!r) {
    ctx->data.reset();
    // The driver did not accept the context: make sure release() sees nothing to do.
    return tl::unexpected(r.error());
  }
  return ctx;
}

int TeeDevice::alloc_id_locked(TeeShm* shm) {
  int id;
  if (!free_ids_.empty()) {
    id = free_ids_.top();
    free_ids_.pop();
  } else {
    id = next_id_++;
  }
  idr_.emplace(id, shm);
  return id;
}

KResult<TeeShm*> TeeDevice::shm_alloc(const std::shared_ptr<TeeContext>& ctx, uint64_t size,
                                      bool user) {
  if (size == 0) return fail_errno(EINVAL);
  auto shm = std::make_unique<TeeShm>();
  shm->teedev = this;
  shm->flags = TeeShm::kMapped | TeeShm::kPool | (user ? uint32_t{TeeShm::kDmaBuf} : 0u);
  auto r = driver_.pool_alloc(*shm, size, user);
  if (!r) return tl::unexpected(r.error());
  shm->ctx = ctx;
  // A dynamic-pool buffer (no carve-out) is registered with the secure world like user memory.
  if (shm->flags & TeeShm::kRegister) {
    auto reg = driver_.shm_register(*ctx, *shm);
    if (!reg) {
      driver_.pool_free(*shm);
      return tl::unexpected(reg.error());
    }
  }
  TeeShm* raw = shm.release();
  base::MutexLock lock(shm_lock_);
  if (user) raw->id = alloc_id_locked(raw);
  ++live_;
  stats_.shm_allocated.add();
  return raw;
}

KResult<TeeShm*> TeeDevice::shm_register(const std::shared_ptr<TeeContext>& ctx, uint64_t addr,
                                         uint64_t length) {
  if (!access_ok(addr, length)) return fail_errno(EFAULT);
  const uint64_t start = base::page_round_down(addr);
  const uint64_t num_pages = (base::page_round_up(addr + length) - start) >> base::kPageShift;
  // An empty, page-aligned range spans no page: the OP-TEE driver refuses zero pages.
  if (num_pages == 0) return fail_errno(EINVAL);
  auto shm = std::make_unique<TeeShm>();
  shm->teedev = this;
  shm->flags = TeeShm::kDmaBuf | TeeShm::kUserMapped | TeeShm::kRegister;
  shm->offset = static_cast<uint32_t>(addr - start);
  shm->size = length;
  shm->ctx = ctx;
  auto pages = pin_user_pages(mem_, start, num_pages);
  if (!pages) return tl::unexpected(pages.error());
  shm->pages = std::move(*pages);
  stats_.pages_pinned.add(static_cast<int64_t>(num_pages));
  stats_.pages_pinned_now.add(static_cast<int64_t>(num_pages));
  // The id is reserved before the driver registers, as in Linux, but it names nothing until the
  // registration succeeded (Linux >= 5.18: idr_alloc(NULL), then idr_replace). Ids are
  // guessable: published early, another thread of the context could take a reference to an
  // object the secure world does not know yet, or that a failed registration then frees.
  TeeShm* raw = shm.get();
  {
    base::MutexLock lock(shm_lock_);
    raw->id = alloc_id_locked(nullptr);
    ++live_;
  }
  auto r = driver_.shm_register(*ctx, *raw);
  {
    base::MutexLock lock(shm_lock_);
    if (r) {
      idr_[raw->id] = raw;
    } else {
      idr_.erase(raw->id);
      free_ids_.push(raw->id);
      --live_;
    }
  }
  if (!r) {
    unpin_user_pages(mem_, raw->pages);
    stats_.pages_pinned_now.sub(static_cast<int64_t>(num_pages));
    return tl::unexpected(r.error());
  }
  stats_.shm_registered.add();
  return shm.release();
}

KResult<TeeShm*> TeeDevice::shm_get_from_id(const TeeContext& ctx, int id) {
  base::MutexLock lock(shm_lock_);
  auto it = idr_.find(id);
  // A reserved id (null: registration still running) names nothing yet.
  if (it == idr_.end() || it->second == nullptr || it->second->ctx.get() != &ctx)
    return fail_errno(EINVAL);
  TeeShm* shm = it->second;
  // A count of zero cannot be seen here: the last put removes the id under this lock.
  TEEMU_ASSERT(shm->refcount.load() > 0);
  shm->refcount.fetch_add(1, std::memory_order_relaxed);
  return shm;
}

void TeeDevice::shm_get(TeeShm* shm) { shm->refcount.fetch_add(1, std::memory_order_relaxed); }

void TeeDevice::shm_put(TeeShm* shm) {
  {
    base::MutexLock lock(shm_lock_);
    if (shm->refcount.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (shm->id >= 0) {
      idr_.erase(shm->id);
      free_ids_.push(shm->id);
    }
    --live_;
  }
  shm_release(shm);
}

void TeeDevice::shm_release(TeeShm* shm) {
  if (shm->flags & TeeShm::kRegister) driver_.shm_unregister(*shm->ctx, *shm);
  if (shm->pool == TeeShm::PoolKind::kNone) {
    unpin_user_pages(mem_, shm->pages);
    stats_.pages_pinned_now.sub(static_cast<int64_t>(shm->pages.size()));
  } else {
    driver_.pool_free(*shm);
  }
  std::shared_ptr<TeeContext> ctx = std::move(shm->ctx);
  delete shm;
  ctx.reset();  // may release the context (and close its sessions)
}

size_t TeeDevice::live_shm() const {
  base::MutexLock lock(shm_lock_);
  return live_;
}

// ---------------------------------------------------------------------------------------------
// uapi

namespace {

// User pointers are host pointers of the calling process; copy_from_user / copy_to_user
// (user_pages.h) turn a bad one into -EFAULT.
template <class T>
bool put_user(uint64_t dst, const T& v) {
  return copy_to_user(dst, &v, sizeof(T));
}

void put_params(TeeDevice& dev, std::vector<TeeParam>& params) {
  for (auto& p : params)
    if (p.shm != nullptr) {
      dev.shm_put(p.shm);
      p.shm = nullptr;
    }
}

// params_from_user: converts and takes a reference on every memref's shm. On error all
// references taken are dropped again.
KResult<void> params_from_user(TeeContext& ctx, std::vector<TeeParam>& out,
                               const tee_ioctl_param* up, size_t n) {
  out.assign(n, TeeParam{});
  for (size_t i = 0; i < n; ++i) {
    const tee_ioctl_param& ip = up[i];
    TeeParam& p = out[i];
    if (ip.attr & ~TEE_IOCTL_PARAM_ATTR_MASK) goto einval;
    p.attr = ip.attr;
    switch (ip.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_NONE:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT: break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        p.a = ip.a;
        p.b = ip.b;
        p.c = ip.c;
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT: {
        p.offs = ip.a;
        p.size = ip.b;
        if (ip.c == TEE_MEMREF_NULL) {
          if (!ctx.cap_memref_null) goto einval;
          p.shm = nullptr;
          break;
        }
        if (ip.c > static_cast<uint64_t>(INT32_MAX)) goto einval;
        auto shm = ctx.dev().shm_get_from_id(ctx, static_cast<int>(ip.c));
        if (!shm) goto einval;
        p.shm = *shm;
        // offset + size must not wrap and must stay inside the shm.
        if (!base::range_within<uint64_t>(ip.a, ip.b, p.shm->size)) goto einval;
        break;
      }
      default: goto einval;
    }
  }
  return {};
einval:
  put_params(ctx.dev(), out);
  return fail_errno(EINVAL);
}

// params_to_user: only output values and output memref sizes flow back.
bool params_to_user(uint64_t uparams, const std::vector<TeeParam>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const TeeParam& p = params[i];
    const uint64_t up = uparams + i * sizeof(tee_ioctl_param);
    switch (p.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT: {
        const uint64_t abc[3] = {p.a, p.b, p.c};  // a, b, c are adjacent in tee_ioctl_param
        if (!copy_to_user(up + offsetof(tee_ioctl_param, a), abc, sizeof(abc))) return false;
        break;
      }
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
        if (!put_user(up + offsetof(tee_ioctl_param, b), p.size)) return false;
        break;
      default: break;
    }
  }
  return true;
}

// tee_session_calc_client_uuid (Linux >= 5.8): UUIDv5 in the TEE namespace.
KResult<void> calc_client_uuid(uint8_t out[16], uint32_t login, const uint8_t clnt_uuid[16]) {
  static const uint8_t kNs[16] = {0x58, 0xac, 0x9c, 0xa0, 0x20, 0x86, 0x46, 0x83,
                                  0xa1, 0xb8, 0xec, 0x4b, 0xc0, 0x8e, 0x01, 0xb6};
  char name[32];
  switch (login) {
    case TEE_IOCTL_LOGIN_PUBLIC:
    case TEE_IOCTL_LOGIN_REE_KERNEL: std::memset(out, 0, 16); return {};
    case TEE_IOCTL_LOGIN_USER: std::snprintf(name, sizeof(name), "uid=%x", geteuid()); break;
    case TEE_IOCTL_LOGIN_GROUP: {
      uint32_t gid;
      std::memcpy(&gid, clnt_uuid, sizeof(gid));
      bool member = gid == getegid();
      if (!member) {
        gid_t groups[256];
        int n = getgroups(256, groups);
        for (int i = 0; i < n && !member; ++i) member = groups[i] == gid;
      }
      if (!member) return fail_errno(EPERM);
      std::snprintf(name, sizeof(name), "gid=%x", gid);
      break;
    }
    default: return fail_errno(EINVAL);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md != nullptr && EVP_DigestInit_ex(md, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(md, kNs, sizeof(kNs)) == 1 &&
            EVP_DigestUpdate(md, name, std::strlen(name)) == 1 &&
            EVP_DigestFinal_ex(md, digest, &dlen) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return fail_errno(ENOMEM);
  std::memcpy(out, digest, 16);
  out[6] = static_cast<uint8_t>((out[6] & 0x0F) | 0x50);
  out[8] = static_cast<uint8_t>((out[8] & 0x3F) | 0x80);
  return {};
}

// Reads a buf-style ioctl argument: checks buf_len against the limit and the fixed header, copies
// the whole buffer. `exact` requires header + 32 * num_params == buf_len (SUPPL_SEND only <=).
struct BufArg {
  alignas(8) uint8_t data[TEE_MAX_ARG_SIZE];
  uint64_t uaddr = 0;
  size_t len = 0;
  size_t num_params = 0;
};

int read_buf_arg(void* arg, size_t header, size_t num_params_offset, bool exact, BufArg& out) {
  tee_ioctl_buf_data buf;
  if (!copy_from_user(&buf, reinterpret_cast<uint64_t>(arg), sizeof(buf))) return -EFAULT;
  if (buf.buf_len > TEE_MAX_ARG_SIZE || buf.buf_len < header) return -EINVAL;
  if (!copy_from_user(out.data, buf.buf_ptr, buf.buf_len)) return -EFAULT;
  uint32_t n;
  std::memcpy(&n, out.data + num_params_offset, sizeof(n));
  // header + 32 * n computed in 64 bits: cannot wrap.
  const uint64_t need = header + uint64_t{n} * sizeof(tee_ioctl_param);
  if (exact ? need != buf.buf_len : need > buf.buf_len) return -EINVAL;
  out.uaddr = buf.buf_ptr;
  out.len = buf.buf_len;
  out.num_params = n;
  return 0;
}

int ioctl_open_session(TeeContext& ctx, void* arg) {
  BufArg b;
  if (int r = read_buf_arg(arg, sizeof(tee_ioctl_open_session_arg),
                           offsetof(tee_ioctl_open_session_arg, num_params), true, b))
    return r;
  tee_ioctl_open_session_arg hdr;
  std::memcpy(&hdr, b.data, sizeof(hdr));
  std::vector<TeeParam> params;
  auto* up = reinterpret_cast<const tee_ioctl_param*>(b.data + sizeof(hdr));
  if (auto r = params_from_user(ctx, params, up, b.num_params); !r) return -r.error().value;
  OpenSessionArg oa;
  std::memcpy(oa.uuid, hdr.uuid, 16);
  oa.clnt_login = hdr.clnt_login;
  oa.cancel_id = hdr.cancel_id;
  int rc = 0;
  if (hdr.clnt_login >= TEE_IOCTL_LOGIN_REE_KERNEL_MIN &&
      hdr.clnt_login <= TEE_IOCTL_LOGIN_REE_KERNEL_MAX) {
    rc = -EPERM;
  } else if (auto u = calc_client_uuid(oa.clnt_uuid, hdr.clnt_login, hdr.clnt_uuid); !u) {
    rc = -u.error().value;
  } else if (auto r = ctx.dev().driver().open_session(ctx, oa, params); !r) {
    rc = -r.error().value;
  } else {
    const uint64_t base = b.uaddr;
    bool ok = put_user(base + offsetof(tee_ioctl_open_session_arg, session), oa.session) &&
              put_user(base + offsetof(tee_ioctl_open_session_arg, ret), oa.ret) &&
              put_user(base + offsetof(tee_ioctl_open_session_arg, ret_origin), oa.ret_origin) &&
              params_to_user(base + sizeof(hdr), params);
    if (!ok) {
      // The session exists in the TEE but the caller cannot learn its id: close it again.
      if (oa.ret == TEE_SUCCESS) (void)ctx.dev().driver().close_session(ctx, oa.session);
      rc = -EFAULT;
    }
  }
  put_params(ctx.dev(), params);
  return rc;
}

int ioctl_invoke(TeeContext& ctx, void* arg) {
  BufArg b;
  if (int r = read_buf_arg(arg, sizeof(tee_ioctl_invoke_arg),
                           offsetof(tee_ioctl_invoke_arg, num_params), true, b))
    return r;
  tee_ioctl_invoke_arg hdr;
  std::memcpy(&hdr, b.data, sizeof(hdr));
  std::vector<TeeParam> params;
  auto* up = reinterpret_cast<const tee_ioctl_param*>(b.data + sizeof(hdr));
  if (auto r = params_from_user(ctx, params, up, b.num_params); !r) return -r.error().value;
  InvokeArg ia;
  ia.func = hdr.func;
  ia.session = hdr.session;
  ia.cancel_id = hdr.cancel_id;
  int rc = 0;
  if (auto r = ctx.dev().driver().invoke(ctx, ia, params); !r) {
    rc = -r.error().value;
  } else {
    const uint64_t base = b.uaddr;
    bool ok = put_user(base + offsetof(tee_ioctl_invoke_arg, ret), ia.ret) &&
              put_user(base + offsetof(tee_ioctl_invoke_arg, ret_origin), ia.ret_origin) &&
              params_to_user(base + sizeof(hdr), params);
    if (!ok) rc = -EFAULT;
  }
  put_params(ctx.dev(), params);
  return rc;
}

int ioctl_supp_recv(TeeContext& ctx, void* arg) {
  BufArg b;
  if (int r = read_buf_arg(arg, sizeof(tee_iocl_supp_recv_arg),
                           offsetof(tee_iocl_supp_recv_arg, num_params), true, b))
    return r;
  std::vector<TeeParam> params;
  auto* up = reinterpret_cast<const tee_ioctl_param*>(b.data + sizeof(tee_iocl_supp_recv_arg));
  if (auto r = params_from_user(ctx, params, up, b.num_params); !r) return -r.error().value;
  uint32_t func = 0, num_params = static_cast<uint32_t>(b.num_params);
  auto r = ctx.dev().driver().supp_recv(ctx, func, num_params, params);
  if (!r) {
    put_params(ctx.dev(), params);
    return -r.error().value;
  }
  // On success the driver filled `params` with the request as the supplicant sees it (attr and
  // a/b/c only, no references).
  const uint64_t base = b.uaddr;
  bool ok = put_user(base + offsetof(tee_iocl_supp_recv_arg, func), func) &&
            put_user(base + offsetof(tee_iocl_supp_recv_arg, num_params), num_params);
  for (uint32_t i = 0; ok && i < num_params && i < params.size(); ++i) {
    const tee_ioctl_param ip{params[i].attr, params[i].a, params[i].b, params[i].c};
    ok = copy_to_user(base + sizeof(tee_iocl_supp_recv_arg) + i * sizeof(ip), &ip, sizeof(ip));
  }
  return ok ? 0 : -EFAULT;
}

int ioctl_supp_send(TeeContext& ctx, void* arg) {
  BufArg b;
  if (int r = read_buf_arg(arg, sizeof(tee_iocl_supp_send_arg),
                           offsetof(tee_iocl_supp_send_arg, num_params), false, b))
    return r;
  tee_iocl_supp_send_arg hdr;
  std::memcpy(&hdr, b.data, sizeof(hdr));
  std::vector<TeeParam> params(b.num_params);
  auto* up = reinterpret_cast<const tee_ioctl_param*>(b.data + sizeof(hdr));
  // params_from_supp: only output values and output memref sizes are taken.
  for (size_t i = 0; i < b.num_params; ++i) {
    if (up[i].attr & ~TEE_IOCTL_PARAM_ATTR_MASK) return -EINVAL;
    params[i].attr = up[i].attr;
    switch (up[i].attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        params[i].a = up[i].a;
        params[i].b = up[i].b;
        params[i].c = up[i].c;
        break;
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
      case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT: params[i].size = up[i].b; break;
      default: break;
    }
  }
  auto r = ctx.dev().driver().supp_send(ctx, hdr.ret, params);
  return r ? 0 : -r.error().value;
}

}  // namespace

int tee_ioctl(const std::shared_ptr<TeeContext>& ctxp, uint32_t cmd, void* arg,
              TeeShm** new_shm) {
  TeeContext& ctx = *ctxp;
  TeeDevice& dev = ctx.dev();
  TeeDriver& drv = dev.driver();
  const bool supp = dev.privileged();
  const uint64_t uarg = reinterpret_cast<uint64_t>(arg);
  switch (cmd) {
    case TEE_IOC_VERSION: {
      TeeVersion v = drv.get_version(dev);
      tee_ioctl_version_data d{v.impl_id, v.impl_caps, v.gen_caps};
      if (supp) d.gen_caps |= TEE_GEN_CAP_PRIVILEGED;
      return copy_to_user(uarg, &d, sizeof(d)) ? 0 : -EFAULT;
    }
    case TEE_IOC_SHM_ALLOC: {
      tee_ioctl_shm_alloc_data d;
      if (!copy_from_user(&d, uarg, sizeof(d))) return -EFAULT;
      if (d.flags != 0) return -EINVAL;
      auto shm = dev.shm_alloc(ctxp, d.size, true);
      if (!shm) return -shm.error().value;
      d.id = (*shm)->id;
      d.size = (*shm)->size;
      d.flags = (*shm)->flags;
      if (!copy_to_user(uarg, &d, sizeof(d))) {
        dev.shm_put(*shm);
        return -EFAULT;
      }
      *new_shm = *shm;
      return 0;
    }
    case TEE_IOC_SHM_REGISTER: {
      tee_ioctl_shm_register_data d;
      if (!copy_from_user(&d, uarg, sizeof(d))) return -EFAULT;
      if (d.flags != 0) return -EINVAL;
      if (!drv.supports_register()) return -kENOTSUPP;
      auto shm = dev.shm_register(ctxp, d.addr, d.length);
      if (!shm) return -shm.error().value;
      d.id = (*shm)->id;
      d.length = (*shm)->size;
      d.flags = (*shm)->flags;
      if (!copy_to_user(uarg, &d, sizeof(d))) {
        dev.shm_put(*shm);
        return -EFAULT;
      }
      *new_shm = *shm;
      return 0;
    }
    case TEE_IOC_OPEN_SESSION: return supp ? -EINVAL : ioctl_open_session(ctx, arg);
    case TEE_IOC_INVOKE: return supp ? -EINVAL : ioctl_invoke(ctx, arg);
    case TEE_IOC_CANCEL: {
      if (supp) return -EINVAL;
      tee_ioctl_cancel_arg d;
      if (!copy_from_user(&d, uarg, sizeof(d))) return -EFAULT;
      auto r = drv.cancel(ctx, d.cancel_id, d.session);
      return r ? 0 : -r.error().value;
    }
    case TEE_IOC_CLOSE_SESSION: {
      if (supp) return -EINVAL;
      tee_ioctl_close_session_arg d;
      if (!copy_from_user(&d, uarg, sizeof(d))) return -EFAULT;
      auto r = drv.close_session(ctx, d.session);
      return r ? 0 : -r.error().value;
    }
    case TEE_IOC_SUPPL_RECV: return supp ? ioctl_supp_recv(ctx, arg) : -EINVAL;
    case TEE_IOC_SUPPL_SEND: return supp ? ioctl_supp_send(ctx, arg) : -EINVAL;
    default: return -EINVAL;
  }
}

}  // namespace teemu::ree
