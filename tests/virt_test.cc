// Acceptance suite of the virtualization (issue 4): the hypervisor, its OP-TEE mediator and the
// secure OS partitions, against reference/virtualization.md ("Invariants an emulator must
// enforce", cited as "inv N", and "Failure modes to test", cited as "FM: ..."; A.x/B.x are the
// sections of that file).
//
// Three ways in:
//  (a) a hostile guest (RawGuest): raw SMCs through OpteeMediator::handle with argument pages,
//      page lists and RPC answers it builds in its own guest memory, so it can lie wherever a
//      real guest kernel would not;
//  (b) a client program in a guest: syscalls on the guest's own ree::Kernel (KernelClient);
//  (c) the hypervisor itself: create/kill/reap, and VM_CREATED/VM_DESTROYED straight to the
//      secure OS.
// Between the hypervisor and the secure OS sits a tap (SecureTap) that records every SMC the
// secure world receives, so a test can say what did (or did not) reach it.
//
// Every test ends with the quiescence audit of VirtTest::TearDown: each guest gives its cached
// RPC arguments back, holds nothing in the secure OS (sessions, instances, registered shm, busy
// threads) or the mediator (pins, buffers, RPC args, calls), has no pinned or zombie page, and
// after its destruction the partition is gone; at the end the machine's page pool and aliased
// frames are back to their boot values and every VM_CREATED had exactly one VM_DESTROYED.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../tas/shm_test/include/shm_test_ta.h"
#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "abi/tee_uapi.h"
#include "base/fault_inject.h"
#include "hw/guest_memory.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "hyp/hypervisor.h"
#include "hyp/optee_mediator.h"
#include "ree/kernel.h"
#include "ta_runtime/dl_loader.h"
#include "tee/secure_os.h"

namespace teemu {
namespace {

using namespace teemu::abi;  // NOLINT: wire constants keep their spec names
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
constexpr Uuid kTaUuid = {
    {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c, 0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
constexpr uint64_t kMetaValueIn = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
constexpr uint64_t kNoncontigOut = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
constexpr uint64_t kNoncontigIn = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG;
constexpr uint64_t kNoncontigInOut = OPTEE_MSG_ATTR_TYPE_TMEM_INOUT | OPTEE_MSG_ATTR_NONCONTIG;
constexpr uint64_t kHarnessCookieBase = 0xC0C0000000001000ull;
// A sleep in the guest longer than this means a wake-up that never comes: abort, do not hang.
constexpr auto kSafetyTimeout = std::chrono::seconds(10);
// Returned in arg->ret by nobody: the call never reached the point of writing a result.
constexpr uint32_t kSentinel = 0x5a5a5a5a;
// The fixed machine addresses of the layout (hw/phys_mem.h), used as guest addresses by guests
// that try to name them.
constexpr uint64_t kSecurePa = 0x0e100000;
constexpr uint64_t kCarveoutPa = 0x42000000;

uint64_t value_a(const Uuid& u) {
  uint64_t v;
  std::memcpy(&v, u.octets, 8);
  return v;
}
uint64_t value_b(const Uuid& u) {
  uint64_t v;
  std::memcpy(&v, u.octets + 8, 8);
  return v;
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%#llx", static_cast<unsigned long long>(v));
  return b;
}

const std::vector<uint8_t>& ta_file() {
  static const std::vector<uint8_t> image = [] {
    std::ifstream f(std::string(TEEMU_TEST_TA_DIR) + "/f9b9acc0-806d-415c-bade-7aecc600e80f.ta",
                    std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
  }();
  return image;
}

[[maybe_unused]] uint64_t sum_bytes(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

[[maybe_unused]] void fill_pattern(uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 12));
}

// ============================================================================================
// The tap between the hypervisor and the secure OS
// ============================================================================================

struct TapEntry {
  SmcRegs in;
  SmcRegs out;
};

class SecureTap : public hw::SmcHandler {
 public:
  explicit SecureTap(hw::SmcHandler& os) : os_(os) {}

  SmcRegs smc(const SmcRegs& in) override {
    if (before) before(in);
    SmcRegs out = os_.smc(in);
    std::lock_guard<std::mutex> l(mu_);
    const uint32_t fid = in.w(0);
    if (fid == OPTEE_SMC_VM_CREATED && out.w(0) == OPTEE_SMC_RETURN_OK) ++created_[in.w(1)];
    if (fid == OPTEE_SMC_VM_DESTROYED && in.w(1) != 0) ++destroyed_[in.w(1)];
    if (recording_) log_.push_back({in, out});
    return out;
  }

  std::vector<TapEntry> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  void clear() {
    std::lock_guard<std::mutex> l(mu_);
    log_.clear();
  }
  void set_recording(bool on) {
    std::lock_guard<std::mutex> l(mu_);
    recording_ = on;
  }
  size_t count(const std::function<bool(const TapEntry&)>& pred) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<size_t>(std::count_if(log_.begin(), log_.end(), pred));
  }
  // SMCs that reached the secure world with a7 = client id (the guest's traffic).
  size_t from(uint16_t client_id) {
    return count([&](const TapEntry& e) { return e.in[7] == client_id; });
  }
  int created(uint32_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return created_[id];
  }
  int destroyed(uint32_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return destroyed_[id];
  }
  std::map<uint32_t, int> created_all() {
    std::lock_guard<std::mutex> l(mu_);
    return created_;
  }
  std::map<uint32_t, int> destroyed_all() {
    std::lock_guard<std::mutex> l(mu_);
    return destroyed_;
  }

  // Runs before each SMC is passed on (set only while no other thread makes SMCs).
  std::function<void(const SmcRegs&)> before;

 private:
  hw::SmcHandler& os_;
  std::mutex mu_;
  bool recording_ = true;
  std::vector<TapEntry> log_;
  std::map<uint32_t, int> created_, destroyed_;
};

// ============================================================================================
// The machine: physical memory, the secure OS with virtualization, the tap, the hypervisor
// ============================================================================================

struct MachineOptions {
  uint32_t threads = 2;
  bool dynamic_shm = true;
  uint64_t static_shm_size = 2ull << 20;
  uint32_t max_guests = 64;
  uint64_t partition_memory = 256ull << 20;
  uint64_t ns_dram_size = 256ull << 20;
};

class VirtMachine {
 public:
  explicit VirtMachine(const MachineOptions& o) {
    hw::PhysMemConfig pc;
    pc.static_shm_size = o.static_shm_size;
    pc.ns_dram_size = o.ns_dram_size;
    mem = hw::PhysMem::create(pc);
    tee::SecureOsConfig oc;
    oc.virtualization = true;
    oc.num_threads = o.threads;
    oc.dynamic_shm = o.dynamic_shm;
    oc.max_guests = o.max_guests;
    oc.partition_memory = o.partition_memory;
    oc.thread_stack_size = 256 * 1024;
    os = std::make_unique<tee::SecureOs>(*mem, stats, loader, oc);
    tap = std::make_unique<SecureTap>(*os);
    hyp = std::make_unique<hyp::Hypervisor>(*mem, *tap, stats);
    std::string err;
    EXPECT_TRUE(hyp->probe(&err)) << err;
    ns_base = mem->ns_pages_in_use();
    alias_base = mem->frames_aliased();
  }

  hyp::OpteeMediator& med() { return hyp->mediator(); }

  // A guest with its own kernel and tee-supplicant (created through the hypervisor).
  hyp::Guest* kernel_guest(uint16_t id, hyp::GuestConfig gc = {}) {
    gc.ta_path = {TEEMU_TEST_TA_DIR};
    auto g = hyp->create_guest(id, gc);
    EXPECT_TRUE(g) << (g ? "" : g.error());
    return g ? *g : nullptr;
  }

  hw::MachineStats stats;
  std::unique_ptr<hw::PhysMem> mem;
  ta_runtime::DlTaLoader loader;
  std::unique_ptr<tee::SecureOs> os;
  std::unique_ptr<SecureTap> tap;
  std::unique_ptr<hyp::Hypervisor> hyp;
  int64_t ns_base = 0;
  int64_t alias_base = 0;
};

// ============================================================================================
// A hostile guest: raw SMCs through the mediator, everything built by hand in guest memory
// ============================================================================================

// A page of guest RAM (a kernel page of the guest).
struct GPage {
  Pfn ipa = 0;
  uint64_t addr = 0;  // IPA as an address
  std::byte* host = nullptr;
};

// Client memory of the guest: host pages aliased by guest frames (what pinning a process buffer
// gives the guest kernel).
struct GBuf {
  std::byte* host = nullptr;
  size_t pages = 0;
  std::vector<Pfn> ipas;
  uint8_t* bytes() const { return reinterpret_cast<uint8_t*>(host); }
  uint64_t addr(size_t i) const { return pfn_to_pa(ipas[i]).value; }
  size_t size() const { return pages * kPage; }
  std::vector<uint64_t> entries() const {
    std::vector<uint64_t> e;
    for (size_t i = 0; i < pages; ++i) e.push_back(addr(i));
    return e;
  }
};

// A message argument in its own guest page.
struct Msg {
  GPage page;
  optee_msg_arg* arg = nullptr;
  uint64_t addr = 0;
  optee_msg_arg* operator->() const { return arg; }
  optee_msg_param& p(size_t i) const { return arg->params[i]; }
};

// A std call in flight: the registers the mediator last returned to the guest.
struct Call {
  SmcRegs out;
  uint32_t a0() const { return out.w(0); }
  bool done() const { return !optee_smc_return_is_rpc(out.w(0)); }
  uint32_t thread() const { return out.w(3); }
  uint32_t func() const { return optee_smc_return_get_rpc_func(out.w(0)); }
};

// One RPC being answered: a hook sees it before the default service and may answer it itself.
struct Rpc {
  uint32_t func = 0;
  uint32_t thread = 0;
  SmcRegs out;
  optee_msg_arg* arg = nullptr;  // RPC_FUNC_CMD only: the guest's RPC argument page
  SmcRegs reply;                 // what RETURN_FROM_RPC carries
  uint32_t cmd() const { return arg != nullptr ? arg->cmd : ~0u; }
};

// What the guest saw, in order.
struct Event {
  uint32_t thread = 0;
  uint32_t func = 0;
  uint32_t cmd = ~0u;  // RPC CMD only
  uint64_t a = 0;      // CMD: params[0].value.a; ALLOC: size; FREE: cookie
  uint64_t b = 0;      // CMD: params[0].value.b
  uint64_t c = 0;      // CMD: params[0].value.c
  bool is_cmd(uint32_t c_) const { return func == OPTEE_SMC_RPC_FUNC_CMD && cmd == c_; }
  bool is_wait() const {
    return is_cmd(OPTEE_RPC_CMD_NOTIFICATION) && a == OPTEE_RPC_NOTIFICATION_WAIT;
  }
  bool is_send() const {
    return is_cmd(OPTEE_RPC_CMD_NOTIFICATION) && a == OPTEE_RPC_NOTIFICATION_SEND;
  }
};

class RawGuest {
 public:
  RawGuest(VirtMachine& m, uint16_t id, const hyp::MediatorLimits& limits = {})
      : ta_image(ta_file()), m_(m), id_(id) {
    gm_ = hw::GuestMemory::create(*m.mem, 1u << 20);
    EXPECT_TRUE(gm_ != nullptr);
    auto r = m.med().add_guest(id, *gm_, limits);
    EXPECT_TRUE(r.has_value()) << "VM_CREATED for guest " << id;
    // As the Linux driver at probe: turn the RPC argument cache on.
    EXPECT_EQ(fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_OK);
  }

  ~RawGuest() {
    if (!removed_) destroy();
    for (auto& [cookie, p] : rpc_args_) gm_->free_page(p.ipa);
    for (auto& [cookie, b] : shm_bufs_) release_shm_buf(b);
    for (auto& c : clients_) {
      if (!c->ipas.empty()) gm_->unalias_pages(c->ipas);
      std::free(c->host);
    }
    for (Pfn p : pages_) gm_->free_page(p);
    EXPECT_EQ(gm_->pinned_pages(), 0);
    EXPECT_EQ(gm_->zombie_pages(), 0);
    EXPECT_EQ(gm_->pages_in_use(), 0);
    EXPECT_EQ(gm_->pages_aliased(), 0);
    gm_.reset();
  }

  uint16_t id() const { return id_; }
  hw::GuestMemory& gm() { return *gm_; }
  bool removed() const { return removed_; }

  // The hypervisor ends the guest: its vCPUs stop, then its pins go and VM_DESTROYED is sent.
  void destroy() {
    m_.med().stop_guest(id_);
    m_.med().remove_guest(id_);
    removed_ = true;
  }

  SmcRegs smc(const SmcRegs& in) { return m_.med().handle(id_, in); }
  SmcRegs fast(uint32_t fid, uint64_t a1 = 0) {
    SmcRegs in;
    in[0] = fid;
    in[1] = a1;
    return smc(in);
  }

  // --- memory ---
  GPage page() {
    auto ipa = gm_->alloc_page();
    EXPECT_TRUE(ipa.has_value());
    GPage p{*ipa, pfn_to_pa(*ipa).value, gm_->frame_host(*ipa)};
    std::lock_guard<std::mutex> l(mu_);
    pages_.insert(p.ipa);
    return p;
  }
  // The guest gives a page of its RAM up (balloons it out).
  void free_page(const GPage& p) {
    {
      std::lock_guard<std::mutex> l(mu_);
      pages_.erase(p.ipa);
    }
    gm_->free_page(p.ipa);
  }
  GBuf& client(size_t pages) {
    auto b = std::make_unique<GBuf>();
    b->host = static_cast<std::byte*>(std::aligned_alloc(kPage, pages * kPage));
    std::memset(b->host, 0, pages * kPage);
    b->pages = pages;
    b->ipas.resize(pages);
    EXPECT_TRUE(gm_->alias_pages(reinterpret_cast<uintptr_t>(b->host), b->ipas));
    std::lock_guard<std::mutex> l(mu_);
    clients_.push_back(std::move(b));
    return *clients_.back();
  }
  // The guest stops using a client buffer's pages (the process unmapped them).
  void give_up(GBuf& b) {
    gm_->unalias_pages(b.ipas);
    b.ipas.clear();
  }
  // Machine frame behind a guest frame (what only the hypervisor knows).
  Pfn machine_of(Pfn ipa) {
    auto m = gm_->translate(ipa);
    EXPECT_TRUE(m.has_value());
    return m ? *m : 0;
  }
  // Writes `entries` as a NONCONTIG page list into fresh guest pages; returns the buf_ptr value
  // (first list page | offset).
  uint64_t page_list(const std::vector<uint64_t>& entries, uint32_t offset = 0,
                     std::vector<GPage>* lists = nullptr) {
    const size_t n = entries.size();
    const size_t count =
        std::max<size_t>(1, (n + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage);
    std::vector<GPage> lp;
    for (size_t i = 0; i < count; ++i) lp.push_back(page());
    size_t idx = 0;
    for (size_t l = 0; l < count; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(lp[l].host);
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < n; ++e)
        pg->pages_list[e] = entries[idx++];
      if (l + 1 < count) pg->next_page_data = lp[l + 1].addr;
    }
    if (lists != nullptr) *lists = lp;
    return lp[0].addr | offset;
  }
  uint64_t page_list(const GBuf& b, uint32_t offset = 0) { return page_list(b.entries(), offset); }

  // --- messages ---
  Msg msg(uint32_t cmd, uint32_t num_params) {
    Msg m;
    m.page = page();
    m.arg = reinterpret_cast<optee_msg_arg*>(m.page.host);
    m.addr = m.page.addr;
    m.arg->cmd = cmd;
    m.arg->num_params = num_params;
    return m;
  }
  static void set_open_meta(const Msg& m, const Uuid& uuid) {
    m.p(0).attr = kMetaValueIn;
    m.p(0).u.value = {value_a(uuid), value_b(uuid), 0};
    m.p(1).attr = kMetaValueIn;
    m.p(1).u.value = {0x1111, 0x2222, OPTEE_MSG_LOGIN_PUBLIC};
  }
  static SmcRegs with_arg(uint64_t addr) {
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_WITH_ARG;
    reg_pair_from_64(addr, in[1], in[2]);
    return in;
  }

  // --- std calls ---
  Call start(const SmcRegs& in) {
    Call c;
    c.out = smc(in);
    return c;
  }
  Call start(const Msg& m) { return start(with_arg(m.addr)); }
  // The guest's RPC argument page of the call's pending RPC_FUNC_CMD (nullptr otherwise).
  optee_msg_arg* pending_cmd(const Call& c) {
    if (c.done() || c.func() != OPTEE_SMC_RPC_FUNC_CMD) return nullptr;
    const uint64_t cookie = reg_pair_to_64(c.out[1], c.out[2]);
    std::lock_guard<std::mutex> l(mu_);
    auto it = rpc_args_.find(cookie);
    return it == rpc_args_.end() ? nullptr : reinterpret_cast<optee_msg_arg*>(it->second.host);
  }
  // Answers the pending RPC (hook first, then the default service) and resumes the thread.
  void step(Call& c) {
    Rpc r;
    r.func = c.func();
    r.thread = c.thread();
    r.out = c.out;
    r.reply[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
    r.reply[1] = c.out.w(1);
    r.reply[2] = c.out.w(2);
    r.reply[3] = c.out.w(3);
    if (r.func == OPTEE_SMC_RPC_FUNC_CMD) {
      r.arg = pending_cmd(c);
      EXPECT_NE(r.arg, nullptr) << "RPC CMD with unknown cookie "
                                << hex(reg_pair_to_64(c.out[1], c.out[2]));
    }
    log(r);
    if (!(hook && hook(r))) serve(r);
    c.out = smc(r.reply);
  }
  uint32_t finish(Call& c) {
    while (!c.done()) step(c);
    return c.a0();
  }
  // Serves RPCs until `pred` holds for the pending one (left unanswered); false if the call ended.
  bool step_until(Call& c, const std::function<bool(const Call&, const optee_msg_arg*)>& pred) {
    while (!c.done()) {
      if (pred(c, pending_cmd(c))) return true;
      step(c);
    }
    return false;
  }
  bool step_until_cmd(Call& c, uint32_t cmd) {
    return step_until(c, [cmd](const Call&, const optee_msg_arg* a) {
      return a != nullptr && a->cmd == cmd;
    });
  }
  bool step_until_wait(Call& c) {
    return step_until(c, [](const Call&, const optee_msg_arg* a) {
      return a != nullptr && a->cmd == OPTEE_RPC_CMD_NOTIFICATION &&
             a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_WAIT;
    });
  }
  uint32_t run(const SmcRegs& in) {
    Call c = start(in);
    return finish(c);
  }
  uint32_t call(const Msg& m) { return run(with_arg(m.addr)); }

  // --- the default RPC service (what a guest's Linux + tee-supplicant answer) ---
  void serve(Rpc& r) {
    switch (r.func) {
      case OPTEE_SMC_RPC_FUNC_ALLOC: answer_alloc(r); break;
      case OPTEE_SMC_RPC_FUNC_FREE: {
        const uint64_t cookie = reg_pair_to_64(r.out[1], r.out[2]);
        GPage p;
        {
          std::lock_guard<std::mutex> l(mu_);
          auto it = rpc_args_.find(cookie);
          if (it == rpc_args_.end()) {
            ADD_FAILURE() << "RPC FREE of a cookie never handed out: " << hex(cookie);
            break;
          }
          p = it->second;
          rpc_args_.erase(it);
        }
        gm_->free_page(p.ipa);
        break;
      }
      case OPTEE_SMC_RPC_FUNC_CMD:
        if (r.arg != nullptr) serve_cmd(*r.arg);
        break;
      default: break;
    }
  }
  // Answers RPC_FUNC_ALLOC with a fresh guest page (a1/a2) and its cookie (a4/a5).
  // (`cookie` 0: a new one.)
  uint64_t answer_alloc(Rpc& r, uint64_t cookie = 0) {
    auto ipa = gm_->alloc_page();
    EXPECT_TRUE(ipa.has_value());
    GPage p{*ipa, pfn_to_pa(*ipa).value, gm_->frame_host(*ipa)};
    {
      std::lock_guard<std::mutex> l(mu_);
      if (cookie == 0) cookie = next_cookie_++;
      EXPECT_EQ(rpc_args_.count(cookie), 0u);
      rpc_args_[cookie] = p;
    }
    reg_pair_from_64(p.addr, r.reply[1], r.reply[2]);
    reg_pair_from_64(cookie, r.reply[4], r.reply[5]);
    return cookie;
  }
  void serve_cmd(optee_msg_arg& a) {
    switch (a.cmd) {
      case OPTEE_RPC_CMD_LOAD_TA: serve_load_ta(a); break;
      case OPTEE_RPC_CMD_SHM_ALLOC: serve_shm_alloc(a); break;
      case OPTEE_RPC_CMD_SHM_FREE: serve_shm_free(a); break;
      case OPTEE_RPC_CMD_NOTIFICATION: serve_notification(a); break;
      default: a.ret = TEE_ERROR_NOT_SUPPORTED; break;
    }
  }
  // An RPC payload buffer: client-style pages behind a page list in guest memory; returns its
  // cookie and the buf_ptr (guest address of the list) in *buf_ptr.
  uint64_t alloc_shm_buf(uint64_t size, uint64_t* buf_ptr, uint64_t cookie = 0) {
    ShmBuf b;
    b.pages = std::max<uint64_t>(1, (size + kPage - 1) / kPage);
    b.host = static_cast<std::byte*>(std::aligned_alloc(kPage, b.pages * kPage));
    std::memset(b.host, 0, b.pages * kPage);
    b.ipas.resize(b.pages);
    EXPECT_TRUE(gm_->alias_pages(reinterpret_cast<uintptr_t>(b.host), b.ipas));
    std::vector<uint64_t> entries;
    for (Pfn p : b.ipas) entries.push_back(pfn_to_pa(p).value);
    const size_t lists = (b.pages + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage;
    for (size_t l = 0; l < lists; ++l) {
      auto ipa = gm_->alloc_page();
      EXPECT_TRUE(ipa.has_value());
      b.lists.push_back(*ipa);
    }
    size_t idx = 0;
    for (size_t l = 0; l < lists; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(gm_->frame_host(b.lists[l]));
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < b.pages; ++e)
        pg->pages_list[e] = entries[idx++];
      if (l + 1 < lists) pg->next_page_data = pfn_to_pa(b.lists[l + 1]).value;
    }
    *buf_ptr = pfn_to_pa(b.lists[0]).value;
    std::lock_guard<std::mutex> l(mu_);
    if (cookie == 0) cookie = next_cookie_++;
    EXPECT_EQ(shm_bufs_.count(cookie), 0u);
    shm_bufs_[cookie] = std::move(b);
    return cookie;
  }
  void serve_shm_alloc(optee_msg_arg& a) {
    if (a.num_params < 1 || a.params[0].attr != OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
      a.ret = TEE_ERROR_BAD_PARAMETERS;
      return;
    }
    const uint64_t size = a.params[0].u.value.b;
    uint64_t buf_ptr = 0;
    const uint64_t cookie = alloc_shm_buf(size, &buf_ptr);
    a.params[0].attr = kNoncontigOut;
    a.params[0].u.tmem = {buf_ptr, size, cookie};
    a.ret = TEE_SUCCESS;
  }
  void serve_shm_free(optee_msg_arg& a) {
    a.ret = TEE_SUCCESS;
    const uint64_t cookie = a.params[0].u.value.b;
    ShmBuf b;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = shm_bufs_.find(cookie);
      if (it == shm_bufs_.end()) {
        ADD_FAILURE() << "SHM_FREE of a cookie never handed out: " << hex(cookie);
        return;
      }
      b = std::move(it->second);
      shm_bufs_.erase(it);
    }
    release_shm_buf(b);
  }
  void serve_load_ta(optee_msg_arg& a) {
    Uuid u;
    std::memcpy(u.octets, &a.params[0].u.value.a, 8);
    std::memcpy(u.octets + 8, &a.params[0].u.value.b, 8);
    if (!(u == kTaUuid) || ta_image.empty()) {
      a.ret = TEE_ERROR_ITEM_NOT_FOUND;
      return;
    }
    const uint64_t type = a.params[1].attr & OPTEE_MSG_ATTR_TYPE_MASK;
    std::byte* dst = nullptr;
    uint64_t cap = 0;
    if (type == OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT) {
      // Only the NULL size query can come as TMEM to a guest (it has no carve-out).
      EXPECT_EQ(a.params[1].u.tmem.buf_ptr, 0u);
      cap = a.params[1].u.tmem.size;
    } else if (type == OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT) {
      std::lock_guard<std::mutex> l(mu_);
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
    a.params[1].u.tmem.size = ta_image.size();
    if (dst == nullptr || cap < ta_image.size()) {
      a.ret = dst == nullptr ? TEE_SUCCESS : TEE_ERROR_SHORT_BUFFER;  // size query
      return;
    }
    std::memcpy(dst, ta_image.data(), ta_image.size());
    a.ret = TEE_SUCCESS;
  }
  void serve_notification(optee_msg_arg& a) {
    const uint64_t op = a.params[0].u.value.a;
    const uint64_t key = a.params[0].u.value.b;
    const uint64_t timeout_ms = a.params[0].u.value.c;
    std::unique_lock<std::mutex> l(mu_);
    if (op == OPTEE_RPC_NOTIFICATION_SEND) {
      ++pending_[key];
      cv_.notify_all();
      a.ret = TEE_SUCCESS;
      return;
    }
    const auto deadline =
        Clock::now() + (timeout_ms != 0 ? std::chrono::milliseconds(timeout_ms)
                                        : std::chrono::duration_cast<std::chrono::milliseconds>(
                                              kSafetyTimeout));
    const bool woken = cv_.wait_until(l, deadline, [&] { return pending_[key] > 0; });
    if (woken) {
      --pending_[key];
      a.ret = TEE_SUCCESS;
    } else if (timeout_ms != 0) {
      a.ret = TEE_ERROR_TIMEOUT;
    } else {
      std::fprintf(stderr, "secure thread sleeps on key %llu that nobody wakes: lost wake-up\n",
                   static_cast<unsigned long long>(key));
      std::abort();
    }
  }

  // --- what the guest saw ---
  std::vector<Event> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  size_t count(const std::function<bool(const Event&)>& pred) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), pred));
  }
  bool wait_for(const std::function<bool(const Event&)>& pred) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_until(l, Clock::now() + kSafetyTimeout, [&] {
      return std::any_of(events_.begin(), events_.end(), pred);
    });
  }
  void clear_events() {
    std::lock_guard<std::mutex> l(mu_);
    events_.clear();
  }
  size_t live_rpc_args() {
    std::lock_guard<std::mutex> l(mu_);
    return rpc_args_.size();
  }
  size_t live_shm_bufs() {
    std::lock_guard<std::mutex> l(mu_);
    return shm_bufs_.size();
  }
  // Cookies of RPC arguments the guest handed out (RPC_FUNC_ALLOC) and still holds.
  std::vector<uint64_t> rpc_arg_cookies() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<uint64_t> v;
    for (auto& [c, p] : rpc_args_) v.push_back(c);
    return v;
  }
  // The guest page behind an RPC argument cookie it handed out.
  std::byte* rpc_arg_host(uint64_t cookie) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = rpc_args_.find(cookie);
    return it == rpc_args_.end() ? nullptr : it->second.host;
  }
  // The guest takes back an RPC argument page the secure world returned (DISABLE_SHM_CACHE).
  bool take_back_rpc_arg(uint64_t cookie) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = rpc_args_.find(cookie);
    if (it == rpc_args_.end()) return false;
    gm_->free_page(it->second.ipa);
    rpc_args_.erase(it);
    return true;
  }
  // A new cookie from the guest's counter (for buffers a test builds itself).
  uint64_t new_cookie() {
    std::lock_guard<std::mutex> l(mu_);
    return next_cookie_++;
  }

  // --- session and shm helpers (SMC-level errors are test failures) ---
  uint32_t open_session(uint32_t* session, uint32_t* origin = nullptr) {
    Msg m = msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
    set_open_meta(m, kTaUuid);
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    *session = m->session;
    if (origin != nullptr) *origin = m->ret_origin;
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }
  uint32_t close_session(uint32_t session) {
    Msg m = msg(OPTEE_MSG_CMD_CLOSE_SESSION, 0);
    m->session = session;
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }
  uint32_t register_shm(uint64_t buf_ptr, uint64_t size, uint64_t cookie,
                        uint64_t attr = kNoncontigOut, uint32_t* origin = nullptr) {
    Msg m = msg(OPTEE_MSG_CMD_REGISTER_SHM, 1);
    m.p(0).attr = attr;
    m.p(0).u.tmem = {buf_ptr, size, cookie};
    m->ret = kSentinel;
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    const uint32_t ret = m->ret;
    if (origin != nullptr) *origin = m->ret_origin;
    free_page(m.page);
    return ret;
  }
  uint32_t register_buf(const GBuf& b, uint64_t cookie, uint32_t* origin = nullptr) {
    std::vector<GPage> lists;
    const uint64_t buf_ptr = page_list(b.entries(), 0, &lists);
    const uint32_t ret = register_shm(buf_ptr, b.size(), cookie, kNoncontigOut, origin);
    for (const GPage& p : lists) free_page(p);  // as Linux: the list lives until the SMC returns
    return ret;
  }
  uint32_t unregister_shm(uint64_t cookie, uint32_t* origin = nullptr) {
    Msg m = msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    m.p(0).u.rmem = {0, 0, cookie};
    m->ret = kSentinel;
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    if (origin != nullptr) *origin = m->ret_origin;
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }
  // INVOKE SUM over one memref param (attr/u given); returns ret, the sum in *sum.
  uint32_t invoke_sum(uint32_t session, uint64_t attr, const optee_msg_param_tmem& mem,
                      uint64_t* sum, uint32_t* origin = nullptr) {
    Msg m = msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
    m->func = TA_SHM_TEST_CMD_SUM;
    m->session = session;
    m.p(0).attr = attr;
    m.p(0).u.tmem = mem;
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    m->ret = kSentinel;
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    *sum = (m.p(1).u.value.b << 32) | m.p(1).u.value.a;
    if (origin != nullptr) *origin = m->ret_origin;
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }
  // INVOKE SUM over a temporary NONCONTIG memref of `b`.
  uint32_t sum_temp(uint32_t session, const GBuf& b, uint64_t size, uint64_t* sum,
                    uint32_t offset = 0, uint64_t cookie = 0) {
    std::vector<GPage> lists;
    const uint64_t bp = page_list(b.entries(), offset, &lists);
    const uint32_t r =
        invoke_sum(session, kNoncontigIn, {bp, size, cookie != 0 ? cookie : new_cookie()}, sum);
    for (const GPage& p : lists) free_page(p);
    return r;
  }

  // --- teardown audit ---
  std::vector<std::string> audit() {
    std::vector<std::string> problems;
    if (removed_) return problems;
    // Take back every cached RPC argument, as the driver does when it is removed.
    for (int i = 0;; ++i) {
      SmcRegs r = fast(OPTEE_SMC_DISABLE_SHM_CACHE);
      if (r.w(0) == OPTEE_SMC_RETURN_ENOTAVAIL) break;
      if (r.w(0) != OPTEE_SMC_RETURN_OK || i > 64) {
        problems.push_back("DISABLE_SHM_CACHE returned " + hex(r.w(0)));
        break;
      }
      const uint64_t cookie = reg_pair_to_64(r[1], r[2]);
      if (!take_back_rpc_arg(cookie))
        problems.push_back("DISABLE_SHM_CACHE gave back unknown cookie " + hex(cookie));
    }
    auto a = m_.os->audit(id_);
    if (a.partitions != 1) problems.push_back("partitions=" + std::to_string(a.partitions));
    if (a.sessions != 0) problems.push_back("sessions=" + std::to_string(a.sessions));
    if (a.instances != 0) problems.push_back("instances=" + std::to_string(a.instances));
    if (a.registered_shm != 0)
      problems.push_back("registered_shm=" + std::to_string(a.registered_shm));
    if (a.busy_threads != 0) problems.push_back("busy_threads=" + std::to_string(a.busy_threads));
    if (a.cached_rpc_args != 0)
      problems.push_back("cached_rpc_args=" + std::to_string(a.cached_rpc_args));
    if (a.charged_bytes != 0)
      problems.push_back("charged_bytes=" + std::to_string(a.charged_bytes));
    auto ma = m_.med().audit(id_);
    if (ma.pinned_pages != 0) problems.push_back("mediator pins=" + std::to_string(ma.pinned_pages));
    if (ma.buffers != 0) problems.push_back("mediator buffers=" + std::to_string(ma.buffers));
    if (ma.rpc_args != 0) problems.push_back("mediator rpc_args=" + std::to_string(ma.rpc_args));
    if (ma.calls != 0) problems.push_back("mediator calls=" + std::to_string(ma.calls));
    if (gm_->pinned_pages() != 0)
      problems.push_back("guest pages pinned=" + std::to_string(gm_->pinned_pages()));
    if (gm_->zombie_pages() != 0)
      problems.push_back("guest zombie pages=" + std::to_string(gm_->zombie_pages()));
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!rpc_args_.empty())
        problems.push_back("RPC args never freed: " + std::to_string(rpc_args_.size()));
      if (!shm_bufs_.empty())
        problems.push_back("SHM_ALLOC buffers never freed: " + std::to_string(shm_bufs_.size()));
    }
    destroy();
    if (m_.os->audit(id_).partitions != 0) problems.push_back("partition left after destroy");
    return problems;
  }

  std::function<bool(Rpc&)> hook;  // set before calls start; must be thread safe
  std::vector<uint8_t> ta_image;   // what LOAD_TA serves

 private:
  struct ShmBuf {
    std::byte* host = nullptr;
    uint64_t pages = 0;
    std::vector<Pfn> ipas;
    std::vector<Pfn> lists;
  };
  void release_shm_buf(ShmBuf& b) {
    gm_->unalias_pages(b.ipas);
    for (Pfn p : b.lists) gm_->free_page(p);
    std::free(b.host);
    b = {};
  }
  void log(const Rpc& r) {
    Event e;
    e.thread = r.thread;
    e.func = r.func;
    if (r.func == OPTEE_SMC_RPC_FUNC_ALLOC) e.a = r.out.w(1);
    if (r.func == OPTEE_SMC_RPC_FUNC_FREE) e.a = reg_pair_to_64(r.out[1], r.out[2]);
    if (r.arg != nullptr) {
      e.cmd = r.arg->cmd;
      e.a = r.arg->params[0].u.value.a;
      e.b = r.arg->params[0].u.value.b;
      e.c = r.arg->params[0].u.value.c;
    }
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }

  VirtMachine& m_;
  uint16_t id_;
  std::unique_ptr<hw::GuestMemory> gm_;
  bool removed_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Pfn> pages_;  // the test's own guest pages
  std::vector<std::unique_ptr<GBuf>> clients_;
  std::map<uint64_t, GPage> rpc_args_;   // RPC_FUNC_ALLOC cookie -> guest page
  std::map<uint64_t, ShmBuf> shm_bufs_;  // RPC SHM_ALLOC cookie -> buffer
  std::map<uint64_t, uint32_t> pending_;  // notification key -> sends not yet consumed
  std::vector<Event> events_;
  uint64_t next_cookie_ = kHarnessCookieBase;
};

