// Statistics counters that many host threads bump on hot paths. Each counter is split into
// cache-line-sized shards indexed by a per-thread slot, so two client threads never contend on
// one line; reads sum the shards (exact once writers are quiescent).
#pragma once

#include <atomic>
#include <cstdint>

namespace teemu::base {

// Index of the calling thread's shard, assigned round-robin on first use.
unsigned counter_shard_index();

class Counter {
 public:
  static constexpr unsigned kShards = 16;

  void add(int64_t n = 1) {
    slots_[counter_shard_index()].v.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  void sub(int64_t n = 1) { add(-n); }
  // Sum over the shards; for gauges this is the current level.
  int64_t get() const {
    uint64_t s = 0;
    for (const auto& slot : slots_) s += slot.v.load(std::memory_order_relaxed);
    return static_cast<int64_t>(s);
  }
  void reset() {
    for (auto& slot : slots_) slot.v.store(0, std::memory_order_relaxed);
  }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> v{0};
  };
  Slot slots_[kShards];
};

}  // namespace teemu::base
