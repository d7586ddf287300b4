// Client -> REE kernel: the tee uapi driven through ree::Kernel's system calls with hand-built
// ioctl buffers. Every applicable check of reference/linux-optee-abi.md sections 9.1, 9.2, 9.4
// (and the session checks of 9.3) with the exact errno, the lifetime properties (context outlives
// its shm, the CVE-2021-44733 id/refcount race), and a quiescence audit at the end of every test.
//
// Two kinds of machine: UapiTest boots a whole platform::Machine (with its own tee-supplicant);
// SuppTest builds the same stack without the supplicant so the test itself is tee-supplicant on
// /dev/teepriv0.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/tee_uapi.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "platform/machine.h"
#include "ree/kernel.h"
#include "ree/user_pages.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace teemu::test {
namespace {

using namespace teemu::abi;  // NOLINT: the uapi names are this file's vocabulary

constexpr size_t kPage = 4096;
constexpr int kENOTSUPP = 524;

// The shm-test TA (tas/shm_test), as the 16 octets that cross the uapi.
constexpr uint8_t kShmTestTa[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                    0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};
constexpr uint8_t kNoSuchTa[16] = {0x12, 0x34, 0x56, 0x78, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
enum : uint32_t {
  kCmdSum = 0,
  kCmdFill = 1,
  kCmdInc = 2,
  kCmdNeed = 3,
  kCmdPanic = 4,
  kCmdWaitCancel = 5,
};

constexpr size_t kOpenHdr = sizeof(tee_ioctl_open_session_arg);
constexpr size_t kInvokeHdr = sizeof(tee_ioctl_invoke_arg);
constexpr size_t kRecvHdr = sizeof(tee_iocl_supp_recv_arg);
constexpr size_t kSendHdr = sizeof(tee_iocl_supp_send_arg);
static_assert(kOpenHdr == 56 && kInvokeHdr == 24 && kRecvHdr == 8 && kSendHdr == 8);

tee_ioctl_param value(uint64_t attr, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
  return {attr, a, b, c};
}
tee_ioctl_param memref(uint64_t attr, uint64_t id, uint64_t offs, uint64_t size) {
  return {attr, offs, size, id};
}
tee_ioctl_param meta() { return {TEE_IOCTL_PARAM_ATTR_META, 0, 0, 0}; }
constexpr uint64_t kMetaValueInout = TEE_IOCTL_PARAM_ATTR_META | TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;

// A buf-style ioctl argument: a fixed header followed by params, 8-byte aligned, as user space
// lays it out. `len` is what goes into buf_len (tests make it lie).
class ArgBuf {
 public:
  ArgBuf(size_t header, size_t num_params) : header_(header), len_(header + 32 * num_params) {
    EXPECT_LE(len_, sizeof(bytes_) - 64);
    std::memset(bytes_, 0, sizeof(bytes_));
    // num_params sits in the last u32 of every buf-style header.
    set_num_params(static_cast<uint32_t>(num_params));
  }
  void* data() { return bytes_; }
  uint64_t len() const { return len_; }
  void set_len(uint64_t len) { len_ = len; }
  void set_num_params(uint32_t n) { std::memcpy(bytes_ + header_ - 4, &n, 4); }
  template <class H>
  H& hdr() {
    return *reinterpret_cast<H*>(bytes_);
  }
  tee_ioctl_param& param(size_t i) {
    return reinterpret_cast<tee_ioctl_param*>(bytes_ + header_)[i];
  }

 private:
  alignas(8) uint8_t bytes_[2048];
  size_t header_;
  uint64_t len_;
};

ArgBuf open_arg(const uint8_t uuid[16], uint32_t login, size_t num_params) {
  ArgBuf b(kOpenHdr, num_params);
  auto& h = b.hdr<tee_ioctl_open_session_arg>();
  std::memcpy(h.uuid, uuid, 16);
  h.clnt_login = login;
  return b;
}

ArgBuf invoke_arg(uint32_t session, uint32_t func, std::vector<tee_ioctl_param> params) {
  ArgBuf b(kInvokeHdr, params.size());
  auto& h = b.hdr<tee_ioctl_invoke_arg>();
  h.session = session;
  h.func = func;
  for (size_t i = 0; i < params.size(); ++i) b.param(i) = params[i];
  return b;
}

// Anonymous pages with a given protection; unmapped in the destructor.
class Pages {
 public:
  explicit Pages(size_t n, int prot = PROT_READ | PROT_WRITE) : len_(n * kPage) {
    void* p = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    p_ = static_cast<uint8_t*>(p);
    std::memset(p_, 0, len_);
    if (prot != (PROT_READ | PROT_WRITE)) protect(prot);
  }
  ~Pages() {
    if (p_ != nullptr) munmap(p_, len_);
  }
  Pages(const Pages&) = delete;
  Pages& operator=(const Pages&) = delete;
  uint8_t* get() const { return p_; }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(p_); }
  size_t size() const { return len_; }
  void protect(int prot) { EXPECT_EQ(mprotect(p_, len_, prot), 0); }
  // Unmaps page `i` (it stays a hole inside the range).
  void unmap_page(size_t i) { EXPECT_EQ(munmap(p_ + i * kPage, kPage), 0); }

 private:
  uint8_t* p_ = nullptr;
  size_t len_;
};

// A user address nothing is mapped at: below mmap_min_addr (64 KiB on Linux). (An address
// unmapped after use would not do: the next mmap, e.g. a secure thread's stack, may take it.)
uint64_t unmapped_address() { return 0x8000; }

// A mapped page nobody may access (PROT_NONE), kept for the whole process.
uint64_t inaccessible_address() {
  static const uint64_t addr = reinterpret_cast<uint64_t>(
      mmap(nullptr, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  return addr;
}

// Shared helpers of both fixtures: system calls and the common ioctls on one ree::Kernel.
class KernelTest : public ::testing::Test {
 protected:
  virtual ree::Kernel& kernel() = 0;
  virtual hw::MachineStats& stats() = 0;

  uint64_t smc_calls() { return static_cast<uint64_t>(stats().smc_calls.get()); }

  int open_dev(const char* path) {
    int fd = kernel().sys_open(path);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  int open_tee() {
    int fd = open_dev("/dev/tee0");
    EXPECT_GE(fd, ree::kFdBase);
    return fd;
  }
  // Closes `fd` and forgets it: descriptor numbers are reused (also by the machine's supplicant),
  // so a number must never be closed twice.
  int close_fd(int fd) {
    auto it = std::find(fds_.begin(), fds_.end(), fd);
    if (it != fds_.end()) fds_.erase(it);
    return kernel().sys_close(fd);
  }
  int ioctl(int fd, uint32_t cmd, void* arg) { return kernel().sys_ioctl(fd, cmd, arg); }
  int buf_ioctl(int fd, uint32_t cmd, uint64_t buf_ptr, uint64_t buf_len) {
    tee_ioctl_buf_data d{buf_ptr, buf_len};
    return ioctl(fd, cmd, &d);
  }
  int buf_ioctl(int fd, uint32_t cmd, ArgBuf& b) {
    return buf_ioctl(fd, cmd, reinterpret_cast<uint64_t>(b.data()), b.len());
  }

  // Opens a session to the shm-test TA with PUBLIC login; returns the session id.
  uint32_t open_session(int fd, const uint8_t uuid[16] = kShmTestTa) {
    ArgBuf b = open_arg(uuid, TEE_IOCTL_LOGIN_PUBLIC, 0);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, b), 0);
    auto& h = b.hdr<tee_ioctl_open_session_arg>();
    EXPECT_EQ(h.ret, TEE_SUCCESS);
    EXPECT_EQ(h.ret_origin, TEE_ORIGIN_TRUSTED_APP);
    return h.session;
  }
  int close_session(int fd, uint32_t session) {
    tee_ioctl_close_session_arg c{session};
    return ioctl(fd, TEE_IOC_CLOSE_SESSION, &c);
  }
  // INVOKE; returns the ioctl rc and the TEE result through `ret` / `origin`.
  int invoke(int fd, ArgBuf& b, uint32_t* ret = nullptr, uint32_t* origin = nullptr) {
    int rc = buf_ioctl(fd, TEE_IOC_INVOKE, b);
    if (ret) *ret = b.hdr<tee_ioctl_invoke_arg>().ret;
    if (origin) *origin = b.hdr<tee_ioctl_invoke_arg>().ret_origin;
    return rc;
  }
  // SUM over memref (id, offs, size): ioctl rc; the TEE result in `ret`.
  int sum(int fd, uint32_t session, uint64_t id, uint64_t offs, uint64_t size, uint32_t* ret,
          uint64_t* total = nullptr) {
    ArgBuf b = invoke_arg(session, kCmdSum,
                          {memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, id, offs, size),
                           value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)});
    int rc = invoke(fd, b, ret);
    if (total) *total = (b.param(1).b << 32) | b.param(1).a;
    return rc;
  }

