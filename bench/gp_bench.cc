// Microbenchmarks. End to end through the public GP Client API on the embedded machine, next to
// the native baselines they are compared with (a pipe ping-pong, the same loop in the client);
// then one layer at a time on a machine of their own (uapi ioctl, SMC + world switch, page-list
// parse, frame lookup, frame aliasing). The end-to-end report is `teemu bench`
// (docs/performance.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "abi/optee_msg.h"
#include "abi/optee_smc.h"
#include "abi/tee_uapi.h"
#include "hw/phys_mem.h"
#include "platform/config.h"
#include "platform/embedded.h"
#include "platform/machine.h"
#include "ree/kernel.h"
#include "tee/page_list.h"
#include "tee/secure_os.h"
// After teemu's headers: the GP header defines TEE_ERROR_* macros.
#include "tee_client_api.h"

namespace {

const TEEC_UUID kShmTest = {0xf9b9acc0, 0x806d, 0x415c,
                            {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};

struct Client {
  TEEC_Context ctx{};
  TEEC_Session sess{};
  Client() {
    // Once per process (thread-safe static init): setenv must not race with another Client.
    static const bool env_set = setenv("TEEMU_TA_PATH", TEEMU_BENCH_TA_DIR, 0) == 0;
    (void)env_set;
    if (TEEC_InitializeContext(nullptr, &ctx) != TEEC_SUCCESS ||
        TEEC_OpenSession(&ctx, &sess, &kShmTest, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr) !=
            TEEC_SUCCESS)
      std::abort();
  }
  ~Client() {
    TEEC_CloseSession(&sess);
    TEEC_FinalizeContext(&ctx);
  }
};

Client& client() {
  static Client c;
  return c;
}

// Sum of bytes, the same loop as the shm-test TA's SUM.
__attribute__((noinline)) uint64_t native_sum(const uint8_t* b, size_t n) {
  uint64_t s[8] = {0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += b[i + k];
  uint64_t sum = 0;
  for (int k = 0; k < 8; k++) sum += s[k];
  for (; i < n; i++) sum += b[i];
  return sum;
}

void BM_EmptyInvoke(benchmark::State& state) {
  Client& c = client();
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  for (auto _ : state) {
    if (TEEC_InvokeCommand(&c.sess, 2, &op, nullptr) != TEEC_SUCCESS) state.SkipWithError("invoke");
  }
}
BENCHMARK(BM_EmptyInvoke);

// The empty invoke from several client threads at once, each with its own context and session
// (one TA instance each: an instance runs one entry point at a time). Per-thread time; the
// aggregate rate is items_per_second.
void BM_EmptyInvokeThreads(benchmark::State& state) {
  Client c;
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  for (auto _ : state) {
    if (TEEC_InvokeCommand(&c.sess, 2, &op, nullptr) != TEEC_SUCCESS) state.SkipWithError("invoke");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmptyInvokeThreads)->Threads(1)->Threads(2)->UseRealTime();

void BM_PipePingPong(benchmark::State& state) {
  int a[2], b[2];
  if (pipe(a) != 0 || pipe(b) != 0) std::abort();
  std::thread peer([&] {
    char c;
    while (read(a[0], &c, 1) == 1) {
      if (c == 'q') break;
      if (write(b[1], &c, 1) != 1) break;
    }
  });
  char c = 'x';
  for (auto _ : state) {
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) state.SkipWithError("pipe");
  }
  c = 'q';
  (void)!write(a[1], &c, 1);
  peer.join();
  close(a[0]);
  close(a[1]);
  close(b[0]);
  close(b[1]);
}
BENCHMARK(BM_PipePingPong);

void BM_OpenClose(benchmark::State& state) {
  Client& c = client();
  for (auto _ : state) {
    TEEC_Session s;
    if (TEEC_OpenSession(&c.ctx, &s, &kShmTest, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr) !=
        TEEC_SUCCESS)
      state.SkipWithError("open");
    TEEC_CloseSession(&s);
  }
}
BENCHMARK(BM_OpenClose);

void BM_RegisterUnregister(benchmark::State& state) {
  Client& c = client();
  const size_t size = static_cast<size_t>(state.range(0)) << 20;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
  std::memset(buf, 1, size);
  for (auto _ : state) {
    TEEC_SharedMemory shm{};
    shm.buffer = buf;
    shm.size = size;
    shm.flags = TEEC_MEM_INPUT;
    if (TEEC_RegisterSharedMemory(&c.ctx, &shm) != TEEC_SUCCESS) state.SkipWithError("register");
    TEEC_ReleaseSharedMemory(&shm);
  }
  state.counters["ns_per_page"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(size / 4096),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::free(buf);
}
BENCHMARK(BM_RegisterUnregister)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond);

void BM_Memcpy(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0)) << 20;
  std::vector<uint8_t> a(size, 1), b(size, 2);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), size);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Memcpy)->Arg(64)->Unit(benchmark::kMicrosecond);

