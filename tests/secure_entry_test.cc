// Boundary suite "hostile normal world -> secure OS": the test is the normal world. It builds its
// own machine (physical memory, secure OS, TA loader), writes message arguments and page lists
// into non-secure pages by hand, issues SMCs through the conduit and answers every RPC itself
// (MiniNw below), so it can lie wherever the real driver would not. Each test states the check it
// proves with its reference item: reference/linux-optee-abi.md section 9.5 (#37-#49) and
// reference/virtualization.md part B (B.1-B.9).
//
// Every test ends with the quiescence audit (SecureEntryTest::TearDown): the normal world takes
// back the cached RPC arguments with DISABLE_SHM_CACHE, the secure OS holds no session, instance,
// registered shm or busy thread, and every RPC buffer the normal world handed out came back
// through RPC FREE / SHM_FREE.
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
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../tas/shm_test/include/shm_test_ta.h"
#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "ta_runtime/dl_loader.h"
#include "tee/page_list.h"
#include "tee/secure_os.h"
#include "tee/thread.h"

namespace teemu {
namespace {

using namespace teemu::abi;  // NOLINT: wire constants keep their spec names
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
constexpr Uuid kTaUuid = {
    {0xf9, 0xb9, 0xac, 0xc0, 0x80, 0x6d, 0x41, 0x5c, 0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
constexpr Uuid kOtherUuid = {{0x12, 0x34, 0x56, 0x78, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}};
constexpr uint64_t kMetaValueIn = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
constexpr uint64_t kRegisterAttr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
constexpr uint64_t kHarnessCookieBase = 0xC0C0000000001000ull;
// A normal-world sleep longer than this means the secure side waits for a wake-up that never
// comes (a lost NOTIFICATION SEND): the test aborts instead of hanging.
constexpr auto kSafetyTimeout = std::chrono::seconds(10);
// A physical address with no frame behind it (below the scrambled window, above the carve-out).
constexpr uint64_t kUnmappedPa = 0x70000000;

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

uint64_t sum_bytes(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

void fill_pattern(uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 12));
}

// --- a TA loader that lets a test run code on the secure thread while a TA entry point runs ---

class ProbeLoader;

class ProbeInstance : public tee::TaInstance {
 public:
  ProbeInstance(std::unique_ptr<tee::TaInstance> inner, ProbeLoader& owner)
      : inner_(std::move(inner)), owner_(owner) {}
  const tee::TaProperties& properties() const override { return inner_->properties(); }
  tee::TaOutcome create() override { return inner_->create(); }
  tee::TaOutcome open_session(tee::TaParams& p, void** ctx) override {
    return inner_->open_session(p, ctx);
  }
  tee::TaOutcome invoke(void* ctx, uint32_t cmd, tee::TaParams& p) override;
  tee::TaOutcome close_session(void* ctx) override { return inner_->close_session(ctx); }
  tee::TaOutcome destroy() override { return inner_->destroy(); }

 private:
  std::unique_ptr<tee::TaInstance> inner_;
  ProbeLoader& owner_;
};

class ProbeLoader : public tee::TaLoader {
 public:
  Result<std::unique_ptr<tee::TaInstance>> instantiate(
      const Uuid& uuid, const std::vector<uint8_t>& image) override {
    auto inner = dl_.instantiate(uuid, image);
    if (!inner) return tl::unexpected(inner.error());
    return std::unique_ptr<tee::TaInstance>(new ProbeInstance(std::move(*inner), *this));
  }
  // Runs on the secure thread (its fiber) before each TA invoke, while the thread is active.
  std::function<void(uint32_t cmd)> on_invoke;

 private:
  ta_runtime::DlTaLoader dl_;
};

tee::TaOutcome ProbeInstance::invoke(void* ctx, uint32_t cmd, tee::TaParams& p) {
  if (owner_.on_invoke) owner_.on_invoke(cmd);
  return inner_->invoke(ctx, cmd, p);
}

// --- the mini normal world ---

struct NwOptions {
  uint64_t static_shm_size = 2ull << 20;
  bool dynamic_shm = true;
  uint32_t threads = 2;
};

struct NsPage {
  Pfn pfn = 0;
  uint64_t pa = 0;
  std::byte* host = nullptr;
};

// Client memory pinned for the secure world: host pages aliased by fresh (scattered) frames.
struct ClientBuf {
  std::byte* host = nullptr;
  size_t pages = 0;
  std::vector<Pfn> pfns;
  uint8_t* bytes() const { return reinterpret_cast<uint8_t*>(host); }
  uint64_t pa(size_t i) const { return pfn_to_pa(pfns[i]).value; }
  size_t size() const { return pages * kPage; }
  std::vector<uint64_t> entries() const {
    std::vector<uint64_t> e;
    for (size_t i = 0; i < pages; ++i) e.push_back(pa(i));
    return e;
  }
};

// A message argument in its own non-secure page.
struct Msg {
  NsPage page;
  optee_msg_arg* arg = nullptr;
  uint64_t pa = 0;
  optee_msg_arg* operator->() const { return arg; }
  optee_msg_param& p(size_t i) const { return arg->params[i]; }
};

// A std call in flight: the registers the secure world last returned.
struct Call {
  SmcRegs out;
  std::byte* rpc_arg = nullptr;  // RPC arg supplied with CALL_WITH_RPC_ARG / CALL_WITH_REGD_ARG
  uint32_t a0() const { return out.w(0); }
  bool done() const { return !optee_smc_return_is_rpc(out.w(0)); }
  uint32_t thread() const { return out.w(3); }
  uint32_t func() const { return optee_smc_return_get_rpc_func(out.w(0)); }
};

// One RPC being answered: hooks see it before the default service and may answer it themselves.
struct Rpc {
  uint32_t func = 0;
  uint32_t thread = 0;
  SmcRegs out;
  optee_msg_arg* arg = nullptr;  // RPC_FUNC_CMD only
  SmcRegs reply;                 // what RETURN_FROM_RPC carries
  uint32_t cmd() const { return arg != nullptr ? arg->cmd : ~0u; }
};

// What the normal world saw, in order.
struct Event {
  uint32_t thread = 0;
  uint32_t func = 0;
  uint32_t cmd = ~0u;  // RPC CMD only
  uint64_t a = 0;      // CMD: params[0].value.a; ALLOC: size; FREE: cookie
  uint64_t b = 0;      // CMD: params[0].value.b
  uint64_t c = 0;      // CMD: params[0].value.c
  bool is_cmd(uint32_t c_) const { return func == OPTEE_SMC_RPC_FUNC_CMD && cmd == c_; }
  bool is_wait() const { return is_cmd(OPTEE_RPC_CMD_NOTIFICATION) && a == OPTEE_RPC_NOTIFICATION_WAIT; }
  bool is_send() const { return is_cmd(OPTEE_RPC_CMD_NOTIFICATION) && a == OPTEE_RPC_NOTIFICATION_SEND; }
};

class MiniNw {
 public:
  explicit MiniNw(const NwOptions& o) : ta_image(ta_file()) {
    hw::PhysMemConfig pm;
    pm.static_shm_size = o.static_shm_size;
    pm.ns_dram_size = 64ull << 20;
    mem_ = hw::PhysMem::create(pm);
    tee::SecureOsConfig oc;
    oc.num_threads = o.threads;
    oc.dynamic_shm = o.dynamic_shm;
    oc.thread_stack_size = 256 * 1024;
    os_ = std::make_unique<tee::SecureOs>(*mem_, stats_, loader_, oc);
    // As the Linux driver at probe: turn the RPC argument cache on.
    EXPECT_EQ(fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_OK);
  }

  ~MiniNw() {
    os_.reset();  // the secure world first: nothing may reach normal-world memory afterwards
    for (auto& [cookie, p] : rpc_args_) mem_->free_ns_page(p.pfn);
    for (auto& [cookie, b] : shm_bufs_) release_shm_buf(b);
    for (auto& c : clients_) {
      mem_->unalias(c->pfns);
      std::free(c->host);
    }
    for (Pfn p : pages_) mem_->free_ns_page(p);
    EXPECT_EQ(mem_->ns_pages_in_use(), 0);
    EXPECT_EQ(mem_->frames_aliased(), 0);
  }

  hw::PhysMem& mem() { return *mem_; }
  tee::SecureOs& os() { return *os_; }
  ProbeLoader& loader() { return loader_; }

  SmcRegs smc(const SmcRegs& in) { return os_->smc(in); }
  SmcRegs fast(uint32_t fid, uint64_t a1 = 0) {
    SmcRegs in;
    in[0] = fid;
    in[1] = a1;
    return os_->smc(in);
  }

  // --- memory ---
  NsPage page() {
    auto pfn = mem_->alloc_ns_page();
    EXPECT_TRUE(pfn.has_value());
    NsPage p{*pfn, pfn_to_pa(*pfn).value, mem_->host_of(*pfn)};
    std::lock_guard<std::mutex> l(mu_);
    pages_.insert(p.pfn);
    return p;
  }
  void free_page(const NsPage& p) {
    {
      std::lock_guard<std::mutex> l(mu_);
      pages_.erase(p.pfn);
    }
    mem_->free_ns_page(p.pfn);
  }
  ClientBuf& client(size_t pages) {
    auto b = std::make_unique<ClientBuf>();
    b->host = static_cast<std::byte*>(std::aligned_alloc(kPage, pages * kPage));
    std::memset(b->host, 0, pages * kPage);
    b->pages = pages;
    b->pfns.resize(pages);
    EXPECT_TRUE(mem_->alias_host_pages(reinterpret_cast<uintptr_t>(b->host), b->pfns));
    clients_.push_back(std::move(b));
    return *clients_.back();
  }
  // Writes `entries` as a NONCONTIG page list (511 entries and a next pointer per list page) into
  // fresh pages; returns the buf_ptr value (first list page | offset).
  uint64_t page_list(const std::vector<uint64_t>& entries, uint32_t offset = 0,
                     std::vector<NsPage>* lists = nullptr) {
    const size_t n = entries.size();
    const size_t count = std::max<size_t>(1, (n + kPageListEntriesPerPage - 1) /
                                                 kPageListEntriesPerPage);
    std::vector<NsPage> lp;
    for (size_t i = 0; i < count; ++i) lp.push_back(page());
    size_t idx = 0;
    for (size_t l = 0; l < count; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(lp[l].host);
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < n; ++e)
        pg->pages_list[e] = entries[idx++];
      if (l + 1 < count) pg->next_page_data = lp[l + 1].pa;
    }
    if (lists != nullptr) *lists = lp;
    return lp[0].pa | offset;
  }
  uint64_t page_list(const ClientBuf& b, uint32_t offset = 0) {
    return page_list(b.entries(), offset);
  }

  // --- messages ---
  Msg msg(uint32_t cmd, uint32_t num_params) {
    Msg m;
    m.page = page();
    m.arg = reinterpret_cast<optee_msg_arg*>(m.page.host);
    m.pa = m.page.pa;
    m.arg->cmd = cmd;
    m.arg->num_params = num_params;
    return m;
  }
  static void set_open_meta(const Msg& m, const Uuid& uuid, uint32_t login = OPTEE_MSG_LOGIN_PUBLIC) {
    m.p(0).attr = kMetaValueIn;
    m.p(0).u.value = {value_a(uuid), value_b(uuid), 0};
    m.p(1).attr = kMetaValueIn;
    m.p(1).u.value = {0x1111, 0x2222, login};
  }
  static SmcRegs with_arg(uint64_t pa, uint32_t fid = OPTEE_SMC_CALL_WITH_ARG) {
    SmcRegs in;
    in[0] = fid;
    reg_pair_from_64(pa, in[1], in[2]);
    return in;
  }
  static SmcRegs with_regd_arg(uint64_t cookie, uint32_t offset) {
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_WITH_REGD_ARG;
    reg_pair_from_64(cookie, in[1], in[2]);
    in[3] = offset;
    return in;
  }

  // --- std calls ---
  Call start(const SmcRegs& in, std::byte* rpc_arg = nullptr) {
    Call c;
    c.rpc_arg = rpc_arg;
    c.out = os_->smc(in);
    return c;
  }
  // The RPC argument of the call's pending RPC_FUNC_CMD (nullptr otherwise).
  optee_msg_arg* pending_cmd(const Call& c) {
    if (c.done() || c.func() != OPTEE_SMC_RPC_FUNC_CMD) return nullptr;
    const uint64_t cookie = reg_pair_to_64(c.out[1], c.out[2]);
    if (cookie == 0 && c.rpc_arg != nullptr) return reinterpret_cast<optee_msg_arg*>(c.rpc_arg);
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
    c.out = os_->smc(r.reply);
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
  bool step_until_wait(Call& c) {
    return step_until(c, [](const Call&, const optee_msg_arg* a) {
      return a != nullptr && a->cmd == OPTEE_RPC_CMD_NOTIFICATION &&
             a->params[0].u.value.a == OPTEE_RPC_NOTIFICATION_WAIT;
    });
  }
  uint32_t run(const SmcRegs& in, std::byte* rpc_arg = nullptr) {
    Call c = start(in, rpc_arg);
    return finish(c);
  }
  uint32_t call(const Msg& m) { return run(with_arg(m.pa)); }

  // --- the default RPC service (what Linux + tee-supplicant answer) ---
  void serve(Rpc& r) {
    switch (r.func) {
      case OPTEE_SMC_RPC_FUNC_ALLOC: answer_alloc(r); break;
      case OPTEE_SMC_RPC_FUNC_FREE: {
        const uint64_t cookie = reg_pair_to_64(r.out[1], r.out[2]);
        NsPage p;
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
        mem_->free_ns_page(p.pfn);
        break;
      }
      case OPTEE_SMC_RPC_FUNC_CMD:
        if (r.arg != nullptr) serve_cmd(*r.arg);
        break;
      default: break;
    }
  }
  // Answers RPC_FUNC_ALLOC with a fresh page (a1/a2) and its cookie (a4/a5); returns the cookie.
  uint64_t answer_alloc(Rpc& r) {
    auto pfn = mem_->alloc_ns_page();
    EXPECT_TRUE(pfn.has_value());
    NsPage p{*pfn, pfn_to_pa(*pfn).value, mem_->host_of(*pfn)};
    uint64_t cookie;
    {
      std::lock_guard<std::mutex> l(mu_);
      cookie = next_cookie_++;
      rpc_args_[cookie] = p;
    }
    reg_pair_from_64(p.pa, r.reply[1], r.reply[2]);
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
  // A real RPC payload buffer: client-style pages behind a page list; returns its cookie.
  uint64_t alloc_shm_buf(uint64_t size, uint64_t* buf_ptr) {
    ShmBuf b;
    b.pages = std::max<uint64_t>(1, (size + kPage - 1) / kPage);
    b.host = static_cast<std::byte*>(std::aligned_alloc(kPage, b.pages * kPage));
    std::memset(b.host, 0, b.pages * kPage);
    b.pfns.resize(b.pages);
    EXPECT_TRUE(mem_->alias_host_pages(reinterpret_cast<uintptr_t>(b.host), b.pfns));
    const size_t lists = (b.pages + kPageListEntriesPerPage - 1) / kPageListEntriesPerPage;
    for (size_t l = 0; l < lists; ++l) {
      auto pfn = mem_->alloc_ns_page();
      EXPECT_TRUE(pfn.has_value());
      b.lists.push_back(*pfn);
    }
    size_t idx = 0;
    for (size_t l = 0; l < lists; ++l) {
      auto* pg = reinterpret_cast<optee_page_list_page*>(mem_->host_of(b.lists[l]));
      for (size_t e = 0; e < kPageListEntriesPerPage && idx < b.pages; ++e)
        pg->pages_list[e] = pfn_to_pa(b.pfns[idx++]).value;
      if (l + 1 < lists) pg->next_page_data = pfn_to_pa(b.lists[l + 1]).value;
    }
    *buf_ptr = pfn_to_pa(b.lists[0]).value;
    std::lock_guard<std::mutex> l(mu_);
    const uint64_t cookie = next_cookie_++;
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
    a.params[0].attr = kRegisterAttr;
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
    if (!(u == served_uuid) || ta_image.empty()) {
      a.ret = TEE_ERROR_ITEM_NOT_FOUND;
      return;
    }
    const uint64_t type = a.params[1].attr & OPTEE_MSG_ATTR_TYPE_MASK;
    std::byte* dst = nullptr;
    uint64_t cap = 0;
    if (type == OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT) {
      const uint64_t pa = a.params[1].u.tmem.buf_ptr;
      cap = a.params[1].u.tmem.size;
      if (pa != 0) dst = mem_->ns_range(PhysAddr{pa}, cap);
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

  // --- the events the normal world saw ---
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
  // The normal world takes back an RPC argument page the secure world returned (DISABLE_SHM_CACHE).
  bool take_back_rpc_arg(uint64_t cookie) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = rpc_args_.find(cookie);
    if (it == rpc_args_.end()) return false;
    mem_->free_ns_page(it->second.pfn);
    rpc_args_.erase(it);
    return true;
  }
  size_t live_shm_bufs() {
    std::lock_guard<std::mutex> l(mu_);
    return shm_bufs_.size();
  }

  // --- session and shm helpers (SMC-level errors are test failures) ---
  uint32_t open_session(uint32_t* session, uint32_t* origin = nullptr,
                        uint32_t login = OPTEE_MSG_LOGIN_PUBLIC) {
    Msg m = msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
    set_open_meta(m, kTaUuid, login);
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
                        uint64_t attr = kRegisterAttr) {
    Msg m = msg(OPTEE_MSG_CMD_REGISTER_SHM, 1);
    m.p(0).attr = attr;
    m.p(0).u.tmem = {buf_ptr, size, cookie};
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }
  uint32_t register_buf(const ClientBuf& b, uint64_t cookie) {
    std::vector<NsPage> lists;
    const uint64_t buf_ptr = page_list(b.entries(), 0, &lists);
    const uint32_t ret = register_shm(buf_ptr, b.size(), cookie);
    for (const NsPage& p : lists) free_page(p);  // as Linux: the list lives until the SMC returns
    return ret;
  }
  uint32_t unregister_shm(uint64_t cookie, uint32_t* origin = nullptr) {
    Msg m = msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    m.p(0).u.rmem = {0, 0, cookie};
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
    EXPECT_EQ(call(m), OPTEE_SMC_RETURN_OK);
    *sum = (m.p(1).u.value.b << 32) | m.p(1).u.value.a;
    if (origin != nullptr) *origin = m->ret_origin;
    const uint32_t ret = m->ret;
    free_page(m.page);
    return ret;
  }

  // --- teardown audit ---
  std::vector<std::string> teardown_audit() {
    std::vector<std::string> problems;
    // Take back every cached RPC argument, as the driver does when it is removed.
    for (int i = 0;; ++i) {
      SmcRegs r = fast(OPTEE_SMC_DISABLE_SHM_CACHE);
      if (r.w(0) == OPTEE_SMC_RETURN_ENOTAVAIL) break;
      if (r.w(0) != OPTEE_SMC_RETURN_OK || i > 64) {
        problems.push_back("DISABLE_SHM_CACHE returned " + hex(r.w(0)));
        break;
      }
      const uint64_t cookie = reg_pair_to_64(r[1], r[2]);
      std::lock_guard<std::mutex> l(mu_);
      auto it = rpc_args_.find(cookie);
      if (it == rpc_args_.end()) {
        problems.push_back("DISABLE_SHM_CACHE gave back unknown cookie " + hex(cookie));
        continue;
      }
      mem_->free_ns_page(it->second.pfn);
      rpc_args_.erase(it);
    }
    auto a = os_->audit();
    if (a.sessions != 0) problems.push_back("sessions=" + std::to_string(a.sessions));
    if (a.instances != 0) problems.push_back("instances=" + std::to_string(a.instances));
    if (a.registered_shm != 0)
      problems.push_back("registered_shm=" + std::to_string(a.registered_shm));
    if (a.registered_pages != 0)
      problems.push_back("registered_pages=" + std::to_string(a.registered_pages));
    if (a.registered_frames_kept != 0)
      problems.push_back("registered_frames_kept=" + std::to_string(a.registered_frames_kept));
    if (a.busy_threads != 0) problems.push_back("busy_threads=" + std::to_string(a.busy_threads));
    if (a.cached_rpc_args != 0)
      problems.push_back("cached_rpc_args=" + std::to_string(a.cached_rpc_args));
    std::lock_guard<std::mutex> l(mu_);
    if (!rpc_args_.empty())
      problems.push_back("RPC args never freed: " + std::to_string(rpc_args_.size()));
    if (!shm_bufs_.empty())
      problems.push_back("RPC SHM_ALLOC buffers never freed: " + std::to_string(shm_bufs_.size()));
    return problems;
  }

  std::function<bool(Rpc&)> hook;       // set before calls start; must be thread safe
  std::vector<uint8_t> ta_image;        // what LOAD_TA serves
  Uuid served_uuid = kTaUuid;           // the UUID LOAD_TA serves it for

 private:
  struct ShmBuf {
    std::byte* host = nullptr;
    uint64_t pages = 0;
    std::vector<Pfn> pfns;
    std::vector<Pfn> lists;
  };
  void release_shm_buf(ShmBuf& b) {
    mem_->unalias(b.pfns);
    for (Pfn p : b.lists) mem_->free_ns_page(p);
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

  std::unique_ptr<hw::PhysMem> mem_;
  hw::MachineStats stats_;
  ProbeLoader loader_;
  std::unique_ptr<tee::SecureOs> os_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Pfn> pages_;                         // the test's own pages
  std::vector<std::unique_ptr<ClientBuf>> clients_;
  std::map<uint64_t, NsPage> rpc_args_;         // RPC_FUNC_ALLOC cookie -> page
  std::map<uint64_t, ShmBuf> shm_bufs_;         // RPC SHM_ALLOC cookie -> buffer
  std::map<uint64_t, uint32_t> pending_;        // notification key -> sends not yet consumed
  std::vector<Event> events_;
  uint64_t next_cookie_ = kHarnessCookieBase;
};

class SecureEntryTest : public ::testing::Test {
 protected:
  void SetUp() override { boot(NwOptions{}); }
  void TearDown() override { shutdown(); }
  void boot(const NwOptions& o) {
    shutdown();
    nw_ = std::make_unique<MiniNw>(o);
  }
  void shutdown() {
    if (!nw_) return;
    auto problems = nw_->teardown_audit();
    std::string all;
    for (auto& p : problems) all += p + "; ";
    EXPECT_TRUE(problems.empty()) << all;
    nw_.reset();
  }
  MiniNw& nw() { return *nw_; }

  std::unique_ptr<MiniNw> nw_;
};


// A minimal INVOKE of a session that does not exist: if the secure OS accepts the argument it
// answers BAD_PARAMETERS in arg->ret; if it refuses the location, the SMC fails and `ret` keeps
// the sentinel.
constexpr uint32_t kSentinel = 0x5a5a5a5a;
// (Byte copies: the probes are deliberately placed at misaligned addresses too.)
void write_probe(std::byte* host, uint32_t num_params = 0) {
  std::memset(host, 0, optee_msg_get_arg_size(std::min<uint32_t>(num_params, 127)));
  optee_msg_arg a{};
  a.cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
  a.session = 0xdead;
  a.num_params = num_params;
  a.ret = kSentinel;
  std::memcpy(host, &a, sizeof(a));
}
uint32_t probe_ret(const std::byte* host) {
  uint32_t ret;
  std::memcpy(&ret, host + offsetof(optee_msg_arg, ret), sizeof(ret));
  return ret;
}

// ============================================================================================
// Fast calls (reference section 4.2, B.10)
// ============================================================================================

using FastCallTest = SecureEntryTest;

// Ref 4.2: CALLS_UID = 384fb3e0-e7f8-11e3-af63-0002a5d5c51b in a0..a3.
TEST_F(FastCallTest, CallsUidIsOpteeApiUid) {
  SmcRegs r = nw().fast(OPTEE_SMC_CALLS_UID);
  EXPECT_EQ(r.w(0), 0x384fb3e0u);
  EXPECT_EQ(r.w(1), 0xe7f811e3u);
  EXPECT_EQ(r.w(2), 0xaf630002u);
  EXPECT_EQ(r.w(3), 0xa5d5c51bu);
}

// Ref 4.2: CALLS_REVISION = 2.0 (Linux requires major 2).
TEST_F(FastCallTest, CallsRevisionIsTwoZero) {
  SmcRegs r = nw().fast(OPTEE_SMC_CALLS_REVISION);
  EXPECT_EQ(r.w(0), 2u);
  EXPECT_EQ(r.w(1), 0u);
}

// Ref 4.2: GET_OS_UUID = 486178e0-e7f8-11e3-bc5e-0002a5d5c51b; B.10: CALLS_COUNT 12.
TEST_F(FastCallTest, OsUuidAndCallsCount) {
  SmcRegs r = nw().fast(OPTEE_SMC_CALL_GET_OS_UUID);
  EXPECT_EQ(r.w(0), 0x486178e0u);
  EXPECT_EQ(r.w(1), 0xe7f811e3u);
  EXPECT_EQ(r.w(2), 0xbc5e0002u);
  EXPECT_EQ(r.w(3), 0xa5d5c51bu);
  EXPECT_EQ(nw().fast(OPTEE_SMC_CALLS_COUNT).w(0), 12u);
}

// Ref 4.2: GET_SHM_CONFIG = OK, a1 PA, a2 size, a3 OPTEE_SMC_SHM_CACHED.
TEST_F(FastCallTest, GetShmConfigWithCarveout) {
  SmcRegs r = nw().fast(OPTEE_SMC_GET_SHM_CONFIG);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(r[1], hw::kStaticShmBase);
  EXPECT_EQ(r[2], 2ull << 20);
  EXPECT_EQ(r.w(3), OPTEE_SMC_SHM_CACHED);
}

// Ref 4.2: no carve-out -> GET_SHM_CONFIG ENOTAVAIL, and no HAVE_RESERVED_SHM capability.
TEST_F(FastCallTest, GetShmConfigWithoutCarveoutIsEnotavail) {
  NwOptions o;
  o.static_shm_size = 0;
  boot(o);
  EXPECT_EQ(nw().fast(OPTEE_SMC_GET_SHM_CONFIG).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  SmcRegs r = nw().fast(OPTEE_SMC_EXCHANGE_CAPABILITIES);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(r.w(1) & OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM, 0u);
  EXPECT_NE(r.w(1) & OPTEE_SMC_SEC_CAP_DYNAMIC_SHM, 0u);
}

// B.10: OP-TEE reports RESERVED_SHM (carve-out), DYNAMIC_SHM, MEMREF_NULL, RPC_ARG with a3 = 4;
// NSEC UNIPROCESSOR is accepted.
TEST_F(FastCallTest, ExchangeCapabilities) {
  const uint32_t expected = OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM | OPTEE_SMC_SEC_CAP_DYNAMIC_SHM |
                            OPTEE_SMC_SEC_CAP_MEMREF_NULL | OPTEE_SMC_SEC_CAP_RPC_ARG;
  for (uint32_t nsec : {0u, OPTEE_SMC_NSEC_CAP_UNIPROCESSOR}) {
    SmcRegs r = nw().fast(OPTEE_SMC_EXCHANGE_CAPABILITIES, nsec);
    EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(r.w(1), expected);
    EXPECT_EQ(r.w(3) & 0xff, 4u);
  }
}

// #48, B.10: any NSEC bit other than UNIPROCESSOR -> ENOTAVAIL, with a1 still the SEC caps.
TEST_F(FastCallTest, ExchangeCapabilitiesRefusesUnknownNsecBits) {
  const uint32_t caps = nw().fast(OPTEE_SMC_EXCHANGE_CAPABILITIES).w(1);
  for (uint32_t bit = 1; bit < 32; ++bit) {
    for (uint32_t extra : {0u, OPTEE_SMC_NSEC_CAP_UNIPROCESSOR}) {
      SmcRegs r = nw().fast(OPTEE_SMC_EXCHANGE_CAPABILITIES, (1u << bit) | extra);
      EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_ENOTAVAIL) << "bit " << bit;
      EXPECT_EQ(r.w(1), caps) << "bit " << bit;
    }
  }
}

// B.10: DYNAMIC_SHM only when the secure OS has it.
TEST_F(FastCallTest, CapabilitiesWithoutDynamicShm) {
  NwOptions o;
  o.dynamic_shm = false;
  boot(o);
  SmcRegs r = nw().fast(OPTEE_SMC_EXCHANGE_CAPABILITIES);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(r.w(1) & OPTEE_SMC_SEC_CAP_DYNAMIC_SHM, 0u);
  EXPECT_NE(r.w(1) & OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM, 0u);
}

// B.8: GET_THREAD_COUNT = CFG_NUM_THREADS.
TEST_F(FastCallTest, GetThreadCount) {
  SmcRegs r = nw().fast(OPTEE_SMC_GET_THREAD_COUNT);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(r.w(1), 2u);
  NwOptions o;
  o.threads = 5;
  boot(o);
  EXPECT_EQ(nw().fast(OPTEE_SMC_GET_THREAD_COUNT).w(1), 5u);
}

// Ref 4.3: an unknown fast function id -> OPTEE_SMC_RETURN_UNKNOWN_FUNCTION (also the
// hypervisor-only and async-notification calls a build without them does not know, and SMC64).
TEST_F(FastCallTest, UnknownFastFunctionIsUnknownFunction) {
  for (uint32_t fid : {optee_fast(2), optee_fast(5), optee_fast(6), optee_fast(0x63),
                       optee_fast(0xffff), OPTEE_SMC_VM_CREATED, OPTEE_SMC_VM_DESTROYED,
                       OPTEE_SMC_ENABLE_ASYNC_NOTIF, OPTEE_SMC_GET_ASYNC_NOTIF_VALUE,
                       optee_fast(20), 0xBF00FF02u, 0xBF000002u, 0xF2000007u, 0xFFFFFFFFu}) {
    EXPECT_EQ(nw().fast(fid).w(0), OPTEE_SMC_RETURN_UNKNOWN_FUNCTION) << hex(fid);
  }
}

// B.9: DISABLE_SHM_CACHE hands the cached RPC arguments back one per call (OK + cookie), then
// ENOTAVAIL; after that the cache is off and each call frees its RPC argument (RPC FREE).
TEST_F(FastCallTest, DisableShmCacheHandsBackCachedArgsThenCacheIsOff) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ASSERT_EQ(nw().live_rpc_args(), 1u);  // cached by the thread that served the open
  const uint64_t handed_out =
      kHarnessCookieBase;  // the first cookie the harness hands out is an RPC arg
  SmcRegs r = nw().fast(OPTEE_SMC_DISABLE_SHM_CACHE);
  EXPECT_EQ(r.w(0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(reg_pair_to_64(r[1], r[2]), handed_out);
  EXPECT_TRUE(nw().take_back_rpc_arg(handed_out));
  EXPECT_EQ(nw().fast(OPTEE_SMC_DISABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_ENOTAVAIL);
  EXPECT_EQ(nw().os().audit().cached_rpc_args, 0u);
  nw().clear_events();
  // Cache off: a call that needs RPCs (the open loads the TA) frees its RPC argument at the end.
  uint32_t s2 = 0;
  ASSERT_EQ(nw().open_session(&s2), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().cached_rpc_args, 0u);
  EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_FREE; }), 1u);
  EXPECT_EQ(nw().close_session(s2), TEE_SUCCESS);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_OK);
}

// B.9: DISABLE/ENABLE_SHM_CACHE -> EBUSY while a thread is not free (suspended in an RPC).
TEST_F(FastCallTest, ShmCacheCallsAreBusyWhileAThreadIsSuspended) {
  Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  MiniNw::set_open_meta(m, kTaUuid);
  Call c = nw().start(MiniNw::with_arg(m.pa));
  ASSERT_FALSE(c.done());
  EXPECT_EQ(nw().fast(OPTEE_SMC_DISABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_EBUSY);
  EXPECT_EQ(nw().fast(OPTEE_SMC_ENABLE_SHM_CACHE).w(0), OPTEE_SMC_RETURN_EBUSY);
  EXPECT_EQ(nw().fast(OPTEE_SMC_GET_THREAD_COUNT).w(0), OPTEE_SMC_RETURN_OK);  // fast calls go on
  EXPECT_EQ(nw().finish(c), OPTEE_SMC_RETURN_OK);
  ASSERT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(nw().close_session(m->session), TEE_SUCCESS);
}

// ============================================================================================
// Std-call entry (#37, B.1, B.8)
// ============================================================================================

using EntryTest = SecureEntryTest;

// #37: a yielding call other than CALL_WITH_ARG / _RPC_ARG / _REGD_ARG -> EBADCMD.
TEST_F(EntryTest, UnknownStdFunctionIsEbadcmd) {
  NsPage p = nw().page();
  for (uint32_t fid : {optee_std(0), optee_std(1), optee_std(2), optee_std(5), optee_std(17),
                       optee_std(20), optee_std(0xffff), 0x12345678u, 0x72000004u}) {
    write_probe(p.host);
    SmcRegs in = MiniNw::with_arg(p.pa, fid);
    EXPECT_EQ(nw().run(in), OPTEE_SMC_RETURN_EBADCMD) << hex(fid);
    EXPECT_EQ(probe_ret(p.host), kSentinel);
  }
  EXPECT_EQ(nw().os().audit().busy_threads, 0u);
}

// #37, B.8: RETURN_FROM_RPC with a thread id that is not a thread -> ERESUME.
TEST_F(EntryTest, ReturnFromRpcWithBadThreadIdIsEresume) {
  for (uint64_t id : {2ull, 3ull, 0x10000ull, 0xFFFFFFFFull, 0x100000000ull}) {
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
    in[3] = id;
    EXPECT_EQ(nw().smc(in).w(0), OPTEE_SMC_RETURN_ERESUME) << hex(id);
  }
}

// #37, B.8: RETURN_FROM_RPC to a FREE thread -> ERESUME (nothing runs).
TEST_F(EntryTest, ReturnFromRpcToFreeThreadIsEresume) {
  for (uint32_t id : {0u, 1u}) {
    SmcRegs in;
    in[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
    in[3] = id;
    EXPECT_EQ(nw().smc(in).w(0), OPTEE_SMC_RETURN_ERESUME);
  }
  EXPECT_EQ(nw().os().audit().busy_threads, 0u);
}

// #37, B.8: resuming a call that already completed (its thread is free again) -> ERESUME.
TEST_F(EntryTest, ReturnFromRpcAfterCompletionIsEresume) {
  Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  MiniNw::set_open_meta(m, kTaUuid);
  Call c = nw().start(MiniNw::with_arg(m.pa));
  ASSERT_FALSE(c.done());
  const SmcRegs stale = c.out;
  const uint32_t thread = c.thread();
  ASSERT_EQ(nw().finish(c), OPTEE_SMC_RETURN_OK);
  ASSERT_EQ(m->ret, TEE_SUCCESS);
  SmcRegs in;
  in[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
  in[1] = stale[1];
  in[2] = stale[2];
  in[3] = thread;
  EXPECT_EQ(nw().smc(in).w(0), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(nw().close_session(m->session), TEE_SUCCESS);
}

// #37, B.8 (invariant 34): a thread that is running (active on another core) cannot be resumed
// -> ERESUME; the running call is not disturbed.
TEST_F(EntryTest, ReturnFromRpcToActiveThreadIsEresume) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  std::atomic<uint32_t> seen{0};
  nw().loader().on_invoke = [&](uint32_t) {
    const uint32_t id = tee::current_thread()->id();
    std::thread other([&] {
      SmcRegs in;
      in[0] = OPTEE_SMC_CALL_RETURN_FROM_RPC;
      in[3] = id;
      seen = nw().smc(in).w(0);
    });
    other.join();
  };
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  m->func = TA_SHM_TEST_CMD_INC;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
  m.p(0).u.value = {1, 2, 0};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  nw().loader().on_invoke = nullptr;
  EXPECT_EQ(seen.load(), OPTEE_SMC_RETURN_ERESUME);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(m.p(0).u.value.a, 2u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #37, B.8 (invariant 9): with every thread suspended in an RPC a new call gets ETHREAD_LIMIT
// and has no side effect; once a thread is free the same call goes through.
TEST_F(EntryTest, AllThreadsBusyIsEthreadLimit) {
  Msg m0 = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  Msg m1 = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  Msg m2 = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  for (const Msg* m : {&m0, &m1, &m2}) MiniNw::set_open_meta(*m, kTaUuid);
  Call c0 = nw().start(MiniNw::with_arg(m0.pa));
  Call c1 = nw().start(MiniNw::with_arg(m1.pa));
  ASSERT_FALSE(c0.done());
  ASSERT_FALSE(c1.done());
  EXPECT_NE(c0.thread(), c1.thread());
  m2->ret = kSentinel;
  m2->session = kSentinel;
  const uint64_t rpcs_before = nw().events().size();
  EXPECT_EQ(nw().run(MiniNw::with_arg(m2.pa)), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
  EXPECT_EQ(m2->ret, kSentinel);
  EXPECT_EQ(m2->session, kSentinel);
  EXPECT_EQ(nw().events().size(), rpcs_before);
  // RPC_ARG and REGD_ARG share the limit.
  EXPECT_EQ(nw().run(MiniNw::with_arg(m2.pa, OPTEE_SMC_CALL_WITH_RPC_ARG)),
            OPTEE_SMC_RETURN_ETHREAD_LIMIT);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(1, 0)), OPTEE_SMC_RETURN_ETHREAD_LIMIT);
  EXPECT_EQ(nw().finish(c0), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(nw().call(m2), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(nw().finish(c1), OPTEE_SMC_RETURN_OK);
  for (const Msg* m : {&m0, &m1, &m2}) {
    EXPECT_EQ((*m)->ret, TEE_SUCCESS);
    EXPECT_EQ(nw().close_session((*m)->session), TEE_SUCCESS);
  }
}

// ============================================================================================
// Locating the message argument (#38, #39, B.2)
// ============================================================================================

using ArgTest = SecureEntryTest;

// #38, B.2 case 2: outside the carve-out the argument PA must be 4 KiB aligned -> else EBADADDR.
TEST_F(ArgTest, DynamicArgMustBePageAligned) {
  NsPage p = nw().page();
  for (uint64_t off : {8ull, 0x10ull, 0x800ull, 0xfe0ull}) {
    write_probe(p.host + off);
    EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa + off)), OPTEE_SMC_RETURN_EBADADDR) << off;
    EXPECT_EQ(probe_ret(p.host + off), kSentinel);
  }
  write_probe(p.host);
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(p.host), TEE_ERROR_BAD_PARAMETERS);
}

// #38, B.2/B.3: an argument in secure DRAM -> EBADADDR (never read or written).
TEST_F(ArgTest, ArgInSecureDramIsEbadaddr) {
  for (uint64_t pa : std::vector<uint64_t>{hw::kSecureDramBase, hw::kSecureDramBase + 0x1000,
                                          hw::kSecureDramBase + (4ull << 20) - kPage}) {
    EXPECT_EQ(nw().run(MiniNw::with_arg(pa)), OPTEE_SMC_RETURN_EBADADDR) << hex(pa);
    EXPECT_EQ(nw().run(MiniNw::with_arg(pa, OPTEE_SMC_CALL_WITH_RPC_ARG)),
              OPTEE_SMC_RETURN_EBADADDR);
  }
}

// #38, B.2: an argument where no RAM is (PA 0, holes, beyond the frame table, beyond 44 bits, a
// page the normal world freed) -> EBADADDR.
TEST_F(ArgTest, UnmappedArgIsEbadaddr) {
  NsPage real = nw().page();
  write_probe(real.host);
  NsPage gone = nw().page();
  nw().free_page(gone);
  for (uint64_t pa : std::vector<uint64_t>{0, kUnmappedPa, 1ull << 40, 1ull << 52,
                                          0xFFFFFFFFFFFFF000ull, real.pa + (1ull << 44),
                                          gone.pa}) {
    EXPECT_EQ(nw().run(MiniNw::with_arg(pa)), OPTEE_SMC_RETURN_EBADADDR) << hex(pa);
  }
  EXPECT_EQ(probe_ret(real.host), kSentinel);  // PA + 2^44 did not alias it
}

// #38, B.2 case 1: inside the carve-out the argument must be 8-byte aligned -> else EBADADDR;
// any 8-aligned address is fine.
TEST_F(ArgTest, CarveoutArgMustBe8Aligned) {
  std::byte* shm = nw().mem().static_shm_host();
  for (uint64_t off : {4ull, 0x101ull, 0x1004ull, 0x2002ull}) {
    write_probe(shm + off);
    EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase + off)), OPTEE_SMC_RETURN_EBADADDR)
        << off;
    EXPECT_EQ(probe_ret(shm + off), kSentinel);
  }
  for (uint64_t off : {8ull, 0x1008ull, 0x3ff0ull}) {
    write_probe(shm + off);
    EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase + off)), OPTEE_SMC_RETURN_OK) << off;
    EXPECT_EQ(probe_ret(shm + off), TEE_ERROR_BAD_PARAMETERS);
  }
}

