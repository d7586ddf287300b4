#include "bench_measure.h"

#include <malloc.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "bench_sum.h"
#include "hw/machine_stats.h"
#include "hw/phys_mem.h"
#include "platform/embedded.h"
#include "platform/machine.h"
// The GP header defines TEE_ERROR_* macros: it comes after every teemu header.
#include "tee_client_api.h"

extern char** environ;

namespace teemu::tool::bench {

namespace {

const TEEC_UUID kShmTestUuid = {0xf9b9acc0, 0x806d, 0x415c,
                                {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
// tas/shm_test/include/shm_test_ta.h
constexpr uint32_t kCmdSum = 0;
constexpr uint32_t kCmdInc = 2;
constexpr uint64_t kPage = 4096;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "0x%08x", v);
  return b;
}

void check(TEEC_Result r, const char* what, uint32_t origin = 0) {
  if (r != TEEC_SUCCESS)
    throw BenchError(std::string(what) + " failed: " + hex(r) + " (origin " +
                     std::to_string(origin) + ")");
}

// A page-aligned buffer whose pages are all faulted in (so that first-touch costs are not
// measured as registration or summing costs).
class Buffer {
 public:
  explicit Buffer(uint64_t size) : size_(size) {
    const uint64_t rounded = (size + kPage - 1) / kPage * kPage;
    ptr_ = static_cast<uint8_t*>(std::aligned_alloc(kPage, rounded));
    if (ptr_ == nullptr) throw BenchError("out of memory allocating " + std::to_string(size));
    std::memset(ptr_, 0x5a, rounded);
  }
  ~Buffer() { std::free(ptr_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() const { return ptr_; }
  uint64_t size() const { return size_; }
  // A byte pattern that sums differently for every size; returns its sum.
  uint64_t fill_pattern() {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < size_; ++i) {
      ptr_[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
      sum += ptr_[i];
    }
    return sum;
  }

 private:
  uint8_t* ptr_ = nullptr;
  uint64_t size_ = 0;
};

// One context with one session on the shm-test TA.
class Client {
 public:
  // `name`: the TEEC context name; "teemu-guest:<id>" reaches guest <id>'s kernel.
  explicit Client(const char* name = nullptr) {
    check(TEEC_InitializeContext(name, &ctx_),
          name != nullptr ? (std::string("TEEC_InitializeContext(") + name + ")").c_str()
                          : "TEEC_InitializeContext");
    uint32_t origin = 0;
    TEEC_Result r = TEEC_OpenSession(&ctx_, &sess_, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr,
                                     nullptr, &origin);
    if (r != TEEC_SUCCESS) {
      TEEC_FinalizeContext(&ctx_);
      check(r, "TEEC_OpenSession(shm-test TA)", origin);
    }
  }
  ~Client() {
    TEEC_CloseSession(&sess_);
    TEEC_FinalizeContext(&ctx_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  TEEC_Context* ctx() { return &ctx_; }
  TEEC_Session* sess() { return &sess_; }

  // The empty invoke: INC on one value parameter.
  void inc() {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].value.a = 1;
    uint32_t origin = 0;
    check(TEEC_InvokeCommand(&sess_, kCmdInc, &op, &origin), "invoke INC", origin);
    if (op.params[0].value.a != 2) throw BenchError("invoke INC returned a wrong value");
  }
  void open_close() {
    TEEC_Session s;
    uint32_t origin = 0;
    check(TEEC_OpenSession(&ctx_, &s, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                           &origin),
          "TEEC_OpenSession", origin);
    TEEC_CloseSession(&s);
  }
  // SUM over a registered buffer; with a stack offset, the TA's loop is moved that many bytes
  // down its stack (as native_sum_at moves the client's).
  uint64_t sum_registered(TEEC_SharedMemory* shm, std::optional<uint32_t> stack_offset = {}) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT,
                                     stack_offset ? TEEC_VALUE_INPUT : TEEC_NONE, TEEC_NONE);
    op.params[0].memref.parent = shm;
    if (stack_offset) op.params[2].value.a = *stack_offset;
    return sum(op);
  }
  uint64_t sum_temp(void* buf, size_t size) {
    TEEC_Operation op{};
    op.paramTypes =
        TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
    op.params[0].tmpref.buffer = buf;
    op.params[0].tmpref.size = size;
    return sum(op);
  }

 private:
  uint64_t sum(TEEC_Operation& op) {
    uint32_t origin = 0;
    check(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), "invoke SUM", origin);
    return (uint64_t{op.params[1].value.b} << 32) | op.params[1].value.a;
  }

