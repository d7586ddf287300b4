// The machine's physical memory: frame table, banks, scattering, aliasing of client pages.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <vector>

#include "hw/phys_mem.h"

namespace teemu::hw {
namespace {

std::unique_ptr<PhysMem> make(uint64_t static_size = 2 << 20) {
  PhysMemConfig c;
  c.static_shm_size = static_size;
  c.ns_dram_size = 4 << 20;
  auto m = PhysMem::create(c);
  EXPECT_NE(m, nullptr);
  return m;
}

TEST(PhysMem, BanksAreWhereTheLayoutSays) {
  auto m = make();
  EXPECT_EQ(m->bank_of(pa_to_pfn(PhysAddr{kStaticShmBase})), Bank::kStaticShm);
  EXPECT_EQ(m->bank_of(pa_to_pfn(PhysAddr{kSecureDramBase})), Bank::kSecureDram);
  EXPECT_EQ(m->bank_of(0), Bank::kNone);
  EXPECT_FALSE(m->is_nonsecure_ram(pa_to_pfn(PhysAddr{kSecureDramBase})));
  EXPECT_TRUE(m->in_static_shm(PhysAddr{kStaticShmBase}, 2 << 20));
  EXPECT_FALSE(m->in_static_shm(PhysAddr{kStaticShmBase}, (2 << 20) + 1));
  EXPECT_FALSE(m->in_static_shm(PhysAddr{kStaticShmBase - 1}, 2));
  EXPECT_FALSE(m->in_static_shm(PhysAddr{~0ull}, 2));
}

TEST(PhysMem, SecureMemoryIsNeverANonSecureRange) {
  auto m = make();
  EXPECT_EQ(m->ns_range(PhysAddr{kSecureDramBase}, 16), nullptr);
  EXPECT_EQ(m->ns_range(PhysAddr{kStaticShmBase - 8}, 16), nullptr);  // straddles into nothing
  EXPECT_NE(m->ns_range(PhysAddr{kStaticShmBase}, 4096), nullptr);
  EXPECT_EQ(m->ns_range(PhysAddr{~0ull - 4}, 16), nullptr);  // wraps
}

TEST(PhysMem, KernelPagesAreScatteredAndZeroed) {
  auto m = make();
  std::vector<Pfn> pages;
  for (int i = 0; i < 64; ++i) {
    auto p = m->alloc_ns_page();
    ASSERT_TRUE(p);
    EXPECT_EQ(m->bank_of(*p), Bank::kNsDram);
    auto* host = m->host_of(*p);
    for (int b = 0; b < 4096; ++b) ASSERT_EQ(host[b], std::byte{0});
    host[0] = std::byte{1};
    pages.push_back(*p);
  }
  for (size_t i = 1; i < pages.size(); ++i) EXPECT_NE(pages[i], pages[i - 1] + 1);
  EXPECT_EQ(m->ns_pages_in_use(), 64);
  for (Pfn p : pages) m->free_ns_page(p);
  EXPECT_EQ(m->ns_pages_in_use(), 0);
  for (Pfn p : pages) EXPECT_EQ(m->bank_of(p), Bank::kNone);
}

TEST(PhysMem, PoolExhaustionIsEnomem) {
  auto m = make();
  std::vector<Pfn> pages;
  for (;;) {
    auto p = m->alloc_ns_page();
    if (!p) {
      EXPECT_EQ(p.error().value, ENOMEM);
      break;
    }
    pages.push_back(*p);
  }
  EXPECT_EQ(pages.size(), (4u << 20) / 4096);
  for (Pfn p : pages) m->free_ns_page(p);
}

TEST(PhysMem, AliasedFramesReachTheClientBytes) {
  auto m = make();
  constexpr size_t kPages = 1100;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, kPages * 4096));
  for (size_t i = 0; i < kPages * 4096; ++i) buf[i] = static_cast<uint8_t>(i * 13);
  std::vector<Pfn> pfns(kPages);
  ASSERT_TRUE(m->alias_host_pages(reinterpret_cast<uintptr_t>(buf), pfns));
  std::set<Pfn> unique(pfns.begin(), pfns.end());
  EXPECT_EQ(unique.size(), kPages);
  for (size_t i = 0; i < kPages; ++i) {
    EXPECT_EQ(m->bank_of(pfns[i]), Bank::kPinned);
    EXPECT_EQ(reinterpret_cast<uint8_t*>(m->host_of(pfns[i])), buf + i * 4096);
    if (i > 0) {
      EXPECT_NE(pfns[i], pfns[i - 1] + 1) << "frames must not be contiguous";
    }
  }
  // Writing through the frame is writing the client's memory (zero copy).
  m->host_of(pfns[5])[7] = std::byte{0x5a};
  EXPECT_EQ(buf[5 * 4096 + 7], 0x5a);
  // A range over two aliased frames is host-contiguous only if the frames say so.
  EXPECT_EQ(m->frames_aliased(), static_cast<int64_t>(kPages));
  m->unalias(pfns);
  EXPECT_EQ(m->frames_aliased(), 0);
  for (Pfn p : pfns) EXPECT_EQ(m->bank_of(p), Bank::kNone);
  std::free(buf);
}

