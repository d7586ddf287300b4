#include "demo_guests.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "hyp/hypervisor.h"
#include "platform/embedded.h"
#include "platform/machine.h"
#include "tee/secure_os.h"
// After teemu's headers: the GP header defines TEE_ERROR_* macros.
#include "tee_client_api.h"

namespace teemu::tool {

namespace {

const TEEC_UUID kShmTest = {0xf9b9acc0, 0x806d, 0x415c,
                            {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};

struct GuestTally {
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> wrong_data{0};
  std::atomic<bool> stopped_by_destroy{false};
};

// One client program in guest `id`: sessions, registered buffers (a pattern only this guest
// writes), temporary memrefs, until `stop` or until its guest is gone.
void client(uint32_t id, int thread, GuestTally& t, const std::atomic<bool>& stop) {
  TEEC_Context ctx;
  const std::string name = "teemu-guest:" + std::to_string(id);
  if (TEEC_InitializeContext(name.c_str(), &ctx) != TEEC_SUCCESS) {
    ++t.errors;
    return;
  }
  const uint8_t mark = static_cast<uint8_t>(id * 16 + thread);
  std::vector<uint8_t> buf(256 * 1024 + 17);
  uint64_t i = 0;
  while (!stop.load()) {
    TEEC_Session s;
    if (TEEC_OpenSession(&ctx, &s, &kShmTest, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr) !=
        TEEC_SUCCESS) {
      ++t.errors;
      break;
    }
    bool failed = false;
    for (int round = 0; round < 8 && !stop.load() && !failed; ++round, ++i) {
      // FILL a registered buffer in place, then check every byte is ours.
      TEEC_SharedMemory shm{};
      shm.buffer = buf.data() + (i % 13);
      shm.size = buf.size() - (i % 13);
      shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
      if (TEEC_RegisterSharedMemory(&ctx, &shm) != TEEC_SUCCESS) {
        failed = true;
        break;
      }
      TEEC_Operation op{};
      op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
      op.params[0].memref.parent = &shm;
      op.params[1].value.a = mark;
      if (TEEC_InvokeCommand(&s, 1, &op, nullptr) != TEEC_SUCCESS) failed = true;
      const auto* p = static_cast<const uint8_t*>(shm.buffer);
      if (!failed)
        for (size_t k = 0; k < shm.size; k += 511)
          if (p[k] != static_cast<uint8_t>(mark + k)) {
            ++t.wrong_data;
            break;
          }
      TEEC_ReleaseSharedMemory(&shm);
      // SUM through a temporary memref.
      TEEC_Operation sum{};
      sum.paramTypes =
          TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
      sum.params[0].tmpref.buffer = buf.data();
      sum.params[0].tmpref.size = 4096 * 3;
      if (!failed && TEEC_InvokeCommand(&s, 0, &sum, nullptr) != TEEC_SUCCESS) failed = true;
      if (!failed) t.ops += 2;
    }
    TEEC_CloseSession(&s);
    if (failed) {
      ++t.errors;
      break;
    }
  }
  TEEC_FinalizeContext(&ctx);
}

}  // namespace

int run_guest_demo(uint32_t guests, double seconds) {
  if (guests < 2) {
    std::fprintf(stderr, "teemu demo: --guests needs at least 2 guests\n");
    return 2;
  }
  setenv("TEEMU_GUESTS", std::to_string(guests).c_str(), 1);
  setenv("TEEMU_GUEST", "1", 1);
  platform::Machine* m = platform::embedded_machine();
  if (m == nullptr) return 1;
  hyp::Hypervisor* hyp = m->hypervisor();
  const uint32_t victim = guests / 2 + 1;
  constexpr int kThreads = 2;
  std::printf("teemu demo: %u guests behind the hypervisor's OP-TEE mediator, %d client threads "
              "each, for %.1f s;\nguest %u is destroyed half-way through, in the middle of its "
              "calls.\n\n",
              guests, kThreads, seconds, victim);
  std::vector<GuestTally> tally(guests + 1);
  std::vector<std::unique_ptr<std::atomic<bool>>> stop;
  for (uint32_t g = 0; g <= guests; ++g) stop.push_back(std::make_unique<std::atomic<bool>>(false));
  std::vector<std::thread> threads;
  for (uint32_t g = 1; g <= guests; ++g)
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back(client, g, t, std::ref(tally[g]), std::cref(*stop[g]));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  const uint64_t victim_ops_before = tally[victim].ops.load();
  // The victim's mediator figures go with it: keep them for the table.
  struct Snapshot {
    long long translated = 0, shadows = 0, traps = 0;
  } victim_stats;
  if (auto* gs = hyp->mediator().guest_stats(static_cast<uint16_t>(victim)))
    victim_stats = {gs->pages_translated.get(), gs->shadow_copies.get(), gs->traps.get()};
  hyp->kill_guest(static_cast<uint16_t>(victim));
  std::printf("  guest %u destroyed after %llu operations (its partition, threads, pins are "
              "gone)\n\n",
              victim, static_cast<unsigned long long>(victim_ops_before));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  for (auto& s : stop) s->store(true);
  for (auto& th : threads) th.join();
  hyp->reap_guest(static_cast<uint16_t>(victim));

  std::printf("  guest  operations  errors  wrong data  pages translated  shadow copies  traps\n");
  bool ok = true;
  for (uint32_t g = 1; g <= guests; ++g) {
    hyp::MediatorGuestStats* gs = hyp->mediator().guest_stats(static_cast<uint16_t>(g));
    const bool killed = g == victim;
    Snapshot st = victim_stats;
    if (!killed && gs != nullptr)
      st = {gs->pages_translated.get(), gs->shadow_copies.get(), gs->traps.get()};
    std::printf("  %5u  %10llu  %6llu  %10llu  %16lld  %13lld  %5lld%s\n", g,
                static_cast<unsigned long long>(tally[g].ops.load()),
                static_cast<unsigned long long>(tally[g].errors.load()),
                static_cast<unsigned long long>(tally[g].wrong_data.load()), st.translated,
                st.shadows, st.traps, killed ? "   (destroyed)" : "");
    if (tally[g].wrong_data.load() != 0) ok = false;
    if (!killed && tally[g].errors.load() != 0) ok = false;
  }
  auto a = m->audit();
  const auto s = m->secure_os().audit();
  std::printf("\n  secure world: %zu partitions, %zu sessions, %zu TA instances, %zu registered "
              "buffers left\n",
              s.partitions, s.sessions, s.instances, s.registered_shm);
  std::printf("  machine %s\n", a.quiescent() ? "quiescent: nothing left anywhere"
                                                : ("NOT quiescent: " + a.describe()).c_str());
  std::printf("  %s\n", ok ? "the other guests never noticed: no errors, no foreign data"
                           : "SOMETHING WENT WRONG (see above)");
  std::fflush(stdout);
  return ok && a.quiescent() ? 0 : 1;
}

}  // namespace teemu::tool
