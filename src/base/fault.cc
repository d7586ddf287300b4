#include "base/fault.h"

#include "base/checked.h"
#include "base/hot_tls.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace teemu::base {

namespace {

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
struct sigaction g_previous[std::size(kFaultSignals)];
std::atomic<FaultHook> g_hook{nullptr};

// The recovery point of copy_checked on this thread, null when no checked copy is running.
TEEMU_HOT_TLS thread_local JumpBuffer t_recovery;
TEEMU_HOT_TLS thread_local volatile bool t_copying = false;

void handler(int sig, siginfo_t* info, void* uctx) {
  if (t_copying) {
    t_copying = false;
    TEEMU_LONGJMP(t_recovery);
  }
  if (FaultHook hook = g_hook.load(std::memory_order_acquire)) hook(sig, info, uctx);
  for (size_t i = 0; i < std::size(kFaultSignals); ++i) {
    if (kFaultSignals[i] != sig) continue;
    const struct sigaction& prev = g_previous[i];
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
    // Re-raised under the previous disposition when the faulting instruction runs again.
    sigaction(sig, &prev, nullptr);
    return;
  }
}

// Once per process; every checked copy calls it, so the fast path is a function-local static's
// guard (one load), not std::call_once (which writes two thread-locals on every call).
void install() {
  static const bool installed = [] {
    for (size_t i = 0; i < std::size(kFaultSignals); ++i) {
      struct sigaction sa {};
      sa.sa_sigaction = handler;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
      sigemptyset(&sa.sa_mask);
      sigaction(kFaultSignals[i], &sa, &g_previous[i]);
    }
    return true;
  }();
  (void)installed;
}


// The copy itself. Under ASan, memcpy is checked against ASan's shadow first, and an address the
// process does not own (exactly what a checked copy exists to survive) is reported as a wild
// access before it can fault; so the copy there is a plain loop the sanitizer does not see, and a
// bad address faults into the recovery point as it does in a normal build.
#ifdef TEEMU_ASAN
// Out of line for the reason given at touch_pages_for_write.
__attribute__((noinline, no_sanitize("address"))) void copy_bytes(void* dst, const void* src,
                                                                  size_t n) {
  auto* d = static_cast<volatile unsigned char*>(dst);
  auto* s = static_cast<const volatile unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
}
#else
inline void copy_bytes(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }
#endif

__attribute__((noinline)) bool copy_guarded(void* dst, const void* src, size_t n) {
  if (TEEMU_SETJMP(t_recovery) == 0) {
    t_copying = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    copy_bytes(dst, src, n);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_copying = false;
    return true;
  }
  landed_after_jump();
  return false;
}

// The probe itself: an atomic read-modify-write per page that leaves the byte as it is (a write
// access that cannot lose another thread's store). Not instrumented: the pages are the client's, and under ASan their
// first bytes may lie in a redzone of the client's heap.
// Out of line: a fault in it must reach the recovery point through a call, or the compiler may
// treat the jump back as impossible and drop the landing path.
__attribute__((noinline, no_sanitize("address", "thread"))) void touch_pages_for_write(
    char* p, size_t pages) {
  for (size_t i = 0; i < pages; ++i) {
    char* q = p + i * kPageSize;
#if defined(__x86_64__)
    // Written out: clang turns an atomic add of zero whose result is unused into a fenced plain
    // load, which does not fault on a read-only page.
    asm volatile("lock orb $0, (%0)" : : "r"(q) : "memory");
#else
    // A compare-exchange of the byte with itself: a write when it succeeds (and retried when
    // another thread changed the byte in between).
    char v = __atomic_load_n(q, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(q, &v, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
#endif
  }
}

__attribute__((noinline)) bool probe_guarded(char* start, size_t pages) {
  if (TEEMU_SETJMP(t_recovery) == 0) {
    t_copying = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    touch_pages_for_write(start, pages);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_copying = false;
    return true;
  }
  landed_after_jump();
  return false;
}

}  // namespace

bool probe_writable_checked(void* start, size_t pages) {
  if (pages == 0) return true;
  install();
  if (probe_guarded(static_cast<char*>(start), pages)) return true;
  unblock_fault_signals();
  return false;
}

bool copy_checked(void* dst, const void* src, size_t n) {
  if (n == 0) return true;
  install();
  if (copy_guarded(dst, src, n)) return true;
  unblock_fault_signals();
  return false;
}

void set_fault_hook(FaultHook hook) {
  install();
  g_hook.store(hook, std::memory_order_release);
}

void ensure_alt_stack() {
  struct AltStack {
    void* mem = nullptr;
    ~AltStack() {
      if (mem == nullptr) return;
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
      std::free(mem);
    }
  };
  thread_local AltStack alt;
  if (alt.mem != nullptr) return;
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // has one
  constexpr size_t kSize = 64 * 1024;
  alt.mem = std::malloc(kSize);
  if (alt.mem == nullptr) return;
  stack_t ss{};
  ss.ss_sp = alt.mem;
  ss.ss_size = kSize;
  sigaltstack(&ss, nullptr);
}

void landed_after_jump() {
#ifdef TEEMU_ASAN
  __asan_handle_no_return();
#endif
}

void unblock_fault_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kFaultSignals) sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace teemu::base
