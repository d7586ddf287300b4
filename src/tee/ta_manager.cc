// TA instances: loading through the supplicant (RPC LOAD_TA), single- and multi-instance
// semantics, one entry point at a time per instance, teardown.
#include <algorithm>
#include <cstring>

#include "base/assert.h"
#include "base/checked.h"
#include "hw/phys_mem.h"
#include "tee/secure_os.h"

namespace teemu::tee {

namespace {
// Largest TA image the secure OS accepts from the supplicant.
constexpr uint64_t kMaxTaImageSize = 64ull << 20;
}  // namespace

Result<std::vector<uint8_t>> SecureOs::load_ta_image(SecureThread& t, const abi::Uuid& uuid) {
  uint64_t a, b;
  std::memcpy(&a, uuid.octets, 8);
  std::memcpy(&b, uuid.octets + 8, 8);
  // First ask for the size with a NULL buffer, then fetch into RPC shared memory.
  RpcParam q[2] = {RpcParam::value_in(a, b),
                   RpcParam::mem(RpcParam::Kind::kMemOut, nullptr, 0, 0)};
  const abi::optee_msg_arg* asked = nullptr;
  uint32_t ret = rpc_.cmd(t, abi::OPTEE_RPC_CMD_LOAD_TA, q, &asked);
  // No RPC argument to ask in: our own failure, not "no such TA" (optee_os rpc_load returns
  // thread_rpc_cmd's TEE_ERROR_OUT_OF_MEMORY).
  if (asked == nullptr) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
  if (ret != abi::TEE_SUCCESS && ret != abi::TEE_ERROR_SHORT_BUFFER)
    return fail(ret == abi::TEE_ERROR_ITEM_NOT_FOUND ? ret : abi::TEE_ERROR_ITEM_NOT_FOUND);
  const uint64_t size = q[1].size;
  if (size == 0) return fail(abi::TEE_ERROR_BAD_FORMAT);
  if (size > kMaxTaImageSize) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
  auto shm = TRY(rpc_.shm_alloc(t, abi::OPTEE_RPC_SHM_TYPE_APPL, size));
  RpcParam l[2] = {RpcParam::value_in(a, b),
                   RpcParam::mem(RpcParam::Kind::kMemOut, shm.get(), 0, size)};
  ret = rpc_.cmd(t, abi::OPTEE_RPC_CMD_LOAD_TA, l);
  std::vector<uint8_t> image;
  if (ret == abi::TEE_SUCCESS && l[1].size == size) {
    // The image is copied into secure memory before it is checked (and never read again from
    // normal-world memory). Appended, not zero-filled first.
    image.reserve(size);
    if (shm->host_base() != nullptr) {
      const auto* src = reinterpret_cast<const uint8_t*>(shm->host_base());
      image.assign(src, src + size);
    } else {
      for (uint64_t off = 0; off < size;) {
        uint64_t pos = off + shm->page_offset();
        uint64_t chunk = std::min(size - off, base::kPageSize - (pos & base::kPageMask));
        const std::byte* host = mem_.host_of(shm->pages()[pos >> base::kPageShift]);
        if (host != nullptr) {
          const auto* src = reinterpret_cast<const uint8_t*>(host + (pos & base::kPageMask));
          image.insert(image.end(), src, src + chunk);
        } else {
          image.resize(image.size() + chunk);  // an unbacked page reads as zeros
        }
        off += chunk;
      }
    }
  }
  rpc_.shm_free(t, abi::OPTEE_RPC_SHM_TYPE_APPL, std::move(shm));
  if (image.empty()) return fail(ret != abi::TEE_SUCCESS ? ret : abi::TEE_ERROR_BAD_FORMAT);
  return image;
}

TaContext::~TaContext() {
  impl_.reset();
  if (charged_to != nullptr) charged_to->uncharge(charge);
}

Result<std::shared_ptr<TaContext>> SecureOs::get_instance(SecureThread& t,
                                                          const abi::Uuid& uuid) {
  Partition& p = *t.partition;
  // Join a live shared instance if there is one.
  {
    base::MutexLock lock(p.lock);
    auto it = p.shared_instances.find(uuid);
    if (it != p.shared_instances.end()) {
      auto c = it->second;
      base::MutexLock cl(c->lock);
      if (!c->dead && !c->destroyed) {
        if (!(c->props().flags & TA_FLAG_MULTI_SESSION) && c->sessions > 0)
          return fail(abi::TEE_ERROR_BUSY);
        ++c->sessions;
        return c;
      }
    }
  }
  auto image = load_ta_image(t, uuid);
  if (!image) return tl::unexpected(Error{image.error().code, abi::TEE_ORIGIN_TEE});
  auto inst = loader_.instantiate(uuid, *image);
  if (!inst) return tl::unexpected(Error{inst.error().code, abi::TEE_ORIGIN_TEE});
  // The instance's image, heap and stack come out of the partition's share of secure memory.
  const auto& props = (*inst)->properties();
  const uint64_t charge = image->size() + props.data_size + props.stack_size;
  if (!p.charge(charge)) return fail(abi::TEE_ERROR_OUT_OF_MEMORY, abi::TEE_ORIGIN_TEE);
  auto c = std::make_shared<TaContext>(std::move(*inst));
  c->charged_to = &p;
  c->charge = charge;
  {
    base::MutexLock cl(c->lock);
    c->sessions = 1;
  }
  {
    base::MutexLock lock(p.lock);
    ++p.live_instances;
  }
  TaOutcome o{abi::TEE_ERROR_TARGET_DEAD, true};
  if (enter(t, *c)) {
    o = c->impl().create();
    leave(t, *c);
  }
  if (o.panicked || o.result != abi::TEE_SUCCESS) {
    if (o.panicked) c->dead = true;
    {
      base::MutexLock cl(c->lock);
      c->destroyed = true;  // TA_DestroyEntryPoint is not called after a failed create
    }
    base::MutexLock lock(p.lock);
    --p.live_instances;
    return fail(o.panicked ? abi::TEE_ERROR_TARGET_DEAD : o.result,
                o.panicked ? abi::TEE_ORIGIN_TEE : abi::TEE_ORIGIN_TRUSTED_APP);
  }
  if (c->props().flags & TA_FLAG_SINGLE_INSTANCE) {
    std::shared_ptr<TaContext> other;
    bool busy = false;
    {
      base::MutexLock lock(p.lock);
      auto [it, inserted] = p.shared_instances.emplace(uuid, c);
      if (!inserted) {
        auto& o = it->second;
        base::MutexLock ol(o->lock);
        if (o->dead || o->destroyed) {
          it->second = c;
        } else if (!(o->props().flags & TA_FLAG_MULTI_SESSION) && o->sessions > 0) {
          busy = true;
        } else {
          ++o->sessions;
          other = o;
        }
      }
    }
    if (busy || other) {
      // Lost a race with a concurrent open of the same single-instance TA: drop ours.
      {
        base::MutexLock cl(c->lock);
        c->sessions = 0;
        c->destroyed = true;
      }
      destroy_instance(t, c);
      if (busy) return fail(abi::TEE_ERROR_BUSY);
      return other;
    }
  }
  return c;
}

bool SecureOs::enter(SecureThread& t, TaContext& c) {
  // A thread of a partition being torn down runs no TA code any more.
  if (t.aborting()) return false;
  if (c.try_take()) return true;  // idle: no lock
  for (;;) {
    if (t.aborting()) return false;
    {
      base::MutexLock lock(c.lock);
      // Drop a stale registration of ours from an earlier spurious wake-up.
      auto pos = std::find(c.waiters.begin(), c.waiters.end(), t.wait_key());
      if (pos != c.waiters.end()) c.waiters.erase(pos);
      if (c.waiters.empty()) c.entry.fetch_and(~TaContext::kWaiters, std::memory_order_relaxed);
      // Busy: announce a waiter, but only while it is still busy (a leave() that found no
      // waiter has cleared kBusy without the lock, and would wake nobody).
      uint32_t e = c.entry.load(std::memory_order_relaxed);
      bool registered = false;
      while (!registered) {
        if (!(e & TaContext::kBusy)) {
          if (c.entry.compare_exchange_weak(e, e | TaContext::kBusy, std::memory_order_acquire))
            return true;
          continue;
        }
        registered = c.entry.compare_exchange_weak(e, e | TaContext::kWaiters,
                                                   std::memory_order_acq_rel);
      }
      c.waiters.push_back(t.wait_key());
    }
    rpc_.wait(t, t.wait_key(), 0);
  }
}

void SecureOs::leave(SecureThread& t, TaContext& c) {
  uint32_t nobody_waits = TaContext::kBusy;
  if (c.entry.compare_exchange_strong(nobody_waits, 0, std::memory_order_release)) return;
  uint32_t key = 0;
  {
    base::MutexLock lock(c.lock);
    const uint32_t was = c.entry.fetch_and(~TaContext::kBusy, std::memory_order_release);
    TEEMU_ASSERT(was & TaContext::kBusy);
    if (!c.waiters.empty()) {
      key = c.waiters.front();
      c.waiters.pop_front();
    }
    if (c.waiters.empty()) c.entry.fetch_and(~TaContext::kWaiters, std::memory_order_relaxed);
  }
  if (key != 0) rpc_.wake(t, key);
}

void SecureOs::release_instance(SecureThread& t, const std::shared_ptr<TaContext>& c,
                                bool had_session) {
  Partition& p = *t.partition;
  {
    base::MutexLock lock(p.lock);
    {
      base::MutexLock cl(c->lock);
      if (had_session) {
        TEEMU_ASSERT(c->sessions > 0);
        --c->sessions;
      }
      if (c->sessions > 0 || c->destroyed) return;
      const uint32_t flags = c->props().flags;
      const bool keep_alive =
          (flags & TA_FLAG_SINGLE_INSTANCE) && (flags & TA_FLAG_INSTANCE_KEEP_ALIVE);
      if (keep_alive && !c->dead) return;
      c->destroyed = true;
    }
    auto it = p.shared_instances.find(c->props().uuid);
    if (it != p.shared_instances.end() && it->second == c) p.shared_instances.erase(it);
  }
  destroy_instance(t, c);
}

void SecureOs::destroy_instance(SecureThread& t, const std::shared_ptr<TaContext>& c) {
  if (!c->dead && enter(t, *c)) {
    TaOutcome o = c->impl().destroy();
    if (o.panicked) c->dead = true;
    leave(t, *c);
  }
  base::MutexLock lock(t.partition->lock);
  --t.partition->live_instances;
}

}  // namespace teemu::tee