  TEEC_Context ctx_{};
  TEEC_Session sess_{};
};

// A registered buffer for the lifetime of the object.
class Registration {
 public:
  Registration(Client& c, void* buf, uint64_t size, uint32_t flags = TEEC_MEM_INPUT) {
    shm_.buffer = buf;
    shm_.size = size;
    shm_.flags = flags;
    check(TEEC_RegisterSharedMemory(c.ctx(), &shm_), "TEEC_RegisterSharedMemory");
  }
  ~Registration() { TEEC_ReleaseSharedMemory(&shm_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  TEEC_SharedMemory* get() { return &shm_; }

 private:
  TEEC_SharedMemory shm_{};
};

void register_release(Client& c, void* buf, uint64_t size) {
  TEEC_SharedMemory shm{};
  shm.buffer = buf;
  shm.size = size;
  shm.flags = TEEC_MEM_INPUT;
  check(TEEC_RegisterSharedMemory(c.ctx(), &shm), "TEEC_RegisterSharedMemory");
  TEEC_ReleaseSharedMemory(&shm);
}

// A thread echoing bytes: one round trip = write to it, read its answer.
class PipePeer {
 public:
  PipePeer() {
    if (pipe(to_) != 0 || pipe(from_) != 0) throw BenchError("pipe() failed");
    peer_ = std::thread([this] {
      char c;
      while (read(to_[0], &c, 1) == 1) {
        if (c == 'q' || write(from_[1], &c, 1) != 1) break;
      }
    });
  }
  ~PipePeer() {
    char c = 'q';
    (void)!write(to_[1], &c, 1);
    peer_.join();
    for (int fd : {to_[0], to_[1], from_[0], from_[1]}) close(fd);
  }
  PipePeer(const PipePeer&) = delete;
  PipePeer& operator=(const PipePeer&) = delete;
  void round_trip() {
    char c = 'x';
    if (write(to_[1], &c, 1) != 1 || read(from_[0], &c, 1) != 1)
      throw BenchError("pipe ping-pong failed");
  }

 private:
  int to_[2] = {-1, -1}, from_[2] = {-1, -1};
  std::thread peer_;
};

// Runs n operations and returns ns per operation.
using Batch = std::function<double(uint64_t)>;

template <class F>
Batch batch_of(F f) {
  return [f](uint64_t n) mutable {
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) f();
    return static_cast<double>(now_ns() - t0) / static_cast<double>(n);
  };
}

uint64_t cpu_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Like batch_of, and appends the CPU time per operation to *cpu (one entry per batch, calibration
// batches included: callers keep the last `runs` entries): the calling thread's, or with
// CLOCK_PROCESS_CPUTIME_ID that of every thread of the process (tee-supplicant's included).
template <class F>
Batch batch_with_cpu(F f, std::vector<double>* cpu, clockid_t clock = CLOCK_THREAD_CPUTIME_ID) {
  return [f, cpu, clock](uint64_t n) mutable {
    const uint64_t c0 = cpu_ns(clock), t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) f();
    const uint64_t t1 = now_ns(), c1 = cpu_ns(clock);
    cpu->push_back(static_cast<double>(c1 - c0) / static_cast<double>(n));
    return static_cast<double>(t1 - t0) / static_cast<double>(n);
  };
}

double median_of_last(const std::vector<double>& v, int runs) {
  const size_t k = std::min(v.size(), static_cast<size_t>(runs));
  return median(std::vector<double>(v.end() - static_cast<std::ptrdiff_t>(k), v.end()));
}

// Warms the operation up and returns how many of them make a batch of about min_ns.
uint64_t calibrate(const Batch& b, double min_ns) {
  double per = b(1);  // warm-up: first calls fault in code, caches, lazily built state
  for (uint64_t n = 1;; n *= 8) {
    per = b(n);
    if (per * static_cast<double>(n) >= min_ns / 8 || n >= (1u << 24)) break;
  }
  return std::max<uint64_t>(1, static_cast<uint64_t>(min_ns / std::max(per, 1.0)));
}

// Each operation's ns per call in every run; the operations alternate run by run.
std::vector<std::vector<double>> interleave(int runs, double min_batch_ns,
                                            const std::vector<Batch>& ops, const Tick& tick) {
  std::vector<uint64_t> iters;
  for (const Batch& b : ops) iters.push_back(calibrate(b, min_batch_ns));
  std::vector<std::vector<double>> out(ops.size());
  for (int r = 0; r < runs; ++r) {
    for (size_t i = 0; i < ops.size(); ++i) out[i].push_back(ops[i](iters[i]));
    if (tick) tick(static_cast<double>(r + 1) / runs);
  }
  return out;
}

}  // namespace

namespace {

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) throw BenchError("cannot find my own executable (/proc/self/exe)");
  buf[n] = 0;
  return buf;
}

}  // namespace

