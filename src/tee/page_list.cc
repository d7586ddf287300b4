#include "tee/page_list.h"

#include <cstring>

#include "abi/optee_msg.h"
#include "base/checked.h"
#include "hw/phys_mem.h"

namespace teemu::tee {

namespace {

// The frame of `pa` if it is a page-aligned non-secure RAM page. Frame numbers are 32 bits: a PA
// beyond the frame space is refused, never truncated onto the frame its low bits name.
bool ns_page(const hw::PhysMem& mem, uint64_t pa, Pfn* pfn, std::byte** host) {
  if (!base::page_aligned(pa)) return false;
  *pfn = pa_to_pfn(PhysAddr{pa});
  if ((pa >> base::kPageShift) != *pfn) return false;
  auto f = mem.frame(*pfn);
  if (!hw::PhysMem::is_nonsecure_ram(f.bank)) return false;
  *host = f.host;
  return true;
}

// Host address of a list page, if `pa` is an aligned non-secure RAM page.
const std::byte* map_list_page(const hw::PhysMem& mem, uint64_t pa) {
  Pfn pfn;
  std::byte* host = nullptr;
  return ns_page(mem, pa, &pfn, &host) ? host : nullptr;
}

}  // namespace

Result<ExtractedPages> extract_page_list(const hw::PhysMem& mem, uint64_t buf_ptr, uint64_t size) {
  const auto bad = [] { return fail(abi::TEE_ERROR_BAD_PARAMETERS); };
  ExtractedPages out;
  out.page_offset = static_cast<uint32_t>(buf_ptr & base::kPageMask);
  auto total = base::checked_add<uint64_t>(size, out.page_offset);
  if (!total || *total == 0) return bad();
  uint64_t num_pages = (*total - 1) / base::kPageSize + 1;
  if (num_pages > kMaxPageListPages) return bad();
  out.pages.resize(num_pages);

  const std::byte* list = map_list_page(mem, buf_ptr & ~base::kPageMask);
  if (list == nullptr) return bad();
  size_t slot = 0;
  std::byte* expected_host = nullptr;
  bool contiguous = true;
  for (uint64_t i = 0; i < num_pages; ++i) {
    if (slot == abi::kPageListEntriesPerPage) {
      uint64_t next;
      std::memcpy(&next, list + slot * sizeof(uint64_t), sizeof(next));
      list = map_list_page(mem, next);
      if (list == nullptr) return bad();
      slot = 0;
    }
    uint64_t entry;
    std::memcpy(&entry, list + slot * sizeof(uint64_t), sizeof(entry));
    ++slot;
    Pfn pfn;
    std::byte* host = nullptr;
    if (!ns_page(mem, entry, &pfn, &host)) return bad();
    out.pages[i] = pfn;
    if (i == 0)
      expected_host = host;
    else if (contiguous && host != expected_host)
      contiguous = false;
    expected_host = host + base::kPageSize;
  }
  if (contiguous) out.host_base = mem.frame(out.pages[0]).host + out.page_offset;
  return out;
}

}  // namespace teemu::tee
