#include "platform/machine.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hw/phys_mem.h"
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
         registered_shm == 0 && busy_threads == 0;
}

std::string Audit::describe() const {
  std::ostringstream os;
  os << "open_files=" << open_files << " mappings=" << mappings << " client_shm=" << client_shm
     << " supp_shm=" << supp_shm << " ree_sessions=" << ree_sessions
     << " private_buffers=" << private_buffers << " supplicant_pending=" << supplicant_pending
     << " pages_pinned_now=" << pages_pinned_now << " frames_aliased=" << frames_aliased
     << " tee_sessions=" << tee_sessions << " ta_instances=" << ta_instances
     << " registered_shm=" << registered_shm << " busy_threads=" << busy_threads;
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
  m->os_ = std::make_unique<tee::SecureOs>(*m->mem_, m->stats_, *m->loader_, oc);
  m->kernel_ = ree::Kernel::boot(*m->mem_, *m->os_, m->stats_);
  if (!m->kernel_) {
    *error = "the OP-TEE driver did not accept the secure world (see the log above)";
    return nullptr;
  }
  supplicant::SupplicantConfig sc;
  sc.ta_path = config.ta_path;
  sc.storage_dir = config.storage_dir.empty() ? default_storage_dir() : config.storage_dir;
  m->supplicant_ = std::make_unique<supplicant::Supplicant>(*m->kernel_, std::move(sc));
  if (!m->supplicant_->start()) {
    *error = "cannot start tee-supplicant";
    return nullptr;
  }
  return m;
}

Machine::~Machine() {
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
  auto k = kernel_->audit();
  // The supplicant keeps its own device file open.
  a.open_files = k.open_files > 0 ? k.open_files - 1 : 0;
  a.mappings = k.mappings;
  a.client_shm = k.client_shm;
  a.supp_shm = k.supp_shm;
  a.ree_sessions = k.sessions;
  a.private_buffers = k.private_buffers;
  a.supplicant_pending = k.supplicant_pending;
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
  // ns pages: cached RPC args, cached message-argument pages and the supplicant's are the
  // machine's own; only report pinned client frames above.
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
  j["dynamic_shm"] = config_.dynamic_shm;
  j["static_shm_size"] = config_.static_shm_size;
  j["secure_threads"] = config_.threads;
  return j.dump(2);
}

bool Machine::write_stats(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return false;
  f << stats_json() << "\n";
  return static_cast<bool>(f);
}

}  // namespace teemu::platform
