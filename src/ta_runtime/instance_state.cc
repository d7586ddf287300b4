#include "ta_runtime/instance_state.h"

#include <cstdlib>
#include <cstring>

#include "base/fault.h"
#include "base/fault_inject.h"

namespace teemu::ta_runtime {

// Header in front of every TA allocation; keeps user memory 16-byte aligned.
struct alignas(16) InstanceState::Block {
  uint64_t magic;
  size_t size;
  InstanceState* owner;
  Block* prev;
  Block* next;
};

namespace {
constexpr uint64_t kMagic = 0x7465656d75686561ull;  // "teemuhea"
}

InstanceState::~InstanceState() {
  objects_.clear();
  while (blocks_ != nullptr) {
    Block* b = blocks_;
    blocks_ = b->next;
    b->magic = 0;
    std::free(b);
  }
}

void* InstanceState::alloc(size_t size, bool zero) {
  if (base::FaultInjector::should_fail(base::FaultSite::kTaHeap)) return nullptr;
  if (size > SIZE_MAX - sizeof(Block)) return nullptr;
  if (heap_limit_ != 0 && (size > heap_limit_ || used_ > heap_limit_ - size)) return nullptr;
  auto* b = static_cast<Block*>(std::malloc(sizeof(Block) + (size == 0 ? 1 : size)));
  if (b == nullptr) return nullptr;
  *b = Block{kMagic, size, this, nullptr, blocks_};
  if (blocks_ != nullptr) blocks_->prev = b;
  blocks_ = b;
  used_ += size;
  void* p = b + 1;
  if (zero) std::memset(p, 0, size);
  return p;
}

// Whether `p` is a live allocation of `owner`. The header is read with a fault-checked copy: a
// TA may pass any pointer at all.
bool InstanceState::owns(const void* p) const {
  Block header;
  if (!base::copy_checked(&header, static_cast<const Block*>(p) - 1, sizeof(header))) return false;
  return header.magic == kMagic && header.owner == this;
}

bool InstanceState::find_allocation(const void* p, const void** start, size_t* size) const {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  for (const Block* b = blocks_; b != nullptr; b = b->next) {
    const auto begin = reinterpret_cast<uintptr_t>(b + 1);
    if (addr >= begin && addr - begin < b->size) {
      *start = b + 1;
      *size = b->size;
      return true;
    }
  }
  return false;
}

bool InstanceState::free(void* p) {
  if (p == nullptr) return true;
  if (!owns(p)) return false;
  Block* b = static_cast<Block*>(p) - 1;
  if (b->prev != nullptr) b->prev->next = b->next;
  if (b->next != nullptr) b->next->prev = b->prev;
  if (blocks_ == b) blocks_ = b->next;
  used_ -= b->size;
  b->magic = 0;
  std::free(b);
  return true;
}

void* InstanceState::realloc(void* p, size_t size, bool* bad_pointer) {
  *bad_pointer = false;
  if (p == nullptr) return alloc(size, false);
  if (!owns(p)) {
    *bad_pointer = true;
    return nullptr;
  }
  Block* b = static_cast<Block*>(p) - 1;
  void* n = alloc(size, false);
  if (n == nullptr) return nullptr;
  std::memcpy(n, p, b->size < size ? b->size : size);
  free(p);
  return n;
}

}  // namespace teemu::ta_runtime
