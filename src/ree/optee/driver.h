// The OP-TEE driver of the REE model (drivers/tee/optee, SMC ABI): probe and capability
// exchange, shared-memory pools (static carve-out and dynamic pages), message construction
// (TMEM/RMEM/NONCONTIG page lists), REGISTER_SHM/UNREGISTER_SHM, the call loop with its RPC
// handling and ETHREAD_LIMIT retry, notifications and the supplicant queue.
//
// Everything that comes back from the secure world on RPC is treated as untrusted: cookies are
// looked up, never dereferenced; sizes and counts are bounded; bad requests get the real error.
#pragma once

#include <chrono>
#include <atomic>
#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "base/counter.h"
#include "base/thread_annotations.h"
#include "ree/optee/supp.h"
#include "ree/pool.h"
#include "ree/tee_types.h"

namespace teemu::hw {
class PhysSpace;
class SmcHandler;
struct MachineStats;
}  // namespace teemu::hw

namespace teemu::ree::optee {

// Per-context data: the sessions this context opened (optee_context_data.sess_list).
class ContextData;

class Driver : public TeeDriver {
 public:
  Driver(hw::PhysSpace& mem, hw::SmcHandler& conduit, hw::MachineStats& stats);
  ~Driver() override;

  // optee_probe: CALLS_UID, GET_OS_REVISION, CALLS_REVISION, EXCHANGE_CAPABILITIES,
  // GET_SHM_CONFIG (only with a reserved carve-out; none is fine with DYNAMIC_SHM), pools,
  // ENABLE_SHM_CACHE. EINVAL for an incompatible secure world.
  KResult<void> probe();
  // optee_remove: hands every cached RPC argument back (DISABLE_SHM_CACHE) and stops waiters
  // (the first time), and releases the RPC buffers the secure world still held (every time).
  void remove();
  void set_devices(TeeDevice* client, TeeDevice* supp) {
    client_dev_ = client;
    supp_dev_ = supp;
  }

  uint32_t sec_caps() const { return sec_caps_; }
  bool dynamic_shm() const { return sec_caps_ & abi::OPTEE_SMC_SEC_CAP_DYNAMIC_SHM; }
  Supplicant& supplicant() { return supp_; }
  // Live kernel-private buffers (message arguments, RPC allocations): quiescence audit.
  size_t live_private_buffers() const;
  size_t live_sessions() const;

  // TeeDriver
  TeeVersion get_version(const TeeDevice& dev) override;
  KResult<void> open(TeeContext& ctx) override;
  void close_context(TeeContext& ctx) override;
  void release(TeeContext& ctx) override;
  KResult<void> open_session(TeeContext& ctx, OpenSessionArg& arg,
                             std::vector<TeeParam>& params) override;
  KResult<void> close_session(TeeContext& ctx, uint32_t session) override;
  KResult<void> invoke(TeeContext& ctx, InvokeArg& arg, std::vector<TeeParam>& params) override;
  KResult<void> cancel(TeeContext& ctx, uint32_t cancel_id, uint32_t session) override;
  KResult<void> supp_recv(TeeContext& ctx, uint32_t& func, uint32_t& num_params,
                          std::vector<TeeParam>& params) override;
  KResult<void> supp_send(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params) override;
  bool supports_register() const override { return dynamic_shm(); }
  KResult<void> shm_register(TeeContext& ctx, TeeShm& shm) override;
  void shm_unregister(TeeContext& ctx, TeeShm& shm) override;
  KResult<void> pool_alloc(TeeShm& shm, uint64_t size, bool dma_buf) override;
  void pool_free(TeeShm& shm) override;

 private:
  // A message argument in non-secure memory: a page of the dynamic pool or a block of the
  // carve-out's private pool.
  struct MsgArg {
    abi::optee_msg_arg* host = nullptr;
    PhysAddr pa{};
    Pfn page = 0;             // dynamic: the page
    uint64_t pool_off = 0;    // static: offset in the private pool
    uint64_t pool_size = 0;   // static: rounded block size (0 for dynamic)
  };
  // The first part of remove(): cached RPC arguments back, waiters woken.
  void stop();
  KResult<MsgArg> get_msg_arg(uint32_t num_params);
  void free_msg_arg(const MsgArg& arg);
  // Sends a teardown message (CLOSE_SESSION, UNREGISTER_SHM): `fill` writes it. These must reach
  // the secure world even when memory is short, or the secure world keeps the session or the
  // registration (and its pinned pages) for good: without a free message buffer the reserved
  // one is used, and a call refused for lack of memory (ENOMEM) is retried. Returns the SMC
  // result and the message's ret.
  std::pair<uint32_t, uint32_t> call_teardown(uint32_t num_params,
                                              const std::function<void(abi::optee_msg_arg*)>& fill);

  // Per call: the page list of the last RPC SHM_ALLOC reply (optee_call_ctx).
  struct CallCtx {
    std::vector<Pfn> list_pages;
  };
  // optee_do_call_with_arg: returns the SMC result (OK or an error code).
  uint32_t do_call_with_arg(const MsgArg& arg);
  void handle_rpc(abi::SmcRegs& regs, CallCtx& call);
  void handle_rpc_cmd(abi::optee_msg_arg* arg, size_t arg_room, CallCtx& call);
  void rpc_shm_alloc(abi::optee_msg_arg* arg, uint32_t n, CallCtx& call);
  void rpc_shm_free(abi::optee_msg_arg* arg, uint32_t n);
  void rpc_notification(abi::optee_msg_arg* arg, uint32_t n);
  void rpc_supp_cmd(abi::optee_msg_arg* arg, uint32_t n);
  // Every request to tee-supplicant goes through here (counted in supplicant_requests).
  uint32_t supplicant_request(uint32_t func, std::vector<TeeParam>& params);

