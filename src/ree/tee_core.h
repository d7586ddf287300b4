// The Linux TEE subsystem model (drivers/tee/tee_core.c, tee_shm.c): devices, contexts and shared
// memory objects, and the uapi ioctl entry with the real checks and errno results.
#pragma once

#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/thread_annotations.h"
#include "ree/tee_types.h"

namespace teemu::hw {
class PhysSpace;
struct MachineStats;
}  // namespace teemu::hw

namespace teemu::ree {

// Driver-private per-context data (optee_context_data).
class DriverContextData {
 public:
  virtual ~DriverContextData() = default;
};

// struct tee_context. Shared ownership: the open file holds one reference and every shm of the
// context holds one, so the context (and its sessions in the secure world) outlives its last shm.
// The driver's release() runs when the last reference goes.
class TeeContext {
 public:
  explicit TeeContext(TeeDevice& dev) : dev_(dev) {}
  ~TeeContext();
  TeeDevice& dev() const { return dev_; }

  std::unique_ptr<DriverContextData> data;
  bool cap_memref_null = false;
  bool supp_nowait = false;

 private:
  TeeDevice& dev_;
};

// struct tee_device: one of /dev/tee0 (client) or /dev/teepriv0 (supplicant, privileged).
class TeeDevice {
 public:
  TeeDevice(std::string name, bool privileged, TeeDriver& driver, hw::PhysSpace& mem,
            hw::MachineStats& stats);
  ~TeeDevice();

  const std::string& name() const { return name_; }
  bool privileged() const { return privileged_; }
  TeeDriver& driver() { return driver_; }
  hw::PhysSpace& mem() { return mem_; }
  hw::MachineStats& stats() { return stats_; }

  // Opens a context (teedev_open): the driver's open may refuse (EBUSY for a second supplicant).
  KResult<std::shared_ptr<TeeContext>> open_context();

  // --- shm objects ---
  // Allocates from the driver's pool; with `user`, the object gets an id (SHM_ALLOC ioctl).
  KResult<TeeShm*> shm_alloc(const std::shared_ptr<TeeContext>& ctx, uint64_t size, bool user);
  // Pins and registers [addr, addr + length) of the caller's memory (SHM_REGISTER ioctl).
  KResult<TeeShm*> shm_register(const std::shared_ptr<TeeContext>& ctx, uint64_t addr,
                                uint64_t length);
  // tee_shm_get_from_id: a new reference to shm `id` of `ctx`, or EINVAL. The lookup and the
  // reference change under one lock, so a shm whose count reached zero is never returned.
  KResult<TeeShm*> shm_get_from_id(const TeeContext& ctx, int id) EXCLUDES(shm_lock_);
  void shm_get(TeeShm* shm);
  // tee_shm_put: drops a reference; the last one removes the id (under the lock) and releases.
  void shm_put(TeeShm* shm) EXCLUDES(shm_lock_);
  // Number of live shm objects of this device (quiescence audit).
  size_t live_shm() const EXCLUDES(shm_lock_);

 private:
  void shm_release(TeeShm* shm);
  // Takes the lowest free id for `shm`; null reserves the id without naming an object yet.
  int alloc_id_locked(TeeShm* shm) REQUIRES(shm_lock_);

  std::string name_;
  bool privileged_;
  TeeDriver& driver_;
  hw::PhysSpace& mem_;
  hw::MachineStats& stats_;

  mutable base::Mutex shm_lock_;
  std::unordered_map<int, TeeShm*> idr_ GUARDED_BY(shm_lock_);
  std::priority_queue<int, std::vector<int>, std::greater<int>> free_ids_ GUARDED_BY(shm_lock_);
  int next_id_ GUARDED_BY(shm_lock_) = 1;
  size_t live_ GUARDED_BY(shm_lock_) = 0;
};

// The uapi entry: one call per ioctl, with `arg` the user pointer as passed to ioctl(2).
// Returns 0 or a negative errno. For SHM_ALLOC and SHM_REGISTER a new shm is returned through
// `new_shm` (holding one reference) and the caller turns it into a file descriptor.
int tee_ioctl(const std::shared_ptr<TeeContext>& ctx, uint32_t cmd, void* arg, TeeShm** new_shm);

}  // namespace teemu::ree
