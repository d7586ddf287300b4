// Secure threads: a fixed pool per partition (CFG_NUM_THREADS). Each thread owns a fiber whose
// stack survives an RPC round trip: an RPC suspends the fiber and returns OPTEE_SMC_RETURN_RPC_*
// to the normal world; RETURN_FROM_RPC with the thread id in a3 resumes it, on any host thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "abi/optee_smc.h"
#include "base/addr.h"
#include "base/fiber.h"

namespace teemu::tee {

class Partition;
class Session;

enum class ThreadState : uint8_t { kFree, kActive, kSuspended };

// Cache-line aligned: every call of a host thread writes its secure thread's state, and two
// threads allocated side by side must not share a line.
class alignas(64) SecureThread {
 public:
  SecureThread(uint32_t id, size_t stack_size, std::function<abi::SmcRegs(SecureThread&)> body);

  uint32_t id() const { return id_; }
  // Wait-queue key of this thread: unique within the machine, never 0.
  uint32_t wait_key() const { return wait_key_; }
  void set_wait_key(uint32_t key) { wait_key_ = key; }

  // --- called on the host side (SecureOs::smc) ---
  // Claims a free thread for a new std call.
  bool try_claim() {
    auto expected = ThreadState::kFree;
    return state_.compare_exchange_strong(expected, ThreadState::kActive, std::memory_order_acquire);
  }
  // Claims a thread suspended in an RPC for RETURN_FROM_RPC.
  bool try_resume_claim() {
    auto expected = ThreadState::kSuspended;
    return state_.compare_exchange_strong(expected, ThreadState::kActive, std::memory_order_acquire);
  }
  ThreadState state() const { return state_.load(std::memory_order_acquire); }
  // Gives back a claim taken with try_claim() without running the thread.
  void release_claim() { state_.store(ThreadState::kFree, std::memory_order_release); }
  // Runs the fiber until it finishes the call or issues an RPC; returns the registers for the
  // normal world and moves the thread to kFree or kSuspended.
  abi::SmcRegs run(const abi::SmcRegs& in);

  // --- called on the thread's own fiber ---
  // The registers of the std call being served.
  const abi::SmcRegs& call_regs() const { return call_regs_; }
  // Issues an RPC: returns `req` (a0 = OPTEE_SMC_RETURN_RPC_*, a3 set to the thread id) to the
  // normal world and returns the registers of the RETURN_FROM_RPC that resumes the thread.
  // While the thread is aborting, no RPC leaves: it returns zeros at once and callers must
  // check aborting() before trusting anything.
  abi::SmcRegs rpc(abi::SmcRegs req);

  // Teardown of the thread's partition (VM_DESTROYED with the thread suspended in an RPC): the
  // call is resumed once more and unwinds without reaching the normal world again.
  bool aborting() const { return aborting_; }
  // Completes a suspended call by unwinding it (see aborting()). The caller owns the thread's
  // partition and no host thread runs it.
  void abort_suspended_call();

  // Per-thread RPC argument buffer (CFG_PREALLOC_RPC_CACHE): allocated with RPC_FUNC_ALLOC on
  // first use and kept across calls.
  struct RpcArg {
    uint64_t cookie = 0;
    PhysAddr pa{};
    std::byte* host = nullptr;
    bool valid = false;
  };
  RpcArg& rpc_arg() { return rpc_arg_; }
  // For CALL_WITH_RPC_ARG and CALL_WITH_REGD_ARG: the RPC argument that follows the call's
  // argument; used instead of the cached one for the duration of the call (the normal world
  // knows where it is: RPC_FUNC_CMD carries cookie 0, as optee_os's thr->rpc_mobj is then NULL).
  std::byte* rpc_arg_override = nullptr;

  // Call-scoped context for the TA runtime (set while a TA entry point runs).
  Session* session = nullptr;
  // Opaque to the OS: the TA runtime's escape point for TEE_Panic on this thread's stack.
  void* ta_escape = nullptr;
  Partition* partition = nullptr;

 private:
  uint32_t id_;
  uint32_t wait_key_ = 0;
  std::atomic<ThreadState> state_{ThreadState::kFree};
  base::Fiber fiber_;
  abi::SmcRegs call_regs_;
  abi::SmcRegs resume_regs_;
  abi::SmcRegs out_regs_;
  bool call_done_ = false;
  bool aborting_ = false;
  RpcArg rpc_arg_;
};

// The secure thread running on the calling host thread, or null outside the secure world.
// Not inlined on purpose: a fiber may migrate between host threads across an RPC, so the
// thread-local must be re-read on every call.
SecureThread* current_thread();
void set_current_thread(SecureThread* t);

}  // namespace teemu::tee
