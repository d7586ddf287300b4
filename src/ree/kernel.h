// One REE kernel instance: the TEE subsystem with its two devices, the OP-TEE driver, and the
// system-call surface a process uses to reach them (open, ioctl, close, mmap, munmap on the
// device nodes /dev/tee0 and /dev/teepriv0). File descriptors live in their own number space
// (from kFdBase), so they never collide with the process's real descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/read_mostly_mutex.h"
#include "base/thread_annotations.h"
#include "ree/optee/driver.h"
#include "ree/tee_core.h"

namespace teemu::hw {
class PhysSpace;
class SmcHandler;
struct MachineStats;
}  // namespace teemu::hw

namespace teemu::ree {

constexpr int kFdBase = 0x10000;
// Each kernel of a machine numbers its descriptors from its own base (the host's kernel from
// kFdBase, guest k's from kFdBase + k * kFdSpan), so a process that reaches several kernels can
// tell by the number which kernel a descriptor belongs to.
constexpr int kFdSpan = 0x10000;

class Kernel {
 public:
  // Probes the OP-TEE driver over `conduit`; null (with a log message) if the secure world is
  // unusable.
  static std::unique_ptr<Kernel> boot(hw::PhysSpace& mem, hw::SmcHandler& conduit,
                                      hw::MachineStats& stats, int fd_base = kFdBase);
  ~Kernel();

  // System calls. Results follow the kernel convention: >= 0 success, -errno failure.
  int sys_open(const char* path);
  int sys_close(int fd);
  int sys_ioctl(int fd, unsigned long cmd, void* arg);
  // mmap of an SHM_ALLOC descriptor: returns the kernel mapping of the shm (zero copy); the
  // mapping holds a reference until munmap. Mapping a range again returns the same address, and
  // takes a reference of its own.
  void* sys_mmap(size_t len, int fd, int64_t offset, int* err);
  int sys_munmap(void* addr, size_t len);

  optee::Driver& driver() { return *driver_; }
  // Whether `fd` is in this kernel's descriptor range (not whether it is open).
  bool owns_fd(int fd) const { return fd >= fd_base_ && fd < fd_base_ + kFdSpan; }
  TeeDevice& client_device() { return *client_; }
  TeeDevice& supp_device() { return *supp_; }

  // Quiescence audit: open files, mappings, live shm objects, sessions, driver buffers.
  struct Audit {
    size_t open_files = 0;
    size_t mappings = 0;
    size_t client_shm = 0;
    size_t supp_shm = 0;
    size_t sessions = 0;
    size_t private_buffers = 0;
    size_t supplicant_pending = 0;
  };
  Audit audit() const;
  // Closes every file and mapping of clients (the supplicant's stay): what process exit does to
  // client processes.
  void shutdown_clients();
  // Closes every open file and mapping and removes the driver.
  void shutdown();

 private:
  Kernel(hw::PhysSpace& mem, hw::SmcHandler& conduit, hw::MachineStats& stats, int fd_base);

  // An open file. Its references are dropped when the last user goes: the descriptor table and
  // any ioctl still running on it each hold the File.
  struct File {
    std::shared_ptr<TeeContext> ctx;  // device file
    TeeShm* shm = nullptr;            // shm file (holds one reference)
    ~File();
  };
  std::shared_ptr<File> get_file(int fd) const;
  int install(std::shared_ptr<File> f);

  std::unique_ptr<optee::Driver> driver_;
  std::unique_ptr<TeeDevice> client_;
  std::unique_ptr<TeeDevice> supp_;

  // Read by every ioctl, written by open and close.
  base::ReadMostlyMutex files_lock_;
  int fd_base_;
  std::vector<std::shared_ptr<File>> files_;  // index = fd - fd_base_
  std::vector<int> free_fds_;

  mutable base::Mutex maps_lock_;
  // One entry per mapping: mapping the same range twice is two mappings, each holding its own
  // reference (two VMAs), and each munmap ends one of them.
  std::unordered_multimap<uintptr_t, TeeShm*> maps_ GUARDED_BY(maps_lock_);
};

}  // namespace teemu::ree