  // SHM_ALLOC: the new shm fd (or -errno); id and rounded size through the pointers.
  int shm_alloc(int fd, uint64_t size, int32_t* id, uint64_t* out_size = nullptr,
                uint32_t* flags = nullptr) {
    tee_ioctl_shm_alloc_data d{size, 0, -1};
    int rc = ioctl(fd, TEE_IOC_SHM_ALLOC, &d);
    if (rc >= 0) {
      fds_.push_back(rc);
      *id = d.id;
      if (out_size) *out_size = d.size;
      if (flags) *flags = d.flags;
    }
    return rc;
  }
  int shm_register(int fd, uint64_t addr, uint64_t length, int32_t* id = nullptr) {
    tee_ioctl_shm_register_data d{addr, length, 0, -1};
    int rc = ioctl(fd, TEE_IOC_SHM_REGISTER, &d);
    if (rc >= 0) {
      fds_.push_back(rc);
      if (id) *id = d.id;
      EXPECT_EQ(d.length, length);
    }
    return rc;
  }

  void close_all() {
    for (int fd : fds_) (void)kernel().sys_close(fd);
    fds_.clear();
  }

  std::vector<int> fds_;
};

// ---------------------------------------------------------------------------------------------
// A whole machine with its own tee-supplicant.

class UapiTest : public KernelTest {
 protected:
  static platform::MachineConfig default_config() {
    platform::MachineConfig c;
    c.ta_path = {TEEMU_TEST_TA_DIR};
    return c;
  }
  void SetUp() override { boot(default_config()); }
  void boot(const platform::MachineConfig& c) {
    std::string error;
    machine_ = platform::Machine::create(c, &error);
    ASSERT_NE(machine_, nullptr) << error;
  }
  void TearDown() override {
    if (!machine_) return;
    close_all();
    auto a = machine_->audit();
    EXPECT_TRUE(a.quiescent()) << a.describe();
    machine_.reset();
  }
  ree::Kernel& kernel() override { return machine_->kernel(); }
  hw::MachineStats& stats() override { return machine_->stats(); }
  platform::Audit audit() { return machine_->audit(); }

  std::unique_ptr<platform::Machine> machine_;
};

// --- 9.1 generic framing ---------------------------------------------------------------------

TEST_F(UapiTest, VersionReportsOpteeCapabilities) {
  int fd = open_tee();
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(fd, TEE_IOC_VERSION, &v), 0);
  EXPECT_EQ(v.impl_id, TEE_IMPL_ID_OPTEE);
  EXPECT_EQ(v.impl_caps, TEE_OPTEE_CAP_TZ);
  EXPECT_EQ(v.gen_caps, TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM | TEE_GEN_CAP_MEMREF_NULL);
}

TEST_F(UapiTest, UnknownIoctlIsEinval) {
  int fd = open_tee();
  const uint64_t smc = smc_calls();
  alignas(8) uint8_t arg[64] = {};
  for (uint32_t cmd : {0u, 0xdeadbeefu, ioc(kIocRead | kIocWrite, TEE_IOC_MAGIC, 8, 24),  // REGISTER_FD
                       ioc(kIocRead, TEE_IOC_MAGIC, 10, 16),   // OBJECT_INVOKE (qcomtee)
                       ioc(kIocRead, TEE_IOC_MAGIC, 0, 16),    // VERSION with a wrong size
                       ioc(kIocRead, TEE_IOC_MAGIC, 11, 16),   // past the last ioctl
                       ioc(kIocRead, 'T', 3, 16)})             // another magic
    EXPECT_EQ(ioctl(fd, cmd, arg), -EINVAL) << std::hex << cmd;
  EXPECT_EQ(smc_calls(), smc);
}

TEST_F(UapiTest, SupplicantIoctlsOnClientDeviceAreEinval) {
  int fd = open_tee();
  ArgBuf r(kRecvHdr, 1);
  r.param(0) = meta();
  ArgBuf s(kSendHdr, 1);
  s.param(0) = value(kMetaValueInout, 1);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_SUPPL_RECV, r), -EINVAL);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_SUPPL_SEND, s), -EINVAL);
}

TEST_F(UapiTest, BadFileDescriptors) {
  alignas(8) uint8_t arg[64] = {};
  EXPECT_EQ(ioctl(-1, TEE_IOC_VERSION, arg), -EBADF);
  EXPECT_EQ(ioctl(ree::kFdBase + 999, TEE_IOC_VERSION, arg), -EBADF);
  EXPECT_EQ(close_fd(ree::kFdBase + 999), -EBADF);
  EXPECT_EQ(kernel().sys_open("/dev/tee1"), -ENOENT);
  EXPECT_EQ(kernel().sys_open(nullptr), -EFAULT);
  // A shm file has no ioctls at all.
  int fd = open_tee();
  int32_t id = -1;
  int shm = shm_alloc(fd, kPage, &id);
  ASSERT_GE(shm, 0);
  EXPECT_EQ(ioctl(shm, TEE_IOC_VERSION, arg), -ENOTTY);
  EXPECT_EQ(close_fd(fd), 0);
  EXPECT_EQ(close_fd(fd), -EBADF);
}

TEST_F(UapiTest, BufLenAboveMaxArgSizeIsEinval) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 0);
  ArgBuf i = invoke_arg(s, kCmdInc, {});
  for (uint64_t len : {uint64_t{1025}, uint64_t{1 << 20}, ~uint64_t{0}}) {
    o.set_len(len);
    i.set_len(len);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EINVAL) << len;
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_INVOKE, i), -EINVAL) << len;
  }
  EXPECT_EQ(smc_calls(), smc);
  // The largest buffer that fits (31 params, 1016 bytes) passes the framing: the secure OS is
  // the one that refuses more than 4 params.
  ArgBuf max = invoke_arg(s, kCmdInc, std::vector<tee_ioctl_param>(31));
  ASSERT_EQ(max.len(), 1016u);
  uint32_t ret = 0, origin = 0;
  EXPECT_EQ(invoke(fd, max, &ret, &origin), 0);
  EXPECT_EQ(ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, BufLenBelowHeaderIsEinval) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 0);
  ArgBuf i = invoke_arg(s, kCmdInc, {});
  for (uint64_t len : {uint64_t{0}, uint64_t{8}, kInvokeHdr - 1, kOpenHdr - 1}) {
    o.set_len(len);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EINVAL) << len;
    if (len < kInvokeHdr) {
      i.set_len(len);
      EXPECT_EQ(buf_ioctl(fd, TEE_IOC_INVOKE, i), -EINVAL) << len;
    }
  }
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, BadBufPtrIsEfault) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  // A buffer whose tail runs into an unmapped page.
  Pages edge(2);
  edge.unmap_page(1);
  const uint64_t straddle = edge.addr() + kPage - 16;
  for (uint64_t ptr : {uint64_t{0}, unmapped_address(), inaccessible_address(),
                       uint64_t{0xffff800000000000}, ree::kTaskSize - 8, straddle}) {
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, ptr, kOpenHdr), -EFAULT) << std::hex << ptr;
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_INVOKE, ptr, kInvokeHdr + 32), -EFAULT) << std::hex << ptr;
  }
  // The ioctl argument itself.
  for (void* arg : {static_cast<void*>(nullptr), reinterpret_cast<void*>(unmapped_address()),
                    reinterpret_cast<void*>(inaccessible_address())}) {
    EXPECT_EQ(ioctl(fd, TEE_IOC_VERSION, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_OPEN_SESSION, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_INVOKE, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_CANCEL, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_CLOSE_SESSION, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_SHM_ALLOC, arg), -EFAULT);
    EXPECT_EQ(ioctl(fd, TEE_IOC_SHM_REGISTER, arg), -EFAULT);
  }
  // VERSION into read-only memory.
  Pages ro(1, PROT_READ);
  EXPECT_EQ(ioctl(fd, TEE_IOC_VERSION, ro.get()), -EFAULT);
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, NumParamsMustMatchBufLenExactly) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  for (uint32_t n : {0u, 2u, 3u, 0x08000000u, 0x80000000u, 0xffffffffu}) {
    ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 1);
    o.set_num_params(n);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EINVAL) << n;
    ArgBuf i = invoke_arg(s, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT)});
    i.set_num_params(n);
    EXPECT_EQ(invoke(fd, i), -EINVAL) << n;
  }
  // 32-bit wrap of 24 + 32 * n: n = 0x08000000 with buf_len 24 must not pass.
  ArgBuf w = invoke_arg(s, kCmdInc, {});
  w.set_num_params(0x08000000u);
  ASSERT_EQ(w.len(), kInvokeHdr);
  EXPECT_EQ(invoke(fd, w), -EINVAL);
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, ParamAttrOutsideMaskIsEinval) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  for (uint64_t attr : {uint64_t{0x200}, uint64_t{0x1000}, uint64_t{1} << 32, uint64_t{1} << 63,
                        TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | 0x400}) {
    ArgBuf i = invoke_arg(s, kCmdInc, {value(attr)});
    EXPECT_EQ(invoke(fd, i), -EINVAL) << std::hex << attr;
    ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 1);
    o.param(0) = value(attr);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EINVAL) << std::hex << attr;
  }
  // META is inside the mask but not a client parameter: the OP-TEE driver refuses it.
  ArgBuf m = invoke_arg(s, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_META | 3)});
  EXPECT_EQ(invoke(fd, m), -EINVAL);
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, ParamTypeNotOneOfNoneValueMemrefIsEinval) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  const uint64_t smc = smc_calls();
  for (uint64_t type : {4, 8, 9, 10, 11, 12, 13, 0x40, 0xff}) {
    ArgBuf i = invoke_arg(s, kCmdInc, {value(type)});
    EXPECT_EQ(invoke(fd, i), -EINVAL) << type;
  }
  EXPECT_EQ(smc_calls(), smc);
  // The valid types get through (the TA decides about them).
  for (uint64_t type : {0, 1, 2, 3}) {
    ArgBuf i = invoke_arg(s, kCmdInc, {value(type)});
    uint32_t ret = 0;
    EXPECT_EQ(invoke(fd, i, &ret), 0) << type;
    EXPECT_EQ(ret, type == 3 ? TEE_SUCCESS : TEE_ERROR_BAD_PARAMETERS);
  }
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, MemrefIdOfAnotherContextIsEinval) {
  int a = open_tee();
  int b = open_tee();
  uint32_t sb = open_session(b);
  int32_t alloc_id = -1, reg_id = -1;
  ASSERT_GE(shm_alloc(a, kPage, &alloc_id), 0);
  Pages buf(1);
  ASSERT_GE(shm_register(a, buf.addr(), kPage, &reg_id), 0);
  const uint64_t smc = smc_calls();
  uint32_t ret = 0;
  // Ids are device-global, but only the owner context can use them.
  for (int32_t id : {alloc_id, reg_id}) {
    EXPECT_EQ(sum(b, sb, static_cast<uint64_t>(id), 0, 16, &ret), -EINVAL) << id;
    ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 1);
    o.param(0) = memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, static_cast<uint64_t>(id), 0, 16);
    EXPECT_EQ(buf_ioctl(b, TEE_IOC_OPEN_SESSION, o), -EINVAL);
  }
  // Ids that exist nowhere.
  for (uint64_t id : {uint64_t{0}, uint64_t{12345}, uint64_t{0xffffffff}, uint64_t{1} << 40,
                      uint64_t{0x7fffffff} + 1 + static_cast<uint64_t>(alloc_id)})
    EXPECT_EQ(sum(b, sb, id, 0, 16, &ret), -EINVAL) << id;
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(close_session(b, sb), 0);
}

