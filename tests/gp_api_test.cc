// The whole stack through the public GP Client API, on the embedded machine: zero copy, buffers
// far larger than the carve-out, page-list boundaries, every split of a buffer over three pages,
// partial memrefs, short buffers, panics, cancellation, concurrency, and the client-side checks.
// Every test ends with the quiescence audit (GpTest::TearDown).
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "support/gp_util.h"

namespace teemu::test {
namespace {

constexpr size_t kPage = 4096;

// 64 times the default carve-out.
constexpr size_t kHuge = 64 * (2u << 20);

std::vector<uint8_t> pattern(size_t n, uint8_t seed = 3) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 12));
  return v;
}

TEST(GpContext, NamesAndNulls) {
  TEEC_Context ctx;
  EXPECT_EQ(TEEC_InitializeContext("optee-tz", &ctx), TEEC_SUCCESS);
  TEEC_FinalizeContext(&ctx);
  EXPECT_EQ(TEEC_InitializeContext("Invalid TEE name", &ctx), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(TEEC_InitializeContext(nullptr, nullptr), TEEC_ERROR_BAD_PARAMETERS);
  TEEC_FinalizeContext(nullptr);
  TEEC_CloseSession(nullptr);
  TEEC_ReleaseSharedMemory(nullptr);
  TEEC_RequestCancellation(nullptr);
  EXPECT_TRUE(machine().audit().quiescent()) << machine().audit().describe();
}

TEST(GpContext, CapabilitiesFollowTheMachine) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  EXPECT_TRUE(ctx.imp.reg_mem);
  EXPECT_TRUE(ctx.imp.memref_null);
  TEEC_FinalizeContext(&ctx);
}

TEST(GpSession, UnknownTaIsItemNotFoundFromTee) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  TEEC_UUID nope = {0x12345678, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}};
  TEEC_Session s;
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_OpenSession(&ctx, &s, &nope, TEEC_LOGIN_PUBLIC, nullptr, nullptr, &origin),
            TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  TEEC_FinalizeContext(&ctx);
  EXPECT_TRUE(machine().audit().quiescent()) << machine().audit().describe();
}

TEST(GpSession, BadArgumentsAreApiErrors) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  TEEC_Session s;
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_OpenSession(&ctx, &s, nullptr, TEEC_LOGIN_PUBLIC, nullptr, nullptr, &origin),
            TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_API);
  EXPECT_EQ(TEEC_OpenSession(&ctx, &s, &kShmTestUuid, TEEC_LOGIN_GROUP, nullptr, nullptr, &origin),
            TEEC_ERROR_BAD_PARAMETERS);
  // The kernel refuses application logins (Linux >= 5.8 derives client identities itself).
  EXPECT_EQ(TEEC_OpenSession(&ctx, &s, &kShmTestUuid, TEEC_LOGIN_APPLICATION, nullptr, nullptr,
                             &origin),
            TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_COMMS);
  EXPECT_EQ(TEEC_InvokeCommand(nullptr, 0, nullptr, &origin), TEEC_ERROR_BAD_PARAMETERS);
  TEEC_FinalizeContext(&ctx);
}

TEST(GpSession, UserLoginOpens) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  TEEC_Session s;
  uint32_t origin = 0;
  ASSERT_EQ(TEEC_OpenSession(&ctx, &s, &kShmTestUuid, TEEC_LOGIN_USER, nullptr, nullptr, &origin),
            TEEC_SUCCESS);
  TEEC_CloseSession(&s);
  TEEC_FinalizeContext(&ctx);
}

TEST_F(GpTest, IncValue) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = 41;
  op.params[0].value.b = 100;
  uint32_t origin = 0;
  ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdInc, &op, &origin), TEEC_SUCCESS);
  EXPECT_EQ(origin, TEEC_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(op.params[0].value.a, 42u);
  EXPECT_EQ(op.params[0].value.b, 102u);
}

TEST_F(GpTest, InvalidParamTypeIsBadParameters) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(0x4, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdInc, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_API);
}

TEST_F(GpTest, RegisteredHugeBufferIsSummedInPlaceWithoutCopies) {
  auto data = pattern(kHuge + 123);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data() + 5;  // odd address
  shm.size = kHuge;
  shm.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(data.data() + 5, kHuge));
  EXPECT_EQ(op.params[0].memref.size, 0u);  // an input-only whole memref's size is left alone
  TEEC_ReleaseSharedMemory(&shm);
  EXPECT_EQ(bytes_copied(), 0);
}

