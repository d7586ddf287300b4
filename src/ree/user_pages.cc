#include "ree/user_pages.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/checked.h"
#include "base/fault.h"
#include "base/log.h"
#include "hw/phys_space.h"

namespace teemu::ree {

namespace {

// Above this many pages one scan of /proc/self/maps is cheaper than faulting every page in.
constexpr uint64_t kMapsScanThreshold = 4096;

// True if every byte of [start, end) is covered by writable mappings.
bool writable_by_maps(uint64_t start, uint64_t end) {
  FILE* f = std::fopen("/proc/self/maps", "re");
  if (f == nullptr) return false;
  char line[512];
  uint64_t covered = start;
  while (covered < end && std::fgets(line, sizeof(line), f) != nullptr) {
    uint64_t lo, hi;
    char perms[5] = {};
    if (std::sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s", &lo, &hi, perms) != 3) continue;
    if (hi <= covered) continue;
    if (lo > covered) break;  // hole
    if (perms[1] != 'w') break;
    covered = hi;
  }
  std::fclose(f);
  return covered >= end;
}

// Every page of [start, start + len) mapped writable, faulted in for writing as get_user_pages
// with FOLL_WRITE does. Up to kMapsScanThreshold pages, one fault-checked atomic write of the same byte per page
// (as copy_to_user would take a fault: no system call, no page-table lock per page, a third of
// what MADV_POPULATE_WRITE cost for a 1 MiB temporary memref); beyond, one scan of the mappings.
bool check_writable(uint64_t start, uint64_t len) {
  uint64_t pages = len >> base::kPageShift;
  if (pages <= kMapsScanThreshold)
    return base::probe_writable_checked(reinterpret_cast<void*>(start), pages);
  return writable_by_maps(start, start + len);
}

}  // namespace

bool access_ok(uint64_t addr, uint64_t len) {
  auto end = base::checked_add<uint64_t>(addr, len);
  return end && *end <= kTaskSize;
}

namespace {

// One user copy, fault-checked like the kernel's uaccess routines with their exception tables:
// a bad user pointer is EFAULT (false), never a fault in the kernel.
bool user_copy(void* local, uint64_t remote, size_t n, bool write) {
  if (n == 0) return true;
  if (remote == 0 || !access_ok(remote, n)) return false;
  void* r = reinterpret_cast<void*>(remote);
  return write ? base::copy_checked(r, local, n) : base::copy_checked(local, r, n);
}

}  // namespace

bool copy_from_user(void* dst, uint64_t src, size_t n) { return user_copy(dst, src, n, false); }

bool copy_to_user(uint64_t dst, const void* src, size_t n) {
  return user_copy(const_cast<void*>(src), dst, n, true);
}

KResult<std::vector<Pfn>> pin_user_pages(hw::PhysSpace& mem, uint64_t start, uint64_t num_pages) {
  if (!check_writable(start, num_pages << base::kPageShift)) return fail_errno(EFAULT);
  std::vector<Pfn> pages(num_pages);
  auto r = mem.alias_pages(start, pages);
  if (!r) return tl::unexpected(r.error());
  return pages;
}

void unpin_user_pages(hw::PhysSpace& mem, const std::vector<Pfn>& pages) { mem.unalias_pages(pages); }

}  // namespace teemu::ree
