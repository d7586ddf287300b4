// Test main: points the embedded machine at the TAs of this build unless the environment already
// says where they are, then runs the tests.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  setenv("TEEMU_TA_PATH", TEEMU_TEST_TA_DIR, 0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