void BM_TaSumRegistered(benchmark::State& state) {
  Client& c = client();
  const size_t size = static_cast<size_t>(state.range(0)) << 20;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<uint8_t>(i);
  TEEC_SharedMemory shm{};
  shm.buffer = buf;
  shm.size = size;
  shm.flags = TEEC_MEM_INPUT;
  if (TEEC_RegisterSharedMemory(&c.ctx, &shm) != TEEC_SUCCESS) std::abort();
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  for (auto _ : state) {
    if (TEEC_InvokeCommand(&c.sess, 0, &op, nullptr) != TEEC_SUCCESS) state.SkipWithError("sum");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  TEEC_ReleaseSharedMemory(&shm);
  std::free(buf);
}
BENCHMARK(BM_TaSumRegistered)->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

void BM_TaSumTemporary(benchmark::State& state) {
  Client& c = client();
  const size_t size = static_cast<size_t>(state.range(0)) << 20;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<uint8_t>(i);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = buf;
  op.params[0].tmpref.size = size;
  for (auto _ : state) {
    if (TEEC_InvokeCommand(&c.sess, 0, &op, nullptr) != TEEC_SUCCESS) state.SkipWithError("sum");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  std::free(buf);
}
BENCHMARK(BM_TaSumTemporary)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_NativeSum(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0)) << 20;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, size));
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<uint8_t>(i);
  for (auto _ : state) benchmark::DoNotOptimize(native_sum(buf, size));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  std::free(buf);
}
BENCHMARK(BM_NativeSum)->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

// ---- one layer at a time -------------------------------------------------------------------

// A machine of its own for the layer benchmarks (the embedded one belongs to the GP client).
teemu::platform::Machine& layer_machine() {
  static std::unique_ptr<teemu::platform::Machine> m = [] {
    teemu::platform::MachineConfig config;
    config.ta_path = {TEEMU_BENCH_TA_DIR};
    std::string err;
    auto machine = teemu::platform::Machine::create(config, &err);
    if (!machine) std::abort();
    return machine;
  }();
  return *m;
}

// uapi: one TEE_IOC_VERSION ioctl on /dev/tee0 (descriptor lookup, copy in/out, driver op).
void BM_UapiVersionIoctl(benchmark::State& state) {
  teemu::ree::Kernel& k = layer_machine().kernel();
  const int fd = k.sys_open("/dev/tee0");
  if (fd < 0) std::abort();
  for (auto _ : state) {
    teemu::abi::tee_ioctl_version_data v{};
    if (k.sys_ioctl(fd, teemu::abi::TEE_IOC_VERSION, &v) != 0) state.SkipWithError("ioctl");
    benchmark::DoNotOptimize(v);
  }
  k.sys_close(fd);
}
BENCHMARK(BM_UapiVersionIoctl);

// SMC + world switch: a fast call (CALLS_UID) straight into the secure OS, no thread, no message.
void BM_SmcFastCallUid(benchmark::State& state) {
  teemu::tee::SecureOs& os = layer_machine().secure_os();
  teemu::abi::SmcRegs in;
  in[0] = teemu::abi::OPTEE_SMC_CALLS_UID;
  if (os.smc(in).w(0) != teemu::abi::OPTEE_MSG_UID_0) std::abort();
  for (auto _ : state) {
    teemu::abi::SmcRegs out = os.smc(in);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_SmcFastCallUid);

// Pinned frames aliasing a page-aligned host buffer of n pages, and a page list naming them in
// non-secure DRAM, written the way the driver writes it (optee_fill_pages_list).
struct PageListFixture {
  teemu::hw::PhysMem& mem;
  std::vector<uint8_t*> host;
  std::vector<teemu::Pfn> frames, list_pages;
  uint64_t buf_ptr = 0;

  PageListFixture(teemu::hw::PhysMem& m, size_t n) : mem(m), frames(n) {
    auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, n * 4096));
    if (buf == nullptr || !mem.alias_host_pages(reinterpret_cast<uintptr_t>(buf), frames))
      std::abort();
    host.push_back(buf);
    const size_t lists =
        (n + teemu::abi::kPageListEntriesPerPage - 1) / teemu::abi::kPageListEntriesPerPage;
    for (size_t i = 0; i < lists; ++i) {
      auto p = mem.alloc_ns_page();
      if (!p) std::abort();
      list_pages.push_back(*p);
    }
    size_t idx = 0;
    for (size_t l = 0; l < lists; ++l) {
      auto* lp = reinterpret_cast<teemu::abi::optee_page_list_page*>(mem.host_of(list_pages[l]));
      for (size_t e = 0; e < teemu::abi::kPageListEntriesPerPage && idx < n; ++e)
        lp->pages_list[e] = teemu::pfn_to_pa(frames[idx++]).value;
      if (l + 1 < lists) lp->next_page_data = teemu::pfn_to_pa(list_pages[l + 1]).value;
    }
    buf_ptr = teemu::pfn_to_pa(list_pages[0]).value;
  }
  ~PageListFixture() {
    for (teemu::Pfn p : list_pages) mem.free_ns_page(p);
    mem.unalias(frames);
    for (uint8_t* b : host) std::free(b);
  }
};

