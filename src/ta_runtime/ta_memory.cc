#include "ta_runtime/ta_memory.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstring>

#include "abi/gp.h"
#include "base/checked.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/gp_types.h"

namespace teemu::ta_runtime {

namespace {

constexpr uintptr_t kPage = 4096;
uintptr_t page_down(uintptr_t a) { return a & ~(kPage - 1); }
uintptr_t page_up(uintptr_t a) { return (a + kPage - 1) & ~(kPage - 1); }

struct PhdrSearch {
  const link_map* lm;
  std::vector<ImageSegment> out;
};

int collect_segments(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<PhdrSearch*>(data);
  if (info->dlpi_addr != search->lm->l_addr || info->dlpi_name == nullptr ||
      search->lm->l_name == nullptr || std::strcmp(info->dlpi_name, search->lm->l_name) != 0)
    return 0;
  const uintptr_t base = info->dlpi_addr;
  uintptr_t relro_start = 0, relro_end = 0;
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_GNU_RELRO) {
      // The loader makes whole pages of it read-only once relocation is done.
      relro_start = page_down(base + ph.p_vaddr);
      relro_end = page_down(base + ph.p_vaddr + ph.p_memsz);
    }
  }
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0 || !(ph.p_flags & PF_R)) continue;
    const uintptr_t start = page_down(base + ph.p_vaddr);
    const uintptr_t end = page_up(base + ph.p_vaddr + ph.p_memsz);
    const bool writable = (ph.p_flags & PF_W) != 0;
    if (writable && relro_start < relro_end && relro_start < end && relro_end > start) {
      if (start < relro_start) search->out.push_back({start, relro_start, true});
      search->out.push_back({std::max(start, relro_start), std::min(end, relro_end), false});
      if (relro_end < end) search->out.push_back({relro_end, end, true});
    } else {
      search->out.push_back({start, end, writable});
    }
  }
  return 1;
}

bool within(uintptr_t addr, uintptr_t start, uintptr_t end) { return addr >= start && addr < end; }

}  // namespace

std::vector<ImageSegment> image_segments(void* dl_handle) {
  link_map* lm = nullptr;
  if (dl_handle == nullptr || dlinfo(dl_handle, RTLD_DI_LINKMAP, &lm) != 0 || lm == nullptr)
    return {};
  PhdrSearch search{lm, {}};
  dl_iterate_phdr(&collect_segments, &search);
  std::sort(search.out.begin(), search.out.end(),
            [](const ImageSegment& a, const ImageSegment& b) { return a.start < b.start; });
  return search.out;
}

bool find_region(uintptr_t addr, Region* out) {
  DlTaInstance* inst = current_instance();
  if (inst == nullptr || addr == 0) return false;
  // The memrefs of the running entry point: memory the TA does not own.
  if (const tee::TaParams* params = current_call_params()) {
    for (unsigned i = 0; i < abi::TEE_NUM_PARAMS; ++i) {
      const uint32_t type = params->type(i);
      if (type < abi::TEE_PARAM_TYPE_MEMREF_INPUT || type > abi::TEE_PARAM_TYPE_MEMREF_INOUT)
        continue;
      const auto start = reinterpret_cast<uintptr_t>(params->p[i].buffer);
      const size_t size = params->p[i].size;
      if (start == 0 || size == 0 || size > UINTPTR_MAX - start) continue;
      if (within(addr, start, start + size)) {
        *out = {start, start + size, true, Owner::kShared};
        return true;
      }
    }
  }
  for (const ImageSegment& s : inst->image()) {
    if (within(addr, s.start, s.end)) {
      *out = {s.start, s.end, s.writable, Owner::kPrivate};
      return true;
    }
  }
  // The stack: from below the deepest frame that may be live (at least the TA's declared stack
  // size) up to the frame that called the entry point.
  const auto top = reinterpret_cast<uintptr_t>(current_entry_frame());
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const uintptr_t declared = inst->properties().stack_size;
  uintptr_t bottom = declared < top ? top - declared : 0;
  if (here < bottom) bottom = here;
  if (within(addr, bottom, top)) {
    *out = {bottom, top, true, Owner::kPrivate};
    return true;
  }
  const void* block = nullptr;
  size_t size = 0;
  if (inst->state().find_allocation(reinterpret_cast<const void*>(addr), &block, &size)) {
    const auto start = reinterpret_cast<uintptr_t>(block);
    *out = {start, start + size, true, Owner::kPrivate};
    return true;
  }
  return false;
}

uint32_t check_access_rights(uint32_t flags, const void* buffer, size_t size) {
  if (size == 0) return abi::TEE_SUCCESS;
  const auto start = reinterpret_cast<uintptr_t>(buffer);
  if (size > UINTPTR_MAX - start) return abi::TEE_ERROR_ACCESS_DENIED;
  // Secure and non-secure at once contradicts itself (OP-TEE's vm_check_access_rights).
  if ((flags & gp::kAccessNonSecure) && (flags & gp::kAccessSecure))
    return abi::TEE_ERROR_ACCESS_DENIED;
  const uintptr_t end = start + size;
  for (uintptr_t pos = start; pos < end;) {
    Region r;
    if (!find_region(pos, &r)) return abi::TEE_ERROR_ACCESS_DENIED;
    if ((flags & gp::kAccessWrite) && !r.writable) return abi::TEE_ERROR_ACCESS_DENIED;
    if (!(flags & gp::kAccessAnyOwner) && r.owner != Owner::kPrivate)
      return abi::TEE_ERROR_ACCESS_DENIED;
    // The TA's own memory is secure; what the entry point received is the client's.
    if ((flags & gp::kAccessSecure) && r.owner == Owner::kShared)
      return abi::TEE_ERROR_ACCESS_DENIED;
    if ((flags & gp::kAccessNonSecure) && r.owner == Owner::kPrivate)
      return abi::TEE_ERROR_ACCESS_DENIED;
    pos = r.end;
  }
  return abi::TEE_SUCCESS;
}

bool memref_place(const void* buffer, size_t size, MemrefPlace* out) {
  const auto start = reinterpret_cast<uintptr_t>(buffer);
  if (size == 0 || size > UINTPTR_MAX - start) return false;
  const uintptr_t end = start + size;
  Region first;
  if (!find_region(start, &first)) return false;
  if (first.owner == Owner::kShared) {
    if (end > first.end) return false;
    *out = MemrefPlace::kShared;
    return true;
  }
  for (uintptr_t pos = first.end; pos < end;) {
    Region r;
    if (!find_region(pos, &r) || r.owner != Owner::kPrivate) return false;
    pos = r.end;
  }
  *out = MemrefPlace::kPrivate;
  return true;
}

}  // namespace teemu::ta_runtime
