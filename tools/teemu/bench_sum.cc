#include "bench_sum.h"

namespace teemu::tool::bench {

// Keep this loop identical to sum_bytes in tas/shm_test/shm_test_ta.c.
__attribute__((noinline)) uint64_t native_sum(const uint8_t* b, size_t n) {
  /* Eight independent accumulators so the loop runs at memory speed, in registers: an array of
   * them lives on the stack, where its speed depends on its address relative to the buffer's
   * (4K aliasing of the loads and the accumulator stores). */
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += b[i];
    s1 += b[i + 1];
    s2 += b[i + 2];
    s3 += b[i + 3];
    s4 += b[i + 4];
    s5 += b[i + 5];
    s6 += b[i + 6];
    s7 += b[i + 7];
  }
  uint64_t sum = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
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
