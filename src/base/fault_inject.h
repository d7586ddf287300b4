// Fault injection for tests and `teemu soak`: a switch that makes the k-th operation at one site
// fail, so a sweep over k shows that every failure on a path ends in a clean error and a
// quiescent machine. Sites are checked with one relaxed load when nothing is armed.
#pragma once

#include <atomic>
#include <cstdint>

namespace teemu::base {

enum class FaultSite : int {
  kNsPageAlloc = 0,  // a normal-world kernel page (hw::PhysMem::alloc_ns_page)
  kPin,              // pinning / aliasing frames (hw::PhysMem::alias_host_pages)
  kRpc,              // the normal world serving an RPC command (the driver fails it)
  kSupplicant,       // tee-supplicant's reply to a request
  kTaHeap,           // a TA's TEE_Malloc
  kCount
};

const char* fault_site_name(FaultSite site);

class FaultInjector {
 public:
  // From now on, count operations at `site`; the k-th (1-based) fails, once. k = 0 only counts.
  static void arm(FaultSite site, uint64_t k);
  static void disarm();
  // Operations seen at `site` since arm().
  static uint64_t count(FaultSite site);
  // Whether the injected fault fired since arm().
  static bool fired();

  // Called at each site: true if this operation must fail.
  static bool should_fail(FaultSite site) {
    if (!armed_.load(std::memory_order_relaxed)) return false;
    return slow_path(site);
  }

 private:
  static bool slow_path(FaultSite site);
  static std::atomic<bool> armed_;
};

}  // namespace teemu::base