TEST_F(GpTest, AllocatedHugeBufferIsFilledInPlace) {
  TEEC_SharedMemory shm{};
  shm.size = kHuge;
  shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_AllocateSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  ASSERT_NE(shm.buffer, nullptr);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  op.params[1].value.a = 9;
  ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdFill, &op, nullptr), TEEC_SUCCESS);
  auto* b = static_cast<uint8_t*>(shm.buffer);
  for (size_t i = 0; i < kHuge; i += 4093) ASSERT_EQ(b[i], static_cast<uint8_t>(9 + i)) << i;
  EXPECT_EQ(b[kHuge - 1], static_cast<uint8_t>(9 + kHuge - 1));
  EXPECT_EQ(op.params[0].memref.size, kHuge);
  TEEC_ReleaseSharedMemory(&shm);
  EXPECT_EQ(shm.buffer, nullptr);
  EXPECT_EQ(bytes_copied(), 0);
}

TEST_F(GpTest, TemporaryHugeBufferIsRegisteredInPlace) {
  auto data = pattern(kHuge, 11);
  TEEC_Operation op{};
  op.paramTypes =
      TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = data.data();
  op.params[0].tmpref.size = data.size();
  const auto registered = machine().stats().shm_registered.get();
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(data.data(), data.size()));
  EXPECT_EQ(machine().stats().shm_registered.get(), registered + 1);
  EXPECT_EQ(bytes_copied(), 0);
}

// Page lists around the 511-entry boundary of a list page.
class PageListBoundary : public GpTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(PageListBoundary, RegisteredAndTemporary) {
  const size_t pages = GetParam();
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(kPage, pages * kPage));
  for (size_t i = 0; i < pages * kPage; ++i) buf[i] = static_cast<uint8_t>(i ^ (i >> 9));
  const auto list_pages = machine().stats().page_list_pages.get();
  TEEC_SharedMemory shm{};
  shm.buffer = buf;
  shm.size = pages * kPage;
  shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  EXPECT_EQ(machine().stats().page_list_pages.get() - list_pages,
            static_cast<int64_t>((pages + 510) / 511));
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(buf, pages * kPage));
  // The last page (behind the list-page chain) is written in place.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_INOUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.offset = (pages - 1) * kPage;
  op.params[0].memref.size = kPage;
  op.params[1].value.a = 0xff;
  const uint8_t before = buf[(pages - 1) * kPage + 17];
  ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdXor, &op, nullptr), TEEC_SUCCESS);
  EXPECT_EQ(buf[(pages - 1) * kPage + 17], static_cast<uint8_t>(before ^ 0xff));
  TEEC_ReleaseSharedMemory(&shm);

  // The same buffer as a temporary memref.
  op = TEEC_Operation{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = buf;
  op.params[0].tmpref.size = pages * kPage;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(buf, pages * kPage));
  std::free(buf);
  EXPECT_EQ(bytes_copied(), 0);
}

INSTANTIATE_TEST_SUITE_P(Entries, PageListBoundary,
                         ::testing::Values(1, 510, 511, 512, 1021, 1022, 1023, 1024, 1533, 1534));

// Every split of a three-page buffer at the interesting offsets: the TA touches exactly the
// range, through partial memrefs and through temporary memrefs at unaligned addresses.
TEST_F(GpTest, EverySplitOfThreePages) {
  constexpr size_t kLen = 3 * kPage;
  const std::vector<size_t> points = {0,    1,    2,    4094, 4095, 4096, 4097,  8190,
                                      8191, 8192, 8193, 12286, 12287, 12288};
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(kPage, kLen));
  TEEC_SharedMemory shm{};
  shm.buffer = buf;
  shm.size = kLen;
  shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  int cases = 0;
  for (size_t off : points) {
    for (size_t end : points) {
      if (end < off) continue;
      const size_t size = end - off;
      for (size_t i = 0; i < kLen; ++i) buf[i] = static_cast<uint8_t>(i * 31);
      TEEC_Operation op{};
      op.paramTypes =
          TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_INOUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
      op.params[0].memref.parent = &shm;
      op.params[0].memref.offset = off;
      op.params[0].memref.size = size;
      op.params[1].value.a = 0x5c;
      ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdXor, &op, nullptr), TEEC_SUCCESS) << off << "+" << size;
      for (size_t i = 0; i < kLen; ++i) {
        const uint8_t orig = static_cast<uint8_t>(i * 31);
        const bool inside = i >= off && i < end;
        ASSERT_EQ(buf[i], inside ? static_cast<uint8_t>(orig ^ 0x5c) : orig)
            << "offset " << off << " size " << size << " byte " << i;
      }
      // Temporary memref at buf + off.
      TEEC_Operation t{};
      t.paramTypes =
          TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
      t.params[0].tmpref.buffer = buf + off;
      t.params[0].tmpref.size = size;
      uint64_t s = 0;
      ASSERT_EQ(sum(t, &s), TEEC_SUCCESS);
      EXPECT_EQ(s, sum_bytes(buf + off, size));
      ++cases;
    }
  }
  EXPECT_GT(cases, 100);
  TEEC_ReleaseSharedMemory(&shm);
  std::free(buf);
  EXPECT_EQ(bytes_copied(), 0);
}

