// The client-side twin of the shm-test TA's SUM (tas/shm_test/shm_test_ta.c, cmd_sum), for
// zero_copy_vs_native: the same loop, compiled with the same optimization level as the TA (-O2,
// set in tools/teemu/CMakeLists.txt), so the ratio compares where the bytes are read, not how.
#pragma once

#include <cstddef>
#include <cstdint>

namespace teemu::tool::bench {

// Sum of the bytes b[0..n).
uint64_t native_sum(const uint8_t* b, size_t n);

// native_sum called with its stack frame moved down by `stack_offset` bytes. The loop keeps its
// eight accumulators in a stack array, and its speed depends on where that array sits relative to
// the buffer in the low 12 address bits (4K aliasing between the loads of the buffer and the
// stores to the accumulators): up to ±13% on the machine of docs/performance.md. The TA's array
// sits at one fixed place in its fiber stack; the client's moves with ASLR from process to
// process, so the report spreads the client's loop over offsets instead of taking one at random.
uint64_t native_sum_at(const uint8_t* b, size_t n, size_t stack_offset);

}  // namespace teemu::tool::bench
