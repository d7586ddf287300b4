// GP TEE Internal Core API functions exported to TAs (C linkage, the names TAs link against).
// Each one that needs the secure OS reaches it through the secure thread running on the calling
// host thread.
#include <sys/random.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "abi/gp.h"
#include "base/assert.h"
#include "tee/secure_os.h"
#include "tee/thread.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/instance_state.h"

using teemu::tee::current_thread;

namespace {

teemu::tee::SecureOs& os() {
  auto* t = current_thread();
  TEEMU_ASSERT(t != nullptr && t->partition != nullptr);
  return t->partition->os();
}

}  // namespace

#define TA_API extern "C" __attribute__((visibility("default")))

struct TeeTime {
  uint32_t seconds;
  uint32_t millis;
};

TA_API void TEE_Panic(uint32_t code) { teemu::ta_runtime::panic_current_ta(code); }

namespace {
teemu::ta_runtime::InstanceState& instance() {
  auto* s = teemu::ta_runtime::current_instance_state();
  if (s == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_STATE);
  return *s;
}
}  // namespace

// TEE_MALLOC_NO_FILL = 1: without it the memory is zeroed. NULL when the instance's heap
// (TA_DATA_SIZE) is exhausted.
TA_API void* TEE_Malloc(size_t size, uint32_t hint) { return instance().alloc(size, (hint & 1) == 0); }

TA_API void* TEE_Realloc(void* buffer, size_t new_size) {
  bool bad = false;
  void* p = instance().realloc(buffer, new_size, &bad);
  if (bad) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
  return p;
}

// Freeing memory the instance did not allocate panics the TA, as a corrupted heap would.
TA_API void TEE_Free(void* buffer) {
  if (!instance().free(buffer)) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
}

TA_API void* TEE_MemMove(void* dest, const void* src, size_t size) {
  return std::memmove(dest, src, size);
}

// Constant time in the contents (as OP-TEE's): a TA comparing a MAC or a PIN leaks nothing
// through how long the comparison took.
TA_API int32_t TEE_MemCompare(const void* a, const void* b, size_t size) {
  const auto* x = static_cast<const volatile uint8_t*>(a);
  const auto* y = static_cast<const volatile uint8_t*>(b);
  int32_t result = 0;
  for (size_t i = size; i-- > 0;) {
    const int32_t d = static_cast<int32_t>(x[i]) - static_cast<int32_t>(y[i]);
    // Keep the sign of the first (lowest-index) differing byte without branching on data.
    const int32_t nonzero = (d | -d) >> 31;  // -1 if d != 0, else 0
    result = (result & ~nonzero) | ((d > 0) - (d < 0)) * (nonzero & 1);
  }
  return result;
}

TA_API void* TEE_MemFill(void* buff, uint32_t x, size_t size) {
  return std::memset(buff, static_cast<int>(x & 0xff), size);
}

TA_API bool TEE_GetCancellationFlag(void) { return os().ta_cancellation_flag(); }
TA_API bool TEE_UnmaskCancellation(void) { return os().ta_set_cancel_mask(false); }
TA_API bool TEE_MaskCancellation(void) { return os().ta_set_cancel_mask(true); }

TA_API uint32_t TEE_Wait(uint32_t timeout) { return os().ta_wait(timeout); }

TA_API void TEE_GetSystemTime(TeeTime* time) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  time->seconds = static_cast<uint32_t>(ts.tv_sec);
  time->millis = static_cast<uint32_t>(ts.tv_nsec / 1000000);
}

TA_API void TEE_GenerateRandom(void* buffer, size_t len) {
  auto* p = static_cast<uint8_t*>(buffer);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n <= 0) TEE_Panic(teemu::abi::TEE_ERROR_GENERIC);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

TA_API void trace_printf(const char* func, int line, int level, bool level_ok, const char* fmt,
                         ...) {
  (void)level_ok;
  static const char* const kLevels[] = {"", "E", "I", "D", "F"};
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "%s/TA: %s:%d %s\n", level >= 0 && level <= 4 ? kLevels[level] : "?", func,
               line, buf);
}