// ============================================================================================
// A client program in a guest: syscalls on the guest's kernel
// ============================================================================================

class KernelClient {
 public:
  explicit KernelClient(ree::Kernel& k) : k_(k) { fd_ = k_.sys_open("/dev/tee0"); }
  ~KernelClient() {
    if (fd_ >= 0) k_.sys_close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // TEE_IOC_OPEN_SESSION to the shm-test TA; returns the ioctl result, ret in *ret.
  int open_session(uint32_t* session, uint32_t* ret) {
    struct {
      tee_ioctl_open_session_arg hdr;
    } open{};
    std::memcpy(open.hdr.uuid, kTaUuid.octets, 16);
    open.hdr.clnt_login = TEE_IOCTL_LOGIN_PUBLIC;
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&open), sizeof(open)};
    int rc = k_.sys_ioctl(fd_, TEE_IOC_OPEN_SESSION, &bd);
    *session = open.hdr.session;
    *ret = open.hdr.ret;
    return rc;
  }
  int close_session(uint32_t session) {
    tee_ioctl_close_session_arg c{session};
    return k_.sys_ioctl(fd_, TEE_IOC_CLOSE_SESSION, &c);
  }
  // An invoke with up to 4 params; returns the ioctl result, ret in *ret.
  int invoke(uint32_t session, uint32_t func, std::vector<tee_ioctl_param>& params, uint32_t* ret,
             uint32_t cancel_id = 0) {
    struct {
      tee_ioctl_invoke_arg hdr;
      tee_ioctl_param params[4];
    } inv{};
    inv.hdr.func = func;
    inv.hdr.session = session;
    inv.hdr.cancel_id = cancel_id;
    inv.hdr.num_params = static_cast<uint32_t>(params.size());
    for (size_t i = 0; i < params.size(); ++i) inv.params[i] = params[i];
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&inv),
                          sizeof(tee_ioctl_invoke_arg) + params.size() * sizeof(tee_ioctl_param)};
    int rc = k_.sys_ioctl(fd_, TEE_IOC_INVOKE, &bd);
    for (size_t i = 0; i < params.size(); ++i) params[i] = inv.params[i];
    *ret = inv.hdr.ret;
    return rc;
  }
  int cancel(uint32_t session, uint32_t cancel_id) {
    tee_ioctl_cancel_arg c{cancel_id, session};
    return k_.sys_ioctl(fd_, TEE_IOC_CANCEL, &c);
  }
  // TEE_IOC_SHM_REGISTER of [addr, addr + len): returns the shm fd (or -errno), its id in *id.
  int register_mem(void* addr, uint64_t len, int* id) {
    tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(addr), len, 0, 0};
    int rc = k_.sys_ioctl(fd_, TEE_IOC_SHM_REGISTER, &d);
    *id = d.id;
    return rc;
  }
  int close(int fd) { return k_.sys_close(fd); }

  static tee_ioctl_param memref(uint64_t attr, int shm_id, uint64_t offs, uint64_t size) {
    return {attr, offs, size, static_cast<uint64_t>(static_cast<int64_t>(shm_id))};
  }
  static tee_ioctl_param value(uint64_t attr, uint64_t a = 0, uint64_t b = 0) {
    return {attr, a, b, 0};
  }

 private:
  ree::Kernel& k_;
  int fd_ = -1;
};

// ============================================================================================
// The fixture
// ============================================================================================

class VirtTest : public ::testing::Test {
 protected:
  void SetUp() override { boot(MachineOptions{}); }
  void TearDown() override { shutdown(); }

  void boot(const MachineOptions& o) {
    shutdown();
    m_ = std::make_unique<VirtMachine>(o);
  }
  RawGuest& raw(uint16_t id, const hyp::MediatorLimits& limits = {}) {
    raws_.push_back(std::make_unique<RawGuest>(*m_, id, limits));
    return *raws_.back();
  }
  // Audits and destroys every guest, then checks the machine is back to its boot state.
  void shutdown() {
    if (!m_) return;
    for (auto& g : raws_) {
      auto problems = g->audit();
      std::string all;
      for (auto& p : problems) all += p + "; ";
      EXPECT_TRUE(problems.empty()) << "guest " << g->id() << ": " << all;
    }
    raws_.clear();
    for (uint16_t id : m_->hyp->guest_ids()) {
      m_->hyp->kill_guest(id);
      m_->hyp->reap_guest(id);
    }
    auto a = m_->os->audit();
    EXPECT_EQ(a.partitions, 0u);
    EXPECT_EQ(m_->mem->ns_pages_in_use(), m_->ns_base);
    EXPECT_EQ(m_->mem->frames_aliased(), m_->alias_base);
    // Inv 36: VM_DESTROYED exactly once per successful VM_CREATED.
    auto created = m_->tap->created_all();
    auto destroyed = m_->tap->destroyed_all();
    for (auto& [id, n] : created)
      EXPECT_EQ(destroyed[id], n) << "guest " << id << ": VM_CREATED " << n << " times";
    for (auto& [id, n] : destroyed)
      EXPECT_EQ(created[id], n) << "guest " << id << ": VM_DESTROYED " << n << " times";
    m_.reset();
  }

  VirtMachine& m() { return *m_; }
  SecureTap& tap() { return *m_->tap; }
  hyp::OpteeMediator& med() { return m_->med(); }
  tee::SecureOs& os() { return *m_->os; }
  hw::PhysMem& mem() { return *m_->mem; }

  std::unique_ptr<VirtMachine> m_;
  std::vector<std::unique_ptr<RawGuest>> raws_;
};

// The secure OS straight, as the hypervisor (a7 = 0) or with any a7.
SmcRegs regs(uint32_t fid, uint64_t a1 = 0, uint64_t a7 = 0) {
  SmcRegs in;
  in[0] = fid;
  in[1] = a1;
  in[7] = a7;
  return in;
}


// ============================================================================================
// Guest lifecycle and ids: the hypervisor and the secure OS (A.4, B.1, B.11; inv 2-5, 36)
// ============================================================================================

using LifecycleTest = VirtTest;

bool is_fid(const TapEntry& e, uint32_t fid) { return e.in.w(0) == fid; }

// Inv 3, 36: the hypervisor sends VM_CREATED(a1 = id, a7 = 0) before the guest's first SMC and
// VM_DESTROYED(a1 = id, a7 = 0) exactly once when it ends, after the guest's last SMC.
TEST_F(LifecycleTest, VmCreatedAndDestroyedExactlyOnceByTheHypervisor) {
  tap().clear();
  ASSERT_NE(m().kernel_guest(1), nullptr);
  m().hyp->kill_guest(1);
  m().hyp->kill_guest(1);  // a second kill does nothing
  m().hyp->reap_guest(1);
  auto log = tap().log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.front().in.w(0), OPTEE_SMC_VM_CREATED);
  EXPECT_EQ(log.front().in[1], 1u);
  EXPECT_EQ(log.front().in[7], 0u);
  EXPECT_EQ(log.back().in.w(0), OPTEE_SMC_VM_DESTROYED);
  EXPECT_EQ(log.back().in[1], 1u);
  EXPECT_EQ(log.back().in[7], 0u);
  EXPECT_EQ(tap().count([](const TapEntry& e) { return is_fid(e, OPTEE_SMC_VM_CREATED); }), 1u);
  EXPECT_EQ(tap().count([](const TapEntry& e) { return is_fid(e, OPTEE_SMC_VM_DESTROYED); }), 1u);
  // Everything in between came from the guest, with its id in a7.
  for (size_t i = 1; i + 1 < log.size(); ++i) EXPECT_EQ(log[i].in[7], 1u) << i;
  EXPECT_EQ(os().audit().partitions, 0u);
  // The id can be used again.
  ASSERT_NE(m().kernel_guest(1), nullptr);
  EXPECT_EQ(tap().created(1), 2);
}

