#include "ree/kernel.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/assert.h"
#include "base/log.h"

namespace teemu::ree {

Kernel::Kernel(hw::PhysSpace& mem, hw::SmcHandler& conduit, hw::MachineStats& stats,
               int fd_base)
    : fd_base_(fd_base) {
  driver_ = std::make_unique<optee::Driver>(mem, conduit, stats);
  client_ = std::make_unique<TeeDevice>("tee0", false, *driver_, mem, stats);
  supp_ = std::make_unique<TeeDevice>("teepriv0", true, *driver_, mem, stats);
  driver_->set_devices(client_.get(), supp_.get());
}

std::unique_ptr<Kernel> Kernel::boot(hw::PhysSpace& mem, hw::SmcHandler& conduit,
                                     hw::MachineStats& stats, int fd_base) {
  std::unique_ptr<Kernel> k(new Kernel(mem, conduit, stats, fd_base));
  if (auto r = k->driver_->probe(); !r) {
    TEEMU_LOG_ERROR("ree", "OP-TEE driver probe failed: {}", std::strerror(r.error().value));
    return nullptr;
  }
  return k;
}

Kernel::~Kernel() { shutdown(); }

void Kernel::shutdown_clients() {
  std::vector<std::shared_ptr<File>> files;
  {
    base::ReadMostlyMutex::WriteLock lock(files_lock_);
    for (size_t i = 0; i < files_.size(); ++i) {
      auto& f = files_[i];
      if (!f) continue;
      const bool supp_file = f->shm != nullptr ? f->shm->teedev == supp_.get()
                                               : f->ctx && f->ctx->dev().privileged();
      if (supp_file) continue;
      files.push_back(std::move(f));
      free_fds_.push_back(static_cast<int>(i));
    }
  }
  std::vector<TeeShm*> maps;
  {
    base::MutexLock lock(maps_lock_);
    for (auto it = maps_.begin(); it != maps_.end();) {
      if (it->second->teedev == client_.get()) {
        maps.push_back(it->second);
        it = maps_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (TeeShm* shm : maps) shm->teedev->shm_put(shm);
  files.clear();
}

void Kernel::shutdown() {
  shutdown_clients();
  std::vector<std::shared_ptr<File>> files;
  {
    base::ReadMostlyMutex::WriteLock lock(files_lock_);
    for (auto& f : files_)
      if (f) files.push_back(std::move(f));
    files_.clear();
    free_fds_.clear();
  }
  std::vector<TeeShm*> maps;
  {
    base::MutexLock lock(maps_lock_);
    for (auto& [addr, shm] : maps_) maps.push_back(shm);
    maps_.clear();
  }
  for (TeeShm* shm : maps) shm->teedev->shm_put(shm);
  files.clear();
  driver_->remove();
}

std::shared_ptr<Kernel::File> Kernel::get_file(int fd) const {
  base::ReadMostlyMutex::ReadLock lock(files_lock_);
  if (!owns_fd(fd)) return nullptr;
  size_t idx = static_cast<size_t>(fd - fd_base_);
  return idx < files_.size() ? files_[idx] : nullptr;
}

int Kernel::install(std::shared_ptr<File> f) {
  {
    base::ReadMostlyMutex::WriteLock lock(files_lock_);
    size_t idx;
    if (!free_fds_.empty()) {
      idx = static_cast<size_t>(free_fds_.back());
      free_fds_.pop_back();
    } else if (files_.size() < static_cast<size_t>(kFdSpan)) {
      idx = files_.size();
      files_.emplace_back();
    } else {
      idx = SIZE_MAX;
    }
    if (idx != SIZE_MAX) {
      files_[idx] = std::move(f);
      return fd_base_ + static_cast<int>(idx);
    }
  }
  f.reset();  // out of descriptors: the file goes, outside the table's lock
  return -EMFILE;
}

Kernel::File::~File() {
  if (shm != nullptr) shm->teedev->shm_put(shm);
  if (ctx) ctx->dev().driver().close_context(*ctx);
}

int Kernel::sys_open(const char* path) {
  if (path == nullptr) return -EFAULT;
  TeeDevice* dev = nullptr;
  if (std::strcmp(path, "/dev/tee0") == 0)
    dev = client_.get();
  else if (std::strcmp(path, "/dev/teepriv0") == 0)
    dev = supp_.get();
  else
    return -ENOENT;
  auto ctx = dev->open_context();
  if (!ctx) return -ctx.error().value;
  auto f = std::make_shared<File>();
  f->ctx = std::move(*ctx);
  return install(std::move(f));
}

int Kernel::sys_close(int fd) {
  std::shared_ptr<File> f;
  {
    base::ReadMostlyMutex::WriteLock lock(files_lock_);
    if (!owns_fd(fd)) return -EBADF;
    size_t idx = static_cast<size_t>(fd - fd_base_);
    if (idx >= files_.size() || !files_[idx]) return -EBADF;
    f = std::move(files_[idx]);
    free_fds_.push_back(static_cast<int>(idx));
  }
  f.reset();  // released now, or when the last in-flight ioctl on it finishes
  return 0;
}

int Kernel::sys_ioctl(int fd, unsigned long cmd, void* arg) {
  auto f = get_file(fd);
  if (!f) return -EBADF;
  if (f->shm != nullptr || !f->ctx) return -ENOTTY;  // shm files have no ioctls
  TeeShm* new_shm = nullptr;
  int rc = tee_ioctl(f->ctx, static_cast<uint32_t>(cmd), arg, &new_shm);
  if (rc == 0 && new_shm != nullptr) {
    auto sf = std::make_shared<File>();
    sf->shm = new_shm;
    return install(std::move(sf));
  }
  return rc;
}

void* Kernel::sys_mmap(size_t len, int fd, int64_t offset, int* err) {
  auto f = get_file(fd);
  if (!f) {
    *err = EBADF;
    return nullptr;
  }
  TeeShm* shm = f->shm;
  // Only pool memory can be mapped; registered user memory cannot (it is already the user's).
  if (shm == nullptr || shm->kaddr == nullptr || (shm->flags & TeeShm::kUserMapped) ||
      offset < 0 || offset % 4096 != 0 || len == 0 ||
      static_cast<uint64_t>(offset) > shm->size || len > shm->size - static_cast<uint64_t>(offset)) {
    *err = EINVAL;
    return nullptr;
  }
  shm->teedev->shm_get(shm);
  void* addr = shm->kaddr + offset;
  base::MutexLock lock(maps_lock_);
  maps_.emplace(reinterpret_cast<uintptr_t>(addr), shm);
  return addr;
}

int Kernel::sys_munmap(void* addr, size_t) {
  TeeShm* shm = nullptr;
  {
    base::MutexLock lock(maps_lock_);
    auto it = maps_.find(reinterpret_cast<uintptr_t>(addr));
    if (it == maps_.end()) return -EINVAL;
    shm = it->second;
    maps_.erase(it);
  }
  shm->teedev->shm_put(shm);
  return 0;
}

Kernel::Audit Kernel::audit() const {
  Audit a;
  {
    base::ReadMostlyMutex::ReadLock lock(files_lock_);
    for (auto& f : files_)
      if (f) ++a.open_files;
  }
  {
    base::MutexLock lock(maps_lock_);
    a.mappings = maps_.size();
  }
  a.client_shm = client_->live_shm();
  a.supp_shm = supp_->live_shm();
  a.sessions = driver_->live_sessions();
  a.private_buffers = driver_->live_private_buffers();
  a.supplicant_pending = driver_->supplicant().pending();
  return a;
}

}  // namespace teemu::ree
