// Helpers for tests that drive teemu through the public GP Client API (embedded machine).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "platform/embedded.h"
#include "platform/machine.h"
// After teemu's headers: the GP header defines TEE_ERROR_* macros.
#include "tee_client_api.h"

namespace teemu::test {

inline const TEEC_UUID kShmTestUuid = {0xf9b9acc0, 0x806d, 0x415c,
                                       {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
enum ShmTestCmd : uint32_t {
  kCmdSum = 0,
  kCmdFill = 1,
  kCmdInc = 2,
  kCmdNeed = 3,
  kCmdPanic = 4,
  kCmdWaitCancel = 5,
  kCmdXor = 6,
};

inline uint64_t sum_bytes(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

inline uint64_t sum_result(const TEEC_Operation& op) {
  return (uint64_t{op.params[1].value.b} << 32) | op.params[1].value.a;
}

inline platform::Machine& machine() {
  platform::Machine* m = platform::embedded_machine();
  EXPECT_NE(m, nullptr);
  return *m;
}

// Opens a context and a session to the shm-test TA; checks at teardown that everything the test
// did is gone from every layer (the quiescence audit).
class GpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS);
    uint32_t origin = 0;
    ASSERT_EQ(TEEC_OpenSession(&ctx_, &sess_, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                               &origin),
              TEEC_SUCCESS);
    EXPECT_EQ(origin, TEEC_ORIGIN_TRUSTED_APP);
    copied_at_start_ = machine().stats().payload_bytes_copied.get();
  }
  void TearDown() override {
    TEEC_CloseSession(&sess_);
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }
  int64_t bytes_copied() const {
    return machine().stats().payload_bytes_copied.get() - copied_at_start_;
  }

  // SUM through any prepared operation param 0; returns the TEE result.
  TEEC_Result sum(TEEC_Operation& op, uint64_t* out, uint32_t* origin = nullptr) {
    uint32_t o = 0;
    TEEC_Result r = TEEC_InvokeCommand(&sess_, kCmdSum, &op, &o);
    if (origin) *origin = o;
    *out = sum_result(op);
    return r;
  }

  TEEC_Context ctx_{};
  TEEC_Session sess_{};
  int64_t copied_at_start_ = 0;
};

}  // namespace teemu::test