// Inv 36, A.4 [I] and A.16 #3 (VM_DESTROYED never sent after a late creation failure): a guest
// whose kernel does not come up (its OP-TEE driver's probe fails: the secure OS has no dynamic
// SHM, so the mediator refuses the guest's capabilities) still gets its VM_DESTROYED, leaves no
// partition and no slot behind, and its id can be created again.
TEST_F(LifecycleTest, FailedGuestBootStillSendsVmDestroyed) {
  MachineOptions o;
  o.dynamic_shm = false;
  o.max_guests = 1;
  boot(o);
  hyp::GuestConfig gc;
  gc.ta_path = {TEEMU_TEST_TA_DIR};
  for (int round = 1; round <= 3; ++round) {
    auto g = m().hyp->create_guest(1, gc);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().find("probe"), std::string::npos) << g.error();
    EXPECT_EQ(tap().created(1), round);
    EXPECT_EQ(tap().destroyed(1), round);
    EXPECT_EQ(os().audit().partitions, 0u);
    EXPECT_TRUE(m().hyp->guest_ids().empty());
    EXPECT_EQ(med().handle(1, regs(OPTEE_SMC_CALLS_UID)).w(0),
              OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  }
  // The only slot (max_guests = 1) did not leak: another guest id gets it.
  auto g = m().hyp->create_guest(2, gc);
  ASSERT_FALSE(g);
  EXPECT_EQ(tap().created(2), 1);
  EXPECT_EQ(tap().destroyed(2), 1);
}

// Inv 36, FM "VM_CREATED beyond CFG_VIRT_GUEST_COUNT": a guest the secure OS refuses is refused
// by the hypervisor too, with nothing of it left (no VM_DESTROYED is owed); the slot of a
// destroyed guest can be taken by another id.
TEST_F(LifecycleTest, GuestRefusedByTheSecureOsLeavesNothing) {
  MachineOptions o;
  o.max_guests = 2;
  boot(o);
  ASSERT_NE(m().kernel_guest(1), nullptr);
  ASSERT_NE(m().kernel_guest(2), nullptr);
  hyp::GuestConfig gc;
  gc.ta_path = {TEEMU_TEST_TA_DIR};
  auto g = m().hyp->create_guest(3, gc);
  ASSERT_FALSE(g);
  EXPECT_EQ(tap().created(3), 0);
  EXPECT_EQ(tap().destroyed(3), 0);
  EXPECT_EQ(med().handle(3, regs(OPTEE_SMC_CALLS_UID)).w(0),
            OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  EXPECT_EQ(os().audit().partitions, 2u);
  // A live id cannot be created twice.
  EXPECT_FALSE(m().hyp->create_guest(2, gc));
  EXPECT_EQ(tap().created(2), 1);
  m().hyp->kill_guest(1);
  m().hyp->reap_guest(1);
  ASSERT_NE(m().kernel_guest(3), nullptr);
}

// Inv 2, 3; FM "VM_CREATED with a1 = 0", "VM_CREATED twice", "a guest id above 16 bits that
// aliases guest 1", "VM_DESTROYED twice or for an unknown id", "VM_CREATED/VM_DESTROYED issued
// by a guest": straight to the secure OS.
TEST_F(LifecycleTest, SecureOsVmCreatedAndDestroyedChecks) {
  tee::SecureOs& os = *m().os;
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 0)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 0x10000)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.audit().partitions, 0u);
  ASSERT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 1)).w(0), OPTEE_SMC_RETURN_OK);
  // A second partition for a live id, directly or through an id that truncates onto it.
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 1)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 0x10001)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 0xFFFF0001)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.audit().partitions, 1u);
  // Only the hypervisor (a7 = 0) creates and destroys.
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 2, /*a7=*/1)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 1, /*a7=*/1)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 1, /*a7=*/2)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.audit().partitions, 1u);
  EXPECT_EQ(os.audit(2).partitions, 0u);
  // Destroying twice or an unknown id: OK, nothing freed twice.
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 77)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 1)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 1)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 0)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.audit().partitions, 0u);
  // Recreated after destruction: a fresh partition.
  ASSERT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 1)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.audit(1).partitions, 1u);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 1)).w(0), OPTEE_SMC_RETURN_OK);
}

// Inv 4, 5; FM "a std call with a7 = 0" (crashed optee_os before 4.2.0), "a7 = a never-created
// id, and an id after VM_DESTROYED", "a virtualization build with no hypervisor": ENOTAVAIL, and
// no state changes. Fast calls with a7 = 0 run in no partition and may not change one.
TEST_F(LifecycleTest, SecureOsCallsOfUnknownGuestsAreEnotavail) {
  tee::SecureOs& os = *m().os;
  auto check_unknown = [&](uint32_t a7) {
    SCOPED_TRACE("a7=" + hex(a7));
    SmcRegs in = regs(OPTEE_SMC_CALL_WITH_ARG, 0, a7);
    in[2] = 0x80000000;  // any address: it must not even be looked at
    EXPECT_EQ(os.smc(in).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
    SmcRegs resume = regs(OPTEE_SMC_CALL_RETURN_FROM_RPC, 0, a7);
    EXPECT_EQ(os.smc(resume).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
    if (a7 != 0) {
      for (uint32_t fid : {OPTEE_SMC_CALLS_UID, OPTEE_SMC_EXCHANGE_CAPABILITIES,
                           OPTEE_SMC_GET_THREAD_COUNT, OPTEE_SMC_ENABLE_SHM_CACHE,
                           OPTEE_SMC_DISABLE_SHM_CACHE, OPTEE_SMC_CALL_GET_OS_REVISION})
        EXPECT_EQ(os.smc(regs(fid, 0, a7)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL) << hex(fid);
    }
  };
  check_unknown(0);
  check_unknown(5);
  ASSERT_EQ(os.smc(regs(OPTEE_SMC_VM_CREATED, 5)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_CALLS_UID, 0, 5)).w(0), OPTEE_MSG_UID_0);
  ASSERT_EQ(os.smc(regs(OPTEE_SMC_VM_DESTROYED, 5)).w(0), OPTEE_SMC_RETURN_OK);
  check_unknown(5);
  // The hypervisor's own fast calls: informational ones work, partition state is refused.
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_CALLS_UID)).w(0), OPTEE_MSG_UID_0);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_GET_THREAD_COUNT)).w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_ENABLE_SHM_CACHE)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.smc(regs(OPTEE_SMC_DISABLE_SHM_CACHE)).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(os.audit().partitions, 0u);
}

// ============================================================================================
// Fast calls through the mediator (A.5-A.7; inv 1, 3, 15-17)
// ============================================================================================

using FastCallTest = VirtTest;

// Inv 3, A.5, FM "VM_CREATED or VM_DESTROYED issued by a guest", "a guest probing
// CALL_WITH_RPC_ARG, CALL_WITH_REGD_ARG, async notifications or GET_THREAD_COUNT", "SMC64
// function IDs": UNKNOWN_FUNCTION from the mediator; nothing reaches the secure world.
TEST_F(FastCallTest, SmcsThatAreNotForGuestsAreUnknownFunction) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  tap().clear();
  const uint32_t fids[] = {OPTEE_SMC_VM_CREATED,
                           OPTEE_SMC_VM_DESTROYED,
                           OPTEE_SMC_GET_THREAD_COUNT,
                           OPTEE_SMC_CALL_WITH_RPC_ARG,
                           OPTEE_SMC_CALL_WITH_REGD_ARG,
                           OPTEE_SMC_ENABLE_ASYNC_NOTIF,
                           OPTEE_SMC_GET_ASYNC_NOTIF_VALUE,
                           OPTEE_SMC_L2CC_MUTEX,
                           OPTEE_SMC_BOOT_SECONDARY,
                           0xB2000014u,  // GET_PROTMEM_CONFIG
                           0xF2000009u,  // EXCHANGE_CAPABILITIES in the SMC64 convention
                           0x72000004u,  // CALL_WITH_ARG in the SMC64 convention
                           0x32000005u,  // no such std call
                           0xB20000FFu};
  for (uint32_t fid : fids) {
    for (uint64_t a1 : {uint64_t{1}, uint64_t{2}, uint64_t{0}}) {
      SmcRegs in = regs(fid, a1, /*a7=*/0);
      EXPECT_EQ(g.smc(in).w(0), OPTEE_SMC_RETURN_UNKNOWN_FUNCTION) << hex(fid);
    }
  }
  EXPECT_EQ(tap().log().size(), 0u);
  // Neither guest's partition noticed.
  EXPECT_EQ(os().audit(1).partitions, 1u);
  EXPECT_EQ(os().audit(2).partitions, 1u);
  // CALLS_COUNT is answered by the mediator itself.
  EXPECT_EQ(other.fast(OPTEE_SMC_CALLS_COUNT).w(0), hyp::kMediatorSmcCount);
  EXPECT_EQ(tap().log().size(), 0u);
}

// Inv 1, A.5: every forwarded SMC carries a7 = the guest's id and a4..a6 = 0, whatever the guest
// put in a4..a7 (here: the other guest's id in a7), for fast calls, new std calls and resumes
// alike; only RETURN_FROM_RPC after RPC_FUNC_ALLOC carries a cookie in a4/a5.
TEST_F(FastCallTest, TheHypervisorSetsA7AndDropsGuestA4ToA7) {
  RawGuest& g = raw(1);
  raw(2);
  tap().clear();
  auto junk = [](SmcRegs in) {
    in[4] = 0x4444;
    in[5] = 0x5555;
    in[6] = 0x6666;
    in[7] = 2;
    return in;
  };
  for (uint32_t fid : {OPTEE_SMC_CALLS_UID, OPTEE_SMC_CALLS_REVISION, OPTEE_SMC_CALL_GET_OS_UUID,
                       OPTEE_SMC_CALL_GET_OS_REVISION, OPTEE_SMC_EXCHANGE_CAPABILITIES,
                       OPTEE_SMC_ENABLE_SHM_CACHE})
    g.smc(junk(regs(fid)));
  // A std call whose RPC answers carry junk in a4..a7 too (ALLOC keeps its cookie in a4/a5).
  g.hook = [](Rpc& r) {
    r.reply[6] = 0x6666;
    r.reply[7] = 2;
    if (r.func != OPTEE_SMC_RPC_FUNC_ALLOC) {
      r.reply[4] = 0x4444;
      r.reply[5] = 0x5555;
    }
    return false;
  };
  uint32_t s = 0;
  {
    Msg m = g.msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
    RawGuest::set_open_meta(m, kTaUuid);
    EXPECT_EQ(g.run(junk(RawGuest::with_arg(m.addr))), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_SUCCESS);
    s = m->session;
    g.free_page(m.page);
  }
  g.hook = nullptr;
  auto log = tap().log();
  ASSERT_GT(log.size(), 8u);
  size_t allocs = 0;
  for (const TapEntry& e : log) {
    EXPECT_EQ(e.in[7], 1u) << hex(e.in.w(0));
    EXPECT_EQ(e.in[6], 0u) << hex(e.in.w(0));
    if (e.in[4] != 0 || e.in[5] != 0) {
      EXPECT_EQ(e.in.w(0), OPTEE_SMC_CALL_RETURN_FROM_RPC);
      EXPECT_GE(reg_pair_to_64(e.in[4], e.in[5]), kHarnessCookieBase);
      ++allocs;
    }
  }
  EXPECT_GE(allocs, 1u);  // the RPC argument of the open
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 15, A.7: no static carve-out for guests: GET_SHM_CONFIG is answered ENOTAVAIL by the
// mediator although the machine has one.
TEST_F(FastCallTest, GetShmConfigIsRefused) {
  RawGuest& g = raw(1);
  ASSERT_NE(mem().static_shm_size(), 0u);
  EXPECT_EQ(os().smc(regs(OPTEE_SMC_GET_SHM_CONFIG, 0, 1)).w(0), OPTEE_SMC_RETURN_OK);
  tap().clear();
  SmcRegs r = g.fast(OPTEE_SMC_GET_SHM_CONFIG);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(r[1], 0u);
  EXPECT_EQ(r[2], 0u);
  EXPECT_EQ(tap().log().size(), 0u);
}

// Inv 15-17, A.6: the guest sees DYNAMIC_SHM and MEMREF_NULL only (no HAVE_RESERVED_SHM, RPC_ARG,
// VIRTUALIZATION, ASYNC_NOTIF); its a1 reaches the secure OS masked to UNIPROCESSOR; a2/a3 are
// left as the guest had them. The secure OS itself (B.10) refuses unknown normal-world bits.
TEST_F(FastCallTest, CapabilitiesAreFiltered) {
  RawGuest& g = raw(1);
  const uint32_t secure_caps = os().smc(regs(OPTEE_SMC_EXCHANGE_CAPABILITIES, 0, 1)).w(1);
  ASSERT_TRUE(secure_caps & OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM);
  ASSERT_TRUE(secure_caps & OPTEE_SMC_SEC_CAP_VIRTUALIZATION);
  ASSERT_TRUE(secure_caps & OPTEE_SMC_SEC_CAP_RPC_ARG);
  EXPECT_EQ(os().smc(regs(OPTEE_SMC_EXCHANGE_CAPABILITIES, 0x40, 1)).w(0),
            OPTEE_SMC_RETURN_ENOTAVAIL);
  tap().clear();
  SmcRegs in = regs(OPTEE_SMC_EXCHANGE_CAPABILITIES, OPTEE_SMC_NSEC_CAP_UNIPROCESSOR | 0x40);
  in[2] = 0x1234;
  in[3] = 0x5678;
  SmcRegs r = g.smc(in);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(r.w(1), OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_MEMREF_NULL);
  EXPECT_EQ(r[2], 0x1234u);
  EXPECT_EQ(r[3], 0x5678u);
  auto log = tap().log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].in[1], OPTEE_SMC_NSEC_CAP_UNIPROCESSOR);
  EXPECT_EQ(log[0].in[7], 1u);
}

// Inv 16, FM "OP-TEE without DYNAMIC_SHM": guests are refused (ENOTAVAIL on
// EXCHANGE_CAPABILITIES), and a guest kernel does not come up (see FailedGuestBoot...).
TEST_F(FastCallTest, WithoutDynamicShmGuestsGetEnotavail) {
  MachineOptions o;
  o.dynamic_shm = false;
  boot(o);
  RawGuest& g = raw(1);
  SmcRegs r = g.fast(OPTEE_SMC_EXCHANGE_CAPABILITIES);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(r[1], 0u);
}


// ============================================================================================
// The std-call path: shadowing the argument (A.8; inv 10, 11, 14, 33)
// ============================================================================================

using ArgTest = VirtTest;

bool is_std_call(const TapEntry& e) { return e.in.w(0) == OPTEE_SMC_CALL_WITH_ARG; }

// Writes a minimal INVOKE of a session that does not exist, with ret = kSentinel.
void write_probe(std::byte* host, uint32_t num_params = 0) {
  auto* a = reinterpret_cast<optee_msg_arg*>(host);
  a->cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
  a->session = 0xdead;
  a->num_params = num_params;
  a->ret = kSentinel;
}

// Inv 10, FM "arg IPA not 4 KiB aligned", "arg IPA unmapped, MMIO or foreign": EBADADDR from the
// mediator, nothing reaches the secure world, no call slot is kept.
TEST_F(ArgTest, ArgumentAddressMustBeAnAlignedPageOfTheGuest) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  GPage own = g.page();
  write_probe(own.host);
  GPage foreign = other.page();
  write_probe(foreign.host);
  const uint64_t foreign_machine = pfn_to_pa(other.machine_of(foreign.ipa)).value;
  const uint64_t own_machine = pfn_to_pa(g.machine_of(own.ipa)).value;
  tap().clear();
  const uint64_t bad[] = {own.addr + 8,           own.addr + 0x800,      0,
                          kSecurePa,              kCarveoutPa,           0x7fff0000,
                          foreign_machine,        own_machine,           1ull << 45,
                          0xFFFFFFFFull << 12,    (uint64_t{hw::GuestMemory::kFirstIpaPfn} +
                                                   hw::GuestMemory::kIpaWindow) << 12};
  for (uint64_t addr : bad) {
    EXPECT_EQ(g.run(RawGuest::with_arg(addr)), OPTEE_SMC_RETURN_EBADADDR) << hex(addr);
  }
  EXPECT_EQ(tap().log().size(), 0u);
  EXPECT_EQ(med().audit(1).calls, 0u);
  auto* fa = reinterpret_cast<optee_msg_arg*>(foreign.host);
  EXPECT_EQ(fa->ret, kSentinel);
  // The guest's own page works.
  EXPECT_EQ(g.run(RawGuest::with_arg(own.addr)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(reinterpret_cast<optee_msg_arg*>(own.host)->ret, TEE_ERROR_BAD_PARAMETERS);
  g.free_page(own);
  other.free_page(foreign);
}

// Inv 11, FM "num_params = 128, 0xFFFFFFFF, 0x08000000 (32-bit size wrap)", A.8 step 3: refused
// by the mediator with BAD_PARAMETERS from COMMS (a0 OK); nothing else of the page is touched.
TEST_F(ArgTest, NumParamsIsBoundedWithoutWrapping) {
  RawGuest& g = raw(1);
  tap().clear();
  for (uint32_t n : {128u, 0xFFFFFFFFu, 0x08000000u, 0x08000001u, 0x80000000u}) {
    Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, n);
    m->ret = kSentinel;
    m->ret_origin = kSentinel;
    std::vector<std::byte> before(m.page.host, m.page.host + kPage);
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK) << n;
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << n;
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_COMMS) << n;
    EXPECT_EQ(m->num_params, n);
    for (size_t i = 0; i < kPage; ++i) {
      if (i >= offsetof(optee_msg_arg, ret) && i < offsetof(optee_msg_arg, num_params)) continue;
      ASSERT_EQ(before[i], m.page.host[i]) << "byte " << i << " n=" << n;
    }
    g.free_page(m.page);
  }
  EXPECT_EQ(tap().count(is_std_call), 0u);
  // 127 is the largest count that fits: it reaches the secure OS.
  Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 127);
  m->session = 0xdead;
  EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(tap().count(is_std_call), 1u);
  g.free_page(m.page);
}

// Inv 14, FM "an unknown cmd (6..11, 0xFFFFFFFF)": EBADCMD from the mediator, not forwarded.
TEST_F(ArgTest, OnlyWhitelistedCommandsPass) {
  RawGuest& g = raw(1);
  tap().clear();
  for (uint32_t cmd : {6u, 7u, 8u, 9u, 10u, 11u, 12u, 0x80000000u, 0xFFFFFFFFu}) {
    Msg m = g.msg(cmd, 0);
    m->ret = kSentinel;
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_EBADCMD) << cmd;
    EXPECT_EQ(m->ret, kSentinel);
    g.free_page(m.page);
  }
  EXPECT_EQ(tap().log().size(), 0u);
  EXPECT_EQ(med().audit(1).calls, 0u);
}

// Machine addresses the secure world was given for a guest: the shadow argument and RPC
// argument pages, shadow page lists and every page they list. Collected by the tap.
class MachineAddressCollector {
 public:
  explicit MachineAddressCollector(VirtMachine& m) : m_(m) {
    m.tap->before = [this](const SmcRegs& in) { see(in); };
  }
  ~MachineAddressCollector() { m_.tap->before = nullptr; }
  std::set<uint64_t> pages() {
    std::lock_guard<std::mutex> l(mu_);
    return pages_;
  }
  // Every aligned 8-byte word of [p, p + len) that names (a byte of) a collected page.
  std::vector<std::string> leaks(const std::byte* p, size_t len) {
    std::vector<std::string> found;
    auto set = pages();
    for (size_t off = 0; off + 8 <= len; off += 8) {
      uint64_t v;
      std::memcpy(&v, p + off, 8);
      if (v != 0 && set.count(v & ~(kPage - 1)))
        found.push_back("offset " + std::to_string(off) + ": " + hex(v));
    }
    return found;
  }

