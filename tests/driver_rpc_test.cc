// Hostile secure world -> OP-TEE driver: the REE kernel booted over a fake secure world that
// answers the probe like OP-TEE and, for CALL_WITH_ARG, runs a script that returns whatever RPC
// requests the test wants before completing. Every RPC check of reference/linux-optee-abi.md
// section 6.4 / 9.3 (#22-#28), the cookie rules (#23, #49), the supplicant path (#32, #35, #36)
// and the call queue (#28). The driver must never crash, leak or hang: every test ends with the
// kernel's audit at zero and, after the kernel is gone, no non-secure page or aliased frame left.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "abi/tee_uapi.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hw/smc.h"
#include "ree/kernel.h"
#include "supplicant/supplicant.h"

namespace teemu::test {
namespace {

using namespace teemu::abi;  // NOLINT: the ABI names are this file's vocabulary
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
// The shm-test TA image the supplicant can load (tas/shm_test).
constexpr uint8_t kShmTestTa[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                    0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};

// ---------------------------------------------------------------------------------------------
// The fake secure world.

struct FakeConfig {
  uint32_t sec_caps = OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_MEMREF_NULL;
  uint32_t threads = 8;  // concurrent std calls before ETHREAD_LIMIT
  uint32_t spurious_thread_limits = 0;  // std calls refused with ETHREAD_LIMIT whatever is busy
  uint32_t uid0 = OPTEE_MSG_UID_0;
  uint32_t revision_major = OPTEE_MSG_REVISION_MAJOR;
  uint32_t exchange_result = OPTEE_SMC_RETURN_OK;
  uint32_t shm_settings = OPTEE_SMC_SHM_CACHED;
};

class FakeSecureWorld;

// One std call in the secure world: a script on its own host thread, handing control back and
// forth with the normal world at every RPC (as an OP-TEE thread does on its own stack).
class Call {
 public:
  Call(FakeSecureWorld& sw, uint32_t id, optee_msg_arg* arg) : sw_(sw), id_(id), arg_(arg) {}

  // The CALL_WITH_ARG message, in normal-world memory.
  optee_msg_arg* arg() { return arg_; }
  // SMC result returned when the script ends (OPTEE_SMC_RETURN_OK unless set).
  uint32_t smc_result = OPTEE_SMC_RETURN_OK;

  // Returns `req` (an RPC) to the normal world; yields the registers of its RETURN_FROM_RPC.
  SmcRegs rpc(SmcRegs req) {
    req[3] = id_;  // resume info, echoed back by the driver
    std::unique_lock lock(m_);
    out_ = req;
    normal_turn_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !normal_turn_; });
    return in_;
  }
  SmcRegs rpc(uint32_t a0, uint64_t a1 = 0, uint64_t a2 = 0) {
    SmcRegs r;
    r[0] = a0;
    r[1] = a1;
    r[2] = a2;
    return rpc(r);
  }

  struct Buf {
    uint64_t pa = 0;
    uint64_t cookie = 0;
    std::byte* host = nullptr;
  };
  Buf alloc(uint64_t size);
  void free(uint64_t cookie) {
    SmcRegs r = rpc(OPTEE_SMC_RETURN_RPC_FREE, cookie >> 32, cookie & 0xffffffff);
    EXPECT_EQ(r.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC);
  }
  void cmd(uint64_t cookie) {
    SmcRegs r = rpc(OPTEE_SMC_RETURN_RPC_CMD, cookie >> 32, cookie & 0xffffffff);
    EXPECT_EQ(r.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC);
    EXPECT_EQ(r.w(3), id_);
  }

 private:
  friend class FakeSecureWorld;
  FakeSecureWorld& sw_;
  uint32_t id_;
  optee_msg_arg* arg_;
  std::mutex m_;
  std::condition_variable cv_;
  bool normal_turn_ = false;
  bool finished_ = false;
  SmcRegs out_, in_;
  std::thread thread_;
};

using Script = std::function<void(Call&)>;

class FakeSecureWorld : public hw::SmcHandler {
 public:
  FakeSecureWorld(hw::PhysMem& mem, FakeConfig config)
      : mem_(mem), config_(config), spurious_left_(config.spurious_thread_limits) {}
  ~FakeSecureWorld() override { EXPECT_EQ(active(), 0u); }

  hw::PhysMem& mem() { return mem_; }

  SmcRegs smc(const SmcRegs& in) override {
    const uint32_t f = in.w(0);
    if (f & OPTEE_SMC_FAST_CALL) return fast_call(in);
    if (f == OPTEE_SMC_CALL_WITH_ARG) return start(in);
    if (f == OPTEE_SMC_CALL_RETURN_FROM_RPC) return resume(in);
    SmcRegs out;
    out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
    return out;
  }

  // Scripts: INVOKE by func; OPEN_SESSION and REGISTER_SHM may be overridden.
  void on_invoke(uint32_t func, Script s) {
    std::lock_guard lock(lock_);
    invoke_scripts_[func] = std::move(s);
  }
  void on_open(Script s) {
    std::lock_guard lock(lock_);
    open_script_ = std::move(s);
  }
  void on_register(Script s) {
    std::lock_guard lock(lock_);
    register_script_ = std::move(s);
  }
  // RPC argument cookies the secure world keeps (handed back on DISABLE_SHM_CACHE).
  void cache_cookie(uint64_t cookie) {
    std::lock_guard lock(lock_);
    cached_.push_back(cookie);
  }

  size_t active() {
    std::lock_guard lock(lock_);
    return calls_.size();
  }
  std::set<uint32_t> sessions() {
    std::lock_guard lock(lock_);
    return sessions_;
  }
  std::vector<uint32_t> closed_sessions() {
    std::lock_guard lock(lock_);
    return closed_;
  }
  size_t registered() {
    std::lock_guard lock(lock_);
    return registered_.size();
  }
  uint64_t thread_limit_returns() { return thread_limit_returns_.load(); }
  void set_spurious_thread_limits(uint32_t n) {
    std::lock_guard lock(lock_);
    spurious_left_ = n;
  }
  uint64_t std_calls() { return std_calls_.load(); }
  uint32_t next_session() {
    std::lock_guard lock(lock_);
    return next_session_;
  }

 private:
  SmcRegs fast_call(const SmcRegs& in) {
    SmcRegs out;
    switch (in.w(0)) {
      case OPTEE_SMC_CALLS_UID:
        out[0] = config_.uid0;
        out[1] = OPTEE_MSG_UID_1;
        out[2] = OPTEE_MSG_UID_2;
        out[3] = OPTEE_MSG_UID_3;
        break;
      case OPTEE_SMC_CALL_GET_OS_REVISION:
        out[0] = 3;
        out[1] = 22;
        break;
      case OPTEE_SMC_CALLS_REVISION:
        out[0] = config_.revision_major;
        out[1] = OPTEE_MSG_REVISION_MINOR;
        break;
      case OPTEE_SMC_EXCHANGE_CAPABILITIES:
        out[0] = config_.exchange_result;
        out[1] = config_.sec_caps;
        break;
      case OPTEE_SMC_GET_SHM_CONFIG:
        if (mem_.static_shm_size() == 0) {
          out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
        } else {
          out[0] = OPTEE_SMC_RETURN_OK;
          out[1] = mem_.static_shm_base().value;
          out[2] = mem_.static_shm_size();
          out[3] = config_.shm_settings;
        }
        break;
      case OPTEE_SMC_ENABLE_SHM_CACHE: out[0] = OPTEE_SMC_RETURN_OK; break;
      case OPTEE_SMC_DISABLE_SHM_CACHE: {
        std::lock_guard lock(lock_);
        if (cached_.empty()) {
          out[0] = OPTEE_SMC_RETURN_ENOTAVAIL;
        } else {
          out[0] = OPTEE_SMC_RETURN_OK;
          reg_pair_from_64(cached_.back(), out[1], out[2]);
          cached_.pop_back();
        }
        break;
      }
      default: out[0] = OPTEE_SMC_RETURN_UNKNOWN_FUNCTION; break;
    }
    return out;
  }

