// Smoke test of the virtualized machine: a hypervisor with guests, each with its own kernel,
// reaches the secure OS through the mediator; a client in a guest opens a session and invokes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "abi/tee_uapi.h"
#include "hw/guest_memory.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hyp/hypervisor.h"
#include "ree/kernel.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace teemu {
namespace {

using namespace abi;  // NOLINT

const uint8_t kShmTestUuid[16] = {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c,
                                  0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f};

struct VirtMachine {
  hw::MachineStats stats;
  std::unique_ptr<hw::PhysMem> mem;
  ta_runtime::DlTaLoader loader;
  std::unique_ptr<tee::SecureOs> os;
  std::unique_ptr<hyp::Hypervisor> hyp;

  explicit VirtMachine(int guests) {
    hw::PhysMemConfig pc;
    pc.static_shm_size = 2 << 20;
    mem = hw::PhysMem::create(pc);
    tee::SecureOsConfig oc;
    oc.virtualization = true;
    os = std::make_unique<tee::SecureOs>(*mem, stats, loader, oc);
    hyp = std::make_unique<hyp::Hypervisor>(*mem, *os, stats);
    std::string err;
    EXPECT_TRUE(hyp->probe(&err)) << err;
    for (int i = 1; i <= guests; ++i) {
      hyp::GuestConfig gc;
      gc.ta_path = {TEEMU_TEST_TA_DIR};
      auto g = hyp->create_guest(static_cast<uint16_t>(i), gc);
      EXPECT_TRUE(g) << (g ? "" : g.error());
    }
  }
};

// Opens a session to the shm-test TA and runs INC through raw ioctls of `k`.
void inc_in(ree::Kernel& k, uint32_t start) {
  int fd = k.sys_open("/dev/tee0");
  ASSERT_GE(fd, 0);
  tee_ioctl_version_data v{};
  ASSERT_EQ(k.sys_ioctl(fd, TEE_IOC_VERSION, &v), 0);
  EXPECT_TRUE(v.gen_caps & TEE_GEN_CAP_REG_MEM);
  struct {
    tee_ioctl_open_session_arg hdr;
    tee_ioctl_param params[0];
  } open{};
  std::memcpy(open.hdr.uuid, kShmTestUuid, 16);
  tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&open), sizeof(open)};
  ASSERT_EQ(k.sys_ioctl(fd, TEE_IOC_OPEN_SESSION, &bd), 0);
  ASSERT_EQ(open.hdr.ret, TEE_SUCCESS) << std::hex << open.hdr.ret;
  struct {
    tee_ioctl_invoke_arg hdr;
    tee_ioctl_param params[1];
  } inv{};
  inv.hdr.func = 2;  // INC
  inv.hdr.session = open.hdr.session;
  inv.hdr.num_params = 1;
  inv.params[0].attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
  inv.params[0].a = start;
  bd = {reinterpret_cast<uint64_t>(&inv), sizeof(inv)};
  ASSERT_EQ(k.sys_ioctl(fd, TEE_IOC_INVOKE, &bd), 0);
  EXPECT_EQ(inv.hdr.ret, TEE_SUCCESS);
  EXPECT_EQ(inv.params[0].a, start + 1);
  tee_ioctl_close_session_arg c{open.hdr.session};
  EXPECT_EQ(k.sys_ioctl(fd, TEE_IOC_CLOSE_SESSION, &c), 0);
  k.sys_close(fd);
}

TEST(VirtSmoke, GuestsReachTheSecureOs) {
  VirtMachine m(3);
  for (uint16_t id : {1, 2, 3}) inc_in(m.hyp->guest(id)->kernel(), id * 10);
  auto a = m.os->audit();
  EXPECT_EQ(a.partitions, 3u);
  EXPECT_EQ(a.sessions, 0u);
  EXPECT_EQ(a.instances, 0u);
}

TEST(VirtSmoke, GuestsAreCreatedAndDestroyed) {
  VirtMachine m(2);
  m.hyp->kill_guest(1);
  m.hyp->reap_guest(1);
  EXPECT_EQ(m.os->audit().partitions, 1u);
  inc_in(m.hyp->guest(2)->kernel(), 5);
  hyp::GuestConfig gc;
  gc.ta_path = {TEEMU_TEST_TA_DIR};
  ASSERT_TRUE(m.hyp->create_guest(1, gc));
  inc_in(m.hyp->guest(1)->kernel(), 7);
}

// A descriptor a process kept from a destroyed guest must not name a file of the guest that took
// its id: every kernel booted gets a descriptor range of its own.
TEST(VirtSmoke, RecreatedGuestHasFreshDescriptors) {
  VirtMachine m(1);
  const int old_fd = m.hyp->guest(1)->kernel().sys_open("/dev/tee0");
  ASSERT_GE(old_fd, 0);
  m.hyp->guest(1)->kernel().sys_close(old_fd);
  m.hyp->kill_guest(1);
  m.hyp->reap_guest(1);
  hyp::GuestConfig gc;
  gc.ta_path = {TEEMU_TEST_TA_DIR};
  ASSERT_TRUE(m.hyp->create_guest(1, gc));
  ree::Kernel& k = m.hyp->guest(1)->kernel();
  EXPECT_FALSE(k.owns_fd(old_fd));
  tee_ioctl_version_data v{};
  EXPECT_EQ(k.sys_ioctl(old_fd, TEE_IOC_VERSION, &v), -EBADF);
  inc_in(k, 1);
}

}  // namespace
}  // namespace teemu
