#include "tee/mobj.h"

#include <algorithm>

#include "base/assert.h"
#include "base/checked.h"

namespace teemu::tee {

MobjRef::~MobjRef() { TEEMU_ASSERT(m_ == nullptr && "MobjRef dropped without release()"); }

MobjRef& MobjRef::operator=(MobjRef&& o) noexcept {
  if (this != &o) {
    TEEMU_ASSERT(m_ == nullptr && "MobjRef overwritten without release()");
    m_ = o.m_;
    o.m_ = nullptr;
  }
  return *this;
}

uint32_t MobjRef::release() {
  if (m_ == nullptr) return 0;
  Mobj* m = m_;
  m_ = nullptr;
  if (m->kind() == Mobj::Kind::kRegistered) return m->registry_->put(m);
  m->put();
  return 0;
}

std::unique_ptr<Mobj> Mobj::create_paged(Kind kind, std::vector<Pfn> pages, uint32_t page_offset,
                                         uint64_t cookie, std::byte* host_base) {
  TEEMU_ASSERT(kind != Kind::kStatic && !pages.empty() && page_offset < base::kPageSize);
  std::unique_ptr<Mobj> m(new Mobj());
  m->kind_ = kind;
  m->size_ = pages.size() * base::kPageSize - page_offset;
  m->cookie_ = cookie;
  m->page_offset_ = page_offset;
  m->host_base_ = host_base;
  m->num_pages_ = pages.size();
  if (host_base == nullptr) m->pages_ = std::move(pages);
  return m;
}

std::unique_ptr<Mobj> Mobj::create_static(PhysAddr pa, uint64_t size, std::byte* host,
                                          uint64_t cookie) {
  std::unique_ptr<Mobj> m(new Mobj());
  m->kind_ = Kind::kStatic;
  m->size_ = size;
  m->host_base_ = host;
  m->static_pa_ = pa;
  m->cookie_ = cookie;
  return m;
}

void Mobj::put() {
  TEEMU_ASSERT(kind_ != Kind::kRegistered);
  uint32_t before = refs_.fetch_sub(1, std::memory_order_acq_rel);
  TEEMU_ASSERT(before != 0);
  if (before == 1) delete this;
}

MobjRegistry::~MobjRegistry() {
  base::MutexLock lock(lock_);
  for (auto& [cookie, list] : by_cookie_)
    for (Mobj* m : list) delete m;
}

void MobjRegistry::insert(std::unique_ptr<Mobj> m) {
  TEEMU_ASSERT(m->kind() == Mobj::Kind::kRegistered);
  base::MutexLock lock(lock_);
  pages_ += m->num_pages();
  frames_kept_ += m->frames_kept();
  m->registry_ = this;
  Mobj* raw = m.release();
  by_cookie_[raw->cookie()].push_back(raw);
}

MobjRef MobjRegistry::lookup(uint64_t cookie) {
  base::MutexLock lock(lock_);
  auto it = by_cookie_.find(cookie);
  if (it == by_cookie_.end()) return MobjRef();
  Mobj* m = it->second.back();
  if (m->releasing_) return MobjRef();
  m->get();
  return MobjRef(m);
}

Result<Mobj*> MobjRegistry::begin_release(uint64_t cookie, uint32_t wake_key) {
  base::MutexLock lock(lock_);
  auto it = by_cookie_.find(cookie);
  if (it == by_cookie_.end()) return fail(abi::TEE_ERROR_BAD_PARAMETERS);
  Mobj* m = it->second.back();
  if (m->releasing_) return fail(abi::TEE_ERROR_BAD_PARAMETERS);
  m->releasing_ = true;
  m->release_key_ = wake_key;
  // Drop the registration's reference. If it was the last one, nobody needs waking: the caller's
  // try_finish_release() sees zero.
  uint32_t before = m->refs_.fetch_sub(1, std::memory_order_acq_rel);
  TEEMU_ASSERT(before != 0);
  return m;
}

uint32_t MobjRegistry::put(Mobj* m) {
  base::MutexLock lock(lock_);
  TEEMU_ASSERT(m->registry_ == this);
  uint32_t before = m->refs_.fetch_sub(1, std::memory_order_acq_rel);
  TEEMU_ASSERT(before != 0);
  if (before != 1) return 0;
  // Only begin_release drops the registration's reference, so zero means releasing.
  TEEMU_ASSERT(m->releasing_);
  return m->release_key_;
}

bool MobjRegistry::try_finish_release(Mobj* m) {
  {
    base::MutexLock lock(lock_);
    if (m->refs() != 0) return false;
    auto it = by_cookie_.find(m->cookie());
    TEEMU_ASSERT(it != by_cookie_.end());
    auto& list = it->second;
    auto pos = std::find(list.begin(), list.end(), m);
    TEEMU_ASSERT(pos != list.end());
    list.erase(pos);
    if (list.empty()) by_cookie_.erase(it);
    pages_ -= m->num_pages();
    frames_kept_ -= m->frames_kept();
  }
  delete m;
  return true;
}

size_t MobjRegistry::count() const {
  base::MutexLock lock(lock_);
  size_t n = 0;
  for (const auto& [cookie, list] : by_cookie_) n += list.size();
  return n;
}

std::vector<uint64_t> MobjRegistry::cookies() const {
  base::MutexLock lock(lock_);
  std::vector<uint64_t> out;
  for (const auto& [cookie, list] : by_cookie_) out.insert(out.end(), list.size(), cookie);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t MobjRegistry::pages() const {
  base::MutexLock lock(lock_);
  return pages_;
}

uint64_t MobjRegistry::frames_kept() const {
  base::MutexLock lock(lock_);
  return frames_kept_;
}

}  // namespace teemu::tee
