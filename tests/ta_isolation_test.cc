// TA instances are isolated as OP-TEE's address spaces make them: each instance has its own
// globals, and a TA that crashes (bad pointer, stack overflow, division by zero, heap misuse)
// ends its own instance with TEEC_ERROR_TARGET_DEAD, never the process or another instance.
#include <thread>

#include "support/gp_util.h"

namespace teemu::test {
namespace {

const TEEC_UUID kFaultTa = {0x3c0e9d0a, 0x5d6c, 0x4b4e,
                            {0x9c, 0x1a, 0x2f, 0x0b, 0x7e, 0x6d, 0x5a, 0x41}};
enum : uint32_t { kNullDeref = 0, kStackOverflow, kDivZero, kBadFree, kHeapExhaust, kInc, kGlobal };

class Isolation : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override { ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS); }
  void TearDown() override {
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }
  void open(TEEC_Session* s) {
    ASSERT_EQ(TEEC_OpenSession(&ctx_, s, &kFaultTa, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr),
              TEEC_SUCCESS);
  }
  uint32_t global(TEEC_Session* s) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    EXPECT_EQ(TEEC_InvokeCommand(s, kGlobal, &op, nullptr), TEEC_SUCCESS);
    return op.params[0].value.a;
  }
  TEEC_Context ctx_{};
};

TEST_P(Isolation, AFaultKillsOnlyItsInstance) {
  TEEC_Session victim, bystander;
  open(&victim);
  open(&bystander);
  EXPECT_EQ(global(&bystander), 1u);
  TEEC_Operation op{};
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&victim, GetParam(), &op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  // Dead stays dead.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_EQ(TEEC_InvokeCommand(&victim, kInc, &op, &origin), TEEC_ERROR_TARGET_DEAD);
  // The other instance keeps its state and keeps working.
  EXPECT_EQ(global(&bystander), 2u);
  TEEC_CloseSession(&victim);
  TEEC_CloseSession(&bystander);
  // A new session gets a fresh instance.
  TEEC_Session fresh;
  open(&fresh);
  EXPECT_EQ(global(&fresh), 1u);
  TEEC_CloseSession(&fresh);
}

INSTANTIATE_TEST_SUITE_P(Faults, Isolation,
                         ::testing::Values(kNullDeref, kStackOverflow, kDivZero, kBadFree));

TEST_F(Isolation, EachInstanceHasItsOwnGlobals) {
  TEEC_Session a, b;
  open(&a);
  open(&b);
  EXPECT_EQ(global(&a), 1u);
  EXPECT_EQ(global(&a), 2u);
  EXPECT_EQ(global(&b), 1u);
  TEEC_CloseSession(&a);
  TEEC_CloseSession(&b);
}

TEST_F(Isolation, HeapIsBoundedByDataSize) {
  TEEC_Session s;
  open(&s);
  TEEC_Operation op{};
  EXPECT_EQ(TEEC_InvokeCommand(&s, kHeapExhaust, &op, nullptr), TEEC_ERROR_OUT_OF_MEMORY);
  TEEC_CloseSession(&s);
}

TEST_F(Isolation, FaultsOnManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        TEEC_Session s;
        if (TEEC_OpenSession(&ctx_, &s, &kFaultTa, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             nullptr) != TEEC_SUCCESS) {
          ++wrong;
          continue;
        }
        TEEC_Operation op{};
        if (TEEC_InvokeCommand(&s, (t + i) % 2 ? kNullDeref : kStackOverflow, &op, nullptr) !=
            TEEC_ERROR_TARGET_DEAD)
          ++wrong;
        TEEC_CloseSession(&s);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace teemu::test