// #38, B.2, invariant 11: num_params > 127 -> EBADADDR (values that would wrap 32-bit sizes too);
// 127 params exactly fill the page and are accepted (the decoder then refuses > 4 client params).
TEST_F(ArgTest, NumParamsAbove127IsEbadaddr) {
  NsPage p = nw().page();
  std::byte* shm = nw().mem().static_shm_host();
  for (uint32_t n : {128u, 129u, 0x08000000u, 0x80000000u, 0xFFFFFFFFu}) {
    write_probe(p.host, n);
    EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa)), OPTEE_SMC_RETURN_EBADADDR) << n;
    write_probe(shm, n);
    EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase)), OPTEE_SMC_RETURN_EBADADDR) << n;
  }
  write_probe(p.host, 127);
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(p.host), TEE_ERROR_BAD_PARAMETERS);
}

// #38, B.2 case 1: the whole argument must lie in the carve-out -> else EBADADDR.
TEST_F(ArgTest, CarveoutArgMustFitInCarveout) {
  std::byte* shm = nw().mem().static_shm_host();
  const uint64_t size = nw().mem().static_shm_size();
  const uint64_t end = hw::kStaticShmBase + size;
  write_probe(shm + size - 64, 1);
  EXPECT_EQ(nw().run(MiniNw::with_arg(end - 64)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(shm + size - 64), TEE_ERROR_BAD_PARAMETERS);
  write_probe(shm + size - 64, 2);
  EXPECT_EQ(nw().run(MiniNw::with_arg(end - 64)), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(probe_ret(shm + size - 64), kSentinel);
  write_probe(shm + size - 32, 0);
  EXPECT_EQ(nw().run(MiniNw::with_arg(end - 32)), OPTEE_SMC_RETURN_OK);
  // The header itself does not fit: not a carve-out argument, and not page aligned either.
  EXPECT_EQ(nw().run(MiniNw::with_arg(end - 16)), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(nw().run(MiniNw::with_arg(end)), OPTEE_SMC_RETURN_EBADADDR);
}

// #38, B.2: CALL_WITH_RPC_ARG needs room for the argument plus an RPC argument of 4 params
// (160 bytes) in the same page / the carve-out -> else EBADADDR.
TEST_F(ArgTest, WithRpcArgMustFitWithItsRpcArg) {
  NsPage p = nw().page();
  write_probe(p.host, 122);  // 32 + 122 * 32 + 160 = 4096
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa, OPTEE_SMC_CALL_WITH_RPC_ARG), p.host + 3936),
            OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(p.host), TEE_ERROR_BAD_PARAMETERS);
  write_probe(p.host, 123);
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa, OPTEE_SMC_CALL_WITH_RPC_ARG)),
            OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(probe_ret(p.host), kSentinel);
  // Plain CALL_WITH_ARG with 123 params still fits.
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa)), OPTEE_SMC_RETURN_OK);

  std::byte* shm = nw().mem().static_shm_host();
  const uint64_t size = nw().mem().static_shm_size();
  const uint64_t off = size - (64 + 160);
  write_probe(shm + off, 1);
  EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase + off, OPTEE_SMC_CALL_WITH_RPC_ARG),
                     shm + off + 64),
            OPTEE_SMC_RETURN_OK);
  write_probe(shm + off, 2);
  EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase + off, OPTEE_SMC_CALL_WITH_RPC_ARG)),
            OPTEE_SMC_RETURN_EBADADDR);
}