 private:
  void add(uint64_t pa) {
    std::lock_guard<std::mutex> l(mu_);
    pages_.insert(pa & ~(kPage - 1));
  }
  void add_list(uint64_t buf_ptr, uint64_t size) {
    const uint64_t total = size + (buf_ptr & (kPage - 1));
    uint64_t pages = total == 0 ? 0 : (total - 1) / kPage + 1;
    uint64_t list = buf_ptr & ~(kPage - 1);
    while (pages > 0 && list != 0) {
      add(list);
      std::byte* h = m_.mem->host_of(static_cast<Pfn>(list >> 12));
      if (h == nullptr) return;
      auto* pg = reinterpret_cast<optee_page_list_page*>(h);
      for (size_t i = 0; i < kPageListEntriesPerPage && pages > 0; ++i, --pages)
        add(pg->pages_list[i]);
      list = pg->next_page_data;
    }
  }
  void add_arg(uint64_t pa) {
    add(pa);
    std::byte* h = m_.mem->host_of(static_cast<Pfn>(pa >> 12));
    if (h == nullptr) return;
    auto* a = reinterpret_cast<optee_msg_arg*>(h);
    const uint32_t n = std::min<uint32_t>(a->num_params, OPTEE_MSG_MAX_NUM_PARAMS);
    for (uint32_t i = 0; i < n; ++i)
      if (a->params[i].attr & OPTEE_MSG_ATTR_NONCONTIG)
        add_list(a->params[i].u.tmem.buf_ptr, a->params[i].u.tmem.size);
  }
  void see(const SmcRegs& in) {
    if (in.w(0) == OPTEE_SMC_CALL_WITH_ARG) add_arg(reg_pair_to_64(in[1], in[2]));
    if (in.w(0) != OPTEE_SMC_CALL_RETURN_FROM_RPC) return;
    const uint64_t pa = reg_pair_to_64(in[1], in[2]);
    if (pa != 0) {
      add(pa);  // a translated RPC_FUNC_ALLOC answer
      std::lock_guard<std::mutex> l(mu_);
      rpc_args_.insert(pa);
    }
    std::set<uint64_t> args;
    {
      std::lock_guard<std::mutex> l(mu_);
      args = rpc_args_;
    }
    for (uint64_t a : args) add_arg(a);  // translated SHM_ALLOC replies
  }

  VirtMachine& m_;
  std::mutex mu_;
  std::set<uint64_t> pages_;
  std::set<uint64_t> rpc_args_;
};

// Inv 33, A.8 step 7: after a call only ret, ret_origin, session, VALUE outputs and memref output
// sizes have changed in the guest's argument page; no machine address ever reaches the guest's
// argument page or its RPC argument pages (A.16 #6).
TEST_F(ArgTest, OnlyOutputFieldsAreWrittenBack) {
  RawGuest& g = raw(1);
  MachineAddressCollector seen(m());
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);  // LOAD_TA through SHM_ALLOC: RPC traffic
  GBuf& b = g.client(3);
  GBuf& reg = g.client(2);
  const uint64_t reg_cookie = g.new_cookie();
  ASSERT_EQ(g.register_buf(reg, reg_cookie), TEE_SUCCESS);
  std::vector<GPage> lists;
  const uint64_t bp = g.page_list(b.entries(), 0x123, &lists);

  Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 4);
  m->func = TA_SHM_TEST_CMD_FILL;
  m->session = s;
  m->cancel_id = 0x77;
  m.p(0).attr = kNoncontigOut;
  m.p(0).u.tmem = {bp, 2 * kPage, g.new_cookie()};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(1).u.value = {0x40, 0x41, 0x42};
  m.p(2).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
  m.p(2).u.value = {0x50, 0x51, 0x52};
  m.p(3).attr = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
  m.p(3).u.rmem = {16, 100, reg_cookie};
  // Bytes past the params that the guest happens to have there stay as they are.
  std::memset(m.page.host + optee_msg_get_arg_size(4), 0xEE, 64);
  std::vector<std::byte> before(m.page.host, m.page.host + kPage);
  ASSERT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  // The fill landed in the guest's buffer, in place.
  for (size_t i = 0; i < 2 * kPage; ++i)
    ASSERT_EQ(b.bytes()[0x123 + i], static_cast<uint8_t>(0x40 + i)) << i;
  std::vector<std::byte> after(m.page.host, m.page.host + kPage);
  auto* ba = reinterpret_cast<optee_msg_arg*>(before.data());
  auto* aa = reinterpret_cast<optee_msg_arg*>(after.data());
  ba->ret = aa->ret;
  ba->ret_origin = aa->ret_origin;
  ba->session = aa->session;
  ba->params[0].u.tmem.size = aa->params[0].u.tmem.size;
  ba->params[2].u.value.a = aa->params[2].u.value.a;
  ba->params[2].u.value.b = aa->params[2].u.value.b;
  ba->params[3].u.rmem.size = aa->params[3].u.rmem.size;
  EXPECT_EQ(std::memcmp(before.data(), after.data(), kPage), 0);
  EXPECT_EQ(aa->params[0].u.tmem.buf_ptr, bp);
  EXPECT_EQ(aa->params[0].attr, kNoncontigOut);
  EXPECT_EQ(aa->params[2].u.value.c, 0x52u);  // c is not an output (B.6)
  EXPECT_FALSE(seen.pages().empty());
  auto leaks = seen.leaks(m.page.host, kPage);
  EXPECT_TRUE(leaks.empty()) << leaks.front();
  for (uint64_t cookie : g.rpc_arg_cookies()) {
    auto l = seen.leaks(g.rpc_arg_host(cookie), kPage);
    EXPECT_TRUE(l.empty()) << "RPC arg " << hex(cookie) << ": " << l.front();
  }
  g.free_page(m.page);
  for (const GPage& p : lists) g.free_page(p);
  EXPECT_EQ(g.unregister_shm(reg_cookie), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// The mediator keeps one shadow page per call slot and reuses it. Each call's shadow is the whole
// guest page copied over it, so neither the secure world nor the guest ever sees a byte of an
// earlier call's argument: of a longer call of the same guest, of a call the mediator refused, or
// of a guest destroyed before (whose freed shadow page the next guest's slot may get).
TEST_F(ArgTest, ReusedShadowPagesCarryNothingOver) {
  std::vector<std::byte> shadow;  // the argument as the secure world gets it
  uint64_t shadow_pa = 0;
  m().tap->before = [&](const SmcRegs& in) {
    if (in.w(0) != OPTEE_SMC_CALL_WITH_ARG) return;
    shadow_pa = reg_pair_to_64(in[1], in[2]);
    const std::byte* h = m().mem->host_of(static_cast<Pfn>(shadow_pa >> 12));
    shadow.assign(h, h + kPage);
  };
  // An INC whose page is `fill` everywhere past the header, params included (but the values INC
  // increments).
  auto inc = [](RawGuest& g, uint32_t session, uint8_t fill, uint32_t num_params) {
    Msg msg = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, num_params);
    const size_t head = offsetof(optee_msg_arg, params);
    std::memset(msg.page.host + head, fill, kPage - head);
    msg->func = TA_SHM_TEST_CMD_INC;
    msg->session = session;
    msg.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
    msg.p(0).u.value.a = 1;  // GP values are 32 bits
    msg.p(0).u.value.b = 2;
    for (uint32_t i = 1; i < num_params; ++i) msg.p(i).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    return msg;
  };
  auto bytes = [](const Msg& msg) { return std::vector<std::byte>(msg.page.host, msg.page.host + kPage); };
  auto count = [](const std::vector<std::byte>& v, uint8_t b) {
    return std::count(v.begin(), v.end(), std::byte{b});
  };
  // Offset of the first byte where the pages differ, -1 if none (gtest prints pages badly).
  auto diff = [](const std::vector<std::byte>& x, const std::vector<std::byte>& y) -> long {
    auto [i, j] = std::mismatch(x.begin(), x.end(), y.begin());
    return i == x.end() ? -1 : static_cast<long>(i - x.begin());
  };

  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  // A long call: four params, the rest of the page 0xA1.
  Msg a = inc(g, s, 0xA1, 4);
  const auto a_before = bytes(a);
  ASSERT_EQ(g.call(a), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(a->ret, TEE_SUCCESS);
  EXPECT_EQ(diff(shadow, a_before), -1);
  const uint64_t slot_pa = shadow_pa;
  // A short call in the same slot: the secure world sees exactly the guest's page, and the guest
  // gets back only its own bytes and the outputs.
  Msg b = inc(g, s, 0xB2, 1);
  auto expect = bytes(b);
  ASSERT_EQ(g.call(b), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(shadow_pa, slot_pa) << "the slot's shadow page is reused";
  EXPECT_EQ(diff(shadow, expect), -1);
  EXPECT_EQ(count(shadow, 0xA1), 0);
  auto* e = reinterpret_cast<optee_msg_arg*>(expect.data());
  e->ret = TEE_SUCCESS;
  e->ret_origin = b->ret_origin;
  e->params[0].u.value.a = 2;
  e->params[0].u.value.b = 4;
  EXPECT_EQ(diff(bytes(b), expect), -1);
  // A call the mediator refuses after its shadow copy (a contiguous memref): only ret and
  // ret_origin change in the guest's page.
  Msg c = inc(g, s, 0xC3, 2);
  c.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT;
  expect = bytes(c);
  ASSERT_EQ(g.call(c), OPTEE_SMC_RETURN_OK);
  e = reinterpret_cast<optee_msg_arg*>(expect.data());
  e->ret = TEE_ERROR_BAD_PARAMETERS;
  e->ret_origin = TEE_ORIGIN_COMMS;
  EXPECT_EQ(diff(bytes(c), expect), -1);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  for (const Msg* msg : {&a, &b, &c}) g.free_page(msg->page);
  g.destroy();

  // The next guest: its first call's shadow is a fresh page (zeroed, then the guest's copy), even
  // where it is the machine page guest 1's slot had.
  RawGuest& h = raw(2);
  Msg d = inc(h, 0x5e55, 0xD4, 1);  // no such session: the secure world answers with an error
  const auto d_before = bytes(d);
  ASSERT_EQ(h.call(d), OPTEE_SMC_RETURN_OK);
  EXPECT_NE(d->ret, TEE_SUCCESS);
  EXPECT_EQ(diff(shadow, d_before), -1);
  const auto d_after = bytes(d);
  for (uint8_t other : {0xA1, 0xB2, 0xC3}) {
    EXPECT_EQ(count(shadow, other), 0) << hex(other);
    EXPECT_EQ(count(d_after, other), 0) << hex(other);
  }
  m().tap->before = nullptr;
  h.free_page(d.page);
}

// A call slot's shadow page is allocated on the slot's first use only: when that fails the call
// gets ENOMEM, holds no slot, and the next call allocates again.
TEST_F(ArgTest, ShadowPageAllocationFailureIsEnomem) {
  RawGuest& g = raw(1);
  Msg msg = g.msg(OPTEE_MSG_CMD_CLOSE_SESSION, 0);
  msg->session = 0x5e55;
  base::FaultInjector::arm(base::FaultSite::kNsPageAlloc, 1);
  EXPECT_EQ(g.call(msg), OPTEE_SMC_RETURN_ENOMEM);
  EXPECT_TRUE(base::FaultInjector::fired());
  base::FaultInjector::disarm();
  EXPECT_EQ(med().audit(1).calls, 0u);
  EXPECT_EQ(g.call(msg), OPTEE_SMC_RETURN_OK);
  EXPECT_NE(msg->ret, TEE_SUCCESS);
  // The slot keeps its page: later calls allocate nothing.
  base::FaultInjector::arm(base::FaultSite::kNsPageAlloc, 0);
  EXPECT_EQ(g.call(msg), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(base::FaultInjector::count(base::FaultSite::kNsPageAlloc), 0u);
  base::FaultInjector::disarm();
  g.free_page(msg.page);
}

// Inv 10, FM "the guest rewrites cmd, num_params, attr or cookies in its own arg page while the
// call is in flight": the mediator and the secure OS keep using the shadow.
TEST_F(ArgTest, RewritingTheArgumentDuringAnRpcChangesNothing) {
  RawGuest& g = raw(1);
  GBuf& victim = g.client(1);
  Msg m = g.msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  RawGuest::set_open_meta(m, kTaUuid);
  Call c = g.start(m);
  ASSERT_TRUE(g.step_until_cmd(c, OPTEE_RPC_CMD_LOAD_TA));
  m->cmd = OPTEE_MSG_CMD_REGISTER_SHM;
  m->num_params = 127;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT;
  m.p(0).u.tmem = {kSecurePa, kPage, 1};
  m.p(2).attr = kNoncontigIn;
  m.p(2).u.tmem = {g.page_list(victim), kPage, 2};
  EXPECT_EQ(g.finish(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  const uint32_t s = m->session;
  EXPECT_NE(s, 0u);
  EXPECT_EQ(med().audit(1).buffers, 0u);
  EXPECT_EQ(os().audit(1).registered_shm, 0u);
  g.free_page(m.page);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// FM "arg page removed from the guest p2m during an RPC, then the call completes": EBADADDR on
// copy-back, no crash, nothing left pinned.
TEST_F(ArgTest, ArgumentPageGivenUpDuringAnRpc) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  m->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.value = {20, 0, 0};
  Call c = g.start(m);
  ASSERT_TRUE(g.step_until_wait(c));
  g.free_page(m.page);
  EXPECT_EQ(g.finish(c), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(med().audit(1).calls, 0u);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// ============================================================================================
// Parameters: memrefs, cookies, sessions (A.8 step 5, A.16 #1; inv 6, 18, 23, 25)
// ============================================================================================

using ParamTest = VirtTest;

// Inv 18, FM "a contiguous TMEM with buf_ptr != 0 from a guest": refused by the mediator ("old
// tmem arg"), whatever it names (its own page, the carve-out, secure RAM).
TEST_F(ParamTest, ContiguousTmemIsRefused) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(1);
  tap().clear();
  for (uint64_t addr : {b.addr(0), kCarveoutPa, kSecurePa, uint64_t{1}}) {
    uint64_t sum = 0;
    uint32_t origin = 0;
    EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {addr, 16, 0}, &sum, &origin),
              TEE_ERROR_BAD_PARAMETERS)
        << hex(addr);
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  }
  EXPECT_EQ(tap().count(is_std_call), 0u);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// FM "a NULL TMEM (buf_ptr = 0) with size != 0, with and without NONCONTIG": a NULL memref of size
// 0; nothing is translated or pinned.
TEST_F(ParamTest, NullTmemIsANullMemref) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  const int64_t pins = g.gm().pinned_pages();
  for (uint64_t attr : {OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, kNoncontigIn}) {
    uint64_t sum = 1;
    EXPECT_EQ(g.invoke_sum(s, attr, {0, 12345, g.new_cookie()}, &sum), TEE_SUCCESS);
    EXPECT_EQ(sum, 0u);
    EXPECT_EQ(g.gm().pinned_pages(), pins);
  }
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// A.16 #1, inv 23, FM "a NULL TMEM whose shm_ref equals a registered cookie, on INVOKE,
// CLOSE_SESSION and CANCEL": the registered buffer stays pinned. Xen's free_shm_buffers unpins
// by the guest's cookie after every call; teemu unpins only what the call itself created. The
// same holds for REGISTER_SHM and UNREGISTER_SHM messages of the wrong shape that carry the cookie.
TEST_F(ParamTest, NullMemrefCarryingARegisteredCookieDoesNotUnpinIt) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(2);
  fill_pattern(b.bytes(), b.size(), 3);
  const uint64_t expect = sum_bytes(b.bytes(), b.size());
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  uint64_t sum = 0;
  ASSERT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, b.size(), c}, &sum), TEE_SUCCESS);
  ASSERT_EQ(sum, expect);
  const auto base = med().audit(1);
  const int64_t base_pins = g.gm().pinned_pages();
  ASSERT_EQ(base.buffers, 1u);

  auto attack = [&](uint32_t cmd, uint32_t n, const std::function<void(Msg&)>& fill) {
    Msg m = g.msg(cmd, n);
    m->session = s;
    fill(m);
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
    g.free_page(m.page);
    EXPECT_EQ(med().audit(1).buffers, base.buffers) << "cmd " << cmd;
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages) << "cmd " << cmd;
    EXPECT_EQ(g.gm().pinned_pages(), base_pins) << "cmd " << cmd;
  };
  for (uint64_t attr : {OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT,
                        OPTEE_MSG_ATTR_TYPE_TMEM_INOUT, kNoncontigIn, kNoncontigOut}) {
    auto null_param = [&](Msg& m, int i) {
      m.p(i).attr = attr;
      m.p(i).u.tmem = {0, b.size(), c};
    };
    attack(OPTEE_MSG_CMD_INVOKE_COMMAND, 2, [&](Msg& m) {
      m->func = TA_SHM_TEST_CMD_SUM;
      null_param(m, 0);
      m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    });
    attack(OPTEE_MSG_CMD_CLOSE_SESSION, 1, [&](Msg& m) { null_param(m, 0); });
    attack(OPTEE_MSG_CMD_CANCEL, 1, [&](Msg& m) { null_param(m, 0); });
    attack(OPTEE_MSG_CMD_REGISTER_SHM, 1, [&](Msg& m) { null_param(m, 0); });
    attack(OPTEE_MSG_CMD_UNREGISTER_SHM, 2, [&](Msg& m) {
      m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
      m.p(0).u.rmem = {0, 0, 0xdead};
      null_param(m, 1);
    });
  }
  // REGISTER_SHM whose first param is no memref at all but carries the cookie in the same place.
  attack(OPTEE_MSG_CMD_REGISTER_SHM, 1, [&](Msg& m) {
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    m.p(0).u.value = {0, 0, c};
  });
  attack(OPTEE_MSG_CMD_REGISTER_SHM, 1, [&](Msg& m) {
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    m.p(0).u.rmem = {0, kPage, c};
  });
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  // Still pinned: the guest gives the pages up and they stay (zombies) until UNREGISTER.
  g.give_up(b);
  EXPECT_EQ(g.gm().zombie_pages(), 2);
  ASSERT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 2 * kPage, c}, &sum), TEE_SUCCESS);
  EXPECT_EQ(sum, expect);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(g.gm().zombie_pages(), 0);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 25, FM "two params of one call with the same cookie", "a duplicate cookie across temporary,
// registered and RPC buffers within one guest": refused by the mediator, and the buffer that held
// the cookie first is untouched; nothing of the refused call stays pinned.
TEST_F(ParamTest, DuplicateCookiesAreRefused) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(2);
  fill_pattern(b.bytes(), b.size(), 9);
  const uint64_t expect = sum_bytes(b.bytes(), b.size());
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  const auto base = med().audit(1);
  uint32_t origin = 0;
  // Registered twice.
  EXPECT_EQ(g.register_buf(b, c, &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  // A temporary memref with the registered cookie.
  uint64_t sum = 0;
  EXPECT_EQ(g.sum_temp(s, b, 100, &sum, 0, c), TEE_ERROR_BAD_PARAMETERS);
  // Two temporaries of one call with the same (fresh) cookie.
  {
    const uint64_t t = g.new_cookie();
    Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 3);
    m->func = TA_SHM_TEST_CMD_SUM;
    m->session = s;
    m.p(0).attr = kNoncontigIn;
    m.p(0).u.tmem = {g.page_list(b), 100, t};
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
    m.p(2).attr = kNoncontigIn;
    m.p(2).u.tmem = {g.page_list(b), 100, t};
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_COMMS);
    g.free_page(m.page);
  }
  EXPECT_EQ(med().audit(1).buffers, base.buffers);
  EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  // The registered buffer under that cookie is intact.
  ASSERT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, b.size(), c}, &sum), TEE_SUCCESS);
  EXPECT_EQ(sum, expect);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 6, 25, FM "the same cookie and the same session ids in two guests": no interaction. Each
