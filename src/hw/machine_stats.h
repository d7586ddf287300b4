// Counters of one machine, bumped by every layer and written as JSON by TEEMU_STATS.
// Cumulative counters only grow; gauges (suffix _now) go up and down and must be zero when the
// machine is quiescent.
#pragma once

#include "base/counter.h"

namespace teemu::hw {

struct MachineStats {
  // Every byte of a memref payload copied anywhere in the stack (shadow buffers, bounce buffers,
  // carve-out copies). Zero on the dynamic-SHM path.
  base::Counter payload_bytes_copied;
  // World transitions: an SMC into the secure world and its return each count one.
  base::Counter world_switches;
  base::Counter smc_calls;
  // RPC returns from the secure world served by the normal world.
  base::Counter rpcs;
  // Pages pinned by REE registrations (cumulative) and currently pinned (gauge).
  base::Counter pages_pinned;
  base::Counter pages_pinned_now;
  // Shared-memory registrations with the secure world (cumulative).
  base::Counter shm_registered;
  base::Counter shm_allocated;
  // Page-list pages written by the normal-world driver.
  base::Counter page_list_pages;
  base::Counter sessions_opened;
  base::Counter invokes;
  base::Counter supplicant_requests;
  base::Counter eth_thread_limit_waits;
};

}  // namespace teemu::hw
