#include "hyp/hypervisor.h"

#include "base/log.h"
#include "hw/guest_memory.h"
#include "hw/phys_mem.h"
#include "ree/kernel.h"
#include "supplicant/supplicant.h"

namespace teemu::hyp {

Guest::~Guest() {
  // Processes first, then the kernel (closing its files), then the memory under it. The stopped
  // supplicant goes after the kernel: its registered buffers stay until no registration is left.
  if (supplicant_) supplicant_->stop();
  kernel_.reset();
  supplicant_.reset();
  conduit_.reset();
  mem_.reset();
}

Hypervisor::Hypervisor(hw::PhysMem& machine, hw::SmcHandler& secure, hw::MachineStats& stats)
    : machine_(machine), stats_(stats), mediator_(machine, secure) {}

Hypervisor::~Hypervisor() {
  for (uint16_t id : guest_ids()) {
    kill_guest(id);
    reap_guest(id);
  }
}

bool Hypervisor::probe(std::string* error) { return mediator_.probe(error); }

tl::expected<Guest*, std::string> Hypervisor::create_guest(uint16_t client_id,
                                                           const GuestConfig& config) {
  auto fail_with = [](std::string msg) { return tl::unexpected(std::move(msg)); };
  if (client_id == 0) return fail_with("guest id 0 is the hypervisor's");
  {
    base::MutexLock lock(lock_);
    if (guests_.count(client_id)) return fail_with("guest id in use");
  }
  auto g = std::make_unique<Guest>();
  g->id_ = client_id;
  g->mem_ = hw::GuestMemory::create(machine_, config.ram_pages);
  if (!g->mem_) return fail_with("cannot set up the guest's memory");
  if (auto r = mediator_.add_guest(client_id, *g->mem_, config.limits); !r)
    return fail_with("the secure world refused the guest (VM_CREATED)");
  // From here on a failure must send VM_DESTROYED (inv 36; Xen's late creation failures do not,
  // reference/virtualization.md A.4 and A.16 #3: the partition would keep its slot).
  g->conduit_ = std::make_unique<GuestConduit>(mediator_, client_id);
  g->kernel_ = ree::Kernel::boot(*g->mem_, *g->conduit_, stats_,
                                 ree::kFdBase + allocate_fd_slot() * ree::kFdSpan);
  if (!g->kernel_) {
    mediator_.stop_guest(client_id);
    mediator_.remove_guest(client_id);
    return fail_with("the guest's OP-TEE driver did not probe");
  }
  supplicant::SupplicantConfig sc;
  sc.ta_path = config.ta_path;
  sc.storage_dir = config.storage_dir;
  g->supplicant_ = std::make_unique<supplicant::Supplicant>(*g->kernel_, std::move(sc));
  if (!g->supplicant_->start()) {
    g->supplicant_.reset();
    mediator_.stop_guest(client_id);
    g->kernel_->driver().remove();
    mediator_.remove_guest(client_id);
    return fail_with("cannot start the guest's tee-supplicant");
  }
  g->alive_ = true;
  Guest* raw = g.get();
  base::MutexLock lock(lock_);
  guests_.emplace(client_id, std::move(g));
  return raw;
}

void Hypervisor::kill_guest(uint16_t client_id) {
  Guest* g = guest(client_id);
  // Once: concurrent kills of one guest must not tear it down twice.
  if (g == nullptr || !g->alive_.exchange(false)) return;
  // Stop the vCPUs: every SMC of the guest fails from now on.
  mediator_.stop_guest(client_id);
  // Wake whatever sleeps in the guest's kernel (notifications, the call queue, the supplicant):
  // their calls fail and return to the guest's processes.
  g->kernel_->driver().remove();
  if (g->supplicant_) g->supplicant_->stop();
  // Unpin everything and tell the secure world, once no vCPU is inside.
  mediator_.remove_guest(client_id);
  TEEMU_LOG_INFO("hyp", "guest {} destroyed", client_id);
}

void Hypervisor::reap_guest(uint16_t client_id) {
  std::unique_ptr<Guest> g;
  {
    base::MutexLock lock(lock_);
    auto it = guests_.find(client_id);
    if (it == guests_.end() || it->second->alive_) return;
    g = std::move(it->second);
    guests_.erase(it);
  }
  g.reset();
}

int Hypervisor::allocate_fd_slot() {
  // Each kernel ever booted gets the next free range, so a descriptor a process kept from a
  // destroyed guest is EBADF, not a file of the guest that took its id (until the slots wrap).
  base::MutexLock lock(lock_);
  for (;;) {
    const int slot = next_fd_slot_;
    next_fd_slot_ = next_fd_slot_ % kFdSlots + 1;
    bool used = false;
    for (auto& [id, g] : guests_)
      if (g->kernel_ && g->kernel_->owns_fd(ree::kFdBase + slot * ree::kFdSpan)) used = true;
    if (!used) return slot;
  }
}

Guest* Hypervisor::guest(uint16_t client_id) {
  base::MutexLock lock(lock_);
  auto it = guests_.find(client_id);
  return it == guests_.end() ? nullptr : it->second.get();
}

std::vector<uint16_t> Hypervisor::guest_ids() {
  base::MutexLock lock(lock_);
  std::vector<uint16_t> ids;
  for (auto& [id, g] : guests_) ids.push_back(id);
  return ids;
}

}  // namespace teemu::hyp