TEST_F(UapiTest, MemrefRangeMustStayInsideShm) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t pool_id = -1, reg_id = -1;
  uint64_t pool_size = 0;
  ASSERT_GE(shm_alloc(fd, 2 * kPage, &pool_id, &pool_size), 0);
  ASSERT_EQ(pool_size, 2 * kPage);
  Pages buf(2);
  ASSERT_GE(shm_register(fd, buf.addr() + 100, 2 * kPage - 200, &reg_id), 0);
  struct Case {
    int32_t id = -1;
    uint64_t size;
  };
  const uint64_t max = ~uint64_t{0};
  for (Case c : {Case{pool_id, pool_size}, Case{reg_id, 2 * kPage - 200}}) {
    const uint64_t smc = smc_calls();
    uint32_t ret = 0;
    const uint64_t id = static_cast<uint64_t>(c.id);
    EXPECT_EQ(sum(fd, s, id, 1, max, &ret), -EINVAL);           // offset + size wraps
    EXPECT_EQ(sum(fd, s, id, max, 2, &ret), -EINVAL);           // wraps the other way
    EXPECT_EQ(sum(fd, s, id, 0, c.size + 1, &ret), -EINVAL);    // one byte too many
    EXPECT_EQ(sum(fd, s, id, c.size - 1, 2, &ret), -EINVAL);    // last byte beyond
    EXPECT_EQ(sum(fd, s, id, c.size + 1, 0, &ret), -EINVAL);    // offset beyond the end
    EXPECT_EQ(smc_calls(), smc);
    // The exact fits pass.
    EXPECT_EQ(sum(fd, s, id, 0, c.size, &ret), 0);
    EXPECT_EQ(ret, TEE_SUCCESS);
    EXPECT_EQ(sum(fd, s, id, c.size - 8, 8, &ret), 0);
    EXPECT_EQ(ret, TEE_SUCCESS);
  }
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, PoolMemrefOffsetAtEndIsEinvalInDriver) {
  // 9.3 #21: a non-registered (carve-out) shm goes as TMEM with PA(shm + offs), which needs
  // offs < size; the core's range check lets offs == size with size 0 through.
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t id = -1;
  uint64_t size = 0;
  uint32_t flags = 0;
  ASSERT_GE(shm_alloc(fd, kPage, &id, &size, &flags), 0);
  ASSERT_EQ(flags & 0x8u, 0u) << "expected a carve-out (non-registered) shm";
  const uint64_t smc = smc_calls();
  uint32_t ret = 0;
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(id), size, 0, &ret), -EINVAL);
  EXPECT_EQ(smc_calls(), smc);
  // A registered shm goes as RMEM: offset == size with size 0 is the secure world's to judge.
  Pages buf(1);
  int32_t rid = -1;
  ASSERT_GE(shm_register(fd, buf.addr(), kPage, &rid), 0);
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(rid), kPage, 0, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, NullMemrefAcceptedWithCapability) {
  int fd = open_tee();
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(fd, TEE_IOC_VERSION, &v), 0);
  ASSERT_TRUE(v.gen_caps & TEE_GEN_CAP_MEMREF_NULL);
  uint32_t s = open_session(fd);
  uint32_t ret = 0;
  uint64_t total = 1;
  EXPECT_EQ(sum(fd, s, TEE_MEMREF_NULL, 0, 0, &ret, &total), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(total, 0u);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, ShmReferencesDroppedOnEveryPath) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t id = -1;
  int shm = shm_alloc(fd, kPage, &id);
  ASSERT_GE(shm, 0);
  const uint64_t uid = static_cast<uint64_t>(id);
  const auto in = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
  // A valid memref followed by a bad one (conversion error after a reference was taken).
  ArgBuf bad = invoke_arg(s, kCmdSum, {memref(in, uid, 0, 8), memref(in, 9999, 0, 8)});
  EXPECT_EQ(invoke(fd, bad), -EINVAL);
  ArgBuf bad_range = invoke_arg(s, kCmdSum, {memref(in, uid, 0, 8), memref(in, uid, 0, 2 * kPage)});
  EXPECT_EQ(invoke(fd, bad_range), -EINVAL);
  // Driver error (unknown session) after conversion.
  ArgBuf nosess = invoke_arg(s + 100, kCmdSum, {memref(in, uid, 0, 8)});
  EXPECT_EQ(invoke(fd, nosess), -EINVAL);
  // A TEE-level error.
  uint32_t ret = 0;
  ArgBuf tee_err = invoke_arg(s, 0x999, {memref(in, uid, 0, 8), memref(in, uid, 8, 8)});
  EXPECT_EQ(invoke(fd, tee_err, &ret), 0);
  EXPECT_EQ(ret, TEE_ERROR_NOT_SUPPORTED);
  // Copy-out failure: the argument is readable but not writable.
  Pages ro(1);
  ArgBuf ok = invoke_arg(s, kCmdSum, {memref(in, uid, 0, 8),
                                      value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)});
  std::memcpy(ro.get(), ok.data(), ok.len());
  ro.protect(PROT_READ);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_INVOKE, ro.addr(), ok.len()), -EFAULT);
  // OPEN_SESSION failing after conversion (login refused, TEE error) drops its references too.
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_REE_KERNEL, 1);
  o.param(0) = memref(in, uid, 0, 8);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EPERM);
  ArgBuf nota = open_arg(kNoSuchTa, TEE_IOCTL_LOGIN_PUBLIC, 1);
  nota.param(0) = memref(in, uid, 0, 8);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, nota), 0);
  EXPECT_EQ(nota.hdr<tee_ioctl_open_session_arg>().ret, TEE_ERROR_ITEM_NOT_FOUND);
  // All references are gone once the fd is: the shm disappears.
  EXPECT_EQ(audit().client_shm, 1u);
  EXPECT_EQ(close_fd(shm), 0);
  EXPECT_EQ(audit().client_shm, 0u);
  EXPECT_EQ(sum(fd, s, uid, 0, 8, &ret), -EINVAL);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, OpenSessionCopyOutFailureClosesSession) {
  int fd = open_tee();
  Pages ro(1);
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 0);
  std::memcpy(ro.get(), o.data(), o.len());
  ro.protect(PROT_READ);
  const int64_t opened = stats().sessions_opened.get();
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, ro.addr(), o.len()), -EFAULT);
  // The secure world did open it, and it was closed again.
  EXPECT_GT(stats().sessions_opened.get(), opened);
  auto a = audit();
  EXPECT_EQ(a.ree_sessions, 0u);
  EXPECT_EQ(a.tee_sessions, 0u);
  EXPECT_EQ(a.ta_instances, 0u);
}

TEST_F(UapiTest, ReeKernelLoginRangeIsEperm) {
  int fd = open_tee();
  const uint64_t smc = smc_calls();
  for (uint32_t login : {0x80000000u, 0x80000001u, 0xA0000000u, 0xBFFFFFFFu}) {
    ArgBuf o = open_arg(kShmTestTa, login, 0);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EPERM) << std::hex << login;
  }
  EXPECT_EQ(smc_calls(), smc);
}

TEST_F(UapiTest, ApplicationAndUnknownLoginsAreEinval) {
  int fd = open_tee();
  const uint64_t smc = smc_calls();
  for (uint32_t login : {TEE_IOCTL_LOGIN_APPLICATION, TEE_IOCTL_LOGIN_USER_APPLICATION,
                         TEE_IOCTL_LOGIN_GROUP_APPLICATION, 3u, 7u, 0x7fffffffu, 0xC0000000u,
                         0xF0000000u}) {
    ArgBuf o = open_arg(kShmTestTa, login, 0);
    EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EINVAL) << std::hex << login;
  }
  EXPECT_EQ(smc_calls(), smc);
}

