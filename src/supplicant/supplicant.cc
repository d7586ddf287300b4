#include "supplicant/supplicant.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "base/fault_inject.h"
#include "base/checked.h"
#include "base/log.h"
#include "ree/kernel.h"

namespace teemu::supplicant {

using namespace teemu::abi;  // NOLINT

namespace {
// RPC_NUM_PARAMS of tee-supplicant: a request buffer holds 5 params.
constexpr uint32_t kNumParams = 5;
}  // namespace

std::string ta_file_name(const uint8_t o[16]) {
  // "%02x" x 16 with dashes, without the formatting machinery (this runs for every LOAD_TA).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  name.reserve(39);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) name.push_back('-');
    name.push_back(kHex[o[i] >> 4]);
    name.push_back(kHex[o[i] & 0xf]);
  }
  name.append(".ta");
  return name;
}

Supplicant::Supplicant(ree::Kernel& kernel, SupplicantConfig config)
    : kernel_(kernel), config_(std::move(config)), fs_(config_.storage_dir) {}

Supplicant::~Supplicant() {
  stop();
  {
    base::MutexLock ta_lock(ta_lock_);
    drop_sized_ta_locked();  // handle() may have run without start() (tests)
  }
  base::MutexLock lock(lock_);
  for (void* buffer : retired_) std::free(buffer);
}

bool Supplicant::start() {
  fd_ = kernel_.sys_open("/dev/teepriv0");
  if (fd_ < 0) {
    TEEMU_LOG_ERROR("supplicant", "cannot open /dev/teepriv0: {}", std::strerror(-fd_));
    return false;
  }
  tee_ioctl_version_data v{};
  if (kernel_.sys_ioctl(fd_, TEE_IOC_VERSION, &v) != 0 || v.impl_id != TEE_IMPL_ID_OPTEE) {
    kernel_.sys_close(fd_);
    fd_ = -1;
    return false;
  }
  reg_mem_ = v.gen_caps & TEE_GEN_CAP_REG_MEM;
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return true;
}

void Supplicant::stop() {
  if (!running_.exchange(false)) return;
  kernel_.driver().supplicant().interrupt();
  if (thread_.joinable()) thread_.join();
  fs_.close_all();
  {
    base::MutexLock ta_lock(ta_lock_);
    drop_sized_ta_locked();
  }
  base::MutexLock lock(lock_);
  for (auto& [id, a] : allocs_) {
    kernel_.sys_close(a.fd);
    if (a.mapped)
      kernel_.sys_munmap(a.buffer, a.size);  // the kernel's pages stay while it holds the shm
    else
      retired_.push_back(a.buffer);  // freed with the Supplicant (see stop())
  }
  allocs_.clear();
  kernel_.sys_close(fd_);
  fd_ = -1;
}

void Supplicant::run() {
  struct {
    tee_iocl_supp_recv_arg hdr;
    tee_ioctl_param params[kNumParams];
  } buf;
  while (running_) {
    std::memset(&buf, 0, sizeof(buf));
    buf.hdr.num_params = kNumParams;
    buf.params[0].attr = TEE_IOCTL_PARAM_ATTR_META;  // announce the asynchronous protocol
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&buf), sizeof(buf)};
    int rc = kernel_.sys_ioctl(fd_, TEE_IOC_SUPPL_RECV, &bd);
    if (rc == -EINTR) break;
    if (rc == -EINVAL) {
      // A request this buffer cannot hold (the kernel failed it): keep serving the others.
      // Exiting here would leave every later request queued for a supplicant that is gone
      // while its device file stays open.
      TEEMU_LOG_WARN("supplicant", "SUPPL_RECV refused a request: {}", std::strerror(-rc));
      continue;
    }
    if (rc != 0) {
      TEEMU_LOG_WARN("supplicant", "SUPPL_RECV failed: {}", std::strerror(-rc));
      break;
    }
    uint32_t n = buf.hdr.num_params;
    if (n < 1 || n > kNumParams ||
        buf.params[0].attr != (TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | TEE_IOCTL_PARAM_ATTR_META))
      continue;
    std::vector<tee_ioctl_param> req(buf.params + 1, buf.params + n);
    uint32_t ret = handle(buf.hdr.func, req);
    struct {
      tee_iocl_supp_send_arg hdr;
      tee_ioctl_param params[kNumParams];
    } reply{};
    reply.hdr.ret = ret;
    reply.hdr.num_params = n;
    reply.params[0] = buf.params[0];
    for (uint32_t i = 1; i < n; ++i) reply.params[i] = req[i - 1];
    tee_ioctl_buf_data sd{reinterpret_cast<uint64_t>(&reply),
                          sizeof(tee_iocl_supp_send_arg) + n * sizeof(tee_ioctl_param)};
    rc = kernel_.sys_ioctl(fd_, TEE_IOC_SUPPL_SEND, &sd);
    if (rc != 0) TEEMU_LOG_WARN("supplicant", "SUPPL_SEND failed: {}", std::strerror(-rc));
  }
}

