#include "soak.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hyp/hypervisor.h"
#include "platform/embedded.h"
#include "platform/machine.h"
// After teemu's headers: the GP header defines TEE_ERROR_* macros.
#include "tee_client_api.h"

namespace teemu::tool {

namespace {

const TEEC_UUID kShmTest = {0xf9b9acc0, 0x806d, 0x415c,
                            {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
enum : uint32_t { kSum = 0, kFill = 1, kInc = 2, kWait = 5, kXor = 6 };

// The churned guest's processes live and die with it: before the guest is reaped, every client
// thread in it has finalized its context (a real VM's processes do not outlive the VM).
class GuestGate {
 public:
  // Blocks while the guest is being replaced; false once the soak is over.
  bool enter(const std::atomic<bool>& stop) {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return open_ || stop.load(); });
    if (stop.load()) return false;
    ++inside_;
    return true;
  }
  void leave() {
    std::lock_guard<std::mutex> l(m_);
    --inside_;
    cv_.notify_all();
  }
  // Closes the gate; `kill` runs once no new client can enter, then this waits for the others.
  template <typename F>
  void close_and_drain(F kill) {
    {
      std::lock_guard<std::mutex> l(m_);
      open_ = false;
    }
    kill();
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return inside_ == 0; });
  }
  void open() {
    std::lock_guard<std::mutex> l(m_);
    open_ = true;
    cv_.notify_all();
  }
  void wake_all() {
    std::lock_guard<std::mutex> l(m_);
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = true;
  int inside_ = 0;
};

struct Tally {
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> wrong{0};      // a result that is wrong: always a failure
  std::atomic<uint64_t> errors{0};     // an error where none was expected
  std::atomic<uint64_t> guest_gone{0}; // calls that failed because their guest was destroyed
};

uint64_t sum_bytes(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// One client: random operations on its own sessions and buffers, every result checked.
void client(uint32_t guest, uint32_t index, uint64_t seed, const std::atomic<bool>& stop,
            const std::atomic<uint32_t>& churned, GuestGate& gate, Tally& t) {
  std::mt19937_64 rng(seed);
  const std::string name = guest == 0 ? "" : "teemu-guest:" + std::to_string(guest);
  const bool churnable = guest != 0 && guest == churned.load();
  while (!stop.load()) {
    if (churnable && !gate.enter(stop)) break;
    TEEC_Context ctx;
    if (TEEC_InitializeContext(guest == 0 ? nullptr : name.c_str(), &ctx) != TEEC_SUCCESS) {
      if (!churnable) {
        ++t.errors;
        std::fprintf(stderr, "teemu soak: guest %u client %u: no context\n", guest, index);
        break;
      }
      gate.leave();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    std::vector<TEEC_Session> sessions;
    std::vector<uint8_t> buf(64 * 1024 + 37);
    int failures = 0;
    for (int step = 0; step < 200 && !stop.load() && failures == 0; ++step) {
      const int what = static_cast<int>(rng() % 8);
      TEEC_Result r = TEEC_SUCCESS;
      if (sessions.empty() || what == 0) {
        TEEC_Session s;
        r = TEEC_OpenSession(&ctx, &s, &kShmTest, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr);
        if (r == TEEC_SUCCESS) sessions.push_back(s);
      } else if (what == 1 && sessions.size() > 1) {
        TEEC_CloseSession(&sessions.back());
        sessions.pop_back();
      } else {
        TEEC_Session& s = sessions[rng() % sessions.size()];
        const size_t off = rng() % 4099, len = 1 + rng() % (buf.size() - off - 1);
        const uint8_t key = static_cast<uint8_t>(rng() | 1);
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + index);
        if (what == 2 || what == 3) {  // registered buffer: XOR a partial range in place
          TEEC_SharedMemory shm{};
          shm.buffer = buf.data();
          shm.size = buf.size();
          shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
          r = TEEC_RegisterSharedMemory(&ctx, &shm);
          if (r == TEEC_SUCCESS) {
            TEEC_Operation op{};
            op.paramTypes =
                TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_INOUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
            op.params[0].memref.parent = &shm;
            op.params[0].memref.offset = off;
            op.params[0].memref.size = len;
            op.params[1].value.a = key;
            r = TEEC_InvokeCommand(&s, kXor, &op, nullptr);
            if (r == TEEC_SUCCESS)
              for (size_t i = 0; i < buf.size(); ++i) {
                uint8_t want = static_cast<uint8_t>(i * 7 + index);
                if (i >= off && i < off + len) want ^= key;
                if (buf[i] != want) {
                  ++t.wrong;
                  break;
                }
              }
            TEEC_ReleaseSharedMemory(&shm);
          }
        } else if (what == 4) {  // temporary memref SUM
          TEEC_Operation op{};
          op.paramTypes =
              TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
          op.params[0].tmpref.buffer = buf.data() + off;
          op.params[0].tmpref.size = len;
          r = TEEC_InvokeCommand(&s, kSum, &op, nullptr);
          const uint64_t got = (uint64_t{op.params[1].value.b} << 32) | op.params[1].value.a;
          if (r == TEEC_SUCCESS && got != sum_bytes(buf.data() + off, len)) ++t.wrong;
        } else if (what == 5) {  // allocated shared memory FILL
          TEEC_SharedMemory shm{};
          shm.size = len;
          shm.flags = TEEC_MEM_OUTPUT;
          r = TEEC_AllocateSharedMemory(&ctx, &shm);
          if (r == TEEC_SUCCESS) {
            TEEC_Operation op{};
            op.paramTypes =
                TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
            op.params[0].memref.parent = &shm;
            op.params[1].value.a = key;
            r = TEEC_InvokeCommand(&s, kFill, &op, nullptr);
            const auto* p = static_cast<const uint8_t*>(shm.buffer);
            if (r == TEEC_SUCCESS && (p[0] != key || p[len - 1] != uint8_t(key + len - 1)))
              ++t.wrong;
            TEEC_ReleaseSharedMemory(&shm);
          }
        } else if (what == 6) {  // a short cancellable wait, cancelled from another thread
          TEEC_Operation op{};
          op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
          op.params[0].value.a = 20;
          std::thread canceller([&op] {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            TEEC_RequestCancellation(&op);
          });
          r = TEEC_InvokeCommand(&s, kWait, &op, nullptr);
          canceller.join();
          if (r == TEEC_ERROR_CANCEL) r = TEEC_SUCCESS;
        } else {  // INC
          TEEC_Operation op{};
          op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
          op.params[0].value.a = static_cast<uint32_t>(step);
          r = TEEC_InvokeCommand(&s, kInc, &op, nullptr);
          if (r == TEEC_SUCCESS && op.params[0].value.a != static_cast<uint32_t>(step + 1))
            ++t.wrong;
        }
      }
      if (r == TEEC_SUCCESS) {
        ++t.ops;
      } else if (churnable) {
        ++t.guest_gone;  // its guest was destroyed under it: expected
        ++failures;
      } else {
        ++t.errors;
        ++failures;
        std::fprintf(stderr, "teemu soak: guest %u client %u: unexpected 0x%x\n", guest, index,
                     r);
      }
    }
    for (auto& s : sessions) TEEC_CloseSession(&s);
    TEEC_FinalizeContext(&ctx);
    if (churnable) gate.leave();
  }
}

}  // namespace

int run_soak(const SoakOptions& o) {
  if (o.guests != 0) {
    setenv("TEEMU_GUESTS", std::to_string(o.guests).c_str(), 1);
    setenv("TEEMU_GUEST", "1", 1);
  }
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) return 1;
  const bool churn = o.guests >= 2 && o.churn_guest;
  std::printf("teemu soak: %.1f s, %u client threads%s%s, seed %llu\n", o.seconds, o.threads,
              o.guests ? (" in each of " + std::to_string(o.guests) + " guests").c_str() : "",
              churn ? ", the last guest destroyed and recreated repeatedly" : "",
              static_cast<unsigned long long>(o.seed));
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> churned{churn ? o.guests : 0};
  Tally t;
  GuestGate gate;
  std::vector<std::thread> threads;
  const uint32_t groups = o.guests == 0 ? 1 : o.guests;
  for (uint32_t g = 0; g < groups; ++g)
    for (uint32_t i = 0; i < o.threads; ++i)
      threads.emplace_back(client, o.guests == 0 ? 0 : g + 1, i, o.seed * 1000 + g * 100 + i,
                           std::cref(stop), std::cref(churned), std::ref(gate), std::ref(t));
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(o.seconds);
  uint64_t recreated = 0;
  int last_pct = -1;
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(churn ? 300 : 200));
    if (churn) {
      hyp::Hypervisor* hyp = m->hypervisor();
      const auto id = static_cast<uint16_t>(o.guests);
      // Its clients' calls fail once it is killed; they let go of the kernel, then it is freed.
      gate.close_and_drain([&] { hyp->kill_guest(id); });
      hyp->reap_guest(id);
      hyp::GuestConfig gc;
      gc.ta_path = m->config().ta_path;
      if (auto g = hyp->create_guest(id, gc); g) {
        ++recreated;
      } else {
        std::fprintf(stderr, "teemu soak: guest %u not recreated: %s\n", id, g.error().c_str());
        ++t.errors;
      }
      gate.open();
    }
    const double pct = 100.0 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / o.seconds;
    if (isatty(2) && static_cast<int>(pct) / 10 != last_pct) {
      last_pct = static_cast<int>(pct) / 10;
      std::fprintf(stderr, "\r  %3d%%  %llu operations", std::min(100, static_cast<int>(pct)),
                   static_cast<unsigned long long>(t.ops.load()));
    }
  }
  stop = true;
  gate.wake_all();
  for (auto& th : threads) th.join();
  if (isatty(2)) std::fprintf(stderr, "\n");
  auto a = m->audit();
  std::printf("  operations %llu, wrong results %llu, unexpected errors %llu, calls ended by "
              "their guest's destruction %llu, guests recreated %llu\n",
              static_cast<unsigned long long>(t.ops.load()),
              static_cast<unsigned long long>(t.wrong.load()),
              static_cast<unsigned long long>(t.errors.load()),
              static_cast<unsigned long long>(t.guest_gone.load()),
              static_cast<unsigned long long>(recreated));
  std::printf("  machine %s\n",
              a.quiescent() ? "quiescent" : ("NOT quiescent: " + a.describe()).c_str());
  const bool ok = t.wrong.load() == 0 && t.errors.load() == 0 && a.quiescent() && t.ops.load() > 0;
  std::printf("  %s\n", ok ? "ok" : "FAILED");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace teemu::tool
