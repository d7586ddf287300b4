// A first-fit range allocator over a fixed region (the genalloc pools of the static carve-out).
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "base/thread_annotations.h"

namespace teemu::ree {

class RangeAllocator {
 public:
  // Manages [0, size) in units rounded up to `granule` (a power of two).
  RangeAllocator(uint64_t size, uint64_t granule);
  // Offset of a block of round_up(size, granule) bytes, or nullopt.
  std::optional<uint64_t> alloc(uint64_t size, uint64_t* rounded) EXCLUDES(lock_);
  void free(uint64_t offset, uint64_t rounded) EXCLUDES(lock_);
  uint64_t in_use() const EXCLUDES(lock_);
  uint64_t granule() const { return granule_; }

 private:
  uint64_t size_;
  uint64_t granule_;
  mutable base::Mutex lock_;
  std::map<uint64_t, uint64_t> free_ GUARDED_BY(lock_);  // offset -> length
  uint64_t used_ GUARDED_BY(lock_) = 0;
};

}  // namespace teemu::ree
