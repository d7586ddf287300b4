#include "base/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <utility>

#include "base/assert.h"
#include "base/sanitizer.h"

namespace ctx = boost::context::detail;

namespace teemu::base {

namespace {
constexpr size_t kGuard = 4096;
}

Fiber::Fiber(size_t stack_size, Entry entry) : entry_(std::move(entry)) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  stack_size = (stack_size + page - 1) / page * page;
  stack_map_size_ = stack_size + kGuard;
  stack_base_ = mmap(nullptr, stack_map_size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  TEEMU_ASSERT(stack_base_ != MAP_FAILED);
  TEEMU_ASSERT(mprotect(stack_base_, kGuard, PROT_NONE) == 0);
#if defined(TEEMU_TSAN)
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
  restart();
}

Fiber::~Fiber() {
#if defined(TEEMU_TSAN)
  __tsan_destroy_fiber(tsan_fiber_);
#endif
#if defined(TEEMU_ASAN)
  // Frames abandoned on this stack leave their poison in ASan's shadow, which munmap does not
  // clear: the next mapping at this address (another fiber's stack) would inherit it.
  __asan_unpoison_memory_region(static_cast<char*>(stack_base_) + kGuard, stack_map_size_ - kGuard);
#endif
  munmap(stack_base_, stack_map_size_);
}

void Fiber::restart() {
#if defined(TEEMU_ASAN)
  __asan_unpoison_memory_region(static_cast<char*>(stack_base_) + kGuard, stack_map_size_ - kGuard);
#endif
  void* top = static_cast<char*>(stack_base_) + stack_map_size_;
  fiber_ctx_ = ctx::make_fcontext(top, stack_map_size_ - kGuard, [](ctx::transfer_t t) {
    Fiber::trampoline(&t);
  });
  started_ = false;
  finished_ = false;
}

void Fiber::trampoline(void* transfer) {
  auto* t = static_cast<ctx::transfer_t*>(transfer);
  auto* self = static_cast<Fiber*>(t->data);
  self->caller_ctx_ = t->fctx;
#if defined(TEEMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &self->caller_stack_bottom_, &self->caller_stack_size_);
#endif
  self->entry_(*self);
  self->finished_ = true;
  // Final switch: this stack is never resumed again until restart().
#if defined(TEEMU_ASAN)
  __sanitizer_start_switch_fiber(nullptr, self->caller_stack_bottom_, self->caller_stack_size_);
#endif
#if defined(TEEMU_TSAN)
  __tsan_switch_to_fiber(self->tsan_caller_, 0);
#endif
  ctx::jump_fcontext(self->caller_ctx_, self);
  TEEMU_ASSERT(false && "finished fiber resumed");
}

void Fiber::resume() {
  TEEMU_ASSERT(!finished_);
  started_ = true;
#if defined(TEEMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, static_cast<char*>(stack_base_) + kGuard,
                                 stack_map_size_ - kGuard);
#endif
#if defined(TEEMU_TSAN)
  tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
  ctx::transfer_t t = ctx::jump_fcontext(fiber_ctx_, this);
  fiber_ctx_ = t.fctx;
#if defined(TEEMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void Fiber::suspend() {
#if defined(TEEMU_ASAN)
  __sanitizer_start_switch_fiber(&asan_fake_stack_, caller_stack_bottom_, caller_stack_size_);
#endif
#if defined(TEEMU_TSAN)
  __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
  ctx::transfer_t t = ctx::jump_fcontext(caller_ctx_, this);
  caller_ctx_ = t.fctx;
#if defined(TEEMU_ASAN)
  __sanitizer_finish_switch_fiber(asan_fake_stack_, &caller_stack_bottom_, &caller_stack_size_);
#endif
}

}  // namespace teemu::base
