#include "platform/machine.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hw/phys_mem.h"
#include "hyp/hypervisor.h"
#include "ree/kernel.h"
#include "supplicant/supplicant.h"
#include "ta_runtime/dl_loader.h"
#include "ta_runtime/storage_service.h"
#include "tee/secure_os.h"

namespace teemu::platform {

bool Audit::quiescent() const {
  return open_files == 0 && mappings == 0 && client_shm == 0 && supp_shm == 0 &&
         ree_sessions == 0 && private_buffers == 0 && supplicant_pending == 0 &&
         pages_pinned_now == 0 && frames_aliased == 0 && tee_sessions == 0 && ta_instances == 0 &&
         registered_shm == 0 && busy_threads == 0 && mediator_pinned == 0 &&
         mediator_buffers == 0;
}

std::string Audit::describe() const {
  std::ostringstream os;
  os << "open_files=" << open_files << " mappings=" << mappings << " client_shm=" << client_shm
     << " supp_shm=" << supp_shm << " ree_sessions=" << ree_sessions
     << " private_buffers=" << private_buffers << " supplicant_pending=" << supplicant_pending
     << " pages_pinned_now=" << pages_pinned_now << " frames_aliased=" << frames_aliased
     << " tee_sessions=" << tee_sessions << " ta_instances=" << ta_instances
     << " registered_shm=" << registered_shm << " busy_threads=" << busy_threads
     << " mediator_pinned=" << mediator_pinned << " mediator_buffers=" << mediator_buffers;
  return os.str();
}

namespace {
// The platform's die id, from which its hardware unique key is derived (docs/storage.md): the
// host's machine-id, the closest thing a Linux host has to a per-device fuse value. Empty when
// the host has none (the key is then the same on every such host).
std::string platform_die_id() {
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    std::ifstream f(path);
    std::string id;
    if (f && std::getline(f, id) && !id.empty()) return id;
  }
  return {};
}

// Every live TA instance keeps its image descriptor open: make room for many instances.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = rl.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(rl.rlim_max, 65536);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}
}  // namespace

std::unique_ptr<Machine> Machine::create(const MachineConfig& config, std::string* error) {
  raise_fd_limit();
  std::unique_ptr<Machine> m(new Machine());
  m->config_ = config;
  hw::PhysMemConfig pm;
  pm.static_shm_size = config.static_shm_size;
  pm.ns_dram_size = config.ns_dram_size;
  m->mem_ = hw::PhysMem::create(pm);
  if (!m->mem_) {
    *error = "cannot set up physical memory (check static_shm_size and ns_dram_size)";
    return nullptr;
  }
  const std::string die_id = platform_die_id();
  m->loader_ = std::make_unique<ta_runtime::DlTaLoader>(
      std::make_unique<ta_runtime::storage::StorageService>(ta_runtime::storage::derive_huk(
          std::span(reinterpret_cast<const uint8_t*>(die_id.data()), die_id.size()))));
  tee::SecureOsConfig oc;
  oc.num_threads = config.threads;
  oc.dynamic_shm = config.dynamic_shm;
  oc.thread_stack_size = config.thread_stack_size;
  oc.virtualization = config.guests > 0;
  oc.max_guests = std::max<uint32_t>(64, config.guests * 2);
  m->os_ = std::make_unique<tee::SecureOs>(*m->mem_, m->stats_, *m->loader_, oc);
  const std::string storage_root =
      config.storage_dir.empty() ? default_storage_dir() : config.storage_dir;
  if (config.guests > 0) {
    // Every normal-world kernel is a guest's, behind the hypervisor's OP-TEE mediator.
    m->hyp_ = std::make_unique<hyp::Hypervisor>(*m->mem_, *m->os_, m->stats_);
    std::string why;
    if (!m->hyp_->probe(&why)) {
      *error = "the hypervisor cannot use the secure world: " + why;
      return nullptr;
    }
    for (uint32_t id = 1; id <= config.guests; ++id) {
      hyp::GuestConfig gc;
      gc.ta_path = config.ta_path;
      // Each guest has a file system of its own.
      gc.storage_dir = storage_root + "/guest-" + std::to_string(id);
      auto g = m->hyp_->create_guest(static_cast<uint16_t>(id), gc);
      if (!g) {
        *error = "cannot create guest " + std::to_string(id) + ": " + g.error();
        return nullptr;
      }
    }
    m->client_kernel_ = m->guest_kernel(config.guest);
    return m;
  }
  m->kernel_ = ree::Kernel::boot(*m->mem_, *m->os_, m->stats_);
  if (!m->kernel_) {
    *error = "the OP-TEE driver did not accept the secure world (see the log above)";
    return nullptr;
  }
  supplicant::SupplicantConfig sc;
  sc.ta_path = config.ta_path;
  sc.storage_dir = storage_root;
  m->supplicant_ = std::make_unique<supplicant::Supplicant>(*m->kernel_, std::move(sc));
  if (!m->supplicant_->start()) {
    *error = "cannot start tee-supplicant";
    return nullptr;
  }
  m->client_kernel_ = m->kernel_.get();
  return m;
}

ree::Kernel* Machine::guest_kernel(uint32_t id) {
  if (!hyp_ || id == 0 || id > 0xFFFF) return nullptr;
  hyp::Guest* g = hyp_->guest(static_cast<uint16_t>(id));
  return g != nullptr ? &g->kernel() : nullptr;
}