// B.2: with CALL_WITH_RPC_ARG the secure OS issues its RPCs in the RPC argument that follows the
// call's argument, instead of asking for one with RPC_FUNC_ALLOC.
TEST_F(ArgTest, CallWithRpcArgUsesTheSuppliedRpcArg) {
  Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  MiniNw::set_open_meta(m, kTaUuid);
  std::byte* rpc_arg = m.page.host + optee_msg_get_arg_size(2);
  EXPECT_EQ(nw().run(MiniNw::with_arg(m.pa, OPTEE_SMC_CALL_WITH_RPC_ARG), rpc_arg),
            OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_ALLOC; }), 0u);
  EXPECT_GE(nw().count([](const Event& e) { return e.is_cmd(OPTEE_RPC_CMD_LOAD_TA); }), 2u);
  EXPECT_EQ(nw().live_rpc_args(), 0u);
  EXPECT_EQ(nw().close_session(m->session), TEE_SUCCESS);
}

// B.2: the same with the argument (and so the RPC argument) in the carve-out.
TEST_F(ArgTest, CallWithRpcArgInCarveout) {
  std::byte* shm = nw().mem().static_shm_host();
  auto* a = reinterpret_cast<optee_msg_arg*>(shm + 0x100);
  std::memset(a, 0, optee_msg_get_arg_size(2));
  a->cmd = OPTEE_MSG_CMD_OPEN_SESSION;
  a->num_params = 2;
  Msg view;
  view.arg = a;
  MiniNw::set_open_meta(view, kTaUuid);
  EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase + 0x100, OPTEE_SMC_CALL_WITH_RPC_ARG),
                     shm + 0x100 + optee_msg_get_arg_size(2)),
            OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(a->ret, TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_ALLOC; }), 0u);
  EXPECT_EQ(nw().close_session(a->session), TEE_SUCCESS);
}