  SmcRegs start(const SmcRegs& in) {
    ++std_calls_;
    const uint64_t pa = reg_pair_to_64(in[1], in[2]);
    auto* arg = reinterpret_cast<optee_msg_arg*>(mem_.ns_range(PhysAddr{pa}, sizeof(optee_msg_arg)));
    SmcRegs out;
    if (arg == nullptr) {
      out[0] = OPTEE_SMC_RETURN_EBADADDR;
      return out;
    }
    Call* call;
    Script script;
    {
      std::lock_guard lock(lock_);
      if (calls_.size() >= config_.threads || spurious_left_ > 0) {
        if (spurious_left_ > 0) --spurious_left_;
        ++thread_limit_returns_;
        out[0] = OPTEE_SMC_RETURN_ETHREAD_LIMIT;
        return out;
      }
      script = script_for_locked(arg);
      call = new Call(*this, next_call_++, arg);
      calls_[call->id_] = call;
    }
    call->thread_ = std::thread([call, script] {
      script(*call);
      std::lock_guard lock(call->m_);
      call->out_ = {};
      call->out_[0] = call->smc_result;
      call->finished_ = true;
      call->normal_turn_ = true;
      call->cv_.notify_all();
    });
    return wait_for_secure(call);
  }

  SmcRegs resume(const SmcRegs& in) {
    Call* call = nullptr;
    {
      std::lock_guard lock(lock_);
      auto it = calls_.find(in.w(3));
      if (it != calls_.end()) call = it->second;
    }
    if (call == nullptr) {
      ADD_FAILURE() << "RETURN_FROM_RPC with unknown resume info " << in.w(3);
      SmcRegs out;
      out[0] = OPTEE_SMC_RETURN_ERESUME;
      return out;
    }
    {
      std::lock_guard lock(call->m_);
      call->in_ = in;
      call->normal_turn_ = false;
      call->cv_.notify_all();
    }
    return wait_for_secure(call);
  }

  SmcRegs wait_for_secure(Call* call) {
    SmcRegs out;
    bool finished;
    {
      std::unique_lock lock(call->m_);
      call->cv_.wait(lock, [&] { return call->normal_turn_; });
      out = call->out_;
      finished = call->finished_;
    }
    if (finished) {
      call->thread_.join();
      std::lock_guard lock(lock_);
      calls_.erase(call->id_);
      delete call;
    }
    return out;
  }

  Script script_for_locked(optee_msg_arg* arg) {
    switch (arg->cmd) {
      case OPTEE_MSG_CMD_OPEN_SESSION:
        if (open_script_) return open_script_;
        return [this](Call& c) {
          std::lock_guard lock(lock_);
          c.arg()->session = next_session_;
          sessions_.insert(next_session_++);
          c.arg()->ret = TEE_SUCCESS;
          c.arg()->ret_origin = TEE_ORIGIN_TRUSTED_APP;
        };
      case OPTEE_MSG_CMD_INVOKE_COMMAND: {
        auto it = invoke_scripts_.find(arg->func);
        if (it != invoke_scripts_.end()) return it->second;
        return [](Call& c) { c.arg()->ret = TEE_SUCCESS; };
      }
      case OPTEE_MSG_CMD_CLOSE_SESSION:
        return [this](Call& c) {
          std::lock_guard lock(lock_);
          closed_.push_back(c.arg()->session);
          sessions_.erase(c.arg()->session);
          c.arg()->ret = TEE_SUCCESS;
        };
      case OPTEE_MSG_CMD_CANCEL: return [](Call& c) { c.arg()->ret = TEE_SUCCESS; };
      case OPTEE_MSG_CMD_REGISTER_SHM:
        if (register_script_) return register_script_;
        return [this](Call& c) { register_shm(c); };
      case OPTEE_MSG_CMD_UNREGISTER_SHM:
        return [this](Call& c) {
          std::lock_guard lock(lock_);
          EXPECT_EQ(registered_.erase(c.arg()->params[0].u.rmem.shm_ref), 1u);
          c.arg()->ret = TEE_SUCCESS;
        };
      default: return [](Call& c) { c.smc_result = OPTEE_SMC_RETURN_EBADCMD; };
    }
  }

 public:
  // The default REGISTER_SHM: remembers the cookie.
  void register_shm(Call& c) {
    std::lock_guard lock(lock_);
    EXPECT_EQ(c.arg()->params[0].attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG);
    registered_.insert(c.arg()->params[0].u.tmem.shm_ref);
    c.arg()->ret = TEE_SUCCESS;
  }

 private:
  hw::PhysMem& mem_;
  FakeConfig config_;
  uint32_t spurious_left_;  // under lock_
  std::mutex lock_;
  std::map<uint32_t, Call*> calls_;
  uint32_t next_call_ = 1;
  std::map<uint32_t, Script> invoke_scripts_;
  Script open_script_, register_script_;
  std::set<uint32_t> sessions_;
  std::vector<uint32_t> closed_;
  uint32_t next_session_ = 1;
  std::set<uint64_t> registered_;
  std::vector<uint64_t> cached_;
  std::atomic<uint64_t> thread_limit_returns_{0};
  std::atomic<uint64_t> std_calls_{0};
};

Call::Buf Call::alloc(uint64_t size) {
  SmcRegs r = rpc(OPTEE_SMC_RETURN_RPC_ALLOC, size);
  EXPECT_EQ(r.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC);
  Buf b;
  b.pa = reg_pair_to_64(r[1], r[2]);
  b.cookie = reg_pair_to_64(r[4], r[5]);
  if (b.pa != 0) b.host = sw_.mem().ns_range(PhysAddr{b.pa}, size);
  return b;
}

// An RPC_CMD argument in a buffer from RPC_ALLOC, freed again at the end.
class RpcMsg {
 public:
  RpcMsg(Call& c, uint32_t cmd, uint32_t num_params, uint64_t room = kPage) : c_(c) {
    buf_ = c.alloc(room);
    EXPECT_NE(buf_.host, nullptr);
    std::memset(buf_.host, 0, room);
    arg()->cmd = cmd;
    arg()->num_params = num_params;
  }
  ~RpcMsg() { c_.free(buf_.cookie); }
  optee_msg_arg* arg() { return reinterpret_cast<optee_msg_arg*>(buf_.host); }
  optee_msg_param& p(size_t i) { return arg()->params[i]; }
  void value(size_t i, uint64_t attr, uint64_t a = 0, uint64_t b = 0, uint64_t cc = 0) {
    p(i).attr = attr;
    p(i).u.value = {a, b, cc};
  }
  // Sends the request (RPC_CMD); returns arg->ret.
  uint32_t send() {
    arg()->ret = 0x5a5a5a5a;  // must be overwritten by the driver
    c_.cmd(buf_.cookie);
    return arg()->ret;
  }
  uint64_t cookie() const { return buf_.cookie; }

 private:
  Call& c_;
  Call::Buf buf_;
};

// SHM_ALLOC / SHM_FREE requests as OP-TEE sends them.
struct ShmReply {
  uint32_t ret = 0, origin = 0;
  uint64_t attr = 0, buf_ptr = 0, size = 0, cookie = 0;
};
ShmReply rpc_shm_alloc(Call& c, uint64_t type, uint64_t size) {
  RpcMsg m(c, OPTEE_RPC_CMD_SHM_ALLOC, 1);
  m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, type, size, 8);
  ShmReply r;
  r.ret = m.send();
  r.origin = m.arg()->ret_origin;
  r.attr = m.p(0).attr;
  r.buf_ptr = m.p(0).u.tmem.buf_ptr;
  r.size = m.p(0).u.tmem.size;
  r.cookie = m.p(0).u.tmem.shm_ref;
  return r;
}
uint32_t rpc_shm_free(Call& c, uint64_t type, uint64_t cookie, uint32_t* origin = nullptr) {
  RpcMsg m(c, OPTEE_RPC_CMD_SHM_FREE, 1);
  m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, type, cookie, 0);
  uint32_t ret = m.send();
  if (origin) *origin = m.arg()->ret_origin;
  return ret;
}

// ---------------------------------------------------------------------------------------------
// The fixture: PhysMem, the fake, a kernel over it, optionally tee-supplicant; a client context
// with one open session.

constexpr uint32_t kFunc = 1;

struct Options {
  FakeConfig fake;
  uint64_t static_shm = 0;
  bool supplicant = false;
};

class DriverRpcTest : public ::testing::Test {
 protected:
  void boot(Options o = {}) {
    hw::PhysMemConfig pm;
    pm.static_shm_size = o.static_shm;
    pm.ns_dram_size = 16ull << 20;
    mem_ = hw::PhysMem::create(pm);
    ASSERT_NE(mem_, nullptr);
    sw_ = std::make_unique<FakeSecureWorld>(*mem_, o.fake);
    kernel_ = ree::Kernel::boot(*mem_, *sw_, stats_);
    ASSERT_NE(kernel_, nullptr);
    if (o.supplicant) {
      supp_ = std::make_unique<supplicant::Supplicant>(
          *kernel_, supplicant::SupplicantConfig{{TEEMU_TEST_TA_DIR}});
      ASSERT_TRUE(supp_->start());
    }
    fd_ = kernel_->sys_open("/dev/tee0");
    ASSERT_GE(fd_, 0);
    session_ = open_session(fd_);
  }