// Secure side: reading and checking a page list of n entries into a private array
// (tee::extract_page_list, what REGISTER_SHM and NONCONTIG TMEM params do).
void BM_PageListParse(benchmark::State& state) {
  teemu::hw::PhysMem& mem = layer_machine().mem();
  const size_t n = static_cast<size_t>(state.range(0));
  PageListFixture f(mem, n);
  for (auto _ : state) {
    auto r = teemu::tee::extract_page_list(mem, f.buf_ptr, n * 4096);
    if (!r || r->pages.size() != n) state.SkipWithError("extract_page_list");
    benchmark::DoNotOptimize(r);
  }
  state.counters["ns_per_page"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(n),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PageListParse)->Arg(1)->Arg(511)->Arg(512)->Arg(16384)->Arg(262144);

// Normal-world side: building a page list of n entries as the driver does (its builder is
// private; this is the same work on the same PhysMem calls: one kernel page per 511 entries,
// zeroed by alloc_ns_page, filled, then freed after the call).
void BM_PageListBuild(benchmark::State& state) {
  teemu::hw::PhysMem& mem = layer_machine().mem();
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<teemu::Pfn> frames(n);
  for (size_t i = 0; i < n; ++i) frames[i] = teemu::hw::kScatteredFirstPfn + static_cast<teemu::Pfn>(i);
  const size_t lists =
      (n + teemu::abi::kPageListEntriesPerPage - 1) / teemu::abi::kPageListEntriesPerPage;
  std::vector<teemu::Pfn> list_pages;
  list_pages.reserve(lists);
  for (auto _ : state) {
    for (size_t i = 0; i < lists; ++i) {
      auto p = mem.alloc_ns_page();
      if (!p) {
        state.SkipWithError("alloc_ns_page");
        break;
      }
      list_pages.push_back(*p);
    }
    size_t idx = 0;
    for (size_t l = 0; l < list_pages.size(); ++l) {
      auto* lp = reinterpret_cast<teemu::abi::optee_page_list_page*>(mem.host_of(list_pages[l]));
      for (size_t e = 0; e < teemu::abi::kPageListEntriesPerPage && idx < n; ++e)
        lp->pages_list[e] = teemu::pfn_to_pa(frames[idx++]).value;
      if (l + 1 < list_pages.size()) lp->next_page_data = teemu::pfn_to_pa(list_pages[l + 1]).value;
    }
    benchmark::ClobberMemory();
    for (teemu::Pfn p : list_pages) mem.free_ns_page(p);
    list_pages.clear();
  }
  state.counters["ns_per_page"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(n),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PageListBuild)->Arg(1)->Arg(511)->Arg(512)->Arg(16384)->Arg(262144);

// Frame lookup: hw::PhysMem::frame over 4096 scattered pinned frames (the secure side's only way
// to reach normal-world memory).
void BM_FrameLookup(benchmark::State& state) {
  teemu::hw::PhysMem& mem = layer_machine().mem();
  PageListFixture f(mem, 4096);
  size_t i = 0;
  for (auto _ : state) {
    auto fr = mem.frame(f.frames[i]);
    benchmark::DoNotOptimize(fr);
    i = (i + 1) & 4095;
  }
}
BENCHMARK(BM_FrameLookup);

// Pinning's frame side: alias n host pages to fresh frames and release them
// (hw::PhysMem::alias_host_pages + unalias; what REGISTER costs besides the pin check).
void BM_FrameAliasUnalias(benchmark::State& state) {
  teemu::hw::PhysMem& mem = layer_machine().mem();
  const size_t n = static_cast<size_t>(state.range(0));
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, n * 4096));
  std::vector<teemu::Pfn> frames(n);
  for (auto _ : state) {
    if (!mem.alias_host_pages(reinterpret_cast<uintptr_t>(buf), frames))
      state.SkipWithError("alias");
    mem.unalias(frames);
  }
  state.counters["ns_per_page"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(n),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::free(buf);
}
BENCHMARK(BM_FrameAliasUnalias)->Arg(1)->Arg(256)->Arg(16384)->Arg(262144);

}  // namespace

BENCHMARK_MAIN();
