#include "ree/pool.h"

#include "base/assert.h"
#include "base/checked.h"

namespace teemu::ree {

RangeAllocator::RangeAllocator(uint64_t size, uint64_t granule) : size_(size), granule_(granule) {
  TEEMU_ASSERT(granule != 0 && (granule & (granule - 1)) == 0);
  base::MutexLock lock(lock_);
  if (size_ != 0) free_.emplace(0, size_);
}

std::optional<uint64_t> RangeAllocator::alloc(uint64_t size, uint64_t* rounded) {
  if (size == 0 || size > size_) return std::nullopt;
  const uint64_t r = (size + granule_ - 1) & ~(granule_ - 1);
  base::MutexLock lock(lock_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < r) continue;
    uint64_t off = it->first;
    uint64_t left = it->second - r;
    free_.erase(it);
    if (left != 0) free_.emplace(off + r, left);
    used_ += r;
    *rounded = r;
    return off;
  }
  return std::nullopt;
}

void RangeAllocator::free(uint64_t offset, uint64_t rounded) {
  base::MutexLock lock(lock_);
  used_ -= rounded;
  auto [it, inserted] = free_.emplace(offset, rounded);
  TEEMU_ASSERT(inserted);
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

uint64_t RangeAllocator::in_use() const {
  base::MutexLock lock(lock_);
  return used_;
}

}  // namespace teemu::ree
