#include "base/counter.h"

#include "base/hot_tls.h"

namespace teemu::base {

unsigned counter_shard_index() {
  static std::atomic<unsigned> next{0};
  TEEMU_HOT_TLS thread_local unsigned index =
      next.fetch_add(1, std::memory_order_relaxed) % Counter::kShards;
  return index;
}

}  // namespace teemu::base
