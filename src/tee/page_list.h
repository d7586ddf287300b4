// Reading a non-contiguous page list (OPTEE_MSG_ATTR_NONCONTIG) from normal-world memory into a
// private array, with OP-TEE's checks (msg_param_extract_pages / mobj_reg_shm_alloc):
//  - the list address (buf_ptr without its low 12 bits) is a 4 KiB-aligned non-secure page;
//  - size + offset does not overflow and is not zero; num_pages = (size + offset - 1) / 4096 + 1;
//  - every entry is read once, is 4 KiB aligned and names a non-secure RAM frame;
//  - slot 511 of each list page is the next list page, aligned and non-secure.
// A list that loops back on itself is harmless: exactly num_pages entries are read.
#pragma once

#include <cstdint>
#include <vector>

#include "base/addr.h"
#include "base/result.h"

namespace teemu::hw {
class PhysMem;
}

namespace teemu::tee {

// Upper bound on pages in one list: the secure heap would not hold a larger array (OP-TEE fails
// the allocation and answers BAD_PARAMETERS). Stops a 64-bit size from making us allocate.
constexpr uint64_t kMaxPageListPages = 1ull << 24;

struct ExtractedPages {
  std::vector<Pfn> pages;
  uint32_t page_offset = 0;
  // Host address of byte 0 if the frames are contiguous in host memory, else nullptr.
  std::byte* host_base = nullptr;
};

// Errors: TEE_ERROR_BAD_PARAMETERS for any malformed list.
Result<ExtractedPages> extract_page_list(const hw::PhysMem& mem, uint64_t buf_ptr, uint64_t size);

}  // namespace teemu::tee