TEST_F(UapiTest, GroupLoginNeedsMembership) {
  int fd = open_tee();
  // A gid this process is not in.
  std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)) + 1);
  groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
  uint32_t stranger = 0x7ffff000;
  while (stranger == getegid() ||
         std::find(groups.begin(), groups.end(), stranger) != groups.end())
    ++stranger;
  const uint64_t smc = smc_calls();
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_GROUP, 0);
  std::memcpy(o.hdr<tee_ioctl_open_session_arg>().clnt_uuid, &stranger, 4);
  EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), -EPERM);
  EXPECT_EQ(smc_calls(), smc);
  // Our own group and USER work.
  const uint32_t mine = getegid();
  ArgBuf g = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_GROUP, 0);
  std::memcpy(g.hdr<tee_ioctl_open_session_arg>().clnt_uuid, &mine, 4);
  ASSERT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, g), 0);
  EXPECT_EQ(g.hdr<tee_ioctl_open_session_arg>().ret, TEE_SUCCESS);
  EXPECT_EQ(close_session(fd, g.hdr<tee_ioctl_open_session_arg>().session), 0);
  ArgBuf u = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_USER, 0);
  ASSERT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, u), 0);
  EXPECT_EQ(u.hdr<tee_ioctl_open_session_arg>().ret, TEE_SUCCESS);
  EXPECT_EQ(close_session(fd, u.hdr<tee_ioctl_open_session_arg>().session), 0);
}

TEST_F(UapiTest, TeeErrorsComeBackWithIoctlSuccess) {
  int fd = open_tee();
  ArgBuf o = open_arg(kNoSuchTa, TEE_IOCTL_LOGIN_PUBLIC, 0);
  auto& h = o.hdr<tee_ioctl_open_session_arg>();
  h.session = 0x5a5a;
  ASSERT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), 0);
  EXPECT_EQ(h.ret, TEE_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(h.ret_origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(h.session, 0u);
  uint32_t s = open_session(fd);
  uint32_t ret = 0, origin = 0;
  ArgBuf unknown = invoke_arg(s, 0x999, {});
  EXPECT_EQ(invoke(fd, unknown, &ret, &origin), 0);
  EXPECT_EQ(ret, TEE_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(origin, TEE_ORIGIN_TRUSTED_APP);
  ArgBuf badp = invoke_arg(s, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT)});
  EXPECT_EQ(invoke(fd, badp, &ret, &origin), 0);
  EXPECT_EQ(ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TRUSTED_APP);
  ArgBuf panic = invoke_arg(s, kCmdPanic, {});
  EXPECT_EQ(invoke(fd, panic, &ret, &origin), 0);
  EXPECT_EQ(ret, TEE_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, OnlyOutputsAreWrittenBack) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t id = -1;
  ASSERT_GE(shm_alloc(fd, kPage, &id), 0);
  const uint64_t uid = static_cast<uint64_t>(id);
  // NEED: memref output (short buffer: the size grows), value input.
  ArgBuf b = invoke_arg(s, kCmdNeed,
                        {memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, uid, 16, 32),
                         value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 100, 0x1111, 0x2222),
                         memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, uid, 8, 8),
                         value(TEE_IOCTL_PARAM_ATTR_TYPE_NONE, 0x3333, 0x4444, 0x5555)});
  auto& h = b.hdr<tee_ioctl_invoke_arg>();
  h.cancel_id = 0x77;
  ArgBuf before = b;
  uint32_t ret = 0, origin = 0;
  ASSERT_EQ(invoke(fd, b, &ret, &origin), 0);
  EXPECT_EQ(ret, TEE_ERROR_SHORT_BUFFER);
  EXPECT_EQ(origin, TEE_ORIGIN_TRUSTED_APP);
  // Header: only ret and ret_origin changed.
  auto& bh = before.hdr<tee_ioctl_invoke_arg>();
  EXPECT_EQ(h.func, bh.func);
  EXPECT_EQ(h.session, bh.session);
  EXPECT_EQ(h.cancel_id, 0x77u);
  EXPECT_EQ(h.num_params, 4u);
  // Output memref: only the size (b) changed.
  EXPECT_EQ(b.param(0).attr, before.param(0).attr);
  EXPECT_EQ(b.param(0).a, 16u);
  EXPECT_EQ(b.param(0).b, 100u);
  EXPECT_EQ(b.param(0).c, uid);
  // Inputs and NONE untouched.
  for (size_t i = 1; i < 4; ++i)
    EXPECT_EQ(std::memcmp(&b.param(i), &before.param(i), sizeof(tee_ioctl_param)), 0) << i;
  // INC: value inout written back (a, b, c), attr untouched.
  ArgBuf inc = invoke_arg(s, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, 10, 20, 30),
                                       value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 1, 2, 3)});
  ASSERT_EQ(invoke(fd, inc, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(inc.param(0).attr, TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT);
  EXPECT_EQ(inc.param(0).a, 11u);
  EXPECT_EQ(inc.param(0).b, 22u);
  EXPECT_EQ(inc.param(1).a, 1u);
  EXPECT_EQ(inc.param(1).b, 2u);
  EXPECT_EQ(inc.param(1).c, 3u);
  // OPEN_SESSION writes back session, ret, ret_origin only.
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 1);
  o.param(0) = value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 5, 6, 7);
  auto& oh = o.hdr<tee_ioctl_open_session_arg>();
  std::memset(oh.clnt_uuid, 0xcc, 16);
  oh.cancel_id = 0x99;
  ArgBuf obefore = o;
  ASSERT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), 0);
  EXPECT_EQ(oh.ret, TEE_SUCCESS);
  EXPECT_EQ(std::memcmp(o.data(), obefore.data(), offsetof(tee_ioctl_open_session_arg, session)),
            0);
  EXPECT_EQ(oh.num_params, 1u);
  EXPECT_EQ(std::memcmp(&o.param(0), &obefore.param(0), sizeof(tee_ioctl_param)), 0);
  EXPECT_EQ(close_session(fd, oh.session), 0);
  EXPECT_EQ(close_session(fd, s), 0);
}

// --- 9.2 shared memory -----------------------------------------------------------------------

TEST_F(UapiTest, ShmFlagsMustBeZero) {
  int fd = open_tee();
  Pages buf(1);
  for (uint32_t flags : {1u, 2u, 0x23u, 0x80000000u}) {
    tee_ioctl_shm_alloc_data a{kPage, flags, -1};
    EXPECT_EQ(ioctl(fd, TEE_IOC_SHM_ALLOC, &a), -EINVAL) << flags;
    tee_ioctl_shm_register_data r{buf.addr(), kPage, flags, -1};
    EXPECT_EQ(ioctl(fd, TEE_IOC_SHM_REGISTER, &r), -EINVAL) << flags;
  }
  EXPECT_EQ(audit().client_shm, 0u);
  // Success: v4.16 reports the kernel flags and the pool-rounded size.
  int32_t id = -1;
  uint64_t size = 0;
  uint32_t flags = 0;
  ASSERT_GE(shm_alloc(fd, 100, &id, &size, &flags), 0);
  EXPECT_GE(id, 1);
  EXPECT_EQ(size, kPage);
  EXPECT_EQ(flags, 0x23u);  // MAPPED | DMA_BUF | POOL
  tee_ioctl_shm_register_data r{buf.addr(), 100, 0, -1};
  int rfd = ioctl(fd, TEE_IOC_SHM_REGISTER, &r);
  ASSERT_GE(rfd, 0);
  fds_.push_back(rfd);
  EXPECT_EQ(r.length, 100u);
  EXPECT_EQ(r.flags, 0x1Au);  // DMA_BUF | REGISTER | USER_MAPPED
  EXPECT_NE(r.id, id);
}

TEST_F(UapiTest, ShmAllocTooLargeIsEnomem) {
  int fd = open_tee();
  int32_t id = -1;
  EXPECT_EQ(shm_alloc(fd, uint64_t{1} << 40, &id), -ENOMEM);
  EXPECT_EQ(shm_alloc(fd, ~uint64_t{0}, &id), -ENOMEM);
}

TEST_F(UapiTest, RegisterOutsideUserSpaceIsEfault) {
  int fd = open_tee();
  const uint64_t smc = smc_calls();
  struct Case {
    uint64_t addr, len;
  };
  for (Case c : {Case{~uint64_t{0} - kPage + 1, 2 * kPage},     // wraps
                 Case{kPage, ~uint64_t{0}},                      // wraps
                 Case{ree::kTaskSize - kPage, 2 * kPage},        // leaves user space
                 Case{0xffff800000000000, kPage},                // kernel address
                 Case{0x1000, ree::kTaskSize},                   // past the end
                 Case{0x1000, ree::kTaskSize - 0x1000}})         // all of user space: holes
    EXPECT_EQ(shm_register(fd, c.addr, c.len), -EFAULT) << std::hex << c.addr << " " << c.len;
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(audit().pages_pinned_now, 0);
}

TEST_F(UapiTest, RegisterEmptyAlignedRangeIsEinval) {
  int fd = open_tee();
  Pages buf(1);
  EXPECT_EQ(shm_register(fd, buf.addr(), 0), -EINVAL);
  EXPECT_EQ(audit().pages_pinned_now, 0);
}

