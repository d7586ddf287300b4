// The physical address space as one kernel sees it. The host's REE kernel sees machine memory
// (hw::PhysMem); a guest's kernel sees its intermediate physical address space (hw::GuestMemory),
// which the hypervisor's stage-2 table maps onto scattered machine frames. The REE kernel model
// is written against this interface only, so the same kernel runs on bare metal and in a guest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/addr.h"
#include "base/result.h"

namespace teemu::hw {

class PhysSpace {
 public:
  virtual ~PhysSpace() = default;

  // One zeroed page of the kernel's RAM (ENOMEM when exhausted), and its release.
  virtual KResult<Pfn> alloc_page() = 0;
  virtual void free_page(Pfn pfn) = 0;
  // Host address of a frame of this space, or nullptr if nothing is mapped there.
  virtual std::byte* frame_host(Pfn pfn) const = 0;
  // Gives out.size() frames aliasing the host pages from page-aligned `host_start` (the pinning
  // of a process's buffer); ENOMEM when frames run out. unalias() releases them.
  virtual KResult<void> alias_pages(uintptr_t host_start, std::span<Pfn> out) = 0;
  virtual void unalias_pages(std::span<const Pfn> pfns) = 0;

  // The static carve-out as this space sees it (size 0: none).
  virtual PhysAddr carveout_base() const = 0;
  virtual uint64_t carveout_size() const = 0;
  virtual std::byte* carveout_host() const = 0;

  // Gauges for quiescence audits.
  virtual int64_t pages_in_use() const = 0;
  virtual int64_t pages_aliased() const = 0;
};

}  // namespace teemu::hw
