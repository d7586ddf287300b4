#include "platform/config.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <toml++/toml.h>

#include "base/checked.h"

namespace teemu::platform {

namespace {

tl::unexpected<ConfigError> config_error(std::string msg) {
  return tl::unexpected(ConfigError{std::move(msg)});
}

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.push_back(item);
  return out;
}

// A relative storage directory is taken relative to the working directory at boot, so that a
// later chdir of the client cannot move it.
std::string absolute_path(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

tl::expected<bool, ConfigError> parse_bool(const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return config_error(name + ": expected 0 or 1, got '" + v + "'");
}

tl::expected<void, ConfigError> check(const MachineConfig& c) {
  if (c.threads == 0 || c.threads > 64) return config_error("threads: must be 1..64");
  if (c.static_shm_size % 4096 != 0)
    return config_error("static_shm_size: must be a multiple of 4096");
  if (c.static_shm_size != 0 && c.static_shm_size < 2 * 4096)
    return config_error("static_shm_size: must be 0 or at least 8 KiB");
  if (c.static_shm_size > (256ull << 20)) return config_error("static_shm_size: at most 256 MiB");
  if (!c.dynamic_shm && c.static_shm_size == 0)
    return config_error(
        "dynamic_shm=0 needs a static carve-out (static_shm_size > 0): the secure world would "
        "have no shared memory at all");
  if (c.ns_dram_size < (4ull << 20) || c.ns_dram_size % 4096 != 0)
    return config_error("ns_dram_size: must be a multiple of 4096 and at least 4 MiB");
  if (c.thread_stack_size < 64 * 1024) return config_error("thread_stack_size: at least 64 KiB");
  if (c.guests > kMaxGuests)
    return config_error("guests: at most " + std::to_string(kMaxGuests));
  if (c.guests != 0 && (c.guest < 1 || c.guest > c.guests))
    return config_error("guest: must name one of the guests, 1.." + std::to_string(c.guests));
  if (c.guests != 0 && !c.dynamic_shm)
    return config_error(
        "guests need dynamic shared memory (dynamic_shm=1): guests cannot share the static "
        "carve-out");
  return {};
}

}  // namespace

tl::expected<uint64_t, ConfigError> parse_size(const std::string& text) {
  if (text.empty()) return config_error("empty size");
  size_t pos = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &pos, 0);
  } catch (...) {
    return config_error("not a size: '" + text + "'");
  }
  std::string suffix = text.substr(pos);
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "B") {
  } else if (suffix == "k" || suffix == "K" || suffix == "KiB") {
    mult = 1ull << 10;
  } else if (suffix == "m" || suffix == "M" || suffix == "MiB") {
    mult = 1ull << 20;
  } else if (suffix == "g" || suffix == "G" || suffix == "GiB") {
    mult = 1ull << 30;
  } else {
    return config_error("unknown size suffix in '" + text + "'");
  }
  auto r = base::checked_mul<uint64_t>(v, mult);
  if (!r) return config_error("size too large: '" + text + "'");
  return *r;
}

tl::expected<void, ConfigError> apply_config_file(MachineConfig& c, const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ": " << e.description() << " (line " << e.source().begin.line << ")";
    return config_error(os.str());
  }
  for (auto&& [key, node] : t) {
    const std::string k(key.str());
    if (k == "dynamic_shm") {
      auto v = node.value<bool>();
      if (!v) return config_error(path + ": dynamic_shm must be true or false");
      c.dynamic_shm = *v;
    } else if (k == "static_shm_size" || k == "ns_dram_size" || k == "thread_stack_size") {
      uint64_t size;
      if (auto i = node.value<int64_t>()) {
        if (*i < 0) return config_error(path + ": " + k + " must not be negative");
        size = static_cast<uint64_t>(*i);
      } else if (auto s = node.value<std::string>()) {
        auto p = parse_size(*s);
        if (!p) return config_error(path + ": " + k + ": " + p.error().message);
        size = *p;
      } else {
        return config_error(path + ": " + k + " must be a number or a size string");
      }
      (k == "static_shm_size" ? c.static_shm_size
                              : (k == "ns_dram_size" ? c.ns_dram_size : c.thread_stack_size)) = size;
    } else if (k == "guests" || k == "guest") {
      auto v = node.value<int64_t>();
      if (!v || *v < 0 || *v > int64_t{kMaxGuests})
        return config_error(path + ": " + k + " must be an integer 0.." +
                            std::to_string(kMaxGuests));
      (k == "guests" ? c.guests : c.guest) = static_cast<uint32_t>(*v);
    } else if (k == "threads") {
      auto v = node.value<int64_t>();
      if (!v || *v <= 0) return config_error(path + ": threads must be a positive integer");
      c.threads = static_cast<uint32_t>(*v);
    } else if (k == "ta_path") {
      c.ta_path.clear();
      if (auto s = node.value<std::string>()) {
        c.ta_path = split_path(*s);
      } else if (auto* arr = node.as_array()) {
        for (auto& e : *arr) {
          auto s2 = e.value<std::string>();
          if (!s2) return config_error(path + ": ta_path entries must be strings");
          c.ta_path.push_back(*s2);
        }
      } else {
        return config_error(path + ": ta_path must be a string or an array of strings");
      }
    } else if (k == "storage_dir") {
      auto s = node.value<std::string>();
      if (!s || s->empty()) return config_error(path + ": storage_dir must be a directory name");
      c.storage_dir = absolute_path(*s);
    } else if (k == "stats") {
      auto s = node.value<std::string>();
      if (!s) return config_error(path + ": stats must be a file name");
      c.stats_file = *s;
    } else {
      return config_error(path + ": unknown setting '" + k + "'");
    }
  }
  return check(c);
}