TEST_F(UapiTest, RegisterReadOnlyOrUnmappedIsEfault) {
  int fd = open_tee();
  const uint64_t smc = smc_calls();
  Pages ro(2, PROT_READ);
  EXPECT_EQ(shm_register(fd, ro.addr(), 2 * kPage), -EFAULT);
  Pages none(1, PROT_NONE);
  EXPECT_EQ(shm_register(fd, none.addr(), kPage), -EFAULT);
  EXPECT_EQ(shm_register(fd, unmapped_address(), kPage), -EFAULT);
  Pages hole(3);
  hole.unmap_page(1);
  EXPECT_EQ(shm_register(fd, hole.addr(), 3 * kPage), -EFAULT);
  Pages half(2);
  EXPECT_EQ(mprotect(half.get() + kPage, kPage, PROT_READ), 0);
  EXPECT_EQ(shm_register(fd, half.addr() + 100, kPage), -EFAULT);
  EXPECT_EQ(smc_calls(), smc);
  auto a = audit();
  EXPECT_EQ(a.pages_pinned_now, 0);
  EXPECT_EQ(a.frames_aliased, 0);
  EXPECT_EQ(a.client_shm, 0u);
}

TEST_F(UapiTest, MmapOfRegisteredShmIsRefused) {
  int fd = open_tee();
  Pages buf(2);
  int32_t id = -1;
  int shm = shm_register(fd, buf.addr(), 2 * kPage, &id);
  ASSERT_GE(shm, 0);
  int err = 0;
  EXPECT_EQ(kernel().sys_mmap(kPage, shm, 0, &err), nullptr);
  EXPECT_EQ(err, EINVAL);
  // Nor can a device file be mapped.
  err = 0;
  EXPECT_EQ(kernel().sys_mmap(kPage, fd, 0, &err), nullptr);
  EXPECT_EQ(err, EINVAL);
  err = 0;
  EXPECT_EQ(kernel().sys_mmap(kPage, ree::kFdBase + 999, 0, &err), nullptr);
  EXPECT_EQ(err, EBADF);
}

TEST_F(UapiTest, MmapBeyondShmIsRefused) {
  int fd = open_tee();
  int32_t id = -1;
  int shm = shm_alloc(fd, 2 * kPage, &id);
  ASSERT_GE(shm, 0);
  struct Case {
    size_t len;
    int64_t off;
  };
  for (Case c : {Case{3 * kPage, 0}, Case{2 * kPage, static_cast<int64_t>(kPage)},
                 Case{kPage, static_cast<int64_t>(2 * kPage)}, Case{kPage, -4096},
                 Case{kPage, 100}, Case{0, 0}, Case{~size_t{0}, static_cast<int64_t>(kPage)},
                 Case{kPage, INT64_MAX & ~int64_t{4095}}}) {
    int err = 0;
    EXPECT_EQ(kernel().sys_mmap(c.len, shm, c.off, &err), nullptr) << c.len << " " << c.off;
    EXPECT_EQ(err, EINVAL);
  }
  int err = 0;
  void* p = kernel().sys_mmap(kPage, shm, static_cast<int64_t>(kPage), &err);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(audit().mappings, 1u);
  EXPECT_EQ(kernel().sys_munmap(p, kPage), 0);
  EXPECT_EQ(kernel().sys_munmap(p, kPage), -EINVAL);
}

TEST_F(UapiTest, MappingKeepsShmAlive) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t id = -1;
  int shm = shm_alloc(fd, kPage, &id);
  ASSERT_GE(shm, 0);
  int err = 0;
  auto* p = static_cast<uint8_t*>(kernel().sys_mmap(kPage, shm, 0, &err));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < 64; ++i) p[i] = static_cast<uint8_t>(i);
  ASSERT_EQ(close_fd(shm), 0);
  // The mapping holds its own reference: the id still resolves.
  uint32_t ret = 0;
  uint64_t total = 0;
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(id), 0, 64, &ret, &total), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(total, 63u * 64u / 2u);
  EXPECT_EQ(kernel().sys_munmap(p, kPage), 0);
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(id), 0, 64, &ret), -EINVAL);
  EXPECT_EQ(audit().client_shm, 0u);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, EveryMappingHoldsItsOwnReference) {
  // Two mappings of the same range are two references (two VMAs in Linux): unmapping one must
  // not free the memory under the other.
  int fd = open_tee();
  uint32_t s = open_session(fd);
  int32_t id = -1;
  int shm = shm_alloc(fd, kPage, &id);
  ASSERT_GE(shm, 0);
  int err = 0;
  auto* p1 = static_cast<uint8_t*>(kernel().sys_mmap(kPage, shm, 0, &err));
  auto* p2 = static_cast<uint8_t*>(kernel().sys_mmap(kPage, shm, 0, &err));
  ASSERT_NE(p1, nullptr);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(audit().mappings, 2u);
  ASSERT_EQ(close_fd(shm), 0);
  ASSERT_EQ(kernel().sys_munmap(p1, kPage), 0);
  // The second mapping still holds the shm: same memory, same id.
  p2[0] = 7;
  uint32_t ret = 0;
  uint64_t total = 0;
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(id), 0, 1, &ret, &total), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(audit().client_shm, 1u);
  ASSERT_EQ(kernel().sys_munmap(p2, kPage), 0);
  EXPECT_EQ(kernel().sys_munmap(p2, kPage), -EINVAL);
  EXPECT_EQ(audit().client_shm, 0u);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, ContextOutlivesItsShm) {
  int fd = open_tee();
  open_session(fd);
  open_session(fd);
  int32_t id = -1;
  int shm = shm_alloc(fd, kPage, &id);
  ASSERT_GE(shm, 0);
  Pages buf(1);
  int reg = shm_register(fd, buf.addr(), kPage);
  ASSERT_GE(reg, 0);
  // Closing the device file keeps the context: its sessions stay until the last shm goes.
  ASSERT_EQ(close_fd(fd), 0);
  auto a = audit();
  EXPECT_EQ(a.ree_sessions, 2u);
  EXPECT_EQ(a.tee_sessions, 2u);
  EXPECT_EQ(a.registered_shm, 1u);
  int err = 0;
  void* p = kernel().sys_mmap(kPage, shm, 0, &err);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(close_fd(shm), 0);
  ASSERT_EQ(close_fd(reg), 0);
  EXPECT_EQ(audit().tee_sessions, 2u);  // the mapping still holds the context
  EXPECT_EQ(audit().registered_shm, 0u);
  ASSERT_EQ(kernel().sys_munmap(p, kPage), 0);
  a = audit();
  EXPECT_EQ(a.ree_sessions, 0u);
  EXPECT_EQ(a.tee_sessions, 0u);
}

TEST_F(UapiTest, RegisteredShmUnregisteredOnLastPut) {
  int fd = open_tee();
  Pages buf(3);
  int32_t id = -1;
  int reg = shm_register(fd, buf.addr() + 10, 2 * kPage, &id);
  ASSERT_GE(reg, 0);
  EXPECT_EQ(audit().registered_shm, 1u);
  EXPECT_EQ(audit().pages_pinned_now, 3);
  ASSERT_EQ(close_fd(reg), 0);
  EXPECT_EQ(audit().registered_shm, 0u);
  EXPECT_EQ(audit().pages_pinned_now, 0);
}

TEST_F(UapiTest, ShmIdsAreReusedOnlyAfterRelease) {
  int fd = open_tee();
  int32_t a = -1, b = -1;
  int fa = shm_alloc(fd, kPage, &a);
  ASSERT_GE(fa, 0);
  ASSERT_GE(shm_alloc(fd, kPage, &b), 0);
  EXPECT_NE(a, b);
  EXPECT_GE(a, 1);
  ASSERT_EQ(close_fd(fa), 0);
  int32_t c = -1;
  ASSERT_GE(shm_alloc(fd, kPage, &c), 0);
  EXPECT_NE(c, b);
}

// CVE-2021-44733: INVOKE resolves a memref id while another thread closes the shm's fd (and a
// new shm may take the id). The lookup must never return an object whose count reached zero.
TEST_F(UapiTest, ShmIdLookupRacesWithClose) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  std::atomic<int32_t> current{-1};
  std::atomic<bool> stop{false};
  std::atomic<int> hits{0}, misses{0}, bad{0};
  std::vector<std::thread> invokers;
  for (int t = 0; t < 4; ++t)
    invokers.emplace_back([&] {
      while (!stop.load()) {
        const int32_t id = current.load();
        if (id < 0) continue;
        uint32_t ret = 0;
        int rc = sum(fd, s, static_cast<uint64_t>(id), 0, kPage, &ret);
        if (rc == 0 && ret == TEE_SUCCESS)
          ++hits;
        else if (rc == -EINVAL)
          ++misses;
        else if (++bad < 5)
          ADD_FAILURE() << "rc " << rc << " ret " << std::hex << ret;
      }
    });
  Pages buf(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int i = 0; i < 3000 && std::chrono::steady_clock::now() < deadline; ++i) {
    int32_t id = -1;
    int shm;
    if (i % 2 == 0) {
      tee_ioctl_shm_alloc_data d{kPage, 0, -1};
      shm = ioctl(fd, TEE_IOC_SHM_ALLOC, &d);
      id = d.id;
    } else {
      tee_ioctl_shm_register_data d{buf.addr(), kPage, 0, -1};
      shm = ioctl(fd, TEE_IOC_SHM_REGISTER, &d);
      id = d.id;
    }
    ASSERT_GE(shm, 0);
    current.store(id);
    if (i % 3 == 0) std::this_thread::yield();
    ASSERT_EQ(close_fd(shm), 0);
  }
  stop = true;
  for (auto& t : invokers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(hits.load() + misses.load(), 0);
  EXPECT_EQ(close_session(fd, s), 0);
}