// guest's cookie names its own buffer, each session id its own session; a guest can neither use
// nor close nor unregister the other's.
TEST_F(ParamTest, SameCookiesAndSessionIdsInTwoGuestsAreIndependent) {
  RawGuest& g1 = raw(1);
  RawGuest& g2 = raw(2);
  uint32_t s1 = 0, s2 = 0, s1b = 0;
  ASSERT_EQ(g1.open_session(&s1), TEE_SUCCESS);
  ASSERT_EQ(g2.open_session(&s2), TEE_SUCCESS);
  EXPECT_EQ(s1, s2);  // per-partition numbering
  ASSERT_EQ(g1.open_session(&s1b), TEE_SUCCESS);
  GBuf& b1 = g1.client(1);
  GBuf& b2 = g2.client(1);
  std::memset(b1.bytes(), 1, kPage);
  std::memset(b2.bytes(), 2, kPage);
  const uint64_t e1 = sum_bytes(b1.bytes(), kPage), e2 = sum_bytes(b2.bytes(), kPage);
  ASSERT_NE(e1, e2);
  constexpr uint64_t kCookie = 0x1234;
  ASSERT_EQ(g1.register_buf(b1, kCookie), TEE_SUCCESS);
  ASSERT_EQ(g2.register_buf(b2, kCookie), TEE_SUCCESS);
  uint64_t sum = 0;
  ASSERT_EQ(g1.invoke_sum(s1, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, kCookie}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, e1);
  ASSERT_EQ(g2.invoke_sum(s2, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, kCookie}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, e2);
  // Guest 2 has no session s1b and no cookie 0x5678 (guest 1 registers one).
  ASSERT_EQ(g1.register_buf(b1, 0x5678), TEE_SUCCESS);
  EXPECT_EQ(g2.invoke_sum(s1b, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, kCookie}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(g2.invoke_sum(s2, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, 0x5678}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(g2.close_session(s1b), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(g2.unregister_shm(0x5678), TEE_ERROR_BAD_PARAMETERS);
  // Guest 1 unregisters its kCookie and closes its s1: guest 2's are untouched.
  EXPECT_EQ(g1.unregister_shm(kCookie), TEE_SUCCESS);
  EXPECT_EQ(g1.close_session(s1), TEE_SUCCESS);
  ASSERT_EQ(g2.invoke_sum(s2, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, kCookie}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, e2);
  EXPECT_EQ(g1.invoke_sum(s1b, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, kCookie}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(g1.unregister_shm(0x5678), TEE_SUCCESS);
  EXPECT_EQ(g2.unregister_shm(kCookie), TEE_SUCCESS);
  EXPECT_EQ(g1.close_session(s1b), TEE_SUCCESS);
  EXPECT_EQ(g2.close_session(s2), TEE_SUCCESS);
}

// FM "REGISTER_SHM with attr TMEM_INPUT|NONCONTIG, with 2 params, or with 0 params. Check for
// pins leaked on the mediator side" (A.16 #5), "UNREGISTER twice": every refused registration
// leaves nothing pinned, whether the secure OS or the mediator refused it.
TEST_F(ParamTest, RegisterShmOfTheWrongShapeLeaksNoPins) {
  RawGuest& g = raw(1);
  GBuf& b = g.client(3);
  GBuf& b2 = g.client(2);
  // Warm up: the RPC argument of thread 0 is pinned from here on.
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  const auto base = med().audit(1);
  const int64_t base_pins = g.gm().pinned_pages();
  auto check = [&](const char* what) {
    EXPECT_EQ(med().audit(1).buffers, base.buffers) << what;
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages) << what;
    EXPECT_EQ(g.gm().pinned_pages(), base_pins) << what;
    EXPECT_EQ(os().audit(1).registered_shm, 0u) << what;
  };
  EXPECT_EQ(g.register_shm(g.page_list(b), b.size(), g.new_cookie(), kNoncontigIn),
            TEE_ERROR_BAD_PARAMETERS);
  check("TMEM_INPUT|NONCONTIG");
  auto two = [&](uint64_t second_list, uint32_t* origin) {
    Msg m = g.msg(OPTEE_MSG_CMD_REGISTER_SHM, 2);
    m.p(0).attr = kNoncontigOut;
    m.p(0).u.tmem = {g.page_list(b), b.size(), g.new_cookie()};
    m.p(1).attr = kNoncontigOut;
    m.p(1).u.tmem = {second_list, b2.size(), g.new_cookie()};
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
    *origin = m->ret_origin;
    const uint32_t r = m->ret;
    g.free_page(m.page);
    return r;
  };
  uint32_t origin = 0;
  EXPECT_EQ(two(g.page_list(b2), &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  check("two params");
  // The second param's list names secure memory: the mediator refuses it after translating the
  // first (which must not stay pinned).
  EXPECT_EQ(two(g.page_list({kSecurePa, kSecurePa + kPage}), &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  check("two params, second untranslatable");
  {
    Msg m = g.msg(OPTEE_MSG_CMD_REGISTER_SHM, 0);
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
    g.free_page(m.page);
  }
  check("no params");
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages + 3);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c), TEE_ERROR_BAD_PARAMETERS);
  check("unregistered twice");
}

// FM "the guest balloons out or unmaps pages that are registered, or used by an in-flight call.
// The pin must keep them from being reused", inv 22: the pages leave the guest at once but their
// machine frames stay (pinned) until UNREGISTER.
TEST_F(ParamTest, PagesAGuestGivesUpStayPinnedWhileShared) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(3);
  fill_pattern(b.bytes(), b.size(), 77);
  const uint64_t expect = sum_bytes(b.bytes(), b.size());
  std::vector<Pfn> frames;
  for (Pfn ipa : b.ipas) frames.push_back(g.machine_of(ipa));
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  const int64_t aliased = mem().frames_aliased();
  g.give_up(b);
  EXPECT_EQ(g.gm().zombie_pages(), 3);
  EXPECT_EQ(mem().frames_aliased(), aliased);
  for (Pfn f : frames) EXPECT_EQ(mem().bank_of(f), hw::Bank::kPinned);
  uint64_t sum = 0;
  ASSERT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 3 * kPage, c}, &sum), TEE_SUCCESS);
  EXPECT_EQ(sum, expect);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(g.gm().zombie_pages(), 0);
  EXPECT_EQ(mem().frames_aliased(), aliased - 3);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// ============================================================================================
// Page lists and quotas (A.9; inv 19-21, 24, 26, 27)
// ============================================================================================

using PageListTest = VirtTest;

// Inv 19, 21, 26, 27, FM "page-list entries that are secure RAM, another VM's RAM, MMIO, a
// hypervisor page, the static SHM carve-out, beyond the DDR end" and "entries whose low bits are
// set": refused by the mediator (the secure OS cannot tell whose non-secure page it is); the
// other guest's page is neither read nor written nor pinned; nothing stays pinned.
TEST_F(PageListTest, EntriesMustBeTheGuestsOwnRam) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& own = g.client(1);
  GBuf& theirs = other.client(1);
  fill_pattern(theirs.bytes(), kPage, 5);
  const uint64_t their_sum = sum_bytes(theirs.bytes(), kPage);
  GPage their_kernel_page = other.page();
  const uint64_t their_machine = pfn_to_pa(other.machine_of(theirs.ipas[0])).value;
  const uint64_t their_kernel_machine = pfn_to_pa(other.machine_of(their_kernel_page.ipa)).value;
  const uint64_t own_machine = pfn_to_pa(g.machine_of(own.ipas[0])).value;
  const auto base = med().audit(1);
  const int64_t their_pins = other.gm().pinned_pages();
  const uint64_t bad[] = {own.addr(0) | 8,
                          own.addr(0) | 0x800,
                          0,
                          kSecurePa,
                          kSecurePa + 16 * kPage,
                          kCarveoutPa,
                          0x09000000,  // a device region in the style of QEMU's virt (no RAM)
                          their_machine,
                          their_kernel_machine,
                          own_machine,
                          uint64_t{0x7ffff} << 12,
                          uint64_t{0xFFFFFFFF} << 12,
                          uint64_t{1} << 44,
                          ~uint64_t{0} & ~(kPage - 1)};
  for (uint64_t entry : bad) {
    SCOPED_TRACE(hex(entry));
    // As the first and as a later entry of a temporary memref (FILL writes every byte).
    for (int pos = 0; pos < 2; ++pos) {
      std::vector<uint64_t> entries = {own.addr(0), own.addr(0)};
      entries[pos] = entry;
      std::vector<GPage> lists;
      Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
      m->func = TA_SHM_TEST_CMD_FILL;
      m->session = s;
      m.p(0).attr = kNoncontigOut;
      m.p(0).u.tmem = {g.page_list(entries, 0, &lists), 2 * kPage, g.new_cookie()};
      m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
      m.p(1).u.value = {0xAA, 0, 0};
      EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
      EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
      EXPECT_EQ(m->ret_origin, TEE_ORIGIN_COMMS);
      g.free_page(m.page);
      for (const GPage& p : lists) g.free_page(p);
    }
    // As a registration.
    uint32_t origin = 0;
    EXPECT_EQ(g.register_shm(g.page_list({entry}), kPage, g.new_cookie(), kNoncontigOut, &origin),
              TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
    EXPECT_EQ(med().audit(1).buffers, base.buffers);
  }
  EXPECT_EQ(sum_bytes(theirs.bytes(), kPage), their_sum);
  for (size_t i = 0; i < kPage; ++i) ASSERT_EQ(their_kernel_page.host[i], std::byte{0});
  EXPECT_EQ(other.gm().pinned_pages(), their_pins);
  EXPECT_EQ(os().audit(1).registered_shm, 0u);
  other.free_page(their_kernel_page);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 19, FM "a list whose next pointer is unaligned, loops to itself, points into secure memory,
// is unmapped": the bad ones are refused; a loop is harmless (exactly the needed number of
// entries is read, so it ends).
TEST_F(PageListTest, NextPointerChecks) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(kPageListEntriesPerPage + 1);
  const auto base = med().audit(1);
  std::vector<GPage> lists;
  const uint64_t bp = g.page_list(b.entries(), 0, &lists);
  ASSERT_EQ(lists.size(), 2u);
  auto* first = reinterpret_cast<optee_page_list_page*>(lists[0].host);
  const uint64_t good_next = first->next_page_data;
  uint64_t sum = 0;
  for (uint64_t next : {good_next | 8, good_next | 0x800, kSecurePa, kCarveoutPa, uint64_t{0},
                        uint64_t{0x7ffff} << 12, uint64_t{1} << 44}) {
    first->next_page_data = next;
    EXPECT_EQ(g.invoke_sum(s, kNoncontigIn, {bp, b.size(), g.new_cookie()}, &sum),
              TEE_ERROR_BAD_PARAMETERS)
        << hex(next);
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  }
  first->next_page_data = lists[0].addr;  // the list page points to itself
  EXPECT_EQ(g.invoke_sum(s, kNoncontigIn, {bp, b.size(), g.new_cookie()}, &sum), TEE_SUCCESS);
  first->next_page_data = good_next;
  fill_pattern(b.bytes(), b.size(), 4);
  EXPECT_EQ(g.invoke_sum(s, kNoncontigIn, {bp, b.size(), g.new_cookie()}, &sum), TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes(), b.size()));
  EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  for (const GPage& p : lists) g.free_page(p);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 20, FM "size+offset overflow (size = 2^64-1), size = 0 with offset = 0": refused without
// wrapping; nothing pinned.
TEST_F(PageListTest, SizesThatOverflowOrAreZero) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(1);
  const auto base = med().audit(1);
  uint64_t sum = 0;
  struct Case {
    uint64_t size;
    uint32_t offset;
    uint32_t ret;
  };
  const Case cases[] = {{~uint64_t{0}, 1, TEE_ERROR_BAD_PARAMETERS},
                        {~uint64_t{0} - 0xFFE, 0xFFF, TEE_ERROR_BAD_PARAMETERS},
                        {0, 0, TEE_ERROR_BAD_PARAMETERS},
                        {~uint64_t{0}, 0, TEE_ERROR_OUT_OF_MEMORY},
                        {uint64_t{1} << 40, 0, TEE_ERROR_OUT_OF_MEMORY}};
  for (const Case& c : cases) {
    std::vector<GPage> lists;
    const uint64_t bp = g.page_list(b.entries(), c.offset, &lists);
    uint32_t origin = 0;
    EXPECT_EQ(g.invoke_sum(s, kNoncontigIn, {bp, c.size, g.new_cookie()}, &sum, &origin), c.ret)
        << hex(c.size) << "+" << c.offset;
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(g.register_shm(bp, c.size, g.new_cookie()), c.ret) << hex(c.size);
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
    for (const GPage& p : lists) g.free_page(p);
  }
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 24, A.9 step 2, FM "exactly 129 vs 130 pages": with Xen's limits a buffer of 129 pages
// (512 KiB plus one page of misalignment) passes, 130 gets OUT_OF_MEMORY from COMMS.
TEST_F(PageListTest, XenLimits129And130Pages) {
  RawGuest& g = raw(1, hyp::MediatorLimits::xen());
  GBuf& b = g.client(130);
  uint32_t origin = 0;
  // 128 pages at an offset: 129 pages.
  const std::vector<uint64_t> all = b.entries();
  const std::vector<uint64_t> e129(all.begin(), all.begin() + 129);
  const uint64_t c1 = g.new_cookie();
  EXPECT_EQ(g.register_shm(g.page_list(e129, 0x10), 128 * kPage + 1, c1), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c1), TEE_SUCCESS);
  // 129 whole pages.
  EXPECT_EQ(g.register_shm(g.page_list(e129, 0), 129 * kPage, c1), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c1), TEE_SUCCESS);
  // 129 pages of data at an offset: 130 pages.
  EXPECT_EQ(g.register_shm(g.page_list(b.entries(), 1), 129 * kPage, g.new_cookie(),
                           kNoncontigOut, &origin),
            TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  EXPECT_EQ(g.register_buf(b, g.new_cookie(), &origin), TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
}

// Inv 24, A.9 step 4, FM "17 simultaneous buffers. Expect ENOMEM / TEEC_ERROR_OUT_OF_MEMORY on
// the 17th", "guest A exhausts its buffers; guest B is unaffected".
TEST_F(PageListTest, XenLimitsSeventeenthBuffer) {
  RawGuest& g = raw(1, hyp::MediatorLimits::xen());
  RawGuest& other = raw(2, hyp::MediatorLimits::xen());
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(1);
  std::vector<uint64_t> cookies;
  for (int i = 0; i < 16; ++i) {
    cookies.push_back(g.new_cookie());
    ASSERT_EQ(g.register_buf(b, cookies.back()), TEE_SUCCESS) << i;
  }
  uint32_t origin = 0;
  EXPECT_EQ(g.register_buf(b, g.new_cookie(), &origin), TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  uint64_t sum = 0;
  EXPECT_EQ(g.sum_temp(s, b, 10, &sum), TEE_ERROR_OUT_OF_MEMORY);
  // The other guest has its own 16.
  GBuf& ob = other.client(1);
  std::vector<uint64_t> theirs;
  for (int i = 0; i < 16; ++i) {
    theirs.push_back(other.new_cookie());
    ASSERT_EQ(other.register_buf(ob, theirs.back()), TEE_SUCCESS) << i;
  }
  // One buffer freed: one more fits.
  EXPECT_EQ(g.unregister_shm(cookies.back()), TEE_SUCCESS);
  cookies.pop_back();
  EXPECT_EQ(g.sum_temp(s, b, 10, &sum), TEE_SUCCESS);
  for (uint64_t c : cookies) EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  for (uint64_t c : theirs) EXPECT_EQ(other.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 24, 40, FM "guest A exhausts its buffers or TA RAM; guest B is unaffected": the bound on
// the pages a guest pins at once (RPC arguments included) gives that guest OUT_OF_MEMORY only.
TEST_F(PageListTest, PinnedPagesQuotaIsPerGuest) {
  hyp::MediatorLimits l;
  l.max_pinned_pages = 300;
  RawGuest& g = raw(1, l);
  RawGuest& other = raw(2, l);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);  // holds one RPC argument page from here on
  ASSERT_EQ(med().audit(1).pinned_pages, 1);
  GBuf& b = g.client(299);
  const uint64_t c = g.new_cookie();
  const std::vector<uint64_t> all = b.entries();
  const std::vector<uint64_t> e(all.begin(), all.begin() + 200);
  ASSERT_EQ(g.register_shm(g.page_list(e), 200 * kPage, c), TEE_SUCCESS);
  // 201 pinned: a temporary of 99 pages fits exactly, one of 100 does not.
  uint64_t sum = 0;
  EXPECT_EQ(g.sum_temp(s, b, 99 * kPage, &sum), TEE_SUCCESS);
  uint32_t origin = 0;
  std::vector<GPage> lists;
  EXPECT_EQ(g.invoke_sum(s, kNoncontigIn, {g.page_list(all, 0, &lists), 99 * kPage + 1,
                                           g.new_cookie()},
                         &sum, &origin),
            TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  EXPECT_EQ(g.register_shm(g.page_list(all), 100 * kPage, g.new_cookie(), kNoncontigOut,
                           &origin),
            TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
  // The other guest pins up to its own limit meanwhile.
  GBuf& ob = other.client(299);
  const uint64_t oc = other.new_cookie();
  EXPECT_EQ(other.register_buf(ob, oc), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  EXPECT_EQ(other.unregister_shm(oc), TEE_SUCCESS);
  for (const GPage& p : lists) g.free_page(p);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}


// ============================================================================================
// RPC replies that lie (A.10, A.16 #2; inv 31, 32)
// ============================================================================================

using RpcTest = VirtTest;

// Inv 32, FM "RPC_ALLOC reply with an unaligned PA, PA 0, a foreign page": the mediator gives the
// secure world PA 0, which hands the cookie straight back with RPC FREE; the request needing the
// RPC argument fails with OUT_OF_MEMORY; nothing stays pinned.
TEST_F(RpcTest, RpcAllocRepliesThatLie) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  GPage own = g.page();
  GPage theirs = other.page();
  const uint64_t lies[] = {own.addr | 8,
                           own.addr | 0x800,
                           0,
                           pfn_to_pa(other.machine_of(theirs.ipa)).value,
                           pfn_to_pa(g.machine_of(own.ipa)).value,
                           kSecurePa,
                           kCarveoutPa,
                           uint64_t{0x7ffff} << 12,
                           uint64_t{1} << 44};
  for (uint64_t lie : lies) {
    SCOPED_TRACE(hex(lie));
    const uint64_t cookie = g.new_cookie();
    std::atomic<int> freed{0};
    g.hook = [&](Rpc& r) {
      if (r.func == OPTEE_SMC_RPC_FUNC_ALLOC) {
        reg_pair_from_64(lie, r.reply[1], r.reply[2]);
        reg_pair_from_64(cookie, r.reply[4], r.reply[5]);
        return true;
      }
      if (r.func == OPTEE_SMC_RPC_FUNC_FREE && reg_pair_to_64(r.out[1], r.out[2]) == cookie) {
        ++freed;
        return true;
      }
      return false;
    };
    uint32_t s = 0, origin = 0;
    EXPECT_EQ(g.open_session(&s, &origin), TEE_ERROR_OUT_OF_MEMORY);
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(freed.load(), 1);
    g.hook = nullptr;
    EXPECT_EQ(med().audit(1).rpc_args, 0u);
    EXPECT_EQ(med().audit(1).pinned_pages, 0);
    EXPECT_EQ(g.gm().pinned_pages(), 0);
  }
  g.free_page(own);
  other.free_page(theirs);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// FM "RPC_ALLOC reply with a duplicate cookie": a second thread's RPC_ALLOC answered with the
// cookie of the first thread's live RPC argument is refused, and the RPC FREE that hands the
// refused answer back must not free the first thread's argument (its shadow page would be freed
// under the secure thread that still writes its requests there).
TEST_F(RpcTest, DuplicateRpcAllocCookieLeavesTheLiveArgumentAlone) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  ASSERT_EQ(med().audit(1).rpc_args, 1u);
  const uint64_t live = g.rpc_arg_cookies().at(0);
  // Thread 0 sleeps in the TA with its RPC argument.
  Msg wait = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  wait->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  wait->session = s;
  wait.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  wait.p(0).u.value = {0xFFFFFFFF, 0, 0};
  Call c0 = g.start(wait);
  ASSERT_TRUE(g.step_until_wait(c0));
  ASSERT_EQ(reg_pair_to_64(c0.out[1], c0.out[2]), live);
  // Thread 1 needs an RPC argument: the guest answers with a fresh page and the live cookie.
  GPage fresh = g.page();
  int freed = 0;
  g.hook = [&](Rpc& r) {
    if (r.func == OPTEE_SMC_RPC_FUNC_ALLOC) {
      reg_pair_from_64(fresh.addr, r.reply[1], r.reply[2]);
      reg_pair_from_64(live, r.reply[4], r.reply[5]);
      return true;
    }
    if (r.func == OPTEE_SMC_RPC_FUNC_FREE && reg_pair_to_64(r.out[1], r.out[2]) == live) {
      ++freed;
      return true;  // the guest keeps its page: it is thread 0's argument
    }
    return false;
  };
  uint32_t s2 = 0;
  EXPECT_EQ(g.open_session(&s2), TEE_ERROR_OUT_OF_MEMORY);
  g.hook = nullptr;
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(med().audit(1).rpc_args, 1u);
  EXPECT_EQ(med().audit(1).pinned_pages, 1);
  // Thread 0 goes on using its argument: cancelled, it finishes through it.
  Msg cancel = g.msg(OPTEE_MSG_CMD_CANCEL, 0);
  cancel->session = s;
  EXPECT_EQ(g.call(cancel), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(g.finish(c0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(wait->ret, TEE_ERROR_CANCEL);
  uint64_t sum = 0;
  GBuf& b = g.client(1);
  EXPECT_EQ(g.sum_temp(s, b, 10, &sum), TEE_SUCCESS);
  g.free_page(wait.page);
  g.free_page(cancel.page);
  g.free_page(fresh);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// A.16 #2, inv 31, FM "SHM_ALLOC reply with a plain TMEM_OUTPUT pointing at another VM's page",
// "size < requested", "num_params != 1", "ret != 0", "an attr of RMEM or VALUE", "SHM_ALLOC
// translation failure in the mediator": every reply but one translated page list of at least the
// requested size is an allocation failure for the secure world, and (when the guest claimed an
// allocation) a mediator-made SHM_FREE for the guest, whatever the guest answers to it. Nothing
// is pinned, the other guest's page is never used, no LOAD_TA reaches the guest with the buffer.
TEST_F(RpcTest, ShmAllocRepliesThatLie) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  uint32_t warm = 0;
  ASSERT_EQ(g.open_session(&warm), TEE_SUCCESS);  // thread 0's RPC argument
  ASSERT_EQ(g.close_session(warm), TEE_SUCCESS);
  // A TA image of 100 bytes: the secure OS asks for 100 bytes, which OP-TEE would take as one
  // contiguous non-secure page (rpc_shm_mobj_alloc).
  g.ta_image.assign(100, 0x11);
  GBuf& own = g.client(2);
  GPage theirs = other.page();
  const uint64_t their_machine = pfn_to_pa(other.machine_of(theirs.ipa)).value;
  const uint64_t registered = g.new_cookie();
  GBuf& rb = g.client(1);
  std::memset(rb.bytes(), 3, kPage);
  ASSERT_EQ(g.register_buf(rb, registered), TEE_SUCCESS);
  const auto base = med().audit(1);

  struct Lie {
    const char* what;
    std::function<void(optee_msg_arg&, uint64_t cookie)> reply;
    bool freed;  // the mediator tells the guest to free what it claimed
  };
  const std::vector<Lie> lies = {
      {"contiguous TMEM_OUTPUT at another guest's page",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
         a.params[0].u.tmem = {their_machine, 100, c};
       },
       true},
      {"contiguous TMEM_OUTPUT at its own page (by IPA)",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
         a.params[0].u.tmem = {own.addr(0), 100, c};
       },
       true},
      {"short",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list(own), 99, c};
       },
       true},
      {"two params",
       [&](optee_msg_arg& a, uint64_t c) {
         a.num_params = 2;
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list(own), 100, c};
       },
       true},
      {"RMEM",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
         a.params[0].u.rmem = {0, 100, c};
       },
       true},
      {"VALUE",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
         a.params[0].u.value = {their_machine, 100, c};
       },
       true},
      {"list naming secure RAM",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list({kSecurePa}), 100, c};
       },
       true},
      {"list naming the other guest's page",
       [&](optee_msg_arg& a, uint64_t c) {
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list({their_machine}), 100, c};
       },
       true},
      {"cookie of a registered buffer",
       [&](optee_msg_arg& a, uint64_t) {
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list(own), 100, registered};
       },
       true},
      {"no params",
       [&](optee_msg_arg& a, uint64_t) { a.num_params = 0; },
       false},
      {"ret != 0",
       [&](optee_msg_arg& a, uint64_t c) {
         a.ret = TEE_ERROR_OUT_OF_MEMORY;
         a.params[0].attr = kNoncontigOut;
         a.params[0].u.tmem = {g.page_list(own), 100, c};
       },
       false},
  };
  for (const Lie& lie : lies) {
    SCOPED_TRACE(lie.what);
    g.clear_events();
    const uint64_t cookie = g.new_cookie();
    std::vector<uint64_t> frees;
    g.hook = [&](Rpc& r) {
      if (r.cmd() == OPTEE_RPC_CMD_SHM_ALLOC) {
        r.arg->ret = TEE_SUCCESS;
        lie.reply(*r.arg, cookie);
        return true;
      }
      if (r.cmd() == OPTEE_RPC_CMD_SHM_FREE) {
        frees.push_back(r.arg->params[0].u.value.b);
        EXPECT_EQ(r.arg->params[0].attr, OPTEE_MSG_ATTR_TYPE_VALUE_INPUT);
        EXPECT_EQ(r.arg->params[0].u.value.a, OPTEE_RPC_SHM_TYPE_APPL);
        // Whatever the guest answers, the allocation has failed.
        r.arg->ret = TEE_SUCCESS;
        r.arg->num_params = 1;
        return true;
      }
      return false;
    };
    uint32_t s = 0, origin = 0;
    EXPECT_EQ(g.open_session(&s, &origin), TEE_ERROR_OUT_OF_MEMORY);
    g.hook = nullptr;
    if (lie.freed) {
      ASSERT_EQ(frees.size(), 1u);
      EXPECT_EQ(frees[0], std::string(lie.what) == "cookie of a registered buffer" ? registered
                                                                                   : cookie);
    } else {
      EXPECT_TRUE(frees.empty());
    }
    // Only the size query reached the guest: the buffer was never used for the TA.
    EXPECT_EQ(g.count([](const Event& e) { return e.is_cmd(OPTEE_RPC_CMD_LOAD_TA); }), 1u);
    EXPECT_EQ(med().audit(1).buffers, base.buffers);
    EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  }
  for (size_t i = 0; i < kPage; ++i) ASSERT_EQ(theirs.host[i], std::byte{0});
  EXPECT_EQ(other.gm().pinned_pages(), 0);
  // The registered buffer whose cookie a reply reused is intact.
  g.ta_image = ta_file();
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  uint64_t sum = 0;
  ASSERT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, registered}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, 3u * kPage);
  EXPECT_EQ(g.unregister_shm(registered), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  other.free_page(theirs);
}

