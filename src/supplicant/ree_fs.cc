#include "supplicant/ree_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "base/log.h"

namespace teemu::supplicant {

using namespace teemu::abi;  // NOLINT

namespace {

uint64_t type_of(const tee_ioctl_param& p) { return p.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK; }

// The parameter layout check every request starts with, as tee-supplicant does it: exactly
// `types.size()` params of exactly these types.
bool layout(const std::vector<tee_ioctl_param>& p, std::initializer_list<uint64_t> types) {
  if (p.size() != types.size()) return false;
  size_t i = 0;
  for (uint64_t t : types)
    if (type_of(p[i++]) != t) return false;
  return true;
}

constexpr uint64_t kValIn = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
constexpr uint64_t kValOut = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
constexpr uint64_t kMemIn = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
constexpr uint64_t kMemOut = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;

// Every descriptor is opened O_SYNC as tee-supplicant does: once a write is answered the bytes
// are on the device. O_NOFOLLOW: the secure world never gets a file behind a symbolic link.
constexpr int kOpenFlags = O_SYNC | O_NOFOLLOW | O_CLOEXEC;

int open_retry(const std::string& path, int flags) {
  for (;;) {
    int fd = ::open(path.c_str(), flags | kOpenFlags, 0600);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

bool mkdir_p(const std::string& path) {
  if (path.empty()) return false;
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    pos = next;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool fits_off_t(uint64_t v) { return v <= static_cast<uint64_t>(INT64_MAX); }

}  // namespace

ReeFs::ReeFs(std::string root) : root_(std::move(root)) {}

ReeFs::~ReeFs() { close_all(); }

bool ReeFs::valid_name(const char* buf, uint64_t size) {
  if (buf == nullptr || size == 0) return false;
  const void* nul = std::memchr(buf, '\0', size);
  if (nul == nullptr) return false;  // not terminated inside the buffer: never read past it
  const size_t len = static_cast<size_t>(static_cast<const char*>(nul) - buf);
  if (len == 0 || len >= PATH_MAX || buf[0] == '/') return false;
  // No ".." component anywhere: the name cannot climb out of the root.
  size_t start = 0;
  while (start <= len) {
    size_t end = start;
    while (end < len && buf[end] != '/') ++end;
    if (end - start == 2 && buf[start] == '.' && buf[start + 1] == '.') return false;
    start = end + 1;
  }
  return true;
}

bool ReeFs::ensure_root_locked() {
  if (root_ready_) return true;
  if (root_.empty() || root_[0] != '/' || !mkdir_p(root_)) {
    TEEMU_LOG_ERROR("supplicant", "cannot create the storage directory '{}': {}", root_,
                    std::strerror(errno));
    return false;
  }
  root_ready_ = true;
  return true;
}

bool ReeFs::name_of(const tee_ioctl_param& p, const Resolver& resolve, std::string* path) const {
  void* buf = nullptr;
  uint64_t size = 0;
  if (type_of(p) != kMemIn || !resolve(p, false, &buf, &size) || buf == nullptr) return false;
  // The shared buffer may change under us: copy first, then check the copy.
  std::string name(static_cast<const char*>(buf), static_cast<size_t>(size));
  if (!valid_name(name.data(), name.size())) return false;
  name.resize(std::strlen(name.c_str()));
  *path = root_ + "/" + name;
  return path->size() < PATH_MAX;
}

bool ReeFs::own_fd_locked(uint64_t fd) const {
  return fd <= static_cast<uint64_t>(INT_MAX) && fds_.count(static_cast<int>(fd)) != 0;
}

uint32_t ReeFs::handle(std::vector<tee_ioctl_param>& params, const Resolver& resolve) {
  if (params.empty() || type_of(params[0]) < kValIn ||
      type_of(params[0]) > TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT)
    return TEE_ERROR_BAD_PARAMETERS;
  base::MutexLock lock(lock_);
  if (!ensure_root_locked()) return TEE_ERROR_STORAGE_NOT_AVAILABLE;
  switch (params[0].a) {
    case OPTEE_RPC_FS_OPEN: return open(params, resolve, false);
    case OPTEE_RPC_FS_CREATE: return open(params, resolve, true);
    case OPTEE_RPC_FS_CLOSE: return close(params);
    case OPTEE_RPC_FS_READ: return read(params, resolve);
    case OPTEE_RPC_FS_WRITE: return write(params, resolve);
    case OPTEE_RPC_FS_TRUNCATE: return truncate(params);
    case OPTEE_RPC_FS_REMOVE: return remove(params, resolve);
    case OPTEE_RPC_FS_RENAME: return rename(params, resolve);
    case OPTEE_RPC_FS_OPENDIR: return opendir(params, resolve);
    case OPTEE_RPC_FS_CLOSEDIR: return closedir(params);
    case OPTEE_RPC_FS_READDIR: return readdir(params, resolve);
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
}

uint32_t ReeFs::open(Params& p, const Resolver& r, bool create) {
  if (!layout(p, {kValIn, kMemIn, kValOut})) return TEE_ERROR_BAD_PARAMETERS;
  std::string path;
  if (!name_of(p[1], r, &path)) return TEE_ERROR_BAD_PARAMETERS;
  if (fds_.size() >= kMaxOpen) return TEE_ERROR_OUT_OF_MEMORY;
  int fd;
  if (create) {
    const int flags = O_RDWR | O_CREAT | O_TRUNC;
    fd = open_retry(path, flags);
    if (fd < 0 && errno == ENOENT) {
      // The file's directory is missing: make it (inside the root), as tee-supplicant does.
      const std::string dir = path.substr(0, path.rfind('/'));
      if (mkdir_p(dir)) fd = open_retry(path, flags);
    }
    if (fd < 0) return TEE_ERROR_GENERIC;
  } else {
    fd = open_retry(path, O_RDWR);
    // A read-only file system still lets the secure world read its objects.
    if (fd < 0) fd = open_retry(path, O_RDONLY);
    if (fd < 0) return TEE_ERROR_ITEM_NOT_FOUND;
  }
  fds_.insert(fd);
  p[2].a = static_cast<uint64_t>(fd);
  return TEE_SUCCESS;
}

uint32_t ReeFs::close(Params& p) {
  if (!layout(p, {kValIn})) return TEE_ERROR_BAD_PARAMETERS;
  // Only our own descriptors: the secure world must not close the daemon's device file.
  if (!own_fd_locked(p[0].b)) return TEE_ERROR_GENERIC;
  const int fd = static_cast<int>(p[0].b);
  fds_.erase(fd);
  return ::close(fd) == 0 || errno == EINTR ? TEE_SUCCESS : TEE_ERROR_GENERIC;
}

uint32_t ReeFs::read(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemOut})) return TEE_ERROR_BAD_PARAMETERS;
  void* buf = nullptr;
  uint64_t len = 0;
  if (!r(p[1], true, &buf, &len) || (buf == nullptr && len != 0)) return TEE_ERROR_BAD_PARAMETERS;
  if (!own_fd_locked(p[0].b) || !fits_off_t(p[0].c)) return TEE_ERROR_GENERIC;
  const int fd = static_cast<int>(p[0].b);
  auto* out = static_cast<uint8_t*>(buf);
  uint64_t off = p[0].c, got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, out + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return TEE_ERROR_GENERIC;
    }
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  p[1].b = got;
  return TEE_SUCCESS;
}

uint32_t ReeFs::write(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemIn})) return TEE_ERROR_BAD_PARAMETERS;
  void* buf = nullptr;
  uint64_t len = 0;
  if (!r(p[1], false, &buf, &len) || (buf == nullptr && len != 0)) return TEE_ERROR_BAD_PARAMETERS;
  if (!own_fd_locked(p[0].b) || !fits_off_t(p[0].c)) return TEE_ERROR_GENERIC;
  const int fd = static_cast<int>(p[0].b);
  const auto* in = static_cast<const uint8_t*>(buf);
  uint64_t off = p[0].c, done = 0;
  if (len > static_cast<uint64_t>(INT64_MAX) - off) return TEE_ERROR_GENERIC;
  while (done < len) {
    ssize_t n = ::pwrite(fd, in + done, len - done, static_cast<off_t>(off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return TEE_ERROR_GENERIC;
    }
    done += static_cast<uint64_t>(n);
  }
  return TEE_SUCCESS;
}

