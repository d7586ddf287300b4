// The machine's physical memory: one owner of every frame number and of the host memory behind it.
//
// Frame table: Pfn -> (host page address | bank). Banks:
//  - kNsDram:     normal-world kernel pages (message arguments, page lists, RPC buffers), handed out
//                 one page at a time from a host region;
//  - kStaticShm:  the static shared-memory carve-out, physically and host contiguous;
//  - kSecureDram: secure memory; the secure world refuses it wherever normal-world memory is due;
//  - kPinned:     normal-world frames that alias pages of a client's own buffer (the REE model's
//                 get_user_pages), which is what makes registered memory zero copy.
// Frame numbers for kNsDram and kPinned come from a scrambling allocator, so consecutive
// allocations are never physically contiguous and every page-list path runs.
//
// Thread safety: all methods may be called concurrently. Lookups are lock-free; allocation and
// pinning take an internal lock once per call (not per page).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/addr.h"
#include "base/counter.h"
#include "base/result.h"
#include "base/thread_annotations.h"
#include "hw/phys_space.h"

namespace teemu::hw {

enum class Bank : uint8_t { kNone = 0, kNsDram = 1, kStaticShm = 2, kSecureDram = 3, kPinned = 4 };

struct PhysMemConfig {
  uint64_t ns_dram_size = 64ull << 20;      // kernel page pool
  uint64_t static_shm_size = 2ull << 20;    // 0 = no carve-out
  uint64_t secure_dram_size = 4ull << 20;
  uint32_t frame_table_pfns = 1u << 24;     // PA space covered: 64 GiB
};

// Fixed physical layout (values in the style of QEMU's armv8a platform).
constexpr uint64_t kSecureDramBase = 0x0e100000;
constexpr uint64_t kStaticShmBase = 0x42000000;
constexpr Pfn kScatteredFirstPfn = 0x80000;  // PA 2 GiB: first frame of the scrambled window

class PhysMem : public PhysSpace {
 public:
  static std::unique_ptr<PhysMem> create(const PhysMemConfig& config);
  ~PhysMem() override;
  PhysMem(const PhysMem&) = delete;
  PhysMem& operator=(const PhysMem&) = delete;

  // --- lookups (lock-free) ---
  struct Frame {
    std::byte* host = nullptr;
    Bank bank = Bank::kNone;
  };
  Frame frame(Pfn pfn) const;
  Bank bank_of(Pfn pfn) const { return frame(pfn).bank; }
  // Host address of the frame, or nullptr if there is no frame there.
  std::byte* host_of(Pfn pfn) const { return frame(pfn).host; }
  static bool is_nonsecure_ram(Bank b) {
    return b == Bank::kNsDram || b == Bank::kStaticShm || b == Bank::kPinned;
  }
  bool is_nonsecure_ram(Pfn pfn) const { return is_nonsecure_ram(bank_of(pfn)); }
  // Host address of [pa, pa + len) if that range is non-secure RAM contiguous in host memory
  // (one frame, or a run of frames whose host pages follow each other), else nullptr.
  // len 0 is treated as 1 byte.
  std::byte* ns_range(PhysAddr pa, uint64_t len) const;

  // --- static carve-out ---
  PhysAddr static_shm_base() const { return PhysAddr{kStaticShmBase}; }
  uint64_t static_shm_size() const { return static_shm_size_; }
  std::byte* static_shm_host() const { return static_shm_host_; }
  bool in_static_shm(PhysAddr pa, uint64_t len) const;

  PhysAddr secure_dram_base() const { return PhysAddr{kSecureDramBase}; }
  uint64_t secure_dram_size() const { return secure_dram_size_; }

  // --- normal-world kernel pages ---
  // One zeroed page of non-secure DRAM; ENOMEM when the pool is exhausted.
  KResult<Pfn> alloc_ns_page();
  void free_ns_page(Pfn pfn);

  // --- pinning: frames aliasing existing host pages ---
  // Gives out.size() fresh frames aliasing the host pages starting at page-aligned `host_start`.
  // The caller has checked the host memory is valid. ENOMEM if the frame space is exhausted.
  KResult<void> alias_host_pages(uintptr_t host_start, std::span<Pfn> out);
  // Releases frames from alias_host_pages.
  void unalias(std::span<const Pfn> pfns);

  // Gauges for quiescence audits.
  int64_t ns_pages_in_use() const { return ns_pages_in_use_.get(); }
  int64_t frames_aliased() const { return frames_aliased_.get(); }

  // PhysSpace: the machine as the host's (non-virtualized) kernel sees it.
  KResult<Pfn> alloc_page() override { return alloc_ns_page(); }
  void free_page(Pfn pfn) override { free_ns_page(pfn); }
  std::byte* frame_host(Pfn pfn) const override { return host_of(pfn); }
  KResult<void> alias_pages(uintptr_t host_start, std::span<Pfn> out) override {
    return alias_host_pages(host_start, out);
  }
  void unalias_pages(std::span<const Pfn> pfns) override { unalias(pfns); }
  PhysAddr carveout_base() const override { return static_shm_base(); }
  uint64_t carveout_size() const override { return static_shm_size(); }
  std::byte* carveout_host() const override { return static_shm_host(); }
  int64_t pages_in_use() const override { return ns_pages_in_use(); }
  int64_t pages_aliased() const override { return frames_aliased(); }

 private:
  explicit PhysMem(const PhysMemConfig& config);
  bool init();
  void set_entry(Pfn pfn, uintptr_t host, Bank bank);
  // Takes out.size() frame numbers: returned ones first (LIFO), then fresh ones from the
  // scrambled window. All or nothing.
  bool take_pfns_locked(std::span<Pfn> out) REQUIRES(lock_);
  // Returns a frame number: its table entry becomes a link of the free list.
  void push_free_pfn_locked(Pfn pfn) REQUIRES(lock_);

  PhysMemConfig config_;
  std::atomic<uint64_t>* table_ = nullptr;  // frame_table_pfns entries, mmap'd NORESERVE
  size_t table_bytes_ = 0;

  std::byte* static_shm_host_ = nullptr;
  uint64_t static_shm_size_ = 0;
  std::byte* secure_host_ = nullptr;
  uint64_t secure_dram_size_ = 0;
  std::byte* ns_dram_host_ = nullptr;

  base::Mutex lock_;
  // Returned frame numbers, linked through their own (otherwise empty) table entries.
  Pfn free_head_ GUARDED_BY(lock_) = ~Pfn{0};
  uint64_t free_count_ GUARDED_BY(lock_) = 0;
  uint32_t fresh_index_ GUARDED_BY(lock_) = 0;          // next never-used scrambled index
  uint32_t window_size_ = 0;                            // power of two
  std::vector<uint32_t> free_ns_slots_ GUARDED_BY(lock_);  // free host pages of ns_dram
  base::Counter ns_pages_in_use_;
  base::Counter frames_aliased_;
};

}  // namespace teemu::hw