// --- 9.3 sessions belong to their context ------------------------------------------------------

TEST_F(UapiTest, SessionOfAnotherContextIsEinvalWithoutSmc) {
  int a = open_tee();
  int b = open_tee();
  uint32_t sa = open_session(a);
  const uint64_t smc = smc_calls();
  for (uint32_t s : {sa, sa + 1, 0u, 0xffffffffu}) {
    ArgBuf i = invoke_arg(s, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT)});
    EXPECT_EQ(invoke(b, i), -EINVAL);
    tee_ioctl_cancel_arg c{0, s};
    EXPECT_EQ(ioctl(b, TEE_IOC_CANCEL, &c), -EINVAL);
    EXPECT_EQ(close_session(b, s), -EINVAL);
  }
  EXPECT_EQ(smc_calls(), smc);
  // Still usable by its owner; closed once only.
  ArgBuf i = invoke_arg(sa, kCmdInc, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT)});
  uint32_t ret = 0;
  EXPECT_EQ(invoke(a, i, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(close_session(a, sa), 0);
  const uint64_t smc2 = smc_calls();
  EXPECT_EQ(close_session(a, sa), -EINVAL);
  EXPECT_EQ(invoke(a, i), -EINVAL);
  EXPECT_EQ(smc_calls(), smc2);
}

TEST_F(UapiTest, CancelReachesTheSession) {
  int fd = open_tee();
  uint32_t s = open_session(fd);
  tee_ioctl_cancel_arg idle{0, s};
  EXPECT_EQ(ioctl(fd, TEE_IOC_CANCEL, &idle), 0);
  auto waiter = std::async(std::launch::async, [&] {
    ArgBuf i = invoke_arg(s, kCmdWaitCancel, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 20000)});
    uint32_t ret = 0;
    EXPECT_EQ(invoke(fd, i, &ret), 0);
    return ret;
  });
  uint32_t ret = 0;
  for (int i = 0; i < 500; ++i) {
    tee_ioctl_cancel_arg c{0, s};
    EXPECT_EQ(ioctl(fd, TEE_IOC_CANCEL, &c), 0);
    if (waiter.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready) break;
  }
  ret = waiter.get();
  EXPECT_EQ(ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(close_session(fd, s), 0);
}

TEST_F(UapiTest, SecondSupplicantOpenIsEbusy) {
  // The machine's own tee-supplicant holds /dev/teepriv0.
  EXPECT_EQ(kernel().sys_open("/dev/teepriv0"), -EBUSY);
  EXPECT_EQ(kernel().sys_open("/dev/teepriv0"), -EBUSY);
}

// --- a machine without a static carve-out: SHM_ALLOC comes from the dynamic page pool -----------

class UapiPagePoolTest : public UapiTest {
 protected:
  void SetUp() override {
    auto c = default_config();
    c.static_shm_size = 0;
    boot(c);
  }
};

// SHM_ALLOC from the dynamic page pool: Linux allocates the buffer physically contiguous
// (alloc_pages), so 4 MiB (order 10) is the most one buffer gets; more is ENOMEM (the uapi fuzzer
// had a client ask for 3.6 GiB, which teemu used to allocate and zero).
TEST_F(UapiPagePoolTest, ShmAllocIsAtMostFourMiB) {
  int fd = open_tee();
  int32_t id = -1;
  uint64_t size = 0;
  uint32_t flags = 0;
  const int shm = shm_alloc(fd, 4ull << 20, &id, &size, &flags);
  ASSERT_GE(shm, 0);
  EXPECT_EQ(size, 4ull << 20);
  EXPECT_EQ(close_fd(shm), 0);
  for (uint64_t too_big : {(4ull << 20) + 1, 3857051648ull, 1ull << 40}) {
    tee_ioctl_shm_alloc_data a{too_big, 0, -1};
    EXPECT_EQ(ioctl(fd, TEE_IOC_SHM_ALLOC, &a), -ENOMEM) << too_big;
  }
  EXPECT_EQ(audit().client_shm, 0u);
}

// --- a machine without dynamic shared memory ---------------------------------------------------

class UapiStaticTest : public UapiTest {
 protected:
  void SetUp() override {
    auto c = default_config();
    c.dynamic_shm = false;
    boot(c);
  }
};

TEST_F(UapiStaticTest, RegisterWithoutRegMemIsEnotsupp) {
  int fd = open_tee();
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(fd, TEE_IOC_VERSION, &v), 0);
  EXPECT_EQ(v.gen_caps & TEE_GEN_CAP_REG_MEM, 0u);
  Pages buf(1);
  const uint64_t smc = smc_calls();
  EXPECT_EQ(shm_register(fd, buf.addr(), kPage), -kENOTSUPP);
  EXPECT_EQ(smc_calls(), smc);
  // SHM_ALLOC still works (carve-out).
  int32_t id = -1;
  uint32_t s = open_session(fd);
  ASSERT_GE(shm_alloc(fd, kPage, &id), 0);
  uint32_t ret = 0;
  EXPECT_EQ(sum(fd, s, static_cast<uint64_t>(id), 0, kPage, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(close_session(fd, s), 0);
}

// ---------------------------------------------------------------------------------------------
// The same stack without tee-supplicant: the test is the supplicant.

class SuppTest : public KernelTest {
 protected:
  void SetUp() override {
    hw::PhysMemConfig pm;
    mem_ = hw::PhysMem::create(pm);
    ASSERT_NE(mem_, nullptr);
    loader_ = std::make_unique<ta_runtime::DlTaLoader>();
    tee::SecureOsConfig oc;
    oc.num_threads = 2;
    os_ = std::make_unique<tee::SecureOs>(*mem_, stats_, *loader_, oc);
    kernel_ = ree::Kernel::boot(*mem_, *os_, stats_);
    ASSERT_NE(kernel_, nullptr);
  }
  void TearDown() override {
    if (!kernel_) return;
    for (auto& f : pending_) f.wait();
    close_all();
    auto k = kernel_->audit();
    EXPECT_EQ(k.open_files, 0u);
    EXPECT_EQ(k.mappings, 0u);
    EXPECT_EQ(k.client_shm, 0u);
    EXPECT_EQ(k.supp_shm, 0u);
    EXPECT_EQ(k.sessions, 0u);
    EXPECT_EQ(k.supplicant_pending, 0u);
    auto s = os_->audit();
    EXPECT_EQ(s.sessions, 0u);
    EXPECT_EQ(s.instances, 0u);
    EXPECT_EQ(s.registered_shm, 0u);
    EXPECT_EQ(s.busy_threads, 0u);
    EXPECT_EQ(k.private_buffers, s.cached_rpc_args);
    kernel_.reset();
    os_.reset();
    EXPECT_EQ(mem_->ns_pages_in_use(), 0);
    EXPECT_EQ(mem_->frames_aliased(), 0);
  }
  ree::Kernel& kernel() override { return *kernel_; }
  hw::MachineStats& stats() override { return stats_; }

  int open_supp() {
    int fd = open_dev("/dev/teepriv0");
    EXPECT_GE(fd, ree::kFdBase);
    return fd;
  }
  // A client opening a session to `uuid` on another thread: yields the open's TEE result.
  std::shared_future<uint32_t> open_async(int fd, const uint8_t* uuid = kShmTestTa) {
    auto f = std::async(std::launch::async, [this, fd, uuid] {
                ArgBuf o = open_arg(uuid, TEE_IOCTL_LOGIN_PUBLIC, 0);
                EXPECT_EQ(buf_ioctl(fd, TEE_IOC_OPEN_SESSION, o), 0);
                auto& h = o.hdr<tee_ioctl_open_session_arg>();
                if (h.ret == TEE_SUCCESS) {
                  EXPECT_EQ(close_session(fd, h.session), 0);
                }
                return h.ret;
              }).share();
    pending_.push_back(f);
    return f;
  }
  // A fresh receive buffer as tee-supplicant prepares it: 5 params, the first announcing the
  // asynchronous protocol, the rest NONE. (A buffer still holding a request is refused.)
  static ArgBuf recv_buf() {
    ArgBuf r(kRecvHdr, 5);
    r.param(0) = meta();
    return r;
  }
  // SUPPL_RECV into `b`.
  int recv(int supp, ArgBuf& b) { return buf_ioctl(supp, TEE_IOC_SUPPL_RECV, b); }
  // SUPPL_SEND: ret and params.
  int send(int supp, uint32_t ret, std::vector<tee_ioctl_param> params) {
    ArgBuf b(kSendHdr, params.size());
    b.hdr<tee_iocl_supp_send_arg>().ret = ret;
    for (size_t i = 0; i < params.size(); ++i) b.param(i) = params[i];
    return buf_ioctl(supp, TEE_IOC_SUPPL_SEND, b);
  }
  // Receives the LOAD_TA size query of an OPEN_SESSION asynchronously: returns the request id.
  uint64_t recv_load_ta(int supp) {
    ArgBuf r = recv_buf();
    EXPECT_EQ(recv(supp, r), 0);
    EXPECT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_LOAD_TA);
    EXPECT_EQ(r.hdr<tee_iocl_supp_recv_arg>().num_params, 3u);
    EXPECT_EQ(r.param(0).attr, kMetaValueInout);
    return r.param(0).a;
  }

  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  std::unique_ptr<ta_runtime::DlTaLoader> loader_;
  std::unique_ptr<tee::SecureOs> os_;
  std::unique_ptr<ree::Kernel> kernel_;
  std::vector<std::shared_future<uint32_t>> pending_;
};

