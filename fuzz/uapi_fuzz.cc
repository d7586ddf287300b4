// Fuzz target (b): a hostile client process -> the REE kernel's TEE uapi (ree::Kernel system
// calls: open, close, ioctl, mmap, munmap on /dev/tee0 and /dev/teepriv0).
//
// The input is a program of system calls with ioctl numbers (the real ones, or any), argument
// structures and buf-style buffers (headers, params, lengths that lie) built from the input.
// Every pointer handed to the kernel points into the harness's arena (read-write pages, a
// read-only page, a PROT_NONE page, a hole) or is one of the addresses no user mapping can have
// (NULL, below mmap_min_addr, the top of the user range, the kernel half): the kernel model must
// answer EFAULT for the bad ones, and it writes only into the arena. Each input gets a fresh
// machine (platform::Machine with its tee-supplicant, the shm-test TA on its TA path).
//
// Oracles besides the sanitizers: once the process has closed every descriptor and mapping (one
// by one, or all at once as at process exit), the whole machine must be quiescent (no file,
// mapping, shm, session, pinned page, driver buffer, secure session, instance or busy thread).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <set>
#include <vector>

#include "../tas/shm_test/include/shm_test_ta.h"
#include "abi/gp.h"
#include "abi/tee_uapi.h"
#include "common.h"
#include "platform/machine.h"
#include "ree/kernel.h"
#include "ree/user_pages.h"

namespace teemu::fuzz {
namespace {

using namespace teemu::abi;  // NOLINT: the uapi names are this file's vocabulary

constexpr size_t kPage = 4096;
constexpr int kMaxOps = 40;
constexpr uint8_t kShmTa[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};
constexpr uint8_t kOtherTa[16] = {0x12, 0x34, 0x56, 0x78, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};

// The arena: pages 0..11 read-write, 12 read-only, 13 PROT_NONE, 14 a hole, 15 read-write.
constexpr size_t kArenaPages = 16;
constexpr size_t kRoPage = 12, kNonePage = 13, kHolePage = 14;
uint8_t* g_arena = nullptr;
std::string g_ta_dir;       // holds only the shm-test TA
std::string g_storage_dir;  // tee-supplicant's REE FS root

enum Op : uint8_t {
  kOpOpen,
  kOpClose,
  kOpShmAlloc,
  kOpShmRegister,
  kOpOpenSession,
  kOpInvoke,
  kOpCancel,
  kOpCloseSession,
  kOpIoctl,  // any ioctl number with any argument bytes
  kOpMmap,
  kOpMunmap,
  kOpCount
};

struct Shm {
  int fd;
  int32_t id;
  uint64_t size;
};

class Process {
 public:
  Process(Reader& r) : r_(r) {
    // Reset the arena's writable pages: every input starts from the same memory.
    std::memset(g_arena, 0, kRoPage * kPage);
    std::memset(g_arena + 15 * kPage, 0, kPage);
    const uint8_t c = r.u8();
    platform::MachineConfig mc;
    mc.dynamic_shm = !(c & 1);
    mc.static_shm_size = (c & 2) && mc.dynamic_shm ? 0 : (1ull << 20);
    mc.threads = 1 + (c >> 2) % 3;
    mc.ns_dram_size = 16ull << 20;
    mc.thread_stack_size = 256 * 1024;
    mc.ta_path = {g_ta_dir};
    mc.storage_dir = g_storage_dir;
    exit_all_at_once_ = (c >> 4) & 1;
    std::string error;
    machine_ = platform::Machine::create(mc, &error);
    if (!machine_) finding("machine does not boot: %s", error.c_str());
  }

  ~Process() {
    ree::Kernel& k = machine_->kernel();
    if (exit_all_at_once_) {
      k.shutdown_clients();
    } else {
      for (auto& [addr, len] : maps_) k.sys_munmap(reinterpret_cast<void*>(addr), len);
      for (int fd : fds_) k.sys_close(fd);
    }
    auto a = machine_->audit();
    if (!a.quiescent()) finding("machine not quiescent after the process closed everything: %s",
                                a.describe().c_str());
    machine_.reset();
    clear_dir(g_storage_dir);
  }

