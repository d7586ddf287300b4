// The client-side twin of the shm-test TA's SUM (tas/shm_test/shm_test_ta.c, cmd_sum), for
// zero_copy_vs_native: the same loop, compiled with the same optimization level as the TA (-O2,
// set in tools/teemu/CMakeLists.txt), so the ratio compares where the bytes are read, not how.
#pragma once

#include <cstddef>
#include <cstdint>

namespace teemu::tool::bench {

// Sum of the bytes b[0..n).
uint64_t native_sum(const uint8_t* b, size_t n);

}  // namespace teemu::tool::bench