TEST_F(SuppTest, ClientIoctlsOnSupplicantDeviceAreEinval) {
  int supp = open_supp();
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(supp, TEE_IOC_VERSION, &v), 0);
  EXPECT_TRUE(v.gen_caps & TEE_GEN_CAP_PRIVILEGED);
  const uint64_t smc = smc_calls();
  ArgBuf o = open_arg(kShmTestTa, TEE_IOCTL_LOGIN_PUBLIC, 0);
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_OPEN_SESSION, o), -EINVAL);
  ArgBuf i = invoke_arg(1, 0, {});
  EXPECT_EQ(invoke(supp, i), -EINVAL);
  tee_ioctl_cancel_arg c{0, 1};
  EXPECT_EQ(ioctl(supp, TEE_IOC_CANCEL, &c), -EINVAL);
  EXPECT_EQ(close_session(supp, 1), -EINVAL);
  EXPECT_EQ(smc_calls(), smc);
  EXPECT_EQ(kernel().sys_open("/dev/teepriv0"), -EBUSY);
}

TEST_F(SuppTest, RecvAndSendFraming) {
  int supp = open_supp();
  ArgBuf r(kRecvHdr, 1);
  r.param(0) = meta();
  for (uint64_t len : {uint64_t{0}, uint64_t{7}, uint64_t{1025}, ~uint64_t{0}}) {
    r.set_len(len);
    EXPECT_EQ(recv(supp, r), -EINVAL) << len;
  }
  // RECV needs header + 32 * n == buf_len.
  ArgBuf r2(kRecvHdr, 2);
  r2.param(0) = meta();
  r2.set_num_params(1);
  EXPECT_EQ(recv(supp, r2), -EINVAL);
  r2.set_num_params(3);
  EXPECT_EQ(recv(supp, r2), -EINVAL);
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_RECV, 0, kRecvHdr + 32), -EFAULT);
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_RECV, unmapped_address(), kRecvHdr + 32), -EFAULT);
  // SEND needs only header + 32 * n <= buf_len: a longer buffer reaches the id check.
  ArgBuf s(kSendHdr, 2);
  s.param(0) = value(kMetaValueInout, 77);
  s.set_num_params(1);
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_SEND, s), -ENOENT);
  s.set_num_params(3);
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_SEND, s), -EINVAL);
  for (uint64_t len : {uint64_t{0}, uint64_t{7}, uint64_t{1025}}) {
    s.set_len(len);
    EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_SEND, s), -EINVAL) << len;
  }
  EXPECT_EQ(buf_ioctl(supp, TEE_IOC_SUPPL_SEND, 0, kSendHdr), -EFAULT);
  // Attribute bits outside the mask.
  EXPECT_EQ(send(supp, 0, {value(kMetaValueInout | 0x200, 1)}), -EINVAL);
}

TEST_F(SuppTest, RecvParamsMustBeNoneOrMeta) {
  int supp = open_supp();
  int32_t id = -1;
  ASSERT_GE(shm_alloc(supp, kPage, &id), 0);
  // None of these may block: they fail before looking at the queue.
  ArgBuf empty(kRecvHdr, 0);
  EXPECT_EQ(recv(supp, empty), -EINVAL);
  for (tee_ioctl_param p :
       {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT), value(kMetaValueInout),
        value(TEE_IOCTL_PARAM_ATTR_META | TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT),
        memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, static_cast<uint64_t>(id), 0, 8),
        value(0x200), value(4)}) {
    ArgBuf r(kRecvHdr, 2);
    r.param(0) = meta();
    r.param(1) = p;
    EXPECT_EQ(recv(supp, r), -EINVAL) << p.attr;
    ArgBuf r1(kRecvHdr, 1);
    r1.param(0) = p;
    EXPECT_EQ(recv(supp, r1), -EINVAL) << p.attr;
  }
}

TEST_F(SuppTest, RecvCapacityTooSmallIsEinval) {
  int fd = open_tee();
  int supp = open_supp();
  auto opened = open_async(fd);
  // LOAD_TA carries two params: a buffer with room for one after the META is too small.
  ArgBuf small(kRecvHdr, 2);
  small.param(0) = meta();
  EXPECT_EQ(recv(supp, small), -EINVAL);
  // The request cannot wait for a supplicant that will never have room: it fails.
  EXPECT_EQ(opened.get(), TEE_ERROR_ITEM_NOT_FOUND);
  // A big enough buffer gets the next request; the supplicant answers "not found".
  auto again = open_async(fd);
  uint64_t req = recv_load_ta(supp);
  EXPECT_GE(req, 1u);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND,
                 {value(kMetaValueInout, req), value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT),
                  memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, TEE_MEMREF_NULL, 0, 0)}),
            0);
  EXPECT_EQ(again.get(), TEE_ERROR_ITEM_NOT_FOUND);
}

TEST_F(SuppTest, RecvDeliversTheRequest) {
  int fd = open_tee();
  int supp = open_supp();
  auto opened = open_async(fd);
  ArgBuf r(kRecvHdr, 5);
  r.param(0) = meta();
  ASSERT_EQ(recv(supp, r), 0);
  auto& h = r.hdr<tee_iocl_supp_recv_arg>();
  EXPECT_EQ(h.func, OPTEE_RPC_CMD_LOAD_TA);
  ASSERT_EQ(h.num_params, 3u);
  EXPECT_EQ(r.param(0).attr, kMetaValueInout);
  EXPECT_EQ(r.param(0).a, 1u);  // ids start at 1
  EXPECT_EQ(r.param(0).b, 0u);
  EXPECT_EQ(r.param(1).attr, TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
  EXPECT_EQ(std::memcmp(&r.param(1).a, kShmTestTa, 8), 0);
  EXPECT_EQ(std::memcmp(&r.param(1).b, kShmTestTa + 8, 8), 0);
  // The size query: an output memref without a buffer.
  EXPECT_EQ(r.param(2).attr, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT);
  EXPECT_EQ(r.param(2).a, 0u);
  EXPECT_EQ(r.param(2).b, 0u);
  EXPECT_EQ(r.param(2).c, TEE_MEMREF_NULL);
  // Slots beyond the request are cleared.
  EXPECT_EQ(r.param(3).attr, 0u);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {value(kMetaValueInout, 1), value(1), value(6)}),
            0);
  EXPECT_EQ(opened.get(), TEE_ERROR_ITEM_NOT_FOUND);
}

TEST_F(SuppTest, SendChecksIdAndParamCount) {
  int fd = open_tee();
  int supp = open_supp();
  auto opened = open_async(fd);
  uint64_t req = recv_load_ta(supp);
  const tee_ioctl_param v1 = value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
  const tee_ioctl_param m2 = memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, TEE_MEMREF_NULL, 0, 0);
  // Unknown ids.
  for (uint64_t id : {req + 1, uint64_t{0}, uint64_t{1} << 40, req + (uint64_t{1} << 32)})
    EXPECT_EQ(send(supp, 0, {value(kMetaValueInout, id), v1, m2}), -ENOENT) << id;
  // Without the META reply param (nothing synchronous is pending).
  EXPECT_EQ(send(supp, 0, {v1, m2}), -EINVAL);
  EXPECT_EQ(send(supp, 0, {value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, req), v1, m2}), -EINVAL);
  EXPECT_EQ(send(supp, 0, {}), -EINVAL);
  // Wrong param count.
  EXPECT_EQ(send(supp, 0, {value(kMetaValueInout, req), v1}), -EINVAL);
  EXPECT_EQ(send(supp, 0, {value(kMetaValueInout, req), v1, m2, m2}), -EINVAL);
  // The request is still pending and takes the right answer once.
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {value(kMetaValueInout, req), v1, m2}), 0);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {value(kMetaValueInout, req), v1, m2}), -ENOENT);
  EXPECT_EQ(opened.get(), TEE_ERROR_ITEM_NOT_FOUND);
}

TEST_F(SuppTest, SynchronousAndAsynchronousDoNotMix) {
  int fd = open_tee();
  int supp = open_supp();
  auto opened = open_async(fd);
  // A synchronous receive: no META announcement.
  ArgBuf r(kRecvHdr, 4);
  ASSERT_EQ(recv(supp, r), 0);
  EXPECT_EQ(r.hdr<tee_iocl_supp_recv_arg>().num_params, 2u);
  EXPECT_EQ(r.param(0).attr, TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
  // While it is unanswered, neither kind of receive may take another request.
  ArgBuf sync_again(kRecvHdr, 4);
  EXPECT_EQ(recv(supp, sync_again), -EINVAL);
  ArgBuf async(kRecvHdr, 5);
  async.param(0) = meta();
  EXPECT_EQ(recv(supp, async), -EINVAL);
  // The synchronous answer: exactly the request's params, no META.
  const tee_ioctl_param m = memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, TEE_MEMREF_NULL, 0, 0);
  EXPECT_EQ(send(supp, 0, {r.param(0)}), -EINVAL);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {r.param(0), m}), 0);
  EXPECT_EQ(opened.get(), TEE_ERROR_ITEM_NOT_FOUND);
}