  void op() {
    switch (r_.below(kOpCount)) {
      case kOpOpen: op_open(); break;
      case kOpClose: op_close(); break;
      case kOpShmAlloc: op_shm_alloc(); break;
      case kOpShmRegister: op_shm_register(); break;
      case kOpOpenSession: op_open_session(); break;
      case kOpInvoke: op_invoke(); break;
      case kOpCancel: op_cancel(); break;
      case kOpCloseSession: op_close_session(); break;
      case kOpIoctl: op_ioctl(); break;
      case kOpMmap: op_mmap(); break;
      case kOpMunmap: op_munmap(); break;
      default: break;
    }
  }

 private:
  ree::Kernel& k() { return machine_->kernel(); }

  // --- user memory ----------------------------------------------------------------------------
  // An address in the arena (mostly in its read-write part), or one no user mapping has.
  uint64_t user_ptr(uint64_t len) {
    const uint64_t base = reinterpret_cast<uint64_t>(g_arena);
    switch (r_.u8() % 16) {
      case 10: return 0;
      case 11: return 0x8000;  // below mmap_min_addr
      case 12: return base + kRoPage * kPage + (r_.u16() & 0xfff);
      case 13: return base + kNonePage * kPage + (r_.u16() & 0xfff);
      case 14: return base + kHolePage * kPage - (r_.u8() % 64);  // runs into the hole
      case 15:
        return r_.pick<uint64_t>({ree::kTaskSize - 8, ree::kTaskSize, 0xffff800000000000ull,
                                  0x0000800000000000ull, ~uint64_t{0} - 7});
      default: {
        // Read-write, with room for `len` bytes when that fits.
        const uint64_t room = kRoPage * kPage;
        const uint64_t off = (r_.u16() * 8ull) % room;
        return base + std::min(off, room - std::min<uint64_t>(len, room));
      }
    }
  }
  // Writes `bytes` at a user address if it is in the arena's writable part.
  void put(uint64_t addr, const void* bytes, size_t n) {
    const uint64_t base = reinterpret_cast<uint64_t>(g_arena);
    if (n != 0 && addr >= base && addr - base <= kRoPage * kPage && n <= kRoPage * kPage - (addr - base))
      std::memcpy(reinterpret_cast<void*>(addr), bytes, n);
  }

  void own(int fd) {
    fds_.push_back(fd);
    ever_.insert(fd);
  }
  int some_fd() {
    if (!fds_.empty() && r_.u8() % 8 != 7) return fds_[r_.below(static_cast<uint32_t>(fds_.size()))];
    const int fd = r_.pick_or<int>({-1, ree::kFdBase - 1, ree::kFdBase + 999, 0},
                                   [&] { return static_cast<int>(r_.u32()); });
    // The machine's tee-supplicant runs in this process, but in the system modelled it is
    // another process: its descriptors are not this client's to use. A number of the kernel's
    // range the client never had becomes one that is surely not open (EBADF).
    if (fd >= ree::kFdBase && !ever_.count(fd)) return ree::kFdBase - 1;
    return fd;
  }
  int device_fd() {
    if (!devs_.empty() && r_.u8() % 8 != 7) return devs_[r_.below(static_cast<uint32_t>(devs_.size()))];
    return some_fd();
  }
  uint32_t some_session() {
    if (!sessions_.empty() && r_.u8() % 4 != 3)
      return sessions_[r_.below(static_cast<uint32_t>(sessions_.size()))];
    return r_.flag() ? r_.u8() : r_.u32();
  }
  int64_t some_shm_id() {
    if (!shms_.empty() && r_.u8() % 8 != 7)
      return shms_[r_.below(static_cast<uint32_t>(shms_.size()))].id;
    return r_.pick_or<int64_t>({-1, 0, static_cast<int64_t>(TEE_MEMREF_NULL), 1 << 20},
                               [&] { return static_cast<int64_t>(r_.u64()); });
  }
  uint64_t size_for(uint64_t natural) {
    switch (r_.u8() % 10) {
      case 5: return 0;
      case 6: return 1;
      case 7: return natural + 1;
      case 8: return r_.u32();
      case 9: return r_.u64();
      default: return natural;
    }
  }

