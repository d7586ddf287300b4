/* The shm-test TA's byte sum, in one place for the two programs that run it: the TA's SUM command
 * and `teemu bench`'s native loop (zero_copy_vs_native compares them, so they must be the same
 * machine code; both are built at -O2). C and C++. */
#ifndef SHM_TEST_SUM_H
#define SHM_TEST_SUM_H

#include <stddef.h>
#include <stdint.h>

/* Eight independent accumulators so the loop runs at memory speed, in registers: an array of them
 * lives on the stack, where its speed depends on its address relative to the buffer's (4K
 * aliasing of the loads and the accumulator stores). */
static __attribute__((noinline, unused)) uint64_t shm_test_sum_bytes(const uint8_t *b, size_t n) {
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

#endif
