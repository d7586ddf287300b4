// The static-only configuration (TEEMU_DYNAMIC_SHM=0): the secure world does not advertise
// DYNAMIC_SHM, libteec falls back to shadow buffers in the carve-out, and a buffer larger than
// the carve-out fails cleanly with TEEC_ERROR_OUT_OF_MEMORY.
#include <cstdlib>
#include <vector>

#include "support/gp_util.h"

namespace teemu::test {
namespace {

constexpr size_t kCarveOut = 2u << 20;

TEST_F(GpTest, NoRegMemWithoutDynamicShm) {
  EXPECT_FALSE(ctx_.imp.reg_mem);
  EXPECT_FALSE(machine().config().dynamic_shm);
}

TEST_F(GpTest, AllocatedCarveOutMemoryIsZeroCopy) {
  TEEC_SharedMemory shm{};
  shm.size = 256 * 1024;
  shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_AllocateSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  auto* b = static_cast<uint8_t*>(shm.buffer);
  for (size_t i = 0; i < shm.size; ++i) b[i] = static_cast<uint8_t>(i);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(b, shm.size));
  TEEC_ReleaseSharedMemory(&shm);
  EXPECT_EQ(bytes_copied(), 0);
}

TEST_F(GpTest, RegisteredMemoryIsBouncedAndCounted) {
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 3);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = data.size();
  shm.flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT;
  ASSERT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_SUCCESS);
  EXPECT_NE(shm.imp.shadow_buffer, nullptr);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.parent = &shm;
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, sum_bytes(data.data(), data.size()));
  // In, and back out because the parent is INOUT.
  EXPECT_EQ(bytes_copied(), static_cast<int64_t>(2 * data.size()));
  // FILL through the shadow reaches the client's buffer after the call.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].memref.offset = 100;
  op.params[0].memref.size = 50;
  op.params[1].value.a = 1;
  ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdFill, &op, nullptr), TEEC_SUCCESS);
  EXPECT_EQ(data[100], 1);
  EXPECT_EQ(data[149], 50);
  EXPECT_EQ(data[150], static_cast<uint8_t>(150 * 3));
  TEEC_ReleaseSharedMemory(&shm);
}

TEST_F(GpTest, TemporaryMemrefWithinTheCarveOut) {
  std::vector<uint8_t> data(kCarveOut / 2, 5);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = data.data();
  op.params[0].tmpref.size = data.size();
  uint64_t s = 0;
  ASSERT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, 5u * data.size());
  EXPECT_EQ(bytes_copied(), static_cast<int64_t>(data.size()));
}

TEST_F(GpTest, BeyondTheCarveOutIsOutOfMemory) {
  std::vector<uint8_t> data(2 * kCarveOut, 1);
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = data.size();
  shm.flags = TEEC_MEM_INPUT;
  EXPECT_EQ(TEEC_RegisterSharedMemory(&ctx_, &shm), TEEC_ERROR_OUT_OF_MEMORY);
  TEEC_SharedMemory alloc{};
  alloc.size = data.size();
  alloc.flags = TEEC_MEM_INPUT;
  EXPECT_EQ(TEEC_AllocateSharedMemory(&ctx_, &alloc), TEEC_ERROR_OUT_OF_MEMORY);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
  op.params[0].tmpref.buffer = data.data();
  op.params[0].tmpref.size = data.size();
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdSum, &op, &origin), TEEC_ERROR_OUT_OF_MEMORY);
  // The machine still works afterwards.
  op.params[0].tmpref.size = 4096;
  uint64_t s = 0;
  EXPECT_EQ(sum(op, &s), TEEC_SUCCESS);
  EXPECT_EQ(s, 4096u);
}

TEST_F(GpTest, IncAndPanicWork) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].value.a = 1;
  ASSERT_EQ(TEEC_InvokeCommand(&sess_, kCmdInc, &op, nullptr), TEEC_SUCCESS);
  EXPECT_EQ(op.params[0].value.a, 2u);
  uint32_t origin = 0;
  EXPECT_EQ(TEEC_InvokeCommand(&sess_, kCmdPanic, &op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
}

}  // namespace
}  // namespace teemu::test