  // --- params ---------------------------------------------------------------------------------
  tee_ioctl_param param() {
    tee_ioctl_param p{};
    const uint64_t meta = r_.u8() % 16 == 15 ? TEE_IOCTL_PARAM_ATTR_META : 0;
    switch (r_.u8() % 6) {
      case 0: p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_NONE; break;
      case 1:
      case 2:
        p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + r_.u8() % 3;
        p.a = r_.u32();
        p.b = r_.u32();
        p.c = r_.u32();
        break;
      case 3:
      case 4: {
        p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + r_.u8() % 3;
        p.c = static_cast<uint64_t>(some_shm_id());
        uint64_t shm_size = kPage;
        for (const Shm& s : shms_)
          if (static_cast<uint64_t>(s.id) == p.c) shm_size = s.size;
        p.a = size_for(0);
        p.b = size_for(shm_size);
        break;
      }
      default:
        p.attr = r_.u64();
        p.a = r_.u64();
        p.b = r_.u64();
        p.c = r_.u64();
        break;
    }
    p.attr |= meta;
    return p;
  }
  // A buf-style argument: `header` bytes then params; the header's last u32 is num_params (which
  // may lie), and buf_len may lie too. Returns the rc; the written buffer stays in the arena at
  // *where.
  int buf_ioctl(int fd, uint32_t cmd, std::vector<uint8_t> header, uint32_t n,
                std::vector<tee_ioctl_param> params, uint64_t* where) {
    uint32_t num = n;
    if (r_.u8() % 16 == 15) num = r_.pick_or<uint32_t>({0, 5, 0x08000000, 0xffffffff}, [&] { return r_.u32(); });
    std::memcpy(header.data() + header.size() - 4, &num, 4);
    std::vector<uint8_t> buf = header;
    for (const auto& p : params) {
      const auto* b = reinterpret_cast<const uint8_t*>(&p);
      buf.insert(buf.end(), b, b + sizeof(p));
    }
    const uint64_t addr = user_ptr(buf.size());
    put(addr, buf.data(), buf.size());
    uint64_t len = buf.size();
    if (r_.u8() % 16 == 15) len = r_.pick_or<uint64_t>({0, 8, header.size() - 1, TEE_MAX_ARG_SIZE + 1}, [&] { return r_.u64(); });
    tee_ioctl_buf_data d{addr, len};
    *where = addr;
    return k().sys_ioctl(fd, cmd, &d);
  }
  bool readable(uint64_t addr, size_t n) {
    const uint64_t base = reinterpret_cast<uint64_t>(g_arena);
    return addr >= base && addr - base <= kRoPage * kPage && n <= kRoPage * kPage - (addr - base);
  }

