// Kernel-internal types of the REE TEE subsystem model: shared-memory objects, contexts and the
// driver interface (tee_drv.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/addr.h"
#include "base/result.h"
#include "base/thread_annotations.h"

namespace teemu::ree {

class TeeDevice;
class TeeContext;
class TeeDriver;

// tee_shm: memory shared with the secure world. Either from a pool (kernel-mapped, physically
// contiguous: `paddr`/`kaddr`) or registered user memory (pinned pages aliasing the user's host
// pages: `pages`, `offset`). Reference counted; the id, when there is one, lives in the device's
// table and leaves it atomically with the last reference (TeeDevice::shm_put).
class TeeShm {
 public:
  enum Flags : uint32_t {
    kMapped = 1u << 0,      // TEE_SHM_MAPPED
    kDmaBuf = 1u << 1,      // TEE_SHM_DMA_BUF: exported to user space as an fd
    kRegister = 1u << 3,    // TEE_SHM_REGISTER: registered with the secure world (pages)
    kUserMapped = 1u << 4,  // TEE_SHM_USER_MAPPED
    kPool = 1u << 5,        // TEE_SHM_POOL
  };
  // Where pool memory came from: kStaticPriv / kStaticDmaBuf are blocks of the carve-out pools,
  // kPage one page of non-secure DRAM, kPages a multi-page kernel buffer (host allocation with
  // aliased frames).
  enum class PoolKind : uint8_t { kNone, kStaticPriv, kStaticDmaBuf, kPage, kPages };

  uint32_t flags = 0;
  int32_t id = -1;
  uint64_t size = 0;           // bytes usable by the owner
  uint32_t offset = 0;         // registered: offset of the buffer in its first page
  PhysAddr paddr{};            // pool: physical address of byte 0
  std::byte* kaddr = nullptr;  // pool: kernel (host) address of byte 0
  std::vector<Pfn> pages;      // registered or page-pool: one frame per 4 KiB
  PoolKind pool = PoolKind::kNone;
  uint64_t pool_alloc_size = 0;
  // Page-pool kernel buffers larger than a page: the host allocation behind the pages.
  void* host_alloc = nullptr;
  // Driver-private buffer (no device id, no context): freed by the driver, not the device.
  bool driver_private = false;
  std::shared_ptr<TeeContext> ctx;  // owner; keeps the context alive (kref)
  TeeDevice* teedev = nullptr;
  // Cookie the secure world knows this object by (optee::Driver::cookie_of): 0 until the
  // driver first describes the object to the secure world, then unique for the driver's
  // lifetime. Not the object's address, as in Linux: an address is reused by the next
  // allocation, so a stale cookie from the secure world would name an unrelated live buffer.
  std::atomic<uint64_t> sw_cookie{0};
  bool registered() const { return flags & kRegister; }

  std::atomic<uint32_t> refcount{1};
};

// A memref or value parameter inside the kernel (struct tee_param).
struct TeeParam {
  uint64_t attr = 0;
  uint64_t a = 0, b = 0, c = 0;  // value
  TeeShm* shm = nullptr;         // memref: referenced shm (one reference held) or null
  uint64_t offs = 0;
  uint64_t size = 0;
};

struct TeeVersion {
  uint32_t impl_id = 0;
  uint32_t impl_caps = 0;
  uint32_t gen_caps = 0;
};

struct OpenSessionArg {
  uint8_t uuid[16] = {};
  uint8_t clnt_uuid[16] = {};
  uint32_t clnt_login = 0;
  uint32_t cancel_id = 0;
  uint32_t session = 0;
  uint32_t ret = 0;
  uint32_t ret_origin = 0;
};

struct InvokeArg {
  uint32_t func = 0;
  uint32_t session = 0;
  uint32_t cancel_id = 0;
  uint32_t ret = 0;
  uint32_t ret_origin = 0;
};

// Driver operations (tee_driver_ops). Every errno result is returned as Errno.
class TeeDriver {
 public:
  virtual ~TeeDriver() = default;
  virtual TeeVersion get_version(const TeeDevice& dev) = 0;
  virtual KResult<void> open(TeeContext& ctx) = 0;
  // The file of the context was closed (tee_release; the ~6.18 close_context op). Runs even while
  // shm objects still hold the context, which release() waits for.
  virtual void close_context(TeeContext& ctx) = 0;
  // Last reference to the context went away: close its sessions.
  virtual void release(TeeContext& ctx) = 0;
  virtual KResult<void> open_session(TeeContext& ctx, OpenSessionArg& arg,
                                     std::vector<TeeParam>& params) = 0;
  virtual KResult<void> close_session(TeeContext& ctx, uint32_t session) = 0;
  virtual KResult<void> invoke(TeeContext& ctx, InvokeArg& arg, std::vector<TeeParam>& params) = 0;
  virtual KResult<void> cancel(TeeContext& ctx, uint32_t cancel_id, uint32_t session) = 0;
  virtual KResult<void> supp_recv(TeeContext& ctx, uint32_t& func, uint32_t& num_params,
                                  std::vector<TeeParam>& params) = 0;
  virtual KResult<void> supp_send(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params) = 0;
  virtual bool supports_register() const = 0;
  virtual KResult<void> shm_register(TeeContext& ctx, TeeShm& shm) = 0;
  virtual void shm_unregister(TeeContext& ctx, TeeShm& shm) = 0;
  // Pool allocation for user SHM_ALLOC (dma-buf pool) and driver-private buffers.
  virtual KResult<void> pool_alloc(TeeShm& shm, uint64_t size, bool dma_buf) = 0;
  virtual void pool_free(TeeShm& shm) = 0;
};

}  // namespace teemu::ree