  void TearDown() override {
    if (!kernel_) return;
    if (fd_ >= 0) {
      EXPECT_EQ(close_session(fd_, session_), 0);
      EXPECT_EQ(kernel_->sys_close(fd_), 0);
    }
    auto a = kernel_->audit();
    EXPECT_EQ(a.open_files, supp_ ? 1u : 0u);
    EXPECT_EQ(a.mappings, 0u);
    EXPECT_EQ(a.client_shm, 0u);
    EXPECT_EQ(a.supp_shm, 0u);
    EXPECT_EQ(a.sessions, 0u);
    EXPECT_EQ(a.private_buffers, expected_private_);
    EXPECT_EQ(a.supplicant_pending, 0u);
    EXPECT_TRUE(sw_->sessions().empty());
    EXPECT_EQ(sw_->registered(), 0u);
    if (supp_) {
      kernel_->shutdown_clients();
      supp_->stop();
      supp_.reset();
    }
    kernel_.reset();
    // Nothing of the normal world is left: message pages, page lists, RPC buffers, pins.
    EXPECT_EQ(mem_->ns_pages_in_use(), 0);
    EXPECT_EQ(mem_->frames_aliased(), 0);
    sw_.reset();
  }

  int ioctl(int fd, uint32_t cmd, void* arg) { return kernel_->sys_ioctl(fd, cmd, arg); }
  uint32_t open_session(int fd) {
    tee_ioctl_open_session_arg o{};
    std::memcpy(o.uuid, kShmTestTa, 16);
    tee_ioctl_buf_data b{reinterpret_cast<uint64_t>(&o), sizeof(o)};
    EXPECT_EQ(ioctl(fd, TEE_IOC_OPEN_SESSION, &b), 0);
    EXPECT_EQ(o.ret, TEE_SUCCESS);
    return o.session;
  }
  int close_session(int fd, uint32_t s) {
    tee_ioctl_close_session_arg c{s};
    return ioctl(fd, TEE_IOC_CLOSE_SESSION, &c);
  }
  struct InvokeResult {
    int rc = 0;
    uint32_t ret = 0, origin = 0;
  };
  // INVOKE `func` on the fixture's session with up to 4 params.
  InvokeResult invoke(uint32_t func, std::vector<tee_ioctl_param> params = {},
                      std::vector<tee_ioctl_param>* out = nullptr) {
    struct {
      tee_ioctl_invoke_arg h;
      tee_ioctl_param p[4];
    } a{};
    a.h.func = func;
    a.h.session = session_;
    a.h.num_params = static_cast<uint32_t>(params.size());
    for (size_t i = 0; i < params.size(); ++i) a.p[i] = params[i];
    tee_ioctl_buf_data b{reinterpret_cast<uint64_t>(&a), sizeof(a.h) + 32 * params.size()};
    InvokeResult r;
    r.rc = ioctl(fd_, TEE_IOC_INVOKE, &b);
    r.ret = a.h.ret;
    r.origin = a.h.ret_origin;
    if (out) out->assign(a.p, a.p + params.size());
    return r;
  }
  // Runs `script` as one INVOKE; returns the TEE result.
  uint32_t run(Script script, uint32_t* origin = nullptr) {
    sw_->on_invoke(kFunc, std::move(script));
    InvokeResult r = invoke(kFunc);
    EXPECT_EQ(r.rc, 0);
    if (origin) *origin = r.origin;
    return r.ret;
  }
  uint64_t private_buffers() { return kernel_->audit().private_buffers; }
  std::byte* host(uint64_t pa, uint64_t len = 1) { return mem_->ns_range(PhysAddr{pa}, len); }

  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  std::unique_ptr<FakeSecureWorld> sw_;
  std::unique_ptr<ree::Kernel> kernel_;
  std::unique_ptr<supplicant::Supplicant> supp_;
  int fd_ = -1;
  uint32_t session_ = 0;
  size_t expected_private_ = 0;
};

// --- probe -------------------------------------------------------------------------------------

TEST(DriverProbe, RefusesIncompatibleSecureWorlds) {
  struct Case {
    const char* what;
    FakeConfig c;
    uint64_t static_shm;
  };
  FakeConfig uid, rev, caps, none, uncached;
  uid.uid0 ^= 1;
  rev.revision_major = 3;
  caps.exchange_result = OPTEE_SMC_RETURN_ENOTAVAIL;
  none.sec_caps = OPTEE_SMC_SEC_CAP_MEMREF_NULL;  // neither carve-out nor dynamic shm
  uncached.sec_caps = OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
  uncached.shm_settings = 0;
  for (const Case& k : {Case{"api uid", uid, 0}, Case{"revision", rev, 0},
                        Case{"capabilities", caps, 0}, Case{"no shm", none, 0},
                        Case{"uncached carve-out", uncached, 2u << 20}}) {
    hw::PhysMemConfig pm;
    pm.static_shm_size = k.static_shm;
    auto mem = hw::PhysMem::create(pm);
    FakeSecureWorld sw(*mem, k.c);
    hw::MachineStats stats;
    EXPECT_EQ(ree::Kernel::boot(*mem, sw, stats), nullptr) << k.what;
    EXPECT_EQ(mem->ns_pages_in_use(), 0) << k.what;
  }
}

TEST_F(DriverRpcTest, VersionFollowsSecureCapabilities) {
  FakeConfig c;
  c.sec_caps = OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
  boot({c, 2u << 20});
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(fd_, TEE_IOC_VERSION, &v), 0);
  EXPECT_EQ(v.gen_caps, TEE_GEN_CAP_GP);
}

// --- 9.1 #5: NULL memrefs need the capability --------------------------------------------------

TEST_F(DriverRpcTest, NullMemrefWithoutCapabilityIsEinval) {
  FakeConfig c;
  c.sec_caps = OPTEE_SMC_SEC_CAP_DYNAMIC_SHM;  // no MEMREF_NULL
  boot({c});
  tee_ioctl_version_data v{};
  ASSERT_EQ(ioctl(fd_, TEE_IOC_VERSION, &v), 0);
  EXPECT_EQ(v.gen_caps & TEE_GEN_CAP_MEMREF_NULL, 0u);
  const uint64_t calls = sw_->std_calls();
  InvokeResult r =
      invoke(kFunc, {{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, 0, 0, TEE_MEMREF_NULL}});
  EXPECT_EQ(r.rc, -EINVAL);
  EXPECT_EQ(sw_->std_calls(), calls);
}

TEST_F(DriverRpcTest, NullMemrefWithCapabilityIsTmemZero) {
  boot();
  sw_->on_invoke(kFunc, [](Call& c) {
    EXPECT_EQ(c.arg()->num_params, 1u);
    EXPECT_EQ(c.arg()->params[0].attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT);
    EXPECT_EQ(c.arg()->params[0].u.tmem.buf_ptr, 0u);
    EXPECT_EQ(c.arg()->params[0].u.tmem.shm_ref, 0u);
    c.arg()->params[0].u.tmem.size = 77;  // required size: flows back
    c.arg()->ret = TEE_ERROR_SHORT_BUFFER;
  });
  std::vector<tee_ioctl_param> out;
  InvokeResult r =
      invoke(kFunc, {{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, 0, 0, TEE_MEMREF_NULL}}, &out);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.ret, TEE_ERROR_SHORT_BUFFER);
  EXPECT_EQ(out[0].b, 77u);
  EXPECT_EQ(out[0].c, TEE_MEMREF_NULL);
}

// --- RPC ALLOC / FREE / CMD cookies (9.3 #23) --------------------------------------------------