uint32_t ReeFs::truncate(Params& p) {
  if (!layout(p, {kValIn})) return TEE_ERROR_BAD_PARAMETERS;
  if (!own_fd_locked(p[0].b) || !fits_off_t(p[0].c)) return TEE_ERROR_GENERIC;
  while (::ftruncate(static_cast<int>(p[0].b), static_cast<off_t>(p[0].c)) != 0)
    if (errno != EINTR) return TEE_ERROR_GENERIC;
  return TEE_SUCCESS;
}

uint32_t ReeFs::remove(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemIn})) return TEE_ERROR_BAD_PARAMETERS;
  std::string path;
  if (!name_of(p[1], r, &path)) return TEE_ERROR_BAD_PARAMETERS;
  if (::unlink(path.c_str()) != 0) return errno == ENOENT ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_GENERIC;
  // Directories left empty go too (never the root itself), as tee-supplicant tidies up.
  for (std::string dir = path.substr(0, path.rfind('/'));
       dir.size() > root_.size() && ::rmdir(dir.c_str()) == 0;
       dir = dir.substr(0, dir.rfind('/'))) {
  }
  return TEE_SUCCESS;
}

uint32_t ReeFs::rename(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemIn, kMemIn})) return TEE_ERROR_BAD_PARAMETERS;
  std::string from, to;
  if (!name_of(p[1], r, &from) || !name_of(p[2], r, &to)) return TEE_ERROR_BAD_PARAMETERS;
  const bool overwrite = p[0].b != 0;
  struct stat st {};
  if (!overwrite && ::lstat(to.c_str(), &st) == 0) return TEE_ERROR_ACCESS_CONFLICT;
  if (::rename(from.c_str(), to.c_str()) != 0)
    // tee-supplicant answers ENOENT with ITEM_NOT_FOUND and (a bug) every other failure with
    // success; a failed rename is reported here.
    return errno == ENOENT ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_GENERIC;
  return TEE_SUCCESS;
}

