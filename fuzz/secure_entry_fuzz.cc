// Fuzz target (a): a hostile normal world -> the secure OS's SMC entry (tee::SecureOs).
//
// The input is a program for a normal world that speaks the SMC and message ABI by hand, like
// tests/secure_entry_test.cc's MiniNw: raw fast calls; std calls whose message argument (placed in
// a kernel page, the static carve-out, a registered buffer or at an arbitrary address), params
// (values, contiguous and page-list memrefs over client buffers, registered references, raw
// words) and page lists (with bad entries and loops) are built from the input; every RPC the
// secure OS issues is answered honestly or with a lie the input picks; calls can be parked in an
// RPC while others run, and the normal world can rewrite a parked call's argument and lists
// (double fetch). Each input gets a fresh machine (physical memory, secure OS, TA loader).
//
// Oracles besides the sanitizers: every call must end (no secure thread waits for a wake-up that
// never comes, no call loops), and once the normal world has closed every session, unregistered
// every buffer and taken back the RPC argument cache, the secure OS must hold nothing (the
// quiescence audit) and must have freed every RPC buffer it allocated.
#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "../tas/shm_test/include/shm_test_ta.h"
#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "common.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace teemu::fuzz {
namespace {

using namespace teemu::abi;  // NOLINT: wire constants keep their spec names

constexpr uint64_t kPage = 4096;
constexpr Uuid kShmTa = {
    {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c, 0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
constexpr Uuid kOtherTa = {{0x12, 0x34, 0x56, 0x78, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}};
constexpr uint64_t kNoncontig = OPTEE_MSG_ATTR_NONCONTIG;
constexpr uint64_t kUnmappedPa = 0x70000000;  // no frame there
// Ops per input, RPCs answered per call before the normal world stops lying, and RPCs after
// which a call that still has not ended is a finding.
constexpr int kMaxOps = 48;
constexpr int kMaxLyingSteps = 256;
constexpr int kMaxSteps = 4096;
// RPC requests the harness cannot read, answered in a row, after which it takes the call for one
// that waits (see step()); and the wait key it then files the call under (no key the secure OS
// hands out).
constexpr int kMaxUnreadableAnswers = 16;
constexpr uint64_t kUnknownWaitKey = ~uint64_t{0};
constexpr uint64_t kStaticShm = 1ull << 20;
// Carve-out pages: the first ones hold call arguments, the rest serve RPC allocations.
constexpr uint64_t kCarveArgPages = 64;
constexpr uint64_t kCarvePages = kStaticShm / 4096;

std::vector<uint8_t> g_ta_image;

uint64_t uuid_a(const Uuid& u) {
  uint64_t v;
  std::memcpy(&v, u.octets, 8);
  return v;
}
uint64_t uuid_b(const Uuid& u) {
  uint64_t v;
  std::memcpy(&v, u.octets + 8, 8);
  return v;
}

// Ops of the program.
enum Op : uint8_t {
  kOpFast,
  kOpStd,          // a std call built field by field
  kOpOpen,         // OPEN_SESSION with well-formed meta params (and extra params)
  kOpInvoke,       // INVOKE on a known session
  kOpRegister,     // REGISTER_SHM of a client buffer through a page list
  kOpUnregister,   // UNREGISTER_SHM of a known cookie
  kOpResume,       // continue a parked call
  kOpRewrite,      // the normal world rewrites memory a parked call uses (double fetch)
  kOpCount
};

struct ClientBuf {
  std::byte* host = nullptr;
  size_t pages = 0;
  std::vector<Pfn> pfns;
  uint64_t pa(size_t i) const { return pfn_to_pa(pfns[i]).value; }
};

struct ShmBuf {
  std::byte* host = nullptr;
  size_t pages = 0;
  std::vector<Pfn> pfns;
  std::vector<Pfn> lists;
  int64_t carve_first = -1;  // without dynamic shm: pages of the carve-out instead
};

// A std call in flight.
struct Call {
  SmcRegs out;
  std::byte* msg_host = nullptr;  // where the normal world wrote the argument (if its own memory)
  std::byte* rpc_arg = nullptr;   // RPC argument supplied with CALL_WITH_RPC_ARG / REGD_ARG
  uint32_t cmd = 0;
  int steps = 0;
  uint32_t scripted = 0;     // RPCs still to be answered as the input says (then: honestly)
  bool blocked = false;      // waits on a notification nobody has sent yet
  bool rpc_arg_tampered = false;  // the normal world rewrote the RPC argument it supplied
  std::vector<std::byte> request_snapshot;  // the RPC request as the call parked on it
  uint64_t wait_key = 0;
  int unreadable_in_a_row = 0;  // RPC requests the harness could not read, answered in a row
  bool refused_rpc_arg = false;  // the input refused one of its RPC ALLOCs
  std::vector<Pfn> lists;    // page-list pages of this call (freed when it ends, as Linux does)
  bool done() const { return !optee_smc_return_is_rpc(out.w(0)); }
  uint32_t func() const { return optee_smc_return_get_rpc_func(out.w(0)); }
};

class World {
 public:
  World(bool dynamic_shm, uint64_t static_shm, uint32_t threads) {
    hw::PhysMemConfig pm;
    pm.static_shm_size = static_shm;
    pm.ns_dram_size = 16ull << 20;
    mem_ = hw::PhysMem::create(pm);
    if (!mem_) finding("PhysMem::create failed");
    tee::SecureOsConfig oc;
    oc.num_threads = threads;
    oc.dynamic_shm = dynamic_shm;
    oc.thread_stack_size = 256 * 1024;
    threads_ = threads;
    dynamic_shm_ = dynamic_shm;
    os_ = std::make_unique<tee::SecureOs>(*mem_, stats_, loader_, oc);
    SmcRegs in;
    in[0] = OPTEE_SMC_ENABLE_SHM_CACHE;
    smc(in);
  }

  ~World() {
    os_.reset();  // the secure world first: nothing may reach normal-world memory afterwards
    for (auto& [cookie, pfn] : rpc_args_)
      if (pfn != 0) mem_->free_ns_page(pfn);
    for (auto& [cookie, b] : shm_bufs_) release_shm_buf(b);
    for (auto& c : clients_) {
      mem_->unalias(c->pfns);
      std::free(c->host);
    }
    for (Pfn p : pages_) mem_->free_ns_page(p);
    if (mem_->ns_pages_in_use() != 0 || mem_->frames_aliased() != 0)
      finding("harness bookkeeping: %lld kernel pages, %lld aliased frames left",
              static_cast<long long>(mem_->ns_pages_in_use()),
              static_cast<long long>(mem_->frames_aliased()));
  }

  void op(Reader& r) {
    switch (r.below(kOpCount)) {
      case kOpFast: op_fast(r); break;
      case kOpStd: op_std(r); break;
      case kOpOpen: op_open(r); break;
      case kOpInvoke: op_invoke(r); break;
      case kOpRegister: op_register(r); break;
      case kOpUnregister: op_unregister(r); break;
      case kOpResume: op_resume(r); break;
      case kOpRewrite: op_rewrite(r); break;
      default: break;
    }
  }

  // Takes a parked call out of the list to run it. A call parked under the unknown wait key
  // never sends a request the harness can read, so the wake-up that let it run is used up here
  // (a readable WAIT uses up its own key's wake-up when it is served).
  std::unique_ptr<Call> unpark(std::vector<std::unique_ptr<Call>>::iterator it) {
    std::unique_ptr<Call> c = std::move(*it);
    parked_.erase(it);
    if (c->blocked && c->wait_key == kUnknownWaitKey && pending_[kUnknownWaitKey] > 0)
      --pending_[kUnknownWaitKey];
    c->blocked = false;
    return c;
  }

  // Runs every parked call to its end, honestly.
  void drain() {
    Reader none(nullptr, 0);
    while (!parked_.empty()) {
      auto it = std::find_if(parked_.begin(), parked_.end(), [&](const std::unique_ptr<Call>& c) {
        return !c->blocked || pending_[c->wait_key] > 0;
      });
      if (it == parked_.end() && forged_rpc_answers_ && spurious_wakes_ < kMaxSpuriousWakes) {
        // The input answered RPCs by hand (a raw RETURN_FROM_RPC that moved a call): a wake-up
        // the secure OS owed may have gone down with one (a thread whose RPC argument the input
        // replaced cannot send it). A normal world that gives up waiting wakes its waiters
        // anyway; the secure OS must take that as a spurious wake-up and check again. One that
        // still waits after that waits for something that really never ends.
        ++spurious_wakes_;
        it = parked_.begin();
        ++pending_[(*it)->wait_key];
        trace("  spurious wake-up of key %llu", static_cast<unsigned long long>((*it)->wait_key));
      }
      if (it == parked_.end())
        finding("deadlock: %zu secure threads wait for notifications nobody will send",
                parked_.size());
      run(unpark(it), none, /*may_park=*/false);
    }
  }

  // The normal world cleans up everything it knows of; the secure OS must then hold nothing.
  void cleanup_and_audit() {
    Reader none(nullptr, 0);
    for (uint32_t id = 1; id <= open_attempts_ + 1; ++id) simple_call(OPTEE_MSG_CMD_CLOSE_SESSION, id, 0);
    // Sessions opened by messages the harness did not write (an argument at an address it never
    // filled holding an earlier OPEN_SESSION) must close through the ABI like any other.
    if (messages_unknown_)
      for (uint32_t id : os_->audit().session_ids) simple_call(OPTEE_MSG_CMD_CLOSE_SESSION, id, 0);
    for (auto [cookie, n] : register_cookies_) {
      optee_msg_param p{};
      p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
      p.u.rmem = {0, 0, cookie};
      for (uint32_t i = 0; i < n; ++i) simple_call(OPTEE_MSG_CMD_UNREGISTER_SHM, 0, 1, &p);
    }
    drain();
    // Registrations made from messages the harness did not write (see messages_unknown_)
    // must be releasable through the ABI like any other: unregister what is left by cookie.
    if (messages_unknown_)
      for (uint64_t cookie : os_->audit().registered_cookies) {
        optee_msg_param p{};
        p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
        p.u.rmem = {0, 0, cookie};
        simple_call(OPTEE_MSG_CMD_UNREGISTER_SHM, 0, 1, &p);
      }
    for (int i = 0;; ++i) {
      SmcRegs in;
      in[0] = OPTEE_SMC_DISABLE_SHM_CACHE;
      SmcRegs r = smc(in);
      if (r.w(0) != OPTEE_SMC_RETURN_OK) break;
      if (i > 1024) finding("DISABLE_SHM_CACHE never ends");
      take_back_rpc_arg(reg_pair_to_64(r[1], r[2]));
    }
    auto a = os_->audit();
    if (a.sessions || a.instances || a.registered_shm || a.registered_pages ||
        a.registered_frames_kept || a.busy_threads ||
        a.cached_rpc_args || a.charged_bytes) {
      for (uint64_t cookie : a.registered_cookies)
        std::fprintf(stderr, "still registered: cookie %#llx (known to the harness: %s)\n",
                     static_cast<unsigned long long>(cookie),
                     register_cookies_.count(cookie) ? "yes" : "no");
      finding("secure OS not quiescent after cleanup: sessions=%zu instances=%zu registered_shm=%zu "
              "registered_pages=%llu frames_kept=%llu busy_threads=%zu cached_rpc_args=%zu "
              "charged_bytes=%llu",
              a.sessions, a.instances, a.registered_shm,
              static_cast<unsigned long long>(a.registered_pages),
              static_cast<unsigned long long>(a.registered_frames_kept), a.busy_threads,
              a.cached_rpc_args, static_cast<unsigned long long>(a.charged_bytes));
    }
    size_t owned_args = carve_args_.size();
    for (auto& [cookie, pfn] : rpc_args_) owned_args += pfn != 0;
    if (owned_args != 0) finding("secure OS never freed %zu RPC argument buffers", owned_args);
    size_t owned_bufs = 0;
    for (auto& [cookie, b] : shm_bufs_) owned_bufs += !unchecked_.count(cookie);
    if (rpc_arg_cookie_reused_) owned_bufs = 0;
    if (owned_bufs != 0) finding("secure OS never freed %zu RPC SHM_ALLOC buffers", owned_bufs);
  }

 private:
  // --- memory ---------------------------------------------------------------------------------
  struct NsPage {
    Pfn pfn = 0;
    uint64_t pa = 0;
    std::byte* host = nullptr;
  };
  NsPage page() {
    auto pfn = mem_->alloc_ns_page();
    if (!pfn) finding("harness ran out of kernel pages");
    pages_.insert(*pfn);
    return {*pfn, pfn_to_pa(*pfn).value, mem_->host_of(*pfn)};
  }
  void free_page(Pfn pfn) {
    if (pages_.erase(pfn)) mem_->free_ns_page(pfn);
  }
  ClientBuf& client(size_t pages) {
    auto b = std::make_unique<ClientBuf>();
    b->host = static_cast<std::byte*>(std::aligned_alloc(kPage, pages * kPage));
    std::memset(b->host, 0x5a, pages * kPage);
    b->pages = pages;
    b->pfns.resize(pages);
    if (!mem_->alias_host_pages(reinterpret_cast<uintptr_t>(b->host), b->pfns))
      finding("harness cannot alias client pages");
    clients_.push_back(std::move(b));
    return *clients_.back();
  }
  ClientBuf& some_client(Reader& r) {
    if (clients_.empty() || (clients_.size() < 6 && r.flag())) {
      const size_t pages = r.pick<size_t>({1, 1, 2, 3, 5});
      return client(pages);
    }
    return *clients_[r.below(static_cast<uint32_t>(clients_.size()))];
  }
  // An address the input picks from those that exercise the checks.
  uint64_t interesting_pa(Reader& r) {
    switch (r.u8() % 10) {
      case 0: return 0;
      case 1: return mem_->secure_dram_base().value;
      case 2: return mem_->secure_dram_base().value + r.u16() * 8ull;
      case 3: return kUnmappedPa;
      case 4: return mem_->static_shm_base().value + (r.u32() % (kStaticShm + kPage));
      case 5: return pages_.empty() ? 0 : pfn_to_pa(*pages_.begin()).value + (r.u16() & 0xfff);
      case 6: return uint64_t{0xffffffff} << 12;  // beyond the frame table
      case 7: return (uint64_t{1} << 44) + kPage;  // beyond 32-bit frame numbers
      case 8: return clients_.empty() ? kPage : clients_[0]->pa(0) + 1;
      default: return r.u64();
    }
  }
  // A NONCONTIG page list of `entries` in fresh pages, maybe corrupted by the input; returns
  // buf_ptr (first list page | offset). The pages go to `lists`.
  uint64_t page_list(Reader& r, std::vector<uint64_t> entries, uint32_t offset,
                     std::vector<Pfn>& lists) {
    const size_t n = entries.size();
    const size_t count =
        std::max<size_t>(1, (n + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage);
    std::vector<NsPage> lp;
    for (size_t i = 0; i < count; ++i) lp.push_back(page());
    size_t idx = 0;
    for (size_t l = 0; l < count; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(lp[l].host);
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < n; ++e)
        pg->pages_list[e] = entries[idx++];
      if (l + 1 < count) pg->next_page_data = lp[l + 1].pa;
    }
    // Corruptions: an entry names another address, or a list page points back to itself.
    switch (r.u8() % 8) {
      case 6: {
        auto* pg = reinterpret_cast<optee_page_list_page*>(lp[0].host);
        pg->pages_list[r.below(static_cast<uint32_t>(std::min(n, kPageListEntriesPerPage)))] =
            interesting_pa(r);
        break;
      }
      case 7: {
        auto* pg = reinterpret_cast<optee_page_list_page*>(lp.back().host);
        pg->next_page_data = r.flag() ? lp.back().pa : interesting_pa(r);
        break;
      }
      default: break;
    }
    for (auto& p : lp) lists.push_back(p.pfn);
    return lp[0].pa | offset;
  }
  // Pages of the carve-out for RPC allocations when there is no dynamic shm (first page index,
  // or -1).
  int64_t carve_alloc(uint64_t pages) {
    if (mem_->static_shm_size() == 0 || pages == 0) return -1;
    for (uint64_t first = kCarveArgPages; first + pages <= kCarvePages; ++first) {
      bool free = true;
      for (uint64_t i = 0; i < pages && free; ++i) free = !carve_used_.count(first + i);
      if (!free) continue;
      for (uint64_t i = 0; i < pages; ++i) carve_used_.insert(first + i);
      std::memset(mem_->static_shm_host() + first * kPage, 0, pages * kPage);
      return static_cast<int64_t>(first);
    }
    return -1;
  }
  void carve_free(int64_t first, uint64_t pages) {
    for (uint64_t i = 0; i < pages; ++i) carve_used_.erase(static_cast<uint64_t>(first) + i);
  }
  void release_shm_buf(ShmBuf& b) {
    if (b.carve_first >= 0) {
      carve_free(b.carve_first, b.pages);
      b = {};
      return;
    }
    for (Pfn p : b.lists) mem_->free_ns_page(p);
    mem_->unalias(b.pfns);
    std::free(b.host);
    b = {};
  }

  // --- params ---------------------------------------------------------------------------------
  uint64_t size_for(Reader& r, uint64_t natural) {
    switch (r.u8() % 10) {
      case 5: return 0;
      case 6: return 1;
      case 7: return natural + 1;
      case 8: return r.u32();
      case 9: return r.u64();
      default: return natural;
    }
  }
  uint64_t cookie_for(Reader& r) {
    switch (r.u8() % 4) {
      case 0: return next_cookie_++;
      case 1:
        if (!register_cookies_.empty())
          return std::next(register_cookies_.begin(),
                           r.below(static_cast<uint32_t>(register_cookies_.size())))->first;
        return next_cookie_++;
      case 2: return 0;
      default: return r.u64();
    }
  }
  uint64_t mem_type(Reader& r, uint64_t input) { return input + r.u8() % 3; }
  void fill_param(Reader& r, optee_msg_param& p, std::vector<Pfn>& lists) {
    std::memset(&p, 0, sizeof(p));
    const uint64_t extra = r.u8() % 16 == 15 ? (r.flag() ? OPTEE_MSG_ATTR_META : kNoncontig) : 0;
    switch (r.u8() % 9) {
      case 0: p.attr = OPTEE_MSG_ATTR_TYPE_NONE; break;
      case 1:
        p.attr = mem_type(r, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT);
        p.u.value = {r.u64(), r.u64(), r.u64()};
        break;
      case 2:
        p.attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
        p.u.value = {uuid_a(kShmTa), uuid_b(kShmTa), r.u8() % 8u};
        break;
      case 3: {  // contiguous TMEM: a client page, the carve-out, or anywhere
        p.attr = mem_type(r, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT);
        uint64_t base;
        uint64_t room;
        if (r.flag() && mem_->static_shm_size() != 0) {
          base = mem_->static_shm_base().value + (r.u32() % mem_->static_shm_size());
          room = mem_->static_shm_base().value + mem_->static_shm_size() - base;
        } else if (r.flag()) {
          ClientBuf& b = some_client(r);
          base = b.pa(0) + (r.u16() & 0xfff);
          room = kPage - (base & 0xfff);
        } else {
          base = interesting_pa(r);
          room = 64;
        }
        p.u.tmem = {base, size_for(r, room), cookie_for(r)};
        break;
      }
      case 4:
      case 5: {  // NONCONTIG TMEM over a client buffer
        p.attr = mem_type(r, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT) | kNoncontig;
        ClientBuf& b = some_client(r);
        std::vector<uint64_t> entries;
        for (size_t i = 0; i < b.pages; ++i) entries.push_back(b.pa(i));
        if (r.u8() % 32 == 31)  // past the 511-entry boundary: two list pages
          while (entries.size() < kPageListEntriesPerPage + 2) entries.push_back(b.pa(0));
        const uint32_t offset = r.flag() ? r.u16() & 0xfff : 0;
        const uint64_t natural = entries.size() * kPage - offset;
        p.u.tmem = {page_list(r, entries, offset, lists), size_for(r, natural), cookie_for(r)};
        break;
      }
      case 6:  // NULL memref
        p.attr = mem_type(r, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT);
        p.u.tmem = {0, size_for(r, 0), cookie_for(r)};
        break;
      case 7:  // registered memory by reference
        p.attr = mem_type(r, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT);
        p.u.rmem = {size_for(r, 0), size_for(r, kPage), cookie_for(r)};
        break;
      default:  // raw words
        p.attr = r.u64();
        p.u.value = {r.u64(), r.u64(), r.u64()};
        break;
    }
    p.attr |= extra;
  }

  // --- calls ----------------------------------------------------------------------------------
  // Where the argument goes and how the SMC names it.
  struct Placement {
    SmcRegs regs;
    std::byte* host = nullptr;  // where to write the message (null: nowhere the harness owns)
    uint64_t room = 0;
  };
  Placement place(Reader& r, bool simple) {
    Placement pl;
    const uint32_t kind = simple ? (dynamic_shm_ ? 0 : 6) : r.u8() % 12;
    uint32_t fid = OPTEE_SMC_CALL_WITH_ARG;
    if (!simple && r.u8() % 4 == 3) fid = OPTEE_SMC_CALL_WITH_RPC_ARG;
    uint64_t pa = 0;
    if (kind <= 5 || (kind <= 7 && mem_->static_shm_size() == 0)) {  // a kernel page
      NsPage p = page();
      const uint64_t off = kind == 5 ? (r.u16() & 0xff8) : 0;
      pa = p.pa + off;
      pl.host = p.host + off;
      pl.room = kPage - off;
    } else if (kind <= 7) {  // the carve-out: its first kCarveArgPages hold call arguments
      const uint64_t off = simple ? (carve_next_arg_++ % kCarveArgPages) * kPage
                                  : (r.u32() % kStaticShm) & ~uint64_t{kind == 6 ? 7u : 0u};
      if (off < mem_->static_shm_size()) {
        pa = mem_->static_shm_base().value + off;
        pl.host = mem_->static_shm_host() + off;
        pl.room = std::min<uint64_t>(mem_->static_shm_size() - off, kPage);
      }
    } else if (kind <= 9 && !clients_.empty()) {  // CALL_WITH_REGD_ARG in a registered buffer
      ClientBuf& b = *clients_[r.below(static_cast<uint32_t>(clients_.size()))];
      const uint32_t off = r.flag() ? 0 : r.u16() % (b.pages * kPage);
      pl.regs[0] = OPTEE_SMC_CALL_WITH_REGD_ARG;
      reg_pair_from_64(cookie_for(r), pl.regs[1], pl.regs[2]);
      pl.regs[3] = off;
      pl.host = b.host + off;
      pl.room = std::min<uint64_t>(b.pages * kPage - off, kPage);
      return pl;
    } else {
      pa = interesting_pa(r);
    }
    pl.regs[0] = fid;
    reg_pair_from_64(pa, pl.regs[1], pl.regs[2]);
    if (r.u8() % 32 == 31) pl.regs[7] = r.u32();  // a client id the secure OS does not know
    return pl;
  }

  // Writes the message (header + params, as much as fits) at the placement and runs the call.
  void issue(Reader& r, Placement pl, optee_msg_arg hdr, std::vector<optee_msg_param> params,
             std::vector<Pfn> lists) {
    // The shm-test TA's WAIT_CANCEL runs TEE_Wait(value a ms), which the secure OS measures on
    // its own clock (an early answer is a spurious wake-up): keep it to a few milliseconds, and
    // never endless (that one only a CANCEL ends).
    if (hdr.cmd == OPTEE_MSG_CMD_INVOKE_COMMAND && hdr.func == TA_SHM_TEST_CMD_WAIT_CANCEL)
      for (auto& p : params) p.u.value.a &= 3;
    auto c = std::make_unique<Call>();
    c->cmd = hdr.cmd;
    c->lists = std::move(lists);
    uint64_t written_params = 0;
    if (pl.host != nullptr) {
      const uint64_t want = optee_msg_get_arg_size(params.size());
      std::memcpy(pl.host, &hdr, std::min<uint64_t>(sizeof(hdr), pl.room));
      // As much of the params as fits: what the secure OS reads beyond is whatever the memory
      // held, and only params written whole are known to the harness (written_params).
      const uint64_t written = std::min<uint64_t>(want, pl.room);
      if (written > sizeof(hdr) && !params.empty())
        std::memcpy(pl.host + sizeof(hdr), params.data(), written - sizeof(hdr));
      written_params = written > sizeof(hdr) ? (written - sizeof(hdr)) / sizeof(optee_msg_param) : 0;
      // A new argument written over the RPC argument of a parked call is the normal world
      // scribbling on that call's request, like op_rewrite.
      const std::byte* written_end = pl.host + std::min<uint64_t>(want, pl.room);
      for (auto& parked : parked_)
        if (parked->rpc_arg != nullptr && pl.host < parked->rpc_arg + optee_msg_get_arg_size(2) &&
            parked->rpc_arg < written_end)
          parked->rpc_arg_tampered = true;
      c->msg_host = pl.host;
      // CALL_WITH_RPC_ARG / REGD_ARG: the RPC argument follows the call's argument.
      const uint64_t own = optee_msg_get_arg_size(std::min<uint32_t>(hdr.num_params, 127));
      if ((pl.regs.w(0) == OPTEE_SMC_CALL_WITH_RPC_ARG ||
           pl.regs.w(0) == OPTEE_SMC_CALL_WITH_REGD_ARG) &&
          own + optee_msg_get_arg_size(2) <= pl.room)
        c->rpc_arg = pl.host + own;
    }
    if (hdr.cmd == OPTEE_MSG_CMD_OPEN_SESSION) ++open_attempts_;
    // The secure OS may execute a message the harness did not write: params beyond what it
    // wrote, an argument at an address it did not fill, or (CALL_WITH_REGD_ARG naming another
    // cookie than the buffer written to) a stale message left in another registered buffer,
    // which may be an earlier OPEN_SESSION or REGISTER_SHM run a second time.
    if ((hdr.cmd == OPTEE_MSG_CMD_REGISTER_SHM && written_params < hdr.num_params) ||
        pl.host == nullptr || pl.regs.w(0) == OPTEE_SMC_CALL_WITH_REGD_ARG)
      messages_unknown_ = true;
    if (hdr.cmd == OPTEE_MSG_CMD_REGISTER_SHM)
      for (const auto& p : params) {
        ++register_cookies_[p.u.tmem.shm_ref];
        trace("  register attr=%#llx cookie=%#llx size=%#llx", static_cast<unsigned long long>(p.attr),
              static_cast<unsigned long long>(p.u.tmem.shm_ref),
              static_cast<unsigned long long>(p.u.tmem.size));
      }
    trace("std call fid=%#x cmd=%u n=%u", pl.regs.w(0), hdr.cmd, hdr.num_params);
    c->scripted = r.u8();
    c->out = smc(pl.regs);
    run(std::move(c), r, /*may_park=*/true);
  }

  // Serves the call's RPCs until it ends (or the input parks it).
  void run(std::unique_ptr<Call> c, Reader& r, bool may_park) {
    while (!c->done()) {
      if (++c->steps > kMaxSteps)
        finding("a std call still issues RPCs after %d answers (func %u)", kMaxSteps, c->func());
      const bool lying = c->steps <= kMaxLyingSteps && c->scripted != 0 && !r.empty();
      if (lying) --c->scripted;
      if (may_park && lying && parked_.size() <= threads_ && r.u8() % 8 == 7) {
        trace("  park call at RPC func %u", c->func());
        snapshot_request(*c);
        parked_.push_back(std::move(c));
        return;
      }
      if (!step(*c, r, lying)) {  // would block: let the others run first
        snapshot_request(*c);
        parked_.push_back(std::move(c));
        return;
      }
    }
    trace("  call done a0=%#x", c->out.w(0));
    // A call that was refused its RPC argument and ended while another call waited: a release it
    // made may have owed that waiter a wake-up it had no means to send (OP-TEE loses it the same
    // way), so the drain may wake waiters spuriously, as after a forged answer.
    if (c->refused_rpc_arg &&
        std::any_of(parked_.begin(), parked_.end(), [](const auto& p) { return p->blocked; }))
      forged_rpc_answers_ = true;
    if (c->msg_host != nullptr && c->out.w(0) == OPTEE_SMC_RETURN_OK) {
      optee_msg_arg a;
      std::memcpy(&a, c->msg_host, sizeof(a));
      trace("  ret=%#x origin=%u session=%u", a.ret, a.ret_origin, a.session);
      if (c->cmd == OPTEE_MSG_CMD_OPEN_SESSION && a.ret == TEE_SUCCESS) sessions_.insert(a.session);
    }
    for (Pfn p : c->lists) free_page(p);
  }
  // Answers one RPC (honestly unless `lying`) and resumes the call. False (nothing done) if the
  // RPC is a notification wait that nobody can satisfy yet.
  // A parked call's RPC request lies in normal-world memory the harness may hand out again
  // (argument pages, page lists): whatever changed it while the call was parked is the normal
  // world scribbling on the request, like op_rewrite.
  // Taken once per RPC, when the call first parks on it: a call parked, resumed and parked again
  // before its RPC is answered keeps the first snapshot, or a rewrite in between would go unseen.
  void snapshot_request(Call& c) {
    if (!c.request_snapshot.empty()) return;
    if (c.func() != OPTEE_SMC_RPC_FUNC_CMD) return;
    if (const optee_msg_arg* a = pending_cmd(c)) {
      const auto* b = reinterpret_cast<const std::byte*>(a);
      c.request_snapshot.assign(b, b + optee_msg_get_arg_size(2));
    }
  }

  // Before a parked call's RPC is answered: if the normal world changed the request since the
  // call parked on it, a scrambled SHM_FREE frees nothing and the buffer it named is the normal
  // world's loss. True if the request is as the secure OS wrote it.
  bool check_request_snapshot(Call& c) {
    bool intact = true;
    if (!c.request_snapshot.empty()) {
      const optee_msg_arg* a = pending_cmd(c);
      if (a == nullptr || std::memcmp(a, c.request_snapshot.data(), c.request_snapshot.size()) != 0) {
        intact = false;
        c.rpc_arg_tampered = true;
        optee_msg_arg was;
        std::memcpy(&was, c.request_snapshot.data(), sizeof(was));
        optee_msg_param p0;
        std::memcpy(&p0, c.request_snapshot.data() + sizeof(was), sizeof(p0));
        if (was.cmd == OPTEE_RPC_CMD_SHM_FREE && was.num_params >= 1) unchecked_.insert(p0.u.value.b);
      }
      c.request_snapshot.clear();
    }
    return intact;
  }

  bool step(Call& c, Reader& r, bool lying) {
    check_request_snapshot(c);
    step_allocs_.clear();
    SmcRegs reply;
    reply[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
    reply[1] = c.out.w(1);
    reply[2] = c.out.w(2);
    reply[3] = c.out.w(3);
    const uint32_t lie = lying && r.u8() % 4 == 3 ? 1 + r.u8() % 8 : 0;
    trace("  rpc func=%u cmd=%u lie=%u", c.func(),
          c.func() == OPTEE_SMC_RPC_FUNC_CMD && pending_cmd(c) ? pending_cmd(c)->cmd : ~0u, lie);
    switch (c.func()) {
      case OPTEE_SMC_RPC_FUNC_ALLOC: answer_alloc(c, reply, r, lie); break;
      case OPTEE_SMC_RPC_FUNC_FREE: take_back_rpc_arg(reg_pair_to_64(c.out[1], c.out[2])); break;
      case OPTEE_SMC_RPC_FUNC_CMD: {
        optee_msg_arg* a = pending_cmd(c);
        // A request in an RPC argument the normal world no longer holds (it took the buffer back,
        // or answered an RPC ALLOC with a cookie already in use) cannot be read or answered: if
        // it was an SHM_FREE, the buffer it named is the normal world's loss.
        // The same for a wake-up it may have carried: the drain may wake waiters spuriously.
        if (a == nullptr) {
          for (const auto& [cookie, b] : shm_bufs_) unchecked_.insert(cookie);
          forged_rpc_answers_ = true;
          // Answered blind, a wait is a spurious wake-up and the secure thread asks again: a
          // thread that waits for a reference another parked call holds (an UNREGISTER of a
          // buffer in use) would ask for ever while that call never runs. After a few blind
          // answers the harness takes it for a waiting thread and lets the others run; the
          // drain wakes it spuriously once nothing else can.
          if (++c.unreadable_in_a_row > kMaxUnreadableAnswers) {
            c.unreadable_in_a_row = 0;
            c.blocked = true;
            c.wait_key = kUnknownWaitKey;
            trace("  unreadable requests keep coming: taken for a wait");
            return false;
          }
        } else {
          c.unreadable_in_a_row = 0;
        }
        if (a != nullptr) {
          if (a->cmd == OPTEE_RPC_CMD_NOTIFICATION)
            trace("  notification op=%llu key=%llu timeout=%llu",
                  static_cast<unsigned long long>(a->params[0].u.value.a),
                  static_cast<unsigned long long>(a->params[0].u.value.b),
                  static_cast<unsigned long long>(a->params[0].u.value.c));
          if (a->cmd == OPTEE_RPC_CMD_NOTIFICATION && a->num_params >= 1 &&
              a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_WAIT && lie == 0) {
            const uint64_t key = a->params[0].u.value.b;
            if (pending_[key] > 0) {
              --pending_[key];
              a->ret = TEE_SUCCESS;
            } else if (a->params[0].u.value.c != 0) {
              // The timeout passes (the secure OS checks its own clock, so it really must).
              std::this_thread::sleep_for(
                  std::chrono::milliseconds(std::min<uint64_t>(a->params[0].u.value.c, 4)));
              a->ret = TEE_ERROR_TIMEOUT;
            } else {
              c.blocked = true;
              c.wait_key = key;
              return false;
            }
          } else {
            serve_cmd(*a, r, lie);
            // Answers in an RPC argument the normal world itself scribbled over are its loss:
            // what it allocated there, and what a scrambled SHM_FREE request failed to name.
            if (c.rpc_arg_tampered && last_shm_cookie_ != 0) unchecked_.insert(last_shm_cookie_);
            if (c.rpc_arg_tampered && last_free_unknown_)
              for (const auto& [cookie, b] : shm_bufs_) unchecked_.insert(cookie);
          }
        }
        break;
      }
      default: break;
    }
    // A lie in the resume itself: another thread's id first (which must be refused), or a
    // different function id.
    if (lie == 8) {
      SmcRegs wrong = reply;
      wrong[3] = r.flag() ? c.out.w(3) + 1 + r.u8() % 4 : r.u32();
      SmcRegs res = smc(wrong);
      if (wrong.w(3) == c.out.w(3)) {
        if (res.w(0) != OPTEE_SMC_RETURN_ERESUME)  // (the same thread: the answer is taken)
          c.out = res;
        return true;
      }
      if (!note_raw_resume(wrong, res) &&
          (optee_smc_return_is_rpc(res.w(0)) || res.w(0) == OPTEE_SMC_RETURN_OK))
        finding("RETURN_FROM_RPC for thread %u, not in an RPC, answered %#x", wrong.w(3),
                res.w(0));
    }
    c.out = smc(reply);
    // A thread that was no longer waiting for this answer (the input resumed it otherwise):
    // whatever the normal world allocated for the answer is its own again.
    if (c.out.w(0) == OPTEE_SMC_RETURN_ERESUME)
      for (uint64_t cookie : step_allocs_) {
        take_back_rpc_arg(cookie);
        if (auto it = shm_bufs_.find(cookie); it != shm_bufs_.end()) {
          release_shm_buf(it->second);
          shm_bufs_.erase(it);
        }
      }
    step_allocs_.clear();
    return true;
  }

  optee_msg_arg* pending_cmd(const Call& c) {
    const uint64_t cookie = reg_pair_to_64(c.out[1], c.out[2]);
    if (cookie == 0 && c.rpc_arg != nullptr) return reinterpret_cast<optee_msg_arg*>(c.rpc_arg);
    if (auto cv = carve_args_.find(cookie); cv != carve_args_.end())
      return reinterpret_cast<optee_msg_arg*>(mem_->static_shm_host() + cv->second * kPage);
    auto it = rpc_args_.find(cookie);
    if (it == rpc_args_.end() || it->second == 0) return nullptr;
    return reinterpret_cast<optee_msg_arg*>(mem_->host_of(it->second));
  }

  void answer_alloc(Call& c, SmcRegs& reply, Reader& r, uint32_t lie) {
    if (lie != 0 && lie <= 3) {
      // A page the normal world does not own, an existing cookie, or nothing at all.
      // A thread refused its RPC argument cannot send the wake-ups it owes (see run()).
      c.refused_rpc_arg = true;
      const uint64_t pa = lie == 1 ? interesting_pa(r) : 0;
      uint64_t cookie = next_cookie_++;
      if (lie == 2 && !rpc_args_.empty()) {
        cookie = std::next(rpc_args_.begin(), r.below(static_cast<uint32_t>(rpc_args_.size())))->first;
        // The secure OS frees a failed allocation by its cookie (as OP-TEE does): here that
        // frees another thread's RPC argument, through which that thread would have sent its
        // SHM_FREEs. What it allocated is then the normal world's loss.
        rpc_arg_cookie_reused_ = true;
      }
      if (!rpc_args_.count(cookie)) rpc_args_[cookie] = 0;  // not ours to free
      reg_pair_from_64(pa, reply[1], reply[2]);
      reg_pair_from_64(cookie, reply[4], reply[5]);
      return;
    }
    const uint64_t cookie = next_cookie_++;
    if (!dynamic_shm_) {  // the driver's private pool in the carve-out
      const int64_t first = carve_alloc(1);
      if (first >= 0) {
        carve_args_[cookie] = first;
        step_allocs_.push_back(cookie);
        reg_pair_from_64(mem_->static_shm_base().value + first * kPage, reply[1], reply[2]);
        reg_pair_from_64(cookie, reply[4], reply[5]);
      }
      return;
    }
    auto pfn = mem_->alloc_ns_page();
    if (!pfn) finding("harness ran out of kernel pages");
    rpc_args_[cookie] = *pfn;
    step_allocs_.push_back(cookie);
    reg_pair_from_64(pfn_to_pa(*pfn).value, reply[1], reply[2]);
    reg_pair_from_64(cookie, reply[4], reply[5]);
  }

  void take_back_rpc_arg(uint64_t cookie) {
    if (auto c = carve_args_.find(cookie); c != carve_args_.end()) {
      carve_free(c->second, 1);
      carve_args_.erase(c);
      return;
    }
    auto it = rpc_args_.find(cookie);
    if (it == rpc_args_.end()) return;
    if (it->second != 0) mem_->free_ns_page(it->second);
    rpc_args_.erase(it);
  }

  void serve_cmd(optee_msg_arg& a, Reader& r, uint32_t lie) {
    last_shm_cookie_ = 0;
    last_free_unknown_ = false;
    switch (a.cmd) {
      case OPTEE_RPC_CMD_LOAD_TA: serve_load_ta(a); break;
      case OPTEE_RPC_CMD_SHM_ALLOC: serve_shm_alloc(a, r, lie); break;
      case OPTEE_RPC_CMD_SHM_FREE: {
        a.ret = TEE_SUCCESS;
        trace("  shm free type %llu cookie %#llx", static_cast<unsigned long long>(a.params[0].u.value.a),
              static_cast<unsigned long long>(a.params[0].u.value.b));
        auto it = shm_bufs_.find(a.params[0].u.value.b);
        if (it != shm_bufs_.end()) {
          release_shm_buf(it->second);
          shm_bufs_.erase(it);
        } else {
          last_free_unknown_ = true;
        }
        break;
      }
      case OPTEE_RPC_CMD_NOTIFICATION:
        if (a.params[0].u.value.a == OPTEE_RPC_NOTIFICATION_SEND) ++pending_[a.params[0].u.value.b];
        a.ret = TEE_SUCCESS;
        break;
      case OPTEE_RPC_CMD_GET_TIME:
        a.params[0].u.value = {1, 2, 0};
        a.ret = TEE_SUCCESS;
        break;
      default: a.ret = TEE_ERROR_NOT_SUPPORTED; break;
    }
    if (lie >= 4 && lie <= 7) {
      // The answer is corrupted after the fact: result code, a param's words, the count.
      switch (lie) {
        case 4: a.ret = r.pick_or<uint32_t>({TEE_SUCCESS, TEE_ERROR_GENERIC, TEE_ERROR_SHORT_BUFFER},
                                             [&] { return r.u32(); });
          break;
        case 5: {
          const uint32_t i = r.u8() % 4;
          if (i < OPTEE_MSG_MAX_NUM_PARAMS)
            a.params[i].u.value = {r.flag() ? r.u64() : a.params[i].u.value.a, r.u64(), r.u64()};
          break;
        }
        case 6: a.params[r.u8() % 2].attr = r.u64(); break;
        default: a.num_params = r.u32(); break;
      }
      // The normal world lied about its own answer (a failure, another cookie, another count):
      // the buffer is its own loss (OP-TEE drops such answers too), not the secure OS's leak.
      if (last_shm_cookie_ != 0 && lie != 6) unchecked_.insert(last_shm_cookie_);
    }
  }

  void serve_load_ta(optee_msg_arg& a) {
    Uuid u;
    std::memcpy(u.octets, &a.params[0].u.value.a, 8);
    std::memcpy(u.octets + 8, &a.params[0].u.value.b, 8);
    if (!(u == kShmTa) || g_ta_image.empty()) {
      a.ret = TEE_ERROR_ITEM_NOT_FOUND;
      return;
    }
    const uint64_t type = a.params[1].attr & OPTEE_MSG_ATTR_TYPE_MASK;
    trace("  load_ta attr %#llx ptr/offs %#llx size %#llx ref %#llx",
          static_cast<unsigned long long>(a.params[1].attr),
          static_cast<unsigned long long>(a.params[1].u.tmem.buf_ptr),
          static_cast<unsigned long long>(a.params[1].u.tmem.size),
          static_cast<unsigned long long>(a.params[1].u.tmem.shm_ref));
    std::byte* dst = nullptr;
    uint64_t cap = 0;
    if (type == OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT && (a.params[1].attr & kNoncontig)) {
      // A page list: one of the buffers this normal world gave with SHM_ALLOC, named by its first
      // list page (anything else is a list the harness did not build).
      const uint64_t ptr = a.params[1].u.tmem.buf_ptr;
      for (auto& [cookie, b] : shm_bufs_)
        if (!b.lists.empty() && pfn_to_pa(b.lists[0]).value == (ptr & ~(kPage - 1)) &&
            (ptr & (kPage - 1)) < b.pages * kPage) {
          dst = b.host + (ptr & (kPage - 1));
          cap = std::min<uint64_t>(a.params[1].u.tmem.size, b.pages * kPage - (ptr & (kPage - 1)));
        }
      if (dst == nullptr && ptr != 0) {
        a.ret = TEE_ERROR_BAD_PARAMETERS;
        return;
      }
    } else if (type == OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT) {
      cap = a.params[1].u.tmem.size;
      if (a.params[1].u.tmem.buf_ptr != 0) dst = mem_->ns_range(PhysAddr{a.params[1].u.tmem.buf_ptr}, cap);
    } else if (type == OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT) {
      auto it = shm_bufs_.find(a.params[1].u.rmem.shm_ref);
      const uint64_t offs = a.params[1].u.rmem.offs;
      if (it == shm_bufs_.end() || offs > it->second.pages * kPage) {
        a.ret = TEE_ERROR_BAD_PARAMETERS;
        return;
      }
      dst = it->second.host + offs;
      cap = std::min(a.params[1].u.rmem.size, it->second.pages * kPage - offs);
    } else {
      a.ret = TEE_ERROR_BAD_PARAMETERS;
      return;
    }
    a.params[1].u.tmem.size = g_ta_image.size();
    if (dst == nullptr || cap < g_ta_image.size()) {
      a.ret = dst == nullptr ? TEE_SUCCESS : TEE_ERROR_SHORT_BUFFER;
      return;
    }
    std::memcpy(dst, g_ta_image.data(), g_ta_image.size());
    a.ret = TEE_SUCCESS;
  }

  void serve_shm_alloc(optee_msg_arg& a, Reader& r, uint32_t lie) {
    if (a.num_params < 1 || a.params[0].attr != OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
      a.ret = TEE_ERROR_BAD_PARAMETERS;
      return;
    }
    const uint64_t size = a.params[0].u.value.b;
    if (size > (64ull << 20)) {
      a.ret = TEE_ERROR_OUT_OF_MEMORY;
      return;
    }
    ShmBuf b;
    b.pages = std::max<uint64_t>(1, (size + kPage - 1) / kPage);
    if (!dynamic_shm_) {  // contiguous, from the carve-out
      b.carve_first = carve_alloc(b.pages);
      if (b.carve_first < 0) {
        a.ret = TEE_ERROR_OUT_OF_MEMORY;
        return;
      }
      const uint64_t cookie = next_cookie_++;
      a.params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
      a.params[0].u.tmem = {mem_->static_shm_base().value + b.carve_first * kPage, size, cookie};
      if (lie == 2) a.params[0].u.tmem.size = size / 2;
      if (lie == 3) a.params[0].u.tmem.buf_ptr = interesting_pa(r);
      a.ret = TEE_SUCCESS;
      b.host = mem_->static_shm_host() + b.carve_first * kPage;
      shm_bufs_[cookie] = std::move(b);
      step_allocs_.push_back(cookie);
      last_shm_cookie_ = cookie;
      return;
    }
    b.host = static_cast<std::byte*>(std::aligned_alloc(kPage, b.pages * kPage));
    std::memset(b.host, 0, b.pages * kPage);
    b.pfns.resize(b.pages);
    if (!mem_->alias_host_pages(reinterpret_cast<uintptr_t>(b.host), b.pfns))
      finding("harness cannot alias RPC pages");
    std::vector<uint64_t> entries;
    for (Pfn p : b.pfns) entries.push_back(pfn_to_pa(p).value);
    Reader quiet(nullptr, 0);
    const uint64_t buf_ptr = page_list(lie == 1 ? r : quiet, entries, 0, b.lists);
    for (Pfn p : b.lists) pages_.erase(p);  // the buffer owns its list pages
    uint64_t cookie = next_cookie_++;
    a.params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | kNoncontig;
    a.params[0].u.tmem = {buf_ptr, size, cookie};
    a.ret = TEE_SUCCESS;
    if (lie == 2) a.params[0].u.tmem.size = size / 2;                     // smaller than asked
    if (lie == 3) a.params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;     // "contiguous"
    if (lie == 3 && r.flag()) a.params[0].u.tmem.buf_ptr = interesting_pa(r);
    trace("  shm alloc %llu bytes -> cookie %#llx", static_cast<unsigned long long>(size),
          static_cast<unsigned long long>(cookie));
    shm_bufs_[cookie] = std::move(b);
    step_allocs_.push_back(cookie);
    last_shm_cookie_ = cookie;
  }

  // --- ops --------------------------------------------------------------------------------------
  // A RETURN_FROM_RPC the harness did not send for the call it serves may have resumed a parked
  // call: that call is now where the secure OS says (in another RPC, or done). Refusals such as
  // ERESUME or ENOTAVAIL leave it where it was; only a call's own ends (OK, EBADCMD) or another
  // RPC say it moved. True if a parked call was resumed.
  bool note_raw_resume(const SmcRegs& in, const SmcRegs& out) {
    const bool moved = optee_smc_return_is_rpc(out.w(0)) || out.w(0) == OPTEE_SMC_RETURN_OK ||
                       out.w(0) == OPTEE_SMC_RETURN_EBADCMD;
    if (!moved) return false;
    forged_rpc_answers_ = true;
    for (auto it = parked_.begin(); it != parked_.end(); ++it) {
      if ((*it)->out.w(3) != in.w(3)) continue;
      // The request it was parked in is answered now (by whatever the input sent): a buffer the
      // secure OS gave back with it is the normal world's again.
      Call& c = **it;
      // (A request the normal world scrambled while the call was parked counts as what the
      // secure OS wrote: see check_request_snapshot.)
      const bool intact = check_request_snapshot(c);
      if (c.func() == OPTEE_SMC_RPC_FUNC_FREE) take_back_rpc_arg(reg_pair_to_64(c.out[1], c.out[2]));
      if (c.func() == OPTEE_SMC_RPC_FUNC_CMD && intact)
        if (optee_msg_arg* a = pending_cmd(c); a != nullptr) {
          if (a->cmd == OPTEE_RPC_CMD_SHM_FREE)
            if (auto b = shm_bufs_.find(a->params[0].u.value.b); b != shm_bufs_.end()) {
              release_shm_buf(b->second);
              shm_bufs_.erase(b);
            }
          // A wake-up the secure OS sent reached the normal world, whatever the input answered:
          // its waiter may go on (a driver records the key when the request arrives).
          if (a->cmd == OPTEE_RPC_CMD_NOTIFICATION && a->num_params >= 1 &&
              a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_SEND)
            ++pending_[a->params[0].u.value.b];
        }
      (*it)->blocked = false;
      (*it)->out = out;
      (*it)->request_snapshot.clear();  // a new RPC (or none): its request is what counts now
      if (!(*it)->done()) snapshot_request(**it);
      if ((*it)->done()) {
        for (Pfn p : (*it)->lists) free_page(p);
        parked_.erase(it);
      }
      return true;
    }
    return false;
  }

  void op_fast(Reader& r) {
    SmcRegs in;
    in[0] = r.pick_or<uint32_t>({OPTEE_SMC_CALLS_COUNT, OPTEE_SMC_CALLS_UID, OPTEE_SMC_CALLS_REVISION,
                              OPTEE_SMC_CALL_GET_OS_UUID, OPTEE_SMC_CALL_GET_OS_REVISION,
                              OPTEE_SMC_GET_SHM_CONFIG, OPTEE_SMC_L2CC_MUTEX,
                              OPTEE_SMC_EXCHANGE_CAPABILITIES, OPTEE_SMC_DISABLE_SHM_CACHE,
                              OPTEE_SMC_ENABLE_SHM_CACHE, OPTEE_SMC_BOOT_SECONDARY,
                              OPTEE_SMC_VM_CREATED, OPTEE_SMC_VM_DESTROYED,
                              OPTEE_SMC_GET_THREAD_COUNT, OPTEE_SMC_ENABLE_ASYNC_NOTIF,
                              OPTEE_SMC_GET_ASYNC_NOTIF_VALUE, OPTEE_SMC_CALL_RETURN_FROM_RPC},
                             [&] { return r.flag() ? optee_fast(r.u16()) : r.u32(); });
    for (int i = 1; i < 8; ++i) in[i] = r.u8() % 4 == 3 ? r.u64() : r.u8() % 4;
    if (!r.flag()) in[7] = 0;
    SmcRegs out = smc(in);
    trace("fast %#x -> %#x", in.w(0), out.w(0));
    if (in.w(0) == OPTEE_SMC_CALL_RETURN_FROM_RPC) note_raw_resume(in, out);
    // A cached RPC argument handed back is the normal world's again.
    if (in.w(0) == OPTEE_SMC_DISABLE_SHM_CACHE && out.w(0) == OPTEE_SMC_RETURN_OK)
      take_back_rpc_arg(reg_pair_to_64(out[1], out[2]));
    // (RETURN_FROM_RPC is in the list too: it may resume a parked call, which then goes on
    // with whatever it is given.)
    if ((in.w(0) & OPTEE_SMC_FAST_CALL) && optee_smc_return_is_rpc(out.w(0)))
      finding("fast call %#x answered with an RPC (%#x)", in.w(0), out.w(0));
  }

  void op_std(Reader& r) {
    Placement pl = place(r, false);
    optee_msg_arg hdr{};
    hdr.cmd = r.pick_or<uint32_t>({OPTEE_MSG_CMD_OPEN_SESSION, OPTEE_MSG_CMD_INVOKE_COMMAND,
                                OPTEE_MSG_CMD_CLOSE_SESSION, OPTEE_MSG_CMD_CANCEL,
                                OPTEE_MSG_CMD_REGISTER_SHM, OPTEE_MSG_CMD_UNREGISTER_SHM,
                                OPTEE_MSG_CMD_DO_BOTTOM_HALF, OPTEE_MSG_CMD_STOP_ASYNC_NOTIF},
                               [&] { return r.u32(); });
    hdr.func = r.u8() % 10;
    hdr.session = some_session(r);
    hdr.cancel_id = r.u8() % 4;
    const uint32_t n = r.u8() % 7;
    hdr.num_params = r.u8() % 16 == 15 ? r.pick_or<uint32_t>({127, 128, 0xffffffff}, [&] { return r.u32(); }) : n;
    if (r.u8() % 16 == 15) hdr.ret = r.u32();
    std::vector<Pfn> lists;
    std::vector<optee_msg_param> params(n);
    for (auto& p : params) fill_param(r, p, lists);
    issue(r, pl, hdr, params, std::move(lists));
  }

  uint32_t some_session(Reader& r) {
    if (!sessions_.empty() && r.u8() % 4 != 3)
      return *std::next(sessions_.begin(), r.below(static_cast<uint32_t>(sessions_.size())));
    return r.flag() ? r.u8() : r.u32();
  }

  void op_open(Reader& r) {
    Placement pl = place(r, r.u8() % 4 != 3);
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_OPEN_SESSION;
    const uint32_t extra = r.u8() % 5;
    hdr.num_params = 2 + extra;
    hdr.cancel_id = r.u8() % 4;
    std::vector<optee_msg_param> params(hdr.num_params);
    const Uuid& ta = r.u8() % 8 == 7 ? kOtherTa : kShmTa;
    params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
    params[0].u.value = {uuid_a(ta), uuid_b(ta), 0};
    params[1].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
    params[1].u.value = {r.u64(), r.u64(),
                         r.pick_or<uint64_t>({OPTEE_MSG_LOGIN_PUBLIC, OPTEE_MSG_LOGIN_USER,
                                           OPTEE_MSG_LOGIN_GROUP, OPTEE_MSG_LOGIN_APPLICATION,
                                           OPTEE_MSG_LOGIN_REE_KERNEL},
                                          [&] { return r.u32(); })};
    std::vector<Pfn> lists;
    for (uint32_t i = 2; i < hdr.num_params; ++i) fill_param(r, params[i], lists);
    issue(r, pl, hdr, params, std::move(lists));
  }

  void op_invoke(Reader& r) {
    Placement pl = place(r, r.u8() % 4 != 3);
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
    hdr.session = some_session(r);
    hdr.func = r.pick_or<uint32_t>({TA_SHM_TEST_CMD_SUM, TA_SHM_TEST_CMD_FILL, TA_SHM_TEST_CMD_INC,
                                 TA_SHM_TEST_CMD_NEED, TA_SHM_TEST_CMD_PANIC,
                                 TA_SHM_TEST_CMD_WAIT_CANCEL, TA_SHM_TEST_CMD_XOR},
                                [&] { return r.u32(); });
    hdr.cancel_id = r.u8() % 4;
    hdr.num_params = r.u8() % 5;
    std::vector<optee_msg_param> params(hdr.num_params);
    std::vector<Pfn> lists;
    for (auto& p : params) fill_param(r, p, lists);
    issue(r, pl, hdr, params, std::move(lists));
  }

  void op_register(Reader& r) {
    ClientBuf& b = some_client(r);
    Placement pl = place(r, r.u8() % 4 != 3);
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_REGISTER_SHM;
    hdr.num_params = 1;
    std::vector<optee_msg_param> params(1);
    std::vector<uint64_t> entries;
    for (size_t i = 0; i < b.pages; ++i) entries.push_back(b.pa(i));
    const uint32_t offset = r.u8() % 4 == 3 ? r.u16() & 0xfff : 0;
    std::vector<Pfn> lists;
    params[0].attr = r.u8() % 8 == 7 ? mem_type(r, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT) | kNoncontig
                                      : OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | kNoncontig;
    params[0].u.tmem = {page_list(r, entries, offset, lists),
                        size_for(r, b.pages * kPage - offset), cookie_for(r)};
    issue(r, pl, hdr, params, std::move(lists));
  }

  void op_unregister(Reader& r) {
    Placement pl = place(r, r.u8() % 4 != 3);
    optee_msg_arg hdr{};
    hdr.cmd = OPTEE_MSG_CMD_UNREGISTER_SHM;
    hdr.num_params = 1;
    std::vector<optee_msg_param> params(1);
    params[0].attr = r.u8() % 8 == 7 ? r.u64() : OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    params[0].u.rmem = {0, 0, cookie_for(r)};
    issue(r, pl, hdr, params, {});
  }

  void op_resume(Reader& r) {
    if (parked_.empty()) return;
    const uint32_t i = r.below(static_cast<uint32_t>(parked_.size()));
    if (parked_[i]->blocked && pending_[parked_[i]->wait_key] == 0) return;
    std::unique_ptr<Call> c = unpark(parked_.begin() + i);
    c->scripted = r.u8();
    trace("resume parked call (cmd %u, thread %#x)", c->cmd, c->out.w(3));
    run(std::move(c), r, true);
  }

  void op_rewrite(Reader& r) {
    if (parked_.empty()) return;
    Call& c = *parked_[r.below(static_cast<uint32_t>(parked_.size()))];
    // The argument of a call in progress, or one of its page-list pages.
    std::byte* target = nullptr;
    uint64_t room = 0;
    if (!c.lists.empty() && r.flag()) {
      target = mem_->host_of(c.lists[r.below(static_cast<uint32_t>(c.lists.size()))]);
      room = kPage;
    } else if (c.msg_host != nullptr) {
      target = c.msg_host;
      room = optee_msg_get_arg_size(4);
    }
    if (target == nullptr) return;
    const uint64_t off = (r.u16() % room) & ~uint64_t{7};
    if (c.rpc_arg != nullptr && target == c.msg_host &&
        target + off + 8 > c.rpc_arg)
      c.rpc_arg_tampered = true;
    const uint64_t v = r.flag() ? r.u64() : interesting_pa(r);
    trace("rewrite %s of a parked call (cmd %u) at +%#llx", target == c.msg_host ? "argument" : "page list",
          c.cmd, static_cast<unsigned long long>(off));
    std::memcpy(target + off, &v, std::min<uint64_t>(8, room - off));
  }

  // A well-formed call with the honest normal world (cleanup).
  void simple_call(uint32_t cmd, uint32_t session, uint32_t n, const optee_msg_param* p = nullptr) {
    Reader none(nullptr, 0);
    Placement pl = place(none, true);
    if (pl.host == nullptr) return;
    auto* a = reinterpret_cast<optee_msg_arg*>(pl.host);
    std::memset(a, 0, optee_msg_get_arg_size(n));
    a->cmd = cmd;
    a->session = session;
    a->num_params = n;
    for (uint32_t i = 0; i < n; ++i) a->params[i] = p[i];
    auto c = std::make_unique<Call>();
    c->cmd = cmd;
    c->msg_host = pl.host;
    c->out = smc(pl.regs);
    run(std::move(c), none, false);
    drain();
  }

  SmcRegs smc(const SmcRegs& in) {
    SmcRegs out = os_->smc(in);
    trace("    smc %#x %#x %#x %#x .. a7=%#llx -> %#x %#x %#x %#x", in.w(0), in.w(1), in.w(2), in.w(3),
          static_cast<unsigned long long>(in[7]), out.w(0), out.w(1), out.w(2), out.w(3));
    return out;
  }

  hw::MachineStats stats_;
  std::unique_ptr<hw::PhysMem> mem_;
  ta_runtime::DlTaLoader loader_;
  std::unique_ptr<tee::SecureOs> os_;
  uint32_t threads_ = 1;
  bool dynamic_shm_ = true;
  std::set<Pfn> pages_;
  std::vector<std::unique_ptr<ClientBuf>> clients_;
  std::map<uint64_t, Pfn> rpc_args_;  // cookie -> page (0: a lie, not ours)
  std::map<uint64_t, int64_t> carve_args_;  // cookie -> carve-out page (no dynamic shm)
  std::set<uint64_t> carve_used_;
  uint64_t carve_next_arg_ = 0;
  std::vector<uint64_t> step_allocs_;  // what the normal world allocated for the current answer
  uint64_t last_shm_cookie_ = 0;       // the buffer of the SHM_ALLOC answer being composed
  bool last_free_unknown_ = false;     // the last SHM_FREE served named no buffer of ours
  // The secure OS may have run a message the harness did not write (and so opened sessions or
  // registered buffers it cannot name): the cleanup then also closes and unregisters, through
  // the ABI, every session and cookie the audit still lists.
  bool messages_unknown_ = false;
  // An RPC ALLOC was answered with the cookie of another live RPC argument (see answer_alloc).
  bool rpc_arg_cookie_reused_ = false;
  // The input resumed a thread with an RPC answer of its own making, or answered a request it
  // could not read (see drain()).
  bool forged_rpc_answers_ = false;
  static constexpr int kMaxSpuriousWakes = 64;
  int spurious_wakes_ = 0;
  std::set<uint64_t> unchecked_;       // buffers the normal world lied about
  std::map<uint64_t, ShmBuf> shm_bufs_;
  std::map<uint64_t, uint32_t> pending_;  // notification key -> SENDs not yet consumed
  std::vector<std::unique_ptr<Call>> parked_;
  std::set<uint32_t> sessions_;
  std::map<uint64_t, uint32_t> register_cookies_;  // cookie -> REGISTER_SHM attempts (duplicates
                                                    // are allowed, as in OP-TEE)
  uint32_t open_attempts_ = 0;
  uint64_t next_cookie_ = 0xC0C0000000001000ull;
};

}  // namespace

void init() {
  g_ta_image = read_file(ta_dir() + "/f9b9acc0-806d-415c-bade-7aecc600e80f.ta");
  if (g_ta_image.empty()) finding("no shm-test TA in %s (TEEMU_FUZZ_TA_DIR)", ta_dir().c_str());
}

// Seeds: the happy paths of tests/secure_entry_test.cc as short programs (every RPC answered
// honestly unless a seed scripts it; the bytes follow the reads of the ops above).
Seeds seeds() {
  using ParamFn = std::function<void(Writer&)>;
  Seeds s;
  // OPEN_SESSION to the shm-test TA (PUBLIC login), simple placement, with extra params; the
  // first `scripted` RPCs read their answers from the input.
  auto open = [](Writer& w, const std::vector<ParamFn>& extra = {}, uint8_t scripted = 0) {
    w.u8(kOpOpen).u8(0).u8(0).u8(static_cast<uint8_t>(extra.size())).u8(0).u8(0);
    w.u64(0x1111).u64(0x2222).u8(0);
    for (const auto& p : extra) p(w);
    w.u8(scripted);
  };
  // INVOKE `func` on the first known session.
  auto invoke = [](Writer& w, uint32_t func, const std::vector<ParamFn>& params) {
    w.u8(kOpInvoke).u8(0).u8(0).u8(0).u8(0).u8(static_cast<uint8_t>(func)).u8(0);
    w.u8(static_cast<uint8_t>(params.size()));
    for (const auto& p : params) p(w);
    w.u8(0);
  };
  const ParamFn value_inout = [](Writer& w) { w.u8(0).u8(1).u8(2).u64(7).u64(8).u64(9); };
  const ParamFn value_out = [](Writer& w) { w.u8(0).u8(1).u8(1).u64(0).u64(0).u64(0); };
  // RMEM input over the first registered buffer, offset 0, one page.
  const ParamFn rmem = [](Writer& w) { w.u8(0).u8(7).u8(0).u8(0).u8(0).u8(1).u8(0); };
  // NONCONTIG TMEM input over a new 2-page client buffer.
  const ParamFn noncontig = [](Writer& w) {
    w.u8(0).u8(4).u8(0).u8(2).u8(0).u8(0).u8(0).u8(0).u8(0);
  };
  // A contiguous TMEM input in the carve-out.
  const ParamFn carve_tmem = [](Writer& w) {
    w.u8(0).u8(3).u8(0).u8(1).u32(0x80000).u8(0).u8(0);
  };
  {
    Writer w;
    w.u8(0);
    for (uint8_t fid : {1, 7, 13, 8, 9, 3}) {
      w.u8(kOpFast).u8(fid);
      for (int i = 1; i < 8; ++i) w.u8(0).u8(0);
      w.u8(0);
    }
    s.push_back({"fast", w.data()});
  }
  {
    Writer w;
    w.u8(0);
    open(w);
    invoke(w, TA_SHM_TEST_CMD_INC, {value_inout});
    s.push_back({"open-inc", w.data()});
  }
  {  // the same through the carve-out without dynamic shm
    Writer w;
    w.u8(1);
    open(w);
    invoke(w, TA_SHM_TEST_CMD_INC, {value_inout});
    invoke(w, TA_SHM_TEST_CMD_SUM, {carve_tmem, value_out});
    s.push_back({"open-inc-static", w.data()});
  }
  {  // register a 2-page client buffer, SUM over it by reference, unregister it
    Writer w;
    w.u8(0);
    w.u8(kOpRegister).u8(2).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0);
    open(w);
    invoke(w, TA_SHM_TEST_CMD_SUM, {rmem, value_out});
    w.u8(kOpUnregister).u8(0).u8(0).u8(0).u8(1).u8(0).u8(0);
    s.push_back({"register-sum", w.data()});
  }
  {  // SUM over a NONCONTIG temporary memref
    Writer w;
    w.u8(0);
    open(w);
    invoke(w, TA_SHM_TEST_CMD_SUM, {noncontig, value_out});
    s.push_back({"noncontig-sum", w.data()});
  }
  {  // OPEN with a NONCONTIG memref parks in its first RPC; the normal world rewrites the page
     // list and the argument, then lets it go on
    Writer w;
    w.u8(4);
    open(w, {noncontig}, 1);
    w.u8(7);  // park
    w.u8(kOpRewrite).u8(0).u8(1).u8(0).u16(8).u8(0).u8(1);
    w.u8(kOpRewrite).u8(0).u8(0).u16(64).u8(1).u64(0xffffffff);
    w.u8(kOpResume).u8(0).u8(0);
    s.push_back({"park-rewrite", w.data()});
  }
  {  // a raw std call: INVOKE with 127 params in a page at an offset
    Writer w;
    w.u8(4);
    w.u8(kOpStd).u8(5).u16(64).u8(0).u8(0).u8(1).u8(0).u8(0).u8(0).u8(0).u8(15).u8(0).u8(0);
    s.push_back({"raw-std", w.data()});
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  Reader r(data, size);
  const uint8_t c = r.u8();
  const bool dynamic_shm = !(c & 1);
  const uint64_t static_shm = (c & 2) && dynamic_shm ? 0 : kStaticShm;
  const uint32_t threads = 1 + (c >> 2) % 3;
  const bool abandon = (c >> 4) % 8 == 7;  // destroy the secure OS with calls still suspended
  World w(dynamic_shm, static_shm, threads);
  for (int i = 0; i < kMaxOps && !r.empty(); ++i) w.op(r);
  if (!abandon) {
    w.drain();
    w.cleanup_and_audit();
  }
  return 0;
}