  // --- ops ------------------------------------------------------------------------------------
  void op_open() {
    const char* path = r_.pick<const char*>({"/dev/tee0", "/dev/tee0", "/dev/teepriv0", "/dev/tee1",
                                             "", nullptr});
    const int fd = k().sys_open(path);
    trace("open %s -> %d", path ? path : "(null)", fd);
    if (fd >= 0) {
      own(fd);
      devs_.push_back(fd);
    }
  }
  void forget(int fd) {
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
    devs_.erase(std::remove(devs_.begin(), devs_.end(), fd), devs_.end());
    shms_.erase(std::remove_if(shms_.begin(), shms_.end(), [&](const Shm& s) { return s.fd == fd; }),
                shms_.end());
  }
  void op_close() {
    const int fd = some_fd();
    const int rc = k().sys_close(fd);
    trace("close %d -> %d", fd, rc);
    if (rc == 0) forget(fd);
  }
  void op_shm_alloc() {
    const int fd = device_fd();
    tee_ioctl_shm_alloc_data d{};
    d.size = r_.pick_or<uint64_t>({1, kPage, 3 * kPage + 5, 0}, [&] { return r_.flag() ? r_.u32() : r_.u64(); });
    d.flags = r_.u8() % 8 == 7 ? r_.u32() : 0;
    d.id = -1;
    const uint64_t addr = user_ptr(sizeof(d));
    put(addr, &d, sizeof(d));
    const int rc = k().sys_ioctl(fd, TEE_IOC_SHM_ALLOC, reinterpret_cast<void*>(addr));
    trace("shm_alloc size=%#llx -> %d", static_cast<unsigned long long>(d.size), rc);
    if (rc >= 0) {
      tee_ioctl_shm_alloc_data out{};
      if (readable(addr, sizeof(out))) std::memcpy(&out, reinterpret_cast<void*>(addr), sizeof(out));
      own(rc);
      shms_.push_back({rc, out.id, out.size});
    }
  }
  void op_shm_register() {
    const int fd = device_fd();
    tee_ioctl_shm_register_data d{};
    const uint64_t len = r_.pick_or<uint64_t>({kPage, 1, 2 * kPage + 100, 11 * kPage}, [&] { return r_.u64(); });
    d.addr = user_ptr(len);
    d.length = size_for(len);
    d.flags = r_.u8() % 8 == 7 ? r_.u32() : 0;
    d.id = -1;
    const uint64_t addr = user_ptr(sizeof(d));
    put(addr, &d, sizeof(d));
    const int rc = k().sys_ioctl(fd, TEE_IOC_SHM_REGISTER, reinterpret_cast<void*>(addr));
    trace("shm_register len=%#llx -> %d", static_cast<unsigned long long>(d.length), rc);
    if (rc >= 0) {
      tee_ioctl_shm_register_data out{};
      if (readable(addr, sizeof(out))) std::memcpy(&out, reinterpret_cast<void*>(addr), sizeof(out));
      own(rc);
      shms_.push_back({rc, out.id, d.length});
    }
  }
  std::vector<tee_ioctl_param> params(uint32_t n) {
    std::vector<tee_ioctl_param> p(n);
    for (auto& x : p) x = param();
    return p;
  }
  void op_open_session() {
    const int fd = device_fd();
    tee_ioctl_open_session_arg h{};
    std::memcpy(h.uuid, r_.u8() % 8 == 7 ? kOtherTa : kShmTa, 16);
    h.clnt_login = r_.pick_or<uint32_t>({TEE_IOCTL_LOGIN_PUBLIC, TEE_IOCTL_LOGIN_USER, TEE_IOCTL_LOGIN_GROUP,
                                         TEE_IOCTL_LOGIN_APPLICATION, TEE_IOCTL_LOGIN_REE_KERNEL},
                                        [&] { return r_.u32(); });
    if (h.clnt_login == TEE_IOCTL_LOGIN_GROUP) {
      const uint32_t gid = r_.flag() ? static_cast<uint32_t>(getgid()) : r_.u32();
      std::memcpy(h.clnt_uuid, &gid, 4);
    }
    h.cancel_id = r_.u8() % 4;
    const uint32_t n = r_.u8() % 5;
    auto p = params(n);
    std::vector<uint8_t> hdr(sizeof(h));
    std::memcpy(hdr.data(), &h, sizeof(h));
    uint64_t where = 0;
    const int rc = buf_ioctl(fd, TEE_IOC_OPEN_SESSION, hdr, n, p, &where);
    tee_ioctl_open_session_arg out{};
    if (readable(where, sizeof(out))) std::memcpy(&out, reinterpret_cast<void*>(where), sizeof(out));
    trace("open_session -> %d ret=%#x session=%u", rc, out.ret, out.session);
    if (rc == 0 && out.ret == TEE_SUCCESS) sessions_.push_back(out.session);
  }
  void op_invoke() {
    const int fd = device_fd();
    tee_ioctl_invoke_arg h{};
    h.session = some_session();
    h.func = r_.pick_or<uint32_t>({TA_SHM_TEST_CMD_SUM, TA_SHM_TEST_CMD_FILL, TA_SHM_TEST_CMD_INC,
                                   TA_SHM_TEST_CMD_NEED, TA_SHM_TEST_CMD_PANIC,
                                   TA_SHM_TEST_CMD_WAIT_CANCEL, TA_SHM_TEST_CMD_XOR},
                                  [&] { return r_.u32(); });
    h.cancel_id = r_.u8() % 4;
    const uint32_t n = r_.u8() % 5;
    auto p = params(n);
    // WAIT_CANCEL is TEE_Wait(value a ms) on the driver's clock: a few milliseconds at most,
    // never endless (only a CANCEL from another thread would end it).
    if (h.func == TA_SHM_TEST_CMD_WAIT_CANCEL)
      for (auto& x : p) x.a &= 3;
    std::vector<uint8_t> hdr(sizeof(h));
    std::memcpy(hdr.data(), &h, sizeof(h));
    uint64_t where = 0;
    const int rc = buf_ioctl(fd, TEE_IOC_INVOKE, hdr, n, p, &where);
    trace("invoke func=%u -> %d", h.func, rc);
  }
  void op_cancel() {
    const int fd = device_fd();
    tee_ioctl_cancel_arg c{static_cast<uint32_t>(r_.u8() % 4), some_session()};
    const uint64_t addr = user_ptr(sizeof(c));
    put(addr, &c, sizeof(c));
    k().sys_ioctl(fd, TEE_IOC_CANCEL, reinterpret_cast<void*>(addr));
  }
  void op_close_session() {
    const int fd = device_fd();
    tee_ioctl_close_session_arg c{some_session()};
    const uint64_t addr = user_ptr(sizeof(c));
    put(addr, &c, sizeof(c));
    const int rc = k().sys_ioctl(fd, TEE_IOC_CLOSE_SESSION, reinterpret_cast<void*>(addr));
    trace("close_session %u -> %d", c.session, rc);
    if (rc == 0) sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), c.session), sessions_.end());
  }
  // Any ioctl number, any argument bytes. Pointers inside the structures the kernel knows are
  // kept to the arena or the bad addresses (a real process can only name its own memory).
  void op_ioctl() {
    const int fd = device_fd();
    const uint32_t cmd = r_.pick_or<uint32_t>(
        {TEE_IOC_VERSION, TEE_IOC_SHM_ALLOC, TEE_IOC_OPEN_SESSION, TEE_IOC_INVOKE, TEE_IOC_CANCEL,
         TEE_IOC_CLOSE_SESSION, TEE_IOC_SUPPL_RECV, TEE_IOC_SUPPL_SEND, TEE_IOC_SHM_REGISTER,
         ioc(kIocRead | kIocWrite, TEE_IOC_MAGIC, 8, 24), ioc(kIocRead, TEE_IOC_MAGIC, 0, 16)},
        [&] { return r_.u32(); });
    std::vector<uint8_t> bytes = r_.blob(64);
    if (cmd == TEE_IOC_SHM_REGISTER && bytes.size() >= 16) {
      const uint64_t a = user_ptr(kPage);
      std::memcpy(bytes.data(), &a, 8);
    } else if ((cmd == TEE_IOC_OPEN_SESSION || cmd == TEE_IOC_INVOKE || cmd == TEE_IOC_SUPPL_RECV ||
                cmd == TEE_IOC_SUPPL_SEND) && bytes.size() >= 8) {
      const uint64_t a = user_ptr(TEE_MAX_ARG_SIZE);
      std::memcpy(bytes.data(), &a, 8);
    }
    const uint64_t addr = user_ptr(bytes.size());
    put(addr, bytes.data(), bytes.size());
    const int rc = k().sys_ioctl(fd, cmd, reinterpret_cast<void*>(addr));
    trace("ioctl %#x -> %d", cmd, rc);
    // A successful SHM_ALLOC / SHM_REGISTER made a descriptor.
    if (rc >= ree::kFdBase && (cmd == TEE_IOC_SHM_ALLOC || cmd == TEE_IOC_SHM_REGISTER)) {
      own(rc);
      int32_t id = -1;
      if (readable(addr + (cmd == TEE_IOC_SHM_ALLOC ? 12 : 20), 4))
        std::memcpy(&id, reinterpret_cast<void*>(addr + (cmd == TEE_IOC_SHM_ALLOC ? 12 : 20)), 4);
      shms_.push_back({rc, id, kPage});
    }
  }
  void op_mmap() {
    int fd = some_fd();
    uint64_t size = kPage;
    if (!shms_.empty() && r_.u8() % 4 != 3) {
      const Shm& s = shms_[r_.below(static_cast<uint32_t>(shms_.size()))];
      fd = s.fd;
      size = s.size;
    }
    const size_t len = size_for(size);
    const int64_t off = r_.u8() % 4 == 3 ? static_cast<int64_t>(r_.u64()) : 0;
    int err = 0;
    void* p = k().sys_mmap(len, fd, off, &err);
    trace("mmap fd=%d len=%#zx -> %p (%d)", fd, len, p, err);
    if (p != nullptr) {
      maps_.push_back({reinterpret_cast<uintptr_t>(p), len});
      // The process uses its mapping.
      std::memset(p, 0xa5, std::min<size_t>(len, 64));
    }
  }
  void op_munmap() {
    if (maps_.empty() || r_.u8() % 8 == 7) {
      k().sys_munmap(reinterpret_cast<void*>(g_arena), kPage);
      return;
    }
    const uint32_t i = r_.below(static_cast<uint32_t>(maps_.size()));
    auto [addr, len] = maps_[i];
    const uintptr_t a = addr + (r_.u8() % 8 == 7 ? kPage : 0);
    const int rc = k().sys_munmap(reinterpret_cast<void*>(a), len);
    trace("munmap -> %d", rc);
    if (rc == 0 && a == addr) maps_.erase(maps_.begin() + i);
  }

  Reader& r_;
  std::unique_ptr<platform::Machine> machine_;
  bool exit_all_at_once_ = false;
  std::vector<int> fds_;   // every descriptor the process holds
  std::set<int> ever_;     // every descriptor it was ever given (closed ones may be reused)
  std::vector<int> devs_;  // those of device files
  std::vector<Shm> shms_;
  std::vector<uint32_t> sessions_;
  std::vector<std::pair<uintptr_t, size_t>> maps_;
};

}  // namespace