// FM "an RPC arg with num_params that overflows the page": the secure world reads
// TEE_ERROR_GENERIC, and nothing beyond the page is read.
TEST_F(RpcTest, RpcArgumentWithTooManyParams) {
  RawGuest& g = raw(1);
  for (uint32_t n : {128u, 0xFFFFFFFFu, 0x08000000u}) {
    g.hook = [n](Rpc& r) {
      if (r.cmd() != OPTEE_RPC_CMD_LOAD_TA) return false;
      r.arg->ret = TEE_SUCCESS;
      r.arg->num_params = n;
      return true;
    };
    uint32_t s = 0;
    EXPECT_EQ(g.open_session(&s), TEE_ERROR_ITEM_NOT_FOUND) << n;
  }
  g.hook = nullptr;
}

// ============================================================================================
// Resuming calls, threads and call slots (A.8 step 1, A.10; inv 7, 9, 34)
// ============================================================================================

using ResumeTest = VirtTest;

// A WAIT_CANCEL invoke of `session` that sleeps in the normal world until cancelled.
Msg wait_msg(RawGuest& g, uint32_t session, uint32_t extra_params = 0) {
  Msg m = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1 + extra_params);
  m->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  m->session = session;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.value = {0xFFFFFFFF, 0, 0};
  return m;
}

uint32_t cancel_session(RawGuest& g, uint32_t session) {
  Msg m = g.msg(OPTEE_MSG_CMD_CANCEL, 0);
  m->session = session;
  EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
  const uint32_t ret = m->ret;
  g.free_page(m.page);
  return ret;
}