tl::expected<void, ConfigError> apply_environment(MachineConfig& c) {
  auto env = [](const char* n) -> const char* { return std::getenv(n); };
  if (const char* v = env("TEEMU_DYNAMIC_SHM")) {
    auto b = parse_bool("TEEMU_DYNAMIC_SHM", v);
    if (!b) return tl::unexpected(b.error());
    c.dynamic_shm = *b;
  }
  const std::pair<const char*, uint64_t*> sizes[] = {
      {"TEEMU_STATIC_SHM_SIZE", &c.static_shm_size},
      {"TEEMU_NS_DRAM_SIZE", &c.ns_dram_size},
      {"TEEMU_THREAD_STACK_SIZE", &c.thread_stack_size}};
  for (auto [name, field] : sizes) {
    if (const char* v = env(name)) {
      auto s = parse_size(v);
      if (!s) return config_error(std::string(name) + ": " + s.error().message);
      *field = *s;
    }
  }
  if (const char* v = env("TEEMU_THREADS")) {
    auto s = parse_size(v);
    if (!s || *s == 0 || *s > 64) return config_error("TEEMU_THREADS: expected 1..64");
    c.threads = static_cast<uint32_t>(*s);
  }
  for (auto [name, field] : {std::pair<const char*, uint32_t*>{"TEEMU_GUESTS", &c.guests},
                              std::pair<const char*, uint32_t*>{"TEEMU_GUEST", &c.guest}}) {
    if (const char* v = env(name)) {
      auto n = parse_size(v);
      if (!n || *n > kMaxGuests)
        return config_error(std::string(name) + ": expected 0.." + std::to_string(kMaxGuests));
      *field = static_cast<uint32_t>(*n);
    }
  }
  if (const char* v = env("TEEMU_TA_PATH")) {
    // Set to nothing (or only separators) it would search nowhere and every TA would be
    // ITEM_NOT_FOUND: a mistake worth saying so.
    c.ta_path = split_path(v);
    if (c.ta_path.empty()) return config_error("TEEMU_TA_PATH: names no directory");
  }
  if (const char* v = env("TEEMU_STATS")) c.stats_file = v;
  if (const char* v = env("TEEMU_STORAGE_DIR")) {
    if (*v == '\0') return config_error("TEEMU_STORAGE_DIR: must name a directory");
    c.storage_dir = absolute_path(v);
  }
  return check(c);
}

tl::expected<MachineConfig, ConfigError> load_config() {
  MachineConfig c;
  c.ta_path = {default_ta_dir()};
  c.storage_dir = default_storage_dir();
  if (const char* f = std::getenv("TEEMU_CONFIG"); f != nullptr && *f != '\0') {
    auto r = apply_config_file(c, f);
    if (!r) return tl::unexpected(r.error());
  }
  auto r = apply_environment(c);
  if (!r) return tl::unexpected(r.error());
  return c;
}

std::string default_storage_dir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/teemu/tee";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.local/share/teemu/tee";
  return "/tmp/teemu-" + std::to_string(getuid()) + "/tee";
}

std::string default_ta_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&default_ta_dir), &info) != 0 && info.dli_fname != nullptr) {
    std::filesystem::path lib(info.dli_fname);
    return (lib.parent_path() / "teemu" / "ta").string();
  }
  return "/usr/local/lib/teemu/ta";
}

}  // namespace teemu::platform
