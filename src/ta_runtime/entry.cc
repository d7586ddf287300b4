#include "ta_runtime/entry.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "base/assert.h"
#include "base/fault.h"
#include "base/sanitizer.h"
#include <iterator>
#include "base/log.h"
#include "ta_runtime/dl_loader.h"
#include "ta_runtime/gp_types.h"
#include "tee/thread.h"

namespace teemu::ta_runtime {

namespace {

// TEE_Param as TAs of either version see it: gp::TeeParam / gp::TeeParamGp11 (gp_types.h).
using gp::TeeParam;
using gp::TeeParamGp11;

using CreateFn = uint32_t (*)();
using DestroyFn = void (*)();
template <class P>
using OpenFn = uint32_t (*)(uint32_t, P*, void**);
using CloseFn = void (*)(void*);
template <class P>
using InvokeFn = uint32_t (*)(void*, uint32_t, uint32_t, P*);

// Escape point for TEE_Panic, on the secure thread's stack below the entry point's frames; it
// also names the instance whose code runs above it.
struct Escape {
  base::JumpBuffer jmp;
  void* prev;
  DlTaInstance* instance;
  const tee::TaParams* params;  // the entry point's memrefs, null if it has none
  int fault_signal;  // set when a hardware fault, not TEE_Panic, ended the TA
  void* fault_addr;
};

// --- TA faults ------------------------------------------------------------------------------
// OP-TEE runs every TA in its own address space, so a crashing TA kills its instance only. teemu
// keeps that promise in-process: a synchronous fault signal raised while a TA entry point runs on
// the faulting host thread unwinds to that entry point's caller, like TEE_Panic (base/fault.h
// hands us the faults it does not claim itself). Each host thread that runs TA code gets an
// alternate signal stack, so a TA overflowing its stack (the fiber's guard page) is caught too.

void ta_fault_hook(int sig, siginfo_t* info, void*) {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->ta_escape == nullptr) return;
  auto* esc = static_cast<Escape*>(t->ta_escape);
  esc->fault_signal = sig;
  esc->fault_addr = info->si_addr;
  TEEMU_LONGJMP(esc->jmp);
}

void install_fault_handlers() {
  // A function-local static: its fast path is one load (std::call_once writes thread-locals).
  static const bool installed = (base::set_fault_hook(&ta_fault_hook), true);
  (void)installed;
}

using Body = uint32_t (*)(void* ctx);

// Runs body(ctx) so that TEE_Panic inside it returns here with panicked = true. The TA's frames
// are C frames; nothing between this frame and the TA needs unwinding.
__attribute__((noinline)) tee::TaOutcome run_guarded(DlTaInstance* inst, Body body, void* ctx,
                                                    const tee::TaParams* params) {
  tee::SecureThread* t = tee::current_thread();
  TEEMU_ASSERT(t != nullptr);
  install_fault_handlers();
  base::ensure_alt_stack();
  Escape esc;
  esc.instance = inst;
  esc.params = params;
  esc.fault_signal = 0;
  esc.fault_addr = nullptr;
  esc.prev = t->ta_escape;
  t->ta_escape = &esc;
  if (TEEMU_SETJMP(esc.jmp) == 0) {
    uint32_t r = body(ctx);
    // The fiber may have moved to another host thread during an RPC: look the thread up again.
    tee::current_thread()->ta_escape = esc.prev;
    return {r, false};
  }
  base::landed_after_jump();
  tee::current_thread()->ta_escape = esc.prev;
  if (esc.fault_signal != 0) {
    // We left the signal handler by a jump: unblock the fault signals for this thread again.
    base::unblock_fault_signals();
    TEEMU_LOG_WARN("ta", "TA crashed with signal {} at address {}: its instance is dead",
                   esc.fault_signal, esc.fault_addr);
  }
  return {abi::TEE_ERROR_TARGET_DEAD, true};
}

template <class P>
void to_tee(const tee::TaParams& in, P* out) {
  for (unsigned i = 0; i < abi::TEE_NUM_PARAMS; ++i) {
    switch (in.type(i)) {
      case abi::TEE_PARAM_TYPE_VALUE_INPUT:
      case abi::TEE_PARAM_TYPE_VALUE_OUTPUT:
      case abi::TEE_PARAM_TYPE_VALUE_INOUT:
        out[i].value.a = in.p[i].a;
        out[i].value.b = in.p[i].b;
        break;
      case abi::TEE_PARAM_TYPE_MEMREF_INPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_OUTPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_INOUT:
        out[i].memref.buffer = in.p[i].buffer;
        out[i].memref.size = static_cast<decltype(out[i].memref.size)>(in.p[i].size);
        break;
      default: out[i] = {}; break;
    }
  }
}

template <class P>
void from_tee(const P* in, tee::TaParams& out) {
  for (unsigned i = 0; i < abi::TEE_NUM_PARAMS; ++i) {
    switch (out.type(i)) {
      case abi::TEE_PARAM_TYPE_VALUE_OUTPUT:
      case abi::TEE_PARAM_TYPE_VALUE_INOUT:
        out.p[i].a = in[i].value.a;
        out.p[i].b = in[i].value.b;
        break;
      case abi::TEE_PARAM_TYPE_MEMREF_OUTPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_INOUT: out.p[i].size = in[i].memref.size; break;
      default: break;
    }
  }
}

template <class P>
struct OpenCtx {
  void* fn;
  tee::TaParams* params;
  void** session_ctx;
  static uint32_t run(void* c) {
    auto* self = static_cast<OpenCtx*>(c);
    P p[abi::TEE_NUM_PARAMS];
    to_tee(*self->params, p);
    uint32_t r = reinterpret_cast<OpenFn<P>>(self->fn)(self->params->types, p, self->session_ctx);
    from_tee(p, *self->params);
    return r;
  }
};

template <class P>
struct InvokeCtx {
  void* fn;
  void* session_ctx;
  uint32_t cmd;
  tee::TaParams* params;
  static uint32_t run(void* c) {
    auto* self = static_cast<InvokeCtx*>(c);
    P p[abi::TEE_NUM_PARAMS];
    to_tee(*self->params, p);
    uint32_t r = reinterpret_cast<InvokeFn<P>>(self->fn)(self->session_ctx, self->cmd,
                                                         self->params->types, p);
    from_tee(p, *self->params);
    return r;
  }
};

}  // namespace