void init() {
  void* a = mmap(nullptr, kArenaPages * kPage, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) finding("cannot map the arena");
  g_arena = static_cast<uint8_t*>(a);
  mprotect(g_arena + kRoPage * kPage, kPage, PROT_READ);
  mprotect(g_arena + kNonePage * kPage, kPage, PROT_NONE);
  munmap(g_arena + kHolePage * kPage, kPage);
  // A TA directory with only the shm-test TA, and a scratch storage root.
  g_ta_dir = scratch_dir("ta");
  const std::string name = "f9b9acc0-806d-415c-bade-7aecc600e80f.ta";
  if (symlink((ta_dir() + "/" + name).c_str(), (g_ta_dir + "/" + name).c_str()) != 0)
    finding("cannot link the shm-test TA into %s", g_ta_dir.c_str());
  g_storage_dir = scratch_dir("storage");
}

// Seeds: the client side of tests/uapi_test.cc's happy paths (the bytes follow the reads of the
// ops above; every op on a descriptor starts with the descriptor: 0, 0 = the first device).
Seeds seeds() {
  Seeds s;
  const auto open = [](Writer& w) { w.u8(kOpOpen).u8(0); };
  const auto fd0 = [](Writer& w) { w.u8(0).u8(0); };
  const auto rw_ptr = [](Writer& w, uint16_t slot) { w.u8(0).u16(slot); };
  // OPEN_SESSION to the shm-test TA, PUBLIC, no params, exact buffer.
  const auto open_session = [&](Writer& w) {
    w.u8(kOpOpenSession);
    fd0(w);
    w.u8(0).u8(0).u8(0).u8(0).u8(0);
    rw_ptr(w, 0);
    w.u8(0);
  };
  // INVOKE on the first session with params written by `params`.
  const auto invoke = [&](Writer& w, uint32_t func, uint8_t n, const std::function<void(Writer&)>& params) {
    w.u8(kOpInvoke);
    fd0(w);
    w.u8(0).u8(0).u8(static_cast<uint8_t>(func)).u8(0).u8(n);
    params(w);
    w.u8(0);
    rw_ptr(w, 128);
    w.u8(0);
  };
  const auto value = [](Writer& w, uint8_t dir, uint32_t a) { w.u8(0).u8(1).u8(dir).u32(a).u32(0).u32(0); };
  const auto memref = [](Writer& w, uint8_t dir) { w.u8(0).u8(3).u8(dir).u8(0).u8(0).u8(0).u8(0); };
  {
    Writer w;
    w.u8(0);
    open(w);
    w.u8(kOpIoctl);
    fd0(w);
    w.u8(0).u16(12).raw(std::vector<uint8_t>(12, 0));
    rw_ptr(w, 256);
    open_session(w);
    invoke(w, TA_SHM_TEST_CMD_INC, 1, [&](Writer& p) { value(p, 2, 5); });
    s.push_back({"version-open-inc", w.data()});
  }
  {  // SHM_ALLOC a page, mmap it, SUM over it, unmap
    Writer w;
    w.u8(0);
    open(w);
    w.u8(kOpShmAlloc);
    fd0(w);
    w.u8(1).u8(0);
    rw_ptr(w, 300);
    w.u8(kOpMmap).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0);
    open_session(w);
    invoke(w, TA_SHM_TEST_CMD_SUM, 2, [&](Writer& p) {
      memref(p, 0);
      value(p, 1, 0);
    });
    w.u8(kOpMunmap).u8(0).u8(0).u8(0);
    s.push_back({"alloc-mmap-sum", w.data()});
  }
  {  // register 2 pages of the process and FILL them
    Writer w;
    w.u8(0);
    open(w);
    w.u8(kOpShmRegister);
    fd0(w);
    w.u8(2);
    rw_ptr(w, 512);
    w.u8(0).u8(0);
    rw_ptr(w, 300);
    open_session(w);
    invoke(w, TA_SHM_TEST_CMD_FILL, 2, [&](Writer& p) {
      memref(p, 1);
      value(p, 0, 9);
    });
    s.push_back({"register-fill", w.data()});
  }
  {  // a machine without dynamic shm; everything is left to process exit
    Writer w;
    w.u8(0x11);
    open(w);
    w.u8(kOpShmAlloc);
    fd0(w);
    w.u8(1).u8(0);
    rw_ptr(w, 300);
    open_session(w);
    invoke(w, TA_SHM_TEST_CMD_NEED, 2, [&](Writer& p) {
      memref(p, 1);
      value(p, 0, 100);
    });
    s.push_back({"static-need-exit", w.data()});
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  Reader r(data, size);
  Process p(r);
  for (int i = 0; i < kMaxOps && !r.empty(); ++i) p.op();
  return 0;
}
