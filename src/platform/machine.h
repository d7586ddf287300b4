// One whole machine: physical memory, the secure OS behind the SMC conduit, a REE kernel with the
// OP-TEE driver, and the tee-supplicant service. Built from a MachineConfig; tests build their
// own, the embedded mode builds one per process.
#pragma once

#include <memory>
#include <string>

#include "hw/machine_stats.h"
#include "platform/config.h"

namespace teemu::hw {
class PhysMem;
}
namespace teemu::tee {
class SecureOs;
class TaLoader;
}  // namespace teemu::tee
namespace teemu::ree {
class Kernel;
}
namespace teemu::ta_runtime {
class DlTaLoader;
}
namespace teemu::supplicant {
class Supplicant;
}
namespace teemu::hyp {
class Hypervisor;
}

namespace teemu::platform {

struct Audit {
  // Normal world.
  size_t open_files = 0, mappings = 0, client_shm = 0, supp_shm = 0, ree_sessions = 0;
  size_t private_buffers = 0, supplicant_pending = 0;
  int64_t pages_pinned_now = 0, ns_pages_in_use = 0, frames_aliased = 0;
  // Secure world.
  size_t tee_sessions = 0, ta_instances = 0, registered_shm = 0, busy_threads = 0;
  // Hypervisor: guest pages the mediator still has pinned, and tracked buffers.
  int64_t mediator_pinned = 0;
  size_t mediator_buffers = 0;

  // Quiescent: nothing held by a client is left anywhere. The supplicant's device file and the
  // secure OS's cached RPC arguments belong to the machine itself and are not counted.
  bool quiescent() const;
  std::string describe() const;
};

class Machine {
 public:
  // Boots the machine. On failure returns null and sets `error`.
  static std::unique_ptr<Machine> create(const MachineConfig& config, std::string* error);
  ~Machine();

  const MachineConfig& config() const { return config_; }
  // The kernel client programs use by default: the machine's own, or that of guest
  // config().guest when there is a hypervisor.
  ree::Kernel& kernel() { return *client_kernel_; }
  // The kernel of guest `id` (null without a hypervisor or for an unknown guest).
  ree::Kernel* guest_kernel(uint32_t id);
  // The kernel that owns descriptor `fd` (null if none does).
  ree::Kernel* kernel_for_fd(int fd);
  // The hypervisor, or null.
  hyp::Hypervisor* hypervisor() { return hyp_.get(); }
  tee::SecureOs& secure_os() { return *os_; }
  // The TA loader (its image cache: ta_runtime::DlTaLoader::cache_stats).
  ta_runtime::DlTaLoader& ta_loader() { return *loader_; }
  hw::PhysMem& mem() { return *mem_; }
  hw::MachineStats& stats() { return stats_; }
  // The tee-supplicant serving kernel() (tests stop it to see requests fail instead of hang).
  supplicant::Supplicant& supplicant();

  Audit audit() const;
  // The counters as one flat JSON object.
  std::string stats_json() const;
  // Writes stats_json() to `path`; false on I/O error.
  bool write_stats(const std::string& path) const;

 private:
  Machine() = default;
  MachineConfig config_;
  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  std::unique_ptr<ta_runtime::DlTaLoader> loader_;
  std::unique_ptr<tee::SecureOs> os_;
  std::unique_ptr<ree::Kernel> kernel_;  // without a hypervisor
  std::unique_ptr<supplicant::Supplicant> supplicant_;
  std::unique_ptr<hyp::Hypervisor> hyp_;
  ree::Kernel* client_kernel_ = nullptr;
};

}  // namespace teemu::platform