// Runs `teemu bench --phase NAME` in a child process with `env` set on top of ours (so it gets a
// machine of its own with that configuration) and returns the JSON it printed.
nlohmann::json run_phase(const std::string& phase, bool quick,
                         const std::vector<std::pair<std::string, std::string>>& env) {
  // Everything the child needs is prepared before fork(): after it only exec-safe calls.
  const std::string exe = self_exe();
  std::vector<std::string> args = {exe, "bench", "--phase", phase};
  if (quick) args.push_back("--quick");
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    bool overridden = false;
    for (const auto& [k, v] : env)
      if (std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=') overridden = true;
    if (!overridden) envs.emplace_back(*e);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) throw BenchError("pipe() failed");
  pid_t pid = fork();
  if (pid < 0) throw BenchError("fork() failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw BenchError("the child phase '" + phase + "' failed (" +
                     (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status))) +
                     ")");
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw BenchError("the child phase '" + phase + "' printed no JSON: " + text);
  }
}

Plan Plan::full() { return Plan{}; }

Plan Plan::quick_run() {
  Plan p;
  p.quick = true;
  p.runs = 5;
  p.min_batch_ns = 10e6;
  p.large_bytes = 256ull << 20;
  p.latency_samples = 5000;
  p.scaling_runs = 3;
  p.scaling_window_ns = 100e6;
  p.scaling_threads = {1, 2};
  p.sweep_batch_ns = 3e6;
  p.sweep_runs = 3;
  return p;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p * static_cast<double>(v.size()));
  const size_t idx = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return v[std::min(idx, v.size() - 1)];
}

namespace {

template <class F>
PathCounts count_path(int n, F f) {
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) throw BenchError("no embedded machine");
  hw::MachineStats& s = m->stats();
  const int64_t smc0 = s.smc_calls.get(), rpc0 = s.rpcs.get(),
                supp0 = s.supplicant_requests.get();
  for (int i = 0; i < n; ++i) f();
  const double d = n;
  return {static_cast<double>(s.smc_calls.get() - smc0) / d,
          static_cast<double>(s.rpcs.get() - rpc0) / d,
          static_cast<double>(s.supplicant_requests.get() - supp0) / d};
}

}  // namespace

LatencyFigures measure_latency(const Plan& plan, const Tick& tick) {
  Client c;
  PipePeer pipe;
  std::vector<double> invoke_cpu, open_close_cpu;
  auto r = interleave(
      plan.runs, plan.min_batch_ns,
      {batch_with_cpu([&] { c.inc(); }, &invoke_cpu, CLOCK_PROCESS_CPUTIME_ID),
       batch_of([&] { pipe.round_trip(); }),
       batch_with_cpu([&] { c.open_close(); }, &open_close_cpu, CLOCK_PROCESS_CPUTIME_ID)},
      tick);
  LatencyFigures out{median(r[0]), median(r[1]), median(r[2]), {}, {}};
  out.invoke_cpu_ns = median_of_last(invoke_cpu, plan.runs);
  out.open_close_cpu_ns = median_of_last(open_close_cpu, plan.runs);
  out.invoke_counts = count_path(100, [&] { c.inc(); });
  out.open_close_counts = count_path(20, [&] { c.open_close(); });
  return out;
}

