#include "base/fault_inject.h"

namespace teemu::base {

namespace {
std::atomic<int> g_site{-1};
std::atomic<uint64_t> g_target{0};
std::atomic<uint64_t> g_counts[static_cast<int>(FaultSite::kCount)];
std::atomic<bool> g_fired{false};
}  // namespace

std::atomic<bool> FaultInjector::armed_{false};

const char* fault_site_name(FaultSite site) {
  switch (site) {
    case FaultSite::kNsPageAlloc: return "ns-page-alloc";
    case FaultSite::kPin: return "pin";
    case FaultSite::kRpc: return "rpc";
    case FaultSite::kSupplicant: return "supplicant";
    case FaultSite::kTaHeap: return "ta-heap";
    default: return "?";
  }
}

void FaultInjector::arm(FaultSite site, uint64_t k) {
  for (auto& c : g_counts) c.store(0);
  g_fired.store(false);
  g_site.store(static_cast<int>(site));
  g_target.store(k);
  armed_.store(true);
}

void FaultInjector::disarm() {
  armed_.store(false);
  g_site.store(-1);
}

uint64_t FaultInjector::count(FaultSite site) {
  return g_counts[static_cast<int>(site)].load();
}

bool FaultInjector::fired() { return g_fired.load(); }

bool FaultInjector::slow_path(FaultSite site) {
  if (g_site.load() != static_cast<int>(site)) return false;
  const uint64_t n = g_counts[static_cast<int>(site)].fetch_add(1) + 1;
  if (n != g_target.load()) return false;
  g_fired.store(true);
  return true;
}

}  // namespace teemu::base
