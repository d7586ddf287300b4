// Bounded busy-waiting, for handoffs between two threads that usually complete within a few
// microseconds: polling then costs less than a sleep and a wake-up, above all when the wake-up
// must bring a halted virtual CPU back (tens of microseconds on a VM). Only worth it while the
// other thread runs on another CPU: spinning on the CPU it needs only delays it.
#pragma once

#include <sched.h>
#include <time.h>

#include <cstdint>

namespace teemu::base {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The CPU the calling thread runs on now (-1 if unknown); a hint, it may change at once.
inline int current_cpu() { return sched_getcpu(); }

// Polls `ready` for at most `budget_ns`; returns its last value.
template <class Pred>
bool spin_until(Pred ready, uint64_t budget_ns) {
  if (ready()) return true;
  if (budget_ns == 0) return false;
  const uint64_t start = monotonic_ns();
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (ready()) return true;
    if (i % 32 == 0 && monotonic_ns() - start > budget_ns) return ready();
  }
}

}  // namespace teemu::base