LatencySamples sample_latency(const Plan& plan, const Tick& tick) {
  Client c;
  PipePeer pipe;
  LatencySamples s;
  const int n = plan.latency_samples;
  // One block of each, so neither perturbs the other's caches or scheduling.
  auto sample = [&](std::vector<double>& out, auto op, double base) {
    out.reserve(static_cast<size_t>(n));
    for (int i = 0; i < 100; ++i) op();  // warm-up
    for (int i = 0; i < n; ++i) {
      const uint64_t t0 = now_ns();
      op();
      out.push_back(static_cast<double>(now_ns() - t0));
      if (tick && (i + 1) % 500 == 0) tick(base + 0.5 * (i + 1) / n);
    }
  };
  sample(s.invoke_ns, [&] { c.inc(); }, 0);
  sample(s.pipe_ns, [&] { pipe.round_trip(); }, 0.5);
  return s;
}

RegisterFigures measure_register_vs_memcpy(const Plan& plan, const Tick& tick) {
  Client c;
  Buffer src(plan.big_bytes), dst(plan.big_bytes);
  auto r = interleave(plan.runs, plan.min_batch_ns,
                      {batch_of([&] { register_release(c, src.data(), src.size()); }),
                       batch_of([&] {
                         std::memcpy(dst.data(), src.data(), src.size());
                         asm volatile("" ::: "memory");  // the copy must happen every time
                       })},
                      tick);
  return {median(r[0]), median(r[1])};
}

double measure_register_large(const Plan& plan, const Tick& tick) {
  Client c;
  Buffer buf(plan.large_bytes);
  auto r = interleave(plan.runs, plan.min_batch_ns,
                      {batch_of([&] { register_release(c, buf.data(), buf.size()); })}, tick);
  return median(r[0]);
}

std::vector<SweepPoint> measure_register_sweep(const Plan& plan, const Tick& tick) {
  Client c;
  Buffer buf(plan.large_bytes);
  std::vector<uint64_t> sizes;
  for (uint64_t s = kPage; s <= plan.large_bytes; s *= 2) sizes.push_back(s);
  std::vector<SweepPoint> out;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const uint64_t size = sizes[k];
    // Register and release timed one by one (two clock reads each, ~50 ns, negligible from
    // 4 KiB up); a run is a batch of pairs, the point is the median of the runs' means.
    auto run = [&](uint64_t n, double* reg, double* rel) {
      uint64_t treg = 0, trel = 0;
      for (uint64_t i = 0; i < n; ++i) {
        TEEC_SharedMemory shm{};
        shm.buffer = buf.data();
        shm.size = size;
        shm.flags = TEEC_MEM_INPUT;
        uint64_t t0 = now_ns();
        check(TEEC_RegisterSharedMemory(c.ctx(), &shm), "TEEC_RegisterSharedMemory");
        uint64_t t1 = now_ns();
        TEEC_ReleaseSharedMemory(&shm);
        uint64_t t2 = now_ns();
        treg += t1 - t0;
        trel += t2 - t1;
      }
      *reg = static_cast<double>(treg) / static_cast<double>(n);
      *rel = static_cast<double>(trel) / static_cast<double>(n);
    };
    double reg = 0, rel = 0;
    run(1, &reg, &rel);  // warm-up
    run(4, &reg, &rel);
    const uint64_t n =
        std::max<uint64_t>(1, static_cast<uint64_t>(plan.sweep_batch_ns / std::max(reg + rel, 1.0)));
    std::vector<double> regs, rels;
    for (int r = 0; r < plan.sweep_runs; ++r) {
      run(n, &reg, &rel);
      regs.push_back(reg);
      rels.push_back(rel);
    }
    out.push_back({size, median(regs), median(rels)});
    if (tick) tick(static_cast<double>(k + 1) / static_cast<double>(sizes.size()));
  }
  return out;
}