namespace teemu::tee {

// --- SessionTable ---

void SessionTable::insert(std::shared_ptr<Session> s) {
  Shard& sh = shard(s->id());
  base::MutexLock lock(sh.lock);
  sh.by_id.emplace(s->id(), std::move(s));
}

std::shared_ptr<Session> SessionTable::find(uint32_t id) const {
  const Shard& sh = shard(id);
  base::MutexLock lock(sh.lock);
  auto it = sh.by_id.find(id);
  return it == sh.by_id.end() ? nullptr : it->second;
}

std::shared_ptr<Session> SessionTable::take(uint32_t id) {
  Shard& sh = shard(id);
  base::MutexLock lock(sh.lock);
  auto it = sh.by_id.find(id);
  if (it == sh.by_id.end()) return nullptr;
  std::shared_ptr<Session> s = std::move(it->second);
  sh.by_id.erase(it);
  return s;
}

std::vector<std::shared_ptr<Session>> SessionTable::take_all() {
  std::vector<std::shared_ptr<Session>> out;
  for (Shard& sh : shards_) {
    base::MutexLock lock(sh.lock);
    for (auto& [id, s] : sh.by_id) out.push_back(std::move(s));
    sh.by_id.clear();
  }
  return out;
}

std::vector<uint32_t> SessionTable::ids() const {
  std::vector<uint32_t> out;
  for (const Shard& sh : shards_) {
    base::MutexLock lock(sh.lock);
    for (const auto& [id, s] : sh.by_id) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

size_t SessionTable::size() const {
  size_t n = 0;
  for (const Shard& sh : shards_) {
    base::MutexLock lock(sh.lock);
    n += sh.by_id.size();
  }
  return n;
}

}  // namespace teemu::tee