InstanceState* current_instance_state() {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->ta_escape == nullptr) return nullptr;
  return &static_cast<Escape*>(t->ta_escape)->instance->state();
}

DlTaInstance* current_instance() {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->ta_escape == nullptr) return nullptr;
  return static_cast<Escape*>(t->ta_escape)->instance;
}

const tee::TaParams* current_call_params() {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->ta_escape == nullptr) return nullptr;
  return static_cast<Escape*>(t->ta_escape)->params;
}

const void* current_entry_frame() {
  tee::SecureThread* t = tee::current_thread();
  return t == nullptr ? nullptr : t->ta_escape;
}

tee::TaOutcome DlTaInstance::run(uint32_t (*body)(void*), void* ctx,
                                 const tee::TaParams* params) {
  tee::TaOutcome o = run_guarded(this, body, ctx, params);
  if (o.panicked) panicked_ = true;
  return o;
}

DlTaInstance::DlTaInstance(std::unique_ptr<LoadedImage> image, std::shared_ptr<ImagePool> pool,
                           storage::StorageService* storage)
    : state_(std::make_unique<InstanceState>(image->props().data_size)),
      storage_(storage),
      image_(std::move(image)),
      pool_(std::move(pool)) {}

DlTaInstance::~DlTaInstance() {
  state_.reset();  // the TA's heap and objects go before its code
  if (pool_ != nullptr && !panicked_) pool_->give_back(std::move(image_));
  // Otherwise image_ unloads itself here.
}

tee::TaOutcome DlTaInstance::create() {
  return run([](void* fn) { return reinterpret_cast<CreateFn>(fn)(); }, image_->entries().create);
}

tee::TaOutcome DlTaInstance::destroy() {
  return run(
      [](void* fn) {
        reinterpret_cast<DestroyFn>(fn)();
        return abi::TEE_SUCCESS;
      },
      image_->entries().destroy);
}

tee::TaOutcome DlTaInstance::open_session(tee::TaParams& params, void** session_ctx) {
  const LoadedImage::Entries& e = image_->entries();
  if (e.gp11) {
    OpenCtx<TeeParamGp11> c{e.open, &params, session_ctx};
    return run(&OpenCtx<TeeParamGp11>::run, &c, &params);
  }
  OpenCtx<TeeParam> c{e.open, &params, session_ctx};
  return run(&OpenCtx<TeeParam>::run, &c, &params);
}

tee::TaOutcome DlTaInstance::invoke(void* session_ctx, uint32_t cmd, tee::TaParams& params) {
  const LoadedImage::Entries& e = image_->entries();
  if (e.gp11) {
    InvokeCtx<TeeParamGp11> c{e.invoke, session_ctx, cmd, &params};
    return run(&InvokeCtx<TeeParamGp11>::run, &c, &params);
  }
  InvokeCtx<TeeParam> c{e.invoke, session_ctx, cmd, &params};
  return run(&InvokeCtx<TeeParam>::run, &c, &params);
}

tee::TaOutcome DlTaInstance::close_session(void* session_ctx) {
  struct C {
    void* fn;
    void* sess;
  } c{image_->entries().close, session_ctx};
  return run(
      [](void* p) {
        auto* c = static_cast<C*>(p);
        reinterpret_cast<CloseFn>(c->fn)(c->sess);
        return abi::TEE_SUCCESS;
      },
      &c);
}

void panic_current_ta(uint32_t code) {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->ta_escape == nullptr) {
    std::fprintf(stderr, "teemu: TEE_Panic(0x%x) outside of a TA entry point\n", code);
    std::abort();
  }
  TEEMU_LOG_INFO("ta", "TA panicked with code {:#x}", code);
  TEEMU_LONGJMP(static_cast<Escape*>(t->ta_escape)->jmp);
}

}  // namespace teemu::ta_runtime
