// `teemu soak`: a bounded-time randomized soak of the whole stack with a data check on every
// buffer and the quiescence audit at the end.
#pragma once

#include <cstdint>

namespace teemu::tool {

struct SoakOptions {
  double seconds = 10;
  uint32_t threads = 4;   // client threads (per guest with --guests)
  uint32_t guests = 0;    // 0: no hypervisor
  uint64_t seed = 1;
  bool churn_guest = true;  // with guests: destroy and recreate the last guest repeatedly
};

int run_soak(const SoakOptions& opts);

}  // namespace teemu::tool
