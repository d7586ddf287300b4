// `teemu demo --guests N`: the hypervisor part of the demo.
#pragma once

#include <cstdint>

namespace teemu::tool {

// Runs a workload in every guest of an N-guest machine at once, destroys one guest in the
// middle of its calls, and shows per-guest figures. Returns the exit status.
int run_guest_demo(uint32_t guests, double seconds);

}  // namespace teemu::tool
