// A reader-writer lock for tables that every call reads and few calls change.
#pragma once

#include <mutex>

#include "base/counter.h"
#include "base/thread_annotations.h"

namespace teemu::base {

// std::shared_mutex keeps its readers in one word that every reader writes, so concurrent
// readers on two CPUs pass that cache line back and forth on every lock and unlock. Here a
// reader locks only the shard of its own host thread (base::counter_shard_index()), and a writer
// locks every shard, in order. Readers in different shards never touch one line; readers that
// share a shard (more than 16 host threads) exclude each other, so a read section must be short
// and must not take the lock again. Clang's thread-safety analysis sees a ReadLock as a shared
// hold and a WriteLock as an exclusive one.
class CAPABILITY("mutex") ReadMostlyMutex {
 public:
  class SCOPED_CAPABILITY ReadLock {
   public:
    explicit ReadLock(const ReadMostlyMutex& m) ACQUIRE_SHARED(m)
        : shard_(m.shards_[counter_shard_index() % kShards].m) {
      shard_.lock();
    }
    ~ReadLock() RELEASE() { shard_.unlock(); }
    ReadLock(const ReadLock&) = delete;
    ReadLock& operator=(const ReadLock&) = delete;

   private:
    std::mutex& shard_;
  };

  class SCOPED_CAPABILITY WriteLock {
   public:
    explicit WriteLock(const ReadMostlyMutex& m) ACQUIRE(m) : m_(m) {
      for (auto& s : m_.shards_) s.m.lock();
    }
    ~WriteLock() RELEASE() {
      for (unsigned i = kShards; i-- > 0;) m_.shards_[i].m.unlock();
    }
    WriteLock(const WriteLock&) = delete;
    WriteLock& operator=(const WriteLock&) = delete;

   private:
    const ReadMostlyMutex& m_;
  };

 private:
  static constexpr unsigned kShards = Counter::kShards;
  struct alignas(64) Shard {
    mutable std::mutex m;
  };
  Shard shards_[kShards];
};

}  // namespace teemu::base
