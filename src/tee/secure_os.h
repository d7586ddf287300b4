// The secure OS: an OP-TEE-compatible secure world behind the SMC conduit.
//
// Fast calls are answered on the calling host thread. Std calls run on a secure thread of the
// caller's partition (one partition without virtualization; one per guest with it). Messages are
// located, copied once into private memory, validated and executed; only output fields are
// written back. Every value from the normal world is untrusted and gets OP-TEE's error code.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "base/read_mostly_mutex.h"
#include "base/thread_annotations.h"
#include "hw/smc.h"
#include "tee/mobj.h"
#include "tee/rpc.h"
#include "tee/session.h"
#include "tee/ta.h"
#include "tee/thread.h"

namespace teemu::hw {
class PhysMem;
struct MachineStats;
}  // namespace teemu::hw

namespace teemu::tee {

struct SecureOsConfig {
  uint32_t num_threads = 2;            // CFG_NUM_THREADS (per guest with virtualization)
  bool dynamic_shm = true;             // CFG_CORE_DYN_SHM (and non-secure DDR described)
  size_t thread_stack_size = 512 * 1024;
  // CFG_NS_VIRTUALIZATION: one partition per guest, created by VM_CREATED from the hypervisor.
  bool virtualization = false;
  // Guests at once (CFG_VIRT_GUEST_COUNT): VM_CREATED beyond it gets ENOTAVAIL.
  uint32_t max_guests = 64;
  // Secure memory one partition may hold (TA images and heaps, memory-object metadata): a guest
  // exhausting it gets TEE_ERROR_OUT_OF_MEMORY and nobody else notices. 0 = unlimited.
  uint64_t partition_memory = 256ull << 20;
};

struct UuidHash {
  size_t operator()(const abi::Uuid& u) const;
};

// Per-partition state: threads, registered shm, sessions, TA instances. Without
// virtualization there is one (guest id 0); with it, one per guest, and nothing in one is ever
// looked up from another. Destroying a partition unwinds the calls its threads left suspended in
// RPCs (they never reach the normal world again) and frees everything it held.
class Partition {
 public:
  Partition(uint16_t guest_id, class SecureOs& os);
  ~Partition();
  uint16_t guest_id() const { return guest_id_; }
  class SecureOs& os() { return os_; }

  // Secure-memory accounting against SecureOsConfig::partition_memory.
  bool charge(uint64_t bytes);
  void uncharge(uint64_t bytes);
  uint64_t charged() const { return charged_.load(); }

  std::vector<std::unique_ptr<SecureThread>> threads;
  MobjRegistry mobjs;
  // CFG_PREALLOC_RPC_CACHE state: off until ENABLE_SHM_CACHE, off again once DISABLE_SHM_CACHE
  // has handed every cached RPC argument back. While off, each call frees its RPC argument.
  std::atomic<bool> prealloc_rpc_cache{false};

  base::Mutex lock;
  SessionTable sessions;  // locks of its own
  uint32_t next_session_id GUARDED_BY(lock) = 1;
  // Instances that further sessions join: single-instance TAs (and keep-alive ones).
  std::unordered_map<abi::Uuid, std::shared_ptr<TaContext>, UuidHash> shared_instances
      GUARDED_BY(lock);
  uint32_t live_instances GUARDED_BY(lock) = 0;

 private:
  uint16_t guest_id_;
  class SecureOs& os_;
  std::atomic<uint64_t> charged_{0};
};

class SecureOs : public hw::SmcHandler {
 public:
  SecureOs(hw::PhysMem& mem, hw::MachineStats& stats, TaLoader& loader,
           const SecureOsConfig& config);
  ~SecureOs() override;

  abi::SmcRegs smc(const abi::SmcRegs& in) override;

  uint32_t sec_caps() const;
  const SecureOsConfig& config() const { return config_; }
  hw::PhysMem& mem() { return mem_; }
  RpcClient& rpc() { return rpc_; }

  // Quiescence audit of all partitions (or of guest `guest_id` only).
  struct Audit {
    size_t partitions = 0;
    size_t sessions = 0;
    size_t instances = 0;
    size_t registered_shm = 0;
    uint64_t registered_pages = 0;
    // Frame numbers registered objects keep: only those not contiguous in host memory keep any.
    uint64_t registered_frames_kept = 0;
    size_t busy_threads = 0;
    size_t cached_rpc_args = 0;
    uint64_t charged_bytes = 0;
    // What is still open and registered, by id and cookie (a leak report can name them).
    std::vector<uint32_t> session_ids;
    std::vector<uint64_t> registered_cookies;
  };
  Audit audit() const;
  Audit audit(uint16_t guest_id) const;

  // --- services for the TA runtime (called on a secure thread while a TA runs) ---
  // TEE_Wait: TEE_SUCCESS after timeout_ms, TEE_ERROR_CANCEL as soon as the session is cancelled
  // and cancellation is unmasked.
  uint32_t ta_wait(uint32_t timeout_ms);
  bool ta_cancellation_flag();
  // Sets the mask, returns the previous value (TEE_MaskCancellation/TEE_UnmaskCancellation).
  bool ta_set_cancel_mask(bool masked);