TEST_F(SuppTest, RequestIdsAreDistinctWhilePending) {
  int fd = open_tee();
  int supp = open_supp();
  auto a = open_async(fd);
  auto b = open_async(fd);
  uint64_t id1 = recv_load_ta(supp);
  uint64_t id2 = recv_load_ta(supp);
  EXPECT_EQ(std::min(id1, id2), 1u);
  EXPECT_NE(id1, id2);
  const tee_ioctl_param v1 = value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
  const tee_ioctl_param m2 = memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, TEE_MEMREF_NULL, 0, 0);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {value(kMetaValueInout, id2), v1, m2}), 0);
  EXPECT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {value(kMetaValueInout, id1), v1, m2}), 0);
  EXPECT_EQ(a.get(), TEE_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(b.get(), TEE_ERROR_ITEM_NOT_FOUND);
}

TEST_F(SuppTest, ServesLoadTaThroughApplShm) {
  // The whole protocol by hand: size query, SHM_ALLOC of application memory (registered on
  // /dev/teepriv0), the image, SHM_FREE.
  int fd = open_tee();
  int supp = open_supp();
  std::string path = std::string(TEEMU_TEST_TA_DIR) + "/f9b9acc0-806d-415c-bade-7aecc600e80f.ta";
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::vector<uint8_t> image;
  uint8_t chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), f)) > 0;)
    image.insert(image.end(), chunk, chunk + n);
  std::fclose(f);

  auto opened = open_async(fd);
  uint64_t req = recv_load_ta(supp);
  const tee_ioctl_param v1 = value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
  // Reply with the size; the pointer/id fields the supplicant writes are ignored.
  ASSERT_EQ(send(supp, TEE_SUCCESS,
                 {value(kMetaValueInout, req), v1,
                  memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, 0x5555, 0x77, image.size())}),
            0);
  ArgBuf r = recv_buf();
  ASSERT_EQ(recv(supp, r), 0);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_SHM_ALLOC);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().num_params, 2u);
  EXPECT_EQ(r.param(1).attr, TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT);
  EXPECT_EQ(r.param(1).a, OPTEE_RPC_SHM_TYPE_APPL);
  ASSERT_EQ(r.param(1).b, image.size());
  const size_t bytes = (image.size() + kPage - 1) / kPage * kPage;
  Pages mem(bytes / kPage);
  int32_t shm_id = -1;
  int shm = shm_register(supp, mem.addr(), image.size(), &shm_id);
  ASSERT_GE(shm, 0);
  ASSERT_EQ(send(supp, TEE_SUCCESS,
                 {r.param(0), value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_SHM_TYPE_APPL,
                                    image.size(), static_cast<uint64_t>(shm_id))}),
            0);
  // The second LOAD_TA names our shm by id.
  r = recv_buf();
  ASSERT_EQ(recv(supp, r), 0);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_LOAD_TA);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().num_params, 3u);
  EXPECT_EQ(r.param(2).attr, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT);
  EXPECT_EQ(r.param(2).c, static_cast<uint64_t>(shm_id));
  EXPECT_EQ(r.param(2).a, 0u);
  EXPECT_EQ(r.param(2).b, image.size());
  std::memcpy(mem.get(), image.data(), image.size());
  ASSERT_EQ(send(supp, TEE_SUCCESS, {r.param(0), r.param(1), r.param(2)}), 0);
  // SHM_FREE names the id; the kernel dropped the secure world's reference first.
  r = recv_buf();
  ASSERT_EQ(recv(supp, r), 0);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_SHM_FREE);
  EXPECT_EQ(r.param(1).a, OPTEE_RPC_SHM_TYPE_APPL);
  EXPECT_EQ(r.param(1).b, static_cast<uint64_t>(shm_id));
  EXPECT_EQ(close_fd(shm), 0);
  EXPECT_EQ(kernel().audit().supp_shm, 0u);
  ASSERT_EQ(send(supp, TEE_SUCCESS, {r.param(0), r.param(1)}), 0);
  EXPECT_EQ(opened.get(), TEE_SUCCESS);
}

TEST_F(SuppTest, SameShmForTwoAllocationsIsRefused) {
  // A supplicant answering two outstanding SHM_ALLOC requests with the same shm id: the secure
  // world already holds that buffer, so the second answer is refused; nothing leaks.
  int fd = open_tee();
  int supp = open_supp();
  Pages mem(1);
  int32_t shm_id = -1;
  int shm = shm_register(supp, mem.addr(), kPage, &shm_id);
  ASSERT_GE(shm, 0);
  auto a = open_async(fd);
  auto b = open_async(fd);
  auto ready = [](const std::shared_future<uint32_t>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  };
  int allocs = 0, frees = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(ready(a) && ready(b)) && std::chrono::steady_clock::now() < deadline) {
    if (kernel().audit().supplicant_pending == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    ArgBuf r = recv_buf();
    ASSERT_EQ(recv(supp, r), 0);
    const uint32_t func = r.hdr<tee_iocl_supp_recv_arg>().func;
    if (func == OPTEE_RPC_CMD_LOAD_TA && r.param(2).c == TEE_MEMREF_NULL) {
      r.param(2).b = kPage;  // the size query: one page
      ASSERT_EQ(send(supp, TEE_SUCCESS, {r.param(0), r.param(1), r.param(2)}), 0);
    } else if (func == OPTEE_RPC_CMD_LOAD_TA) {
      ASSERT_EQ(send(supp, TEE_ERROR_ITEM_NOT_FOUND, {r.param(0), r.param(1), r.param(2)}), 0);
    } else if (func == OPTEE_RPC_CMD_SHM_ALLOC) {
      ++allocs;
      r.param(1).c = static_cast<uint64_t>(shm_id);  // the same buffer every time
      ASSERT_EQ(send(supp, TEE_SUCCESS, {r.param(0), r.param(1)}), 0);
    } else {
      ASSERT_EQ(func, OPTEE_RPC_CMD_SHM_FREE);
      ++frees;
      ASSERT_EQ(send(supp, TEE_SUCCESS, {r.param(0), r.param(1)}), 0);
    }
  }
  ASSERT_TRUE(ready(a) && ready(b));
  EXPECT_NE(a.get(), TEE_SUCCESS);
  EXPECT_NE(b.get(), TEE_SUCCESS);
  EXPECT_EQ(allocs, 2);
  // The secure world holds no reference any more: only our fd does.
  EXPECT_EQ(kernel().audit().supp_shm, 1u);
  EXPECT_EQ(close_fd(shm), 0);
  EXPECT_EQ(kernel().audit().supp_shm, 0u);
  EXPECT_LE(frees, 2);
}

TEST_F(SuppTest, ClosingSupplicantFailsPendingRequests) {
  int fd = open_tee();
  int supp = open_supp();
  auto handed = open_async(fd);
  recv_load_ta(supp);  // handed to the supplicant, never answered
  auto queued = open_async(fd);
  // Wait until the second request is queued.
  for (int i = 0; i < 1000 && kernel().audit().supplicant_pending < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(kernel().audit().supplicant_pending, 2u);
  ASSERT_EQ(close_fd(supp), 0);
  ASSERT_EQ(handed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(queued.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(handed.get(), TEE_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(queued.get(), TEE_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(kernel().audit().supplicant_pending, 0u);
  // A new supplicant can attach.
  int again = open_supp();
  EXPECT_GE(again, 0);
}

TEST_F(SuppTest, ClosingSupplicantWhileSecureWorldHoldsItsShm) {
  // The secure world holds a reference to the supplicant's memory (RPC SHM_ALLOC) when the
  // supplicant goes away: its requests must still fail at once, not wait for that memory.
  int fd = open_tee();
  int supp = open_supp();
  auto opened = open_async(fd);
  uint64_t req = recv_load_ta(supp);
  ASSERT_EQ(send(supp, TEE_SUCCESS,
                 {value(kMetaValueInout, req), value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT),
                  memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, TEE_MEMREF_NULL, 0, 3 * kPage)}),
            0);
  ArgBuf r = recv_buf();
  ASSERT_EQ(recv(supp, r), 0);
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_SHM_ALLOC);
  Pages mem(3);
  int32_t shm_id = -1;
  int shm = shm_register(supp, mem.addr(), 3 * kPage, &shm_id);
  ASSERT_GE(shm, 0);
  ASSERT_EQ(send(supp, TEE_SUCCESS,
                 {r.param(0), value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_SHM_TYPE_APPL,
                                    3 * kPage, static_cast<uint64_t>(shm_id))}),
            0);
  r = recv_buf();
  ASSERT_EQ(recv(supp, r), 0);  // the second LOAD_TA, left unanswered
  ASSERT_EQ(r.hdr<tee_iocl_supp_recv_arg>().func, OPTEE_RPC_CMD_LOAD_TA);
  // The supplicant exits: both of its files close.
  ASSERT_EQ(close_fd(shm), 0);
  ASSERT_EQ(close_fd(supp), 0);
  ASSERT_EQ(opened.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  // The image never came: the secure world frees the memory and reports the failed RPC.
  EXPECT_EQ(opened.get(), TEE_ERROR_COMMUNICATION);
  EXPECT_EQ(kernel().audit().supp_shm, 0u);
}

}  // namespace
}  // namespace teemu::test
