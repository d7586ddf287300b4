// A guest's physical memory: scattered IPAs over scattered machine frames, pinning, and frames
// given up while pinned staying allocated until the last unpin.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

#include "hw/guest_memory.h"
#include "hw/phys_mem.h"

namespace teemu::hw {
namespace {

struct Fixture : ::testing::Test {
  void SetUp() override {
    PhysMemConfig c;
    c.ns_dram_size = 8 << 20;
    machine = PhysMem::create(c);
    ASSERT_NE(machine, nullptr);
    guest = GuestMemory::create(*machine, 1024);
    ASSERT_NE(guest, nullptr);
  }
  std::unique_ptr<PhysMem> machine;
  std::unique_ptr<GuestMemory> guest;
};

TEST_F(Fixture, KernelPagesAreScatteredTwice) {
  std::vector<Pfn> ipas;
  std::set<Pfn> machines;
  for (int i = 0; i < 32; ++i) {
    auto p = guest->alloc_page();
    ASSERT_TRUE(p);
    EXPECT_GE(*p, GuestMemory::kFirstIpaPfn);  // IPA 0 is never RAM
    auto m = guest->translate(*p);
    ASSERT_TRUE(m);
    EXPECT_EQ(guest->frame_host(*p), machine->host_of(*m));
    EXPECT_EQ(machine->bank_of(*m), Bank::kNsDram);
    if (!ipas.empty()) {
      EXPECT_NE(*p, ipas.back() + 1);
    }
    ipas.push_back(*p);
    machines.insert(*m);
  }
  EXPECT_EQ(machines.size(), 32u);
  EXPECT_EQ(guest->pages_in_use(), 32);
  for (Pfn p : ipas) guest->free_page(p);
  EXPECT_EQ(guest->pages_in_use(), 0);
  EXPECT_EQ(machine->ns_pages_in_use(), 0);
}

TEST_F(Fixture, AliasedPagesReachTheHostBytes) {
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, 8 * 4096));
  buf[3 * 4096 + 9] = 0x77;
  std::vector<Pfn> ipas(8);
  ASSERT_TRUE(guest->alias_pages(reinterpret_cast<uintptr_t>(buf), ipas));
  EXPECT_EQ(static_cast<uint8_t>(guest->frame_host(ipas[3])[9]), 0x77);
  EXPECT_EQ(guest->pages_aliased(), 8);
  guest->unalias_pages(ipas);
  EXPECT_EQ(guest->pages_aliased(), 0);
  EXPECT_EQ(machine->frames_aliased(), 0);
  std::free(buf);
}

TEST_F(Fixture, PinnedPagesOutliveTheGuestsUse) {
  auto p = guest->alloc_page();
  ASSERT_TRUE(p);
  auto m = guest->pin(*p);
  ASSERT_TRUE(m);
  guest->free_page(*p);  // the guest gives the page up while the secure world uses it
  EXPECT_FALSE(guest->translate(*p)) << "gone for the guest";
  EXPECT_FALSE(guest->pin(*p)) << "and cannot be pinned again";
  EXPECT_EQ(machine->bank_of(*m), Bank::kNsDram) << "but the machine frame is still allocated";
  EXPECT_EQ(guest->zombie_pages(), 1);
  guest->unpin(*p);
  EXPECT_EQ(machine->bank_of(*m), Bank::kNone);
  EXPECT_EQ(guest->zombie_pages(), 0);
  EXPECT_EQ(machine->ns_pages_in_use(), 0);
}

// Pins and unpins take no lock: a page given up while other threads pin and unpin it is released
// exactly once, by whichever drops the last pin, and a pin either gets the page's own machine
// frame or nothing.
TEST_F(Fixture, GivingUpWhileOthersPinAndUnpinReleasesOnce) {
  for (int round = 0; round < 300; ++round) {
    auto p = guest->alloc_page();
    ASSERT_TRUE(p);
    const Pfn frame = *guest->translate(*p);
    std::atomic<bool> go{false};
    std::atomic<int> wrong{0};
    std::vector<std::thread> pinners;
    for (int t = 0; t < 2; ++t) {
      pinners.emplace_back([&] {
        while (!go.load()) {
        }
        for (int i = 0; i < 50; ++i) {
          auto m = guest->pin(*p);
          if (!m) break;  // given up: no pin from now on
          if (*m != frame || machine->bank_of(*m) != Bank::kNsDram) wrong.fetch_add(1);
          guest->unpin(*p);
        }
      });
    }
    go = true;
    if (round % 2 == 0) std::this_thread::yield();
    guest->free_page(*p);
    for (auto& t : pinners) t.join();
    ASSERT_EQ(wrong.load(), 0);
    ASSERT_EQ(guest->pinned_pages(), 0);
    ASSERT_EQ(guest->zombie_pages(), 0);
    ASSERT_EQ(guest->pages_in_use(), 0);
    ASSERT_EQ(machine->ns_pages_in_use(), 0);
  }
}

TEST_F(Fixture, NotGuestRamCannotBePinned) {
  EXPECT_FALSE(guest->pin(0));
  EXPECT_FALSE(guest->pin(GuestMemory::kFirstIpaPfn + 12345));
  EXPECT_FALSE(guest->pin(~0u));
  EXPECT_FALSE(guest->translate(~0u));
}

TEST_F(Fixture, BudgetIsEnforced) {
  std::vector<Pfn> pages;
  for (;;) {
    auto p = guest->alloc_page();
    if (!p) {
      EXPECT_EQ(p.error().value, ENOMEM);
      break;
    }
    pages.push_back(*p);
  }
  EXPECT_EQ(pages.size(), 1024u);
  for (Pfn p : pages) guest->free_page(p);
}

}  // namespace
}  // namespace teemu::hw