SmcRegs resume_regs(uint32_t thread) {
  SmcRegs in;
  in[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
  in[3] = thread;
  return in;
}

// Inv 7, 34, FM "CALL_RETURN_FROM_RPC with a wrong thread id, with another guest's thread id,
// for a call already being resumed on another vCPU, after the call completed": ERESUME, and the
// suspended call is untouched.
TEST_F(ResumeTest, ResumingWhatIsNotYoursIsEresume) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  Msg w = wait_msg(g, s);
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  const uint32_t t = c.thread();
  tap().clear();
  // The other guest, with its own (free) thread of that number, and the guest itself with
  // threads that are not suspended.
  EXPECT_EQ(other.smc(resume_regs(t)).w(0), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(g.smc(resume_regs(t + 1)).w(0), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(g.smc(resume_regs(0xFFFFFFFF)).w(0), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(tap().log().size(), 0u);
  // The secure OS itself resolves thread ids in the caller's partition only.
  SmcRegs direct = resume_regs(t);
  direct[7] = 2;
  EXPECT_EQ(os().smc(direct).w(0), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(os().audit(1).busy_threads, 1u);
  EXPECT_EQ(os().audit(2).busy_threads, 0u);
  // A second vCPU resuming the call while it is in flight.
  uint32_t nested = 0;
  bool fired = false;
  tap().before = [&](const SmcRegs& in) {
    if (fired || in.w(0) != OPTEE_SMC_CALL_RETURN_FROM_RPC || in[7] != 1 || in.w(3) != t) return;
    fired = true;
    nested = g.smc(resume_regs(t)).w(0);
  };
  EXPECT_EQ(cancel_session(g, s), TEE_SUCCESS);
  EXPECT_EQ(g.finish(c), OPTEE_SMC_RETURN_OK);
  tap().before = nullptr;
  EXPECT_TRUE(fired);
  EXPECT_EQ(nested, OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(w->ret, TEE_ERROR_CANCEL);
  // After completion.
  EXPECT_EQ(g.smc(resume_regs(t)).w(0), OPTEE_SMC_RETURN_ERESUME);
  g.free_page(w.page);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 9, FM "a guest that never answers an RPC. Only that guest's threads and quota are
// exhausted; other guests proceed", "guest A exhausts its threads; guest B is unaffected": the
// guest's next call gets ETHREAD_LIMIT from the mediator with no side effect; the other guests
// (raw and with a kernel) work; destroying the silent guest frees its partition.
TEST_F(ResumeTest, AGuestThatNeverAnswersOnlyBlocksItself) {
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  hyp::Guest* kg = m().kernel_guest(3);
  ASSERT_NE(kg, nullptr);
  uint32_t s1 = 0, s2 = 0;
  ASSERT_EQ(g.open_session(&s1), TEE_SUCCESS);
  ASSERT_EQ(g.open_session(&s2), TEE_SUCCESS);
  GBuf& b = g.client(2);
  Msg w1 = wait_msg(g, s1, 1);
  w1.p(1).attr = kNoncontigIn;
  w1.p(1).u.tmem = {g.page_list(b), b.size(), g.new_cookie()};
  Call c1 = g.start(w1);
  ASSERT_TRUE(g.step_until_wait(c1));
  Msg w2 = wait_msg(g, s2);
  Call c2 = g.start(w2);
  ASSERT_TRUE(g.step_until_wait(c2));
  EXPECT_EQ(med().audit(1).calls, 2u);
  tap().clear();
  Msg third = g.msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 0);
  third->ret = kSentinel;
  EXPECT_EQ(g.call(third), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
  EXPECT_EQ(third->ret, kSentinel);
  EXPECT_EQ(tap().from(1), 0u);
  // Everybody else proceeds.
  uint32_t so = 0;
  ASSERT_EQ(other.open_session(&so), TEE_SUCCESS);
  GBuf& ob = other.client(1);
  std::memset(ob.bytes(), 1, kPage);
  uint64_t sum = 0;
  EXPECT_EQ(other.sum_temp(so, ob, kPage, &sum), TEE_SUCCESS);
  EXPECT_EQ(sum, kPage);
  {
    KernelClient kc(kg->kernel());
    ASSERT_TRUE(kc.ok());
    uint32_t ks = 0, ret = 0;
    ASSERT_EQ(kc.open_session(&ks, &ret), 0);
    ASSERT_EQ(ret, TEE_SUCCESS);
    std::vector<tee_ioctl_param> p = {KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, 41)};
    ASSERT_EQ(kc.invoke(ks, TA_SHM_TEST_CMD_INC, p, &ret), 0);
    EXPECT_EQ(ret, TEE_SUCCESS);
    EXPECT_EQ(p[0].a, 42u);
    EXPECT_EQ(kc.close_session(ks), 0);
  }
  EXPECT_EQ(other.close_session(so), TEE_SUCCESS);
  // The silent guest is destroyed with both calls still waiting for it.
  g.destroy();
  EXPECT_EQ(os().audit(1).partitions, 0u);
  EXPECT_EQ(g.gm().pinned_pages(), 0);
  EXPECT_EQ(med().handle(1, resume_regs(c1.thread())).w(0), OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  EXPECT_EQ(os().audit(2).partitions, 1u);
  EXPECT_EQ(os().audit(3).partitions, 1u);
}

// Inv 9, 24: the concurrent-call quota is per guest (here 1 for guest 1, the secure thread count
// for guest 2), counting calls suspended in RPC.
TEST_F(ResumeTest, ConcurrentCallQuotaIsPerGuest) {
  hyp::MediatorLimits one;
  one.max_calls = 1;
  RawGuest& g = raw(1, one);
  RawGuest& other = raw(2);
  uint32_t s = 0, so = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  ASSERT_EQ(other.open_session(&so), TEE_SUCCESS);
  Msg w = wait_msg(g, s);
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  Msg probe = g.msg(OPTEE_MSG_CMD_CANCEL, 0);
  probe->session = s;
  EXPECT_EQ(g.call(probe), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
  Msg ow = wait_msg(other, so);
  Call oc = other.start(ow);
  ASSERT_TRUE(other.step_until_wait(oc));
  EXPECT_EQ(cancel_session(other, so), TEE_SUCCESS);  // the other guest's second call
  EXPECT_EQ(other.finish(oc), OPTEE_SMC_RETURN_OK);
  // Guest 1 cannot even cancel its waiting call (no slot left for the CANCEL): it ends with the
  // guest.
  g.destroy();
  g.free_page(probe.page);
  other.free_page(ow.page);
  EXPECT_EQ(other.close_session(so), TEE_SUCCESS);
}

// FM "DISABLE_SHM_CACHE while threads are busy (EBUSY), looped until ENOTAVAIL" (the Xen bug of
// 2021: a wrong a0 made Linux loop for ever), inv 22: EBUSY while a call is suspended; then one
// RPC argument per call, named by the guest's own cookie and unpinned by the mediator, then
// ENOTAVAIL.
TEST_F(FastCallTest, DisableShmCacheThroughTheMediator) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  Msg w = wait_msg(g, s);
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  SmcRegs r = g.fast(OPTEE_SMC_DISABLE_SHM_CACHE);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_EBUSY);
  EXPECT_EQ(r[1], 0u);
  EXPECT_EQ(r[2], 0u);
  EXPECT_EQ(g.fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_EBUSY);
  EXPECT_EQ(cancel_session(g, s), TEE_SUCCESS);  // thread 1 gets an RPC argument too
  EXPECT_EQ(g.finish(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  ASSERT_EQ(med().audit(1).rpc_args, 2u);
  auto held = g.rpc_arg_cookies();
  std::set<uint64_t> handed_back;
  for (int i = 0; i < 2; ++i) {
    r = g.fast(OPTEE_SMC_DISABLE_SHM_CACHE);
    ASSERT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
    const uint64_t cookie = reg_pair_to_64(r[1], r[2]);
    EXPECT_TRUE(std::count(held.begin(), held.end(), cookie)) << hex(cookie);
    handed_back.insert(cookie);
    EXPECT_EQ(med().audit(1).rpc_args, 1u - i);
    EXPECT_TRUE(g.take_back_rpc_arg(cookie));
  }
  EXPECT_EQ(handed_back.size(), 2u);
  EXPECT_EQ(g.fast(OPTEE_SMC_DISABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(med().audit(1).pinned_pages, 0);
  EXPECT_EQ(g.fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_OK);
  g.free_page(w.page);
}

// ============================================================================================
// Registered buffers being released (B.5; inv 29, 30)
// ============================================================================================

using ShmReleaseTest = VirtTest;

// B.5 [I], inv 29, 30, FM "UNREGISTER(C) on thread A while a lookup of C on thread B in the
// window after the last put. It must fail cleanly, never panic", "UNREGISTER while a TA invoke
// holds the buffer. It must block, then succeed": the lookups made while UNREGISTER sleeps, and
// the ones made in the window where the object's count is zero but the unregistering thread has
// not yet woken, all get BAD_PARAMETERS; UNREGISTER then completes and the mediator unpins.
TEST_F(ShmReleaseTest, LookupOfACookieBeingReleasedFailsCleanly) {
  MachineOptions o;
  o.threads = 4;
  boot(o);
  RawGuest& g = raw(1);
  uint32_t s = 0, s2 = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  ASSERT_EQ(g.open_session(&s2), TEE_SUCCESS);
  GBuf& b = g.client(1);
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  Msg user = wait_msg(g, s, 1);
  user.p(1).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  user.p(1).u.rmem = {0, kPage, c};
  Call cu = g.start(user);
  ASSERT_TRUE(g.step_until_wait(cu));
  Msg un = g.msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
  un.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  un.p(0).u.rmem = {0, 0, c};
  un->ret = kSentinel;
  Call cr = g.start(un);
  ASSERT_TRUE(g.step_until_wait(cr));
  auto lookups_fail = [&](const char* when) {
    SCOPED_TRACE(when);
    uint64_t sum = 0;
    EXPECT_EQ(g.invoke_sum(s2, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 16, c}, &sum),
              TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(g.unregister_shm(c), TEE_ERROR_BAD_PARAMETERS);
    uint32_t origin = 0;
    EXPECT_EQ(g.register_buf(b, c, &origin), TEE_ERROR_BAD_PARAMETERS);  // still the guest's
    EXPECT_EQ(origin, TEE_ORIGIN_COMMS);
    EXPECT_EQ(os().audit(1).registered_shm, 1u);
    EXPECT_EQ(med().audit(1).buffers, 1u);
  };
  lookups_fail("while UNREGISTER sleeps");
  EXPECT_EQ(cancel_session(g, s), TEE_SUCCESS);
  // The user finishes and drops the last reference: it wakes the unregistering thread with a
  // NOTIFICATION SEND, held here, before that thread has woken and unlinked the object.
  ASSERT_TRUE(g.step_until(cu, [](const Call&, const optee_msg_arg* a) {
    return a != nullptr && a->cmd == OPTEE_RPC_CMD_NOTIFICATION &&
           a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_SEND;
  }));
  lookups_fail("count zero, release not finished");
  EXPECT_EQ(un->ret, kSentinel);
  EXPECT_EQ(g.finish(cu), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(user->ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(g.finish(cr), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(un->ret, TEE_SUCCESS);
  EXPECT_EQ(os().audit(1).registered_shm, 0u);
  EXPECT_EQ(med().audit(1).buffers, 0u);
  g.free_page(user.page);
  g.free_page(un.page);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s2), TEE_SUCCESS);
}

// ============================================================================================
// A guest destroyed in the middle of its calls (A.4, B.11; inv 37, 38)
// ============================================================================================

// A guest that must not notice another guest's destruction: a session and a registered buffer
// it checks before and after.
struct Bystander {
  explicit Bystander(RawGuest& guest) : g(guest), b(guest.client(2)) {
    EXPECT_EQ(g.open_session(&s), TEE_SUCCESS);
    fill_pattern(b.bytes(), b.size(), 21);
    expect = sum_bytes(b.bytes(), b.size());
    cookie = g.new_cookie();
    EXPECT_EQ(g.register_buf(b, cookie), TEE_SUCCESS);
    check("before");
  }
  void check(const char* when) {
    SCOPED_TRACE(when);
    uint64_t sum = 0;
    EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, b.size(), cookie}, &sum),
              TEE_SUCCESS);
    EXPECT_EQ(sum, expect);
    EXPECT_EQ(g.sum_temp(s, b, b.size(), &sum), TEE_SUCCESS);
    EXPECT_EQ(sum, expect);
  }
  void finish() {
    check("after");
    EXPECT_EQ(g.unregister_shm(cookie), TEE_SUCCESS);
    EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  }
  RawGuest& g;
  GBuf& b;
  uint32_t s = 0;
  uint64_t cookie = 0;
  uint64_t expect = 0;
};

class DestroyTest : public VirtTest {
 protected:
  // Destroys guest 1 and checks nothing of it remains: no partition, no pins (mediator and
  // stage 2), no mediator state.
  void destroy_and_check(RawGuest& g) {
    g.destroy();
    EXPECT_EQ(os().audit(g.id()).partitions, 0u);
    EXPECT_EQ(g.gm().pinned_pages(), 0);
    EXPECT_EQ(g.gm().zombie_pages(), 0);
    EXPECT_EQ(med().audit(g.id()).pinned_pages, 0);
    EXPECT_EQ(med().guest_stats(g.id()), nullptr);
    auto a = os().audit();
    EXPECT_EQ(a.partitions, 1u);  // the bystander's
    EXPECT_EQ(a.sessions, 1u);
    EXPECT_EQ(a.registered_shm, 1u);
  }
};

// FM "destroying a VM while one of its threads is suspended in RPC (SHM_ALLOC outstanding)",
// inv 37: with a temporary memref of the call pinned.
TEST_F(DestroyTest, WhileSuspendedInShmAlloc) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  GBuf& b = g.client(3);
  Msg m = g.msg(OPTEE_MSG_CMD_OPEN_SESSION, 3);
  RawGuest::set_open_meta(m, kTaUuid);
  m.p(2).attr = kNoncontigIn;
  m.p(2).u.tmem = {g.page_list(b), b.size(), g.new_cookie()};
  Call c = g.start(m);
  ASSERT_TRUE(g.step_until_cmd(c, OPTEE_RPC_CMD_SHM_ALLOC));
  EXPECT_EQ(med().audit(1).pinned_pages, 4);  // the memref and the RPC argument
  destroy_and_check(g);
  by.finish();
}

// FM "... (WAIT_QUEUE sleep)": a TA in TEE_Wait, with a temporary memref and a registered buffer
// in use by the call.
TEST_F(DestroyTest, WhileSleepingInTheTa) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(2);
  GBuf& r = g.client(1);
  const uint64_t rc = g.new_cookie();
  ASSERT_EQ(g.register_buf(r, rc), TEE_SUCCESS);
  Msg w = wait_msg(g, s, 2);
  w.p(1).attr = kNoncontigInOut;
  w.p(1).u.tmem = {g.page_list(b), b.size(), g.new_cookie()};
  w.p(2).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INOUT;
  w.p(2).u.rmem = {0, kPage, rc};
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  destroy_and_check(g);
  by.finish();
}

// FM "... UNREGISTER is waiting on a busy buffer".
TEST_F(DestroyTest, WhileUnregisterWaitsForABusyBuffer) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& r = g.client(1);
  const uint64_t rc = g.new_cookie();
  ASSERT_EQ(g.register_buf(r, rc), TEE_SUCCESS);
  Msg w = wait_msg(g, s, 1);
  w.p(1).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  w.p(1).u.rmem = {0, kPage, rc};
  Call cw = g.start(w);
  ASSERT_TRUE(g.step_until_wait(cw));
  Msg un = g.msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
  un.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  un.p(0).u.rmem = {0, 0, rc};
  Call cu = g.start(un);
  ASSERT_TRUE(g.step_until_wait(cu));
  destroy_and_check(g);
  by.finish();
}

// FM "... an RPC-allocated buffer is live": the TA image buffer (SHM_ALLOC answered and pinned)
// while the secure OS waits for LOAD_TA to fill it.
TEST_F(DestroyTest, WithAnRpcAllocatedBufferLive) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  Msg m = g.msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  RawGuest::set_open_meta(m, kTaUuid);
  Call c = g.start(m);
  ASSERT_TRUE(g.step_until(c, [](const Call&, const optee_msg_arg* a) {
    return a != nullptr && a->cmd == OPTEE_RPC_CMD_LOAD_TA &&
           a->params[1].attr == OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
  }));
  EXPECT_EQ(g.live_shm_bufs(), 1u);
  EXPECT_GT(med().audit(1).pinned_pages, 1);
  destroy_and_check(g);
  by.finish();
}

// Inv 37: a thread waiting for a busy TA instance (another call of the same session sleeps in it)
// unwinds too; neither runs TA code again.
TEST_F(DestroyTest, WhileWaitingForABusyTaInstance) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  Msg w1 = wait_msg(g, s);
  Call c1 = g.start(w1);
  ASSERT_TRUE(g.step_until_wait(c1));
  Msg w2 = wait_msg(g, s);
  Call c2 = g.start(w2);
  ASSERT_TRUE(g.step_until_wait(c2));  // enter(): the instance is busy
  EXPECT_EQ(os().audit(1).busy_threads, 2u);
  destroy_and_check(g);
  by.finish();
}

// Inv 38, FM "check: no pages reused before VM_DESTROYED": when VM_DESTROYED reaches the secure
// world, every page it was given for the guest's suspended call (the shadow argument, the
// guest's pages behind a memref, even those the guest gave up meanwhile) is still allocated.
TEST_F(DestroyTest, SharedPagesStayAllocatedUntilVmDestroyed) {
  RawGuest& g = raw(1);
  Bystander by(raw(2));
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GPage kpage = g.page();
  GBuf& b = g.client(1);
  const Pfn kframe = g.machine_of(kpage.ipa);
  const Pfn bframe = g.machine_of(b.ipas[0]);
  Msg w = wait_msg(g, s, 2);
  w.p(1).attr = kNoncontigInOut;
  w.p(1).u.tmem = {g.page_list({kpage.addr}), kPage, g.new_cookie()};
  w.p(2).attr = kNoncontigInOut;
  w.p(2).u.tmem = {g.page_list(b), kPage, g.new_cookie()};
  tap().clear();
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  uint64_t shadow = 0;
  for (const TapEntry& e : tap().log())
    if (e.in.w(0) == OPTEE_SMC_CALL_WITH_ARG) shadow = reg_pair_to_64(e.in[1], e.in[2]);
  ASSERT_NE(shadow, 0u);
  // The guest gives both pages up while the call is suspended.
  g.free_page(kpage);
  g.give_up(b);
  EXPECT_EQ(g.gm().zombie_pages(), 2);
  bool checked = false;
  tap().before = [&](const SmcRegs& in) {
    if (in.w(0) != OPTEE_SMC_VM_DESTROYED || in[1] != 1) return;
    checked = true;
    EXPECT_EQ(mem().bank_of(static_cast<Pfn>(shadow >> 12)), hw::Bank::kNsDram);
    EXPECT_EQ(mem().bank_of(kframe), hw::Bank::kNsDram);
    EXPECT_EQ(mem().bank_of(bframe), hw::Bank::kPinned);
    EXPECT_EQ(g.gm().zombie_pages(), 2);
  };
  destroy_and_check(g);
  tap().before = nullptr;
  EXPECT_TRUE(checked);
  by.finish();
}

// ============================================================================================
// Secure memory per partition (B.11; inv 40)
// ============================================================================================

using PartitionTest = VirtTest;

// Inv 40, FM "guest A exhausts its TA RAM; guest B is unaffected": a guest that has used up its
// share of secure memory gets OUT_OF_MEMORY from the TEE (TA instances, registered buffers); the
// other guest opens and registers as before.
TEST_F(PartitionTest, SecureMemoryExhaustionIsLocal) {
  // Room for one instance of the shm-test TA (image, 64 KiB data, 16 KiB stack) and a little.
  MachineOptions o;
  o.partition_memory = ta_file().size() + (80 << 10) + (4 << 10);
  boot(o);
  RawGuest& g = raw(1);
  RawGuest& other = raw(2);
  uint32_t s1 = 0, s2 = 0, origin = 0;
  ASSERT_EQ(g.open_session(&s1), TEE_SUCCESS);
  EXPECT_EQ(g.open_session(&s2, &origin), TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  GBuf& big = g.client(2048);  // 8 KiB of page array: more than what is left
  EXPECT_EQ(g.register_buf(big, g.new_cookie(), &origin), TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(med().audit(1).buffers, 0u);  // the mediator let go of the refused registration
  uint32_t o1 = 0, o2 = 0;
  ASSERT_EQ(other.open_session(&o1), TEE_SUCCESS);
  GBuf& small = other.client(16);
  const uint64_t oc = other.new_cookie();
  EXPECT_EQ(other.register_buf(small, oc), TEE_SUCCESS);
  EXPECT_EQ(other.unregister_shm(oc), TEE_SUCCESS);
  EXPECT_EQ(other.close_session(o1), TEE_SUCCESS);
  ASSERT_EQ(other.open_session(&o2), TEE_SUCCESS);
  EXPECT_EQ(other.close_session(o2), TEE_SUCCESS);
  // Freed memory is available again.
  EXPECT_EQ(g.close_session(s1), TEE_SUCCESS);
  ASSERT_EQ(g.open_session(&s2), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s2), TEE_SUCCESS);
}


// ============================================================================================
// More of the message path through the mediator (inv 12, 13, 23, 28, 30, 35)
// ============================================================================================

using MessageTest = VirtTest;

// Inv 12, 13, 28, FM "OPEN_SESSION with < 2 params, wrong META attrs, a META bit on a later
// param, or an unknown login", "5+ non-meta params", "CLOSE_SESSION or CANCEL with params",
// "RMEM with offs+size overflow or beyond the object size": the secure OS's checks hold for a
// guest's messages, which the mediator passes on (its shadow is what is checked).
TEST_F(MessageTest, SecureOsChecksHoldForGuestMessages) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  auto run = [&](uint32_t cmd, uint32_t n, const std::function<void(Msg&)>& fill) {
    Msg m = g.msg(cmd, n);
    m->session = s;
    fill(m);
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_OK);
    const uint32_t ret = m->ret;
    if (cmd == OPTEE_MSG_CMD_OPEN_SESSION && ret == TEE_SUCCESS) g.close_session(m->session);
    g.free_page(m.page);
    return ret;
  };
  EXPECT_EQ(run(OPTEE_MSG_CMD_OPEN_SESSION, 1,
                [](Msg& m) {
                  m.p(0).attr = kMetaValueIn;
                  m.p(0).u.value = {value_a(kTaUuid), value_b(kTaUuid), 0};
                }),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(run(OPTEE_MSG_CMD_OPEN_SESSION, 2,
                [](Msg& m) {
                  RawGuest::set_open_meta(m, kTaUuid);
                  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
                }),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(run(OPTEE_MSG_CMD_OPEN_SESSION, 3,
                [](Msg& m) {
                  RawGuest::set_open_meta(m, kTaUuid);
                  m.p(2).attr = kMetaValueIn;
                }),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(run(OPTEE_MSG_CMD_OPEN_SESSION, 2,
                [](Msg& m) {
                  RawGuest::set_open_meta(m, kTaUuid);
                  m.p(1).u.value.c = 0x77;  // no such login
                }),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(run(OPTEE_MSG_CMD_OPEN_SESSION, 7,
                [](Msg& m) {
                  RawGuest::set_open_meta(m, kTaUuid);
                  for (int i = 2; i < 7; ++i) m.p(i).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
                }),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(run(OPTEE_MSG_CMD_INVOKE_COMMAND, 5,
                [](Msg& m) {
                  m->func = TA_SHM_TEST_CMD_INC;
                  for (int i = 0; i < 5; ++i) m.p(i).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
                }),
            TEE_ERROR_BAD_PARAMETERS);
  for (uint32_t cmd : {OPTEE_MSG_CMD_CLOSE_SESSION, OPTEE_MSG_CMD_CANCEL})
    EXPECT_EQ(run(cmd, 1, [](Msg& m) { m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT; }),
              TEE_ERROR_BAD_PARAMETERS);
  GBuf& b = g.client(1);
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  uint64_t sum = 0;
  EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {~uint64_t{0}, 2, c}, &sum),
            TEE_ERROR_SECURITY);
  EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {1, kPage, c}, &sum),
            TEE_ERROR_SECURITY);
  EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, c}, &sum), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  // The session survived the CLOSE_SESSION with a param.
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// Inv 23, 30, FM "UNREGISTER of a temporary cookie", "RMEM naming ... a temporary (guarded)
// cookie": a cookie of a temporary memref or of an RPC payload buffer cannot be unregistered, and
// the attempt unpins nothing (the mediator frees on UNREGISTER only what it registered).
TEST_F(MessageTest, TemporaryAndRpcCookiesCannotBeUnregistered) {
  RawGuest& g = raw(1);
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  GBuf& b = g.client(2);
  const uint64_t t = g.new_cookie();
  Msg w = wait_msg(g, s, 1);
  w.p(1).attr = kNoncontigIn;
  w.p(1).u.tmem = {g.page_list(b), b.size(), t};
  w.p(0).u.value.a = 50;  // a bounded sleep: it ends by itself
  Call c = g.start(w);
  ASSERT_TRUE(g.step_until_wait(c));
  const auto held = med().audit(1);
  EXPECT_EQ(g.unregister_shm(t), TEE_ERROR_BAD_PARAMETERS);
  uint64_t sum = 0;
  EXPECT_EQ(g.invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 16, t}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(med().audit(1).buffers, held.buffers);
  EXPECT_EQ(med().audit(1).pinned_pages, held.pinned_pages);
  EXPECT_EQ(g.finish(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(w->ret, TEE_SUCCESS);
  g.free_page(w.page);
  // An RPC payload buffer, live while the secure OS waits for LOAD_TA to fill it.
  Msg m = g.msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  RawGuest::set_open_meta(m, kTaUuid);
  Call oc = g.start(m);
  uint64_t rpc_cookie = 0;
  ASSERT_TRUE(g.step_until(oc, [&](const Call&, const optee_msg_arg* a) {
    if (a == nullptr || a->cmd != OPTEE_RPC_CMD_LOAD_TA ||
        a->params[1].attr != OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT)
      return false;
    rpc_cookie = a->params[1].u.rmem.shm_ref;
    return true;
  }));
  const auto live = med().audit(1);
  EXPECT_EQ(g.unregister_shm(rpc_cookie), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(med().audit(1).buffers, live.buffers);
  EXPECT_EQ(med().audit(1).pinned_pages, live.pinned_pages);
  EXPECT_EQ(g.finish(oc), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(g.close_session(m->session), TEE_SUCCESS);
  g.free_page(m.page);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
}

// FM "the guest reuses a cookie right after OP-TEE's SHM_FREE or RPC_FREE, on another vCPU. Must
// succeed" (Xen 5b13eb1d97, 5d2d5365ff): the mediator forgets the buffer before the guest sees
// the free.
TEST_F(MessageTest, CookiesAreReusableAsSoonAsTheGuestSeesTheFree) {
  RawGuest& g = raw(1);
  GBuf& b = g.client(1);
  // SHM_FREE of the TA image buffer: while serving it, register a buffer under that cookie.
  bool reused = false;
  g.hook = [&](Rpc& r) {
    if (r.cmd() != OPTEE_RPC_CMD_SHM_FREE || reused) return false;
    const uint64_t cookie = r.arg->params[0].u.value.b;
    g.serve(r);
    reused = true;
    EXPECT_EQ(g.register_buf(b, cookie), TEE_SUCCESS);
    EXPECT_EQ(g.unregister_shm(cookie), TEE_SUCCESS);
    return true;
  };
  uint32_t s = 0;
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  EXPECT_TRUE(reused);
  g.hook = nullptr;
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  // RPC FREE: with the RPC argument cache off every call frees its argument at its end; while
  // the guest serves that FREE, another call gets the same cookie for its own argument.
  for (;;) {
    SmcRegs r = g.fast(OPTEE_SMC_DISABLE_SHM_CACHE);
    if (r.w(0) != OPTEE_SMC_RETURN_OK) break;
    EXPECT_TRUE(g.take_back_rpc_arg(reg_pair_to_64(r[1], r[2])));
  }
  uint64_t freed = 0;
  bool nested = false;
  g.hook = [&](Rpc& r) {
    if (r.func == OPTEE_SMC_RPC_FUNC_FREE && freed == 0) {
      freed = reg_pair_to_64(r.out[1], r.out[2]);
      g.serve(r);
      nested = true;
      uint32_t s2 = 0;
      EXPECT_EQ(g.open_session(&s2), TEE_SUCCESS);  // its ALLOC is answered with `freed`
      EXPECT_EQ(g.close_session(s2), TEE_SUCCESS);
      nested = false;
      return true;
    }
    if (r.func == OPTEE_SMC_RPC_FUNC_ALLOC && nested) {
      g.answer_alloc(r, freed);
      return true;
    }
    return false;
  };
  ASSERT_EQ(g.open_session(&s), TEE_SUCCESS);
  g.hook = nullptr;
  EXPECT_NE(freed, 0u);
  EXPECT_EQ(g.close_session(s), TEE_SUCCESS);
  EXPECT_EQ(g.fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_OK);
}

// Inv 35: the mediator trusts arg->ret for its bookkeeping only when the secure OS's a0 is OK.
// With ETHREAD_LIMIT from the secure OS (the mediator's call quota set above the secure thread
// count) the guest's own ret = 0 must neither keep a REGISTER_SHM pinned nor let an UNREGISTER_SHM
// unpin.
TEST_F(MessageTest, BookkeepingTrustsRetOnlyAfterOk) {
  hyp::MediatorLimits l;
  l.max_calls = 4;
  RawGuest& g = raw(1, l);
  uint32_t s1 = 0, s2 = 0;
  ASSERT_EQ(g.open_session(&s1), TEE_SUCCESS);
  ASSERT_EQ(g.open_session(&s2), TEE_SUCCESS);
  GBuf& b = g.client(2);
  const uint64_t c = g.new_cookie();
  ASSERT_EQ(g.register_buf(b, c), TEE_SUCCESS);
  Msg w1 = wait_msg(g, s1);
  Msg w2 = wait_msg(g, s2);
  w1.p(0).u.value.a = 50;
  w2.p(0).u.value.a = 50;
  Call c1 = g.start(w1);
  ASSERT_TRUE(g.step_until_wait(c1));
  Call c2 = g.start(w2);
  ASSERT_TRUE(g.step_until_wait(c2));
  const auto base = med().audit(1);
  {
    Msg m = g.msg(OPTEE_MSG_CMD_REGISTER_SHM, 1);
    m.p(0).attr = kNoncontigOut;
    m.p(0).u.tmem = {g.page_list(b), b.size(), g.new_cookie()};
    m->ret = TEE_SUCCESS;
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
    g.free_page(m.page);
  }
  EXPECT_EQ(med().audit(1).buffers, base.buffers);
  EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  {
    Msg m = g.msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    m.p(0).u.rmem = {0, 0, c};
    m->ret = TEE_SUCCESS;
    EXPECT_EQ(g.call(m), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
    g.free_page(m.page);
  }
  EXPECT_EQ(med().audit(1).buffers, base.buffers);
  EXPECT_EQ(med().audit(1).pinned_pages, base.pinned_pages);
  EXPECT_EQ(g.finish(c1), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(g.finish(c2), OPTEE_SMC_RETURN_OK);
  uint64_t sum = 0;
  EXPECT_EQ(g.invoke_sum(s1, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, b.size(), c}, &sum), TEE_SUCCESS);
  EXPECT_EQ(g.unregister_shm(c), TEE_SUCCESS);
  g.free_page(w1.page);
  g.free_page(w2.page);
  EXPECT_EQ(g.close_session(s1), TEE_SUCCESS);
  EXPECT_EQ(g.close_session(s2), TEE_SUCCESS);
}

// ============================================================================================
// Client programs in guests, through their kernels
// ============================================================================================

using KernelGuestTest = VirtTest;

// Page-aligned client memory of a test "process".
struct ClientMem {
  explicit ClientMem(size_t bytes) : size(bytes) {
    p = static_cast<uint8_t*>(std::aligned_alloc(kPage, (bytes + kPage - 1) / kPage * kPage));
  }
  ~ClientMem() { std::free(p); }
  uint8_t* p;
  size_t size;
};

// Inv 6, FM "the same cookie and the same session ids in two guests": two guest kernels number
// their sessions, shm ids and cookies alike; each guest's client works on its own memory only and
// closing in one guest changes nothing in the other.
TEST_F(KernelGuestTest, ClientsOfTwoGuestsShareNothing) {
  hyp::Guest* g1 = m().kernel_guest(1);
  hyp::Guest* g2 = m().kernel_guest(2);
  ASSERT_TRUE(g1 && g2);
  KernelClient c1(g1->kernel()), c2(g2->kernel());
  ASSERT_TRUE(c1.ok() && c2.ok());
  uint32_t s1 = 0, s2 = 0, ret = 0;
  ASSERT_EQ(c1.open_session(&s1, &ret), 0);
  ASSERT_EQ(ret, TEE_SUCCESS);
  ASSERT_EQ(c2.open_session(&s2, &ret), 0);
  ASSERT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(s1, s2);
  ClientMem m1(3 * kPage), m2(3 * kPage);
  std::memset(m1.p, 0x11, m1.size);
  std::memset(m2.p, 0x22, m2.size);
  int id1 = -1, id2 = -1;
  const int f1 = c1.register_mem(m1.p, m1.size, &id1);
  const int f2 = c2.register_mem(m2.p, m2.size, &id2);
  ASSERT_GE(f1, 0);
  ASSERT_GE(f2, 0);
  EXPECT_EQ(id1, id2);
  for (int round = 0; round < 3; ++round) {
    std::vector<tee_ioctl_param> p1 = {
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, id1, 100, m1.size - 100),
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 0x0F)};
    std::vector<tee_ioctl_param> p2 = {
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, id2, 100, m2.size - 100),
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 0xF0)};
    ASSERT_EQ(c1.invoke(s1, TA_SHM_TEST_CMD_XOR, p1, &ret), 0);
    EXPECT_EQ(ret, TEE_SUCCESS);
    ASSERT_EQ(c2.invoke(s2, TA_SHM_TEST_CMD_XOR, p2, &ret), 0);
    EXPECT_EQ(ret, TEE_SUCCESS);
    const uint8_t x1 = round % 2 == 0 ? 0x11 ^ 0x0F : 0x11;
    const uint8_t x2 = round % 2 == 0 ? 0x22 ^ 0xF0 : 0x22;
    for (size_t i = 0; i < m1.size; ++i) {
      ASSERT_EQ(m1.p[i], i < 100 ? 0x11 : x1) << i;
      ASSERT_EQ(m2.p[i], i < 100 ? 0x22 : x2) << i;
    }
  }
  // Guest 1 ends its session and its registration; guest 2's stay.
  EXPECT_EQ(c1.close(f1), 0);
  EXPECT_EQ(c1.close_session(s1), 0);
  EXPECT_EQ(os().audit(1).sessions, 0u);
  EXPECT_EQ(os().audit(1).registered_shm, 0u);
  EXPECT_EQ(os().audit(2).sessions, 1u);
  EXPECT_EQ(os().audit(2).registered_shm, 1u);
  std::vector<tee_ioctl_param> p = {
      KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, id2, 0, m2.size),
      KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 7)};
  ASSERT_EQ(c2.invoke(s2, TA_SHM_TEST_CMD_FILL, p, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  for (size_t i = 0; i < m2.size; ++i) ASSERT_EQ(m2.p[i], static_cast<uint8_t>(7 + i)) << i;
  EXPECT_EQ(c2.close(f2), 0);
  EXPECT_EQ(c2.close_session(s2), 0);
}

// FM "destroying a VM while one of its threads is suspended in RPC", through the hypervisor: a
// client of guest 1 sleeps in the TA with a registered buffer; killing the guest returns its call
// at once (with an error), its pins go, the partition goes; guest 2 never notices; the killed
// guest's kernel and memory are reaped once its client is out.
TEST_F(KernelGuestTest, KillingAGuestWithAClientInsideACall) {
  hyp::Guest* g1 = m().kernel_guest(1);
  hyp::Guest* g2 = m().kernel_guest(2);
  ASSERT_TRUE(g1 && g2);
  KernelClient by(g2->kernel());
  uint32_t bs = 0, ret = 0;
  ASSERT_EQ(by.open_session(&bs, &ret), 0);
  ClientMem bm(2 * kPage);
  int bid = -1;
  const int bfd = by.register_mem(bm.p, bm.size, &bid);
  ASSERT_GE(bfd, 0);
  std::atomic<bool> returned{false}, invoking{false};
  int rc = 0;
  uint32_t inner_ret = 0;
  std::thread client([&] {
    KernelClient c(g1->kernel());
    ASSERT_TRUE(c.ok());
    uint32_t s = 0, r = 0;
    ASSERT_EQ(c.open_session(&s, &r), 0);
    ASSERT_EQ(r, TEE_SUCCESS);
    ClientMem cm(4 * kPage);
    int id = -1;
    const int fd = c.register_mem(cm.p, cm.size, &id);
    ASSERT_GE(fd, 0);
    std::vector<tee_ioctl_param> p = {
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 20000),
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, id, 0, cm.size)};
    invoking = true;
    rc = c.invoke(s, TA_SHM_TEST_CMD_WAIT_CANCEL, p, &inner_ret);
    returned = true;
    c.close(fd);
    c.close_session(s);
  });
  const auto deadline = Clock::now() + kSafetyTimeout;
  while ((!invoking.load() || os().audit(1).busy_threads == 0) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(os().audit(1).busy_threads, 1u);
  EXPECT_GT(med().audit(1).pinned_pages, 4);  // the registered buffer and RPC arguments
  const auto t0 = Clock::now();
  m().hyp->kill_guest(1);
  client.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  EXPECT_TRUE(returned.load());
  EXPECT_TRUE(rc != 0 || inner_ret != TEE_SUCCESS) << rc << " " << hex(inner_ret);
  EXPECT_EQ(os().audit(1).partitions, 0u);
  EXPECT_EQ(g1->memory().pinned_pages(), 0);
  m().hyp->reap_guest(1);
  EXPECT_EQ(m().hyp->guest(1), nullptr);
  std::memset(bm.p, 1, bm.size);
  std::vector<tee_ioctl_param> p = {
      KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, bid, 0, bm.size),
      KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)};
  ASSERT_EQ(by.invoke(bs, TA_SHM_TEST_CMD_SUM, p, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(p[1].a, bm.size);
  EXPECT_EQ(by.close(bfd), 0);
  EXPECT_EQ(by.close_session(bs), 0);
}

// Inv 9, FM "guest A exhausts its threads; guest B is unaffected", through the kernels: while
// every secure thread of guest 1 sleeps in the TA, guest 2's clients run; guest 2 cannot cancel
// guest 1's sessions (its ids name its own sessions or nothing).
TEST_F(KernelGuestTest, ThreadsAreCountedPerGuest) {
  hyp::Guest* g1 = m().kernel_guest(1);
  hyp::Guest* g2 = m().kernel_guest(2);
  ASSERT_TRUE(g1 && g2);
  std::vector<std::thread> sleepers;
  std::atomic<int> slept{0};
  KernelClient c1(g1->kernel());
  uint32_t ss[2] = {0, 0}, ret = 0;
  for (uint32_t& s : ss) {
    ASSERT_EQ(c1.open_session(&s, &ret), 0);
    ASSERT_EQ(ret, TEE_SUCCESS);
  }
  for (int i = 0; i < 2; ++i)
    sleepers.emplace_back([&, i] {
      std::vector<tee_ioctl_param> p = {
          KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 2000)};
      uint32_t r = 0;
      EXPECT_EQ(c1.invoke(ss[i], TA_SHM_TEST_CMD_WAIT_CANCEL, p, &r, /*cancel_id=*/10 + i), 0);
      if (r == TEE_SUCCESS) ++slept;
    });
  const auto deadline = Clock::now() + kSafetyTimeout;
  while (os().audit(1).busy_threads < 2 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(os().audit(1).busy_threads, 2u);
  KernelClient c2(g2->kernel());
  uint32_t s2 = 0;
  ASSERT_EQ(c2.open_session(&s2, &ret), 0);
  for (uint64_t i = 0; i < 20; ++i) {
    std::vector<tee_ioctl_param> p = {KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, i)};
    ASSERT_EQ(c2.invoke(s2, TA_SHM_TEST_CMD_INC, p, &ret), 0);
    EXPECT_EQ(p[0].a, i + 1);
  }
  EXPECT_EQ(c2.close_session(s2), 0);
  EXPECT_EQ(c2.cancel(ss[0], 10), -EINVAL);
  EXPECT_EQ(c2.cancel(ss[1], 11), -EINVAL);
  EXPECT_EQ(os().audit(1).busy_threads, 2u);
  for (auto& t : sleepers) t.join();
  EXPECT_EQ(slept.load(), 2);
  for (uint32_t s : ss) EXPECT_EQ(c1.close_session(s), 0);
}

