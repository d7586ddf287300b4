// Strong address types: a guest IPA can never be passed where a machine physical address is
// expected, and neither can be confused with a host pointer.
#pragma once

#include <compare>
#include <cstdint>

namespace teemu {

template <class Tag>
struct StrongU64 {
  uint64_t value = 0;
  constexpr StrongU64() = default;
  constexpr explicit StrongU64(uint64_t v) : value(v) {}
  friend constexpr auto operator<=>(const StrongU64&, const StrongU64&) = default;
};

// Machine physical address (what the secure world sees).
using PhysAddr = StrongU64<struct PhysAddrTag>;
// Guest intermediate physical address (what a guest kernel believes is physical).
using Ipa = StrongU64<struct IpaTag>;

// Machine page frame number. 32 bits cover 16 TiB of frames, and keep per-page metadata small.
using Pfn = uint32_t;

constexpr PhysAddr pfn_to_pa(Pfn pfn) { return PhysAddr{static_cast<uint64_t>(pfn) << 12}; }
constexpr Pfn pa_to_pfn(PhysAddr pa) { return static_cast<Pfn>(pa.value >> 12); }

}  // namespace teemu