TEST_F(DriverRpcTest, RpcAllocOfZeroOrHugeSizeFails) {
  boot();
  const int64_t ns = mem_->ns_pages_in_use();
  run([&](Call& c) {
    const size_t base = private_buffers();  // this call's message argument
    for (uint64_t size : {uint64_t{0}, uint64_t{kPage + 1}, uint64_t{1} << 20, uint64_t{0xffffffff}}) {
      const auto t0 = Clock::now();
      SmcRegs r = c.rpc(OPTEE_SMC_RETURN_RPC_ALLOC, size);
      EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(200)) << size;
      EXPECT_EQ(r.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC);
      EXPECT_EQ(r[1], 0u) << size;
      EXPECT_EQ(r[2], 0u) << size;
      EXPECT_EQ(r[4], 0u) << size;
      EXPECT_EQ(r[5], 0u) << size;
    }
    // A proper one: a page-aligned non-secure page.
    Call::Buf b = c.alloc(160);
    EXPECT_NE(b.cookie, 0u);
    EXPECT_EQ(b.pa % kPage, 0u);
    EXPECT_NE(b.host, nullptr);
    EXPECT_EQ(private_buffers(), base + 1);
    c.free(b.cookie);
  });
  EXPECT_EQ(private_buffers(), 0u);
  EXPECT_LE(mem_->ns_pages_in_use(), ns + 1);  // at most a cached message page
}

TEST_F(DriverRpcTest, RpcFreeOfUnknownCookieIsIgnored) {
  boot();
  run([&](Call& c) {
    const size_t base = private_buffers();
    Call::Buf b = c.alloc(64);
    for (uint64_t cookie : {uint64_t{0}, uint64_t{0xdeadbeef}, b.cookie + 8, ~uint64_t{0}})
      c.free(cookie);
    EXPECT_EQ(private_buffers(), base + 1);
    c.free(b.cookie);
    EXPECT_EQ(private_buffers(), base);
    c.free(b.cookie);  // twice: unknown by now
  });
  EXPECT_EQ(private_buffers(), 0u);
}

TEST_F(DriverRpcTest, RpcCmdWithUnknownCookieIsIgnored) {
  boot();
  run([&](Call& c) {
    Call::Buf b = c.alloc(kPage);
    std::memset(b.host, 0xee, kPage);
    auto* arg = reinterpret_cast<optee_msg_arg*>(b.host);
    arg->cmd = OPTEE_RPC_CMD_GET_TIME;
    arg->num_params = 1;
    arg->params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    for (uint64_t cookie : {uint64_t{0}, b.cookie ^ 0x1000, b.cookie + 1}) c.cmd(cookie);
    // Nothing was written anywhere we can see.
    EXPECT_EQ(arg->ret, 0xeeeeeeeeu);
    c.free(b.cookie);
  });
}

TEST_F(DriverRpcTest, RpcCmdWithMoreParamsThanTheBufferIsBadParameters) {
  boot();
  run([&](Call& c) {
    for (uint32_t n : {128u, 1000u, 0x08000000u, 0xffffffffu}) {
      RpcMsg m(c, OPTEE_RPC_CMD_GET_TIME, n);
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS) << n;
    }
    // 127 params fill the page exactly: accepted as far as the buffer goes.
    RpcMsg m(c, OPTEE_RPC_CMD_GET_TIME, 127);
    EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS);  // GET_TIME wants exactly one
  });
}

TEST_F(DriverRpcTest, RpcCmdInBufferTooSmallForTheHeaderIsIgnored) {
  // With the carve-out's private pool (8-byte granules) an RPC buffer can be smaller than an
  // optee_msg_arg header.
  FakeConfig c;
  c.sec_caps = OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM;
  boot({c, 2u << 20});
  run([&](Call& call) {
    Call::Buf small = call.alloc(16);
    ASSERT_NE(small.host, nullptr);
    Call::Buf next = call.alloc(64);  // its neighbour in the pool
    ASSERT_NE(next.host, nullptr);
    std::memset(small.host, 0x11, 16);
    std::memset(next.host, 0x22, 64);
    reinterpret_cast<optee_msg_arg*>(small.host)->cmd = OPTEE_RPC_CMD_GET_TIME;
    call.cmd(small.cookie);
    for (size_t i = 4; i < 16; ++i) EXPECT_EQ(static_cast<uint8_t>(small.host[i]), 0x11) << i;
    for (size_t i = 0; i < 64; ++i) EXPECT_EQ(static_cast<uint8_t>(next.host[i]), 0x22) << i;
    call.free(next.cookie);
    call.free(small.cookie);
  });
}

TEST_F(DriverRpcTest, UnknownRpcFunctionIsIgnoredAndResumed) {
  boot();
  run([&](Call& c) {
    for (uint32_t a0 : {0xFFFF0001u, 0xFFFF0003u, 0xFFFF0006u, 0xFFFF1234u, 0xFFFFFFFEu,
                        OPTEE_SMC_RETURN_RPC_FOREIGN_INTR}) {
      SmcRegs r = c.rpc(a0, 0x1111, 0x2222);
      EXPECT_EQ(r.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC) << std::hex << a0;
      EXPECT_EQ(r.w(1), 0x1111u);
      EXPECT_EQ(r.w(2), 0x2222u);
    }
    c.arg()->ret = TEE_SUCCESS;
  });
  EXPECT_EQ(private_buffers(), 0u);
}

TEST_F(DriverRpcTest, CachedRpcArgumentsAreReturnedAtRemove) {
  boot();
  run([&](Call& c) {
    Call::Buf b = c.alloc(160);
    sw_->cache_cookie(b.cookie);      // kept across calls, as OP-TEE's thread RPC arg cache
    sw_->cache_cookie(0xdead0000);    // and a bogus one: ignored
  });
  EXPECT_EQ(private_buffers(), 1u);
  expected_private_ = 1;  // freed by DISABLE_SHM_CACHE when the kernel goes (checked in TearDown)
}

// --- kernel-handled RPC commands (9.3 #24) -------------------------------------------------------

TEST_F(DriverRpcTest, GetTimeChecksParams) {
  boot();
  run([&](Call& c) {
    struct Case {
      uint32_t n;
      uint64_t attr;
    };
    for (Case k : {Case{0, 0}, Case{2, OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT},
                   Case{1, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT}, Case{1, OPTEE_MSG_ATTR_TYPE_VALUE_INOUT},
                   Case{1, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT}, Case{1, 0}}) {
      RpcMsg m(c, OPTEE_RPC_CMD_GET_TIME, k.n);
      if (k.n > 0) m.p(0).attr = k.attr;
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS) << k.n << " " << k.attr;
      EXPECT_EQ(m.p(0).u.value.a, 0u);
    }
    RpcMsg m(c, OPTEE_RPC_CMD_GET_TIME, 1);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    EXPECT_EQ(m.send(), TEE_SUCCESS);
    const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    EXPECT_LE(m.p(0).u.value.a, now);
    EXPECT_GE(m.p(0).u.value.a + 5, now);
    EXPECT_LT(m.p(0).u.value.b, 1000000000u);
  });
}

TEST_F(DriverRpcTest, SuspendChecksParams) {
  boot();
  run([&](Call& c) {
    for (uint32_t n : {0u, 2u}) {
      RpcMsg m(c, OPTEE_RPC_CMD_SUSPEND, n);
      if (n > 0) m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 1);
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS);
    }
    RpcMsg bad(c, OPTEE_RPC_CMD_SUSPEND, 1);
    bad.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT, 1);
    EXPECT_EQ(bad.send(), TEE_ERROR_BAD_PARAMETERS);
    RpcMsg m(c, OPTEE_RPC_CMD_SUSPEND, 1);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 30);
    const auto t0 = Clock::now();
    EXPECT_EQ(m.send(), TEE_SUCCESS);
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(30));
  });
}

TEST_F(DriverRpcTest, EndlessSuspendEndsWithTheDriver) {
  // A secure thread that suspends "forever" must not keep the kernel from shutting down.
  boot();
  std::atomic<bool> asked{false};
  uint32_t got = 0;
  sw_->on_invoke(kFunc, [&](Call& c) {
    RpcMsg m(c, OPTEE_RPC_CMD_SUSPEND, 1);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, uint64_t{1} << 62);
    asked = true;
    got = m.send();
    c.arg()->ret = got;
  });
  auto f = std::async(std::launch::async, [&] { return invoke(kFunc); });
  while (!asked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(close_session(fd_, session_), 0);
  ASSERT_EQ(kernel_->sys_close(fd_), 0);
  fd_ = -1;
  kernel_->shutdown();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get().rc, 0);
  EXPECT_EQ(got, TEE_SUCCESS);  // an interrupted msleep_interruptible is still a success
}

TEST_F(DriverRpcTest, NotificationChecksParams) {
  boot();
  run([&](Call& c) {
    for (uint32_t n : {0u, 2u}) {
      RpcMsg m(c, OPTEE_RPC_CMD_NOTIFICATION, n);
      if (n > 0) m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_SEND, 5);
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS);
    }
    RpcMsg type(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    type.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_NOTIFICATION_SEND, 5);
    EXPECT_EQ(type.send(), TEE_ERROR_BAD_PARAMETERS);
    RpcMsg op(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    op.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 2, 5);
    EXPECT_EQ(op.send(), TEE_ERROR_BAD_PARAMETERS);
  });
}