// #39, B.2 REGD_ARG: the argument inside a registered buffer at offset a3; its RPC argument
// follows it and serves the call's RPCs.
TEST_F(ArgTest, RegdArgHappyPath) {
  ClientBuf& b = nw().client(2);
  ASSERT_EQ(nw().register_buf(b, 0x77), TEE_SUCCESS);
  // OPEN_SESSION (needs RPCs) at offset 0x100.
  auto* a = reinterpret_cast<optee_msg_arg*>(b.host + 0x100);
  a->cmd = OPTEE_MSG_CMD_OPEN_SESSION;
  a->num_params = 2;
  Msg view;
  view.arg = a;
  MiniNw::set_open_meta(view, kTaUuid);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, 0x100), b.host + 0x100 + 96),
            OPTEE_SMC_RETURN_OK);
  ASSERT_EQ(a->ret, TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_ALLOC; }), 0u);
  const uint32_t s = a->session;
  // INVOKE INC in the second page.
  a = reinterpret_cast<optee_msg_arg*>(b.host + 0x1008);
  a->cmd = OPTEE_MSG_CMD_INVOKE_COMMAND;
  a->func = TA_SHM_TEST_CMD_INC;
  a->session = s;
  a->num_params = 1;
  a->params[0].attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
  a->params[0].u.value = {10, 20, 30};
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, 0x1008)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(a->ret, TEE_SUCCESS);
  EXPECT_EQ(a->params[0].u.value.a, 11u);
  EXPECT_EQ(a->params[0].u.value.b, 22u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x77), TEE_SUCCESS);
}

// UNREGISTER_SHM sent with CALL_WITH_REGD_ARG inside the buffer it unregisters: the call itself
// holds the buffer, so the release could only wait for itself (OP-TEE parks the thread for ever;
// secure_entry fuzzer, fuzz/regressions/secure_entry/unregister-own-regd-arg-deadlock). teemu
// answers TEE_ERROR_BUSY at once; the buffer stays registered and unregisters normally after.
TEST_F(ArgTest, UnregisterOfItsOwnRegdArgBufferIsBusy) {
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x7a), TEE_SUCCESS);
  auto* a = reinterpret_cast<optee_msg_arg*>(b.host + 0x40);
  std::memset(a, 0, 32 + sizeof(optee_msg_param));
  a->cmd = OPTEE_MSG_CMD_UNREGISTER_SHM;
  a->num_params = 1;
  a->params[0].attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  a->params[0].u.rmem.shm_ref = 0x7a;
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x7a, 0x40)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(a->ret, TEE_ERROR_BUSY);
  EXPECT_EQ(a->ret_origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().unregister_shm(0x7a), TEE_SUCCESS);
}

// #39: an unknown cookie -> EBADADDR.
TEST_F(ArgTest, RegdArgUnknownCookieIsEbadaddr) {
  for (uint64_t cookie : {0ull, 1ull, 0x77ull, 0xFFFFFFFFFFFFFFFFull})
    EXPECT_EQ(nw().run(MiniNw::with_regd_arg(cookie, 0)), OPTEE_SMC_RETURN_EBADADDR);
}

// #39, B.2: the offset must keep the argument and its RPC argument (160 bytes) inside the
// registered object and the argument 8-byte aligned -> else EBADADDR.
TEST_F(ArgTest, RegdArgMustFitWithItsRpcArg) {
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x77), TEE_SUCCESS);
  const uint32_t last = kPage - (32 + 160);
  write_probe(b.host + last, 0);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, last)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(b.host + last), TEE_ERROR_BAD_PARAMETERS);
  for (uint32_t off : {last + 8, static_cast<uint32_t>(kPage - 32), static_cast<uint32_t>(kPage),
                       0xFFFFFFF8u}) {
    if (uint64_t{off} + 32 <= kPage) write_probe(b.host + off, 0);
    EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, off)), OPTEE_SMC_RETURN_EBADADDR) << off;
  }
  write_probe(b.host + last, 1);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, last)), OPTEE_SMC_RETURN_EBADADDR);
  write_probe(b.host + 4, 0);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, 4)), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(nw().unregister_shm(0x77), TEE_SUCCESS);
}

// #39: alignment is that of the argument's address: a buffer registered at page offset 4 has
// its 8-aligned bytes at odd multiples of 4.
TEST_F(ArgTest, RegdArgAlignmentIsOfTheAddress) {
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_shm(nw().page_list(b, 4), kPage - 4, 0x78), TEE_SUCCESS);
  write_probe(b.host + 8, 0);  // offset 4 in the object
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x78, 4)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(b.host + 8), TEE_ERROR_BAD_PARAMETERS);
  write_probe(b.host + 4, 0);  // offset 0: address page + 4
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x78, 0)), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(probe_ret(b.host + 4), kSentinel);
  EXPECT_EQ(nw().unregister_shm(0x78), TEE_SUCCESS);
}

// #39: a registered buffer the secure OS cannot map (pages not contiguous in its view) -> ENOMEM.
TEST_F(ArgTest, RegdArgUnmappableIsEnomem) {
  ClientBuf& b = nw().client(2);
  ASSERT_EQ(nw().register_shm(nw().page_list({b.pa(1), b.pa(0)}), 2 * kPage, 0x79),
            TEE_SUCCESS);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x79, 0)), OPTEE_SMC_RETURN_ENOMEM);
  EXPECT_EQ(nw().unregister_shm(0x79), TEE_SUCCESS);
}

// #38, #39 without dynamic SHM: only carve-out arguments exist; REGD_ARG finds no registered
// buffer (EBADADDR, as optee_os without CFG_CORE_DYN_SHM); REGISTER_SHM is an unknown command.
TEST_F(ArgTest, StaticOnlySecureOs) {
  NwOptions o;
  o.dynamic_shm = false;
  boot(o);
  NsPage p = nw().page();
  write_probe(p.host);
  EXPECT_EQ(nw().run(MiniNw::with_arg(p.pa)), OPTEE_SMC_RETURN_EBADADDR);
  std::byte* shm = nw().mem().static_shm_host();
  write_probe(shm);
  EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase)), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(probe_ret(shm), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x77, 0)), OPTEE_SMC_RETURN_EBADADDR);
  auto* a = reinterpret_cast<optee_msg_arg*>(shm);
  std::memset(a, 0, 64);
  a->cmd = OPTEE_MSG_CMD_REGISTER_SHM;
  a->num_params = 1;
  a->params[0].attr = kRegisterAttr;
  EXPECT_EQ(nw().run(MiniNw::with_arg(hw::kStaticShmBase)), OPTEE_SMC_RETURN_EBADCMD);
}


// ============================================================================================
// Message decoding (#40, #41, #42, #46, B.6)
// ============================================================================================

using MsgTest = SecureEntryTest;

size_t load_ta_count(MiniNw& nw) {
  return nw.count([](const Event& e) { return e.is_cmd(OPTEE_RPC_CMD_LOAD_TA); });
}

// #41, B.6: OPEN_SESSION needs >= 2 params whose attrs are exactly META|VALUE_INPUT (0x101);
// otherwise BAD_PARAMETERS from the TEE, session 0, and no TA is looked for.
TEST_F(MsgTest, OpenSessionMetaChecks) {
  for (uint32_t n : {0u, 1u}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, n);
    if (n == 1) MiniNw::set_open_meta(m, kTaUuid);  // writes params 0 and 1; only 0 counts
    m->session = 0x1234;
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << n;
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(m->session, 0u);
  }
  for (uint64_t attr : std::vector<uint64_t>{
           OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, OPTEE_MSG_ATTR_META,
           OPTEE_MSG_ATTR_META | OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
           OPTEE_MSG_ATTR_META | OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT,
           OPTEE_MSG_ATTR_META | OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, kMetaValueIn | OPTEE_MSG_ATTR_NONCONTIG,
           kMetaValueIn | (1ull << OPTEE_MSG_ATTR_CACHE_SHIFT), kMetaValueIn | (1ull << 63)}) {
    for (int which : {0, 1}) {
      Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
      MiniNw::set_open_meta(m, kTaUuid);
      m.p(which).attr = attr;
      m->session = 0x1234;
      EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
      EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << hex(attr) << " in param " << which;
      EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
      EXPECT_EQ(m->session, 0u);
    }
  }
  EXPECT_EQ(load_ta_count(nw()), 0u);
}

// #41, B.6: login in {PUBLIC, USER, GROUP, APPLICATION, APPLICATION_USER, APPLICATION_GROUP,
// REE_KERNEL}; anything else (TRUSTED_APP included) -> BAD_PARAMETERS from the TEE.
// optee_os reads value.c into a 32-bit login, so the upper half of the u64 is ignored.
TEST_F(MsgTest, OpenSessionLoginChecks) {
  for (uint64_t login : std::vector<uint64_t>{
           OPTEE_MSG_LOGIN_PUBLIC, OPTEE_MSG_LOGIN_USER, OPTEE_MSG_LOGIN_GROUP,
           OPTEE_MSG_LOGIN_APPLICATION, OPTEE_MSG_LOGIN_APPLICATION_USER,
           OPTEE_MSG_LOGIN_APPLICATION_GROUP, OPTEE_MSG_LOGIN_REE_KERNEL, 1ull << 32}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
    MiniNw::set_open_meta(m, kTaUuid);
    m.p(1).u.value.c = login;
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    ASSERT_EQ(m->ret, TEE_SUCCESS) << hex(login);
    EXPECT_EQ(nw().close_session(m->session), TEE_SUCCESS);
  }
  nw().clear_events();
  for (uint64_t login : std::vector<uint64_t>{3, 7, 0x80000001, 0xF0000000, 0xFFFFFFFF,
                                              (1ull << 32) | 3}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
    MiniNw::set_open_meta(m, kTaUuid);
    m.p(1).u.value.c = login;
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << hex(login);
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(m->session, 0u);
  }
  EXPECT_EQ(load_ta_count(nw()), 0u);
}

