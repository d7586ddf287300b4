#include "hw/phys_mem.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "base/assert.h"
#include "base/checked.h"
#include "base/fault_inject.h"

namespace teemu::hw {

namespace {

constexpr uint64_t kBankMask = 0x7;
// A returned frame number's table entry links the free list: (next << kFreeLinkShift) | kFreeTag.
// The tag is no Bank, so lookups see no frame there; the list costs no memory of its own.
constexpr uint64_t kFreeTag = 0x7;
constexpr unsigned kFreeLinkShift = 3;
constexpr uint32_t kScrambleMask = 511;

void* map_anonymous(size_t bytes, bool noreserve) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

uint32_t floor_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p <= v / 2) p *= 2;
  return p;
}

}  // namespace

std::unique_ptr<PhysMem> PhysMem::create(const PhysMemConfig& config) {
  std::unique_ptr<PhysMem> pm(new PhysMem(config));
  if (!pm->init()) return nullptr;
  return pm;
}

PhysMem::PhysMem(const PhysMemConfig& config) : config_(config) {}

bool PhysMem::init() {
  if (config_.frame_table_pfns <= kScatteredFirstPfn + 1024) return false;
  if (!base::page_aligned(config_.static_shm_size) || !base::page_aligned(config_.ns_dram_size) ||
      !base::page_aligned(config_.secure_dram_size))
    return false;
  if (kStaticShmBase + config_.static_shm_size > uint64_t{kScatteredFirstPfn} << 12) return false;
  if (kSecureDramBase + config_.secure_dram_size > kStaticShmBase) return false;

  table_bytes_ = size_t{config_.frame_table_pfns} * sizeof(uint64_t);
  table_ = static_cast<std::atomic<uint64_t>*>(map_anonymous(table_bytes_, true));
  if (table_ == nullptr) return false;

  static_shm_size_ = config_.static_shm_size;
  if (static_shm_size_ != 0) {
    static_shm_host_ = static_cast<std::byte*>(map_anonymous(static_shm_size_, false));
    if (static_shm_host_ == nullptr) return false;
    for (uint64_t off = 0; off < static_shm_size_; off += base::kPageSize)
      set_entry(pa_to_pfn(PhysAddr{kStaticShmBase + off}),
                reinterpret_cast<uintptr_t>(static_shm_host_ + off), Bank::kStaticShm);
  }
  secure_dram_size_ = config_.secure_dram_size;
  if (secure_dram_size_ != 0) {
    secure_host_ = static_cast<std::byte*>(map_anonymous(secure_dram_size_, false));
    if (secure_host_ == nullptr) return false;
    for (uint64_t off = 0; off < secure_dram_size_; off += base::kPageSize)
      set_entry(pa_to_pfn(PhysAddr{kSecureDramBase + off}),
                reinterpret_cast<uintptr_t>(secure_host_ + off), Bank::kSecureDram);
  }
  ns_dram_host_ = static_cast<std::byte*>(map_anonymous(config_.ns_dram_size, true));
  if (ns_dram_host_ == nullptr) return false;
  window_size_ = floor_pow2(config_.frame_table_pfns - kScatteredFirstPfn);
  base::MutexLock lock(lock_);
  uint32_t slots = static_cast<uint32_t>(config_.ns_dram_size / base::kPageSize);
  free_ns_slots_.reserve(slots);
  for (uint32_t i = slots; i-- > 0;) free_ns_slots_.push_back(i);
  return true;
}

PhysMem::~PhysMem() {
  if (table_ != nullptr) munmap(table_, table_bytes_);
  if (static_shm_host_ != nullptr) munmap(static_shm_host_, static_shm_size_);
  if (secure_host_ != nullptr) munmap(secure_host_, secure_dram_size_);
  if (ns_dram_host_ != nullptr) munmap(ns_dram_host_, config_.ns_dram_size);
}

void PhysMem::set_entry(Pfn pfn, uintptr_t host, Bank bank) {
  TEEMU_ASSERT(pfn < config_.frame_table_pfns);
  TEEMU_ASSERT((host & base::kPageMask) == 0 && host != 0);
  table_[pfn].store(host | static_cast<uint64_t>(bank), std::memory_order_release);
}

PhysMem::Frame PhysMem::frame(Pfn pfn) const {
  if (pfn >= config_.frame_table_pfns) return {};
  uint64_t e = table_[pfn].load(std::memory_order_acquire);
  if ((e & kBankMask) == kFreeTag) return {};
  return {reinterpret_cast<std::byte*>(e & ~base::kPageMask), static_cast<Bank>(e & kBankMask)};
}

bool PhysMem::in_static_shm(PhysAddr pa, uint64_t len) const {
  if (static_shm_size_ == 0 || pa.value < kStaticShmBase) return false;
  return base::range_within<uint64_t>(pa.value - kStaticShmBase, len == 0 ? 1 : len,
                                      static_shm_size_);
}