TEST_F(DriverRpcTest, NotificationWaitTimesOut) {
  boot();
  run([&](Call& c) {
    RpcMsg m(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, 7, 40);
    const auto t0 = Clock::now();
    EXPECT_EQ(m.send(), TEE_ERROR_TIMEOUT);
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(40));
  });
}

TEST_F(DriverRpcTest, NotificationSendBeforeWaitIsRemembered) {
  boot();
  run([&](Call& c) {
    RpcMsg send(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    send.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_SEND, 9);
    EXPECT_EQ(send.send(), TEE_SUCCESS);
    RpcMsg wait(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    wait.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, 9, 0);
    EXPECT_EQ(wait.send(), TEE_SUCCESS);  // no timeout: would block forever if forgotten
    // Consumed: a second wait times out.
    RpcMsg again(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    again.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, 9, 10);
    EXPECT_EQ(again.send(), TEE_ERROR_TIMEOUT);
  });
}

TEST_F(DriverRpcTest, NotificationWaitWithHugeTimeoutWaitsForTheSend) {
  boot();
  for (uint64_t timeout : {~uint64_t{0}, uint64_t{1} << 62, uint64_t{0xffffffff}}) {
    std::atomic<bool> waiting{false};
    sw_->on_invoke(2, [&](Call& c) {
      RpcMsg m(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
      m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, 11, timeout);
      waiting = true;
      c.arg()->ret = m.send();
    });
    const auto t0 = Clock::now();
    auto waiter = std::async(std::launch::async, [&] { return invoke(2); });
    while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(run([](Call& c) {
                RpcMsg m(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
                m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_SEND, 11);
                c.arg()->ret = m.send();
              }),
              TEE_SUCCESS);
    ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    InvokeResult r = waiter.get();
    EXPECT_EQ(r.ret, TEE_SUCCESS) << timeout;
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(50)) << timeout;
  }
}

TEST_F(DriverRpcTest, NotificationKeysAreBounded) {
  // Every SEND without a WAIT is remembered: a secure world sending to ever new keys must not
  // make the kernel allocate without limit.
  boot();
  run([&](Call& c) {
    RpcMsg m(c, OPTEE_RPC_CMD_NOTIFICATION, 1);
    uint32_t accepted = 0;
    for (uint64_t key = 0; key < 5000; ++key) {
      m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_SEND, key);
      const uint32_t ret = m.send();
      if (ret != TEE_SUCCESS) {
        EXPECT_EQ(ret, TEE_ERROR_OUT_OF_MEMORY) << key;
        break;
      }
      ++accepted;
    }
    EXPECT_GE(accepted, 64u);
    EXPECT_LT(accepted, 5000u);
    // Each remembered SEND is consumed by one WAIT (which would otherwise block).
    for (uint64_t key = 0; key < accepted; ++key) {
      m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, key, 0);
      ASSERT_EQ(m.send(), TEE_SUCCESS) << key;
    }
    // Room again.
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_SEND, 99999);
    EXPECT_EQ(m.send(), TEE_SUCCESS);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_NOTIFICATION_WAIT, 99999, 0);
    EXPECT_EQ(m.send(), TEE_SUCCESS);
  });
}

// --- RPC SHM_ALLOC / SHM_FREE (9.3 #25-#27, #49) ------------------------------------------------

TEST_F(DriverRpcTest, ShmAllocChecksParams) {
  boot();
  run([&](Call& c) {
    const size_t base = private_buffers() + 1;  // this call's message and the RPC argument
    struct Case {
      uint32_t n;
      uint64_t attr0, attr1, type;
    };
    const uint64_t vin = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    for (Case k : {Case{0, 0, 0, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{1, vin | OPTEE_MSG_ATTR_META, 0, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{1, OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, 0, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{1, vin | (uint64_t{1} << 32), 0, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{2, vin, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{2, vin, OPTEE_MSG_ATTR_META, OPTEE_RPC_SHM_TYPE_KERNEL},
                   Case{1, vin, 0, OPTEE_RPC_SHM_TYPE_GLOBAL}, Case{1, vin, 0, 3},
                   Case{1, vin, 0, 0xffffffff}, Case{1, vin, 0, uint64_t{1} << 32}}) {
      RpcMsg m(c, OPTEE_RPC_CMD_SHM_ALLOC, k.n);
      if (k.n > 0) m.value(0, k.attr0, k.type, 64, 8);
      if (k.n > 1) m.p(1).attr = k.attr1;
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS) << k.n << " " << k.attr0 << " " << k.type;
      EXPECT_EQ(m.arg()->ret_origin, TEE_ORIGIN_COMMS);
      EXPECT_EQ(private_buffers(), base);  // nothing was allocated
    }
    // Trailing NONE params are fine.
    RpcMsg m(c, OPTEE_RPC_CMD_SHM_ALLOC, 3);
    m.value(0, vin, OPTEE_RPC_SHM_TYPE_KERNEL, 64, 8);
    EXPECT_EQ(m.send(), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, m.p(0).u.tmem.shm_ref), TEE_SUCCESS);
  });
}

TEST_F(DriverRpcTest, ShmAllocKernelSmallIsOnePage) {
  boot();
  run([&](Call& c) {
    ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, 100);
    ASSERT_EQ(r.ret, TEE_SUCCESS);
    EXPECT_EQ(r.origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(r.attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT);
    EXPECT_GE(r.size, 100u);
    EXPECT_EQ(r.buf_ptr % kPage, 0u);
    EXPECT_NE(r.cookie, 0u);
    ASSERT_NE(host(r.buf_ptr, r.size), nullptr);
    EXPECT_EQ(mem_->bank_of(pa_to_pfn(PhysAddr{r.buf_ptr})), hw::Bank::kNsDram);
    std::memset(host(r.buf_ptr, r.size), 0x5a, r.size);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, r.cookie), TEE_SUCCESS);
    // The alignment (value.c) is ignored, whatever it says.
    for (uint64_t align : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 40, ~uint64_t{0}}) {
      RpcMsg m(c, OPTEE_RPC_CMD_SHM_ALLOC, 1);
      m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_SHM_TYPE_KERNEL, 64, align);
      ASSERT_EQ(m.send(), TEE_SUCCESS) << align;
      EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, m.p(0).u.tmem.shm_ref), TEE_SUCCESS);
    }
  });
}

TEST_F(DriverRpcTest, ShmAllocKernelLargeIsAPageList) {
  boot();
  run([&](Call& c) {
    const uint64_t size = 3 * kPage + 100;
    ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, size);
    ASSERT_EQ(r.ret, TEE_SUCCESS);
    EXPECT_EQ(r.attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG);
    EXPECT_GE(r.size, size);
    EXPECT_EQ(r.buf_ptr & 0xfff, 0u);  // kernel buffers start on a page
    // The list: 511 page addresses per list page, all 4 KiB aligned non-secure RAM, distinct.
    auto* list = reinterpret_cast<const optee_page_list_page*>(host(r.buf_ptr & ~0xfffull, kPage));
    ASSERT_NE(list, nullptr);
    const uint64_t pages = (r.size + kPage - 1) / kPage;
    ASSERT_LE(pages, kPageListEntriesPerPage);
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < pages; ++i) {
      const uint64_t pa = list->pages_list[i];
      EXPECT_EQ(pa % kPage, 0u);
      EXPECT_TRUE(mem_->is_nonsecure_ram(pa_to_pfn(PhysAddr{pa}))) << i;
      EXPECT_TRUE(seen.insert(pa).second);
      ASSERT_NE(host(pa, kPage), nullptr);
      std::memset(host(pa, kPage), static_cast<int>(i), kPage);
    }
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, r.cookie), TEE_SUCCESS);
  });
}

TEST_F(DriverRpcTest, ShmAllocKernelZeroOrHugeIsOutOfMemory) {
  boot();
  run([&](Call& c) {
    const size_t base = private_buffers();
    for (uint64_t size : {uint64_t{0}, uint64_t{64} << 20, uint64_t{4} << 30, uint64_t{1} << 40,
                          ~uint64_t{0}}) {
      const auto t0 = Clock::now();
      ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, size);
      EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500)) << size;
      EXPECT_EQ(r.ret, TEE_ERROR_OUT_OF_MEMORY) << size;
      EXPECT_EQ(r.origin, TEE_ORIGIN_COMMS);
      EXPECT_EQ(private_buffers(), base);
    }
  });
}

