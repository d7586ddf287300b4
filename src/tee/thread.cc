#include "tee/thread.h"

#include "base/assert.h"
#include "base/hot_tls.h"

namespace teemu::tee {

namespace {
TEEMU_HOT_TLS thread_local SecureThread* g_current_thread = nullptr;
}

__attribute__((noinline)) SecureThread* current_thread() { return g_current_thread; }
__attribute__((noinline)) void set_current_thread(SecureThread* t) { g_current_thread = t; }

SecureThread::SecureThread(uint32_t id, size_t stack_size,
                           std::function<abi::SmcRegs(SecureThread&)> body)
    : id_(id), fiber_(stack_size, [this, body = std::move(body)](base::Fiber& f) {
        // One iteration per std call; the fiber never finishes.
        for (;;) {
          out_regs_ = body(*this);
          call_done_ = true;
          f.suspend();
        }
      }) {}

abi::SmcRegs SecureThread::run(const abi::SmcRegs& in) {
  TEEMU_ASSERT(state() == ThreadState::kActive);
  if (!fiber_.started() || call_done_) {
    call_regs_ = in;
    call_done_ = false;
  } else {
    resume_regs_ = in;
  }
  SecureThread* outer = current_thread();
  set_current_thread(this);
  fiber_.resume();
  set_current_thread(outer);
  abi::SmcRegs out = out_regs_;
  state_.store(call_done_ ? ThreadState::kFree : ThreadState::kSuspended, std::memory_order_release);
  return out;
}

abi::SmcRegs SecureThread::rpc(abi::SmcRegs req) {
  if (aborting_) return abi::SmcRegs{};
  req[3] = id_;
  out_regs_ = req;
  fiber_.suspend();
  return resume_regs_;
}

void SecureThread::abort_suspended_call() {
  aborting_ = true;
  if (try_resume_claim()) {
    // Every RPC from now on returns at once, so one run finishes the call.
    run(abi::SmcRegs{});
    TEEMU_ASSERT(state() == ThreadState::kFree);
  }
  rpc_arg_ = {};  // the normal world's buffer went with the guest
}

}  // namespace teemu::tee