// #42, B.6: at most 4 client params after the metas -> else BAD_PARAMETERS (TEE).
TEST_F(MsgTest, OpenSessionAtMostFourClientParams) {
  Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2 + 5);
  MiniNw::set_open_meta(m, kTaUuid);
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(load_ta_count(nw()), 0u);
  Msg ok = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 2 + 4);
  MiniNw::set_open_meta(ok, kTaUuid);
  EXPECT_EQ(nw().call(ok), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(ok->ret, TEE_SUCCESS);
  EXPECT_EQ(ok->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(nw().close_session(ok->session), TEE_SUCCESS);
}

// #42, B.6: a META bit on a client param -> BAD_PARAMETERS (TEE), for OPEN and INVOKE.
TEST_F(MsgTest, MetaBitOnClientParamIsBadParameters) {
  Msg m = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 3);
  MiniNw::set_open_meta(m, kTaUuid);
  m.p(2).attr = kMetaValueIn;
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(m->session, 0u);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  for (uint64_t attr : {kMetaValueIn, OPTEE_MSG_ATTR_META | OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
                        OPTEE_MSG_ATTR_META}) {
    Msg i = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
    i->func = TA_SHM_TEST_CMD_INC;
    i->session = s;
    i.p(0).attr = attr;
    EXPECT_EQ(nw().call(i), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(i->ret, TEE_ERROR_BAD_PARAMETERS) << hex(attr);
    EXPECT_EQ(i->ret_origin, TEE_ORIGIN_TEE);
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #42, B.6: INVOKE with more than 4 params -> BAD_PARAMETERS (TEE); 4 are fine.
TEST_F(MsgTest, InvokeAtMostFourParams) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  for (uint32_t n : {5u, 6u, 127u}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, n);
    m->func = TA_SHM_TEST_CMD_INC;
    m->session = s;
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
    m.p(0).u.value = {1, 2, 3};
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << n;
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(m.p(0).u.value.a, 1u);  // nothing ran, nothing written back
  }
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 4);
  m->func = TA_SHM_TEST_CMD_INC;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
  m.p(0).u.value = {1, 2, 3};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(m.p(0).u.value.a, 2u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #42, B.6: attribute types outside NONE/VALUE/RMEM/TMEM -> BAD_PARAMETERS (TEE).
TEST_F(MsgTest, UnknownAttrTypesAreBadParameters) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  for (uint64_t type : {4ull, 8ull, 0xcull, 0xdull, 0xfull, 0x10ull, 0x80ull, 0xffull}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
    m->func = TA_SHM_TEST_CMD_INC;
    m->session = s;
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
    m.p(1).attr = type;
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << hex(type);
    EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    Msg o = nw().msg(OPTEE_MSG_CMD_OPEN_SESSION, 3);
    MiniNw::set_open_meta(o, kTaUuid);
    o.p(2).attr = type;
    EXPECT_EQ(nw().call(o), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(o->ret, TEE_ERROR_BAD_PARAMETERS) << hex(type);
    EXPECT_EQ(o->session, 0u);
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #42, B.6: only value.a/.b reach the TA (as 32-bit values), c is neither passed nor written;
// only OUTPUT/INOUT values are written back.
TEST_F(MsgTest, ValuesCarryOnlyAAndB) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  m->func = TA_SHM_TEST_CMD_INC;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
  m.p(0).u.value = {(7ull << 32) | 1, 2, 0xc0ffee};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(1).u.value = {0x11, 0x22, 0x33};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(m.p(0).u.value.a, 2u);
  EXPECT_EQ(m.p(0).u.value.b, 4u);
  EXPECT_EQ(m.p(0).u.value.c, 0xc0ffeeu);
  EXPECT_EQ(m.p(1).u.value.a, 0x11u);
  EXPECT_EQ(m.p(1).u.value.b, 0x22u);
  EXPECT_EQ(m.p(1).u.value.c, 0x33u);
  // A TA error: origin TRUSTED_APP; a command the TA does not know likewise.
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.value = {5, 6, 0};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(m.p(0).u.value.a, 5u);
  m->func = 999;
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #46, B.6: CLOSE_SESSION and CANCEL require num_params == 0 -> else BAD_PARAMETERS (TEE), and
// the session is untouched.
TEST_F(MsgTest, CloseAndCancelRequireZeroParams) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  for (uint32_t cmd : {OPTEE_MSG_CMD_CLOSE_SESSION, OPTEE_MSG_CMD_CANCEL}) {
    for (uint32_t n : {1u, 4u}) {
      Msg m = nw().msg(cmd, n);
      m->session = s;
      EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
      EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << cmd << "/" << n;
      EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    }
  }
  EXPECT_EQ(nw().os().audit().sessions, 1u);
  Msg c = nw().msg(OPTEE_MSG_CMD_CANCEL, 0);
  c->session = s;
  EXPECT_EQ(nw().call(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(c->ret, TEE_SUCCESS);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #46: INVOKE / CLOSE / CANCEL of a session that does not exist (never opened, closed, 0)
// -> BAD_PARAMETERS (TEE).
TEST_F(MsgTest, UnknownSessionIsBadParameters) {
  uint32_t closed = 0;
  ASSERT_EQ(nw().open_session(&closed), TEE_SUCCESS);
  ASSERT_EQ(nw().close_session(closed), TEE_SUCCESS);
  for (uint32_t session : {0u, closed, closed + 1, 0xdeadu, 0xFFFFFFFFu}) {
    for (uint32_t cmd : {OPTEE_MSG_CMD_INVOKE_COMMAND, OPTEE_MSG_CMD_CLOSE_SESSION,
                         OPTEE_MSG_CMD_CANCEL}) {
      Msg m = nw().msg(cmd, 0);
      m->session = session;
      EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
      EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << cmd << " " << session;
      EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
    }
  }
}

// #40: an unknown command -> EBADCMD; the argument is not written.
TEST_F(MsgTest, UnknownCommandIsEbadcmd) {
  for (uint32_t cmd : {OPTEE_MSG_CMD_DO_BOTTOM_HALF, OPTEE_MSG_CMD_STOP_ASYNC_NOTIF, 8u, 9u, 10u,
                       11u, 0x100u, 0xFFFFFFFFu}) {
    Msg m = nw().msg(cmd, 0);
    m->ret = kSentinel;
    m->ret_origin = kSentinel;
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_EBADCMD) << cmd;
    EXPECT_EQ(m->ret, kSentinel);
    EXPECT_EQ(m->ret_origin, kSentinel);
  }
}

// ============================================================================================
// Memory references (#43, #44, #45, B.6)
// ============================================================================================

using MemrefTest = SecureEntryTest;

// #43, B.6: TMEM buf_ptr 0 is a NULL memref whatever the size says (with NONCONTIG too); an
// output size is still written back (#45).
TEST_F(MemrefTest, TmemNullBufferIsNullMemref) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  uint64_t sum = 1;
  for (uint64_t attr : {OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
                        OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG}) {
    EXPECT_EQ(nw().invoke_sum(s, attr, {0, 100, 0x4444}, &sum), TEE_SUCCESS);
    EXPECT_EQ(sum, 0u);
  }
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  m->func = TA_SHM_TEST_CMD_NEED;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
  m.p(0).u.tmem = {0, 7, 0};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(1).u.value = {50, 0, 0};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_SHORT_BUFFER);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(m.p(0).u.tmem.size, 50u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #43, B.6: a contiguous TMEM must lie inside the carve-out, checked with max(size, 1)
// -> else BAD_PARAMETERS (TEE).
TEST_F(MemrefTest, ContiguousTmemMustLieInCarveout) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  auto* shm = reinterpret_cast<uint8_t*>(nw().mem().static_shm_host());
  const uint64_t size = nw().mem().static_shm_size();
  const uint64_t base = hw::kStaticShmBase;
  fill_pattern(shm + 0x2000, 300, 9);
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {base + 0x2000, 300, 0}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(shm + 0x2000, 300));
  fill_pattern(shm + size - 100, 100, 1);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {base + size - 100, 100, 0}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(shm + size - 100, 100));
  NsPage p = nw().page();
  const std::vector<optee_msg_param_tmem> bad = {
      {p.pa, 16, 0},                            // ordinary RAM
      {base + size - 100, 101, 0},              // crosses the end
      {base + size, 0, 0},                      // size 0 counts as 1 byte
      {base - kPage, 2 * kPage, 0},             // starts before
      {base + 8, ~0ull, 0},                     // wraps
      {hw::kSecureDramBase, 16, 0},             // secure memory
      {kUnmappedPa, 16, 0},                     // nothing there
  };
  for (const auto& t : bad) {
    uint32_t origin = 0;
    EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, t, &sum, &origin),
              TEE_ERROR_BAD_PARAMETERS)
        << hex(t.buf_ptr) << "+" << t.size;
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #43: without a carve-out every contiguous TMEM other than NULL is refused.
TEST_F(MemrefTest, ContiguousTmemWithoutCarveoutIsBadParameters) {
  NwOptions o;
  o.static_shm_size = 0;
  boot(o);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  NsPage p = nw().page();
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {p.pa, 16, 0}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {hw::kStaticShmBase, 16, 0}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #43, B.4, B.6: a NONCONTIG TMEM reaches the client's pages in place (zero copy): the TA sums
// and fills them directly; the offset in buf_ptr's low bits is the buffer's start.
TEST_F(MemrefTest, NoncontigTmemIsZeroCopy) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(3);
  fill_pattern(b.bytes(), b.size(), 5);
  const uint64_t len = 3 * kPage - 0x10 - 5;
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
                            {nw().page_list(b, 0x10), len, 0x42}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes() + 0x10, len));
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  m->func = TA_SHM_TEST_CMD_FILL;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG;
  m.p(0).u.tmem = {nw().page_list(b, 0x20), 5000, 0x43};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(1).u.value = {3, 0, 0};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  for (size_t i = 0; i < 5000; ++i) ASSERT_EQ(b.bytes()[0x20 + i], static_cast<uint8_t>(3 + i));
  EXPECT_EQ(b.bytes()[0x20 + 5000], static_cast<uint8_t>(5 + (0x20 + 5000) * 7 + 1));
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #44, B.6: an RMEM naming no registered buffer (never registered, or the cookie of a temporary
// memref) -> BAD_PARAMETERS (TEE).
TEST_F(MemrefTest, RmemUnknownCookieIsBadParameters) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  uint64_t sum = 0;
  uint32_t origin = 0;
  for (uint64_t cookie : std::vector<uint64_t>{0, 0x999, 0x42, kHarnessCookieBase}) {
    EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 10, cookie}, &sum, &origin),
              TEE_ERROR_BAD_PARAMETERS);
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #44, B.6, invariant 28: RMEM offs+size must not overflow and must stay within the object
// (whole pages minus the first-page offset) -> else TEE_ERROR_SECURITY (0xFFFF000F) from the TEE.
TEST_F(MemrefTest, RmemBeyondObjectIsSecurityError) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(2);
  fill_pattern(b.bytes(), b.size(), 1);
  ASSERT_EQ(nw().register_buf(b, 0x50), TEE_SUCCESS);
  uint64_t sum = 0;
  uint32_t origin = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 2 * kPage, 0x50}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes(), 2 * kPage));
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {2 * kPage, 0, 0x50}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, 0u);
  const std::vector<optee_msg_param_rmem> bad = {
      {1, 2 * kPage, 0x50}, {2 * kPage + 1, 0, 0x50}, {0, 2 * kPage + 1, 0x50},
      {1, ~0ull, 0x50},     {~0ull, 2, 0x50},         {kPage, ~0ull - kPage + 2, 0x50}};
  for (const auto& r : bad) {
    optee_msg_param_tmem t{r.offs, r.size, r.shm_ref};
    EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, t, &sum, &origin),
              TEE_ERROR_SECURITY)
        << r.offs << "+" << r.size;
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  }
  // B.4 step 7: a registration of 100 bytes at page offset 0x10 covers 4096 - 0x10 bytes.
  ASSERT_EQ(nw().register_shm(nw().page_list(b, 0x10), 100, 0x51), TEE_SUCCESS);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage - 0x10, 0x51}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes() + 0x10, kPage - 0x10));
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage - 0xf, 0x51}, &sum),
            TEE_ERROR_SECURITY);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x50), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x51), TEE_SUCCESS);
}

// #45: output memref sizes are written back, also when larger than the buffer (short buffer);
// the TA works in the registered memory itself.
TEST_F(MemrefTest, OutputSizesAreWrittenBack) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x60), TEE_SUCCESS);
  for (uint64_t have : {10ull, 200ull}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
    m->func = TA_SHM_TEST_CMD_NEED;
    m->session = s;
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
    m.p(0).u.rmem = {8, have, 0x60};
    m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
    m.p(1).u.value = {100, 0, 0};
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, have < 100 ? TEE_ERROR_SHORT_BUFFER : TEE_SUCCESS);
    EXPECT_EQ(m.p(0).u.rmem.size, 100u);
    EXPECT_EQ(m.p(0).u.rmem.offs, 8u);
    EXPECT_EQ(m.p(0).u.rmem.shm_ref, 0x60u);
  }
  EXPECT_EQ(b.bytes()[7], 0);
  EXPECT_EQ(b.bytes()[8], 0xAB);
  EXPECT_EQ(b.bytes()[107], 0xAB);
  EXPECT_EQ(b.bytes()[108], 0);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x60), TEE_SUCCESS);
}

