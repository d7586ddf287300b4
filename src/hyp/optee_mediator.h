// The hypervisor's OP-TEE mediator (in the manner of Xen's xen/arch/arm/tee/optee.c): every SMC a
// guest makes is trapped here. The mediator sets a7 to the guest's client id, answers or filters
// the fast calls, shadows each message argument (copied once into a page the guest cannot touch),
// lets only the known commands through, translates every page list from the guest's IPAs to
// machine addresses while pinning the guest's own RAM pages, and writes back only output fields.
// RPCs from the secure world are translated the same way on their way to the guest and back.
//
// Where Xen's mediator has known weaknesses (reference/virtualization.md A.16) teemu does not
// copy them: buffers are unpinned only by the operation that created them (#1), a call refused
// half-way through its params unpins what it had translated (#5), an RPC SHM_ALLOC reply must be
// one translated page list of at least the requested size (a contiguous one is refused, never
// passed through: #2), and VM_DESTROYED follows every VM_CREATED (#3). Further, a refused
// RPC_FUNC_ALLOC answer's FREE never drops a live RPC argument that has the same cookie, and a
// destroyed guest's pins and shadows are released only after VM_DESTROYED (Xen unpins first,
// but frees the pages later; here a page given up by the guest is freed by its last unpin).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi/optee_smc.h"
#include "base/counter.h"
#include "base/read_mostly_mutex.h"
#include "base/result.h"
#include "base/thread_annotations.h"
#include "hw/smc.h"

namespace teemu::hw {
class PhysMem;
class GuestMemory;
}  // namespace teemu::hw

namespace teemu::hyp {

// Per-guest quotas. Each bounds what one guest can take from everybody else; exceeding one gives
// that guest the real error and nobody else notices.
struct MediatorLimits {
  // Pages of one shared buffer: bounds the pinning work of one translation (Xen: 129 = 512 KiB
  // plus one page of misalignment).
  uint32_t max_buffer_pages = 1u << 18;
  // Buffers tracked at once (temporary, registered, RPC payload): bounds the hypervisor's
  // bookkeeping memory per guest (Xen: 16).
  uint32_t max_buffers = 1024;
  // Guest pages pinned at once: bounds the machine memory a guest can lock (Xen: 16384).
  uint64_t max_pinned_pages = 1u << 20;
  // Concurrent std calls, counting those suspended in RPC: bounds the secure threads a guest can
  // hold; 0 = the secure OS's per-guest thread count (Xen's max_optee_threads).
  uint32_t max_calls = 0;

  // Xen's limits, for tests of the exact boundaries (129/130 pages, 17th buffer).
  static MediatorLimits xen() { return {129, 16, 16383, 0}; }
};

// OPTEE_MEDIATOR_SMC_COUNT: what the mediator answers for CALLS_COUNT.
constexpr uint32_t kMediatorSmcCount = 11;

struct MediatorGuestStats {
  base::Counter traps;              // SMCs from the guest
  base::Counter pages_translated;   // page-list entries translated IPA -> PA
  base::Counter pages_pinned_now;   // gauge
  base::Counter shadow_copies;      // argument and RPC-argument shadow copies
  base::Counter refused;            // calls refused by the mediator itself (limits, bad input)
};

class OpteeMediator {
 public:
  OpteeMediator(hw::PhysMem& machine, hw::SmcHandler& secure);
  ~OpteeMediator();

  // Checks the secure world (OP-TEE API UID, GET_THREAD_COUNT, and that it understands
  // VM_DESTROYED, i.e. was built with virtualization).
  bool probe(std::string* error);
  uint32_t secure_threads() const { return threads_; }

  // Registers a guest and sends VM_CREATED(a1 = client_id, a7 = 0). Client id 0 is the
  // hypervisor's and refused. Errors: TEE_ERROR_BAD_PARAMETERS (id 0 or in use),
  // TEE_ERROR_OUT_OF_MEMORY (the secure world refused the guest).
  Result<void> add_guest(uint16_t client_id, hw::GuestMemory& mem, const MediatorLimits& limits);
  // From now on every SMC of the guest gets ENOTAVAIL (its vCPUs are being stopped).
  void stop_guest(uint16_t client_id);
  // Waits until no vCPU of the guest is inside the mediator or the secure world, drops every
  // pin and shadow of the guest, and sends VM_DESTROYED exactly once.
  void remove_guest(uint16_t client_id);

  // A trapped SMC of guest `client_id`.
  abi::SmcRegs handle(uint16_t client_id, const abi::SmcRegs& regs);

  MediatorGuestStats* guest_stats(uint16_t client_id);
  // Pins and tracked buffers of a guest (audits): pinned pages, buffers, RPC args, calls.
  struct GuestAudit {
    int64_t pinned_pages = 0;
    size_t buffers = 0, rpc_args = 0, calls = 0;
  };
  GuestAudit audit(uint16_t client_id);

 private:
  struct Guest;
  struct Call;
  struct Buffer;
  std::shared_ptr<Guest> find(uint16_t client_id);

  abi::SmcRegs forward(Guest& g, abi::SmcRegs regs);
  abi::SmcRegs fast_call(Guest& g, const abi::SmcRegs& regs);
  abi::SmcRegs std_call(Guest& g, const abi::SmcRegs& regs);
  abi::SmcRegs resume_call(Guest& g, const abi::SmcRegs& regs);
  // A free call slot of the guest for a call admitted by the `calls` quota (ENOMEM -> nullptr:
  // only a slot's first use allocates its shadow page), and its release when the call ends.
  Call* take_slot(Guest& g);
  void end_call(Guest& g, Call& call);
  // Frees every slot's Call and shadow page; no call of the guest may be inside.
  void release_slots(Guest& g);
  // Runs the secure world for `call` from `regs` until it completes or needs the guest.
  abi::SmcRegs run_call(Guest& g, Call* call, abi::SmcRegs regs);
  abi::SmcRegs complete_call(Guest& g, Call* call, const abi::SmcRegs& res);

  // Translates a NONCONTIG page list of the guest into a shadow list of machine addresses and
  // pins every page; returns the buf_ptr to give the secure world. Errors: ENOMEM for a quota,
  // EINVAL for bad input.
  KResult<uint64_t> translate_noncontig(Guest& g, uint64_t buf_ptr, uint64_t size,
                                        uint64_t cookie, int kind, Call* call);
  void free_buffer(Guest& g, uint64_t cookie, bool only_list = false);
  void free_rpc_arg(Guest& g, uint64_t cookie);
  bool copy_from_guest(Guest& g, uint64_t ipa, void* dst, size_t len);
  bool copy_to_guest(Guest& g, uint64_t ipa, const void* src, size_t len);

  hw::PhysMem& machine_;
  hw::SmcHandler& secure_;
  uint32_t threads_ = 0;
  // Read by every SMC of a guest (find), written when a guest comes or goes.
  base::ReadMostlyMutex lock_;
  std::map<uint16_t, std::shared_ptr<Guest>> guests_ GUARDED_BY(lock_);
};

// The SMC conduit of one guest's kernel: every SMC traps into the mediator.
class GuestConduit : public hw::SmcHandler {
 public:
  GuestConduit(OpteeMediator& mediator, uint16_t client_id)
      : mediator_(mediator), client_id_(client_id) {}
  abi::SmcRegs smc(const abi::SmcRegs& in) override { return mediator_.handle(client_id_, in); }

 private:
  OpteeMediator& mediator_;
  uint16_t client_id_;
};

}  // namespace teemu::hyp