SumFigures measure_zero_copy(const Plan& plan, const Tick& tick) {
  Client c;
  Buffer buf(plan.big_bytes);
  const uint64_t expect = buf.fill_pattern();
  Registration reg(c, buf.data(), buf.size());
  if (c.sum_registered(reg.get()) != expect) throw BenchError("TA SUM returned a wrong sum");
  if (native_sum(buf.data(), buf.size()) != expect) throw BenchError("native sum is wrong");
  std::atomic<uint64_t> sink{0};
  std::vector<double> ta_cpu, native_cpu;
  // Both loops move their stack frame by 256 bytes per pair of batches, over the 16 placements
  // in a page (see native_sum_at and the TA's cmd_sum): each median is the median placement,
  // not the one ASLR (the client) or the call depth (the TA) happens to give.
  size_t batch = 0;
  auto r = interleave(
      plan.runs, plan.min_batch_ns,
      {batch_with_cpu(
           [&] {
             sink.fetch_add(c.sum_registered(reg.get(), static_cast<uint32_t>(batch % 16) * 256),
                            std::memory_order_relaxed);
           },
           &ta_cpu),
       [&, inner = batch_with_cpu(
               [&] {
                 sink.fetch_add(native_sum_at(buf.data(), buf.size(), (batch % 16) * 256),
                                std::memory_order_relaxed);
               },
               &native_cpu)](uint64_t n) mutable {
         const double ns = inner(n);
         ++batch;
         return ns;
       }},
      tick);
  SumFigures out;
  out.ta_ns = median(r[0]);
  out.native_ns = median(r[1]);
  out.ta_cpu_ns = median_of_last(ta_cpu, plan.runs);
  out.native_cpu_ns = median_of_last(native_cpu, plan.runs);
  const std::vector<double> last(native_cpu.end() - std::min<std::ptrdiff_t>(
                                                        static_cast<std::ptrdiff_t>(native_cpu.size()),
                                                        plan.runs),
                                 native_cpu.end());
  out.native_cpu_min_ns = *std::min_element(last.begin(), last.end());
  out.native_cpu_max_ns = *std::max_element(last.begin(), last.end());
  out.rpcs_per_sum = count_path(2, [&] { c.sum_registered(reg.get()); }).rpcs;
  return out;
}

TempFigures measure_temp_vs_registered(const Plan& plan, const Tick& tick) {
  Client c;
  Buffer tmp(plan.small_bytes), regbuf(plan.small_bytes);
  const uint64_t expect = tmp.fill_pattern();
  regbuf.fill_pattern();
  Registration reg(c, regbuf.data(), regbuf.size());
  if (c.sum_temp(tmp.data(), tmp.size()) != expect || c.sum_registered(reg.get()) != expect)
    throw BenchError("TA SUM returned a wrong sum");
  auto r = interleave(plan.runs, plan.min_batch_ns,
                      {batch_of([&] { c.sum_temp(tmp.data(), tmp.size()); }),
                       batch_of([&] { c.sum_registered(reg.get()); })},
                      tick);
  return {median(r[0]), median(r[1])};
}

namespace {

uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Throughput of `threads` client threads doing empty invokes for one window, the process CPU time
// per invoke and the CPUs used.
struct WindowResult {
  double invokes_per_s, cpu_ns_per_invoke, cpus_used;
};
// Thread t's context name: the default context, or with `per_guest` guest t+1's kernel.
enum class Placement { kDefault, kGuestPerThread };

WindowResult scaling_run(const Plan& plan, int threads, Placement where = Placement::kDefault) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  std::vector<uint64_t> counts(static_cast<size_t>(threads), 0);
  std::mutex err_mu;
  std::string err;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      try {
        const std::string name = "teemu-guest:" + std::to_string(t + 1);
        Client c(where == Placement::kGuestPerThread ? name.c_str() : nullptr);  // own session
        c.inc();
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          c.inc();
          ++n;
        }
        counts[static_cast<size_t>(t)] = n;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        err = e.what();
        ready.fetch_add(1);
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const uint64_t t0 = now_ns(), cpu0 = process_cpu_ns();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(plan.scaling_window_ns)));
  stop.store(true);
  const uint64_t t1 = now_ns(), cpu1 = process_cpu_ns();
  for (auto& t : ts) t.join();
  if (!err.empty()) throw BenchError(err);
  uint64_t total = 0;
  for (uint64_t n : counts) total += n;
  if (total == 0) throw BenchError("no invoke completed in a throughput window");
  return {static_cast<double>(total) * 1e9 / static_cast<double>(t1 - t0),
          static_cast<double>(cpu1 - cpu0) / static_cast<double>(total),
          static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0)};
}

// CPUs two busy-looping threads get in a window of window_ns.
double spin_cpus_used(double window_ns) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sink{0};
  const uint64_t t0 = now_ns(), cpu0 = process_cpu_ns();
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) ++n;
      sink.fetch_add(n);
    });
  std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(window_ns)));
  stop.store(true);
  for (auto& t : ts) t.join();
  const uint64_t t1 = now_ns(), cpu1 = process_cpu_ns();
  return static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0);
}

}  // namespace