ree::Kernel* Machine::kernel_for_fd(int fd) {
  if (!hyp_) return kernel_->owns_fd(fd) ? kernel_.get() : nullptr;
  if (client_kernel_ != nullptr && client_kernel_->owns_fd(fd)) return client_kernel_;
  for (uint16_t id : hyp_->guest_ids()) {
    hyp::Guest* g = hyp_->guest(id);
    if (g != nullptr && g->kernel().owns_fd(fd)) return &g->kernel();
  }
  return nullptr;
}

supplicant::Supplicant& Machine::supplicant() {
  if (hyp_) return hyp_->guest(static_cast<uint16_t>(config_.guest))->supplicant();
  return *supplicant_;
}

Machine::~Machine() {
  // Guests first: their kernels and supplicants go, and VM_DESTROYED ends their partitions.
  hyp_.reset();
  // Order: the supplicant's pending work first, then the kernel (closes files, drains the
  // secure world's caches), then the secure world.
  if (kernel_) {
    if (supplicant_) {
      // Close clients while the supplicant still serves them, then stop it.
      kernel_->shutdown_clients();
      supplicant_->stop();
    }
    kernel_->shutdown();
  }
  supplicant_.reset();
  kernel_.reset();
  os_.reset();
}

Audit Machine::audit() const {
  Audit a;
  auto add_kernel = [&a](const ree::Kernel& k) {
    auto ka = k.audit();
    // Each kernel's tee-supplicant keeps its own device file open.
    a.open_files += ka.open_files > 0 ? ka.open_files - 1 : 0;
    a.mappings += ka.mappings;
    a.client_shm += ka.client_shm;
    a.supp_shm += ka.supp_shm;
    a.ree_sessions += ka.sessions;
    a.private_buffers += ka.private_buffers;
    a.supplicant_pending += ka.supplicant_pending;
  };
  if (kernel_) add_kernel(*kernel_);
  if (hyp_) {
    for (uint16_t id : hyp_->guest_ids()) {
      hyp::Guest* g = hyp_->guest(id);
      if (g == nullptr || !g->alive()) continue;
      add_kernel(g->kernel());
      auto ma = hyp_->mediator().audit(id);
      a.mediator_buffers += ma.buffers;
      // An RPC argument the secure world caches is pinned on the guest's behalf: the
      // machine's own, like the cached argument itself.
      a.mediator_pinned += ma.pinned_pages - static_cast<int64_t>(ma.rpc_args);
    }
  }
  a.pages_pinned_now = stats_.pages_pinned_now.get();
  auto s = os_->audit();
  a.tee_sessions = s.sessions;
  a.ta_instances = s.instances;
  a.registered_shm = s.registered_shm;
  a.busy_threads = s.busy_threads;
  // Each cached RPC argument is a kernel-private buffer of the machine itself.
  a.private_buffers = a.private_buffers >= s.cached_rpc_args ? a.private_buffers - s.cached_rpc_args
                                                             : a.private_buffers;
  a.frames_aliased = mem_->frames_aliased();
  a.ns_pages_in_use = mem_->ns_pages_in_use();
  return a;
}

std::string Machine::stats_json() const {
  nlohmann::json j;
  j["payload_bytes_copied"] = stats_.payload_bytes_copied.get();
  j["world_switches"] = stats_.world_switches.get();
  j["smc_calls"] = stats_.smc_calls.get();
  j["rpcs"] = stats_.rpcs.get();
  j["pages_pinned"] = stats_.pages_pinned.get();
  j["pages_pinned_now"] = stats_.pages_pinned_now.get();
  j["shm_registered"] = stats_.shm_registered.get();
  j["shm_allocated"] = stats_.shm_allocated.get();
  j["page_list_pages"] = stats_.page_list_pages.get();
  j["sessions_opened"] = stats_.sessions_opened.get();
  j["invokes"] = stats_.invokes.get();
  j["supplicant_requests"] = stats_.supplicant_requests.get();
  j["thread_limit_waits"] = stats_.eth_thread_limit_waits.get();
  const auto images = loader_->cache_stats();
  j["ta_image_checks"] = images.checks;
  j["ta_image_loads"] = images.loads;
  j["ta_image_reuses"] = images.reuses;
  j["dynamic_shm"] = config_.dynamic_shm;
  j["static_shm_size"] = config_.static_shm_size;
  j["secure_threads"] = config_.threads;
  j["guests"] = config_.guests;
  if (hyp_) {
    // Per guest, and the mediator's totals.
    int64_t traps = 0, translated = 0, pinned = 0, shadows = 0, refused = 0;
    nlohmann::json per_guest = nlohmann::json::object();
    for (uint16_t id : hyp_->guest_ids()) {
      hyp::MediatorGuestStats* gs = hyp_->mediator().guest_stats(id);
      if (gs == nullptr) continue;
      nlohmann::json g;
      g["traps"] = gs->traps.get();
      g["pages_translated"] = gs->pages_translated.get();
      g["pages_pinned_now"] = gs->pages_pinned_now.get();
      g["shadow_copies"] = gs->shadow_copies.get();
      g["refused"] = gs->refused.get();
      per_guest[std::to_string(id)] = g;
      traps += gs->traps.get();
      translated += gs->pages_translated.get();
      pinned += gs->pages_pinned_now.get();
      shadows += gs->shadow_copies.get();
      refused += gs->refused.get();
    }
    j["client_guest"] = config_.guest;
    j["mediator_traps"] = traps;
    j["mediator_pages_translated"] = translated;
    j["mediator_pages_pinned_now"] = pinned;
    j["mediator_shadow_copies"] = shadows;
    j["mediator_refused"] = refused;
    j["per_guest"] = per_guest;
  }
  return j.dump(2);
}

bool Machine::write_stats(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return false;
  f << stats_json() << "\n";
  return static_cast<bool>(f);
}

}  // namespace teemu::platform