uint32_t Supplicant::handle(uint32_t func, std::vector<tee_ioctl_param>& params) {
  // Injected failure of a request (not of a release: a supplicant that cannot free leaks).
  if (func != OPTEE_RPC_CMD_SHM_FREE &&
      base::FaultInjector::should_fail(base::FaultSite::kSupplicant))
    return TEE_ERROR_GENERIC;
  switch (func) {
    case OPTEE_RPC_CMD_LOAD_TA: return load_ta(params);
    case OPTEE_RPC_CMD_SHM_ALLOC: return shm_alloc(params);
    case OPTEE_RPC_CMD_SHM_FREE: return shm_free(params);
    case OPTEE_RPC_CMD_FS:
      return fs_.handle(params, [this](const tee_ioctl_param& p, bool output, void** buf,
                                       uint64_t* size) { return resolve(p, output, buf, size); });
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}

uint8_t* Supplicant::shm_buffer(int id, uint64_t* size) {
  base::MutexLock lock(lock_);
  auto it = allocs_.find(id);
  if (it == allocs_.end()) return nullptr;
  *size = it->second.size;
  return static_cast<uint8_t*>(it->second.buffer);
}

size_t Supplicant::mapped_buffers() const {
  base::MutexLock lock(lock_);
  size_t n = 0;
  for (const auto& [id, a] : allocs_) n += a.mapped;
  return n;
}

bool Supplicant::resolve(const tee_ioctl_param& p, bool output, void** buf, uint64_t* size) {
  *buf = nullptr;
  *size = p.b;
  base::MutexLock lock(lock_);
  auto it = p.c > static_cast<uint64_t>(INT32_MAX) ? allocs_.end()
                                                    : allocs_.find(static_cast<int>(p.c));
  if (it == allocs_.end()) return output;  // unknown id: a size query for outputs only
  if (!base::range_within<uint64_t>(p.a, p.b, it->second.size)) return false;
  *buf = static_cast<uint8_t*>(it->second.buffer) + p.a;
  return true;
}

int Supplicant::open_ta_file(const uint8_t octets[16], uint64_t* size) const {
  const std::string name = ta_file_name(octets);
  std::string path;
  for (const auto& dir : config_.ta_path) {
    // Plain descriptors: an ifstream costs a locale and a buffer per open.
    path.assign(dir).append("/").append(name);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      continue;
    }
    *size = static_cast<uint64_t>(st.st_size);
    return fd;
  }
  TEEMU_LOG_INFO("supplicant", "TA {} not found", name);
  return -1;
}

void Supplicant::drop_sized_ta_locked() {
  if (sized_ta_.fd >= 0) close(sized_ta_.fd);
  sized_ta_ = SizedTa{};
}