std::vector<ScalingPoint> measure_scaling(const Plan& plan, const std::vector<int>& threads,
                                          const Tick& tick, double* spin_cpus) {
  std::vector<double> spin;
  std::vector<std::vector<double>> runs(threads.size()), cpu(threads.size()),
      used(threads.size());
  for (int t : threads) scaling_run(plan, t);  // warm-up (first contexts, instances)
  for (int r = 0; r < plan.scaling_runs; ++r) {
    for (size_t i = 0; i < threads.size(); ++i) {
      const WindowResult w = scaling_run(plan, threads[i]);
      runs[i].push_back(w.invokes_per_s);
      cpu[i].push_back(w.cpu_ns_per_invoke);
      used[i].push_back(w.cpus_used);
    }
    spin.push_back(spin_cpus_used(plan.scaling_window_ns / 3));
    if (tick) tick(static_cast<double>(r + 1) / plan.scaling_runs);
  }
  if (spin_cpus != nullptr) *spin_cpus = median(spin);
  std::vector<ScalingPoint> out;
  for (size_t i = 0; i < threads.size(); ++i)
    out.push_back({threads[i], median(runs[i]), median(cpu[i]), median(used[i])});
  return out;
}

std::optional<GuestFigures> measure_guest(const Plan& plan, const Tick& tick, std::string* why) {
  // Both sides in children, alternating: a machine with a hypervisor and one guest (this
  // process's contexts go to guest 1's kernel, through the mediator) and one without.
  const int pairs = plan.quick ? 1 : 3;
  std::vector<double> guest, native;
  for (int i = 0; i < pairs; ++i) {
    auto g = run_phase("invoke", plan.quick, {{"TEEMU_GUESTS", "1"}, {"TEEMU_GUEST", "1"}});
    if (tick) tick((2.0 * i + 1) / (2 * pairs + 1));
    auto n = run_phase("invoke", plan.quick, {{"TEEMU_GUESTS", "0"}});
    if (tick) tick((2.0 * i + 2) / (2 * pairs + 1));
    if (g.at("guests").get<uint32_t>() != 1 || n.at("guests").get<uint32_t>() != 0) {
      *why = "the child phases did not get the guest setting they asked for";
      return std::nullopt;
    }
    guest.push_back(g.at("invoke_ns").get<double>());
    native.push_back(n.at("invoke_ns").get<double>());
  }
  GuestFigures out;
  out.invoke_ns = median(guest);
  out.native_invoke_ns = median(native);
  // Throughput against the number of guests, one client thread in each.
  const int max_guests = plan.scaling_threads.back();
  auto sc = run_phase("guest-scaling", plan.quick,
                      {{"TEEMU_GUESTS", std::to_string(max_guests)}, {"TEEMU_GUEST", "1"}});
  for (const auto& p : sc.at("points"))
    out.by_guests.push_back({p.at("guests").get<int>(), p.at("invokes_per_s").get<double>(),
                             p.at("cpu_ns_per_invoke").get<double>(),
                             p.at("cpus_used").get<double>()});
  if (tick) tick(1);
  return out;
}

// ---- child phases ------------------------------------------------------------------------

nlohmann::json phase_invoke(const Plan& plan) {
  Client c;
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) throw BenchError("no embedded machine");
  auto r = interleave(plan.runs, plan.min_batch_ns, {batch_of([&] { c.inc(); })}, nullptr);
  nlohmann::json out;
  out["invoke_ns"] = median(r[0]);
  out["guests"] = m->config().guests;
  return out;
}

