// GP TEE Internal Core API sessions with other TAs (1.3.1, 4.9: TEE_OpenTASession,
// TEE_InvokeTACommand, TEE_CloseTASession) and their GP 1.1 twins, the TA runtime's half: the
// calling TA's parameters are checked and turned into what the callee receives, as OP-TEE's
// tee_svc_copy_param does:
//   - a memref must be mapped in the caller with the rights its direction needs (read; write for
//     outputs), else TEE_ERROR_ACCESS_DENIED; NULL is allowed with size 0 only;
//   - a memref in the caller's own memory (image, heap, stack) is never exposed: the callee gets
//     a copy in secure memory, copied back for outputs when the callee's size fits;
//   - a memref inside one of the caller's own memrefs (its client's memory) is passed on as is.
// The sessions belong to the calling instance (handles in its state): closing them, or the
// instance going, runs the callee's close entry point (tee/ta_sessions.cc has the OS's half).
// Origins and panics follow OP-TEE's libutee: TEE_OpenTASession returns every error, while
// TEE_InvokeTACommand panics the caller on errors that did not come from the callee other than
// TEE_ERROR_OUT_OF_MEMORY and TEE_ERROR_TARGET_DEAD.
#include <cstring>
#include <memory>
#include <new>

#include "base/fault.h"
#include "tee/secure_os.h"
#include "tee/thread.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/gp_types.h"
#include "ta_runtime/ta_memory.h"

#define TA_API extern "C" __attribute__((visibility("default")))

extern "C" void TEE_Panic(uint32_t code);

namespace teemu::ta_runtime {

namespace {

// A session the running instance opened to another TA; closed when the handle (or the
// instance) goes.
class TaSession : public RuntimeObject {
 public:
  TaSession(tee::SecureOs& os, std::shared_ptr<tee::Session> s) : os_(os), session_(std::move(s)) {}
  ~TaSession() override { os_.ta_close_session(std::move(session_)); }
  tee::Session& session() { return *session_; }