  // ===== TA-to-TA sessions (ta_sessions.cc) ==================================================
  // GP TEE_OpenTASession / TEE_InvokeTACommand / TEE_CloseTASession for the TA running on the
  // calling secure thread. The TA runtime prepares `params` (memrefs the callee may use
  // directly) and owns the returned session; the client identity the callee sees is
  // TEE_LOGIN_TRUSTED_APP with the calling TA's UUID. Results carry GP origins: TEE for what the
  // secure OS decided (no such TA, BUSY, TARGET_DEAD when the callee panicked: the caller lives
  // on), TRUSTED_APP for the callee's own answer.
  // A target instance that is busy on this thread's own chain of TA calls, or any busy target
  // while a single-instance TA is on that chain, is TEE_ERROR_BUSY instead of a wait that could
  // never end (OP-TEE's single-instance rule).
  Error ta_open_session(const abi::Uuid& destination, TaParams& params,
                        std::shared_ptr<Session>* session);
  Error ta_invoke_command(Session& session, uint32_t command, TaParams& params);
  // Runs the callee's TA_CloseSessionEntryPoint (unless it is dead) and drops the session from
  // its instance. Called from a destructor when the calling instance goes: off a secure thread of
  // the session's partition (its teardown) it only lets go of the session.
  void ta_close_session(std::shared_ptr<Session> session);

 private:
  // Takes `c` for an entry point called by a TA on `t` (see the BUSY rule above).
  uint32_t enter_from_ta(SecureThread& t, TaContext& c);
  bool on_ta_chain(const SecureThread& t, const TaContext& c);
  bool single_instance_on_ta_chain(const SecureThread& t);
  // Runs `call` with the callee's session current on `t` and the caller's instance on the chain.
  template <class F>
  auto nested_ta_call(SecureThread& t, Session* callee, F&& call);
  // The TA instances that called into the one running on each thread, outermost first.
  base::Mutex ta_chain_lock_;
  std::unordered_map<const SecureThread*, std::vector<TaContext*>> ta_chains_
      GUARDED_BY(ta_chain_lock_);
  // ===== end of TA-to-TA sessions ==============================================================

 private:
  friend class Partition;
  // The partition of a caller (a7): a reference is held for the duration of one SMC. Null for
  // an unknown or destroyed guest, and for a7 = 0 with virtualization.
  std::shared_ptr<Partition> partition_for(uint32_t a7);
  abi::SmcRegs vm_created(const abi::SmcRegs& in);
  abi::SmcRegs vm_destroyed(const abi::SmcRegs& in);
  static void audit_partition(const Partition& p, Audit& a);
  abi::SmcRegs fast_call(const abi::SmcRegs& in);
  abi::SmcRegs std_call(const abi::SmcRegs& in);
  abi::SmcRegs thread_body(SecureThread& t);

  // entry_std.cc
  struct CallArg;
  uint32_t locate_arg(SecureThread& t, const abi::SmcRegs& regs, CallArg& out);
  // Returns the SMC-level result (OPTEE_SMC_RETURN_OK, or EBADCMD for an unknown command).
  uint32_t execute_msg(SecureThread& t, CallArg& call);
  void cmd_open_session(SecureThread& t, CallArg& call);
  void cmd_invoke(SecureThread& t, CallArg& call);
  void cmd_close_session(SecureThread& t, CallArg& call);
  void cmd_cancel(SecureThread& t, CallArg& call);
  void cmd_register_shm(SecureThread& t, CallArg& call);
  void cmd_unregister_shm(SecureThread& t, CallArg& call);

  // ta_manager.cc
  Result<std::shared_ptr<TaContext>> get_instance(SecureThread& t, const abi::Uuid& uuid);
  Result<std::vector<uint8_t>> load_ta_image(SecureThread& t, const abi::Uuid& uuid);
  // Waits until the instance is free and takes it; false (nothing taken) when the thread's
  // partition is being torn down.
  [[nodiscard]] bool enter(SecureThread& t, TaContext& c);
  void leave(SecureThread& t, TaContext& c);
  // Drops one session (or the opening attempt) from an instance; destroys it when unused.
  void release_instance(SecureThread& t, const std::shared_ptr<TaContext>& c, bool had_session);
  void destroy_instance(SecureThread& t, const std::shared_ptr<TaContext>& c);
  std::shared_ptr<Session> find_session(Partition& p, uint32_t id);
  void release_keys(SecureThread& t, std::initializer_list<uint32_t> keys);

  hw::PhysMem& mem_;
  hw::MachineStats& stats_;
  TaLoader& loader_;
  SecureOsConfig config_;
  RpcClient rpc_;
  std::atomic<uint32_t> next_wait_key_{1};
  std::shared_ptr<Partition> default_partition_;  // without virtualization
  // Read by every SMC of a guest (partition_for), written when a guest comes or goes.
  mutable base::ReadMostlyMutex partitions_lock_;
  std::unordered_map<uint16_t, std::shared_ptr<Partition>> partitions_ GUARDED_BY(partitions_lock_);
};

}  // namespace teemu::tee