  // Page lists (optee_fill_pages_list): returns the list pages and the buf_ptr to send.
  KResult<uint64_t> build_page_list(const std::vector<Pfn>& pages, uint32_t offset,
                                    std::vector<Pfn>& list_pages);
  void free_page_list(std::vector<Pfn>& list_pages);

  // to_msg_param / from_msg_param.
  KResult<void> to_msg_params(abi::optee_msg_param* out, const std::vector<TeeParam>& params);
  KResult<void> from_msg_params(std::vector<TeeParam>& params, const abi::optee_msg_param* in);

  // The object's cookie, assigned on first use from a counter that never repeats.
  uint64_t cookie_of(TeeShm& shm);
  // Cookie -> shm for every object the secure world may name; lookups take a reference.
  // False (and nothing changes) if the secure world already holds `shm`.
  bool cookie_insert(TeeShm* shm) EXCLUDES(cookie_lock_);
  void cookie_erase(TeeShm* shm) EXCLUDES(cookie_lock_);
  TeeShm* cookie_get(uint64_t cookie) EXCLUDES(cookie_lock_);
  // Drops a reference obtained from cookie_get or held by the table.
  void put_cookie_ref(TeeShm* shm);

  // Kernel-private buffers (RPC ALLOC and KERNEL SHM_ALLOC).
  KResult<TeeShm*> alloc_private(uint64_t size);
  void free_private(TeeShm* shm);

  // Call queue: waiting for a free secure thread (ETHREAD_LIMIT).
  void cq_completed();

  void close_session_in_tee(uint32_t session);

  hw::PhysSpace& mem_;
  hw::SmcHandler& conduit_;
  hw::MachineStats& stats_;
  TeeDevice* client_dev_ = nullptr;
  TeeDevice* supp_dev_ = nullptr;
  uint32_t sec_caps_ = 0;
  // Cleared by remove() while client threads may still be releasing shm (a guest killed with
  // clients inside): they read it to skip telling a secure world that is gone.
  std::atomic<bool> probed_{false};

  // Static carve-out pools: private (first page, 8-byte granules) and dma-buf (page granules).
  std::unique_ptr<RangeAllocator> static_priv_pool_;
  std::unique_ptr<RangeAllocator> static_dmabuf_pool_;
  uint64_t static_dmabuf_base_ = 0;  // offset of the dma-buf pool in the carve-out

  // Message-argument page cache for the dynamic pool, sharded to keep threads apart.
  static constexpr unsigned kArgShards = 16;
  struct alignas(64) ArgShard {
    base::Mutex lock;
    std::vector<Pfn> pages GUARDED_BY(lock);
  };
  ArgShard arg_cache_[kArgShards];
  // The reserved message buffer of call_teardown (one page, or a carve-out block), allocated at
  // probe; its lock is held while it is in use.
  std::optional<MsgArg> reserve_arg_;
  std::mutex reserve_lock_;
  base::Counter msg_args_out_;  // sharded: every call takes and gives back one

  std::atomic<uint64_t> next_cookie_{1};
  mutable base::Mutex cookie_lock_;
  std::unordered_map<uint64_t, TeeShm*> cookies_ GUARDED_BY(cookie_lock_);
  std::atomic<int64_t> private_live_{0};

  // Call queue. A call refused with ETHREAD_LIMIT registers in cq_waiters_; a call that ends
  // reads it and, only if someone waits, bumps cq_gen_ and wakes the waiters. The two share a
  // cache line that only refused calls write (the sharded counter after them starts a new one).
  alignas(64) std::atomic<int> cq_waiters_{0};
  uint64_t cq_gen_ GUARDED_BY(cq_lock_) = 0;
  // Std calls the secure world has taken (running, or suspended in an RPC) and not yet finished:
  // the ones whose completion wakes calls refused with ETHREAD_LIMIT. Sharded: every call
  // writes it, only a refused one reads it. (A sum read while calls start and end can be off
  // for a moment; a waiter then retries sooner or re-checks later.)
  base::Counter calls_holding_thread_;
  // How long a call refused with ETHREAD_LIMIT waits before it retries when no call of this
  // driver holds a secure thread to complete and wake it.
  static constexpr std::chrono::microseconds kLoneThreadLimitRetry{200};
  // How often a call waiting for another's completion re-checks that one still holds a thread.
  static constexpr std::chrono::milliseconds kThreadLimitRecheck{50};
  base::Mutex cq_lock_;
  base::CondVar cq_cv_;

  // Notifications (WAIT_QUEUE / NOTIFICATION RPC): key -> pending wake-ups and sleepers.
  struct Notif {
    uint32_t pending = 0;
    uint32_t sleepers = 0;
    base::CondVar cv;
  };
  base::Mutex notif_lock_;
  std::map<uint64_t, std::unique_ptr<Notif>> notifs_ GUARDED_BY(notif_lock_);
  bool stopping_ GUARDED_BY(notif_lock_) = false;
  // SUSPEND sleepers: woken early only by remove().
  base::CondVar suspend_cv_;

  Supplicant supp_;
  std::atomic<size_t> sessions_{0};
};

}  // namespace teemu::ree::optee
