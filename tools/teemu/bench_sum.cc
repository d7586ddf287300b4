#include "bench_sum.h"

#include "../../tas/shm_test/include/shm_test_sum.h"

namespace teemu::tool::bench {

// The TA's own loop, from the same source (zero_copy_vs_native compares the two).
uint64_t native_sum(const uint8_t* b, size_t n) { return shm_test_sum_bytes(b, n); }

__attribute__((noinline)) uint64_t native_sum_at(const uint8_t* b, size_t n,
                                                 size_t stack_offset) {
  volatile char* pad = static_cast<volatile char*>(__builtin_alloca(stack_offset + 1));
  pad[0] = 0;  // keeps the allocation
  return native_sum(b, n);
}

}  // namespace teemu::tool::bench
