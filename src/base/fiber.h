// A minimal stackful coroutine (fiber) on Boost.Context's fcontext: switching is a user-space
// register save/restore, no system call. A fiber may be resumed from any host thread, one at a
// time. Sanitizer fiber annotations are emitted so ASan and TSan follow the switches.
//
// Contract: the entry function runs on the fiber's own stack; it yields control back to whoever
// resumed it with suspend(), and finishes by returning. Destroying a fiber that has started but
// not finished is allowed only while it is suspended; its stack is freed without unwinding, so
// the code on it must hold no resources that need destructors at suspension points where that can
// happen (the secure OS only abandons a thread's stack when it has nothing left to release).
#pragma once

#include <cstddef>
#include <functional>

namespace teemu::base {

class Fiber {
 public:
  using Entry = std::function<void(Fiber&)>;

  // stack_size is rounded up to whole pages; a guard page sits below the stack.
  Fiber(size_t stack_size, Entry entry);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Runs the fiber until it calls suspend() or its entry returns. Called from outside the fiber.
  void resume();
  // Returns control to the resume() caller. Called from inside the fiber.
  void suspend();

  bool finished() const { return finished_; }
  bool started() const { return started_; }
  // Resets a finished fiber so the next resume() runs the entry from the start again.
  void restart();

 private:
  static void trampoline(void* transfer);
  void switch_to_fiber();
  void switch_to_caller();

  void* stack_base_ = nullptr;  // lowest mapped address (guard page)
  size_t stack_map_size_ = 0;
  void* fiber_ctx_ = nullptr;   // fcontext of the suspended fiber
  void* caller_ctx_ = nullptr;  // fcontext of the resumer while the fiber runs
  Entry entry_;
  bool started_ = false;
  bool finished_ = false;
  // Sanitizer state.
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  void* asan_fake_stack_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  size_t caller_stack_size_ = 0;
};

}  // namespace teemu::base