// B.6 (failure modes "NULL TMEM whose shm_ref is a registered cookie", "two params with the same
// cookie", "RMEM naming a temporary cookie"): a NULL memref touches no object whatever its
// shm_ref; two params may hold the same registered buffer (each holds its own reference, all
// dropped at the end, so UNREGISTER afterwards does not sleep); the cookie of a temporary memref
// is not a registered buffer, even within its own call (BAD_PARAMETERS).
TEST_F(MemrefTest, CookiesAcrossParamsOfOneCall) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  fill_pattern(b.bytes(), kPage, 4);
  ASSERT_EQ(nw().register_buf(b, 0x90), TEE_SUCCESS);
  uint64_t sum = 1;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, {0, 100, 0x90}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, 0u);
  for (uint32_t cmd : {OPTEE_MSG_CMD_CLOSE_SESSION, OPTEE_MSG_CMD_CANCEL}) {
    Msg m = nw().msg(cmd, 1);
    m->session = s;
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT;
    m.p(0).u.tmem = {0, 0, 0x90};
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 1u);

  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 3);
  m->func = TA_SHM_TEST_CMD_SUM;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  m.p(0).u.rmem = {0, 64, 0x90};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
  m.p(2).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INOUT;
  m.p(2).u.rmem = {8, 64, 0x90};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(m.p(1).u.value.a, sum_bytes(b.bytes(), 64));
  nw().clear_events();
  EXPECT_EQ(nw().unregister_shm(0x90), TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) { return e.is_wait(); }), 0u);

  Msg t = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 3);
  t->func = TA_SHM_TEST_CMD_SUM;
  t->session = s;
  t.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG;
  t.p(0).u.tmem = {nw().page_list(b), 64, 0x91};
  t.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
  t.p(2).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  t.p(2).u.rmem = {0, 64, 0x91};
  EXPECT_EQ(nw().call(t), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(t->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(t->ret_origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// ============================================================================================
// Page lists (#43, #47, B.4, ref 5.4)
// ============================================================================================

using PageListTest = SecureEntryTest;

// #47, B.5: REGISTER_SHM needs exactly one param with attr exactly TMEM_OUTPUT|NONCONTIG
// (0x20a) -> else BAD_PARAMETERS, nothing registered.
TEST_F(PageListTest, RegisterAttrMustBeExactly0x20a) {
  ClientBuf& b = nw().client(1);
  const uint64_t list = nw().page_list(b);
  for (uint64_t attr : std::vector<uint64_t>{
           OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
           OPTEE_MSG_ATTR_TYPE_TMEM_INOUT | OPTEE_MSG_ATTR_NONCONTIG, OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT,
           kRegisterAttr | OPTEE_MSG_ATTR_META, kRegisterAttr | (1ull << OPTEE_MSG_ATTR_CACHE_SHIFT),
           kRegisterAttr | (1ull << 40), OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG,
           OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG, 0}) {
    EXPECT_EQ(nw().register_shm(list, kPage, 0x70, attr), TEE_ERROR_BAD_PARAMETERS) << hex(attr);
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  for (uint32_t n : {0u, 2u}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_REGISTER_SHM, n);
    m.p(0).attr = kRegisterAttr;
    m.p(0).u.tmem = {list, kPage, 0x70};
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << n;
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  EXPECT_EQ(nw().register_shm(list, kPage, 0x70), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().registered_shm, 1u);
  EXPECT_EQ(nw().unregister_shm(0x70), TEE_SUCCESS);
}

// Ref 5.4, B.4: the list page (buf_ptr without its low 12 bits) must be non-secure RAM.
TEST_F(PageListTest, ListPageMustBeNonSecureRam) {
  for (uint64_t buf_ptr : std::vector<uint64_t>{0, 0x10, hw::kSecureDramBase,
                                                hw::kSecureDramBase | 0x10, kUnmappedPa,
                                                1ull << 52, ~0ull}) {
    EXPECT_EQ(nw().register_shm(buf_ptr, kPage, 0x71), TEE_ERROR_BAD_PARAMETERS) << hex(buf_ptr);
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
}

// Ref 5.4, B.3, invariant 26: a list page address beyond the physical address space must not
// alias the frame its low bits name (frame numbers are 32 bits: PA + 2^44 is not PA).
TEST_F(PageListTest, ListAddressesBeyondTheAddressSpaceDoNotAlias) {
  ClientBuf& b = nw().client(512);
  std::vector<NsPage> lists;
  const uint64_t buf_ptr = nw().page_list(b.entries(), 0, &lists);
  EXPECT_EQ(nw().register_shm(buf_ptr + (1ull << 44), 512 * kPage, 0x7d),
            TEE_ERROR_BAD_PARAMETERS);
  auto* first = reinterpret_cast<optee_page_list_page*>(lists[0].host);
  first->next_page_data = lists[1].pa + (1ull << 44);
  EXPECT_EQ(nw().register_shm(buf_ptr, 512 * kPage, 0x7d), TEE_ERROR_BAD_PARAMETERS);
  first->next_page_data = lists[1].pa;
  first->pages_list[3] = b.pa(3) + (1ull << 44);
  EXPECT_EQ(nw().register_shm(buf_ptr, 512 * kPage, 0x7d), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  first->pages_list[3] = b.pa(3);
  EXPECT_EQ(nw().register_shm(buf_ptr, 512 * kPage, 0x7d), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x7d), TEE_SUCCESS);
}

// Ref 5.4: the low 12 bits of buf_ptr are the buffer's offset in its first page.
TEST_F(PageListTest, ListOffsetIsTheBufferOffset) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(2);
  fill_pattern(b.bytes(), b.size(), 11);
  ASSERT_EQ(nw().register_shm(nw().page_list(b, 0x123), 5000, 0x72), TEE_SUCCESS);
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 5000, 0x72}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes() + 0x123, 5000));
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x72), TEE_SUCCESS);
}

// #43, ref 5.4, B.4: every entry must be 4 KiB aligned -> else BAD_PARAMETERS.
TEST_F(PageListTest, EntriesMustBePageAligned) {
  ClientBuf& b = nw().client(3);
  for (uint64_t low : {1ull, 0x8ull, 0x800ull, 0xfffull}) {
    for (size_t bad_at : {size_t{0}, size_t{2}}) {
      auto e = b.entries();
      e[bad_at] |= low;
      EXPECT_EQ(nw().register_shm(nw().page_list(e), 3 * kPage, 0x73), TEE_ERROR_BAD_PARAMETERS);
    }
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
}

// #43, B.3, B.4, invariant 26: every entry must name non-secure RAM (secure DRAM, holes, frames
// beyond 44 bits, pages the normal world gave back -> BAD_PARAMETERS); the carve-out is
// non-secure memory (nsec_shared) and is accepted.
TEST_F(PageListTest, EntriesMustBeNonSecureRam) {
  ClientBuf& b = nw().client(2);
  for (uint64_t bad : std::vector<uint64_t>{hw::kSecureDramBase, hw::kSecureDramBase + 0x3000,
                                            kUnmappedPa, 0, 1ull << 52, 0xFFFFFFFFFFFFF000ull}) {
    EXPECT_EQ(nw().register_shm(nw().page_list({b.pa(0), bad}), 2 * kPage, 0x74),
              TEE_ERROR_BAD_PARAMETERS)
        << hex(bad);
  }
  // A page the normal world freed after writing the list (nothing reuses it before the call).
  NsPage gone = nw().page();
  const uint64_t list = nw().page_list({b.pa(0), gone.pa});
  Msg m = nw().msg(OPTEE_MSG_CMD_REGISTER_SHM, 1);
  m.p(0).attr = kRegisterAttr;
  m.p(0).u.tmem = {list, 2 * kPage, 0x74};
  nw().free_page(gone);
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  EXPECT_EQ(nw().register_shm(nw().page_list({b.pa(0), hw::kStaticShmBase}), 2 * kPage, 0x74),
            TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x74), TEE_SUCCESS);
}

// Ref 5.4, B.4: after 511 entries the last slot is the next list page: it must be 4 KiB aligned
// non-secure RAM -> else BAD_PARAMETERS.
TEST_F(PageListTest, NextPointerChecks) {
  ClientBuf& b = nw().client(512);
  std::vector<NsPage> lists;
  const uint64_t buf_ptr = nw().page_list(b.entries(), 0, &lists);
  ASSERT_EQ(lists.size(), 2u);
  auto* first = reinterpret_cast<optee_page_list_page*>(lists[0].host);
  for (uint64_t next : std::vector<uint64_t>{lists[1].pa | 8, lists[1].pa | 0xff8,
                                             hw::kSecureDramBase, kUnmappedPa, 0, 1ull << 52}) {
    first->next_page_data = next;
    EXPECT_EQ(nw().register_shm(buf_ptr, 512 * kPage, 0x75), TEE_ERROR_BAD_PARAMETERS)
        << hex(next);
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  first->next_page_data = lists[1].pa;
  EXPECT_EQ(nw().register_shm(buf_ptr, 512 * kPage, 0x75), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x75), TEE_SUCCESS);
}

// Ref 5.4: with exactly 511 entries the next pointer is never read (Linux leaves it unwritten).
TEST_F(PageListTest, NextPointerUnusedWhenNotNeeded) {
  ClientBuf& b = nw().client(511);
  std::vector<NsPage> lists;
  const uint64_t buf_ptr = nw().page_list(b.entries(), 0, &lists);
  reinterpret_cast<optee_page_list_page*>(lists[0].host)->next_page_data = 0xdead;
  EXPECT_EQ(nw().register_shm(buf_ptr, 511 * kPage, 0x76), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x76), TEE_SUCCESS);
}

// B.4 step 2-3, invariant 20: size + offset must not overflow and the page count must be one
// the secure heap could hold -> else BAD_PARAMETERS (before any entry is read).
TEST_F(PageListTest, SizeOverflowIsBadParameters) {
  ClientBuf& b = nw().client(1);
  const uint64_t list = nw().page_list(b);
  for (auto [offset, size] : std::vector<std::pair<uint32_t, uint64_t>>{
           {1, ~0ull}, {0xfff, ~0ull - 0xffe}, {0, ~0ull}, {0, 1ull << 63}, {0, 1ull << 50}}) {
    EXPECT_EQ(nw().register_shm(list | offset, size, 0x77), TEE_ERROR_BAD_PARAMETERS)
        << offset << "+" << size;
  }
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
}

// B.4 step 3 and mobj_reg_shm_alloc: size 0 at offset 0 is zero pages -> BAD_PARAMETERS; with a
// non-zero offset it spans one page and is accepted, as optee_os does.
TEST_F(PageListTest, SizeZero) {
  ClientBuf& b = nw().client(1);
  const uint64_t list = nw().page_list(b);
  EXPECT_EQ(nw().register_shm(list, 0, 0x78), TEE_ERROR_BAD_PARAMETERS);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
                            {list, 0, 0}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().register_shm(list | 0x10, 0, 0x78), TEE_SUCCESS);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x78), TEE_SUCCESS);
}

// Ref 5.4 (invariant 19 failure mode "next pointer loops to itself"): a list whose next pointer
// is its own page is harmless: exactly num_pages entries are read, the repeated pages are just
// pages. The object is not contiguous in host memory, so this runs the secure copy path too.
TEST_F(PageListTest, SelfLoopIsHarmless) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(511);
  fill_pattern(b.bytes(), b.size(), 21);
  std::vector<NsPage> lists;
  const uint64_t buf_ptr = nw().page_list(b.entries(), 0, &lists);
  ASSERT_EQ(lists.size(), 1u);
  reinterpret_cast<optee_page_list_page*>(lists[0].host)->next_page_data = lists[0].pa;
  ASSERT_EQ(nw().register_shm(buf_ptr, 1022 * kPage + 100, 0x79), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().registered_pages, 1023u);
  // Not host-contiguous: reached page by page, so the object keeps its frames.
  EXPECT_EQ(nw().os().audit().registered_frames_kept, 1023u);
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 1022 * kPage + 100, 0x79},
                            &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, 2 * sum_bytes(b.bytes(), b.size()) + sum_bytes(b.bytes(), 100));
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
                            {buf_ptr | 0x80, 1022 * kPage, 0x7a}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, 2 * sum_bytes(b.bytes(), b.size()));
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x79), TEE_SUCCESS);
}

// Ref 5.4, STYLE "every page-list length around the 511-entry boundary": 1, 510, 511, 512, 1022
// and 1023 pages register and pass as temporary memrefs, and the TA sees every byte.
TEST_F(PageListTest, LengthsAroundTheListPageBoundary) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  for (size_t n : {1u, 510u, 511u, 512u, 1022u, 1023u}) {
    ClientBuf& b = nw().client(n);
    fill_pattern(b.bytes(), b.size(), static_cast<uint8_t>(n));
    const uint64_t expect = sum_bytes(b.bytes() + 0x40, b.size() - 0x40);
    ASSERT_EQ(nw().register_shm(nw().page_list(b, 0x40), b.size() - 0x40, 0x1000 + n),
              TEE_SUCCESS)
        << n;
    EXPECT_EQ(nw().os().audit().registered_pages, n);
    // Host-contiguous client memory is reached through one host address: no frames kept.
    EXPECT_EQ(nw().os().audit().registered_frames_kept, 0u);
    uint64_t sum = 0;
    EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
                              {0, b.size() - 0x40, 0x1000 + n}, &sum),
              TEE_SUCCESS);
    EXPECT_EQ(sum, expect) << n;
    EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
                              {nw().page_list(b, 0x40), b.size() - 0x40, 0x2000 + n}, &sum),
              TEE_SUCCESS);
    EXPECT_EQ(sum, expect) << n;
    EXPECT_EQ(nw().unregister_shm(0x1000 + n), TEE_SUCCESS);
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}


// Ref 5.4 + "never a crash" (DESIGN): a page list that loops on itself can describe the largest
// object the secure OS accepts (kMaxPageListPages pages, 64 GiB) with one list page. Such an
// object is not contiguous in host memory, so a TA can only get a secure copy of it; a copy that
// size must fail cleanly with OUT_OF_MEMORY from the TEE, never take the secure OS down.
TEST_F(PageListTest, HugeLoopedObjectIsRefusedNotCopied) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  std::vector<NsPage> lists;
  const uint64_t buf_ptr =
      nw().page_list(std::vector<uint64_t>(kPageListEntriesPerPage, b.pa(0)), 0, &lists);
  reinterpret_cast<optee_page_list_page*>(lists[0].host)->next_page_data = lists[0].pa;
  const uint64_t huge = tee::kMaxPageListPages * kPage;
  ASSERT_EQ(nw().register_shm(buf_ptr, huge, 0x7b), TEE_SUCCESS);
  uint64_t sum = 0;
  uint32_t origin = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, huge, 0x7b}, &sum, &origin),
            TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG,
                            {buf_ptr, huge, 0x7c}, &sum, &origin),
            TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  // A small window of the same object still works.
  fill_pattern(b.bytes(), kPage, 3);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {kPage - 8, 16, 0x7b}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(b.bytes() + kPage - 8, 8) + sum_bytes(b.bytes(), 8));
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().unregister_shm(0x7b), TEE_SUCCESS);
}


// ============================================================================================
// Registered shared memory lifecycle (#47, B.5, invariants 29-30)
// ============================================================================================

using ShmLifecycleTest = SecureEntryTest;