TEST_F(DriverRpcTest, SecondShmAllocReplacesThePageList) {
  boot();
  run([&](Call& c) {
    const int64_t before = mem_->ns_pages_in_use();
    ShmReply a = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, 4 * kPage);
    ASSERT_EQ(a.ret, TEE_SUCCESS);
    ASSERT_TRUE(a.attr & OPTEE_MSG_ATTR_NONCONTIG);
    const int64_t one_list = mem_->ns_pages_in_use();
    EXPECT_GT(one_list, before);
    ShmReply b = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, 4 * kPage);
    ASSERT_EQ(b.ret, TEE_SUCCESS);
    EXPECT_EQ(mem_->ns_pages_in_use(), one_list);  // the first list went
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, a.cookie), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, b.cookie), TEE_SUCCESS);
  });
}

TEST_F(DriverRpcTest, ShmAllocApplIsServedByTheSupplicant) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    const uint64_t size = 2 * kPage + 10;
    ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_APPL, size);
    ASSERT_EQ(r.ret, TEE_SUCCESS);
    EXPECT_EQ(r.attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG);
    EXPECT_GE(r.size, size);
    EXPECT_EQ(kernel_->audit().supp_shm, 1u);
    auto* list = reinterpret_cast<const optee_page_list_page*>(host(r.buf_ptr & ~0xfffull, kPage));
    ASSERT_NE(list, nullptr);
    for (uint64_t i = 0; i < (r.size + (r.buf_ptr & 0xfff) + kPage - 1) / kPage; ++i)
      EXPECT_NE(host(list->pages_list[i], kPage), nullptr);
    uint32_t origin = 0;
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, r.cookie, &origin), TEE_SUCCESS);
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(kernel_->audit().supp_shm, 0u);
  });
}

// tee-supplicant stops (or its guest is destroyed) while the secure world still uses a buffer
// it allocated for it: the bytes stay valid until the Supplicant object goes, since the kernel's
// registration aliases them (a use after free under ASan before; found by the virt stress test).
TEST_F(DriverRpcTest, StoppedSupplicantKeepsItsRegisteredBuffers) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_APPL, kPage);
    ASSERT_EQ(r.ret, TEE_SUCCESS);
    auto* list = reinterpret_cast<const optee_page_list_page*>(host(r.buf_ptr & ~0xfffull, kPage));
    ASSERT_NE(list, nullptr);
    std::byte* page = host(list->pages_list[0], kPage);
    ASSERT_NE(page, nullptr);
    supp_->stop();
    std::memset(page, 0x5a, kPage);  // the secure world still writes its buffer
    EXPECT_EQ(page[kPage - 1], std::byte{0x5a});
    uint32_t origin = 0;
    rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, r.cookie, &origin);
  });
  supp_.reset();  // its device file is closed already
}

TEST_F(DriverRpcTest, ShmAllocApplWithoutSupplicantFails) {
  boot();
  run([&](Call& c) {
    ShmReply r = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_APPL, kPage);
    EXPECT_NE(r.ret, TEE_SUCCESS);
    EXPECT_EQ(r.origin, TEE_ORIGIN_COMMS);
  });
}

TEST_F(DriverRpcTest, ShmFreeChecks) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    ShmReply k = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, 64);
    ShmReply a = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_APPL, kPage);
    ASSERT_EQ(k.ret, TEE_SUCCESS);
    ASSERT_EQ(a.ret, TEE_SUCCESS);
    const size_t live = private_buffers();
    uint32_t origin = 0;
    // Param shape.
    for (uint32_t n : {0u, 2u}) {
      RpcMsg m(c, OPTEE_RPC_CMD_SHM_FREE, n);
      if (n > 0) m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie);
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS);
      EXPECT_EQ(m.arg()->ret_origin, TEE_ORIGIN_COMMS);
    }
    {
      RpcMsg meta(c, OPTEE_RPC_CMD_SHM_FREE, 1);
      meta.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META,
                 OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie);
      EXPECT_EQ(meta.send(), TEE_ERROR_BAD_PARAMETERS);
      // The RPC argument buffers themselves are not SHM_ALLOC memory.
      EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, meta.cookie()), TEE_ERROR_BAD_PARAMETERS);
    }
    // Unknown cookies, and cookies of the other type.
    for (uint64_t cookie : {uint64_t{0}, uint64_t{0xdeadbeef}, k.cookie + 1})
      EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, cookie, &origin),
                TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, k.cookie), TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, a.cookie), TEE_ERROR_BAD_PARAMETERS);
    // The SMC ABI quirk: an unknown type "succeeds" and frees nothing.
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_GLOBAL, k.cookie), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, 7, a.cookie), TEE_SUCCESS);
    EXPECT_EQ(private_buffers(), live);
    EXPECT_EQ(kernel_->audit().supp_shm, 1u);
    // Both still free properly, once.
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, a.cookie), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie), TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, a.cookie), TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(kernel_->audit().supp_shm, 0u);
  });
}

TEST_F(DriverRpcTest, FreedCookieIsNeverUsedAgain) {
  // 9.5 #49: once the secure world has freed a buffer, its cookie names nothing.
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    ShmReply k = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, kPage);
    ASSERT_EQ(k.ret, TEE_SUCCESS);
    auto* stale = reinterpret_cast<optee_msg_arg*>(host(k.buf_ptr, kPage));
    ASSERT_NE(stale, nullptr);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie), TEE_SUCCESS);
    // As an RPC argument: ignored.
    const uint64_t rpcs = static_cast<uint64_t>(stats_.rpcs.get());
    c.cmd(k.cookie);
    EXPECT_EQ(static_cast<uint64_t>(stats_.rpcs.get()), rpcs + 1);
    // As a memref for the supplicant: refused before the supplicant sees it.
    const int64_t supp = stats_.supplicant_requests.get();
    RpcMsg m(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT);
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
    m.p(1).u.rmem = {0, 16, k.cookie};
    EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(stats_.supplicant_requests.get(), supp);
    // Freed again: unknown.
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, k.cookie), TEE_ERROR_BAD_PARAMETERS);
    c.free(k.cookie);
  });
}

// --- commands for the supplicant (9.3 #22, 9.4 #32, #35, #36) -----------------------------------

TEST_F(DriverRpcTest, SupplicantMemrefsMustNameLiveBuffersInRange) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    ShmReply appl = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_APPL, 2 * kPage);
    ShmReply kern = rpc_shm_alloc(c, OPTEE_RPC_SHM_TYPE_KERNEL, 64);
    ASSERT_EQ(appl.ret, TEE_SUCCESS);
    ASSERT_EQ(kern.ret, TEE_SUCCESS);
    struct Case {
      const char* what;
      uint64_t attr;
      uint64_t a, size, ref;  // rmem offs / tmem buf_ptr, size, cookie
    };
    const uint64_t rout = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT, tout = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    const uint64_t max = ~uint64_t{0};
    const int64_t supp = stats_.supplicant_requests.get();
    for (Case k : {Case{"unknown cookie", rout, 0, 16, 0xdeadbeef},
                   Case{"zero cookie", rout, 0, 16, 0},
                   Case{"offset beyond", rout, 2 * kPage + 1, 0, appl.cookie},
                   Case{"size beyond", rout, 0, 2 * kPage + 1, appl.cookie},
                   Case{"last byte beyond", rout, 2 * kPage - 1, 2, appl.cookie},
                   Case{"offset wraps", rout, max, 2, appl.cookie},
                   Case{"size wraps", rout, 16, max, appl.cookie},
                   Case{"tmem on a page list", tout, appl.buf_ptr, 16, appl.cookie},
                   Case{"tmem below the buffer", tout, kern.buf_ptr - 8, 16, kern.cookie},
                   Case{"tmem beyond the buffer", tout, kern.buf_ptr + kern.size - 8, 16,
                        kern.cookie},
                   Case{"tmem far away", tout, kern.buf_ptr + (uint64_t{1} << 40), 1, kern.cookie},
                   Case{"unknown type 4", 4, 0, 16, appl.cookie},
                   Case{"unknown type 8", 8, 0, 16, appl.cookie},
                   Case{"unknown type 0xc", 0xc, 0, 16, appl.cookie}}) {
      RpcMsg m(c, OPTEE_RPC_CMD_LOAD_TA, 2);
      std::memcpy(&m.p(0).u.value.a, kShmTestTa, 16);
      m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
      m.p(1).attr = k.attr;
      m.p(1).u.rmem = {k.a, k.size, k.ref};
      EXPECT_EQ(m.send(), TEE_ERROR_BAD_PARAMETERS) << k.what;
      EXPECT_EQ(m.arg()->ret_origin, TEE_ORIGIN_COMMS) << k.what;
      EXPECT_EQ(m.p(1).u.rmem.size, k.size) << k.what;
    }
    EXPECT_EQ(stats_.supplicant_requests.get(), supp);
    // In range: the supplicant loads the TA into the application buffer.
    RpcMsg q(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    std::memcpy(&q.p(0).u.value.a, kShmTestTa, 16);
    q.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    q.p(1).attr = tout;  // NULL memref: the size query
    EXPECT_EQ(q.send(), TEE_SUCCESS);
    const uint64_t image = q.p(1).u.tmem.size;
    EXPECT_GT(image, 0u);
    // Too small a buffer: short buffer, size reported.
    RpcMsg s(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    std::memcpy(&s.p(0).u.value.a, kShmTestTa, 16);
    s.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    s.p(1).attr = rout;
    s.p(1).u.rmem = {kPage, kPage, appl.cookie};
    const uint32_t sret = s.send();
    if (image > kPage) {
      EXPECT_EQ(sret, TEE_ERROR_SHORT_BUFFER);
    } else {
      EXPECT_EQ(sret, TEE_SUCCESS);
    }
    EXPECT_EQ(s.p(1).u.rmem.size, image);
    EXPECT_EQ(s.p(1).u.rmem.offs, kPage);
    EXPECT_EQ(s.p(1).u.rmem.shm_ref, appl.cookie);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_APPL, appl.cookie), TEE_SUCCESS);
    EXPECT_EQ(rpc_shm_free(c, OPTEE_RPC_SHM_TYPE_KERNEL, kern.cookie), TEE_SUCCESS);
  });
}