nlohmann::json phase_guest_scaling(const Plan& plan) {
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) throw BenchError("no embedded machine");
  const int guests = static_cast<int>(m->config().guests);
  if (guests < 1) throw BenchError("guest-scaling needs TEEMU_GUESTS >= 1");
  std::vector<int> counts;
  for (int g = 1; g <= guests; ++g) counts.push_back(g);
  std::vector<std::vector<double>> tput(counts.size()), cpu(counts.size()), used(counts.size());
  for (int g : counts) scaling_run(plan, g, Placement::kGuestPerThread);  // warm-up
  for (int r = 0; r < plan.scaling_runs; ++r) {
    for (size_t i = 0; i < counts.size(); ++i) {
      const WindowResult w = scaling_run(plan, counts[i], Placement::kGuestPerThread);
      tput[i].push_back(w.invokes_per_s);
      cpu[i].push_back(w.cpu_ns_per_invoke);
      used[i].push_back(w.cpus_used);
    }
  }
  nlohmann::json points = nlohmann::json::array();
  for (size_t i = 0; i < counts.size(); ++i)
    points.push_back({{"guests", counts[i]},
                      {"invokes_per_s", median(tput[i])},
                      {"cpu_ns_per_invoke", median(cpu[i])},
                      {"cpus_used", median(used[i])}});
  nlohmann::json out;
  out["points"] = points;
  return out;
}

nlohmann::json phase_temp_sum(const Plan& plan) {
  Client c;
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) throw BenchError("no embedded machine");
  Buffer buf(plan.small_bytes);
  const uint64_t expect = buf.fill_pattern();
  if (c.sum_temp(buf.data(), buf.size()) != expect) throw BenchError("TA SUM returned a wrong sum");
  const int64_t copied0 = m->stats().payload_bytes_copied.get();
  c.sum_temp(buf.data(), buf.size());
  const int64_t copied = m->stats().payload_bytes_copied.get() - copied0;
  auto r = interleave(plan.runs, plan.min_batch_ns,
                      {batch_of([&] { c.sum_temp(buf.data(), buf.size()); })}, nullptr);
  nlohmann::json out;
  out["temp_sum_ns"] = median(r[0]);
  out["bytes_copied_per_call"] = copied;
  out["dynamic_shm"] = m->config().dynamic_shm;
  out["static_shm_size"] = m->config().static_shm_size;
  return out;
}

namespace {

// Bytes the allocator has handed out: in-use arena chunks plus mmap'd chunks (every arena).
int64_t heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
}

int64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace

nlohmann::json phase_metadata(const Plan& plan) {
  Client c;
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) throw BenchError("no embedded machine");
  {
    // Warm-up: lazily built state (tables, caches, the first argument pages) is the machine's,
    // not the registration's.
    Buffer small(1 << 20);
    register_release(c, small.data(), small.size());
    register_release(c, small.data(), small.size());
  }
  Buffer buf(plan.large_bytes);
  auto* shm = new TEEC_SharedMemory{};  // allocated before the baseline: not counted
  const int64_t h0 = heap_bytes(), rss0 = rss_bytes();
  const int64_t fa0 = m->mem().frames_aliased();
  auto reg = [&] {
    *shm = TEEC_SharedMemory{};
    shm->buffer = buf.data();
    shm->size = buf.size();
    shm->flags = TEEC_MEM_INPUT;
    check(TEEC_RegisterSharedMemory(c.ctx(), shm), "TEEC_RegisterSharedMemory");
  };
  reg();
  const int64_t h1 = heap_bytes(), rss1 = rss_bytes();
  const int64_t frames = m->mem().frames_aliased() - fa0;
  TEEC_ReleaseSharedMemory(shm);
  const int64_t h2 = heap_bytes();
  reg();
  const int64_t h3 = heap_bytes(), rss3 = rss_bytes();
  TEEC_ReleaseSharedMemory(shm);
  delete shm;
  const double pages = static_cast<double>(buf.size() / kPage);
  if (frames <= 0) throw BenchError("registering did not alias any frame");
  nlohmann::json out;
  out["bytes"] = buf.size();
  out["pages"] = buf.size() / kPage;
  out["frames_aliased"] = frames;
  // Frame-table entries: one 8-byte word per aliased frame (hw::PhysMem).
  out["frame_table_bytes_per_page"] = 8.0 * static_cast<double>(frames) / pages;
  out["heap_first_bytes_per_page"] = static_cast<double>(h1 - h0) / pages;
  out["heap_retained_after_release_bytes_per_page"] = static_cast<double>(h2 - h0) / pages;
  out["heap_steady_bytes_per_page"] = static_cast<double>(h3 - h0) / pages;
  out["rss_first_bytes_per_page"] = static_cast<double>(rss1 - rss0) / pages;
  out["rss_steady_bytes_per_page"] = static_cast<double>(rss3 - rss0) / pages;
  return out;
}

}  // namespace teemu::tool::bench