// B.4 step 6, B.5 lookup: duplicate cookies are not refused; lookups and releases take the
// newest registration, then the older one is found again.
TEST_F(ShmLifecycleTest, DuplicateCookieNewestWins) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& older = nw().client(1);
  ClientBuf& newer = nw().client(1);
  fill_pattern(older.bytes(), kPage, 1);
  fill_pattern(newer.bytes(), kPage, 2);
  newer.bytes()[0] = 200;
  ASSERT_EQ(nw().register_buf(older, 0x80), TEE_SUCCESS);
  ASSERT_EQ(nw().register_buf(newer, 0x80), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().registered_shm, 2u);
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, 0x80}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(newer.bytes(), kPage));
  EXPECT_EQ(nw().unregister_shm(0x80), TEE_SUCCESS);
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, kPage, 0x80}, &sum),
            TEE_SUCCESS);
  EXPECT_EQ(sum, sum_bytes(older.bytes(), kPage));
  EXPECT_EQ(nw().unregister_shm(0x80), TEE_SUCCESS);
  uint32_t origin = 0;
  EXPECT_EQ(nw().unregister_shm(0x80, &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #47, B.5, invariant 30: UNREGISTER of an unknown cookie, or a second UNREGISTER of the same
// one -> BAD_PARAMETERS (TEE); an idle buffer is released at once (no sleep in the normal world).
TEST_F(ShmLifecycleTest, UnregisterUnknownOrTwiceIsBadParameters) {
  uint32_t origin = 0;
  EXPECT_EQ(nw().unregister_shm(0x81, &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x81), TEE_SUCCESS);
  nw().clear_events();
  EXPECT_EQ(nw().unregister_shm(0x81), TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) { return e.is_wait(); }), 0u);
  EXPECT_EQ(nw().unregister_shm(0x81, &origin), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
}

// #47, invariant 13: UNREGISTER_SHM carries exactly one RMEM_INPUT param -> else BAD_PARAMETERS
// and the buffer stays registered. (Stricter than optee_os, which reads rmem.shm_ref whatever
// the attr says; the mediator invariant and the Linux driver both use RMEM_INPUT.)
TEST_F(ShmLifecycleTest, UnregisterNeedsOneRmemInputParam) {
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x82), TEE_SUCCESS);
  for (uint32_t n : {0u, 2u}) {
    Msg m = nw().msg(OPTEE_MSG_CMD_UNREGISTER_SHM, n);
    m.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
    m.p(0).u.rmem = {0, 0, 0x82};
    EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
    EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS) << n;
  }
  Msg m = nw().msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.rmem = {0, 0, 0x82};
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().os().audit().registered_shm, 1u);
  EXPECT_EQ(nw().unregister_shm(0x82), TEE_SUCCESS);
}