TEST_F(DriverRpcTest, OnlySupplicantOutputsFlowBack) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    RpcMsg m(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    std::memcpy(&m.p(0).u.value.a, kShmTestTa, 16);
    m.p(0).u.value.c = 0x1234;
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    m.p(1).u.tmem = {0, 0, 0x4321};  // NULL buffer: shm_ref is not looked at
    const optee_msg_param in0 = m.p(0);
    ASSERT_EQ(m.send(), TEE_SUCCESS);
    EXPECT_EQ(m.arg()->ret_origin, TEE_ORIGIN_COMMS);
    // The input value is untouched; the output memref got its size and nothing else.
    EXPECT_EQ(std::memcmp(&m.p(0), &in0, sizeof(in0)), 0);
    EXPECT_EQ(m.p(1).attr, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT);
    EXPECT_EQ(m.p(1).u.tmem.buf_ptr, 0u);
    EXPECT_EQ(m.p(1).u.tmem.shm_ref, 0x4321u);
    EXPECT_GT(m.p(1).u.tmem.size, 0u);
  });
}

TEST_F(DriverRpcTest, UnknownSupplicantCommandIsNotSupported) {
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    RpcMsg m(c, 0x99, 1);
    m.value(0, OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, 1, 2, 3);
    EXPECT_EQ(m.send(), TEE_ERROR_NOT_SUPPORTED);
    EXPECT_EQ(m.arg()->ret_origin, TEE_ORIGIN_COMMS);
  });
}