// FM "a panic-inducing input from guest A takes down guest B": a TA panicking in guest 1 is dead
// for guest 1's session only; guest 2's instance of the same TA is another instance.
TEST_F(KernelGuestTest, TaPanicInOneGuestStaysThere) {
  hyp::Guest* g1 = m().kernel_guest(1);
  hyp::Guest* g2 = m().kernel_guest(2);
  ASSERT_TRUE(g1 && g2);
  KernelClient c1(g1->kernel()), c2(g2->kernel());
  uint32_t s1 = 0, s2 = 0, ret = 0;
  ASSERT_EQ(c1.open_session(&s1, &ret), 0);
  ASSERT_EQ(c2.open_session(&s2, &ret), 0);
  std::vector<tee_ioctl_param> none;
  ASSERT_EQ(c1.invoke(s1, TA_SHM_TEST_CMD_PANIC, none, &ret), 0);
  EXPECT_EQ(ret, TEE_ERROR_TARGET_DEAD);
  std::vector<tee_ioctl_param> p = {KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, 1)};
  ASSERT_EQ(c1.invoke(s1, TA_SHM_TEST_CMD_INC, p, &ret), 0);
  EXPECT_EQ(ret, TEE_ERROR_TARGET_DEAD);
  ASSERT_EQ(c2.invoke(s2, TA_SHM_TEST_CMD_INC, p, &ret), 0);
  EXPECT_EQ(ret, TEE_SUCCESS);
  EXPECT_EQ(c1.close_session(s1), 0);
  EXPECT_EQ(c2.close_session(s2), 0);
}


// ============================================================================================
// Stress: 16 guests x 4 client threads, one guest destroyed and recreated again and again
// ============================================================================================

// What the stress clients found wrong (reported at the end, at most a few).
class Problems {
 public:
  void add(std::string p) {
    std::lock_guard<std::mutex> l(mu_);
    ++count_;
    if (list_.size() < 20) list_.push_back(std::move(p));
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }
  std::string all() {
    std::lock_guard<std::mutex> l(mu_);
    std::string s;
    for (auto& p : list_) s += p + "\n";
    return s;
  }

 private:
  std::mutex mu_;
  size_t count_ = 0;
  std::vector<std::string> list_;
};

// One client program of a guest: random register / invoke / unregister / cancel / close on its
// guest's kernel, checking after every operation that each of its buffers holds exactly what it
// expects (the TA works in place on client memory, so another guest's data or a write meant for
// another guest would show up here). A client of a guest being destroyed stops at its first
// failure once `dying` is set; any other failure is a problem.
class StressClient {
 public:
  StressClient(ree::Kernel& k, uint16_t guest, int index, const std::atomic<bool>& stop,
               const std::atomic<bool>& dying, Problems& problems)
      : k_(k),
        guest_(guest),
        index_(index),
        stop_(stop),
        dying_(dying),
        problems_(problems),
        rng_(guest * 1000003u + static_cast<uint32_t>(index) * 7919u +
             static_cast<uint32_t>(Clock::now().time_since_epoch().count())) {}

  uint64_t ops() const { return ops_; }

  void run() {
    KernelClient c(k_);
    if (!c.ok()) return fail("open /dev/tee0");
    c_ = &c;
    uint32_t ret = 0;
    if (c.open_session(&session_, &ret) != 0 || ret != TEE_SUCCESS) return fail("open session");
    while (!stop_.load() && !failed_) {
      last_op_ = static_cast<int>(rng_() % 10);
      switch (last_op_) {
        case 0: op_register(); break;
        case 1: op_unregister(); break;
        case 2:
        case 3: op_xor(); break;
        case 4: op_sum(); break;
        case 5: op_fill_temporary(); break;
        case 6: op_cancel(); break;
        case 7: op_reopen(); break;
        default: op_inc(); break;
      }
      if (failed_) break;
      ++ops_;
      check_all();
    }
    for (auto& b : bufs_) c.close(b.fd);
    bufs_.clear();
    if (session_ != 0 && !failed_) c.close_session(session_);
    c_ = nullptr;
  }

 private:
  struct Buf {
    std::unique_ptr<ClientMem> mem;
    std::vector<uint8_t> expect;
    int fd = -1;
    int id = -1;
  };

  // A failed operation: a problem unless the guest is being destroyed.
  void fail(const std::string& what) {
    failed_ = true;
    if (dying_.load()) return;
    problems_.add("guest " + std::to_string(guest_) + " client " + std::to_string(index_) + ": " +
                  what);
  }
  // (Call it with values read after the operation: never as ok(op(&ret), ret, ...), whose
  // arguments may be evaluated in either order.)
  bool ok(int rc, uint32_t ret, const char* what, uint32_t also_ok = TEE_SUCCESS) {
    if (rc == 0 && (ret == TEE_SUCCESS || ret == also_ok)) return true;
    fail(std::string(what) + " rc=" + std::to_string(rc) + " ret=" + hex(ret));
    return false;
  }
  void check_all() {
    for (auto& b : bufs_)
      if (std::memcmp(b.mem->p, b.expect.data(), b.expect.size()) != 0) {
        size_t i = 0;
        while (b.mem->p[i] == b.expect[i]) ++i;
        size_t bad = 0, last = 0;
        for (size_t j = 0; j < b.expect.size(); ++j)
          if (b.mem->p[j] != b.expect[j]) ++bad, last = j;
        problems_.add("  " + std::to_string(bad) + " bad bytes up to " + std::to_string(last) +
                      " of " + std::to_string(b.expect.size()) + "; last xor " + last_xor_);
        problems_.add("guest " + std::to_string(guest_) + " client " + std::to_string(index_) +
                      ": buffer byte " + std::to_string(i) + " is " + hex(b.mem->p[i]) +
                      ", expected " + hex(b.expect[i]) + " after op " + std::to_string(last_op_) +
                      (dying_.load() ? " (dying)" : ""));
        failed_ = true;
        return;
      }
  }
  size_t pages() { return 1 + rng_() % 48; }
  void pattern(std::vector<uint8_t>& v) {
    const uint8_t seed = static_cast<uint8_t>(rng_());
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<uint8_t>(seed + guest_ * 31 + index_ * 7 + i * 13 + (i >> 9));
  }
  bool make(Buf& b, size_t bytes) {
    b.mem = std::make_unique<ClientMem>(bytes);
    b.expect.resize(bytes);
    pattern(b.expect);
    std::memcpy(b.mem->p, b.expect.data(), bytes);
    b.fd = c_->register_mem(b.mem->p, bytes, &b.id);
    if (b.fd < 0) {
      fail("register " + std::to_string(bytes) + " bytes: " + std::to_string(b.fd));
      return false;
    }
    return true;
  }
  Buf* any() { return bufs_.empty() ? nullptr : &bufs_[rng_() % bufs_.size()]; }

  void op_register() {
    if (bufs_.size() >= 2) return op_unregister();
    Buf b;
    if (!make(b, pages() * kPage - rng_() % 100)) return;
    bufs_.push_back(std::move(b));
  }
  void op_unregister() {
    if (bufs_.empty()) return op_register();
    const size_t i = rng_() % bufs_.size();
    c_->close(bufs_[i].fd);
    bufs_.erase(bufs_.begin() + static_cast<long>(i));
  }
  void op_xor() {
    Buf* b = any();
    if (b == nullptr) return op_register();
    const size_t off = rng_() % b->expect.size();
    const size_t len = 1 + rng_() % (b->expect.size() - off);
    const uint8_t key = static_cast<uint8_t>(1 + rng_() % 255);
    std::vector<tee_ioctl_param> p = {
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, b->id, off, len),
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, key)};
    uint32_t ret = 0;
    last_xor_ = std::to_string(off) + "+" + std::to_string(len) + "^" + hex(key);
    const int rc = c_->invoke(session_, TA_SHM_TEST_CMD_XOR, p, &ret);
    if (!ok(rc, ret, "XOR")) return;
    for (size_t i = off; i < off + len; ++i) b->expect[i] ^= key;
  }
  void op_sum() {
    Buf* b = any();
    if (b == nullptr) return op_register();
    std::vector<tee_ioctl_param> p = {
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, b->id, 0, b->expect.size()),
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)};
    uint32_t ret = 0;
    const int rc = c_->invoke(session_, TA_SHM_TEST_CMD_SUM, p, &ret);
    if (!ok(rc, ret, "SUM")) return;
    const uint64_t got = (p[1].b << 32) | p[1].a;
    const uint64_t want = sum_bytes(b->expect.data(), b->expect.size());
    if (got != want) fail("SUM " + std::to_string(got) + " != " + std::to_string(want));
  }
  // A temporary buffer (registered for one call, as libteec does with a client's memory).
  void op_fill_temporary() {
    Buf t;
    if (!make(t, pages() * kPage)) return;
    const uint8_t seed = static_cast<uint8_t>(rng_());
    std::vector<tee_ioctl_param> p = {
        KernelClient::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, t.id, 0, t.expect.size()),
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, seed)};
    uint32_t ret = 0;
    const int rc = c_->invoke(session_, TA_SHM_TEST_CMD_FILL, p, &ret);
    const bool good = ok(rc, ret, "FILL");
    c_->close(t.fd);
    if (!good) return;
    for (size_t i = 0; i < t.expect.size(); ++i)
      if (t.mem->p[i] != static_cast<uint8_t>(seed + i))
        return fail("FILL byte " + std::to_string(i) + " is " + hex(t.mem->p[i]));
  }
  void op_cancel() {
    uint32_t s = 0, ret = 0;
    const int orc = c_->open_session(&s, &ret);
    if (!ok(orc, ret, "open for cancel")) return;
    const uint32_t cancel_id = 0x1000 + static_cast<uint32_t>(rng_() % 1000);
    int wrc = 0;
    uint32_t wret = 0;
    std::thread waiter([&] {
      std::vector<tee_ioctl_param> p = {
          KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 30 + rng2() % 50)};
      wrc = c_->invoke(s, TA_SHM_TEST_CMD_WAIT_CANCEL, p, &wret, cancel_id);
    });
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 3000));
    const int crc = c_->cancel(s, cancel_id);
    waiter.join();
    if (crc != 0 && !dying_.load()) fail("cancel rc=" + std::to_string(crc));
    ok(wrc, wret, "WAIT_CANCEL", TEE_ERROR_CANCEL);
    if (c_->close_session(s) != 0) fail("close cancelled session");
  }
  void op_reopen() {
    if (c_->close_session(session_) != 0) return fail("close session");
    session_ = 0;
    uint32_t ret = 0;
    if (c_->open_session(&session_, &ret) != 0 || ret != TEE_SUCCESS) {
      session_ = 0;
      fail("reopen session ret=" + hex(ret));
    }
  }
  void op_inc() {
    const uint64_t a = rng_() % 1000000;
    std::vector<tee_ioctl_param> p = {
        KernelClient::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, a, a * 3)};
    uint32_t ret = 0;
    const int rc = c_->invoke(session_, TA_SHM_TEST_CMD_INC, p, &ret);
    if (!ok(rc, ret, "INC")) return;
    if (p[0].a != a + 1 || p[0].b != a * 3 + 2) fail("INC result");
  }
  uint32_t rng2() {
    std::lock_guard<std::mutex> l(rng2_mu_);
    return static_cast<uint32_t>(rng2_());
  }

  ree::Kernel& k_;
  uint16_t guest_;
  int index_;
  const std::atomic<bool>& stop_;
  const std::atomic<bool>& dying_;
  Problems& problems_;
  std::mt19937 rng_;
  std::mutex rng2_mu_;
  std::mt19937 rng2_{12345};
  KernelClient* c_ = nullptr;
  uint32_t session_ = 0;
  std::vector<Buf> bufs_;
  bool failed_ = false;
  uint64_t ops_ = 0;
  int last_op_ = -1;
  std::string last_xor_;
};

// How long the stress runs: TEEMU_VIRT_STRESS_SECONDS, else `def`.
std::chrono::milliseconds stress_duration(int def_seconds) {
  const char* e = std::getenv("TEEMU_VIRT_STRESS_SECONDS");
  const double s = e != nullptr ? std::atof(e) : def_seconds;
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

class StressTest : public VirtTest {
 protected:
  void stress(std::chrono::milliseconds duration) {
    constexpr uint16_t kGuests = 16;
    constexpr int kClients = 4;
    constexpr uint16_t kVictim = kGuests;
    tap().set_recording(false);
    for (uint16_t id = 1; id <= kGuests; ++id) ASSERT_NE(m().kernel_guest(id), nullptr);
    Problems problems;
    std::atomic<bool> stop{false}, never{false};
    std::vector<std::unique_ptr<StressClient>> clients;
    std::vector<std::thread> threads;
    for (uint16_t id = 1; id < kVictim; ++id)
      for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<StressClient>(m().hyp->guest(id)->kernel(), id, i,
                                                         stop, never, problems));
        threads.emplace_back([c = clients.back().get()] { c->run(); });
      }
    // The victim: its clients run until the guest is destroyed under them; then it comes back.
    int epochs = 0;
    uint64_t victim_ops = 0;
    std::thread victim([&] {
      std::mt19937 rng(99);
      while (!stop.load()) {
        hyp::Guest* g = m().hyp->guest(kVictim);
        if (g == nullptr) g = m().kernel_guest(kVictim);
        if (g == nullptr) return problems.add("victim not recreated");
        std::atomic<bool> dying{false};
        std::vector<std::unique_ptr<StressClient>> vc;
        std::vector<std::thread> vt;
        for (int i = 0; i < kClients; ++i) {
          vc.push_back(
              std::make_unique<StressClient>(g->kernel(), kVictim, i, stop, dying, problems));
          vt.emplace_back([c = vc.back().get()] { c->run(); });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 300));
        dying = true;
        m().hyp->kill_guest(kVictim);
        for (auto& t : vt) t.join();
        for (auto& c : vc) victim_ops += c->ops();
        if (g->memory().pinned_pages() != 0) problems.add("victim pages pinned after kill");
        if (os().audit(kVictim).partitions != 0) problems.add("victim partition after kill");
        m().hyp->reap_guest(kVictim);
        ++epochs;
      }
    });
    std::this_thread::sleep_for(duration);
    stop = true;
    victim.join();
    for (auto& t : threads) t.join();
    EXPECT_EQ(problems.count(), 0u) << problems.all();
    uint64_t total = victim_ops;
    for (auto& c : clients) {
      EXPECT_GT(c->ops(), 0u);
      total += c->ops();
    }
    EXPECT_GE(epochs, 3);
    std::printf("stress: %llu operations in %lld ms, guest %u destroyed %d times\n",
                static_cast<unsigned long long>(total), static_cast<long long>(duration.count()),
                kVictim, epochs);
    // Quiescent: nothing of any client is left in the secure OS or the mediator.
    auto a = os().audit();
    EXPECT_EQ(a.sessions, 0u);
    EXPECT_EQ(a.instances, 0u);
    EXPECT_EQ(a.registered_shm, 0u);
    EXPECT_EQ(a.busy_threads, 0u);
    EXPECT_EQ(a.charged_bytes, 0u);
    for (uint16_t id : m().hyp->guest_ids()) {
      auto ma = med().audit(id);
      EXPECT_EQ(ma.buffers, 0u) << id;
      EXPECT_EQ(ma.calls, 0u) << id;
      EXPECT_EQ(static_cast<size_t>(ma.pinned_pages), ma.rpc_args) << id;
      hyp::Guest* g = m().hyp->guest(id);
      EXPECT_EQ(g->memory().pinned_pages(), ma.pinned_pages) << id;
      EXPECT_EQ(g->memory().zombie_pages(), 0) << id;
      auto ka = g->kernel().audit();
      EXPECT_EQ(ka.open_files, 1u) << id;  // the supplicant's
      EXPECT_EQ(ka.sessions, 0u) << id;
      EXPECT_EQ(ka.client_shm, 0u) << id;
    }
    // The fixture's teardown destroys every guest and checks the machine is back to its boot
    // state (page pool, aliased frames, one VM_DESTROYED per VM_CREATED).
  }
};

// The issue's stress test, bounded for the normal suite (TEEMU_VIRT_STRESS_SECONDS overrides).
TEST_F(StressTest, SixteenGuestsFourClientsEachOneGuestRecreated) { stress(stress_duration(12)); }

// The same for two minutes: run with --gtest_also_run_disabled_tests.
TEST_F(StressTest, DISABLED_SixteenGuestsLong) { stress(stress_duration(120)); }

}  // namespace
}  // namespace teemu
