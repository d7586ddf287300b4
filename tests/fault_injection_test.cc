// Fault injection sweeps: for each site (kernel page allocation, pinning, RPC service,
// supplicant reply, TA heap), the k-th operation of a representative GP scenario fails, for
// every k the scenario reaches. Each run must end in clean GP errors (no crash, no hang) and
// leave the machine quiescent.
#include <cstdio>
#include <vector>

#include "base/fault_inject.h"
#include "support/gp_util.h"

namespace teemu::test {
namespace {

const TEEC_UUID kFaultTa = {0x3c0e9d0a, 0x5d6c, 0x4b4e,
                            {0x9c, 0x1a, 0x2f, 0x0b, 0x7e, 0x6d, 0x5a, 0x41}};

bool clean_error(TEEC_Result r) {
  switch (r) {
    case TEEC_SUCCESS:
    case TEEC_ERROR_OUT_OF_MEMORY:
    case TEEC_ERROR_COMMUNICATION:
    case TEEC_ERROR_GENERIC:
    case TEEC_ERROR_BAD_PARAMETERS:
    case TEEC_ERROR_ITEM_NOT_FOUND:
    case TEEC_ERROR_TARGET_DEAD:
      return true;
    default: return false;
  }
}

// One pass of the scenario. Returns the number of results that were not clean GP errors.
int scenario() {
  int unclean = 0;
  auto check = [&](TEEC_Result r) {
    if (!clean_error(r)) {
      ++unclean;
      std::fprintf(stderr, "unexpected result 0x%x\n", r);
    }
    return r == TEEC_SUCCESS;
  };
  TEEC_Context ctx;
  if (!check(TEEC_InitializeContext(nullptr, &ctx))) return unclean;
  TEEC_Session s;
  if (check(TEEC_OpenSession(&ctx, &s, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             nullptr))) {
    // Large enough for a page list of two list pages.
    std::vector<uint8_t> data(600 * 4096 + 100, 7);
    TEEC_SharedMemory reg{};
    reg.buffer = data.data() + 1;
    reg.size = data.size() - 1;
    reg.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
    if (check(TEEC_RegisterSharedMemory(&ctx, &reg))) {
      TEEC_Operation op{};
      op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
      op.params[0].memref.parent = &reg;
      if (check(TEEC_InvokeCommand(&s, kCmdSum, &op, nullptr)) &&
          sum_result(op) != 7u * reg.size)
        ++unclean;  // a success must be right
      TEEC_ReleaseSharedMemory(&reg);
    }
    TEEC_Operation tmp{};
    tmp.paramTypes =
        TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
    tmp.params[0].tmpref.buffer = data.data();
    tmp.params[0].tmpref.size = 5000;
    tmp.params[1].value.a = 3;
    if (check(TEEC_InvokeCommand(&s, kCmdFill, &tmp, nullptr)) && data[4999] != uint8_t(3 + 4999))
      ++unclean;
    TEEC_SharedMemory alloc{};
    alloc.size = 8192;
    alloc.flags = TEEC_MEM_OUTPUT;
    if (check(TEEC_AllocateSharedMemory(&ctx, &alloc))) {
      TEEC_Operation op{};
      op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
      op.params[0].memref.parent = &alloc;
      op.params[1].value.a = 1;
      check(TEEC_InvokeCommand(&s, kCmdFill, &op, nullptr));
      TEEC_ReleaseSharedMemory(&alloc);
    }
    TEEC_Operation inc{};
    inc.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    check(TEEC_InvokeCommand(&s, kCmdInc, &inc, nullptr));
    TEEC_CloseSession(&s);
  }
  // A TA that allocates from its heap.
  TEEC_Session f;
  if (check(TEEC_OpenSession(&ctx, &f, &kFaultTa, TEEC_LOGIN_PUBLIC, nullptr, nullptr, nullptr))) {
    TEEC_Operation op{};
    TEEC_Result r = TEEC_InvokeCommand(&f, /*kHeapExhaust*/ 4, &op, nullptr);
    if (r != TEEC_ERROR_OUT_OF_MEMORY) check(r);
    TEEC_CloseSession(&f);
  }
  TEEC_FinalizeContext(&ctx);
  return unclean;
}

class FaultSweep : public ::testing::TestWithParam<base::FaultSite> {};

TEST_P(FaultSweep, EveryFailureEndsCleanAndQuiescent) {
  const base::FaultSite site = GetParam();
  ASSERT_EQ(scenario(), 0);  // warm-up: caches filled, TAs loaded once
  base::FaultInjector::arm(site, 0);
  ASSERT_EQ(scenario(), 0);
  const uint64_t n = base::FaultInjector::count(site);
  base::FaultInjector::disarm();
  EXPECT_GT(n, 0u) << "the scenario never reaches " << base::fault_site_name(site);
  uint64_t fired = 0;
  for (uint64_t k = 1; k <= n; ++k) {
    base::FaultInjector::arm(site, k);
    const int unclean = scenario();
    fired += base::FaultInjector::fired() ? 1 : 0;
    base::FaultInjector::disarm();
    EXPECT_EQ(unclean, 0) << base::fault_site_name(site) << " k=" << k;
    auto a = machine().audit();
    EXPECT_TRUE(a.quiescent()) << base::fault_site_name(site) << " k=" << k << ": "
                               << a.describe();
    if (!a.quiescent()) break;
  }
  EXPECT_GT(fired, 0u);
  RecordProperty("operations", static_cast<int>(n));
  std::printf("[ sweep    ] %s: %llu operations, %llu injected failures\n",
              base::fault_site_name(site), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(fired));
  // The machine still works normally afterwards.
  EXPECT_EQ(scenario(), 0);
  EXPECT_TRUE(machine().audit().quiescent());
}

INSTANTIATE_TEST_SUITE_P(Sites, FaultSweep,
                         ::testing::Values(base::FaultSite::kNsPageAlloc, base::FaultSite::kPin,
                                           base::FaultSite::kRpc, base::FaultSite::kSupplicant,
                                           base::FaultSite::kTaHeap),
                         [](const auto& info) {
                           std::string n = base::fault_site_name(info.param);
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace teemu::test
