// get_user_pages for the REE model: pins a range of the calling process's memory for write and
// gives its pages frame numbers that alias the process's own host pages (zero copy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/addr.h"
#include "base/result.h"

namespace teemu::hw {
class PhysSpace;
}

namespace teemu::ree {

// Highest user address + 1 (x86_64 / arm64 48-bit TASK_SIZE).
constexpr uint64_t kTaskSize = 0x00007ffffffff000ull;

// access_ok(): the range neither wraps nor leaves user space.
bool access_ok(uint64_t addr, uint64_t len);

// copy_from_user / copy_to_user: the calling process's memory as the kernel reaches it. False
// (the caller's -EFAULT) if a byte of the user range is null, outside user space, unmapped, or
// (for copy_to_user) not writable. A bad user pointer is an error value, never a fault in the
// kernel: the copy recovers from a fault (base::copy_checked), as the real uaccess routines do
// with their exception tables.
bool copy_from_user(void* dst, uint64_t src, size_t n);
bool copy_to_user(uint64_t dst, const void* src, size_t n);

// Pins `num_pages` pages from page-aligned `start`. Like pin_user_pages(FOLL_WRITE): every page
// must be mapped writable (EFAULT otherwise: read-only or unmapped memory is refused, which is
// what makes libteec fall back to a shadow buffer). ENOMEM if frames run out.
KResult<std::vector<Pfn>> pin_user_pages(hw::PhysSpace& mem, uint64_t start, uint64_t num_pages);
void unpin_user_pages(hw::PhysSpace& mem, const std::vector<Pfn>& pages);

}  // namespace teemu::ree
