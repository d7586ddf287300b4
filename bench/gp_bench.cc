// End-to-end microbenchmarks through the public GP Client API on the embedded machine, next to
// the native baselines they are compared with (a pipe ping-pong, the same loop in the client).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "platform/embedded.h"
// After teemu's headers: the GP header defines TEE_ERROR_* macros.
#include "tee_client_api.h"

namespace {

const TEEC_UUID kShmTest = {0xf9b9acc0, 0x806d, 0x415c,
                            {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};

struct Client {
  TEEC_Context ctx{};
  TEEC_Session sess{};
  Client() {
    setenv("TEEMU_TA_PATH", TEEMU_BENCH_TA_DIR, 0);
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

}  // namespace

BENCHMARK_MAIN();