uint32_t ReeFs::opendir(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemIn, kValOut})) return TEE_ERROR_BAD_PARAMETERS;
  std::string path;
  if (!name_of(p[1], r, &path)) return TEE_ERROR_BAD_PARAMETERS;
  if (dirs_.size() >= kMaxOpen) return TEE_ERROR_OUT_OF_MEMORY;
  int fd = open_retry(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return TEE_ERROR_ITEM_NOT_FOUND;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return TEE_ERROR_ITEM_NOT_FOUND;
  }
  // An empty directory answers ITEM_NOT_FOUND, as tee-supplicant does (an enumeration of an
  // empty storage then ends at once).
  bool empty = true;
  while (dirent* d = ::readdir(dir)) {
    if (d->d_name[0] != '.') {
      empty = false;
      break;
    }
  }
  if (empty) {
    ::closedir(dir);
    return TEE_ERROR_ITEM_NOT_FOUND;
  }
  ::rewinddir(dir);
  const uint64_t handle = next_dir_++;
  dirs_.emplace(handle, dir);
  p[2].a = handle;
  return TEE_SUCCESS;
}

uint32_t ReeFs::closedir(Params& p) {
  if (!layout(p, {kValIn})) return TEE_ERROR_BAD_PARAMETERS;
  auto it = dirs_.find(p[0].b);
  if (it == dirs_.end()) return TEE_ERROR_BAD_PARAMETERS;
  ::closedir(it->second);
  dirs_.erase(it);
  return TEE_SUCCESS;
}

uint32_t ReeFs::readdir(Params& p, const Resolver& r) {
  if (!layout(p, {kValIn, kMemOut})) return TEE_ERROR_BAD_PARAMETERS;
  void* buf = nullptr;
  uint64_t len = 0;
  if (!r(p[1], true, &buf, &len)) return TEE_ERROR_BAD_PARAMETERS;
  auto it = dirs_.find(p[0].b);
  if (it == dirs_.end()) return TEE_ERROR_BAD_PARAMETERS;
  dirent* d;
  do {
    d = ::readdir(it->second);
    if (d == nullptr) return TEE_ERROR_ITEM_NOT_FOUND;
  } while (d->d_name[0] == '.');
  const size_t need = std::strlen(d->d_name) + 1;
  p[1].b = need;
  if (buf == nullptr || need > len) {
    // The entry is consumed like in tee-supplicant; the caller learns the size it needs.
    return TEE_ERROR_SHORT_BUFFER;
  }
  std::memcpy(buf, d->d_name, need);
  return TEE_SUCCESS;
}

void ReeFs::close_all() {
  base::MutexLock lock(lock_);
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  for (auto& [h, dir] : dirs_) ::closedir(dir);
  dirs_.clear();
}

size_t ReeFs::open_count() const {
  base::MutexLock lock(lock_);
  return fds_.size() + dirs_.size();
}

}  // namespace teemu::supplicant