// Returned frame numbers are reused (most recent first) before fresh ones, a returned frame is no
// frame to any lookup, and a frame window that runs out is ENOMEM with nothing taken.
TEST(PhysMem, ReturnedFrameNumbersAreReusedAndInvisible) {
  PhysMemConfig c;
  c.ns_dram_size = 1 << 20;
  c.frame_table_pfns = kScatteredFirstPfn + 2048;  // a window of 2048 frame numbers
  auto m = PhysMem::create(c);
  ASSERT_NE(m, nullptr);
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, 2048 * 4096));
  const auto host = reinterpret_cast<uintptr_t>(buf);
  std::vector<Pfn> first(1500);
  ASSERT_TRUE(m->alias_host_pages(host, first));
  std::vector<Pfn> too_many(600);
  EXPECT_FALSE(m->alias_host_pages(host, too_many));  // 548 left
  m->unalias(std::span<const Pfn>(first).first(1000));
  for (size_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(m->bank_of(first[i]), Bank::kNone);
    EXPECT_EQ(m->host_of(first[i]), nullptr);
    EXPECT_EQ(m->ns_range(pfn_to_pa(first[i]), 1), nullptr);
  }
  // 1000 returned + 548 fresh: exactly enough, and the returned ones come back first.
  std::vector<Pfn> second(1548);
  ASSERT_TRUE(m->alias_host_pages(host, second));
  std::set<Pfn> returned(first.begin(), first.begin() + 1000);
  for (size_t i = 0; i < 1000; ++i) EXPECT_TRUE(returned.count(second[i])) << i;
  EXPECT_EQ(second[0], first[999]);
  for (size_t i = 0; i < second.size(); ++i)
    EXPECT_EQ(reinterpret_cast<uint8_t*>(m->host_of(second[i])), buf + i * 4096);
  std::vector<Pfn> one(1);
  EXPECT_FALSE(m->alias_host_pages(host, one));
  // Kernel pages share the frame numbers: freeing one makes room for one.
  m->unalias(std::span<const Pfn>(second).first(1));
  auto page = m->alloc_ns_page();
  ASSERT_TRUE(page);
  EXPECT_EQ(*page, second[0]);
  EXPECT_EQ(m->bank_of(*page), Bank::kNsDram);
  m->free_ns_page(*page);
  m->unalias(std::span<const Pfn>(second).subspan(1));
  m->unalias(std::span<const Pfn>(first).subspan(1000));
  EXPECT_EQ(m->frames_aliased(), 0);
  std::free(buf);
}

TEST(PhysMem, NoCarveOut) {
  auto m = make(0);
  EXPECT_EQ(m->static_shm_size(), 0u);
  EXPECT_FALSE(m->in_static_shm(PhysAddr{kStaticShmBase}, 1));
  EXPECT_EQ(m->bank_of(pa_to_pfn(PhysAddr{kStaticShmBase})), Bank::kNone);
}

}  // namespace
}  // namespace teemu::hw
