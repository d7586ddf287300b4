// Sessions a TA opens to other TAs (GP TEE Internal Core API 1.3.1, 4.9): the secure OS's half.
// The callee runs on the caller's secure thread, nested in the caller's entry point, exactly as
// a client's call would run it: same instance rules (get_instance), one entry point at a time
// (enter/leave), the same teardown (release_instance). What differs is who the client is
// (TEE_LOGIN_TRUSTED_APP and the calling TA's UUID, as OP-TEE's syscall_open_ta_session sets)
// and that a nested call must never wait for an instance that only this thread can free.
#include <algorithm>

#include "base/assert.h"
#include "tee/secure_os.h"

namespace teemu::tee {

namespace {

// TEE_LOGIN_TRUSTED_APP (tee_api_defines.h).
constexpr uint32_t kLoginTrustedApp = 0xF0000000;

Error tee_error(uint32_t code) { return Error{code, abi::TEE_ORIGIN_TEE}; }

}  // namespace

bool SecureOs::on_ta_chain(const SecureThread& t, const TaContext& c) {
  if (t.session != nullptr && &t.session->ctx() == &c) return true;
  base::MutexLock lock(ta_chain_lock_);
  auto it = ta_chains_.find(&t);
  return it != ta_chains_.end() &&
         std::find(it->second.begin(), it->second.end(), &c) != it->second.end();
}

bool SecureOs::single_instance_on_ta_chain(const SecureThread& t) {
  if (t.session != nullptr && (t.session->ctx().props().flags & TA_FLAG_SINGLE_INSTANCE))
    return true;
  base::MutexLock lock(ta_chain_lock_);
  auto it = ta_chains_.find(&t);
  if (it == ta_chains_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [](TaContext* c) {
    return (c->props().flags & TA_FLAG_SINGLE_INSTANCE) != 0;
  });
}

uint32_t SecureOs::enter_from_ta(SecureThread& t, TaContext& c) {
  if (c.try_take()) return abi::TEE_SUCCESS;
  // Busy. If this thread itself holds it further up, waiting never ends. If a single-instance TA
  // is on the chain, the busy target could be waiting for that TA on another thread: OP-TEE
  // answers BUSY rather than risk the cycle, and so do we.
  if (on_ta_chain(t, c) || single_instance_on_ta_chain(t)) return abi::TEE_ERROR_BUSY;
  return enter(t, c) ? abi::TEE_SUCCESS : abi::TEE_ERROR_TARGET_DEAD;
}

template <class F>
auto SecureOs::nested_ta_call(SecureThread& t, Session* callee, F&& call) {
  Session* caller = t.session;
  if (caller != nullptr) {
    base::MutexLock lock(ta_chain_lock_);
    ta_chains_[&t].push_back(&caller->ctx());
  }
  t.session = callee;
  auto result = call();
  // The fiber may have moved to another host thread, never to another secure thread.
  t.session = caller;
  if (caller != nullptr) {
    base::MutexLock lock(ta_chain_lock_);
    auto it = ta_chains_.find(&t);
    TEEMU_ASSERT(it != ta_chains_.end() && !it->second.empty());
    it->second.pop_back();
    if (it->second.empty()) ta_chains_.erase(it);
  }
  return result;
}

Error SecureOs::ta_open_session(const abi::Uuid& destination, TaParams& params,
                                std::shared_ptr<Session>* session) {
  SecureThread* t = current_thread();
  TEEMU_ASSERT(t != nullptr && t->session != nullptr);
  Session* caller = t->session;
  session->reset();
  // The callee's TA_CreateEntryPoint runs outside of any session, as for a client's open.
  t->session = nullptr;
  auto inst = get_instance(*t, destination);
  t->session = caller;
  if (!inst) return inst.error();
  auto ctx = *inst;
  auto s = std::make_shared<Session>(0, ctx);
  s->client_uuid = caller->ctx().props().uuid;
  s->login = kLoginTrustedApp;

  Error result{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TRUSTED_APP};
  const uint32_t entered = enter_from_ta(*t, *ctx);
  if (entered != abi::TEE_SUCCESS) {
    result = tee_error(entered);
  } else {
    TaOutcome o{abi::TEE_ERROR_TARGET_DEAD, true};
    if (!ctx->dead)
      o = nested_ta_call(*t, s.get(), [&] { return ctx->impl().open_session(params, &s->ta_session_ctx); });
    leave(*t, *ctx);
    if (o.panicked) {
      ctx->dead = true;
      result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
    } else if (o.result != abi::TEE_SUCCESS) {
      result = Error{o.result, abi::TEE_ORIGIN_TRUSTED_APP};
    }
  }
  if (result.code != abi::TEE_SUCCESS) {
    s.reset();
    release_instance(*t, ctx, true);
    return result;
  }
  *session = std::move(s);
  return result;
}

Error SecureOs::ta_invoke_command(Session& s, uint32_t command, TaParams& params) {
  SecureThread* t = current_thread();
  TEEMU_ASSERT(t != nullptr);
  TaContext& ctx = s.ctx();
  if (ctx.dead) return tee_error(abi::TEE_ERROR_TARGET_DEAD);
  const uint32_t entered = enter_from_ta(*t, ctx);
  if (entered != abi::TEE_SUCCESS) return tee_error(entered);
  Error result{abi::TEE_SUCCESS, abi::TEE_ORIGIN_TRUSTED_APP};
  if (ctx.dead) {
    result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
  } else {
    // As for a client's invoke: the cancellation flag belongs to one operation.
    s.cancelled.store(false);
    TaOutcome o = nested_ta_call(
        *t, &s, [&] { return ctx.impl().invoke(s.ta_session_ctx, command, params); });
    if (o.panicked) {
      ctx.dead = true;
      result = tee_error(abi::TEE_ERROR_TARGET_DEAD);
    } else {
      result.code = o.result;
    }
  }
  leave(*t, ctx);
  return result;
}

void SecureOs::ta_close_session(std::shared_ptr<Session> session) {
  if (!session) return;
  auto ctx = session->ctx_ptr();
  SecureThread* t = current_thread();
  // Off a live secure thread of the session's partition, the partition (or the whole secure OS)
  // is being torn down: instances go without entry points, and so does this session.
  if (t == nullptr || t->aborting() || ctx->charged_to != t->partition) return;
  if (!ctx->dead) {
    // The callee is busy on this very chain only if its own session is what is closing us; its
    // close entry point cannot run then, and the instance lives on anyway.
    if (enter_from_ta(*t, *ctx) == abi::TEE_SUCCESS) {
      if (!ctx->dead) {
        TaOutcome o = nested_ta_call(*t, session.get(), [&] {
          return ctx->impl().close_session(session->ta_session_ctx);
        });
        if (o.panicked) ctx->dead = true;
      }
      leave(*t, *ctx);
    }
  }
  session.reset();
  release_instance(*t, ctx, true);
}

}  // namespace teemu::tee