// B.5 "guarded", invariant 30: the cookie of a temporary (NONCONTIG TMEM) memref cannot be
// unregistered even while the call using it runs -> BAD_PARAMETERS.
TEST_F(ShmLifecycleTest, UnregisterOfTemporaryCookieIsBadParameters) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  Msg inv = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  inv->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  inv->session = s;
  inv.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  inv.p(0).u.value = {0xFFFFFFFF, 0, 0};
  inv.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG;
  inv.p(1).u.tmem = {nw().page_list(b), kPage, 0x83};
  Call c = nw().start(MiniNw::with_arg(inv.pa));
  ASSERT_TRUE(nw().step_until_wait(c));
  EXPECT_EQ(nw().unregister_shm(0x83), TEE_ERROR_BAD_PARAMETERS);
  Msg cancel = nw().msg(OPTEE_MSG_CMD_CANCEL, 0);
  cancel->session = s;
  EXPECT_EQ(nw().call(cancel), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(nw().finish(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(inv->ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// #47, B.5, invariants 29-30: UNREGISTER of a buffer an INVOKE on another core is using sleeps
// in the normal world (NOTIFICATION WAIT from the unregistering thread) until the invoke drops
// its reference (which sends the wake-up); meanwhile every lookup of the cookie fails cleanly
// (RMEM -> BAD_PARAMETERS, REGD_ARG -> EBADADDR, a second UNREGISTER -> BAD_PARAMETERS).
TEST_F(ShmLifecycleTest, UnregisterWhileInUseSleepsUntilTheUserIsDone) {
  NwOptions o;
  o.threads = 3;
  boot(o);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  ASSERT_EQ(nw().register_buf(b, 0x84), TEE_SUCCESS);
  nw().clear_events();

  Msg inv = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  inv->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  inv->session = s;
  inv.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  inv.p(0).u.value = {0xFFFFFFFF, 0, 0};
  inv.p(1).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  inv.p(1).u.rmem = {0, kPage, 0x84};
  std::thread invoker([&] { EXPECT_EQ(nw().call(inv), OPTEE_SMC_RETURN_OK); });
  ASSERT_TRUE(nw().wait_for([](const Event& e) { return e.is_wait(); }));
  const Event inv_wait = nw().events().back();

  Msg un = nw().msg(OPTEE_MSG_CMD_UNREGISTER_SHM, 1);
  un.p(0).attr = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
  un.p(0).u.rmem = {0, 0, 0x84};
  un->ret = kSentinel;
  std::thread unregisterer([&] { EXPECT_EQ(nw().call(un), OPTEE_SMC_RETURN_OK); });
  ASSERT_TRUE(nw().wait_for(
      [&](const Event& e) { return e.is_wait() && e.thread != inv_wait.thread; }));
  Event un_wait;
  for (const Event& e : nw().events())
    if (e.is_wait() && e.thread != inv_wait.thread) un_wait = e;
  EXPECT_NE(un_wait.b, inv_wait.b);

  // The object is releasing: never handed out again.
  uint64_t sum = 0;
  EXPECT_EQ(nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 16, 0x84}, &sum),
            TEE_ERROR_BAD_PARAMETERS);
  write_probe(b.host, 0);
  EXPECT_EQ(nw().run(MiniNw::with_regd_arg(0x84, 0)), OPTEE_SMC_RETURN_EBADADDR);
  EXPECT_EQ(nw().unregister_shm(0x84), TEE_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(nw().os().audit().registered_shm, 1u);
  EXPECT_EQ(un->ret, kSentinel);  // still asleep

  Msg cancel = nw().msg(OPTEE_MSG_CMD_CANCEL, 0);
  cancel->session = s;
  EXPECT_EQ(nw().call(cancel), OPTEE_SMC_RETURN_OK);
  invoker.join();
  unregisterer.join();
  EXPECT_EQ(inv->ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(un->ret, TEE_SUCCESS);
  // The invoke's last reference woke the unregistering thread.
  EXPECT_EQ(nw().count([&](const Event& e) {
              return e.is_send() && e.b == un_wait.b && e.thread == inv_wait.thread;
            }),
            1u);
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// B.5, invariant 29: UNREGISTER racing with a stream of calls using the buffer on another core
// always completes: every user's last reference wakes the unregistering thread (a lost wake-up
// leaves it asleep in the normal world, which the harness turns into an abort), and calls that
// come after the release started are refused cleanly.
TEST_F(ShmLifecycleTest, UnregisterRacingWithUsersAlwaysCompletes) {
  NwOptions o;
  o.threads = 4;
  boot(o);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& b = nw().client(1);
  std::atomic<bool> stop{false};
  std::atomic<int> used{0}, refused{0};
  std::thread user([&] {
    while (!stop.load()) {
      uint64_t sum = 0;
      const uint32_t r =
          nw().invoke_sum(s, OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, {0, 64, 0x85}, &sum);
      if (r == TEE_SUCCESS)
        ++used;
      else if (r == TEE_ERROR_BAD_PARAMETERS)
        ++refused;
      else
        ADD_FAILURE() << hex(r);
    }
  });
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (int i = 0; (i < 300 || used.load() < 100 || refused.load() < 100) && Clock::now() < deadline;
       ++i) {
    EXPECT_EQ(nw().register_buf(b, 0x85), TEE_SUCCESS);
    EXPECT_EQ(nw().unregister_shm(0x85), TEE_SUCCESS);
  }
  stop = true;
  user.join();
  EXPECT_GT(used.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(nw().os().audit().registered_shm, 0u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// ============================================================================================
// RPC replies that lie (#49, B.9, invariants 31-32)
// ============================================================================================

using RpcReplyTest = SecureEntryTest;

// Opens a session to the shm-test TA; returns ret, origin in *origin.
uint32_t try_open(MiniNw& nw, uint32_t* origin, const Uuid& uuid = kTaUuid) {
  Msg m = nw.msg(OPTEE_MSG_CMD_OPEN_SESSION, 2);
  MiniNw::set_open_meta(m, uuid);
  EXPECT_EQ(nw.call(m), OPTEE_SMC_RETURN_OK);
  *origin = m->ret_origin;
  if (m->ret == TEE_SUCCESS) EXPECT_EQ(nw.close_session(m->session), TEE_SUCCESS);
  else EXPECT_EQ(m->session, 0u);
  return m->ret;
}

// B.9 thread_rpc_alloc_arg, invariant 32: an RPC_ALLOC answer the secure OS cannot use (secure
// DRAM, not 8-aligned, neither carve-out nor page aligned, nothing there, PA 0) is not used and
// goes straight back with RPC FREE of its cookie; the request needing it fails with
// OUT_OF_MEMORY from the TEE.
TEST_F(RpcReplyTest, UnusableRpcAllocAnswerIsFreed) {
  for (uint64_t bad : std::vector<uint64_t>{hw::kSecureDramBase, 0x8, 0x4, 0x800, 0,
                                            kUnmappedPa, 1ull << 52, hw::kStaticShmBase + 4,
                                            1ull << 44}) {
    uint64_t cookie = 0;
    nw().hook = [&](Rpc& r) {
      if (r.func != OPTEE_SMC_RPC_FUNC_ALLOC) return false;
      cookie = nw().answer_alloc(r);
      // Small values and 2^44 are offsets from the real page (2^44: an alias beyond the frames).
      uint64_t pa = bad < kPage || bad == (1ull << 44)
                        ? reg_pair_to_64(r.reply[1], r.reply[2]) + bad
                        : bad;
      if (bad == 0) pa = 0;
      reg_pair_from_64(pa, r.reply[1], r.reply[2]);
      return true;
    };
    nw().clear_events();
    uint32_t origin = 0;
    EXPECT_EQ(try_open(nw(), &origin), TEE_ERROR_OUT_OF_MEMORY) << hex(bad);
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(nw().count([&](const Event& e) {
                return e.func == OPTEE_SMC_RPC_FUNC_FREE && e.a == cookie;
              }),
              1u)
        << hex(bad);
    EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_CMD; }), 0u);
    EXPECT_EQ(nw().live_rpc_args(), 0u);
  }
  nw().hook = nullptr;
  uint32_t origin = 0;
  EXPECT_EQ(try_open(nw(), &origin), TEE_SUCCESS);
}

// Ref 4.4: a normal world that cannot allocate answers 0/0; with no cookie there is nothing to
// free (thread_rpc_free_arg skips cookie 0).
TEST_F(RpcReplyTest, FailedRpcAllocIsNotFreed) {
  nw().hook = [](Rpc& r) { return r.func == OPTEE_SMC_RPC_FUNC_ALLOC; };  // a1/a2/a4/a5 stay 0
  uint32_t origin = 0;
  EXPECT_EQ(try_open(nw(), &origin), TEE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().count([](const Event& e) { return e.func == OPTEE_SMC_RPC_FUNC_FREE; }), 0u);
  nw().hook = nullptr;
}

// B.9 get_rpc_alloc_res, invariant 31: an SHM_ALLOC reply with a real buffer the secure OS must
// refuse (size below the request, wrong attr, unusable page list, contiguous outside the
// carve-out and larger than a page, NULL) is handed back with SHM_FREE of its cookie; the TA
// load fails with OUT_OF_MEMORY from the TEE.
TEST_F(RpcReplyTest, UnusableShmAllocReplyIsFreed) {
  struct Lie {
    const char* what;
    std::function<void(optee_msg_param&, uint64_t buf_ptr, uint64_t size, uint64_t cookie)> lie;
  };
  const uint64_t nc = kRegisterAttr;
  const std::vector<Lie> lies = {
      {"size - 1", [&](optee_msg_param& p, uint64_t bp, uint64_t sz,
                       uint64_t c) { p.attr = nc, p.u.tmem = {bp, sz - 1, c}; }},
      {"size 0", [&](optee_msg_param& p, uint64_t bp, uint64_t,
                     uint64_t c) { p.attr = nc, p.u.tmem = {bp, 0, c}; }},
      {"TMEM_INPUT|NC", [&](optee_msg_param& p, uint64_t bp, uint64_t sz, uint64_t c) {
         p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG;
         p.u.tmem = {bp, sz, c};
       }},
      {"RMEM_OUTPUT", [&](optee_msg_param& p, uint64_t bp, uint64_t sz, uint64_t c) {
         p.attr = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
         p.u.tmem = {bp, sz, c};
       }},
      {"VALUE_OUTPUT", [&](optee_msg_param& p, uint64_t bp, uint64_t sz, uint64_t c) {
         p.attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
         p.u.tmem = {bp, sz, c};
       }},
      {"NC|META", [&](optee_msg_param& p, uint64_t bp, uint64_t sz, uint64_t c) {
         p.attr = nc | OPTEE_MSG_ATTR_META;
         p.u.tmem = {bp, sz, c};
       }},
      {"list in secure DRAM", [&](optee_msg_param& p, uint64_t, uint64_t sz,
                                  uint64_t c) { p.attr = nc, p.u.tmem = {hw::kSecureDramBase, sz, c}; }},
      {"list at PA 0", [&](optee_msg_param& p, uint64_t, uint64_t sz,
                           uint64_t c) { p.attr = nc, p.u.tmem = {0, sz, c}; }},
      {"contiguous > 1 page", [&](optee_msg_param& p, uint64_t bp, uint64_t sz, uint64_t c) {
         // The first data page, named directly: a dynamic contiguous buffer may be one page only.
         const auto* list = reinterpret_cast<const optee_page_list_page*>(
             nw().mem().host_of(pa_to_pfn(PhysAddr{bp})));
         p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
         p.u.tmem = {list->pages_list[0], sz, c};
       }},
      {"contiguous in secure DRAM", [&](optee_msg_param& p, uint64_t, uint64_t sz, uint64_t c) {
         p.attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
         p.u.tmem = {hw::kSecureDramBase, sz, c};
       }},
  };
  for (const Lie& l : lies) {
    uint64_t cookie = 0;
    nw().hook = [&](Rpc& r) {
      if (r.cmd() != OPTEE_RPC_CMD_SHM_ALLOC) return false;
      const uint64_t size = r.arg->params[0].u.value.b;
      uint64_t buf_ptr = 0;
      cookie = nw().alloc_shm_buf(size, &buf_ptr);
      l.lie(r.arg->params[0], buf_ptr, size, cookie);
      r.arg->ret = TEE_SUCCESS;
      return true;
    };
    nw().clear_events();
    uint32_t origin = 0;
    EXPECT_EQ(try_open(nw(), &origin), TEE_ERROR_OUT_OF_MEMORY) << l.what;
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(nw().count([&](const Event& e) {
                return e.is_cmd(OPTEE_RPC_CMD_SHM_FREE) && e.b == cookie &&
                       e.a == OPTEE_RPC_SHM_TYPE_APPL;
              }),
              1u)
        << l.what;
    EXPECT_EQ(nw().live_shm_bufs(), 0u) << l.what;
  }
  nw().hook = nullptr;
}

// B.9 get_rpc_alloc_res: a reply that reports failure (ret != 0), has num_params != 1 or was
// never answered at all allocated nothing: no SHM_FREE may name a cookie the normal world never
// handed out (ref 9.3 #23: the cookie is a kernel pointer in Linux).
TEST_F(RpcReplyTest, FailedShmAllocReplyIsNotFreed) {
  const std::vector<std::function<void(optee_msg_arg&)>> replies = {
      [](optee_msg_arg& a) {
        a.ret = TEE_ERROR_OUT_OF_MEMORY;
        a.params[0].attr = kRegisterAttr;
        a.params[0].u.tmem = {0x1000, 1 << 20, 0x5555};
      },
      [](optee_msg_arg& a) {
        a.ret = TEE_SUCCESS;
        a.num_params = 2;
        a.params[0].attr = kRegisterAttr;
        a.params[0].u.tmem = {0x1000, 1 << 20, 0x5555};
      },
      [](optee_msg_arg&) {},  // the normal world did not touch the argument
  };
  for (size_t i = 0; i < replies.size(); ++i) {
    nw().hook = [&](Rpc& r) {
      if (r.cmd() != OPTEE_RPC_CMD_SHM_ALLOC) return false;
      replies[i](*r.arg);
      return true;
    };
    nw().clear_events();
    uint32_t origin = 0;
    EXPECT_EQ(try_open(nw(), &origin), TEE_ERROR_OUT_OF_MEMORY) << i;
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(nw().count([](const Event& e) { return e.is_cmd(OPTEE_RPC_CMD_SHM_FREE); }), 0u)
        << i;
  }
  nw().hook = nullptr;
}

// B.9 step 3: a returned size at least the request is fine (more room is not a lie).
TEST_F(RpcReplyTest, LargerShmAllocIsAccepted) {
  nw().hook = [&](Rpc& r) {
    if (r.cmd() != OPTEE_RPC_CMD_SHM_ALLOC) return false;
    const uint64_t size = r.arg->params[0].u.value.b + 3 * kPage;
    uint64_t buf_ptr = 0;
    const uint64_t cookie = nw().alloc_shm_buf(size, &buf_ptr);
    r.arg->params[0].attr = kRegisterAttr;
    r.arg->params[0].u.tmem = {buf_ptr, size, cookie};
    r.arg->ret = TEE_SUCCESS;
    return true;
  };
  uint32_t origin = 0;
  EXPECT_EQ(try_open(nw(), &origin), TEE_SUCCESS);
  nw().hook = nullptr;
  EXPECT_EQ(nw().live_shm_bufs(), 0u);
}

// B.9 rpc_shm_mobj_alloc: a contiguous payload buffer in the carve-out is accepted.
TEST_F(RpcReplyTest, CarveoutShmAllocIsAccepted) {
  nw().hook = [&](Rpc& r) {
    if (r.cmd() == OPTEE_RPC_CMD_SHM_FREE && r.arg->params[0].u.value.b == 0xca) {
      r.arg->ret = TEE_SUCCESS;
      return true;
    }
    if (r.cmd() != OPTEE_RPC_CMD_SHM_ALLOC) return false;
    r.arg->params[0].attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
    r.arg->params[0].u.tmem = {hw::kStaticShmBase + 0x10000, r.arg->params[0].u.value.b, 0xca};
    r.arg->ret = TEE_SUCCESS;
    return true;
  };
  uint32_t origin = 0;
  EXPECT_EQ(try_open(nw(), &origin), TEE_SUCCESS);
  EXPECT_EQ(nw().count([](const Event& e) {
              return e.is_cmd(OPTEE_RPC_CMD_SHM_FREE) && e.b == 0xca;
            }),
            1u);
  nw().hook = nullptr;
}

// LOAD_TA: an image that is not a TA -> BAD_FORMAT (TEE); the payload buffer is freed.
TEST_F(RpcReplyTest, BogusTaImageIsBadFormat) {
  std::vector<std::vector<uint8_t>> images;
  images.emplace_back(4000, 0x41);
  images.emplace_back(ta_file().begin(), ta_file().begin() + 1000);  // truncated ELF
  std::vector<uint8_t> bad_class = ta_file();
  bad_class[4] = 1;  // ELFCLASS32
  images.push_back(bad_class);
  for (const auto& img : images) {
    nw().ta_image = img;
    uint32_t origin = 0;
    EXPECT_EQ(try_open(nw(), &origin), TEE_ERROR_BAD_FORMAT);
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(nw().live_shm_bufs(), 0u);
  }
  nw().ta_image = ta_file();
}

// LOAD_TA: a valid TA whose UUID is not the one asked for -> TEE_ERROR_SECURITY (TEE); a TA
// the normal world does not have -> ITEM_NOT_FOUND (TEE).
TEST_F(RpcReplyTest, TaWithWrongUuidIsSecurityError) {
  nw().served_uuid = kOtherUuid;
  uint32_t origin = 0;
  EXPECT_EQ(try_open(nw(), &origin, kOtherUuid), TEE_ERROR_SECURITY);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(try_open(nw(), &origin, kTaUuid), TEE_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  nw().served_uuid = kTaUuid;
  EXPECT_EQ(nw().live_shm_bufs(), 0u);
}

// LOAD_TA: sizes that change between the query and the load, or make no sense, are refused
// without using the buffer; whatever was allocated is freed.
TEST_F(RpcReplyTest, InconsistentTaSizesAreRefused) {
  int load = 0;
  nw().hook = [&](Rpc& r) {
    if (r.cmd() != OPTEE_RPC_CMD_LOAD_TA) return false;
    nw().serve_cmd(*r.arg);
    if (++load == 2) r.arg->params[1].u.tmem.size -= 1;  // second answer: one byte less
    return true;
  };
  uint32_t origin = 0;
  EXPECT_NE(try_open(nw(), &origin), TEE_SUCCESS);
  EXPECT_EQ(origin, TEE_ORIGIN_TEE);
  EXPECT_EQ(nw().live_shm_bufs(), 0u);
  for (uint64_t size : std::vector<uint64_t>{0, 1ull << 40}) {
    nw().hook = [&](Rpc& r) {
      if (r.cmd() != OPTEE_RPC_CMD_LOAD_TA) return false;
      r.arg->params[1].u.tmem.size = size;
      r.arg->ret = TEE_SUCCESS;
      return true;
    };
    nw().clear_events();
    EXPECT_NE(try_open(nw(), &origin), TEE_SUCCESS) << size;
    EXPECT_EQ(origin, TEE_ORIGIN_TEE);
    EXPECT_EQ(nw().count([](const Event& e) { return e.is_cmd(OPTEE_RPC_CMD_SHM_ALLOC); }), 0u);
  }
  nw().hook = nullptr;
}

// ============================================================================================
// Double fetch (B.7, invariant 10)
// ============================================================================================

using DoubleFetchTest = SecureEntryTest;

// B.7: while an INVOKE sleeps in the normal world (waiting for its busy TA instance) the normal
// world rewrites its argument page (cmd, func, session, num_params, attrs, memref fields) and the
// page list. The secure OS acts on what it validated: the TA sums the original pages over the
// original size, and only the output fields of the original attributes are written back.
TEST_F(DoubleFetchTest, RewritingTheArgumentDuringAnRpcChangesNothing) {
  NwOptions o;
  o.threads = 3;
  boot(o);
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ClientBuf& good = nw().client(2);
  ClientBuf& evil = nw().client(2);
  fill_pattern(good.bytes(), good.size(), 1);
  fill_pattern(evil.bytes(), evil.size(), 99);
  // Keep the instance busy: a TEE_Wait that only a cancel ends.
  Msg hold = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  hold->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  hold->session = s;
  hold.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  hold.p(0).u.value = {0xFFFFFFFF, 0, 0};
  Call ch = nw().start(MiniNw::with_arg(hold.pa));
  ASSERT_TRUE(nw().step_until_wait(ch));

  std::vector<NsPage> lists;
  const uint64_t len = 2 * kPage - 3;
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 2);
  m->func = TA_SHM_TEST_CMD_SUM;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_TMEM_INPUT | OPTEE_MSG_ATTR_NONCONTIG;
  m.p(0).u.tmem = {nw().page_list(good.entries(), 0, &lists), len, 0x33};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT;
  Call cm = nw().start(MiniNw::with_arg(m.pa));
  ASSERT_TRUE(nw().step_until_wait(cm));  // decoded, now waiting to enter the TA

  m->cmd = OPTEE_MSG_CMD_CLOSE_SESSION;
  m->func = TA_SHM_TEST_CMD_PANIC;
  m->session = 0xdead;
  m->num_params = 127;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
  m.p(0).u.tmem = {nw().page_list(evil), 1, 0x34};
  m.p(1).attr = OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT;
  m.p(1).u.tmem = {hw::kSecureDramBase, 4, 0};
  auto* list = reinterpret_cast<optee_page_list_page*>(lists[0].host);
  list->pages_list[0] = evil.pa(0);
  list->pages_list[1] = hw::kSecureDramBase;

  Msg cancel = nw().msg(OPTEE_MSG_CMD_CANCEL, 0);
  cancel->session = s;
  EXPECT_EQ(nw().call(cancel), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(nw().finish(ch), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(hold->ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(nw().finish(cm), OPTEE_SMC_RETURN_OK);

  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  const uint64_t expect = sum_bytes(good.bytes(), len);
  EXPECT_EQ(m.p(1).u.value.a, expect & 0xffffffff);  // written as VALUE_OUTPUT (saved attr)
  EXPECT_EQ(m.p(1).u.value.b, expect >> 32);
  EXPECT_EQ(m.p(0).u.tmem.size, 1u);  // an input memref: nothing written back
  EXPECT_EQ(m.p(0).attr, OPTEE_MSG_ATTR_TYPE_VALUE_INOUT);  // attrs are never written
  EXPECT_EQ(m->num_params, 127u);
  EXPECT_EQ(nw().os().audit().sessions, 1u);  // the rewritten CLOSE did not happen
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// ============================================================================================
// TA faults and cancellation (ref 9.3 #29, DESIGN "TAs")
// ============================================================================================

using TaTest = SecureEntryTest;

// A TA panic -> TARGET_DEAD from the TEE; the session stays dead (TARGET_DEAD, origin TEE) until
// closed; other instances are unaffected and the dead instance is gone after the close.
TEST_F(TaTest, PanicIsTargetDeadAndStaysDead) {
  uint32_t s = 0, other = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  ASSERT_EQ(nw().open_session(&other), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().instances, 2u);
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 0);
  m->func = TA_SHM_TEST_CMD_PANIC;
  m->session = s;
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_TARGET_DEAD);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TEE);
  for (uint32_t session : {s, other}) {
    Msg i = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
    i->func = TA_SHM_TEST_CMD_INC;
    i->session = session;
    i.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INOUT;
    i.p(0).u.value = {1, 1, 0};
    EXPECT_EQ(nw().call(i), OPTEE_SMC_RETURN_OK);
    if (session == s) {
      EXPECT_EQ(i->ret, TEE_ERROR_TARGET_DEAD);
      EXPECT_EQ(i->ret_origin, TEE_ORIGIN_TEE);
      EXPECT_EQ(i.p(0).u.value.a, 1u);
    } else {
      EXPECT_EQ(i->ret, TEE_SUCCESS);
      EXPECT_EQ(i.p(0).u.value.a, 2u);
    }
  }
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
  EXPECT_EQ(nw().os().audit().instances, 1u);
  EXPECT_EQ(nw().close_session(other), TEE_SUCCESS);
}

// Ref 9.3 #29, 5.5 NOTIFICATION: CANCEL wakes a TA sleeping in TEE_Wait: the cancelling thread
// sends NOTIFICATION SEND for the waiting thread's key, the wait ends with TEE_ERROR_CANCEL.
TEST_F(TaTest, CancelWakesTeeWait) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  m->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.value = {0xFFFFFFFF, 0, 0};
  Call c = nw().start(MiniNw::with_arg(m.pa));
  ASSERT_TRUE(nw().step_until_wait(c));
  const uint64_t key = nw().pending_cmd(c)->params[0].u.value.b;
  const uint32_t waiter = c.thread();
  EXPECT_NE(key, 0u);
  EXPECT_EQ(nw().pending_cmd(c)->params[0].u.value.c, 0u);  // no timeout
  nw().clear_events();
  Msg cancel = nw().msg(OPTEE_MSG_CMD_CANCEL, 0);
  cancel->session = s;
  EXPECT_EQ(nw().call(cancel), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(cancel->ret, TEE_SUCCESS);
  const auto ev = nw().events();
  ASSERT_FALSE(ev.empty());
  EXPECT_TRUE(std::any_of(ev.begin(), ev.end(), [&](const Event& e) {
    return e.is_send() && e.b == key && e.thread != waiter;
  }));
  EXPECT_EQ(nw().finish(c), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_ERROR_CANCEL);
  EXPECT_EQ(m->ret_origin, TEE_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

// NOTIFICATION WAIT carries the TEE_Wait timeout; a wait that times out is a normal return.
TEST_F(TaTest, TeeWaitTimesOut) {
  uint32_t s = 0;
  ASSERT_EQ(nw().open_session(&s), TEE_SUCCESS);
  Msg m = nw().msg(OPTEE_MSG_CMD_INVOKE_COMMAND, 1);
  m->func = TA_SHM_TEST_CMD_WAIT_CANCEL;
  m->session = s;
  m.p(0).attr = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  m.p(0).u.value = {20, 0, 0};
  nw().clear_events();
  EXPECT_EQ(nw().call(m), OPTEE_SMC_RETURN_OK);
  EXPECT_EQ(m->ret, TEE_SUCCESS);
  EXPECT_GE(nw().count([](const Event& e) { return e.is_wait() && e.c > 0 && e.c <= 20; }), 1u);
  EXPECT_EQ(nw().close_session(s), TEE_SUCCESS);
}

}  // namespace
}  // namespace teemu