 private:
  tee::SecureOs& os_;
  std::shared_ptr<tee::Session> session_;
};

struct Outcome {
  uint32_t code = abi::TEE_SUCCESS;
  uint32_t origin = abi::TEE_ORIGIN_TEE;
  bool panic = false;
};

Outcome tee_error(uint32_t code) { return {code, abi::TEE_ORIGIN_TEE, false}; }
Outcome fatal(uint32_t code) { return {code, abi::TEE_ORIGIN_TEE, true}; }

// The callee's parameters and the secure copies standing in for the caller's private memory.
template <class P>
struct Call {
  P caller[abi::TEE_NUM_PARAMS] = {};  // the caller's TEE_Param array as it was read
  tee::TaParams params;
  std::unique_ptr<uint8_t[]> copy[abi::TEE_NUM_PARAMS];
  size_t copy_size[abi::TEE_NUM_PARAMS] = {};
};

template <class P>
Outcome prepare(uint32_t types, P* in, Call<P>* call) {
  if (types == 0) return {};
  // The TA's array is read through a checked copy: a bad pointer is the TA's panic.
  if (in == nullptr || !base::copy_checked(call->caller, in, sizeof(call->caller)))
    return fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  call->params.types = types & 0xFFFF;
  if (types > 0xFFFF) return tee_error(abi::TEE_ERROR_BAD_PARAMETERS);
  for (unsigned i = 0; i < abi::TEE_NUM_PARAMS; ++i) {
    const uint32_t type = call->params.type(i);
    auto& slot = call->params.p[i];
    switch (type) {
      case abi::TEE_PARAM_TYPE_NONE: break;
      case abi::TEE_PARAM_TYPE_VALUE_INPUT:
      case abi::TEE_PARAM_TYPE_VALUE_INOUT:
        slot.a = call->caller[i].value.a;
        slot.b = call->caller[i].value.b;
        break;
      case abi::TEE_PARAM_TYPE_VALUE_OUTPUT: break;
      case abi::TEE_PARAM_TYPE_MEMREF_INPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_OUTPUT:
      case abi::TEE_PARAM_TYPE_MEMREF_INOUT: {
        void* buf = call->caller[i].memref.buffer;
        const size_t size = call->caller[i].memref.size;
        if (buf == nullptr) {
          if (size != 0) return tee_error(abi::TEE_ERROR_BAD_PARAMETERS);
          break;
        }
        slot.buffer = buf;
        slot.size = size;
        if (size == 0) break;
        uint32_t rights = gp::kAccessRead | gp::kAccessAnyOwner;
        if (type != abi::TEE_PARAM_TYPE_MEMREF_INPUT) rights |= gp::kAccessWrite;
        MemrefPlace place;
        if (check_access_rights(rights, buf, size) != abi::TEE_SUCCESS ||
            !memref_place(buf, size, &place))
          return tee_error(abi::TEE_ERROR_ACCESS_DENIED);
        if (place == MemrefPlace::kShared) break;
        // The caller's own memory: a zeroed secure copy, filled unless the callee only writes.
        call->copy[i].reset(new (std::nothrow) uint8_t[size]());
        if (!call->copy[i]) return tee_error(abi::TEE_ERROR_OUT_OF_MEMORY);
        call->copy_size[i] = size;
        if (type != abi::TEE_PARAM_TYPE_MEMREF_OUTPUT) std::memcpy(call->copy[i].get(), buf, size);
        slot.buffer = call->copy[i].get();
        break;
      }
      default: return tee_error(abi::TEE_ERROR_BAD_PARAMETERS);
    }
  }
  return {};
}

// Output values and memref sizes back into the caller's array; output data back from the copies
// when the callee's size fits (a larger size only tells the caller what it needs).
template <class P>
bool finish(Call<P>* call, P* out) {
  if (call->params.types == 0) return true;
  for (unsigned i = 0; i < abi::TEE_NUM_PARAMS; ++i) {
    const uint32_t type = call->params.type(i);
    const auto& slot = call->params.p[i];
    if (type == abi::TEE_PARAM_TYPE_VALUE_OUTPUT || type == abi::TEE_PARAM_TYPE_VALUE_INOUT) {
      call->caller[i].value.a = slot.a;
      call->caller[i].value.b = slot.b;
    } else if (type == abi::TEE_PARAM_TYPE_MEMREF_OUTPUT ||
               type == abi::TEE_PARAM_TYPE_MEMREF_INOUT) {
      if (call->copy[i] && slot.size <= call->copy_size[i])
        std::memcpy(call->caller[i].memref.buffer, call->copy[i].get(), slot.size);
      call->caller[i].memref.size = static_cast<decltype(call->caller[i].memref.size)>(slot.size);
    }
  }
  return base::copy_checked(out, call->caller, sizeof(call->caller));
}

tee::SecureOs* running_os() {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->partition == nullptr || current_instance() == nullptr) return nullptr;
  return &t->partition->os();
}

TaSession* find_session(const void* handle) {
  DlTaInstance* inst = current_instance();
  return inst == nullptr ? nullptr : inst->state().get<TaSession>(handle);
}

bool store_origin(uint32_t* origin, uint32_t value) {
  return origin == nullptr || base::copy_checked(origin, &value, sizeof(value));
}

template <class P>
Outcome open_session(const gp::TeeUuid* destination, uint32_t types, P* params, void** session) {
  tee::SecureOs* os = running_os();
  gp::TeeUuid dest;
  void* none = nullptr;
  if (os == nullptr || destination == nullptr || session == nullptr ||
      !base::copy_checked(&dest, destination, sizeof(dest)) ||
      !base::copy_checked(session, &none, sizeof(none)))
    return fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  Call<P> call;
  if (Outcome o = prepare(types, params, &call); o.code != abi::TEE_SUCCESS) return o;
  std::shared_ptr<tee::Session> s;
  const Error e = os->ta_open_session(gp::to_octets(dest), call.params, &s);
  Outcome result{e.code, e.origin, false};
  // The callee's outputs reach the caller whether or not it accepted the session.
  if (e.origin == abi::TEE_ORIGIN_TRUSTED_APP && !finish(&call, params))
    result = fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  if (!s) return result;
  std::unique_ptr<TaSession> obj(new (std::nothrow) TaSession(*os, s));
  if (!obj) {
    os->ta_close_session(std::move(s));
    return tee_error(abi::TEE_ERROR_OUT_OF_MEMORY);
  }
  s.reset();
  void* handle = current_instance()->state().add(std::move(obj));
  if (result.panic || !base::copy_checked(session, &handle, sizeof(handle))) {
    current_instance()->state().remove(handle);
    return fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  }
  return result;
}

template <class P>
Outcome invoke_command(void* session, uint32_t command, uint32_t types, P* params) {
  TaSession* s = find_session(session);
  if (s == nullptr) return fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  Call<P> call;
  if (Outcome o = prepare(types, params, &call); o.code != abi::TEE_SUCCESS) return o;
  const Error e = running_os()->ta_invoke_command(s->session(), command, call.params);
  if (e.origin == abi::TEE_ORIGIN_TRUSTED_APP && !finish(&call, params))
    return fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  return {e.code, e.origin, false};
}

// Reports an outcome to the TA: the origin (if it asked), then the result or the panic.
uint32_t report_open(const Outcome& o, uint32_t* origin) {
  if (o.panic) TEE_Panic(o.code);
  if (!store_origin(origin, o.origin)) TEE_Panic(abi::TEE_ERROR_BAD_PARAMETERS);
  return o.code;
}

uint32_t report_invoke(const Outcome& o, uint32_t* origin) {
  if (o.panic) TEE_Panic(o.code);
  if (!store_origin(origin, o.origin)) TEE_Panic(abi::TEE_ERROR_BAD_PARAMETERS);
  if (o.origin != abi::TEE_ORIGIN_TRUSTED_APP && o.code != abi::TEE_SUCCESS &&
      o.code != abi::TEE_ERROR_OUT_OF_MEMORY && o.code != abi::TEE_ERROR_TARGET_DEAD)
    TEE_Panic(o.code);
  return o.code;
}

template <class F>
Outcome guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return tee_error(abi::TEE_ERROR_OUT_OF_MEMORY);
  }
}

}  // namespace
}  // namespace teemu::ta_runtime

