// A guest's physical memory: an intermediate physical address (IPA) space whose stage-2 table maps
// each guest frame onto a machine frame of hw::PhysMem. Guest frame numbers are scattered like
// machine ones, and so are the machine frames behind them, so contiguous-looking guest memory is
// not contiguous in the machine: exactly why a guest needs page lists (and a mediator to
// translate them).
//
// Pinning is the hypervisor's promise to the secure world: a pinned guest frame keeps its machine
// frame, owned by this guest, until unpinned. If the guest gives the page up meanwhile (frees or
// unaliases it), the IPA disappears from the guest at once but the machine frame is released
// only with the last unpin.
//
// Thread safety: all methods may be called concurrently. Translations are lock-free reads, pins
// and unpins one compare-exchange on the entry (the last unpin of a given-up frame takes the
// guest's lock to release it); map changes take the guest's lock.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "base/thread_annotations.h"
#include "hw/phys_space.h"

namespace teemu::hw {

class PhysMem;

class GuestMemory : public PhysSpace {
 public:
  // First guest frame handed out (IPA 1 GiB; IPA 0 is never RAM, since 0 means NULL) and the
  // size of the scattered window.
  static constexpr Pfn kFirstIpaPfn = 0x40000;
  static constexpr uint32_t kIpaWindow = 1u << 21;  // 8 GiB of IPA space

  // `max_pages`: the guest's RAM budget in machine frames (kernel pages plus pinned user pages).
  static std::unique_ptr<GuestMemory> create(PhysMem& machine, uint64_t max_pages);
  ~GuestMemory() override;

  // PhysSpace (guest view).
  KResult<Pfn> alloc_page() override;
  void free_page(Pfn ipa) override;
  std::byte* frame_host(Pfn ipa) const override;
  KResult<void> alias_pages(uintptr_t host_start, std::span<Pfn> out) override;
  void unalias_pages(std::span<const Pfn> ipas) override;
  PhysAddr carveout_base() const override { return PhysAddr{0}; }
  uint64_t carveout_size() const override { return 0; }
  std::byte* carveout_host() const override { return nullptr; }
  int64_t pages_in_use() const override;
  int64_t pages_aliased() const override;

  // --- stage 2 (hypervisor side) ---
  // The machine frame of guest RAM frame `ipa`, pinned; nullopt if `ipa` is not this guest's
  // RAM (unmapped, out of range, or already given up).
  std::optional<Pfn> pin(Pfn ipa) EXCLUDES(lock_);
  void unpin(Pfn ipa) EXCLUDES(lock_);
  // The machine frame of `ipa` without pinning (nullopt if not guest RAM).
  std::optional<Pfn> translate(Pfn ipa) const;
  int64_t pinned_pages() const { return pinned_.load(); }
  // Frames given up by the guest but still pinned.
  int64_t zombie_pages() const EXCLUDES(lock_);

 private:
  enum Kind : uint8_t { kNone = 0, kKernel = 1, kAlias = 2 };
  // Entry: machine pfn (bits 0-31) | pins (32-47) | kind (48-55) | zombie (56).
  static uint64_t pack(Pfn m, uint16_t pins, Kind kind, bool zombie) {
    return uint64_t{m} | (uint64_t{pins} << 32) | (uint64_t{kind} << 48) |
           (uint64_t{zombie} << 56);
  }
  static Pfn e_machine(uint64_t e) { return static_cast<Pfn>(e); }
  static uint16_t e_pins(uint64_t e) { return static_cast<uint16_t>(e >> 32); }
  static Kind e_kind(uint64_t e) { return static_cast<Kind>((e >> 48) & 0xff); }
  static bool e_zombie(uint64_t e) { return (e >> 56) & 1; }

  GuestMemory(PhysMem& machine, uint64_t max_pages);
  bool init();
  bool take_ipas_locked(std::span<Pfn> out) REQUIRES(lock_);
  // Releases the machine frame behind an entry and frees the IPA slot.
  void release_locked(Pfn ipa, uint64_t e) REQUIRES(lock_);
  void give_up_locked(Pfn ipa) REQUIRES(lock_);

  PhysMem& machine_;
  uint64_t max_pages_;
  std::atomic<uint64_t>* table_ = nullptr;  // indexed by IPA pfn
  size_t table_entries_ = 0;
  mutable base::Mutex lock_;
  std::vector<Pfn> free_ipas_ GUARDED_BY(lock_);
  uint32_t fresh_ GUARDED_BY(lock_) = 0;
  int64_t used_ GUARDED_BY(lock_) = 0;  // machine frames held (kernel + aliased, zombies too)
  int64_t kernel_pages_ GUARDED_BY(lock_) = 0;
  int64_t aliased_ GUARDED_BY(lock_) = 0;
  int64_t zombies_ GUARDED_BY(lock_) = 0;
  std::atomic<int64_t> pinned_{0};
};

}  // namespace teemu::hw
