// Memory objects: the secure OS's handle on normal-world memory it may touch.
//
// Kinds:
//  - static: a range of the static carve-out (TMEM without NONCONTIG);
//  - registered: pages from a REGISTER_SHM page list, found by cookie, living until UNREGISTER;
//  - temporary: pages from a NONCONTIG TMEM param or an RPC allocation, "guarded": only the call
//    that built it holds it, it can never be found or released by cookie.
// A registered object's in-use count is its reference count: the registration holds one
// reference and every call using it holds one more. UNREGISTER marks the object releasing (no new
// lookup can succeed), drops the registration reference and waits until the last user is gone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/addr.h"
#include "base/assert.h"
#include "base/result.h"
#include "base/thread_annotations.h"

namespace teemu::tee {

class Mobj;
class MobjRegistry;

// Intrusive reference to a Mobj; releasing the last reference runs the object's release hook.
class MobjRef {
 public:
  MobjRef() = default;
  explicit MobjRef(Mobj* m) : m_(m) {}  // adopts one reference
  MobjRef(const MobjRef&) = delete;
  MobjRef& operator=(const MobjRef&) = delete;
  MobjRef(MobjRef&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  MobjRef& operator=(MobjRef&& o) noexcept;
  // A reference must be released explicitly with release(), which reports whether a releasing
  // registered object must be woken; dropping one silently is a bug.
  ~MobjRef();
  // Drops the reference; returns the wait-queue key to wake, or 0.
  [[nodiscard]] uint32_t release();
  Mobj* get() const { return m_; }
  Mobj* operator->() const { return m_; }
  explicit operator bool() const { return m_ != nullptr; }

 private:
  Mobj* m_ = nullptr;
};

class Mobj {
 public:
  enum class Kind { kStatic, kRegistered, kTemporary };

  // A mobj over `pages` (frames already checked to be non-secure RAM). `page_offset` < 4096 is the
  // buffer's offset in its first page; the object covers num_pages*4096 - page_offset bytes.
  // `host_base` is byte 0 in host memory if the pages are host-contiguous, else nullptr.
  // A host-contiguous object is reached through `host_base` alone and does not keep `pages`
  // (4 bytes per page less for every registration of client memory: the frames were checked,
  // and the host memory behind them captured, once, here).
  static std::unique_ptr<Mobj> create_paged(Kind kind, std::vector<Pfn> pages,
                                            uint32_t page_offset, uint64_t cookie,
                                            std::byte* host_base);
  // A mobj over [pa, pa + size) of the static carve-out; `cookie` is the normal world's handle
  // when the range came from an RPC allocation (0 otherwise).
  static std::unique_ptr<Mobj> create_static(PhysAddr pa, uint64_t size, std::byte* host,
                                             uint64_t cookie);
  // Physical address of byte 0 (static objects only).
  PhysAddr static_pa() const { return static_pa_; }

  Kind kind() const { return kind_; }
  uint64_t size() const { return size_; }
  uint64_t cookie() const { return cookie_; }
  size_t num_pages() const { return num_pages_; }
  // Frame numbers the object holds (num_pages() without host_base(), else 0).
  size_t frames_kept() const { return pages_.size(); }
  // The frames, for page-by-page access: only objects without host_base() keep them.
  const std::vector<Pfn>& pages() const {
    TEEMU_ASSERT(host_base_ == nullptr);
    return pages_;
  }
  uint32_t page_offset() const { return page_offset_; }
  // Host address of byte 0 when the object's pages are contiguous in host memory (always for
  // client buffers and the carve-out), else nullptr and callers must go page by page.
  std::byte* host_base() const { return host_base_; }

  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops one reference to a temporary or static object; the last one deletes it. References to
  // registered objects are dropped through their registry (MobjRef::release does both).
  void put();
  uint32_t refs() const { return refs_.load(std::memory_order_acquire); }

 private:
  friend class MobjRegistry;
  friend class MobjRef;
  Mobj() = default;

  Kind kind_ = Kind::kTemporary;
  uint64_t size_ = 0;
  uint64_t cookie_ = 0;
  uint32_t page_offset_ = 0;
  size_t num_pages_ = 0;
  std::vector<Pfn> pages_;  // empty when host_base_ is set
  std::byte* host_base_ = nullptr;
  PhysAddr static_pa_{};
  std::atomic<uint32_t> refs_{1};
  // Registered objects only: set once at insert / under the registry lock.
  MobjRegistry* registry_ = nullptr;
  bool releasing_ = false;
  uint32_t release_key_ = 0;
};


// Cookie -> registered mobj, for one partition. Lookup and reference change together under one
// lock, so a lookup can never return an object whose count reached zero or that is releasing.
class MobjRegistry {
 public:
  ~MobjRegistry();
  // Inserts a registered mobj (its initial reference belongs to the registration).
  void insert(std::unique_ptr<Mobj> m) EXCLUDES(lock_);
  // A new reference to the registered object `cookie`, or null if unknown or releasing.
  MobjRef lookup(uint64_t cookie) EXCLUDES(lock_);
  // Starts unregistering `cookie`: BAD_PARAMETERS if unknown or already releasing. On success the
  // object is marked releasing, gets `wake_key`, and loses its registration reference; the caller
  // then sleeps on wake_key until try_finish_release() succeeds.
  Result<Mobj*> begin_release(uint64_t cookie, uint32_t wake_key) EXCLUDES(lock_);
  // True once every user of the object dropped its reference; the object is then unlinked and
  // freed and must not be touched again.
  bool try_finish_release(Mobj* m) EXCLUDES(lock_);
  // Drops one reference to a registered object of this registry. Returns the wait key of the
  // unregistering thread when this was the last reference (the caller must wake it), else 0.
  // The count and the key are read under the registry lock, together with the releaser's check
  // in try_finish_release: a user that read the key before UNREGISTER set it and dropped its
  // reference after would otherwise wake nobody, and the unregistering thread would sleep in
  // the normal world for ever (a lost wake-up); reading it after the drop could touch an object
  // the releaser already freed.
  [[nodiscard]] uint32_t put(Mobj* m) EXCLUDES(lock_);
  size_t count() const EXCLUDES(lock_);
  // The cookie of every registered object, once per registration, sorted (for audits).
  std::vector<uint64_t> cookies() const EXCLUDES(lock_);
  // Total pages covered by registered objects, and frame numbers they keep (for the metadata
  // audit).
  uint64_t pages() const EXCLUDES(lock_);
  uint64_t frames_kept() const EXCLUDES(lock_);

 private:
  mutable base::Mutex lock_;
  // Per cookie, the objects registered under it, newest last (OP-TEE does not refuse duplicate
  // cookies; lookups and releases take the newest).
  std::unordered_map<uint64_t, std::vector<Mobj*>> by_cookie_ GUARDED_BY(lock_);
  uint64_t pages_ GUARDED_BY(lock_) = 0;
  uint64_t frames_kept_ GUARDED_BY(lock_) = 0;
};

}  // namespace teemu::tee
