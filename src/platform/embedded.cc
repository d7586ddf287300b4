#include "platform/embedded.h"

#include <cstdio>
#include <mutex>

namespace teemu::platform {

namespace {
std::once_flag g_boot_once;
// Intentionally never destroyed: client threads may still be inside a call while static
// destructors run at exit, and the process's memory goes with it anyway.
Machine* g_machine = nullptr;
}  // namespace

Machine* embedded_machine() {
  std::call_once(g_boot_once, [] {
    auto config = load_config();
    if (!config) {
      std::fprintf(stderr, "teemu: configuration error: %s\n", config.error().message.c_str());
      return;
    }
    std::string error;
    auto m = Machine::create(*config, &error);
    if (!m) {
      std::fprintf(stderr, "teemu: cannot boot the machine: %s\n", error.c_str());
      return;
    }
    g_machine = m.release();
  });
  return g_machine;
}

void embedded_context_finalized() {
  Machine* m = g_machine;
  if (m == nullptr || m->config().stats_file.empty()) return;
  if (!m->write_stats(m->config().stats_file))
    std::fprintf(stderr, "teemu: cannot write stats to %s\n", m->config().stats_file.c_str());
}

}  // namespace teemu::platform
