// Machine configuration: defaults, a TOML file, and TEEMU_* environment variables (which win).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace teemu::platform {

struct MachineConfig {
  bool dynamic_shm = true;                  // TEEMU_DYNAMIC_SHM
  uint64_t static_shm_size = 2ull << 20;    // TEEMU_STATIC_SHM_SIZE (0 = no carve-out)
  uint32_t threads = 2;                     // TEEMU_THREADS (secure threads, CFG_NUM_THREADS)
  std::vector<std::string> ta_path;         // TEEMU_TA_PATH (':'-separated)
  std::string stats_file;                   // TEEMU_STATS
  uint64_t ns_dram_size = 256ull << 20;     // TEEMU_NS_DRAM_SIZE: kernel page pool
  uint64_t thread_stack_size = 512 * 1024;  // TEEMU_THREAD_STACK_SIZE
  // TEEMU_STORAGE_DIR: tee-supplicant's REE FS root (trusted storage files), created on first
  // use. Empty means default_storage_dir().
  std::string storage_dir;
  // TEEMU_GUESTS: 0 = no hypervisor (the REE kernel runs on the machine); N > 0 = a hypervisor
  // with guests 1..N, each with its own kernel, behind the OP-TEE mediator.
  uint32_t guests = 0;
  // TEEMU_GUEST: the guest whose kernel client programs of this process use (1..N).
  uint32_t guest = 1;
};

// Most guests one machine runs.
constexpr uint32_t kMaxGuests = 1024;

// A configuration error: what is wrong, for the user.
struct ConfigError {
  std::string message;
};

// Defaults, then the file named by TEEMU_CONFIG (if set), then the environment.
tl::expected<MachineConfig, ConfigError> load_config();
// Applies a TOML file on top of `config`.
tl::expected<void, ConfigError> apply_config_file(MachineConfig& config, const std::string& path);
// Applies TEEMU_* variables on top of `config`.
tl::expected<void, ConfigError> apply_environment(MachineConfig& config);
// Parses "2M", "64k", "0x1000", "4096" (binary units).
tl::expected<uint64_t, ConfigError> parse_size(const std::string& text);

// The default storage directory: $XDG_DATA_HOME/teemu/tee, else $HOME/.local/share/teemu/tee,
// else /tmp/teemu-<uid>/tee.
std::string default_storage_dir();

// Directory of the installed TAs, derived from where libteemu.so lives (<prefix>/lib/teemu/ta).
std::string default_ta_dir();

}  // namespace teemu::platform
