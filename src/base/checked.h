// Overflow-safe arithmetic and the one bounds-check idiom used everywhere:
// a range [off, off + size) lies within a length `len` iff off <= len && size <= len - off.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>

namespace teemu::base {

template <class T>
std::optional<T> checked_add(T a, T b) {
  static_assert(std::is_unsigned_v<T>);
  T r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

template <class T>
std::optional<T> checked_mul(T a, T b) {
  static_assert(std::is_unsigned_v<T>);
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// True iff [off, off + size) is inside [0, len). Cannot overflow.
template <class T>
constexpr bool range_within(T off, T size, T len) {
  static_assert(std::is_unsigned_v<T>);
  return off <= len && size <= len - off;
}

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPageShift = 12;
constexpr uint64_t kPageMask = kPageSize - 1;

constexpr uint64_t page_round_down(uint64_t v) { return v & ~kPageMask; }
// Caller guarantees v + kPageMask does not overflow (true for every user address on x86_64).
constexpr uint64_t page_round_up(uint64_t v) { return (v + kPageMask) & ~kPageMask; }
constexpr bool page_aligned(uint64_t v) { return (v & kPageMask) == 0; }

// Number of 4 KiB pages spanned by [addr, addr + len), or nullopt if the end overflows.
inline std::optional<uint64_t> pages_spanned(uint64_t addr, uint64_t len) {
  auto end = checked_add<uint64_t>(addr, len);
  if (!end || *end > ~kPageMask) return std::nullopt;
  return (page_round_up(*end) - page_round_down(addr)) >> kPageShift;
}

}  // namespace teemu::base
