// The address space of a TA instance as OP-TEE gives it one, for TEE_CheckMemoryAccessRights
// and for the memrefs a TA passes to another TA. teemu's TAs share the host process, so the map
// is a model built from what the runtime knows:
//   - the TA's image: its loaded ELF segments with their permissions (read-only after
//     relocation for RELRO), private;
//   - its heap: the live TEE_Malloc allocations of the instance, private, read-write;
//   - its stack: the frames below the running entry point (at least TA_STACK_SIZE of them),
//     private, read-write;
//   - the memrefs of the entry point that runs (client memory, or what a calling TA passed), not
//     owned by the TA, read-write as OP-TEE maps them.
// Everything else (NULL, the rest of the process) is unmapped as far as the TA is concerned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace teemu::ta_runtime {

// One loaded segment of a TA image (page-aligned bounds).
struct ImageSegment {
  uintptr_t start = 0;
  uintptr_t end = 0;
  bool writable = false;
};

// The segments of the image behind a dlopen handle; empty if it cannot be found.
std::vector<ImageSegment> image_segments(void* dl_handle);

enum class Owner { kPrivate, kShared };

struct Region {
  uintptr_t start = 0;
  uintptr_t end = 0;  // exclusive
  bool writable = false;
  Owner owner = Owner::kPrivate;
};

// The region of the running TA's address space holding `addr`; false if it is unmapped (or no TA
// entry point runs on this thread).
bool find_region(uintptr_t addr, Region* out);

// TEE_CheckMemoryAccessRights for the running TA (TEE_SUCCESS or TEE_ERROR_ACCESS_DENIED):
// every byte of [buffer, buffer + size) mapped with the rights `flags` asks for, and owned by the
// TA unless TEE_MEMORY_ACCESS_ANY_OWNER is set. Size 0 is always allowed.
uint32_t check_access_rights(uint32_t flags, const void* buffer, size_t size);

// Where a memref the running TA passes to another TA lies.
enum class MemrefPlace {
  kPrivate,  // wholly in the TA's own memory: the callee gets a copy
  kShared,   // inside one memref of the running entry point: passed on as it is
};
// Classifies a non-empty memref [buffer, buffer + size); false if it is neither (unmapped, or
// spread over the TA's memory and a memref at once).
bool memref_place(const void* buffer, size_t size, MemrefPlace* out);

}  // namespace teemu::ta_runtime