TEST_F(DriverRpcTest, RequestTooLargeForTheSupplicantFailsAndServiceGoesOn) {
  // tee-supplicant receives into 5 slots, one of them the META: a request of 6 params cannot
  // be delivered. It fails; the supplicant keeps serving.
  boot({FakeConfig{}, 0, true});
  run([&](Call& c) {
    RpcMsg big(c, 0x99, 6);
    EXPECT_EQ(big.send(), TEE_ERROR_COMMUNICATION);
    RpcMsg q(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    std::memcpy(&q.p(0).u.value.a, kShmTestTa, 16);
    q.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    q.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    EXPECT_EQ(q.send(), TEE_SUCCESS);
    EXPECT_GT(q.p(1).u.tmem.size, 0u);
  });
}

TEST_F(DriverRpcTest, SupplicantResolvesOnlyItsOwnBuffersInRange) {
  // 9.4 #36, the supplicant's own checks (tee-supplicant get_param), through its request
  // handler: ids of its own allocations only; offset + size checked without overflow; an
  // unknown id on an output memref is a size query.
  boot({FakeConfig{}, 0, true});
  std::vector<tee_ioctl_param> alloc = {
      {TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_SHM_TYPE_APPL, 2 * kPage, 0}};
  ASSERT_EQ(supp_->handle(OPTEE_RPC_CMD_SHM_ALLOC, alloc), TEE_SUCCESS);
  const uint64_t id = alloc[0].c;
  uint64_t uuid[2];
  std::memcpy(uuid, kShmTestTa, 16);
  auto load = [&](uint64_t mem_attr, uint64_t offs, uint64_t size, uint64_t shm_id,
                  uint64_t* got = nullptr) {
    std::vector<tee_ioctl_param> p = {{TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, uuid[0], uuid[1], 0},
                                      {mem_attr, offs, size, shm_id}};
    uint32_t ret = supp_->handle(OPTEE_RPC_CMD_LOAD_TA, p);
    if (got) *got = p[1].b;
    return ret;
  };
  const uint64_t out = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
  const uint64_t max = ~uint64_t{0};
  uint64_t image = 0;
  EXPECT_EQ(load(out, 0, 0, id + 1000, &image), TEE_SUCCESS);  // unknown id: size query
  EXPECT_GT(image, 0u);
  EXPECT_EQ(load(out, 0, 0, TEE_MEMREF_NULL), TEE_SUCCESS);
  EXPECT_EQ(load(out, max, 2, id), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(load(out, 16, max, id), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(load(out, 0, 2 * kPage + 1, id), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(load(out, 2 * kPage, 1, id), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(load(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, 0, 16, id), TEE_ERROR_BAD_PARAMETERS);
  if (image <= 2 * kPage) {
    EXPECT_EQ(load(out, 0, 2 * kPage, id), TEE_SUCCESS);
  } else {
    EXPECT_EQ(load(out, 0, 2 * kPage, id), TEE_ERROR_SHORT_BUFFER);
  }
  // Freeing: own ids only, once.
  std::vector<tee_ioctl_param> bad = {
      {TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_SHM_TYPE_APPL, id + 1000, 0}};
  EXPECT_EQ(supp_->handle(OPTEE_RPC_CMD_SHM_FREE, bad), TEE_ERROR_BAD_PARAMETERS);
  std::vector<tee_ioctl_param> free = {
      {TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, OPTEE_RPC_SHM_TYPE_APPL, id, 0}};
  EXPECT_EQ(supp_->handle(OPTEE_RPC_CMD_SHM_FREE, free), TEE_SUCCESS);
  EXPECT_EQ(supp_->handle(OPTEE_RPC_CMD_SHM_FREE, free), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(supp_->handle(0x99, free), TEE_ERROR_NOT_SUPPORTED);
}

TEST_F(DriverRpcTest, SupplicantCommandWithoutSupplicantFails) {
  boot();
  run([&](Call& c) {
    RpcMsg m(c, OPTEE_RPC_CMD_LOAD_TA, 2);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    EXPECT_EQ(m.send(), TEE_ERROR_COMMUNICATION);
  });
}

// --- results of normal calls (9.3 #22) -----------------------------------------------------------

TEST_F(DriverRpcTest, FailedCallsAreCommunicationErrors) {
  boot();
  for (uint32_t smc : {OPTEE_SMC_RETURN_EBADADDR, OPTEE_SMC_RETURN_EBADCMD,
                       OPTEE_SMC_RETURN_ENOMEM, 0x12345u, OPTEE_SMC_RETURN_UNKNOWN_FUNCTION}) {
    uint32_t origin = 0;
    EXPECT_EQ(run([smc](Call& c) {
                c.arg()->ret = TEE_SUCCESS;
                c.smc_result = smc;
              },
                  &origin),
              TEE_ERROR_COMMUNICATION);
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  }
}

TEST_F(DriverRpcTest, OutputOfTheWrongKindIsCommunicationError) {
  boot();
  sw_->on_invoke(kFunc, [](Call& c) {
    c.arg()->params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;  // a value was sent
    c.arg()->params[1].attr = 0x55;
    c.arg()->ret = TEE_SUCCESS;
  });
  std::vector<tee_ioctl_param> out;
  InvokeResult r = invoke(kFunc, {{TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, 1, 2, 3},
                                  {TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 4, 5, 6}},
                          &out);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.ret, TEE_ERROR_COMMUNICATION);
  EXPECT_EQ(r.origin, TEE_ORIGIN_COMMS);
}

TEST_F(DriverRpcTest, OpenedSessionWithBadOutputsIsClosedAgain) {
  boot();
  uint32_t opened = 0;
  sw_->on_open([&](Call& c) {
    opened = 4242;
    c.arg()->session = opened;
    c.arg()->params[2].attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;  // the client sent a value output
    c.arg()->ret = TEE_SUCCESS;
  });
  struct {
    tee_ioctl_open_session_arg h;
    tee_ioctl_param p[1];
  } o{};
  o.h.num_params = 1;
  o.p[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
  tee_ioctl_buf_data b{reinterpret_cast<uint64_t>(&o), sizeof(o)};
  ASSERT_EQ(ioctl(fd_, TEE_IOC_OPEN_SESSION, &b), 0);
  EXPECT_EQ(o.h.ret, TEE_ERROR_COMMUNICATION);
  EXPECT_EQ(o.h.ret_origin, TEE_ORIGIN_COMMS);
  EXPECT_EQ(o.h.session, 0u);
  auto closed = sw_->closed_sessions();
  ASSERT_FALSE(closed.empty());
  EXPECT_EQ(closed.back(), 4242u);
  EXPECT_EQ(kernel_->audit().sessions, 1u);  // the fixture's own
}

TEST_F(DriverRpcTest, DuplicateSessionIdIsNotCountedTwice) {
  boot();
  const uint32_t dup = session_;
  sw_->on_open([&](Call& c) {
    c.arg()->session = dup;  // a hostile secure world reuses a live id
    c.arg()->ret = TEE_SUCCESS;
  });
  tee_ioctl_open_session_arg o{};
  tee_ioctl_buf_data b{reinterpret_cast<uint64_t>(&o), sizeof(o)};
  ASSERT_EQ(ioctl(fd_, TEE_IOC_OPEN_SESSION, &b), 0);
  EXPECT_EQ(kernel_->audit().sessions, 1u);
}

// --- registration (9.2 #16, #18) -----------------------------------------------------------------

TEST_F(DriverRpcTest, RegisteringIdNamesNothingUntilRegistered) {
  boot();
  std::mutex m;
  std::condition_variable cv;
  bool in_register = false, release = false;
  uint32_t answer = TEE_ERROR_OUT_OF_MEMORY;
  sw_->on_register([&](Call& c) {
    std::unique_lock lock(m);
    in_register = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    if (answer == TEE_SUCCESS) {
      sw_->register_shm(c);
    } else {
      c.arg()->ret = answer;
    }
  });
  std::vector<uint8_t> buf(3 * kPage);
  auto attempt = [&](uint32_t result) {
    {
      std::lock_guard lock(m);
      in_register = release = false;
      answer = result;
    }
    auto reg = std::async(std::launch::async, [&] {
      tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(buf.data()), 2 * kPage, 0, -1};
      int rc = ioctl(fd_, TEE_IOC_SHM_REGISTER, &d);
      return std::make_pair(rc, d.id);
    });
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_register; });
    }
    // While the secure world registers, the id (the lowest free one: 1) names nothing.
    const uint64_t calls = sw_->std_calls();
    for (uint64_t id = 1; id <= 2; ++id) {
      InvokeResult r = invoke(kFunc, {{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, 0, 8, id}});
      EXPECT_EQ(r.rc, -EINVAL) << id;
    }
    EXPECT_EQ(sw_->std_calls(), calls);
    {
      std::lock_guard lock(m);
      release = true;
      cv.notify_all();
    }
    return reg.get();
  };
  auto failed = attempt(TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(failed.first, -EINVAL);
  EXPECT_EQ(kernel_->audit().client_shm, 0u);
  EXPECT_EQ(mem_->frames_aliased(), 0);
  auto ok = attempt(TEE_SUCCESS);
  ASSERT_GE(ok.first, 0);
  EXPECT_EQ(ok.second, 1);
  EXPECT_EQ(sw_->registered(), 1u);
  InvokeResult r = invoke(kFunc, {{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, 0, 8, 1}});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(kernel_->sys_close(ok.first), 0);
  EXPECT_EQ(sw_->registered(), 0u);
}

// --- the call queue (9.3 #28) ---------------------------------------------------------------------

// ETHREAD_LIMIT while none of the driver's other calls is in the secure world: no completion
// will come to wake the caller (driver_rpc fuzzer finding, fuzz/regressions/driver_rpc/
// lone-ethread-limit-hang). The driver retries after a short sleep instead of waiting for ever.
TEST_F(DriverRpcTest, ThreadLimitWithNothingElseInFlightIsRetried) {
  boot();
  sw_->set_spurious_thread_limits(3);
  EXPECT_EQ(run([](Call& c) { c.arg()->ret = TEE_SUCCESS; }), TEE_SUCCESS);
  EXPECT_EQ(sw_->thread_limit_returns(), 3u);
}

// Several callers refused at once while none of this driver's calls holds a secure thread (the
// threads are busy elsewhere): waiting for one another's completion would block them all for
// ever, since a refused call completes nothing. Each retries on its own.
TEST_F(DriverRpcTest, ThreadLimitForSeveralCallersWithNoThreadHeldIsRetried) {
  boot();
  sw_->on_invoke(3, [](Call& c) { c.arg()->ret = TEE_SUCCESS; });
  sw_->set_spurious_thread_limits(12);
  std::vector<std::future<InvokeResult>> callers;
  for (int i = 0; i < 4; ++i)
    callers.push_back(std::async(std::launch::async, [&] { return invoke(3); }));
  for (auto& c : callers) {
    ASSERT_EQ(c.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(c.get().ret, TEE_SUCCESS);
  }
  EXPECT_EQ(sw_->thread_limit_returns(), 12u);
}

TEST_F(DriverRpcTest, ThreadLimitMakesCallersWaitAndRetry) {
  FakeConfig c;
  c.threads = 1;
  boot({c});
  std::mutex m;
  std::condition_variable cv;
  bool started = false, release = false;
  sw_->on_invoke(2, [&](Call& call) {
    std::unique_lock lock(m);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    call.arg()->ret = TEE_SUCCESS;
  });
  std::atomic<int> done{0};
  sw_->on_invoke(3, [&](Call& call) {
    ++done;
    call.arg()->ret = TEE_SUCCESS;
  });
  auto blocker = std::async(std::launch::async, [&] { return invoke(2); });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return started; });
  }
  std::vector<std::future<InvokeResult>> waiters;
  for (int i = 0; i < 4; ++i)
    waiters.push_back(std::async(std::launch::async, [&] { return invoke(3); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // All wait for the one secure thread, without spinning on the SMC.
  EXPECT_EQ(done.load(), 0);
  EXPECT_GE(sw_->thread_limit_returns(), 4u);
  EXPECT_LE(sw_->thread_limit_returns(), 40u);
  EXPECT_GE(stats_.eth_thread_limit_waits.get(), 4);
  {
    std::lock_guard lock(m);
    release = true;
    cv.notify_all();
  }
  EXPECT_EQ(blocker.get().ret, TEE_SUCCESS);
  for (auto& w : waiters) {
    ASSERT_EQ(w.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    InvokeResult r = w.get();
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.ret, TEE_SUCCESS);
  }
  EXPECT_EQ(done.load(), 4);
}

TEST_F(DriverRpcTest, ManyCallersThroughFewThreads) {
  FakeConfig c;
  c.threads = 2;
  boot({c});
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  sw_->on_invoke(3, [&](Call& call) {
    int now = ++inside;
    int prev = max_inside.load();
    while (now > prev && !max_inside.compare_exchange_weak(prev, now)) {
    }
    // An RPC in the middle: the thread stays taken across it.
    RpcMsg t(call, OPTEE_RPC_CMD_GET_TIME, 1);
    t.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    EXPECT_EQ(t.send(), TEE_SUCCESS);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    --inside;
    ++done;
    call.arg()->ret = TEE_SUCCESS;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 25; ++k) EXPECT_EQ(invoke(3).ret, TEE_SUCCESS);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 200);
  EXPECT_LE(max_inside.load(), 2);
  EXPECT_EQ(private_buffers(), 0u);
}

}  // namespace
}  // namespace teemu::test