std::byte* PhysMem::ns_range(PhysAddr pa, uint64_t len) const {
  if (len == 0) len = 1;
  if (in_static_shm(pa, len)) return static_shm_host_ + (pa.value - kStaticShmBase);
  auto last = base::checked_add<uint64_t>(pa.value, len - 1);
  if (!last) return nullptr;
  uint64_t first_pfn = pa.value >> base::kPageShift;
  uint64_t last_pfn = *last >> base::kPageShift;
  if (last_pfn >= config_.frame_table_pfns) return nullptr;
  std::byte* base_host = nullptr;
  for (uint64_t pfn = first_pfn; pfn <= last_pfn; ++pfn) {
    uint64_t e = table_[pfn].load(std::memory_order_acquire);
    Bank b = static_cast<Bank>(e & kBankMask);
    if (b != Bank::kNsDram && b != Bank::kPinned && b != Bank::kStaticShm) return nullptr;
    auto* host = reinterpret_cast<std::byte*>(e & ~base::kPageMask);
    if (pfn == first_pfn)
      base_host = host;
    else if (host != base_host + (pfn - first_pfn) * base::kPageSize)
      return nullptr;
  }
  return base_host + (pa.value & base::kPageMask);
}

void PhysMem::push_free_pfn_locked(Pfn pfn) {
  TEEMU_ASSERT(pfn < config_.frame_table_pfns);
  table_[pfn].store((uint64_t{free_head_} << kFreeLinkShift) | kFreeTag, std::memory_order_release);
  free_head_ = pfn;
  ++free_count_;
}

bool PhysMem::take_pfns_locked(std::span<Pfn> out) {
  const uint64_t from_list = std::min<uint64_t>(out.size(), free_count_);
  if (out.size() - from_list > window_size_ - fresh_index_) return false;
  size_t i = 0;
  for (; i < from_list; ++i) {
    const Pfn pfn = free_head_;
    const uint64_t e = table_[pfn].load(std::memory_order_relaxed);
    TEEMU_ASSERT((e & kBankMask) == kFreeTag);
    free_head_ = static_cast<Pfn>(e >> kFreeLinkShift);
    --free_count_;
    table_[pfn].store(0, std::memory_order_release);
    out[i] = pfn;
  }
  // Within each block of 512 frames (one page of the frame table), multiplying by an odd
  // constant permutes the slots: neighbours are never adjacent, and a run of allocations touches
  // few table pages.
  for (; i < out.size(); ++i) {
    uint32_t n = fresh_index_++;
    uint32_t idx = (n & ~kScrambleMask) | ((n * 0x9E3779B1u) & kScrambleMask);
    out[i] = kScatteredFirstPfn + idx;
  }
  return true;
}

KResult<Pfn> PhysMem::alloc_ns_page() {
  if (base::FaultInjector::should_fail(base::FaultSite::kNsPageAlloc)) return fail_errno(ENOMEM);
  Pfn pfn = 0;
  uint32_t slot = 0;
  {
    base::MutexLock lock(lock_);
    if (free_ns_slots_.empty()) return fail_errno(ENOMEM);
    if (!take_pfns_locked(std::span<Pfn>(&pfn, 1))) return fail_errno(ENOMEM);
    slot = free_ns_slots_.back();
    free_ns_slots_.pop_back();
  }
  std::byte* host = ns_dram_host_ + uint64_t{slot} * base::kPageSize;
  std::memset(host, 0, base::kPageSize);
  set_entry(pfn, reinterpret_cast<uintptr_t>(host), Bank::kNsDram);
  ns_pages_in_use_.add(1);
  return pfn;
}

void PhysMem::free_ns_page(Pfn pfn) {
  uint64_t e = table_[pfn].load(std::memory_order_acquire);
  TEEMU_ASSERT(static_cast<Bank>(e & kBankMask) == Bank::kNsDram);
  auto* host = reinterpret_cast<std::byte*>(e & ~base::kPageMask);
  base::MutexLock lock(lock_);
  free_ns_slots_.push_back(static_cast<uint32_t>((host - ns_dram_host_) / base::kPageSize));
  push_free_pfn_locked(pfn);
  ns_pages_in_use_.sub(1);
}

KResult<void> PhysMem::alias_host_pages(uintptr_t host_start, std::span<Pfn> out) {
  TEEMU_ASSERT((host_start & base::kPageMask) == 0);
  if (base::FaultInjector::should_fail(base::FaultSite::kPin)) return fail_errno(ENOMEM);
  {
    base::MutexLock lock(lock_);
    if (!take_pfns_locked(out)) return fail_errno(ENOMEM);
  }
  for (size_t i = 0; i < out.size(); ++i)
    set_entry(out[i], host_start + i * base::kPageSize, Bank::kPinned);
  frames_aliased_.add(static_cast<int64_t>(out.size()));
  return {};
}

void PhysMem::unalias(std::span<const Pfn> pfns) {
  for (Pfn pfn : pfns) TEEMU_ASSERT(bank_of(pfn) == Bank::kPinned);
  base::MutexLock lock(lock_);
  for (Pfn pfn : pfns) push_free_pfn_locked(pfn);
  frames_aliased_.sub(static_cast<int64_t>(pfns.size()));
}

}  // namespace teemu::hw
