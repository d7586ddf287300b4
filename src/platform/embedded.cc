#include "platform/embedded.h"

#include <cstdio>
#include <string>

namespace teemu::platform {

namespace {
// Intentionally never destroyed: client threads may still be inside a call while static
// destructors run at exit, and the process's memory goes with it anyway.
Machine* g_machine = nullptr;

Machine* boot() {
  auto config = load_config();
  if (!config) {
    std::fprintf(stderr, "teemu: configuration error: %s\n", config.error().message.c_str());
    return nullptr;
  }
  std::string error;
  auto m = Machine::create(*config, &error);
  if (!m) {
    std::fprintf(stderr, "teemu: cannot boot the machine: %s\n", error.c_str());
    return nullptr;
  }
  g_machine = m.release();
  return g_machine;
}

}  // namespace

// Called on every client call: a function-local static boots the machine once, and its fast
// path is one load (std::call_once writes two thread-locals on every call).
Machine* embedded_machine() {
  static Machine* const machine = boot();
  return machine;
}

void embedded_context_finalized() {
  Machine* m = g_machine;
  if (m == nullptr || m->config().stats_file.empty()) return;
  if (!m->write_stats(m->config().stats_file))
    std::fprintf(stderr, "teemu: cannot write stats to %s\n", m->config().stats_file.c_str());
}

}  // namespace teemu::platform
