// Always-on invariant checks. A failed TEEMU_ASSERT is a bug in teemu itself (never bad input from
// a less trusted side, which gets an error value): it prints the location and aborts.
#pragma once

namespace teemu::base {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* func);
}  // namespace teemu::base

#define TEEMU_ASSERT(cond)                                                            \
  do {                                                                                \
    if (__builtin_expect(!(cond), 0))                                                 \
      ::teemu::base::assert_fail(#cond, __FILE__, __LINE__, __PRETTY_FUNCTION__);     \
  } while (0)