uint32_t Supplicant::load_ta(std::vector<tee_ioctl_param>& params) {
  if (params.size() != 2 ||
      (params[0].attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) != TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT ||
      (params[1].attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) != TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT)
    return TEE_ERROR_BAD_PARAMETERS;
  uint8_t octets[16];
  std::memcpy(octets, &params[0].a, 8);
  std::memcpy(octets + 8, &params[0].b, 8);
  void* buf;
  uint64_t cap;
  if (!resolve(params[1], true, &buf, &cap)) return TEE_ERROR_BAD_PARAMETERS;

  // A load is a size query and then a read of the same TA (OP-TEE's ree_fs_ta_open). The file
  // is opened for the query and kept open for the read that follows (SHM_ALLOC comes in between),
  // so the read gets the very file whose size was given even if the TA is replaced on disk in
  // between; the next LOAD_TA of another kind or TA, or stop(), closes it. At most one file is
  // kept. Every query opens the file afresh: a TA replaced on disk is what the next load
  // gets, as with tee-supplicant.
  base::MutexLock lock(ta_lock_);
  int fd = -1;
  uint64_t size = 0;
  if (buf != nullptr && sized_ta_.fd >= 0 && std::memcmp(sized_ta_.uuid, octets, 16) == 0) {
    fd = sized_ta_.fd;
    size = sized_ta_.size;
    sized_ta_ = SizedTa{};
  } else {
    drop_sized_ta_locked();
    fd = open_ta_file(octets, &size);
    if (fd < 0) return TEE_ERROR_ITEM_NOT_FOUND;
  }
  params[1].b = size;
  if (buf == nullptr) {
    sized_ta_.fd = fd;
    sized_ta_.size = size;
    std::memcpy(sized_ta_.uuid, octets, 16);
    return TEE_SUCCESS;
  }
  uint32_t ret = TEE_SUCCESS;
  if (size > cap) {
    ret = TEE_ERROR_SHORT_BUFFER;
  } else {
    uint64_t done = 0;
    while (done < size) {
      const ssize_t n =
          pread(fd, static_cast<char*>(buf) + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<uint64_t>(n);
    }
    if (done != size) ret = TEE_ERROR_ITEM_NOT_FOUND;  // shrank under us
  }
  close(fd);
  return ret;
}

uint32_t Supplicant::shm_alloc(std::vector<tee_ioctl_param>& params) {
  if (params.size() != 1 ||
      (params[0].attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) != TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT)
    return TEE_ERROR_BAD_PARAMETERS;
  const uint64_t size = params[0].b;
  // The secure world asks for TA images, storage blocks and the like; a request beyond this is
  // refused rather than allocated (a 4 GiB request from a hostile secure world used to be
  // allocated for real: driver_rpc fuzzer).
  constexpr uint64_t kMaxAllocation = 256ull << 20;
  if (size == 0 || size > kMaxAllocation) return TEE_ERROR_OUT_OF_MEMORY;
  Alloc a;
  a.size = size;
  int id;
  if (reg_mem_) {
    const uint64_t rounded = base::page_round_up(size);
    if (posix_memalign(&a.buffer, 4096, rounded) != 0) return TEE_ERROR_OUT_OF_MEMORY;
    tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(a.buffer), size, 0, 0};
    a.fd = kernel_.sys_ioctl(fd_, TEE_IOC_SHM_REGISTER, &d);
    if (a.fd < 0) {
      std::free(a.buffer);
      return TEE_ERROR_OUT_OF_MEMORY;
    }
    id = d.id;
  } else {
    tee_ioctl_shm_alloc_data d{size, 0, 0};
    a.fd = kernel_.sys_ioctl(fd_, TEE_IOC_SHM_ALLOC, &d);
    if (a.fd < 0) return TEE_ERROR_OUT_OF_MEMORY;
    int err = 0;
    a.buffer = kernel_.sys_mmap(d.size, a.fd, 0, &err);
    if (a.buffer == nullptr) {
      kernel_.sys_close(a.fd);
      return TEE_ERROR_OUT_OF_MEMORY;
    }
    a.mapped = true;
    a.size = d.size;
    id = d.id;
  }
  {
    base::MutexLock lock(lock_);
    allocs_[id] = a;
  }
  params[0].c = static_cast<uint64_t>(id);
  return TEE_SUCCESS;
}

uint32_t Supplicant::shm_free(std::vector<tee_ioctl_param>& params) {
  if (params.size() != 1) return TEE_ERROR_BAD_PARAMETERS;
  Alloc a;
  {
    base::MutexLock lock(lock_);
    auto it = params[0].b > static_cast<uint64_t>(INT32_MAX)
                  ? allocs_.end()
                  : allocs_.find(static_cast<int>(params[0].b));
    if (it == allocs_.end()) return TEE_ERROR_BAD_PARAMETERS;
    a = it->second;
    allocs_.erase(it);
  }
  kernel_.sys_close(a.fd);
  if (a.mapped)
    kernel_.sys_munmap(a.buffer, a.size);
  else
    std::free(a.buffer);
  return TEE_SUCCESS;
}

}  // namespace teemu::supplicant
