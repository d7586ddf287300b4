#include "base/counter.h"

namespace teemu::base {

unsigned counter_shard_index() {
  static std::atomic<unsigned> next{0};
  thread_local unsigned index = next.fetch_add(1, std::memory_order_relaxed) % Counter::kShards;
  return index;
}

}  // namespace teemu::base
