// What virtualization costs: the same client operations through a kernel on bare metal (the REE
// kernel talks to the secure OS directly) and through a guest's kernel (every SMC trapped by the
// hypervisor's OP-TEE mediator, the argument shadowed, page lists translated IPA -> PA with the
// guest's pages pinned, and the secure OS serving the guest's partition).
//
//   build/bin/teemu_virt_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// BM_Invoke: an empty invoke (shm-test INC, one VALUE_INOUT) through TEE_IOC_INVOKE.
// BM_RegisterUnregister/<pages>: TEE_IOC_SHM_REGISTER of a client buffer and the close that
// unregisters it; the `per_page` counter is the time per page of the buffer.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "abi/tee_uapi.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hyp/hypervisor.h"
#include "ree/kernel.h"
#include "supplicant/supplicant.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace {

using namespace teemu;       // NOLINT
using namespace teemu::abi;  // NOLINT

constexpr uint8_t kShmTestUuid[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                      0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};
constexpr uint32_t kCmdInc = 2;

// A machine with one kernel to run clients on: bare metal, or guest 1 of a hypervisor.
class BenchMachine {
 public:
  explicit BenchMachine(bool virtualized) {
    hw::PhysMemConfig pc;
    pc.ns_dram_size = 256ull << 20;
    mem_ = hw::PhysMem::create(pc);
    tee::SecureOsConfig oc;
    oc.virtualization = virtualized;
    os_ = std::make_unique<tee::SecureOs>(*mem_, stats_, loader_, oc);
    if (virtualized) {
      hyp_ = std::make_unique<hyp::Hypervisor>(*mem_, *os_, stats_);
      std::string err;
      if (!hyp_->probe(&err)) std::abort();
      hyp::GuestConfig gc;
      gc.ta_path = {TEEMU_BENCH_TA_DIR};
      auto g = hyp_->create_guest(1, gc);
      if (!g) std::abort();
      kernel_ = &(*g)->kernel();
    } else {
      bare_kernel_ = ree::Kernel::boot(*mem_, *os_, stats_);
      if (!bare_kernel_) std::abort();
      supplicant_ = std::make_unique<supplicant::Supplicant>(
          *bare_kernel_, supplicant::SupplicantConfig{{TEEMU_BENCH_TA_DIR}, {}});
      if (!supplicant_->start()) std::abort();
      kernel_ = bare_kernel_.get();
    }
    fd_ = kernel_->sys_open("/dev/tee0");
    if (fd_ < 0) std::abort();
    tee_ioctl_open_session_arg open{};
    std::memcpy(open.uuid, kShmTestUuid, 16);
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&open), sizeof(open)};
    if (kernel_->sys_ioctl(fd_, TEE_IOC_OPEN_SESSION, &bd) != 0 || open.ret != 0) std::abort();
    session_ = open.session;
  }
  ~BenchMachine() {
    tee_ioctl_close_session_arg c{session_};
    kernel_->sys_ioctl(fd_, TEE_IOC_CLOSE_SESSION, &c);
    kernel_->sys_close(fd_);
    if (supplicant_) supplicant_->stop();
    supplicant_.reset();
    bare_kernel_.reset();
    hyp_.reset();
    os_.reset();
  }

  bool invoke_inc(uint64_t* a) {
    struct {
      tee_ioctl_invoke_arg hdr;
      tee_ioctl_param p[1];
    } inv{};
    inv.hdr.func = kCmdInc;
    inv.hdr.session = session_;
    inv.hdr.num_params = 1;
    inv.p[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    inv.p[0].a = *a;
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&inv), sizeof(inv)};
    if (kernel_->sys_ioctl(fd_, TEE_IOC_INVOKE, &bd) != 0 || inv.hdr.ret != 0) return false;
    *a = inv.p[0].a;
    return true;
  }
  // Registers [p, p + len) and unregisters it again.
  bool register_unregister(void* p, uint64_t len) {
    tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(p), len, 0, 0};
    const int shm_fd = kernel_->sys_ioctl(fd_, TEE_IOC_SHM_REGISTER, &d);
    if (shm_fd < 0) return false;
    return kernel_->sys_close(shm_fd) == 0;
  }

 private:
  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  ta_runtime::DlTaLoader loader_;
  std::unique_ptr<tee::SecureOs> os_;
  std::unique_ptr<hyp::Hypervisor> hyp_;
  std::unique_ptr<ree::Kernel> bare_kernel_;
  std::unique_ptr<supplicant::Supplicant> supplicant_;
  ree::Kernel* kernel_ = nullptr;
  int fd_ = -1;
  uint32_t session_ = 0;
};

// state.range(0): 0 = bare metal, 1 = in a guest.
void BM_Invoke(benchmark::State& state) {
  BenchMachine m(state.range(0) != 0);
  uint64_t a = 0;
  for (auto _ : state)
    if (!m.invoke_inc(&a)) state.SkipWithError("invoke");
  state.SetLabel(state.range(0) != 0 ? "guest" : "bare metal");
}
BENCHMARK(BM_Invoke)->Arg(0)->Arg(1);

// state.range(0): as above; state.range(1): pages of the buffer.
void BM_RegisterUnregister(benchmark::State& state) {
  BenchMachine m(state.range(0) != 0);
  const uint64_t pages = static_cast<uint64_t>(state.range(1));
  void* buf = std::aligned_alloc(4096, pages * 4096);
  std::memset(buf, 1, pages * 4096);
  for (auto _ : state)
    if (!m.register_unregister(buf, pages * 4096)) state.SkipWithError("register");
  std::free(buf);
  state.counters["per_page"] = benchmark::Counter(
      static_cast<double>(state.iterations() * pages),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(state.range(0) != 0 ? "guest" : "bare metal");
}
BENCHMARK(BM_RegisterUnregister)->ArgsProduct({{0, 1}, {1, 16, 128, 1024, 4096}});

}  // namespace

BENCHMARK_MAIN();
