// The hypervisor: runs guests, each with its own memory (IPA space behind a stage-2 table), its
// own REE kernel (TEE subsystem + OP-TEE driver, unchanged) and its own tee-supplicant, and
// mediates every SMC of every guest (OpteeMediator). The secure OS sees one partition per guest.
//
// Life of a guest: create_guest() (VM_CREATED, then the guest's kernel boots against the
// mediator), kill_guest() (its vCPUs stop: every SMC fails from then on, sleepers in its kernel
// are woken, and once no vCPU is inside, its pins go and VM_DESTROYED is sent exactly once), and
// reap_guest() (its kernel and memory are freed when no process uses them any more).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "hyp/optee_mediator.h"

namespace teemu::hw {
class PhysMem;
class GuestMemory;
struct MachineStats;
}  // namespace teemu::hw
namespace teemu::ree {
class Kernel;
}
namespace teemu::supplicant {
class Supplicant;
}

namespace teemu::hyp {

struct GuestConfig {
  uint64_t ram_pages = 1u << 20;  // the guest's RAM budget (kernel pages + pinned user pages)
  MediatorLimits limits;
  std::vector<std::string> ta_path;  // for the guest's tee-supplicant
  std::string storage_dir;
};

class Guest {
 public:
  ~Guest();
  uint16_t client_id() const { return id_; }
  ree::Kernel& kernel() { return *kernel_; }
  supplicant::Supplicant& supplicant() { return *supplicant_; }
  hw::GuestMemory& memory() { return *mem_; }
  bool alive() const { return alive_.load(); }

 private:
  friend class Hypervisor;
  uint16_t id_ = 0;
  std::atomic<bool> alive_{false};
  std::unique_ptr<hw::GuestMemory> mem_;
  std::unique_ptr<GuestConduit> conduit_;
  std::unique_ptr<ree::Kernel> kernel_;
  std::unique_ptr<supplicant::Supplicant> supplicant_;
};

class Hypervisor {
 public:
  Hypervisor(hw::PhysMem& machine, hw::SmcHandler& secure, hw::MachineStats& stats);
  ~Hypervisor();

  // Checks that the secure world supports virtualization.
  bool probe(std::string* error);

  // Creates guest `client_id` (1..65535) and boots its kernel. On failure nothing of the guest
  // remains (VM_DESTROYED follows a successful VM_CREATED). Errors carry a message.
  tl::expected<Guest*, std::string> create_guest(uint16_t client_id, const GuestConfig& config);
  // Stops the guest and ends its partition in the secure world (see the file comment).
  void kill_guest(uint16_t client_id);
  // Frees a killed guest's kernel and memory. No process may use its kernel any more.
  void reap_guest(uint16_t client_id);

  Guest* guest(uint16_t client_id);
  std::vector<uint16_t> guest_ids();
  OpteeMediator& mediator() { return mediator_; }

 private:
  // Descriptor ranges of guest kernels: slots 1..kFdSlots above ree::kFdBase (a 32-bit int).
  static constexpr int kFdSlots = 0x7FFE;
  int allocate_fd_slot();

  hw::PhysMem& machine_;
  hw::MachineStats& stats_;
  OpteeMediator mediator_;
  base::Mutex lock_;
  std::map<uint16_t, std::unique_ptr<Guest>> guests_ GUARDED_BY(lock_);
  int next_fd_slot_ GUARDED_BY(lock_) = 1;
};

}  // namespace teemu::hyp
