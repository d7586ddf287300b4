#include "hw/guest_memory.h"

#include <sys/mman.h>

#include "base/assert.h"
#include "base/checked.h"
#include "hw/phys_mem.h"

namespace teemu::hw {

namespace {
constexpr uint32_t kScrambleMask = 511;
}

std::unique_ptr<GuestMemory> GuestMemory::create(PhysMem& machine, uint64_t max_pages) {
  std::unique_ptr<GuestMemory> g(new GuestMemory(machine, max_pages));
  if (!g->init()) return nullptr;
  return g;
}

GuestMemory::GuestMemory(PhysMem& machine, uint64_t max_pages)
    : machine_(machine), max_pages_(max_pages) {}

bool GuestMemory::init() {
  table_entries_ = size_t{kFirstIpaPfn} + kIpaWindow;
  void* p = mmap(nullptr, table_entries_ * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  table_ = static_cast<std::atomic<uint64_t>*>(p);
  return true;
}

GuestMemory::~GuestMemory() {
  if (table_ == nullptr) return;
  {
    base::MutexLock lock(lock_);
    // The guest is gone: release every frame it still holds. Pins must have been dropped by the
    // hypervisor first.
    for (size_t ipa = kFirstIpaPfn; ipa < table_entries_ && used_ > 0; ++ipa) {
      uint64_t e = table_[ipa].load(std::memory_order_relaxed);
      if (e_kind(e) == kNone) continue;
      TEEMU_ASSERT(e_pins(e) == 0 && "guest memory destroyed while pinned");
      release_locked(static_cast<Pfn>(ipa), e);
    }
  }
  munmap(table_, table_entries_ * sizeof(uint64_t));
}

bool GuestMemory::take_ipas_locked(std::span<Pfn> out) {
  if (static_cast<uint64_t>(used_) + out.size() > max_pages_) return false;
  size_t i = 0;
  while (i < out.size() && !free_ipas_.empty()) {
    out[i++] = free_ipas_.back();
    free_ipas_.pop_back();
  }
  if (out.size() - i > kIpaWindow - fresh_) {
    for (size_t j = 0; j < i; ++j) free_ipas_.push_back(out[j]);
    return false;
  }
  for (; i < out.size(); ++i) {
    uint32_t n = fresh_++;
    out[i] = kFirstIpaPfn + ((n & ~kScrambleMask) | ((n * 0x9E3779B1u) & kScrambleMask));
  }
  return true;
}

void GuestMemory::release_locked(Pfn ipa, uint64_t e) {
  const Pfn m = e_machine(e);
  if (e_kind(e) == kKernel) {
    machine_.free_ns_page(m);
    --kernel_pages_;
  } else {
    machine_.unalias(std::span<const Pfn>(&m, 1));
    --aliased_;
  }
  if (e_zombie(e)) --zombies_;
  --used_;
  table_[ipa].store(0, std::memory_order_release);
  free_ipas_.push_back(ipa);
}

// The guest stops using `ipa`: released now, or when the last pin goes. Pins are taken and
// dropped without the lock (pin(), unpin()), so the zombie mark is set by a compare-exchange: once
// it is in, no new pin can be taken, and whoever sees the pins reach 0 on a zombie releases it.
void GuestMemory::give_up_locked(Pfn ipa) {
  TEEMU_ASSERT(ipa < table_entries_);
  uint64_t e = table_[ipa].load(std::memory_order_relaxed);
  uint64_t z;
  do {
    TEEMU_ASSERT(e_kind(e) != kNone && !e_zombie(e));
    z = pack(e_machine(e), e_pins(e), e_kind(e), true);
  } while (!table_[ipa].compare_exchange_weak(e, z, std::memory_order_acq_rel,
                                              std::memory_order_relaxed));
  ++zombies_;
  if (e_pins(z) == 0) release_locked(ipa, z);
}

KResult<Pfn> GuestMemory::alloc_page() {
  Pfn ipa;
  {
    base::MutexLock lock(lock_);
    if (!take_ipas_locked(std::span<Pfn>(&ipa, 1))) return fail_errno(ENOMEM);
    ++used_;
    ++kernel_pages_;
  }
  auto m = machine_.alloc_ns_page();
  base::MutexLock lock(lock_);
  if (!m) {
    --used_;
    --kernel_pages_;
    free_ipas_.push_back(ipa);
    return tl::unexpected(m.error());
  }
  table_[ipa].store(pack(*m, 0, kKernel, false), std::memory_order_release);
  return ipa;
}

void GuestMemory::free_page(Pfn ipa) {
  base::MutexLock lock(lock_);
  TEEMU_ASSERT(e_kind(table_[ipa].load()) == kKernel);
  give_up_locked(ipa);
}

std::byte* GuestMemory::frame_host(Pfn ipa) const {
  auto m = translate(ipa);
  return m ? machine_.host_of(*m) : nullptr;
}

std::optional<Pfn> GuestMemory::translate(Pfn ipa) const {
  if (ipa >= table_entries_) return std::nullopt;
  uint64_t e = table_[ipa].load(std::memory_order_acquire);
  if (e_kind(e) == kNone || e_zombie(e)) return std::nullopt;
  return e_machine(e);
}

KResult<void> GuestMemory::alias_pages(uintptr_t host_start, std::span<Pfn> out) {
  {
    base::MutexLock lock(lock_);
    if (!take_ipas_locked(out)) return fail_errno(ENOMEM);
    used_ += static_cast<int64_t>(out.size());
    aliased_ += static_cast<int64_t>(out.size());
  }
  std::vector<Pfn> machine(out.size());
  auto r = machine_.alias_host_pages(host_start, machine);
  base::MutexLock lock(lock_);
  if (!r) {
    used_ -= static_cast<int64_t>(out.size());
    aliased_ -= static_cast<int64_t>(out.size());
    free_ipas_.insert(free_ipas_.end(), out.begin(), out.end());
    return r;
  }
  for (size_t i = 0; i < out.size(); ++i)
    table_[out[i]].store(pack(machine[i], 0, kAlias, false), std::memory_order_release);
  return {};
}

void GuestMemory::unalias_pages(std::span<const Pfn> ipas) {
  base::MutexLock lock(lock_);
  for (Pfn ipa : ipas) {
    TEEMU_ASSERT(e_kind(table_[ipa].load()) == kAlias);
    give_up_locked(ipa);
  }
}

// Lock-free: a pin is one compare-exchange on the entry (the mediator pins and unpins the
// argument page of every call). Map changes under the lock never store over a pinned entry
// without a compare-exchange (give_up_locked) or only store into entries with no frame (kind
// kNone), which pin() refuses.
std::optional<Pfn> GuestMemory::pin(Pfn ipa) {
  if (ipa >= table_entries_) return std::nullopt;
  uint64_t e = table_[ipa].load(std::memory_order_acquire);
  do {
    if (e_kind(e) == kNone || e_zombie(e) || e_pins(e) == UINT16_MAX) return std::nullopt;
  } while (!table_[ipa].compare_exchange_weak(
      e, pack(e_machine(e), static_cast<uint16_t>(e_pins(e) + 1), e_kind(e), false),
      std::memory_order_acq_rel, std::memory_order_acquire));
  pinned_.fetch_add(1, std::memory_order_relaxed);
  return e_machine(e);
}

// Lock-free unless this is the last pin of a frame the guest gave up: that one releases the frame
// under the lock. A zombie's pins only go down (pin() refuses zombies), so the holder of its last
// pin is alone on the entry.
void GuestMemory::unpin(Pfn ipa) {
  TEEMU_ASSERT(ipa < table_entries_);
  uint64_t e = table_[ipa].load(std::memory_order_acquire);
  for (;;) {
    TEEMU_ASSERT(e_kind(e) != kNone && e_pins(e) > 0);
    if (e_zombie(e) && e_pins(e) == 1) {
      base::MutexLock lock(lock_);
      e = table_[ipa].load(std::memory_order_acquire);
      TEEMU_ASSERT(e_zombie(e) && e_pins(e) == 1);
      pinned_.fetch_sub(1, std::memory_order_relaxed);
      release_locked(ipa, pack(e_machine(e), 0, e_kind(e), true));
      return;
    }
    const uint64_t n = pack(e_machine(e), static_cast<uint16_t>(e_pins(e) - 1), e_kind(e),
                            e_zombie(e));
    if (table_[ipa].compare_exchange_weak(e, n, std::memory_order_acq_rel,
                                          std::memory_order_acquire))
      break;
  }
  pinned_.fetch_sub(1, std::memory_order_relaxed);
}

int64_t GuestMemory::pages_in_use() const {
  base::MutexLock lock(lock_);
  return kernel_pages_;
}

int64_t GuestMemory::pages_aliased() const {
  base::MutexLock lock(lock_);
  return aliased_;
}

int64_t GuestMemory::zombie_pages() const {
  base::MutexLock lock(lock_);
  return zombies_;
}

}  // namespace teemu::hw
