// GP TEE Internal Core API memory functions beyond the allocator (TEE_CheckMemoryAccessRights,
// instance data) and the GP 1.1 (__GP11_) variants of the memory functions, whose sizes were
// uint32_t (OP-TEE's tee_api_compat.h renames them for TAs built in 1.1 mode).
#include <cstddef>
#include <cstdint>

#include "ta_runtime/entry.h"
#include "ta_runtime/ta_memory.h"

#define TA_API extern "C" __attribute__((visibility("default")))

// Implemented in api_core.cc.
extern "C" {
void TEE_Panic(uint32_t code);
void* TEE_Malloc(size_t size, uint32_t hint);
void* TEE_Realloc(void* buffer, size_t new_size);
void* TEE_MemMove(void* dest, const void* src, size_t size);
int32_t TEE_MemCompare(const void* a, const void* b, size_t size);
void* TEE_MemFill(void* buff, uint32_t x, size_t size);
}

namespace {

teemu::ta_runtime::DlTaInstance& running_instance() {
  auto* inst = teemu::ta_runtime::current_instance();
  if (inst == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_STATE);
  return *inst;
}

}  // namespace

// GP 1.3.1 7.1.1 with OP-TEE's semantics: TEE_ERROR_ACCESS_DENIED unless every byte is mapped in
// the TA with the rights asked for and (without TEE_MEMORY_ACCESS_ANY_OWNER) owned by the TA, so
// a memref a client shares fails a plain READ check (xtest's os_test asserts it).
TA_API uint32_t TEE_CheckMemoryAccessRights(uint32_t accessFlags, void* buffer, size_t size) {
  running_instance();
  return teemu::ta_runtime::check_access_rights(accessFlags, buffer, size);
}

TA_API uint32_t __GP11_TEE_CheckMemoryAccessRights(uint32_t accessFlags, void* buffer,
                                                   uint32_t size) {
  return TEE_CheckMemoryAccessRights(accessFlags, buffer, size);
}

TA_API void TEE_SetInstanceData(const void* instanceData) {
  running_instance().instance_data = instanceData;
}

TA_API const void* TEE_GetInstanceData(void) { return running_instance().instance_data; }

TA_API void* __GP11_TEE_Malloc(uint32_t size, uint32_t hint) { return TEE_Malloc(size, hint); }

TA_API void* __GP11_TEE_Realloc(void* buffer, uint32_t new_size) {
  return TEE_Realloc(buffer, new_size);
}

TA_API void* __GP11_TEE_MemMove(void* dest, const void* src, uint32_t size) {
  return TEE_MemMove(dest, src, size);
}

TA_API int32_t __GP11_TEE_MemCompare(const void* a, const void* b, uint32_t size) {
  return TEE_MemCompare(a, b, size);
}

TA_API void* __GP11_TEE_MemFill(void* buff, uint32_t x, uint32_t size) {
  return TEE_MemFill(buff, x, size);
}