TEST_F(GpTest, PartialMemrefChecksAreApiErrors) {
  std::vector<uint8_t> data(3 * kPage);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = data.size();
  shm.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  TEEC_Operation op{};
  op.params[0].memref.parent = &shm;
  uint32_t origin = 0;
  // Direction not in the parent.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.size = 1;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdFill, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_API);
  // Beyond the parent, and wrapping.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.offset = data.size();
  op.params[0].memref.size = 1;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  op.params[0].memref.offset = 2;
  op.params[0].memref.size = SIZE_MAX;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_API);
  // Whole memref of a parent without direction flags.
  TEEC_SharedMemory none = shm;
  none.flags = 0;
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &none;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  // Temporary memref with a NULL buffer and a size.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = nullptr;
  op.params[0].tmpref.size = 10;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(origin, TEEC_ORIGIN_API);
  TEEC_ReleaseSharedMemory(&shm);
}

TEST_F(GpTest, ShortBufferReportsTheNeededSize) {
  uint8_t small[4] = {};
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = small;
  op.params[0].tmpref.size = sizeof(small);
  op.params[1].value.a = 40;
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdNeed, &op, &origin), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(origin, TEEC_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(op.params[0].tmpref.size, 40u);
  // NULL buffer of size 0 (the acipher pattern): a NULL memref reaches the TA.
  op.params[0].tmpref.buffer = nullptr;
  op.params[0].tmpref.size = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdNeed, &op, &origin), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(op.params[0].tmpref.size, 40u);
  // Registered partial and whole memrefs.
  std::vector<uint8_t> data(64, 0);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = 16;
  shm.flags = TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdNeed, &op, &origin), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(op.params[0].memref.size, 40u);
  op.params[1].value.a = 12;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdNeed, &op, &origin), TEEC_SUCCESS);
  EXPECT_EQ(op.params[0].memref.size, 12u);
  EXPECT_EQ(data[11], 0xAB);
  EXPECT_EQ(data[12], 0);
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.offset = 8;
  op.params[0].memref.size = 8;
  op.params[1].value.a = 9;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdNeed, &op, &origin), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(op.params[0].memref.size, 9u);
  TEEC_ReleaseSharedMemory(&shm);
}

// A session of a multi-instance TA loads a new instance: the four tee-supplicant requests of
// OP-TEE's ree_fs_ta_open (LOAD_TA for the size, SHM_ALLOC, LOAD_TA into it, SHM_FREE), all
// counted; closing it asks the supplicant for nothing.
TEST_F(GpTest, NewInstanceLoadsThroughFourSupplicantRequests) {
  const int64_t before = machine().stats().supplicant_requests.get();
  TEEC_Session other;
  ASSERT_EQ(TEEC_OpenSession(&ctx_, &other, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             nullptr),
            TEEC_SUCCESS);
  EXPECT_EQ(machine().stats().supplicant_requests.get() - before, 4);
  TEEC_CloseSession(&other);
  EXPECT_EQ(machine().stats().supplicant_requests.get() - before, 4);
}

TEST_F(GpTest, PanicKillsOnlyThatSession) {
  TEEC_Session other;
  ASSERT_EQ(TEEC_OpenSession(&ctx_, &other, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             nullptr),
            TEEC_SUCCESS);
  TEEC_Operation op{};
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdPanic, &op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdInc, &op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  // Another session (its own instance) is untouched.
  op.params[0].value.a = 1;
  EXPECT_EQ(TEEC_InvokeCommand(&other, kCmdInc, &op, &origin), TEEC_SUCCESS);
  EXPECT_EQ(op.params[0].value.a, 2u);
  TEEC_CloseSession(&other);
}

