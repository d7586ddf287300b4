// The tee-supplicant model: a normal-world service thread that serves the secure world's RPC
// requests the kernel forwards (LOAD_TA, SHM_ALLOC/SHM_FREE of application memory, FS for the REE
// file system of trusted storage). It talks to the REE kernel only through its system calls on
// /dev/teepriv0, exactly as the real daemon does. Requests it does not serve get the daemon's
// answer: TEEC_ERROR_NOT_SUPPORTED for an unknown command, TEEC_ERROR_BAD_PARAMETERS for a
// malformed one.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "abi/tee_uapi.h"
#include "base/thread_annotations.h"
#include "supplicant/ree_fs.h"

namespace teemu::ree {
class Kernel;
}

namespace teemu::supplicant {

struct SupplicantConfig {
  // Directories searched for <uuid>.ta, in order.
  std::vector<std::string> ta_path;
  // Root of the REE file system (OPTEE_RPC_CMD_FS); created on the first FS request.
  std::string storage_dir;
};

class Supplicant {
 public:
  Supplicant(ree::Kernel& kernel, SupplicantConfig config);
  ~Supplicant();

  // Opens /dev/teepriv0 and starts serving; false if the device cannot be opened.
  bool start();
  // Stops the service thread, closes its device and shared-memory files. Memory it registered is
  // freed with the Supplicant, not here: the kernel may still hold those registrations (the
  // secure world frees them by RPC, or the kernel at its shutdown) and, where a real kernel
  // would have pinned the pages, teemu's registrations alias the bytes themselves.
  void stop();

  // Serves one request (exposed for tests): `func` and params as received, results in place.
  uint32_t handle(uint32_t func, std::vector<abi::tee_ioctl_param>& params);

  // For tests: the bytes of this supplicant's shared-memory allocation `id` (null if unknown).
  uint8_t* shm_buffer(int id, uint64_t* size) EXCLUDES(lock_);
  // For audits: the allocations it holds mapped (SHM_ALLOC'd without REG_MEM), one mapping each.
  size_t mapped_buffers() const EXCLUDES(lock_);
  ReeFs& fs() { return fs_; }

 private:
  struct Alloc {
    void* buffer = nullptr;
    uint64_t size = 0;
    int fd = -1;
    bool mapped = false;  // SHM_ALLOC + mmap instead of registered
  };
  void run();
  uint32_t load_ta(std::vector<abi::tee_ioctl_param>& params) EXCLUDES(ta_lock_);
  // Opens <uuid>.ta from the first directory of the TA path that has it as a regular file;
  // -1 if none does.
  int open_ta_file(const uint8_t octets[16], uint64_t* size) const;
  void drop_sized_ta_locked() REQUIRES(ta_lock_);
  uint32_t shm_alloc(std::vector<abi::tee_ioctl_param>& params);
  uint32_t shm_free(std::vector<abi::tee_ioctl_param>& params);
  // Resolves a memref param to one of our allocations: nullptr buffer for "size query".
  bool resolve(const abi::tee_ioctl_param& p, bool output, void** buf, uint64_t* size);

  ree::Kernel& kernel_;
  SupplicantConfig config_;
  ReeFs fs_;
  int fd_ = -1;
  bool reg_mem_ = false;
  std::thread thread_;
  std::atomic<bool> running_{false};
  mutable base::Mutex lock_;
  std::map<int, Alloc> allocs_ GUARDED_BY(lock_);  // shm id -> allocation
  std::vector<void*> retired_ GUARDED_BY(lock_);  // registered buffers of a stopped supplicant
  // The TA file of the last size query, kept open for the read that follows it.
  struct SizedTa {
    uint8_t uuid[16] = {};
    int fd = -1;
    uint64_t size = 0;
  };
  base::Mutex ta_lock_;
  SizedTa sized_ta_ GUARDED_BY(ta_lock_);
};

// Name of a TA file for a UUID given as 16 octets: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.ta".
std::string ta_file_name(const uint8_t octets[16]);

}  // namespace teemu::supplicant
