#include "bench_sum.h"

namespace teemu::tool::bench {

// Keep this loop identical to sum_bytes in tas/shm_test/shm_test_ta.c.
__attribute__((noinline)) uint64_t native_sum(const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  size_t i = 0;
  /* Eight independent accumulators so the loop runs at memory speed. */
  uint64_t s[8] = {0};
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += b[i + k];
  for (int k = 0; k < 8; k++) sum += s[k];
  for (; i < n; i++) sum += b[i];
  return sum;
}

__attribute__((noinline)) uint64_t native_sum_at(const uint8_t* b, size_t n,
                                                 size_t stack_offset) {
  volatile char* pad = static_cast<volatile char*>(__builtin_alloca(stack_offset + 1));
  pad[0] = 0;  // keeps the allocation
  return native_sum(b, n);
}

}  // namespace teemu::tool::bench