TEST_F(GpTest, CancellationEndsAWaitEarly) {
  // With a single secure thread the waiting call occupies it, so the cancel request (a std call
  // of its own) can only enter when the wait is over: OP-TEE behaves the same way.
  const bool one_thread = machine().config().threads == 1;
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = one_thread ? 400 : 20000;
  op.started = 0;
  std::atomic<bool> done{false};
  TEEC_Result result = 0;
  uint32_t origin = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    result = TEEC_InvokeCommand(&sess_, kCmdWaitCancel, &op, &origin);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load());
  TEEC_RequestCancellation(&op);
  waiter.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(origin, TEEC_ORIGIN_TRUSTED_APP);
  if (one_thread) {
    EXPECT_EQ(result, TEEC_SUCCESS);
    EXPECT_GE(elapsed, std::chrono::milliseconds(400));
  } else {
    EXPECT_EQ(result, TEEC_ERROR_CANCEL);
    EXPECT_LT(elapsed, std::chrono::seconds(10));
  }
}

TEST_F(GpTest, WaitWithoutCancellationTimesOut) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = 30;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdWaitCancel, &op, nullptr), TEEC_SUCCESS);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
}

TEST_F(GpTest, MoreClientThreadsThanSecureThreads) {
  constexpr int kThreads = 8;
  constexpr int kIters = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      TEEC_Session s;
      if (TEEC_OpenSession(&ctx_, &s, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                           nullptr) != TEEC_SUCCESS) {
        ++failures;
        return;
      }
      auto data = pattern(3 * kPage + 77, static_cast<uint8_t>(t));
      for (int i = 0; i < kIters; ++i) {
        TEEC_Operation op{};
        op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
        op.params[0].value.a = static_cast<uint32_t>(i);
        if (TEEC_InvokeCommand(&s, kCmdInc, &op, nullptr) != TEEC_SUCCESS ||
            op.params[0].value.a != static_cast<uint32_t>(i + 1))
          ++failures;
        TEEC_Operation sop{};
        sop.paramTypes =
            TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
        sop.params[0].tmpref.buffer = data.data() + (i % 13);
        sop.params[0].tmpref.size = data.size() - (i % 13);
        if (TEEC_InvokeCommand(&s, kCmdSum, &sop, nullptr) != TEEC_SUCCESS ||
            sum_result(sop) != sum_bytes(data.data() + (i % 13), data.size() - (i % 13)))
          ++failures;
      }
      TEEC_CloseSession(&s);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// Releasing a buffer that an ongoing call uses: the release returns at once (the call's own
// reference keeps the kernel object), the call completes with the buffer intact, and the
// secure world unregisters it when the call drops the last reference.
TEST_F(GpTest, ReleaseWhileACallUsesTheBufferDefersUnregistration) {
  std::vector<uint8_t> data(2 * kPage, 1);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = data.size();
  shm.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  // WAIT_CANCEL ignores p1, but the secure OS holds the registered buffer for the whole call.
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_WHOLE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = 300;
  op.params[1].memref.parent = &shm;
  TEEC_Result result = 0;
  std::atomic<bool> done{false};
  std::thread call([&] {
    result = TEEC_InvokeCommand(&sess_, kCmdWaitCancel, &op, nullptr);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto registered_before = machine().audit().registered_shm;
  TEEC_ReleaseSharedMemory(&shm);
  EXPECT_FALSE(done.load());
  EXPECT_EQ(machine().audit().registered_shm, registered_before) << "still in use by the call";
  call.join();
  EXPECT_EQ(result, TEEC_SUCCESS);
  EXPECT_EQ(machine().audit().registered_shm, 0u);
}

TEST(GpContextLeak, FinalizeReleasesWhatTheClientForgot) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  TEEC_SharedMemory a{};
  a.size = 3 * kPage;
  a.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_AllocateSharedMemory(&ctx, &a), TEEC_SUCCESS);
  void* first = a.buffer;
  ASSERT_EQ(TEEC_AllocateSharedMemory(&ctx, &a), TEEC_SUCCESS);  // the first one is now lost
  std::vector<uint8_t> data(kPage);
  TEEC_SharedMemory r{};
  r.buffer = data.data();
  r.size = data.size();
  r.flags = TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx, &r), TEEC_SUCCESS);
  EXPECT_GE(machine().audit().client_shm, 3u);
  TEEC_FinalizeContext(&ctx);  // without releasing anything
  EXPECT_TRUE(machine().audit().quiescent()) << machine().audit().describe();
  (void)first;  // released (and freed) by the library with its context
}

