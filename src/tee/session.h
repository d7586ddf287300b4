// Sessions and TA instances of one partition.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "abi/gp.h"
#include "base/thread_annotations.h"
#include "tee/ta.h"

namespace teemu::tee {

// A live instance of a TA. One entry point runs at a time; other threads wanting to enter sleep
// in the normal world (RPC notification) until woken, as OP-TEE's busy TA contexts do.
class Partition;

class TaContext {
 public:
  explicit TaContext(std::unique_ptr<TaInstance> impl) : impl_(std::move(impl)) {}
  ~TaContext();
  TaInstance& impl() { return *impl_; }
  const TaProperties& props() const { return impl_->properties(); }

  // Entering: one entry point runs at a time. `entry` has kBusy while one runs and kWaiters
  // while `waiters` is not empty (both changed with atomic operations; kWaiters and `waiters`
  // only under `lock`), so that entering and leaving an instance nobody waits for takes no lock:
  // every invoke does both.
  static constexpr uint32_t kBusy = 1, kWaiters = 2;
  std::atomic<uint32_t> entry{0};
  // Sets kBusy if it was clear; false if an entry point is running.
  bool try_take() {
    uint32_t e = entry.load(std::memory_order_relaxed);
    while (!(e & kBusy))
      if (entry.compare_exchange_weak(e, e | kBusy, std::memory_order_acquire)) return true;
    return false;
  }

  base::Mutex lock;
  std::deque<uint32_t> waiters GUARDED_BY(lock);  // wait keys of threads waiting to enter
  uint32_t sessions GUARDED_BY(lock) = 0;
  // Set when an entry point panicked: the instance never runs again.
  std::atomic<bool> dead{false};
  // Set once TA_DestroyEntryPoint ran (or the instance died); the instance is then unloaded.
  bool destroyed GUARDED_BY(lock) = false;
  // Secure memory charged to the owning partition, returned when the instance goes.
  Partition* charged_to = nullptr;
  uint64_t charge = 0;

 private:
  std::unique_ptr<TaInstance> impl_;
};

class Session {
 public:
  Session(uint32_t id, std::shared_ptr<TaContext> ctx) : id_(id), ctx_(std::move(ctx)) {}
  uint32_t id() const { return id_; }
  TaContext& ctx() { return *ctx_; }
  const std::shared_ptr<TaContext>& ctx_ptr() const { return ctx_; }

  // The TA's sessionContext from TA_OpenSessionEntryPoint.
  void* ta_session_ctx = nullptr;
  // Cancellation: `cancelled` is set by OPTEE_MSG_CMD_CANCEL from any thread; the mask belongs to
  // the thread running the TA (GP: masked by default).
  std::atomic<bool> cancelled{false};
  bool cancel_mask = true;
  abi::Uuid client_uuid{};
  uint32_t login = 0;

  // Wait key of the thread sleeping in TEE_Wait for this session, 0 if none.
  base::Mutex wait_lock;
  uint32_t waiting_key GUARDED_BY(wait_lock) = 0;

 private:
  uint32_t id_;
  std::shared_ptr<TaContext> ctx_;
};

// The open sessions of a partition by id. Every invoke looks its session up, so the table is
// split into shards by id, each with its own lock on its own cache line: concurrent clients of
// different sessions do not contend on one lock.
class SessionTable {
 public:
  void insert(std::shared_ptr<Session> s);
  std::shared_ptr<Session> find(uint32_t id) const;
  // Removes and returns the session (null if there is none).
  std::shared_ptr<Session> take(uint32_t id);
  // Removes and returns every session.
  std::vector<std::shared_ptr<Session>> take_all();
  size_t size() const;
  // The ids of the open sessions, sorted (for audits).
  std::vector<uint32_t> ids() const;

 private:
  static constexpr unsigned kShards = 16;
  struct alignas(64) Shard {
    mutable base::Mutex lock;
    std::unordered_map<uint32_t, std::shared_ptr<Session>> by_id GUARDED_BY(lock);
  };
  Shard& shard(uint32_t id) { return shards_[id % kShards]; }
  const Shard& shard(uint32_t id) const { return shards_[id % kShards]; }
  Shard shards_[kShards];
};

}  // namespace teemu::tee
