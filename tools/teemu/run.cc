#include "run.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "platform/config.h"

namespace fs = std::filesystem;

namespace teemu::tool {

namespace {

void prepend_env(const char* name, const std::string& value) {
  const char* old = std::getenv(name);
  std::string v = value;
  if (old != nullptr && *old != '\0') v += std::string(":") + old;
  setenv(name, v.c_str(), 1);
}

}  // namespace

std::string lib_dir() { return fs::path(platform::default_ta_dir()).parent_path().parent_path(); }

bool set_guest_env(const char* command, uint32_t guests, uint32_t guest) {
  if (guests == 0) return true;
  if (guest == 0 || guest > guests) {
    std::fprintf(stderr, "teemu %s: --guest must be one of the guests, 1..%u\n", command, guests);
    return false;
  }
  setenv("TEEMU_GUESTS", std::to_string(guests).c_str(), 1);
  setenv("TEEMU_GUEST", std::to_string(guest).c_str(), 1);
  return true;
}

int run_program(const std::vector<std::string>& ta_dirs, const std::vector<std::string>& argv,
                uint32_t guests, uint32_t guest) {
  if (argv.empty()) {
    std::fprintf(stderr, "teemu run: no command given (usage: teemu run [--ta-dir D] -- CMD ARGS)\n");
    return 2;
  }
  prepend_env("LD_LIBRARY_PATH", lib_dir());
  if (!set_guest_env("run", guests, guest)) return 2;
  if (!ta_dirs.empty()) {
    std::string path;
    for (const auto& d : ta_dirs) path += (path.empty() ? "" : ":") + fs::absolute(d).string();
    const char* old = std::getenv("TEEMU_TA_PATH");
    path += std::string(":") + ((old != nullptr && *old) ? old : platform::default_ta_dir());
    setenv("TEEMU_TA_PATH", path.c_str(), 1);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "teemu run: cannot run '%s': %s\n", args[0], std::strerror(errno));
  return 127;
}

}  // namespace teemu::tool