// A client bug the library and kernel must survive: one thread finalizes the context while
// another of its threads is inside a call on it (with a registered buffer in the call). The
// call ends (its result is the TA's or a GP error), the finalize returns, and once the call is
// over nothing of the context is left.
TEST(GpContextLeak, FinalizeWhileAnotherThreadIsInACall) {
  TEEC_Context ctx;
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  TEEC_Session sess;
  ASSERT_EQ(TEEC_OpenSession(&ctx, &sess, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             nullptr),
            TEEC_SUCCESS);
  std::vector<uint8_t> data(4 * kPage, 1);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = data.size();
  shm.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx, &shm), TEEC_SUCCESS);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_WHOLE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = 300;  // ms in TEE_Wait
  op.params[1].memref.parent = &shm;
  std::atomic<bool> done{false};
  TEEC_Result result = TEEC_SUCCESS;
  std::thread caller([&] {
    result = TEEC_InvokeCommand(&sess, kCmdWaitCancel, &op, nullptr);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done.load()) << "the call should still be in the TA";
  TEEC_FinalizeContext(&ctx);  // sessions and shm still open, a call in flight
  caller.join();
  EXPECT_TRUE(result == TEEC_SUCCESS || result == TEEC_ERROR_BAD_PARAMETERS ||
              result == TEEC_ERROR_COMMUNICATION || result == TEEC_ERROR_BAD_STATE ||
              result == TEEC_ERROR_CANCEL)
      << std::hex << result;
  EXPECT_TRUE(machine().audit().quiescent()) << machine().audit().describe();
}

TEST_F(GpTest, SharedMemoryArgumentChecks) {
  TEEC_SharedMemory shm{};
  shm.flags = TEEC_MEM_INPUT;
  EXPECT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_ERROR_BAD_PARAMETERS);  // NULL buffer
  uint8_t b[16];
  shm.buffer = b;
  shm.flags = 0;
  EXPECT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_ERROR_BAD_PARAMETERS);
  shm.flags = 0x4;
  EXPECT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(TEEC_RegisterSharedMemory(nullptr, &shm), TEEC_ERROR_BAD_PARAMETERS);
  shm.flags = TEEC_MEM_OUTPUT;
  shm.size = 0;  // legal: an 8-byte object
  EXPECT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  TEEC_ReleaseSharedMemory(&shm);
  TEEC_ReleaseSharedMemory(&shm);  // a second release is a no-op
  TEEC_SharedMemory a{};
  a.flags = TEEC_MEM_INPUT;
  a.size = SIZE_MAX;
  EXPECT_EQ(TEEC_AllocateSharedMemory(&ctx_, &a), TEEC_ERROR_OUT_OF_MEMORY);
  a.size = 0;
  EXPECT_EQ(TEEC_AllocateSharedMemory(&ctx_, &a), TEEC_SUCCESS);
  TEEC_ReleaseSharedMemory(&a);
}

TEST_F(GpTest, ReadOnlyMemoryRegistersThroughAShadowBuffer) {
  const size_t len = 2 * kPage;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 7, len);
  ASSERT_EQ(mprotect(p, len, PROT_READ), 0);
  TEEC_SharedMemory shm{};
  shm.buffer = p;
  shm.size = len;
  shm.flags = TEEC_MEM_INPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  EXPECT_NE(shm.imp.shadow_buffer, nullptr);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, 7u * len);
  EXPECT_EQ(bytes_copied(), static_cast<int64_t>(len));  // the shadow copy is counted
  TEEC_ReleaseSharedMemory(&shm);
  munmap(p, len);
}

TEST_F(GpTest, StatsFileIsWrittenAtFinalize) {
  char path[] = "/tmp/teemu-stats-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  // The embedded machine's configuration is read once; the file goes where it says, so check
  // the JSON content the machine produces instead.
  auto json = machine().stats_json();
  for (const char* key : {"payload_bytes_copied", "world_switches", "rpcs", "pages_pinned",
                          "shm_registered"})
    EXPECT_NE(json.find(key), std::string::npos) << key;
  ASSERT_TRUE(machine().write_stats(path));
  std::remove(path);
}

}  // namespace
}  // namespace teemu::test