using namespace teemu::ta_runtime;

// cancellationRequestTimeout is accepted and not enforced: teemu cancels TA-to-TA operations only
// through the callee's own cancellation mask and flag (docs/internal-api.md).
TA_API uint32_t TEE_OpenTASession(const gp::TeeUuid* destination, uint32_t /*timeout*/,
                                  uint32_t paramTypes, gp::TeeParam* params, void** session,
                                  uint32_t* returnOrigin) {
  return report_open(guarded([&] { return open_session(destination, paramTypes, params, session); }),
                     returnOrigin);
}

TA_API uint32_t __GP11_TEE_OpenTASession(const gp::TeeUuid* destination, uint32_t /*timeout*/,
                                         uint32_t paramTypes, gp::TeeParamGp11* params,
                                         void** session, uint32_t* returnOrigin) {
  return report_open(guarded([&] { return open_session(destination, paramTypes, params, session); }),
                     returnOrigin);
}

TA_API uint32_t TEE_InvokeTACommand(void* session, uint32_t /*timeout*/, uint32_t commandID,
                                    uint32_t paramTypes, gp::TeeParam* params,
                                    uint32_t* returnOrigin) {
  return report_invoke(
      guarded([&] { return invoke_command(session, commandID, paramTypes, params); }),
      returnOrigin);
}

TA_API uint32_t __GP11_TEE_InvokeTACommand(void* session, uint32_t /*timeout*/, uint32_t commandID,
                                           uint32_t paramTypes, gp::TeeParamGp11* params,
                                           uint32_t* returnOrigin) {
  return report_invoke(
      guarded([&] { return invoke_command(session, commandID, paramTypes, params); }),
      returnOrigin);
}

// TEE_HANDLE_NULL is ignored; any other handle that is not one of the instance's sessions
// panics the TA.
TA_API void TEE_CloseTASession(void* session) {
  if (session == nullptr) return;
  if (find_session(session) == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
  current_instance()->state().remove(session);
}
